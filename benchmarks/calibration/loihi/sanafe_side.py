"""The SANA-FE half of the Loihi cross-check: runs in SANA-FE's own virtual environment (never
the project's), started by ``crosscheck.py`` as

    <venv>/bin/python benchmarks/calibration/loihi/sanafe_side.py IN.npz OUT.json

IN.npz (written by crosscheck.py) holds the small SNN exactly as our simulator stores it
(quantized weights, λ, v, each layer on its membrane grid), our placement (the PE of every
neuron = the Loihi core it goes to), the first layer's input currents per image and the spikes
our simulator recorded per layer, image and step. This script builds the network on SANA-FE's
bundled Loihi description (``sanafe.load_loihi()``), runs every image and writes per-image
counts, energies (J) and times (s), SANA-FE's own spikes per LIF layer and the output layer's
final potentials. No project code is imported here (SANA-FE's venv does not have it).

The network (README.md, "How the two runs are made identical"):

* ``L1`` conv1 LIF neurons, driven by a bias = the analog input current (constant over T),
  as DIET-SNN's direct encoding maps onto Loihi's per-compartment bias;
* ``L2`` conv2 LIF neurons and ``L3`` fc1 output neurons (integrate: no leak, never fire);
* ``S1``/``S2`` replay neurons (SANA-FE's ``input`` model) that emit OUR recorded spikes of
  conv1/conv2, placed on the cores of the neurons they stand for, connected to L2/L3 with the
  layer's weights. So every synaptic event SANA-FE processes is one our simulator counted, and
  L1/L2's own spikes are SANA-FE's functional result, compared with ours neuron by neuron.

Timing. On Loihi (and in SANA-FE) a spike sent at step s is integrated at step s + 1. The
replay neurons emit our step-t spikes at SANA-FE step t, so L2/L3 compute our step t at SANA-FE
step t + 1; L1 gets its bias from step 1 so it also computes our step t at t + 1. SANA-FE runs
T + 1 steps per image: step 0 only delivers the first replayed spikes (its neuron-side work is
the idle pass over the not-yet-driven neurons, reported separately as ``fill_soma_j``).
"""

from __future__ import annotations

import json
import sys
import time
from importlib.metadata import version
from importlib.resources import files

import numpy as np
import sanafe

CORES_PER_TILE = 4


def core_of(arch, pe: int):
    """Our PE index -> SANA-FE Loihi core (tile pe // 4, core pe % 4)."""
    return arch.tiles[pe // CORES_PER_TILE].cores[pe % CORES_PER_TILE]


def build(arch, d):
    """The network of the module docstring, mapped onto our placement."""
    net = sanafe.Network()
    n1, n2, n3 = (int(d[k]) for k in ("n1", "n2", "n3"))
    lif = dict(reset_mode="soft", reset=0.0, input_decay=0.0)
    l1 = net.create_neuron_group(
        "L1", n1, model_attributes=dict(lif, threshold=float(d["v1"]), leak_decay=float(d["lam1"]),
                                        bias=0.0),
        soma_hw_name="loihi_lif", log_spikes=True)
    l2 = net.create_neuron_group(
        "L2", n2, model_attributes=dict(lif, threshold=float(d["v2"]), leak_decay=float(d["lam2"])),
        soma_hw_name="loihi_lif", default_synapse_hw_name=str(d["syn2"]), log_spikes=True)
    l3 = net.create_neuron_group(
        "L3", n3, model_attributes=dict(threshold=1.0e300, reset_mode="none", leak_decay=1.0,
                                        input_decay=0.0),
        soma_hw_name="loihi_lif", default_synapse_hw_name=str(d["syn3"]), log_potential=True)
    s1 = net.create_neuron_group("S1", n1, model_attributes={"spikes": [False]})
    s2 = net.create_neuron_group("S2", n2, model_attributes={"spikes": [False]})
    s1.connect_neurons_sparse(l2, {"w": d["w2"].tolist()},
                              list(zip(d["src2"].tolist(), d["dst2"].tolist())))
    s2.connect_neurons_sparse(l3, {"w": d["w3"].tolist()},
                              list(zip(d["src3"].tolist(), d["dst3"].tolist())))
    # Place: every LIF neuron on its PE's core; each replay neuron beside the neuron it
    # replays, on an input soma unit of its own (SANA-FE's input model keeps one spike train
    # per unit; its Loihi description has loihi_inputs[0..1023] per core).
    used = {}
    for group, replay, pes in ((l1, s1, d["pe1"]), (l2, s2, d["pe2"]), (l3, None, d["pe3"])):
        for i, pe in enumerate(pes.tolist()):
            core = core_of(arch, pe)
            group[i].map_to_core(core)
            if replay is not None:
                k = used.get(pe, 0)
                used[pe] = k + 1
                replay[i].set_attributes(soma_hw_name=f"loihi_inputs[{k}]")
                replay[i].map_to_core(core)
    return net, max(used.values()) if used else 0


def spikes_by_group(trace, names, sizes, steps):
    """{group: [steps, n] bool} from a spike trace (list per step of neuron addresses)."""
    out = {g: np.zeros((steps, n), bool) for g, n in zip(names, sizes)}
    for s, fired in enumerate(trace):
        for a in fired:
            if a.group_name in out:
                out[a.group_name][s, a.neuron_offset] = True
    return out


def parts(run) -> dict:
    e = run["energy"]
    return {k: float(e[k]) for k in ("synapse", "dendrite", "soma", "network", "total")}


def main(src: str, dst: str) -> None:
    started = time.time()
    d = np.load(src)
    T, images = int(d["T"]), int(d["images"])
    arch = sanafe.load_loihi()
    net, replay_max = build(arch, d)
    chip = sanafe.SpikingChip(arch)
    chip.load(net)
    built = time.time() - started
    l1 = chip.mapped_neuron_groups["L1"]
    s1 = chip.mapped_neuron_groups["S1"]
    s2 = chip.mapped_neuron_groups["S2"]
    n1, n2, n3 = (int(d[k]) for k in ("n1", "n2", "n3"))
    def run_image(b: int, timing: str):
        """One inference: replay trains and biases set, the fill step, then T steps."""
        chip.reset()
        for i in range(n1):
            l1[i].set_attributes(model_attributes={"bias": 0.0})
            s1[i].set_attributes(model_attributes={"spikes": d["spk1"][b, :, i].tolist()})
        for i in range(n2):
            s2[i].set_attributes(model_attributes={"spikes": d["spk2"][b, :, i].tolist()})
        fill = chip.sim(1, timing_model=timing, spike_trace=True, perf_trace=True)
        for i in range(n1):
            l1[i].set_attributes(model_attributes={"bias": float(d["bias1"][b, i])})
        run = chip.sim(T, timing_model=timing, spike_trace=True, potential_trace=True,
                       perf_trace=True)
        return fill, run

    per_image = []
    for b in range(images):
        fill, run = run_image(b, "detailed")  # SANA-FE's default timing model
        spk = spikes_by_group(fill["spike_trace"] + run["spike_trace"], ("L1", "L2"), (n1, n2),
                              T + 1)
        potentials = np.asarray(run["potential_trace"], dtype=np.float64)
        per_image.append({
            "fill": {"energy_j": parts(fill), "time_s": float(fill["sim_time"]),
                     "synaptic_events": int(fill["spikes"]),
                     "neurons_updated": int(fill["neurons_updated"]),
                     "neurons_fired": int(fill["neurons_fired"]),
                     "packets": int(fill["packets_sent"])},
            "run": {"energy_j": parts(run), "time_s": float(run["sim_time"]),
                    "synaptic_events": int(run["spikes"]),
                    "neurons_updated": int(run["neurons_updated"]),
                    "neurons_fired": int(run["neurons_fired"]),
                    "packets": int(run["packets_sent"]),
                    "time_per_step_s": [float(v) for v in run["perf_trace"]["sim_time"]]},
            # SANA-FE step s+1 computes our step s: drop the fill step
            "spikes_l1": np.flatnonzero(spk["L1"][1:].reshape(-1)).tolist(),
            "spikes_l2": np.flatnonzero(spk["L2"][1:].reshape(-1)).tolist(),
            "fill_spikes": int(spk["L1"][0].sum() + spk["L2"][0].sum()),
            "l3_final_potential": potentials[-1].tolist(),
        })
    # the first image again on SANA-FE's "simple" timing model: per step, the busiest core's
    # processing (no network contention) + the sync table; separates the NoC's share of time
    fill, run = run_image(0, "simple")
    simple = {"time_s": float(fill["sim_time"]) + float(run["sim_time"]),
              "time_per_step_s": [float(v) for v in run["perf_trace"]["sim_time"]],
              "energy_total_j": float(fill["energy"]["total"]) + float(run["energy"]["total"])}
    loihi_yaml = files("sanafe.examples").joinpath("loihi.yaml").read_text()
    json.dump({"sanafe_version": version("sanafe"), "images": images, "T": T,
               "replay_units_max_per_core": replay_max, "build_s": round(built, 2),
               "seconds": round(time.time() - started, 2), "loihi_yaml": loihi_yaml,
               "per_image": per_image, "simple_timing_image0": simple}, open(dst, "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

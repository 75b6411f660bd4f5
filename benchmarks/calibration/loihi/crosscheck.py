"""Loihi cross-check: the same small SNN, with the same spikes, in our simulator on
``arch_configs/loihi.yaml`` and in SANA-FE on its bundled Loihi description; and both against
the per-operation energies Davies et al. publish for Loihi (IEEE Micro 2018, Table 2).

    python benchmarks/calibration/loihi/crosscheck.py                # 16 images, 2.5-5 min
    python benchmarks/calibration/loihi/crosscheck.py --images 4     # about 1 min

SANA-FE runs in its own virtual environment, never the project's (README.md, "Rerun"): the
script calls ``--sanafe-python`` (default ``$SANAFE_PYTHON``, else
``benchmarks/calibration/loihi/.venv-sanafe/bin/python``) on ``sanafe_side.py``.

The small SNN (``small_snn``): conv1 3→4 channels (analog input, LIF), conv2 4→8 (LIF), fc1
8192→10 (integrate), 32×32 CIFAR-10 images, T = 5, built with the project's own VGG builder
(registered here, at run time, as architecture ``loihi_xcheck``). conv1's filters are four of
the bundled model's (the four most active), conv2 and fc1 are seeded random weights; it is
not trained (its accuracy is chance and irrelevant here: the point is identical activity).
The reset is the "leaked" variant (u = λ(u − v·o) + I), which is the order Loihi's and
SANA-FE's soft reset uses, so SANA-FE's own LIF neurons can reproduce our spikes.

What is compared (README.md has the tables and the term-by-term residuals): synaptic events,
neuron updates, spikes, packets, energy per inference (total and per part), time per
inference; ours/SANA-FE; ours per synaptic op and per neuron update against Table 2.
Writes ``results.json`` (cases {name, quantity, ours, reference, reference_source}) next to
this file, or ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT))

from arch_configs import load_arch  # noqa: E402
from hwsim import energy as E  # noqa: E402
from hwsim import functional as Fn  # noqa: E402
from hwsim.simulate import SimOptions, simulate, stored_formats  # noqa: E402
from mapping.graph import layer_graph  # noqa: E402
from mapping.placement import map_network  # noqa: E402
from model import architectures as A  # noqa: E402
from model import checkpoint as C  # noqa: E402
from model.bundled import bundled_model_path, bundled_sample  # noqa: E402
from model.data import normalise, stratified_indices  # noqa: E402

ARCH = ROOT / "arch_configs" / "loihi.yaml"
DEFAULT_VENV_PY = HERE / ".venv-sanafe" / "bin" / "python"
T = 5
C1, C2 = 4, 8
CONV1_FILTERS = [44, 40, 24, 18]  # the bundled conv1's four most active filters (README)
SEED = 0
SYNAPSE_HW = {"conv2": "loihi_conv_synapse", "fc1": "loihi_dense_synapse"}

# Davies et al., "Loihi: A Neuromorphic Manycore Processor with On-Chip Learning",
# IEEE Micro 38(1), 2018, Table 2 "Loihi pre-silicon performance and energy measurements"
# (column "Value at 0.75 V"), rows quoted verbatim.
DAVIES = "Davies et al., IEEE Micro 38(1) 2018, Table 2"
PUBLISHED = {
    "synaptic_op_pj": (23.6, f"{DAVIES}: 'Energy per synaptic spike op (min) | 23.6 pJ'"),
    "synaptic_op_ns": (3.5, f"{DAVIES}: 'Time per synaptic spike op (max) | 3.5 ns'"),
    "neuron_active_pj": (81.0, f"{DAVIES}: 'Energy per neuron update (active / inactive) | "
                               "81 pJ / 52 pJ'"),
    "neuron_inactive_pj": (52.0, f"{DAVIES}: 'Energy per neuron update (active / inactive) | "
                                 "81 pJ / 52 pJ'"),
    "neuron_active_ns": (8.4, f"{DAVIES}: 'Time per neuron update (active / inactive) | "
                              "8.4 ns / 5.3 ns'"),
    "neuron_inactive_ns": (5.3, f"{DAVIES}: 'Time per neuron update (active / inactive) | "
                                "8.4 ns / 5.3 ns'"),
    "spike_within_tile_pj": (1.7, f"{DAVIES}: 'Within-tile spike energy | 1.7 pJ'"),
    "tile_hop_pj": (3.5, f"{DAVIES}: 'Energy per tile hop (E-W / N-S) | 3.0 pJ / 4.0 pJ' "
                         "(mean)"),
    "tile_hop_ns": (5.3, f"{DAVIES}: 'Latency per tile hop (E-W / N-S) | 4.1 ns / 6.5 ns' "
                         "(mean)"),
    "barrier_ns": ((113.0, 465.0), f"{DAVIES}: 'Mesh-wide barrier sync time (1-32 tiles) | "
                                   "113-465 ns'"),
}


# ----------------------------------------------------------------------------- the small SNN
def _register() -> None:
    """The small SNN's architecture, built with the project's VGG builder (no pooling, so
    every spiking layer reads binary spikes that Loihi can carry as they are)."""
    A.ARCHITECTURES.setdefault(
        "loihi_xcheck",
        lambda num_classes, input_shape=(3, 32, 32), **kw: A.vgg([C1, C2], [], num_classes,
                                                                 input_shape, **kw))


def small_snn() -> C.Checkpoint:
    _register()
    base = C.load(bundled_model_path(), stages=("converted", "snn"))
    g = torch.Generator().manual_seed(SEED)
    w2 = torch.randn(C2, C1, 3, 3, generator=g) * 0.5
    w3 = torch.randn(10, C2 * 32 * 32, generator=g) * 0.02
    return C.Checkpoint(
        arch="loihi_xcheck", dataset="cifar10", num_classes=10, input_shape=(3, 32, 32),
        preprocessing=base.preprocessing, stage="snn", timesteps=T, reset="leaked", gamma=0.3,
        leak={"conv1": base.leak["conv1"], "conv2": base.leak["conv2"]},
        threshold={"conv1": base.threshold["conv1"], "conv2": 1.0},
        weights={"conv1": base.weights["conv1"][CONV1_FILTERS].float().clone(), "conv2": w2,
                 "fc1": w3})


def images(n: int):
    """The same images ``simulate`` picks: its class-balanced subset of the bundled sample."""
    ds = bundled_sample()
    idx = stratified_indices(ds.labels, n) if n < len(ds) else np.arange(len(ds))
    return ds, idx


# ------------------------------------------------------------------------------ our side
def run_ours(ckpt, arch, n: int) -> dict:
    ds, idx = images(n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = simulate(ckpt, arch, ds, n, SimOptions(progress=False), "small SNN (loihi_xcheck)")
    w_bits, v_bits, leak = stored_formats(arch)
    stored = Fn.store(ckpt, w_bits, v_bits, T, leak)
    x = normalise(torch.from_numpy(ds.images[idx]), ckpt.preprocessing["mean"],
                  ckpt.preprocessing["std"])
    res = Fn.run_batch(stored, x, T)
    with torch.no_grad():  # the analog layer's current, the convolution run_batch uses
        cur = F.conv2d(x, stored.dense_weights["conv1"], padding=1)
    mapping = map_network(layer_graph(ckpt), arch)
    return {"report": rep, "stored": stored, "spikes": res.spikes, "logits": res.logits,
            "current": cur.permute(0, 2, 3, 1).reshape(len(idx), -1).numpy(),
            "mapping": mapping}


def ours_terms(arch, ours) -> dict:
    """Our energy per image split into the terms of the scatter accounting (hwsim/energy.py
    ``snn_scatter``), priced with the config's own functions, and checked against the
    report's per-layer parts: the per-op numbers below are what the report charges."""
    rep, mp = ours["report"], ours["mapping"]
    p = arch.precision
    vb, wb = p.membrane_bits, p.weight_bits
    buf = mp.buffer_level
    lay = {L["name"]: L for L in rep["layers"]}
    add = arch.op_energy_pj("add", vb)
    u = {"add": add, "leak": arch.leak_pj(), "compare": arch.op_energy_pj("compare", vb),
         "mult": arch.op_energy_pj("mult", max(wb, p.activation_bits))}
    terms = {k: 0.0 for k in ("synaptic_op", "neuron_update", "spike_reset", "spike_buffer",
                              "spike_noc", "analog_macs", "analog_pixels", "analog_current",
                              "image_dram")}
    unit = {}
    consumers = {"conv1": "conv2", "conv2": "fc1"}
    for name, L in lay.items():
        lm = mp.layer(name)
        vr = arch.access_pj(L["membrane_level"], vb, "read")
        vw = arch.access_pj(L["membrane_level"], vb, "write")
        wr = arch.access_pj(L["weight_level"], wb, "read")
        parts = dict.fromkeys(E.SNN_PARTS, 0.0)
        if L["analog_input"]:
            macs = L["snn_macs"]
            terms["analog_macs"] += macs * (u["mult"] + add + wr)
            parts["compute"] += macs * (u["mult"] + add)
            parts["weights"] += macs * wr
            pix_read = arch.access_pj(buf, p.activation_bits, "read")
            steps_computed = 1 if arch.policy.first_layer == "once" else T
            pixels = 3 * 32 * 32
            terms["analog_pixels"] += pixels * steps_computed * pix_read
            parts["spikes"] += pixels * steps_computed * pix_read
            dram = pixels * p.activation_bits * arch.dram.pj_per_bit.value
            terms["image_dram"] += dram
            parts["dram"] += dram
            terms["analog_current"] += lm.neurons * T * add
            parts["compute"] += lm.neurons * T * add
            if steps_computed < T:  # computed once: the current stored, read at every step
                stored = lm.neurons * (vw + T * vr)
                terms["analog_current"] += stored
                parts["membrane"] += stored
        else:
            acs = L["snn_acs"]
            terms["synaptic_op"] += acs * (add + wr + vr + vw)
            parts["compute"] += acs * add
            parts["weights"] += acs * wr
            parts["membrane"] += acs * (vr + vw)
            unit["synaptic_op"] = {"add": add, "weight_read": wr, "membrane_read": vr,
                                   "membrane_write": vw, "total": add + wr + vr + vw}
        if L["neuron"] == "lif":
            nt = lm.neurons * T
            terms["neuron_update"] += nt * (vr + vw + u["leak"] + u["compare"])
            parts["membrane"] += nt * (vr + vw)
            parts["compute"] += nt * (u["leak"] + u["compare"]) + L["spikes"] * add
            terms["spike_reset"] += L["spikes"] * add
            bits = E.packet_bits(lm.neurons, p.spike_bits)
            bw = arch.access_pj(buf, bits, "write") + arch.access_pj(buf, bits, "read")
            dest = mp.layer(consumers[name]).pes_used
            hops = E.mesh_hops(arch.pes) + max(0, dest - 1)
            noc = arch.noc_hop_pj(bits) * hops
            terms["spike_buffer"] += L["spikes"] * bw
            terms["spike_noc"] += L["spikes"] * noc
            parts["spikes"] += L["spikes"] * (bw + noc)
            unit["neuron_update"] = {"membrane_read": vr, "membrane_write": vw,
                                     "leak": u["leak"], "compare": u["compare"],
                                     "total": vr + vw + u["leak"] + u["compare"]}
            unit[f"spike_{name}"] = {"packet_bits": bits, "reset_add": add, "buffer": bw,
                                     "noc_hops": hops, "noc": noc, "total": add + bw + noc}
        for k, v in parts.items():
            if k in ("leakage", "clock"):  # shared over layers by cycles: checked in total
                continue
            got = L["energy_pj"][k]
            if not math.isclose(v, got, rel_tol=1e-6, abs_tol=1e-6):
                raise SystemExit(f"decomposition does not reproduce the report: {name} {k}: "
                                 f"{v} vs {got} pJ (hwsim/energy.py changed?)")
    terms["leakage"] = rep["snn"]["energy_pj"]["leakage"]
    terms["clock"] = rep["snn"]["energy_pj"]["clock"]
    total = sum(terms.values())
    if not math.isclose(total, rep["snn"]["energy_pj"]["total"], rel_tol=1e-6):
        raise SystemExit(f"terms sum to {total} pJ, the report says "
                         f"{rep['snn']['energy_pj']['total']}")
    return {"terms": terms, "unit": unit}


# ---------------------------------------------------------------------------- SANA-FE side
def conv_synapses(h: int, w: int, cin: int, cout: int, weight: np.ndarray):
    """(src, dst, w) of a 3×3, stride 1, padding 1 conv, neurons in (h, w, c) order; every
    synapse, zero weights included (our simulator counts an accumulate per reached neuron)."""
    src, dst, ws = [], [], []
    ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    for ky in range(3):
        for kx in range(3):
            iy, ix = ys + ky - 1, xs + kx - 1
            ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
            oy, ox, iy, ix = ys[ok], xs[ok], iy[ok], ix[ok]
            for ci in range(cin):
                for co in range(cout):
                    src.append((iy * w + ix) * cin + ci)
                    dst.append((oy * w + ox) * cout + co)
                    ws.append(np.full(oy.size, weight[co, ci, ky, kx]))
    return np.concatenate(src), np.concatenate(dst), np.concatenate(ws)


def hwc(pe_map: np.ndarray) -> np.ndarray:
    """A (C, H, W) map flattened in (h, w, c) order; a (F,) map as is."""
    return pe_map.transpose(1, 2, 0).reshape(-1) if pe_map.ndim == 3 else pe_map.reshape(-1)


def sanafe_inputs(ours, path: Path) -> dict:
    st, mp = ours["stored"], ours["mapping"]
    fmt = st.membranes
    # SANA-FE's Loihi LIF truncates λ·u to 1/64 of its unit (Loihi's 6-bit fraction): each
    # layer is scaled so that 1/64 is our membrane LSB q (the same 24-bit grid).
    scale = {k: 1.0 / (64.0 * f.lsb) for k, f in fmt.items()}
    w2 = st.dense_weights["conv2"].detach().numpy().astype(np.float64)
    src2, dst2, ws2 = conv_synapses(32, 32, C1, C2, w2)
    # fc1 [10, 8192], its inputs in torch's (C, H, W) order
    w3 = st.dense_weights["fc1"].detach().numpy().astype(np.float64)
    n2 = 32 * 32 * C2
    hh, ww, cc = np.unravel_index(np.arange(n2), (32, 32, C2))
    chw = (cc * 32 + hh) * 32 + ww
    src3 = np.repeat(np.arange(n2), 10)
    dst3 = np.tile(np.arange(10), n2)
    ws3 = w3[:, chw].T.reshape(-1)
    s1 = ours["spikes"]["conv1"]  # [T, B, H, W, C]
    s2 = ours["spikes"]["conv2"]
    B = s1.shape[1]
    d = {
        "T": T, "images": B, "n1": 32 * 32 * C1, "n2": n2, "n3": 10,
        "lam1": st.leak["conv1"], "v1": st.threshold["conv1"] * scale["conv1"],
        "lam2": st.leak["conv2"], "v2": st.threshold["conv2"] * scale["conv2"],
        "bias1": ours["current"].astype(np.float64) * scale["conv1"],
        "src2": src2, "dst2": dst2, "w2": ws2 * scale["conv2"],
        "src3": src3, "dst3": dst3, "w3": ws3 * scale["fc1"],
        "syn2": SYNAPSE_HW["conv2"], "syn3": SYNAPSE_HW["fc1"],
        "spk1": s1.reshape(T, B, -1).transpose(1, 0, 2) > 0,
        "spk2": s2.reshape(T, B, -1).transpose(1, 0, 2) > 0,
        "pe1": hwc(mp.layer("conv1").pe_map()), "pe2": hwc(mp.layer("conv2").pe_map()),
        "pe3": hwc(mp.layer("fc1").pe_map()),
    }
    np.savez(path, **d)
    # what SANA-FE should send for these spikes: messages and hops per spike of each neuron
    expect = {}
    for name, spk, src, dst, pe_s, pe_d in (("conv1", d["spk1"], src2, dst2, d["pe1"], d["pe2"]),
                                            ("conv2", d["spk2"], src3, dst3, d["pe2"], d["pe3"])):
        msgs, ew, ns = fanout(src, dst, pe_s, pe_d, spk.shape[2])
        count = spk.sum(axis=(0, 1)) / B  # spikes per neuron per inference
        expect[name] = {"messages": float(count @ msgs), "hops_ew": float(count @ ew),
                        "hops_ns": float(count @ ns),
                        "messages_per_spike": float(count @ msgs / max(1, count.sum()))}
    return {"scale": scale, "synapses": {"conv2": int(src2.size), "fc1": int(src3.size)},
            "expected_messages": expect, "arrays": d}


def explain_conv2_mismatch(d: dict, b: int, t: int, n: int) -> dict:
    """Replay one conv2 neuron the way SANA-FE's Loihi LIF does (float64, λ·u truncated to its
    1/64 grid, no upper saturation) from the same input spikes, and report the largest
    potential it reached before the mismatching step, in thresholds: above
    hwsim.functional.MEMBRANE_RANGE (4) our 24-bit membrane saturates and SANA-FE's does not."""
    sel = d["dst2"] == n
    src, w = d["src2"][sel], d["w2"][sel]
    lam, v = float(d["lam2"]), float(d["v2"])
    p, peak, fired = 0.0, 0.0, []
    for s in range(t + 1):
        if s:
            p = math.trunc(p * lam * 64.0) / 64.0
        p += float((d["spk1"][b, s, src] * w).sum())
        peak = max(peak, p / v)
        fired.append(bool(p > v))
        if p > v:
            p -= v
    return {"image": b, "step": t, "neuron": n, "peak_u_over_v": round(peak, 3),
            "replayed_spike": fired[-1]}


def fanout(src: np.ndarray, dst: np.ndarray, pe_src: np.ndarray, pe_dst: np.ndarray, n_src: int):
    """Per source neuron: the destination cores its synapses reach (SANA-FE sends one message
    per spike and destination core) and those messages' E-W and N-S tile hops (SANA-FE's Loihi
    mesh: tile = core // 4 at x = tile // 4, y = tile % 4)."""
    pairs = np.unique(np.stack([src, pe_dst[dst]], axis=1), axis=0)
    s, core = pairs[:, 0], pairs[:, 1]
    t_src, t_dst = pe_src[s] // 4, core // 4
    ew = np.abs(t_src // 4 - t_dst // 4)
    ns = np.abs(t_src % 4 - t_dst % 4)
    return (np.bincount(s, minlength=n_src), np.bincount(s, weights=ew, minlength=n_src),
            np.bincount(s, weights=ns, minlength=n_src))


def run_sanafe(python: str, npz: Path, out: Path) -> dict:
    cmd = [python, str(HERE / "sanafe_side.py"), str(npz), str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"SANA-FE side failed ({' '.join(cmd)}):\n{r.stdout[-3000:]}\n"
                         f"{r.stderr[-3000:]}")
    return json.loads(out.read_text())


def sanafe_units(loihi_yaml: str) -> dict:
    """The per-event costs of SANA-FE's bundled Loihi description (J, s)."""
    import yaml  # the project's environment has PyYAML (arch_configs uses it)

    a = yaml.safe_load(loihi_yaml)["architecture"]
    tile = a["tile"][0]
    core = tile["core"][0]
    soma = {s["name"]: s["attributes"] for s in core["soma"]}["loihi_lif"]
    syn = {s["name"]: s["attributes"] for s in core["synapse"]}
    return {"tile": tile["attributes"], "soma": soma, "synapse": syn,
            "axon_out": core["axon_out"][0]["attributes"],
            "axon_in": core["axon_in"][0]["attributes"],
            "sync": a["attributes"].get("latency_sync")}


# ------------------------------------------------------------------------------ comparison
def compare(ours, terms, sf, extra) -> dict:
    rep = ours["report"]
    lay = {L["name"]: L for L in rep["layers"]}
    per = sf["per_image"]
    nimg = len(per)

    def mean(f):
        return float(np.mean([f(r) for r in per]))

    # spikes: SANA-FE's own LIF spikes vs ours, neuron by neuron
    s1 = ours["spikes"]["conv1"].reshape(T, nimg, -1).transpose(1, 0, 2).reshape(nimg, -1)
    s2 = ours["spikes"]["conv2"].reshape(T, nimg, -1).transpose(1, 0, 2).reshape(nimg, -1)
    mism = {"conv1": 0, "conv2": 0}
    traced = []
    sf_spk = {"conv1": 0.0, "conv2": 0.0}
    for b, r in enumerate(per):
        for name, ref, key in (("conv1", s1, "spikes_l1"), ("conv2", s2, "spikes_l2")):
            mine = np.zeros(ref.shape[1], bool)
            mine[np.asarray(r[key], dtype=np.int64)] = True
            bad = np.flatnonzero(mine != (ref[b] > 0))
            mism[name] += int(bad.size)
            if name == "conv2":
                for k in bad.tolist():
                    tt, nn = divmod(k, ref.shape[1] // T)
                    traced.append(dict(explain_conv2_mismatch(extra["arrays"], b, tt, nn),
                                       sanafe_spike=bool(mine[k]), our_spike=bool(ref[b, k])))
            sf_spk[name] += mine.sum() / nimg
    logits_sf = np.array([r["l3_final_potential"] for r in per]) / extra["scale"]["fc1"]
    logit_err = float(np.max(np.abs(logits_sf - ours["logits"])))
    argmax_same = int((logits_sf.argmax(1) == ours["logits"].argmax(1)).sum())

    e = lambda r, k: r["fill"]["energy_j"][k] + r["run"]["energy_j"][k]  # noqa: E731
    sf_energy = {k: mean(lambda r, k=k: e(r, k)) * 1e12 for k in
                 ("synapse", "dendrite", "soma", "network", "total")}
    sf_fill_soma = mean(lambda r: r["fill"]["energy_j"]["soma"]) * 1e12
    sf_time = mean(lambda r: r["fill"]["time_s"] + r["run"]["time_s"])
    sf_time_run = mean(lambda r: r["run"]["time_s"])
    sf_events = mean(lambda r: r["fill"]["synaptic_events"] + r["run"]["synaptic_events"])
    sf_packets = mean(lambda r: r["fill"]["packets"] + r["run"]["packets"])
    replay_spikes = lay["conv1"]["spikes"] + lay["conv2"]["spikes"]  # replay neurons' 'fired'
    sf_fired_lif = mean(lambda r: r["fill"]["neurons_fired"] + r["run"]["neurons_fired"]) \
        - replay_spikes
    sf_updated_lif = mean(lambda r: r["fill"]["neurons_updated"] + r["run"]["neurons_updated"]) \
        - replay_spikes  # the replay neurons count as 'updated' when they fire
    n_lif = 32 * 32 * (C1 + C2)
    n_all = n_lif + 10

    t = terms["terms"]
    units = sanafe_units(sf["loihi_yaml"])
    syn_pj = {k: v["energy_process_spike"] * 1e12 for k, v in units["synapse"].items()}
    ours_acs = lay["conv2"]["snn_acs"] + lay["fc1"]["snn_acs"]
    ours_nu = n_lif * T
    ours_spikes = lay["conv1"]["spikes"] + lay["conv2"]["spikes"]
    soma = units["soma"]
    out = {
        "images": nimg, "T": T,
        "counts": {
            "synaptic_events": (ours_acs, sf_events),
            "synaptic_events_conv2": (lay["conv2"]["snn_acs"], None),
            "synaptic_events_fc1": (lay["fc1"]["snn_acs"], None),
            "analog_macs_conv1": (lay["conv1"]["snn_macs"], 0.0),
            "neuron_updates": (ours_nu, n_all * T),
            "neuron_updates_active": (None, sf_updated_lif),
            "spikes_conv1": (lay["conv1"]["spikes"], sf_spk["conv1"]),
            "spikes_conv2": (lay["conv2"]["spikes"], sf_spk["conv2"]),
            "spikes_lif_total": (ours_spikes, sf_fired_lif),
            "packets": (ours_spikes, sf_packets),
        },
        "spike_mismatches": mism, "spikes_compared": int(s1.size + s2.size),
        "conv2_mismatches_traced": traced,
        "logit_max_abs_err": logit_err, "argmax_same": argmax_same,
        "energy_pj": {
            "ours_total": rep["snn"]["energy_pj"]["total"],
            "ours_parts": rep["snn"]["energy_pj"],
            "ours_terms": t,
            "sanafe": sf_energy, "sanafe_fill_soma": sf_fill_soma,
        },
        "time_s": {"ours": rep["snn"]["latency_s"], "sanafe": sf_time,
                   "sanafe_steps_1_to_T": sf_time_run,
                   "sanafe_per_step_image0": per[0]["run"]["time_per_step_s"],
                   "sanafe_simple_image0": sf["simple_timing_image0"]["time_s"],
                   "sanafe_simple_per_step_image0": sf["simple_timing_image0"]["time_per_step_s"],
                   "sanafe_detailed_image0": per[0]["fill"]["time_s"] + per[0]["run"]["time_s"]},
        "ours_units_pj": terms["unit"],
        "sanafe_units_pj": {"synapse": syn_pj, "access_neuron": soma["energy_access_neuron"] * 1e12,
                            "update_neuron": soma["energy_update_neuron"] * 1e12,
                            "spike_out": soma["energy_spike_out"] * 1e12,
                            "message_out": units["axon_out"]["energy_message_out"] * 1e12,
                            "hop_ew": units["tile"]["energy_east_hop"] * 1e12,
                            "hop_ns": units["tile"]["energy_north_hop"] * 1e12,
                            "latency_sync": units["sync"]},
        "layers": {k: {"pes_used": L["pes_used"], "cycles": L["cycles"],
                       "bound": L["snn_bound"], "membrane_level": L["membrane_level"],
                       "weight_level": L["weight_level"]} for k, L in lay.items()},
        "sanafe_expected_network": extra["expected_messages"],
        "sanafe_version": sf["sanafe_version"], "sanafe_seconds": sf["seconds"],
        "accuracy": rep["accuracy"],
    }
    # matched scope: what both simulators model (README, "Scope")
    ours_matched = (t["synaptic_op"] + t["neuron_update"] + t["spike_reset"]
                    + t["spike_buffer"] + t["spike_noc"] + t["analog_current"])
    out["energy_pj"]["ours_matched"] = ours_matched
    out["energy_pj"]["sanafe_matched"] = sf_energy["total"] - sf_fill_soma
    # Davies et al.'s Table 2 energies on the same counts (a third, published, estimate):
    # every AC at the synaptic-op minimum, SANA-FE's updated neurons as 'active' and the rest
    # 'inactive', every message at the within-tile spike energy plus its tile hops (E-W, N-S)
    x = extra["expected_messages"]
    msgs = sum(v["messages"] for v in x.values())
    ew = sum(v["hops_ew"] for v in x.values())
    ns = sum(v["hops_ns"] for v in x.values())
    t2 = {"synaptic": ours_acs * PUBLISHED["synaptic_op_pj"][0],
          "neuron": sf_updated_lif * PUBLISHED["neuron_active_pj"][0]
          + (n_all * T - sf_updated_lif) * PUBLISHED["neuron_inactive_pj"][0],
          "delivery": msgs * PUBLISHED["spike_within_tile_pj"][0] + ew * 3.0 + ns * 4.0}
    t2["total"] = sum(t2.values())
    out["energy_pj"]["table2_estimate"] = t2
    return out


# ----------------------------------------------------------------------------------- output
def cases(c) -> list[dict]:
    """results.json: one case per compared quantity."""
    sf = "SANA-FE {} (sanafe.load_loihi(), bundled examples/loihi.yaml), same SNN and spikes"
    sf = sf.format(c["sanafe_version"])
    n = c["images"]
    out = []

    def add(name, quantity, ours, ref, source):
        out.append({"name": name, "quantity": quantity, "ours": ours, "reference": ref,
                    "reference_source": source})

    k = c["counts"]
    for key, q in (("synaptic_events", "synaptic events (ACs) per inference, conv2 + fc1"),
                   ("neuron_updates", "neuron updates per inference (ours: LIF neurons x T; "
                                      "SANA-FE: every mapped LIF/output neuron x T)"),
                   ("spikes_conv1", "conv1 spikes per inference (SANA-FE's own LIF)"),
                   ("spikes_conv2", "conv2 spikes per inference (SANA-FE's own LIF)"),
                   ("packets", "spike packets per inference (ours: one multicast packet per "
                               "spike; SANA-FE: one message per spike and destination core)")):
        add(key, q, k[key][0], k[key][1], sf + f", mean of {n} images")
    e = c["energy_pj"]
    add("energy_total", "energy per inference (pJ), each simulator's full model", e["ours_total"],
        e["sanafe"]["total"], sf)
    add("energy_matched", "energy per inference (pJ), matched scope (README 'Scope')",
        e["ours_matched"], e["sanafe_matched"], sf)
    add("energy_matched_table2", "energy per inference (pJ), matched scope, against Davies et "
        "al.'s Table 2 energies on the same counts (ACs x 23.6 pJ, active/inactive neuron "
        "updates x 81/52 pJ, messages x 1.7 pJ + tile hops x 3.0/4.0 pJ)", e["ours_matched"],
        e["table2_estimate"]["total"], DAVIES + " (per-event energies) x this run's counts")
    add("energy_synaptic", "synaptic-op energy per inference (pJ): ours weight read + membrane "
        "RMW + add per AC; SANA-FE synapse part", e["ours_terms"]["synaptic_op"],
        e["sanafe"]["synapse"], sf)
    add("energy_neuron", "neuron energy per inference (pJ): ours LIF phase (membrane RMW, leak, "
        "compare, reset adds, analog current adds); SANA-FE soma part less the fill step",
        e["ours_terms"]["neuron_update"] + e["ours_terms"]["spike_reset"]
        + e["ours_terms"]["analog_current"], e["sanafe"]["soma"] - e["sanafe_fill_soma"], sf)
    add("energy_spikes", "spike delivery energy per inference (pJ): ours stream buffer + NoC; "
        "SANA-FE network part", e["ours_terms"]["spike_buffer"] + e["ours_terms"]["spike_noc"],
        e["sanafe"]["network"], sf)
    ts = c["time_s"]
    add("time", "time per inference (s)", ts["ours"], ts["sanafe"], sf)
    u = c["ours_units_pj"]
    add("per_synaptic_op", "energy per synaptic op (pJ)", u["synaptic_op"]["total"],
        PUBLISHED["synaptic_op_pj"][0], PUBLISHED["synaptic_op_pj"][1])
    add("per_synaptic_op_sanafe_conv", "energy per synaptic op (pJ), SANA-FE conv synapse",
        u["synaptic_op"]["total"], c["sanafe_units_pj"]["synapse"]["loihi_conv_synapse"],
        "SANA-FE bundled loihi.yaml, loihi_conv_synapse energy_process_spike")
    add("per_neuron_update_inactive", "energy per neuron update (pJ) vs inactive",
        u["neuron_update"]["total"], PUBLISHED["neuron_inactive_pj"][0],
        PUBLISHED["neuron_inactive_pj"][1])
    add("per_neuron_update_active", "energy per neuron update (pJ) vs active",
        u["neuron_update"]["total"], PUBLISHED["neuron_active_pj"][0],
        PUBLISHED["neuron_active_pj"][1])
    cycle_ns = 1e9 / c["clock_hz"]  # one AC, and one neuron update, per cycle
    add("per_synaptic_op_time", "time per synaptic op (ns)", cycle_ns,
        PUBLISHED["synaptic_op_ns"][0], PUBLISHED["synaptic_op_ns"][1])
    add("per_neuron_update_time", "time per neuron update (ns) vs active",
        cycle_ns, PUBLISHED["neuron_active_ns"][0], PUBLISHED["neuron_active_ns"][1])
    sp = u["spike_conv2"]
    add("per_spike_hop", "energy per spike per mesh hop (pJ)", sp["noc"] / sp["noc_hops"],
        PUBLISHED["tile_hop_pj"][0], PUBLISHED["tile_hop_pj"][1])
    return out


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float) and (abs(v) >= 1e4 or (v and abs(v) < 1e-2)):
        return f"{v:.{digits}g}"
    return f"{v:,.{digits}g}" if isinstance(v, float) else f"{v:,}"


def tables(c) -> str:
    lines = []
    k = c["counts"]
    lines += ["| count per inference | ours | SANA-FE | ours/SANA-FE |", "|---|---|---|---|"]
    for key, (a, b) in k.items():
        r = (a / b) if (a is not None and b) else None
        lines.append(f"| {key} | {fmt(a, 6)} | {fmt(b, 6)} | {fmt(r, 4)} |")
    e = c["energy_pj"]
    lines += ["", "| energy per inference (nJ) | ours | SANA-FE | ours/SANA-FE |",
              "|---|---|---|---|"]
    t = e["ours_terms"]
    sfe = e["sanafe"]
    rows = [("total (each simulator's full model)", e["ours_total"], sfe["total"]),
            ("matched scope", e["ours_matched"], e["sanafe_matched"]),
            ("synaptic ops", t["synaptic_op"], sfe["synapse"]),
            ("neurons (LIF phase / soma)", t["neuron_update"] + t["spike_reset"]
             + t["analog_current"], sfe["soma"] - e["sanafe_fill_soma"]),
            ("spike delivery (buffer + NoC / network)", t["spike_buffer"] + t["spike_noc"],
             sfe["network"]),
            ("analog conv1 MACs + pixels + image (ours only)", t["analog_macs"]
             + t["analog_pixels"] + t["image_dram"], 0.0),
            ("leakage (ours only)", t["leakage"], 0.0),
            ("SANA-FE fill step, idle neurons (SANA-FE only)", 0.0, e["sanafe_fill_soma"])]
    for name, a, b in rows:
        r = a / b if b else None
        lines.append(f"| {name} | {fmt(a / 1e3, 4)} | {fmt(b / 1e3, 4)} | {fmt(r, 3)} |")
    t2 = e["table2_estimate"]
    lines += ["", "| matched scope (nJ) | ours | SANA-FE | Table 2 x same counts | ours/Table 2 | "
              "SANA-FE/Table 2 |", "|---|---|---|---|---|---|"]
    for name, a, b, k in (("synaptic ops", t["synaptic_op"], sfe["synapse"], "synaptic"),
                          ("neurons", t["neuron_update"] + t["spike_reset"] + t["analog_current"],
                           sfe["soma"] - e["sanafe_fill_soma"], "neuron"),
                          ("spike delivery", t["spike_buffer"] + t["spike_noc"], sfe["network"],
                           "delivery"),
                          ("total", e["ours_matched"], e["sanafe_matched"], "total")):
        lines.append(f"| {name} | {fmt(a / 1e3, 4)} | {fmt(b / 1e3, 4)} | {fmt(t2[k] / 1e3, 4)} | "
                     f"{fmt(a / t2[k], 3)} | {fmt(b / t2[k], 3)} |")
    ts = c["time_s"]
    lines += ["", "| time per inference (us) | ours | SANA-FE | ours/SANA-FE |",
              "|---|---|---|---|",
              f"| total | {ts['ours'] * 1e6:.2f} | {ts['sanafe'] * 1e6:.2f} | "
              f"{ts['ours'] / ts['sanafe']:.3f} |",
              f"| SANA-FE without its fill step (steps 1..T) | {ts['ours'] * 1e6:.2f} | "
              f"{ts['sanafe_steps_1_to_T'] * 1e6:.2f} | "
              f"{ts['ours'] / ts['sanafe_steps_1_to_T']:.3f} |",
              f"| image 0, SANA-FE detailed / simple timing model | - | "
              f"{ts['sanafe_detailed_image0'] * 1e6:.2f} / {ts['sanafe_simple_image0'] * 1e6:.2f}"
              " | - |"]
    u, su = c["ours_units_pj"], c["sanafe_units_pj"]
    sp1, sp2 = u["spike_conv1"], u["spike_conv2"]
    x = c["sanafe_expected_network"]
    lines += ["", "| per event (pJ) | ours (loihi.yaml) | SANA-FE (loihi.yaml) | Davies et al. "
              "Table 2 | ours/SANA-FE | ours/published |", "|---|---|---|---|---|---|",
              f"| synaptic op | {u['synaptic_op']['total']:.3f} | "
              f"{su['synapse']['loihi_conv_synapse']:.1f} (conv), "
              f"{su['synapse']['loihi_dense_synapse']:.1f} (dense) | 23.6 (min) | "
              f"{u['synaptic_op']['total'] / su['synapse']['loihi_conv_synapse']:.3f}, "
              f"{u['synaptic_op']['total'] / su['synapse']['loihi_dense_synapse']:.3f} | "
              f"{u['synaptic_op']['total'] / 23.6:.3f} |",
              f"| neuron update | {u['neuron_update']['total']:.3f} | "
              f"{su['access_neuron']:.1f} idle, {su['access_neuron'] + su['update_neuron']:.1f} "
              f"updated | 52 inactive, 81 active | "
              f"{u['neuron_update']['total'] / su['access_neuron']:.3f}, "
              f"{u['neuron_update']['total'] / (su['access_neuron'] + su['update_neuron']):.3f} | "
              f"{u['neuron_update']['total'] / 52:.3f}, {u['neuron_update']['total'] / 81:.3f} |",
              f"| spike generated (reset / spike_out) | {sp1['reset_add']:.4f} | "
              f"{su['spike_out']:.1f} | - | {sp1['reset_add'] / su['spike_out']:.2g} | - |",
              f"| spike delivery, conv1 spike | {sp1['buffer'] + sp1['noc']:.2f} "
              f"({sp1['noc_hops']:.1f} hops) | "
              f"{x['conv1']['messages_per_spike']:.2f} messages x {su['message_out']:.0f} + hops |"
              " 1.7 within tile, 3.0/4.0 per tile hop | - | - |",
              f"| spike delivery, conv2 spike | {sp2['buffer'] + sp2['noc']:.2f} "
              f"({sp2['noc_hops']:.1f} hops) | "
              f"{x['conv2']['messages_per_spike']:.2f} messages x {su['message_out']:.0f} + hops |"
              " 1.7 within tile, 3.0/4.0 per tile hop | - | - |",
              f"| mesh hop, per packet | {sp2['noc'] / sp2['noc_hops']:.2f} ({sp2['packet_bits']}"
              f"-bit packet, PE hop) | {su['hop_ew']:.1f} E-W, {su['hop_ns']:.1f} N-S (tile hop) |"
              f" 3.0 E-W, 4.0 N-S | - | {sp2['noc'] / sp2['noc_hops'] / 3.5:.3f} (vs mean 3.5) |"]
    return "\n".join(lines)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--sanafe-python", default=os.environ.get("SANAFE_PYTHON",
                                                              str(DEFAULT_VENV_PY)))
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--raw", help="also write every compared number here (JSON)")
    args = ap.parse_args(argv)
    if not Path(args.sanafe_python).exists():
        raise SystemExit(f"no SANA-FE python at {args.sanafe_python}: create the venv "
                         "(README.md, 'Rerun') or pass --sanafe-python")
    started = time.time()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    arch = load_arch(str(ARCH))
    ckpt = small_snn()
    ours = run_ours(ckpt, arch, args.images)
    terms = ours_terms(arch, ours)
    ours_s = time.time() - started
    with tempfile.TemporaryDirectory() as tmp:
        npz, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        extra = sanafe_inputs(ours, npz)
        sf = run_sanafe(args.sanafe_python, npz, out)
    c = compare(ours, terms, sf, extra)
    c["seconds"] = {"ours": round(ours_s, 1), "sanafe": sf["seconds"],
                    "total": round(time.time() - started, 1)}
    c["synapses"] = extra["synapses"]
    c["clock_hz"] = arch.frequency_hz
    print(tables(c))
    for m in c["conv2_mismatches_traced"]:
        print(f"  conv2 mismatch {m}")
    print(f"\nSANA-FE spikes vs ours: {c['spike_mismatches']} of {c['spikes_compared']} differ; "
          f"logits max |diff| {c['logit_max_abs_err']:.3g}, same argmax {c['argmax_same']}/"
          f"{c['images']}")
    u = c["ours_units_pj"]
    print(f"ours per synaptic op {u['synaptic_op']['total']:.3f} pJ "
          f"(/23.6 = {u['synaptic_op']['total'] / 23.6:.4f}); per neuron update "
          f"{u['neuron_update']['total']:.3f} pJ (/52 = {u['neuron_update']['total'] / 52:.4f},"
          f" /81 = {u['neuron_update']['total'] / 81:.4f})")
    print(f"run time: {c['seconds']}")
    Path(args.out).write_text(json.dumps(cases(c), indent=1) + "\n")
    print(f"wrote {args.out}")
    if args.raw:
        Path(args.raw).write_text(json.dumps(c, indent=1, default=float) + "\n")
        print(f"wrote {args.raw}")
    return c


if __name__ == "__main__":
    main()

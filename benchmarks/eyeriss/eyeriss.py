"""The Eyeriss dataflow comparison (Chen, Emer, Sze, ISCA 2016), in shape, on our dataflow model.

    python benchmarks/eyeriss/eyeriss.py            # ~8-10 s on 2 cores; writes results.json

The paper compares dataflows on AlexNet's five CONV layers under the same chip area and finds
row-stationary (RS) the most energy-efficient, 1.4x to 2.5x better than the others. Here the
chip is ``eyeriss_like.yaml`` (168 PEs, 0.5 KB register file per PE, 108 KB global buffer,
16-bit datapath, access energies in the paper's ratios RF 1x : array 2x : buffer 6x : DRAM
200x of one MAC), the layers are the paper's AlexNet CONV shapes at batch 1, and each of the
dense ANN dataflows ws, os and rs of ``hwsim.dataflow`` is mapped layer by layer by its mapper
(:func:`hwsim.mapper.best_tiling`, objective energy) on specs built by
:func:`hwsim.compare.ann_spec` from the dense placement of ``mapping.placement.map_network``.

Stages (each a function): chip (config + overrides) -> workload (nodes) -> placement -> spec ->
mapper -> price -> tables. Every combination of these axes is evaluated and kept:

- ``chip``: ``eyeriss_108KB`` (the config as written) and ``working_set_on_chip`` (the same
  chip with the global buffer grown by 8 MiB, so that every stream and weight of AlexNet lives
  on chip: the paper's buffer is refilled from DRAM in tiles, which our model cannot express,
  see README "Where it differs").
- ``split``: register bytes per PE in 64/128/256/512 with the global buffer taking the rest of
  the same total storage bytes (the paper's equal-area comparison lets each dataflow choose its
  RF/buffer split); ``fixed`` is 512 B (the config), ``best`` the split with the lowest total.
- ``partitions``: ``policy`` (the chip's ``policy.partition: auto``: output channels first) or
  ``searched`` (per layer the best of auto, output_channels, spatial: the paper optimises
  each dataflow's mapping too).
- ``cost`` (what the mapper minimises, and the total reported): ``model`` is the model's own
  price (``sum(hwsim.energy.price(...))``), which books the NoC for every read out of the GLB
  or DRAM (mean mesh path + one hop per extra destination) and for the output stream; this
  script adds nothing to it. ``no_path`` is the same price less the mean mesh path of every
  NoC transfer (``noc_path``; each keeps one hop per extra destination), because the paper's
  per-level costs are those of moving data from the level to the ALU (buffer 6x), with the
  array (2x) for data that comes from another PE: the paper's delivery convention, a
  sensitivity check of the model's.

Each result also splits the model's NoC and DRAM energy by operand (``noc:W``, ``dram:I``, ...)
and the NoC into the mean path and the multicast fan-out (``noc_path``, ``noc_fanout``).

Energies are per MAC of the paper's count (Eq. 16: 666 M MACs for the five layers), in units of
one 16-bit MAC (E_MAC = 0.8374 pJ), like the paper's normalised energy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from arch_configs import ArchConfig, load_arch  # noqa: E402
from hwsim import compare as X  # noqa: E402
from hwsim import dataflow as D  # noqa: E402
from hwsim import energy as E  # noqa: E402
from hwsim import mapper as M  # noqa: E402
from hwsim.counts import LayerCounts  # noqa: E402
from hwsim.simulate import consumers  # noqa: E402
from mapping.placement import map_network  # noqa: E402
from mapping.text import format_table  # noqa: E402
from model.architectures import Node  # noqa: E402

HERE = Path(__file__).resolve().parent
CHIP = HERE / "eyeriss_like.yaml"
DATAFLOWS = ("ws", "os", "rs")
PARTS = ("compute", "activations", "weights", "noc", "dram")
RF_SPLITS = (64, 128, 256, 512)
FIXED_RF = 512
COSTS = ("model", "no_path")
PARTITIONS = ("auto", "output_channels", "spatial")
CHIPS = {"eyeriss_108KB": 0, "working_set_on_chip": 8 * 2**20}  # extra GLB bytes
PAPER_RATIOS = {"register": 1.0, "array": 2.0, "glb": 6.0, "dram": 200.0}
PAPER = {
    "source": "Chen, Emer, Sze, 'Eyeriss: a spatial architecture for energy-efficient dataflow "
              "for convolutional neural networks', ISCA 2016, abstract",
    "claim": "RS is more energy efficient than existing dataflows in convolutional layers "
             "(1.4x to 2.5x) and fully-connected layers (at least 1.3x for batch size larger "
             "than 16), on AlexNet's configurations under the same hardware area",
    "ordering_conv": "RS lowest energy per operation of all dataflows compared (WS, OSA, "
                     "OSB, OSC, NLR, RS)",
    "ratio_range_conv": [1.4, 2.5],
}


# --------------------------------------------------------------------------- the workload
def alexnet_conv() -> tuple[Node, ...]:
    """AlexNet's five CONV layers as the Eyeriss paper lists them (batch 1): the 227x227x3
    image, CONV1 96 11x11 stride 4, CONV2 256 5x5 pad 2, CONV3 384 3x3 pad 1, CONV4 384 3x3
    pad 1, CONV5 256 3x3 pad 1, with AlexNet's 3x3 stride-2 max-pools after CONV1 and CONV2
    (an ``avgpool`` node here: only shapes matter). CONV2, CONV4 and CONV5 are grouped (2
    groups) in AlexNet; like the paper's shape table they are modelled as one dense conv over
    one group's channels (C = 48, 192, 192), so MACs and weights are the real ones (666 M
    MACs), while the input stream a layer reads is half of the real one (README)."""
    return (
        Node("input", "input", None, (), (3, 227, 227)),
        Node("conv1", "conv", "input", (3, 227, 227), (96, 55, 55), 11, 4, 0, "lif"),
        Node("pool1", "avgpool", "conv1", (96, 55, 55), (96, 27, 27), 3, 2),
        Node("conv2", "conv", "pool1", (48, 27, 27), (256, 27, 27), 5, 1, 2, "lif"),
        Node("pool2", "avgpool", "conv2", (256, 27, 27), (256, 13, 13), 3, 2),
        Node("conv3", "conv", "pool2", (256, 13, 13), (384, 13, 13), 3, 1, 1, "lif"),
        Node("conv4", "conv", "conv3", (192, 13, 13), (384, 13, 13), 3, 1, 1, "lif"),
        Node("conv5", "conv", "conv4", (192, 13, 13), (256, 13, 13), 3, 1, 1, "lif"),
    )


# --------------------------------------------------------------------------- the chip
def chip(register_bytes: int, glb_bytes: int, partition: str = "auto") -> ArchConfig:
    """``eyeriss_like.yaml`` with a register-file/global-buffer split and a partition policy."""
    return load_arch(CHIP, {"pe_array": {"register_bytes": register_bytes},
                            "global_buffer": {"size_bytes": glb_bytes},
                            "policy": {"partition": partition}})


def mac_pj(arch: ArchConfig) -> float:
    p = arch.precision
    return arch.op_energy_pj("mac", max(p.weight_bits, p.activation_bits))


def realised_ratios(arch: ArchConfig) -> dict[str, float]:
    """Each level's 16-bit access (the array: one NoC hop) over one 16-bit MAC, checked against
    the paper's table to 0.1 %."""
    b = arch.precision.activation_bits
    u = mac_pj(arch)
    got = {"register": arch.access_pj("register", b) / u, "array": arch.noc_hop_pj(b) / u,
           "glb": arch.access_pj("glb", b) / u, "dram": arch.access_pj("dram", b) / u}
    for k, want in PAPER_RATIOS.items():
        if abs(got[k] / want - 1) > 1e-3:
            raise SystemExit(f"{CHIP.name}: {k} access is {got[k]:.4f} MACs, the paper's table "
                             f"says {want}; fix the energies in the config")
    return got


# --------------------------------------------------------------------------- spec and cost
def dense_counts(node: Node, lm) -> LayerCounts:
    """The counts ``compare.ann_spec`` reads, for a dense ANN layer of one image (no
    simulation: dense activity depends on the shapes only)."""
    z = np.zeros(1)
    return LayerCounts(node.name, node.kind, node.neuron, node.neurons, node.params,
                       node.ann_macs, node.source == "input", 1, z, z, z,
                       np.zeros((1, lm.pes_used)), np.zeros(lm.pes_used), z, images=1,
                       ann_output_nonzero=float(node.neurons), ann_images=1)


def breakdown(arch: ArchConfig, acc: D.Accesses) -> dict[str, float]:
    """The model's NoC and DRAM energy (pJ) split by operand (``noc:W`` ...), and the NoC
    split into the mean mesh path every transfer pays (``noc_path``) and the extra hops of a
    multicast (``noc_fanout``); the same ``energy.noc_pj`` the model prices with."""
    out: dict[str, float] = {}
    path = E.mesh_hops(arch.pes)
    for operand, packets, bits, dests in acc.noc:
        e = E.noc_pj(arch, packets, bits, dests)
        out[f"noc:{operand}"] = out.get(f"noc:{operand}", 0.0) + e
        fan = e * max(0, dests - 1) / (path + max(0, dests - 1))
        out["noc_fanout"] = out.get("noc_fanout", 0.0) + fan
        out["noc_path"] = out.get("noc_path", 0.0) + e - fan
    for (operand, level, _, bits), n in acc.mem.items():
        if level == "dram":
            out[f"dram:{operand}"] = out.get(f"dram:{operand}", 0.0) + n * arch.access_pj(
                level, bits)
    return out


def map_layer(arch: ArchConfig, mapping, nodes, node: Node, dataflow: str,
              cost_name: str = "model") -> dict:
    """One layer, one dataflow, one placement: the mapper's best tiling by energy under
    ``cost_name`` (module docstring)."""
    ctx = X.Context(arch, mapping, {}, tuple(nodes), 1, consumers(nodes))
    lm = mapping.layer(node.name)
    lc = dense_counts(node, lm)
    spec = X.ann_spec(ctx, lc, False, mapping)
    macs = spec.activity.accumulates_per_channel * spec.geometry.K  # as hwsim.compare times

    def energy(acc) -> float:
        e = sum(E.price(acc, arch, "ann").values())
        return e - breakdown(arch, acc).get("noc_path", 0.0) if cost_name == "no_path" else e

    def cost(acc):
        return energy(acc), E.ann_cycles(arch, lc, lm, E.traffic(acc), macs,
                                         in_flight=acc.in_flight)

    start = time.perf_counter()
    try:
        ch = M.best_tiling(spec, dataflow, cost)
    except M.NoFit as e:
        return {"feasible": False, "why": str(e), "search_s": time.perf_counter() - start}
    search = time.perf_counter() - start
    parts = E.price(ch.accesses, arch, "ann")
    u = mac_pj(arch) * node.ann_macs
    per_mac = {k: parts[k] / u for k in PARTS}
    keys = [f"{w}:{o}" for w in ("noc", "dram") for o in "WIVOX"] + ["noc_path", "noc_fanout"]
    split = breakdown(arch, ch.accesses)
    per_mac.update({k: split.get(k, 0.0) / u for k in keys})
    per_mac["model_total"] = sum(per_mac[k] for k in PARTS)
    per_mac["total"] = energy(ch.accesses) / u  # the cost minimised, per MAC
    return {"feasible": True, "tiling": ch.tiling.describe(), "candidates": ch.tried,
            "search_s": search, "objective_pj": ch.energy_pj, "cycles": ch.cycles,
            "per_mac": per_mac, "weight_level": lm.weight_level,
            "stream_level": mapping.buffer_level, "groups": lm.channel_groups,
            "spatial_tiles": lm.spatial_tiles}


# --------------------------------------------------------------------------- the sweep
def placements(nodes, register_bytes: int, glb_bytes: int) -> dict[str, tuple]:
    """The dense ANN placement of the network for each partition policy."""
    out = {}
    for part in PARTITIONS:
        arch = chip(register_bytes, glb_bytes, part)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spills show in the placement's levels
            out[part] = (arch, map_network(nodes, arch, neuron_state=False))
    return out


def network(layers: list[dict], nodes) -> dict:
    """Per-layer results -> the network's energy per MAC (weighted by each layer's MACs)."""
    bad = [r["layer"] for r in layers if not r["feasible"]]
    if bad:
        return {"feasible": False, "infeasible_layers": bad, "layers": layers}
    macs = {n.name: n.ann_macs for n in nodes if n.synaptic}
    total = sum(macs.values())
    keys = layers[0]["per_mac"].keys()
    per_mac = {k: sum(r["per_mac"][k] * macs[r["layer"]] for r in layers) / total for k in keys}
    return {"feasible": True, "per_mac": per_mac, "layers": layers,
            "search_s": sum(r["search_s"] for r in layers)}


def sweep(nodes, pes: int, total_storage: int) -> list[dict]:
    """Every split x partitions x cost x dataflow on one chip of ``total_storage`` bytes
    (register files of all PEs + global buffer)."""
    runs = []
    synaptic = [n for n in nodes if n.synaptic]
    for rf in RF_SPLITS:
        glb = total_storage - pes * rf
        placed = placements(nodes, rf, glb)
        for cost in COSTS:
            for df in DATAFLOWS:
                by_part = {p: [{"layer": n.name, "partition": p,
                                **map_layer(*placed[p], nodes, n, df, cost)}
                               for n in synaptic] for p in PARTITIONS}
                searched = []
                for i in range(len(synaptic)):
                    options = [by_part[p][i] for p in PARTITIONS if by_part[p][i]["feasible"]]
                    searched.append(min(options, key=lambda r: r["per_mac"]["total"])
                                    if options else by_part["auto"][i])
                search_s = sum(r["search_s"] for p in PARTITIONS for r in by_part[p])
                for mode, layers in (("policy", by_part["auto"]), ("searched", searched)):
                    runs.append({"register_bytes": rf, "glb_bytes": glb, "partitions": mode,
                                 "cost": cost, "dataflow": df,
                                 "search_s_all_partitions": search_s,
                                 **network(layers, nodes)})
    return runs


def pick(runs: list[dict], partitions: str, cost: str, dataflow: str, rf: int | None) -> dict:
    """The run at a split (``rf``), or the feasible split with the lowest total (None)."""
    mine = [r for r in runs if r["partitions"] == partitions and r["cost"] == cost
            and r["dataflow"] == dataflow]
    if rf is not None:
        return next(r for r in mine if r["register_bytes"] == rf)
    ok = [r for r in mine if r["feasible"]]
    if not ok:
        return next(r for r in mine if r["register_bytes"] == FIXED_RF)
    # a tie (within 1e-9) goes to the configured split: another split is best only if better
    return min(ok, key=lambda r: (round(r["per_mac"]["total"], 9),
                                  r["register_bytes"] != FIXED_RF))


def summary(runs: list[dict]) -> dict:
    """Per partitions x cost x split choice: each dataflow's result, the ordering and the
    ratio of every other dataflow to RS."""
    out = {}
    for partitions in ("policy", "searched"):
        for cost in COSTS:
            for split, rf in (("fixed", FIXED_RF), ("best", None)):
                chosen = {df: pick(runs, partitions, cost, df, rf) for df in DATAFLOWS}
                ok = {df: r["per_mac"]["total"] for df, r in chosen.items() if r["feasible"]}
                order = sorted(ok, key=ok.get)
                rs = ok.get("rs")
                out[f"{partitions}|{cost}|{split}"] = {
                    "ordering": order + [f"{df} (no fit)" for df in DATAFLOWS if df not in ok],
                    "over_rs": {df: v / rs for df, v in ok.items() if rs},
                    "dataflows": {df: _brief(r) for df, r in chosen.items()}}
    return out


def _brief(r: dict) -> dict:
    d = {"register_bytes": r["register_bytes"], "glb_bytes": r["glb_bytes"],
         "feasible": r["feasible"]}
    if r["feasible"]:
        d["per_mac"] = r["per_mac"]
        d["layers"] = {x["layer"]: {"total": x["per_mac"]["total"], "tiling": x["tiling"],
                                    "partition": x["partition"]} for x in r["layers"]}
    else:
        d["infeasible_layers"] = r["infeasible_layers"]
    return d


# --------------------------------------------------------------------------- output
def table(name: str, key: str, s: dict, nodes) -> str:
    """One summary entry: per dataflow its split, per-layer and total energy per MAC (the cost
    minimised), the model's parts and the NoC's mean path (which ``no_path`` leaves out)."""
    layers = [n.name for n in nodes if n.synaptic]
    extra = ["noc path"]
    rows = []
    for df in DATAFLOWS:
        d = s[key]["dataflows"][df]
        split = f"{d['register_bytes']} B / {d['glb_bytes'] / 1024:.0f} KiB"
        if not d["feasible"]:
            rows.append([df, split] + ["no fit" if x in d["infeasible_layers"] else "-"
                                       for x in layers]
                        + ["no fit"] + [None] * (len(PARTS) + len(extra)))
            continue
        pm = d["per_mac"]
        rows.append([df, split] + [d["layers"][x]["total"] for x in layers] + [pm["total"]]
                    + [pm[p] for p in PARTS] + [pm["noc_path"]])
    ratios = ", ".join(f"{df}/rs {v:.2f}" for df, v in s[key]["over_rs"].items() if df != "rs")
    title = (f"{name} [{key}]: energy per MAC, in MACs; {' < '.join(s[key]['ordering'])}"
             + (f"; {ratios}" if ratios else ""))
    return format_table(["dataflow", "RF / GLB"] + layers + ["total"] + list(PARTS) + extra,
                        rows, title)


def split_table(name: str, runs: list[dict]) -> str:
    """The same-area sweep: each dataflow's total energy per MAC at every RF/GLB split."""
    rows = []
    for partitions in ("policy", "searched"):
        for cost in COSTS:
            for df in DATAFLOWS:
                mine = {r["register_bytes"]: r for r in runs if r["partitions"] == partitions
                        and r["cost"] == cost and r["dataflow"] == df}
                rows.append([partitions, cost, df]
                            + [mine[rf]["per_mac"]["total"] if mine[rf]["feasible"]
                               else "no fit: " + ",".join(mine[rf]["infeasible_layers"])
                               for rf in RF_SPLITS])
    glb = {r["register_bytes"]: r["glb_bytes"] for r in runs}
    heads = [f"{rf} B / {glb[rf] / 1024:.0f} KiB" for rf in RF_SPLITS]
    return format_table(["partitions", "cost", "dataflow"] + heads, rows,
                        f"{name}: same total storage, RF per PE / GLB; energy per MAC, in MACs")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "results.json"))
    args = ap.parse_args()
    start = time.perf_counter()
    nodes = alexnet_conv()
    base = load_arch(CHIP)
    ratios = realised_ratios(base)
    base_glb = base.global_buffer.size_bytes
    results = {
        "paper": PAPER,
        "chip": {"config": str(CHIP.relative_to(ROOT)), "description": base.description,
                 "pes": base.pes, "register_bytes": base.pe_array.register_bytes,
                 "pe_sram_bytes": base.pe_array.sram_bytes, "glb_bytes": base_glb,
                 "bits": base.precision.activation_bits, "mac_pj": mac_pj(base),
                 "access_over_mac": ratios},
        "workload": [{"layer": n.name, "in_shape": n.in_shape, "out_shape": n.out_shape,
                      "kernel": n.kernel, "stride": n.stride, "padding": n.padding,
                      "macs": n.ann_macs, "weights": n.params} for n in nodes if n.synaptic],
        "axes": {"register_bytes": RF_SPLITS, "fixed_register_bytes": FIXED_RF,
                 "partitions": PARTITIONS, "costs": COSTS, "dataflows": DATAFLOWS},
        "chips": {},
    }
    text = []
    for name, extra in CHIPS.items():
        total_storage = base.pes * FIXED_RF + base_glb + extra
        runs = sweep(nodes, base.pes, total_storage)
        s = summary(runs)
        results["chips"][name] = {"extra_glb_bytes": extra, "total_storage_bytes": total_storage,
                                  "summary": s, "runs": runs}
        # a "best" split is printed only where it differs from the configured one
        keys = [k for k in s if k.endswith("|fixed") or any(
            s[k]["dataflows"][df]["register_bytes"] != FIXED_RF for df in DATAFLOWS)]
        text += [table(name, key, s, nodes) for key in keys] + [split_table(name, runs)]
    wall = time.perf_counter() - start
    every = [r for c in results["chips"].values() for r in c["runs"]
             if r["partitions"] == "policy"]  # each holds every partition's search time
    search = sum(r["search_s_all_partitions"] for r in every)
    calls = len(every) * len(PARTITIONS) * len(results["workload"])
    results["timing"] = {"wall_s": wall, "mapper_s": search, "mapper_calls": calls,
                         "note": "mapper_s: time inside hwsim.mapper.best_tiling over every "
                                 "layer x dataflow x partition x split x cost x chip"}
    Path(args.out).write_text(json.dumps(results, indent=1, default=float) + "\n")
    print(f"{base.description}\nE_MAC = {mac_pj(base):.4f} pJ; a 16-bit access costs "
          + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()) + " MACs\n")
    print("\n\n".join(text))
    print(f"\nmapper: {search:.1f} s in best_tiling; whole run {wall:.1f} s; wrote {args.out}")


if __name__ == "__main__":
    main()

"""Calibration against silicon: our model configured as Eyeriss v1 vs the chip's measurements.

    python benchmarks/calibration/eyeriss/calibrate.py   # ~20 s on 2 cores; writes the JSONs

The chip is ``arch_configs/eyeriss.yaml`` (65 nm, 168 PEs, 520 B of spads per PE, 108 kB global
buffer, 16-bit, 200 MHz). The workloads are the convolutional layers of AlexNet (227x227, the
published batch N = 4) and VGG-16 (224x224, N = 3) as Chen et al., JSSC 2017 ran them (Tables V
and VI, measured at 200 MHz). Each layer is a dense ANN layer on our row-stationary loop nest
(``hwsim.dataflow`` ``rs``), tiled by our mapper (``hwsim.mapper.best_tiling``) on the dense
placement of ``mapping.placement.map_network``, priced by ``hwsim.energy.price``, timed by
``hwsim.energy.ann_cycles``; clock and leakage are charged over the latency as ``hwsim`` does
(``energy.add_leakage``). Nothing here adds energy the model does not compute, except where a
variant says so.

Per layer and network: on-chip energy per frame (compute, activations, weights, NoC, clock,
leakage; the published power is the chip's, without DRAM), DRAM energy (reported apart),
latency per frame -> power (on-chip energy / latency) and frames per second, and the traffic at
the global buffer and DRAM, against the published numbers.

Modelling choices (README "Method"):

- **Zero gating.** Eyeriss gates the MAC and the filter-spad read of a zero input activation
  but not its cycle (JSSC 2017, "data gating", as we read the paper; its abstract confirms
  data gating, the table of zeros per layer is Tables V/VI). Our nests have no gating; the ``gated``
  variant (the headline) takes the dense ``rs`` nest's accesses and removes, for the
  published fraction of zeros in each layer's input (Tables V/VI), that share of the
  multiplies, the MAC adds and the weight register reads; cycles stay the dense MAC count.
  ``dense`` is the nest as is; ``skip`` is the model's own ``rs_skip`` (zeros neither fetched
  nor multiplied, cycles saved too, which Eyeriss does not do).
- **Partition.** Eyeriss' mapper optimises the energy of chip and DRAM together (JSSC 2017,
  abstract); here each layer takes, of the placements ``auto``, ``output_channels`` and
  ``spatial``, the one whose best tiling has the lowest energy (all parts ``energy.price``
  returns, DRAM included). ``policy`` keeps the config's ``auto`` for every layer.
- **Grouped layers.** AlexNet's CONV2, CONV4 and CONV5 have two groups; each group is a layer
  of its own here (``conv2a``/``conv2b``: C = 48 of the 96 input channels -> 128 outputs), so
  MACs, weights, input and output streams are all the real ones; the two halves run in turn
  and are reported together as the paper's layer.
- **Batch.** Our model has no batch dimension: every number is per frame, with nothing shared
  between the N frames of a batch (Eyeriss reuses each filter across the batch).
- ``glb_tiled`` (a diagnostic, not a result of the model): the same nests with the input
  stream and the weights read from the global buffer at every fill, and every stream crossing
  the chip boundary once per frame (weights once per batch): what the model would give with
  the global-buffer tiling level it lacks (README "Residuals").
- ``fast_dram`` and ``rf_1x_mac`` (sensitivities): the headline with 45nm.yaml's DDR3 channel
  instead of the assumed 480 MB/s chip link, and with a register-file access priced at one
  16-bit MAC (the ISCA 2016 table of the same group and process) instead of 45nm.yaml's.

Outputs: ``results.json`` (cases ``{name, quantity, ours, reference, reference_source}``: the
headline per layer and in total, the other variants' totals, the power fit of the residuals)
and ``details.json`` (every layer of every variant: tiling, partition, parts, cycles, bound,
traffic by operand).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[3]
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
from model.architectures import Node, build_architecture  # noqa: E402

HERE = Path(__file__).resolve().parent
CHIP = "eyeriss"
PARTITIONS = ("auto", "output_channels", "spatial")
ON_CHIP = ("compute", "activations", "weights", "noc", "clock", "leakage")
VARIANTS = {
    "gated": "headline: rs nest, zero gating (energy only), partition searched per layer",
    "dense": "rs nest as is (no zero gating), partition searched",
    "skip": "the model's rs_skip (zeros skipped: energy and cycles), partition searched",
    "policy": "gated, with the config's partition (auto) for every layer",
    "glb_tiled": "diagnostic: gated, streams and weights served from the GLB, each stream "
                 "crossing the chip boundary once per frame (weights once per batch)",
    "fast_dram": "sensitivity: gated, with 45nm.yaml's DDR3-1600 channel (12.8 GB/s) instead "
                 "of the 480 MB/s chip link",
    "rf_1x_mac": "sensitivity: gated, with a register-file access priced at one 16-bit MAC "
                 "(ISCA 2016's normalised cost) instead of 45nm.yaml's flip-flop estimate",
}
# a 16-bit int MAC of the 45 nm table: mult(16) (log-log between Horowitz's 8- and 32-bit
# multipliers) + add(16) = 0.7874 + 0.05 pJ; per bit of a 16-bit access:
RF_1X_MAC_PJ_PER_BIT = 0.8374 / 16
HEADLINE = "gated"
# config overrides of a variant (the placement and the prices are the same chip's otherwise)
VARIANT_CHIP = {"fast_dram": {"dram": {"bandwidth_bytes_per_s": {
    "value": 1.28e+10, "source": "45nm.yaml: DDR3-1600, one 64-bit channel (JEDEC JESD79-3); "
    "a sensitivity check of the link assumption, not Eyeriss' set-up"}}},
    "rf_1x_mac": {"technology": {"energy": {"register_pj_per_bit": {
        "value": RF_1X_MAC_PJ_PER_BIT, "source": "Chen, Emer, Sze, ISCA 2016, table of "
        "normalized energy cost relative to a MAC (65 nm): RF (0.5 kB) 1x; one 16-bit MAC of "
        "the 45 nm table (0.8374 pJ) per 16-bit access"}}}}}

# ----------------------------------------------------------------------------- published data
JSSC = ("Y.-H. Chen, T. Krishna, J. S. Emer, V. Sze, 'Eyeriss: an energy-efficient "
        "reconfigurable accelerator for deep convolutional neural networks', IEEE JSSC 52(1), "
        "2017")
TRANSCRIPTION = ("values as transcribed (OCR, hand-cleaned) by the FODLAM project, "
                 "github.com/cucapra/fodlam, {}")
# Per layer: power (mW), total latency (ms), processing latency (ms), MACs (G), active PEs,
# zeros in ifmaps (fraction), global buffer accesses (MB), DRAM accesses (MB); per batch.
COLUMNS = ("power_mW", "latency_ms", "processing_ms", "macs_G", "active_pes", "zeros",
           "glb_MB", "dram_MB")
PUBLISHED = {
    "alexnet": {
        "batch": 4,
        "source": f"{JSSC}, Table V (AlexNet CONV layers, batch 4, 200 MHz); "
                  + TRANSCRIPTION.format("data/eyeriss-alexnet.csv"),
        "abstract": {"power_mW": 278.0, "frames_per_s": 35.0},
        "layers": {
            "CONV1": (332, 20.9, 16.5, 0.42, 154, 0.0001, 18.5, 5.0),
            "CONV2": (288, 41.9, 39.2, 0.90, 135, 0.387, 77.6, 4.0),
            "CONV3": (266, 23.6, 21.8, 0.60, 156, 0.725, 50.2, 3.0),
            "CONV4": (235, 18.4, 16.0, 0.45, 156, 0.793, 37.4, 2.1),
            "CONV5": (236, 10.5, 10.0, 0.30, 156, 0.776, 24.9, 1.3),
        },
        "total": (278, 115.3, 103.5, 2.66, 148, 0.5753, 208.5, 15.4),
    },
    "vgg16": {
        "batch": 3,
        "source": f"{JSSC}, Table VI (VGG-16 CONV layers, batch 3, 200 MHz); "
                  + TRANSCRIPTION.format("data/eyeriss-vgg16.csv"),
        "abstract": {"power_mW": 236.0, "frames_per_s": 0.7},
        "layers": {
            "CONV1-1": (247, 76.2, 38.0, 0.26, 156, 0.16, 112.6, 15.4),
            "CONV1-2": (218, 910.3, 810.6, 5.55, 156, 0.477, 2402.8, 54.0),
            "CONV2-1": (242, 470.3, 405.3, 2.77, 156, 0.248, 1201.4, 33.4),
            "CONV2-2": (231, 894.3, 810.8, 5.55, 156, 0.387, 2402.3, 48.5),
            "CONV3-1": (254, 241.1, 204.0, 2.77, 156, 0.397, 607.4, 20.2),
            "CONV3-2": (235, 460.9, 408.1, 5.55, 156, 0.581, 1214.8, 32.2),
            "CONV3-3": (233, 457.7, 408.1, 5.55, 156, 0.587, 1214.8, 30.8),
            "CONV4-1": (278, 135.8, 105.1, 2.77, 168, 0.643, 321.8, 17.8),
            "CONV4-2": (261, 254.8, 210.0, 5.55, 168, 0.747, 643.7, 20.6),
            "CONV4-3": (240, 246.3, 210.0, 5.55, 168, 0.854, 643.7, 22.8),
            "CONV5-1": (258, 54.3, 48.3, 1.39, 163, 0.794, 90.0, 6.3),
            "CONV5-2": (236, 53.7, 48.5, 1.39, 168, 0.874, 90.0, 5.7),
            "CONV5-3": (230, 53.7, 48.5, 1.39, 168, 0.885, 90.0, 5.6),
        },
        "total": (236, 4309.5, 3755.2, 46.04, 158, 0.586, 11035.8, 321.1),
    },
}
# Transcription caveats (README): VGG-16 CONV1-1 zeros "16%" may be 1.6% and its DRAM
# "15.4 MB" is the cleaned value of an OCR "154 MB" (the column sums to 321.1 MB only with
# 23.2 MB there); CONV1-1 is 0.6 % of VGG-16's MACs, so neither moves a total.


def published(net: str) -> dict:
    """The table as dicts: per layer and total, every column."""
    p = PUBLISHED[net]
    layers = {k: dict(zip(COLUMNS, v)) for k, v in p["layers"].items()}
    return {"batch": p["batch"], "source": p["source"], "abstract": p["abstract"],
            "layers": layers, "total": dict(zip(COLUMNS, p["total"]))}


# ----------------------------------------------------------------------------- workloads
def alexnet_conv() -> tuple[Node, ...]:
    """AlexNet's five CONV layers at 227x227 (Krizhevsky et al. 2012; the shapes of JSSC 2017
    Table III): CONV1 96 11x11/4, CONV2 256 5x5 pad 2 in 2 groups, CONV3 384 3x3 pad 1, CONV4
    384 and CONV5 256 3x3 pad 1 in 2 groups; 3x3/2 pools after CONV1 and CONV2 (``avgpool``
    nodes: only shapes matter). A grouped layer is two layers (``a``, ``b``), each over its
    group's half of the input channels; the graph edge of a group names the whole producer
    (only ``in_shape`` enters the dataflow model)."""
    return (
        Node("input", "input", None, (), (3, 227, 227)),
        Node("conv1", "conv", "input", (3, 227, 227), (96, 55, 55), 11, 4, 0, "lif"),
        Node("pool1", "avgpool", "conv1", (96, 55, 55), (96, 27, 27), 3, 2),
        Node("conv2a", "conv", "pool1", (48, 27, 27), (128, 27, 27), 5, 1, 2, "lif"),
        Node("conv2b", "conv", "pool1", (48, 27, 27), (128, 27, 27), 5, 1, 2, "lif"),
        Node("pool2", "avgpool", "conv2b", (256, 27, 27), (256, 13, 13), 3, 2),
        Node("conv3", "conv", "pool2", (256, 13, 13), (384, 13, 13), 3, 1, 1, "lif"),
        Node("conv4a", "conv", "conv3", (192, 13, 13), (192, 13, 13), 3, 1, 1, "lif"),
        Node("conv4b", "conv", "conv3", (192, 13, 13), (192, 13, 13), 3, 1, 1, "lif"),
        Node("conv5a", "conv", "conv4b", (192, 13, 13), (128, 13, 13), 3, 1, 1, "lif"),
        Node("conv5b", "conv", "conv4b", (192, 13, 13), (128, 13, 13), 3, 1, 1, "lif"),
    )


def vgg16_conv() -> tuple[Node, ...]:
    """VGG-16's 13 CONV layers at 224x224: ``model.architectures`` ``vgg16`` (ImageNet input,
    1000 classes), cut after the last pool (the classifier is not measured in Table VI)."""
    nodes = build_architecture("vgg16", 1000, (3, 224, 224))
    last = max(i for i, n in enumerate(nodes) if n.kind == "avgpool")
    return tuple(nodes[:last + 1])


# our layer -> the paper's layer
PAPER_LAYER = {
    "alexnet": {"conv1": "CONV1", "conv2a": "CONV2", "conv2b": "CONV2", "conv3": "CONV3",
                "conv4a": "CONV4", "conv4b": "CONV4", "conv5a": "CONV5", "conv5b": "CONV5"},
    "vgg16": {f"conv{i + 1}": name for i, name in enumerate(
        ["CONV1-1", "CONV1-2", "CONV2-1", "CONV2-2", "CONV3-1", "CONV3-2", "CONV3-3",
         "CONV4-1", "CONV4-2", "CONV4-3", "CONV5-1", "CONV5-2", "CONV5-3"])},
}
WORKLOADS = {"alexnet": alexnet_conv, "vgg16": vgg16_conv}


# ----------------------------------------------------------------------------- the model
def chip(partition: str = "auto", overrides: dict | None = None) -> ArchConfig:
    return load_arch(CHIP, {**(overrides or {}), "policy": {"partition": partition}})


def placements(nodes, overrides: dict | None = None) -> dict[str, tuple[ArchConfig, object]]:
    """The dense ANN placement of the network for each partition policy."""
    out = {}
    for part in PARTITIONS:
        arch = chip(part, overrides)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spills are in the mapping's levels
            out[part] = (arch, map_network(nodes, arch, neuron_state=False))
    return out


def layer_counts(node: Node, lm, zeros_in: float, zeros_out: float) -> LayerCounts:
    """What ``compare.ann_spec`` reads for one frame of a layer, without a simulation: the
    input's non-zero map (uniform: C x (1 - zeros) per position, for ``rs_skip``) and the
    output's non-zeros (the next layer's published input zeros)."""
    z = np.zeros(1)
    c, h, w = node.in_shape
    nonzero = np.full((h, w), c * (1.0 - zeros_in))
    return LayerCounts(node.name, node.kind, node.neuron, node.neurons, node.params,
                       node.ann_macs, node.source == "input", 1, z, z, z,
                       np.zeros((1, lm.pes_used)), np.zeros(lm.pes_used), z, images=1,
                       ann_input_nonzero=nonzero,
                       ann_output_nonzero=float(node.neurons) * (1.0 - zeros_out),
                       ann_images=1)


def gate(acc: D.Accesses, zeros: float) -> D.Accesses:
    """Eyeriss' zero gating on a dense nest's accesses: for the share ``zeros`` of MACs whose
    input is zero, no multiply, no accumulate and no filter (weight register) read."""
    out = D.Accesses(dict(acc.mem), dict(acc.ops), list(acc.noc))
    keep = 1.0 - zeros
    for key in out.ops:
        if key[0] in ("mult", "add"):
            out.ops[key] *= keep
    for key in out.mem:
        if key[0] == "W" and key[1] == "register" and key[2] == "read":
            out.mem[key] *= keep
    return out


def tiled(spec: D.LayerSpec) -> D.LayerSpec:
    """``glb_tiled``: the input stream and the weights read from the GLB at every fill."""
    return dataclasses.replace(spec, stream_level="glb", weight_level="glb")


def boundary(acc: D.Accesses, node: Node, batch: int, bits: int) -> D.Accesses:
    """``glb_tiled``: each stream crosses the chip boundary once per frame through the GLB:
    the input map read from DRAM (the first layer's image: already read by the nest) and
    written to the GLB, the outputs read back from the GLB and written to DRAM, the weights
    read from DRAM and written to the GLB once per batch."""
    out = D.Accesses(dict(acc.mem), dict(acc.ops), list(acc.noc))
    inputs, outputs, weights = math.prod(node.in_shape), node.neurons, node.params / batch
    if node.source != "input":
        out.read("I", "dram", inputs, bits)
    out.write("I", "glb", inputs, bits)
    out.read("O", "glb", outputs, bits)
    out.write("O", "dram", outputs, bits)
    out.read("W", "dram", weights, bits)
    out.write("W", "glb", weights, bits)
    return out


def by_operand(acc: D.Accesses) -> dict[str, float]:
    """MB moved at the GLB and at DRAM per operand (``glb:W``, ``dram:I``, ...)."""
    out: dict[str, float] = {}
    for (operand, level, _, bits), n in acc.mem.items():
        if level in ("glb", "dram"):
            key = f"{level}:{operand}"
            out[key] = out.get(key, 0.0) + n * bits / 8e6
    return out


def evaluate_layer(arch: ArchConfig, mapping, nodes, node: Node, variant: str, zeros_in: float,
                   zeros_out: float, batch: int) -> dict:
    """One layer on one placement: the mapper's best ``rs`` tiling under the variant's cost
    (energy of every part ``energy.price`` books, DRAM included), its priced parts (pJ, per
    frame), cycles and traffic."""
    ctx = X.Context(arch, mapping, {}, tuple(nodes), 1, consumers(nodes))
    lm = mapping.layer(node.name)
    lc = layer_counts(node, lm, zeros_in, zeros_out)
    skip = variant == "skip"
    spec = X.ann_spec(ctx, lc, skip, mapping)
    if variant == "glb_tiled":
        spec = tiled(spec)
    dense_macs = spec.dense.accumulates_per_channel * spec.geometry.K
    macs = spec.activity.accumulates_per_channel * spec.geometry.K if skip else dense_macs
    bits = arch.precision.activation_bits

    def finish(acc: D.Accesses) -> D.Accesses:
        if variant in ("gated", "policy", "glb_tiled", "fast_dram", "rf_1x_mac"):
            acc = gate(acc, zeros_in)
        if variant == "glb_tiled":
            acc = boundary(acc, node, batch, bits)
        return acc

    def cost(acc):
        a = finish(acc)
        return sum(E.price(a, arch, "ann").values()), E.ann_cycles(
            arch, lc, lm, E.traffic(a), macs, in_flight=acc.in_flight)  # the nest's own tile

    ch = M.best_tiling(spec, "rs_skip" if skip else "rs", cost)
    acc = finish(ch.accesses)
    t = E.traffic(acc)
    cycles, limit, compute = E.ann_cycles(arch, lc, lm, t, macs, with_bound=True,
                                          in_flight=ch.accesses.in_flight)
    return {"layer": node.name, "tiling": ch.tiling.describe(), "staged": ch.tiling.stage,
            "parts_pj": E.price(acc, arch, "ann"), "cycles": cycles, "bound": limit,
            "compute_cycles": compute, "pes_used": lm.pes_used,
            "groups": lm.channel_groups, "spatial_tiles": lm.spatial_tiles,
            "weight_level": spec.weight_level, "stream_level": spec.stream_level,
            "glb_MB": t.bits["glb"] / 8e6, "dram_MB": t.bits["dram"] / 8e6,
            "by_operand_MB": by_operand(acc),
            "macs": float(node.ann_macs), "macs_done": float(macs),
            "objective_pj": ch.energy_pj, "candidates": ch.tried}


def evaluate_network(net: str, variant: str, placed: dict) -> dict:
    """Every layer of ``net`` under ``variant``: per layer the best placement (or the policy's),
    then clock and leakage over the latency, and the paper-level rows."""
    pub = published(net)
    nodes = WORKLOADS[net]()
    synaptic = [n for n in nodes if n.synaptic]
    names = PAPER_LAYER[net]
    zeros = {n.name: pub["layers"][names[n.name]]["zeros"] for n in synaptic}
    order = list(dict.fromkeys(names[n.name] for n in synaptic))
    next_zeros = {}
    for n in synaptic:
        i = order.index(names[n.name])
        next_zeros[n.name] = pub["layers"][order[i + 1]]["zeros"] if i + 1 < len(order) \
            else zeros[n.name]
    parts = ("auto",) if variant == "policy" else PARTITIONS
    layers = []
    for n in synaptic:
        options = [{"partition": p, **evaluate_layer(*placed[p], nodes, n, variant, zeros[n.name],
                                                     next_zeros[n.name], pub["batch"])}
                   for p in parts]
        layers.append(min(options, key=lambda r: r["objective_pj"]))
    arch = placed["auto"][0]
    for r in layers:  # energy that runs with time, as hwsim.energy.add_leakage books it
        r["parts_pj"]["clock"] = arch.clock_pj_per_cycle * r["cycles"]
        r["parts_pj"]["leakage"] = arch.leakage_w * r["cycles"] / arch.frequency_hz * 1e12
    return {"variant": variant, "layers": layers,
            "paper_layers": paper_rows(net, layers, arch), "total": total_row(layers, arch)}


def summarise(rows: list[dict], arch: ArchConfig) -> dict:
    """Sum of our layers -> per-frame on-chip energy (uJ), DRAM energy, latency, power, fps."""
    parts = {k: sum(r["parts_pj"][k] for r in rows) for k in rows[0]["parts_pj"]}
    cycles = sum(r["cycles"] for r in rows)
    seconds = cycles / arch.frequency_hz
    on_chip = sum(parts[k] for k in ON_CHIP)
    return {"energy_per_frame_uJ": on_chip / 1e6, "dram_energy_per_frame_uJ": parts["dram"] / 1e6,
            "parts_uJ": {k: v / 1e6 for k, v in parts.items()},
            "latency_per_frame_ms": seconds * 1e3, "cycles": cycles,
            "compute_cycles": sum(r["compute_cycles"] for r in rows),
            "power_mW": on_chip / seconds / 1e9, "frames_per_s": 1.0 / seconds,
            "glb_MB": sum(r["glb_MB"] for r in rows), "dram_MB": sum(r["dram_MB"] for r in rows),
            "by_operand_MB": {k: sum(r["by_operand_MB"].get(k, 0.0) for r in rows)
                              for k in sorted({k for r in rows for k in r["by_operand_MB"]})},
            "macs": sum(r["macs"] for r in rows), "pes_used": max(r["pes_used"] for r in rows),
            "bound": sorted({r["bound"] for r in rows}),
            "tiling": " + ".join(f"{r['tiling']} [{r['partition']}]" for r in rows)}


def paper_rows(net: str, layers: list[dict], arch: ArchConfig) -> dict:
    names = PAPER_LAYER[net]
    out = {}
    for name in dict.fromkeys(names[r["layer"]] for r in layers):
        out[name] = summarise([r for r in layers if names[r["layer"]] == name], arch)
    return out


def total_row(layers: list[dict], arch: ArchConfig) -> dict:
    return summarise(layers, arch)


def reference(net: str, row: dict, batch: int) -> dict:
    """A published row per frame: energy = power x total latency / N, latency / N, fps."""
    lat = row["latency_ms"] / batch
    return {"power_mW": row["power_mW"], "latency_per_frame_ms": lat,
            "processing_per_frame_ms": row["processing_ms"] / batch,
            "energy_per_frame_uJ": row["power_mW"] * row["latency_ms"] / batch,
            "frames_per_s": 1e3 / lat, "glb_MB": row["glb_MB"] / batch,
            "dram_MB": row["dram_MB"] / batch, "macs": row["macs_G"] * 1e9 / batch,
            "active_pes": row["active_pes"], "zeros": row["zeros"]}


# ----------------------------------------------------------------------------- residuals
def power_fit(points: list[tuple[float, float]]) -> dict:
    """Least squares P = fixed + e x r over layers: P in mW, r the rate of MACs on non-zero
    inputs in GMAC/s (so e is in pJ per such MAC); standard errors, R^2 and rms in mW."""
    r = np.array([x for _, x in points])
    p = np.array([y for y, _ in points])
    a = np.column_stack([np.ones_like(r), r])
    coef, *_ = np.linalg.lstsq(a, p, rcond=None)
    resid = p - a @ coef
    dof = max(1, len(p) - 2)
    cov = np.linalg.inv(a.T @ a) * (resid @ resid) / dof
    return {"fixed_mW": float(coef[0]), "fixed_se_mW": float(np.sqrt(cov[0, 0])),
            "pj_per_nonzero_mac": float(coef[1]), "pj_se": float(np.sqrt(cov[1, 1])),
            "r2": float(1 - (resid @ resid) / ((p - p.mean()) @ (p - p.mean()))),
            "rms_mW": float(np.sqrt(np.mean(resid ** 2))), "layers": len(p)}


def published_points() -> list[tuple[float, float]]:
    """Every published layer of both tables: (power, non-zero MAC rate over its latency)."""
    out = []
    for net in PUBLISHED:
        for row in published(net)["layers"].values():
            out.append((row["power_mW"], row["macs_G"] * (1 - row["zeros"])
                        / (row["latency_ms"] * 1e-3)))
    return out


def our_points(results: dict, variant: str) -> list[tuple[float, float]]:
    """Our paper-level layers of both networks under ``variant``, as :func:`published_points`."""
    out = []
    for net, r in results["networks"].items():
        if variant not in r["variants"]:
            continue
        pub = published(net)
        for name, ours in r["variants"][variant]["paper_layers"].items():
            z = pub["layers"][name]["zeros"]
            out.append((ours["power_mW"], ours["macs"] * (1 - z) / 1e9
                        / (ours["latency_per_frame_ms"] * 1e-3)))
    return out


def residuals(results: dict, arch: ArchConfig) -> dict:
    """The published per-layer powers split into a part independent of the MAC rate and an
    energy per non-zero MAC (a straight-line fit over the 18 layers of Tables V and VI), the
    same fit of our layers, and the clock energy per PE and cycle the published fixed part
    would imply once our leakage is taken out (at 65 nm and at the 45 nm reference)."""
    pub = power_fit(published_points())
    ours = {v: power_fit(our_points(results, v)) for v in ("gated", "glb_tiled", "rf_1x_mac")
            if len(our_points(results, v)) > 2}
    leak_mW = arch.leakage_w * 1e3
    pe_cycles_per_s = arch.pes * arch.frequency_hz
    per_pe_cycle = (pub["fixed_mW"] - leak_mW) * 1e-3 / pe_cycles_per_s * 1e12
    gap = {v: (pub["fixed_mW"] - f["fixed_mW"]) * 1e-3 / pe_cycles_per_s * 1e12
           for v, f in ours.items()}
    return {"published": pub, "ours": ours, "our_leakage_mW": leak_mW,
            "fixed_gap_pj_per_pe_cycle_65nm": gap,
            "our_clock_mW": arch.clock_pj_per_cycle * arch.frequency_hz * 1e-9,
            "implied_clock_pj_per_pe_cycle_65nm": per_pe_cycle,
            "implied_clock_pj_per_pe_cycle_45nm_ref": per_pe_cycle / arch.node_scale,
            "config_clock_pj_per_pe_cycle_45nm_ref":
                arch.technology.energy.clock_pj_per_pe_cycle.value}


def residual_table(res: dict) -> str:
    rows = [["published (Tables V+VI)", res["published"]]] + [
        [f"ours [{v}]", f] for v, f in res["ours"].items()]
    gap = ", ".join(f"{v} {g:.2f}" for v, g in res["fixed_gap_pj_per_pe_cycle_65nm"].items())
    return format_table(
        ["layers of", "fixed mW", "+-", "pJ / non-zero MAC", "+-", "R^2", "rms mW", "n"],
        [[name, f["fixed_mW"], f["fixed_se_mW"], f["pj_per_nonzero_mac"], f["pj_se"], f["r2"],
          f["rms_mW"], f["layers"]] for name, f in rows],
        "power = fixed + e x (rate of MACs on non-zero inputs), fitted over layers; implied "
        f"clock {res['implied_clock_pj_per_pe_cycle_65nm']:.2f} pJ/PE/cycle at 65 nm "
        f"({res['implied_clock_pj_per_pe_cycle_45nm_ref']:.2f} at the 45 nm reference; "
        f"config {res['config_clock_pj_per_pe_cycle_45nm_ref']}), our leakage "
        f"{res['our_leakage_mW']:.1f} mW, our clock {res['our_clock_mW']:.1f} mW; the fixed "
        f"part we lack, per PE and cycle at 65 nm: {gap} pJ")


# ----------------------------------------------------------------------------- output
QUANTITIES = (("power_mW", "power_mW"), ("frames_per_s", "frames_per_s"),
              ("energy_per_frame_uJ", "energy_per_frame_uJ"),
              ("latency_per_frame_ms", "latency_per_frame_ms"),
              ("glb_MB_per_frame", "glb_MB"), ("dram_MB_per_frame", "dram_MB"))


FIT_SOURCE = ("straight-line fit of the 18 per-layer powers of JSSC 2017 Tables V and VI "
              "against their rate of MACs on non-zero inputs (calibrate.py power_fit)")


def cases(results: dict) -> list[dict]:
    """results.json: per network and quantity the headline's total and every layer, the other
    variants' totals, then the power split of the residual analysis."""
    out = []
    for variant in VARIANTS:
        for net, r in results["networks"].items():
            if variant not in r["variants"]:
                continue
            pub = published(net)
            src = pub["source"]
            res = r["variants"][variant]
            rows = [("total", res["total"], reference(net, pub["total"], pub["batch"]))]
            if variant == HEADLINE:  # per layer for the headline, totals for the others
                rows += [(name, res["paper_layers"][name],
                          reference(net, pub["layers"][name], pub["batch"]))
                         for name in pub["layers"]]
            for row, ours, ref in rows:
                for q, key in QUANTITIES:
                    out.append({"name": f"{net}/{row} [{variant}]", "quantity": q,
                                "ours": ours[key], "reference": ref[key],
                                "reference_source": src})
    res = results["residuals"]
    for v, f in res["ours"].items():
        out.append({"name": f"fit [{v}]", "quantity": "fixed_power_mW", "ours": f["fixed_mW"],
                    "reference": res["published"]["fixed_mW"], "reference_source": FIT_SOURCE})
        out.append({"name": f"fit [{v}]", "quantity": "energy_per_nonzero_mac_pJ",
                    "ours": f["pj_per_nonzero_mac"],
                    "reference": res["published"]["pj_per_nonzero_mac"],
                    "reference_source": FIT_SOURCE})
    return out


def layer_table(net: str, res: dict) -> str:
    pub = published(net)
    rows = []
    for name in list(pub["layers"]) + ["total"]:
        ours = res["total"] if name == "total" else res["paper_layers"][name]
        ref = reference(net, pub["total"] if name == "total" else pub["layers"][name],
                        pub["batch"])
        rows.append([name, ours["energy_per_frame_uJ"], ref["energy_per_frame_uJ"],
                     ours["energy_per_frame_uJ"] / ref["energy_per_frame_uJ"],
                     ours["latency_per_frame_ms"], ref["latency_per_frame_ms"],
                     ours["latency_per_frame_ms"] / ref["latency_per_frame_ms"],
                     ours["power_mW"], ref["power_mW"], ours["power_mW"] / ref["power_mW"],
                     ours["frames_per_s"] / ref["frames_per_s"],
                     ours["glb_MB"], ref["glb_MB"], ours["dram_MB"], ref["dram_MB"],
                     ours["pes_used"], ref["active_pes"], ", ".join(ours["bound"])])
    return format_table(
        ["layer", "E uJ", "pub", "ratio", "t ms", "pub", "ratio", "P mW", "pub", "ratio",
         "fps ratio", "GLB MB", "pub", "DRAM MB", "pub", "PEs", "pub", "bound"], rows,
        f"{net} [{res['variant']}]: per frame, on-chip energy (DRAM apart), latency, power")


def parts_table(results: dict) -> str:
    rows = []
    for net, r in results["networks"].items():
        for variant, res in r["variants"].items():
            t = res["total"]
            p = t["parts_uJ"]
            rows.append([net, variant] + [p[k] for k in ON_CHIP] + [t["energy_per_frame_uJ"],
                        p["dram"], t["latency_per_frame_ms"],
                        t["compute_cycles"] / t["cycles"], t["power_mW"], t["frames_per_s"]])
    return format_table(["network", "variant"] + list(ON_CHIP)
                        + ["on-chip", "dram", "t ms", "compute share", "P mW", "fps"], rows,
                        "energy per frame by part (uJ), latency, power, fps")


def rounded(x):
    """Floats to 6 significant digits (details.json stays diffable)."""
    if isinstance(x, float):
        return float(f"{x:.6g}")
    if isinstance(x, dict):
        return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [rounded(v) for v in x]
    return x


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--networks", default="alexnet,vgg16")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    start = time.perf_counter()
    arch = chip()
    results = {"chip": {"config": "arch_configs/eyeriss.yaml", "description": arch.description,
                        "pes": arch.pes, "clock_hz": arch.frequency_hz,
                        "node_nm": arch.node_nm, "leakage_mW": arch.leakage_w * 1e3,
                        "clock_mW": arch.clock_pj_per_cycle * arch.frequency_hz / 1e9,
                        "pj_16bit": {"mac": arch.op_energy_pj("mac", 16),
                                     "register": arch.access_pj("register", 16),
                                     "glb_read": arch.access_pj("glb", 16),
                                     "noc_hop": arch.noc_hop_pj(16),
                                     "dram": arch.access_pj("dram", 16)}},
               "variants": VARIANTS, "networks": {}}
    text = []
    for net in args.networks.split(","):
        t0 = time.perf_counter()
        nodes = WORKLOADS[net]()
        placed = {None: placements(nodes)}
        r = {"published": published(net), "variants": {}}
        for variant in args.variants.split(","):
            if variant in VARIANT_CHIP and variant not in placed:
                placed[variant] = placements(nodes, VARIANT_CHIP[variant])
            res = evaluate_network(net, variant, placed[variant if variant in VARIANT_CHIP
                                                        else None])
            staged = [x["layer"] for x in res["layers"] if x["staged"]]
            if staged:  # eyeriss.yaml: the PE SRAM is the filter spad, never a staging buffer
                raise SystemExit(f"{net} [{variant}]: {staged} staged an input window in PE "
                                 "SRAM; eyeriss.yaml assumes nothing is staged there")
            r["variants"][variant] = res
            text.append(layer_table(net, res))
        r["seconds"] = time.perf_counter() - t0
        results["networks"][net] = r
    text.append(parts_table(results))
    results["residuals"] = residuals(results, arch)
    text.append(residual_table(results["residuals"]))
    results["wall_s"] = time.perf_counter() - start
    Path(args.out).write_text(json.dumps(rounded(cases(results)), indent=1) + "\n")
    detail = Path(args.out).with_name("details.json")
    detail.write_text(json.dumps(rounded(results), indent=1, default=float) + "\n")
    print("\n\n".join(text))
    for net, r in results["networks"].items():
        if HEADLINE in r["variants"]:
            t = r["variants"][HEADLINE]["total"]
            ref = reference(net, published(net)["total"], published(net)["batch"])
            print(f"headline {net}: power {t['power_mW']:.1f} mW / {ref['power_mW']:.0f} = "
                  f"{t['power_mW'] / ref['power_mW']:.2f}x, {t['frames_per_s']:.2f} fps / "
                  f"{ref['frames_per_s']:.2f} = {t['frames_per_s'] / ref['frames_per_s']:.2f}x, "
                  f"{t['energy_per_frame_uJ']:.0f} uJ / {ref['energy_per_frame_uJ']:.0f} = "
                  f"{t['energy_per_frame_uJ'] / ref['energy_per_frame_uJ']:.2f}x per frame")
    print(f"\nwhole run {results['wall_s']:.1f} s; wrote {args.out} and {detail}")


if __name__ == "__main__":
    main()

"""Cycle cross-check of our dense ANN latency model against SCALE-Sim (a systolic-array simulator).

    python benchmarks/scalesim/run.py                       # both networks (~1.5 h on 2 cores)
    python benchmarks/scalesim/run.py --networks compact    # the bundled model only (~3 min)
    python benchmarks/scalesim/run.py --readme-only         # README.md from results.json
    python benchmarks/scalesim/run.py --baseline OLD.json   # README compares ours with OLD's

Runs in the project's environment (``pip install -e .``). SCALE-Sim (PyPI ``scalesim``) is never
imported here: it runs in its own virtualenv (``--scalesim-python``, default
``$SCALESIM_PYTHON`` or ``benchmarks/scalesim/.venv/bin/python``) through ``subprocess`` and
``scalesim_driver.py``; this script writes its inputs and parses the reports it writes.

For the bundled model and VGG16 on CIFAR-10 (the networks of ``benchmarks/zigzag``), every
conv/linear layer, batch 1, 8-bit weights and activations:

1. **SCALE-Sim**, its three dataflows (``os``, ``ws``, ``is``) on a 32×32 systolic array (1,024
   MACs per cycle, as our 128 PEs × 8 accumulators), with SRAMs and backing-store bandwidths
   taken from our chip (``chip_mapping``; inputs in ``generated/``). SCALE-Sim has no padding:
   a padded layer is given its zero-padded input map. Per layer: SCALE-Sim's total cycles,
   stall cycles, utilisations, SRAM and DRAM accesses, from its COMPUTE_REPORT.csv and
   DETAILED_ACCESS_REPORT.csv.
2. **Ours**: ``hwsim.compare.evaluate`` on the dense ANN side for ``os``, ``ws``, ``rs``, each
   layer's tiling chosen by the mapper with the ``latency`` objective (``hwsim/mapper.py``), and
   for reference with the default ``energy`` objective. The layer's activity is dense (no zero
   skipping: SCALE-Sim computes every MAC), so no images are needed; for the bundled model the
   same cycles are checked against ``hwsim.simulate`` on 8 real images (``--no-verify`` skips).
   Per layer: cycles and their parts (compute = the busiest PE's MACs / min(accumulators, the
   partial sums its tile keeps in flight), memory =
   GLB bits / GLB bandwidth + DRAM bits / DRAM bandwidth, NoC latency).

Writes ``results.json`` and ``README.md`` (tables and the explanation of every systematic
difference, all numbers from ``results.json``). SCALE-Sim's raw reports are kept in ``work/``
(not committed); a run whose inputs have not changed is reused (``--force`` reruns).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE.parent / "zigzag"))
sys.path.insert(0, str(HERE))

from export_workload import layer_shapes  # noqa: E402  (benchmarks/zigzag: the same layer rows)

from arch_configs import load_arch  # noqa: E402
from hwsim import compare as CMP  # noqa: E402
from hwsim import energy as E  # noqa: E402
from hwsim.counts import LayerCounts  # noqa: E402
from hwsim.simulate import consumers  # noqa: E402
from mapping import MappingWarning, layer_graph, map_network  # noqa: E402
from model import checkpoint as C  # noqa: E402
from model.architectures import build_architecture  # noqa: E402
from model.bundled import bundled_model_path  # noqa: E402

SS_FLOWS = ("os", "ws", "is")  # SCALE-Sim's dataflows
OUR_FLOWS = ("os", "ws", "rs")  # our dense ANN dataflows (no zero skipping)
OBJECTIVES = ("latency", "energy")
GENERATED = HERE / "generated"
WORK = HERE / "work"
DEFAULT_PYTHON = HERE / ".venv" / "bin" / "python"
HEAVY_ELEMENTS = 4_000_000  # operand-matrix elements above which a SCALE-Sim run takes GBs


# --------------------------------------------------------------------------- the networks
def networks(only: list[str]) -> dict:
    """name -> (label, nodes, layer graph source): the bundled model and VGG16 CIFAR-10."""
    out = {}
    if "compact" in only:
        ck = C.load(bundled_model_path())
        out["compact"] = (f"bundled model ({ck.arch}, {ck.dataset})", ck.nodes(), ck)
    if "vgg16" in only:
        nodes = build_architecture("vgg16", 10, (3, 32, 32))
        out["vgg16"] = ("VGG16, CIFAR-10 (32x32)", nodes, nodes)
    return out


# --------------------------------------------------------------------------- the chip in SCALE-Sim
def chip_mapping(arch) -> dict:
    """SCALE-Sim's knobs from our chip (1 SCALE-Sim word = 1 byte = one 8-bit operand)."""
    pe, glb = arch.pe_array, arch.global_buffer
    macs = pe.count * pe.accumulators
    side = math.isqrt(macs)
    assert side * side == macs, f"{macs} MACs/cycle is not a square array"
    dram_bytes_per_cycle = arch.dram.bandwidth_bytes_per_s.value / arch.frequency_hz
    glb_bytes_per_cycle = glb.bandwidth_bits_per_cycle // 8
    return {
        "array_rows": side, "array_cols": side, "macs_per_cycle": macs,
        "ours": {"pes": pe.count, "accumulators": pe.accumulators,
                 "register_bytes": pe.register_bytes, "pe_sram_bytes": pe.sram_bytes,
                 "glb_bytes": glb.size_bytes, "glb_banks": glb.banks,
                 "glb_bits_per_cycle": glb.bandwidth_bits_per_cycle,
                 "dram_bytes_per_cycle": dram_bytes_per_cycle,
                 "clock_hz": arch.frequency_hz,
                 "pe_sram_width_bits": getattr(pe, "sram_width_bits", None),
                 "pe_sram_ports": getattr(pe, "sram_ports", None),
                 "weight_bits": arch.precision.weight_bits,
                 "activation_bits": arch.precision.activation_bits},
        # our GLB (input and output maps of a layer) split evenly; our PE SRAMs = the weights'
        "ifmap_kb": glb.size_bytes // 2 // 1024,
        "ofmap_kb": glb.size_bytes // 2 // 1024,
        "filter_kb": pe.count * pe.sram_bytes // 1024,
        # backing-store ports, words (bytes) per cycle: the GLB port for the maps; for the
        # weights the GLB port, or DRAM where our ANN placement keeps a layer's weights there
        "ifmap_bw": glb_bytes_per_cycle,
        "ofmap_bw": glb_bytes_per_cycle,
        "filter_bw": {"on_chip": glb_bytes_per_cycle,
                      "dram": int(math.floor(dram_bytes_per_cycle))},
    }


def config_text(run_name: str, df: str, m: dict, filter_bw: int) -> str:
    """A SCALE-Sim 3.0.0 config. In USER bandwidth mode scalesim 3.0.0 takes the ifmap and
    filter backing bandwidths from the [layout] section's *SRAMBankBandwidth and the ofmap's
    from Bandwidth (single_layer_sim.py); one bank each (the bandwidth must divide by it)."""
    return f"""[general]
run_name = {run_name}

[architecture_presets]
ArrayHeight: {m['array_rows']}
ArrayWidth: {m['array_cols']}
IfmapSramSzkB: {m['ifmap_kb']}
FilterSramSzkB: {m['filter_kb']}
OfmapSramSzkB: {m['ofmap_kb']}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: {m['ofmap_bw']}
Dataflow: {df}
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {m['ifmap_bw']}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {filter_bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: USER
UseRamulatorTrace: False
"""


TOPO_HEADER = ("Layer name,IFMAP Height,IFMAP Width,Filter Height,Filter Width,Channels,"
               "Num Filter,Strides,\n")
LAYOUT_TEXT = "Layer name,\n"  # no custom layouts; scalesim 3.0.0 still wants a file


def topology_row(r: dict) -> str:
    """SCALE-Sim conv row: no padding parameter, so the zero-padded input map is given."""
    p = r["padding"]
    return (f"{r['name']},{r['IY'] + 2 * p},{r['IX'] + 2 * p},{r['FY']},{r['FX']},{r['C']},"
            f"{r['K']},{r['stride']},\n")


def scalesim_shape(r: dict) -> dict:
    """What SCALE-Sim computes for the row (topology_utils.topo_calc_hyperparams) and the
    SCALE-Sim paper's spatio-temporal dimensions (Sr, Sc, T) per dataflow."""
    h, w = r["IY"] + 2 * r["padding"], r["IX"] + 2 * r["padding"]
    s = r["stride"]
    oy = math.ceil((h - r["FY"] + s) / s)
    ox = math.ceil((w - r["FX"] + s) / s)
    window = r["FY"] * r["FX"] * r["C"]
    px = oy * ox
    return {"OY": oy, "OX": ox, "macs": px * window * r["K"],
            "dims": {"os": (px, r["K"], window), "ws": (window, r["K"], px),
                     "is": (window, px, r["K"])}}


def analytical_cycles(r: dict, df: str, rows: int, cols: int) -> dict:
    """SCALE-Sim's stall-free cycles from its loop structure (compute/systolic_compute_*.py):
    folds = ⌈Sr/rows⌉·⌈Sc/cols⌉; each fold streams T operands through a skewed array,
    os: T + rows + cols − 2 cycles (fill and drain of the skew); ws/is: also ``rows`` cycles to
    load the stationary operand, 2·rows + cols + T − 2; the last fold ends one cycle early."""
    sr, sc, t = scalesim_shape(r)["dims"][df]
    folds = math.ceil(sr / rows) * math.ceil(sc / cols)
    per_fold = t + rows + cols - 2 + (rows if df in ("ws", "is") else 0)
    return {"Sr": sr, "Sc": sc, "T": t, "folds": folds, "per_fold": per_fold,
            "cycles": folds * per_fold - 1, "streaming": folds * t,
            "fill_drain": folds * (per_fold - t),
            "mapping_efficiency": sr * sc / (folds * rows * cols)}


def read_report(path: Path) -> list[dict]:
    """A SCALE-Sim report CSV (', ' separated, trailing comma) as dicts of floats."""
    lines = [ln.rstrip().rstrip(",") for ln in path.read_text().splitlines() if ln.strip()]
    head = [h.strip() for h in lines[0].split(",")]
    return [{k: float(v) for k, v in zip(head, ln.split(","))} for ln in lines[1:]]


class Runner:
    """Runs SCALE-Sim (one process per layer and dataflow) in its venv, reusing unchanged runs
    (failed ones too, unless ``retry_failed``). Runs whose operand matrices are large (VGG16's
    fc1/fc2: GBs, minutes) go one at a time in their own lane, the others in ``jobs - 1`` lanes
    beside it (all in one lane if jobs = 1). Each run is niced and limited to ``memory_gb`` of
    address space and ``timeout_min`` minutes; a run that fails or exceeds them is recorded as
    failed (``run.json``), and the layer keeps SCALE-Sim's stall-free cycles from its loop
    structure (:func:`analytical_cycles`), flagged."""

    def __init__(self, python: str, force: bool, jobs: int, memory_gb: float,
                 timeout_min: float, retry_failed: bool):
        self.python, self.force, self.jobs = python, force, max(1, jobs)
        self.memory, self.timeout = int(memory_gb * 2**30), timeout_min * 60
        self.retry_failed = retry_failed

    def _limits(self):
        os.nice(10)  # the machine is shared; SCALE-Sim runs for minutes
        resource.setrlimit(resource.RLIMIT_AS, (self.memory, self.memory))

    def run(self, key: str, cfg: str, topo: str) -> dict:
        d = WORK / key
        inputs = {"scale.cfg": cfg, "topology.csv": topo, "layout.csv": LAYOUT_TEXT}
        report = d / "out" / key / "COMPUTE_REPORT.csv"
        meta = d / "run.json"
        same = all((d / f).exists() and (d / f).read_text() == t for f, t in inputs.items())
        old = json.loads(meta.read_text()) if same and meta.exists() else None
        reuse = old is not None and not self.force and (
            report.exists() or ("failed" in old and not self.retry_failed))
        if not reuse:
            shutil.rmtree(d, ignore_errors=True)
            d.mkdir(parents=True)
            for f, t in inputs.items():
                (d / f).write_text(t)
            cmd = [self.python, str(HERE / "scalesim_driver.py"), str(d / "scale.cfg"),
                   str(d / "topology.csv"), str(d / "layout.csv"), str(d / "out")]
            start = time.perf_counter()
            now = datetime.datetime.now
            try:
                p = subprocess.run(cmd, capture_output=True, text=True,
                                   preexec_fn=self._limits, timeout=self.timeout)
                fail = (None if p.returncode == 0 else
                        f"exit {p.returncode}: {(p.stderr.strip().splitlines() or [''])[-1]}")
            except subprocess.TimeoutExpired:
                p, fail = None, f"stopped after the {self.timeout / 60:.0f}-minute limit"
            wall = time.perf_counter() - start
            if fail:
                meta.write_text(json.dumps({"failed": fail, "wall_s": wall,
                                            "finished": now().isoformat(timespec="seconds")}))
                print(f"  SCALE-Sim {key}: FAILED ({fail}) after {wall:.0f} s", flush=True)
            else:
                done = json.loads(p.stdout.strip().splitlines()[-1])
                meta.write_text(json.dumps({"seconds": done["seconds"], "wall_s": wall,
                                            "peak_rss_mb": done["peak_rss_mb"],
                                            "finished": now().isoformat(timespec="seconds")}))
                print(f"  SCALE-Sim {key}: {done['seconds']:.1f} s", flush=True)
        info = json.loads(meta.read_text())
        if "failed" in info:
            return info
        out = d / "out" / key
        return {"compute": read_report(out / "COMPUTE_REPORT.csv")[0],
                "access": read_report(out / "DETAILED_ACCESS_REPORT.csv")[0],
                "bandwidth": read_report(out / "BANDWIDTH_REPORT.csv")[0], **info}


def scalesim_layer(res: dict, r: dict, df: str, m: dict) -> dict:
    ana = analytical_cycles(r, df, m["array_rows"], m["array_cols"])
    if "failed" in res:  # SCALE-Sim did not finish: its stall-free cycles, flagged
        return {"completed": False, "failed": res["failed"], "wall_s": res["wall_s"],
                "cycles": ana["cycles"], "compute_cycles": ana["cycles"], "stall_cycles": None,
                "cycles_incl_prefetch": None,
                "overall_util": scalesim_shape(r)["macs"] / (m["macs_per_cycle"] * ana["cycles"]),
                "mapping_efficiency": ana["mapping_efficiency"], "compute_util": None,
                "filter_fetches_per_weight": None, "analytical": ana,
                "seconds": res["wall_s"], "peak_rss_mb": None}
    c, a = res["compute"], res["access"]
    total = c["Total Cycles"]
    stalls = c["Stall Cycles"]
    return {
        "completed": True,
        "cycles": total,  # SCALE-Sim's "Total Cycles": compute + stalls
        "cycles_incl_prefetch": c["Total Cycles (incl. prefetch)"],
        "stall_cycles": stalls,
        "compute_cycles": total - stalls,
        "overall_util": c["Overall Util %"] / 100,
        "mapping_efficiency": c["Mapping Efficiency %"] / 100,
        "compute_util": c["Compute Util %"] / 100,
        "sram_reads": {"ifmap": a["SRAM IFMAP Reads"], "filter": a["SRAM Filter Reads"]},
        "sram_writes": {"ofmap": a["SRAM OFMAP Writes"]},
        "dram_reads": {"ifmap": a["DRAM IFMAP Reads"], "filter": a["DRAM Filter Reads"]},
        "dram_writes": {"ofmap": a["DRAM OFMAP Writes"]},
        # how often the layer's weights came through the filter port (1 = each weight once)
        "filter_fetches_per_weight": a["DRAM Filter Reads"] / (r["K"] * r["C"] * r["FY"]
                                                               * r["FX"]),
        "analytical": ana,
        "seconds": res["seconds"], "peak_rss_mb": res.get("peak_rss_mb"),
    }


def run_scalesim(nets: dict, shapes: dict, weight_home: dict, m: dict, runner: Runner) -> dict:
    """Every layer of every network on each SCALE-Sim dataflow; inputs also written per network
    to ``generated/`` (whole-network topologies, one config per dataflow and filter port)."""
    GENERATED.mkdir(exist_ok=True)
    (GENERATED / "layout.csv").write_text(LAYOUT_TEXT)
    for name, rows in shapes.items():
        (GENERATED / f"topology_{name}.csv").write_text(
            TOPO_HEADER + "".join(topology_row(r) for r in rows))
    for df in SS_FLOWS:
        for home, bw in m["filter_bw"].items():
            (GENERATED / f"scale_{df}_weights_{home}.cfg").write_text(
                config_text(f"{df}_weights_{home}", df, m, bw))
    jobs = []
    for name, rows in shapes.items():
        for r in rows:
            home = weight_home[name][r["name"]]
            ss = scalesim_shape(r)
            assert (ss["OY"], ss["OX"]) == (r["OY"], r["OX"]), (name, r["name"], ss)
            sr, sc, t = ss["dims"]["os"]
            heavy = sr * t + t * sc + sr * sc > HEAVY_ELEMENTS
            row = topology_row(r)
            shape_key = row.split(",", 1)[1].strip().rstrip(",").replace(",", "x")
            for df in SS_FLOWS:
                key = f"{df}_{home}_{shape_key}"
                jobs.append((name, r["name"], df, key, config_text(key, df, m,
                                                                   m["filter_bw"][home]),
                             TOPO_HEADER + row, heavy))
    unique = {}  # equal layers (same shape, port, dataflow) run once for both networks
    for _, _, _, key, cfg, topo, heavy in jobs:
        unique.setdefault(key, (cfg, topo, heavy))
    done: dict = {}
    start = time.perf_counter()
    lanes = {True: [k for k, v in unique.items() if v[2]],
             False: [k for k, v in unique.items() if not v[2]]}
    if runner.jobs == 1:
        lanes = {True: [], False: list(unique)}

    def lane(keys):
        for key in keys:
            done[key] = runner.run(key, *unique[key][:2])

    with ThreadPoolExecutor(max_workers=runner.jobs) as pool:
        light = lanes[False]
        width = max(1, runner.jobs - (1 if lanes[True] else 0))
        futs = [pool.submit(lane, lanes[True])] + [pool.submit(lane, light[i::width])
                                                   for i in range(width)]
        for f in futs:
            f.result()
    results: dict = {name: {} for name in shapes}
    for name, layer, df, key, *_ in jobs:
        results[name].setdefault(layer, {})[df] = done[key]
    ends = [datetime.datetime.fromisoformat(v["finished"]) for v in done.values()]
    starts = [e - datetime.timedelta(seconds=v["wall_s"]) for e, v in zip(ends, done.values())]
    runs = {"count": len(done), "wall_s_sum": sum(v["wall_s"] for v in done.values()),
            "span_s": (max(ends) - min(starts)).total_seconds(),
            "failed": sorted(k for k, v in done.items() if "failed" in v)}
    wall = time.perf_counter() - start
    out = {}
    for name, rows in shapes.items():
        out[name] = {r["name"]: {df: scalesim_layer(results[name][r["name"]][df], r, df, m)
                                 for df in SS_FLOWS} for r in rows}
    return out, wall, runs


def scalesim_versions(python: str) -> dict:
    code = ("import importlib.metadata as m, json, platform; print(json.dumps({'python': "
            "platform.python_version(), **{d: m.version(d) for d in ('scalesim', 'numpy', "
            "'pandas', 'tqdm')}}))")
    p = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


# --------------------------------------------------------------------------- our model
def fed_by_image(nodes, node) -> bool:
    """Whether a synaptic node reads the input image (through pooling/flatten only): the
    analog layer, whose input is loaded from DRAM once per inference."""
    by = {n.name: n for n in nodes}
    src = by[node.source]
    while not src.synaptic and src.kind != "input":
        src = by[src.source]
    return src.kind == "input"


def dense_counts(nodes, mapping) -> list[LayerCounts]:
    """The per-layer counts a dense ANN run needs (no images: every activation non-zero; a dense
    dataflow's accesses and cycles do not depend on the values)."""
    out = []
    for n in nodes:
        if not n.synaptic:
            continue
        lm = mapping.layer(n.name)
        z = np.zeros(1)
        out.append(LayerCounts(
            n.name, lm.kind, lm.neuron, lm.neurons, lm.params, lm.ann_macs,
            fed_by_image(nodes, n), 1, z, z.copy(), z.copy(), np.zeros((1, lm.pes_used)),
            np.zeros(lm.pes_used, np.int64), z.copy(), images=1,
            ann_output_nonzero=float(lm.outputs), ann_images=1))
    return out


def our_context(nodes, graph_source, arch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        mapping = map_network(layer_graph(graph_source), arch)
    ctx = CMP.context(arch, mapping, nodes, 1, consumers(nodes))
    return ctx, dense_counts(nodes, mapping)


def ours(nodes, graph_source, arch, objective: str) -> dict:
    """Our dense ANN dataflows per layer: cycles, the compute term (the busiest PE's MACs /
    its lanes, min(accumulators, the tile's partial sums), ``energy.ann_cycles`` with no
    traffic), the NoC latency, the bits each memory
    level moves and the shared path's time (GLB bits / GLB bandwidth + DRAM bits / DRAM
    bandwidth); tiling and placement. Whatever the layer's cycles exceed compute + NoC by is
    the memory side of the model (``energy.ann_cycles``)."""
    ctx, counts = our_context(nodes, graph_source, arch)
    noc = arch.noc.hop_latency_cycles.value * E.mesh_hops(arch.pes)
    glb_bw = arch.global_buffer.bandwidth_bits_per_cycle
    dram_bw = arch.dram.bandwidth_bytes_per_s.value * 8 / arch.frequency_hz
    out = {}
    for df in OUR_FLOWS:
        start = time.perf_counter()
        r = CMP.evaluate(ctx, counts, "ann", df, objective)
        placement = ctx.placements[("ann", r.weights)]
        layers = {}
        for lc, cost in zip(counts, r.layers):
            lm = placement.layer(lc.name)
            macs = sum(v for (op, _), v in cost.accesses.ops.items() if op == "mult")
            compute = E.ann_cycles(arch, lc, lm, E.Traffic(), macs,
                                   in_flight=cost.accesses.in_flight) - noc
            bits = {lv: float(b) for lv, b in cost.traffic.bits.items()}
            limit = getattr(cost, "bound", "") or (
                "compute" if cost.cycles - noc <= compute * (1 + 1e-12) else "memory")
            layers[lc.name] = {
                "cycles": cost.cycles, "compute_cycles": compute, "noc_cycles": noc,
                "shared_path_cycles": bits["glb"] / glb_bw + bits["dram"] / dram_bw,
                "bits": bits, "bound": limit,
                "macs_in_map": macs, "tiling": cost.mapping,
                # weights sent to the PEs from the GLB or DRAM (a multicast counts once; the
                # one-off staging of DRAM weights into the GLB is not a fill) ÷ weights
                "weight_fetches_per_weight": (
                    cost.accesses.count("W", "glb", "read") + cost.accesses.count("W", "dram")
                    - cost.accesses.count("W", "glb", "write")) / lm.params,
                "weight_level": lm.weight_level, "pes_used": lm.pes_used,
                "neurons_per_pe_max": max(lm.neurons_per_pe),
                "channel_groups": lm.channel_groups, "spatial_tiles": lm.spatial_tiles,
            }
        out[df] = {"cycles": r.cycles, "weights": r.weights, "layers": layers,
                   "seconds": time.perf_counter() - start}
    return out


def weight_homes(nodes, graph_source, arch) -> dict[str, str]:
    """Where our ANN placement (the policy's) keeps each layer's weights: 'dram' or 'on_chip'.
    (The mapper may also run a dataflow on an all-weights-in-GLB placement; the filter port of
    SCALE-Sim follows the policy's.)"""
    ctx, counts = our_context(nodes, graph_source, arch)
    p = ctx.placements[("ann", "policy")]
    return {lc.name: "dram" if p.layer(lc.name).weight_level == "dram" else "on_chip"
            for lc in counts}


def verify_against_simulate(arch, ours_compact: dict, objective: str) -> dict:
    """The bundled model's cycles from ``hwsim.simulate`` on 8 real images (what
    ``python -m hwsim.run --objective latency`` reports) against the dense counts used here."""
    from hwsim.simulate import SimOptions, simulate
    from model.bundled import bundled_sample

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = simulate(C.load(bundled_model_path()), arch, bundled_sample(), 8,
                       SimOptions(progress=False, check=False, reference=False,
                                  objective=objective))
    worst = 0.0
    for df in OUR_FLOWS:
        for lay in rep["dataflows"]["ann"][df]["layers"]:
            mine = ours_compact[df]["layers"][lay["name"]]["cycles"]
            worst = max(worst, abs(mine - lay["cycles"]) / lay["cycles"])
    return {"images": 8, "objective": objective, "max_relative_difference": worst}


def baseline(path: Path) -> dict:
    """Our per-layer results (latency objective) of an earlier ``results.json``: the model state
    the README compares ours against ("Ours before and after")."""
    old = json.loads(path.read_text())
    keep = ("cycles", "compute_cycles", "bound", "tiling", "weight_fetches_per_weight")
    return {"date": old["date"], "commit": old["project"]["commit"],
            "networks": {key: {"layers": {lay["name"]: {df: {k: o[k] for k in keep}
                                                        for df, o in lay["ours"]["latency"]
                                                        .items()}
                                          for lay in net["layers"]}}
                         for key, net in old["networks"].items()}}


def git_state() -> dict:
    def git(*a):
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = [ln[3:] for ln in git("status", "--porcelain", "--", "hwsim", "arch_configs",
                                  "mapping", "model").splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip(), "uncommitted_model_files": dirty}


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="compact,vgg16")
    ap.add_argument("--scalesim-python",
                    default=os.environ.get("SCALESIM_PYTHON", str(DEFAULT_PYTHON)))
    ap.add_argument("--jobs", type=int, default=2, help="SCALE-Sim processes at once")
    ap.add_argument("--force", action="store_true", help="rerun SCALE-Sim runs already done")
    ap.add_argument("--retry-failed", action="store_true",
                    help="rerun SCALE-Sim runs that failed or hit a limit before")
    ap.add_argument("--run-memory-gb", type=float, default=12.0,
                    help="address-space limit of one SCALE-Sim process")
    ap.add_argument("--run-timeout-min", type=float, default=45.0,
                    help="time limit of one SCALE-Sim process")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the check against hwsim.simulate on 8 bundled images")
    ap.add_argument("--readme-only", action="store_true")
    ap.add_argument("--baseline", type=Path,
                    help="an earlier results.json whose ours to compare against (default: the "
                    "baseline the current results.json keeps, if any)")
    args = ap.parse_args(argv)

    if args.readme_only:
        import readme
        (HERE / "README.md").write_text(readme.readme(json.loads(
            (HERE / "results.json").read_text())))
        print(f"wrote {HERE / 'README.md'}")
        return 0

    started = time.perf_counter()
    project = git_state()  # the model code this run imports
    arch = load_arch("45nm")
    m = chip_mapping(arch)
    nets = networks(args.networks.split(","))
    shapes = {name: layer_shapes(nodes) for name, (_, nodes, _) in nets.items()}
    homes = {name: weight_homes(nodes, src, arch) for name, (_, nodes, src) in nets.items()}

    our = {obj: {} for obj in OBJECTIVES}
    our_s = {}
    for name, (_, nodes, src) in nets.items():
        t0 = time.perf_counter()
        for obj in OBJECTIVES:
            our[obj][name] = ours(nodes, src, arch, obj)
        our_s[name] = time.perf_counter() - t0
        print(f"ours {name}: {our_s[name]:.1f} s", flush=True)
    verify = None
    if "compact" in nets and not args.no_verify:
        verify = verify_against_simulate(arch, our["latency"]["compact"], "latency")
        print(f"hwsim.simulate check: max relative difference "
              f"{verify['max_relative_difference']:.2e}", flush=True)
        assert verify["max_relative_difference"] < 1e-9, verify

    versions = scalesim_versions(args.scalesim_python)
    runner = Runner(args.scalesim_python, args.force, args.jobs, args.run_memory_gb,
                    args.run_timeout_min, args.retry_failed)
    ss, ss_wall, ss_runs = run_scalesim(nets, shapes, homes, m, runner)

    doc = {"generated_by": "benchmarks/scalesim/run.py",
           "date": datetime.date.today().isoformat(),
           "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
           "project": project, "scalesim_venv": versions, "chip": m,
           "scalesim_wall_s": ss_wall, "scalesim_runs": ss_runs,
           "total_wall_s": time.perf_counter() - started,
           "our_seconds": our_s, "verify": verify, "networks": {}}
    previous = HERE / "results.json"
    if args.baseline:
        doc["baseline"] = baseline(args.baseline)
    elif previous.exists() and "baseline" in (kept := json.loads(previous.read_text())):
        doc["baseline"] = kept["baseline"]
    for name, (label, _, _) in nets.items():
        layers = []
        for r in shapes[name]:
            n = r["name"]
            layers.append({
                "name": n, "kind": r["kind"],
                "shape": {k: r[k] for k in ("K", "C", "OY", "OX", "FY", "FX", "IY", "IX",
                                            "stride", "padding")},
                "macs": r["macs"], "ideal_cycles": r["macs"] / m["macs_per_cycle"],
                "scalesim_macs": scalesim_shape(r)["macs"],
                "weight_home": homes[name][n],
                "scalesim": ss[name][n],
                "ours": {obj: {df: our[obj][name][df]["layers"][n] for df in OUR_FLOWS}
                         for obj in OBJECTIVES},
            })
        doc["networks"][name] = {
            "label": label, "layers": layers,
            "total_macs": sum(r["macs"] for r in shapes[name]),
            "ours_weights": {obj: {df: our[obj][name][df]["weights"] for df in OUR_FLOWS}
                             for obj in OBJECTIVES},
            "ours_total_cycles": {obj: {df: our[obj][name][df]["cycles"] for df in OUR_FLOWS}
                                  for obj in OBJECTIVES},
            "scalesim_seconds": {df: sum(ss[name][r["name"]][df]["seconds"]
                                         for r in shapes[name]) for df in SS_FLOWS},
        }
    (HERE / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {HERE / 'results.json'}")
    import readme
    (HERE / "README.md").write_text(readme.readme(doc))
    print(f"wrote {HERE / 'README.md'} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

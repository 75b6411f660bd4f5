"""ZigZag reference: our 45 nm chip described to ZigZag, every conv/linear layer of two networks
searched for its minimum-energy mapping, plus two fixed spatial unrollings (WS, OS).

Runs ONLY in its own virtualenv (ZigZag is not a dependency of the project)::

    python3 -m venv /work/zz-venv && /work/zz-venv/bin/pip install zigzag-dse==3.9.1
    /work/zz-venv/bin/python benchmarks/zigzag/run_zigzag.py            # both networks

Reads ``chip_45nm.json`` (written by ``export_workload.py`` in the project's environment) and
writes ``results_<network>.json`` and the generated ZigZag inputs under ``generated/``.

The chip, as ZigZag sees it (README.md explains each number):

* operational array D1 x D2 x D3 = 8 x 16 x 8 = 1024 MAC units: D1 = the 8 accumulators of one
  PE, D2 x D3 = the 128 PEs; one MAC (8-bit mult + 16-bit add) costs ``chip.mac_pj``;
* per PE (served_dimensions [D1], 128 instances): a 64 B register file and an 8 KiB SRAM, each
  shared by W, I and O (ZigZag splits the capacity by mapping);
* one 2 MiB GLB shared by the whole array for W, I and O;
* DRAM only for the weights of layers our placement spills to DRAM (VGG16 conv8..fc2), so each
  operand starts at the level where our chip keeps it (activations and on-chip weights in the GLB).

Per-access energies are ours: ``r_cost = w_cost = pJ/bit x port width`` with ``bandwidth_min =
8`` bits, so ZigZag charges ``pJ/bit x bits moved`` in 8-bit granules, as ``a.access_pj`` does.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import multiprocessing as mp_ctx
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import yaml
from zigzag.mapping.data_movement import DataDirection
from zigzag.mapping.temporal_mapping import TemporalMappingType
from zigzag.stages.evaluation.cost_model_evaluation import CostModelEvaluation, CostModelStage
from zigzag.stages.main import MainStage
from zigzag.stages.mapping.spatial_mapping_generation import SpatialMappingGeneratorStage
from zigzag.stages.mapping.temporal_mapping_generator_stage import TemporalMappingGeneratorStage
from zigzag.stages.parser.accelerator_parser import AcceleratorParserStage
from zigzag.stages.parser.workload_parser import WorkloadParserStage
from zigzag.stages.results.reduce_stages import MinimalEnergyStage
from zigzag.stages.workload_iterator import WorkloadStage

HERE = Path(__file__).resolve().parent
OA_DIMS = {"D1": 8, "D2": 16, "D3": 8}  # D1 = accumulators per PE, D2 x D3 = PEs
LINKS = {"O": "O", "W": "I2", "I": "I1"}
GRANULE = 8  # bits: bandwidth_min of every port, the energy granularity

# Fixed spatial unrollings: D1 = K 8 (the PE's 8 accumulators work on 8 output channels, as in
# our chip); the PE array unrolls K x C (weight stationary: each MAC keeps its own weight, inputs
# broadcast over K, partial sums reduced over C) or K x OX (output stationary: each MAC keeps its
# own output, weights broadcast over OX).
FIXED = {
    "ws": [("D1", "K"), ("D2", "C"), ("D3", "K")],
    "os": [("D1", "K"), ("D2", "OX"), ("D3", "K")],
}


# ---------------------------------------------------------------------------------------------
# hardware description


def _port(name: str, kind: str, bw: int, alloc: list[str]) -> dict:
    return {"name": name, "type": kind, "bandwidth_min": GRANULE, "bandwidth_max": int(bw),
            "allocation": alloc}


def _rw_alloc(ops: list[str]) -> list[str]:
    out = []
    for op in ops:
        out += [f"{op}, fh", f"{op}, tl"] if op != "O" else ["O, fh", "O, tl", "O, fl", "O, th"]
    return out


def accelerator(chip: dict, weights_in_dram: bool) -> dict:
    """Our chip as a ZigZag accelerator dict. ``weights_in_dram``: the weight hierarchy ends in
    DRAM (layers whose weights our placement spills there); otherwise it ends in the GLB."""
    pb = chip["access_pj_per_bit"]
    pe, glb, dram = chip["pe_array"], chip["global_buffer"], chip["dram"]
    prec = chip["precision"]
    acc = pe["macs_per_pe"]
    assert acc == OA_DIMS["D1"] and pe["count"] == OA_DIMS["D2"] * OA_DIMS["D3"], \
        "the array shape in OA_DIMS must match the chip"
    # register file: one weight, one input and one partial-sum read + write per accumulator
    # per cycle (our model never stalls on it)
    rf_bw = acc * (prec["weight_bits"] + prec["activation_bits"] + prec["psum_bits"])
    rf_bw = 1 << math.ceil(math.log2(rf_bw))  # 256
    sram_bw = 64  # the Horowitz 64-bit word the energy table is quoted for
    glb_bw = glb["bandwidth_bits_per_cycle"]
    dram_bw = int(dram["bandwidth_bits_per_cycle"])  # 204.8 bits/cycle -> 204
    ops3 = ["I1", "I2", "O"]
    mems: dict[str, Any] = {
        "rf_pe": {
            "size": pe["register_bytes"] * 8, "r_cost": pb["register"] * rf_bw,
            "w_cost": pb["register"] * rf_bw, "area": 0.0, "latency": 1, "operands": list(ops3),
            "ports": [_port("r_port_1", "read", rf_bw, ["I1, tl", "I2, tl", "O, tl", "O, th"]),
                      _port("w_port_1", "write", rf_bw, ["I1, fh", "I2, fh", "O, fh", "O, fl"])],
            "served_dimensions": ["D1"],
        },
        "sram_pe": {
            "size": pe["sram_bytes"] * 8, "r_cost": pb["pe_sram"] * sram_bw,
            "w_cost": pb["pe_sram"] * sram_bw, "area": 0.0, "latency": 1, "operands": list(ops3),
            "ports": [_port("r_port_1", "read", sram_bw,
                            ["I1, tl", "I2, tl", "O, tl", "O, th"]),
                      _port("w_port_1", "write", sram_bw,
                            ["I1, fh", "I2, fh", "O, fh", "O, fl"])],
            "served_dimensions": ["D1"],
        },
        "glb": {
            "size": glb["size_bytes"] * 8, "r_cost": pb["glb"] * glb_bw,
            "w_cost": pb["glb"] * glb_bw, "area": 0.0, "latency": 1, "operands": list(ops3),
            "ports": [_port("rw_port_1", "read_write", glb_bw, _rw_alloc(ops3))],
            "served_dimensions": list(OA_DIMS),
        },
    }
    if weights_in_dram:
        mems["dram"] = {
            "size": 10 ** 12, "r_cost": pb["dram"] * dram_bw, "w_cost": pb["dram"] * dram_bw,
            "area": 0.0, "latency": 1, "operands": ["I2"],
            "ports": [_port("rw_port_1", "read_write", dram_bw, _rw_alloc(["I2"]))],
            "served_dimensions": list(OA_DIMS),
        }
    return {
        "name": f"dietsim_{chip['name']}" + ("_wdram" if weights_in_dram else ""),
        "memories": mems,
        "operational_array": {"unit_energy": float(chip["mac_pj"]), "unit_area": 1.0,
                              "dimensions": list(OA_DIMS), "sizes": list(OA_DIMS.values())},
    }


# ---------------------------------------------------------------------------------------------
# workload and mappings


def workload_layer(row: dict, prec: dict, layer_id: int = 0) -> dict:
    """One conv/linear layer in ZigZag's workload format (a linear layer is a 1x1 conv)."""
    s = row["stride"]
    d = {
        "id": layer_id, "name": row["name"], "operator_type": "Conv",
        "equation": "O[b][k][oy][ox]+=W[k][c][fy][fx]*I[b][c][iy][ix]",
        "dimension_relations": [f"ix={s}*ox+1*fx", f"iy={s}*oy+1*fy"],
        "loop_dims": ["B", "K", "C", "OY", "OX", "FY", "FX"],
        "loop_sizes": [1, row["K"], row["C"], row["OY"], row["OX"], row["FY"], row["FX"]],
        "operand_precision": {"W": prec["weight_bits"], "I": prec["activation_bits"],
                              "O": prec["psum_bits"], "O_final": prec["activation_bits"]},
        # both inputs come from memory (source == own id: constant operands), batch 1
        "operand_source": {"W": layer_id, "I": layer_id},
    }
    if row["kind"] == "conv":
        p = row["padding"]
        d.update(pr_loop_dims=["IX", "IY"], pr_loop_sizes=[row["IX"], row["IY"]],
                 padding=[[p, p], [p, p]])
    return d


def fixed_spatial(row: dict, kind: str) -> dict[str, list[str]]:
    """The fixed unrolling for this layer: each factor as large as the OA dimension and what is
    left of the layer dimension allow (total unrolling never exceeds the layer size)."""
    used: dict[str, int] = {}
    out = {}
    for oa, dim in FIXED[kind]:
        left = row[dim] // used.get(dim, 1)
        f = max(1, min(OA_DIMS[oa], left))
        used[dim] = used.get(dim, 1) * f
        out[oa] = [f"{dim}, {f}"]
    return out


def mapping_doc(spatial: dict | None, hint: dict | None = None) -> list[dict]:
    m: dict[str, Any] = {"name": "default", "memory_operand_links": dict(LINKS)}
    if spatial is not None:
        m["spatial_mapping"] = spatial
    if hint is not None:
        m["spatial_mapping_hint"] = hint
    return [m]


# ---------------------------------------------------------------------------------------------
# running ZigZag


class SafeCostModelStage(CostModelStage):
    """ZigZag's cost model stage, except that a temporal mapping whose evaluation fails an
    internal assertion (zigzag-dse 3.9.1's latency model, ``reduce_ordered``, trips on a few
    uneven mappings) is skipped and counted instead of ending the whole search."""

    skipped: list[str] = []
    evaluated = 0

    def run(self):
        SafeCostModelStage.evaluated += 1
        try:
            yield from super().run()
        except AssertionError as e:
            SafeCostModelStage.skipped.append(str(e)[:200])


def run_layer(workload: list[dict], acc_yaml: Path, map_yaml: Path, lpf_limit: int,
              candidates: int
              ) -> tuple[CostModelEvaluation, list[CostModelEvaluation], float, float]:
    """ZigZag's search on one layer: every generated spatial mapping (at most ``candidates``,
    ZigZag ranks them by utilization) x LOMA's temporal mappings (``lpf_limit``), reduced to
    minimal energy. Returns the best CME, the best CME of each spatial mapping, wall and CPU
    seconds."""
    stages = [WorkloadParserStage, AcceleratorParserStage, WorkloadStage, MinimalEnergyStage,
              SpatialMappingGeneratorStage, MinimalEnergyStage, TemporalMappingGeneratorStage,
              SafeCostModelStage]
    main = MainStage(
        list_of_callables=stages, accelerator=str(acc_yaml), workload=workload,
        mapping=str(map_yaml), loma_lpf_limit=lpf_limit, loma_show_progress_bar=False,
        nb_mappings_generated=candidates, enable_mix_spatial_mapping_generation=False,
        access_same_data_considered_as_no_access=True,
        temporal_mapping_type=TemporalMappingType("uneven"),
        reduce_minimal_keep_others=False)
    t0, c0 = time.perf_counter(), time.process_time()
    answers = main.run()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert len(answers) == 1, answers
    cme, (_, others) = answers[0]
    return cme, [c for c, _ in others] if others else [], wall, cpu


def _loops(levels) -> list[list[list]]:
    return [[[str(dim), float(size) if size != int(size) else int(size)] for dim, size in lvl]
            for lvl in levels]


def describe(cme: CostModelEvaluation) -> dict:
    """Energy (pJ) with its breakdown, latency (cycles) and the mapping of one CME."""
    hier = cme.accelerator.memory_hierarchy
    links = cme.layer.memory_operand_links
    per_op: dict[str, Any] = {}
    per_level: dict[str, float] = {}
    for layer_op, energies in cme.mem_energy_breakdown.items():
        mem_op = links.layer_to_mem_op(layer_op)
        names = [lvl.name for lvl in hier.get_memory_levels(mem_op)]
        further = cme.mem_energy_breakdown_further[layer_op]
        rows = {}
        for i, e in enumerate(energies):
            dirs = {str(d.value) if hasattr(d, "value") else str(d): float(further[i].get(d))
                    for d in DataDirection}
            rows[names[i]] = {"pj": float(e), "by_direction_pj": dirs}
            per_level[names[i]] = per_level.get(names[i], 0.0) + float(e)
        per_op[str(layer_op)] = rows
    access = {}
    for layer_op, accs in cme.memory_word_access.items():
        mem_op = links.layer_to_mem_op(layer_op)
        names = [lvl.name for lvl in hier.get_memory_levels(mem_op)]
        access[str(layer_op)] = {names[i]: {str(d.value) if hasattr(d, "value") else str(d):
                                            int(a.get(d)) for d in DataDirection}
                                 for i, a in enumerate(accs)}
    tm = cme.temporal_mapping.mapping_dic_stationary
    return {
        "energy_pj": float(cme.energy_total),
        "mac_pj": float(cme.mac_energy),
        "memory_pj": float(cme.mem_energy),
        "memory_pj_per_level": per_level,
        "memory_pj_per_operand_per_level": per_op,
        "word_accesses": access,
        "latency_cycles": float(cme.latency_total2),
        "latency_parts_cycles": {"computation_with_stalls": float(cme.latency_total0),
                                 "onloading": float(cme.latency_total1 - cme.latency_total0),
                                 "offloading": float(cme.latency_total2 - cme.latency_total1)},
        "ideal_cycles": float(cme.ideal_cycle),
        "spatial_utilization": float(cme.mac_spatial_utilization),
        "mac_utilization": float(cme.mac_utilization2),
        "spatial_mapping": spatial_str(cme),
        "temporal_mapping": {str(op): _loops(levels) for op, levels in tm.items()},
        "memory_levels": {str(op): [lvl.name for lvl in hier.get_memory_levels(
            links.layer_to_mem_op(op))] for op in cme.mem_energy_breakdown},
    }


def spatial_str(cme: CostModelEvaluation) -> str:
    sm = cme.layer.spatial_mapping
    parts = []
    for oa in sorted(sm.oa_dims, key=str):
        inner = ", ".join(f"{d} {f:g}" for d, f in sm[oa].items())
        parts.append(f"{oa}: {inner}")
    return "; ".join(parts)


def temporal_str(tm: dict[str, list[list[list]]], names: dict[str, list[str]]) -> str:
    """The temporal loops innermost first, with the level each operand holds them at, compactly:
    per operand 'W: rf_pe[FX3 FY3] sram_pe[...] ...'."""
    out = []
    for op, levels in tm.items():
        lv = []
        for name, loops in zip(names[op], levels):
            if loops:
                lv.append(f"{name}[{' '.join(f'{d}{s:g}' for d, s in loops)}]")
        out.append(f"{op}: " + " ".join(lv))
    return " | ".join(out)


# ---------------------------------------------------------------------------------------------
# one task = one layer x one variant (search, chip_like search, fixed ws, fixed os)

VARIANTS = ("best", "chip_like", "ws", "os")
_CTX: dict[str, Any] = {}


def task(job: tuple[str, int, str]) -> tuple[str, int, str, dict]:
    key, idx, variant = job
    c = _CTX
    row = c["doc"]["networks"][key]["layers"][idx]
    wl = [workload_layer(row, c["doc"]["chip"]["precision"])]
    acc = c["acc_paths"][row["weight_level"] == "dram"]
    if variant in ("best", "chip_like"):
        mp, cands, requested = c["map_paths"][variant], c["candidates"], None
    else:
        requested = fixed_spatial(row, variant)
        mp = Path(c["tmp"]) / f"mapping_{variant}_{key}_{row['name']}.yaml"
        mp.write_text(yaml.safe_dump(mapping_doc(requested), sort_keys=False))
        cands = 1
    SafeCostModelStage.skipped = []
    SafeCostModelStage.evaluated = 0
    try:
        cme, _, t, cpu = run_layer(wl, acc, mp, c["lpf_limit"], cands)
    except Exception as e:  # noqa: BLE001 - reported in the results, the other runs go on
        return key, idx, variant, {"error": f"{type(e).__name__}: {str(e)[:300]}"}
    d = describe(cme)
    d["search_seconds"] = t
    d["search_cpu_seconds"] = cpu
    d["evaluations"] = SafeCostModelStage.evaluated
    d["evaluations_skipped"] = len(SafeCostModelStage.skipped)
    if SafeCostModelStage.skipped:
        d["evaluations_skipped_first_error"] = SafeCostModelStage.skipped[0]
    d["accelerator"] = acc.name
    if requested is not None:
        d["requested_spatial_mapping"] = requested
    d["temporal_mapping_text"] = temporal_str(d["temporal_mapping"], d["memory_levels"])
    return key, idx, variant, d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chip", default=str(HERE / "chip_45nm.json"))
    ap.add_argument("--networks", default="compact,vgg16")
    ap.add_argument("--layers", default="", help="comma list: only these layers (for trials)")
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="best (ZigZag's search), chip_like (the search restricted to unrolling "
                         "output dimensions K, OY, OX), ws, os (fixed spatial unrollings)")
    ap.add_argument("--lpf-limit", type=int, default=6,
                    help="LOMA loop-prime-factor limit (ZigZag's default 6)")
    ap.add_argument("--spatial-candidates", type=int, default=32,
                    help="spatial mappings ZigZag generates per layer in a search, ranked by "
                         "utilization (default 32; ZigZag's API default is 3)")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="worker processes (layers run in parallel; default: all cores)")
    ap.add_argument("--out-dir", default=str(HERE))
    args = ap.parse_args(argv)

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("zigzag").setLevel(logging.ERROR)

    out = Path(args.out_dir)
    gen = out / "generated"
    gen.mkdir(parents=True, exist_ok=True)
    doc = json.loads(Path(args.chip).read_text())
    chip = doc["chip"]
    keys = [s for s in args.networks.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    assert all(v in VARIANTS for v in variants), variants
    only = {s for s in args.layers.split(",") if s}

    acc_paths = {}
    for wd in (False, True):
        a = accelerator(chip, wd)
        p = gen / f"{a['name']}.yaml"
        p.write_text(yaml.safe_dump(a, sort_keys=False))
        acc_paths[wd] = p
    map_paths = {"best": gen / "mapping_search.yaml", "chip_like": gen / "mapping_chip_like.yaml"}
    map_paths["best"].write_text(yaml.safe_dump(mapping_doc(None), sort_keys=False))
    hint = {oa: ["K", "OY", "OX"] for oa in OA_DIMS}
    map_paths["chip_like"].write_text(yaml.safe_dump(mapping_doc(None, hint), sort_keys=False))
    for key in keys:
        wl = [workload_layer(r, chip["precision"], i)
              for i, r in enumerate(doc["networks"][key]["layers"])]
        (gen / f"workload_{key}.yaml").write_text(yaml.safe_dump(wl, sort_keys=False))

    tmp = tempfile.mkdtemp(prefix="zz_maps_")
    _CTX.update(doc=doc, acc_paths=acc_paths, map_paths=map_paths, tmp=tmp,
                lpf_limit=args.lpf_limit, candidates=args.spatial_candidates)
    # Layers of the same shape on the same accelerator give the same answer (the search is
    # deterministic): VGG16 repeats most of compact's shapes and some of its own, so each
    # distinct (shape, accelerator, variant) runs once and the others reuse it (marked
    # "same_as"; their search seconds count for each network as if run there).
    def shape_key(key: str, i: int) -> tuple:
        r = doc["networks"][key]["layers"][i]
        return (r["kind"], r["K"], r["C"], r["OY"], r["OX"], r["FY"], r["FX"], r["IY"],
                r["IX"], r["stride"], r["padding"], r["weight_level"] == "dram")

    first: dict[tuple, tuple[str, int]] = {}
    for key in keys:
        for i, r in enumerate(doc["networks"][key]["layers"]):
            if not only or r["name"] in only:
                first.setdefault(shape_key(key, i), (key, i))
    jobs = [(key, i, v) for key, i in first.values() for v in variants]
    # longest first (MACs x search) so the workers finish together
    jobs.sort(key=lambda j: -(doc["networks"][j[0]]["layers"][j[1]]["macs"]
                              * (4 if j[2] in ("best", "chip_like") else 1)))
    results: dict[tuple[str, int], dict[str, dict]] = {}
    t0 = time.perf_counter()
    ctx = mp_ctx.get_context("fork")
    with ctx.Pool(args.jobs) as pool:
        for key, idx, variant, d in pool.imap_unordered(task, jobs):
            results.setdefault((key, idx), {})[variant] = d
            name = doc["networks"][key]["layers"][idx]["name"]
            if "error" in d:
                print(f"{time.perf_counter() - t0:7.0f}s {key:8s} {name:7s} {variant:9s} "
                      f"FAILED {d['error']}", flush=True)
                continue
            print(f"{time.perf_counter() - t0:7.0f}s {key:8s} {name:7s} {variant:9s} "
                  f"{d['energy_pj'] / 1e6:10.3f} uJ {d['latency_cycles']:12.0f} cyc "
                  f"[{d['spatial_mapping']}] {d['search_seconds']:6.1f}s "
                  f"(cpu {d['search_cpu_seconds']:.1f}s)", flush=True)
    for key in keys:
        for i, r in enumerate(doc["networks"][key]["layers"]):
            if (not only or r["name"] in only) and (key, i) not in results:
                src = first[shape_key(key, i)]
                same = f"{src[0]}/{doc['networks'][src[0]]['layers'][src[1]]['name']}"
                results[(key, i)] = {v: dict(d, same_as=same) for v, d in results[src].items()}
    elapsed = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)

    env = {"zigzag_dse": version("zigzag-dse"), "python": platform.python_version(),
           "numpy": version("numpy"), "networkx": version("networkx"),
           "machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} cores",
           "jobs": args.jobs}
    for key in keys:
        net = doc["networks"][key]
        rows = []
        for i, row in enumerate(net["layers"]):
            if (key, i) not in results:
                continue
            res: dict[str, Any] = {k: row[k] for k in (
                "name", "kind", "K", "C", "OY", "OX", "FY", "FX", "stride", "padding", "macs",
                "params", "weight_level", "membrane_level")}
            res.update(results[(key, i)])
            rows.append(res)
        totals = {}
        for v in variants:
            lv: dict[str, float] = {}
            for r in rows:
                for k2, e in r[v]["memory_pj_per_level"].items():
                    lv[k2] = lv.get(k2, 0.0) + e
            totals[v] = {f: float(sum(r[v][f] for r in rows)) for f in (
                "energy_pj", "mac_pj", "memory_pj", "latency_cycles", "ideal_cycles",
                "search_seconds", "search_cpu_seconds")}
            totals[v]["memory_pj_per_level"] = lv
        result = {
            "network": key, "description": net["name"], "source": net["source"], "batch": 1,
            "total_macs": sum(r["macs"] for r in rows), "layers": rows, "totals": totals,
            "search_seconds_one_core": {v: totals[v]["search_seconds"] for v in variants},
            "search_cpu_seconds": {v: totals[v]["search_cpu_seconds"] for v in variants},
            "settings": {"lpf_limit": args.lpf_limit,
                         "spatial_candidates": args.spatial_candidates,
                         "mixed_spatial_mappings": False,
                         "temporal_mapping_type": "uneven",
                         "access_same_data_considered_as_no_access": True,
                         "optimisation": "minimal energy (ties: lower latency)",
                         "oa_dims": OA_DIMS, "fixed_unrollings": FIXED,
                         "chip_like_hint": hint, "variants": variants,
                         "layers_subset": sorted(only) or None},
            "environment": env, "elapsed_seconds_all_networks": elapsed,
            "distinct_layer_runs_all_networks": len(first), "chip": chip,
        }
        (out / f"results_{key}.json").write_text(json.dumps(result, indent=1) + "\n")
        print(f"{key}: " + ", ".join(
            f"{v} {totals[v]['energy_pj'] / 1e6:.2f} uJ "
            f"({totals[v]['search_cpu_seconds']:.0f} s cpu)" for v in variants))
        print(f"wrote {out / f'results_{key}.json'}", flush=True)
    print(f"elapsed {elapsed:.0f} s with {args.jobs} worker(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Markdown tables from ``results_<network>.json`` (standard library only; any Python 3.10+).

    python benchmarks/zigzag/tables.py            # prints the tables README.md quotes
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
VARIANTS = ("best", "chip_like", "ws", "os")


def uj(pj: float) -> str:
    return f"{pj / 1e6:,.2f}"


def short_tm(d: dict) -> str:
    """The temporal loops of the best mapping, outermost level last, per operand W/I/O."""
    return d["temporal_mapping_text"].replace(" | ", "<br>")


def table(res: dict) -> str:
    rows = res["layers"]
    out = [f"**{res['network']}** — {res['description']}, batch 1, "
           f"{res['total_macs']:,} MACs\n",
           "| layer | K×C×OY×OX×F | W from | best µJ | chip-like µJ | fixed WS µJ | fixed OS µJ "
           "| best cycles | WS cycles | OS cycles | best spatial unrolling | chip-like spatial "
           "unrolling |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        shape = f"{r['K']}×{r['C']}×{r['OY']}×{r['OX']}×{r['FY']}"
        wfrom = "DRAM" if r["weight_level"] == "dram" else "GLB"
        out.append(
            f"| {r['name']} | {shape} | {wfrom} | {uj(r['best']['energy_pj'])} "
            f"| {uj(r['chip_like']['energy_pj'])} | {uj(r['ws']['energy_pj'])} "
            f"| {uj(r['os']['energy_pj'])} | {r['best']['latency_cycles']:,.0f} "
            f"| {r['ws']['latency_cycles']:,.0f} | {r['os']['latency_cycles']:,.0f} "
            f"| {r['best']['spatial_mapping']} | {r['chip_like']['spatial_mapping']} |")
    t = res["totals"]
    out.append(
        f"| **total** | | | **{uj(t['best']['energy_pj'])}** "
        f"| **{uj(t['chip_like']['energy_pj'])}** | **{uj(t['ws']['energy_pj'])}** "
        f"| **{uj(t['os']['energy_pj'])}** "
        f"| {t['best']['latency_cycles']:,.0f} | {t['ws']['latency_cycles']:,.0f} "
        f"| {t['os']['latency_cycles']:,.0f} | | |")
    return "\n".join(out)


def breakdown(res: dict) -> str:
    t = res["totals"]
    levels = ["rf_pe", "sram_pe", "glb", "dram"]
    out = [f"**{res['network']}** energy by part (µJ per image)\n",
           "| variant | total | MAC | " + " | ".join(levels) + " |",
           "|---|---:|---:|" + "---:|" * len(levels)]
    for v in VARIANTS:
        lv = t[v]["memory_pj_per_level"]
        out.append(f"| {v} | {uj(t[v]['energy_pj'])} | {uj(t[v]['mac_pj'])} | "
                   + " | ".join(uj(lv.get(x, 0.0)) for x in levels) + " |")
    # per operand, best mapping
    ops: dict[str, dict[str, float]] = {}
    for r in res["layers"]:
        for op, lv in r["best"]["memory_pj_per_operand_per_level"].items():
            for name, e in lv.items():
                ops.setdefault(op, {}).setdefault(name, 0.0)
                ops[op][name] += e["pj"]
    out += ["", f"**{res['network']}**, best mappings: memory energy per operand and level (µJ)\n",
            "| operand | " + " | ".join(levels) + " |", "|---|" + "---:|" * len(levels)]
    for op in ("W", "I", "O"):
        out.append(f"| {op} | " + " | ".join(uj(ops.get(op, {}).get(x, 0.0)) for x in levels)
                   + " |")
    return "\n".join(out)


def mappings(res: dict) -> str:
    out = [f"**{res['network']}**, best mappings' temporal loops (innermost first; per operand, "
           "the loops each memory level holds)\n", "| layer | temporal mapping |", "|---|---|"]
    for r in res["layers"]:
        out.append(f"| {r['name']} | {short_tm(r['best'])} |")
    return "\n".join(out)


def timing(res: dict) -> str:
    c, w = res["search_cpu_seconds"], res["search_seconds_one_core"]
    sk = {v: sum(r[v].get("evaluations_skipped", 0) for r in res["layers"]) for v in VARIANTS}
    ev = {v: sum(r[v].get("evaluations", 0) for r in res["layers"]) for v in VARIANTS}
    out = [f"**{res['network']}** ZigZag time (summed over layers; each layer on one core)\n",
           "| variant | CPU s | wall s | cost-model evaluations | skipped (ZigZag assertion) |",
           "|---|---:|---:|---:|---:|"]
    for v in VARIANTS:
        out.append(f"| {v} | {c[v]:,.0f} | {w[v]:,.0f} | {ev[v]:,} | {sk[v]:,} |")
    return "\n".join(out)


def main() -> int:
    names = sys.argv[1:] or ["compact", "vgg16"]
    for n in names:
        res = json.loads((HERE / f"results_{n}.json").read_text())
        print(table(res), "\n")
        print(breakdown(res), "\n")
        print(mappings(res), "\n")
        print(timing(res), "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Our dense ANN dataflows against ZigZag on the same chip and per-access energies.

    python benchmarks/zigzag/compare.py          # ~1 min; reads results_*.json (run_zigzag.py)

For the bundled model and the converted VGG16 (the networks of ``run_zigzag.py``), runs our
simulator's dataflow model (``hwsim.compare``, every dense ANN dataflow mapped per layer by our
mapper on the default 45 nm chip) and sets each layer beside ZigZag's numbers: ZigZag's best
mapping against our best dense dataflow of that layer, ZigZag's fixed weight-/output-stationary
spatial unrollings against our ``ws`` / ``os``. Only the terms ZigZag prices are compared: MACs
and memory accesses (our ``compute``, ``activations``, ``weights``, ``dram`` parts; not our NoC
or leakage, which ZigZag does not model). Prints the markdown tables of README.md and writes
compare.json.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from arch_configs import load_arch  # noqa: E402
from hwsim.simulate import SimOptions, simulate  # noqa: E402
from model import checkpoint as C  # noqa: E402
from model.bundled import bundled_model_path, bundled_sample  # noqa: E402

COMPARED = ("compute", "activations", "weights", "dram")  # what ZigZag prices too
CHIP = HERE / "chip_horowitz.yaml"  # the chip (and per-access energies) ZigZag was given
DENSE = ("ws", "os", "rs")


def ours(model: str) -> dict:
    """Our report on 8 bundled images (dense dataflows do not depend on the images)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = simulate(C.load(model, stages=("converted", "snn")), load_arch(CHIP),
                       bundled_sample(), 8, SimOptions(progress=False, check=False,
                                                       reference=False))
    return rep["dataflows"]


def layer_pj(flows: dict, df: str) -> dict[str, float]:
    return {lay["name"]: sum(lay["energy_pj"][p] for p in COMPARED)
            for lay in flows["ann"][df]["layers"]}


def table(name: str, zz: dict, flows: dict) -> tuple[list[str], dict]:
    per = {df: layer_pj(flows, df) for df in DENSE}
    maps = {df: {lay["name"]: lay["mapping"] for lay in flows["ann"][df]["layers"]}
            for df in DENSE}
    lines = [f"**{name}**: µJ per image, MACs + memory accesses (ours without NoC and leakage)",
             "", "| layer | ZigZag best | ours best (dataflow, tiling) | ours/ZigZag | ZigZag "
             "fixed WS | ours ws | ZigZag fixed OS | ours os |", "|---|---:|---|---:|---:|---:|"
             "---:|---:|"]
    rows, tot = [], dict.fromkeys(("zz", "ours", "zz_ws", "ws", "zz_os", "os"), 0.0)
    for zl in zz["layers"]:
        name_ours = zl["name"]
        best_df = min(DENSE, key=lambda d: per[d][name_ours])
        v = {"zz": zl["best"]["energy_pj"], "ours": per[best_df][name_ours],
             "zz_ws": zl["ws"]["energy_pj"], "ws": per["ws"][name_ours],
             "zz_os": zl["os"]["energy_pj"], "os": per["os"][name_ours]}
        for k in tot:
            tot[k] += v[k]
        rows.append({"layer": name_ours, "best_dataflow": best_df,
                     "tiling": maps[best_df][name_ours], **v})
        lines.append(f"| {name_ours} | {v['zz'] / 1e6:.2f} | {v['ours'] / 1e6:.2f} ({best_df}, "
                     f"{maps[best_df][name_ours]}) | {v['ours'] / v['zz']:.2f} | "
                     f"{v['zz_ws'] / 1e6:.2f} | {v['ws'] / 1e6:.2f} | {v['zz_os'] / 1e6:.2f} | "
                     f"{v['os'] / 1e6:.2f} |")
    lines.append(f"| **total** | **{tot['zz'] / 1e6:.2f}** | **{tot['ours'] / 1e6:.2f}** | "
                 f"**{tot['ours'] / tot['zz']:.2f}** | {tot['zz_ws'] / 1e6:.2f} | "
                 f"{tot['ws'] / 1e6:.2f} | {tot['zz_os'] / 1e6:.2f} | {tot['os'] / 1e6:.2f} |")
    search = {df: flows["ann"][df]["search_s"] for df in DENSE}
    lines += ["", f"Our mapper: {', '.join(f'{d} {s:.3f} s' for d, s in search.items())} "
              "(all layers, both placements); ZigZag's search: "
              f"{zz['totals']['best']['search_cpu_seconds']:.0f} CPU s.", ""]
    return lines, {"rows": rows, "totals": tot, "our_search_s": search,
                   "zigzag_search_cpu_s": zz["totals"]["best"]["search_cpu_seconds"]}


def main() -> None:
    started = time.time()
    vgg = ROOT / "runs" / "vgg16_converted.pt"
    if not vgg.exists():
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from sim_speed import make_checkpoint
        vgg.parent.mkdir(parents=True, exist_ok=True)
        make_checkpoint("vgg16", "cifar10", 32, vgg, None)
    out, lines = {}, []
    for name, model, res in (("compact", bundled_model_path(), "results_compact.json"),
                             ("vgg16", vgg, "results_vgg16.json")):
        zz = json.loads((HERE / res).read_text())
        t_lines, out[name] = table(name, zz, ours(str(model)))
        lines += t_lines
    (HERE / "compare.json").write_text(json.dumps(out, indent=1))
    print("\n".join(lines))
    print(f"({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()

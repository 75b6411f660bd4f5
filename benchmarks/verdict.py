"""The verdict: does the SNN beat the same network as an ANN on this chip, by how much, and up
to which spike rate?

    python benchmarks/verdict.py                    # ~6 min on 2 cores; writes benchmarks/verdict/
    python benchmarks/verdict.py --quick            # 16 images, T = 5 only (~1 min)

For the bundled DIET-SNN (trained on CIFAR-10, T = 5) and a converted VGG16 (random ANN weights,
thresholds balanced on 64 CIFAR-10 training images; made by ``sim_speed.make_checkpoint``,
cached in runs/), on the default 45 nm chip (``arch_configs/45nm.yaml``), real CIFAR-10 test
images (the bundled sample):

1. every SNN dataflow and every ANN dataflow (``hwsim/dataflow.py``), each layer mapped by the
   mapper (objective: energy), for membranes at ``auto`` (the policy), ``glb`` and ``dram`` and
   T = 1, 2, 5: energy per image, and the ANN/SNN ratio of the best pair and of every pair;
2. at the default point (T = 5, membranes ``auto``): the SNN's energy as its spike counts are
   scaled by a factor f (every input event, accumulate and spike past the analog input layer;
   the mapper re-run at each f), against the ANN's dataflows: the break-even spike rate of
   each SNN dataflow (where it stops beating the best ANN), found by bisection;
3. the mapper's search time per dataflow on each network.

Writes verdict.json, break_even_<model>.png and prints the markdown tables of verdict.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from arch_configs import load_arch  # noqa: E402
from hwsim import compare as CMP  # noqa: E402
from hwsim.simulate import ann_activation_bits, consumers, stored_formats  # noqa: E402
from hwsim.sweep import count_run, functional_run  # noqa: E402
from model import checkpoint as C  # noqa: E402
from model.bundled import bundled_model_path, bundled_sample  # noqa: E402
from model.data import stratified_indices  # noqa: E402

MEMBRANES = ("auto", "glb", "dram")


def priced(ckpt, run, arch):
    """(context, counts, comparison) of a functional run on a chip."""
    T = run.timesteps
    mapping, counter, _ = count_run(ckpt, arch, run)
    nodes = ckpt.nodes()
    counts = [counter.layers[n.name] for n in nodes if n.synaptic]
    ctx = CMP.context(arch, mapping, nodes, T, consumers(nodes))
    return ctx, counts, CMP.compare(ctx, counts)


def mean_rate(counts) -> float:
    lif = [lc for lc in counts if lc.neuron == "lif"]
    return sum(float(lc.per_image(lc.output_spikes).sum()) for lc in lif) / sum(
        lc.neurons for lc in lif)


def totals(flows: dict, side: str) -> dict[str, float]:
    return {df: r["energy_pj"]["total"] for df, r in flows[side].items()}


def break_even_curve(ctx, counts, flows: dict, factors) -> dict:
    """SNN energy per dataflow at each spike-count factor; break-even factors by bisection."""
    ann = totals(flows, "ann")
    best_ann = min(ann.values())
    curve, even = {}, {}
    for df in flows["snn"]:
        curve[df] = [CMP.evaluate(ctx, [CMP.scaled_counts(lc, f) for lc in counts], "snn", df
                                  ).energy_pj["total"] for f in factors]
        even[df] = CMP.break_even(ctx, counts, df, best_ann, iterations=20)
    return {"factors": list(factors), "snn_pj": curve, "ann_pj": ann, "best_ann_pj": best_ann,
            "break_even_factor": even}


def plot_break_even(name: str, be: dict, rate: float, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    x = np.array(be["factors"]) * rate
    colours = {"scatter": "#c44e52", "os": "#4c72b0", "time_batched": "#55a868"}
    for df, ys in be["snn_pj"].items():
        ax.plot(x, np.array(ys) / 1e6, "o-", color=colours.get(df), label=f"SNN {df}")
        f = be["break_even_factor"][df]
        if f is not None and np.isfinite(f):
            ax.axvline(f * rate, color=colours.get(df), ls=":", lw=1)
    best = min(be["ann_pj"], key=be["ann_pj"].get)
    greys = iter(("0.35", "0.55", "0.75"))
    for df, e in sorted(be["ann_pj"].items(), key=lambda kv: kv[1])[:4]:
        ax.axhline(e / 1e6, color="k" if df == best else next(greys),
                   ls="--" if df == best else "-.", lw=1.6 if df == best else 0.9,
                   label=f"ANN {df}" + (" (best)" if df == best else ""))
    ax.axvline(rate, color="0.3", lw=0.8)
    ax.text(rate, ax.get_ylim()[1] * 0.97, " measured", fontsize=7, va="top")
    ax.set(xlabel="mean spike rate (spikes / neuron / image, all T)",
           ylabel="energy per image (µJ)", yscale="log",
           title=f"{name} on 45nm, T=5: SNN energy vs spike rate; dotted: break-even with "
                 f"the best ANN ({best})")
    ax.title.set_fontsize(8)
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    path = out / f"break_even_{name}.png"
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def run_model(name: str, path: str, images, Ts, quick: bool, out: Path) -> dict:
    ckpt = C.load(path, stages=("converted", "snn"))
    res = {"model": name, "path": str(path), "images": len(images), "points": []}
    for T in Ts:
        t0 = time.perf_counter()
        chip = load_arch("45nm")
        run = functional_run(ckpt, images, T, stored_formats(chip), batch_size=32, check=False,
                             activation_bits=ann_activation_bits(chip))
        t_run = time.perf_counter() - t0
        for m in MEMBRANES:
            arch = load_arch("45nm", {"policy": {"membrane_level": m}})
            ctx, counts, flows = priced(ckpt, run, arch)
            point = {"T": T, "membrane": m, "accuracy_snn": run.correct / run.samples,
                     "accuracy_ann": (run.ann_correct or 0) / run.samples,
                     "mean_spike_rate": mean_rate(counts),
                     "snn_pj": totals(flows, "snn"), "ann_pj": totals(flows, "ann"),
                     "mappings": {side: {df: [lay["mapping"] for lay in r["layers"]]
                                         for df, r in flows[side].items()}
                                  for side in ("snn", "ann")},
                     "search_s": {side: {df: r["search_s"] for df, r in flows[side].items()}
                                  for side in ("snn", "ann")},
                     "verdict": flows["verdict"], "pairs": flows["pairs"],
                     "functional_s": t_run}
            res["points"].append(point)
            print(f"{name} T={T} V={m}: best SNN {flows['verdict']['snn']} vs best ANN "
                  f"{flows['verdict']['ann']}: {flows['verdict']['energy_ann_over_snn']:.2f}x",
                  flush=True)
            if T == Ts[-1] and m == "auto":
                factors = (0.0, 0.5, 1.0, 2.0) if quick else (0.0, 0.25, 0.5, 0.75, 1.0,
                                                             1.5, 2.0, 3.0)
                be = break_even_curve(ctx, counts, flows, factors)
                be["measured_rate"] = point["mean_spike_rate"]
                be["plot"] = str(plot_break_even(name, be, point["mean_spike_rate"], out))
                res["break_even"] = be
    return res


def md_tables(results: list[dict]) -> str:
    lines = []
    for r in results:
        lines += [f"### {r['model']} ({r['images']} images)", "",
                  "Best SNN vs best ANN dataflow, energy per image, by T and membrane level:",
                  "", "| T | membranes | spike rate | acc SNN / ANN | best SNN | best ANN | "
                  "ANN/SNN | SNN: scatter / os / time_batched (µJ) | ANN: scatter / ws / os / "
                  "rs / ws_skip / os_skip / rs_skip (µJ) |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for p in r["points"]:
            v = p["verdict"]
            snn = " / ".join(f"{p['snn_pj'][d] / 1e6:.1f}" for d in p["snn_pj"])
            ann = " / ".join(f"{p['ann_pj'][d] / 1e6:.1f}" for d in p["ann_pj"])
            lines.append(f"| {p['T']} | {p['membrane']} | {p['mean_spike_rate']:.3f} | "
                         f"{p['accuracy_snn']:.3f} / {p['accuracy_ann']:.3f} | {v['snn']} | "
                         f"{v['ann']} | **{v['energy_ann_over_snn']:.2f}x** | {snn} | {ann} |")
        be = r.get("break_even")
        if be:
            rate = be["measured_rate"]
            best = min(be["ann_pj"], key=be["ann_pj"].get)
            lines += ["", f"Break-even (T = {r['points'][-1]['T']}, membranes auto; measured "
                      f"mean spike rate {rate:.3f}; best ANN {best} "
                      f"{be['best_ann_pj'] / 1e6:.1f} µJ):", "",
                      "| SNN dataflow | energy at measured rate | break-even factor | "
                      "break-even spike rate |", "|---|---|---|---|"]
            i1 = be["factors"].index(1.0)
            for df, f in be["break_even_factor"].items():
                txt = ("never (costs more with no spikes)" if f is None else
                       "above 1e4x" if not np.isfinite(f) else f"{f:.3f}x")
                rate_txt = "-" if f is None or not np.isfinite(f) else f"{f * rate:.3f}"
                lines.append(f"| {df} | {be['snn_pj'][df][i1] / 1e6:.1f} µJ | {txt} | "
                             f"{rate_txt} |")
            lines += ["", f"![break-even]({Path(be['plot']).name})", ""]
        default = [p for p in r["points"] if p["membrane"] == "auto"][-1]
        lines += ["Mapper search time per dataflow (s, both placements tried, all layers): "
                  + ", ".join(f"{side.upper()} {df} {s:.3f}"
                              for side, d in default["search_s"].items() for df, s in d.items()),
                  ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=64)
    ap.add_argument("--vgg16", help="a VGG16 checkpoint (default: a converted random one, made "
                                    "once into runs/vgg16_converted.pt)")
    ap.add_argument("--out", default=str(HERE / "verdict"))
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    n = 16 if args.quick else args.samples
    ds = bundled_sample()
    images = ds.subset(stratified_indices(ds.labels, n))
    vgg = args.vgg16 or str(ROOT / "runs" / "vgg16_converted.pt")
    if not Path(vgg).exists():
        from sim_speed import make_checkpoint
        Path(vgg).parent.mkdir(parents=True, exist_ok=True)
        make_checkpoint("vgg16", "cifar10", 32, Path(vgg), None)
    Ts = (5,) if args.quick else (1, 2, 5)
    started = time.time()
    results = [run_model("compact", str(bundled_model_path()), images, Ts, args.quick, out),
               run_model("vgg16_converted", vgg, images.subset(np.arange(min(32, n))), Ts,
                         args.quick, out)]
    (out / "verdict.json").write_text(json.dumps(results, indent=1, default=float))
    print(md_tables(results))
    print(f"\n({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()

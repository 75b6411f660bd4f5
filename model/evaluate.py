"""Evaluate a checkpoint: accuracy, and per layer λ, v and spike rate (the paper's Eq. 18).

    python -m model.evaluate [--model FILE] [--data DIR] [--limit N] [--timesteps T]
                             [--json PATH] [--plot DIR]

With no ``--model`` the bundled default DIET-SNN is used; with no ``--data`` its bundled sample
of CIFAR-10 test images. spike_rate = spikes of the layer over all T steps / (neurons × images).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from . import checkpoint as C
from . import data as D
from .bundled import bundled_model_path, bundled_sample
from .common import (
    USER_ERRORS,
    UsageError,
    check_flags,
    check_output,
    evaluate,
    fail,
    load_splits,
    resolve_device,
    seed_everything,
    set_threads,
)
from .files import atomic_path, write_json
from .network import Network
from .table import render


def layer_report(net: Network, spikes: dict[str, float], samples: int) -> list[dict]:
    """One row per synaptic layer in network order: name, kind, neurons, λ, v, spike_rate
    (None for layers without LIF neurons)."""
    rows = []
    for n in net.nodes:
        if not n.synaptic:
            continue
        row = {"name": n.name, "kind": n.kind, "neurons": n.neurons, "leak": None,
               "threshold": None, "spike_rate": None}
        if n.spiking:
            p = net.neuron(n.name)
            row.update(leak=p.leak.item(), threshold=p.threshold.item())
            if n.name in spikes:
                row["spike_rate"] = spikes[n.name] / (n.neurons * samples)
        rows.append(row)
    return rows


def plot_fig2(report: dict, out_dir: str | Path) -> list[Path]:
    """The paper's Fig. 2: (a) spike rate per layer, (b) leak and threshold per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for r in report["layers"] if r["leak"] is not None]
    names = [r["name"] for r in rows]
    x = np.arange(len(rows))
    m = report["model"]
    title = f"{m['architecture']} {m['dataset']}, T={report['timesteps']}"
    paths = []

    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(rows) + 2), 3.4))
    rates = [r["spike_rate"] or 0.0 for r in rows]
    ax.bar(x, rates, color="#3b75af")
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("spikes / neuron / image")
    ax.set_title(f"Spike rate per layer — {title}\n(network {report['mean_spike_rate']:.3f} per "
                 f"neuron over all T, weighted by neurons; mean of layers "
                 f"{report['mean_layer_spike_rate']:.3f})", fontsize=9)
    fig.tight_layout()
    paths.append(out / "spike_rate.png")
    with atomic_path(paths[-1]) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)

    fig, ax1 = plt.subplots(figsize=(max(5, 0.45 * len(rows) + 2), 3.4))
    ax1.plot(x, [r["leak"] for r in rows], "o-", color="#c44e52", label="leak λ")
    ax1.set_ylabel("leak λ", color="#c44e52")
    leaks = [r["leak"] for r in rows]
    lo, hi = min(leaks), max(leaks)  # the range that matters (often 0.88-1.0), not 0-1
    pad = max(0.01, 0.1 * (hi - lo))
    ax1.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad) + 0.005)
    ax2 = ax1.twinx()
    ax2.plot(x, [r["threshold"] for r in rows], "s--", color="#55a868", label="threshold v")
    ax2.set_ylabel("threshold v", color="#55a868")
    ax1.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax1.set_title(f"Leak and threshold per layer — {title}", fontsize=10)
    fig.tight_layout()
    paths.append(out / "leak_threshold.png")
    with atomic_path(paths[-1]) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)
    return paths


def run(args) -> dict:
    started = time.time()
    model_path = args.model or bundled_model_path()
    ckpt = C.load(model_path)
    net = ckpt.build().to(resolve_device(args.device))
    T = args.timesteps or ckpt.timesteps
    snn = ckpt.stage != "ann"
    if args.data:
        splits = load_splits(args.data, ckpt.input_shape, ckpt.num_classes,
                             limit=args.limit, seed=args.seed, need_train=False)
        ds, data_name = splits.test, str(args.data)
    else:
        ds, data_name = bundled_sample(), "bundled CIFAR-10 (JPEG q75) test sample"
        if ds.input_shape != tuple(ckpt.input_shape):
            raise D.DataError(f"the bundled sample is {D.describe_input(ds.input_shape)}, "
                              f"{model_path} expects {D.describe_input(ckpt.input_shape)}: pass "
                              f"--data")
        if args.limit:
            if args.limit > len(ds):
                raise UsageError(f"--limit {args.limit}: the bundled sample has only {len(ds)} "
                                 f"test images; expected at most {len(ds)}")
            ds = ds.subset(D.stratified_indices(ds.labels, args.limit, args.seed))
    res = evaluate(net, ds, ckpt.preprocessing, snn=snn, timesteps=T,
                   batch_size=args.batch_size, desc="evaluate", workers=args.workers)
    report = {
        "model": {"path": str(model_path), "architecture": ckpt.arch, "dataset": ckpt.dataset,
                  "stage": ckpt.stage, "reset": ckpt.reset},
        "device": str(next(net.parameters()).device),
        "data": data_name,
        "accuracy": res["accuracy"],
        "samples": res["samples"],
        "timesteps": T if snn else None,
        "layers": layer_report(net, res["spikes"], res["samples"]),
        "seconds": round(time.time() - started, 2),
    }
    if snn:
        lif = [r for r in report["layers"] if r["spike_rate"] is not None]
        neurons = sum(r["neurons"] for r in lif)
        # one definition (the simulator's too): spikes per neuron over all T, every LIF neuron
        # of the network counted once (Eq. 18 over the network, weighted by neurons)
        report["mean_spike_rate"] = (sum(r["spike_rate"] * r["neurons"] for r in lif)
                                     / neurons if neurons else 0.0)
        # the plain mean of the layers' rates, named apart (each layer counts once)
        report["mean_layer_spike_rate"] = (float(np.mean([r["spike_rate"] for r in lif]))
                                           if lif else 0.0)
    return report


def print_report(report: dict) -> None:
    snn = report["timesteps"] is not None
    def f(v, p):
        return "-" if v is None else f"{v:.{p}f}"

    rows = [[r["name"], r["kind"], f"{r['neurons']:,}", f(r["leak"], 4), f(r["threshold"], 4),
             f(r["spike_rate"], 4)] for r in report["layers"]]
    print(render(["layer", "kind", "neurons", "leak", "threshold", "spike rate"], rows,
                 align=["left", "left", "right", "right", "right", "right"]))
    mode = f"SNN T={report['timesteps']}" if snn else "ANN"
    extra = (f", spike rate {report['mean_spike_rate']:.3f} per neuron over all T (mean of "
             f"the layers' rates {report['mean_layer_spike_rate']:.3f})" if snn else "")
    print(f"{report['model']['architecture']} ({report['model']['stage']}) {mode}: accuracy "
          f"{report['accuracy']:.4f} on {report['samples']} images of {report['data']}"
          f"{extra} ({report['seconds']:.1f} s)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m model.evaluate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="checkpoint (default: the bundled DIET-SNN)")
    ap.add_argument("--data", help="data folder, .npz (x, y) or .npy (inputs only: refused, "
                    "accuracy needs labels); its test split is used (default: bundled; "
                    "docs/data.md)")
    ap.add_argument("--limit", type=int, help="stratified subset of N test images")
    ap.add_argument("--timesteps", type=int, help="override T")
    ap.add_argument("--json", help="write the report as JSON here")
    ap.add_argument("--plot", help="write Fig. 2 plots (PNG) into this folder")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu",
                    help="cpu (default: the float32 reference the simulator is checked "
                         "against), cuda[:N] or auto")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        check_flags(args, positive=("limit", "timesteps", "batch_size", "threads"),
                    non_negative=("workers",))
        if args.json:
            check_output(args.json, "--json")
        if args.plot:
            check_output(args.plot, "--plot", folder=True)
    except UsageError as e:
        fail(str(e))
    set_threads(args.threads)
    seed_everything(args.seed)
    try:
        report = run(args)
    except USER_ERRORS as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; nothing was written (an evaluation keeps no state): rerun the same "
             "command", 130)
    print_report(report)
    try:
        if args.json:
            write_json(args.json, report, indent=2)
        if args.plot:
            for p in plot_fig2(report, args.plot):
                print(f"wrote {p}")
    except OSError as e:
        fail(f"{e.filename}: cannot write ({e.strerror or e})")


if __name__ == "__main__":
    main()

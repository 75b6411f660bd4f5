"""What survives a trip through NIR: the bundled DIET-SNN exported to NIR and run by this
project, by SpikingJelly and by snnTorch, on the same bundled test images.

    python benchmarks/nir_exchange.py [--samples 200]     # ~1 min; needs .[frameworks]

The bundled model resets by subtraction (``paper``); NIR's LIF resets to v_reset (hard reset),
and that is how every framework reads the graph. Rows: our checkpoint; the graph read back
here (its metadata keeps the soft reset: identical); the graph read by NIR's standard (hard
reset) here, in SpikingJelly 2.0.0 and in snnTorch 1.0.0. Agreement is the share of images on
which a row predicts the same class as the row it is compared with. Writes nir_exchange.md
and .json here.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from model import checkpoint as C  # noqa: E402
from model.bundled import bundled_model_path, bundled_sample  # noqa: E402
from model.data import batches  # noqa: E402
from model.nir import from_nir, to_nir  # noqa: E402


def ours(ckpt, x):
    with torch.no_grad():
        return ckpt.build().eval().snn(x).logits.argmax(1)


def spikingjelly(graph, x, T):
    from spikingjelly.activation_based.nir_exchange import from_nir as sj

    module = sj.import_from_nir(graph, dt=graph.metadata["dt"])
    state, out = None, 0
    with torch.no_grad():
        for _ in range(T):
            o, state = module(x, state)
            out = out + o
    return out.argmax(1)


def snntorch(graph, x, T):
    from snntorch import utils
    from snntorch.import_nir import import_from_nir

    module = import_from_nir(graph)
    preds = []
    with torch.no_grad():
        for sample in x:  # its Flatten(start_dim=0) flattens the batch axis: one at a time
            utils.reset(module)
            out = 0
            for _ in range(T):
                o = module(sample[None])
                out = out + (o[0] if isinstance(o, tuple) else o).reshape(-1)
            preds.append(int(out.argmax()))
    return torch.tensor(preds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=200)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    ckpt = C.load(bundled_model_path())
    ds = bundled_sample()
    pre = ckpt.preprocessing
    x, y = next(batches(ds, len(ds), pre["mean"], pre["std"]))
    x, y = x[:args.samples], y[:args.samples]
    graph = to_nir(ckpt)
    T = ckpt.timesteps
    runs = {
        "checkpoint (soft reset, paper)": lambda: ours(ckpt, x),
        "NIR read back here (metadata: soft reset)": lambda: ours(from_nir(graph), x),
        "NIR read by the standard here (hard reset)":
            lambda: ours(from_nir(graph, reset="zero"), x),
        "NIR in SpikingJelly 2.0.0 (hard reset)": lambda: spikingjelly(graph, x, T),
        "NIR in snnTorch 1.0.0 (hard reset)": lambda: snntorch(graph, x, T),
    }
    preds, failed = {}, {}
    for name, run in runs.items():
        try:
            preds[name] = run()
        except Exception as e:  # a framework that cannot load the graph: say what it said
            failed[name] = f"{type(e).__name__}: {e}".splitlines()[0]
    base = preds["checkpoint (soft reset, paper)"]
    hard = preds["NIR read by the standard here (hard reset)"]
    rows = [{"run": k, "accuracy": float((p == y).float().mean()),
             "agrees_with_checkpoint": float((p == base).float().mean()),
             "agrees_with_hard_reset_here": float((p == hard).float().mean())}
            for k, p in preds.items()]
    rows += [{"run": k, "refused": why} for k, why in failed.items()]
    lines = [f"# The bundled model through NIR (the first {len(y)} bundled test images, T = {T})",
             "", "`python benchmarks/nir_exchange.py`: the bundled DIET-SNN exported to NIR "
             "(`to_nir`, dt 1e-4 s) and run here, in SpikingJelly and in snnTorch.", "",
             "| run | accuracy | same class as the checkpoint | same class as hard reset here |",
             "|---|---|---|---|"]
    lines += [f"| {r['run']} | {r['accuracy']:.3f} | {r['agrees_with_checkpoint']:.3f} | "
              f"{r['agrees_with_hard_reset_here']:.3f} |" if "refused" not in r else
              f"| {r['run']} | cannot load the graph: `{r['refused']}` | | |" for r in rows]
    lines += ["", "The soft (subtractive) reset has no NIR form: a framework that reads the "
              "graph by the standard runs hard-reset neurons, and the network was not trained "
              "for them. Export a model trained with `reset: zero` to exchange it without this "
              "loss; this project's own import keeps the soft reset through the metadata.", ""]
    (HERE / "nir_exchange.md").write_text("\n".join(lines))
    (HERE / "nir_exchange.json").write_text(json.dumps(rows, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

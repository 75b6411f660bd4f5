"""Bundle a trained DIET-SNN as the package's default model and record its provenance.

    python tools/bundle_default.py runs/compact/snn.pt [--eval-json runs/compact/eval_test.json]

Copies the checkpoint to model/bundled/default.pt with float16 weights (the accuracy must be
measured on that file: pass the JSON of ``python -m model.evaluate --model
model/bundled/default.pt --data DIR`` to record it) and writes model/bundled/PROVENANCE.md from
the checkpoint's own history and metrics.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from model import checkpoint as C

BUNDLE = Path(__file__).resolve().parents[1] / "model" / "bundled"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--eval-json", help="model.evaluate JSON of the bundled file on a test set")
    ap.add_argument("--note", default="", help="a line for the provenance")
    args = ap.parse_args()
    ckpt = C.load(args.checkpoint, stages=("converted", "snn"))
    ckpt.weights = {k: v.to(torch.float16) for k, v in ckpt.weights.items()}
    ckpt.metrics.pop("data_dir", None)
    out = BUNDLE / "default.pt"
    C.save(ckpt, out)
    lines = [
        "# The bundled default DIET-SNN",
        "",
        f"- file: `default.pt` ({out.stat().st_size / 1e6:.2f} MB, float16 weights), "
        f"architecture `{ckpt.arch}` ({sum(v.numel() for v in ckpt.weights.values()):,} "
        f"weights), dataset {ckpt.dataset}, stage `{ckpt.stage}`, T = {ckpt.timesteps}, "
        f"reset `{ckpt.reset}`, γ = {ckpt.gamma}",
        "- trained with this project's own pipeline (`python -m model.train ann|convert|snn`; "
        "every stage's settings are in the training history below) on CIFAR-10 (JPEG q75) "
        "(the copy described in `docs/data.md`; 45,000 train / 5,000 validation images: the "
        "last 500 of each class held out; model selection on validation only)",
    ]
    if args.note:
        lines.append(f"- {args.note}")
    lines += ["", "## Metrics recorded during training", ""]
    for k, v in sorted(ckpt.metrics.items()):
        lines.append(f"- `{k}`: {v}")
    if args.eval_json:
        ev = json.loads(Path(args.eval_json).read_text())
        lines += ["", "## The bundled file, evaluated", "",
                  f"`python -m model.evaluate --data DIR` → accuracy **{ev['accuracy']:.4f}** "
                  f"on {ev['samples']} images of {ev['data']} (T = {ev['timesteps']}, mean spike "
                  f"rate {ev.get('mean_spike_rate', 0):.3f})", "",
                  "| layer | leak λ | threshold v | spike rate |", "|---|---|---|---|"]
        for r in ev["layers"]:
            if r["leak"] is not None:
                lines.append(f"| {r['name']} | {r['leak']:.4f} | {r['threshold']:.4f} | "
                             f"{r['spike_rate']:.4f} |")
    lines += ["", "## Training history", ""]
    for stage in ckpt.history:
        extra = {k: v for k, v in stage.items() if k not in ("epochs", "thresholds")}
        lines.append(f"- stage `{stage.get('stage')}`: {json.dumps(extra)}")
        for e in stage.get("epochs", []):
            lines.append(f"  - epoch {e['epoch']}: train {e['train_accuracy']:.4f}, val "
                         f"{e['val_accuracy']:.4f}, {e['seconds']} s")
    lines += ["", "## Test images", "",
              "`cifar10_test_sample.npz`: 1,000 CIFAR-10 (JPEG q75) test images, 100 per class, "
              "chosen by `tools/make_bundled_sample.py` (stratified, seed 0) from "
              "the test split of that copy; `source_index` holds their indices there. "
              "Provenance of the images: `docs/data.md` (CIFAR-10, Krizhevsky 2009)."]
    (BUNDLE / "PROVENANCE.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out} and {BUNDLE / 'PROVENANCE.md'}")


if __name__ == "__main__":
    main()

"""The paper's Table 1 for our runs: ANN, converted SNN, weights-only SNN training and DIET-SNN
(weights + leak + threshold), next to the paper's numbers; written to benchmarks/accuracy.md.

    python benchmarks/accuracy.py --row compact=runs/compact --row vgg6=runs/vgg6

Each run folder holds the pipeline's checkpoints: ann.pt, snn0.pt (converted), snn.pt
(DIET-SNN) and snn_weights_only.pt (the ablation); missing ones are shown as "-". Accuracies are
the test accuracies each command measured once at its end (model selection on validation only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from model import checkpoint as C

# Table 1 of the paper (CIFAR-10, T = 5): ANN, converted, weights only, DIET-SNN
PAPER = {"vgg6": (90.80, 86.19, 89.24, 89.42), "vgg16": (93.72, 73.52, 91.68, 92.70),
         "resnet20": (92.79, 47.26, 90.29, 91.78)}
STAGES = (("ann.pt", "ann"), ("snn0.pt", "converted"), ("snn_weights_only.pt", "snn"),
          ("snn.pt", "snn"))


def _cell(run: Path, fname: str, stage: str) -> tuple[str, float | None, C.Checkpoint | None]:
    p = run / fname
    if not p.exists():
        return "-", None, None
    ck = C.load(p)
    acc = ck.metrics.get(f"{stage}_test_accuracy")
    secs = ck.metrics.get(f"{stage}_seconds")
    n = ck.metrics.get("test_samples")
    text = f"{100 * acc:.2f}" if acc is not None else "-"
    if n and n != 10000:
        text += f" ({n} img)"
    return text, secs, ck


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--row", action="append", default=[], help="LABEL=RUN_DIR")
    ap.add_argument("--out", default=str(Path(__file__).with_name("accuracy.md")))
    ap.add_argument("--hardware", default="2-core x86 CPU (torch 2.13 CPU, 2 threads)")
    args = ap.parse_args()
    lines = ["# Accuracy: the paper's Table 1 on our runs", "",
             "CIFAR-10 (JPEG q75: the JPEG copy costs 2–3 points against published numbers), "
             "test accuracy in %, measured once at the end of each stage; model selection on "
             "the validation split (the last 500 training images of each class). Produced by "
             "`python benchmarks/accuracy.py` from the checkpoints of "
             "`benchmarks/train_default.sh`.", "",
             "| model | T | ANN | converted | weights only | DIET-SNN | paper (ANN / conv / W / "
             "DIET) | training time | hardware |", "|---|---|---|---|---|---|---|---|---|"]
    for spec in args.row:
        label, run = spec.split("=", 1)
        run = Path(run)
        cells, total, arch, T = [], 0.0, label, "-"
        for fname, stage in STAGES:
            text, secs, ck = _cell(run, fname, stage)
            cells.append(text)
            total += secs or 0.0
            if ck is not None:
                arch = ck.arch
                T = ck.timesteps if stage != "ann" else T
        paper = PAPER.get(arch)
        paper_s = " / ".join(f"{v:.2f}" for v in paper) if paper else "-"
        lines.append(f"| {label} ({arch}) | {T} | " + " | ".join(cells) +
                     f" | {paper_s} | {total / 3600:.2f} h | {args.hardware} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""Settle the SNN stage's open choices by measurement: the reset variant (the paper's unleaked
reset vs the authors' code, which leaks the reset too) and the surrogate gradient's height γ.

    python benchmarks/snn_choices.py --init runs/gpu/compact/snn0.pt --data DIR \\
        --train-limit 12800 --run runs/snn_choices --out benchmarks/snn_choices.md

Every variant starts from the same converted checkpoint and trains DIET-SNN (weights, λ, v) on
the same stratified subset of training images, in the same order, for one pass, with
``python -m model.train snn --no-test``; it is then measured on the whole validation split
(never the test set). A short run: it says which choice learns faster from the converted
start, not where each ends after many epochs. Runs already finished are kept (rerun to resume).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model import checkpoint as C  # noqa: E402

VARIANTS = (
    ("paper reset, γ = 0.3 (the default)", "paper_g0.3", []),
    ("leaked reset (the authors' code), γ = 0.3", "leaked_g0.3", ["--reset", "leaked"]),
    ("paper reset, γ = 1.0", "paper_g1.0", ["--gamma", "1.0"]),
    ("paper reset, γ = 0.1", "paper_g0.1", ["--gamma", "0.1"]),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--init", required=True, help="converted checkpoint (stage 'converted')")
    ap.add_argument("--data", required=True)
    ap.add_argument("--train-limit", type=int, default=12800)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--run", default=str(ROOT / "runs" / "snn_choices"))
    ap.add_argument("--out", default=str(Path(__file__).with_name("snn_choices.md")))
    args = ap.parse_args()
    init = C.load(args.init, stages=("converted",))
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    rows = []
    for label, name, extra in VARIANTS:
        out = run / f"{name}.pt"
        if not out.exists():
            t0 = time.time()
            cmd = [sys.executable, "-m", "model.train", "snn", "--init", args.init,
                   "--data", args.data, "--epochs", "1", "--train-limit", str(args.train_limit),
                   "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--no-test",
                   "--threads", str(args.threads), "--device", args.device, "--out", str(out),
                   *(["--compile"] if args.compile else []), *extra]
            print(f"{label}: {' '.join(cmd[1:])}", flush=True)
            subprocess.run(cmd, check=True, cwd=ROOT)
            print(f"{label}: {time.time() - t0:.0f} s", flush=True)
        ck = C.load(out)
        rows.append((label, ck))
    T = init.timesteps
    lines = ["# SNN-stage choices, measured", "",
             f"From `{Path(args.init).name}` ({init.arch}, converted at T = {T}, validation "
             f"{100 * init.metrics['converted_val_accuracy']:.2f} %): one pass of DIET-SNN over "
             f"{args.train_limit} training images (batch {args.batch_size}, Adam lr {args.lr}, "
             f"cosine to 0, weight decay 0), then the whole validation split "
             f"({rows[0][1].metrics['val_samples']} images). Produced by "
             "`python benchmarks/snn_choices.py` (see its docstring).", "",
             "| variant | validation % | λ per layer | v per layer | seconds |",
             "|---|---|---|---|---|"]
    for label, ck in rows:
        lam = ", ".join(f"{v:.3f}" for v in ck.leak.values())
        thr = ", ".join(f"{v:.3f}" for v in ck.threshold.values())
        lines.append(f"| {label} | {100 * ck.metrics['snn_val_accuracy']:.2f} | {lam} | "
                     f"{thr} | {ck.metrics['snn_seconds']:.0f} |")
    accs = [ck.metrics["snn_val_accuracy"] for _, ck in rows]
    best = max(rows, key=lambda r: r[1].metrics["snn_val_accuracy"])
    n = rows[0][1].metrics["val_samples"]
    p = sum(accs) / len(accs)
    # two independent binomial accuracies on n images differ by this much by chance (1 sigma)
    sigma = math.sqrt(2 * p * (1 - p) / n)
    spread = max(accs) - min(accs)
    verdict = (f"no variant is measurably better: the spread, {100 * spread:.2f} points, is "
               f"below twice the chance difference of two accuracies on {n} images "
               f"({100 * 2 * sigma:.2f} points)" if spread < 2 * sigma else
               f"best on validation: {best[0]} (spread {100 * spread:.2f} points, twice the "
               f"chance difference {100 * 2 * sigma:.2f})")
    lines += ["", verdict[0].upper() + verdict[1:] + "."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

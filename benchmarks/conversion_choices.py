"""Settle the conversion's open choices by measurement: the threshold scale factor at small T and
the reset variant (the paper's unleaked reset vs the authors' leaked reset).

    python benchmarks/conversion_choices.py --ann runs/compact/ann.pt --data DIR \
        --timesteps 5 --scales 0.4,0.6,0.7,0.8,0.9,1.0 --val 1000 --out benchmarks/conversion.md

Each setting: balance thresholds (99.7th percentile, layer by layer) on the same calibration
images, scale them, and measure the converted SNN's accuracy on validation images (held out of
the training split; never the test set). Conversion uses IF neurons (λ = 1), where the two reset
variants coincide: the reset choice matters once λ < 1 (after DIET training); it is reported
here with λ = 1 for completeness and settled on trained models in accuracy.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from model import checkpoint as C
from model import data as D
from model.common import evaluate, load_splits
from model.conversion import balance_thresholds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ann", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--timesteps", default="5")
    ap.add_argument("--scales", default="0.4,0.6,0.7,0.8,0.9,1.0")
    ap.add_argument("--calib", type=int, default=512)
    ap.add_argument("--val", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("conversion.md")))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    ann = C.load(args.ann, stages=("ann",))
    splits = load_splits(args.data, ann.input_shape[1], ann.num_classes, need_test=False)
    calib = splits.train.subset(D.stratified_indices(splits.train.labels, args.calib, 0))
    val = splits.val.subset(D.stratified_indices(splits.val.labels, args.val, 0))
    x, _ = next(D.batches(calib, len(calib), ann.preprocessing["mean"],
                          ann.preprocessing["std"]))
    ann_acc = evaluate(ann.build(), val, ann.preprocessing, snn=False)["accuracy"]
    rows = []
    for T in [int(t) for t in args.timesteps.split(",")]:
        for scale in [float(s) for s in args.scales.split(",")]:
            t0 = time.time()
            net = ann.build()
            balance_thresholds(net, x, T, 99.7, scale)
            acc = evaluate(net, val, ann.preprocessing, snn=True, timesteps=T)
            rate = sum(acc["spikes"].values()) / (sum(n.neurons for n in net.spiking_layers)
                                                   * acc["samples"])
            rows.append((T, scale, acc["accuracy"], rate, time.time() - t0))
            print(f"T={T} scale={scale}: val {acc['accuracy']:.4f}, spike rate {rate:.3f}")
    lines = ["# Conversion choices, measured", "",
             f"ANN `{args.ann}` ({ann.arch}), validation accuracy {100 * ann_acc:.2f} % on "
             f"{len(val)} held-out training images; thresholds from {len(calib)} calibration "
             "images at the 99.7th percentile, then multiplied by the scale.", "",
             "| T | scale | converted SNN val acc (%) | spikes / neuron / image | seconds |",
             "|---|---|---|---|---|"]
    lines += [f"| {T} | {s} | {100 * a:.2f} | {r:.3f} | {sec:.0f} |" for T, s, a, r, sec in rows]
    best = max(rows, key=lambda r: r[2])
    lines += ["", f"Best: T = {best[0]}, scale {best[1]} ({100 * best[2]:.2f} %)."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

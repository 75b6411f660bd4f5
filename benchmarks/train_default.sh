#!/usr/bin/env bash
# Train the bundled default DIET-SNN (architecture `compact`) on CIFAR-10 (JPEG q75) with the
# project's own pipeline on this machine (CPU; with a GPU, benchmarks/train_gpu.py runs the same
# stages concurrently under a time budget), then the weights-only ablation, and evaluate
# everything once on the full test set. Every step resumes from OUT.resume.pt when rerun.
#   bash benchmarks/train_default.sh [DATA_DIR] [RUN_DIR]
# DATA_DIR holds train.npz/test.npz (python tools/cifar10_to_npz.py ARCHIVE DATA_DIR; docs/data.md).
set -euo pipefail
DATA=${1:-/work/data/cifar10}
RUN=${2:-runs/compact}
T=${T:-5}
mkdir -p "$RUN"
python -m model.train ann --arch compact --dataset cifar10 --data "$DATA" --epochs 16 \
    --batch-size 128 --lr 0.02 --compile --out "$RUN/ann.pt"
python -m model.train convert --ann "$RUN/ann.pt" --timesteps "$T" \
    --scale "${SCALE:-0.5,0.6,0.7,0.8,0.9,1.0}" --out "$RUN/snn0.pt"
python -m model.train snn --init "$RUN/snn0.pt" --epochs "${SNN_EPOCHS:-3}" --lr 1e-4 \
    --compile --out "$RUN/snn.pt"
python -m model.train snn --init "$RUN/snn0.pt" --epochs "${SNN_EPOCHS:-3}" --lr 1e-4 \
    --no-train-leak --no-train-threshold --compile --out "$RUN/snn_weights_only.pt"
python tools/bundle_default.py "$RUN/snn.pt"
python -m model.evaluate --data "$DATA" --json "$RUN/eval_test.json" --plot "$RUN/fig2"
python tools/bundle_default.py "$RUN/snn.pt" --eval-json "$RUN/eval_test.json"

#!/usr/bin/env bash
# One lent GPU session (15 minutes, at most 10 per command) for the bundled default, in two calls
# on the same warm machine. Here, first:
#   mkdir -p .gpu && cp ARCHIVE .gpu/cifar10-jpeg.tar.xz   # the CIFAR-10 JPEG archive (docs/data.md)
#   grep -qx '/.gpu/' .git/info/exclude || echo /.gpu/ >> .git/info/exclude
# then, through the device tool, with carry [".gpu"] and timeout 590 (OUT is set there):
#   bash benchmarks/gpu_session.sh ann     # smoke chain, ANN (~420 s), conversions T = 5 and 10
#   bash benchmarks/gpu_session.sh snn     # DIET-SNN and weights-only side by side (~250 s)
# Each call leaves results.json, logs.tar.gz and ckpt*.tar in $OUT; the second needs the warm
# machine's /tmp/run from the first (a fresh machine would start over: jobs already finished
# are kept only where their checkpoints are). Variables: ARCHES, ANN_BUDGET, SNN_BUDGET, and
# EXTRA (more train_gpu.py options, e.g. EXTRA=--compile to fuse the LIF ops with
# torch.compile: untried on a GPU so far, the smoke chain would show a failure in seconds).
set -euo pipefail
stage=${1:?usage: gpu_session.sh ann|snn}
: "${OUT:?OUT is set by the device tool}"
[ -f /tmp/data/train.npz ] || python3 tools/cifar10_to_npz.py .gpu/cifar10-jpeg.tar.xz /tmp/data
export PYTHONPATH=. PYTHONUNBUFFERED=1
common=(--data /tmp/data --run /tmp/run --pack "$OUT" --arches "${ARCHES:-compact}"
        --deadline 540 ${EXTRA:-})
case $stage in
  ann) python3 benchmarks/train_gpu.py "${common[@]}" --stages ann,convert --smoke \
         --ann-budget "${ANN_BUDGET:-420}" 2>&1 | tee "$OUT/driver_ann.log" ;;
  snn) python3 benchmarks/train_gpu.py "${common[@]}" --stages snn \
         --snn-budget "${SNN_BUDGET:-250}" 2>&1 | tee "$OUT/driver_snn.log" ;;
  *) echo "usage: gpu_session.sh ann|snn" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The bundled default's CPU route across sessions (no GPU lent): continue the GPU-trained compact
# ANN with a warm restart, convert it at T = 5, train DIET-SNN epoch by epoch, and report. Run it
# in the background each session; it skips finished steps and resumes the unfinished one from
# its per-epoch OUT.resume.pt (a killed session loses at most the epoch in progress):
#   nohup bash benchmarks/continue_default_cpu.sh > runs/cpu/continue.log 2>&1 &
# Measured on this 2-core machine (cpu_runs/2026-11-27): an ANN epoch 5.8 min, a DIET-SNN epoch
# (T = 5) 31-36 min.
# An interim model between sessions (the best DIET epoch so far, val and test measured; the
# resume file stays, the next plain run goes on training): SNAPSHOT=runs/cpu/snn_snapshot.pt.
# Nothing is bundled here: compare the result's *validation* accuracy with the bundled model's
# (model selection on validation only), then tools/bundle_default.py as in PROVENANCE.md.
# Variables: DATA, RUN, ANN_INIT, ANN_EPOCHS, SNN_EPOCHS, THREADS, COMPILE (default --compile),
# SNAPSHOT.
set -euo pipefail
DATA=${DATA:-/work/data/cifar10}
RUN=${RUN:-runs/cpu}
ANN_INIT=${ANN_INIT:-runs/gpu/compact/ann.pt}
mkdir -p "$RUN"
common=(--data "$DATA" --device cpu --threads "${THREADS:-2}")
compile=${COMPILE---compile}
step() {  # step OUT CMD...: run CMD unless OUT exists (a finished step)
  local out=$1; shift
  if [ -f "$out" ]; then echo "== $out exists, skipped"; else echo "== $*"; "$@"; fi
}
step "$RUN/ann_restart.pt" python -m model.train ann --init "$ANN_INIT" "${common[@]}" \
  --epochs "${ANN_EPOCHS:-16}" --lr 0.01 --batch-size 128 $compile --out "$RUN/ann_restart.pt"
step "$RUN/snn0.pt" python -m model.train convert --ann "$RUN/ann_restart.pt" "${common[@]}" \
  --timesteps 5 --scale 0.5,0.6,0.7,0.8,0.9 --out "$RUN/snn0.pt"
snn=(python -m model.train snn --init "$RUN/snn0.pt" "${common[@]}" \
  --epochs "${SNN_EPOCHS:-10}" --lr 1e-4 $compile --half --out "$RUN/snn.pt")
final=$RUN/snn.pt
if [ -n "${SNAPSHOT:-}" ] && [ ! -f "$RUN/snn.pt" ]; then
  echo "== ${snn[*]} --snapshot $SNAPSHOT"; "${snn[@]}" --snapshot "$SNAPSHOT"; final=$SNAPSHOT
else
  step "$RUN/snn.pt" "${snn[@]}"
fi
python - "$RUN/ann_restart.pt" "$RUN/snn0.pt" "$final" <<'EOF'
import sys
from pathlib import Path
from model import checkpoint as C
for path in sys.argv[1:]:
    ck, name = C.load(path), Path(path).stem
    m = ck.metrics
    print(f"{name:12s} " + ", ".join(f"{k} {m[k]:.4f}" for k in sorted(m)
                                    if k.endswith("_accuracy") and isinstance(m[k], float)))
mine = ck.metrics.get("snn_val_accuracy")
from model.bundled import MODEL
bundled = C.load(MODEL).metrics.get("snn_val_accuracy")
if mine is not None and bundled is not None:  # model selection on validation only
    verdict = "beats it: rebundle (PROVENANCE.md)" if mine > bundled else "keep the bundled one"
    print(f"bundled default: snn_val_accuracy {bundled:.4f}; {name} {mine:.4f} {verdict}")
EOF

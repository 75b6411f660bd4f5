"""Issue 18's speed check: ``python -m hwsim.run``'s default (every spike checked against the
PyTorch model, the dataflow model on) on a converted VGG16, against plain PyTorch SNN
inference, per image at batch 32, one torch and one Numba thread.

    python benchmarks/speed_check.py [--images 32,160] [--repeats 3]   # ~4 min; a quiet machine

Each mode runs in a fresh process (``sim_speed.measure``): ``torch`` is ``Network.snn``;
``default`` is ``hwsim.simulate`` with the check and the full-precision reference (what
``hwsim.run`` does, without start-up); ``core`` leaves both out. The per-run set-up (weights
quantized and laid out, the mapping, the dataflow search) is a fixed cost per run: the marginal
cost per image is the slope between two image counts. Prints marginal default/torch; the
target is <= 1.5.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from sim_speed import Case, fresh, machine, make_checkpoint, measure  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", default="32,160", help="two image counts: the marginal cost "
                    "per image is the slope between them (fixed costs cancel)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", help="a CIFAR-10 folder (docs/data.md; default: the bundled "
                                   "1,000-image test sample)")
    args = ap.parse_args()
    n1, n2 = (int(v) for v in args.images.split(","))
    data = args.data if args.data and Path(args.data).is_dir() else None
    path = Path(tempfile.gettempdir()) / "sim_speed" / "vgg16_cifar10_T5.pt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh(make_checkpoint, "vgg16", "cifar10", 32, path, data)
    print(f"machine: {machine()}", flush=True)
    runs = {}
    for mode in ("torch", "core", "default"):
        for n in (n1, n2):
            case = Case("VGG16 CIFAR-10", "vgg16", "cifar10", 32, n, 32, str(path))
            r = fresh(measure, case, mode, 5, n, args.repeats, 1, data)
            runs[mode, n] = r["s_per_image"] * n
            print(f"{mode:8} {n:4} images: {runs[mode, n]:.2f} s (runs: "
                  f"{', '.join(f'{t:.2f}' for t in r['runs_s'])} s)"
                  + (f"; functional_match {r['functional_match']}, spike rate "
                     f"{r['spike_rate']:.3f}" if mode != "torch" else ""), flush=True)
    marginal = {m: (runs[m, n2] - runs[m, n1]) / (n2 - n1) for m in ("torch", "core", "default")}
    for m, v in marginal.items():
        print(f"marginal {m:8} {v:.4f} s/img" + ("" if m == "torch" else
                                                  f"  ({v / marginal['torch']:.2f}x torch)"))


if __name__ == "__main__":
    main()

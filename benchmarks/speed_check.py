"""Issue 18's speed check: ``python -m hwsim.run``'s default (every spike checked against the
PyTorch model, the dataflow model on) on a converted VGG16, against plain PyTorch SNN
inference, per image at batch 32, one torch and one Numba thread.

    python benchmarks/speed_check.py [--images 128] [--repeats 3]   # ~2 min; run on a quiet machine

Each mode runs in a fresh process (``sim_speed.measure``): ``torch`` is ``Network.snn``;
``default`` is ``hwsim.simulate`` with the check and the full-precision reference (what
``hwsim.run`` does, without start-up); ``core`` leaves both out. The per-run set-up (weights
quantized and laid out, the mapping) is reported apart (``steady``); the dataflow search is
part of the report and so of ``steady``. Prints the ratios; the target is default/torch <= 1.5.
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
    ap.add_argument("--images", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data", default="/work/data/cifar10")
    args = ap.parse_args()
    data = args.data if Path(args.data).is_dir() else None
    path = Path(tempfile.gettempdir()) / "sim_speed" / "vgg16_cifar10_T5.pt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh(make_checkpoint, "vgg16", "cifar10", 32, path, data)
    case = Case("VGG16 CIFAR-10", "vgg16", "cifar10", 32, args.images, 32, str(path))
    print(f"machine: {machine()}", flush=True)
    res = {}
    for mode in ("torch", "core", "default"):
        res[mode] = fresh(measure, case, mode, 5, args.images, args.repeats, 1, data)
        r = res[mode]
        steady = f", steady {r['steady_s_per_image']:.4f}" if mode != "torch" else ""
        print(f"{mode:8} {r['s_per_image']:.4f} s/img{steady} (runs: "
              f"{', '.join(f'{t:.2f}' for t in r['runs_s'])} s)", flush=True)
    t = res["torch"]["s_per_image"]
    for mode in ("core", "default"):
        r = res[mode]
        print(f"{mode}/torch: {r['s_per_image'] / t:.2f} (steady {r['steady_s_per_image'] / t:.2f})"
              f"; functional_match {r['functional_match']}, spike rate {r['spike_rate']:.3f}")


if __name__ == "__main__":
    main()

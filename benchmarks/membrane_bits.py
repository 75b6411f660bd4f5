"""Membrane width on the chip: accuracy and energy of the bundled model as
``precision.membrane_bits`` narrows (everything else the default 45 nm chip).

    python benchmarks/membrane_bits.py [--samples 200] [--bits 24,16,12,10,8,6,4]   # 1.5-3 min

The chip simulates its membranes in the width it is given (``model.neuron.MembraneFormat``:
B-bit two's complement, per-layer power-of-two LSB covering ±4 thresholds, the output
accumulator sized for no overflow; floor, saturating); every point's spikes are checked
against the PyTorch model run with the same format. Writes membrane_bits.json here and prints
the table of membrane_bits.md (its prose is written by hand).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from arch_configs import load_arch  # noqa: E402
from hwsim.run import load_images  # noqa: E402
from hwsim.simulate import SimOptions, simulate  # noqa: E402
from model import checkpoint as C  # noqa: E402
from model.bundled import bundled_model_path  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--bits", default="24,16,12,10,8,6,4")
    args = ap.parse_args()
    ckpt = C.load(bundled_model_path(), stages=("converted", "snn"))
    ds, n = load_images(ckpt, None, args.samples)
    rows = []
    for bits in (int(b) for b in args.bits.split(",")):
        arch = load_arch("45nm", {"precision": {"membrane_bits": bits}})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rep = simulate(ckpt, arch, ds, n, SimOptions(progress=False))
        e = rep["snn"]["energy_pj"]
        rows.append({"membrane_bits": bits, "accuracy_chip": rep["accuracy"]["snn"],
                     "accuracy_float": rep["accuracy"]["reference"],
                     "functional_match": rep["accuracy"]["functional_match"],
                     "spikes_compared": rep["accuracy"]["spikes_compared"],
                     "mean_spike_rate": rep["snn"]["mean_spike_rate"],
                     "snn_uj": e["total"] / 1e6, "snn_membrane_uj": e["membrane"] / 1e6,
                     "ann_uj": rep["ann"]["energy_pj"]["total"] / 1e6,
                     "ann_over_snn": rep["ratio"]["energy_ann_over_snn"]})
        r = rows[-1]
        print(f"{bits:>2} bits: accuracy {r['accuracy_chip']:.3f} (float {r['accuracy_float']:.3f})"
              f", match {r['functional_match']}, rate {r['mean_spike_rate']:.3f}, SNN "
              f"{r['snn_uj']:.1f} µJ (membrane {r['snn_membrane_uj']:.1f}), ANN/SNN "
              f"{r['ann_over_snn']:.2f}x", flush=True)
    (HERE / "membrane_bits.json").write_text(json.dumps(
        {"model": "bundled default (compact, T=5)", "chip": "45nm", "images": n,
         "rows": rows}, indent=1) + "\n")
    lines = ["| membrane bits | accuracy (chip) | accuracy (float membranes) | bit-exact | "
             "spike rate | SNN µJ/image | of which membrane | ANN/SNN |",
             "|---:|---:|---:|:--:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['membrane_bits']} | {r['accuracy_chip']:.3f} | "
                     f"{r['accuracy_float']:.3f} | {'yes' if r['functional_match'] else 'NO'} "
                     f"| {r['mean_spike_rate']:.3f} | {r['snn_uj']:.1f} | "
                     f"{r['snn_membrane_uj']:.1f} | {r['ann_over_snn']:.2f}× |")
    print("\n".join(lines))  # the table of membrane_bits.md


if __name__ == "__main__":
    main()

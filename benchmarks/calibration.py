"""Calibration against silicon and a peer simulator, collected: benchmarks/calibration.json.

    python benchmarks/calibration/eyeriss/calibrate.py     # ~20 s: Eyeriss v1 (JSSC 2017)
    python benchmarks/calibration/loihi/crosscheck.py      # 2.5-5 min: Loihi via SANA-FE
    python benchmarks/calibration.py                       # merges both, prints the headline

Reads each study's ``results.json`` (cases ``{name, quantity, ours, reference,
reference_source}``), tags each case with its study and writes them as one list with the
ratio ours / reference; prints the headline table of calibration.md.
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
STUDIES = {"eyeriss": HERE / "calibration" / "eyeriss" / "results.json",
           "loihi": HERE / "calibration" / "loihi" / "results.json"}
HEADLINE = [("eyeriss", "alexnet/total [gated]", "power_mW"),
            ("eyeriss", "alexnet/total [gated]", "frames_per_s"),
            ("eyeriss", "vgg16/total [gated]", "power_mW"),
            ("eyeriss", "vgg16/total [gated]", "frames_per_s"),
            ("loihi", "energy_total", None), ("loihi", "energy_matched", None),
            ("loihi", "time", None), ("loihi", "per_synaptic_op", None),
            ("loihi", "per_neuron_update_active", None), ("loihi", "synaptic_events", None)]


def main() -> None:
    cases = []
    for study, path in STUDIES.items():
        for c in json.loads(path.read_text()):
            ratio = c["ours"] / c["reference"] if c["reference"] else None
            cases.append({"study": study, **c, "ratio": ratio})
    (HERE / "calibration.json").write_text(json.dumps(cases, indent=1) + "\n")
    print("| study | case | quantity | ours | reference | ours / reference |")
    print("|---|---|---|---|---|---|")
    for study, name, quantity in HEADLINE:
        c = next(c for c in cases if c["study"] == study and c["name"] == name
                 and (quantity is None or c["quantity"] == quantity))
        print(f"| {study} | {name} | {c['quantity'][:60]} | {c['ours']:.4g} | "
              f"{c['reference']:.4g} | {c['ratio']:.3g} |")
    print(f"\n{len(cases)} cases written to {HERE / 'calibration.json'}")


if __name__ == "__main__":
    main()

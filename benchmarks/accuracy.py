"""The paper's Table 1 for our runs: ANN, converted SNN, weights-only SNN training and DIET-SNN
(weights + leak + threshold) at T = 5, the converted SNN at T = 10, next to the paper's numbers;
plus the threshold-scale search of every conversion. Written to benchmarks/accuracy.md.

    python benchmarks/accuracy.py \\
        --results benchmarks/gpu_runs/2026-11-27/results.json \\
        --bundled benchmarks/cpu_runs/2026-11-27/eval_default_test.json \\
        [--row LABEL=RUN_DIR] [--notes benchmarks/accuracy_notes.md]

``--results`` is the summary of ``benchmarks/train_gpu.py`` (one row per architecture);
``--row`` a folder of checkpoints (ann.pt, snn0.pt, snn0_T10.pt, snn_weights_only.pt, snn.pt);
``--bundled`` the ``python -m model.evaluate --data DIR --json`` report of the bundled model,
whose own checkpoint supplies the ANN and converted accuracies of its lineage. Every number is a
test accuracy measured once at the end of its stage on the full CIFAR-10 (JPEG q75) test set;
model selection used the validation split only. ``--notes`` is appended as written.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from model import checkpoint as C
from model.bundled import bundled_model_path

HERE = Path(__file__).resolve().parent
# Table 1 of the paper (CIFAR-10, T = 5): ANN, converted, weights only, DIET-SNN
PAPER = {"vgg6": (90.80, 86.19, 89.24, 89.42), "vgg16": (93.72, 73.52, 91.68, 92.70),
         "resnet20": (92.79, 47.26, 90.29, 91.78)}
COLUMNS = (("ann", "ann"), ("convert_T5", "converted"), ("snn_weights_only", "snn"),
           ("snn", "snn"), ("convert_T10", "converted"))
FILES = {"ann": "ann.pt", "convert_T5": "snn0.pt", "snn_weights_only": "snn_weights_only.pt",
         "snn": "snn.pt", "convert_T10": "snn0_T10.pt"}


def epochs_behind(history: list, stage: str) -> int:
    """Epochs of ``stage`` behind the stored weights, over all its runs (``--init`` chains):
    up to each run's kept (best-on-validation) epoch where the history records it, else all."""
    return sum(h.get("kept_epoch") or len(h.get("epochs", []))
               for h in history if h.get("stage") == stage)


def _entry(metrics: dict, history: list, stage: str) -> dict:
    last = history[-1] if history else {}
    return {"acc": metrics.get(f"{stage}_test_accuracy"),
            "n": metrics.get("test_samples"),
            "epochs": epochs_behind(history, stage) if stage != "converted" else None,
            "scale": last.get("scale"), "search": last.get("scale_search") or [],
            "seconds": metrics.get(f"{stage}_seconds"),
            "device": metrics.get(f"{stage}_device") or
            f"cpu ({metrics.get(f'{stage}_threads', '?')} threads)"}


def rows_from_results(path: Path) -> list[dict]:
    data = json.loads(path.read_text())["jobs"]
    archs = list(dict.fromkeys(name.split("/")[0] for name in data))
    rows = []
    for arch in archs:
        cells = {}
        for key, stage in COLUMNS:
            job = data.get(f"{arch}/{key}")
            if job and job.get("state") == "done":
                cells[key] = _entry(job["metrics"], job["history"], stage)
        rows.append({"label": f"{arch} ({path.parent.name})", "arch": arch, "cells": cells})
    return rows


def row_from_folder(label: str, run: Path) -> dict:
    cells, arch = {}, label
    for key, stage in COLUMNS:
        p = run / FILES[key]
        if p.exists():
            ck = C.load(p)
            arch = ck.arch
            cells[key] = _entry(ck.metrics, ck.history, stage)
    return {"label": label, "arch": arch, "cells": cells}


def row_from_bundled(eval_json: Path) -> dict:
    ev = json.loads(eval_json.read_text())
    ck = C.load(bundled_model_path())
    ann = [h for h in ck.history if h.get("stage") == "ann"]
    conv = [h for h in ck.history if h.get("stage") == "converted"]
    snn = [h for h in ck.history if h.get("stage") == "snn"]
    cells = {"ann": _entry(ck.metrics, ann, "ann"),
             "convert_T5": {**_entry(ck.metrics, conv, "converted"), "search": []},
             "snn": {"acc": ev["accuracy"], "n": ev["samples"],
                     "epochs": epochs_behind(snn, "snn"), "search": [],
                     "device": ck.metrics.get("snn_device", "?")}}
    return {"label": "**bundled default**", "arch": ck.arch, "cells": cells}


def _fmt(cell: dict | None, epochs: bool = False) -> str:
    if not cell or cell.get("acc") is None:
        return "-"
    text = f"{100 * cell['acc']:.2f}"
    if cell.get("n") and cell["n"] != 10000:
        text += f" ({cell['n']} img)"
    if epochs and cell.get("epochs"):
        text += f" ({cell['epochs']} ep)"
    if cell.get("scale") is not None and not epochs:
        text += f" (×{cell['scale']})"
    return text


def table(rows: list[dict]) -> list[str]:
    lines = ["| model | ANN | converted T=5 | weights only T=5 | DIET-SNN T=5 | converted T=10 | "
             "paper (ANN / conv / W / DIET) | hardware |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["cells"]
        paper = PAPER.get(r["arch"])
        devices = sorted({v["device"] for v in c.values() if v.get("device")})
        lines.append(
            f"| {r['label']} | {_fmt(c.get('ann'), True)} | {_fmt(c.get('convert_T5'))} | "
            f"{_fmt(c.get('snn_weights_only'), True)} | {_fmt(c.get('snn'), True)} | "
            f"{_fmt(c.get('convert_T10'))} | "
            f"{' / '.join(f'{v:.2f}' for v in paper) if paper else '-'} | "
            f"{'; '.join(devices)} |")
    return lines


def scale_table(rows: list[dict]) -> list[str]:
    lines = ["| model | T | scale: validation accuracy % (spikes / neuron / image) | chosen |",
             "|---|---|---|---|"]
    for r in rows:
        for key, T in (("convert_T5", 5), ("convert_T10", 10)):
            cell = r["cells"].get(key)
            if not cell or not cell["search"]:
                continue
            parts = ", ".join(f"{s['scale']}: {100 * s['val_accuracy']:.2f} "
                              f"({s['spike_rate']:.2f})" for s in cell["search"])
            lines.append(f"| {r['label']} | {T} | {parts} | {cell['scale']} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", action="append", default=[], help="train_gpu.py results.json")
    ap.add_argument("--row", action="append", default=[], help="LABEL=RUN_DIR")
    ap.add_argument("--bundled", help="model.evaluate JSON of the bundled model (full test set)")
    ap.add_argument("--notes", default=str(HERE / "accuracy_notes.md"))
    ap.add_argument("--out", default=str(HERE / "accuracy.md"))
    args = ap.parse_args()
    rows = [row_from_bundled(Path(args.bundled))] if args.bundled else []
    for path in args.results:
        rows += rows_from_results(Path(path))
    for spec in args.row:
        label, run = spec.split("=", 1)
        rows.append(row_from_folder(label, Path(run)))
    lines = ["# Accuracy: the paper's Table 1 on our runs", "",
             "CIFAR-10 (JPEG q75: the JPEG copy costs 2–3 points against published numbers), "
             "test accuracy in % on all 10,000 test images, measured once at the end of each "
             "stage; model selection on the validation split only (the last 500 training "
             "images of each class). `(N ep)`: epochs behind the stored weights (up to the "
             "best epoch on validation where recorded); `(×s)`: the threshold scale "
             "chosen on validation. Generated by `python benchmarks/accuracy.py` (see its "
             "docstring for the inputs).", "", *table(rows), "",
             "## Threshold scale at conversion, searched on validation", "",
             "Thresholds are the 99.7th percentile of each layer's input current (layer by "
             "layer, 512 training images), then multiplied by the scale "
             "(`python -m model.train convert --scale 0.4,0.5,...` keeps the best on "
             "validation).", "", *scale_table(rows), ""]
    if args.notes and Path(args.notes).exists():
        lines += [Path(args.notes).read_text().rstrip(), ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

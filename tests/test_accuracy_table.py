"""benchmarks/accuracy.py: the epoch counts of the accuracy table."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _accuracy_module():
    spec = importlib.util.spec_from_file_location("accuracy", ROOT / "benchmarks" / "accuracy.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(n: int, kept: int | None = None, stage: str = "snn") -> dict:
    entry = {"stage": stage, "epochs": [{"epoch": i + 1} for i in range(n)]}
    if kept is not None:
        entry["kept_epoch"] = kept
    return entry


def test_epochs_behind_counts_up_to_each_runs_kept_epoch():
    acc = _accuracy_module()
    # a 9-epoch run without the record, then a continuation (--init) of 3 that kept epoch 1
    history = [_run(38, stage="ann"), _run(9), {"stage": "converted"}, _run(3, kept=1)]
    assert acc.epochs_behind(history, "snn") == 10
    assert acc.epochs_behind(history, "ann") == 38
    assert acc.epochs_behind([_run(4, kept=4), _run(5, kept=2)], "snn") == 6
    assert acc.epochs_behind([], "snn") == 0

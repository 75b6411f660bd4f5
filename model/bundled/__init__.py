"""The bundled default: a compact DIET-SNN trained on CIFAR-10 (JPEG q75) and a stratified
sample of 1,000 CIFAR-10 test images (see PROVENANCE.md beside this file)."""

from __future__ import annotations

from pathlib import Path

from ..data import DataError, _read_npz

HERE = Path(__file__).resolve().parent
MODEL = HERE / "default.pt"
SAMPLE = HERE / "cifar10_test_sample.npz"


def bundled_model_path() -> Path:
    if not MODEL.is_file():
        raise DataError(f"the bundled model {MODEL} is missing; pass --model FILE")
    return MODEL


def bundled_sample():
    """The bundled test images as an ArraySet (uint8 (1000, 32, 32, 3), labels)."""
    if not SAMPLE.is_file():
        raise DataError(f"the bundled sample {SAMPLE} is missing; pass --data DIR")
    return _read_npz(SAMPLE)

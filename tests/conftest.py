"""Shared fixtures: one torch thread, tiny data written by the tests themselves."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)


def make_images(n: int, size: int = 32, classes: int = 10, seed: int = 0):
    """Learnable toy images: each class has its own colour (the same for every seed), plus
    noise drawn from ``seed`` (uint8 NHWC)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    base = np.random.default_rng(12345).integers(40, 215, size=(classes, 1, 1, 3))
    noise = rng.normal(0, 25, size=(n, size, size, 3))
    images = np.clip(base[labels] + noise, 0, 255).astype(np.uint8)
    return images, labels.astype(np.int64)


@pytest.fixture
def npz_dir(tmp_path):
    """A folder with train.npz (400 images) and test.npz (100 images), 10 classes, 32x32."""
    for split, n, seed in (("train", 400, 0), ("test", 100, 1)):
        images, labels = make_images(n, seed=seed)
        np.savez(tmp_path / f"{split}.npz", images=images, labels=labels)
    return tmp_path


@pytest.fixture
def interrupt(monkeypatch):
    """``interrupt(owner, name, n)``: ``owner.name`` raises KeyboardInterrupt on its n-th call
    (a run killed there); returns a function that puts the real one back."""
    def patch(owner, name: str, n: int):
        real, calls = getattr(owner, name), {"n": 0}

        def wrapper(*a, **k):
            calls["n"] += 1
            if calls["n"] == n:
                raise KeyboardInterrupt
            return real(*a, **k)

        monkeypatch.setattr(owner, name, wrapper)
        return lambda: monkeypatch.setattr(owner, name, real)
    return patch

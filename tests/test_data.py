"""Every data format loads from files written here; bad inputs give one clear DataError."""

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from model import data as D
from tests.conftest import make_images


def write_cifar10(root, per_batch=20):
    d = root / "cifar-10-batches-py"
    d.mkdir()
    for i, name in enumerate([f"data_batch_{k}" for k in range(1, 6)] + ["test_batch"]):
        imgs, labels = make_images(per_batch, seed=i)
        rows = imgs.transpose(0, 3, 1, 2).reshape(per_batch, -1)
        with open(d / name, "wb") as f:
            pickle.dump({"data": rows, "labels": labels.tolist()}, f)
    return imgs, labels


def test_cifar10_batches(tmp_path):
    last_imgs, last_labels = write_cifar10(tmp_path)
    train = D.load_split(tmp_path, "train")
    test = D.load_split(tmp_path, "test", 32)
    assert len(train) == 100 and len(test) == 20
    assert np.array_equal(test.images, last_imgs)  # CHW rows -> HWC images, exactly
    assert np.array_equal(test.labels, last_labels)


def test_cifar100(tmp_path):
    d = tmp_path / "cifar-100-python"
    d.mkdir()
    for name in ("train", "test"):
        imgs, _ = make_images(30, classes=100)
        with open(d / name, "wb") as f:
            pickle.dump({"data": imgs.transpose(0, 3, 1, 2).reshape(30, -1),
                         "fine_labels": list(range(30)), "coarse_labels": [0] * 30}, f)
    (d / "meta").write_bytes(pickle.dumps({}))
    ds = D.load_split(tmp_path, "test")
    assert D.detect_format(tmp_path) == "cifar100" and ds.labels.tolist() == list(range(30))


def test_npz(npz_dir):
    ds = D.load_split(npz_dir, "train", 32)
    assert ds.images.shape == (400, 32, 32, 3)


def test_image_folder(tmp_path):
    imgs, labels = make_images(12, classes=3)
    for split in ("train", "val"):
        for i, (im, c) in enumerate(zip(imgs, labels)):
            p = tmp_path / split / f"class{c}"
            p.mkdir(parents=True, exist_ok=True)
            Image.fromarray(im).save(p / f"{i}.png")
    ds = D.load_split(tmp_path, "test", 32)  # falls back to val/
    assert len(ds) == 12 and sorted(set(ds.labels.tolist())) == [0, 1, 2]
    assert any(np.array_equal(ds.images[k], imgs[0]) for k in range(len(ds)))  # PNG lossless


def test_large_image_folder_is_lazy_and_resized(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (tmp_path / "val" / c).mkdir(parents=True)
        Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(
            tmp_path / "val" / c / "x.jpg")
    ds = D.load_split(tmp_path, "test", 224)
    assert isinstance(ds, D.FolderSet)
    x, y = next(D.batches(ds, 2, (0.5,) * 3, (0.25,) * 3))
    assert x.shape == (2, 3, 224, 224) and y.tolist() == [0, 1]
    xa, _ = next(D.batches(ds, 2, (0.5,) * 3, (0.25,) * 3, augment=True))
    assert xa.shape == (2, 3, 224, 224)


def test_stratified_limit_and_validation_split(npz_dir):
    ds = D.load_split(npz_dir, "train")
    idx = D.stratified_indices(ds.labels, 50, seed=3)
    assert len(idx) == 50 and np.bincount(ds.labels[idx]).tolist() == [5] * 10
    train, val = D.train_val_split(ds, 0.1)
    assert len(val) == 40 and len(train) == 360
    assert np.bincount(val.labels).tolist() == [4] * 10


def test_augmentation_is_seeded_and_shape_preserving(npz_dir):
    ds = D.load_split(npz_dir, "train")
    a = next(D.batches(ds, 8, (0.5,) * 3, (0.2,) * 3, shuffle=True, augment=True, seed=1))
    b = next(D.batches(ds, 8, (0.5,) * 3, (0.2,) * 3, shuffle=True, augment=True, seed=1))
    c = next(D.batches(ds, 8, (0.5,) * 3, (0.2,) * 3, shuffle=True, augment=True, seed=2))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    assert a[0].shape == (8, 3, 32, 32)


@pytest.mark.parametrize("setup,match", [
    (lambda p: p / "nope", "does not exist"),
    (lambda p: p, "no cifar-10-batches-py"),
])
def test_bad_folders(tmp_path, setup, match):
    with pytest.raises(D.DataError, match=match):
        D.load_split(setup(tmp_path), "train")


def test_wrong_image_size(npz_dir):
    with pytest.raises(D.DataError, match="the model expects 224x224"):
        D.load_split(npz_dir, "train", 224)


def test_corrupt_npz(tmp_path):
    (tmp_path / "train.npz").write_bytes(b"not a zip")
    with pytest.raises(D.DataError, match="train.npz"):
        D.load_split(tmp_path, "train")

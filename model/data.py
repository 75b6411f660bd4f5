"""Datasets in plain torch/numpy/Pillow (torchvision cannot be installed beside the CPU torch).

``--data DIR`` may hold any of:
- the standard ``cifar-10-batches-py`` or ``cifar-100-python`` folders (or be one);
- ``train.npz`` / ``test.npz`` with ``images`` uint8 (N, H, W, 3) and ``labels`` int;
- an ImageFolder tree ``train/<class>/*.jpg|png`` and ``val/`` or ``test/`` (ImageNet layout,
  or ``cifar10-jpeg.tar.xz`` unpacked).

Small images (≤ 64 px) are decoded once into memory; large ones (ImageNet) are decoded lazily
by DataLoader workers. Augmentation (random crop with padding + flip for CIFAR sizes, random
resized crop + flip for large images) and per-channel normalisation are done here.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp")

NORMALISATION = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
DATASETS = {"cifar10": (10, 32), "cifar100": (100, 32), "imagenet": (1000, 224)}


class DataError(ValueError):
    """A data folder that cannot be read as any supported format (message names the path)."""


@dataclass
class ArraySet:
    """Images in memory: uint8 (N, H, W, 3) RGB and int64 labels (N,)."""

    images: np.ndarray
    labels: np.ndarray
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[1])

    def subset(self, idx: np.ndarray) -> ArraySet:
        return ArraySet(self.images[idx], self.labels[idx], self.source)


@dataclass
class FolderSet:
    """Images decoded lazily from files (large images such as ImageNet)."""

    files: list[str]
    labels: np.ndarray
    image_size: int
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, idx: np.ndarray) -> FolderSet:
        return FolderSet([self.files[i] for i in idx], self.labels[idx], self.image_size,
                         self.source)


Dataset = ArraySet | FolderSet


# ------------------------------------------------------------------------------ format readers
def _numpy_pickle_globals() -> dict[tuple[str, str], object]:
    """The only globals a CIFAR batch file may name: what rebuilds a numpy array and its dtype.

    The original files (Python 2 ``cPickle``, protocol 2) name ``numpy.core.multiarray
    ._reconstruct``, ``numpy.ndarray`` and ``numpy.dtype``; the same dict written again by
    Python 3 names numpy 2's ``numpy._core`` module instead, ``_frombuffer`` (protocol 5) or
    ``_codecs.encode(text, 'latin1')`` (bytes in protocol 2). Each name maps to this numpy's
    own function."""
    reconstruct = np.zeros(0).__reduce__()[0]
    frombuffer = np.zeros(0).__reduce_ex__(5)[0]
    out = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype,
           ("_codecs", "encode"): _latin1_bytes}
    for core in ("numpy.core", "numpy._core"):
        out[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        out[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return out


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """Protocol 2's spelling of a bytes object: ``_codecs.encode(text, 'latin1')``."""
    if encoding != "latin1" or not isinstance(text, str):
        raise _Refused(f"_codecs.encode with {encoding!r}")
    return text.encode("latin1")


class _Refused(pickle.UnpicklingError):
    """A pickle that names a global outside :func:`_numpy_pickle_globals`."""


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that builds dicts, lists, strings, numbers and numpy arrays and nothing
    else: a file naming any other global (``os.system`` in a planted ``__reduce__``) is refused
    before anything of it runs."""

    allowed = _numpy_pickle_globals()

    def find_class(self, module: str, name: str):
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise _Refused(f"{module}.{name}") from None


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            d = _CifarUnpickler(f, encoding="latin1").load()
    except _Refused as e:
        raise DataError(f"{path}: refused: the file asks to call or build {e}; a CIFAR batch "
                        f"holds only a dict of arrays, lists and strings, and nothing of it "
                        f"was run") from None
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: not a readable CIFAR batch file ({type(e).__name__})") from None
    if not isinstance(d, dict):
        raise DataError(f"{path}: not a CIFAR batch file (a {type(d).__name__}, expected a dict "
                        f"with 'data' and labels)")
    return d


def _batch_images(d: dict, path: Path) -> np.ndarray:
    """The 'data' rows of a CIFAR batch (uint8 (N, 3072), CHW order) as (N, 32, 32, 3)."""
    if "data" not in d:
        raise DataError(f"{path}: no 'data' key (keys: {', '.join(map(repr, d)) or 'none'}); "
                        f"expected a uint8 array of shape (N, 3072)")
    rows = d["data"]
    if not isinstance(rows, np.ndarray) or rows.ndim != 2 or rows.shape[1] != 3 * 32 * 32 \
            or rows.dtype.kind not in "ui":
        what = (f"{rows.dtype} array of shape {rows.shape}" if isinstance(rows, np.ndarray)
                else type(rows).__name__)
        raise DataError(f"{path}: 'data' is a {what}; expected a uint8 array of shape "
                        f"(N, 3072)")
    if rows.dtype != np.uint8 and rows.size and (rows.min() < 0 or rows.max() > 255):
        raise DataError(f"{path}: 'data' values run from {rows.min()} to {rows.max()}; "
                        f"expected pixels 0..255")
    return np.ascontiguousarray(rows.astype(np.uint8, copy=False).reshape(-1, 3, 32, 32)
                                .transpose(0, 2, 3, 1))


def check_labels(labels, n: int, source: str, key: str = "labels",
                 classes: int | None = None) -> np.ndarray:
    """``labels`` as int64 (n,), or a :class:`DataError` naming the source, the key and the
    first bad value: whole numbers (no NaN, no fractions), one per image, in 0..classes-1."""
    expect = f"class numbers 0..{classes - 1}" if classes is not None else "class numbers >= 0"
    try:
        a = np.asarray(labels)
    except Exception:  # noqa: BLE001 - ragged or odd objects: not labels
        a = np.asarray([None], dtype=object)
    if a.ndim != 1:
        raise DataError(f"{source}: {key!r} has shape {a.shape}; expected one {expect[:-1]} "
                        f"per image")
    if a.size and a.dtype.kind not in "uib":
        whole = np.array([isinstance(v, int | float | np.number) and not isinstance(v, bool)
                          and np.isfinite(v) and float(v) == round(float(v)) for v in a.tolist()])
        if not whole.all():
            bad = a.tolist()[int(np.argmin(whole))]
            raise DataError(f"{source}: {key!r} holds {bad!r}; expected whole {expect}")
        a = a.astype(np.float64)
    if len(a) != n:
        raise DataError(f"{source}: {n} images but {len(a)} {key!r}")
    a = a.astype(np.int64)
    if a.size and (a.min() < 0 or (classes is not None and a.max() >= classes)):
        bad = int(a.min()) if a.min() < 0 else int(a.max())
        raise DataError(f"{source}: {key!r} holds {bad}; expected {expect}")
    return a


def _read_cifar10(folder: Path, split: str) -> ArraySet:
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    images, labels = [], []
    for name in names:
        p = folder / name
        if not p.is_file():
            raise DataError(f"{folder}: missing CIFAR-10 file {name}")
        d = _unpickle(p)
        images.append(_batch_images(d, p))
        if "labels" not in d:
            raise DataError(f"{p}: no 'labels' key; expected a list of class numbers 0..9")
        labels.append(check_labels(d["labels"], len(images[-1]), str(p), "labels", 10))
    return ArraySet(np.concatenate(images), np.concatenate(labels), str(folder))


def _read_cifar100(folder: Path, split: str) -> ArraySet:
    p = folder / ("train" if split == "train" else "test")
    if not p.is_file():
        raise DataError(f"{folder}: missing CIFAR-100 file {p.name}")
    d = _unpickle(p)
    images = _batch_images(d, p)
    if "fine_labels" not in d:
        raise DataError(f"{p}: no 'fine_labels' key; expected a list of class numbers 0..99")
    return ArraySet(images, check_labels(d["fine_labels"], len(images), str(p), "fine_labels",
                                         100), str(folder))


def _read_npz(path: Path) -> ArraySet:
    try:
        with np.load(path) as z:
            images, labels = z["images"], z["labels"]
    except Exception as e:  # noqa: BLE001
        raise DataError(f"{path}: not an npz with 'images' and 'labels' ({e})") from e
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise DataError(f"{path}: 'images' must be uint8 (N, H, W, 3), got {images.dtype} "
                        f"{images.shape}")
    if images.shape[1] != images.shape[2]:
        raise DataError(f"{path}: images must be square, got {images.shape[1:3]}")
    return ArraySet(images, check_labels(labels, len(images), str(path)), str(path))


def _decode(path: str, size: int) -> np.ndarray:
    """Decode one image to RGB uint8 (size, size, 3): resize the short side, centre crop.

    Large images follow the ImageNet evaluation convention (short side to size·256/224).
    """
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        w, h = im.size
        if (w, h) != (size, size):
            short = round(size * 256 / 224) if size >= 64 else size
            scale = short / min(w, h)
            im = im.resize((max(size, round(w * scale)), max(size, round(h * scale))),
                           Image.BILINEAR)
            w, h = im.size
            left, top = (w - size) // 2, (h - size) // 2
            im = im.crop((left, top, left + size, top + size))
        return np.array(im, dtype=np.uint8)


def _read_folder(folder: Path, image_size: int | None) -> Dataset:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not classes:
        raise DataError(f"{folder}: no class sub-folders (expected {folder}/<class>/*.jpg)")
    files, labels = [], []
    for i, c in enumerate(classes):
        for f in sorted((folder / c).iterdir()):
            if f.suffix.lower() in IMAGE_EXTS:
                files.append(str(f))
                labels.append(i)
    if not files:
        raise DataError(f"{folder}: no image files ({', '.join(IMAGE_EXTS)}) in class folders")
    labels = np.asarray(labels, dtype=np.int64)
    if image_size is None:
        from PIL import Image

        with Image.open(files[0]) as im:
            image_size = min(im.size)
    if image_size <= 64:
        try:
            images = np.stack([_decode(f, image_size) for f in files])
        except Exception as e:  # noqa: BLE001
            raise DataError(f"{folder}: cannot decode images ({e})") from e
        return ArraySet(images, labels, str(folder))
    return FolderSet(files, labels, image_size, str(folder))


def detect_format(data_dir: str | Path) -> str:
    """One of 'cifar10', 'cifar100', 'npz', 'folder'; DataError if none fits."""
    d = Path(data_dir)
    if not d.exists():
        raise DataError(f"{d}: data folder does not exist")
    if not d.is_dir():
        raise DataError(f"{d}: not a folder")
    if (d / "cifar-10-batches-py").is_dir() or (d / "data_batch_1").is_file():
        return "cifar10"
    if (d / "cifar-100-python").is_dir() or (d / "meta").is_file() and (d / "train").is_file():
        return "cifar100"
    if (d / "train.npz").is_file() or (d / "test.npz").is_file():
        return "npz"
    if (d / "train").is_dir() or (d / "test").is_dir() or (d / "val").is_dir():
        return "folder"
    raise DataError(f"{d}: no cifar-10-batches-py, cifar-100-python, train.npz/test.npz or "
                    f"train/ val/ test/ image folders found")


def load_split(data_dir: str | Path, split: str, image_size: int | None = None) -> Dataset:
    """Load the 'train' or 'test' split (ImageFolder: 'test/' or else 'val/')."""
    d = Path(data_dir)
    fmt = detect_format(d)
    if fmt == "cifar10":
        ds = _read_cifar10(d / "cifar-10-batches-py" if (d / "cifar-10-batches-py").is_dir()
                           else d, split)
    elif fmt == "cifar100":
        ds = _read_cifar100(d / "cifar-100-python" if (d / "cifar-100-python").is_dir()
                            else d, split)
    elif fmt == "npz":
        p = d / f"{split}.npz"
        if not p.is_file():
            raise DataError(f"{d}: no {split}.npz")
        ds = _read_npz(p)
    else:
        names = ["train"] if split == "train" else ["test", "val"]
        sub = next((d / n for n in names if (d / n).is_dir()), None)
        if sub is None:
            raise DataError(f"{d}: no {' or '.join(names)}/ folder")
        ds = _read_folder(sub, image_size)
    if len(ds) == 0:
        raise DataError(f"{d}: the {split} split is empty")
    if image_size is not None and ds.image_size != image_size:
        raise DataError(f"{ds.source}: images are {ds.image_size}x{ds.image_size}, the model "
                        f"expects {image_size}x{image_size}")
    return ds


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """n indices with classes as balanced as possible (round robin over shuffled classes)."""
    if n <= 0:
        raise DataError(f"--limit must be positive, got {n}")
    if n >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    per_class = [rng.permutation(np.flatnonzero(labels == c)) for c in np.unique(labels)]
    out: list[int] = []
    depth = 0
    while len(out) < n:
        for idx in per_class:
            if depth < len(idx) and len(out) < n:
                out.append(int(idx[depth]))
        depth += 1
    return np.sort(np.asarray(out))


def train_val_split(ds: Dataset, val_fraction: float = 0.1) -> tuple[Dataset, Dataset]:
    """Hold out the last ``val_fraction`` of each class of the training set for validation
    (CIFAR-10: the last 500 images of each class)."""
    val = []
    for c in np.unique(ds.labels):
        idx = np.flatnonzero(ds.labels == c)
        k = max(1, int(round(len(idx) * val_fraction)))
        val.extend(idx[-k:])
    val = np.sort(np.asarray(val))
    train = np.setdiff1d(np.arange(len(ds)), val)
    return ds.subset(train), ds.subset(val)


# ------------------------------------------------------------------------------ batches
def check_channels(image_shape: tuple[int, ...], channels: int) -> None:
    """Images (H, W, C) against a model whose input has ``channels`` channels."""
    if len(image_shape) != 3 or image_shape[2] != channels:
        got = image_shape[-1] if image_shape else 0
        raise DataError(f"the data's images have shape {tuple(image_shape)} (H, W, C), "
                        f"{got} channel(s); the model's input has shape ({channels}, H, W) "
                        f"(C, H, W), {channels} channel(s)")


def normalise(images_uint8: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 (B, H, W, C) -> float32 (B, C, H, W), (x/255 − mean) / std, on x's device.

    ``mean`` and ``std`` have one value per channel of the model's input; images with another
    channel count are a :class:`DataError` naming both shapes."""
    check_channels(tuple(images_uint8.shape[1:]), len(mean))
    x = images_uint8.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)
    c = x.shape[1]
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    return (x - m) / s


def _augment_small(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip on uint8 (B, H, W, 3).

    The random draws come from ``gen`` (on the CPU), so the result does not depend on the device
    that holds ``x``."""
    b, h, w, _ = x.shape
    dev = x.device
    padded = torch.zeros((b, h + 2 * pad, w + 2 * pad, 3), dtype=x.dtype, device=dev)
    padded[:, pad:pad + h, pad:pad + w] = x
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev)[None, :])[:, :, None]
    cols = (dx[:, None] + torch.arange(w, device=dev)[None, :])[:, None, :]
    out = padded[torch.arange(b, device=dev)[:, None, None], rows, cols]
    flip = (torch.rand(b, generator=gen) < 0.5).to(dev)
    return torch.where(flip[:, None, None, None], out.flip(2), out)


class _FolderItems(torch.utils.data.Dataset):
    def __init__(self, ds: FolderSet, augment: bool, seed: int):
        self.ds, self.augment, self.seed = ds, augment, seed

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        if not self.augment:
            return torch.from_numpy(_decode(self.ds.files[i], self.ds.image_size))
        from PIL import Image

        rng = np.random.default_rng((self.seed, i))
        size = self.ds.image_size
        with Image.open(self.ds.files[i]) as im:
            im = im.convert("RGB")
            w, h = im.size
            for _ in range(10):
                area = w * h * rng.uniform(0.08, 1.0)
                ratio = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
                cw, ch = int(round((area * ratio) ** 0.5)), int(round((area / ratio) ** 0.5))
                if 0 < cw <= w and 0 < ch <= h:
                    x0, y0 = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
                    break
            else:
                cw = ch = min(w, h)
                x0, y0 = (w - cw) // 2, (h - ch) // 2
            im = im.resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
            a = np.array(im, dtype=np.uint8)
            if rng.random() < 0.5:
                a = a[:, ::-1]
            return torch.from_numpy(np.ascontiguousarray(a))


def batches(ds: Dataset, batch_size: int, mean, std, *, shuffle: bool = False,
            augment: bool = False, seed: int = 0, epoch: int = 0,
            workers: int = 0, device: torch.device | str | None = None,
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (normalised float32 images (B, 3, H, W), int64 labels (B,)) on ``device``.

    Shuffling and augmentation are determined by (seed, epoch): a resumed run sees the same
    batches as an uninterrupted one, on any device. In-memory sets are copied to the device once
    per call and cropped/flipped there (no per-batch host work on a GPU).
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if isinstance(ds, ArraySet):  # before any work: one line naming both shapes
        check_channels(tuple(ds.images.shape[1:]), len(mean))
    gen = torch.Generator().manual_seed(seed * 100003 + epoch)
    order = torch.randperm(len(ds), generator=gen) if shuffle else torch.arange(len(ds))
    labels = torch.from_numpy(ds.labels).to(dev)
    if isinstance(ds, ArraySet):
        images = torch.from_numpy(ds.images).to(dev)
        order_dev = order.to(dev)
        for i in range(0, len(ds), batch_size):
            idx = order_dev[i:i + batch_size]
            x = images[idx]
            if augment:
                x = _augment_small(x, gen)
            yield normalise(x, mean, std), labels[idx]
        return
    items = _FolderItems(ds, augment, seed * 100003 + epoch)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(items, order.tolist()), batch_size=batch_size,
        num_workers=workers)
    for i, x in enumerate(loader):
        idx = order[i * batch_size:i * batch_size + len(x)].to(dev)
        yield normalise(x.to(dev, non_blocking=True), mean, std), labels[idx]

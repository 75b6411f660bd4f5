"""Datasets in plain torch/numpy/Pillow (torchvision cannot be installed beside the CPU torch).

``--data`` may name a folder holding any of:
- the standard ``cifar-10-batches-py`` or ``cifar-100-python`` folders (or be one);
- ``train.npz`` / ``test.npz``: arrays (below) for each split;
- an ImageFolder tree ``train/<class>/*.jpg|png`` and ``val/`` or ``test/`` (ImageNet layout,
  or ``cifar10-jpeg.tar.xz`` unpacked);

or a file:
- ``F.npz``: ``x``/``y`` (or ``images``/``labels``) is a test set; ``x_train``/``y_train`` and
  ``x_test``/``y_test`` hold both splits;
- ``F.npy``: inputs only (no labels), a test set.

Arrays are uint8 (pixels, scaled by 1/255) or float16/32/64 (taken as they are) of any channel
count and size: (N, C, H, W) or (N, H, W, C), decided against the model's input shape (C, H,
W), (N, C, H, W) when both fit; (N, H, W) for one channel; (N, F) for an input (F, 1, 1).
docs/data.md has the rules. In memory they keep their dtype and are held as an (N, H, W, C)
view; batches convert to float32 per batch.

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


INPUT_DTYPES = ("uint8", "float16", "float32", "float64")
Shape = tuple[int | None, int | None, int | None]  # an expected (C, H, W); None: any


class DataError(ValueError):
    """A data folder that cannot be read as any supported format (message names the path)."""


@dataclass
class ArraySet:
    """Inputs in memory, (N, H, W, C): uint8 pixels 0..255 (RGB images, 3 channels) or float
    values taken as they are (any channel count; possibly a view of an (N, C, H, W) array), and
    int64 labels (N,), or None for inputs without labels (a ``.npy`` file)."""

    images: np.ndarray
    labels: np.ndarray | None
    source: str = ""

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> int:
        """H, in pixels."""
        return int(self.images.shape[1])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one input, as the model sees it."""
        _, h, w, c = self.images.shape
        return int(c), int(h), int(w)

    def subset(self, idx: np.ndarray) -> ArraySet:
        return ArraySet(self.images[idx], None if self.labels is None else self.labels[idx],
                        self.source)


@dataclass
class FolderSet:
    """Images decoded lazily from files (large images such as ImageNet)."""

    files: list[str]
    labels: np.ndarray
    image_size: int
    source: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(3, size, size): RGB images."""
        return 3, self.image_size, self.image_size

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


# ------------------------------------------------------------------------------ arrays
def expected_shape(input_shape: int | tuple[int, ...] | None) -> Shape | None:
    """The model's input as an expected (C, H, W): a (C, H, W) tuple as it is; an int ``s``
    (the older callers' image size) as (any C, s, s); None as no expectation."""
    if input_shape is None:
        return None
    if isinstance(input_shape, int | np.integer):
        return None, int(input_shape), int(input_shape)
    c, h, w = (int(v) for v in input_shape)
    return c, h, w


def describe_input(shape: tuple[int, int, int]) -> str:
    """'32x32 with 3 channel(s)' for an input shape (C, H, W)."""
    c, h, w = shape
    return f"{h}x{w} with {c} channel(s)"


def _fits(got: tuple[int, ...], want: tuple[int | None, ...]) -> bool:
    return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))


def _shape_error(where: str, shape: tuple[int, ...], exp: Shape) -> DataError:
    """One line naming the array's shape, the model's input shape and the shapes that fit."""
    c, h, w = exp
    cc, hh, ww = ("C" if c is None else c), ("H" if h is None else h), ("W" if w is None else w)
    alts = [f"(N, {cc}, {hh}, {ww})", f"(N, {hh}, {ww}, {cc})"]
    if c in (1, None):
        alts.append(f"(N, {hh}, {ww})" + (" for one channel" if c is None else ""))
    if h in (1, None) and w in (1, None):
        alts.append(f"(N, {c})" if c is not None else "(N, F) for an input (F, 1, 1)")
    read = ""
    if len(shape) == 4 and h is not None and w is not None:
        if shape[2:] == (h, w):
            read = f", read as (N, C, H, W): {shape[1]} channel(s)"
        elif shape[1:3] == (h, w):
            read = f", read as (N, H, W, C): {shape[3]} channel(s)"
    size = f"{hh}x{ww} inputs" if h is not None else "inputs"
    model = (f"the model expects {size} of {c} channel(s), input shape ({c}, {hh}, {ww}) "
             f"(C, H, W)" if c is not None else f"the model expects {size}")
    return DataError(f"{where} has shape {tuple(shape)}{read}; {model}: expected "
                     f"{' or '.join(alts)}")


def arrange(a: np.ndarray, exp: Shape | None, where: str) -> np.ndarray:
    """An input array as an (N, H, W, C) view (no copy) of the layout that fits ``exp``.

    (N, C, H, W) when it fits, else (N, H, W, C) (both fit, e.g. C = H = W: channels first);
    (N, H, W) for one channel; (N, F) for an input (F, 1, 1). With no expectation, 4-D arrays
    are channels-last when the last axis has at most 4 entries and the second more (images as
    Pillow and today's files store them), channels-first otherwise. Anything else is a
    :class:`DataError` naming ``where``, the array's shape and the shapes that fit."""
    shape = tuple(int(v) for v in a.shape)
    if exp is None:
        exp = ((None, None, None) if a.ndim != 4 else
               (shape[3], shape[1], shape[2]) if shape[3] <= 4 < shape[1] else
               (shape[1], shape[2], shape[3]))
    c, h, w = exp
    if a.ndim == 4 and _fits(shape[1:], (c, h, w)):
        return a.transpose(0, 2, 3, 1)
    if a.ndim == 4 and _fits(shape[1:], (h, w, c)):
        return a
    if a.ndim == 3 and c in (1, None) and _fits(shape[1:], (h, w)):
        return a[:, :, :, None]
    if a.ndim == 2 and h in (1, None) and w in (1, None) and _fits(shape[1:], (c,)):
        return a[:, None, None, :]
    raise _shape_error(where, shape, exp)


def _check_values(a: np.ndarray, where: str, chunk: int = 1024) -> None:
    """dtype uint8 or float, floats finite (counted ``chunk`` inputs at a time: no full-size
    temporary)."""
    if a.dtype.name not in INPUT_DTYPES:
        raise DataError(f"{where} has dtype {a.dtype}; expected one of {', '.join(INPUT_DTYPES)}"
                        f" (uint8 pixels are scaled by 1/255, floats taken as they are)")
    if a.dtype.kind != "f":
        return
    bad = sum(int(a[i:i + chunk].size - np.count_nonzero(np.isfinite(a[i:i + chunk])))
              for i in range(0, len(a), chunk))
    if bad:
        raise DataError(f"{where} holds {bad} non-finite value(s) (NaN or inf) of {a.size}; "
                        f"expected finite numbers")


_NPY_MAGIC, _ZIP_MAGIC = b"\x93NUMPY", (b"PK\x03\x04", b"PK\x05\x06")


def _open_arrays(path: Path):
    """``np.load(path, allow_pickle=False)`` with one line for a file that is not an npy/npz
    (a pickle is named as such: nothing of it runs)."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror})") from None
    kind = "npy" if path.suffix.lower() == ".npy" else "npz"
    found = "npy" if head.startswith(_NPY_MAGIC) else "npz" if head[:4] in _ZIP_MAGIC else None
    if found != kind:
        what = ("a Python pickle; refused, nothing of it was run" if head[:1] == b"\x80"
                else f"an .{found} file" if found else "not an npy or npz file")
        raise DataError(f"{path}: {what}; expected a numpy .{kind} written by np.save"
                        f"{'z' if kind == 'npz' else ''}")
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise _pickle_refused(path, None) from None
        raise DataError(f"{path}: not a readable .{kind} file ({e})") from None
    except Exception as e:  # noqa: BLE001 - a damaged zip, a truncated header
        raise DataError(f"{path}: not a readable .{kind} file ({type(e).__name__}: {e})") \
            from None


def _pickle_refused(path: Path, key: str | None) -> DataError:
    where = f"{path}: {key!r}" if key else f"{path}"
    return DataError(f"{where} is an array of Python objects (stored as a pickle); refused, "
                     f"nothing of it was run: store numbers (uint8 or float)")


def _split_keys(split: str, named: bool) -> list[tuple[str, str]]:
    """The (inputs, labels) key pairs that may hold ``split``, in the order they are looked
    for. ``named``: the file's name says its split (``DIR/test.npz``), so plain ``x``/``y``
    and ``images``/``labels`` hold it; a file given itself holds the test split there and
    the training split only under ``x_train``/``y_train``."""
    own = [(f"x_{split}", f"y_{split}")]
    return own + [("x", "y"), ("images", "labels")] if named or split == "test" else own


def _read_npz(path: Path, split: str = "test", exp: Shape | None = None,
              classes: int | None = None, named: bool = True) -> ArraySet:
    """One split of an npz of arrays (keys: :func:`_split_keys`; layout: :func:`arrange`)."""
    with _open_arrays(path) as z:
        keys = list(z.files)
        pairs = [(x, y) for x, y in _split_keys(split, named) if x in keys]
        wanted = ", ".join(repr(x) for x, _ in _split_keys(split, named))
        if not pairs:
            hint = ("" if named or split == "test" else
                    "; 'x'/'y' alone are a test set, a file for training holds 'x_train', "
                    "'y_train' (and 'x_test', 'y_test')")
            raise DataError(f"{path}: no {split} inputs: none of {wanted} (keys: "
                            f"{', '.join(map(repr, keys)) or 'none'}){hint}")
        if len(pairs) > 1:
            raise DataError(f"{path}: {' and '.join(repr(x) for x, _ in pairs)} could each "
                            f"hold the {split} inputs; keep one of them")
        xk, yk = pairs[0]
        x = _member(z, xk, path)
        y = _member(z, yk, path) if yk in keys else None
    where = f"{path}: {xk!r}"
    _check_values(x, where)
    images = arrange(x, exp, where)
    if y is not None:
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        y = check_labels(y, len(images), str(path), yk, classes)
    return ArraySet(images, y, f"{path}" if xk == "images" else f"{path} ({xk!r})")


def _member(z, key: str, path: Path) -> np.ndarray:
    """One array of an open npz; an object array (a pickle) is refused unread."""
    try:
        return z[key]
    except ValueError as e:
        if "allow_pickle" in str(e):
            raise _pickle_refused(path, key) from None
        raise DataError(f"{path}: cannot read {key!r} ({e})") from None
    except Exception as e:  # noqa: BLE001 - a damaged member
        raise DataError(f"{path}: cannot read {key!r} ({type(e).__name__}: {e})") from None


def _read_npy(path: Path, split: str, exp: Shape | None) -> ArraySet:
    """A .npy of inputs only (no labels): the test split."""
    if split != "test":
        raise DataError(f"{path}: a .npy file holds inputs only (no labels), read as a test "
                        f"set; training needs an npz with 'x_train' and 'y_train'")
    x = _open_arrays(path)
    _check_values(x, str(path))
    return ArraySet(arrange(x, exp, str(path)), None, str(path))


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


ARRAY_SUFFIXES = (".npz", ".npy")


def detect_format(data_dir: str | Path) -> str:
    """One of 'cifar10', 'cifar100', 'npz' (a folder of train/test.npz), 'folder', or for a
    file 'arrays' (an .npz) or 'npy'; DataError if none fits."""
    d = Path(data_dir)
    array_file = d.suffix.lower() in ARRAY_SUFFIXES
    if not d.exists():
        raise DataError(f"{d}: data {'file' if array_file else 'folder'} does not exist")
    if not d.is_dir():
        if array_file:
            return "npy" if d.suffix.lower() == ".npy" else "arrays"
        raise DataError(f"{d}: not a folder, an .npz or an .npy file")
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


def load_split(data_dir: str | Path, split: str,
               input_shape: int | tuple[int, int, int] | None = None,
               classes: int | None = None) -> Dataset:
    """Load the 'train' or 'test' split (ImageFolder: 'test/' or else 'val/').

    ``input_shape``: the model's input (C, H, W), or an int image size (any channel count);
    arrays are laid out against it (:func:`arrange`) and other formats checked against it.
    ``classes``: labels of array files must lie in 0..classes-1."""
    d = Path(data_dir)
    exp = expected_shape(input_shape)
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
        ds = _read_npz(p, split, exp, classes)
    elif fmt == "arrays":
        ds = _read_npz(d, split, exp, classes, named=False)
    elif fmt == "npy":
        ds = _read_npy(d, split, exp)
    else:
        names = ["train"] if split == "train" else ["test", "val"]
        sub = next((d / n for n in names if (d / n).is_dir()), None)
        if sub is None:
            raise DataError(f"{d}: no {' or '.join(names)}/ folder")
        ds = _read_folder(sub, exp[1] if exp else None)
    if len(ds) == 0:
        raise DataError(f"{d}: the {split} split is empty")
    if exp is not None and fmt not in ("arrays", "npy", "npz"):  # RGB images: size, channels
        c, h, w = ds.input_shape
        if (exp[1], exp[2]) != (h, w):
            raise DataError(f"{ds.source}: images are {h}x{w}, the model expects "
                            f"{exp[1]}x{exp[2]}")
        if exp[0] is not None:
            check_channels((h, w, c), exp[0])
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


def normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """(B, H, W, C) -> float32 (B, C, H, W), (x − mean) / std per channel, on x's device; x is
    uint8 pixels scaled by 1/255 (as torchvision's ToTensor) or floats taken as they are.

    ``mean`` and ``std`` have one value per channel of the model's input; images with another
    channel count are a :class:`DataError` naming both shapes."""
    check_channels(tuple(images.shape[1:]), len(mean))
    x = images.permute(0, 3, 1, 2)
    x = x.to(torch.float32).div_(255.0) if x.dtype == torch.uint8 else x.to(torch.float32)
    c = x.shape[1]
    m = torch.tensor(mean, dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    s = torch.tensor(std, dtype=torch.float32, device=x.device).view(1, c, 1, 1)
    return (x - m) / s


def _augment_small(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip on (B, H, W, C), any dtype.

    The random draws come from ``gen`` (on the CPU), so the result does not depend on the device
    that holds ``x``."""
    b, h, w, c = x.shape
    dev = x.device
    padded = torch.zeros((b, h + 2 * pad, w + 2 * pad, c), dtype=x.dtype, device=dev)
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
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (normalised float32 inputs (B, C, H, W), int64 labels (B,) or None for a set
    without labels) on ``device``.

    Shuffling and augmentation are determined by (seed, epoch): a resumed run sees the same
    batches as an uninterrupted one, on any device. uint8 sets in memory are copied to the
    device once per call and cropped/flipped there (no per-batch host work on a GPU); float
    sets stay on the host in their dtype and each batch is gathered and converted there.
    Augmentation (crop, flip) leaves 1x1 inputs (flat features) alone.
    """
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if isinstance(ds, ArraySet):  # before any work: one line naming both shapes
        check_channels(tuple(ds.images.shape[1:]), len(mean))
    gen = torch.Generator().manual_seed(seed * 100003 + epoch)
    order = torch.randperm(len(ds), generator=gen) if shuffle else torch.arange(len(ds))
    labels = torch.from_numpy(ds.labels).to(dev) if ds.labels is not None else None
    if isinstance(ds, ArraySet):
        augment = augment and ds.images.shape[1] * ds.images.shape[2] > 1
        on_device = ds.images.dtype == np.uint8
        images = torch.from_numpy(ds.images).to(dev) if on_device else None
        order_dev = order.to(dev)
        for i in range(0, len(ds), batch_size):
            idx = order_dev[i:i + batch_size]
            x = images[idx] if on_device else torch.from_numpy(
                ds.images[order[i:i + batch_size].numpy()].astype(np.float32)).to(dev)
            if augment:
                x = _augment_small(x, gen)
            yield normalise(x, mean, std), None if labels is None else labels[idx]
        return
    items = _FolderItems(ds, augment, seed * 100003 + epoch)
    loader = torch.utils.data.DataLoader(
        torch.utils.data.Subset(items, order.tolist()), batch_size=batch_size,
        num_workers=workers)
    for i, x in enumerate(loader):
        idx = order[i * batch_size:i * batch_size + len(x)].to(dev)
        yield normalise(x.to(dev, non_blocking=True), mean, std), labels[idx]

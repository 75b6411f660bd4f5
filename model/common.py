"""Pieces shared by the training and evaluation commands: data preparation from a checkpoint's
dataset description, batched ANN/SNN evaluation, and one-line CLI errors."""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from . import data as D
from .architectures import ArchitectureError
from .checkpoint import CheckpointError
from .network import Network


class UsageError(ValueError):
    """A command-line choice that cannot be honoured here (e.g. --device cuda without a GPU)."""


USER_ERRORS = (D.DataError, CheckpointError, ArchitectureError, FileNotFoundError, UsageError)


def resolve_device(name: str | None) -> torch.device:
    """``auto`` (or None) -> the GPU when there is one, else the CPU; ``cpu``/``cuda[:N]`` as
    given, with a clear error when CUDA is asked for and absent."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise UsageError(f"--device {name!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: this torch build sees no CUDA GPU")
    return dev


def progress(iterable=None, **kw) -> tqdm:
    """A tqdm bar: live on a terminal, a line every 30 s in a log file."""
    interactive = sys.stderr.isatty()
    return tqdm(iterable, mininterval=0.2 if interactive else 30.0,
                dynamic_ncols=interactive, **kw)


def fail(msg: str, code: int = 2) -> None:
    """Print one clear line to stderr and exit (no traceback for user errors)."""
    print(f"error: {msg}", file=sys.stderr)
    raise SystemExit(code)


def set_threads(n: int | None) -> None:
    """``n`` torch threads (None: all cores; ``--threads`` is checked >= 1 by the CLIs)."""
    torch.set_num_threads(n if n is not None else (os.cpu_count() or 1))


def check_flags(args, positive=(), non_negative=(), finite_positive=(), fractions=()) -> None:
    """Range checks of numeric flags before any work; raise :class:`UsageError` naming the flag,
    its value and what it must be. ``positive``/``non_negative``: whole numbers > 0 / >= 0;
    ``finite_positive``: finite numbers > 0; ``fractions``: probabilities in [0, 1). A flag
    that is absent or None is not checked."""
    def flag(name: str) -> str:
        return "--" + name.replace("_", "-")

    for names, ok, expected in (
            (positive, lambda v: v >= 1, "a whole number >= 1"),
            (non_negative, lambda v: v >= 0, "a whole number >= 0"),
            (finite_positive, lambda v: math.isfinite(v) and v > 0, "a finite number > 0"),
            (fractions, lambda v: 0 <= v < 1, "a probability in [0, 1)")):
        for name in names:
            v = getattr(args, name, None)
            if v is not None and not ok(v):
                raise UsageError(f"{flag(name)} must be {expected}, got {v}")


def check_output(path: str | os.PathLike, flag: str, folder: bool = False) -> None:
    """Refuse an output path that cannot be written, before any work: a file where a folder
    is asked for or the reverse, or a parent that is a file or not writable."""
    p = Path(path)
    what = "folder" if folder else "file"
    if p.exists() and p.is_dir() != folder:
        raise UsageError(f"{flag} {p}: is a {'file' if folder else 'folder'}; expected a "
                         f"{what} path")
    parent = p if folder and p.exists() else p.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {p}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {p}: cannot write in {parent} (permission denied)")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


@dataclass
class Splits:
    train: D.Dataset | None
    val: D.Dataset | None
    test: D.Dataset | None


def dataset_info(name: str) -> tuple[int, int, dict]:
    """(classes, image size, preprocessing) of a named dataset."""
    if name not in D.DATASETS:
        raise D.DataError(f"unknown dataset {name!r}; choose one of {', '.join(D.DATASETS)}")
    classes, size = D.DATASETS[name]
    mean, std = D.NORMALISATION[name]
    return classes, size, {"mean": list(mean), "std": list(std), "image_size": size,
                           "encoding": "direct"}


def load_splits(data_dir: str | Path, input_shape: int | tuple[int, int, int],
                num_classes: int, *, limit: int | None = None, val_fraction: float = 0.1,
                seed: int = 0, need_train: bool = True, need_test: bool = True,
                train_limit: int | None = None, need_labels: bool = True) -> Splits:
    """Train (minus a per-class validation hold-out), validation and test splits.

    ``input_shape`` is the model's input (C, H, W) (an int: the image size, any channels);
    array files are laid out against it. Every split must have labels (the commands report
    accuracy): inputs without labels are one :class:`~model.data.DataError`, unless
    ``need_labels`` is False (the test split of ``hwsim.run``: energy without accuracy).
    ``limit`` takes a stratified subset of that many images of the training split (before the
    validation hold-out) and of the test split; ``train_limit`` one of the training images
    only, after the hold-out (validation and test stay whole: quick studies that still select
    on the full validation split).
    """
    train = val = test = None
    if need_train:
        full = D.load_split(data_dir, "train", input_shape, num_classes)
        _check_classes(full, num_classes)
        if limit:
            _check_limit("--limit", limit, len(full), "training", data_dir)
            full = full.subset(D.stratified_indices(full.labels, limit, seed))
        train, val = D.train_val_split(full, val_fraction)
        if train_limit:
            _check_limit("--train-limit", train_limit, len(train), "training", data_dir,
                         " after the validation hold-out")
            train = train.subset(D.stratified_indices(train.labels, train_limit, seed))
    if need_test:
        test = D.load_split(data_dir, "test", input_shape, num_classes)
        if need_labels or test.labels is not None:
            _check_classes(test, num_classes)
        if limit:
            _check_limit("--limit", limit, len(test), "test", data_dir)
            test = test.subset(D.stratified_indices(test.labels, limit, seed))
    return Splits(train, val, test)


def _check_limit(flag: str, n: int, have: int, split: str, data_dir, note: str = "") -> None:
    if n > have:
        raise UsageError(f"{flag} {n}: {data_dir} has only {have} {split} images{note}; "
                         f"expected at most {have}")


def _check_classes(ds: D.Dataset, num_classes: int) -> None:
    """Labels present (accuracy needs them) and below the model's class count."""
    if ds.labels is None:
        raise D.DataError(f"{ds.source}: inputs without labels (a .npy file, or an npz with "
                          f"no labels beside its inputs); this command reports accuracy, "
                          f"which needs them: store 'y' beside 'x' in an npz (docs/data.md)")
    top = int(ds.labels.max()) + 1
    if top > num_classes:
        raise D.DataError(f"{ds.source}: labels go up to {top - 1}, the model has "
                          f"{num_classes} classes")


@torch.no_grad()
def evaluate(net: Network, ds: D.Dataset, preprocessing: dict, *, snn: bool, timesteps: int = 5,
             batch_size: int = 128, desc: str = "eval", workers: int = 0) -> dict:
    """Accuracy of the ANN or SNN on ``ds``; for the SNN also total spikes per layer.

    Returns {accuracy, samples, correct, spikes: {layer: total over images and T}}.
    """
    net.eval()
    device = next(net.parameters()).device
    correct = torch.zeros((), dtype=torch.int64, device=device)
    spikes: dict[str, torch.Tensor] = {n.name: torch.zeros((), dtype=torch.float64,
                                                           device=device)
                                       for n in net.spiking_layers} if snn else {}
    bar = progress(D.batches(ds, batch_size, preprocessing["mean"], preprocessing["std"],
                             workers=workers, device=device),
                   total=(len(ds) + batch_size - 1) // batch_size, desc=desc, leave=False,
                   unit="batch")
    for x, y in bar:
        if snn:
            out = net.snn(x, timesteps)
            logits = out.logits
            for k, v in out.spike_counts.items():
                spikes[k] += v.to(torch.float64)
        else:
            logits = net(x)
        correct += (logits.argmax(1) == y).sum()
    n = len(ds)
    c = int(correct)
    return {"accuracy": c / n, "samples": n, "correct": c,
            "spikes": {k: float(v) for k, v in spikes.items()}}

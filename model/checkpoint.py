"""The project's checkpoint: one ``.pt`` file, a dict with a format tag and version, validated
on load. Anything else (a foreign ``.pt``, a corrupt file, a wrong stage) gets one clear line.

Keys: ``format``, ``version``, ``arch`` (name), ``arch_kwargs``, ``dataset``, ``num_classes``,
``input_shape`` (C, H, W), ``preprocessing`` ({mean, std} per channel), ``stage``
(ann | converted | snn), ``timesteps``, ``reset``, ``gamma``, ``leak`` and ``threshold``
({layer: float} for every LIF layer), ``weights`` ({layer: tensor}, float32 or float16),
``metrics`` (whatever was measured), ``history`` (training log).
"""

from __future__ import annotations

import math
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .architectures import ArchitectureError, build_architecture
from .files import save_torch
from .network import Network
from .neuron import RESETS

FORMAT = "diet-snn-checkpoint"
VERSION = 1
STAGES = ("ann", "converted", "snn")


class CheckpointError(ValueError):
    """A file that is not a valid checkpoint of this project (message names file and problem)."""


@dataclass
class Checkpoint:
    arch: str
    dataset: str
    num_classes: int
    input_shape: tuple[int, int, int]
    preprocessing: dict
    stage: str
    timesteps: int = 5
    reset: str = "paper"
    gamma: float = 0.3
    arch_kwargs: dict = field(default_factory=dict)
    leak: dict[str, float] = field(default_factory=dict)
    threshold: dict[str, float] = field(default_factory=dict)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    history: list = field(default_factory=list)

    def nodes(self) -> tuple:
        """The architecture's node list (no weights)."""
        return build_architecture(self.arch, self.num_classes, self.input_shape,
                                  **self.arch_kwargs)

    def build(self, dtype: torch.dtype = torch.float32) -> Network:
        """The network with these weights, λ and v (weights cast to ``dtype``)."""
        net = Network(self.nodes(), self.timesteps, self.reset, self.gamma, init=False)
        with torch.no_grad():
            for n in net.nodes:
                if n.synaptic:
                    w = self.weights[n.name]
                    if tuple(w.shape) != n.weight_shape:
                        raise CheckpointError(
                            f"layer {n.name}: weight shape {tuple(w.shape)} does not fit the "
                            f"architecture ({n.weight_shape})")
                    net.weight(n.name).copy_(w.to(torch.float32))
                if n.spiking:
                    net.neuron(n.name).leak.fill_(self.leak.get(n.name, 1.0))
                    net.neuron(n.name).threshold.fill_(self.threshold.get(n.name, 1.0))
        return net.to(dtype)

    def update_from(self, net: Network, half: bool = False) -> None:
        """Copy weights, λ, v, T and reset variant from a network into this checkpoint."""
        self.weights = {n.name: net.weight(n.name).detach().to(
            torch.float16 if half else torch.float32).cpu().clone()
            for n in net.nodes if n.synaptic}
        self.leak = {n.name: net.neuron(n.name).leak.item() for n in net.spiking_layers}
        self.threshold = {n.name: net.neuron(n.name).threshold.item()
                          for n in net.spiking_layers}
        self.timesteps, self.reset, self.gamma = net.timesteps, net.reset, net.gamma

    def to_dict(self) -> dict:
        d = {"format": FORMAT, "version": VERSION}
        d.update({k: getattr(self, k) for k in self.__dataclass_fields__})
        d["input_shape"] = list(self.input_shape)
        return d


def save(ckpt: Checkpoint, path: str | os.PathLike) -> None:
    """Write atomically (a partial file never replaces a good one)."""
    save_torch(ckpt.to_dict(), path)


def read_plain(path: str | os.PathLike, what: str = "checkpoint"):
    """``torch.load`` that runs no code from the file: ``weights_only=True`` admits tensors and
    plain containers and numbers only. A file that asks for anything else (a planted
    ``__reduce__`` calling ``os.system``, say) is refused naming what it asked for; nothing of
    it runs. Raise :class:`CheckpointError` with one line naming the file."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        m = re.search(r"GLOBAL (\S+)", text)
        if m:
            raise CheckpointError(
                f"{path}: refused: the file asks to call or build {m.group(1)}; {what}s "
                f"hold only tensors and plain types, and nothing of it was run") from None
        raise CheckpointError(f"{path}: not a readable {what} (UnpicklingError: "
                              f"{_reason(text)})") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        raise CheckpointError(f"{path}: not a readable {what} ({type(e).__name__}: "
                              f"{_reason(str(e))})") from None


def _reason(text: str) -> str:
    """The line of a load error that says what is wrong (torch's weights-only errors wrap it
    in advice about weights_only=False, which is never the way here)."""
    boiler = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(boiler)]
    return (useful or lines or ["corrupt"])[0][:120]


def load(path: str | os.PathLike, stages: tuple[str, ...] = STAGES) -> Checkpoint:
    """Read and validate a checkpoint; raise :class:`CheckpointError` naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    d = read_plain(path)
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file (a foreign .pt?)")
    if d.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {d.get('version')!r}, this code "
                              f"reads version {VERSION}")
    missing = [k for k in Checkpoint.__dataclass_fields__ if k not in d]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks keys {missing}")
    if d["stage"] not in STAGES or d["stage"] not in stages:
        raise CheckpointError(f"{path}: stage {d['stage']!r}, expected one of {stages}")
    _check_header(d, path)
    fields = {k: d[k] for k in Checkpoint.__dataclass_fields__}
    fields["input_shape"] = tuple(int(v) for v in d["input_shape"])
    ckpt = Checkpoint(**fields)
    try:
        nodes = build_architecture(ckpt.arch, ckpt.num_classes, ckpt.input_shape,
                                   **ckpt.arch_kwargs)
    except (ArchitectureError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from e
    names = {n.name for n in nodes if n.synaptic}
    if set(ckpt.weights) != names:
        diff = sorted(set(ckpt.weights) ^ names)[:5]
        raise CheckpointError(f"{path}: weights do not match architecture {ckpt.arch!r} "
                              f"(differing layers: {diff})")
    for n in nodes:
        w = ckpt.weights[n.name] if n.synaptic else None
        if w is None:
            continue
        if not isinstance(w, torch.Tensor) or not w.is_floating_point():
            raise CheckpointError(f"{path}: weights.{n.name} is a "
                                  f"{getattr(w, 'dtype', type(w).__name__)}; expected a "
                                  f"float tensor")
        if tuple(w.shape) != n.weight_shape:
            raise CheckpointError(f"{path}: layer {n.name} weight shape "
                                  f"{tuple(w.shape)} != {n.weight_shape}")
        bad = int((~torch.isfinite(w)).sum())
        if bad:
            raise CheckpointError(f"{path}: weights.{n.name} holds {bad} NaN or infinite "
                                  f"values; expected finite numbers")
    _check_neurons(ckpt, nodes, path)
    return ckpt


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_header(d: dict, path: Path) -> None:
    """Types and ranges of the scalar keys, before anything is built from them."""
    def bad(key: str, expected: str) -> CheckpointError:
        got = repr(d[key]) if len(repr(d[key])) <= 60 else repr(d[key])[:57] + "..."
        return CheckpointError(f"{path}: {key} is {got}; expected {expected}")

    for key in ("arch", "dataset"):
        if not isinstance(d[key], str) or not d[key]:
            raise bad(key, "a name")
    for key, lo in (("num_classes", 1), ("timesteps", 1)):
        if not isinstance(d[key], int) or isinstance(d[key], bool) or d[key] < lo:
            raise bad(key, f"a whole number >= {lo}")
    shape = d["input_shape"]
    if not isinstance(shape, list | tuple) or len(shape) != 3 or not all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape):
        raise bad("input_shape", "[C, H, W], three whole numbers > 0")
    if d["reset"] not in RESETS:
        raise bad("reset", f"one of {', '.join(RESETS)}")
    if not _is_number(d["gamma"]) or d["gamma"] <= 0:
        raise bad("gamma", "a finite number > 0")
    for key in ("arch_kwargs", "leak", "threshold", "weights", "metrics", "preprocessing"):
        if not isinstance(d[key], dict):
            raise bad(key, "a mapping")
    if not isinstance(d["history"], list):
        raise bad("history", "a list")
    for key in ("mean", "std"):
        v = d["preprocessing"].get(key)
        if not isinstance(v, list | tuple) or len(v) != shape[0] or not all(
                _is_number(x) and (key == "mean" or x > 0) for x in v):
            what = "finite numbers" if key == "mean" else "numbers > 0"
            got = repr(v) if len(repr(v)) <= 60 else repr(v)[:57] + "..."
            raise CheckpointError(f"{path}: preprocessing.{key} is {got}; expected "
                                  f"{shape[0]} {what}, one per channel")


def _check_neurons(ckpt: Checkpoint, nodes, path: Path) -> None:
    """λ and v of every LIF layer: present (a converted or DIET-SNN checkpoint), finite,
    v > 0 and λ in [0, 1] (the range training clamps λ to); no values for other layers."""
    lif = [n.name for n in nodes if n.spiking]
    for key, ok, expected in (("threshold", lambda v: v > 0, "a finite number > 0"),
                              ("leak", lambda v: 0 <= v <= 1, "a number in [0, 1]")):
        values = getattr(ckpt, key)
        stray = sorted(set(values) - set(lif))
        if stray:
            raise CheckpointError(f"{path}: {key}.{stray[0]}: no LIF layer of that name in "
                                  f"{ckpt.arch!r} (its LIF layers: {', '.join(lif)})")
        for name in lif:
            if name not in values:
                if ckpt.stage == "ann":  # an ANN has no λ or v yet: conversion sets them
                    continue
                raise CheckpointError(f"{path}: {key}.{name} is missing; expected {expected} "
                                      f"for every LIF layer")
            v = values[name]
            if not _is_number(v) or not ok(v):
                raise CheckpointError(f"{path}: {key}.{name} is {v!r}; expected {expected}")

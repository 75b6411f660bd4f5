"""The project's checkpoint: one ``.pt`` file, a dict with a format tag and version, validated
on load. Anything else (a foreign ``.pt``, a corrupt file, a wrong stage) gets one clear line.

Keys: ``format``, ``version``, ``arch`` (name), ``arch_kwargs``, ``dataset``, ``num_classes``,
``input_shape`` (C, H, W), ``preprocessing`` ({mean, std} per channel), ``stage``
(ann | converted | snn), ``timesteps``, ``reset``, ``gamma``, ``leak`` and ``threshold``
({layer: float} for every LIF layer; ``leak`` may also hold the λ of an integrating output
layer, a leaky integrator, default 1), ``weights`` ({layer: tensor}, float32 or float16),
``metrics`` (whatever was measured), ``history`` (training log).

Version 2 adds ``nodes`` (the network's layer list, each node's fields as plain types:
``model.architectures.node_to_dict``) and ``bias`` ({layer: tensor (C_out,)} for layers with a
bias). A version-2 file is self-describing: it loads from its own node list, so any graph of
the supported node kinds loads with no code change (``arch`` is then only a label). A version-1
file has no node list: its ``arch`` name and ``arch_kwargs`` are built by
``model.architectures.build_architecture``. An ANN trained with batch norm also holds
``batch_norm`` ({layer: {gamma, beta, running_mean, running_var: tensor (C_out,)}} for the
layers whose node has ``batch_norm: true``; an optional key, {} or absent otherwise); the
``converted`` and ``snn`` stages refuse batch-norm layers (fold them at conversion). The format
is documented in docs/checkpoints.md.
"""

from __future__ import annotations

import math
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .architectures import (
    ArchitectureError,
    Node,
    batch_norm_nodes,
    build_architecture,
    node_to_dict,
    nodes_from_dicts,
)
from .files import save_torch
from .network import Network
from .neuron import RESETS, leak_from_tau

FORMAT = "diet-snn-checkpoint"
VERSION = 2
VERSIONS = (1, 2)  # versions this code reads (1: the architecture by name; 2: a node list)
STAGES = ("ann", "converted", "snn")
# one batch-norm layer's tensors in the file: (key, the BatchNorm module's attribute)
BN_TENSORS = (("gamma", "weight"), ("beta", "bias"), ("running_mean", "running_mean"),
              ("running_var", "running_var"))


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
    bias: dict[str, torch.Tensor] = field(default_factory=dict)
    layers: tuple[Node, ...] | None = None  # the node list (None: build ``arch`` by name)
    # {layer: {gamma, beta, running_mean, running_var}} of an ANN's batch-norm layers
    batch_norm: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)

    def nodes(self) -> tuple[Node, ...]:
        """The network's node list (no weights): the stored one, or the named architecture's."""
        if self.layers is not None:
            return tuple(self.layers)
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
                if n.bias:
                    b = self.bias.get(n.name)
                    if b is not None:
                        net.bias(n.name).copy_(b.to(torch.float32))
                if n.batch_norm and n.name in self.batch_norm:
                    bn = net.batch_norm(n.name)
                    for key, attr in BN_TENSORS:
                        getattr(bn, attr).copy_(self.batch_norm[n.name][key].to(torch.float32))
                if n.spiking:
                    default = leak_from_tau(n.tau) if n.tau else 1.0
                    net.neuron(n.name).leak.fill_(self.leak.get(n.name, default))
                    net.neuron(n.name).threshold.fill_(self.threshold.get(n.name, 1.0))
            out = net.output_node
            if out.neuron == "integrate":
                net.output_leak.fill_(self.leak.get(out.name, 1.0))
        return net.to(dtype)

    def update_from(self, net: Network, half: bool = False) -> None:
        """Copy weights, λ, v, T and reset variant from a network into this checkpoint."""
        self.weights = {n.name: net.weight(n.name).detach().to(
            torch.float16 if half else torch.float32).cpu().clone()
            for n in net.nodes if n.synaptic}
        self.bias = {n.name: net.bias(n.name).detach().to(torch.float32).cpu().clone()
                     for n in net.nodes if n.bias}
        self.batch_norm = {n.name: {key: getattr(net.batch_norm(n.name), attr).detach().to(
            torch.float32).cpu().clone() for key, attr in BN_TENSORS}
            for n in net.nodes if n.batch_norm}
        self.leak = {n.name: net.neuron(n.name).leak.item() for n in net.spiking_layers}
        out = net.output_node
        if out.neuron == "integrate" and net.output_leak.item() != 1.0:  # a leaky integrator
            self.leak[out.name] = net.output_leak.item()
        self.threshold = {n.name: net.neuron(n.name).threshold.item()
                          for n in net.spiking_layers}
        self.timesteps, self.reset, self.gamma = net.timesteps, net.reset, net.gamma

    def to_dict(self) -> dict:
        """The file's contents: plain types and tensors only (``weights_only`` loads it)."""
        d = {"format": FORMAT, "version": VERSION}
        d.update({k: getattr(self, k) for k in self.__dataclass_fields__ if k != "layers"})
        d["input_shape"] = list(self.input_shape)
        d["nodes"] = [node_to_dict(n) for n in self.nodes()]
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
        with warnings.catch_warnings():  # torch's advice on stderr would make it two lines
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = _strip_ansi(str(e))
        if _pickled_module(path, text):
            raise CheckpointError(_MODULE_MESSAGE.format(path=path)) from None
        m = re.search(r"GLOBAL (\S+)", text)
        if m:
            raise CheckpointError(
                f"{path}: refused: the file asks to call or build {m.group(1)}; {what}s "
                f"hold only tensors and plain types, and nothing of it was run") from None
        raise CheckpointError(f"{path}: not a readable {what} (UnpicklingError: "
                              f"{_reason(text)})") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user error
        text = _strip_ansi(str(e))
        if "TorchScript" in text:
            raise CheckpointError(f"{path}: a TorchScript archive, not a {what}; save a state "
                                  f"dict or write a checkpoint with model.checkpoint.save"
                                  ) from None
        if _pickled_module(path, text):
            raise CheckpointError(_MODULE_MESSAGE.format(path=path)) from None
        raise CheckpointError(f"{path}: not a readable {what} ({type(e).__name__}: "
                              f"{_reason(text)})") from None


_MODULE_MESSAGE = ("{path}: a pickled torch module, not a checkpoint; save a state dict with "
                   "torch.save(model.state_dict(), ...) / use model.checkpoint.save to write a "
                   "checkpoint (docs/checkpoints.md)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _pickled_module(path, text: str) -> bool:
    """Whether a refused file is a pickled ``nn.Module`` (``torch.save(model)`` or
    ``pickle.dump(model)``): its pickle names a class of ``torch.nn.modules``. Only the file's
    bytes are searched; nothing is unpickled."""
    if "torch.nn.modules" in text:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 22)
    except OSError:
        return False
    return b"torch.nn.modules" in head


def _reason(text: str) -> str:
    """The line of a load error that says what is wrong (torch's weights-only errors wrap it
    in advice about weights_only=False, which is never the way here)."""
    boiler = ("Weights only load failed", "Please file an issue", "Check the documentation")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(boiler)]
    return (useful or lines or ["corrupt"])[0][:120]


V1_KEYS = ("arch", "dataset", "num_classes", "input_shape", "preprocessing", "stage",
           "timesteps", "reset", "gamma", "arch_kwargs", "leak", "threshold", "weights",
           "metrics", "history")


def load(path: str | os.PathLike, stages: tuple[str, ...] = STAGES) -> Checkpoint:
    """Read and validate a checkpoint; raise :class:`CheckpointError` naming the problem.

    Version 2 builds the network from the file's own node list (validated: kinds, shapes,
    sources); version 1 builds the named architecture. A ``.nir`` file is imported from NIR
    with ``model.nir.from_nir``'s defaults (docs/nir.md)."""
    path = Path(path)
    if path.suffix.lower() == ".nir":
        from .nir import from_nir

        ckpt = from_nir(path)
        if ckpt.stage not in stages:
            raise CheckpointError(f"{path}: stage {ckpt.stage!r}, expected one of {stages}")
        _check_neurons(ckpt, ckpt.nodes(), path)
        return ckpt
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    d = read_plain(path)
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT} file (a foreign .pt?)")
    version = d.get("version")
    if version not in VERSIONS or isinstance(version, bool):
        raise CheckpointError(f"{path}: checkpoint version {version!r}, this code "
                              f"reads versions {', '.join(map(str, VERSIONS))}")
    required = V1_KEYS + (("nodes", "bias") if version >= 2 else ())
    missing = [k for k in required if k not in d]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks keys {missing}")
    if d["stage"] not in STAGES or d["stage"] not in stages:
        raise CheckpointError(f"{path}: stage {d['stage']!r}, expected one of {stages}")
    _check_header(d, path)
    fields = {k: d[k] for k in required if k != "nodes"}
    fields["input_shape"] = tuple(int(v) for v in d["input_shape"])
    fields["batch_norm"] = d.get("batch_norm", {})
    try:
        if version >= 2:
            nodes = nodes_from_dicts(d["nodes"])
        else:
            nodes = build_architecture(fields["arch"], fields["num_classes"],
                                       fields["input_shape"], **fields["arch_kwargs"])
    except (ArchitectureError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: {e}") from None
    ckpt = Checkpoint(**fields, layers=nodes if version >= 2 else None)
    if version >= 2:
        _check_io(ckpt, nodes, path)
    names = {n.name for n in nodes if n.synaptic}
    if set(ckpt.weights) != names:
        diff = sorted(set(ckpt.weights) ^ names)[:5]
        raise CheckpointError(f"{path}: weights do not match architecture {ckpt.arch!r} "
                              f"(differing layers: {diff})")
    biased = {n.name for n in nodes if n.bias}
    if set(ckpt.bias) != biased:
        diff = sorted(set(ckpt.bias) ^ biased)[:5]
        raise CheckpointError(f"{path}: bias values do not match the layers with bias=true "
                              f"(differing layers: {diff})")
    for n in nodes:
        for key, values, shape in (("weights", ckpt.weights, n.weight_shape),
                                   ("bias", ckpt.bias, n.bias_shape)):
            w = values.get(n.name) if (n.synaptic and shape) else None
            if w is None:
                continue
            what = "weight" if key == "weights" else "bias"
            _check_tensor(path, f"{key}.{n.name}", w, shape,
                          f"layer {n.name} {what} shape {_shape(w)} != {shape}")
    _check_neurons(ckpt, nodes, path)
    _check_batch_norm(ckpt, nodes, path)
    return ckpt


def _shape(t) -> tuple:
    return tuple(getattr(t, "shape", ()))


def _check_tensor(path: Path, where: str, t, shape: tuple, wrong_shape: str) -> None:
    """A finite float tensor of ``shape``; else one line (``wrong_shape`` for a bad shape)."""
    if not isinstance(t, torch.Tensor) or not t.is_floating_point():
        raise CheckpointError(f"{path}: {where} is a {getattr(t, 'dtype', type(t).__name__)}; "
                              f"expected a float tensor")
    if tuple(t.shape) != shape:
        raise CheckpointError(f"{path}: {wrong_shape}")
    bad = int((~torch.isfinite(t)).sum())
    if bad:
        raise CheckpointError(f"{path}: {where} holds {bad} NaN or infinite values; expected "
                              f"finite numbers")


def _check_batch_norm(ckpt: Checkpoint, nodes, path: Path) -> None:
    """Batch norm only in an ANN, and exactly the tensors its layers need: γ, β, running mean
    and running variance, each a finite float tensor (C_out,), the variance >= 0."""
    layers = batch_norm_nodes(nodes)
    if layers and ckpt.stage != "ann":
        raise CheckpointError(f"{path}: layer {layers[0].name!r} has batch_norm in a "
                              f"{ckpt.stage!r} checkpoint; only an ANN has batch norm (fold "
                              f"it: model.train convert --fold-bn)")
    names = {n.name for n in layers}
    if set(ckpt.batch_norm) != names:
        diff = sorted(set(ckpt.batch_norm) ^ names)[:5]
        raise CheckpointError(f"{path}: batch_norm values do not match the layers with "
                              f"batch_norm=true (differing layers: {diff})")
    keys = [k for k, _ in BN_TENSORS]
    for n in layers:
        entry = ckpt.batch_norm[n.name]
        if not isinstance(entry, dict) or sorted(entry) != sorted(keys):
            got = sorted(entry) if isinstance(entry, dict) else type(entry).__name__
            raise CheckpointError(f"{path}: batch_norm.{n.name} holds {got}; expected "
                                  f"{', '.join(keys)}")
        shape = n.out_shape[:1]
        for key in keys:
            t = entry[key]
            where = f"batch_norm.{n.name}.{key}"
            _check_tensor(path, where, t, shape, f"{where} has shape {_shape(t)}; expected "
                                                 f"{shape} (one per output channel)")
            if key == "running_var" and bool((t < 0).any()):
                raise CheckpointError(f"{path}: {where} has negative values (min "
                                      f"{t.min().item():.3g}); a variance is >= 0")


def _check_io(ckpt: Checkpoint, nodes: tuple[Node, ...], path: Path) -> None:
    """The stored node list agrees with the header: input shape and class count."""
    if tuple(nodes[0].out_shape) != ckpt.input_shape:
        raise CheckpointError(f"{path}: the input node's shape {list(nodes[0].out_shape)} "
                              f"!= input_shape {list(ckpt.input_shape)}")
    if nodes[-1].out_shape != (ckpt.num_classes,):
        raise CheckpointError(f"{path}: the output node {nodes[-1].name!r} has shape "
                              f"{list(nodes[-1].out_shape)}; num_classes is {ckpt.num_classes}")


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
    for key in ("arch_kwargs", "leak", "threshold", "weights", "metrics", "preprocessing",
                *(k for k in ("bias", "batch_norm") if k in d)):
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
    v > 0 and λ in [0, 1] (the range training clamps λ to); an integrating output layer may
    have a λ in [0, 1] (a leaky integrator; absent: 1); no values for other layers."""
    lif = [n.name for n in nodes if n.spiking]
    timed = {n.name for n in nodes if n.spiking and n.tau}  # λ defaults to exp(-1/τ)
    leaky = [n.name for n in nodes[-1:] if n.neuron == "integrate"]  # optional λ
    for key, ok, expected in (("threshold", lambda v: v > 0, "a finite number > 0"),
                              ("leak", lambda v: 0 <= v <= 1, "a number in [0, 1]")):
        values = getattr(ckpt, key)
        allowed = lif + (leaky if key == "leak" else [])
        stray = sorted(set(values) - set(allowed))
        if stray:
            what = "LIF layer or integrating output" if key == "leak" else "LIF layer"
            raise CheckpointError(f"{path}: {key}.{stray[0]}: no {what} of that name in "
                                  f"{ckpt.arch!r} (allowed: {', '.join(allowed) or 'none'})")
        for name in leaky if key == "leak" else []:
            v = values.get(name, 1.0)
            if not _is_number(v) or not ok(v):
                raise CheckpointError(f"{path}: {key}.{name} is {v!r}; expected {expected} "
                                      f"(the output integrator's leak)")
        for name in lif:
            if name not in values:
                if ckpt.stage == "ann":  # an ANN has no λ or v yet: conversion sets them
                    continue
                if key == "leak" and name in timed:
                    continue
                raise CheckpointError(f"{path}: {key}.{name} is missing; expected {expected} "
                                      f"for every LIF layer")
            v = values[name]
            if not _is_number(v) or not ok(v):
                raise CheckpointError(f"{path}: {key}.{name} is {v!r}; expected {expected}")

"""NIR import and export: networks to and from the Neuromorphic Intermediate Representation.

    python -m model.nir export --model F.pt --out F.nir [--dt 1e-4] [--readout current]
    python -m model.nir import F.nir --out F.pt [--dt 1e-4] [--timesteps T] [--reset zero]

A ``.nir`` file is also accepted wherever a checkpoint is (``--model F.nir``): it is imported
in memory with the defaults below (docs/nir.md).

The discretisation (NIR's neurons are continuous-time; this model steps): forward Euler with
one timestep dt (seconds), as snnTorch, SpikingJelly and Norse step NIR graphs:

    LIF  τ dv/dt = (v_leak − v) + R·I   ->  u[t] = λ·u[t-1] + g·I[t],  λ = 1 − dt/τ,  g = R·dt/τ
    IF       dv/dt = R·I                ->  λ = 1,  g = R·dt
    LI   as LIF without a spike (an output layer only);  I  as IF without a spike
    z = 1 if v > v_threshold; after a spike v = v_reset (0: this model's ``zero`` reset)

g is folded into the weights and bias of the synaptic layer feeding the neuron (exact when g
is 1, as in graphs exported with R = τ/dt, the snnTorch and SpikingJelly convention this
module writes). v_leak and v_reset must be 0, and each parameter one value per layer (the chip
holds one λ and one v per layer). NIR's reset is the hard reset; a graph from a framework whose
neurons subtract the threshold says so only in its own code: import it with ``reset="paper"``
(snnTorch's ``subtract``) or ``"leaked"`` (SpikingJelly's soft reset).

The readout: a graph ending in a synaptic layer (``readout="current"``) or in an integrator
(``I``, ``LI``) is read as this model's integrating output, a[T] = Σ_t λ^(T−t)·I[t]; a graph
ending in LIF/IF neurons is read by spike count. dt, T and what NIR cannot say (each layer's
soft reset, dropout, preprocessing) travel in the graph's metadata under ``dietsim``, so a
checkpoint -> NIR -> checkpoint round trip is identical.
"""

from __future__ import annotations

import argparse
import graphlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .architectures import Node
from .checkpoint import Checkpoint, CheckpointError
from .neuron import DEFAULT_GAMMA, RESETS, leak_from_tau

DEFAULT_DT = 1e-4  # s: the default of snnTorch's and SpikingJelly's NIR exporters and importers
DEFAULT_TIMESTEPS = 5
READOUTS = ("current", "integrator")
META_KEY = "dietsim"
META_VERSION = 1


class NIRError(CheckpointError):
    """A NIR graph this model cannot represent (one line naming the file, node and problem)."""


def _nir():
    try:
        import nir
    except ImportError:  # pragma: no cover - nir is a dependency
        raise NIRError("the 'nir' package is not installed: pip install 'nir>=1.0.8'") from None
    return nir


# ------------------------------------------------------------------------------------ export
def _leak_of(ckpt: Checkpoint, n: Node) -> float:
    """λ of a LIF layer (its τ's when the file holds none) or of an integrating output (1: no
    leak), as ``Checkpoint.build`` sets them."""
    default = leak_from_tau(n.tau) if n.spiking and n.tau else 1.0
    return float(ckpt.leak.get(n.name, default))


def _neuron_node(nir, n: Node, leak: float, threshold: float | None, dt: float):
    """The NIR neuron of a layer with λ = ``leak`` (gain 1: R = τ/dt), spiking iff
    ``threshold`` is given."""
    shape = tuple(n.out_shape)

    def full(v):
        return np.full(shape, v, dtype=np.float64)

    if leak == 1.0:
        if threshold is None:
            return nir.I(r=full(1.0 / dt))
        return nir.IF(r=full(1.0 / dt), v_threshold=full(threshold), v_reset=full(0.0))
    tau = dt / (1.0 - leak)
    if threshold is None:
        return nir.LI(tau=full(tau), r=full(tau / dt), v_leak=full(0.0))
    return nir.LIF(tau=full(tau), r=full(tau / dt), v_leak=full(0.0),
                   v_threshold=full(threshold), v_reset=full(0.0))


def to_nir(ckpt: Checkpoint, *, dt: float = DEFAULT_DT, readout: str = "current"):
    """The checkpoint's network as a ``nir.NIRGraph`` (see the module docstring).

    ``readout``: how an integrating output layer is written: ``"current"`` (its synaptic
    layer feeds the graph's output; a[T] is the sum of the outputs over the T steps: what
    snnTorch, SpikingJelly and Norse can load) or ``"integrator"`` (an ``I`` node, or ``LI``
    for a leaky output). Dropout is left out (identity at inference; kept in the metadata).
    An ANN checkpoint (no thresholds yet) is refused.
    """
    nir = _nir()
    if not (dt > 0 and math.isfinite(dt)):
        raise ValueError(f"dt must be a finite number of seconds > 0, got {dt}")
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {', '.join(READOUTS)}, got {readout!r}")
    if ckpt.stage == "ann":
        raise ValueError(f"{ckpt.arch}: an ANN checkpoint has no thresholds to export; convert "
                         "it first (python -m model.train convert)")
    layers = ckpt.nodes()
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    out: dict[str, str] = {}  # our node -> the NIR node whose output is its value
    meta_layers: dict[str, dict] = {}
    dropout: list[list] = []
    for n in layers:
        if n.kind == "input":
            nodes[n.name] = nir.Input(input_type={"input": np.array(n.out_shape)})
            out[n.name] = n.name
            continue
        src = out[n.source]
        if n.kind == "dropout":
            dropout.append([n.name, n.source, float(n.p)])
            out[n.name] = src
            continue
        if n.kind == "avgpool":
            nodes[n.name] = nir.AvgPool2d(kernel_size=np.array([n.kernel] * 2),
                                          stride=np.array([n.stride] * 2),
                                          padding=np.array([0, 0]))
        elif n.kind == "flatten":
            nodes[n.name] = nir.Flatten(input_type={"input": np.array(n.in_shape)},
                                        start_dim=0, end_dim=-1)
        else:
            w = ckpt.weights[n.name].detach().to(torch.float32).numpy()
            b = (ckpt.bias[n.name].detach().to(torch.float32).numpy() if n.bias
                 else np.zeros(n.out_shape[0], np.float32))
            if n.kind == "conv":
                nodes[n.name] = nir.Conv2d(
                    input_shape=tuple(n.in_shape[1:]), weight=w, stride=(n.stride, n.stride),
                    padding=(n.padding, n.padding), dilation=(1, 1), groups=1, bias=b)
            else:
                nodes[n.name] = nir.Affine(weight=w, bias=b) if n.bias else nir.Linear(weight=w)
        edges.append((src, n.name))
        out[n.name] = n.name
        if not n.synaptic or n.neuron is None:
            continue
        leak = _leak_of(ckpt, n)
        if n.neuron == "integrate" and readout == "current":
            if leak != 1.0:
                raise ValueError(f"layer {n.name}: a leaky output (λ = {leak}) cannot be read "
                                 "as a current; export with readout='integrator'")
            meta_layers[n.name] = {"leak": leak}
            continue
        threshold = float(ckpt.threshold[n.name]) if n.spiking else None
        neuron = f"{n.name}_{n.neuron}"
        nodes[neuron] = _neuron_node(nir, n, leak, threshold, dt)
        edges.append((n.name, neuron))
        if n.residual is not None:
            edges.append((out[n.residual], neuron))
        out[n.name] = neuron
        meta_layers[n.name] = {"leak": leak, "reset": n.reset, "tau": float(n.tau)}
    last = layers[-1]
    nodes["output"] = nir.Output(output_type={"output": np.array(last.out_shape)})
    edges.append((out[last.name], "output"))
    if last.residual is not None and out[last.name] == last.name:  # a current readout
        edges.append((out[last.residual], "output"))  # the output sums its inputs
    meta = {"version": META_VERSION, "dt": dt, "timesteps": ckpt.timesteps,
            "reset": ckpt.reset, "gamma": ckpt.gamma, "arch": ckpt.arch,
            "dataset": ckpt.dataset, "stage": ckpt.stage, "preprocessing": ckpt.preprocessing,
            "layers": meta_layers, "dropout": dropout, "names": [n.name for n in layers]}
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=True,
                        metadata={META_KEY: json.dumps(meta), "dt": dt})


def write_nir(ckpt: Checkpoint, path: str | os.PathLike, **kw) -> Path:
    """Export to a ``.nir`` (HDF5) file, atomically (``kw`` as for :func:`to_nir`)."""
    from .files import atomic_path

    graph = to_nir(ckpt, **kw)
    with atomic_path(path) as tmp:
        _nir().write(str(tmp), graph)
    return Path(path)


# ------------------------------------------------------------------------------------ import
SUPPORTED = ("Input", "Output", "Conv2d", "Linear", "Affine", "Scale", "LIF", "IF", "LI", "I",
             "AvgPool2d", "SumPool2d", "Flatten", "Identity")
WHY_NOT = {
    "CubaLIF": "a current-based synapse (a second state per neuron) is not modelled",
    "CubaLI": "a current-based synapse (a second state per neuron) is not modelled",
    "Delay": "synaptic delays are not modelled",
    "Threshold": "a memoryless threshold unit is not modelled",
    "Conv1d": "1-D convolutions are not modelled",
    "NIRGraph": "nested subgraphs (e.g. recurrent layers) are not modelled",
}


@dataclass
class _Current:
    """A synaptic layer read so far: weights, bias and where its input comes from."""

    name: str
    kind: str  # conv | linear
    source: str  # our node whose output it reads
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    weight: np.ndarray  # float64
    bias: np.ndarray | None
    kernel: int = 0
    stride: int = 1
    padding: int = 0


@dataclass
class _Map:
    """A value on a spike map (or the input): our node producing it, its shape, and a gain
    still to fold into the synaptic layer that reads it (SumPool2d, Scale)."""

    node: str
    shape: tuple[int, ...]
    gain: float = 1.0


@dataclass
class _Reader:
    where: str
    dt: float
    reset: str | None
    meta: dict
    output: str  # the graph's Output node
    nodes: list[Node] = field(default_factory=list)
    weights: dict[str, torch.Tensor] = field(default_factory=dict)
    bias: dict[str, torch.Tensor] = field(default_factory=dict)
    leak: dict[str, float] = field(default_factory=dict)
    threshold: dict[str, float] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)  # a layer -> the dropout after it

    def fail(self, name: str, what: str) -> NIRError:
        return NIRError(f"{self.where}: node {name!r}: {what}")


def _array(v) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        v = v.detach().cpu().numpy()
    return np.asarray(v, dtype=np.float64)


def _uniform(r: _Reader, name: str, node, key: str, size: int) -> float:
    """One value per layer: the parameter's values must all be equal (a scalar broadcasts)."""
    a = _array(getattr(node, key)).ravel()
    if a.size not in (1, size):
        raise r.fail(name, f"{key} has {a.size} values for {size} neurons")
    if not np.all(np.isfinite(a)) and not (key == "tau" and np.all(a == np.inf)):
        raise r.fail(name, f"{key} holds non-finite values; expected finite numbers")
    if a.size and (a != a[0]).any():
        raise r.fail(name, f"{key} differs across neurons ({a.min():.6g} to {a.max():.6g}); "
                           "this chip holds one value per layer")
    return float(a[0])


def _pair(r: _Reader, name: str, v, what: str) -> int:
    a = np.asarray(v).ravel()
    if a.size == 0 or (a != a[0]).any():
        raise r.fail(name, f"{what} {a.tolist()}: only square ones are supported")
    return int(a[0])


def _meta(graph) -> dict:
    raw = (graph.metadata or {}).get(META_KEY) if isinstance(graph.metadata, dict) else None
    if raw is None:
        return {}
    try:
        meta = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) and meta.get("version") == META_VERSION else {}


def read_graph(path: str | os.PathLike):
    """Read a ``.nir`` file; a missing or unreadable file is one :class:`NIRError` line."""
    path = Path(path)
    if not path.is_file():
        raise NIRError(f"{path}: no such NIR file")
    try:
        return _nir().read(str(path))
    except NIRError:
        raise
    except Exception as e:  # h5py/nir raise many kinds; each is one line here
        raise NIRError(f"{path}: not a readable NIR graph ({type(e).__name__}: "
                       f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None


def from_nir(source, *, dt: float | None = None, timesteps: int | None = None,
             reset: str | None = None, label: str | None = None) -> Checkpoint:
    """A checkpoint (stage ``snn``) from a NIR graph or ``.nir`` file.

    ``dt`` (s): the Euler step; default: the graph's metadata ``dt``, else 1e-4 s.
    ``timesteps``: T; default: the metadata's, else 5. ``reset``: every LIF layer's reset
    (``zero``, NIR's; ``paper``: snnTorch's subtract; ``leaked``: SpikingJelly's soft reset);
    default: the metadata's per layer, else ``zero``. Raises :class:`NIRError` (one line).
    """
    nir = _nir()
    where = str(source) if not isinstance(source, nir.NIRGraph) else (label or "NIR graph")
    graph = source if isinstance(source, nir.NIRGraph) else read_graph(source)
    meta = _meta(graph)
    if dt is None:
        dt = meta.get("dt", (graph.metadata or {}).get("dt", DEFAULT_DT))
    dt = float(dt)
    if not (dt > 0 and math.isfinite(dt)):
        raise NIRError(f"{where}: dt {dt!r}: expected a finite number of seconds > 0")
    if reset is not None and reset not in RESETS:
        raise NIRError(f"{where}: reset {reset!r}: expected one of {', '.join(RESETS)}")
    T = int(timesteps if timesteps is not None else meta.get("timesteps", DEFAULT_TIMESTEPS))
    if T < 1:
        raise NIRError(f"{where}: timesteps {T}: expected a whole number >= 1")
    r = _Reader(where, dt, reset, meta, output="")
    order, preds, succs = _topology(r, graph)
    values: dict[str, _Current | _Map | tuple] = {}
    for name in order:
        values[name] = _read_node(r, name, graph.nodes[name], preds[name], succs[name], values)
    return _checkpoint(r, graph, T, label)


def _topology(r: _Reader, graph):
    nir = _nir()
    for name, node in graph.nodes.items():
        kind = type(node).__name__
        if kind in WHY_NOT:
            raise r.fail(name, f"a {kind}: {WHY_NOT[kind]}")
        if kind not in SUPPORTED:
            raise r.fail(name, f"a {kind} cannot be mapped (supported: {', '.join(SUPPORTED)})")
    for kind, cls in (("input", nir.Input), ("output", nir.Output)):
        found = [n for n, v in graph.nodes.items() if isinstance(v, cls)]
        if len(found) != 1:
            raise NIRError(f"{r.where}: {len(found)} {kind} nodes; expected exactly one")
        if kind == "output":
            r.output = found[0]
    preds: dict[str, list[str]] = {n: [] for n in graph.nodes}
    succs: dict[str, list[str]] = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise NIRError(f"{r.where}: edge {a!r} -> {b!r} names no node {end!r}")
        preds[b].append(a)
        succs[a].append(b)
    try:
        order = list(graphlib.TopologicalSorter(preds).static_order())
    except graphlib.CycleError as e:
        cycle = " -> ".join(map(str, e.args[1]))
        raise NIRError(f"{r.where}: a recurrent edge ({cycle}): recurrent connections are "
                       "not modelled") from None
    return order, preds, succs


def _add(r: _Reader, node: Node) -> str:
    """Append a node (and the dropout nodes the metadata puts after it); returns the name of
    the node whose output is this node's value."""
    if any(n.name == node.name for n in r.nodes):
        raise r.fail(node.name, "two layers would share this name")
    r.nodes.append(node)
    value = node.name
    for name, source, p in r.meta.get("dropout", []):
        if source == value:
            r.nodes.append(Node(name, "dropout", source=value, in_shape=node.out_shape,
                                out_shape=node.out_shape, p=float(p)))
            value = name
    r.alias[node.name] = value
    return value


def _map_of(r: _Reader, name: str, preds: list[str], values) -> _Map:
    if len(preds) != 1:
        raise r.fail(name, f"{len(preds)} inputs; only a neuron layer may sum several inputs")
    v = values[preds[0]]
    if not isinstance(v, _Map):
        raise r.fail(name, f"reads the synaptic layer {preds[0]!r} directly; a neuron (LIF, "
                           "IF) must come between two synaptic layers")
    return v


def _read_node(r: _Reader, name: str, node, preds, succs, values):
    kind = type(node).__name__
    if kind == "Input":
        shape = tuple(int(s) for s in np.asarray(node.input_type["input"]).ravel())
        if len(shape) == 4 and shape[0] == 1:  # an exporter that kept the batch axis
            shape = shape[1:]
        if len(shape) == 1:  # a feature vector: stored as (F, 1, 1), flattened at once
            src = _add(r, Node(name, "input", out_shape=(shape[0], 1, 1)))
            flat = _add(r, Node(f"{name}_flatten", "flatten", source=src,
                                in_shape=(shape[0], 1, 1), out_shape=shape))
            return _Map(flat, shape)
        if len(shape) != 3:
            raise r.fail(name, f"input shape {list(shape)}: expected [C, H, W] or [F]")
        return _Map(_add(r, Node(name, "input", out_shape=shape)), shape)
    if kind in ("Conv2d", "Linear", "Affine"):
        return _read_synapse(r, name, node, kind, preds, succs, values)
    if kind == "Scale":
        v = values[preds[0]] if len(preds) == 1 else None
        if v is None:
            raise r.fail(name, f"{len(preds)} inputs; a Scale reads one")
        s = _uniform(r, name, node, "scale", int(np.prod(v.out_shape if isinstance(
            v, _Current) else v.shape)))
        if isinstance(v, _Current):
            v.weight = v.weight * s
            v.bias = None if v.bias is None else v.bias * s
            return v
        return _Map(v.node, v.shape, v.gain * s)
    if kind in ("AvgPool2d", "SumPool2d"):
        m = _map_of(r, name, preds, values)
        k = _pair(r, name, node.kernel_size, "kernel")
        s = _pair(r, name, node.stride, "stride")
        p = _pair(r, name, node.padding, "padding")
        if s != k or p != 0 or len(m.shape) != 3:
            raise r.fail(name, f"pooling with kernel {k}, stride {s}, padding {p} on "
                               f"{list(m.shape)}: only non-overlapping pooling (stride = "
                               "kernel, no padding) of a [C, H, W] map is modelled")
        c, h, w = m.shape
        shape = (c, h // k, w // k)
        value = _add(r, Node(name, "avgpool", source=m.node, in_shape=m.shape, out_shape=shape,
                             kernel=k, stride=k))
        return _Map(value, shape, m.gain * (k * k if kind == "SumPool2d" else 1))
    if kind == "Flatten":
        m = _map_of(r, name, preds, values)
        if len(m.shape) == 1:
            return m
        shape = (int(np.prod(m.shape)),)
        value = _add(r, Node(name, "flatten", source=m.node, in_shape=m.shape, out_shape=shape))
        return _Map(value, shape, m.gain)
    if kind == "Identity":
        return _map_of(r, name, preds, values)
    if kind in ("LIF", "IF", "LI", "I"):
        return _read_neuron(r, name, node, kind, preds, succs, values)
    if kind == "Output":
        return _read_output(r, name, preds, values)
    raise r.fail(name, f"a {kind} cannot be mapped")  # pragma: no cover - _topology refuses


def _read_synapse(r: _Reader, name, node, kind, preds, succs, values) -> _Current:
    m = _map_of(r, name, preds, values)
    w = _array(node.weight)
    if not np.all(np.isfinite(w)):
        raise r.fail(name, f"weight holds {int((~np.isfinite(w)).sum())} NaN or infinite "
                           "values; expected finite numbers")
    b = _array(node.bias) if kind != "Linear" and getattr(node, "bias", None) is not None \
        else None
    if b is not None and not np.all(np.isfinite(b)):
        raise r.fail(name, "bias holds NaN or infinite values; expected finite numbers")
    if b is not None and not b.any():
        b = None  # an all-zero bias (exporters write one for bias=False): no bias adds
    if len(succs) != 1:
        raise r.fail(name, f"feeds {len(succs)} nodes; a synaptic layer must feed one neuron "
                           "layer (or the output)")
    if kind == "Conv2d":
        if w.ndim != 4 or len(m.shape) != 3:
            raise r.fail(name, f"a Conv2d of weight {list(w.shape)} on input {list(m.shape)}")
        if int(np.asarray(node.groups)) != 1:
            raise r.fail(name, f"groups {node.groups}: only dense convolutions are modelled")
        if _pair(r, name, node.dilation, "dilation") != 1:
            raise r.fail(name, "dilation > 1 is not modelled")
        k = _pair(r, name, w.shape[2:], "kernel")
        s = _pair(r, name, node.stride, "stride")
        pad = node.padding
        if isinstance(pad, str):
            if pad not in ("same", "valid") or (pad == "same" and (s != 1 or k % 2 == 0)):
                raise r.fail(name, f"padding {pad!r} with kernel {k}, stride {s}: not modelled")
            p = k // 2 if pad == "same" else 0
        else:
            p = _pair(r, name, pad, "padding")
        c, h, wd = m.shape
        if w.shape[1] != c:
            raise r.fail(name, f"weight {list(w.shape)} reads {w.shape[1]} channels; its input "
                               f"has shape {list(m.shape)}")
        out = (w.shape[0], (h + 2 * p - k) // s + 1, (wd + 2 * p - k) // s + 1)
        return _Current(name, "conv", m.node, m.shape, out, w * m.gain, b, k, s, p)
    if w.ndim != 2 or len(m.shape) != 1 or w.shape[1] != m.shape[0]:
        raise r.fail(name, f"weight {list(w.shape)} on input {list(m.shape)}: expected "
                           f"[F_out, {m.shape[0] if len(m.shape) == 1 else 'F_in'}] on a "
                           "flat input (add a Flatten)")
    return _Current(name, "linear", m.node, m.shape, (w.shape[0],), w * m.gain, b)


def _physics(r: _Reader, name: str, node, kind: str, size: int):
    """(λ, g, v) of a neuron node under forward Euler with step dt (v None: no spike)."""
    r_ = _uniform(r, name, node, "r", size)
    if kind in ("LIF", "LI"):
        tau = _uniform(r, name, node, "tau", size)
        if _uniform(r, name, node, "v_leak", size) != 0.0:
            raise r.fail(name, "v_leak is not 0; this chip's membranes leak towards 0")
        if not tau >= r.dt:
            raise r.fail(name, f"tau {tau:g} s < dt {r.dt:g} s: forward Euler gives "
                               f"λ = 1 − dt/τ < 0; import with a smaller dt")
        leak, gain = 1.0 - r.dt / tau, r_ * r.dt / tau
    else:
        leak, gain = 1.0, r_ * r.dt
    v = None
    if kind in ("LIF", "IF"):
        v = _uniform(r, name, node, "v_threshold", size)
        if not v > 0:
            raise r.fail(name, f"v_threshold {v:g}: expected a number > 0")
        if _uniform(r, name, node, "v_reset", size) != 0.0 and r.reset in (None, "zero"):
            raise r.fail(name, "v_reset is not 0; this chip's hard reset sets v to 0")
    return leak, gain, v


def _scaled(w: np.ndarray, gain: float) -> torch.Tensor:
    g = np.float32(gain)
    return torch.from_numpy((w if g == np.float32(1.0) else w * gain).astype(np.float32))


def _merge(r: _Reader, name: str, preds, values) -> tuple[_Current, str | _Map | None]:
    """The neuron's main synaptic input and its second input (a shortcut current or a spike
    map added to the current), if any."""
    ins = [values[p] for p in preds]
    currents = [v for v in ins if isinstance(v, _Current)]
    if not currents or len(ins) > 2:
        raise r.fail(name, f"{len(ins)} inputs of which {len(currents)} synaptic; a neuron "
                           "layer reads one synaptic layer plus at most one shortcut")
    main = currents[0]
    other = next((v for v in ins if v is not main), None)
    return main, other


def _read_neuron(r: _Reader, name, node, kind, preds, succs, values):
    main, other = _merge(r, name, preds, values)
    size = int(np.prod(main.out_shape))
    leak, gain, v = _physics(r, name, node, kind, size)
    output = succs == [r.output]
    if kind in ("LI", "I") and not output:
        raise r.fail(name, f"a non-spiking {kind} layer inside the network: only the output "
                           "may integrate without spiking")
    meta = r.meta.get("layers", {}).get(main.name, {})
    if meta and abs(meta.get("leak", leak) - leak) <= 1e-6:
        leak = float(meta["leak"])  # this module's own export: the exact float32 λ
    residual = None
    if isinstance(other, _Current):
        if other.out_shape != main.out_shape:
            raise r.fail(name, f"sums {list(main.out_shape)} and {list(other.out_shape)}")
        residual = _node_of(r, other, None, gain, None)
    elif isinstance(other, _Map):
        if other.shape != main.out_shape or np.float32(gain * other.gain) != np.float32(1.0):
            raise r.fail(name, "a shortcut of spikes must match the layer's shape and enter "
                               "with gain 1 (R·dt/τ = 1)")
        residual = other.node
    neuron = "integrate" if kind in ("LI", "I") else "lif"
    layer = _node_of(r, main, neuron, gain, residual, meta)
    if neuron == "lif":
        r.threshold[layer] = float(np.float32(v))
        r.leak[layer] = float(np.float32(leak))
    elif leak != 1.0:
        r.leak[layer] = float(np.float32(leak))
    return _Map(r.alias[layer], main.out_shape) if neuron == "lif" else ("out", layer)


def _node_of(r: _Reader, c: _Current, neuron, gain: float, residual, meta=None) -> str:
    reset = None
    if neuron == "lif":
        # the layer's own reset when this module wrote the graph; else the network's (NIR's
        # hard reset, or the ``reset`` asked for)
        reset = meta.get("reset") if (meta and r.reset is None) else None
    node = Node(c.name, c.kind, source=c.source, in_shape=c.in_shape, out_shape=c.out_shape,
                kernel=c.kernel, stride=c.stride, padding=c.padding, neuron=neuron,
                residual=residual, bias=c.bias is not None, reset=reset,
                tau=float((meta or {}).get("tau", 0.0)) if neuron == "lif" else 0.0)
    r.weights[c.name] = _scaled(c.weight, gain)
    if c.bias is not None:
        r.bias[c.name] = _scaled(c.bias, gain)
    _add(r, node)
    return node.name


def _read_output(r: _Reader, name, preds, values):
    ins = [values[p] for p in preds]
    if len(ins) == 1 and isinstance(ins[0], tuple):  # an integrator neuron (I, LI)
        return ins[0]
    if any(isinstance(v, _Current) for v in ins):  # the current: summed over T
        main, other = _merge(r, name, preds, values)
        residual = None
        if isinstance(other, _Current):
            residual = _node_of(r, other, None, 1.0, None)
        elif isinstance(other, _Map):
            residual = other.node
        return ("out", _node_of(r, main, "integrate", 1.0, residual))
    if len(ins) == 1 and isinstance(ins[0], _Map) and r.nodes[-1].name == ins[0].node \
            and r.nodes[-1].spiking:  # spikes of the last layer: read by count
        return ("out", ins[0].node)
    raise r.fail(name, "the output must read the last synaptic layer, an integrator (I, LI) "
                       "or the last LIF/IF layer")


def _checkpoint(r: _Reader, graph, T: int, label: str | None) -> Checkpoint:
    from .architectures import ArchitectureError, node_to_dict, nodes_from_dicts

    rank = {name: i for i, name in enumerate(r.meta.get("names", []))}
    if rank.keys() == {n.name for n in r.nodes}:  # this module's export: its own order
        r.nodes.sort(key=lambda n: rank[n.name])
    last = r.nodes[-1]
    if not (last.synaptic and last.neuron in ("lif", "integrate")):
        raise NIRError(f"{r.where}: node {last.name!r} does not lead to the output; every "
                       "node must feed the output")
    if len(last.out_shape) != 1:
        raise NIRError(f"{r.where}: the output {last.name!r} is a map {list(last.out_shape)}; "
                       "expected a vector of class scores (add Flatten and a Linear layer)")
    try:
        nodes = nodes_from_dicts([node_to_dict(n) for n in r.nodes])
    except (ArchitectureError, ValueError, TypeError) as e:
        raise NIRError(f"{r.where}: {e}") from None
    m = r.meta
    channels = nodes[0].out_shape[0]
    pre = m.get("preprocessing") or {"mean": [0.0] * channels, "std": [1.0] * channels}
    return Checkpoint(
        arch=m.get("arch") or label or f"nir:{Path(r.where).stem}",
        dataset=m.get("dataset") or "nir", num_classes=int(last.out_shape[0]),
        input_shape=tuple(int(v) for v in nodes[0].out_shape), preprocessing=pre,
        stage=m.get("stage") or "snn", timesteps=T,
        reset=r.reset or m.get("reset") or "zero", gamma=float(m.get("gamma", DEFAULT_GAMMA)),
        leak=r.leak, threshold=r.threshold, weights=r.weights, bias=r.bias,
        metrics={"imported_from_nir": {"file": r.where, "dt_s": r.dt}}, layers=nodes)


# --------------------------------------------------------------------------------------- CLI
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m model.nir", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write a checkpoint as a NIR graph")
    ex.add_argument("--model", help="checkpoint (default: the bundled DIET-SNN)")
    ex.add_argument("--out", required=True, help="the .nir file to write")
    ex.add_argument("--dt", type=float, default=DEFAULT_DT, help="Euler step in seconds "
                    f"(default {DEFAULT_DT:g}, as snnTorch and SpikingJelly read graphs)")
    ex.add_argument("--readout", choices=READOUTS, default="current",
                    help="the integrating output as its current (default; loads in snnTorch, "
                         "SpikingJelly, Norse) or as a NIR integrator node (I/LI)")
    im = sub.add_parser("import", help="write a NIR graph as a checkpoint")
    im.add_argument("nir_file", help="the .nir file to read")
    im.add_argument("--out", required=True, help="the checkpoint (.pt) to write")
    im.add_argument("--dt", type=float, help="Euler step in seconds (default: the graph's "
                    f"metadata, else {DEFAULT_DT:g})")
    im.add_argument("--timesteps", type=int, help="T (default: the graph's metadata, else "
                    f"{DEFAULT_TIMESTEPS})")
    im.add_argument("--reset", choices=RESETS, help="every LIF layer's reset: zero (NIR's "
                    "hard reset, default), paper (snnTorch's subtract), leaked (SpikingJelly's "
                    "soft reset)")
    return ap


def main(argv: list[str] | None = None) -> Path:
    from .checkpoint import load, save
    from .common import USER_ERRORS, check_output

    args = parser().parse_args(argv)
    try:
        check_output(args.out, "--out")
        if args.command == "export":
            from .bundled import bundled_model_path

            ckpt = load(args.model or bundled_model_path(), stages=("converted", "snn"))
            path = write_nir(ckpt, args.out, dt=args.dt, readout=args.readout)
            print(f"wrote {path}: {len(ckpt.nodes())} layers, dt {args.dt:g} s, "
                  f"readout {args.readout}")
            return path
        ckpt = from_nir(args.nir_file, dt=args.dt, timesteps=args.timesteps, reset=args.reset)
        save(ckpt, args.out)
        dt = ckpt.metrics["imported_from_nir"]["dt_s"]
        print(f"wrote {args.out}: {len(ckpt.nodes())} layers, input {list(ckpt.input_shape)}, "
              f"{ckpt.num_classes} outputs, dt {dt:g} s, T {ckpt.timesteps}")
        return Path(args.out)
    except (*USER_ERRORS, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as e:
        print(f"error: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()

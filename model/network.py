"""One module, two readings: the same weights run as an ANN (ReLU) or as a DIET-SNN (LIF).

The SNN is evaluated layer by layer over all T steps at once (a layer at step t needs only the
layer below at step t and itself at t-1, so this order gives exactly the per-timestep results):
a conv sees a ``[T*B, C, H, W]`` batch, then the LIF recursion runs over T elementwise. The
input is analog and constant over T (direct encoding), so the first layer's current is computed
once and reused at every step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .architectures import Node
from .neuron import (
    DEFAULT_GAMMA,
    RESETS,
    LIFParameters,
    MembraneFormat,
    integrate_step,
    leak_from_tau,
    lif_step,
)

# A hook called with (node, pre-activation current) before a LIF layer runs; it may change the
# layer's threshold in place (conversion uses this to balance thresholds in order).
CurrentHook = Callable[[Node, torch.Tensor], None]


@dataclass
class SNNOutput:
    """Result of one SNN forward pass over T steps.

    ``logits`` [B, classes] = the output layer's readout: an integrating output's accumulated
    current a[T-1], or a LIF output's spike count per neuron over the T steps (whole numbers in
    the input's dtype); ``spikes`` maps each spiking layer (a LIF output included) to its spike
    tensor [T, B, ...] (when recorded); ``spike_counts`` maps it to the total number of spikes
    over the batch and all T (0-d tensors); ``membranes`` maps it to u[t] [T, B, ...] (when
    asked for), and an integrating output layer to a[t].
    """

    logits: torch.Tensor
    spike_counts: dict[str, torch.Tensor] = field(default_factory=dict)
    spikes: dict[str, torch.Tensor] = field(default_factory=dict)
    membranes: dict[str, torch.Tensor] = field(default_factory=dict)


def _flat_time(x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """Apply a per-sample op to a [T, B, ...] tensor as one [T*B, ...] batch."""
    t, b = x.shape[:2]
    y = fn(x.reshape(t * b, *x.shape[2:]))
    return y.reshape(t, b, *y.shape[1:])


class Network(nn.Module):
    """Weights of an architecture (a tuple of :class:`Node`) plus λ and v of every LIF layer.

    ``forward(x)`` is the ANN; ``snn(x, timesteps)`` is the SNN. Conversion is therefore a copy:
    an ANN checkpoint's weights load unchanged into the SNN. ``output_leak`` is the integrating
    output layer's λ (a 0-d buffer, 1 by default; fixed, not trained, not in the state dict:
    the checkpoint's ``leak`` entry for the output layer sets it, ``model.checkpoint``).

    A layer with ``batch_norm`` (ANN stage only) holds a ``torch.nn.BatchNorm2d`` (conv) or
    ``BatchNorm1d`` (linear) in ``bn``, applied to its current before the residual and the
    ReLU; ``train()``/``eval()`` switch it between batch and running statistics. ``snn`` refuses
    such a network: fold the batch norm first (``model.conversion.fold_batch_norm``).
    """

    def __init__(self, nodes: tuple[Node, ...], timesteps: int = 5, reset: str = "paper",
                 gamma: float = DEFAULT_GAMMA, init: bool = True):
        super().__init__()
        if reset not in RESETS:
            raise ValueError(f"unknown reset variant {reset!r}; choose one of {RESETS}")
        self.nodes = tuple(nodes)
        self.timesteps = int(timesteps)
        self.reset = reset
        self.gamma = float(gamma)
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        self.bn = nn.ModuleDict()
        self.lif = nn.ModuleDict()
        for n in self.nodes:
            if n.synaptic:
                w = torch.empty(n.weight_shape)
                if init:  # Kaiming; skipped when a checkpoint's weights overwrite them anyway
                    nn.init.kaiming_normal_(w, nonlinearity="relu")
                self.weights[self._key(n.name)] = nn.Parameter(w)
                if n.bias:
                    self.biases[self._key(n.name)] = nn.Parameter(torch.zeros(n.bias_shape))
                if n.batch_norm:
                    norm = nn.BatchNorm2d if n.kind == "conv" else nn.BatchNorm1d
                    self.bn[self._key(n.name)] = norm(n.out_shape[0], eps=n.bn_eps,
                                                      momentum=n.bn_momentum)
            if n.spiking:
                self.lif[self._key(n.name)] = LIFParameters(
                    leak_from_tau(n.tau) if n.tau else 1.0)
        # the integrating output's λ: a[t] = λ·a[t-1] + I[t] (model.neuron.integrate_step)
        self.register_buffer("output_leak", torch.tensor(1.0), persistent=False)
        self._consumers = self._count_consumers()
        # a chip's fixed-point membranes, per layer (set by hwsim.functional.store; inference)
        self.membrane_formats: dict[str, MembraneFormat] = {}

    @staticmethod
    def _key(name: str) -> str:
        return name.replace(".", "__")

    def weight(self, name: str) -> torch.Tensor:
        return self.weights[self._key(name)]

    def bias(self, name: str) -> torch.Tensor | None:
        """The layer's bias (C_out,), or None for a layer without one."""
        key = self._key(name)
        return self.biases[key] if key in self.biases else None

    def batch_norm(self, name: str) -> nn.BatchNorm1d | nn.BatchNorm2d | None:
        """The layer's batch norm, or None for a layer without one."""
        key = self._key(name)
        return self.bn[key] if key in self.bn else None

    def neuron(self, name: str) -> LIFParameters:
        return self.lif[self._key(name)]

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    @property
    def spiking_layers(self) -> list[Node]:
        return [n for n in self.nodes if n.spiking]

    @property
    def output_node(self) -> Node:
        return self.nodes[-1]

    def _count_consumers(self) -> dict[str, int]:
        count = {n.name: 0 for n in self.nodes}
        for n in self.nodes:
            for src in (n.source, n.residual):
                if src is not None:
                    count[src] += 1
        return count

    def clamp_(self) -> None:
        """Keep every λ in [0, 1] and v > 0 (call after each optimiser step)."""
        for p in self.lif.values():
            p.clamp_()

    # ---------------------------------------------------------------- shared per-node operators
    def _synaptic(self, n: Node, x: torch.Tensor) -> torch.Tensor:
        """The synaptic current W·x, then + b (a separate float add, as the simulator does),
        then the layer's batch norm if it has one (ANN only)."""
        w = self.weight(n.name)
        if n.kind == "conv":
            y = F.conv2d(x, w, stride=n.stride, padding=n.padding)
        else:
            y = F.linear(x, w)
        if n.bias:
            b = self.bias(n.name)
            y = y + (b.view(-1, 1, 1) if n.kind == "conv" else b)
        if n.batch_norm:
            y = self.batch_norm(n.name)(y)
        return y

    @staticmethod
    def _pool(n: Node, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, n.kernel, n.stride)

    def _release(self, values: dict, n: Node, pending: dict[str, int]) -> None:
        for src in (n.source, n.residual):
            if src is not None:
                pending[src] -= 1
                if pending[src] == 0:
                    values.pop(src, None)

    # ---------------------------------------------------------------------------------- ANN
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """ANN forward: ReLU where the SNN has LIF neurons; returns logits [B, classes]."""
        values: dict[str, torch.Tensor] = {}
        pending = dict(self._consumers)
        for n in self.nodes:
            if n.kind == "input":
                y = x
            else:
                src = values[n.source]
                if n.synaptic:
                    y = self._synaptic(n, src)
                    if n.residual is not None:
                        y = y + values[n.residual]
                    if n.neuron == "lif":
                        y = F.relu(y)
                elif n.kind == "avgpool":
                    y = self._pool(n, src)
                elif n.kind == "flatten":
                    y = src.flatten(1)
                else:  # dropout
                    y = F.dropout(src, n.p, self.training)
                self._release(values, n, pending)
            values[n.name] = y
        return values[self.output_node.name]

    def ann_activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Pre-activations (input currents) of every LIF layer of the ANN, for diagnostics."""
        acts: dict[str, torch.Tensor] = {}
        values: dict[str, torch.Tensor] = {}
        for n in self.nodes:
            if n.kind == "input":
                y = x
            elif n.synaptic:
                y = self._synaptic(n, values[n.source])
                if n.residual is not None:
                    y = y + values[n.residual]
                if n.neuron == "lif":
                    acts[n.name] = y
                    y = F.relu(y)
            elif n.kind == "avgpool":
                y = self._pool(n, values[n.source])
            elif n.kind == "flatten":
                y = values[n.source].flatten(1)
            else:
                y = values[n.source]
            values[n.name] = y
        return acts

    # ---------------------------------------------------------------------------------- SNN
    def snn(self, x: torch.Tensor, timesteps: int | None = None, *, record_spikes: bool = False,
            record_membranes: bool = False, current_hook: CurrentHook | None = None,
            reset: str | None = None) -> SNNOutput:
        """SNN forward over T steps with direct input encoding (x is fed at every step).

        Tensors that change over time are [T, B, ...]; the input and the first layer's current
        are [B, ...] (constant over T). Dropout (in training mode) draws one mask per sample and
        reuses it at every step. Spikes are 0/1 in the dtype of ``x``.
        """
        T = int(timesteps or self.timesteps)
        if T < 1:
            raise ValueError(f"timesteps must be >= 1, got {T}")
        if len(self.bn):
            names = ", ".join(n.name for n in self.nodes if n.batch_norm)
            raise ValueError(f"layers {names} have batch norm, which the SNN does not run: fold "
                             f"it first (model.conversion.fold_batch_norm)")
        reset = reset or self.reset
        out = SNNOutput(logits=torch.empty(0))
        values: dict[str, torch.Tensor] = {}
        static: set[str] = set()  # names whose value is constant over T ([B, ...])
        pending = dict(self._consumers)
        for n in self.nodes:
            if n.kind == "input":
                values[n.name] = x
                static.add(n.name)
                continue
            src = values[n.source]
            is_static = n.source in static
            if n.synaptic:
                if is_static:
                    y = self._synaptic(n, src)
                else:
                    y = _flat_time(src, lambda v, n=n: self._synaptic(n, v))
                if n.residual is not None:
                    res = values[n.residual]
                    if n.residual in static and not is_static:
                        res = res.unsqueeze(0)
                    elif is_static and n.residual not in static:
                        y = y.unsqueeze(0)
                        is_static = False
                    y = y + res
                if n.neuron == "lif":
                    if current_hook is not None:
                        current_hook(n, y)
                    y = self._run_lif(n, y, is_static, T, n.reset or reset, record_membranes,
                                      out)
                    out.spike_counts[n.name] = y.detach().sum()
                    if record_spikes:
                        out.spikes[n.name] = y.detach()
                    is_static = False
                elif n.neuron == "integrate":
                    y = self._run_integrate(n, y, is_static, T, record_membranes, out)
                    is_static = True
            elif n.kind == "avgpool":
                y = (self._pool(n, src) if is_static
                     else _flat_time(src, lambda v, n=n: self._pool(n, v)))
            elif n.kind == "flatten":
                y = src.flatten(1) if is_static else src.flatten(2)
            else:  # dropout: one mask per sample, shared by all T steps
                if self.training and n.p > 0:
                    shape = src.shape if is_static else src.shape[1:]
                    mask = torch.bernoulli(torch.full(shape, 1.0 - n.p, dtype=src.dtype,
                                                      device=src.device)) / (1.0 - n.p)
                    y = src * mask
                else:
                    y = src
            self._release(values, n, pending)
            values[n.name] = y
            if is_static:
                static.add(n.name)
        y = values[self.output_node.name]
        # a LIF output reads out its spike count per neuron over the T steps
        out.logits = y.sum(0) if self.output_node.neuron == "lif" else y
        return out

    def _run_lif(self, n: Node, current: torch.Tensor, is_static: bool, T: int, reset: str,
                 record_membranes: bool, out: SNNOutput) -> torch.Tensor:
        p = self.neuron(n.name)
        shape = current.shape if is_static else current.shape[1:]
        u = torch.zeros(shape, dtype=current.dtype, device=current.device)
        o = torch.zeros_like(u)
        spikes, membranes = [], []
        for t in range(T):
            o, u = lif_step(u, current if is_static else current[t], p.leak, p.threshold, o,
                            reset, self.gamma, self.membrane_formats.get(n.name))
            spikes.append(o)
            if record_membranes:
                membranes.append(u.detach())
        if record_membranes:
            out.membranes[n.name] = torch.stack(membranes)
        return torch.stack(spikes)

    def _run_integrate(self, n: Node, current: torch.Tensor, is_static: bool, T: int,
                       record_membranes: bool, out: SNNOutput) -> torch.Tensor:
        shape = current.shape if is_static else current.shape[1:]
        a = torch.zeros(shape, dtype=current.dtype, device=current.device)
        trace = []
        for t in range(T):
            a = integrate_step(a, current if is_static else current[t],
                               self.membrane_formats.get(n.name), self.output_leak)
            if record_membranes:
                trace.append(a.detach())
        if record_membranes:
            out.membranes[n.name] = torch.stack(trace)
        return a


def parameter_groups(net: Network, weight_decay: float, train_weights: bool = True,
                     train_leak: bool = True, train_threshold: bool = True) -> list[dict]:
    """Optimiser groups: weights with weight decay; biases, batch norm's γ and β, λ and v never
    weight-decayed.

    Batch norm makes its layer's output independent of the scale of W, so decay on W only sets
    W's effective learning rate, while decay on γ and β would shrink the normalised currents
    themselves (and, once folded, every weight and bias of the layer) toward zero: a change of
    the function, not a regulariser (the usual practice, e.g. Goyal et al. 2017). Parameters
    not trained get ``requires_grad=False`` so they stay exactly as they are.
    """
    weights = list(net.weights.values())
    biases = list(net.biases.values()) + [p for m in net.bn.values() for p in m.parameters()]
    leaks = [p.leak for p in net.lif.values()]
    thresholds = [p.threshold for p in net.lif.values()]
    for params, on in ((weights, train_weights), (biases, train_weights), (leaks, train_leak),
                       (thresholds, train_threshold)):
        for p in params:
            p.requires_grad_(on)
    groups = []
    if train_weights:
        groups.append({"params": weights, "weight_decay": weight_decay})
        if biases:
            groups.append({"params": biases, "weight_decay": 0.0})
    lif = ([*leaks] if train_leak else []) + ([*thresholds] if train_threshold else [])
    if lif:
        groups.append({"params": lif, "weight_decay": 0.0})
    return groups

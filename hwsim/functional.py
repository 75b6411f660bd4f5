"""The simulator's functional datapath: real images through the chip's own LIF datapath, layer by
layer over all T steps, event by event, and the check against the PyTorch model.

Exact by construction (docs/DESIGN.md §2): the chip stores each layer's weights in fixed point,
``weight_bits`` wide with a power-of-two scale, so every weight is k·2^-e. Inputs to spiking
layers are spikes (0/1) or pooled spikes (multiples of 1/4), so every partial sum is an integer
multiple of 2^-(e+2) and, while it stays inside the float32 mantissa, exact in any order. The
leak/compare/reset steps are the same IEEE float32 operations as the model's. The first layer
sees analog pixels: it is a dense MAC layer on the chip and its current (constant over T) is
computed by the same convolution on both sides. The PyTorch reference runs on the same stored
weights; the full-precision model's accuracy is reported next to it.

A float datapath (``precision.datapath: fp``) keeps full-precision weights; there the sums are
not exact in every order, so both sides run in float64 and mismatches are counted, not assumed.

With fixed-point membranes each bias is stored in fixed point too, on its layer's membrane grid
(:func:`quantize_biases`), in the one stored copy both sides run. The output layer reads out
an integrator's a[T-1] (with its λ) or a LIF layer's spike counts (``model.neuron``).

The ANN baseline (:func:`ann_activity`) runs the same stored weights with ReLU; on the int
datapath its activations are fixed point too (:class:`ActivationFormat`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from model.architectures import Node
from model.checkpoint import Checkpoint
from model.network import Network
from model.neuron import MembraneFormat

from . import kernels as K


def quantize_pow2(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, int]:
    """Symmetric fixed point with a power-of-two step: w_q = round(w / 2^-e) · 2^-e, clipped to
    ±(2^(bits-1) − 1) steps; e is the smallest exponent whose range covers max|w|.

    Returns (w_q in w's dtype, e). All-zero weights get e = 0.
    """
    if bits < 2:
        raise ValueError(f"weight_bits must be >= 2, got {bits}")
    qmax = 2 ** (bits - 1) - 1
    m = max(float(w.max()), -float(w.min()))
    if m == 0.0:
        return w.clone(), 0
    e = int(np.floor(np.log2(qmax / m)))  # step 2^-e: m / 2^-e <= qmax
    step = 2.0 ** -e
    return (w / step).round_().clamp_(-qmax, qmax).mul_(step), e  # one temporary, not four


@dataclass
class StoredModel:
    """The network as the chip holds it.

    ``net`` is the PyTorch reference on the stored (quantized) weights (None for a model that
    only runs on the event datapath, see :func:`reference_model`); ``event_weights`` holds the
    weights in the kernels' layout ([C_in, k, k, C_out] or [F_in, F_out]; a linear layer after
    a flatten reads its input in torch's (C, H, W) order); ``dense_weights`` the same weights
    in torch's layout (for the analog first layer's dense MACs); ``leak`` and ``threshold`` λ
    and v of every LIF layer as the model's float32 parameters hold them; ``output_leak`` the
    integrating output layer's λ (1: plain integration); ``exponents`` the fixed-point
    exponent e of each layer (step 2^-e). ``membranes``: each LIF and output layer's
    fixed-point membrane (empty: float membranes); ``bias``: each biased layer's bias [C_out]
    as the model holds it (with fixed-point membranes: on the membrane grid).

    A linear layer's torch weight in ``net`` is a transposed view of its event weights (one
    copy of the largest matrices, not two).
    """

    nodes: tuple[Node, ...]
    net: Network | None
    event_weights: dict[str, np.ndarray]
    dense_weights: dict[str, torch.Tensor]
    leak: dict[str, float]
    threshold: dict[str, float]
    reset_leaked: bool
    exponents: dict[str, int]
    dtype: torch.dtype
    exact: bool
    weight_bits: int | None
    membranes: dict[str, MembraneFormat] = field(default_factory=dict)
    resets: dict[str, str] = field(default_factory=dict)  # per LIF layer (default: the net's)
    bias: dict[str, np.ndarray] = field(default_factory=dict)  # per layer with a bias [C_out]
    output_leak: float = 1.0  # the integrating output's λ (as the model's buffer holds it)

    def reset_of(self, name: str):
        """A LIF layer's reset variant (its node's own, or the network's)."""
        return self.resets.get(name, self.reset_leaked)


def _event_layout(n: Node, w: torch.Tensor) -> np.ndarray:
    """A torch weight in the kernels' layout (a new C-contiguous array; torch's blocked copy
    transposes a large matrix ~3x faster than numpy's)."""
    w = w.detach().cpu()
    w = w.t() if n.kind == "linear" else w.permute(1, 2, 3, 0)
    return w.clone(memory_format=torch.contiguous_format).numpy()


def store(ckpt: Checkpoint, weight_bits: int | None, membrane_bits: int | None = None,
          T: int | None = None, leak: str = "multiply") -> StoredModel:
    """Quantize a checkpoint's weights for the chip (``weight_bits`` None: keep float, run in
    float64); with ``membrane_bits`` (int datapath only) the membranes are fixed point too,
    sized for ``T`` steps (default the checkpoint's): see :func:`membrane_formats`, and so are
    the biases (:func:`quantize_biases`) and every λ and v (:func:`_fixed_point_lif`);
    ``leak`` the chip's leak unit (``policy.leak``: multiply, or shift, see
    :func:`shift_leak`)."""
    exact = weight_bits is not None
    if membrane_bits is not None and not exact:
        raise ValueError("fixed-point membranes need fixed-point weights (weight_bits)")
    dtype = torch.float32 if exact else torch.float64
    net = ckpt.build(dtype).eval()
    event_weights, exponents = {}, {}
    with torch.no_grad():
        for n in net.nodes:
            if not n.synaptic:
                continue
            w = net.weight(n.name)
            if exact:
                w.data, e = quantize_pow2(w.data, weight_bits)
                exponents[n.name] = e
            event_weights[n.name] = _event_layout(n, w)
            if n.kind == "linear":  # share: torch's [F_out, F_in] as a view of [F_in, F_out]
                w.data = torch.from_numpy(event_weights[n.name]).T
    lif = {n.name: net.neuron(n.name) for n in net.spiking_layers}
    formats = {}
    if membrane_bits is not None:
        biases = {n.name: net.bias(n.name) for n in net.nodes if n.bias}
        formats = membrane_formats(
            net.nodes, {n.name: net.weight(n.name) for n in net.nodes if n.synaptic},
            {k: p.threshold.item() for k, p in lif.items()}, membrane_bits,
            T or ckpt.timesteps, biases)
        _fixed_point_lif(lif, formats, leak == "shift")
        out = net.output_node
        if out.neuron == "integrate":
            with torch.no_grad():
                net.output_leak.fill_(fixed_point_leak(net.output_leak.item(),
                                                       formats[out.name], leak == "shift"))
        quantize_biases(net.nodes, biases, formats)
        net.membrane_formats = formats
    return StoredModel(net.nodes, net, event_weights,
                       {n.name: net.weight(n.name) for n in net.nodes if n.synaptic},
                       {k: p.leak.item() for k, p in lif.items()},
                       {k: p.threshold.item() for k, p in lif.items()},
                       net.reset == "leaked", exponents, dtype, exact, weight_bits,
                       membranes=formats,
                       resets={n.name: n.reset or net.reset for n in net.spiking_layers},
                       bias={n.name: net.bias(n.name).detach().cpu().numpy().copy()
                             for n in net.nodes if n.bias},
                       output_leak=net.output_leak.item())


MEMBRANE_RANGE = 4.0  # a LIF membrane holds ±4 thresholds: v plus a large step's input


def membrane_formats(nodes: tuple[Node, ...], weights: dict[str, torch.Tensor],
                     thresholds: dict[str, float], bits: int, T: int,
                     biases: dict[str, torch.Tensor] | None = None
                     ) -> dict[str, MembraneFormat]:
    """Each LIF and output layer's fixed-point membrane, ``bits`` wide; its LSB is the smallest
    power of two whose range covers the layer's bound (a per-layer scale, as a designer sets
    it: narrow membranes lose resolution first).

    LIF layers (a spiking output included): ±MEMBRANE_RANGE·v (the threshold plus a large
    step's input). An integrating output's accumulator (no threshold): its worst case over T
    steps, T · max over outputs of (Σ|w| + |b|) (every input at its largest value, 1, at every
    step; ``biases``: each biased layer's b), so it never saturates; a leak λ ≤ 1 only shrinks
    it. Each update is floored onto the grid.
    """
    biases = biases or {}
    formats = {}
    for n in nodes:
        if n.neuron == "lif":
            bound = MEMBRANE_RANGE * float(thresholds[n.name])
        elif n.neuron == "integrate":
            w = weights[n.name].detach()
            per_output = w.abs().reshape(w.shape[0], -1).sum(dim=1)
            if n.name in biases:
                per_output = per_output + biases[n.name].detach().abs()
            bound = T * float(per_output.max())
        else:
            continue
        k = math.ceil(math.log2(max(bound, 2.0 ** -60) / 2 ** (bits - 1)))
        formats[n.name] = MembraneFormat(bits, 2.0 ** k)
    return formats


def shift_leak(leak: float, bits: int) -> float:
    """The λ a shift-and-add leak unit realises nearest to ``leak``: u − (u >> k) is
    λ = 1 − 2^-k, u >> k is 2^-k (1 ≤ k ≤ bits − 1), and 0 or 1 (no unit); ties go up."""
    choices = sorted({0.0, 1.0} | {2.0 ** -k for k in range(1, bits)}
                     | {1.0 - 2.0 ** -k for k in range(1, bits)})
    return min(choices, key=lambda c: (abs(c - leak), -c))


def fixed_point_leak(leak: float, fmt: MembraneFormat, shift: bool) -> float:
    """λ as the chip's leak unit holds it: a fraction in steps of 2^-(B-1) (a multiplier,
    round half to even), or the nearest a shift-and-add unit realises (``shift``,
    :func:`shift_leak`). λ = 1 stays 1."""
    if shift:
        return shift_leak(float(leak), fmt.bits)
    step = 2.0 ** -(fmt.bits - 1)
    return float(torch.round(torch.tensor(float(leak), dtype=torch.float64) / step)) * step


def _fixed_point_lif(lif: dict, formats: dict[str, MembraneFormat], shift: bool) -> None:
    """Put each layer's λ and v in the membrane's registers (in place): λ by
    :func:`fixed_point_leak`; v rounded onto the membrane's grid."""
    with torch.no_grad():
        for name, p in lif.items():
            f = formats[name]
            p.leak.fill_(fixed_point_leak(float(p.leak), f, shift))
            p.threshold.fill_(min(max(round(float(p.threshold) / f.lsb), 1.0), f.high) * f.lsb)


def bias_format(nodes: tuple[Node, ...], name: str,
                formats: dict[str, MembraneFormat]) -> MembraneFormat | None:
    """The membrane grid a layer's bias is stored on: its own membrane's, or, for a shortcut
    conv (no neuron), that of the layer whose membrane its current is added to."""
    if name in formats:
        return formats[name]
    target = next((n.name for n in nodes if n.residual == name), None)
    return formats.get(target)


def quantize_biases(nodes: tuple[Node, ...], biases: dict[str, torch.Tensor],
                    formats: dict[str, MembraneFormat]) -> None:
    """Store each bias (in place) as the chip does, on its layer's membrane grid (LSB q,
    :func:`bias_format`): b ← clamp(round(b / q), −2^(B−1), 2^(B−1) − 1)·q, round half to
    even, saturating to the membrane width. Exact (q = 2^k)."""
    with torch.no_grad():
        for name, b in biases.items():
            f = bias_format(nodes, name, formats)
            if f is not None:
                b.copy_(torch.clamp(torch.round(b * (1.0 / f.lsb)), f.low, f.high) * f.lsb)


def reference_model(ckpt: Checkpoint, stored: StoredModel) -> StoredModel:
    """The full-precision model (the checkpoint's weights, λ and v in float32, float
    membranes) on the event datapath, for ``accuracy.reference``.

    The checkpoint's float32 weights are not on a fixed-point grid, so its sums depend on their
    order: torch's dense convolution and this scatter may disagree on a spike in ~10^6 (both
    are float32 evaluations of the same network, neither more right; measured on converted
    VGG16 / ResNet20, 128 CIFAR-10 images, T = 5: 3e-7 / 1.4e-6 of all spikes, no prediction).
    It costs a fraction of a PyTorch run (events, not dense MACs) and needs no second
    ``Network``.
    """
    dense = {n.name: ckpt.weights[n.name].to(torch.float32) for n in stored.nodes if n.synaptic}
    events = {n.name: _event_layout(n, dense[n.name]) for n in stored.nodes if n.synaptic}
    f32 = {k: float(np.float32(ckpt.leak[k] if k in ckpt.leak else 1.0)) for k in stored.leak}
    v32 = {k: float(np.float32(ckpt.threshold.get(k, 1.0))) for k in stored.threshold}
    bias = {k: ckpt.bias[k].to(torch.float32).numpy().copy() for k in stored.bias}
    out = stored.nodes[-1]
    leak_out = float(np.float32(ckpt.leak.get(out.name, 1.0))) if out.neuron == "integrate" \
        else 1.0
    return StoredModel(stored.nodes, None, events, dense, f32, v32,
                       stored.reset_leaked, {}, torch.float32, False, None,
                       resets=dict(stored.resets), bias=bias, output_leak=leak_out)


@dataclass
class LayerEvents:
    """What one synaptic layer did for one batch, summed over its images.

    Per timestep t (arrays of length T): ``input_events`` address-event packets received
    (non-zero input elements; for the analog first layer the pixels), ``accumulates`` synaptic
    accumulates (event × reached output position × C_out; for the first layer the MACs),
    ``output_spikes`` spikes emitted (0 for non-spiking layers). ``fanin`` [T, H_out, W_out]
    (conv) or [T] (linear): events that reached each output position, summed over images.
    ``residual_events`` [T]: events of an identity shortcut, each one accumulate into the
    membrane at the same position (counted in ``accumulates`` too).
    """

    name: str
    input_events: np.ndarray
    accumulates: np.ndarray
    output_spikes: np.ndarray
    fanin: np.ndarray
    analog: bool = False
    residual_events: np.ndarray | None = None  # identity shortcut: events added 1:1 [T]
    event_map: np.ndarray | None = None  # [H_in, W_in] non-zero inputs, Σ over T, B, C
    bias: bool = False  # a bias current is added to every neuron's input (priced: one add)
    leaky: bool = False  # an integrating output with λ ≠ 1 (priced: a leak per neuron, step)
    spike_readout: bool = False  # a LIF output: its spikes are counted (one count per spike)


@dataclass
class BatchResult:
    logits: np.ndarray  # [B, classes]
    spikes: dict[str, np.ndarray] = field(default_factory=dict)  # [T, B, H, W, C] / [T, B, F]
    events: dict[str, LayerEvents] = field(default_factory=dict)


def _to_hwc(x: torch.Tensor) -> np.ndarray:
    """[B, C, H, W] torch -> [B, H, W, C] numpy (a 2-D tensor passes through)."""
    if x.dim() == 4:
        x = x.permute(0, 2, 3, 1)
    return np.ascontiguousarray(x.detach().cpu().numpy())


def _event_map(maps: np.ndarray) -> np.ndarray:
    """[H, W] non-zero elements at each position of [T, B, H, W, C] maps (Σ over T, B, C);
    a vector [T, B, F] gives [[count]]."""
    if maps.ndim == 5:
        return np.count_nonzero(maps, axis=(0, 1, 4)).astype(np.float64)
    return np.array([[float(np.count_nonzero(maps))]])


def _uses(nodes: tuple[Node, ...]) -> dict[str, int]:
    """How many nodes read each node's output (the output node counts one more: the logits)."""
    uses = dict.fromkeys((n.name for n in nodes), 0)
    for n in nodes:
        for src in (n.source, n.residual):
            if src is not None:
                uses[src] += 1
    uses[nodes[-1].name] += 1
    return uses


def run_batch(stored: StoredModel, x: torch.Tensor, T: int,
              record_spikes: bool = True) -> BatchResult:
    """Run a batch of normalised images [B, C, H, W] through the chip's datapath for T steps.

    Each layer runs over all T steps before the next (a layer at step t needs only the layer
    below at t and itself at t − 1, so this order gives the per-step results); a map is freed
    once its last reader has run. ``record_spikes`` keeps every LIF layer's spikes in the
    result (for the check against the model).
    """
    x = x.to(stored.dtype)
    res = BatchResult(logits=np.empty(0))
    values: dict = {}
    nonzero: dict[str, np.ndarray] = {}  # [T, B] nonzero elements of spike-valued maps
    static: set[str] = set()
    pending = _uses(stored.nodes)
    by_name = {n.name: n for n in stored.nodes}
    B = x.shape[0]

    def events_of(name: str) -> np.ndarray:
        """[T] address events of a spike-valued map (a LIF layer's own spike count, or the
        nonzero elements of a pooled map)."""
        if name not in nonzero:
            v = values[name]
            nonzero[name] = K.events_per_map(v.reshape(-1, *v.shape[2:])).reshape(v.shape[:2])
        return nonzero[name].sum(axis=1)

    for n in stored.nodes:
        if n.kind == "input":
            values[n.name] = x  # analog, constant over T: consumed only by dense MAC layers
            static.add(n.name)
            continue
        src = values[n.source]
        if n.synaptic:
            is_static = n.source in static
            if is_static:
                # analog input: a dense MAC layer, the same convolution as the model's
                w = stored.dense_weights[n.name]
                cur_t = (F.conv2d(src, w, stride=n.stride, padding=n.padding)
                         if n.kind == "conv" else F.linear(src, w))
                cur = _to_hwc(cur_t)
                macs = np.full(T, n.ann_macs * B, dtype=np.int64)
                pixels = np.full(T, int(np.prod(n.in_shape)) * B, dtype=np.int64)
                fanin = (np.zeros((T, *n.out_shape[1:]), np.int64) if n.kind == "conv"
                         else np.zeros(T, np.int64))
                ev = LayerEvents(n.name, pixels, macs, np.zeros(T, np.int64), fanin, True)
            else:
                flat = src.reshape(T * B, *src.shape[2:])
                if n.kind == "conv":
                    cur, fin = K.conv_events(flat, stored.event_weights[n.name], n.stride,
                                             n.padding)
                    fanin = fin.reshape(T, B, *fin.shape[1:]).sum(axis=1)
                    acc = fanin.sum(axis=(1, 2)) * n.out_shape[0]
                else:
                    cur, fin = K.linear_events(flat, stored.event_weights[n.name])
                    fanin = fin.reshape(T, B).sum(axis=1)
                    acc = fanin * n.out_shape[0]
                cur = cur.reshape(T, B, *cur.shape[1:])
                ev = LayerEvents(n.name, events_of(n.source), acc.astype(np.int64),
                                 np.zeros(T, np.int64), fanin, event_map=_event_map(src))
            if n.bias:  # the bias current: one float add per neuron, as the model's
                cur = cur + stored.bias[n.name]
                ev.bias = True
            if n.residual is not None:
                r = values[n.residual]
                if n.residual in static and not is_static:
                    r = r[None]
                elif is_static and n.residual not in static:
                    cur, is_static = cur[None], False
                src_node = by_name[n.residual]
                if not (src_node.synaptic and src_node.neuron is None):
                    # identity shortcut (spikes of a LIF layer or a pool; a shortcut conv's
                    # accumulates are its own layer's): each event adds into one membrane
                    ev.residual_events = events_of(n.residual)
                    ev.accumulates = ev.accumulates + ev.residual_events
                cur = cur + r
            if n.neuron == "lif":
                spikes, _, counts = K.lif_run(cur, stored.leak[n.name], stored.threshold[n.name],
                                              stored.reset_of(n.name), is_static, T,
                                              stored.membranes.get(n.name))
                ev.output_spikes = counts.sum(axis=1)
                nonzero[n.name] = counts
                if record_spikes:
                    res.spikes[n.name] = spikes
                values[n.name] = spikes
                ev.spike_readout = n is stored.nodes[-1]
            elif n.neuron == "integrate":
                values[n.name] = K.integrate_run(cur, is_static, T,
                                                 stored.membranes.get(n.name),
                                                 stored.output_leak)
                ev.leaky = stored.output_leak != 1.0
                static.add(n.name)
            else:  # a shortcut: its current feeds another layer's residual
                values[n.name] = cur
                if is_static:
                    static.add(n.name)
            res.events[n.name] = ev
        elif n.source in static:  # the analog image pooled or flattened: torch [B, ...]
            values[n.name] = (F.avg_pool2d(src, n.kernel, n.stride) if n.kind == "avgpool"
                              else src.flatten(1) if n.kind == "flatten" else src)
            static.add(n.name)
        elif n.kind == "avgpool":
            pooled = K.avgpool(src.reshape(-1, *src.shape[2:]), n.kernel)
            values[n.name] = pooled.reshape(*src.shape[:2], *pooled.shape[1:])
        else:
            if n.kind == "flatten":  # in torch's (C, H, W) order, as the linear weights are
                maps = src.transpose(0, 1, 4, 2, 3) if src.ndim == 5 else src
                values[n.name] = np.ascontiguousarray(maps).reshape(*src.shape[:2], -1)
            else:  # dropout is the identity at inference
                values[n.name] = src
            if n.source in nonzero:
                nonzero[n.name] = nonzero[n.source]
        for name in (n.source, n.residual):
            if name is not None:
                pending[name] -= 1
                if pending[name] == 0:
                    values.pop(name, None)
                    nonzero.pop(name, None)
    out = values[stored.nodes[-1].name]
    # a LIF output reads out each neuron's spike count over the T steps (exact: whole numbers)
    res.logits = out.sum(axis=0) if stored.nodes[-1].neuron == "lif" else out
    return res


@dataclass
class MatchReport:
    """Simulator vs the PyTorch model on the same stored weights and images.

    ``logit_mismatches``: logit elements that differ, counted on an exact (int) datapath only,
    where the output's readout (an integrator's a[T-1], a LIF output's spike counts) must be
    equal bit for bit (a wrong output λ changes no spike and may flip no prediction); on the
    float datapath float64 sums may differ in their last bits and only ``logits_equal`` says so.
    """

    spikes_compared: int = 0
    spike_mismatches: int = 0
    prediction_mismatches: int = 0
    logits_equal: bool = True
    logit_mismatches: int = 0

    @property
    def functional_match(self) -> bool:
        return (self.spike_mismatches == 0 and self.prediction_mismatches == 0
                and self.logit_mismatches == 0)

    def add(self, other: MatchReport) -> None:
        self.spikes_compared += other.spikes_compared
        self.spike_mismatches += other.spike_mismatches
        self.prediction_mismatches += other.prediction_mismatches
        self.logits_equal = self.logits_equal and other.logits_equal
        self.logit_mismatches += other.logit_mismatches


@torch.no_grad()
def model_outputs(stored: StoredModel, x: torch.Tensor, T: int):
    """The PyTorch SNN on the stored weights, every spike recorded (the check's reference)."""
    if stored.net is None:
        raise ValueError("this stored model has no PyTorch network to compare with")
    return stored.net.snn(x.to(stored.dtype), T, record_spikes=True)


def compare_with_model(stored: StoredModel, x: torch.Tensor, T: int,
                       sim: BatchResult, out=None) -> MatchReport:
    """Compare the simulator's spikes and predictions with the PyTorch SNN on the stored
    weights (``out``: its :func:`model_outputs`, run here when not given)."""
    out = model_outputs(stored, x, T) if out is None else out
    rep = MatchReport()
    for name, s_sim in sim.spikes.items():
        s_ref = out.spikes[name].cpu().numpy()  # [T, B, C, H, W] against [T, B, H, W, C]
        rep.spikes_compared += s_ref.size
        rep.spike_mismatches += K.count_mismatches(s_ref, s_sim)
    ref_logits = out.logits.cpu().numpy()
    rep.prediction_mismatches = int(np.count_nonzero(ref_logits.argmax(1)
                                                     != sim.logits.argmax(1)))
    differ = (np.count_nonzero(ref_logits != sim.logits) if ref_logits.shape == sim.logits.shape
              else ref_logits.size)
    rep.logits_equal = differ == 0
    if stored.exact:
        rep.logit_mismatches = int(differ)
    return rep


@dataclass(frozen=True)
class ActivationFormat:
    """The ANN's activations as an ``int`` datapath holds them: after each ReLU, ``bits``-wide
    unsigned fixed point with a per-layer power-of-two step (``steps``: LIF layer name ->
    step, 2^-a), a = round(y / step)·step clipped to 0 .. (2^bits − 1)·step (round half to
    even, saturating). Exact in float32 (the step is a power of two).

    The first layer's input is the image itself (8-bit pixels; the normalisation folds into
    the first layer's weights), the same analog current the SNN's first layer sees; pooled
    maps are averages of quantised values, and the output layer's sums (the logits) stay in
    the accumulator."""

    bits: int
    steps: dict[str, float]

    def __post_init__(self):
        if self.bits < 1:
            raise ValueError(f"activation bits must be >= 1, got {self.bits}")

    @property
    def levels(self) -> int:
        """The largest code, 2^bits − 1."""
        return 2 ** self.bits - 1

    def quantize(self, name: str, y: torch.Tensor) -> torch.Tensor:
        """A ReLU output (>= 0) of layer ``name`` on its grid."""
        step = self.steps[name]
        return torch.round(y * (1.0 / step)).clamp_(0, self.levels).mul_(step)


def activation_step(largest: float, bits: int) -> float:
    """The smallest power-of-two step whose ``bits``-wide unsigned range (2^bits − 1 steps)
    covers ``largest`` (>= 0); a layer that never fires (0) gets step 1."""
    if largest <= 0.0:
        return 1.0
    return 2.0 ** math.ceil(math.log2(largest / (2 ** bits - 1)))


@torch.no_grad()
def calibrate_activations(stored: StoredModel, x: torch.Tensor, bits: int) -> ActivationFormat:
    """Each LIF layer's activation step from a calibration batch ``x`` (no labels): the
    :func:`activation_step` of its largest ReLU output over the batch, layer by layer with the
    layers below already quantised (what the chip's layer sees). Fixed before the counted
    images run and the same for all of them."""
    steps: dict[str, float] = {}

    def calibrate(name: str, y: torch.Tensor) -> torch.Tensor:
        steps[name] = activation_step(float(y.max()) if y.numel() else 0.0, bits)
        return ActivationFormat(bits, {name: steps[name]}).quantize(name, y)

    _ann_run(stored, x, calibrate)
    return ActivationFormat(bits, steps)


@dataclass
class AnnActivity:
    """The ANN (the stored weights with ReLU where the SNN has LIF neurons) on one batch: per
    synaptic layer its input's non-zero map [H_in, W_in] (Σ over images and channels; a vector
    input gives [[count]]) and its non-zero outputs (after ReLU, and after quantisation when
    the activations are fixed point), and the logits."""

    input_nonzero: dict[str, np.ndarray]
    output_nonzero: dict[str, float]
    logits: np.ndarray


def _ann_run(stored: StoredModel, x: torch.Tensor, activate=None,
             nz_in: dict | None = None, nz_out: dict | None = None) -> torch.Tensor:
    """The ANN forward on normalised images; ``activate(name, y)`` maps each LIF layer's ReLU
    output (None: float); ``nz_in`` / ``nz_out`` receive the non-zero counts. The logits."""
    values: dict[str, torch.Tensor] = {}
    x = x.to(stored.dtype)
    for n in stored.nodes:
        if n.kind == "input":
            y = x
        elif n.synaptic:
            src = values[n.source]
            if nz_in is not None:
                nz = (src != 0)
                nz_in[n.name] = (nz.sum(dim=(0, 1)).double().numpy() if src.dim() == 4
                                 else np.array([[float(nz.sum())]]))
            w = stored.dense_weights[n.name]
            y = (F.conv2d(src, w, stride=n.stride, padding=n.padding) if n.kind == "conv"
                 else F.linear(src, w))
            if n.bias:
                b = torch.from_numpy(stored.bias[n.name])
                y = y + (b.view(-1, 1, 1) if n.kind == "conv" else b)
            if n.residual is not None:
                y = y + values[n.residual]
            if n.neuron == "lif":
                y = F.relu(y)
                if activate is not None:
                    y = activate(n.name, y)
            if nz_out is not None:
                nz_out[n.name] = float((y != 0).sum())
        elif n.kind == "avgpool":
            y = F.avg_pool2d(values[n.source], n.kernel, n.stride)
        elif n.kind == "flatten":
            y = values[n.source].flatten(1)
        else:  # dropout: the identity at inference
            y = values[n.source]
        values[n.name] = y
    return values[stored.nodes[-1].name]


@torch.no_grad()
def ann_activity(stored: StoredModel, x: torch.Tensor,
                 activations: ActivationFormat | None = None) -> AnnActivity:
    """Run the ANN on a batch of normalised images and record where its activations are
    non-zero (what a zero-skipping dataflow skips); ``activations``: the chip's fixed-point
    activations (None: float, the ``fp`` datapath)."""
    nz_in: dict[str, np.ndarray] = {}
    nz_out: dict[str, float] = {}
    logits = _ann_run(stored, x, None if activations is None else activations.quantize,
                      nz_in, nz_out)
    return AnnActivity(nz_in, nz_out, logits.numpy())

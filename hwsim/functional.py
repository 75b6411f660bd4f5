"""The simulator's functional datapath: real images through the chip's own LIF datapath, layer by
layer over all T steps, event by event, and the check against the PyTorch model.

Exact by construction (DESIGN.md §2): the chip stores each layer's weights in fixed point,
``weight_bits`` wide with a power-of-two scale, so every weight is k·2^-e. Inputs to spiking
layers are spikes (0/1) or pooled spikes (multiples of 1/4), so every partial sum is an integer
multiple of 2^-(e+2) and, while it stays inside the float32 mantissa, exact in any order. The
leak/compare/reset steps are the same IEEE float32 operations as the model's. The first layer
sees analog pixels: it is a dense MAC layer on the chip and its current (constant over T) is
computed by the same convolution on both sides. The PyTorch reference runs on the same stored
weights; the full-precision model's accuracy is reported next to it.

A float datapath (``precision.datapath: fp``) keeps full-precision weights; there the sums are
not exact in every order, so both sides run in float64 and mismatches are counted, not assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from model.architectures import Node
from model.checkpoint import Checkpoint
from model.network import Network

from . import kernels as K


def quantize_pow2(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, int]:
    """Symmetric fixed point with a power-of-two step: w_q = round(w / 2^-e) · 2^-e, clipped to
    ±(2^(bits-1) − 1) steps; e is the smallest exponent whose range covers max|w|.

    Returns (w_q in w's dtype, e). All-zero weights get e = 0.
    """
    if bits < 2:
        raise ValueError(f"weight_bits must be >= 2, got {bits}")
    qmax = 2 ** (bits - 1) - 1
    m = float(w.abs().max())
    if m == 0.0:
        return w.clone(), 0
    e = int(np.floor(np.log2(qmax / m)))  # step 2^-e: m / 2^-e <= qmax
    step = 2.0 ** -e
    q = torch.clamp(torch.round(w / step), -qmax, qmax) * step
    return q.to(w.dtype), e


@dataclass
class StoredModel:
    """The network as the chip holds it.

    ``net`` is the PyTorch reference on the stored (quantized) weights; ``event_weights`` holds
    the same weights in the kernels' layout ([C_in, k, k, C_out] or [F_in, F_out], inputs in
    channels-last order); ``exponents`` the fixed-point exponent e of each layer (step 2^-e).
    """

    net: Network
    event_weights: dict[str, np.ndarray]
    exponents: dict[str, int]
    dtype: torch.dtype
    exact: bool
    weight_bits: int | None


def _hwc_permutation(shape: tuple[int, ...]) -> np.ndarray:
    """Index map so that x_chw[perm] == x_hwc for a flattened (C, H, W) map."""
    c, h, w = shape
    return np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)


def _flatten_source_shape(nodes: tuple[Node, ...], node: Node) -> tuple[int, ...] | None:
    """(C, H, W) of the map a linear layer's flatten consumed, or None if its input is 1-D."""
    by_name = {n.name: n for n in nodes}
    src = by_name[node.source]
    while src.kind == "dropout":
        src = by_name[src.source]
    if src.kind == "flatten" and len(src.in_shape) == 3:
        return src.in_shape
    return None


def store(ckpt: Checkpoint, weight_bits: int | None) -> StoredModel:
    """Quantize a checkpoint's weights for the chip (``weight_bits`` None: keep float, run in
    float64)."""
    exact = weight_bits is not None
    dtype = torch.float32 if exact else torch.float64
    net = ckpt.build(dtype).eval()
    event_weights, exponents = {}, {}
    with torch.no_grad():
        for n in net.nodes:
            if not n.synaptic:
                continue
            w = net.weight(n.name)
            if exact:
                q, e = quantize_pow2(w.data, weight_bits)
                w.copy_(q)
                exponents[n.name] = e
            wn = w.detach().cpu().numpy()
            if n.kind == "linear":
                shape = _flatten_source_shape(net.nodes, n)
                if shape is not None:
                    wn = wn[:, _hwc_permutation(shape)]
                event_weights[n.name] = np.ascontiguousarray(wn.T)
            else:
                event_weights[n.name] = K.to_event_layout(wn)
    return StoredModel(net, event_weights, exponents, dtype, exact, weight_bits)


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


def run_batch(stored: StoredModel, x: torch.Tensor, T: int) -> BatchResult:
    """Run a batch of normalised images [B, C, H, W] through the chip's datapath for T steps."""
    net = stored.net
    x = x.to(stored.dtype)
    res = BatchResult(logits=np.empty(0))
    values: dict[str, np.ndarray] = {}
    static: set[str] = set()
    B = x.shape[0]
    for n in net.nodes:
        if n.kind == "input":
            values[n.name] = x  # analog, constant over T: consumed only by dense MAC layers
            static.add(n.name)
            continue
        src = values[n.source]
        if n.synaptic:
            is_static = n.source in static
            if is_static:
                # analog input: a dense MAC layer, the same convolution as the model's
                w = net.weight(n.name)
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
                    fin = fin.reshape(T, B, *fin.shape[1:])
                    acc = fin.sum(axis=(1, 2, 3)) * n.out_shape[0]
                    fanin = fin.sum(axis=1)
                else:
                    cur, fin = K.linear_events(flat, stored.event_weights[n.name])
                    fin = fin.reshape(T, B)
                    acc = fin.sum(axis=1) * n.out_shape[0]
                    fanin = fin.sum(axis=1)
                events = K.events_per_map(flat).reshape(T, B).sum(axis=1)
                cur = cur.reshape(T, B, *cur.shape[1:])
                ev = LayerEvents(n.name, events, acc.astype(np.int64), np.zeros(T, np.int64),
                                 fanin)
            if n.residual is not None:
                r = values[n.residual]
                if n.residual in static and not is_static:
                    r = r[None]
                elif is_static and n.residual not in static:
                    cur, is_static = cur[None], False
                src_node = net.node(n.residual)
                if not (src_node.synaptic and src_node.neuron is None):
                    # identity shortcut (spikes of a LIF layer or a pool; a shortcut conv's
                    # accumulates are its own layer's): each event adds into one membrane
                    ev.residual_events = K.events_per_map(
                        r.reshape(-1, *r.shape[2:])).reshape(r.shape[0], -1).sum(axis=1)
                    ev.accumulates = ev.accumulates + ev.residual_events
                cur = cur + r
            if n.neuron == "lif":
                p = net.neuron(n.name)
                spikes, _, counts = K.lif_run(cur, p.leak.item(), p.threshold.item(),
                                              net.reset == "leaked", is_static, T)
                ev.output_spikes = counts.sum(axis=1)
                res.spikes[n.name] = spikes
                values[n.name] = spikes
            elif n.neuron == "integrate":
                values[n.name] = K.integrate_run(cur, is_static, T)
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
            t_b = src.shape[:2]
            pooled = K.avgpool(src.reshape(-1, *src.shape[2:]), n.kernel)
            values[n.name] = pooled.reshape(*t_b, *pooled.shape[1:])
        elif n.kind == "flatten":
            values[n.name] = src.reshape(*src.shape[:2], -1)
        else:  # dropout is the identity at inference
            values[n.name] = src
    res.logits = values[net.output_node.name]
    return res


@dataclass
class MatchReport:
    """Simulator vs the PyTorch model on the same stored weights and images."""

    spikes_compared: int = 0
    spike_mismatches: int = 0
    prediction_mismatches: int = 0
    logits_equal: bool = True

    @property
    def functional_match(self) -> bool:
        return self.spike_mismatches == 0 and self.prediction_mismatches == 0

    def add(self, other: MatchReport) -> None:
        self.spikes_compared += other.spikes_compared
        self.spike_mismatches += other.spike_mismatches
        self.prediction_mismatches += other.prediction_mismatches
        self.logits_equal = self.logits_equal and other.logits_equal


@torch.no_grad()
def compare_with_model(stored: StoredModel, x: torch.Tensor, T: int,
                       sim: BatchResult) -> MatchReport:
    """Run the PyTorch SNN on the stored weights and compare spikes and predictions."""
    out = stored.net.snn(x.to(stored.dtype), T, record_spikes=True)
    rep = MatchReport()
    for name, s_sim in sim.spikes.items():
        s_ref = out.spikes[name]
        if s_ref.dim() == 5:  # [T, B, C, H, W] -> [T, B, H, W, C]
            s_ref = s_ref.permute(0, 1, 3, 4, 2)
        s_ref = s_ref.cpu().numpy()
        rep.spikes_compared += s_ref.size
        rep.spike_mismatches += int(np.count_nonzero(s_ref != s_sim))
    ref_logits = out.logits.cpu().numpy()
    rep.prediction_mismatches = int(np.count_nonzero(ref_logits.argmax(1)
                                                     != sim.logits.argmax(1)))
    rep.logits_equal = bool(np.array_equal(ref_logits, sim.logits))
    return rep

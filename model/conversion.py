"""ANN -> SNN conversion by threshold balancing (paper §4; Sengupta et al. 2019).

IF neurons (λ = 1), direct input. Layer by layer, in network order, each LIF layer's threshold is
set to the ``percentile`` (99.7 by default) of its pre-activation (input current) distribution
over the calibration images and all T steps, measured with the thresholds of the layers before
it already set. Afterwards every threshold is multiplied by ``scale`` (the authors' code uses
0.2–0.3 for small T; 1.0 keeps the plain percentile).

An ANN trained with batch norm is folded first (:func:`fold_batch_norm`): each batch-norm layer
becomes a plain layer with a bias that gives the same current, so the SNN, the layer graph and
the simulator never see batch norm.
"""

from __future__ import annotations

import dataclasses

import torch

from .architectures import Node, batch_norm_nodes
from .checkpoint import Checkpoint
from .network import Network


def fold_layer(weight: torch.Tensor, bias: torch.Tensor | None, gamma: torch.Tensor,
               beta: torch.Tensor, mean: torch.Tensor, var: torch.Tensor,
               eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch norm in eval mode folded into the layer before it, per output channel c:

        s_c = γ_c / √(σ²_c + ε),   W'_c = s_c · W_c,   b'_c = s_c · (b_c − μ_c) + β_c

    (b = 0 for a layer without a bias), so W'·x + b' = γ·(W·x + b − μ)/√(σ² + ε) + β. Computed
    in float64, returned in the weight's dtype; ``weight`` is [C_out, ...], the rest [C_out].
    """
    s = gamma.double() / torch.sqrt(var.double() + eps)
    b = bias.double() if bias is not None else torch.zeros_like(s)
    w = weight.double() * s.view(-1, *([1] * (weight.dim() - 1)))
    return w.to(weight.dtype), (s * (b - mean.double()) + beta.double()).to(weight.dtype)


def fold_batch_norm(ckpt: Checkpoint) -> Checkpoint:
    """A copy of an ANN checkpoint with every batch-norm layer folded (:func:`fold_layer`):
    the layer gets ``bias: true`` with b', its weights become W', its batch-norm fields and
    tensors go. The node list is stored in the copy (it no longer is the named architecture's).
    A checkpoint without batch norm comes back unchanged (a copy)."""
    nodes = ckpt.nodes()
    folded = {n.name for n in batch_norm_nodes(nodes)}
    weights, bias = dict(ckpt.weights), dict(ckpt.bias)
    for n in nodes:
        if n.name in folded:
            bn = ckpt.batch_norm[n.name]
            weights[n.name], bias[n.name] = fold_layer(
                ckpt.weights[n.name].float(), ckpt.bias.get(n.name), bn["gamma"], bn["beta"],
                bn["running_mean"], bn["running_var"], n.bn_eps)
    plain = {f.name: f.default for f in dataclasses.fields(Node)
             if f.name in ("batch_norm", "bn_eps", "bn_momentum")}
    layers = tuple(dataclasses.replace(n, bias=True, **plain) if n.name in folded else n
                   for n in nodes)
    return dataclasses.replace(ckpt, weights=weights, bias=bias, batch_norm={},
                               layers=layers if folded else ckpt.layers,
                               metrics=dict(ckpt.metrics), history=list(ckpt.history))


def percentile(values: torch.Tensor, q: float) -> float:
    """The q-th percentile of all elements, linear interpolation (numpy's default method)."""
    flat = values.detach().reshape(-1).to(torch.float64)
    n = flat.numel()
    if n == 0:
        raise ValueError("percentile of an empty tensor")
    pos = q / 100.0 * (n - 1)
    lo = int(pos)
    frac = pos - lo
    lo_val = torch.kthvalue(flat, lo + 1).values.item()
    if frac == 0.0 or lo + 1 >= n:
        return lo_val
    hi_val = torch.kthvalue(flat, lo + 2).values.item()
    return lo_val + (hi_val - lo_val) * frac


@torch.no_grad()
def balance_thresholds(net: Network, images: torch.Tensor, timesteps: int,
                       q: float = 99.7, scale: float = 1.0,
                       progress=None) -> dict[str, float]:
    """Set λ = 1 and each layer's threshold in order; return {layer: threshold} (after scale).

    ``images`` is the whole calibration batch (normalised, [B, C, H, W]); it is run through the
    network once, layer by layer over all T steps, so each layer sees the spikes produced with
    the thresholds already set below it. A layer whose percentile is not positive (a dead layer)
    keeps threshold 1.0 so that it stays well defined.
    """
    net.eval()
    for name in net.lif:
        net.lif[name].leak.fill_(1.0)
    measured: dict[str, float] = {}

    def hook(node: Node, current: torch.Tensor) -> None:
        thr = percentile(current, q)
        if not thr > 0:
            thr = 1.0
        net.neuron(node.name).threshold.fill_(thr)
        measured[node.name] = thr
        if progress is not None:
            progress(node.name, thr)

    net.snn(images, timesteps, current_hook=hook)
    for name, thr in measured.items():
        net.neuron(name).threshold.fill_(thr * scale)
    return {k: v * scale for k, v in measured.items()}

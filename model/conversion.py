"""ANN -> SNN conversion by threshold balancing (paper §4; Sengupta et al. 2019).

IF neurons (λ = 1), direct input. Layer by layer, in network order, each LIF layer's threshold is
set to the ``percentile`` (99.7 by default) of its pre-activation (input current) distribution
over the calibration images and all T steps, measured with the thresholds of the layers before
it already set. Afterwards every threshold is multiplied by ``scale`` (the authors' code uses
0.2–0.3 for small T; 1.0 keeps the plain percentile).
"""

from __future__ import annotations

import torch

from .architectures import Node
from .network import Network


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

"""The LIF neuron of DIET-SNN: one pure step function, its surrogate gradient, and a thin module
holding one trainable leak and threshold per layer; the output layer's two readouts.

Per layer l and timestep t (paper Eq. 1, 2, 9, 10), with input current I[t]:

    reset="paper"   u[t] = λ·u[t-1] + I[t] − v·o[t-1]          (the reset is not leaked)
    reset="leaked"  u[t] = λ·(u[t-1] − v·o[t-1]) + I[t]        (the authors' public code)
    reset="zero"    u[t] = λ·(u[t-1]·(1 − o[t-1])) + I[t]       (hard reset: a spike sets u to 0)
    z[t] = u[t] / v − 1 ;   o[t] = 1 if z[t] > 0 else 0
    ∂o/∂z ≈ γ · max(0, 1 − |z|)                                 (paper Eq. 12, γ = 0.3)

λ ∈ [0, 1] and v > 0 are scalars shared by all neurons of the layer. λ = 1 is the IF neuron.
A leak given as a time constant τ is λ = exp(−dt/τ) with dt = one timestep (τ in timesteps;
:func:`leak_from_tau`). A layer's bias b is part of its current: I[t] = W·o[t] + b.

The output layer (the last node) reads the network out in one of two ways:

    neuron="integrate"  a[t] = λ·a[t-1] + I[t],  a[-1] = 0;  logits = a[T-1]   (never spikes)
    neuron="lif"        the LIF layer above;  logits = Σ_t o[t]  (spike count per output neuron)

The integrator's λ ∈ [0, 1] is fixed (not trained; default 1: the paper's Eq. 3, plain
integration; λ < 1: NIR's leaky integrator LI). The spike-count readout's ANN reading is
ReLU of the current, as for every LIF layer.

A chip with fixed-point membranes (``MembraneFormat``: B bits, LSB q) stores u[t] as a B-bit
two's-complement integer of q: after each update  u ← clamp(⌊u / q⌋, −2^(B−1), 2^(B−1) − 1)·q
(floor = an arithmetic right shift; saturating), before the spike test. Inference only (the
floor has no gradient). q is a power of two, so every step is exact in float32 for B ≤ 24.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

RESETS = ("paper", "leaked", "zero")
DEFAULT_GAMMA = 0.3


class SpikeFunction(torch.autograd.Function):
    """Heaviside step o = [z > 0] with the triangular surrogate gradient γ·max(0, 1 − |z|)."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, gamma: float) -> torch.Tensor:
        ctx.save_for_backward(z)
        ctx.gamma = gamma
        return (z > 0).to(z.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (z,) = ctx.saved_tensors
        surrogate = ctx.gamma * torch.clamp(1.0 - z.abs(), min=0.0)
        return grad_out * surrogate, None


def spike_fn(z: torch.Tensor, gamma: float = DEFAULT_GAMMA) -> torch.Tensor:
    return SpikeFunction.apply(z, gamma)


@dataclass(frozen=True)
class MembraneFormat:
    """A fixed-point membrane: ``bits`` wide (two's complement), LSB ``lsb`` (a power of two,
    in the current's units)."""

    bits: int
    lsb: float

    def __post_init__(self):
        if not 2 <= self.bits <= 24:
            raise ValueError(f"membrane bits must be 2 to 24 (exact in float32), got {self.bits}")
        if not (self.lsb > 0 and math.frexp(self.lsb)[0] == 0.5):
            raise ValueError(f"membrane LSB must be a power of two, got {self.lsb}")

    @property
    def low(self) -> float:
        """Most negative integer of the format (in LSBs)."""
        return -float(2 ** (self.bits - 1))

    @property
    def high(self) -> float:
        """Largest integer of the format (in LSBs)."""
        return float(2 ** (self.bits - 1) - 1)


def quantize_membrane(u: torch.Tensor, fmt: MembraneFormat | None) -> torch.Tensor:
    """u on the format's grid: ⌊u / q⌋ saturated to B bits, times q (exact: q = 2^k)."""
    if fmt is None:
        return u
    return torch.clamp(torch.floor(u * (1.0 / fmt.lsb)), fmt.low, fmt.high) * fmt.lsb


def lif_step(membrane: torch.Tensor, current: torch.Tensor, leak: torch.Tensor,
             threshold: torch.Tensor, prev_spike: torch.Tensor, reset: str = "paper",
             gamma: float = DEFAULT_GAMMA,
             fmt: MembraneFormat | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """One LIF timestep. Returns ``(spike, membrane)``, both shaped like ``current``.

    ``membrane`` and ``prev_spike`` are u[t-1] and o[t-1] (zeros at t = 0); ``leak`` (λ) and
    ``threshold`` (v) are scalars (0-d tensors) of the layer. Units are those of the current.
    ``fmt``: a fixed-point membrane (u is put on its grid before the spike test).
    """
    if reset == "paper":
        u = leak * membrane + current - threshold * prev_spike
    elif reset == "leaked":
        u = leak * (membrane - threshold * prev_spike) + current
    elif reset == "zero":
        u = leak * (membrane * (1.0 - prev_spike)) + current
    else:
        raise ValueError(f"unknown reset variant {reset!r}; choose one of {RESETS}")
    u = quantize_membrane(u, fmt)
    z = u / threshold - 1.0
    return spike_fn(z, gamma), u


def leak_from_tau(tau: float, dt: float = 1.0) -> float:
    """λ of a membrane time constant: exp(−dt/τ), rounded to float32 (the model's λ is a
    float32 parameter). dt and τ in one unit; by convention dt = 1 timestep, τ in timesteps.
    τ = inf gives λ = 1 (IF)."""
    if not (tau > 0 and dt > 0):
        raise ValueError(f"tau and dt must be > 0, got tau={tau}, dt={dt}")
    return float(torch.tensor(math.exp(-dt / tau), dtype=torch.float32))


def integrate_step(accumulator: torch.Tensor, current: torch.Tensor,
                   fmt: MembraneFormat | None = None,
                   leak: torch.Tensor | float = 1.0) -> torch.Tensor:
    """The integrating output layer: a[t] = λ·a[t-1] + I[t] (a multiply, then an add, each
    rounded; λ = 1 gives the paper's Eq. 3 bit for bit, since 1·a = a exactly); no spike.
    ``leak`` λ: a 0-d tensor (the model's, in the current's dtype) or a float; ``fmt``: a
    fixed-point accumulator, as for the membranes (put on its grid after the update)."""
    return quantize_membrane(leak * accumulator + current, fmt)


class LIFParameters(nn.Module):
    """One trainable leak λ and threshold v for one spiking layer.

    Call :meth:`clamp_` after every optimiser step (λ ∈ [0, 1], v ≥ ``min_threshold``); give
    these parameters no weight decay (``model.network.parameter_groups`` does that).
    """

    def __init__(self, leak: float = 1.0, threshold: float = 1.0, min_threshold: float = 1e-3):
        super().__init__()
        self.leak = nn.Parameter(torch.tensor(float(leak)))
        self.threshold = nn.Parameter(torch.tensor(float(threshold)))
        self.min_threshold = min_threshold

    @torch.no_grad()
    def clamp_(self) -> None:
        self.leak.clamp_(0.0, 1.0)
        self.threshold.clamp_(min=self.min_threshold)

    def extra_repr(self) -> str:
        return f"leak={self.leak.item():.4f}, threshold={self.threshold.item():.4f}"

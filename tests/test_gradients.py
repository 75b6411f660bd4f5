"""Autograd through the LIF network against the paper's gradient equations (Eq. 11-15).

One spiking layer, I[t] = W x[t], loss L = Σ_t Σ_i c[t,i] o[t,i] (any linear read-out of the
spikes). The paper's equations, unrolled in time (BPTT), are written out by hand:

    δu[t] = ∂L/∂u[t] = (∂L/∂o[t]) · γ max(0, 1-|z[t]|) / v + λ δu[t+1]
    ∂L/∂o[t] = c[t] - v δu[t+1]            (paper reset: u[t+1] contains -v o[t])
    ∂L/∂λ = Σ_t δu[t] u[t-1]                                   (Eq. 15)
    ∂L/∂v = Σ_t (∂L/∂o[t]) γ(...) (-u[t]/v²) + Σ_t δu[t] (-o[t-1])   (Eq. 13-14)
    ∂L/∂W = Σ_t δu[t] x[t]ᵀ                                     (Eq. 11)

and for the leaked reset (u[t] = λ(u[t-1] - v o[t-1]) + I[t]) the reset terms carry a factor λ.
"""

import numpy as np
import pytest
import torch

from model.neuron import lif_step


def autograd_grads(x, w, c, leak, thr, reset, gamma):
    w = w.clone().requires_grad_()
    lam = torch.tensor(leak, dtype=torch.float64, requires_grad=True)
    v = torch.tensor(thr, dtype=torch.float64, requires_grad=True)
    u = torch.zeros(w.shape[0], dtype=torch.float64)
    o = torch.zeros_like(u)
    loss = 0
    for t in range(x.shape[0]):
        o, u = lif_step(u, w @ x[t], lam, v, o, reset, gamma)
        loss = loss + (c[t] * o).sum()
    loss.backward()
    return lam.grad.item(), v.grad.item(), w.grad.numpy()


def paper_grads(x, w, c, lam, v, reset, gamma):
    x, w, c = x.numpy(), w.numpy(), c.numpy()
    T, n = x.shape[0], w.shape[0]
    u = np.zeros((T + 1, n))  # u[t+1] is u at step t; u[0] = 0
    o = np.zeros((T + 1, n))
    z = np.zeros((T, n))
    for t in range(T):
        i = w @ x[t]
        if reset == "paper":
            u[t + 1] = lam * u[t] + i - v * o[t]
        else:
            u[t + 1] = lam * (u[t] - v * o[t]) + i
        z[t] = u[t + 1] / v - 1
        o[t + 1] = (z[t] > 0).astype(float)
    sur = gamma * np.maximum(0, 1 - np.abs(z))
    du = np.zeros((T + 1, n))  # du[T] = 0
    dl = dv = 0.0
    dw = np.zeros_like(w)
    for t in reversed(range(T)):
        k = 1.0 if reset == "paper" else lam
        do = c[t] - k * v * du[t + 1]
        du[t] = do * sur[t] / v + lam * du[t + 1]
        prev_u = u[t] if reset == "paper" else u[t] - v * o[t]
        dl += (du[t] * prev_u).sum()
        dv += (do * sur[t] * (-u[t + 1] / v**2)).sum() + (du[t] * (-k * o[t])).sum()
        dw += np.outer(du[t], x[t])
    return dl, dv, dw


@pytest.mark.parametrize("reset", ["paper", "leaked"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_leak_threshold_weight_gradients_match_paper(reset, seed):
    g = torch.Generator().manual_seed(seed)
    T, n_in, n = 6, 5, 4
    x = torch.rand(T, n_in, generator=g, dtype=torch.float64)
    w = torch.randn(n, n_in, generator=g, dtype=torch.float64) * 0.8
    c = torch.randn(T, n, generator=g, dtype=torch.float64)
    leak, thr, gamma = 0.8, 0.7, 0.3
    a = autograd_grads(x, w, c, leak, thr, reset, gamma)
    p = paper_grads(x, w, c, leak, thr, reset, gamma)
    assert a[0] == pytest.approx(p[0], rel=1e-9, abs=1e-12)
    assert a[1] == pytest.approx(p[1], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(a[2], p[2], rtol=1e-9, atol=1e-12)
    assert abs(p[0]) + abs(p[1]) > 0  # the case exercises the surrogate, not only zeros

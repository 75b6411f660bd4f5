"""The LIF step against membrane traces computed by hand, and the surrogate gradient."""

import pytest
import torch

from model.neuron import LIFParameters, lif_step, spike_fn


def run(currents, leak, threshold, reset):
    u = torch.zeros(1)
    o = torch.zeros(1)
    us, os_ = [], []
    for i in currents:
        o, u = lif_step(u, torch.tensor([i]), torch.tensor(leak), torch.tensor(threshold), o,
                        reset)
        us.append(round(u.item(), 6))
        os_.append(int(o.item()))
    return us, os_


def test_paper_reset_golden_trace():
    # λ=0.5, v=1, I = 0.8, 0.8, 0.8, 0.0:
    # u1 = 0.8 (no spike); u2 = 0.4 + 0.8 = 1.2 (spike); u3 = 0.6 + 0.8 - 1 = 0.4;
    # u4 = 0.2 + 0 = 0.2
    us, os_ = run([0.8, 0.8, 0.8, 0.0], 0.5, 1.0, "paper")
    assert us == pytest.approx([0.8, 1.2, 0.4, 0.2])
    assert os_ == [0, 1, 0, 0]


def test_leaked_reset_golden_trace():
    # u = λ(u - v o) + I: u1 = 0.8; u2 = 1.2 (spike); u3 = 0.5*(1.2-1) + 0.8 = 0.9; u4 = 0.45
    us, os_ = run([0.8, 0.8, 0.8, 0.0], 0.5, 1.0, "leaked")
    assert us == pytest.approx([0.8, 1.2, 0.9, 0.45])
    assert os_ == [0, 1, 0, 0]


def test_if_neuron_soft_reset_conserves_charge():
    # λ = 1 (IF), constant input 0.25 (exact in binary), v = 1; the spike is strict (z > 0):
    # u = .25 .5 .75 1.0 1.25* .5 .75 1.0 1.25* .5  -> spikes at steps 5 and 9.
    us, os_ = run([0.25] * 10, 1.0, 1.0, "paper")
    assert os_ == [0, 0, 0, 0, 1, 0, 0, 0, 1, 0]
    # soft reset: input charge = membrane + threshold x (spikes already reset)
    assert us[-1] == 2.5 - 1.0 * 2


def test_threshold_is_strict_and_scaled():
    us, os_ = run([2.0], 1.0, 2.0, "paper")  # z = 2/2 - 1 = 0 -> no spike
    assert os_ == [0]
    us, os_ = run([2.0001], 1.0, 2.0, "paper")
    assert os_ == [1]


def test_surrogate_gradient_is_triangle():
    z = torch.tensor([-2.0, -0.5, 0.0, 0.25, 1.0, 3.0], requires_grad=True)
    spike_fn(z, 0.3).sum().backward()
    expected = 0.3 * torch.clamp(1 - z.detach().abs(), min=0)
    assert torch.allclose(z.grad, expected)
    z2 = torch.tensor([0.5], requires_grad=True)
    spike_fn(z2, 1.0).sum().backward()
    assert z2.grad.item() == pytest.approx(0.5)


def test_unknown_reset_rejected():
    with pytest.raises(ValueError, match="reset"):
        lif_step(torch.zeros(1), torch.zeros(1), torch.tensor(1.0), torch.tensor(1.0),
                 torch.zeros(1), "hard")


def test_clamp_keeps_leak_and_threshold_in_range():
    p = LIFParameters(leak=1.7, threshold=-3.0)
    p.clamp_()
    assert p.leak.item() == 1.0
    assert p.threshold.item() > 0
    p.leak.data.fill_(-0.2)
    p.clamp_()
    assert p.leak.item() == 0.0

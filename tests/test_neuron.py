"""The LIF step against membrane traces computed by hand, and the surrogate gradient."""

import pytest
import torch

from model.neuron import LIFParameters, MembraneFormat, lif_step, quantize_membrane, spike_fn


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


def test_fixed_point_membrane_golden_trace():
    """A 4-bit membrane, LSB 0.25 (range -2 .. 1.75), λ = 0.5, v = 1, paper reset, by hand:
    u1 = ⌊0.8/0.25⌋·0.25 = 0.75; u2 = 0.375 + 0.8 = 1.175 -> 1.0 (no spike: 1.0 is not > v);
    u3 = 0.5 + 0.8 = 1.3 -> 1.25 (spike); u4 = 0.625 + 3.0 − 1 = 2.625 -> saturates at 1.75
    (spike); u5 = 0.875 − 4.0 − 1 = −4.125 -> saturates at −2.0."""
    fmt = MembraneFormat(4, 0.25)
    u = torch.zeros(1)
    o = torch.zeros(1)
    us, os_ = [], []
    for i in (0.8, 0.8, 0.8, 3.0, -4.0):
        o, u = lif_step(u, torch.tensor([i]), torch.tensor(0.5), torch.tensor(1.0), o, "paper",
                        fmt=fmt)
        us.append(u.item())
        os_.append(int(o.item()))
    assert us == [0.75, 1.0, 1.25, 1.75, -2.0]
    assert os_ == [0, 0, 1, 1, 0]


def test_quantize_membrane_floors_and_saturates():
    fmt = MembraneFormat(8, 2.0 ** -3)  # integers -128 .. 127 of 1/8
    u = torch.tensor([0.0, 0.124, -0.001, 15.875, 16.0, -16.0, -17.0, 1e30, float("-inf")])
    q = quantize_membrane(u, fmt)
    assert q.tolist() == [0.0, 0.0, -0.125, 15.875, 15.875, -16.0, -16.0, 15.875, -16.0]
    assert quantize_membrane(u, None) is u


@pytest.mark.parametrize(("bits", "lsb"), [(1, 0.5), (25, 0.5), (8, 0.3), (8, 0.0)])
def test_membrane_format_refuses_what_float32_cannot_hold_exactly(bits, lsb):
    with pytest.raises(ValueError, match="membrane"):
        MembraneFormat(bits, lsb)

"""hwsim.kernels against dense PyTorch references, bit for bit (docs/DESIGN.md §2).

Weights lie on a fixed-point grid (ints in [-127, 127] × 2**-7) and inputs are spikes or pooled
spikes (multiples of 1/4), so every sum is exact and the event-driven scatter must equal torch's
dense convolution exactly, whatever the summation order.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import kernels
from model.neuron import MembraneFormat, integrate_step, lif_step

FAST = settings(max_examples=30, deadline=None)


def grid_weights(rng, shape, dtype=np.float32):
    return (rng.integers(-127, 128, shape) * 2.0**-7).astype(dtype)


def spike_maps(rng, shape, density, pooled):
    """0/1 spikes, or pooled spikes (0, 1/4, ..., 1) when ``pooled``, with P(nonzero) ~ density."""
    fire = rng.random(shape) < density
    values = rng.integers(1, 5, shape) / 4.0 if pooled else 1.0
    return (fire * values).astype(np.float32)


def torch_conv(spikes, weights, stride, padding):
    """Reference in NCHW with torch's weight layout, returned channels-last."""
    x = torch.from_numpy(spikes).permute(0, 3, 1, 2)
    w = torch.from_numpy(weights).permute(3, 0, 1, 2)
    return F.conv2d(x, w, stride=stride, padding=padding).permute(0, 2, 3, 1)


def torch_fanin(spikes, k, stride, padding):
    """Events reaching each output position: a ones-kernel conv of the event indicator."""
    x = torch.from_numpy((spikes != 0).astype(np.float64)).permute(0, 3, 1, 2)
    ones = torch.ones(1, x.shape[1], k, k, dtype=torch.float64)
    return F.conv2d(x, ones, stride=stride, padding=padding)[:, 0].long()


conv_case = st.fixed_dictionaries({
    "n": st.integers(1, 4), "h": st.integers(1, 9), "w": st.integers(1, 9),
    "c_in": st.integers(1, 8), "c_out": st.integers(1, 8), "k": st.sampled_from([1, 3]),
    "stride": st.sampled_from([1, 2]), "padding": st.sampled_from([0, 1]),
    "density": st.floats(0.0, 1.0), "pooled": st.booleans(), "seed": st.integers(0, 2**32 - 1),
})


@FAST
@given(conv_case)
def test_conv_events_equals_torch_conv2d(case):
    k, stride, padding = case["k"], case["stride"], case["padding"]
    h, w = max(case["h"], k - 2 * padding), max(case["w"], k - 2 * padding)
    rng = np.random.default_rng(case["seed"])
    spikes = spike_maps(rng, (case["n"], h, w, case["c_in"]), case["density"], case["pooled"])
    weights = grid_weights(rng, (case["c_in"], k, k, case["c_out"]))

    current, fanin = kernels.conv_events(spikes, weights, stride, padding)

    assert current.dtype == np.float32 and fanin.dtype == np.int64
    assert torch.equal(torch.from_numpy(current), torch_conv(spikes, weights, stride, padding))
    assert torch.equal(torch.from_numpy(fanin), torch_fanin(spikes, k, stride, padding))
    accumulates = kernels.conv_accumulates(spikes, k, stride, padding, case["c_out"])
    np.testing.assert_array_equal(accumulates, fanin.sum(axis=(1, 2)) * case["c_out"])


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_conv_events_no_spikes_and_all_spikes(fill):
    rng = np.random.default_rng(0)
    spikes = np.full((2, 5, 6, 4), fill, np.float32)
    weights = grid_weights(rng, (4, 3, 3, 7))
    current, fanin = kernels.conv_events(spikes, weights, 1, 1)
    assert torch.equal(torch.from_numpy(current), torch_conv(spikes, weights, 1, 1))
    # every interior output sees all 3·3·C_in inputs, a corner 2·2·C_in
    assert fanin[0, 2, 2] == 36 * fill and fanin[1, 0, 0] == 16 * fill
    assert fanin.sum() == fill * 4 * 2 * kernels.fanout_map(5, 6, 3, 1, 1).sum()


def test_conv_events_float64_stays_float64():
    rng = np.random.default_rng(1)
    spikes = spike_maps(rng, (2, 6, 6, 3), 0.5, False).astype(np.float64)
    weights = rng.standard_normal((3, 3, 3, 5))
    current, _ = kernels.conv_events(spikes, weights, 2, 1)
    ref = torch_conv(spikes, weights, 2, 1).numpy()
    assert current.dtype == np.float64
    np.testing.assert_allclose(current, ref, rtol=1e-12, atol=1e-12)


def test_conv_events_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not match"):
        kernels.conv_events(np.zeros((1, 4, 4, 3), np.float32), np.zeros((2, 3, 3, 4), np.float32))
    with pytest.raises(ValueError, match="does not fit"):
        kernels.conv_events(np.zeros((1, 2, 2, 3), np.float32), np.zeros((3, 3, 3, 4), np.float32))


def test_to_event_layout_round_trips_torch_weights():
    conv = torch.arange(2 * 3 * 3 * 3, dtype=torch.float32).reshape(2, 3, 3, 3)
    assert torch.equal(torch.from_numpy(kernels.to_event_layout(conv)).permute(3, 0, 1, 2), conv)
    fc = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    assert torch.equal(torch.from_numpy(kernels.to_event_layout(fc)).T, fc)


@FAST
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 12), st.floats(0.0, 1.0),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_linear_events_equals_torch_linear(n, f_in, f_out, density, pooled, seed):
    rng = np.random.default_rng(seed)
    spikes = spike_maps(rng, (n, f_in), density, pooled)
    weights = grid_weights(rng, (f_in, f_out))
    current, events = kernels.linear_events(spikes, weights)
    ref = F.linear(torch.from_numpy(spikes), torch.from_numpy(weights).T)
    assert torch.equal(torch.from_numpy(current), ref)
    np.testing.assert_array_equal(events, np.count_nonzero(spikes, axis=1))
    np.testing.assert_array_equal(events, kernels.events_per_map(spikes))


@FAST
@given(st.integers(1, 3), st.integers(2, 9), st.integers(2, 9), st.integers(1, 6),
       st.sampled_from([2, 3]), st.booleans(), st.integers(0, 2**32 - 1))
def test_avgpool_equals_torch_avg_pool2d(n, h, w, c, k, analog, seed):
    h, w = max(h, k), max(w, k)
    rng = np.random.default_rng(seed)
    if analog:  # any float32: same summation order and division as torch, so still exact
        x = rng.standard_normal((n, h, w, c)).astype(np.float32)
    else:
        x = spike_maps(rng, (n, h, w, c), rng.random(), pooled=True)
    ref = F.avg_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), k).permute(0, 2, 3, 1)
    assert torch.equal(torch.from_numpy(kernels.avgpool(x, k)), ref)


def torch_lif(current, leak, threshold, reset, static, T, fmt=None):
    """T calls of model.neuron.lif_step, as model.network runs them."""
    cur = torch.from_numpy(current)
    lam, v = torch.tensor(leak, dtype=cur.dtype), torch.tensor(threshold, dtype=cur.dtype)
    u = torch.zeros(cur.shape if static else cur.shape[1:], dtype=cur.dtype)
    o = torch.zeros_like(u)
    spikes = []
    for t in range(T):
        o, u = lif_step(u, cur if static else cur[t], lam, v, o, reset, fmt=fmt)
        spikes.append(o)
    return torch.stack(spikes), u


@FAST
@given(st.integers(1, 6), st.integers(1, 3), st.lists(st.integers(1, 5), min_size=1, max_size=3),
       st.floats(0.0, 1.0, width=32), st.floats(0.0625, 4.0, width=32), st.booleans(),
       st.booleans(), st.booleans(), st.integers(0, 2**32 - 1))
def test_lif_run_equals_repeated_lif_step(T, batch, shape, leak, threshold, leaked, static,
                                          float64, seed):
    rng = np.random.default_rng(seed)
    dims = (batch, *shape) if static else (T, batch, *shape)
    current = (rng.standard_normal(dims) * threshold).astype(np.float64 if float64 else np.float32)
    reset = "leaked" if leaked else "paper"

    spikes, membrane, counts = kernels.lif_run(current, leak, threshold, leaked, static, T)

    ref_spikes, ref_membrane = torch_lif(current, leak, threshold, reset, static, T)
    assert spikes.dtype == current.dtype and spikes.shape == (T, batch, *shape)
    assert torch.equal(torch.from_numpy(spikes), ref_spikes)
    assert torch.equal(torch.from_numpy(membrane), ref_membrane)
    np.testing.assert_array_equal(counts, spikes.reshape(T, batch, -1).sum(axis=2))


@FAST
@given(st.integers(1, 6), st.integers(1, 3), st.integers(1, 40), st.floats(0.0, 1.0, width=32),
       st.floats(0.0625, 4.0, width=32), st.booleans(), st.booleans(), st.integers(2, 24),
       st.integers(-12, 4), st.integers(0, 2**32 - 1))
def test_fixed_point_lif_run_equals_repeated_lif_step(T, batch, neurons, leak, threshold, leaked,
                                                      static, bits, lsb_exp, seed):
    """Fixed-point membranes of every width, LSBs from far below to above v (so rounding and
    saturation both happen), currents off the grid: bit for bit the model's."""
    rng = np.random.default_rng(seed)
    dims = (batch, neurons) if static else (T, batch, neurons)
    current = (rng.standard_normal(dims) * 3 * threshold).astype(np.float32)
    fmt = MembraneFormat(bits, 2.0 ** lsb_exp)
    reset = "leaked" if leaked else "paper"
    spikes, membrane, counts = kernels.lif_run(current, leak, threshold, leaked, static, T, fmt)
    ref_spikes, ref_membrane = torch_lif(current, leak, threshold, reset, static, T, fmt)
    assert torch.equal(torch.from_numpy(spikes), ref_spikes)
    assert torch.equal(torch.from_numpy(membrane), ref_membrane)
    k = membrane / fmt.lsb  # every membrane an integer of the format
    assert np.array_equal(k, np.floor(k)) and k.min() >= fmt.low and k.max() <= fmt.high


@pytest.mark.parametrize("leak", [0.0, 1.0])
def test_lif_run_membrane_on_the_threshold(leak):
    """u = v exactly gives z = 0: no spike; the next multiple of the grid above v spikes."""
    v = np.float32(0.5)
    current = np.array([[v, np.nextafter(v, np.float32(1))]], np.float32)
    spikes, membrane, _ = kernels.lif_run(current, leak, v, False, True, 1)
    np.testing.assert_array_equal(spikes[0, 0], [0.0, 1.0])
    np.testing.assert_array_equal(membrane, current)


def test_lif_run_rejects_wrong_timesteps():
    with pytest.raises(ValueError, match="expected T=3"):
        kernels.lif_run(np.zeros((2, 1, 4), np.float32), 1.0, 1.0, False, False, 3)


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("leak", [1.0, 0.9, 0.0])
def test_integrate_run_equals_repeated_integrate_step(static, leak):
    """The (leaky) output integrator, float and fixed point: bit for bit the model's step
    (λ as the model's float32 0-d tensor holds it)."""
    rng = np.random.default_rng(2)
    T = 4
    lam = torch.tensor(leak)
    current = rng.standard_normal((3, 10) if static else (T, 3, 10)).astype(np.float32)
    ref = torch.zeros(3, 10)
    for t in range(T):
        ref = integrate_step(ref, torch.from_numpy(current if static else current[t]),
                             leak=lam)
    got = kernels.integrate_run(current, static, T, leak=leak)
    assert torch.equal(torch.from_numpy(got), ref)
    fmt = MembraneFormat(6, 0.125)  # saturates at ±4: the random sums cross it
    got = kernels.integrate_run(current * 3, static, T, fmt, leak)
    ref = torch.zeros(3, 10)
    for t in range(T):
        ref = integrate_step(ref, torch.from_numpy(3 * (current if static else current[t])),
                             fmt, lam)
    assert torch.equal(torch.from_numpy(got), ref) and got.max() == 3.875 and got.min() == -4


@pytest.mark.parametrize(("size", "k", "stride", "padding"),
                         [(5, 3, 1, 1), (6, 3, 2, 1), (7, 1, 2, 0), (4, 3, 1, 0), (8, 3, 2, 0)])
def test_fanout_map_counts_one_event_by_brute_force(size, k, stride, padding):
    expected = np.zeros((size, size), np.int64)
    for y in range(size):
        for x in range(size):
            one = np.zeros((1, size, size, 1), np.float32)
            one[0, y, x, 0] = 1.0
            expected[y, x] = kernels.conv_events(one, np.ones((1, k, k, 1), np.float32),
                                                 stride, padding)[1].sum()
    np.testing.assert_array_equal(kernels.fanout_map(size, size, k, stride, padding), expected)

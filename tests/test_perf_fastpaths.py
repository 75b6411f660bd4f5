"""The simulator's fast paths give the same answers as the slow definitions (no timing here; the
speed is measured by benchmarks/sim_speed.py)."""


import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from hwsim import kernels
from hwsim.counts import _pe_work_conv
from hwsim.functional import reference_model, run_batch, store
from hwsim.simulate import SimOptions, batch_size
from model.architectures import build_architecture
from model.data import normalise
from model.neuron import lif_step
from tests.test_hwsim import MEAN, STD, converted, sim

FAST = settings(max_examples=60, deadline=None)


def fires_by_division(u: np.ndarray, v: np.float32) -> np.ndarray:
    """The model's spike test in float32: u / v − 1 > 0."""
    with np.errstate(over="ignore", invalid="ignore"):
        return (u / v - np.float32(1.0)) > 0


def around(x: np.float32, ulps: int) -> np.ndarray:
    """The float32 numbers within ``ulps`` steps of x."""
    out = [x]
    lo = hi = x
    for _ in range(ulps):
        lo, hi = np.nextafter(lo, np.float32(-np.inf)), np.nextafter(hi, np.float32(np.inf))
        out += [lo, hi]
    return np.array(out, np.float32)


@FAST
@given(st.floats(0.0, None, width=32, exclude_min=True, allow_infinity=False),
       st.integers(0, 2**32 - 1))
def test_spike_cut_equals_the_division_at_and_around_the_threshold(v, seed):
    v = np.float32(v)
    cut = kernels.spike_cut(v)
    rng = np.random.default_rng(seed)
    with np.errstate(over="ignore", invalid="ignore"):  # near the top of the float32 range
        # every float32 u near v and near v·(1 + 2^-24), where the rounding decides
        edge = np.float32(np.float64(v) * (1 + 2.0**-24))
        u = np.concatenate([around(v, 8), around(edge, 8), -around(v, 2),
                            (rng.standard_normal(64) * v).astype(np.float32),
                            np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 3.4e38, -3.4e38],
                                     np.float32)])
    np.testing.assert_array_equal(u.astype(np.float64) > cut, fires_by_division(u, v))


@pytest.mark.parametrize("v", [1e-3, 0.5, 1.0, 0.7, 2.0**-126, 1.4e-45, 3.0e38])
def test_lif_run_spikes_like_lif_step_at_extreme_thresholds(v):
    """The kernel's compare equals torch's division also for tiny (subnormal) and huge v."""
    v = np.float32(v)
    edge = np.float32(np.float64(v) * (1 + 2**-24))
    current = np.concatenate([around(v, 4), around(edge, 4), [0.0, -v]]).astype(np.float32)
    spikes, _, _ = kernels.lif_run(current[None], 1.0, v, False, True, 1)
    ref, _ = lif_step(torch.zeros(len(current)), torch.from_numpy(current), torch.tensor(1.0),
                      torch.tensor(v), torch.zeros(len(current)))
    np.testing.assert_array_equal(spikes[0, 0], ref.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reset", ["paper", "leaked"])
@pytest.mark.parametrize("batch", [1, 3])
def test_lif_run_across_parallel_chunks_equals_lif_step(dtype, reset, batch):
    """Layers larger than one parallel job (LIF_CHUNK neurons), several images and steps."""
    T, n = 4, 2 * kernels.LIF_CHUNK + 17
    rng = np.random.default_rng(0)
    current = (rng.standard_normal((T, batch, n)) * 0.7).astype(dtype)
    leak, v = 0.875, 0.6015625  # both exact in float32 and float64
    spikes, membrane, counts = kernels.lif_run(current, leak, v, reset == "leaked", False, T)
    cur = torch.from_numpy(current)
    u = torch.zeros(cur.shape[1:], dtype=cur.dtype)
    o = torch.zeros_like(u)
    lam, thr = torch.tensor(leak, dtype=cur.dtype), torch.tensor(v, dtype=cur.dtype)
    for t in range(T):
        o, u = lif_step(u, cur[t], lam, thr, o, reset)
        assert torch.equal(torch.from_numpy(spikes[t]), o)
        np.testing.assert_array_equal(counts[t], o.sum(dim=1).numpy())
    assert torch.equal(torch.from_numpy(membrane), u)


class _Layer:
    """The part of a LayerMapping that the per-PE count reads."""

    def __init__(self, pe_map: np.ndarray, first: int):
        self._map, self.pe_first = pe_map, first
        self.pes_used = int(pe_map.max() - first + 1)

    def pe_map(self) -> np.ndarray:
        return self._map


@FAST
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(1, 9),
       st.integers(0, 2**32 - 1))
def test_pe_work_by_position_classes_equals_summing_every_neuron(c, h, w, pes, seed):
    rng = np.random.default_rng(seed)
    first = int(rng.integers(0, 4))
    pe_map = rng.integers(first, first + pes, (c, h, w))
    layer = _Layer(pe_map, first)
    fanin = rng.integers(0, 1000, (3, h, w))
    brute = np.zeros((3, layer.pes_used))
    for t in range(3):
        for (_, y, x), p in np.ndenumerate(pe_map):
            brute[t, p - first] += fanin[t, y, x]
    np.testing.assert_array_equal(_pe_work_conv(layer, fanin), brute)


@pytest.fixture(scope="module")
def vgg16():
    return converted("vgg16", 4, 2)


def test_run_batch_without_recorded_spikes_gives_the_same_results(vgg16):
    ckpt, data = vgg16
    stored = store(ckpt, 8)
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    full, lean = run_batch(stored, x, 2), run_batch(stored, x, 2, record_spikes=False)
    assert len(full.spikes) == 15 and not lean.spikes
    np.testing.assert_array_equal(full.logits, lean.logits)
    for name, ev in full.events.items():
        other = lean.events[name]
        for key in ("input_events", "accumulates", "output_spikes", "fanin"):
            np.testing.assert_array_equal(getattr(ev, key), getattr(other, key))
    # a linear layer's torch weight is a view of its event weights: one copy, both readers
    w = stored.net.weight("fc1")
    assert w.data_ptr() == stored.event_weights["fc1"].ctypes.data
    assert torch.equal(w, torch.from_numpy(stored.event_weights["fc1"]).T)


def test_reference_on_the_event_datapath_predicts_like_the_torch_model(vgg16):
    ckpt, data = vgg16
    stored = store(ckpt, 8)
    ref = reference_model(ckpt, stored)
    assert ref.net is None
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    with torch.no_grad():
        torch_logits = ckpt.build().eval().snn(x, 2).logits.numpy()
    logits = run_batch(ref, x, 2, record_spikes=False).logits
    np.testing.assert_array_equal(logits.argmax(1), torch_logits.argmax(1))
    np.testing.assert_allclose(logits, torch_logits, rtol=1e-4, atol=1e-4 * np.abs(
        torch_logits).max())


def test_reference_can_be_left_out(vgg16):
    rep = sim(*vgg16, check=False, reference=False)
    assert rep["accuracy"]["reference"] is None and rep["accuracy"]["functional_match"] is None


def test_batch_size_is_capped_for_imagenet_size_maps():
    assert batch_size(build_architecture("vgg16", 10), 5, 32) == 32
    assert batch_size(build_architecture("vgg16", 1000, (3, 224, 224)), 5, 32) == 1
    assert batch_size(build_architecture("tiny", 10), 5, 7) == 7


def test_the_batch_cap_does_not_change_the_report(vgg16, monkeypatch):
    ckpt, data = vgg16
    whole = sim(ckpt, data)
    monkeypatch.setattr("hwsim.simulate.BATCH_BYTES", 1)  # one image per batch
    single = sim(ckpt, data)
    for key in ("accuracy", "snn", "ann", "ratio"):
        assert whole[key] == single[key]
    assert whole["layers"] == single["layers"]
    assert SimOptions().batch_size == 32


@pytest.mark.parametrize("shape", [(2, 3, 4, 5, 6), (1, 1, 3, 3, 3), (2, 3, 7)])
def test_count_mismatches_reads_torch_layout_against_channels_last(shape):
    rng = np.random.default_rng(1)
    ref = (rng.random(shape) < 0.3).astype(np.float32)
    sim_maps = np.ascontiguousarray(np.moveaxis(ref, 2, -1)) if len(shape) == 5 else ref.copy()
    assert kernels.count_mismatches(ref, sim_maps) == 0
    flat = sim_maps.reshape(-1)
    flips = rng.choice(flat.size, 4, replace=False)
    flat[flips] = 1.0 - flat[flips]
    assert kernels.count_mismatches(ref, sim_maps) == 4
    with pytest.raises(ValueError, match="do not match"):
        kernels.count_mismatches(ref, sim_maps[..., :-1])

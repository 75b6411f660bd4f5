"""The ANN baseline in the chip's activation precision: each ReLU output in ``activation_bits``
unsigned fixed point with a per-layer power-of-two step (docs/hwsim.md, "The ANN baseline"),
checked by hand, against an independent integer-code evaluation bit for bit, and end to end."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from arch_configs import load_arch
from hwsim.functional import (
    ActivationFormat,
    activation_step,
    ann_activity,
    calibrate_activations,
    store,
)
from hwsim.simulate import CALIBRATION_IMAGES, SimOptions, ann_baseline, simulate
from model.checkpoint import load, save
from model.data import ArraySet, normalise
from tests.conftest import make_images
from tests.test_hwsim import MEAN, STD, converted

FP = {"precision": {"datapath": "fp", "weight_bits": 32, "membrane_bits": 32}}


@pytest.fixture(scope="module")
def tiny():
    return converted("tiny", 8, 2)


def test_one_layer_by_hand():
    """3 bits, step 1/4: codes 0..7, round half to even, saturate at 7 steps; 0.1 and 0.125
    (half a step: to the even code 0) become zeros."""
    q = ActivationFormat(3, {"c": 0.25})
    y = torch.tensor([0.0, 0.1, 0.125, 0.13, 0.375, 0.5, 1.7, 5.0])
    assert q.quantize("c", y.clone()).tolist() == [0.0, 0.0, 0.0, 0.25, 0.5, 0.5, 1.75, 1.75]
    # the step: the smallest power of two with 7 steps >= the largest activation
    assert activation_step(1.75, 3) == 0.25 and activation_step(1.76, 3) == 0.5
    assert activation_step(0.2, 8) == 2.0 ** -10  # 255 · 2^-10 = 0.249 >= 0.2 > 255 · 2^-11
    assert activation_step(0.0, 8) == 1.0
    with pytest.raises(ValueError, match="activation bits"):
        ActivationFormat(0, {})


def images(n: int, seed: int = 0) -> torch.Tensor:
    x, _ = make_images(n, seed=seed)
    return normalise(torch.from_numpy(x), MEAN, STD)


@torch.no_grad()
def integer_reference(stored, x: torch.Tensor, fmt: ActivationFormat) -> torch.Tensor:
    """The quantised ANN evaluated independently: every activation as its integer code
    (numpy, round half to even, clipped), every synaptic layer after the first as integer
    codes times integer weights in float64 (exact), scaled by step · 2^-e, cast to float32,
    then + b. The first layer sees the analog image: the same convolution as the chip's."""
    codes, scale, out = None, None, None
    for n in stored.nodes:
        if not n.synaptic:
            continue
        w = stored.dense_weights[n.name]
        if codes is None:
            y = F.conv2d(x, w, stride=n.stride, padding=n.padding)
        else:
            k = (w.double() * 2.0 ** stored.exponents[n.name]).round()
            assert torch.equal(k * 2.0 ** -stored.exponents[n.name], w.double())
            a = torch.from_numpy(codes)
            if n.kind == "linear":
                a = a.flatten(1)
            s = (F.conv2d(a, k, stride=n.stride, padding=n.padding) if n.kind == "conv"
                 else F.linear(a, k))
            y = (s * (scale * 2.0 ** -stored.exponents[n.name])).float()
        if n.bias:
            b = torch.from_numpy(stored.bias[n.name])
            y = y + (b.view(-1, 1, 1) if n.kind == "conv" else b)
        if n.neuron != "lif":
            out = y
            continue
        c = np.clip(np.rint(np.maximum(y.numpy().astype(np.float64), 0) / fmt.steps[n.name]),
                    0, 2 ** fmt.bits - 1)
        # the tiny net pools 2x2 after each LIF layer: the pool's sum of 4 codes, / 4
        c = c.reshape(*c.shape[:2], c.shape[2] // 2, 2, c.shape[3] // 2, 2).sum(axis=(3, 5))
        codes, scale = c, fmt.steps[n.name] / 4
    return out


@pytest.mark.parametrize("bits", [8, 3])
def test_quantized_ann_equals_an_integer_reference_bit_for_bit(tiny, bits):
    ckpt, _ = tiny
    stored = store(ckpt, 8)
    x = images(6)
    fmt = calibrate_activations(stored, x[:4], bits)
    assert set(fmt.steps) == {"conv1", "conv2"}
    act = ann_activity(stored, x, fmt)
    ref = integer_reference(stored, x, fmt)
    assert ref.dtype == torch.float32 and np.array_equal(act.logits, ref.numpy())
    # and it is not the float ANN's
    assert not np.array_equal(act.logits, ann_activity(stored, x).logits)


@torch.no_grad()
def test_calibration_covers_the_calibration_images_with_the_smallest_step(tiny):
    """Each step is the smallest power of two whose 2^bits − 1 steps cover the largest ReLU
    output on the calibration images (with the layer below already quantised): none of them
    saturates, and half the step would."""
    ckpt, _ = tiny
    stored = store(ckpt, 8)
    x = images(4)
    fmt = calibrate_activations(stored, x, 8)
    y1 = F.relu(F.conv2d(x, stored.dense_weights["conv1"], padding=1))
    s1 = fmt.steps["conv1"]
    assert 255 * s1 / 2 < float(y1.max()) <= 255 * s1
    a1 = F.avg_pool2d(fmt.quantize("conv1", y1), 2)
    y2 = F.relu(F.conv2d(a1, stored.dense_weights["conv2"], padding=1))
    assert 255 * fmt.steps["conv2"] / 2 < float(y2.max()) <= 255 * fmt.steps["conv2"]


def test_quantized_activations_have_at_least_the_float_zeros(tiny):
    """Rounding maps 0 to 0 and small activations to 0: the first LIF layer (same input) has
    at least the float run's zeros at every position, and the network as many or more."""
    ckpt, _ = tiny
    stored = store(ckpt, 8)
    x = images(8, seed=1)
    for bits in (8, 4):
        fmt = calibrate_activations(stored, x[:4], bits)
        q, f = ann_activity(stored, x, fmt), ann_activity(stored, x)
        assert np.all(q.input_nonzero["conv2"] <= f.input_nonzero["conv2"])
        assert q.output_nonzero["conv1"] <= f.output_nonzero["conv1"]
        assert sum(q.output_nonzero.values()) <= sum(f.output_nonzero.values())
    assert q.output_nonzero["conv1"] < f.output_nonzero["conv1"]  # 4 bits: zeros created


def _sim(ckpt, data, overrides=None, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate(ckpt, load_arch("45nm", overrides), data, len(data),
                        SimOptions(progress=False, check=False, reference=False, **opts))


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(1) == labels).mean())


def test_the_int_chip_reports_the_quantized_ann(tiny):
    """hwsim.run on the int datapath: the ANN's accuracy and the zeros its `*_skip` dataflows
    price are the quantised ANN's, its steps calibrated on the first images only."""
    ckpt, _ = tiny
    raw, labels = make_images(CALIBRATION_IMAGES + 4, seed=2)
    data = ArraySet(raw, labels)
    x = normalise(torch.from_numpy(raw), MEAN, STD)
    stored = store(ckpt, 8, 16, ckpt.timesteps)
    fmt = calibrate_activations(stored, x[:CALIBRATION_IMAGES], 8)
    rep = _sim(ckpt, data)
    assert rep["accuracy"]["ann"] == pytest.approx(
        _accuracy(ann_activity(stored, x, fmt).logits, labels))
    assert "ANN activations 8-bit" in rep["accuracy"]["datapath"]
    # the zeros: with 2-bit activations the skip dataflows see fewer non-zero inputs
    coarse = _sim(ckpt, data, {"precision": {"activation_bits": 2}})
    fine_nz = ann_activity(stored, x, fmt).input_nonzero["conv2"].sum()
    fmt2 = calibrate_activations(stored, x[:CALIBRATION_IMAGES], 2)
    assert ann_activity(stored, x, fmt2).input_nonzero["conv2"].sum() < fine_nz
    assert (coarse["ann"]["energy_pj"]["total"] != rep["ann"]["energy_pj"]["total"])


def test_the_fp_datapath_keeps_float_activations(tiny, monkeypatch):
    ckpt, data = tiny
    import hwsim.simulate as S

    def refuse(*a, **k):
        raise AssertionError("the fp datapath quantised the ANN")

    monkeypatch.setattr(S, "calibrate_activations", refuse)
    rep = _sim(ckpt, data, FP)
    stored = store(ckpt, None)
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    assert rep["accuracy"]["ann"] == pytest.approx(
        _accuracy(ann_activity(stored, x).logits, data.labels))
    assert "ANN activations" in rep["accuracy"]["datapath"]
    assert "fixed point" not in rep["accuracy"]["datapath"]


def test_a_trained_ann_is_quantized_on_its_own_activations(tiny, tmp_path):
    """--ann: the trained ANN's own activations set its steps and are quantised."""
    ckpt, _ = tiny
    snn = tmp_path / "snn.pt"
    save(ckpt, snn)
    ann = load(snn)
    ann.stage = "ann"
    torch.manual_seed(3)
    for w in ann.weights.values():
        w.mul_(1.0 + 0.5 * torch.rand_like(w))  # its own weights, not the SNN's
    save(ann, tmp_path / "ann.pt")
    raw, labels = make_images(8, seed=4)
    x = normalise(torch.from_numpy(raw), MEAN, STD)
    base = ann_baseline(str(tmp_path / "ann.pt"), load(snn), 8)
    fmt = calibrate_activations(base, x, 4)
    assert fmt.steps != calibrate_activations(store(load(snn), 8), x, 4).steps
    rep = _sim(load(snn), ArraySet(raw, labels), {"precision": {"activation_bits": 4}},
               ann=str(tmp_path / "ann.pt"))
    assert rep["accuracy"]["ann"] == pytest.approx(
        _accuracy(ann_activity(base, x, fmt).logits, labels))

"""``--data F.npz`` / ``F.npy``: arrays of any channel count, size and dtype, laid out against
the checkpoint's input shape; the tensors the model sees, checked by hand; 1-channel, 2-channel
and flat inputs through ``hwsim.run``; every bad input one line."""

import pickle
import re

import numpy as np
import pytest
import torch

import model.checkpoint as C
from model import data as D
from model.architectures import nodes_from_dicts
from model.bundled import MODEL, SAMPLE, bundled_sample
from model.common import load_splits
from model.network import Network

MEAN, STD = [0.5, 0.25], [0.25, 0.5]


def first_batch(ds, mean=MEAN, std=STD, **kw):
    return next(D.batches(ds, len(ds), mean, std, **kw))


def hand(raw_nchw: np.ndarray, mean, std) -> torch.Tensor:
    """What the model must see, computed without model.data: uint8 / 255 or floats as they
    are, then (x − mean) / std per channel, in float32."""
    x = raw_nchw.astype(np.float32)
    if raw_nchw.dtype == np.uint8:
        x = x / np.float32(255)
    m = np.asarray(mean, np.float32)[None, :, None, None]
    s = np.asarray(std, np.float32)[None, :, None, None]
    return torch.from_numpy((x - m) / s)


# ------------------------------------------------------------------------------ layouts, dtypes
@pytest.mark.parametrize("dtype", ["uint8", "float16", "float32", "float64"])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_every_layout_and_dtype_gives_the_tensors_the_model_sees(tmp_path, dtype, layout):
    rng = np.random.default_rng(0)
    shape = (2, 3, 5)  # C, H, W all different: one reading fits each layout
    if dtype == "uint8":
        raw = rng.integers(0, 256, (4, *shape), dtype=np.uint8)
        raw[1, 1, 2, 3] = 51  # hand check: (51/255 − 0.25) / 0.5 = (0.2 − 0.25) / 0.5 = −0.1
        want = -0.1
    else:
        raw = rng.normal(size=(4, *shape)).astype(dtype)
        raw[1, 1, 2, 3] = 0.75  # (0.75 − 0.25) / 0.5 = 1.0, exact in every float type
        want = 1.0
    stored = raw if layout == "NCHW" else raw.transpose(0, 2, 3, 1)
    np.savez(tmp_path / "d.npz", x=stored, y=np.arange(4) % 3)
    ds = D.load_split(tmp_path / "d.npz", "test", shape, classes=3)
    assert ds.input_shape == shape and ds.images.dtype == dtype  # kept, not widened
    x, y = first_batch(ds)
    assert x.dtype == torch.float32 and x.shape == (4, *shape)
    assert x[1, 1, 2, 3].item() == pytest.approx(want, abs=1e-6)
    assert torch.equal(x, hand(raw, MEAN, STD)) and y.tolist() == [0, 1, 2, 0]


def test_square_channels_tie_reads_channels_first(tmp_path):
    raw = np.zeros((2, 4, 4, 4), np.float32)
    raw[0, 1, 2, 3] = 1.0  # channel 1, row 2, column 3 when read (N, C, H, W)
    np.savez(tmp_path / "d.npz", x=raw, y=[0, 1])
    x, _ = first_batch(D.load_split(tmp_path / "d.npz", "test", (4, 4, 4)), [0.0] * 4,
                       [1.0] * 4)
    assert x[0, 1, 2, 3].item() == 1.0 and x.sum().item() == 1.0


def test_one_channel_without_axis_flat_features_and_column_labels(tmp_path):
    raw = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)  # (N, H, W)
    np.savez(tmp_path / "g.npz", x=raw, y=np.array([[1], [0]]))  # labels (N, 1)
    ds = D.load_split(tmp_path / "g.npz", "test", (1, 3, 4), classes=2)
    x, y = first_batch(ds, [0.0], [1.0])
    assert torch.equal(x, hand(raw[:, None], [0.0], [1.0])) and y.tolist() == [1, 0]

    feats = np.random.default_rng(1).normal(size=(3, 5))  # (N, F), float64
    np.save(tmp_path / "f.npy", feats)
    ds = D.load_split(tmp_path / "f.npy", "test", (5, 1, 1))
    assert ds.labels is None and ds.input_shape == (5, 1, 1)
    x, y = first_batch(ds, [0.0] * 5, [2.0] * 5, augment=True)  # 1x1: never cropped
    assert y is None and torch.equal(x, hand(feats[:, :, None, None], [0.0] * 5, [2.0] * 5))


def test_augmenting_many_channels_keeps_shape_and_is_seeded(tmp_path):
    raw = np.random.default_rng(2).random((6, 2, 8, 8), dtype=np.float32)
    np.savez(tmp_path / "d.npz", x=raw, y=np.arange(6) % 2)
    ds = D.load_split(tmp_path / "d.npz", "test", (2, 8, 8))
    a, _ = first_batch(ds, augment=True, shuffle=True, seed=1)
    b, _ = first_batch(ds, augment=True, shuffle=True, seed=1)
    c, _ = first_batch(ds, augment=True, shuffle=True, seed=2)
    assert a.shape == (6, 2, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)


def test_the_bundled_sample_reads_as_before():
    ds = bundled_sample()
    with np.load(SAMPLE) as z:
        images, labels = z["images"], z["labels"]
    assert np.array_equal(ds.images, images) and ds.images.flags.c_contiguous
    assert np.array_equal(ds.labels, labels) and ds.input_shape == (3, 32, 32)
    prep = C.load(MODEL).preprocessing
    mean, std = prep["mean"], prep["std"]
    x, _ = next(D.batches(ds.subset(np.arange(8)), 8, mean, std))
    assert torch.equal(x, hand(images[:8].transpose(0, 3, 1, 2), mean, std))


# ------------------------------------------------------------------------------ splits
def test_train_and_test_keys_of_one_file_and_of_a_folder(tmp_path):
    rng = np.random.default_rng(3)
    tr, te = rng.random((40, 2, 4, 4), dtype=np.float32), rng.random((10, 2, 4, 4),
                                                                       dtype=np.float32)
    np.savez(tmp_path / "both.npz", x_train=tr, y_train=np.arange(40) % 4, x_test=te,
             y_test=np.arange(10) % 4)
    s = load_splits(tmp_path / "both.npz", (2, 4, 4), 4)
    assert (len(s.train), len(s.val), len(s.test)) == (36, 4, 10)
    assert np.array_equal(s.test.images, te.transpose(0, 2, 3, 1))

    (tmp_path / "dir").mkdir()  # DIR/train.npz and DIR/test.npz with x/y: the file names say
    np.savez(tmp_path / "dir" / "train.npz", x=tr, y=np.arange(40) % 4)
    np.savez(tmp_path / "dir" / "test.npz", x=te, y=np.arange(10) % 4)
    s2 = load_splits(tmp_path / "dir", (2, 4, 4), 4)
    assert np.array_equal(s2.val.images, s.val.images)

    np.savez(tmp_path / "one.npz", x=te, y=np.arange(10) % 4)  # x/y alone: a test set
    assert len(load_splits(tmp_path / "one.npz", (2, 4, 4), 4, need_train=False).test) == 10
    with pytest.raises(D.DataError, match=r"one.npz: no train inputs: none of 'x_train' "
                                          r"\(keys: 'x', 'y'\); 'x'/'y' alone are a test set"):
        load_splits(tmp_path / "one.npz", (2, 4, 4), 4)
    with pytest.raises(D.DataError, match="holds inputs only .* training needs an npz"):
        np.save(tmp_path / "in.npy", te)
        D.load_split(tmp_path / "in.npy", "train", (2, 4, 4))


# ------------------------------------------------------------------------------ hwsim.run
def custom_checkpoint(path, shape):
    """A tiny converted SNN for input ``shape`` (C, H, W), plain nodes, 3 classes: a conv
    and an average pool for images, one hidden linear layer for flat (F, 1, 1) inputs."""
    c, h, w = shape
    if h == w == 1:
        body = [{"name": "flat", "kind": "flatten", "source": "in", "in_shape": [c, 1, 1],
                 "out_shape": [c]},
                {"name": "h1", "kind": "linear", "source": "flat", "in_shape": [c],
                 "out_shape": [8], "neuron": "lif"}]
        last = ("h1", 8)
    else:
        body = [{"name": "c1", "kind": "conv", "source": "in", "in_shape": [c, h, w],
                 "out_shape": [4, h, w], "kernel": 3, "padding": 1, "neuron": "lif"},
                {"name": "pool", "kind": "avgpool", "source": "c1", "in_shape": [4, h, w],
                 "out_shape": [4, h // 2, w // 2], "kernel": 2, "stride": 2},
                {"name": "flat", "kind": "flatten", "source": "pool",
                 "in_shape": [4, h // 2, w // 2], "out_shape": [4 * (h // 2) * (w // 2)]}]
        last = ("flat", 4 * (h // 2) * (w // 2))
    nodes = nodes_from_dicts([{"name": "in", "kind": "input", "out_shape": [c, h, w]}, *body,
                              {"name": "out", "kind": "linear", "source": last[0],
                               "in_shape": [last[1]], "out_shape": [3],
                               "neuron": "integrate"}])
    torch.manual_seed(0)
    net = Network(nodes, timesteps=3)
    ck = C.Checkpoint(arch="mine", dataset="mine", num_classes=3, input_shape=shape,
                      preprocessing={"mean": [0.25] * c, "std": [0.5] * c},
                      stage="converted", timesteps=3, layers=nodes)
    ck.update_from(net)
    C.save(ck, path)
    return C.load(path)


@pytest.mark.parametrize("shape, dtype, stored", [
    ((1, 8, 8), "uint8", lambda a: a[:, 0]),  # (N, H, W), MNIST-like
    ((2, 6, 6), "float32", lambda a: a.transpose(0, 2, 3, 1)),  # (N, H, W, C) event frames
    ((6, 1, 1), "float64", lambda a: a[:, :, 0, 0]),  # (N, F) features
])
def test_hwsim_run_on_other_channel_counts_and_flat_inputs(tmp_path, shape, dtype, stored):
    """The fp datapath simulates in float64, as a float64 PyTorch run of the same network on
    hand-normalised inputs: its spikes per image must be that run's, and with labels that
    agree with its predictions on every other input, the accuracy is exactly 1/2."""
    from hwsim.run import main

    ck = custom_checkpoint(tmp_path / "m.pt", shape)
    rng = np.random.default_rng(4)
    raw = (rng.integers(0, 256, (8, *shape), dtype=np.uint8) if dtype == "uint8"
           else rng.normal(size=(8, *shape)).astype(dtype))
    x = hand(raw, ck.preprocessing["mean"], ck.preprocessing["std"]).double()
    with torch.no_grad():
        out = ck.build(torch.float64).snn(x, ck.timesteps)
    pred = out.logits.argmax(1).numpy()
    y = (pred + np.arange(8) % 2) % 3  # even inputs right, odd ones wrong
    np.savez(tmp_path / "d.npz", x=stored(raw), y=y)
    rep = main(["--model", str(tmp_path / "m.pt"), "--data", str(tmp_path / "d.npz"),
                "--arch", "45nm_fp32", "--quiet", "--threads", "1"])
    first = rep["layers"][0]
    assert first["spikes"] == pytest.approx(float(out.spike_counts[first["name"]]) / 8,
                                            rel=1e-12)
    assert first["spikes"] > 0 and rep["accuracy"]["snn"] == 0.5
    assert rep["accuracy"]["functional_match"] is True


# ------------------------------------------------------------------------------ bad inputs
OBJECTS = np.array([{"a": 1}] * 4, dtype=object)


def npy_named_npz(p):
    with open(p, "wb") as f:
        np.save(f, np.zeros((4, 8, 8)))


BAD = {
    "wrong shape": (lambda p: np.savez(p, x=np.zeros((4, 3, 8, 8), np.uint8), y=[0] * 4),
                    ["d.npz: 'x' has shape (4, 3, 8, 8), read as (N, C, H, W): 3 channel(s)",
                     "input shape (1, 8, 8)", "expected (N, 1, 8, 8) or (N, 8, 8, 1)"]),
    "wrong size": (lambda p: np.savez(p, x=np.zeros((4, 28, 28), np.uint8), y=[0] * 4),
                   ["has shape (4, 28, 28)", "expects 8x8 inputs of 1 channel(s)"]),
    "NaN": (lambda p: np.savez(p, x=np.where(np.eye(8) > 0, np.nan, 0.0)[None].repeat(4, 0),
                               y=[0] * 4),
            ["'x' holds 32 non-finite value(s) (NaN or inf) of 256"]),
    "label too big": (lambda p: np.savez(p, x=np.zeros((4, 8, 8)), y=[0, 1, 7, 2]),
                      ["'y' holds 7; expected class numbers 0..2"]),
    "label count": (lambda p: np.savez(p, x=np.zeros((4, 8, 8)), y=[0, 1]),
                    ["4 images but 2 'y'"]),
    "fractional label": (lambda p: np.savez(p, x=np.zeros((2, 8, 8)), y=[0.5, 1.0]),
                         ["'y' holds 0.5; expected whole class numbers 0..2"]),
    "object array": (lambda p: np.savez(p, x=OBJECTS, y=np.arange(4) % 3),
                     ["d.npz: 'x' is an array of Python objects", "nothing of it was run"]),
    "object labels": (lambda p: np.savez(p, x=np.zeros((4, 8, 8)), y=OBJECTS),
                      ["d.npz: 'y' is an array of Python objects"]),
    "object npy": (lambda p: np.save(p.with_suffix(".npy"), OBJECTS, allow_pickle=True),
                   ["d.npy is an array of Python objects", "nothing of it was run"]),
    "npz of one array": (npy_named_npz, ["d.npz: an .npy file; expected a numpy .npz"]),
    "missing keys": (lambda p: np.savez(p, a=np.zeros((4, 8, 8)), b=[0] * 4),
                     ["no test inputs: none of 'x_test', 'x', 'images' (keys: 'a', 'b')"]),
    "two input keys": (lambda p: np.savez(p, x=np.zeros((4, 8, 8)), images=np.zeros((4, 8, 8))),
                       ["'x' and 'images' could each hold the test inputs"]),
    "int dtype": (lambda p: np.savez(p, x=np.zeros((4, 8, 8), np.int64), y=[0] * 4),
                  ["'x' has dtype int64; expected one of uint8, float16, float32, float64"]),
    "not npz": (lambda p: p.write_text("x,y\n1,2\n"), ["d.npz: not an npy or npz file"]),
    "missing file": (lambda p: None, ["d.npz: data file does not exist"]),
    "pickle as npy": (lambda p: p.with_suffix(".npy").write_bytes(pickle.dumps([1, 2])),
                      ["d.npy: a Python pickle; refused, nothing of it was run"]),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_array_files_are_one_line(case, tmp_path, capsys):
    from hwsim.run import main

    custom_checkpoint(tmp_path / "m.pt", (1, 8, 8))
    write, says = BAD[case]
    p = tmp_path / "d.npz"
    write(p)
    data = p.with_suffix(".npy") if "npy" in case else p
    with pytest.raises(SystemExit) as e:
        main(["--model", str(tmp_path / "m.pt"), "--data", str(data), "--quiet"])
    err = capsys.readouterr().err
    lines = re.findall(r"error: [^\r\n]*", err)
    assert e.value.code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for s in says:
        assert s in lines[0], lines[0]


@pytest.mark.parametrize("name", ["d.npy", "d.npz"])
def test_inputs_without_labels_are_simulated_without_accuracy(name, tmp_path, capsys):
    """hwsim.run needs no labels for energy, latency and the bit-exact check: an .npy (or an
    npz with 'x' only) runs, its accuracies are null; commands that report accuracy refuse it."""
    from hwsim.report_schema import validate
    from hwsim.run import main
    from model.evaluate import main as evaluate

    custom_checkpoint(tmp_path / "m.pt", (1, 8, 8))
    x = np.random.default_rng(0).random((6, 8, 8), dtype=np.float32) * 4
    path = tmp_path / name
    np.save(path, x) if name.endswith(".npy") else np.savez(path, x=x)
    rep = main(["--model", str(tmp_path / "m.pt"), "--data", str(path), "--quiet",
                "--arch", "45nm_fp32", "--threads", "1", "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    acc = rep["accuracy"]
    assert acc["snn"] is None and acc["reference"] is None and acc["ann"] is None
    assert acc["functional_match"] is True and acc["spikes_compared"] > 0
    assert rep["samples"] == 6 and rep["snn"]["energy_pj"]["total"] > 0
    assert "accuracy: none (the inputs have no labels)" in out
    assert validate(rep) == []
    with pytest.raises(SystemExit) as e:
        evaluate(["--model", str(tmp_path / "m.pt"), "--data", str(path)])
    assert e.value.code == 2
    assert "inputs without labels" in capsys.readouterr().err

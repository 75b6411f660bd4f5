"""Validation at the edges (issue 20): no file runs code, nothing is lost, and every bad input
gets one clear line on stderr, exit status 2, no traceback and no partial output."""

import os
import pickle
import re
import struct

import numpy as np
import pytest
import torch

from model import checkpoint as C
from model import data as D
from model import evaluate as E
from model import train as TR
from model.architectures import build_architecture
from model.network import Network
from tests.conftest import make_images


# ------------------------------------------------------------------------------ helpers
class Payload:
    """What an attacker plants: unpickling it runs a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def one_error_line(capsys, *needles, progress: bool = False) -> str:
    """The single stderr line of a refused command; every needle is in it. ``progress``: a
    fault after work started, so progress bars came before the line."""
    err = capsys.readouterr().err
    lines = re.findall(r"error: [^\r\n]*", err) if progress else err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("error: ")
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def exits_2(main, argv) -> None:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2


def train(*argv):
    TR.main([*argv, "--threads", "1"])


def train_main(argv):
    train(*argv)


@pytest.fixture(scope="module")
def tiny_ckpts(tmp_path_factory):
    """A tiny ANN and a converted tiny SNN (T = 2), written without training."""
    root = tmp_path_factory.mktemp("ckpts")
    torch.manual_seed(0)
    prep = {"mean": [0.5] * 3, "std": [0.25] * 3, "image_size": 32, "encoding": "direct"}
    net = Network(build_architecture("tiny", 10, (3, 32, 32)), timesteps=2)
    out = {}
    for stage in ("ann", "converted"):
        ck = C.Checkpoint(arch="tiny", dataset="cifar10", num_classes=10,
                          input_shape=(3, 32, 32), preprocessing=prep, stage=stage,
                          timesteps=2)
        ck.update_from(net)
        C.save(ck, root / f"{stage}.pt")
        out[stage] = root / f"{stage}.pt"
    return out


# ------------------------------------------------------------ 1. no file runs code
def test_planted_resume_file_is_refused_and_not_run(npz_dir, tmp_path, capsys):
    out, marker = tmp_path / "a.pt", tmp_path / "ran"
    torch.save({"signature": {}, "net": Payload(marker), "epoch": 1}, tmp_path / "a.pt.resume.pt")
    exits_2(train_main, ["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1",
                    "--limit", "20", "--out", str(out)])
    one_error_line(capsys, "a.pt.resume.pt", "refused", "posix.system", "nothing of it was run")
    assert not marker.exists() and not out.exists()


def test_planted_epoch_state_is_refused_and_not_run(tiny_ckpts, tmp_path, capsys):
    state, marker = tmp_path / "epoch001.pt", tmp_path / "ran"
    torch.save({"signature": {"command": "snn"}, "net": Payload(marker), "epoch": 1}, state)
    exits_2(train_main, ["average", "--states", str(state), "--init", str(tiny_ckpts["converted"]),
                    "--out", str(tmp_path / "avg.pt")])
    one_error_line(capsys, str(state), "refused", "posix.system")
    assert not marker.exists() and not (tmp_path / "avg.pt").exists()


def test_planted_checkpoint_is_refused_and_not_run(tiny_ckpts, tmp_path, capsys):
    d = torch.load(tiny_ckpts["converted"], weights_only=True)
    marker = tmp_path / "ran"
    d["metrics"] = {"note": Payload(marker)}
    torch.save(d, tmp_path / "evil.pt")
    exits_2(E.main, ["--model", str(tmp_path / "evil.pt"), "--threads", "1"])
    one_error_line(capsys, "evil.pt", "refused", "posix.system")
    assert not marker.exists()


def write_cifar10_test(root, batch) -> None:
    d = root / "cifar-10-batches-py"
    d.mkdir(exist_ok=True)
    (d / "test_batch").write_bytes(batch if isinstance(batch, bytes) else pickle.dumps(batch))


def test_planted_cifar_batch_is_refused_and_not_run(tiny_ckpts, tmp_path, capsys):
    marker = tmp_path / "ran"
    imgs, labels = make_images(10)
    write_cifar10_test(tmp_path, {"data": imgs.transpose(0, 3, 1, 2).reshape(10, -1),
                                  "labels": labels.tolist(), "batch_label": Payload(marker)})
    exits_2(E.main, ["--model", str(tiny_ckpts["converted"]), "--data", str(tmp_path),
                     "--threads", "1", "--json", str(tmp_path / "r.json")])
    one_error_line(capsys, "test_batch", "refused", "posix.system")
    assert not marker.exists() and not (tmp_path / "r.json").exists()


def python2_cifar_batch(rows: np.ndarray, labels: list[int]) -> bytes:
    """A batch byte for byte as the original CIFAR-10 files hold it (Python 2 cPickle,
    protocol 2): numpy.core.multiarray._reconstruct, numpy.ndarray and numpy.dtype, the pixels
    as one BINSTRING, keys as SHORT_BINSTRINGs."""
    def s(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b
    n = rows.shape[0]
    assert n < 256
    array = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s(b"b")
             + b"\x87R(K\x01K" + bytes([n]) + b"M" + struct.pack("<H", rows.shape[1]) + b"\x86"
             + b"cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R(K\x03" + s(b"|")
             + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
             + b"T" + struct.pack("<I", rows.nbytes) + rows.astype(np.uint8).tobytes() + b"tb")
    lab = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return (b"\x80\x02}(" + s(b"data") + array + s(b"labels") + lab + s(b"batch_label")
            + s(b"testing batch 1 of 1") + b"u.")


def test_original_cifar_batch_format_still_loads(tmp_path):
    """The restricted unpickler admits exactly what the real files name."""
    imgs, labels = make_images(12)
    rows = imgs.transpose(0, 3, 1, 2).reshape(12, -1)
    raw = python2_cifar_batch(rows, labels.tolist())
    assert b"numpy.core.multiarray" in raw
    write_cifar10_test(tmp_path, raw)
    ds = D.load_split(tmp_path, "test", 32)
    assert np.array_equal(ds.images, imgs) and np.array_equal(ds.labels, labels)
    for protocol in (2, 4, 5):  # the same dict written again by Python 3
        write_cifar10_test(tmp_path, pickle.dumps({"data": rows, "labels": labels.tolist()},
                                                  protocol=protocol))
        assert np.array_equal(D.load_split(tmp_path, "test", 32).images, imgs)


def test_resume_and_epoch_files_hold_only_plain_types(tiny_ckpts, npz_dir, tmp_path,
                                                      interrupt):
    """What training keeps (Adam's state, the history, the best weights) reads back with
    weights_only=True, and an interrupted DIET-SNN run resumes through the safe loader."""
    out = tmp_path / "s.pt"
    argv = ["snn", "--init", str(tiny_ckpts["converted"]), "--data", str(npz_dir), "--epochs",
            "2", "--limit", "40", "--no-test", "--keep-epochs", "--out", str(out)]
    restore = interrupt(TR, "evaluate", 2)  # in the second epoch's validation
    with pytest.raises(SystemExit):
        train(*argv)
    restore()
    state = torch.load(tmp_path / "s.pt.resume.pt", weights_only=True)
    assert state["epoch"] == 1 and state["optimiser"]["state"]
    assert torch.load(tmp_path / "s.pt.epochs" / "epoch001.pt", weights_only=True)["epoch"] == 1
    train(*argv)
    assert len(C.load(out).history[-1]["epochs"]) == 2


# ------------------------------------------------------------------ 2. nothing lost
def test_final_checkpoint_is_written_before_the_resume_state_goes(npz_dir, tmp_path, capsys,
                                                                  monkeypatch):
    """A full disk at the very end of a run: the resume file must survive it (it used to be
    deleted first), and the same command then finishes from it without training again."""
    out = tmp_path / "a.pt"
    argv = ["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1", "--limit", "40",
            "--out", str(out)]
    real_save = C.save

    def full_disk(ckpt, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(C, "save", full_disk)
    exits_2(train_main, argv)
    one_error_line(capsys, "a.pt: No space left on device", "a.pt.resume.pt", "rerun",
                   progress=True)
    assert (tmp_path / "a.pt.resume.pt").exists() and not out.exists()
    monkeypatch.setattr(C, "save", real_save)
    train(*argv)
    assert "resuming ann" in capsys.readouterr().out
    assert out.exists() and not (tmp_path / "a.pt.resume.pt").exists()


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    from model.files import atomic_path

    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(OSError) as e, atomic_path(target) as tmp:
        tmp.write_text("half")
        raise OSError(28, "No space left on device", str(tmp))
    assert e.value.filename == str(target)  # the message names the target, not the temp file
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["r.json"]


def test_evaluate_plot_failure_leaves_no_partial_file(tiny_ckpts, tmp_path, capsys,
                                                      monkeypatch):
    import matplotlib.figure

    def half_then_full_disk(self, fname, **kw):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG half")
        raise OSError(28, "No space left on device", str(fname))

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", half_then_full_disk)
    plots = tmp_path / "plots"
    exits_2(E.main, ["--model", str(tiny_ckpts["converted"]), "--limit", "10", "--threads", "1",
                     "--plot", str(plots)])
    one_error_line(capsys, "spike_rate.png", "No space left on device", progress=True)
    assert os.listdir(plots) == []


# ------------------------------------------------------------------ 3. validation at the entries
def mutated(src, tmp_path, change, name="bad.pt"):
    """A copy of checkpoint ``src`` with ``change(d)`` applied to its dict."""
    d = torch.load(src, weights_only=True)
    change(d)
    torch.save(d, tmp_path / name)
    return tmp_path / name


def _set(key, value):
    def change(d):
        *outer, last = key.split(".")
        for k in outer:
            d = d[k]
        d[last] = value
    return change


def _weight(value):
    def change(d):
        d["weights"]["conv1"][0, 0, 0, 0] = value
    return change


BAD_CHECKPOINTS = [
    ("nan weight", _weight(float("nan")), "weights.conv1 holds 1 NaN or infinite"),
    ("inf weight", _weight(float("inf")), "weights.conv1 holds 1 NaN or infinite"),
    ("zero threshold", _set("threshold.conv1", 0.0), "threshold.conv1 is 0.0; expected a "
                                                     "finite number > 0"),
    ("negative threshold", _set("threshold.conv2", -1.0), "threshold.conv2 is -1.0"),
    ("nan threshold", _set("threshold.conv1", float("nan")), "threshold.conv1 is nan"),
    ("missing threshold", lambda d: d["threshold"].pop("conv2"),
     "threshold.conv2 is missing"),
    ("leak 5", _set("leak.conv1", 5.0), "leak.conv1 is 5.0; expected a number in [0, 1]"),
    ("negative leak", _set("leak.conv1", -0.5), "leak.conv1 is -0.5"),
    ("T = 0", _set("timesteps", 0), "timesteps is 0; expected a whole number >= 1"),
    ("unknown reset", _set("reset", "hard"), "reset is 'hard'; expected one of paper, leaked"),
    ("zero std", _set("preprocessing.std", [0.25, 0.0, 0.25]), "preprocessing.std"),
    ("nan gamma", _set("gamma", float("nan")), "gamma is nan"),
    ("stray layer", _set("threshold.conv9", 1.0), "threshold.conv9: no LIF layer"),
    ("bad shape", _set("input_shape", [3, "x", 32]), "input_shape is"),
]


@pytest.mark.parametrize("change,message", [c[1:] for c in BAD_CHECKPOINTS],
                         ids=[c[0] for c in BAD_CHECKPOINTS])
def test_bad_checkpoint_values_are_refused_naming_file_and_key(tiny_ckpts, tmp_path, change,
                                                               message):
    path = mutated(tiny_ckpts["converted"], tmp_path, change)
    with pytest.raises(C.CheckpointError) as e:
        C.load(path)
    assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
    assert "\n" not in str(e.value)


def test_an_ann_needs_no_leak_or_threshold(tiny_ckpts, tmp_path):
    path = mutated(tiny_ckpts["ann"], tmp_path, lambda d: (d["leak"].clear(),
                                                           d["threshold"].clear()))
    assert C.load(path).stage == "ann"


@pytest.mark.parametrize("batch,message", [
    ({"labels": [0]}, "no 'data' key"),
    ({"data": "pixels", "labels": [0]}, "'data' is a str"),
    ({"data": np.zeros((2, 10), np.uint8), "labels": [0, 1]}, "shape (2, 10)"),
    ({"data": np.full((2, 3072), 300, np.int64), "labels": [0, 1]}, "run from 300 to 300"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 10]}, "'labels' holds 10; "
                                                                  "expected class numbers 0..9"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [-1, 0]}, "'labels' holds -1"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0.0, float("nan")]},
     "'labels' holds nan; expected whole class numbers 0..9"),
    ({"data": np.zeros((2, 3072), np.uint8), "labels": [0]}, "2 images but 1 'labels'"),
    ({"data": np.zeros((2, 3072), np.uint8)}, "no 'labels' key"),
    ([1, 2, 3], "a list, expected a dict"),
])
def test_bad_cifar_batches_are_one_clear_error(tmp_path, batch, message):
    write_cifar10_test(tmp_path, batch)
    with pytest.raises(D.DataError) as e:
        D.load_split(tmp_path, "test")
    assert "test_batch" in str(e.value) and message in str(e.value), str(e.value)


def test_npz_labels_out_of_range_are_refused(tmp_path):
    images, _ = make_images(4)
    np.savez(tmp_path / "test.npz", images=images, labels=np.array([0, 1, np.nan, 2]))
    with pytest.raises(D.DataError, match="'labels' holds nan; expected whole class"):
        D.load_split(tmp_path, "test")
    np.savez(tmp_path / "test.npz", images=images, labels=np.array([0, -1, 1, 2]))
    with pytest.raises(D.DataError, match="'labels' holds -1"):
        D.load_split(tmp_path, "test")


def write_yaml(tmp_path, text: bytes | str, name="chip.yaml"):
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


@pytest.mark.parametrize("text,message", [
    ("inherits: 45nm.yaml\nprecision: {weight_bits: 1000}\n",
     "chip.yaml: precision.weight_bits: expected an integer > 0 and <= 64, got 1000"),
    ("inherits: 45nm.yaml\nprecision: {weight_bits: 26}\n",
     "chip.yaml: precision.weight_bits: expected 2 to 25 bits on the int datapath"),
    ("inherits: 45nm.yaml\nprecision: {weight_bits: 1}\n", "precision.weight_bits"),
    ("inherits: 45nm.yaml\nprecision: {membrane_bits: 128}\n", "precision.membrane_bits"),
    # a width the datapath would not simulate (priced at one format, computed in another)
    ("inherits: 45nm.yaml\nprecision: {membrane_bits: 32}\n",
     "chip.yaml: precision.membrane_bits: expected 2 to 24 bits on the int datapath"),
    ("inherits: 45nm_fp32.yaml\nprecision: {membrane_bits: 16}\n",
     "chip.yaml: precision.membrane_bits: expected 32 on the fp datapath"),
    ("inherits: 45nm.yaml\nprecision: {datapath: fp}\n",
     "45nm.yaml: precision.weight_bits: expected 32 on the fp datapath"),  # where it is set
    ("inherits: 45nm.yaml\npe_array: {count: 1000000000000000000000000000000}\n",
     "chip.yaml: pe_array.count: expected an integer > 0 and <= 1048576, got 1000"),
    (b"inherits: 45nm.yaml\ndescription: caf\xe9\n",
     "chip.yaml: line 2: byte 0xe9 is not UTF-8"),
    ("inherits: 45nm.yaml\ntechnology: {node_nm: {value: 3, source: x}}\n",
     "chip.yaml: technology.node_nm: 3 nm, but technology.node_scale 1 is inherited from"),
])
def test_bad_arch_configs_are_one_clear_error(tmp_path, text, message):
    from arch_configs import ConfigError, load_arch

    path = write_yaml(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_arch(str(path))
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_arch_config_rules_admit_what_they_should(tmp_path):
    from arch_configs import list_configs, load_arch

    for name in list_configs():  # the packaged ones, the fp32 one with 32-bit weights included
        load_arch(name)
    assert load_arch("45nm", {"pe_array": {"count": 2**20}}).pes == 2**20
    assert load_arch("45nm", {"precision": {"weight_bits": 25}}).precision.weight_bits == 25
    # a new node with its own scale; the same node again over an inherited scale
    own = write_yaml(tmp_path, "inherits: 45nm.yaml\ntechnology: {node_nm: {value: 3, "
                               "source: x}, node_scale: {value: 0.05, source: y}}\n", "own.yaml")
    assert load_arch(str(own)).node_scale == 0.05
    same = write_yaml(tmp_path, "inherits: 7nm.yaml\ntechnology: {node_nm: {value: 7, "
                                "source: x}}\n", "same.yaml")
    assert load_arch(str(same)).node_scale == load_arch("7nm").node_scale


@pytest.mark.parametrize("argv,message", [
    (["--lr", "-1"], "--lr must be a finite number > 0, got -1.0"),
    (["--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["--conv-dropout", "1.5"], "--conv-dropout must be a probability in [0, 1), got 1.5"),
    (["--fc-dropout", "1"], "--fc-dropout must be a probability in [0, 1), got 1.0"),
    (["--threads", "-2"], "--threads must be a whole number >= 1, got -2"),
    (["--threads", "0"], "--threads must be a whole number >= 1, got 0"),
    (["--limit", "5000"], "--limit 5000: "),
    (["--train-limit", "5000"], "--train-limit 5000: "),
    (["--weight-decay", "-1"], "--weight-decay must be a finite number >= 0"),
])
def test_bad_training_flags_fail_before_any_work(npz_dir, tmp_path, capsys, argv, message):
    out = tmp_path / "a.pt"
    exits_2(TR.main, ["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1",
                      "--out", str(out), *argv])
    one_error_line(capsys, message)
    assert not out.exists() and not (tmp_path / "a.pt.resume.pt").exists()


def test_training_output_paths_are_checked_before_the_first_epoch(npz_dir, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.setattr(TR, "_fit", lambda *a, **k: pytest.fail("training started"))
    (tmp_path / "file").write_text("")
    for out, message in ((tmp_path, "is a folder; expected a file path"),
                         (tmp_path / "file" / "a.pt", "is a file, not a folder")):
        exits_2(TR.main, ["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1",
                          "--out", str(out)])
        one_error_line(capsys, f"--out {out}", message)


@pytest.mark.parametrize("argv,message", [
    (["--percentile", "150"], "--percentile must be in (0, 100], got 150.0"),
    (["--percentile", "0"], "--percentile must be in (0, 100], got 0.0"),
    (["--scale", "inf"], "--scale values must be positive"),
])
def test_bad_conversion_flags(tiny_ckpts, npz_dir, tmp_path, capsys, argv, message):
    exits_2(TR.main, ["convert", "--ann", str(tiny_ckpts["ann"]), "--data", str(npz_dir),
                      "--out", str(tmp_path / "c.pt"), *argv])
    one_error_line(capsys, message)


@pytest.mark.parametrize("argv,message", [
    (["--limit", "5000"], "--limit 5000: the bundled sample has only 1000 test images"),
    (["--threads", "0"], "--threads must be a whole number >= 1, got 0"),
    (["--workers", "-1"], "--workers must be a whole number >= 0, got -1"),
])
def test_bad_evaluation_flags(capsys, argv, message):
    exits_2(E.main, argv)
    one_error_line(capsys, message)


def test_evaluate_limit_beyond_the_data_is_refused(tiny_ckpts, npz_dir, capsys):
    exits_2(E.main, ["--model", str(tiny_ckpts["converted"]), "--data", str(npz_dir),
                     "--limit", "5000", "--threads", "1"])
    one_error_line(capsys, f"--limit 5000: {npz_dir} has only 100 test images; expected at "
                           "most 100")


# ------------------------------------------------------------------ 4. the battery
def _cifar(root, bad: dict | None = None, name: str = "test_batch"):
    """A CIFAR-10 folder (10 images per file) whose ``name`` file holds ``bad`` instead."""
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    imgs, labels = make_images(10)
    good = {"data": imgs.transpose(0, 3, 1, 2).reshape(10, -1), "labels": labels.tolist()}
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (d / f).write_bytes(pickle.dumps(bad if f == name and bad is not None else good))
    return root


def _npz(root):
    for split, n, seed in (("train", 60, 0), ("test", 20, 1)):
        images, labels = make_images(n, seed=seed)
        np.savez(root / f"{split}.npz", images=images, labels=labels)
    return root


def _yaml(root, text: bytes | str):
    return write_yaml(root, text)


def _bad_ckpt(stage, change):
    return lambda t, ck: mutated(ck[stage], t, change)


def _planted_ckpt(t, ck):
    d = torch.load(ck["converted"], weights_only=True)
    d["metrics"] = {"x": Payload(t / "ran")}
    torch.save(d, t / "evil.pt")
    return t / "evil.pt"


def _planted_state(t, ck):
    torch.save({"signature": {"command": "snn"}, "net": Payload(t / "ran"), "epoch": 1},
               t / "epoch001.pt")
    return t / "epoch001.pt"


def _planted_resume(t):
    torch.save({"signature": {}, "net": Payload(t / "ran"), "epoch": 1}, t / "a.pt.resume.pt")
    return _npz(t)


NAN_W, ZERO_V = _weight(float("nan")), _set("threshold.conv1", 0.0)


def _ann(*flags):
    return lambda t, ck: ["ann", "--arch", "tiny", "--data", str(_npz(t)), "--epochs", "1",
                          "--out", str(t / "a.pt"), *flags]


def _ann_data(make_data):
    return lambda t, ck: ["ann", "--arch", "tiny", "--data", str(make_data(t)), "--epochs",
                          "1", "--out", str(t / "a.pt")]


def _convert(*flags, ann=None):
    return lambda t, ck: ["convert", "--ann", str(ann(t, ck) if ann else ck["ann"]), "--data",
                          str(_npz(t)), "--out", str(t / "c.pt"), *flags]


def _snn(*flags, init=None):
    return lambda t, ck: ["snn", "--init", str(init(t, ck) if init else ck["converted"]),
                          "--data", str(_npz(t)), "--epochs", "1", "--out", str(t / "s.pt"),
                          *flags]


def _eval(*flags, model=None, data=None):
    def argv(t, ck):
        a = ["--model", str(model(t, ck) if model else ck["converted"])]
        if data:
            a += ["--data", str(data(t))]
        return a + [str(f(t)) if callable(f) else f for f in flags]
    return argv


def _map(model=None, arch=None, json_out=None):
    def argv(t, ck):
        a = ["--model", str(model(t, ck) if model else ck["converted"])]
        if arch:
            a += ["--arch", str(_yaml(t, arch))]
        return a + ["--json", str(json_out(t) if json_out else t / "m.json")]
    return argv


def _sweep(*flags, model=None, data=None, arch=None, out=None):
    def argv(t, ck):
        a = ["--model", str(model(t, ck) if model else ck["converted"]),
             "--data", str(data(t) if data else _npz(t)), "--timesteps", "1", "--samples", "4",
             "--workers", "0", "--quiet", "--no-plots",
             "--out", str(out(t) if out else t / "sweep")]
        if arch:
            a += ["--arch", str(_yaml(t, arch))]
        return a + list(flags)
    return argv


def _hwsim(*flags, model=None, data=None, arch=None):
    def argv(t, ck):
        a = ["--model", str(model(t, ck) if model else ck["converted"]),
             "--data", str(data(t) if data else _npz(t)), "--samples", "4", "--quiet"]
        if arch:
            a += ["--arch", str(_yaml(t, arch))]
        return a + [str(f(t)) if callable(f) else f for f in flags]
    return argv


def _a_file(t):
    (t / "file").write_text("")
    return t / "file"


WEIGHT_1000 = "inherits: 45nm.yaml\nprecision: {weight_bits: 1000}\n"
NOT_UTF8 = b"inherits: 45nm.yaml\ndescription: caf\xe9\n"
PES_1E30 = "inherits: 45nm.yaml\npe_array: {count: 1000000000000000000000000000000}\n"
NODE_3 = "inherits: 45nm.yaml\ntechnology: {node_nm: {value: 3, source: x}}\n"
NO_DATA_KEY = {"labels": [0] * 10}
LABEL_10 = {"data": np.zeros((10, 3072), np.uint8), "labels": [10] * 10}
LABEL_NAN = {"data": np.zeros((10, 3072), np.uint8), "labels": [float("nan")] * 10}

BATTERY = [
    # model.train ann: flags, outputs, data, resume state
    ("train", "lr negative", _ann("--lr", "-1"), "--lr"),
    ("train", "lr nan", _ann("--lr", "nan"), "--lr"),
    ("train", "lr inf", _ann("--lr", "inf"), "--lr"),
    ("train", "conv dropout 1.5", _ann("--conv-dropout", "1.5"), "--conv-dropout"),
    ("train", "fc dropout negative", _ann("--fc-dropout", "-0.1"), "--fc-dropout"),
    ("train", "threads -2", _ann("--threads", "-2"), "--threads"),
    ("train", "threads 0", _ann("--threads", "0"), "--threads"),
    ("train", "limit beyond the data", _ann("--limit", "5000"), "--limit 5000"),
    ("train", "train limit beyond the data", _ann("--train-limit", "5000"), "--train-limit"),
    ("train", "weight decay negative", _ann("--weight-decay", "-1"), "--weight-decay"),
    ("train", "batch size 0", _ann("--batch-size", "0"), "--batch-size"),
    ("train", "epochs negative", _ann("--epochs", "-1"), "--epochs"),
    ("train", "time budget 0", _ann("--time-budget", "0"), "--time-budget"),
    ("train", "out is a folder", lambda t, ck: _ann()(t, ck)[:-1] + [str(t)], "--out"),
    ("train", "out under a file", lambda t, ck: _ann()(t, ck)[:-1] + [str(_a_file(t) / "a.pt")],
     "--out"),
    ("train", "data folder missing", _ann_data(lambda t: t / "nowhere"), "nowhere"),
    ("train", "cifar batch without data", _ann_data(lambda t: _cifar(t, NO_DATA_KEY)),
     "no 'data' key"),
    ("train", "cifar labels out of range",
     _ann_data(lambda t: _cifar(t, LABEL_10, "data_batch_3")), "data_batch_3"),
    ("train", "cifar batch runs code",
     _ann_data(lambda t: _cifar(t, {"data": Payload(t / "ran")}, "data_batch_1")),
     "posix.system"),
    ("train", "resume file runs code", _ann_data(_planted_resume), "a.pt.resume.pt"),
    # model.train convert / snn / average
    ("train", "percentile 150", _convert("--percentile", "150"), "--percentile"),
    ("train", "percentile 0", _convert("--percentile", "0"), "--percentile"),
    ("train", "scale nan", _convert("--scale", "nan"), "--scale"),
    ("train", "ann with a NaN weight", _convert(ann=_bad_ckpt("ann", NAN_W)), "weights.conv1"),
    ("train", "init with a zero threshold", _snn(init=_bad_ckpt("converted", ZERO_V)),
     "threshold.conv1"),
    ("train", "init with leak 5", _snn(init=_bad_ckpt("converted", _set("leak.conv2", 5.0))),
     "leak.conv2"),
    ("train", "gamma 0", _snn("--gamma", "0"), "--gamma"),
    ("train", "timesteps 0", _snn("--timesteps", "0"), "--timesteps"),
    ("train", "epoch state runs code",
     lambda t, ck: ["average", "--states", str(_planted_state(t, ck)), "--init",
                    str(ck["converted"]), "--out", str(t / "avg.pt")], "epoch001.pt"),
    ("train", "a checkpoint as epoch state",
     lambda t, ck: ["average", "--states", str(ck["converted"]), "--out", str(t / "avg.pt")],
     "not an epoch state"),
    # model.evaluate
    ("evaluate", "NaN weight", _eval(model=_bad_ckpt("converted", NAN_W)), "weights.conv1"),
    ("evaluate", "missing threshold",
     _eval(model=_bad_ckpt("converted", lambda d: d["threshold"].pop("conv1"))),
     "threshold.conv1"),
    ("evaluate", "T = 0", _eval(model=_bad_ckpt("converted", _set("timesteps", 0))),
     "timesteps"),
    ("evaluate", "unknown reset", _eval(model=_bad_ckpt("converted", _set("reset", "hard"))),
     "reset"),
    ("evaluate", "checkpoint runs code", _eval(model=_planted_ckpt), "posix.system"),
    ("evaluate", "garbage checkpoint",
     _eval(model=lambda t, ck: (t / "junk.pt").write_bytes(b"garbage") and t / "junk.pt"),
     "junk.pt"),
    ("evaluate", "limit beyond the bundled sample", _eval("--limit", "5000"), "--limit 5000"),
    ("evaluate", "limit beyond the data", _eval("--limit", "5000", data=_npz), "--limit 5000"),
    ("evaluate", "threads 0", _eval("--threads", "0"), "--threads"),
    ("evaluate", "timesteps 0", _eval("--timesteps", "0"), "--timesteps"),
    ("evaluate", "json is a folder", _eval("--json", lambda t: t), "--json"),
    ("evaluate", "plot is a file", _eval("--plot", _a_file), "--plot"),
    ("evaluate", "cifar labels NaN", _eval(data=lambda t: _cifar(t, LABEL_NAN)), "'labels'"),
    ("evaluate", "cifar batch runs code",
     _eval(data=lambda t: _cifar(t, {"data": Payload(t / "ran"), "labels": [0]})),
     "posix.system"),
    # python -m mapping
    ("mapping", "NaN weight", _map(model=_bad_ckpt("converted", NAN_W)), "weights.conv1"),
    ("mapping", "weight_bits 1000", _map(arch=WEIGHT_1000), "precision.weight_bits"),
    ("mapping", "arch not UTF-8", _map(arch=NOT_UTF8), "not UTF-8"),
    ("mapping", "10**30 PEs", _map(arch=PES_1E30), "pe_array.count"),
    ("mapping", "node_nm over another node's scale", _map(arch=NODE_3), "technology.node_nm"),
    ("mapping", "json is a folder", _map(json_out=lambda t: t), "--json"),
    # python -m hwsim.run
    ("run", "threads 0", _hwsim("--threads", "0"), "--threads"),
    ("run", "threads -2", _hwsim("--threads", "-2"), "--threads"),
    ("run", "10**30 PEs", _hwsim("--pes", str(10**30)), "--pes"),
    ("run", "a dataflow of one side only", _hwsim("--dataflow", "ws"), "policy.dataflow"),
    ("run", "an unknown dataflow pair", _hwsim("--dataflow", "os/rs_skip_x"), "policy.dataflow"),
    ("run", "an ANN that is not a checkpoint", _hwsim("--ann", _a_file), "file"),
    ("run", "zero threshold", _hwsim(model=_bad_ckpt("converted", ZERO_V)), "threshold.conv1"),
    ("run", "weight_bits 1000", _hwsim(arch=WEIGHT_1000), "precision.weight_bits"),
    ("run", "arch not UTF-8", _hwsim(arch=NOT_UTF8), "not UTF-8"),
    ("run", "json is a folder", _hwsim("--json", lambda t: t), "--json"),
    ("run", "csv folder is a file", _hwsim("--csv", _a_file), "--csv"),
    # python -m hwsim.sweep
    ("sweep", "10**30 PEs", _sweep("--pes", str(10**30)), "--pes"),
    ("sweep", "zero threshold", _sweep(model=_bad_ckpt("converted", ZERO_V)),
     "threshold.conv1"),
    ("sweep", "weight_bits 1000", _sweep(arch=WEIGHT_1000), "precision.weight_bits"),
    ("sweep", "arch not UTF-8", _sweep(arch=NOT_UTF8), "not UTF-8"),
    ("sweep", "cifar batch runs code",
     _sweep(data=lambda t: _cifar(t, {"data": Payload(t / "ran"), "labels": [0]})),
     "posix.system"),
    ("sweep", "out is a file", _sweep(out=_a_file), "--out"),
    ("sweep", "checkpoint runs code", _sweep(model=_planted_ckpt), "posix.system"),
]


def _run(cli: str, argv: list[str]) -> int:
    if cli == "mapping":
        from mapping.__main__ import main

        return main(argv)
    if cli == "sweep":
        from hwsim.sweep import main
    elif cli == "run":
        from hwsim.run import main
        argv = [*argv, "--threads", "1"] if "--threads" not in argv else argv
    else:
        main = TR.main if cli == "train" else E.main
        if "--threads" not in argv:
            argv = [*argv, "--threads", "1"]
    try:
        main(argv)
    except SystemExit as e:
        return e.code
    return 0


def _tree(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("cli,make,needle", [(c[0], c[2], c[3]) for c in BATTERY],
                         ids=[f"{c[0]}: {c[1]}" for c in BATTERY])
def test_battery(tiny_ckpts, tmp_path, capsys, cli, make, needle):
    """Exit status 2, exactly one stderr line naming the offending item, no traceback, no
    output file (nothing new under the folder), and no planted code ran."""
    argv = make(tmp_path, tiny_ckpts)
    before = _tree(tmp_path)
    capsys.readouterr()
    assert _run(cli, argv) == 2
    one_error_line(capsys, needle)
    assert _tree(tmp_path) == before
    assert not (tmp_path / "ran").exists()


def test_battery_is_large_enough():
    assert len(BATTERY) >= 60
    assert {c[0] for c in BATTERY} == {"train", "evaluate", "mapping", "sweep", "run"}


def test_interrupted_evaluation_is_one_line(tiny_ckpts, tmp_path, capsys, interrupt):
    interrupt(E, "evaluate", 1)
    with pytest.raises(SystemExit) as e:
        E.main(["--model", str(tiny_ckpts["converted"]), "--limit", "10", "--threads", "1",
                "--json", str(tmp_path / "r.json")])
    assert e.value.code == 130
    one_error_line(capsys, "interrupted", "rerun the same command", progress=True)
    assert not (tmp_path / "r.json").exists()

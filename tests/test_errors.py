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

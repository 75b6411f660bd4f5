"""The three-stage pipeline end to end on a toy net and toy data: CLI, checkpoints, resume,
evaluation report, and one-line errors for bad inputs."""

import json
import subprocess
import sys

import pytest
import torch

from model import checkpoint as C
from model import evaluate as E
from model import train as TR


def train(*argv):
    TR.main([*argv, "--threads", "1"])


@pytest.fixture
def pipeline(npz_dir, tmp_path):
    ann, snn0, snn = tmp_path / "ann.pt", tmp_path / "snn0.pt", tmp_path / "snn.pt"
    train("ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "2", "--lr", "0.05",
          "--out", str(ann))
    train("convert", "--ann", str(ann), "--timesteps", "3", "--out", str(snn0),
          "--calib-samples", "64")
    train("snn", "--init", str(snn0), "--epochs", "1", "--lr", "1e-3", "--out", str(snn))
    return ann, snn0, snn


def test_three_stages(pipeline, tmp_path):
    ann, snn0, snn = pipeline
    a, c, s = C.load(ann), C.load(snn0), C.load(snn)
    assert (a.stage, c.stage, s.stage) == ("ann", "converted", "snn")
    assert a.metrics["ann_test_accuracy"] > 0.3  # toy classes are separable by colour
    assert c.timesteps == s.timesteps == 3
    assert all(v == 1.0 for v in c.leak.values())  # IF neurons after conversion
    # conversion is a copy of the weights
    assert all(torch.equal(a.weights[k], c.weights[k]) for k in a.weights)
    assert s.leak.keys() == {"conv1", "conv2"} and s.metrics["snn_test_accuracy"] >= 0
    assert all(0.0 <= s.leak[k] <= 1.0 for k in s.leak)  # trained, clamped to [0, 1]
    assert any(s.threshold[k] != c.threshold[k] for k in s.threshold)
    assert not (tmp_path / "snn.pt.resume.pt").exists()


def test_weights_only_ablation_keeps_leak_and_threshold(pipeline, tmp_path):
    _, snn0, _ = pipeline
    out = tmp_path / "wo.pt"
    train("snn", "--init", str(snn0), "--epochs", "1", "--no-train-leak",
          "--no-train-threshold", "--out", str(out))
    c, w = C.load(snn0), C.load(out)
    assert w.leak == c.leak and w.threshold == c.threshold
    assert any(not torch.equal(w.weights[k], c.weights[k]) for k in c.weights)


def test_evaluate_json_and_plots(pipeline, npz_dir, tmp_path):
    _, _, snn = pipeline
    js, plots = tmp_path / "r.json", tmp_path / "plots"
    E.main(["--model", str(snn), "--data", str(npz_dir), "--limit", "50", "--json", str(js),
            "--plot", str(plots), "--threads", "1"])
    r = json.loads(js.read_text())
    assert r["samples"] == 50 and r["timesteps"] == 3 and 0 <= r["accuracy"] <= 1
    names = [row["name"] for row in r["layers"]]
    assert names == ["conv1", "conv2", "fc1"]
    assert r["layers"][-1]["leak"] is None and r["layers"][-1]["spike_rate"] is None
    for row in r["layers"][:2]:
        assert row["threshold"] > 0 and 0 <= row["leak"] <= 1 and row["spike_rate"] >= 0
    assert (plots / "spike_rate.png").stat().st_size > 1000
    assert (plots / "leak_threshold.png").stat().st_size > 1000


def test_spike_rate_is_spikes_per_neuron_per_image(pipeline, npz_dir):
    _, _, snn = pipeline
    ckpt = C.load(snn)
    net = ckpt.build().eval()
    from model.common import load_splits

    ds = load_splits(npz_dir, 32, 10, limit=20, need_train=False).test
    r = E.run(type("A", (), dict(model=str(snn), data=str(npz_dir), limit=20, timesteps=None,
                                 seed=0, batch_size=7, workers=0,
                                 device="cpu"))())
    from model.data import batches

    x, _ = next(batches(ds, 20, ckpt.preprocessing["mean"], ckpt.preprocessing["std"]))
    out = net.snn(x, 3, record_spikes=True)
    expected = out.spikes["conv2"].sum().item() / (20 * 16 * 16 * 16)  # conv2: 16 x 16x16
    assert r["layers"][1]["spike_rate"] == pytest.approx(expected)


def test_resume_after_interruption_gives_same_result(npz_dir, tmp_path, interrupt):
    args = ["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "3", "--lr", "0.05"]
    train(*args, "--out", str(tmp_path / "full.pt"))
    restore = interrupt(TR, "evaluate", 2)  # in the second epoch's validation
    with pytest.raises(SystemExit) as e:
        train(*args, "--out", str(tmp_path / "cut.pt"))
    assert e.value.code == 130
    assert (tmp_path / "cut.pt.resume.pt").exists() and not (tmp_path / "cut.pt").exists()
    restore()
    train(*args, "--out", str(tmp_path / "cut.pt"))
    full, cut = C.load(tmp_path / "full.pt"), C.load(tmp_path / "cut.pt")
    assert all(torch.equal(full.weights[k], cut.weights[k]) for k in full.weights)


def test_another_runs_resume_file_is_refused_not_overwritten(npz_dir, tmp_path, interrupt,
                                                             capsys):
    """Resuming with other options (here --epochs) would train from scratch over hours of
    someone's epochs: it is refused, naming what differs, until --restart says so."""
    args = ["ann", "--arch", "tiny", "--data", str(npz_dir), "--lr", "0.05",
            "--out", str(tmp_path / "cut.pt")]
    restore = interrupt(TR, "evaluate", 2)
    with pytest.raises(SystemExit):
        train(*args, "--epochs", "3")
    restore()
    resume = tmp_path / "cut.pt.resume.pt"
    before = resume.read_bytes()
    with pytest.raises(SystemExit) as e:
        train(*args, "--epochs", "5")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "belongs to a different run" in err and "epochs 3 there, 5 here" in err
    assert "--restart" in err and resume.read_bytes() == before
    train(*args, "--epochs", "1", "--restart")
    assert C.load(tmp_path / "cut.pt").metrics["ann_val_accuracy"] >= 0


def test_snapshot_of_an_unfinished_run(npz_dir, tmp_path, interrupt):
    """--snapshot writes the best epoch so far with its val/test accuracy, keeps the resume
    file, and the same command then finishes exactly as an uninterrupted run."""
    args = ["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "3", "--lr", "0.05"]
    out, snap = tmp_path / "cut.pt", tmp_path / "snap.pt"
    with pytest.raises(SystemExit) as e:  # nothing to snapshot yet
        train(*args, "--out", str(out), "--snapshot", str(snap))
    assert e.value.code == 2 and not snap.exists()
    with pytest.raises(SystemExit) as e:
        train(*args, "--out", str(out), "--snapshot", str(out))
    assert e.value.code == 2
    restore = interrupt(TR, "evaluate", 3)  # in the third epoch's validation
    with pytest.raises(SystemExit):
        train(*args, "--out", str(out))
    restore()
    resume = tmp_path / "cut.pt.resume.pt"
    state = torch.load(resume, weights_only=True)
    assert state["epoch"] == 2
    train(*args, "--out", str(out), "--snapshot", str(snap))
    assert resume.exists() and not out.exists()
    s = C.load(snap)
    best = max(state["history"], key=lambda r: r["val_accuracy"])
    assert s.metrics["ann_val_accuracy"] == best["val_accuracy"]
    assert "ann_test_accuracy" in s.metrics
    assert s.history[-1]["snapshot_of"] == str(resume) and len(s.history[-1]["epochs"]) == 2
    net = s.build()
    assert all(torch.equal(state["best_state"][k], v) for k, v in net.state_dict().items())
    # the history names the epoch the weights come from (the first best on validation)
    assert s.history[-1]["kept_epoch"] == best["epoch"]
    train(*args, "--out", str(out))  # goes on from epoch 3, as if never snapshotted
    train(*args, "--out", str(tmp_path / "full.pt"))
    full, cut = C.load(tmp_path / "full.pt"), C.load(out)
    assert all(torch.equal(full.weights[k], cut.weights[k]) for k in full.weights)
    assert not resume.exists()
    done = cut.history[-1]
    assert len(done["epochs"]) == 3
    assert done["kept_epoch"] == max(done["epochs"], key=lambda r: r["val_accuracy"])["epoch"]


def run_cli(*argv):
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("make,match", [
    (lambda p: p / "missing.pt", "no such checkpoint"),
    (lambda p: (p / "junk.pt").write_bytes(b"garbage") and p / "junk.pt", "not a readable"),
    (lambda p: torch.save({"a": 1}, p / "foreign.pt") or p / "foreign.pt", "foreign"),
])
def test_bad_checkpoints_one_line(tmp_path, make, match):
    r = run_cli("model.evaluate", "--model", str(make(tmp_path)))
    assert r.returncode == 2 and match in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_wrong_stage_and_missing_data(pipeline, tmp_path):
    ann, _, _ = pipeline
    r = run_cli("model.train", "snn", "--init", str(ann), "--out", str(tmp_path / "x.pt"))
    assert r.returncode == 2 and "stage 'ann'" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("model.train", "ann", "--arch", "tiny", "--data", str(tmp_path / "none"),
                "--out", str(tmp_path / "y.pt"))
    assert r.returncode == 2 and "does not exist" in r.stderr and "Traceback" not in r.stderr


def test_wrong_image_size(npz_dir, tmp_path):
    out = tmp_path / "a.pt"
    r = run_cli("model.train", "ann", "--arch", "tiny", "--dataset", "imagenet", "--data",
                str(npz_dir), "--out", str(out))
    assert r.returncode == 2 and "expects 224x224" in r.stderr and "Traceback" not in r.stderr


def test_convert_scale_list_picks_the_best_on_validation(pipeline, tmp_path):
    ann, _, _ = pipeline
    out, ref = tmp_path / "search.pt", tmp_path / "ref.pt"
    base = ["convert", "--ann", str(ann), "--timesteps", "3", "--calib-samples", "64"]
    train(*base, "--scale", "0.5,1.0,2.0", "--out", str(out))
    ck = C.load(out)
    stage = ck.history[-1]
    search = stage["scale_search"]
    assert [r["scale"] for r in search] == [0.5, 1.0, 2.0]
    best = max(search, key=lambda r: r["val_accuracy"])
    assert stage["scale"] == best["scale"]
    # the kept model is the one measured: its validation accuracy is the search's
    assert ck.metrics["converted_val_accuracy"] == best["val_accuracy"]
    # higher thresholds, fewer spikes
    rates = [r["spike_rate"] for r in search]
    assert rates[0] > rates[1] > rates[2]
    # the same thresholds as a plain conversion at the chosen scale
    train(*base, "--scale", str(best["scale"]), "--out", str(ref))
    assert C.load(ref).threshold == pytest.approx(ck.threshold, rel=1e-6)


def test_time_budget_fits_the_epochs(npz_dir, tmp_path):
    base = ["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "3", "--lr", "0.05"]
    train(*base, "--time-budget", "1e-6", "--out", str(tmp_path / "short.pt"))
    train(*base, "--time-budget", "1e6", "--out", str(tmp_path / "long.pt"))
    train(*base, "--out", str(tmp_path / "plain.pt"))
    short, long, plain = (C.load(tmp_path / f"{n}.pt").history[-1]["epochs"]
                          for n in ("short", "long", "plain"))
    assert len(short) == 1 and len(long) == len(plain) == 3
    # a budget that fits every epoch leaves the cosine schedule as it is
    assert [e["lr"] for e in long] == [e["lr"] for e in plain]
    # the kept model is the best epoch on validation, and its metric is that epoch's
    assert C.load(tmp_path / "plain.pt").metrics["ann_val_accuracy"] == \
        max(e["val_accuracy"] for e in plain)


@pytest.mark.parametrize("argv,match", [
    (["--time-budget", "60"], "needs --epochs"),
    (["--epochs", "1", "--time-budget", "-5"], "--time-budget must be a finite number > 0"),
    (["--epochs", "1", "--device", "nonsense"], "--device 'nonsense'"),
])
def test_bad_training_options_one_line(npz_dir, tmp_path, argv, match):
    r = run_cli("model.train", "ann", "--arch", "tiny", "--data", str(npz_dir),
                "--out", str(tmp_path / "a.pt"), *argv)
    assert r.returncode == 2 and match in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "a.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_asked_for_without_a_gpu(npz_dir, tmp_path):
    r = run_cli("model.train", "ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1",
                "--device", "cuda", "--out", str(tmp_path / "a.pt"))
    assert r.returncode == 2 and "sees no CUDA GPU" in r.stderr and "Traceback" not in r.stderr


def test_bad_scale_list(pipeline, tmp_path):
    ann, _, _ = pipeline
    for bad, match in (("0.5,x", "comma-separated"), ("0.5,-1", "must be positive")):
        r = run_cli("model.train", "convert", "--ann", str(ann), "--scale", bad,
                    "--out", str(tmp_path / "c.pt"))
        assert r.returncode == 2 and match in r.stderr and "Traceback" not in r.stderr


def test_train_limit_keeps_validation_whole_and_no_test_skips_the_test(npz_dir, tmp_path):
    out = tmp_path / "a.pt"
    train("ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1", "--train-limit",
          "50", "--no-test", "--out", str(out))
    m = C.load(out).metrics
    # 400 training images: 40 held out for validation (all kept), 50 of the other 360 trained on
    assert m["train_samples"] == 50 and m["val_samples"] == 40
    assert "ann_test_accuracy" not in m and "test_samples" not in m
    # a later stage with a test keeps the earlier stage's absence honest
    snn0 = tmp_path / "c.pt"
    train("convert", "--ann", str(out), "--timesteps", "2", "--calib-samples", "20",
          "--out", str(snn0))
    m = C.load(snn0).metrics
    assert m["converted_test_accuracy"] >= 0 and m["test_samples"] == 100
    assert "ann_test_accuracy" not in m


def test_convert_max_spike_rate_trades_accuracy_for_spikes(pipeline, tmp_path):
    ann, _, _ = pipeline
    base = ["convert", "--ann", str(ann), "--timesteps", "3", "--calib-samples", "64",
            "--scale", "0.5,1.0,2.0"]
    free = tmp_path / "free.pt"
    train(*base, "--out", str(free))
    search = C.load(free).history[-1]["scale_search"]
    cap = (search[1]["spike_rate"] + search[2]["spike_rate"]) / 2  # only scale 2.0 fits
    capped = tmp_path / "capped.pt"
    train(*base, "--max-spike-rate", str(cap), "--out", str(capped))
    stage = C.load(capped).history[-1]
    assert stage["scale"] == 2.0 and stage["max_spike_rate"] == cap
    r = run_cli("model.train", "convert", "--ann", str(ann), "--timesteps", "3",
                "--calib-samples", "64", "--scale", "0.5,1.0", "--max-spike-rate", "1e-9",
                "--out", str(tmp_path / "none.pt"))
    assert r.returncode == 2 and "no scale in 0.5,1.0" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "none.pt").exists()


def test_ann_init_continues_from_the_checkpoint(pipeline, npz_dir, tmp_path):
    ann, snn0, _ = pipeline
    out = tmp_path / "ann2.pt"
    # zero epochs: the continued ANN is exactly the one it started from
    train("ann", "--init", str(ann), "--data", str(npz_dir), "--epochs", "0", "--out", str(out))
    a, b = C.load(ann), C.load(out)
    assert (b.arch, b.dataset, b.arch_kwargs) == (a.arch, a.dataset, a.arch_kwargs)
    assert all(torch.equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert b.metrics["ann_val_accuracy"] == a.metrics["ann_val_accuracy"]
    assert [h["stage"] for h in b.history] == ["ann", "ann_init", "ann"]
    # a real continuation moves the weights and is a new ANN stage of the same net
    train("ann", "--init", str(ann), "--data", str(npz_dir), "--epochs", "1", "--lr", "0.01",
          "--out", str(out))
    b = C.load(out)
    assert any(not torch.equal(a.weights[k], b.weights[k]) for k in a.weights)
    assert b.history[-1]["epochs"][0]["lr"] == 0.01


@pytest.mark.parametrize("extra, match", [
    (["--arch", "vgg6"], "--arch vgg6 contradicts --init"),
    (["--dataset", "cifar100"], "--dataset cifar100 contradicts --init"),
    (["--image-size", "64"], "--image-size 64 contradicts --init"),
    (["--conv-dropout", "0.1"], "--conv-dropout 0.1 contradicts --init"),
])
def test_ann_init_contradictions_one_line(pipeline, npz_dir, tmp_path, extra, match):
    ann, snn0, _ = pipeline
    r = run_cli("model.train", "ann", "--init", str(ann), "--data", str(npz_dir), "--epochs", "1",
                "--out", str(tmp_path / "x.pt"), *extra)
    assert r.returncode != 0 and match in r.stderr and "Traceback" not in r.stderr
    r = run_cli("model.train", "ann", "--init", str(snn0), "--data", str(npz_dir), "--epochs", "1",
                "--out", str(tmp_path / "x.pt"))
    assert "stage 'converted', expected one of ('ann',)" in r.stderr
    r = run_cli("model.train", "ann", "--data", str(npz_dir), "--epochs", "1",
                "--out", str(tmp_path / "x.pt"))
    assert "ann needs --arch" in r.stderr


def test_average_of_kept_epochs(pipeline, npz_dir, tmp_path, capsys):
    """--keep-epochs keeps each epoch's state; `average` of the last K is their element-wise
    mean (K = 1: exactly the last epoch, with its validation accuracy), the kept K is the best
    on validation, and the run's own files are left alone."""
    _, snn0, _ = pipeline
    out = tmp_path / "run.pt"
    train("snn", "--init", str(snn0), "--epochs", "3", "--lr", "1e-3", "--keep-epochs",
          "--out", str(out))
    files = sorted((tmp_path / "run.pt.epochs").glob("epoch*.pt"))
    assert [f.name for f in files] == ["epoch001.pt", "epoch002.pt", "epoch003.pt"]
    states = [torch.load(f, weights_only=True) for f in files]
    run_val = C.load(out).history[-1]["epochs"][-1]["val_accuracy"]
    (tmp_path / "other.pt.resume.pt").write_bytes(b"keep me")

    avg = tmp_path / "avg.pt"
    train("average", "--states", *map(str, files), "--last", "1,3", "--out", str(avg),
          "--no-test")
    a = C.load(avg)
    cands = {c["last"]: c for c in a.history[-1]["average_candidates"]}
    assert cands[1]["epochs"] == [3] and cands[3]["epochs"] == [1, 2, 3]
    assert cands[1]["val_accuracy"] == run_val  # the average of one epoch is that epoch
    kept = max(cands.values(), key=lambda c: c["val_accuracy"])
    assert a.history[-1]["averaged_epochs"] == kept["epochs"]
    assert a.metrics["snn_val_accuracy"] == kept["val_accuracy"]
    expect = {k: sum(s["net"][k].double() for s in states[-len(kept["epochs"]):])
              / len(kept["epochs"]) for k in states[0]["net"]}
    net = a.build()
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v.double(), expect[k], rtol=0, atol=1e-6)
    assert (tmp_path / "other.pt.resume.pt").read_bytes() == b"keep me"

    # one-line errors: more epochs than given, epochs of two runs, twice the same epoch
    other = tmp_path / "b.pt"
    train("snn", "--init", str(snn0), "--epochs", "1", "--lr", "2e-3", "--keep-epochs",
          "--out", str(other))
    for argv, match in [
        (["--states", str(files[0]), "--last", "2"], "there are 1 epoch states"),
        (["--states", str(files[0]), str(tmp_path / "b.pt.epochs" / "epoch001.pt")],
         "different runs"),
        (["--states", str(files[0]), str(files[0])], "epoch 1 given twice"),
        (["--states", str(snn0)], "not an epoch state"),
        (["--states", str(files[0]), "--last", "x"], "whole numbers"),
    ]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as e:
            train("average", *argv, "--out", str(tmp_path / "bad.pt"), "--no-test")
        assert e.value.code == 2 and match in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()

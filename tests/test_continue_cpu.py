"""benchmarks/continue_default_cpu.sh, the default's CPU route across sessions: every step runs
once, a rerun skips finished steps, and the summary reads the checkpoints. Toy net and data."""

import os
import subprocess
from pathlib import Path

import torch

from model import checkpoint as C
from model import train as TR
from model.bundled import MODEL

ROOT = Path(__file__).resolve().parents[1]


def run_script(npz_dir, run, ann, **extra):
    env = dict(os.environ, DATA=str(npz_dir), RUN=str(run), ANN_INIT=str(ann), ANN_EPOCHS="1",
               SNN_EPOCHS="1", THREADS="1", COMPILE="", PYTHONPATH=str(ROOT))
    env.update(extra)
    return subprocess.run(["bash", str(ROOT / "benchmarks" / "continue_default_cpu.sh")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_steps_run_once_and_resume_by_skipping(npz_dir, tmp_path):
    ann = tmp_path / "ann.pt"
    TR.main(["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1", "--out", str(ann),
             "--threads", "1"])
    run = tmp_path / "run"
    r = run_script(npz_dir, run, ann)
    assert r.returncode == 0, r.stdout + r.stderr
    a, c, s = (C.load(run / f) for f in ("ann_restart.pt", "snn0.pt", "snn.pt"))
    assert [h["stage"] for h in a.history] == ["ann", "ann_init", "ann"]
    assert (c.stage, c.timesteps, s.stage) == ("converted", 5, "snn")
    assert all(w.dtype == torch.float16 for w in s.weights.values())  # --half: as bundled
    # each DIET epoch kept, then their best average (here of the one epoch: the same weights)
    assert [p.name for p in (run / "snn.pt.epochs").iterdir()] == ["epoch001.pt"]
    avg = C.load(run / "snn_avg.pt")
    assert avg.history[-1]["averaged_epochs"] == [1]
    assert all(torch.equal(avg.weights[k], s.weights[k]) for k in s.weights)
    assert "snn_val_accuracy" in r.stdout and "snn_avg " in r.stdout  # the summary
    bundled = C.load(MODEL).metrics["snn_val_accuracy"]  # the verdict, on validation only
    verdict = "beats it" if avg.metrics["snn_val_accuracy"] > bundled else "keep the bundled"
    assert f"bundled default: snn_val_accuracy {bundled:.4f}" in r.stdout and verdict in r.stdout
    # a second call finds every step finished and only reports
    r = run_script(npz_dir, run, ann)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("exists, skipped") == 4


def test_snapshot_of_the_unfinished_diet_stage(npz_dir, tmp_path, interrupt):
    """SNAPSHOT=PATH writes the best DIET epoch so far and leaves the run resumable."""
    ann = tmp_path / "ann.pt"
    TR.main(["ann", "--arch", "tiny", "--data", str(npz_dir), "--epochs", "1", "--out", str(ann),
             "--threads", "1"])
    run = tmp_path / "run"
    assert run_script(npz_dir, run, ann).returncode == 0
    (run / "snn.pt").unlink()
    # the script's own DIET command, interrupted in its second epoch's validation
    restore = interrupt(TR, "evaluate", 2)
    try:
        TR.main(["snn", "--init", f"{run}/snn0.pt", "--data", str(npz_dir), "--device", "cpu",
                 "--threads", "1", "--epochs", "2", "--lr", "1e-4", "--half",
                 "--out", f"{run}/snn.pt"])
    except SystemExit as e:
        assert e.code == 130
    restore()
    snap = tmp_path / "snap.pt"
    r = run_script(npz_dir, run, ann, SNN_EPOCHS="2", SNAPSHOT=str(snap))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "after epoch 1/2" in r.stdout and "snap " in r.stdout
    assert not (run / "snn.pt").exists() and (run / "snn.pt.resume.pt").exists()
    s = C.load(snap)
    assert s.stage == "snn" and "snn_test_accuracy" in s.metrics
    assert all(w.dtype == torch.float16 for w in s.weights.values())
    r = run_script(npz_dir, run, ann, SNN_EPOCHS="2")  # goes on and finishes
    assert r.returncode == 0 and "resuming snn" in r.stdout and (run / "snn.pt").exists()

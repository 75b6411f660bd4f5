"""benchmarks/train_gpu.py, the driver a lent GPU session runs once: the job graph, the split
over calls (--stages), resume by existing checkpoints, and what it packs for the way back. Run
on the CPU with the toy net, so that a broken driver shows here and not on the GPU."""

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def drive(npz_dir, run, pack, *extra):
    cmd = [sys.executable, str(ROOT / "benchmarks" / "train_gpu.py"), "--data", str(npz_dir),
           "--run", str(run), "--pack", str(pack), "--arches", "tiny", "--device", "cpu",
           "--threads", "1", "--ann-epochs", "1", "--snn-epochs", "1", "--ann-budget", "60",
           "--snn-budget", "60", "--max-jobs", "2", *extra]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)


def test_two_calls_pack_and_resume(npz_dir, tmp_path):
    run, pack = tmp_path / "run", tmp_path / "out"
    r = drive(npz_dir, run, pack, "--stages", "ann,convert")
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = json.loads((pack / "results.json").read_text())["jobs"]
    assert {k: v["state"] for k, v in jobs.items()} == {
        "tiny/ann": "done", "tiny/convert_T5": "done", "tiny/convert_T10": "done",
        "tiny/snn": "skipped", "tiny/snn_weights_only": "skipped"}
    scales = [s["scale"] for s in jobs["tiny/convert_T5"]["history"][-1]["scale_search"]]
    assert scales == [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    ann_mtime = (run / "tiny" / "ann.pt").stat().st_mtime

    r = drive(npz_dir, run, pack, "--stages", "snn")
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = json.loads((pack / "results.json").read_text())["jobs"]
    assert all(v["state"] == "done" for v in jobs.values())
    assert (run / "tiny" / "ann.pt").stat().st_mtime == ann_mtime  # kept, not retrained
    snn = jobs["tiny/snn"]
    assert snn["metrics"]["snn_test_accuracy"] >= 0 and snn["stage"] == "snn"
    assert jobs["tiny/snn_weights_only"]["leak"] == jobs["tiny/convert_T5"]["leak"]
    # what comes back: every checkpoint in tars of at most 15 MiB, and every job's log
    packed = set()
    for t in pack.glob("ckpt*.tar"):
        assert t.stat().st_size <= 15 * 2**20
        packed |= set(tarfile.open(t).getnames())
    assert packed == {f"tiny/{n}.pt" for n in ("ann", "snn0", "snn0_T10", "snn",
                                                 "snn_weights_only")}
    logs = tarfile.open(pack / "logs.tar.gz").getnames()
    assert len(logs) == 5 and not list(pack.glob("*.part"))


def test_a_failed_job_skips_its_dependants_and_fails_the_run(npz_dir, tmp_path):
    r = drive(npz_dir, tmp_path / "run", tmp_path / "out", "--arches", "tiny,nosuch")
    assert r.returncode == 1
    jobs = json.loads((tmp_path / "out" / "results.json").read_text())["jobs"]
    assert jobs["nosuch/ann"]["state"] == "failed"
    assert all(jobs[f"nosuch/{k}"]["state"] == "skipped"
               for k in ("convert_T5", "convert_T10", "snn", "snn_weights_only"))
    assert all(v["state"] == "done" for k, v in jobs.items() if k.startswith("tiny/"))
    assert "invalid choice: 'nosuch'" in r.stdout  # the failed job's log tail is shown

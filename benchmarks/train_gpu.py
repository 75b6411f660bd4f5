"""The paper's Table 1 pipeline at full scale in one GPU session, under a time budget.

For each architecture: ANN -> conversion at T = 5 (threshold scale chosen on validation from a
list) -> DIET-SNN (weights + λ + v) and the weights-only ablation, plus the converted SNN at
T = 10. Independent jobs run concurrently on the one GPU (each is a plain ``python -m
model.train`` command; small nets leave a GPU mostly idle, so several share it well); each
training job fits its epochs to its time budget (``--time-budget``). Every checkpoint is stored in
float16 and its metrics are measured on that stored model.

    PYTHONPATH=. python benchmarks/train_gpu.py --data DATA_DIR --run RUN_DIR \\
        [--pack PACK_DIR] [--arches compact,compact_wide,vgg6] [--ann-budget 160] \\
        [--snn-budget 220] [--deadline 540] [--smoke]

Jobs whose checkpoint already exists are kept (``--restart`` redoes them), so a run split over
several calls (a lent GPU allows 10 minutes per command) resumes where the last call stopped.

Measured on one H100 (benchmarks/gpu_runs/2026-11-27): three ANNs at once ran 2-3 s per epoch
each (launch-bound: concurrency pays); six SNN trainings at once ran ~40 s per compact epoch
against 8 s alone (GPU-bound at T = 5: concurrency buys nothing, so give the SNN stage of the
model that matters the GPU to itself).

``--pack`` receives, after every finished job, ``results.json`` (every checkpoint's metrics and
per-epoch history), ``logs.tar.gz`` and the checkpoints in tar files of at most 15 MiB (bigger
checkpoints, e.g. VGG6's 100 MB, stay in RUN_DIR). ``--smoke`` first runs the whole chain on a
toy net and 300 images and stops at the first failure, so a broken setup costs seconds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from model import checkpoint as C  # noqa: E402

SCALES = "0.4,0.5,0.6,0.7,0.8,0.9,1.0"
PACK_LIMIT = 15 * 2**20
PACKABLE_BYTES = 12 * 2**20  # checkpoints above this stay in the run folder


@dataclass
class Job:
    name: str
    argv: list[str]
    out: Path
    deps: list[str] = field(default_factory=list)
    proc: subprocess.Popen | None = None
    state: str = "waiting"  # waiting, running, done, failed, skipped
    started: float = 0.0
    seconds: float = 0.0


def plan(args, run: Path) -> list[Job]:
    jobs: list[Job] = []
    common = ["--half", "--threads", str(args.threads), "--eval-batch-size",
              str(args.eval_batch_size), "--device", args.device]
    limit = ["--limit", str(args.limit)] if args.limit else []
    compiled = ["--compile"] if args.compile else []
    # a training job cut off by an earlier call starts over: its time budget (and so its plan of
    # epochs) differs in this call, and model.train refuses another run's resume file
    fresh = ["--restart"]
    for arch in args.arches:
        d = run / arch
        ann, snn0, snn0_10 = d / "ann.pt", d / "snn0.pt", d / "snn0_T10.pt"
        jobs.append(Job(f"{arch}/ann", [
            "ann", "--arch", arch, "--dataset", "cifar10", "--data", args.data,
            "--epochs", str(args.ann_epochs), "--time-budget", str(args.ann_budget),
            "--batch-size", "128", "--lr", str(args.ann_lr), "--out", str(ann),
            *limit, *compiled, *fresh, *common], ann))
        for T, out in ((5, snn0), (10, snn0_10)):
            jobs.append(Job(f"{arch}/convert_T{T}", [
                "convert", "--ann", str(ann), "--timesteps", str(T), "--scale", SCALES,
                "--out", str(out), *limit, *common], out, [f"{arch}/ann"]))
        snn_runs = [("snn", []), ("snn_weights_only", ["--no-train-leak", "--no-train-threshold"])]
        if args.variants:
            # the open choices of the SNN stage, each against the main DIET run
            snn_runs += [("snn_reset_leaked", ["--reset", "leaked"]),
                         ("snn_gamma_1.0", ["--gamma", "1.0"]),
                         ("snn_gamma_0.1", ["--gamma", "0.1"])]
        for label, extra in snn_runs:
            out = d / f"{label}.pt"
            jobs.append(Job(f"{arch}/{label}", [
                "snn", "--init", str(snn0), "--epochs", str(args.snn_epochs),
                "--time-budget", str(args.snn_budget), "--batch-size", str(args.snn_batch),
                "--lr", str(args.snn_lr), "--out", str(out), *extra, *limit, *compiled,
                *fresh, *common],
                out, [f"{arch}/convert_T5"]))
    for j in jobs:
        if j.out.exists() and not args.restart:
            j.state = "done"  # finished by an earlier call: the run resumes where it stopped
        elif j.argv[0] not in args.stages:
            j.state = "skipped"  # a stage left to another call
    return jobs


def summarise(jobs: list[Job], run: Path) -> dict:
    """Every finished checkpoint's metrics and history (loaded with the project's loader)."""
    out = {"jobs": {}}
    for j in jobs:
        row = {"state": j.state, "seconds": round(j.seconds, 1), "argv": j.argv}
        if j.state == "done" and j.out.exists():
            ck = C.load(j.out)
            row.update(arch=ck.arch, stage=ck.stage, timesteps=ck.timesteps, reset=ck.reset,
                       metrics=ck.metrics, history=ck.history, leak=ck.leak,
                       threshold=ck.threshold,
                       checkpoint=str(j.out.relative_to(run)),
                       bytes=j.out.stat().st_size)
        out["jobs"][j.name] = row
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def pack(jobs: list[Job], run: Path, dest: Path, started: float) -> None:
    """Write results.json, logs.tar.gz and ckpt<N>.tar (each <= 15 MiB) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    summary = summarise(jobs, run)
    summary["elapsed_s"] = round(time.time() - started, 1)
    _atomic_write(dest / "results.json", json.dumps(summary, indent=1, default=str).encode())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for log in sorted((run / "logs").glob("*.log")):
            tar.add(log, arcname=f"logs/{log.name}")
    _atomic_write(dest / "logs.tar.gz", buf.getvalue())
    files = [j.out for j in jobs if j.state == "done" and j.out.exists()
             and j.out.stat().st_size <= PACKABLE_BYTES]
    groups: list[list[Path]] = [[]]
    size = 0
    for f in files:
        s = f.stat().st_size + 4096
        if groups[-1] and size + s > PACK_LIMIT:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += s
    for i, group in enumerate(groups):
        if not group:
            continue
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for f in group:
                tar.add(f, arcname=str(f.relative_to(run)))
        _atomic_write(dest / f"ckpt{i}.tar", buf.getvalue())


def _fit_budget_to_deadline(job: Job, args, started: float) -> None:
    """Shrink a training job's --time-budget so that it ends (with its final evaluation and
    the packing) before --deadline."""
    if not args.deadline or "--time-budget" not in job.argv:
        return
    i = job.argv.index("--time-budget") + 1
    left = args.deadline - (time.time() - started) - args.reserve
    budget = min(float(job.argv[i]), max(10.0, left / 1.15))
    if budget < float(job.argv[i]):
        print(f"{job.name}: time budget cut to {budget:.0f} s by the deadline", flush=True)
    job.argv[i] = f"{budget:.0f}"


def execute(jobs: list[Job], run: Path, args, started: float, label: str) -> bool:
    """Run the jobs (dependencies first, up to --max-jobs at once); True if none failed."""
    logs = run / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(args.threads),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    by_name = {j.name: j for j in jobs}
    while True:
        now = time.time()
        for j in jobs:
            if j.state == "running" and j.proc.poll() is not None:
                j.seconds = now - j.started
                j.state = "done" if j.proc.returncode == 0 else "failed"
                print(f"[{now - started:6.0f} s] {label} {j.name}: {j.state} "
                      f"(rc {j.proc.returncode}, {j.seconds:.0f} s)", flush=True)
                if j.state == "failed":
                    tail = (logs / f"{j.name.replace('/', '_')}.log").read_text()[-1500:]
                    print(tail, flush=True)
                if args.pack and not args.smoke_only_run:
                    pack(jobs, run, Path(args.pack), started)
        for j in jobs:
            if j.state == "waiting" and any(by_name[d].state in ("failed", "skipped")
                                            for d in j.deps):
                j.state = "skipped"
                print(f"[{now - started:6.0f} s] {label} {j.name}: skipped (a dependency "
                      "failed)", flush=True)
        running = sum(j.state == "running" for j in jobs)
        for j in jobs:
            if running >= args.max_jobs:
                break
            if j.state == "waiting" and all(by_name[d].state == "done" for d in j.deps):
                _fit_budget_to_deadline(j, args, started)
                log = open(logs / f"{j.name.replace('/', '_')}.log", "w")
                j.out.parent.mkdir(parents=True, exist_ok=True)
                j.proc = subprocess.Popen([sys.executable, "-m", "model.train", *j.argv],
                                          stdout=log, stderr=subprocess.STDOUT, env=env,
                                          cwd=ROOT)
                j.state, j.started = "running", time.time()
                running += 1
                print(f"[{j.started - started:6.0f} s] {label} {j.name}: started", flush=True)
        if all(j.state in ("done", "failed", "skipped") for j in jobs):
            return not any(j.state == "failed" for j in jobs)
        if args.deadline and now - started > args.deadline:
            print(f"[{now - started:6.0f} s] deadline reached: stopping "
                  f"{[j.name for j in jobs if j.state == 'running']}", flush=True)
            for j in jobs:
                if j.state == "running":
                    j.proc.send_signal(signal.SIGTERM)
                    j.state = "failed"
            return False
        time.sleep(1.0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="folder with train.npz/test.npz (CIFAR-10)")
    ap.add_argument("--run", required=True, help="output folder (checkpoints, logs)")
    ap.add_argument("--pack", help="folder receiving results.json, logs and checkpoint tars")
    ap.add_argument("--arches", default="compact,compact_wide,vgg6")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--ann-budget", type=float, default=160.0, help="seconds per ANN")
    ap.add_argument("--snn-budget", type=float, default=220.0, help="seconds per SNN run")
    ap.add_argument("--ann-epochs", type=int, default=300, help="most ANN epochs")
    ap.add_argument("--snn-epochs", type=int, default=60, help="most SNN epochs")
    ap.add_argument("--ann-lr", type=float, default=0.02)
    ap.add_argument("--snn-lr", type=float, default=1e-4)
    ap.add_argument("--snn-batch", type=int, default=128)
    ap.add_argument("--eval-batch-size", type=int, default=500)
    ap.add_argument("--threads", type=int, default=2, help="CPU threads per job")
    ap.add_argument("--max-jobs", type=int, default=8)
    ap.add_argument("--limit", type=int, help="stratified subset (quick trials)")
    ap.add_argument("--deadline", type=float, help="stop everything after this many seconds")
    ap.add_argument("--reserve", type=float, default=40.0,
                    help="seconds kept before the deadline for final evaluation and packing")
    ap.add_argument("--stages", default="ann,convert,snn",
                    help="the stages this call runs (e.g. ann,convert in one call and snn in the "
                         "next: a lent GPU allows 10 minutes per command)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the training steps (fuses the LIF elementwise ops that "
                         "bound the SNN stage on a GPU; the smoke chain compiles too)")
    ap.add_argument("--variants", action="store_true",
                    help="also train DIET-SNN with the leaked reset and with γ = 1.0 and 0.1")
    ap.add_argument("--restart", action="store_true",
                    help="redo jobs whose checkpoint already exists (default: keep them)")
    ap.add_argument("--smoke", action="store_true",
                    help="first run the chain on the toy net (300 images); stop if it fails")
    args = ap.parse_args()
    args.arches = [a for a in args.arches.split(",") if a]
    args.stages = [s for s in args.stages.split(",") if s]
    unknown = set(args.stages) - {"ann", "convert", "snn"}
    if unknown:
        raise SystemExit(f"error: unknown stage(s) {sorted(unknown)}; choose ann, convert, snn")
    started = time.time()
    run = Path(args.run)
    if args.smoke:
        smoke = argparse.Namespace(**{**vars(args), "arches": ["tiny"], "limit": 300,
                                      "stages": ["ann", "convert", "snn"],
                                      "ann_epochs": 1, "snn_epochs": 1, "ann_budget": 30.0,
                                      "snn_budget": 30.0, "smoke_only_run": True})
        ok = execute(plan(smoke, run / "smoke"), run / "smoke", smoke, started, "smoke")
        if not ok:
            if args.pack:
                Path(args.pack).mkdir(parents=True, exist_ok=True)
                shutil.make_archive(str(Path(args.pack) / "smoke_logs"), "gztar",
                                    run / "smoke", "logs")
            raise SystemExit(f"smoke test failed after {time.time() - started:.0f} s")
        print(f"[{time.time() - started:6.0f} s] smoke test passed", flush=True)
    args.smoke_only_run = False
    jobs = plan(args, run)
    ok = execute(jobs, run, args, started, "run")
    if args.pack:
        pack(jobs, run, Path(args.pack), started)
    states = {j.name: j.state for j in jobs}
    print(json.dumps(states, indent=1))
    print(f"finished in {time.time() - started:.0f} s; all ok: {ok}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()

"""How fast is the simulator? hwsim's full work per image against plain PyTorch inference of the
same SNN, synaptic events per second, peak memory, start-up, and scaling with T and images.

    python benchmarks/sim_speed.py                  # everything (~20 min on 2 busy cores)
    python benchmarks/sim_speed.py --quick          # fewer images and repeats (~6 min)
    python benchmarks/sim_speed.py --full-test-set  # also all 10,000 CIFAR-10 test images

Models (made once, cached in ``--cache``; pass ``--vgg16``/``--resnet20`` for trained ones):
VGG16 and ResNet20 on CIFAR-10, converted from a randomly initialised ANN by threshold
balancing (99.7th percentile, scale 1) on 64 training images, T = 5; VGG16 at ImageNet size
(224×224, 1000 classes) likewise on 4 random images, fed random images. Converted-but-untrained
nets spike at other rates than trained ones: the table gives the rate measured.

Every measurement runs in a fresh process (peak memory = that process's maximum RSS: Python,
torch, the checkpoint and the work), one thread for torch and Numba unless said otherwise,
and is the median of ``--repeats`` runs after one warm-up (Numba's cache loaded, torch's
allocator warm). Columns:

- torch: ``Network.snn`` (the model's own PyTorch SNN, float32) on the same images and batch;
  the floor, since the simulator must at least run the network.
- core: ``simulate(check=False, reference=False)``: the functional co-simulation (every event
  through the chip's datapath) + counting + energy + latency, the report's numbers.
- no-check: ``simulate(check=False)`` = ``python -m hwsim.run --no-check``: core + the
  full-precision reference accuracy (the same event datapath on the checkpoint's weights).
- default: ``simulate()`` = ``python -m hwsim.run``: no-check + the PyTorch model on the stored
  weights, every spike compared (a second, deliberate PyTorch run).
- synaptic events/s: accumulates (event × reached neuron, the report's ``snn_acs``) per second
  of core, and per second inside the event kernels alone (``conv_events``/``linear_events``).

Seconds per image include the fixed set-up (quantizing and laying out the weights, the mapping)
spread over the images measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# anchors measured on this machine (docs/DESIGN.md §4, §5)
ANCHORS = ("SANA-FE: 2.5-4 M synaptic events/s, VGG16 does not fit in 24 GB; "
           "SCALE-Sim 3.0.0: 300 s and 8.7 GB for one VGG16-CIFAR image (cycles only, no spikes)")


@dataclass(frozen=True)
class Case:
    """One benchmarked network: a checkpoint and the images it runs on."""

    name: str
    arch: str
    dataset: str
    size: int
    images: int
    batch: int
    path: str


# ----------------------------------------------------------------------------- models and data
def make_checkpoint(arch: str, dataset: str, size: int, out: Path, data_dir: str | None,
                    T: int = 5) -> None:
    """A converted SNN: random ANN weights (seed 0), thresholds balanced on 64 CIFAR training
    images (or 4 random ones at ImageNet size)."""
    import torch

    from model.architectures import build_architecture
    from model.checkpoint import Checkpoint, save
    from model.conversion import balance_thresholds
    from model.data import DATASETS, NORMALISATION, normalise

    classes = DATASETS[dataset][0]
    mean, std = NORMALISATION[dataset]
    torch.manual_seed(0)
    from model.network import Network

    net = Network(build_architecture(arch, classes, (3, size, size)), T).eval()
    if dataset == "imagenet":
        images = np.random.default_rng(0).integers(0, 256, (4, size, size, 3), dtype=np.uint8)
    else:
        train = cifar_images(data_dir, "train", 64)
        images = train.images
    with torch.no_grad():
        balance_thresholds(net, normalise(torch.from_numpy(images), mean, std), T)
    ckpt = Checkpoint(arch, dataset, classes, (3, size, size), {"mean": list(mean),
                                                                "std": list(std)},
                      "converted", T)
    ckpt.update_from(net)
    ckpt.metrics = {"benchmark": "random ANN weights, thresholds balanced on "
                                 f"{len(images)} images"}
    save(ckpt, out)


def cifar_images(data_dir: str | None, split: str, n: int):
    """n class-balanced CIFAR-10 images of a split (the bundled 1,000-image test sample when no
    data folder is given or found)."""
    from model.data import load_split, stratified_indices

    if data_dir and Path(data_dir).is_dir():
        ds = load_split(data_dir, split, 32)
    else:
        from model.bundled import bundled_sample

        ds = bundled_sample()
    if n > len(ds):
        raise SystemExit(f"asked for {n} images, the data has {len(ds)}")
    return ds.subset(stratified_indices(ds.labels, n)) if n < len(ds) else ds


def case_images(case: Case, data_dir: str | None, n: int):
    from model.data import ArraySet

    if case.dataset == "imagenet":
        rng = np.random.default_rng(1)
        return ArraySet(rng.integers(0, 256, (n, case.size, case.size, 3), dtype=np.uint8),
                        np.arange(n) % 1000, "random")
    return cifar_images(data_dir, "test", n)


# ----------------------------------------------------------------------------- one measurement
def _threads(n: int) -> None:
    import numba
    import torch

    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def measure(case: Case, mode: str, T: int, images: int, repeats: int, threads: int,
            data_dir: str | None) -> dict:
    """Run in a fresh process: seconds per image (median of ``repeats``) of one mode."""
    import torch

    from arch_configs import load_arch
    from hwsim import kernels as K
    from hwsim import simulate as S
    from hwsim.simulate import SimOptions, simulate
    from model.checkpoint import load
    from model.data import batches

    _threads(threads)
    warnings.simplefilter("ignore")
    ckpt = load(case.path)
    data = case_images(case, data_dir, images)
    mean, std = ckpt.preprocessing["mean"], ckpt.preprocessing["std"]
    times: list[float] = []
    out: dict = {}
    if mode == "torch":
        net = ckpt.build().eval()
        with torch.no_grad():
            x, _ = next(iter(batches(data, case.batch, mean, std)))
            net.snn(x, T)  # warm-up
            for _ in range(repeats):
                t0 = time.perf_counter()
                for x, _ in batches(data, case.batch, mean, std):
                    net.snn(x, T)
                times.append(time.perf_counter() - t0)
    else:
        arch = load_arch("45nm")
        opts = SimOptions(timesteps=T, batch_size=case.batch, progress=False,
                          check=mode == "default", reference=mode != "core")
        simulate(ckpt, arch, data.subset(np.arange(min(2, len(data)))), min(2, len(data)),
                 opts)  # warm-up: Numba's cached kernels loaded
        kernel = {"s": 0.0, "updates": 0}

        def timed(fn, per_event):
            def run(spikes, weights, *args):
                t0 = time.perf_counter()
                cur, fanin = fn(spikes, weights, *args)
                kernel["s"] += time.perf_counter() - t0
                kernel["updates"] += int(fanin.sum()) * per_event(weights)
                return cur, fanin
            return run

        setup = {"s": 0.0}

        def once(fn):  # the per-run set-up: weights quantized and laid out, the mapping
            def run(*args, **kw):
                t0 = time.perf_counter()
                try:
                    return fn(*args, **kw)
                finally:
                    setup["s"] += time.perf_counter() - t0
            return run

        conv, linear = K.conv_events, K.linear_events
        fixed = {name: getattr(S, name) for name in ("store", "reference_model", "map_network")}
        K.conv_events = timed(conv, lambda w: w.shape[3])
        K.linear_events = timed(linear, lambda w: w.shape[1])
        for name, fn in fixed.items():
            setattr(S, name, once(fn))
        setups = []
        try:
            for _ in range(repeats):
                kernel.update(s=0.0, updates=0)
                setup["s"] = 0.0
                t0 = time.perf_counter()
                rep = simulate(ckpt, arch, data, len(data), opts)
                times.append(time.perf_counter() - t0)
                setups.append(setup["s"])
        finally:
            K.conv_events, K.linear_events = conv, linear
            for name, fn in fixed.items():
                setattr(S, name, fn)
        acs = sum(r["snn_acs"] for r in rep["layers"])
        steady = statistics.median(t - u for t, u in zip(times, setups)) / images
        out = {"acs_per_image": acs, "spike_rate": rep["snn"]["mean_spike_rate"],
               "setup_s": statistics.median(setups), "steady_s_per_image": steady,
               "kernel_updates_per_s": kernel["updates"] / kernel["s"] if kernel["s"] else 0,
               "functional_match": rep["accuracy"]["functional_match"],
               "accuracy": rep["accuracy"]["snn"], "reference": rep["accuracy"]["reference"]}
    seconds = statistics.median(times)
    return {"case": case.name, "mode": mode, "T": T, "images": images, "threads": threads,
            "s_per_image": seconds / images, "runs_s": times, "peak_gb": _peak_gb(), **out}


def fresh(fn, *args) -> dict:
    """``fn(*args)`` in a new process (clean peak memory, nothing cached from earlier runs)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as ex:
        return ex.submit(fn, *args).result()


def startup(args: list[str], threads: int | None, label: str) -> dict:
    """Wall seconds of ``python -m hwsim.run ARGS`` (check included): first with an empty Numba
    cache (compilation), then the median of two more (cache warm: the target). ``threads``:
    torch's and Numba's (None: theirs, all cores)."""
    cmd = [sys.executable, "-m", "hwsim.run", "--quiet", *args]
    env = dict(os.environ)
    if threads:
        cmd += ["--threads", str(threads)]
        env["NUMBA_NUM_THREADS"] = str(threads)
    runs = []
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
            runs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import hwsim.run"], cwd=ROOT, check=True)
    r = {"command": f"python -m hwsim.run {' '.join(args)}", "label": label,
         "threads": threads or os.cpu_count(), "cold_s": runs[0],
         "warm_s": statistics.median(runs[1:]), "import_s": time.perf_counter() - t0}
    print(f"{label}, {r['threads']} thread(s): cold cache {r['cold_s']:.1f} s, warm "
          f"{r['warm_s']:.1f} s (python -c 'import hwsim.run' {r['import_s']:.1f} s)", flush=True)
    return r


def startups(vgg16: str, data_dir: str | None) -> list[dict]:
    """The bundled default on one image and on its 200, and VGG16 on one CIFAR image."""
    from model.bundled import MODEL

    plans = [(["--model", vgg16, "--samples", "1"] + (["--data", data_dir] if data_dir else []),
              "VGG16, 1 image")]
    if MODEL.is_file():
        plans = [(["--samples", "1"], "bundled default, 1 image"),
                 ([], "bundled default, 200 images"), *plans]
    return [startup(a, threads, label) for a, label in plans for threads in (1, None)]


# ----------------------------------------------------------------------------- the tables
def ratio_table(rows: list[dict]) -> list[str]:
    """Per network: seconds per image in each mode (incl. set-up), the set-up, the simulator's
    steady state, the ratios to torch, events per second and peak memory."""
    by = {(r["case"], r["mode"]): r for r in rows}
    lines = ["| network | images | spike rate | torch s/img | core s/img | core set-up s | "
             "core steady s/img | **core/torch** (steady; incl. set-up) | no-check s/img | "
             "default s/img | default/torch | G syn. events/s: core, kernels | "
             "peak GB: torch, core, default |", "|" + "---|" * 13]
    for case in dict.fromkeys(r["case"] for r in rows):
        t, c = by[(case, "torch")], by[(case, "core")]
        n, d = by[(case, "no-check")], by[(case, "default")]
        floor = t["s_per_image"]
        lines.append(
            f"| {case} | {c['images']} | {c['spike_rate']:.3f} | {floor:.4f} | "
            f"{c['s_per_image']:.4f} | {c['setup_s']:.2f} | {c['steady_s_per_image']:.4f} | "
            f"**{c['steady_s_per_image'] / floor:.2f}**; {c['s_per_image'] / floor:.2f} | "
            f"{n['s_per_image']:.4f} | {d['s_per_image']:.4f} | {d['s_per_image'] / floor:.2f} | "
            f"{c['acs_per_image'] / c['steady_s_per_image'] / 1e9:.2f}, "
            f"{c['kernel_updates_per_s'] / 1e9:.2f} | "
            f"{t['peak_gb']:.2f}, {c['peak_gb']:.2f}, {d['peak_gb']:.2f} |")
    return lines


def scaling_table(rows: list[dict], key: str) -> list[str]:
    """One line per (key, threads): seconds per image of each mode measured."""
    lines = [f"| {key} | threads | torch s/img | core s/img (steady) | core/torch (steady) | "
             "no-check s/img | default s/img | core total s | no-check total s |",
             "|" + "---|" * 9]
    groups: dict = {}
    for r in rows:
        groups.setdefault((r[key], r["threads"]), {})[r["mode"]] = r
    for (value, threads), g in sorted(groups.items()):
        def cell(mode, g=g):
            return f"{g[mode]['s_per_image']:.4f}" if mode in g else "-"

        def total(mode, g=g):
            return f"{g[mode]['s_per_image'] * g[mode]['images']:.1f}" if mode in g else "-"

        core = (f"{g['core']['s_per_image']:.4f} ({g['core']['steady_s_per_image']:.4f})"
                if "core" in g else "-")
        ratio = (f"{g['core']['steady_s_per_image'] / g['torch']['s_per_image']:.2f}"
                 if "core" in g and "torch" in g else "-")
        lines.append(f"| {value} | {threads} | {cell('torch')} | {core} | {ratio} | "
                     f"{cell('no-check')} | {cell('default')} | {total('core')} | "
                     f"{total('no-check')} |")
    return lines


def machine() -> str:
    import numba
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"torch {torch.__version__}, numba {numba.__version__}, numpy {np.__version__}; "
            f"load average at start {os.getloadavg()[0]:.1f}")


# ----------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/data/cifar10",
                    help="CIFAR-10 folder (default: the bundled 1,000-image sample if absent)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "sim_speed"),
                    help="where the converted checkpoints are kept")
    ap.add_argument("--vgg16", help="a VGG16 CIFAR-10 checkpoint (default: made here)")
    ap.add_argument("--resnet20", help="a ResNet20 CIFAR-10 checkpoint (default: made here)")
    ap.add_argument("--images", type=int, default=256, help="CIFAR images per measurement")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="64 images, 1 repeat, fewer points")
    ap.add_argument("--full-test-set", action="store_true",
                    help="also all 10,000 CIFAR-10 test images through VGG16 (2 threads)")
    ap.add_argument("--startup-only", action="store_true",
                    help="only the start-up of python -m hwsim.run")
    ap.add_argument("--json", help="write every measurement here")
    args = ap.parse_args()
    if args.quick:
        args.images, args.repeats = 64, 1
    data = args.data if Path(args.data).is_dir() else None
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)

    specs = {"vgg16": ("vgg16", "cifar10", 32, args.vgg16),
             "resnet20": ("resnet20", "cifar10", 32, args.resnet20),
             "vgg16-224": ("vgg16", "imagenet", 224, None)}
    paths = {}
    for name, (arch, dataset, size, given) in specs.items():
        path = Path(given) if given else cache / f"{name}_{dataset}_T5.pt"
        if not path.exists():
            print(f"making {path} ...", flush=True)
            fresh(make_checkpoint, arch, dataset, size, path, data)
        paths[name] = str(path)
    cases = [Case("VGG16 CIFAR-10", "vgg16", "cifar10", 32, args.images, 32, paths["vgg16"]),
             Case("ResNet20 CIFAR-10", "resnet20", "cifar10", 32, args.images, 32,
                  paths["resnet20"]),
             Case("VGG16 224x224", "vgg16", "imagenet", 224, 3, 1, paths["vgg16-224"])]

    print(f"machine: {machine()}\nanchors: {ANCHORS}\n", flush=True)
    if args.startup_only:
        start = startups(paths["vgg16"], data)
        if args.json:
            Path(args.json).write_text(json.dumps({"machine": machine(), "startup": start},
                                                  indent=1))
        return
    rows: list[dict] = []
    for case in cases:
        for mode in ("torch", "core", "no-check", "default"):
            repeats = 1 if case.dataset == "imagenet" else args.repeats
            r = fresh(measure, case, mode, 5, case.images, repeats, 1, data)
            steady = f" (steady {r['steady_s_per_image']:.4f})" if mode != "torch" else ""
            print(f"{case.name:18} {mode:8} {r['s_per_image']:.4f} s/img{steady}  "
                  f"peak {r['peak_gb']:.2f} GB", flush=True)
            rows.append(r)
    print("\n".join(["", "1 thread each:", *ratio_table(rows)]), flush=True)

    vgg = cases[0]
    t_rows = []
    for T in ((1, 5, 10) if args.quick else (1, 2, 3, 5, 8, 10)):
        for mode in ("torch", "core"):
            t_rows.append(fresh(measure, vgg, mode, T, min(128, args.images), args.repeats, 1,
                                data))
    print("\n".join(["", "VGG16 CIFAR-10, scaling with T (1 thread):",
                     *scaling_table(t_rows, "T")]), flush=True)

    n_rows = []
    counts = (32, 128) if args.quick else (32, 128, 512, 2048)
    plan = [(n, mode, 1) for n in counts for mode in ("core", "no-check")]
    plan += [(counts[-1], "default", 1), (counts[-1], "core", 2), (counts[-1], "no-check", 2)]
    if args.full_test_set:
        plan.append((10000, "no-check", 1))
    for n, mode, threads in plan:
        n_rows.append(fresh(measure, vgg, mode, 5, n, 1, threads, data))
        print(f"  {n} images {mode} {threads} thread(s): "
              f"{n_rows[-1]['s_per_image'] * n:.1f} s", flush=True)
    print("\n".join(["", "VGG16 CIFAR-10, T = 5, scaling with images (1 run each):",
                     *scaling_table(n_rows, "images")]), flush=True)

    start = startups(paths["vgg16"], data)
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine(), "rows": rows,
                                               "timesteps": t_rows, "images": n_rows,
                                               "startup": start}, indent=1))


if __name__ == "__main__":
    main()

"""Design-space sweeps: accuracy, energy and latency over timesteps, PE count, node, membranes
and dataflows.

    python -m hwsim.sweep --arch configs/45nm.yaml --model vgg16.pt --timesteps 1,2,3,5,10 \\
        --pes 16,64,256,1024 [--nodes 45nm,7nm] [--membrane register,glb,dram] \\
        [--dataflow best,scatter,time_batched/rs_skip] [--samples N] [--data DIR] --out DIR

A point is one (T, PE count, node, membrane level, dataflow pair) combination. Each point's
accuracy comes from the model re-run at that T on the chip's datapath; its energy (SNN, ANN,
ratio and breakdown, for the point's dataflow pair; the best pair's ratio too) and latency (the
simulator's and the SimPy system model's, ``hwsim.system``) from the counts priced on that chip.
The functional run does not depend on the hardware, so it runs once per T and every hardware
point re-counts and re-prices its events.

Results land in DIR/points.csv as each point finishes (one row appended and flushed at a
time); a rerun of the same command skips the points already there, so an interrupted sweep
loses nothing. At the end the CSV is rewritten in grid order, and DIR gets pareto.csv (the
energy-latency Pareto front), summary.md, the plots pareto.png, vs_timesteps.png and
cycles_vs_pes.png, and reports/KEY.json (each point's full report).

Points run on Dask (``dask.distributed``): a local cluster with one single-threaded worker per
core by default, ``--scheduler ADDRESS`` for an existing cluster, ``--workers 0`` in this
process. Every way gives the same rows. See docs/sweeps.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from arch_configs import LEVELS, ArchConfig, ConfigError, list_configs, load_arch
from arch_configs.loader import read_merged, resolve
from arch_configs.schema import DATAFLOW_HELP, parse_dataflow
from mapping.graph import layer_graph
from mapping.placement import map_network
from model import checkpoint as C
from model.bundled import bundled_model_path
from model.common import USER_ERRORS, progress
from model.data import ArraySet, Dataset, stratified_indices
from model.files import write_text

from .counts import Counter
from .energy import ANN_PARTS, SNN_PARTS
from .functional import AnnActivity, LayerEvents, MatchReport, store
from .run import UsageError, load_images, overrides
from .simulate import (
    SimOptions,
    accuracy_summary,
    ann_activation_bits,
    build_report,
    functional_pass,
    stored_formats,
)
from .sweep_outputs import write_outputs
from .sweep_results import (
    COLUMNS,
    CSV_NAME,
    VERSION,
    GridError,
    ResultsFile,
    seal,
)
from .system import Chip, ann_layer_works, simulate_system, system_timing

MEMBRANE_LEVELS = (*LEVELS, "auto")
NODE_NAMES = tuple(n for n in list_configs() if re.fullmatch(r"\d+nm", n))

# ------------------------------------------------------------------------------------ the grid
def parse_ints(text: str, flag: str) -> tuple[int, ...]:
    """'1,2,5' -> (1, 2, 5): positive integers, no empty items; duplicates dropped."""
    items = [s.strip() for s in str(text).split(",")]
    if not any(items):
        raise GridError(f"{flag}: empty list; expected comma-separated positive integers")
    out = []
    for s in items:
        if not s:
            raise GridError(f"{flag} {text!r}: empty item; expected comma-separated positive "
                            "integers")
        try:
            v = int(s)
        except ValueError:
            raise GridError(f"{flag}: {s!r} is not an integer") from None
        if v < 1:
            raise GridError(f"{flag}: {v} must be a positive integer")
        out.append(v)
    return tuple(dict.fromkeys(out))


def parse_names(text: str, flag: str, allowed: Iterable[str]) -> tuple[str, ...]:
    """'45nm,7nm' -> ('45nm', '7nm'), each one of ``allowed``; duplicates dropped."""
    allowed = tuple(allowed)
    items = [s.strip() for s in str(text).split(",")]
    if not any(items):
        raise GridError(f"{flag}: empty list; expected some of {', '.join(allowed)}")
    for s in items:
        if s not in allowed:
            what = "empty item" if not s else f"unknown name {s!r}"
            raise GridError(f"{flag}: {what}; expected some of {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class Point:
    """One point of the grid; None means the base config's own value."""

    timesteps: int
    pes: int | None = None
    node: str | None = None
    membrane: str | None = None
    dataflow: str | None = None


@dataclass(frozen=True)
class Grid:
    timesteps: tuple[int, ...]
    pes: tuple[int | None, ...] = (None,)
    nodes: tuple[str | None, ...] = (None,)
    membranes: tuple[str | None, ...] = (None,)
    dataflows: tuple[str | None, ...] = (None,)

    def __post_init__(self):
        for name, vals in (("timesteps", self.timesteps), ("pes", self.pes)):
            if not vals:
                raise GridError(f"--{name}: empty list")
            bad = [v for v in vals if v is not None and (not isinstance(v, int) or v < 1)]
            if bad:
                raise GridError(f"--{name}: {bad[0]} must be a positive integer")
        if not self.nodes or not self.membranes:
            raise GridError("--nodes/--membrane: empty list")
        for n in self.nodes:
            if n is not None and n not in NODE_NAMES:
                raise GridError(f"--nodes: unknown name {n!r}; expected some of "
                                f"{', '.join(NODE_NAMES)}")
        for m in self.membranes:
            if m is not None and m not in MEMBRANE_LEVELS:
                raise GridError(f"--membrane: unknown level {m!r}; expected some of "
                                f"{', '.join(MEMBRANE_LEVELS)}")
        if not self.dataflows:
            raise GridError("--dataflow: empty list")
        for d in self.dataflows:
            if d is not None and parse_dataflow(d) is None:
                raise GridError(f"--dataflow: unknown pair {d!r}; expected {DATAFLOW_HELP}")

    def points(self) -> list[Point]:
        """Every combination, T outermost, then PEs, node, membrane level, dataflow."""
        return [Point(t, p, n, m, d) for t in self.timesteps for p in self.pes
                for n in self.nodes for m in self.membranes for d in self.dataflows]


def node_technology(name: str) -> dict:
    """The ``technology`` section of a packaged node config (e.g. 7nm), as YAML data."""
    return read_merged(resolve(name), {})["technology"]


def point_arch(base: str, point: Point, schedule: str | None = None,
               first_layer: str | None = None) -> ArchConfig:
    """The base config with the point's PE count, node (its technology section: the same chip
    in that process) and membrane level (and the sweep's schedule and first-layer policy)."""
    over = overrides(point.pes, point.membrane, None, schedule, first_layer, point.dataflow)
    if point.node is not None:
        over["technology"] = node_technology(point.node)
    return load_arch(base, over or None)


# --------------------------------------------------------------------------- identity and keys
def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_sha256(ds: Dataset) -> str:
    """Identity of the simulated images: their pixels and labels (file names for folders)."""
    h = hashlib.sha256()
    if isinstance(ds, ArraySet):
        if ds.images.dtype != np.uint8:  # float inputs: equal bytes of another dtype or shape
            h.update(f"{ds.images.dtype.str}{ds.images.shape}".encode())  # differ (uint8
        h.update(np.ascontiguousarray(ds.images).tobytes())  # keys stay as before)
    else:
        for f in ds.files:
            st = os.stat(f)
            h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    h.update(np.ascontiguousarray(ds.labels).astype(np.int64).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class SweepSpec:
    """What, besides the point, decides a point's results (and so its key)."""

    model: str  # the path as given (reported)
    model_sha: str
    data_sha: str
    samples: int
    check: bool = True
    tiles: int = 8


def point_key(spec: SweepSpec, timesteps: int, arch: ArchConfig) -> str:
    """A stable id: hash of the resolved chip, T, the model file, the images and options."""
    chip = dataclasses.asdict(arch)
    chip.pop("source_file", None)
    blob = json.dumps({"version": VERSION, "model": spec.model_sha, "data": spec.data_sha,
                       "samples": spec.samples, "check": spec.check, "tiles": spec.tiles,
                       "timesteps": timesteps,
                       "chip": chip}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- the work itself
@dataclass
class FunctionalRun:
    """The chip's datapath at one T over the images: per batch its events (for re-counting on
    any mapping), the accuracies and the check against the PyTorch model."""

    timesteps: int
    weight_bits: int | None
    samples: int
    batches: list[tuple[dict[str, LayerEvents], int]] = field(default_factory=list)
    ann: list[tuple[AnnActivity, int]] = field(default_factory=list)  # the ANN per batch
    correct: int = 0
    reference_correct: int = 0
    match: MatchReport = field(default_factory=MatchReport)
    check: bool = True
    reference_datapath: str | None = None
    ann_correct: int | None = None


def _set_threads(threads: int | None) -> None:
    if threads:
        import numba

        torch.set_num_threads(threads)
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def functional_run(ckpt: C.Checkpoint, data: Dataset, timesteps: int,
                   formats: tuple[int | None, int | None, str], batch_size: int = 32,
                   check: bool = True, threads: int | None = None,
                   activation_bits: int | None = None) -> FunctionalRun:
    """The images (a class-balanced subset is taken already) through the chip's datapath at
    ``timesteps``: ``hwsim.simulate.functional_pass``, keeping every batch's events so that
    each chip of the sweep can count them on its own mapping. ``formats``: the stored
    (weight bits, membrane bits, leak unit), :func:`hwsim.simulate.stored_formats`;
    ``activation_bits``: the ANN's (:func:`hwsim.simulate.ann_activation_bits`)."""
    _set_threads(threads)
    w_bits, v_bits, leak = formats
    stored = store(ckpt, w_bits, v_bits, timesteps, leak)
    run = FunctionalRun(timesteps, formats[0], len(data), check=check)
    fp = functional_pass(ckpt, stored, data, timesteps, max_batch=batch_size,
                         check=check, reference=True,
                         on_events=lambda events, n: run.batches.append((events, n)),
                         on_ann=lambda act, n: run.ann.append((act, n)),
                         activation_bits=activation_bits)
    run.correct, run.reference_correct = fp.correct, fp.reference_correct
    run.ann_correct = fp.ann_correct
    run.match = fp.match or MatchReport()
    run.reference_datapath = fp.reference_datapath
    return run


def count_run(ckpt: C.Checkpoint, arch: ArchConfig, run: FunctionalRun):
    """A functional run's events (and its ANN's activity) counted on a chip's mapping:
    (mapping, counter, the warnings mapping it raised)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mapping = map_network(layer_graph(ckpt), arch)
    counter = Counter(mapping, run.timesteps,
                      first_layer_once=arch.policy.first_layer == "once")
    for events, images in run.batches:
        counter.add(events, images)
    for act, images in run.ann:
        counter.add_ann(act, images)
    return mapping, counter, caught


def point_report(ckpt: C.Checkpoint, arch: ArchConfig, run: FunctionalRun, model_name: str = "",
                 tiles: int = 8) -> dict:
    """The simulator's report (docs/report.md) for one chip from a functional run, plus
    ``system``: the SimPy timing (``hwsim.system``) with the chip's bandwidths and with
    unlimited ones (``compute_bound``)."""
    T = run.timesteps
    mapping, counter, caught = count_run(ckpt, arch, run)
    opts = SimOptions(timesteps=T, progress=False, check=run.check)
    selected: dict = {}
    rep = build_report(ckpt, arch, mapping, counter, T, opts, run.samples, model_name,
                       selected)
    rep["accuracy"] = accuracy_summary(
        arch, run.correct, run.reference_correct, run.samples, run.match if run.check else None,
        reference_datapath=run.reference_datapath, ann_correct=run.ann_correct)
    rep["mapping_warnings"] = list(mapping.warnings) + [str(w.message) for w in caught
                                                        if "spill" not in str(w.message)]
    nodes = ckpt.nodes()
    costs = {c.name: c for c in selected["snn"]}  # the headline SNN dataflow's
    rep["system"] = system_timing(arch, mapping, counter, nodes, tiles=tiles,
                                  costs=costs).to_dict()
    rep["system"]["compute_bound"] = system_timing(arch, mapping, counter, nodes,
                                                   unlimited=True, tiles=tiles,
                                                   costs=costs).cycles
    # the ANN (headline dataflow) on the same SimPy model: both latencies from one model
    rep["system_ann"] = simulate_system(
        ann_layer_works(arch, selected["ann_mapping"], nodes, selected["ann"]),
        Chip.from_arch(arch), "layer_by_layer", tiles).to_dict()
    return rep


def _cell(v) -> str:
    """A CSV cell that reads back to the same text in every run (floats via repr)."""
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        return repr(float(v))
    return str(v)


def report_row(rep: dict, key: str, point: Point, base: str) -> dict[str, str]:
    """The CSV row of one point."""
    acc, snn, ann, paper, sysd = (rep["accuracy"], rep["snn"], rep["ann"], rep["paper"],
                                  rep["system"])
    lif = [r for r in rep["layers"] if r["neuron"] == "lif"]
    flows = rep["dataflows"]
    row = {
        "key": key, "model": rep["model"]["name"], "arch": base,
        "timesteps": rep["model"]["timesteps"], "pes": rep["arch"]["pes"],
        "node": f"{rep['arch']['node_nm']}nm", "membrane": rep["arch"]["membrane_policy"],
        "dataflow": flows["setting"], "samples": rep["samples"],
        "snn_dataflow": flows["selected"]["snn"], "ann_dataflow": flows["selected"]["ann"],
        "best_snn_dataflow": flows["best"]["snn"], "best_ann_dataflow": flows["best"]["ann"],
        "best_energy_ratio": flows["verdict"]["energy_ann_over_snn"],
        "ann_accuracy": acc.get("ann"),
        "accuracy_snn": acc["snn"], "accuracy_reference": acc["reference"],
        "functional_match": acc["functional_match"],
        "spike_mismatches": acc["spike_mismatches"],
        "prediction_mismatches": acc["prediction_mismatches"],
        "mean_spike_rate": snn["mean_spike_rate"],
        "snn_energy_pj": snn["energy_pj"]["total"], "ann_energy_pj": ann["energy_pj"]["total"],
        "energy_ratio": rep["ratio"]["energy_ann_over_snn_full"],
        "paper_snn_pj": paper["snn_pj"], "paper_ann_pj": paper["ann_pj"],
        "paper_ratio": paper["ratio"],
        **{f"snn_{p}_pj": snn["energy_pj"][p] for p in SNN_PARTS},
        **{f"ann_{p}_pj": ann["energy_pj"][p] for p in ANN_PARTS},
        "latency_s": sysd["seconds"], "latency_cycles": sysd["cycles"],
        "system_compute_cycles": sysd["critical"]["compute"],
        "system_memory_stall_cycles": sysd["critical"]["memory_stall"],
        "system_noc_cycles": sysd["critical"]["noc"],
        **{f"{r}_utilisation": sysd["utilisation"][r] for r in ("glb", "dram", "noc")},
        "compute_bound_cycles": sysd["compute_bound"],
        "sim_latency_cycles": snn["latency_cycles"], "sim_latency_s": snn["latency_s"],
        "ann_latency_cycles": ann["latency_cycles"], "ann_latency_s": ann["latency_s"],
        "ann_system_latency_cycles": rep["system_ann"]["cycles"],
        "ann_system_latency_s": rep["system_ann"]["seconds"],
        "schedule": rep["arch"]["schedule"],
        "membrane_levels": "+".join(dict.fromkeys(r["membrane_level"] for r in lif)),
        "weight_levels": "+".join(dict.fromkeys(r["weight_level"] for r in rep["layers"])),
        "on_chip": rep["mapping"]["on_chip"], "spilled_bytes": rep["mapping"]["spilled_bytes"],
    }
    assert list(row) == COLUMNS[:-1], "report_row and COLUMNS disagree"
    return seal({k: _cell(v) for k, v in row.items()})


def price_point(ckpt: C.Checkpoint, arch: ArchConfig, run: FunctionalRun, key: str,
                point: Point, base: str, model_name: str,
                tiles: int) -> tuple[dict[str, str], dict]:
    """One point's CSV row and full report (a Dask task)."""
    rep = point_report(ckpt, arch, run, model_name, tiles)
    rep["sweep"] = {"key": key, "point": dataclasses.asdict(point), "base_arch": base}
    return report_row(rep, key, point, base), rep


# ---------------------------------------------------------------------------------- execution
@dataclass
class Task:
    key: str
    point: Point
    arch: ArchConfig

    @property
    def functional(self) -> tuple[int, tuple[int | None, int | None, str], int | None]:
        """What the functional run depends on: T, the stored number formats and the ANN's
        activation width."""
        return self.point.timesteps, stored_formats(self.arch), ann_activation_bits(self.arch)


Done = Callable[[Task, dict[str, str], dict], None]


def run_serial(tasks: list[Task], ckpt, data, spec: SweepSpec, base: str, batch_size: int,
               done: Done, status: Callable[[str], None] = lambda s: None) -> None:
    """All tasks in this process: each functional run once, then its points."""
    groups: dict[tuple, list[Task]] = {}
    for t in tasks:
        groups.setdefault(t.functional, []).append(t)
    for (T, bits, a_bits), group in groups.items():
        status(f"functional run T={T}")
        run = functional_run(ckpt, data, T, bits, batch_size, spec.check,
                             activation_bits=a_bits)
        for t in group:
            status(f"T={T} {t.arch.pes} PEs")
            row, rep = price_point(ckpt, t.arch, run, t.key, t.point, base, spec.model,
                                   spec.tiles)
            done(t, row, rep)


def local_cluster(workers: int):
    """A Dask LocalCluster of ``workers`` single-threaded worker processes (spawned: Numba's
    OpenMP threading layer is not fork-safe)."""
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.worker.multiprocessing-method": "spawn"}):
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=":0", silence_logs=logging.ERROR)


def run_dask(tasks: list[Task], ckpt, data, spec: SweepSpec, base: str, batch_size: int,
             client, done: Done, threads: int = 1) -> None:
    """The same work as :func:`run_serial` as a Dask graph: a functional task per T, then a
    pricing task per point that depends on it; rows are handled as they complete."""
    from dask.distributed import as_completed

    ck_f = client.scatter(ckpt, broadcast=True, hash=False)
    data_f = client.scatter(data, broadcast=True, hash=False)
    runs = {}
    futures = {}
    for t in tasks:
        T, bits, a_bits = t.functional
        if t.functional not in runs:
            runs[t.functional] = client.submit(
                functional_run, ck_f, data_f, T, bits, batch_size, spec.check, threads,
                a_bits,
                key=f"functional-T{T}-{'-'.join(map(str, bits))}-a{a_bits}-{spec.model_sha[:8]}-"
                    f"{os.urandom(4).hex()}",
                priority=10)
        fut = client.submit(price_point, ck_f, t.arch, runs[t.functional], t.key, t.point,
                            base, spec.model, spec.tiles,
                            key=f"point-{t.key}-{os.urandom(4).hex()}")
        futures[fut] = t
    try:
        for fut in as_completed(list(futures)):
            row, rep = fut.result()
            done(futures[fut], row, rep)
    finally:
        for fut in futures:
            fut.cancel()
        for fut in runs.values():
            fut.cancel()


# ---------------------------------------------------------------------------------------- CLI
def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m hwsim.sweep", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="45nm", help="base config: a name or a path")
    ap.add_argument("--model", help="checkpoint (default: the bundled DIET-SNN)")
    ap.add_argument("--timesteps", required=True, help="comma-separated T values, e.g. 1,2,5")
    ap.add_argument("--pes", help="comma-separated PE counts (default: the config's)")
    ap.add_argument("--nodes", help=f"comma-separated nodes, of {', '.join(NODE_NAMES)} "
                                    "(default: the config's own)")
    ap.add_argument("--membrane", help="comma-separated membrane levels, of "
                                       f"{', '.join(MEMBRANE_LEVELS)} (default: the config's)")
    ap.add_argument("--dataflow", help="comma-separated dataflow pairs: best, scatter, os, "
                                       "or SNN/ANN such as time_batched/rs_skip (default: the "
                                       "config's policy.dataflow)")
    ap.add_argument("--schedule", choices=("layer_by_layer", "pipelined"),
                    help="override the config's schedule")
    ap.add_argument("--samples", type=int, help="images per point (default: 100, or all if "
                                                "fewer)")
    ap.add_argument("--data", help="data folder, or an .npz of inputs 'x' and labels 'y' "
                    "(labels required); its test split is simulated (default: the bundled "
                    "CIFAR-10 sample; formats in docs/data.md)")
    ap.add_argument("--out", required=True, help="folder for points.csv, plots and summary")
    ap.add_argument("--first-layer", choices=("every_step", "once"),
                    help="override policy.first_layer (the analog input layer's MACs at every "
                         "step, or once)")
    ap.add_argument("--tiles", type=int, default=8,
                    help="tiles per layer step in the SimPy system model (default 8)")
    ap.add_argument("--workers", type=int,
                    help="local Dask workers (default: one per core; 0: run in this process)")
    ap.add_argument("--scheduler", help="address of an existing Dask scheduler")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--no-check", action="store_true",
                    help="skip the comparison with the PyTorch model")
    ap.add_argument("--no-plots", action="store_true")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


@dataclass
class Prepared:
    tasks: list[Task]
    order: list[str]
    ckpt: C.Checkpoint
    data: Dataset
    spec: SweepSpec
    results: ResultsFile


def prepare(args) -> Prepared:
    """Everything checked before any work: the grid, every chip, the model, the images and
    the output folder. Raises GridError, ConfigError or a USER_ERRORS exception."""
    grid = Grid(parse_ints(args.timesteps, "--timesteps"),
                parse_ints(args.pes, "--pes") if args.pes is not None else (None,),
                parse_names(args.nodes, "--nodes", NODE_NAMES) if args.nodes is not None
                else (None,),
                parse_names(args.membrane, "--membrane", MEMBRANE_LEVELS)
                if args.membrane is not None else (None,),
                tuple(v.strip() for v in args.dataflow.split(","))
                if args.dataflow is not None else (None,))
    for name in ("samples", "batch_size", "tiles"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise GridError(f"--{name.replace('_', '-')} must be positive, got {v}")
    if args.workers is not None and args.workers < 0:
        raise GridError(f"--workers must be >= 0, got {args.workers}")
    archs = [(p, point_arch(args.arch, p, args.schedule, args.first_layer))
             for p in grid.points()]
    model_path = args.model or str(bundled_model_path())
    ckpt = C.load(model_path, stages=("converted", "snn"))
    ds, n = load_images(ckpt, args.data, args.samples)
    if args.samples is None:
        n = min(n, 100)
    data = ds.subset(stratified_indices(ds.labels, n)) if n < len(ds) else ds
    spec = SweepSpec(model=str(model_path), model_sha=file_sha256(model_path),
                     data_sha=data_sha256(data), samples=n, check=not args.no_check,
                     tiles=args.tiles)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GridError(f"--out {out}: cannot create ({e.strerror})") from None
    results = ResultsFile(out / CSV_NAME)
    tasks = [Task(point_key(spec, p.timesteps, a), p, a) for p, a in archs]
    order = list(dict.fromkeys(t.key for t in tasks))
    return Prepared(tasks, order, ckpt, data, spec, results)


@contextlib.contextmanager
def _dask_client(args, client=None):
    """The given client, or one to ``--scheduler``, or a local cluster sized to the machine
    (``--workers``); what is opened here is closed on exit."""
    if client is not None:
        yield client
        return
    from dask.distributed import Client

    if args.scheduler:
        try:
            c = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise GridError(f"--scheduler {args.scheduler}: cannot connect ({e})") from None
        with c:
            yield c
        return
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with local_cluster(args.workers or cores or 1) as cluster, Client(cluster) as c:
        yield c


def run_sweep(args, client=None) -> dict:
    """Run (or finish) a sweep; ``client``: a dask.distributed Client to use instead of the
    one ``args`` asks for. Returns {"rows", "front", "summary", "plots", "computed"}."""
    prep = prepare(args)
    out = Path(args.out)
    todo, seen = [], set()
    for t in prep.tasks:
        if t.key not in prep.results.rows and t.key not in seen:
            todo.append(t)
            seen.add(t.key)
    (out / "reports").mkdir(exist_ok=True)
    bar = progress(total=len(prep.order), initial=len(prep.order) - len(todo), desc="sweep",
                   unit="point", disable=args.quiet)

    def done(task: Task, row: dict[str, str], rep: dict) -> None:
        write_text(out / "reports" / f"{task.key}.json",
                   json.dumps(rep, indent=1, default=float))  # a temporary file of its own
        prep.results.append(row)
        bar.set_postfix_str(f"T={row['timesteps']} {row['pes']} PEs {row['node']} "
                            f"{row['membrane']}: acc {float(row['accuracy_snn']):.3f}")
        bar.update(1)

    try:
        if todo and client is None and args.workers == 0 and not args.scheduler:
            run_serial(todo, prep.ckpt, prep.data, prep.spec, args.arch, args.batch_size, done,
                       status=lambda s: bar.set_description_str(f"sweep ({s})"))
        elif todo:
            with _dask_client(args, client) as c:
                run_dask(todo, prep.ckpt, prep.data, prep.spec, args.arch, args.batch_size, c,
                         done)
    finally:
        bar.close()
    rows = prep.results.finish(prep.order)
    res = write_outputs(rows, out, plots=not args.no_plots)
    res.update(rows=rows, computed=len(todo))
    return res


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    try:
        res = run_sweep(args)
    except (*USER_ERRORS, ConfigError, GridError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        kept = Path(args.out) / CSV_NAME
        n = max(0, len(kept.read_text().splitlines()) - 1) if kept.exists() else 0
        print(f"interrupted: {n} finished points kept in {kept}; run the same command again "
              "to compute the rest", file=sys.stderr)
        raise SystemExit(130) from None
    print(res["summary"])
    print(f"{len(res['rows'])} points ({res['computed']} computed now) in {args.out}: "
          f"{CSV_NAME}, pareto.csv, summary.md" +
          "".join(f", {p.name}" for p in res["plots"]))
    return res


if __name__ == "__main__":
    main()

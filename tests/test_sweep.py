"""hwsim.sweep: a small grid end to end, resume, serial vs Dask, bad grids, Pareto fronts."""

import csv
import warnings

import numpy as np
import pytest
import torch

from arch_configs import load_arch
from hwsim import sweep as SW
from hwsim.run import load_images
from hwsim.simulate import SimOptions, simulate
from hwsim.sweep_outputs import pareto_front
from model import checkpoint as C
from model.architectures import build_architecture
from model.conversion import balance_thresholds
from model.data import normalise
from model.network import Network
from tests.conftest import make_images

PREP = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A converted tiny net (T=2) and a folder of toy test images."""
    root = tmp_path_factory.mktemp("sweep")
    torch.manual_seed(0)
    net = Network(build_architecture("tiny", 10, (3, 32, 32)), timesteps=2)
    images, labels = make_images(40, seed=1)
    x = normalise(torch.from_numpy(images), PREP["mean"], PREP["std"])
    balance_thresholds(net, x, 2, scale=0.5)
    ckpt = C.Checkpoint(arch="tiny", dataset="cifar10", num_classes=10,
                        input_shape=(3, 32, 32), preprocessing=PREP, stage="converted")
    ckpt.update_from(net)
    C.save(ckpt, root / "tiny.pt")
    np.savez(root / "test.npz", images=images, labels=labels)
    np.savez(root / "train.npz", images=images, labels=labels)
    return root


def argv(setup, out, *extra, timesteps="1,2", pes="4,16", membrane="register,glb"):
    return ["--model", str(setup / "tiny.pt"), "--data", str(setup), "--samples", "6",
            "--timesteps", timesteps, "--pes", pes, "--membrane", membrane, "--out", str(out),
            "--quiet", *extra]


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_small_grid_end_to_end(setup, tmp_path):
    out = tmp_path / "out"
    res = SW.main(argv(setup, out, "--workers", "0", "--dataflow", "os"))
    rows = read_csv(out / "points.csv")
    assert len(rows) == 8 and res["computed"] == 8
    assert {(r["dataflow"], r["snn_dataflow"], r["ann_dataflow"]) for r in rows} == {
        ("os", "os", "os")}
    assert list(rows[0]) == SW.COLUMNS
    assert [(r["timesteps"], r["pes"], r["membrane"]) for r in rows] == [
        (t, p, m) for t in ("1", "2") for p in ("4", "16") for m in ("register", "glb")]
    for r in rows:
        assert r["functional_match"] == "true" and r["samples"] == "6"
        assert float(r["snn_energy_pj"]) == pytest.approx(
            sum(float(r[f"snn_{p}_pj"]) for p in SW.SNN_PARTS))
        parts = sum(float(r[k]) for k in ("system_compute_cycles", "system_memory_stall_cycles",
                                          "system_noc_cycles"))
        assert parts == pytest.approx(float(r["latency_cycles"]))
        assert float(r["latency_cycles"]) >= float(r["compute_bound_cycles"]) * (1 - 1e-12)
    # accuracy depends on T only; register membranes cost less than GLB ones (output-
    # stationary: each membrane is read and written at its home once per step)
    for t in ("1", "2"):
        assert len({r["accuracy_snn"] for r in rows if r["timesteps"] == t}) == 1
    by = {(r["timesteps"], r["pes"], r["membrane"]): float(r["snn_energy_pj"]) for r in rows}
    assert by[("2", "16", "register")] < by[("2", "16", "glb")]
    for name in ("pareto.png", "vs_timesteps.png", "cycles_vs_pes.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "summary.md").read_text().count("\n| ") == len(rows) + 1
    assert len(list((out / "reports").glob("*.json"))) == 8
    # the Pareto points are really non-dominated, and every other point is dominated
    front = {r["key"] for r in read_csv(out / "pareto.csv")}
    assert front and front == set(res["front"])
    pts = {r["key"]: (float(r["snn_energy_pj"]), float(r["latency_s"])) for r in rows}

    def dominates(a, b):
        return a[0] <= b[0] and a[1] <= b[1] and a != b

    for k, p in pts.items():
        beaten = any(dominates(q, p) for j, q in pts.items() if j != k)
        assert beaten == (k not in front)


def test_a_point_equals_the_simulator_run_alone(setup, tmp_path):
    out = tmp_path / "out"
    SW.main(argv(setup, out, "--workers", "0", "--no-plots", timesteps="2", pes="16",
                 membrane="glb"))
    row = read_csv(out / "points.csv")[0]
    ckpt = C.load(setup / "tiny.pt")
    ds, n = load_images(ckpt, str(setup), 6)
    arch = load_arch("45nm", {"pe_array": {"count": 16}, "policy": {"membrane_level": "glb"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = simulate(ckpt, arch, ds, n, SimOptions(timesteps=2, progress=False))
    assert float(row["accuracy_snn"]) == rep["accuracy"]["snn"]
    assert float(row["accuracy_reference"]) == rep["accuracy"]["reference"]
    assert float(row["snn_energy_pj"]) == rep["snn"]["energy_pj"]["total"]
    assert float(row["ann_energy_pj"]) == rep["ann"]["energy_pj"]["total"]
    assert float(row["sim_latency_cycles"]) == rep["snn"]["latency_cycles"]
    assert float(row["paper_ratio"]) == rep["paper"]["ratio"]


def test_resume_after_an_interruption_gives_the_same_csv(setup, tmp_path, interrupt, capsys):
    whole = tmp_path / "whole"
    SW.main(argv(setup, whole, "--workers", "0", "--no-plots"))
    expected = (whole / "points.csv").read_text()

    cut = tmp_path / "cut"
    restore = interrupt(SW, "price_point", 4)
    with pytest.raises(SystemExit) as e:  # Ctrl-C: one line saying what was kept
        SW.main(argv(setup, cut, "--workers", "0", "--no-plots"))
    restore()
    assert e.value.code == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("interrupted: 3 finished points kept in"), err
    assert len(read_csv(cut / "points.csv")) == 3
    with open(cut / "points.csv", "a") as f:  # a row torn by the interruption
        f.write("deadbeef,/x.pt,45nm,1")
    res = SW.main(argv(setup, cut, "--workers", "0", "--no-plots"))
    assert res["computed"] == 5
    assert (cut / "points.csv").read_text() == expected
    res = SW.main(argv(setup, cut, "--workers", "0", "--no-plots"))  # nothing left to do
    assert res["computed"] == 0
    assert (cut / "points.csv").read_text() == expected


def test_serial_and_dask_give_identical_rows(setup, tmp_path):
    SW.main(argv(setup, tmp_path / "serial", "--workers", "0", "--no-plots", pes="4,16",
                 membrane="register"))
    SW.main(argv(setup, tmp_path / "dask", "--workers", "2", "--no-plots", pes="4,16",
                 membrane="register"))
    serial = (tmp_path / "serial" / "points.csv").read_text()
    assert serial.count("\n") == 5
    assert (tmp_path / "dask" / "points.csv").read_text() == serial


@pytest.mark.parametrize("flag,value,message", [
    ("--timesteps", "0", "--timesteps: 0 must be a positive integer"),
    ("--timesteps", "", "--timesteps: empty list"),
    ("--timesteps", "1,,2", "empty item"),
    ("--timesteps", "two", "'two' is not an integer"),
    ("--pes", "-4", "--pes: -4 must be a positive integer"),
    ("--pes", " ", "--pes: empty list"),
    ("--nodes", "3nm", "--nodes: unknown name '3nm'; expected some of 16nm, 32nm, 45nm, 7nm"),
    ("--membrane", "sram", "--membrane: unknown name 'sram'"),
    ("--samples", "0", "--samples must be positive"),
])
def test_bad_grids_fail_before_any_work(setup, tmp_path, monkeypatch, capsys, flag, value,
                                        message):
    def no_work(*a, **kw):
        raise AssertionError("work started")

    monkeypatch.setattr(SW, "functional_run", no_work)
    monkeypatch.setattr(C, "load", no_work)
    args = argv(setup, tmp_path / "out", "--workers", "0")
    if flag in args:
        args[args.index(flag) + 1] = value
    else:
        args += [flag, value]
    with pytest.raises(SystemExit) as e:
        SW.main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag,value,message", [
    ("--model", "no.pt", "no such checkpoint"),
    ("--samples", "1000", "only 40 test images"),
    ("--arch", "nochip", "arch config 'nochip' not found"),
])
def test_unusable_inputs_are_one_line(setup, tmp_path, capsys, flag, value, message):
    # the last occurrence of a flag wins
    args = argv(setup, tmp_path / "out", "--workers", "0") + [
        flag, str(tmp_path / value) if flag == "--model" else value]
    with pytest.raises(SystemExit) as e:
        SW.main(args)
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out" / "points.csv").exists()


def test_parsing_and_grid():
    assert SW.parse_ints("5, 1,5,2", "--timesteps") == (5, 1, 2)
    assert SW.parse_names("7nm,45nm,7nm", "--nodes", SW.NODE_NAMES) == ("7nm", "45nm")
    grid = SW.Grid((1, 2), (4, 8), ("45nm", "7nm"), ("register",))
    assert len(grid.points()) == 8 and grid.points()[1] == SW.Point(1, 4, "7nm", "register")
    with pytest.raises(SW.GridError, match="must be a positive"):
        SW.Grid((0,))
    arch = SW.point_arch("45nm", SW.Point(1, 64, "7nm", "glb"))
    assert (arch.pes, arch.node_nm, arch.policy.membrane_level) == (64, 7, "glb")
    assert arch.node_scale == load_arch("7nm").node_scale
    assert arch.precision == load_arch("45nm").precision


def test_point_keys_are_stable_and_specific():
    spec = SW.SweepSpec("m.pt", "a" * 64, "b" * 64, 10)
    a, b = load_arch("45nm"), load_arch("45nm", {"pe_array": {"count": 64}})
    assert SW.point_key(spec, 2, a) == SW.point_key(spec, 2, load_arch("configs/45nm.yaml"))
    keys = {SW.point_key(spec, 2, a), SW.point_key(spec, 3, a), SW.point_key(spec, 2, b),
            SW.point_key(SW.SweepSpec("m.pt", "a" * 64, "b" * 64, 11), 2, a),
            SW.point_key(SW.SweepSpec("m.pt", "c" * 64, "b" * 64, 10), 2, a)}
    assert len(keys) == 5


def test_pareto_front_by_hand():
    energy = [1, 2, 3, 2, 1, 4]
    latency = [5, 2, 1, 3, 5, 4]
    # 0 and 4 tie (neither dominates); 3 is dominated by 1; 5 by 1
    assert pareto_front(energy, latency) == [0, 4, 1, 2]
    assert pareto_front(energy, latency, [0, 0, 0, -1, 0, -2]) == [0, 4, 1, 3, 2, 5]


def _row(i: int, tag: str) -> dict[str, str]:
    row = {c: "x" if c in SW.ResultsFile.TEXT_COLUMNS else "1.5" for c in SW.COLUMNS}
    row["key"] = f"{tag}{i:015x}"
    return SW.seal(row)


def _share_one_file(path, tag, n, barrier):
    results = SW.ResultsFile(path)
    barrier.wait()  # both have opened the file before either writes
    for i in range(n):
        results.append(_row(i, tag))
    barrier.wait()  # both have appended everything before either finishes
    results.finish([_row(i, tag)["key"] for i in range(n)])


def test_two_processes_sharing_one_out_lose_no_row(tmp_path):
    """Two sweeps into one --out at once: each one's finish used to rewrite the file from its
    own rows only, dropping the other's."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    path = tmp_path / "points.csv"
    procs = [ctx.Process(target=_share_one_file, args=(path, tag, 20, barrier))
             for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    keys = [r["key"] for r in read_csv(path)]
    assert sorted(keys) == sorted(_row(i, t)["key"] for t in "ab" for i in range(20))


def test_damaged_rows_are_dropped_and_recomputed_not_trusted(tmp_path):
    path = tmp_path / "points.csv"
    good, letters, short, cut = _row(1, "a"), _row(2, "a"), _row(3, "a"), _row(4, "a")
    letters["snn_energy_pj"] = "12x4"  # a number with a letter in it
    cut["snn_energy_pj"] = "1."  # a value cut short that still reads as a number
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, SW.COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows([good, letters, cut])
        f.write(",".join(short.values())[:-2])  # cut short by a kill: no newline
    results = SW.ResultsFile(path)
    assert list(results.rows) == [good["key"]]
    results.append(short)
    assert [r["key"] for r in read_csv(path)] == [good["key"], short["key"]]


def test_a_damaged_header_is_repaired_from_the_intact_rows(tmp_path):
    path = tmp_path / "points.csv"
    rows = [_row(i, "a") for i in range(3)]
    with open(path, "w", newline="") as f:
        f.write("key,mo\x00del,arch\n")  # the header's line damaged
        csv.DictWriter(f, SW.COLUMNS, lineterminator="\n").writerows(rows)
    results = SW.ResultsFile(path)
    assert list(results.rows) == [r["key"] for r in rows]
    assert path.read_text().splitlines()[0] == ",".join(SW.COLUMNS)
    other = tmp_path / "old.csv"  # another version's file: refused, not emptied
    other.write_text("key,model\nabc,x\n")
    with pytest.raises(SW.GridError, match="not this version"):
        SW.ResultsFile(other)
    assert other.read_text() == "key,model\nabc,x\n"


def test_two_sweeps_into_one_out_at_once(setup, tmp_path):
    """The CLI end to end: two sweeps of different grids run at once into one folder, and the
    CSV holds both grids' rows."""
    import subprocess
    import sys

    out = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-m", "hwsim.sweep",
                               *argv(setup, out, "--workers", "0", "--no-plots", timesteps=t,
                                     pes="4,8,16", membrane="register")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for t in ("1", "2")]
    for p in procs:
        assert p.wait(120) == 0, p.stderr.read()
    rows = read_csv(out / "points.csv")
    assert sorted((r["timesteps"], r["pes"]) for r in rows) == [
        (t, p) for t in ("1", "2") for p in ("16", "4", "8")]


def test_an_unreachable_scheduler_is_one_error_line(setup, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        SW.main(argv(setup, tmp_path / "out", "--scheduler", "tcp://127.0.0.1:9",
                     "--no-plots"))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --scheduler tcp://127.0.0.1:9"), err

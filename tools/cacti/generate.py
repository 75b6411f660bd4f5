"""Generate an SRAM energy / leakage / timing / area table with CACTI 7.

CACTI ships as C++ sources (and a debug build) inside the PyPI package ``zigzag-dse``
(``zigzag/cacti/cacti_master``). This script copies those sources into a scratch folder, builds
an optimised binary with the system's g++ (falling back to the shipped build), fills
``inputs/sram.cfg.template`` for every point of the grid (node x cell type x size x word width x
banks), runs CACTI on two processes, caches each point's result, and writes

- ``arch_configs/cacti_sram.csv`` (the table the simulator reads): one row per point that
  CACTI models, units in the column names;
- ``sram_failed.csv``: the points CACTI refuses or that are skipped, with the reason;
- ``inputs/points.csv``: the parameters substituted into the template for every point;
- ``sram_validation.csv``: ``itrs-lop`` at sizes 3 * 2^k B (``--validation-node``), held out
  to measure the interpolation rule (``interpolate.py``).

Re-running resumes from the cache (``--work``, default ``tools/cacti/.work``, not committed)::

    python tools/cacti/generate.py --venv /work/zz-venv
    python tools/cacti/generate.py --venv /work/zz-venv --nodes 45 --cells itrs-lop,itrs-hp

See ``tools/cacti/README.md`` for the choices (cell type, ports, objective) and their reasons.
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "inputs" / "sram.cfg.template"
CELL_TYPES = ("itrs-hp", "itrs-lstp", "itrs-lop")
CACTI_NODES_NM = (22, 32, 45, 65, 90)
KIB = 1024
RESULT_FORMAT = "2"  # bump when run_point's record changes, so cached results are redone

# Options fixed for the whole table (substituted into the template; see README.md).
FIXED = {
    "rw_ports": 1,
    "temperature_k": 360,
    "objective": "0:0:0:100:0",
    "deviate": "20:100000:100000:100000:100000",
    "optimize": "ED",
}


@dataclass(frozen=True)
class Point:
    """One CACTI run: an SRAM of ``size_bytes`` (all banks together) with ``width_bits``-wide
    words, ``banks`` banks, ``cell`` ITRS device type for cells and periphery, at ``node_nm``."""

    node_nm: int
    cell: str
    size_bytes: int
    width_bits: int
    banks: int

    @property
    def key(self) -> str:
        return (f"{self.node_nm}nm_{self.cell}_{self.size_bytes}B_{self.width_bits}b_"
                f"{self.banks}bank")

    def params(self) -> dict:
        """The template's placeholders for this point."""
        return {"size_bytes": self.size_bytes, "block_bytes": self.width_bits // 8,
                "width_bits": self.width_bits, "banks": self.banks,
                "technology_um": f"{self.node_nm / 1000:.3f}", "cell": self.cell, **FIXED}

    def skip_reason(self) -> str | None:
        """Why CACTI is not asked about this point (its own input limits), or None."""
        if self.width_bits < 8 or self.width_bits % 8:
            return "CACTI's block size is whole bytes: width must be a multiple of 8 bits"
        if self.size_bytes // self.banks < 64:
            return "CACTI needs at least 64 B per bank ('Cache size must >=64')"
        if self.width_bits // 8 > self.size_bytes // self.banks:
            return "a word wider than the bank"
        return None


def find_cacti_sources(venv: Path) -> Path:
    """``zigzag/cacti/cacti_master`` inside the venv's site-packages."""
    hits = glob.glob(str(venv / "lib" / "python*" / "site-packages" / "zigzag" / "cacti"
                         / "cacti_master"))
    if not hits:
        sys.exit(f"error: no zigzag/cacti/cacti_master under {venv}/lib/python*/site-packages; "
                 "install it with `pip install zigzag-dse` in that venv")
    return Path(hits[0])


def build_cacti(src: Path, build: Path) -> Path:
    """Copy CACTI's sources to ``build`` and compile an optimised single-threaded binary there;
    fall back to the package's prebuilt debug binary if compiling fails. Returns ``build``."""
    binary = build / "cacti"
    stamp = build / "source.txt"
    if binary.exists() and stamp.exists() and stamp.read_text() == str(src):
        return build
    if build.exists():
        shutil.rmtree(build)
    build.mkdir(parents=True)
    for pattern in ("*.cc", "*.h", "cacti.mk", "contention.dat"):
        for f in src.glob(pattern):
            shutil.copy2(f, build / f.name)
    shutil.copytree(src / "tech_params", build / "tech_params")
    (build / "obj_opt").mkdir()
    print(f"building CACTI from {src} in {build} (about a minute) ...", flush=True)
    jobs = str(min(2, os.cpu_count() or 1))
    proc = subprocess.run(["make", "-f", "cacti.mk", "TAG=opt", "OPT=-O2 -DNTHREADS=1",
                           "-j", jobs], cwd=build, capture_output=True, text=True)
    if proc.returncode != 0 or not binary.exists():
        print("compiling failed; using the package's prebuilt binary. make said:\n"
              + proc.stderr[-2000:], flush=True)
        shutil.copy2(src / "cacti", binary)
    stamp.write_text(str(src))
    return build


def cell_vdd(build: Path, node_nm: int, cell: str) -> float:
    """CACTI's supply for ``cell`` at ``node_nm``, V (the ``-Vdd`` line of its tech file,
    columns itrs-hp, itrs-lstp, itrs-lop, lp-dram, comm-dram)."""
    for line in (build / "tech_params" / f"{node_nm}nm.dat").read_text().splitlines():
        if line.startswith("-Vdd (V)"):
            return float(line.split()[2 + CELL_TYPES.index(cell)])
    raise ValueError(f"no -Vdd line in tech_params/{node_nm}nm.dat")


def parse_csv_out(text: str) -> dict:
    """The last row of CACTI's ``<cfg>.out`` CSV as floats, keyed by its header."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    head = [h.strip() for h in lines[0].split(",")]
    vals = [v.strip() for v in lines[-1].split(",")]
    out = {}
    for h, v in zip(head, vals):
        try:
            out[h] = float(v)
        except ValueError:
            continue
    return out


def run_point(args: tuple[Point, Path, str]) -> tuple[Point, dict]:
    """Run CACTI for one point in its own folder under ``build/runs`` (CACTI reads its tech
    files relative to the working directory). Returns the point and its result record."""
    point, build, template = args
    reason = point.skip_reason()
    if reason:
        return point, {"status": "skipped", "reason": reason}
    run_dir = build / "runs" / point.key
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg = run_dir / "sram.cfg"
    cfg.write_text(template.format(**point.params()))
    out = Path(str(cfg) + ".out")
    out.unlink(missing_ok=True)
    t0 = time.time()
    proc = subprocess.run(["./cacti", "-infile", str(cfg.relative_to(build))], cwd=build,
                          capture_output=True, text=True, timeout=900)
    seconds = time.time() - t0
    if not out.exists():
        said = proc.stderr.strip() or "\n".join(
            ln for ln in proc.stdout.splitlines() if "ERROR" in ln)
        msg = " ".join(said.split())[:300]
        shutil.rmtree(run_dir)
        return point, {"status": "failed", "reason": msg or f"exit {proc.returncode}",
                       "seconds": seconds}
    r = parse_csv_out(out.read_text())
    shutil.rmtree(run_dir)
    if "Dynamic read energy (nJ)" not in r:
        return point, {"status": "failed", "reason": "no energies in CACTI's CSV output",
                       "seconds": seconds}
    return point, {"status": "ok", "seconds": seconds,
                   "read_pj": r["Dynamic read energy (nJ)"] * 1e3,
                   "write_pj": r["Dynamic write energy (nJ)"] * 1e3,
                   # subthreshold + gate leakage of ONE bank (checked: 2 MiB in 16 banks
                   # reports what one 128 KiB bank does); write_outputs multiplies by banks
                   "leakage_uw_per_bank": r["Standby leakage per bank(mW)"] * 1e3,
                   "access_time_ns": r["Access time (ns)"],
                   "cycle_time_ns": r["Random cycle time (ns)"],
                   "area_mm2": r["Area (mm2)"],
                   "ndwl": int(r["Ndwl"]), "ndbl": int(r["Ndbl"]), "nspd": r["Nspd"]}


def grid(nodes, cells, sizes, widths, banked) -> list[Point]:
    """Every point: each node x cell x size x width with one bank, plus ``banked``
    ``(size_bytes, banks)`` pairs at every width."""
    pts = [Point(n, c, s, w, 1) for n in nodes for c in cells for s in sizes for w in widths]
    pts += [Point(n, c, s, w, b) for n in nodes for c in cells for s, b in banked
            for w in widths]
    return pts


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--venv", type=Path, required=True,
                   help="virtual environment with zigzag-dse installed (holds CACTI's sources)")
    p.add_argument("--work", type=Path, default=HERE / ".work",
                   help="scratch folder for the build and the result cache (default: %(default)s)")
    p.add_argument("--nodes", default="22,32,45",
                   help="technology nodes, nm; CACTI models 22-90 nm (default: %(default)s)")
    p.add_argument("--cells", default="itrs-lop,itrs-hp,itrs-lstp",
                   help=f"ITRS device types, comma-separated, of {CELL_TYPES} "
                        "(default: %(default)s)")
    p.add_argument("--min-size", type=int, default=64, help="smallest size, bytes")
    p.add_argument("--max-size", type=int, default=16 * KIB * KIB, help="largest size, bytes")
    p.add_argument("--widths", default="8,16,32,64,128,256,512,1024", help="word widths, bits")
    p.add_argument("--banked", default="2097152x16",
                   help="extra SIZExBANKS memories, comma-separated (default: the GLB, "
                        "%(default)s)")
    p.add_argument("--validation-node", type=int, default=45,
                   help="also run itrs-lop at sizes 3 * 2^k at this node into "
                        "sram_validation.csv (0: no; default: %(default)s)")
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--out", type=Path,
                   default=HERE.parent.parent / "arch_configs" / "cacti_sram.csv")
    args = p.parse_args(argv)
    args.nodes = [int(x) for x in args.nodes.split(",")]
    bad = [n for n in args.nodes if n not in CACTI_NODES_NM]
    if bad:
        p.error(f"--nodes {bad}: CACTI 7 has technology files for {CACTI_NODES_NM} nm only "
                "(its 16 nm file is disabled in its source); README.md gives the rule below "
                "22 nm")
    args.cells = args.cells.split(",")
    if any(c not in CELL_TYPES for c in args.cells):
        p.error(f"--cells {args.cells}: expected some of {CELL_TYPES}")
    args.widths = [int(x) for x in args.widths.split(",")]
    args.sizes = []
    s = args.min_size
    while s <= args.max_size:
        args.sizes.append(s)
        s *= 2
    args.banked = [tuple(int(v) for v in pair.split("x")) for pair in args.banked.split(",")
                   if pair]
    return args


TABLE_COLUMNS = ["node_nm", "cell_type", "vdd_v", "size_bytes", "width_bits", "banks",
                 "rw_ports", "read_pj", "write_pj", "leakage_uw", "leakage_uw_per_kib",
                 "access_time_ns", "cycle_time_ns", "area_mm2", "ndwl", "ndbl", "nspd"]


def main(argv=None) -> None:
    args = parse_args(argv)
    src = find_cacti_sources(args.venv)
    build = build_cacti(src, args.work / "build")
    template = TEMPLATE.read_text()
    tag = hashlib.sha256((template + json.dumps(FIXED, sort_keys=True)
                          + RESULT_FORMAT).encode()).hexdigest()
    cache_dir = args.work / "cache" / tag[:12]
    cache_dir.mkdir(parents=True, exist_ok=True)

    points = grid(args.nodes, args.cells, args.sizes, args.widths, args.banked)
    results = run_all(points, build, template, cache_dir, args.processes)
    write_outputs(args, build, points, results)
    if args.validation_node:
        # sizes halfway (in log) between the grid's: 3 * 2^k, to measure interpolation
        sizes = [3 * s // 2 for s in args.sizes[:-1]]
        vpoints = grid([args.validation_node], ["itrs-lop"], sizes, args.widths, [])
        vresults = run_all(vpoints, build, template, cache_dir, args.processes)
        path = args.out.with_name("sram_validation.csv")
        _write_csv(path, TABLE_COLUMNS, table_rows(build, vpoints, vresults))
        print(f"wrote {path} (sizes 3 * 2^k, for tools/cacti/interpolate.py)")


def run_all(points: list[Point], build: Path, template: str, cache_dir: Path,
            processes: int) -> dict[Point, dict]:
    """Every point's result, from the cache or from CACTI (largest first, on ``processes``
    processes), each cached as soon as it is known."""
    results: dict[Point, dict] = {}
    todo = []
    for pt in points:
        f = cache_dir / f"{pt.key}.json"
        if f.exists():
            results[pt] = json.loads(f.read_text())
        else:
            todo.append(pt)
    print(f"{len(points)} points: {len(results)} cached, {len(todo)} to run on "
          f"{processes} processes", flush=True)
    todo.sort(key=lambda p: -p.size_bytes * p.width_bits)
    t0 = time.time()
    with Pool(processes) as pool:
        for i, (pt, res) in enumerate(pool.imap_unordered(
                run_point, [(p, build, template) for p in todo]), 1):
            (cache_dir / f"{pt.key}.json").write_text(json.dumps(res))
            results[pt] = res
            what = (f"read {res['read_pj']:.3g} pJ, write {res['write_pj']:.3g} pJ"
                    if res["status"] == "ok" else f"{res['status']}: {res['reason'][:80]}")
            print(f"[{i}/{len(todo)} {time.time() - t0:5.0f}s] {pt.key}: {what}", flush=True)
    return results


def table_rows(build: Path, points: list[Point], results: dict) -> list[dict]:
    """The table's rows for the points CACTI modelled, sorted."""
    rows = []
    for p in sorted(points, key=lambda p: (p.node_nm, p.cell, p.banks, p.size_bytes,
                                           p.width_bits)):
        r = results[p]
        if r["status"] != "ok":
            continue
        leak_uw = r["leakage_uw_per_bank"] * p.banks
        rows.append({
            "node_nm": p.node_nm, "cell_type": p.cell, "vdd_v": cell_vdd(build, p.node_nm, p.cell),
            "size_bytes": p.size_bytes, "width_bits": p.width_bits, "banks": p.banks,
            "rw_ports": FIXED["rw_ports"],
            "read_pj": f"{r['read_pj']:.6g}", "write_pj": f"{r['write_pj']:.6g}",
            "leakage_uw": f"{leak_uw:.6g}",
            "leakage_uw_per_kib": f"{leak_uw / (p.size_bytes / KIB):.6g}",
            "access_time_ns": f"{r['access_time_ns']:.6g}",
            "cycle_time_ns": f"{r['cycle_time_ns']:.6g}", "area_mm2": f"{r['area_mm2']:.6g}",
            "ndwl": r["ndwl"], "ndbl": r["ndbl"], "nspd": f"{r['nspd']:g}"})
    return rows


def write_outputs(args, build: Path, points: list[Point], results: dict) -> None:
    """The table, the list of failures and the substitution list, each tmp + rename."""
    order = sorted(points, key=lambda p: (p.node_nm, p.cell, p.banks, p.size_bytes,
                                          p.width_bits))
    rows = table_rows(build, points, results)
    _write_csv(args.out, TABLE_COLUMNS, rows)
    failed = [{"node_nm": p.node_nm, "cell_type": p.cell, "size_bytes": p.size_bytes,
               "width_bits": p.width_bits, "banks": p.banks, "status": results[p]["status"],
               "reason": results[p]["reason"]} for p in order if results[p]["status"] != "ok"]
    _write_csv(args.out.with_name("sram_failed.csv"),
               ["node_nm", "cell_type", "size_bytes", "width_bits", "banks", "status", "reason"],
               failed)
    params = [{"key": p.key, **p.params()} for p in order]
    _write_csv(TEMPLATE.with_name("points.csv"), list(params[0]), params)
    print(f"wrote {args.out} ({len(rows)} rows), {len(failed)} points not modelled "
          f"(sram_failed.csv), {TEMPLATE.with_name('points.csv')}")


def _write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


if __name__ == "__main__":
    main()

"""The reference rule for reading ``arch_configs/cacti_sram.csv`` between its grid points, and
its error.

Rule: for one (node, cell type, banks, word width), a quantity q (read pJ, write pJ, leakage µW)
is piecewise linear in (log2 size, log q) between the two neighbouring computed sizes; between
word widths the same rule applies in log2 width at each of the two neighbouring sizes. Outside
the computed sizes nothing is extrapolated (a loader should refuse, naming the limits).

``python tools/cacti/interpolate.py`` measures the rule by leaving points out and predicting
them, and prints the comparison with what ``arch_configs/45nm.yaml`` charges today (needs the
project installed; run from the repository root).
"""

from __future__ import annotations

import csv
import math
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUANTITIES = ("read_pj", "write_pj", "leakage_uw")


def load(path: Path = HERE.parent.parent / "arch_configs" / "cacti_sram.csv") -> list[dict]:
    with open(path) as f:
        return [{k: (v if k == "cell_type" else float(v)) for k, v in r.items()}
                for r in csv.DictReader(f)]


def curves(rows: list[dict], quantity: str) -> dict[tuple, list[tuple[float, float]]]:
    """{(node_nm, cell, banks, width_bits): [(size_bytes, q), ...] sorted by size}."""
    out: dict[tuple, list] = defaultdict(list)
    for r in rows:
        key = (int(r["node_nm"]), r["cell_type"], int(r["banks"]), int(r["width_bits"]))
        out[key].append((r["size_bytes"], r[quantity]))
    return {k: sorted(v) for k, v in out.items()}


def loglog(points: list[tuple[float, float]], x: float) -> float:
    """Piecewise-linear interpolation of log y over log x through ``points`` (sorted by x);
    raises outside their range."""
    if not points[0][0] <= x <= points[-1][0]:
        raise ValueError(f"{x} outside the computed range {points[0][0]}..{points[-1][0]}")
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            if x1 == x0:
                return y0
            t = math.log(x / x0) / math.log(x1 / x0)
            return math.exp(math.log(y0) + t * math.log(y1 / y0))
    return points[-1][1]


def leave_out_errors(rows: list[dict], quantity: str, gap: int) -> list[float]:
    """Relative errors (predicted / CACTI - 1) of every size predicted from the sizes
    ``sqrt(gap)`` times smaller and larger (gap 4: from its two neighbours in the table)."""
    half = math.isqrt(gap)
    errs = []
    for pts in curves(rows, quantity).values():
        by_size = dict(pts)
        for s, q in pts:
            lo, hi = s / half, s * half
            if lo in by_size and hi in by_size:
                errs.append(loglog([(lo, by_size[lo]), (hi, by_size[hi])], s) / q - 1)
    return errs


def validation_errors(rows: list[dict], held_out: list[dict], quantity: str) -> list[float]:
    """Relative errors of the rule on the table itself against CACTI at sizes the table does
    not hold (``sram_validation.csv``: 3 * 2^k bytes, halfway in log between two grid sizes)."""
    table = curves(rows, quantity)
    errs = []
    for r in held_out:
        key = (int(r["node_nm"]), r["cell_type"], int(r["banks"]), int(r["width_bits"]))
        pts = table.get(key, [])
        if len(pts) >= 2 and pts[0][0] <= r["size_bytes"] <= pts[-1][0]:
            errs.append(loglog(pts, r["size_bytes"]) / r[quantity] - 1)
    return errs


def width_leave_out_errors(rows: list[dict], quantity: str) -> list[float]:
    """Relative errors of each width predicted from the half and double widths at the same
    size (log-log in width)."""
    table = {(int(r["node_nm"]), r["cell_type"], int(r["banks"]), r["size_bytes"],
              r["width_bits"]): r[quantity] for r in rows}
    errs = []
    for (n, c, b, s, w), q in table.items():
        lo, hi = table.get((n, c, b, s, w / 2)), table.get((n, c, b, s, w * 2))
        if lo is not None and hi is not None:
            errs.append(loglog([(w / 2, lo), (w * 2, hi)], w) / q - 1)
    return errs


def summary(errs: list[float]) -> str:
    a = sorted(abs(e) for e in errs)
    p90 = a[int(0.9 * (len(a) - 1))]
    return (f"n={len(a)}, median {100 * statistics.median(a):.0f}%, 90th pct {100 * p90:.0f}%, "
            f"max {100 * a[-1]:.0f}%")


def monotonic_breaks(rows: list[dict], quantity: str) -> tuple[int, int]:
    """(steps down, steps) along size at fixed width: how often a bigger SRAM is cheaper."""
    down = total = 0
    for pts in curves(rows, quantity).values():
        for (_, q0), (_, q1) in zip(pts, pts[1:]):
            total += 1
            down += q1 < q0
    return down, total


def main() -> None:
    rows = load()
    print("Each size predicted from its neighbours (log-log per width), i.e. across a 4x gap, "
          "twice the table's spacing; then across a 16x gap:")
    for cell in ("itrs-lop", "itrs-hp", "itrs-lstp"):
        sub = [r for r in rows if r["cell_type"] == cell]
        for q in QUANTITIES:
            print(f"  {cell:9s} {q:10s} 4x: {summary(leave_out_errors(sub, q, 4))};  "
                  f"16x: {summary(leave_out_errors(sub, q, 16))}")
    lop = [r for r in rows if r["cell_type"] == "itrs-lop"]
    held_out = load(HERE / "sram_validation.csv")
    print("The rule on the committed grid against CACTI at 3 * 2^k bytes (45 nm, itrs-lop):")
    for q in QUANTITIES:
        print(f"  {q:10s} {summary(validation_errors(lop, held_out, q))}")
    for q in QUANTITIES:
        d, t = monotonic_breaks(lop, q)
        print(f"  itrs-lop {q}: {d} of {t} size steps go down; "
              f"width (log-log, from w/2 and 2w): {summary(width_leave_out_errors(lop, q))}")
    compare(rows)


def compare(rows: list[dict]) -> None:
    """CACTI (itrs-lop, 45 nm, one read-write port) against ``load_arch('45nm')``."""
    from arch_configs import load_arch

    arch = load_arch("45nm")
    t = {(int(r["node_nm"]), r["cell_type"], int(r["size_bytes"]), int(r["width_bits"]),
          int(r["banks"])): r for r in rows}
    cases = [("register (64 B/PE)", "register", 64, 8, 1),
             ("register (64 B/PE)", "register", 64, 16, 1),
             ("PE SRAM 8 KiB", "pe_sram", 8192, 8, 1), ("PE SRAM 8 KiB", "pe_sram", 8192, 16, 1),
             ("PE SRAM 8 KiB", "pe_sram", 8192, 64, 1),
             ("GLB bank 128 KiB", "glb", 131072, 64, 1),
             ("GLB 2 MiB, 16 banks", "glb", 2097152, 64, 16)]
    print("\n| memory | width | 45nm.yaml today (pJ) | CACTI lop read (pJ) | CACTI lop write (pJ)"
          " | read / today | CACTI hp read | CACTI lstp read |")
    print("|---|---|---|---|---|---|---|---|")
    for name, level, size, bits, banks in cases:
        today = arch.access_pj(level, bits)
        lop = t[(45, "itrs-lop", size, bits, banks)]
        hp = t[(45, "itrs-hp", size, bits, banks)]
        lstp = t[(45, "itrs-lstp", size, bits, banks)]
        print(f"| {name} | {bits} | {today:.3g} | {lop['read_pj']:.3g} | {lop['write_pj']:.3g} | "
              f"{lop['read_pj'] / today:.2f} | {hp['read_pj']:.3g} | {lstp['read_pj']:.3g} |")
    print("\nleakage, µW/KiB (45nm.yaml today: "
          f"{arch.technology.leakage.sram_uw_per_kib.value:g}):")
    for cell in ("itrs-lop", "itrs-hp", "itrs-lstp"):
        vals = [f"{k[2] // 1024 if k[2] >= 1024 else k[2] / 1024:g} KiB"
                f"{'/16 banks' if k[4] == 16 else ''}: {t[k]['leakage_uw_per_kib']:.3g}"
                for k in [(45, cell, 64, 8, 1), (45, cell, 8192, 64, 1),
                          (45, cell, 131072, 64, 1), (45, cell, 2097152, 64, 16)]]
        print(f"  {cell}: " + ", ".join(vals))


if __name__ == "__main__":
    main()

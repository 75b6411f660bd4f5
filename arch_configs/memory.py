"""SRAM energy, leakage and timing from CACTI 7, for any size, width, bank count and node.

The numbers come from ``cacti_sram.csv`` (next to this file), written offline by
``tools/cacti/generate.py`` (its README gives the CACTI settings: one read-write port, a
scratchpad with one word per line, ``ED`` optimisation, 360 K). One row per computed memory:
node (nm), cell type (``itrs-lop``, ``itrs-hp``, ``itrs-lstp``), size (bytes, all banks),
word width (bits), banks; read and write energy of one word (pJ), leakage of the whole memory
(µW), access and cycle time (ns), area (mm²).

Between computed points (the rule is measured in ``tools/cacti/README.md``):

- size: piecewise linear in (log size, log value) between the two neighbouring computed sizes;
- width: the same in log width, at each of the two neighbouring sizes;
- access energies monotone by construction: along size, then width, each curve is replaced by
  its running maximum (CACTI's discrete array organisations make a few steps go down; a bigger
  or wider memory never costs less per access here); leakage and cycle time as computed;
- node: the computed nodes (22, 32, 45, 65, 90 nm where the table has them) are used as is;
  between two of them, log-log in node; below the smallest (22 nm), its numbers times the
  logic-energy ratio of the two nodes, the config's ``node_scale`` over 22 nm's (Stillmaker &
  Baas 2017; an extrapolation, reported as such); above the largest: refused.

Nothing is extrapolated in size or width: a memory outside the computed range is refused with
the range named.
"""

from __future__ import annotations

import csv
import functools
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).with_name("cacti_sram.csv")
CELL_TYPES = ("itrs-lop", "itrs-hp", "itrs-lstp")
QUANTITIES = ("read_pj", "write_pj", "leakage_uw", "cycle_time_ns")
MONOTONE = ("read_pj", "write_pj")  # per access: never cheaper for a bigger or wider memory

# Stillmaker & Baas (Integration 58, 2017) energy per operation relative to 45 nm at 22 nm,
# interpolated log-log in node between the factors the shipped configs use at 32 nm (0.66) and
# 16 nm (0.17): the base of the extrapolation below the table.
LOGIC_SCALE_22NM = 0.317


class MemoryModelError(ValueError):
    """A memory the table cannot price (size, width, node or cell type out of its range)."""


@dataclass(frozen=True)
class SramCost:
    """One memory's numbers: per word access (pJ), the whole memory's leakage (µW), its random
    cycle (ns); ``note`` says how the node was reached (computed, interpolated, extrapolated)."""

    read_pj: float
    write_pj: float
    leakage_uw: float
    cycle_time_ns: float
    note: str


@functools.lru_cache(maxsize=1)
def _rows() -> tuple[dict, ...]:
    with open(TABLE, newline="") as f:
        return tuple({k: (v if k == "cell_type" else float(v)) for k, v in r.items()}
                     for r in csv.DictReader(f))


@functools.cache
def _grid(node: int, cell: str, banks: int) -> dict[str, dict[int, dict[int, float]]]:
    """{quantity: {width: {size: value}}} for one (node, cell, banks); the access energies made
    monotone: each size curve its running maximum, then each width curve at every size."""
    raw: dict[str, dict[int, dict[int, float]]] = {q: defaultdict(dict) for q in QUANTITIES}
    for r in _rows():
        if int(r["node_nm"]) == node and r["cell_type"] == cell and int(r["banks"]) == banks:
            for q in QUANTITIES:
                raw[q][int(r["width_bits"])][int(r["size_bytes"])] = r[q]
    for q in MONOTONE:
        for curve in raw[q].values():
            top = 0.0
            for s in sorted(curve):
                top = curve[s] = max(top, curve[s])
        for s in {s for c in raw[q].values() for s in c}:
            top = 0.0
            for w in sorted(raw[q]):
                if s in raw[q][w]:
                    top = raw[q][w][s] = max(top, raw[q][w][s])
    return {q: dict(v) for q, v in raw.items()}


def _loglog(x0: float, y0: float, x1: float, y1: float, x: float) -> float:
    if x1 == x0:
        return y0
    t = math.log(x / x0) / math.log(x1 / x0)
    return math.exp(math.log(y0) + t * math.log(y1 / y0))


def _between(keys: list[int], x: float) -> tuple[int, int]:
    lo = max(k for k in keys if k <= x)
    hi = min(k for k in keys if k >= x)
    return lo, hi


def _at_width(curve: dict[int, float], size: float) -> float:
    lo, hi = _between(sorted(curve), size)
    return _loglog(lo, curve[lo], hi, curve[hi], size)


def _at_node(node: int, cell: str, size: float, width: int, banks: int) -> dict[str, float]:
    grid = _grid(node, cell, banks)
    curves = grid["read_pj"]
    if not curves:
        raise MemoryModelError(f"the CACTI table has no {cell} memory of {banks} bank(s) at "
                               f"{node} nm")
    widths = sorted(curves)
    if not widths[0] <= width <= widths[-1]:
        raise MemoryModelError(f"a {width}-bit word is outside the CACTI table's widths "
                               f"{widths[0]}-{widths[-1]} bits")
    w_lo, w_hi = _between(widths, width)
    out = {}
    for q in QUANTITIES:
        vals = []
        for w in (w_lo, w_hi):
            c = grid[q][w]
            if not min(c) <= size <= max(c):
                raise MemoryModelError(
                    f"a {_size(size)} memory of {w}-bit words ({banks} bank(s)) is outside "
                    f"what CACTI models: {_size(min(c))} to {_size(max(c))} at that width "
                    "(at least 32 words per bank)")
            vals.append(_at_width(c, size))
        out[q] = _loglog(w_lo, vals[0], w_hi, vals[1], width)
    return out


def _size(b: float) -> str:
    for unit, f in (("MiB", 2**20), ("KiB", 1024)):
        if b >= f:
            return f"{b / f:g} {unit}"
    return f"{b:g} B"


def nodes(cell: str) -> list[int]:
    """The nodes the table computes for a cell type, nm."""
    return sorted({int(r["node_nm"]) for r in _rows() if r["cell_type"] == cell})


@functools.lru_cache(maxsize=4096)
def sram(node: int, cell: str, size_bytes: float, width_bits: int, banks: int = 1,
         logic_scale: float | None = None) -> SramCost:
    """CACTI's numbers for one SRAM (``size_bytes`` over all ``banks``; one access reaches one
    bank through the memory's routing). ``logic_scale``: the node's logic energy relative to
    45 nm (a config's ``node_scale``), needed only below the table's nodes. Raises
    :class:`MemoryModelError` outside the table."""
    if cell not in CELL_TYPES:
        raise MemoryModelError(f"unknown cell type {cell!r}; expected one of {CELL_TYPES}")
    have = nodes(cell)
    if node in have:
        v, note = _at_node(node, cell, size_bytes, width_bits, banks), f"CACTI {node} nm"
    elif have[0] < node < have[-1]:
        lo, hi = _between(have, node)
        a = _at_node(lo, cell, size_bytes, width_bits, banks)
        b = _at_node(hi, cell, size_bytes, width_bits, banks)
        v = {q: _loglog(lo, a[q], hi, b[q], node) for q in QUANTITIES}
        note = f"CACTI {lo} and {hi} nm, interpolated log-log to {node} nm"
    elif node < have[0]:
        if logic_scale is None or have[0] != 22:
            raise MemoryModelError(f"{node} nm is below the CACTI table's nodes {have}: "
                                   "extrapolating needs the node's logic-energy scale")
        f = logic_scale / LOGIC_SCALE_22NM
        base = _at_node(have[0], cell, size_bytes, width_bits, banks)
        v = {q: base[q] * (f if q != "cycle_time_ns" else 1.0) for q in QUANTITIES}
        note = (f"CACTI {have[0]} nm x {f:.3f} (logic-energy ratio {node}/{have[0]} nm, "
                "node_scale / 0.317): extrapolated below CACTI's range")
    else:
        raise MemoryModelError(f"{node} nm is above the CACTI table's nodes {have}; "
                               "regenerate it with tools/cacti/generate.py --nodes")
    return SramCost(v["read_pj"], v["write_pj"], v["leakage_uw"], v["cycle_time_ns"], note)

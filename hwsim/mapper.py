"""The mapper: for one layer and one dataflow, every candidate tiling (``hwsim.dataflow``'s
loop nests, each refusing what does not fit), evaluated and the one minimising the objective
kept. Search here, evaluation in ``hwsim.dataflow``, pricing in ``hwsim.energy``.

Candidates are powers of two (and the full size) for each tile dimension, staged or not, each
local level; a dimension that does not change any access (``ws``'s input-channel chunk,
``time_batched``'s) takes the largest value that fits (``ws``: beside the tile's partial sums
when they are in registers, so a smaller chunk leaves room for a larger tile).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import dataflow as D
from .dataflow import Accesses, LayerSpec, Tiling, pow2_upto

OBJECTIVES = ("energy", "latency", "edp")


def candidates(spec: LayerSpec, dataflow: str) -> list[Tiling]:
    """The tilings the mapper tries for one layer: powers of two (and the full size) for each
    tile dimension, staged or not, each local level; those that do not fit are dropped by the
    nest itself."""
    g = spec.geometry
    ks = pow2_upto(max(spec.groups))
    base = dataflow.removesuffix("_skip")
    stages = (False, True)
    if base == "os":
        ps = pow2_upto(max(spec.chunk_sizes))
        return [Tiling(dataflow, k, p, 1, s) for k in ks for p in ps for s in stages]
    if base == "ws":
        # ct only bounds the register tile (inputs are read once per k-tile whatever ct
        # is): the largest that fits beside the tile's partial sums when they are registers
        out = []
        for k in ks:
            for p in pow2_upto(max(spec.chunk_sizes)):
                psums = max(spec.groups) * min(p, max(spec.chunk_sizes)) * spec.membrane_bits
                for lv in ("register", "pe_sram", "glb"):
                    room = spec.free_register_bits - (psums if lv == "register" else 0)
                    cs = [c for c in pow2_upto(g.C)
                          if k * c * g.k * g.k * spec.weight_bits <= room]
                    if cs:
                        out += [Tiling(dataflow, k, p, cs[-1], s, lv) for s in stages]
        return out
    if base == "rs":
        qs = pow2_upto(min(g.Q, max(spec.chunk_sizes)))
        return [Tiling(dataflow, k, q, 1, s) for k in ks for q in qs for s in stages]
    if base == "time_batched":
        ps = pow2_upto(max(spec.chunk_sizes))
        return [Tiling(dataflow, k, p, 1, s, lv) for k in ks for p in ps for s in stages
                for lv in ("register", "pe_sram") if D.tb_fits(spec, k, p, s, lv)]
    raise ValueError(f"no loop nest named {dataflow!r}")


class NoFit(ValueError):
    """No tiling of a dataflow fits a layer on the chip."""


@dataclass(frozen=True)
class Choice:
    """The mapper's answer for one layer and dataflow: the tiling, its accesses and cost."""

    tiling: Tiling
    accesses: Accesses
    energy_pj: float
    cycles: float
    tried: int


def objective_value(objective: str, energy_pj: float, cycles: float) -> float:
    if objective == "energy":
        return energy_pj
    if objective == "latency":
        return cycles
    if objective == "edp":
        return energy_pj * cycles
    raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")


def best_tiling(spec: LayerSpec, dataflow: str, cost, objective: str = "energy") -> Choice:
    """The tiling of ``dataflow`` that minimises ``objective`` for one layer; ``cost(accesses)``
    returns (energy pJ, cycles). Ties go to the first candidate (smaller tiles)."""
    nest = D.nest_of(dataflow)
    best, tried = None, 0
    for t in candidates(spec, dataflow):
        acc = nest(spec, t)
        if acc is None:
            continue
        tried += 1
        e, c = cost(acc)
        v = objective_value(objective, e, c)
        if best is None or v < best[0]:
            best = (v, t, acc, e, c)
    if best is None:
        raise NoFit(f"{spec.name}: no {dataflow} tiling fits this chip (free: "
                    f"{spec.free_register_bits} register bits, {spec.free_pe_bytes} B of PE "
                    "SRAM per PE)")
    _, t, acc, e, c = best
    return Choice(t, acc, e, c, tried)

"""Every dataflow on both sides, and the verdict.

For each synaptic layer this builds the :class:`dataflow.LayerSpec` of the SNN (its real spike
maps, the SNN mapping's levels) and of the ANN (the same weights with ReLU, its real activation
maps, its own mapping with no membranes), asks the mapper for each dataflow's best tiling,
prices and times it, and adds the layers up. ``scatter`` is today's accounting on both sides
(:func:`energy.snn_scatter`, :func:`energy.ann_scatter`), kept so old numbers reproduce.

The verdict compares the best SNN dataflow with the best ANN dataflow on the chip (by the
objective), or the pair the policy names; every pair's ratio is reported too.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass

from arch_configs import ArchConfig
from arch_configs.schema import DATAFLOW_HELP, parse_dataflow
from mapping.placement import Mapping, map_network

from . import dataflow as D
from . import energy as E
from . import mapper as M
from .counts import LayerCounts
from .tiles import Activity, Geometry, dense_event_map, fanin_of

SIDES = ("snn", "ann")


def geometry(node) -> Geometry:
    """A conv or linear node's shape for the dataflow model (a linear layer is 1×1)."""
    if node.kind == "conv":
        return Geometry(node.out_shape[0], node.in_shape[0], *node.in_shape[1:],
                        *node.out_shape[1:], node.kernel, node.stride, node.padding)
    return Geometry(node.out_shape[0], node.in_shape[0], 1, 1, 1, 1)


def dense_activity(g: Geometry, output_events: float = 0.0) -> Activity:
    m = dense_event_map(g)
    return Activity(g, m, fanin_of(g, m), output_events)


def payload_bits(nodes, name: str, spike_bits: int) -> int:
    """Bits of one input event's value: a spike, or a pooled spike (k² levels)."""
    by = {n.name: n for n in nodes}
    src = by[by[name].source]
    while src.kind in ("flatten", "dropout"):
        src = by[src.source]
    if src.kind == "avgpool":
        return spike_bits + math.ceil(math.log2(src.kernel * src.kernel))
    return spike_bits


def _free(arch: ArchConfig, mapping: Mapping) -> dict[str, int]:
    reg = mapping.level("register").peak_pe_bytes or 0
    pe = mapping.level("pe_sram").peak_pe_bytes or 0
    glb = mapping.level("glb")
    # the accumulators' own registers hold one partial sum each, beside the register file
    acc_bits = arch.pe_array.accumulators * arch.precision.membrane_bits
    return {"register_bits": max(0, arch.pe_array.register_bytes - reg) * 8 + acc_bits,
            "pe_bytes": max(0, arch.pe_array.sram_bytes - pe),
            "glb_bytes": max(0, glb.capacity_bytes - glb.used_bytes)}


def membrane_levels(nodes, mapping: Mapping) -> dict[str, str | None]:
    """Each synaptic layer's membrane level; a shortcut conv writes into the membranes of the
    layer that adds it."""
    out = {}
    for n in nodes:
        if not n.synaptic:
            continue
        if n.neuron is not None:
            out[n.name] = mapping.layer(n.name).membrane_level
        else:
            target = next(m.name for m in nodes if m.residual == n.name)
            out[n.name] = mapping.layer(target).membrane_level
    return out


# Which placement each dataflow runs on: the SNN's (membranes persist between the loop nest's
# visits), a stateless SNN's (time-batched: potentials live inside the tile), the ANN's.
PLACEMENT = {("snn", "scatter"): "snn", ("snn", "os"): "snn",
             ("snn", "time_batched"): "stateless"}


def placement_kind(side: str, dataflow: str) -> str:
    return PLACEMENT.get((side, dataflow), "ann")


@dataclass(frozen=True)
class Context:
    """What every layer's spec needs: the chip, the SNN's own mapping (policy placement),
    the placements the dataflows may run on (``placements[(kind, weights)]``: kind snn,
    stateless or ann; weights ``policy`` or ``glb``), the network, T and the topology."""

    arch: ArchConfig
    mapping: Mapping
    placements: dict
    nodes: tuple
    T: int
    consumers: dict


def snn_spec(ctx: Context, lc: LayerCounts, mapping: Mapping) -> D.LayerSpec:
    arch, p = ctx.arch, ctx.arch.precision
    node = next(n for n in ctx.nodes if n.name == lc.name)
    lm = mapping.layer(lc.name)
    g = geometry(node)
    spikes = float(lc.per_image(lc.output_spikes).sum())
    if lc.analog:
        act = dense_activity(g, spikes)
        payload = in_packet = p.activation_bits
        repeat = int((lc.accumulates > 0).sum())
    else:
        act = Activity(g, lc.event_map, lc.fanin_map, spikes, lc.images,
                       float(lc.per_image(lc.residual_events).sum()))
        payload = payload_bits(ctx.nodes, lc.name, p.spike_bits)
        in_packet = E.packet_bits(g.C * g.H * g.W, payload)
        repeat = 1
    free = _free(arch, mapping)
    extra_buffer = mapping.buffer_bytes * (ctx.T - 1)
    starts, sizes = lm.position_chunks()
    return D.LayerSpec(
        name=lc.name, side="snn", activity=act, dense=dense_activity(g, spikes),
        groups=lm.channel_sizes(), chunk_starts=starts, chunk_sizes=sizes,
        weight_level=lm.weight_level, stream_level=mapping.buffer_level,
        membrane_level=membrane_levels(ctx.nodes, mapping)[lc.name],
        free_register_bits=free["register_bits"], free_pe_bytes=free["pe_bytes"],
        free_glb_bytes=free["glb_bytes"], weight_bits=p.weight_bits,
        membrane_bits=p.membrane_bits, mult_bits=max(p.weight_bits, p.activation_bits),
        input_bits=payload, input_packet_bits=in_packet, output_bits=p.spike_bits,
        output_packet_bits=E.packet_bits(lc.neurons, p.spike_bits),
        repeat=repeat,
        state_steps=ctx.T, lif=lc.neuron == "lif", analog=lc.analog,
        stored_current=lc.analog and repeat < ctx.T, bias=lc.bias, leaky=lc.leaky,
        spike_readout=lc.spike_readout,
        batched_stream_level="glb" if mapping.buffer_level == "glb"
        and extra_buffer <= free["glb_bytes"] else "dram")


def ann_spec(ctx: Context, lc: LayerCounts, skip: bool, mapping: Mapping) -> D.LayerSpec:
    arch, p = ctx.arch, ctx.arch.precision
    node = next(n for n in ctx.nodes if n.name == lc.name)
    lm = mapping.layer(lc.name)
    g = geometry(node)
    images = max(1, lc.ann_images)
    out_nz = lc.ann_output_nonzero / images
    dense = dense_activity(g, float(g.outputs))
    if skip and lc.ann_input_nonzero is not None:
        act = Activity(g, lc.ann_input_nonzero, fanin_of(g, lc.ann_input_nonzero), out_nz,
                       images)
    else:
        act = dataclasses.replace(dense, output_events=out_nz)
    free = _free(arch, mapping)
    starts, sizes = lm.position_chunks()
    return D.LayerSpec(
        name=lc.name, side="ann", activity=act, dense=dense,
        groups=lm.channel_sizes(), chunk_starts=starts, chunk_sizes=sizes,
        weight_level=lm.weight_level, stream_level=mapping.buffer_level,
        membrane_level=None, free_register_bits=free["register_bits"],
        free_pe_bytes=free["pe_bytes"], free_glb_bytes=free["glb_bytes"],
        weight_bits=p.weight_bits, membrane_bits=p.membrane_bits,
        mult_bits=max(p.weight_bits, p.activation_bits), input_bits=p.activation_bits,
        input_packet_bits=p.activation_bits, output_bits=p.activation_bits,
        output_packet_bits=p.activation_bits,
        analog=lc.analog, skip_outputs=skip, bias=lc.bias)


@dataclass
class SideResult:
    """One dataflow on one side: per-layer costs (with the chosen tiling), totals, timing,
    the placement it ran on (``weights``: the policy's, or all weights in the GLB)."""

    side: str
    dataflow: str
    layers: list[E.LayerCost]
    cycles: float
    seconds: float
    search_s: float
    candidates: int
    weights: str = "policy"

    @property
    def energy_pj(self) -> dict[str, float]:
        parts = E.SNN_PARTS if self.side == "snn" else E.ANN_PARTS
        d = {k: float(sum(c.energy_pj[k] for c in self.layers)) for k in parts}
        d["total"] = float(sum(d.values()))
        return d

    def to_dict(self) -> dict:
        return {"energy_pj": self.energy_pj, "latency_cycles": self.cycles,
                "latency_s": self.seconds, "search_s": self.search_s,
                "candidates": self.candidates, "weights": self.weights,
                "layers": [{"name": c.name, "mapping": c.mapping, "cycles": c.cycles,
                            "bound": c.bound,
                            "energy_pj": {**c.energy_pj, "total": c.total_pj}}
                           for c in self.layers]}


def _layer_cost(ctx: Context, lc: LayerCounts, side: str, dataflow: str, objective: str,
                mapping: Mapping) -> tuple[E.LayerCost, int]:
    arch = ctx.arch
    if dataflow == "scatter":  # today's accounting, on the SNN's own mapping (both sides)
        lm = ctx.mapping.layer(lc.name)
        v = membrane_levels(ctx.nodes, ctx.mapping)[lc.name]
        dest = E.destinations(ctx.mapping, ctx.consumers, lc.name)
        if side == "snn":
            return E.snn_layer_cost(arch, ctx.mapping, lc, lm, v, dest), 1
        node = next(n for n in ctx.nodes if n.name == lc.name)
        return E.ann_layer_cost(arch, ctx.mapping, lc, lm, v, math.prod(node.in_shape),
                                dest), 1
    lm = mapping.layer(lc.name)
    if side == "snn":
        spec = snn_spec(ctx, lc, mapping)

        def cycles(acc, with_bound=False):
            return E.snn_cycles(arch, lc, lm, E.traffic(acc), with_bound=with_bound,
                                in_flight=acc.in_flight)
    else:
        skip = dataflow.endswith("_skip")
        spec = ann_spec(ctx, lc, skip, mapping)
        macs = spec.activity.accumulates_per_channel * spec.geometry.K  # skipped or dense

        def cycles(acc, with_bound=False):
            return E.ann_cycles(arch, lc, lm, E.traffic(acc), macs, with_bound=with_bound,
                                in_flight=acc.in_flight)

    # energy that runs with time (leakage, clock) is part of a tiling's cost: a slower tiling
    # pays it for every cycle it adds
    per_cycle_pj = arch.leakage_w / arch.frequency_hz * 1e12 + arch.clock_pj_per_cycle

    def cost(acc):
        c = cycles(acc)
        return sum(E.price(acc, arch, side).values()) + per_cycle_pj * c, c

    ch = M.best_tiling(spec, dataflow, cost, objective)
    t = E.traffic(ch.accesses)
    _, limit, compute = cycles(ch.accesses, with_bound=True)
    return (E.LayerCost(lc.name, E.price(ch.accesses, arch, side), ch.cycles, t, ch.accesses,
                        ch.tiling.describe(), bound=limit, compute_cycles=compute), ch.tried)


class Infeasible(ValueError):
    """A dataflow that has no tiling of some layer that fits the chip."""


def _evaluate_on(ctx: Context, counts: list[LayerCounts], side: str, dataflow: str,
                 objective: str, weights: str) -> SideResult:
    start = time.perf_counter()
    mapping = ctx.placements[(placement_kind(side, dataflow), weights)]
    costs, tried = [], 0
    for lc in counts:
        try:
            c, n = _layer_cost(ctx, lc, side, dataflow, objective, mapping)
        except M.NoFit as e:
            raise Infeasible(str(e)) from None
        costs.append(c)
        tried += n
    search = time.perf_counter() - start
    steps = ctx.T if side == "snn" else 1
    cycles = E.schedule_cycles([c.cycles for c in costs], steps, ctx.mapping.schedule)
    seconds = E.add_leakage(costs, ctx.arch, cycles)
    return SideResult(side, dataflow, costs, cycles, seconds, search, tried, weights)


def evaluate(ctx: Context, counts: list[LayerCounts], side: str, dataflow: str,
             objective: str = "energy") -> SideResult:
    """One dataflow on one side for the whole network: each layer's tiling from the mapper,
    on the placement (policy weights, or all weights in the GLB) that serves it better."""
    options = ["policy"] if dataflow == "scatter" else [w for w in ("policy", "glb")
                                                        if (placement_kind(side, dataflow), w)
                                                        in ctx.placements]
    runs, errors = [], []
    for w in options:
        try:
            runs.append(_evaluate_on(ctx, counts, side, dataflow, objective, w))
        except Infeasible as e:
            errors.append(f"weights {w}: {e}")
    if not runs:
        raise Infeasible("; ".join(errors))
    best = min(runs, key=lambda r: _value(r, objective))
    best.search_s = sum(r.search_s for r in runs)
    best.candidates = sum(r.candidates for r in runs)
    return best


def context(arch: ArchConfig, mapping: Mapping, nodes, T: int, consumers: dict) -> Context:
    """The placements the dataflows run on: the SNN's own (``mapping``), a stateless SNN's and
    the ANN's, each with the policy's weight level and, where the policy lets the mapper
    choose (``auto``), with every weight in the GLB (a weight-reusing dataflow may prefer its
    PE SRAM free for tiles)."""
    placements = {("snn", "policy"): mapping}
    weight_options = {"policy": arch}
    if arch.policy.weight_level == "auto":
        weight_options["glb"] = dataclasses.replace(
            arch, policy=dataclasses.replace(arch.policy, weight_level="glb"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spills show in each placement's levels
        for w, a in weight_options.items():
            if w != "policy":
                placements[("snn", w)] = map_network(nodes, a)
            placements[("stateless", w)] = map_network(nodes, a, neuron_state=False,
                                                       activation_streams=False)
            placements[("ann", w)] = map_network(nodes, a, neuron_state=False)
    return Context(arch, mapping, placements, tuple(nodes), T, consumers)


def parse_pair(value: str) -> tuple[str, str]:
    """A ``dataflow`` setting -> (SNN dataflow or 'best', ANN dataflow or 'best')."""
    pair = parse_dataflow(value)
    if pair is None:
        raise ValueError(f"dataflow {value!r}: expected {DATAFLOW_HELP}")
    return pair


def _value(r: SideResult, objective: str) -> float:
    return M.objective_value(objective, r.energy_pj["total"], r.cycles)


def compare(ctx: Context, counts: list[LayerCounts], setting: str = "best",
            objective: str = "energy") -> dict:
    """Every dataflow on both sides, the selected pair and the verdict (report keys)."""
    want_snn, want_ann = parse_pair(setting)
    results: dict[str, dict[str, SideResult]] = {"snn": {}, "ann": {}}
    infeasible: dict[str, dict[str, str]] = {"snn": {}, "ann": {}}
    for side, flows in (("snn", D.SNN_DATAFLOWS), ("ann", D.ANN_DATAFLOWS)):
        for df in flows:
            try:
                results[side][df] = evaluate(ctx, counts, side, df, objective)
            except Infeasible as e:
                infeasible[side][df] = str(e)
    best = {side: min(results[side].values(), key=lambda r: _value(r, objective)).dataflow
            for side in SIDES}  # scatter always fits
    chosen = {"snn": best["snn"] if want_snn == "best" else want_snn,
              "ann": best["ann"] if want_ann == "best" else want_ann}
    for side in SIDES:
        if chosen[side] in infeasible[side]:
            raise Infeasible(f"{side.upper()} dataflow {chosen[side]} does not fit this chip: "
                             f"{infeasible[side][chosen[side]]}")

    def ratio(s: str, a: str) -> dict:
        rs, ra = results["snn"][s], results["ann"][a]
        return {"energy_ann_over_snn": ra.energy_pj["total"] / rs.energy_pj["total"],
                "latency_ann_over_snn": ra.cycles / rs.cycles if rs.cycles else None}

    return {
        "objective": objective, "setting": setting, "selected": chosen, "best": best,
        "snn": {df: r.to_dict() for df, r in results["snn"].items()},
        "ann": {df: r.to_dict() for df, r in results["ann"].items()},
        "verdict": {"snn": best["snn"], "ann": best["ann"], **ratio(best["snn"], best["ann"])},
        "pairs": {f"{s}/{a}": ratio(s, a) for s in results["snn"] for a in results["ann"]},
        "infeasible": infeasible,
        "search_s": sum(r.search_s for side in results.values() for r in side.values()),
        "_results": results,
    }


def scaled_counts(lc: LayerCounts, f: float) -> LayerCounts:
    """The layer with every spike-driven count multiplied by ``f`` (the analog input layer and
    the ANN's activity unchanged): what the SNN would do at ``f`` times its spike rate."""
    if lc.analog:
        return dataclasses.replace(lc, output_spikes=lc.output_spikes * f)
    return dataclasses.replace(
        lc, input_events=lc.input_events * f, accumulates=lc.accumulates * f,
        output_spikes=lc.output_spikes * f, pe_work=lc.pe_work * f,
        residual_events=lc.residual_events * f,
        event_map=None if lc.event_map is None else lc.event_map * f,
        fanin_map=None if lc.fanin_map is None else lc.fanin_map * f)


def break_even(ctx: Context, counts: list[LayerCounts], dataflow: str, target_pj: float,
               objective: str = "energy", iterations: int = 30) -> float | None:
    """The factor f on every spike count at which the SNN's ``dataflow`` costs ``target_pj``
    per image (the mapper re-run at each f); None if it costs more even with no spikes past
    the input layer. Bisection on [0, f_hi] with f_hi doubled until the SNN costs more."""

    def energy(f: float) -> float:
        scaled = [scaled_counts(lc, f) for lc in counts]
        return evaluate(ctx, scaled, "snn", dataflow, objective).energy_pj["total"]

    if energy(0.0) >= target_pj:
        return None
    hi = 1.0
    while energy(hi) < target_pj:
        hi *= 2
        if hi > 1e4:
            return math.inf
    lo = 0.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if energy(mid) < target_pj else (lo, mid)
    return (lo + hi) / 2

"""System-level timing with SimPy: the chip as processes sharing resources, per layer and step.

The simulator's latency model (``hwsim.energy``) prices each layer and timestep alone:
max(compute, memory) + the NoC hop latency, with the memory time averaged over the steps and no
contention between layers. Here the same work runs as a discrete-event simulation
(`SimPy <https://simpy.readthedocs.io>`_) so that layers can overlap and compete:

- **Work.** One :class:`StepWork` per synaptic layer and timestep: compute cycles (the busiest
  PE's accumulates / its lanes, min(``accumulators``, the dataflow tile's partial sums in
  flight), + its LIF phase, exactly the simulator's formula, ``energy.compute_cycles``), the bits
  the step moves through the global buffer (GLB) and DRAM (the simulator's own per-level
  ``Traffic``, recomputed for that step), and the link-cycles its spike packets occupy on the
  mesh (packets × flits per packet × hops, the hops of the energy model).
- **Resources.** The GLB port, the DRAM channel and the NoC are shared, one transfer at a time
  (a :class:`simpy.Resource` of capacity 1 held for bits / bandwidth cycles; the NoC serves
  ``links`` link-cycles per cycle: the directed links of a √P×√P mesh, 4·√P·(√P − 1)). The PEs
  of a layer form a group: layers that share PEs run one at a time.
- **A layer step** is cut into ``tiles`` equal tiles; in each tile the PEs compute while the
  tile's data streams through the GLB, then DRAM (double buffering: the tile takes the longer of
  the two); then the step's spikes cross the NoC (serialisation on the shared links) and arrive
  after the hop latency (hop_latency × mean hops).
- **Schedules.** ``layer_by_layer``: every step runs the layers in turn on the whole array (one
  layer step at a time, in network order). ``pipelined``: each layer owns a PE group (from the
  mapping) and starts step t as soon as its inputs' step t and its own step t − 1 are done, so
  layers overlap across timesteps and compete for the GLB, DRAM and NoC.

Guarantees (tested): with unlimited bandwidth the layer-by-layer time equals the simulator's
compute-bound cycles (Σ over layers and steps of compute + hop latency), and the pipelined time
equals the exact dataflow recurrence (Σ_l c_l + (T − 1)·max_l c_l when every step costs the
same); with limited bandwidth the time is never below bits / bandwidth of any shared resource.
Granularity is a layer step or a tile, never a spike (SimPy does ~0.7 M events/s here).

Where the time goes: :class:`SystemTiming` walks the critical path back from the last step and
splits it into compute, memory stalls (a tile waiting for its data, queueing included) and NoC
(serialisation, queueing and hop latency); the three add up to the total.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import simpy

from arch_configs import ArchConfig
from mapping.placement import Mapping

from . import energy as E
from .compare import membrane_levels
from .counts import Counter, LayerCounts
from .simulate import consumers

RESOURCES = ("glb", "dram", "noc")
PARTS = ("compute", "memory_stall", "noc")


@dataclass(frozen=True)
class StepWork:
    """One synaptic layer's work in one timestep (per image).

    ``compute_cycles``: the busiest PE's accumulates and LIF phase, cycles; ``glb_bits`` and
    ``dram_bits``: bits through the GLB port and the DRAM channel; ``noc_link_cycles``:
    link-cycles its spike packets occupy (packets × flits per packet × hops).
    """

    compute_cycles: float
    glb_bits: float = 0.0
    dram_bits: float = 0.0
    noc_link_cycles: float = 0.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not v >= 0:
                raise ValueError(f"StepWork.{f.name} must be >= 0, got {v}")


@dataclass(frozen=True)
class LayerWork:
    """A synaptic layer: its work per timestep, the layers whose spikes of the same step it
    needs (``inputs``), and its PE ``group`` (layers of one group never run at once)."""

    name: str
    steps: tuple[StepWork, ...]
    inputs: tuple[str, ...] = ()
    group: int = 0


@dataclass(frozen=True)
class Chip:
    """The shared resources: GLB and DRAM bandwidth (bits/cycle), NoC links (link-cycles served
    per cycle) and the NoC latency added to every layer step (cycles). ``math.inf`` bandwidth
    means unlimited."""

    glb_bits_per_cycle: float = math.inf
    dram_bits_per_cycle: float = math.inf
    noc_links: float = math.inf
    noc_latency_cycles: float = 0.0
    clock_hz: float = 1.0

    def __post_init__(self):
        for name in ("glb_bits_per_cycle", "dram_bits_per_cycle", "noc_links", "clock_hz"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Chip.{name} must be > 0, got {getattr(self, name)}")
        if not self.noc_latency_cycles >= 0:
            raise ValueError(f"Chip.noc_latency_cycles must be >= 0, got "
                             f"{self.noc_latency_cycles}")

    @classmethod
    def from_arch(cls, arch: ArchConfig, unlimited: bool = False) -> Chip:
        """The config's bandwidths (or unlimited ones) and its NoC hop latency × mean hops."""
        latency = arch.noc.hop_latency_cycles.value * E.mesh_hops(arch.pes)
        if unlimited:
            return cls(noc_latency_cycles=latency, clock_hz=arch.frequency_hz)
        return cls(glb_bits_per_cycle=arch.global_buffer.bandwidth_bits_per_cycle,
                   dram_bits_per_cycle=arch.dram.bandwidth_bytes_per_s.value * 8
                   / arch.frequency_hz,
                   noc_links=mesh_links(arch.pes), noc_latency_cycles=latency,
                   clock_hz=arch.frequency_hz)


def mesh_links(pes: int) -> float:
    """Directed links of a √P×√P mesh, 4·√P·(√P − 1) (at least one)."""
    s = math.sqrt(max(1, pes))
    return max(1.0, 4.0 * s * (s - 1.0))


@dataclass
class SystemTiming:
    """The result of one system simulation (cycles per image).

    ``critical``: the critical path split into compute, memory stalls and NoC (sums to
    ``cycles``); ``layers``: per layer, summed over steps, its compute, memory stall and NoC
    cycles and ``wait`` (ready but waiting for its PE group, or waiting for inputs);
    ``busy``: cycles each shared resource was in use; ``bounds``: the least time each resource
    needs (bits / bandwidth) and the busiest PE group's compute.
    """

    cycles: float
    clock_hz: float
    schedule: str
    tiles: int
    critical: dict[str, float]
    layers: list[dict]
    busy: dict[str, float]
    bounds: dict[str, float]
    events: int

    @property
    def seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def utilisation(self) -> dict[str, float]:
        return {r: (self.busy[r] / self.cycles if self.cycles else 0.0) for r in RESOURCES}

    def to_dict(self) -> dict:
        return {"cycles": self.cycles, "seconds": self.seconds, "schedule": self.schedule,
                "tiles": self.tiles, "critical": dict(self.critical),
                "utilisation": self.utilisation, "busy": dict(self.busy),
                "bounds": dict(self.bounds), "events": self.events,
                "layers": [dict(r) for r in self.layers]}


@dataclass
class _Record:
    ready: float = 0.0
    start: float = 0.0
    tiles_end: float = 0.0
    end: float = 0.0
    compute: float = 0.0
    gates: list = field(default_factory=list)  # (layer index, step) that could have held it up


class _System:
    def __init__(self, layers: list[LayerWork], chip: Chip, schedule: str, tiles: int):
        self.layers, self.chip, self.schedule, self.tiles = layers, chip, schedule, tiles
        self.env = simpy.Environment()
        self.res = {r: simpy.Resource(self.env, capacity=1) for r in RESOURCES}
        self.busy = dict.fromkeys(RESOURCES, 0.0)
        self.groups = {lw.group: simpy.Resource(self.env, capacity=1) for lw in layers}
        self.last_holder: dict[int, tuple[int, int] | None] = dict.fromkeys(self.groups)
        self.rec: dict[tuple[int, int], _Record] = {}
        self.done: dict[tuple[int, int], simpy.Event] = {}
        self.index = {lw.name: i for i, lw in enumerate(layers)}

    def _hold(self, name: str, cycles: float):
        if cycles <= 0:
            return
        with self.res[name].request() as req:
            yield req
            yield self.env.timeout(cycles)
            self.busy[name] += cycles

    def _memory(self, w: StepWork):
        k = self.tiles
        if w.glb_bits:
            yield from self._hold("glb", w.glb_bits / k / self.chip.glb_bits_per_cycle)
        if w.dram_bits:
            yield from self._hold("dram", w.dram_bits / k / self.chip.dram_bits_per_cycle)

    def _step(self, li: int, t: int, gates: list):
        """One layer step: take the PE group, run the tiles, send the spikes."""
        env, lw = self.env, self.layers[li]
        w = lw.steps[t]
        rec = self.rec[(li, t)] = _Record(ready=env.now, compute=w.compute_cycles, gates=gates)
        with self.groups[lw.group].request() as req:
            yield req
            rec.start = env.now
            holder = self.last_holder[lw.group]
            if holder is not None:
                rec.gates.append(holder)
            self.last_holder[lw.group] = (li, t)
            for _ in range(self.tiles):
                compute = env.timeout(w.compute_cycles / self.tiles)
                memory = env.process(self._memory(w))
                yield compute & memory
            rec.tiles_end = env.now
            if w.noc_link_cycles:
                yield from self._hold("noc", w.noc_link_cycles / self.chip.noc_links)
            if self.chip.noc_latency_cycles:
                yield env.timeout(self.chip.noc_latency_cycles)
            rec.end = env.now
        self.done[(li, t)].succeed()

    def _layer(self, li: int, T: int):
        """Pipelined: step t waits for the inputs' step t and its own step t − 1."""
        lw = self.layers[li]
        for t in range(T):
            deps = [(self.index[n], t) for n in lw.inputs] + ([(li, t - 1)] if t else [])
            if deps:
                yield simpy.AllOf(self.env, [self.done[d] for d in deps])
            yield self.env.process(self._step(li, t, deps))

    def _in_turn(self, T: int):
        """Layer by layer: every step runs the layers in order, one at a time."""
        prev: list = []
        for t in range(T):
            for li in range(len(self.layers)):
                yield self.env.process(self._step(li, t, prev))
                prev = [(li, t)]

    def run(self) -> SystemTiming:
        T = len(self.layers[0].steps)
        for li in range(len(self.layers)):
            for t in range(T):
                self.done[(li, t)] = self.env.event()
        if self.schedule == "pipelined":
            for li in range(len(self.layers)):
                self.env.process(self._layer(li, T))
        else:
            self.env.process(self._in_turn(T))
        events = 0
        while self.env.peek() < math.inf:
            self.env.step()
            events += 1
        cycles = max(r.end for r in self.rec.values())
        return SystemTiming(cycles=cycles, clock_hz=self.chip.clock_hz, schedule=self.schedule,
                            tiles=self.tiles, critical=self._critical(cycles),
                            layers=self._per_layer(T), busy=dict(self.busy),
                            bounds=self._bounds(), events=events)

    def _critical(self, cycles: float) -> dict[str, float]:
        """Walk back from the last step through whichever gate released each step."""
        parts = dict.fromkeys(PARTS, 0.0)
        key = max(self.rec, key=lambda k: (self.rec[k].end, k))
        while key is not None:
            r = self.rec[key]
            parts["compute"] += r.compute
            parts["memory_stall"] += max(0.0, r.tiles_end - r.start - r.compute)  # no rounding
            parts["noc"] += r.end - r.tiles_end
            gates = [g for g in r.gates if g in self.rec]
            key = max(gates, key=lambda g: (self.rec[g].end, g)) if gates else None
        return parts

    def _per_layer(self, T: int) -> list[dict]:
        rows = []
        for li, lw in enumerate(self.layers):
            recs = [self.rec[(li, t)] for t in range(T)]
            rows.append({
                "name": lw.name,
                "compute": sum(r.compute for r in recs),
                "memory_stall": sum(max(0.0, r.tiles_end - r.start - r.compute) for r in recs),
                "noc": sum(r.end - r.tiles_end for r in recs),
                "wait": sum(r.start - r.ready for r in recs),
                "end": recs[-1].end,
            })
        return rows

    def _bounds(self) -> dict[str, float]:
        c = self.chip
        tot = {k: sum(getattr(s, k) for lw in self.layers for s in lw.steps)
               for k in ("glb_bits", "dram_bits", "noc_link_cycles")}
        group_compute: dict[int, float] = {}
        for lw in self.layers:
            group_compute[lw.group] = group_compute.get(lw.group, 0.0) + sum(
                s.compute_cycles for s in lw.steps)
        return {"glb": tot["glb_bits"] / c.glb_bits_per_cycle,
                "dram": tot["dram_bits"] / c.dram_bits_per_cycle,
                "noc": tot["noc_link_cycles"] / c.noc_links,
                "compute": max(group_compute.values(), default=0.0)}


def simulate_system(layers: list[LayerWork], chip: Chip, schedule: str = "layer_by_layer",
                    tiles: int = 8) -> SystemTiming:
    """Run the work on the chip; cycles per image and where they go."""
    if schedule not in ("layer_by_layer", "pipelined"):
        raise ValueError(f"schedule must be layer_by_layer or pipelined, got {schedule!r}")
    if tiles < 1:
        raise ValueError(f"tiles must be >= 1, got {tiles}")
    if not layers:
        raise ValueError("no layers to simulate")
    T = len(layers[0].steps)
    names = {lw.name for lw in layers}
    for lw in layers:
        if len(lw.steps) != T or T == 0:
            raise ValueError(f"layer {lw.name}: {len(lw.steps)} steps, expected {T} (> 0)")
        unknown = [n for n in lw.inputs if n not in names]
        if unknown:
            raise ValueError(f"layer {lw.name}: unknown inputs {unknown}")
    return _System(layers, chip, schedule, tiles).run()


# ---------------------------------------------------------------------- work from the counts
_PER_PE = ("pe_neurons",)  # LayerCounts arrays indexed by PE, not by timestep


def _at_step(lc: LayerCounts, t: int) -> LayerCounts:
    """The counts of step t alone (T = 1): every array indexed by timestep sliced."""
    per_step = {f.name: getattr(lc, f.name)[t:t + 1] for f in dataclasses.fields(lc)
                if f.name not in _PER_PE and isinstance(getattr(lc, f.name), np.ndarray)
                and getattr(lc, f.name).shape[:1] == (lc.T,)}
    return dataclasses.replace(lc, T=1, **per_step)


def step_traffic(arch: ArchConfig, mapping: Mapping, lc: LayerCounts, membrane_level: str | None,
                 destinations: int) -> list[dict[str, float]]:
    """Bits per memory level at each timestep: the simulator's ``Traffic`` of the layer priced
    one step at a time (the input image, loaded from DRAM once, is booked on step 0). The steps
    add up to the layer's whole ``Traffic``."""
    lm = mapping.layer(lc.name)
    out = []
    for t in range(lc.T):
        bits = dict(E.snn_layer_cost(arch, mapping, _at_step(lc, t), lm, membrane_level,
                                     destinations).traffic.bits)
        if lc.analog and t > 0:  # a step alone would load the image again
            bits["dram"] -= lc.per_image(lc.input_events)[t] * arch.precision.activation_bits
        out.append(bits)
    return out


def layer_works(arch: ArchConfig, mapping: Mapping, counter: Counter, nodes,
                costs: dict[str, E.LayerCost] | None = None) -> list[LayerWork]:
    """Per synaptic layer, in network order, its :class:`LayerWork` from the counts.
    ``costs``: a dataflow's priced layers (``energy.LayerCost``): its bits per level and its
    NoC transfers, spread evenly over the steps (default: ``scatter``'s traffic step by step
    and the output spikes multicast to the consuming layers' PEs)."""
    cons = consumers(nodes)
    levels = membrane_levels(nodes, mapping)
    synaptic = [n for n in nodes if n.synaptic]
    feeds: dict[str, list[str]] = {}
    for src, dsts in cons.items():
        for d in dsts:
            feeds.setdefault(d, []).append(src)
    groups: dict[tuple[int, int], int] = {}
    p = arch.precision
    out = []
    for n in synaptic:
        lc, lm = counter.layers[n.name], mapping.layer(n.name)
        v_level = levels[n.name]
        dest = E.destinations(mapping, cons, n.name)
        cost = costs.get(n.name) if costs is not None else None
        in_flight = (cost.accesses.in_flight if cost is not None and cost.accesses is not None
                     else None)
        compute = E.compute_cycles(arch, lc, lm, in_flight)
        if cost is not None:
            steps_bits = [{k: v / lc.T for k, v in cost.traffic.bits.items()}] * lc.T
        else:
            steps_bits = step_traffic(arch, mapping, lc, v_level, dest)
        # the busiest PE's SRAM ports are its own: its steps take at least their time (spread
        # evenly over the steps, as the simulator's per-layer model does)
        pe_bits = sum(b["pe_sram"] for b in steps_bits)
        ports = E.memory_cycles(arch, lm, E.Traffic({"register": 0.0, "pe_sram": pe_bits,
                                                     "glb": 0.0, "dram": 0.0}))["pe_sram"]
        compute = np.maximum(compute, ports / lc.T)
        if cost is not None and cost.accesses is not None:
            noc = np.full(lc.T, E.noc_link_cycles(arch, cost.accesses) / lc.T)
        elif lc.neuron == "lif":
            flits = math.ceil(E.packet_bits(lc.neurons, p.spike_bits) / arch.noc.link_bits)
            hops = E.mesh_hops(arch.pes) + max(0, dest - 1)
            noc = lc.per_image(lc.output_spikes) * flits * hops
        else:
            noc = np.zeros(lc.T)
        steps = tuple(StepWork(float(compute[t]), float(steps_bits[t]["glb"]),
                               float(steps_bits[t]["dram"]), float(noc[t]))
                      for t in range(lc.T))
        group = groups.setdefault((lm.pe_first, lm.pes_available), len(groups))
        out.append(LayerWork(n.name, steps, tuple(feeds.get(n.name, ())), group))
    return out


def ann_layer_works(arch: ArchConfig, mapping: Mapping, nodes,
                    costs: list[E.LayerCost]) -> list[LayerWork]:
    """The ANN on the same system model: per synaptic layer one step whose compute is the
    busiest PE's MACs (``LayerCost.compute_cycles``, of the dataflow that was priced) or its
    SRAM ports' time, whose GLB and DRAM bits and NoC transfers are that dataflow's (as for
    the SNN with ``costs``)."""
    cons = consumers(nodes)
    feeds: dict[str, list[str]] = {}
    for src, dsts in cons.items():
        for d in dsts:
            feeds.setdefault(d, []).append(src)
    groups: dict[tuple[int, int], int] = {}
    out = []
    for c in costs:
        lm = mapping.layer(c.name)
        ports = E.memory_cycles(arch, lm, c.traffic)["pe_sram"]
        noc = E.noc_link_cycles(arch, c.accesses) if c.accesses is not None else 0.0
        step = StepWork(max(c.compute_cycles, ports), c.traffic.bits["glb"],
                        c.traffic.bits["dram"], noc)
        group = groups.setdefault((lm.pe_first, lm.pes_available), len(groups))
        out.append(LayerWork(c.name, (step,), tuple(feeds.get(c.name, ())), group))
    return out


def system_timing(arch: ArchConfig, mapping: Mapping, counter: Counter, nodes,
                  unlimited: bool = False, tiles: int = 8,
                  costs: dict[str, E.LayerCost] | None = None) -> SystemTiming:
    """The SNN inference of the counted images on the mapped chip, with the mapping's
    schedule; ``unlimited``: infinite GLB, DRAM and NoC bandwidth (compute-bound);
    ``costs``: a dataflow's priced layers (see :func:`layer_works`)."""
    return simulate_system(layer_works(arch, mapping, counter, nodes, costs),
                           Chip.from_arch(arch, unlimited), mapping.schedule, tiles)

"""Mapping a layer graph onto an accelerator: which PEs compute each layer's output neurons and
which memory level holds its membrane potentials and weights.

Partition (``policy.partition``). A layer's output map (C, H, W) — or (F,) — is cut into
``channel_groups`` contiguous blocks of output channels (features) times ``spatial_tiles``
contiguous blocks of output positions (row-major), one block pair per PE:
``output_channels`` uses min(C, P) groups and no tiles; ``spatial`` min(H·W, P) tiles and one
group (a linear layer has no positions and is split by features); ``auto`` takes min(C, P)
groups and gives the PEs left over to spatial tiles. Block sizes follow ``numpy.array_split``
(the first blocks are one larger). :meth:`LayerMapping.pe_map` gives each output's PE.

Schedule (``policy.schedule``). ``layer_by_layer``: at every timestep the layers run in turn,
each on the whole array, so every layer's state lives in the PEs at once. ``pipelined``: each
layer owns a contiguous group of PEs; PEs go one at a time to the stage with the most ANN MACs
per PE (the pipeline's bottleneck), never more than the layer has outputs; a shortcut conv
shares its target layer's group (it writes into that layer's membranes). With fewer PEs than
layers it falls back to ``layer_by_layer`` with a warning.

Placement (``policy.membrane_level``, ``policy.weight_level``). Membranes persist across
timesteps, and weights are kept for the whole inference, so every layer's data is resident at
once. Membranes are placed first, all layers in network order, then weights: every synaptic
event reads one weight but reads and writes one membrane. Each layer's membranes (weights) go
whole to one level: the policy's level if it fits, else the next one out (register → pe_sram →
glb → dram); ``auto`` starts at the closest level. PE levels are per PE (each PE must hold its
own share; weights are replicated over spatial tiles), the GLB is shared, DRAM is unbounded.
The GLB first reserves the inter-layer stream buffer (:func:`stream_buffer_bytes`).
Whatever lands farther out than asked (for ``auto``: off chip) is a spill: a line in
``warnings`` says what and how much, and one :class:`MappingWarning` summarises them.
"""

from __future__ import annotations

import heapq
import math
import warnings
from dataclasses import asdict, dataclass

import networkx as nx
import numpy as np

from arch_configs import LEVELS, ArchConfig, Precision, load_arch
from model.architectures import Node
from model.checkpoint import Checkpoint

from .graph import layer_graph, synaptic_layers
from .text import format_table, human_bytes

MEMBRANE_LEVELS = LEVELS  # register, pe_sram, glb, dram: closest first
WEIGHT_LEVELS = LEVELS[1:]  # weights never live in the register file
PE_LEVELS = LEVELS[:2]  # per PE; the GLB is shared and DRAM unbounded


class MappingWarning(UserWarning):
    """Data that did not fit where the policy wanted it."""


def nbytes(count: int, bits: int) -> int:
    """Bytes to store ``count`` values of ``bits`` each (packed)."""
    return (count * bits + 7) // 8


def _split(n: int, parts: int) -> list[int]:
    """Sizes of ``numpy.array_split(range(n), parts)``."""
    q, r = divmod(n, parts)
    return [q + 1] * r + [q] * (parts - r)


def partition(out_shape: tuple[int, ...], pes: int, mode: str) -> tuple[int, int]:
    """(channel_groups, spatial_tiles) for an output map on ``pes`` PEs (module docstring)."""
    c = out_shape[0]
    s = math.prod(out_shape[1:])
    if mode == "spatial" and s > 1:
        return 1, min(s, pes)
    g = min(c, pes)
    if mode == "output_channels":
        return g, 1
    return g, max(1, min(s, pes // g))


@dataclass(frozen=True)
class LayerMapping:
    """Where one synaptic layer (conv or linear) lives.

    PEs ``pe_first .. pe_first + pes_used - 1`` compute it (``pes_available`` were given to
    it); ``neurons_per_pe[i]`` outputs go to PE ``pe_first + i``. ``membrane_bytes`` and
    ``weight_bytes`` are stored at ``membrane_level`` / ``weight_level`` (at a PE level the
    weights include their replicas). A shortcut conv (``neuron`` None) has no membranes: it
    adds into its target layer's. ``utilisation`` = outputs / (pes_available × the largest
    PE share): the busy fraction of the layer's PEs if every output costs the same.
    """

    name: str
    kind: str
    neuron: str | None
    out_shape: tuple[int, ...]
    neurons: int
    outputs: int
    params: int
    ann_macs: int
    pe_first: int
    pes_available: int
    channel_groups: int
    spatial_tiles: int
    neurons_per_pe: tuple[int, ...]
    membrane_level: str | None
    membrane_bytes: int
    weight_level: str
    weight_bytes: int
    spilled_bytes: int
    warnings: tuple[str, ...]

    @property
    def pes_used(self) -> int:
        return self.channel_groups * self.spatial_tiles

    @property
    def utilisation(self) -> float:
        return self.outputs / (self.pes_available * max(self.neurons_per_pe))

    def channel_sizes(self) -> tuple[int, ...]:
        """Output channels of each channel group."""
        return tuple(_split(self.out_shape[0], self.channel_groups))

    def position_chunks(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(first position, positions) of each spatial tile: runs of row-major positions."""
        sizes = _split(math.prod(self.out_shape[1:]), self.spatial_tiles)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        return tuple(int(v) for v in starts), tuple(sizes)

    def pe_map(self) -> np.ndarray:
        """The PE index of every output, an int array of shape ``out_shape``."""
        c = self.out_shape[0]
        s = math.prod(self.out_shape[1:])
        group = np.repeat(np.arange(self.channel_groups), _split(c, self.channel_groups))
        tile = np.repeat(np.arange(self.spatial_tiles), _split(s, self.spatial_tiles))
        ids = self.pe_first + group[:, None] * self.spatial_tiles + tile[None, :]
        return ids.reshape(self.out_shape)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(out_shape=list(self.out_shape), neurons_per_pe=list(self.neurons_per_pe),
                 warnings=list(self.warnings), pes_used=self.pes_used,
                 neurons_per_pe_max=max(self.neurons_per_pe),
                 neurons_per_pe_min=min(self.neurons_per_pe),
                 utilisation=self.utilisation)
        return d


@dataclass(frozen=True)
class LevelUsage:
    """Bytes resident at one memory level. For PE levels ``capacity_bytes`` is summed over all
    PEs and ``peak_pe_bytes`` is the fullest PE; DRAM's capacity is None (unbounded)."""

    level: str
    capacity_bytes: int | None
    used_bytes: int
    peak_pe_bytes: int | None


@dataclass(frozen=True)
class Mapping:
    """A network laid onto a chip: per-layer placement in network order, level usage, buffers.

    ``buffer_bytes`` is the SNN's inter-layer stream buffer (in ``buffer_level``);
    ``ann_buffer_bytes`` the ANN baseline's activation buffer on the same chip and weight
    placement (in ``ann_buffer_level``). ``warnings`` lists every spill, one line each.
    """

    arch: str
    model: dict
    pes: int
    schedule: str
    partition: str
    membrane_policy: str
    weight_policy: str
    layers: tuple[LayerMapping, ...]
    levels: tuple[LevelUsage, ...]
    buffer_bytes: int
    buffer_level: str
    ann_buffer_bytes: int
    ann_buffer_level: str
    warnings: tuple[str, ...]

    def layer(self, name: str) -> LayerMapping:
        for lm in self.layers:
            if lm.name == name:
                return lm
        raise KeyError(f"no layer {name!r} in this mapping")

    def level(self, name: str) -> LevelUsage:
        return next(u for u in self.levels if u.level == name)

    @property
    def spilled_bytes(self) -> int:
        return sum(lm.spilled_bytes for lm in self.layers)

    @property
    def on_chip(self) -> bool:
        """True when nothing (membranes, weights, buffer) lives in DRAM."""
        return self.level("dram").used_bytes == 0 and self.buffer_level != "dram"

    def to_dict(self) -> dict:
        return {"arch": self.arch, "model": {k: list(v) if isinstance(v, tuple) else v
                                             for k, v in self.model.items()},
                "pes": self.pes,
                "policy": {"schedule": self.schedule, "partition": self.partition,
                           "membrane_level": self.membrane_policy,
                           "weight_level": self.weight_policy},
                "layers": [lm.to_dict() for lm in self.layers],
                "levels": [asdict(u) for u in self.levels],
                "buffer": {"bytes": self.buffer_bytes, "level": self.buffer_level,
                           "ann_bytes": self.ann_buffer_bytes,
                           "ann_level": self.ann_buffer_level},
                "spilled_bytes": self.spilled_bytes, "on_chip": self.on_chip,
                "warnings": list(self.warnings)}

    def table(self) -> str:
        """The placement for people: one row per layer, then the levels."""
        rows = [[lm.name, lm.kind, lm.neurons, lm.params, lm.ann_macs,
                 f"{lm.pes_used}/{lm.pes_available}", max(lm.neurons_per_pe),
                 lm.membrane_level or "-", human_bytes(lm.membrane_bytes) if lm.neurons else "-",
                 lm.weight_level, human_bytes(lm.weight_bytes), f"{lm.utilisation:.0%}"]
                for lm in self.layers]
        head = (f"placement on {self.arch}: {self.pes} PEs, {self.schedule}, partition "
                f"{self.partition}, membranes {self.membrane_policy}, weights "
                f"{self.weight_policy}")
        t1 = format_table(["layer", "kind", "neurons", "weights", "MACs", "PEs", "n/PE",
                           "V at", "V bytes", "W at", "W bytes", "util"], rows, head)
        lv = [[u.level, human_bytes(u.capacity_bytes) if u.capacity_bytes is not None else "-",
               human_bytes(u.used_bytes),
               f"{u.used_bytes / u.capacity_bytes:.0%}" if u.capacity_bytes else "-"]
              for u in self.levels]
        t2 = format_table(["level", "capacity", "used", "full"], lv,
                          f"memory levels (stream buffer {human_bytes(self.buffer_bytes)} in "
                          f"{self.buffer_level}; ANN buffer {human_bytes(self.ann_buffer_bytes)} "
                          f"in {self.ann_buffer_level})")
        return t1 + "\n\n" + t2


def _stream_bits(g: nx.DiGraph, u: str, kind: str, prec: Precision, ann: bool) -> int:
    """Bits per element of the stream node ``u`` emits."""
    if ann or kind == "analog":
        return prec.activation_bits
    if kind == "spikes":
        return prec.spike_bits
    if kind == "current":
        return prec.membrane_bits
    while g.nodes[u]["kind"] != "avgpool":  # pooled spikes: find the pool (through flatten)
        u = next(iter(g.predecessors(u)))
    k = g.nodes[u]["kernel"]
    return prec.spike_bits + math.ceil(math.log2(k * k))


def stream_buffer_bytes(g: nx.DiGraph, prec: Precision, ann: bool = False) -> int:
    """Inter-layer buffer, bytes: the input image (kept for all T steps) plus the largest
    (input + residual + output) streams of any one synaptic layer. Stream widths: analog
    pixels ``activation_bits``, spikes ``spike_bits``, pooled spikes ``spike_bits`` +
    log2(kernel²), currents ``membrane_bits``; ``ann=True`` puts every stream at
    ``activation_bits`` (the ANN baseline). An integrate layer's output is its membranes."""
    image = nbytes(math.prod(g.graph["input_shape"]), prec.activation_bits)
    peak = 0
    for name in synaptic_layers(g):
        total = 0
        for u, _, e in g.in_edges(name, data=True):
            if g.nodes[u]["kind"] == "add":
                u = g.nodes[u]["operand"]
            if g.nodes[u]["kind"] != "input":
                total += nbytes(math.prod(e["shape"]), _stream_bits(g, u, e["kind"], prec, ann))
        d = g.nodes[name]
        if d["neuron"] != "integrate":
            kind = "spikes" if d["neuron"] == "lif" else "current"
            total += nbytes(d["outputs"], _stream_bits(g, name, kind, prec, ann))
        peak = max(peak, total)
    return image + peak


def _pipeline_groups(g: nx.DiGraph, layers: list[str], pes: int) -> dict[str, tuple[int, int]]:
    """(first PE, PE count) per layer for the pipelined schedule; {} when P < stages."""
    stage_of = {}
    for name in layers:
        d = g.nodes[name]
        operand = g.nodes[d["residual"]]["operand"] if d["residual"] else None
        if operand in layers and g.nodes[operand]["neuron"] is None:
            stage_of[operand] = name  # a shortcut conv joins the layer it feeds
        stage_of.setdefault(name, name)
    stages = list(dict.fromkeys(stage_of[n] for n in layers))
    if len(stages) > pes:
        return {}
    work = {s: 0 for s in stages}
    cap = {s: 1 for s in stages}
    for n in layers:
        work[stage_of[n]] += g.nodes[n]["ann_macs"]
        cap[stage_of[n]] = max(cap[stage_of[n]], g.nodes[n]["outputs"])
    alloc = {s: 1 for s in stages}
    heap = [(-work[s], i, s) for i, s in enumerate(stages) if cap[s] > 1]
    heapq.heapify(heap)
    for _ in range(pes - len(stages)):
        if not heap:
            break
        _, i, s = heapq.heappop(heap)
        alloc[s] += 1
        if alloc[s] < cap[s]:
            heapq.heappush(heap, (-work[s] / alloc[s], i, s))
    first, start = {}, 0
    for s in stages:
        first[s] = start
        start += alloc[s]
    return {n: (first[stage_of[n]], alloc[stage_of[n]]) for n in layers}


@dataclass(frozen=True)
class _Demand:
    """Bytes one layer's membranes or weights need: ``per_pe[i]`` on PE ``ids[i]`` at a PE
    level (replicas included), ``total`` at a shared level."""

    ids: np.ndarray
    per_pe: np.ndarray
    total: int


class _Store:
    """Bytes used per PE (register, pe_sram) and in the GLB and DRAM."""

    def __init__(self, arch: ArchConfig):
        self.arch = arch
        self.pe = {lv: np.zeros(arch.pes, dtype=np.int64) for lv in PE_LEVELS}
        self.glb = 0
        self.dram = 0

    def free(self, level: str, ids: np.ndarray) -> int:
        """Free bytes at a level: per PE (on the fullest of ``ids``) or in the shared GLB."""
        if level in PE_LEVELS:
            return int(self.arch.capacity_bytes(level) - self.pe[level][ids].max())
        return self.arch.global_buffer.size_bytes - self.glb

    def fits(self, level: str, d: _Demand) -> bool:
        if level in PE_LEVELS:
            return bool(np.all(self.pe[level][d.ids] + d.per_pe
                               <= self.arch.capacity_bytes(level)))
        if level == "glb":
            return self.glb + d.total <= self.arch.global_buffer.size_bytes
        return True

    def put(self, level: str, d: _Demand) -> int:
        """Store; return the bytes stored (replicas included at PE levels)."""
        if level in PE_LEVELS:
            self.pe[level][d.ids] += d.per_pe
            return int(d.per_pe.sum())
        if level == "glb":
            self.glb += d.total
        else:
            self.dram += d.total
        return d.total

    def usage(self) -> tuple[LevelUsage, ...]:
        out = [LevelUsage(lv, self.arch.capacity_bytes(lv) * self.arch.pes,
                          int(self.pe[lv].sum()), int(self.pe[lv].max())) for lv in PE_LEVELS]
        out.append(LevelUsage("glb", self.arch.global_buffer.size_bytes, self.glb, None))
        out.append(LevelUsage("dram", None, self.dram, None))
        return tuple(out)


def _place(store: _Store, name: str, what: str, policy: str, levels: tuple[str, ...],
           d: _Demand) -> tuple[str, int, str | None]:
    """Put one layer's membranes or weights at the first level that fits; return (level,
    bytes stored, spill message or None)."""
    tried = levels if policy == "auto" else levels[levels.index(policy):]
    notes = []
    for level in tried:
        if store.fits(level, d):
            break
        need = f"{human_bytes(d.per_pe.max())} per PE" if level in PE_LEVELS \
            else human_bytes(d.total)
        notes.append(f"{level} needs {need} and has "
                     f"{human_bytes(max(store.free(level, d.ids), 0))} free")
    stored = store.put(level, d)
    spilled = level != tried[0] and (policy != "auto" or level == "dram")
    msg = (f"{name}: {what} ({human_bytes(stored)}) spilled from {tried[0]} to {level}: "
           + "; ".join(notes)) if spilled else None
    return level, stored, msg


@dataclass(frozen=True)
class _Split:
    """A layer's PEs: ``groups`` channel blocks of ``channels`` sizes times ``tiles`` position
    blocks of ``positions`` sizes, on PEs ``first ..`` of the ``available`` given to it."""

    first: int
    available: int
    groups: int
    tiles: int
    channels: tuple[int, ...]
    positions: tuple[int, ...]

    @property
    def ids(self) -> np.ndarray:
        return np.arange(self.first, self.first + self.groups * self.tiles)

    @property
    def outputs_per_pe(self) -> list[int]:
        return [c * p for c in self.channels for p in self.positions]


def map_network(source: nx.DiGraph | Checkpoint | tuple[Node, ...],
                arch: ArchConfig | str, neuron_state: bool = True,
                activation_streams: bool | None = None) -> Mapping:
    """Lay a network (layer graph, checkpoint or node list) onto a chip (config or spec)
    under the config's policy. Never fails for lack of space: what does not fit spills
    outward, listed in ``Mapping.warnings`` and summarised by one :class:`MappingWarning`.

    ``neuron_state=False``: no membranes persist (an ANN, or an SNN whose dataflow keeps
    them inside a tile, time-batched); ``activation_streams`` (default: ``not
    neuron_state``): the stream buffer holds ANN activations instead of spikes."""
    g = source if isinstance(source, nx.DiGraph) else layer_graph(source)
    arch = load_arch(arch) if isinstance(arch, str) else arch
    pol, prec, pes = arch.policy, arch.precision, arch.pes
    layers = synaptic_layers(g)
    notes: list[str] = []

    schedule = pol.schedule
    groups = {n: (0, pes) for n in layers}
    if schedule == "pipelined":
        groups = _pipeline_groups(g, layers, pes)
        if not groups:
            notes.append(f"pipelined schedule needs one PE per layer ({len(layers)} stages) "
                         f"but the array has {pes}: mapped layer_by_layer instead")
            schedule = "layer_by_layer"
            groups = {n: (0, pes) for n in layers}

    store = _Store(arch)
    ann_streams = (not neuron_state) if activation_streams is None else activation_streams
    buffer = stream_buffer_bytes(g, prec, ann=ann_streams)
    shared = _Demand(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), buffer)
    buffer_level = "glb" if store.fits("glb", shared) else "dram"
    store.put(buffer_level, shared)
    if buffer_level == "dram":
        notes.append(f"stream buffer ({human_bytes(buffer)}) does not fit the GLB "
                     f"({human_bytes(arch.global_buffer.size_bytes)}): kept in dram")

    splits = {}
    for n in layers:
        out = g.nodes[n]["out_shape"]
        first, avail = groups[n]
        cg, st = partition(out, avail, pol.partition)
        splits[n] = _Split(first, avail, cg, st, tuple(_split(out[0], cg)),
                           tuple(_split(math.prod(out[1:]), st)))

    placed: dict[tuple[str, str], tuple[str, int, str | None]] = {}
    for n in layers:  # membranes first: each synaptic event reads and writes one
        sp, d = splits[n], g.nodes[n]
        if neuron_state and d["neurons"]:
            per_pe = np.array([nbytes(k, prec.membrane_bits) for k in sp.outputs_per_pe])
            placed[n, "V"] = _place(store, n, "membranes", pol.membrane_level, MEMBRANE_LEVELS,
                                    _Demand(sp.ids, per_pe, nbytes(d["neurons"],
                                                                   prec.membrane_bits)))
    for n in layers:
        sp, d = splits[n], g.nodes[n]
        fan_in = d["params"] // d["out_shape"][0]
        per_pe = np.repeat([nbytes(c * fan_in, prec.weight_bits) for c in sp.channels],
                           sp.tiles)
        placed[n, "W"] = _place(store, n, "weights", pol.weight_level, WEIGHT_LEVELS,
                                _Demand(sp.ids, per_pe, nbytes(d["params"], prec.weight_bits)))

    result = []
    for n in layers:
        sp, d = splits[n], g.nodes[n]
        v_level, v_bytes, v_msg = placed.get((n, "V"), (None, 0, None))
        w_level, w_bytes, w_msg = placed[n, "W"]
        msgs = tuple(m for m in (v_msg, w_msg) if m)
        notes += msgs
        result.append(LayerMapping(
            name=n, kind=d["kind"], neuron=d["neuron"], out_shape=tuple(d["out_shape"]),
            neurons=d["neurons"], outputs=d["outputs"], params=d["params"],
            ann_macs=d["ann_macs"], pe_first=sp.first, pes_available=sp.available,
            channel_groups=sp.groups, spatial_tiles=sp.tiles,
            neurons_per_pe=tuple(sp.outputs_per_pe), membrane_level=v_level,
            membrane_bytes=v_bytes, weight_level=w_level, weight_bytes=w_bytes,
            spilled_bytes=(v_bytes if v_msg else 0) + (w_bytes if w_msg else 0),
            warnings=msgs))

    ann_buffer = stream_buffer_bytes(g, prec, ann=True)
    ann_free = arch.global_buffer.size_bytes - sum(
        lm.weight_bytes for lm in result if lm.weight_level == "glb")
    model = {k: g.graph.get(k) for k in ("arch", "dataset", "stage", "timesteps",
                                          "input_shape", "num_classes")}
    mapping = Mapping(arch=arch.name, model=model, pes=pes, schedule=schedule,
                      partition=pol.partition, membrane_policy=pol.membrane_level,
                      weight_policy=pol.weight_level, layers=tuple(result),
                      levels=store.usage(), buffer_bytes=buffer, buffer_level=buffer_level,
                      ann_buffer_bytes=ann_buffer,
                      ann_buffer_level="glb" if ann_buffer <= ann_free else "dram",
                      warnings=tuple(notes))
    if notes:
        spilled = [lm for lm in result if lm.spilled_bytes]
        names = ", ".join(lm.name for lm in spilled[:6]) + (", ..." if len(spilled) > 6 else "")
        warnings.warn(
            f"{model['arch'] or 'network'} on {arch.name}: {len(notes)} placement problem(s); "
            f"{human_bytes(mapping.spilled_bytes)} spilled"
            + (f" ({names})" if spilled else "") + f"; first: {notes[0]}",
            MappingWarning, stacklevel=2)
    return mapping

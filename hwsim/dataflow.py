"""The dataflow (loop-nest) cost model, one for both sides: every named dataflow's loop nest and
the accesses it makes, per operand and memory level, for one layer on the chip.

A layer (:class:`tiles.Geometry`: K output channels of P×Q positions from C input channels with
a k×k kernel) is split over PEs by the mapping: each PE owns a *block* of Kb channels × one
chunk of consecutive output positions. Inside a PE, a dataflow is a loop nest over that block
whose innermost tile lives in the PE's register file; the mapper (:func:`best_tiling`) picks
the tile sizes. Operands: ``W`` weights, ``I`` input stream (spikes or activations), ``V``
membranes / partial sums / currents, ``O`` output stream, ``X`` the input image from DRAM.
Each is read and written at *levels* (register, pe_sram, glb, dram); :func:`energy.price` is
the one place where these counts meet picojoules. Every count is per image.

Homes: weights live where the placement put them (``weight_level``) and are read from there at
every fill the loop nest makes; a layer whose weights live in DRAM but fit the free GLB is
staged there once per pass over the layer (:func:`_weights_from_home`); the input and output
streams live in the stream buffer (``stream_level``); SNN membranes live at the placement's
``membrane_level`` between the visits the loop nest makes. Every read out of a shared level
(GLB, DRAM) crosses the NoC to the PEs that take it; outputs cross it once to the buffer.
Sparse inputs are exact: events (SNN spikes, non-zero ANN activations when skipping) in every
tile's input window and the accumulates on every tile come from the real maps
(:class:`tiles.Activity`).

Dense (non-skipping) ANN dataflows run the PEs in lockstep, so a weight read from a shared
level (GLB, DRAM) is multicast to the PEs of all spatial chunks that need it at the same
moment; event-driven loops (every SNN dataflow, zero-skipping ANN) are not in lockstep and
read per PE. Inputs are multicast over the channel groups on every dataflow (they all consume
the same stream). Loop nests, per PE block (docs/hwsim.md writes out the formulas):

``scatter`` (SNN, the Lemaire-style baseline; also the ANN baseline of old reports)::

    for t in T: for event e: for tap, k: V[k, pos] (at membrane level) += W[k, c, tap]
                for neuron: leak, compare, reset (V read + write at membrane level)
    (the output layer: a leaky integrator leaks each neuron every step; a LIF output also
    increments a spike counter per spike, :func:`readout_ops`; in every nest alike)

``os`` (output-stationary)::

    [for t in T:]  for tile of kt channels × pt positions (in registers):
        [SNN: read V tile from membrane level]
        for c: for event/input of channel c in window(tile): read it (stream buffer or staged
                                                                      PE SRAM copy)
            for tap, k in kt: at W[k, c, tap]'s first use in this tile (and step): read it
                              from its home into a register; tile[k, pos] += x·w
        [SNN: LIF in registers, write V back]  [ANN: ReLU, write the outputs]

    (weight reads from home: Σ_tiles min(uses, C·taps(tile)·steps) per output channel, exact
    when dense, a bound for events; where the kt×k×k weights of a channel do not fit the
    registers beside the tile's partial sums, one read from home per operation)

``ws`` (weight-stationary, ANN)::

    for tile of pt positions (its Kb×pt psums at ``local``: register, PE SRAM or GLB):
        for chunk of kt × ct weights (all k×k taps, in registers; read from home):
            for input of channels ct in window(tile): read it
                for tap, k in kt: psum[k, pos] += x·w
        read the finished psums, ReLU, write the outputs

``rs`` (row-stationary after Eyeriss, ANN)::

    for kt channels: for output row segment of qs positions (psums in registers):
        for c: for ky: read the filter rows W[kt, c, ky, :] from home into registers
            slide the input row segment (each input read once) through them
        ReLU, write the segment's outputs

``time_batched`` (SNN; PTB/LoAS-style)::

    for tile of kt channels × pt positions (T currents at a local level, V in registers):
        for c in C: read W[kt, c, :, :] from home into registers (once per tile: all T share it)
            for event of channel c in window(tile), any step t: read it
                for tap, k: I_t[k, pos] += w
        for t in T: LIF (V = λV + I_t, compare, reset) in registers; spikes out

    (a tile reads all its weights, whether or not a channel has events in its window)

``*_skip`` ANN variants skip zero activations: they are neither fetched nor multiplied, and
compressed streams carry a 1-bit-per-element presence mask.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from arch_configs.schema import ANN_DATAFLOWS, SNN_DATAFLOWS  # noqa: F401 (one definition)

from .tiles import Activity, chunks, tile_taps

SHARED = ("glb", "dram")


@dataclass
class Accesses:
    """What one layer does on one dataflow, per image: memory accesses per
    (operand, level, "read"|"write", bits), operations per (op, bits), NoC transfers per
    operand as (packets, bits, destination PEs), and ``in_flight``: the partial sums the
    busiest PE's tile keeps in flight. Each accumulator owns one partial-sum register and one
    output's reduction is never split over accumulators, so a PE does at most
    min(accumulators, in_flight) accumulates a cycle (``energy.lanes``; inf: no tile limit)."""

    mem: dict[tuple[str, str, str, int], float] = field(default_factory=dict)
    ops: dict[tuple[str, int], float] = field(default_factory=dict)
    noc: list[tuple[str, float, int, int]] = field(default_factory=list)
    in_flight: float = math.inf

    def read(self, operand: str, level: str, count: float, bits: int) -> None:
        self._add(operand, level, "read", count, bits)

    def write(self, operand: str, level: str, count: float, bits: int) -> None:
        self._add(operand, level, "write", count, bits)

    def rmw(self, operand: str, level: str, count: float, bits: int) -> None:
        """A read-modify-write: one read and one write."""
        self.read(operand, level, count, bits)
        self.write(operand, level, count, bits)

    def _add(self, operand, level, action, count, bits) -> None:
        if count:
            key = (operand, level, action, int(bits))
            self.mem[key] = self.mem.get(key, 0.0) + float(count)

    def op(self, op: str, count: float, bits: int) -> None:
        if count:
            self.ops[(op, bits)] = self.ops.get((op, bits), 0.0) + float(count)

    def count(self, operand: str, level: str | None = None, action: str | None = None) -> float:
        """Total accesses of an operand (at a level, of one action)."""
        return sum(v for (o, lv, a, _), v in self.mem.items() if o == operand
                   and (level is None or lv == level) and (action is None or a == action))

    def bits_at(self, level: str) -> float:
        return sum(v * b for (_, lv, _, b), v in self.mem.items() if lv == level)


@dataclass(frozen=True)
class Tiling:
    """The mapper's choice for one layer: ``k`` output channels × ``p`` output positions per
    register tile (``rs``: ``p`` is the row-segment length), ``c`` input channels per weight
    tile (``ws``), ``stage``: the PE block's input window is staged in PE SRAM, ``local``: the
    level of ws partial sums or time-batched currents."""

    dataflow: str
    k: int = 1
    p: int = 1
    c: int = 1
    stage: bool = False
    local: str = "register"

    def __post_init__(self):
        if min(self.k, self.p, self.c) < 1:
            raise ValueError(f"tile sizes must be >= 1, got k={self.k} p={self.p} c={self.c}")

    def describe(self) -> str:
        df = self.dataflow
        if df == "scatter":
            return "scatter"
        s = f"{df} k{self.k}"
        s += {"ws": f" c{self.c} p{self.p}", "rs": f" q{self.p}"}.get(
            df.removesuffix("_skip"), f" p{self.p}")
        if df.removesuffix("_skip") == "ws" or df == "time_batched":
            s += f" @{self.local}"
        return s + (" staged" if self.stage else "")


@dataclass(frozen=True)
class LayerSpec:
    """One layer as the dataflow model sees it.

    ``activity``: the real events (SNN spikes summed over T; ANN non-zero activations; dense
    for an analog input or a non-skipping ANN) and ``dense``: the same layer fully dense (for
    masks and staging sizes); ``groups``: output channels of each channel group;
    ``chunk_starts``/``chunk_sizes``: the spatial chunks of output positions. Every group has
    one PE at every chunk. ``repeat``: how often the activity's work is done (an analog SNN
    layer: T, or 1 computed once; otherwise 1, spikes are summed over T already);
    ``state_steps``: steps at which the neuron state is visited (SNN: T; ANN: 0); ``lif``:
    leak/compare/reset each step; ``stored_current``: an analog layer computed once keeps its
    current at the membrane level. Free space: ``free_register_bits`` and ``free_pe_bytes`` per
    PE, ``free_glb_bytes`` shared. Widths in bits. ``batched_stream_level``: where the stream
    lives when a layer needs all T steps of its input at once (time-batched). ``bias``: a bias
    current is added to every output (one add per neuron each time its current is formed).
    ``leaky``: an integrating output with λ ≠ 1 (one leak per neuron and step);
    ``spike_readout``: a LIF output whose spikes are counted per neuron (:func:`readout_ops`).
    """

    name: str
    side: str
    activity: Activity
    dense: Activity
    groups: tuple[int, ...]
    chunk_starts: tuple[int, ...]
    chunk_sizes: tuple[int, ...]
    weight_level: str
    stream_level: str
    membrane_level: str | None
    free_register_bits: int
    free_pe_bytes: int
    free_glb_bytes: int
    weight_bits: int
    membrane_bits: int
    mult_bits: int
    input_bits: int
    input_packet_bits: int
    output_bits: int
    output_packet_bits: int
    repeat: int = 1
    state_steps: int = 0
    lif: bool = False
    analog: bool = False
    stored_current: bool = False
    skip_outputs: bool = False
    batched_stream_level: str = "glb"
    bias: bool = False
    leaky: bool = False
    spike_readout: bool = False

    @property
    def geometry(self):
        return self.activity.geometry

    @property
    def neurons(self) -> int:
        return self.geometry.outputs

    @functools.cached_property
    def _tiles(self) -> dict:
        return {}

    def tile_events(self, size: int | None, rows: bool = False) -> tuple[float, float, int]:
        """(events, dense elements, tiles) summed over the input windows of every spatial
        chunk's tiles of ``size`` positions (``rows``: cut at row ends; None: the chunks
        themselves). Per image; cached (the mapper asks for each size many times)."""
        key = (size, rows)
        if key not in self._tiles:
            if size is None:
                st, sz = np.asarray(self.chunk_starts), np.asarray(self.chunk_sizes)
            else:
                st, sz = segments(self, size, rows)
            self._tiles[key] = (float(self.activity.window_events(st, sz).sum()),
                                float(self.dense.window_events(st, sz).sum()), len(st))
        return self._tiles[key]

    def weight_fills(self, size: int, steps: int) -> float:
        """Per image, Σ over every spatial chunk's tiles of ``size`` positions of
        min(the tile's accumulates of one output channel (× ``repeat``), C · taps(tile) ·
        ``steps``): the weights of one output channel a tile reads from home when each is read
        once per tile and step, at its first use, and kept in a register for the tile's other
        positions. Exact for a dense tile (every tap some position uses, of every channel);
        for sparse events an upper bound (a weight is read at most once per use and at most
        once per tile and step; events are not recorded per channel). Cached."""
        key = ("weights", size, steps)
        if key not in self._tiles:
            st, sz = segments(self, size)
            uses = self.activity.chunk_fanin(st, sz) * self.repeat
            distinct = self.geometry.C * tile_taps(self.geometry, st, sz) * steps
            self._tiles[key] = float(np.minimum(uses, distinct).sum())
        return self._tiles[key]

    def in_flight(self, k: int, p: int) -> int:
        """Partial sums a tile of ``k`` channels × ``p`` positions keeps in flight on the
        busiest PE (its block caps both)."""
        return min(k, max(self.groups)) * min(p, max(self.chunk_sizes))

    @functools.cached_property
    def window_positions(self) -> int:
        """Input positions in the largest spatial chunk's window (staging capacity)."""
        g = self.geometry
        ones = Activity(g, np.ones((g.H, g.W)), np.zeros((g.P, g.Q)), 0.0)
        return int(ones.window_events(np.asarray(self.chunk_starts),
                                      np.asarray(self.chunk_sizes)).max())


# --------------------------------------------------------------------------- shared pieces
def pow2_upto(n: int) -> list[int]:
    """1, 2, 4, … below ``n``, and ``n`` itself."""
    out, v = [], 1
    while v < n:
        out.append(v)
        v *= 2
    return out + [max(1, n)]


def _ktiles(spec: LayerSpec, kt: int) -> tuple[int, float]:
    """(k-tiles of the largest group, Σ over every PE of its k-tiles ÷ chunks): the passes a
    multicast stream makes, and the passes all PEs of one chunk make together."""
    kb = np.asarray(spec.groups)
    n = -(-kb // kt)
    return int(n.max()), float(n.sum())


def segments(spec: LayerSpec, size: int, rows: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Sub-chunks of ≤ ``size`` positions of every spatial chunk (``rows``: also cut at the
    ends of output rows, for row segments)."""
    Q = spec.geometry.Q
    starts, sizes = [], []
    for s0, n in zip(spec.chunk_starts, spec.chunk_sizes):
        if rows:
            cuts = np.unique(np.concatenate([[s0, s0 + n],
                                             np.arange((s0 // Q + 1) * Q, s0 + n, Q)]))
            pieces = zip(cuts[:-1], np.diff(cuts))
        else:
            pieces = [(s0, n)]
        for a, m in pieces:
            st, sz = chunks(int(m), size, int(a))
            starts.append(st)
            sizes.append(sz)
    return np.concatenate(starts), np.concatenate(sizes)


def counter_bits(T: int) -> int:
    """Width of a spike counter that counts up to T spikes: ⌈log2(T + 1)⌉ bits."""
    return max(1, math.ceil(math.log2(T + 1)))


def readout_ops(acc: Accesses, spikes: float, T: int) -> None:
    """A LIF output's readout: per output spike one increment of that neuron's spike counter
    (an integer add, ``count``, and a read + write of the counter in the register file)."""
    bits = counter_bits(T)
    acc.op("count", spikes, bits)
    acc.rmw("O", "register", spikes, bits)


def _macs(spec: LayerSpec) -> float:
    """Multiply-accumulates (ANN, analog) or accumulates (spikes) per image, with repeats."""
    return spec.activity.accumulates_per_channel * spec.geometry.K * spec.repeat


def _stage_fits(spec: LayerSpec, reserved_bits: float = 0.0) -> bool:
    need = spec.window_positions * spec.geometry.C * spec.input_bits
    return need + reserved_bits <= spec.free_pe_bytes * 8


def _inputs(spec: LayerSpec, acc: Accesses, window_reads: float, dense_reads: float,
            kt: int, stage: bool, skip: bool, level: str | None = None) -> None:
    """Input stream reads for a loop nest that reads, per k-tile pass, ``window_reads``
    events (``dense_reads`` elements when dense) summed over every chunk's tiles. The channel
    groups share (multicast) the stream; a staged window is read once from the stream, written
    into each PE's SRAM, and the passes read that copy. A compressed stream (``skip``) carries
    a 1-bit presence mask per element with every read. ``level``: the stream's level
    (default ``spec.stream_level``). What leaves a shared level crosses the NoC to the PEs
    that take it (every channel group)."""
    kmax, kall = _ktiles(spec, kt)
    rep = spec.repeat
    level, bits = level or spec.stream_level, spec.input_packet_bits
    groups = len(spec.groups)
    if stage:
        block, block_dense, _ = spec.tile_events(None)
        shared = [(block * rep, bits)] + ([(block_dense * rep, 1)] if skip else [])
        local = [(window_reads * kall * rep, bits)] + (
            [(dense_reads * kall * rep, 1)] if skip else [])
        for (n, b), (m, _) in zip(shared, local):
            acc.read("I", level, n, b)
            acc.write("I", "pe_sram", n * groups, b)
            acc.read("I", "pe_sram", m, b)
            acc.noc.append(("I", n, b, groups))
    else:
        for n, b in [(window_reads * kmax * rep, bits)] + (
                [(dense_reads * kmax * rep, 1)] if skip else []):
            acc.read("I", level, n, b)
            acc.noc.append(("I", n, b, groups))


def _weights_from_home(spec: LayerSpec, acc: Accesses, per_pe_reads: float,
                       lockstep: bool, passes: int = 1) -> None:
    """Weight reads at the weights' home: ``per_pe_reads`` summed over all PEs; dense lockstep
    loops multicast a shared level's read to every spatial chunk. Reads from a shared level
    cross the NoC to the PEs that take them.

    Weights living in DRAM whose layer fits the free GLB are staged there: read from DRAM and
    written to the GLB once per ``passes`` (the passes the loop nest makes over the whole
    layer: 1 per image for the ANN and a time-batched SNN, T for an SNN that runs step by
    step with other layers in between), and the loop nest's reads go to the GLB copy; a layer
    too large for the GLB is read from DRAM at every fill."""
    level = spec.weight_level
    layer_bytes = spec.geometry.weights * spec.weight_bits / 8
    if level == "dram" and layer_bytes <= spec.free_glb_bytes:
        n = spec.geometry.weights * passes
        acc.read("W", "dram", n, spec.weight_bits)
        acc.write("W", "glb", n, spec.weight_bits)
        level = "glb"
    n, dests = per_pe_reads, 1
    if lockstep and level in SHARED:
        n, dests = per_pe_reads / len(spec.chunk_starts), len(spec.chunk_starts)
    acc.read("W", level, n, spec.weight_bits)
    if level in SHARED:
        acc.noc.append(("W", n, spec.weight_bits, dests))


def _operand_reads(spec: LayerSpec, acc: Accesses, macs: float) -> None:
    """A multi-bit input (ANN activation, analog pixel) is read from the register file by
    every MAC that uses it; a spike is control (it selects weights and targets) and is not."""
    if spec.side == "ann" or spec.analog:
        acc.read("I", "register", macs, spec.input_bits)


def _compute(spec: LayerSpec, acc: Accesses, macs: float) -> None:
    """Operations: a MAC (mult + add) per synaptic operation where inputs are multi-bit
    (ANN, analog input), an add per accumulate of a spike."""
    if spec.side == "ann" or spec.analog:
        acc.op("mult", macs, spec.mult_bits)
    acc.op("add", macs, spec.membrane_bits)
    extra = spec.activity.extra_accumulates
    if extra:  # identity shortcut: one add per event, no weight
        acc.op("add", extra, spec.membrane_bits)
        acc.rmw("V", "register", extra, spec.membrane_bits)


def _outputs(spec: LayerSpec, acc: Accesses, level: str | None = None) -> None:
    """The output stream: SNN spikes as address-event packets, ANN activations dense (or
    non-zero values + a presence mask when the consumer skips zeros), sent over the NoC to the
    stream buffer (``level``, default ``spec.stream_level``) and written there once (the
    consumer's loop nest reads it back and multicasts it to its PEs); the SNN's LIF phase."""
    g = spec.geometry
    level = level or spec.stream_level
    if spec.analog:  # the input image, loaded from DRAM once per inference
        acc.read("X", "dram", g.C * g.H * g.W, spec.input_bits)
    if spec.side == "snn":
        n = g.outputs
        if spec.lif:
            acc.op("leak", n * spec.state_steps, spec.membrane_bits)
            acc.op("compare", n * spec.state_steps, spec.membrane_bits)
            acc.op("add", spec.activity.output_events, spec.membrane_bits)  # soft reset
            acc.write("O", level, spec.activity.output_events, spec.output_packet_bits)
            acc.noc.append(("O", spec.activity.output_events, spec.output_packet_bits,
                            1))
        elif spec.leaky:  # a leaky output integrator: a[t] = λ·a[t-1] + I[t]
            acc.op("leak", n * spec.state_steps, spec.membrane_bits)
        if spec.spike_readout:
            readout_ops(acc, spec.activity.output_events, spec.state_steps)
        if spec.analog:  # the (stored or recomputed) current added at every step
            acc.op("add", n * spec.state_steps, spec.membrane_bits)
        if spec.bias:  # into each current formed: every step, or as often as it is computed
            acc.op("add", n * (spec.repeat if spec.analog else spec.state_steps),
                   spec.membrane_bits)
        return
    if spec.bias:
        acc.op("add", g.outputs, spec.membrane_bits)
    if spec.output_bits == 0:
        return
    if spec.skip_outputs:
        nz = spec.activity.output_events
        acc.write("O", level, nz, spec.output_bits)
        acc.write("O", level, g.outputs, 1)
        bits = nz * spec.output_bits + g.outputs
        acc.noc.append(("O", 1.0, int(math.ceil(bits)), 1))
    else:
        acc.write("O", level, g.outputs, spec.output_bits)
        acc.noc.append(("O", float(g.outputs), spec.output_bits, 1))


def _state(spec: LayerSpec, acc: Accesses) -> None:
    """SNN membranes kept at their home between visits: every neuron read and written once per
    step (os); an analog layer computed once also keeps its current there."""
    if spec.side != "snn" or not spec.state_steps:
        return
    n = spec.neurons
    level = spec.membrane_level or "register"
    acc.rmw("V", level, n * spec.state_steps, spec.membrane_bits)
    acc.rmw("V", "register", n * spec.state_steps, spec.membrane_bits)  # the LIF in registers
    if spec.stored_current:
        acc.write("V", level, n, spec.membrane_bits)
        acc.read("V", level, n * spec.state_steps, spec.membrane_bits)


def _begin(spec: LayerSpec, t: Tiling, size: int | None, rows: bool = False,
           level: str | None = None) -> tuple[Accesses, float, int]:
    """What every nest does first: the input stream over tiles of ``size`` positions (None:
    whole spatial chunks; ``rows``: row segments), the compute and the operands read per
    operation. Returns (accesses, synaptic operations, tiles)."""
    acc = Accesses()
    events, dense, n_tiles = spec.tile_events(size, rows)
    _inputs(spec, acc, events, dense, t.k, t.stage, t.dataflow.endswith("_skip"), level)
    macs = _macs(spec)
    _compute(spec, acc, macs)
    _operand_reads(spec, acc, macs)
    return acc, macs, n_tiles


# --------------------------------------------------------------------------- the loop nests
def nest_os(spec: LayerSpec, t: Tiling) -> Accesses | None:
    """Output-stationary: a tile of kt×pt outputs in registers while its inputs stream by,
    channel by channel. Where the registers also hold one input channel's kt×k×k weights,
    each weight is read from home at its first use in the tile and step and reused over the
    tile's positions (:meth:`LayerSpec.weight_fills`); else once per synaptic operation
    (module docstring)."""
    g = spec.geometry
    psum_bits = t.k * t.p * spec.membrane_bits
    if psum_bits > spec.free_register_bits:
        return None
    if t.stage and not _stage_fits(spec):
        return None
    acc, macs, _ = _begin(spec, t, t.p)
    acc.in_flight = spec.in_flight(t.k, t.p)
    lockstep = spec.side == "ann" and not t.dataflow.endswith("_skip")
    passes = spec.repeat if spec.analog or spec.side == "ann" else max(1, spec.state_steps)
    if psum_bits + t.k * g.k * g.k * spec.weight_bits <= spec.free_register_bits:
        fills = g.K * spec.weight_fills(t.p, passes)  # each group's PE: Kb × its tiles' fills
        _weights_from_home(spec, acc, fills, lockstep, passes)
        acc.write("W", "register", fills, spec.weight_bits)
        acc.read("W", "register", macs, spec.weight_bits)
    else:
        _weights_from_home(spec, acc, macs, lockstep, passes)
    acc.rmw("V", "register", macs, spec.membrane_bits)  # the tile's partial sums
    _state(spec, acc)
    _outputs(spec, acc)
    return acc


def nest_ws(spec: LayerSpec, t: Tiling) -> Accesses | None:
    """Weight-stationary: for each tile of ``p`` positions of the block (its Kb×p partial sums
    at ``t.local``), kt×ct weights (all taps) in registers, read from home once per tile;
    every input of those channels in the tile's window streams past; partial sums read-modify-
    written per MAC (module docstring)."""
    g = spec.geometry
    wbits = t.k * t.c * g.k * g.k * spec.weight_bits
    out_bits = max(spec.groups) * min(t.p, max(spec.chunk_sizes)) * spec.membrane_bits
    room = {"register": spec.free_register_bits - wbits,
            "pe_sram": spec.free_pe_bytes * 8 - (spec.window_positions * g.C
                                                 * spec.input_bits if t.stage else 0),
            "glb": spec.free_glb_bytes * 8 / max(1, len(spec.groups) * len(spec.chunk_starts))}
    if wbits > spec.free_register_bits or t.c > g.C or out_bits > room[t.local]:
        return None
    if t.stage and not _stage_fits(spec, out_bits if t.local == "pe_sram" else 0):
        return None
    acc, macs, n_tiles = _begin(spec, t, t.p)
    acc.in_flight = spec.in_flight(t.k, t.p)  # the kt channels' psums of the tile
    per_pe = g.weights * n_tiles * spec.repeat  # each group's PE: Kb·C·k² per tile
    _weights_from_home(spec, acc, per_pe, not t.dataflow.endswith("_skip"), spec.repeat)
    acc.write("W", "register", per_pe, spec.weight_bits)
    acc.read("W", "register", macs, spec.weight_bits)
    acc.rmw("V", t.local, macs, spec.membrane_bits)
    acc.read("V", t.local, g.outputs * spec.repeat, spec.membrane_bits)  # finished sums
    if t.local in SHARED:
        acc.noc.append(("V", 2 * macs + g.outputs * spec.repeat, spec.membrane_bits, 1))
    _outputs(spec, acc)
    return acc


def nest_rs(spec: LayerSpec, t: Tiling) -> Accesses | None:
    """Row-stationary: kt filter rows and a psum row segment of ``p`` outputs in registers;
    filter rows read from home once per segment, each input row segment read once per
    k-tile (module docstring)."""
    g = spec.geometry
    need = t.k * g.k * spec.weight_bits + t.k * t.p * spec.membrane_bits + g.k * spec.input_bits
    if need > spec.free_register_bits or t.p > g.Q:
        return None
    if t.stage and not _stage_fits(spec):
        return None
    acc, macs, n_segments = _begin(spec, t, t.p, rows=True)
    acc.in_flight = spec.in_flight(t.k, t.p)
    per_pe = g.weights * n_segments * spec.repeat  # each group's PE: Kb·C·k² a segment
    _weights_from_home(spec, acc, per_pe, not t.dataflow.endswith("_skip"), spec.repeat)
    acc.write("W", "register", per_pe, spec.weight_bits)
    acc.read("W", "register", macs, spec.weight_bits)
    acc.rmw("V", "register", macs, spec.membrane_bits)
    _outputs(spec, acc)
    return acc


def nest_time_batched(spec: LayerSpec, t: Tiling) -> Accesses | None:
    """Time-batched SNN: a tile's T currents (at ``t.local``) and potentials (registers) stay
    local for all T steps; for each input channel its kt×k×k weights are read from home once
    into registers and every event of that channel in the tile's window, of all T steps, is
    processed against them: weight reads from home = tiles × weights, independent of T; the
    stream holds all T steps (module docstring)."""
    g = spec.geometry
    if not tb_fits(spec, t.k, t.p, t.stage, t.local):
        return None
    acc, macs, n_tiles = _begin(spec, t, t.p, level=spec.batched_stream_level)
    acc.in_flight = spec.in_flight(t.k, t.p) * max(1, spec.state_steps)  # T currents each
    per_pe = g.weights * n_tiles  # every group's PE at every sub-chunk loads Kb·C·k² once
    _weights_from_home(spec, acc, per_pe, lockstep=False, passes=1)
    acc.write("W", "register", per_pe, spec.weight_bits)
    acc.read("W", "register", macs, spec.weight_bits)
    acc.rmw("V", t.local, macs, spec.membrane_bits)  # the T currents
    if spec.stored_current:  # computed once: kept with the tile, read at every step
        acc.write("V", t.local, spec.neurons, spec.membrane_bits)
    if spec.state_steps:
        n = spec.neurons * spec.state_steps
        acc.read("V", t.local, n, spec.membrane_bits)  # each step's current into the LIF
        acc.rmw("V", "register", n, spec.membrane_bits)  # V stays in registers
    _outputs(spec, acc, spec.batched_stream_level)
    return acc


def tb_fits(spec: LayerSpec, k: int, p: int, stage: bool, local: str) -> bool:
    """Time-batched capacity: one input channel's weights of the tile (k×k×k) in registers;
    T currents + V of the tile at ``local`` (V in registers); staged, T steps of the window
    in PE SRAM."""
    g = spec.geometry
    T = max(1, spec.state_steps)
    w_bits = k * g.k * g.k * spec.weight_bits
    v_bits = k * p * spec.membrane_bits
    cur_bits = T * v_bits
    stage_bits = spec.window_positions * g.C * spec.input_bits * T if stage else 0
    pe_bits = spec.free_pe_bytes * 8
    if local == "register":
        return w_bits + v_bits + cur_bits <= spec.free_register_bits and stage_bits <= pe_bits
    return (local == "pe_sram" and w_bits + v_bits <= spec.free_register_bits
            and cur_bits + stage_bits <= pe_bits)


NESTS = {"os": nest_os, "ws": nest_ws, "rs": nest_rs, "time_batched": nest_time_batched}


def nest_of(dataflow: str):
    return NESTS[dataflow.removesuffix("_skip")]

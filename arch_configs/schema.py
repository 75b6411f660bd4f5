"""The architecture config schema: dataclasses built from YAML by a typed validator.

Every YAML key is a dataclass field; its type annotation and metadata (``doc``, ``unit``,
bounds) drive the validation and the key table of ``docs/arch_configs.md``. A bad value raises
:class:`ConfigError` with one line ``<file>: <key.path>: expected <what>, got <value>``.

Energies in the table are at the reference node (45 nm, Horowitz ISSCC 2014) and every on-chip
energy the API returns is multiplied by ``technology.node_scale`` (Stillmaker & Baas 2017).
DRAM energy is not scaled: it is set by the DRAM part and its interface, not the logic node.
All energies are in pJ, sizes in bytes, widths in bits, power in W.
"""

from __future__ import annotations

import functools
import itertools
import math
import types
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, Literal, get_args, get_origin, get_type_hints

from .memory import CELL_TYPES, MemoryModelError, SramCost, sram

LEVELS = ("register", "pe_sram", "glb", "dram")  # closest first
SNN_DATAFLOWS = ("scatter", "os", "time_batched")  # hwsim/dataflow.py has their loop nests
ANN_DATAFLOWS = ("scatter", "ws", "os", "rs", "ws_skip", "os_skip", "rs_skip")


def parse_dataflow(value: str) -> tuple[str, str] | None:
    """A ``policy.dataflow`` setting -> (SNN dataflow or 'best', ANN dataflow or 'best'), or
    None if it is not one: ``best``, a name of both sides (``scatter``, ``os``), or
    ``SNN/ANN`` (``time_batched/rs``)."""
    if not isinstance(value, str):
        return None
    snn, _, ann = value.partition("/")
    ann = ann or snn
    if snn not in ("best", *SNN_DATAFLOWS) or ann not in ("best", *ANN_DATAFLOWS):
        return None
    return snn, ann


DATAFLOW_HELP = (
    "'best', a name valid on both sides (" + ", ".join(
        d for d in SNN_DATAFLOWS if d in ANN_DATAFLOWS) + ") or SNN/ANN with SNN one of "
    + ", ".join(SNN_DATAFLOWS) + " and ANN one of " + ", ".join(ANN_DATAFLOWS))
OPS = ("add", "mult", "compare", "shift")
KINDS = ("int", "fp")


class ConfigError(ValueError):
    """An architecture config that cannot be used; the message is one line naming the file,
    the key path and what was expected."""


def meta(doc: str, unit: str = "", *, gt: float | None = None, ge: float | None = None,
         le: float | None = None, integer: bool = False, yaml: bool = True) -> dict:
    """Field metadata: ``doc`` and ``unit`` document a key, ``gt``/``ge``/``le`` bound a number
    (also a :class:`Sourced` value), ``integer`` asks a Sourced value to be whole,
    ``yaml=False`` marks a field the loader fills."""
    return {"doc": doc, "unit": unit, "gt": gt, "ge": ge, "le": le, "integer": integer,
            "yaml": yaml}


# Sanity bounds. The simulator allocates per-PE arrays and the mapper loops over PEs: 2**20
# (1,048,576) PEs admits every chip built (the largest, Cerebras WSE-3, has ~900,000 cores)
# and maps in well under a second; 10**30 asked for arrays no machine holds. A number format
# wider than 64 bits is none this simulator or its energy table (rows up to 32 bits) knows.
MAX_PES = 2**20
MAX_BITS = 64
# The int datapath holds every stored weight k·2^-e (|k| <= 2^(bits-1) - 1) exactly in the
# float32 its functional run and bit-exact check compute in (hwsim/functional.py): the
# 24-bit significand holds |k| < 2^24, so weights up to 25 bits; quantize_pow2 needs >= 2.
INT_WEIGHT_BITS = (2, 25)
# Its membranes are B-bit fixed point (model.neuron.MembraneFormat), exact in float32 for
# B <= 24. The fp datapath simulates full-precision weights and membranes (float64 on both
# sides), which is a 32-bit float chip's arithmetic and no narrower one's.
INT_MEMBRANE_BITS = (2, 24)
FP_BITS = 32


@dataclass(frozen=True)
class Sourced:
    """A number together with where it comes from (paper, datasheet or ``assumption: ...``).

    YAML: ``{value: 0.03, source: "Horowitz ISSCC 2014"}``.
    """

    value: float
    source: str


@dataclass(frozen=True)
class OpEnergy:
    """One row of the operation energy table: ``pj`` per operation at the reference node."""

    op: Literal["add", "mult", "compare", "shift"] = field(metadata=meta("operation"))
    kind: Literal["int", "fp"] = field(metadata=meta("integer or floating-point datapath"))
    bits: int = field(metadata=meta("operand width", "bits", gt=0))
    pj: float = field(metadata=meta("energy of one operation at the reference node", "pJ", gt=0))
    source: str = field(metadata=meta("where the number comes from"))


@dataclass(frozen=True)
class SRAMPoint:
    """One measured SRAM read: ``pj`` per access of ``bits`` from an SRAM of ``size_bytes``."""

    size_bytes: int = field(metadata=meta("SRAM capacity", "bytes", gt=0))
    bits: int = field(metadata=meta("access width", "bits", gt=0))
    pj: float = field(metadata=meta("energy of one access at the reference node", "pJ", gt=0))
    source: str = field(metadata=meta("where the number comes from"))


def _loglog(points: list[tuple[float, float]], x: float, lo_exp: float, hi_exp: float) -> float:
    """Piecewise-linear interpolation of ``y(x)`` on log-log axes through sorted ``points``;
    outside them ``y ∝ x**lo_exp`` (below) or ``x**hi_exp`` (above) from the end point."""
    (x0, y0), (xn, yn) = points[0], points[-1]
    if x <= x0:
        return y0 * (x / x0) ** lo_exp
    if x >= xn:
        return yn * (x / xn) ** hi_exp
    for (xa, ya), (xb, yb) in itertools.pairwise(points):
        if xa <= x <= xb:
            t = math.log(x / xa) / math.log(xb / xa)
            return ya * (yb / ya) ** t
    raise AssertionError("unreachable: x lies inside the sorted points")


@dataclass(frozen=True)
class EnergyTable:
    """Per-operation and per-access energies at the reference node (pJ).

    Operation widths not in the table are interpolated on log-log axes between the listed
    widths; beyond them the nearest row is scaled by ``(bits/b)`` (add, compare, shift) or
    ``(bits/b)**2`` (mult: an array multiplier grows with the square of its width). A MAC is
    one mult plus one add of the same width (Horowitz: FP32 3.7 + 0.9 = 4.6 pJ).

    SRAM access energy comes from the memory model (``technology.memory``); with
    ``model: table`` from the ``sram`` points instead: per-bit energy interpolated on log-log
    axes over capacity (Horowitz: 10 / 20 / 100 pJ per 64-bit read of 8 KB / 32 KB / 1 MB),
    extrapolated with the end segments' slopes, times the access width, reads = writes.
    """

    ops: tuple[OpEnergy, ...] = field(metadata=meta(
        "operation energies (add, mult, compare, shift per kind)"))
    register_pj_per_bit: Sourced = field(metadata=meta(
        "register-file access energy", "pJ/bit", gt=0))
    paper_mac_pj: Sourced = field(metadata=meta(
        "the paper's ANN operation energy (FP32 MAC)", "pJ", gt=0))
    paper_ac_pj: Sourced = field(metadata=meta(
        "the paper's SNN operation energy (FP32 add)", "pJ", gt=0))
    clock_pj_per_pe_cycle: Sourced = field(metadata=meta(
        "clock tree and control (sequencing) energy of one PE in one cycle, charged for every "
        "PE in every cycle of the latency (no clock gating)", "pJ", ge=0))
    sram: tuple[SRAMPoint, ...] | None = field(default=None, metadata=meta(
        "SRAM read energy versus capacity (at least 2 sizes); only with "
        "technology.memory.model: table"))

    def problems(self) -> list[tuple[str, str, Any]]:
        """Cross-field problems as (key suffix, expected, got)."""
        out = []
        seen = {}
        for i, r in enumerate(self.ops):
            key = (r.op, r.kind, r.bits)
            if key in seen:
                expected = f"one row per (op, kind, bits); ops[{seen[key]}] has this one"
                out.append((f"ops[{i}]", expected, f"{r.kind} {r.op} {r.bits}-bit"))
            seen[key] = i
        have = {(r.op, r.kind) for r in self.ops}
        lacking = [f"{k} {o}" for o in OPS for k in KINDS if (o, k) not in have]
        if lacking:
            out.append(("ops", f"rows for every op {OPS} and kind {KINDS}",
                        f"none for {', '.join(lacking)}"))
        if self.sram is not None and len({p.size_bytes for p in self.sram}) < 2:
            out.append(("sram", "points of at least 2 different sizes",
                        [p.size_bytes for p in self.sram]))
        return out

    def op_pj(self, op: str, bits: int, kind: str) -> float:
        """Energy of one ``op`` (add, mult, mac, compare, shift) on ``bits``-wide ``kind``
        (int, fp) operands at the reference node, pJ."""
        if op == "mac":
            return self.op_pj("mult", bits, kind) + self.op_pj("add", bits, kind)
        if op not in OPS or kind not in KINDS:
            raise ValueError(f"unknown operation {kind} {op}; ops are {OPS + ('mac',)}, "
                             f"kinds {KINDS}")
        if bits <= 0:
            raise ValueError(f"operand width must be > 0 bits, got {bits}")
        pts = sorted((r.bits, r.pj) for r in self.ops if r.op == op and r.kind == kind)
        exp = 2.0 if op == "mult" else 1.0
        return _loglog(pts, bits, exp, exp)

    def sram_pj(self, size_bytes: float, bits: int) -> float:
        """Energy of one ``bits``-wide access to an SRAM of ``size_bytes`` at the reference
        node, pJ."""
        if size_bytes <= 0 or bits <= 0:
            raise ValueError(f"SRAM size and width must be > 0, got {size_bytes} B, {bits} b")
        by_size: dict[int, list[float]] = {}
        for p in self.sram:
            by_size.setdefault(p.size_bytes, []).append(p.pj / p.bits)
        pts = sorted((s, sum(v) / len(v)) for s, v in by_size.items())
        lo = math.log(pts[1][1] / pts[0][1]) / math.log(pts[1][0] / pts[0][0])
        hi = math.log(pts[-1][1] / pts[-2][1]) / math.log(pts[-1][0] / pts[-2][0])
        return _loglog(pts, size_bytes, lo, hi) * bits


@dataclass(frozen=True)
class Leakage:
    """Static power at the reference node: PE logic scaled by ``node_scale``; SRAM from the
    memory model (CACTI, at the node), or with ``model: table`` ``sram_uw_per_kib`` scaled by
    ``node_scale``."""

    pe_uw: Sourced = field(metadata=meta(
        "static power of one PE's logic and register file", "µW", gt=0))
    sram_uw_per_kib: Sourced | None = field(default=None, metadata=meta(
        "static power of on-chip SRAM (PE SRAM and GLB); only with technology.memory.model: "
        "table", "µW/KiB", gt=0))


@dataclass(frozen=True)
class MemoryModel:
    """Where SRAM energies, leakage and cycle times come from."""

    model: Literal["cacti", "table"] = field(metadata=meta(
        "cacti: CACTI 7 at the node (arch_configs/cacti_sram.csv, any size and width it "
        "models); table: the explicit energy.sram points and leakage.sram_uw_per_kib"))
    cell_type: Literal[CELL_TYPES] = field(metadata=meta(
        "CACTI's ITRS device type of cells and periphery, one for every SRAM: itrs-lop (low "
        "operating power), itrs-hp (high performance), itrs-lstp (low standby power)"))
    source: str = field(metadata=meta("why this model and cell type"))


@dataclass(frozen=True)
class Technology:
    """The process: node, supply, energy table and leakage."""

    node_nm: Sourced = field(metadata=meta("technology node", "nm", gt=0, integer=True))
    supply_v: Sourced = field(metadata=meta(
        "supply voltage (informational; energies come from the table)", "V", gt=0))
    node_scale: Sourced = field(metadata=meta(
        "factor on every on-chip energy relative to the table's reference node (1 at 45 nm)",
        "", gt=0))
    energy: EnergyTable = field(metadata=meta("energies at the reference node"))
    leakage: Leakage = field(metadata=meta("static power at the reference node"))
    memory: MemoryModel = field(metadata=meta("the SRAM memory model"))
    wire_scale: Sourced = field(metadata=meta(
        "factor on NoC (wire) energy relative to 45 nm: wires scale with V² and hop length, "
        "not like logic", "", gt=0))

    def problems(self) -> list[tuple[str, str, Any]]:
        table = self.memory.model == "table"
        out = []
        for key, value in (("energy.sram", self.energy.sram),
                           ("leakage.sram_uw_per_kib", self.leakage.sram_uw_per_kib)):
            if table and value is None:
                out.append(("memory.model", f"cacti, or technology.{key} set (model: table "
                            "prices SRAMs from energy.sram and leakage.sram_uw_per_kib)",
                            "table"))
            if not table and value is not None:
                out.append((key, "no value with technology.memory.model: cacti (CACTI gives "
                            "it; set model: table to use explicit numbers)", "a value"))
        return out


@dataclass(frozen=True)
class Precision:
    """Number formats of the datapath."""

    datapath: Literal["int", "fp"] = field(metadata=meta(
        "integer (fixed-point) or floating-point arithmetic"))
    weight_bits: int = field(metadata=meta(
        f"stored weight width ({INT_WEIGHT_BITS[0]} to {INT_WEIGHT_BITS[1]} on the int "
        "datapath: its fixed-point weights are simulated exactly in float32)", "bits", gt=0,
        le=MAX_BITS))
    membrane_bits: int = field(metadata=meta(
        f"membrane potential (and accumulator) width ({INT_MEMBRANE_BITS[0]} to "
        f"{INT_MEMBRANE_BITS[1]} on the int datapath: fixed point, simulated as such)", "bits",
        gt=0, le=MAX_BITS))
    spike_bits: int = field(metadata=meta(
        "width of one spike in buffers and on the NoC", "bits", gt=0, le=MAX_BITS))
    activation_bits: int = field(metadata=meta(
        "width of an ANN activation or input pixel", "bits", gt=0, le=MAX_BITS))
    source: str = field(metadata=meta("why these widths"))

    def problems(self) -> list[tuple[str, str, Any]]:
        """Widths the simulated datapath would not honour (it would price one format and
        compute in another)."""
        out = []
        if self.datapath == "int":
            lo, hi = INT_WEIGHT_BITS
            if not lo <= self.weight_bits <= hi:
                out.append(("weight_bits", f"{lo} to {hi} bits on the int datapath (its "
                            "fixed-point weights are simulated exactly in float32)",
                            self.weight_bits))
            lo, hi = INT_MEMBRANE_BITS
            if not lo <= self.membrane_bits <= hi:
                out.append(("membrane_bits", f"{lo} to {hi} bits on the int datapath (its "
                            "fixed-point membranes are simulated exactly in float32)",
                            self.membrane_bits))
        else:
            for key in ("weight_bits", "membrane_bits"):
                if getattr(self, key) != FP_BITS:
                    out.append((key, f"{FP_BITS} on the fp datapath (it simulates "
                                "full-precision float arithmetic; use datapath: int for "
                                "narrower formats)", getattr(self, key)))
        return out


@dataclass(frozen=True)
class PEArray:
    """The processing elements: each owns a register file and an SRAM."""

    count: int = field(metadata=meta("number of PEs", "", gt=0, le=MAX_PES))
    accumulators: int = field(metadata=meta(
        "synaptic accumulates (or MACs) per PE per cycle", "1/cycle", gt=0))
    register_bytes: int = field(metadata=meta(
        "register file per PE (membranes only)", "bytes", ge=0))
    sram_bytes: int = field(metadata=meta(
        "local SRAM per PE (membranes and weights)", "bytes", gt=0))
    source: str = field(metadata=meta("why these sizes"))
    sram_width_bits: int = field(default=64, metadata=meta(
        "word width of the PE SRAM: one access moves one word", "bits", gt=0, le=1024))
    sram_ports: int = field(default=1, metadata=meta(
        "PE SRAM read-write ports: word accesses per cycle", "1/cycle", gt=0, le=16))


@dataclass(frozen=True)
class GlobalBuffer:
    """The shared on-chip SRAM (GLB); one access costs that of one bank."""

    size_bytes: int = field(metadata=meta("capacity", "bytes", gt=0))
    banks: int = field(metadata=meta("independent banks", "", gt=0))
    bandwidth_bits_per_cycle: int = field(metadata=meta(
        "bits read or written per cycle, all banks", "bits/cycle", gt=0))
    source: str = field(metadata=meta("why these sizes"))
    width_bits: int = field(default=64, metadata=meta(
        "word width of a bank: one access moves one word", "bits", gt=0, le=1024))

    def problems(self) -> list[tuple[str, str, Any]]:
        if self.banks > self.size_bytes:
            return [("banks", f"at most size_bytes ({self.size_bytes}) banks", self.banks)]
        return []


@dataclass(frozen=True)
class DRAM:
    """Off-chip memory (unbounded capacity)."""

    kind: Literal["ddr3", "ddr4", "lpddr4", "hbm2"] = field(metadata=meta("DRAM standard"))
    pj_per_bit: Sourced = field(metadata=meta("access energy (not node-scaled)", "pJ/bit", gt=0))
    bandwidth_bytes_per_s: Sourced = field(metadata=meta("peak bandwidth", "bytes/s", gt=0))


@dataclass(frozen=True)
class NoC:
    """The network-on-chip between the GLB and the PEs."""

    topology: Literal["mesh"] = field(metadata=meta("topology (2-D mesh of PEs)"))
    hop_pj_per_bit: Sourced = field(metadata=meta(
        "energy to move one bit one hop (router + link)", "pJ/bit", gt=0))
    hop_latency_cycles: Sourced = field(metadata=meta(
        "cycles per hop", "cycles", ge=0, integer=True))
    link_bits: int = field(metadata=meta("link (flit) width", "bits", gt=0))


@dataclass(frozen=True)
class Policy:
    """How the network is laid onto the chip (see ``mapping.placement``)."""

    membrane_level: Literal["register", "pe_sram", "glb", "dram", "auto"] = field(metadata=meta(
        "where membrane potentials live; auto = the closest level that fits"))
    weight_level: Literal["pe_sram", "glb", "dram", "auto"] = field(metadata=meta(
        "where weights live; auto = the closest level that fits"))
    partition: Literal["output_channels", "spatial", "auto"] = field(metadata=meta(
        "how a layer's output neurons are split over its PEs; auto = channels, then spatial "
        "tiles for the PEs left over"))
    schedule: Literal["layer_by_layer", "pipelined"] = field(metadata=meta(
        "layer_by_layer: every timestep runs the layers in turn on the whole array; "
        "pipelined: each layer owns a group of PEs sized by its work"))
    leak: Literal["multiply", "shift"] = field(metadata=meta(
        "leak as u·λ (one multiply) or u − (u >> k) (one shift and one add)"))
    first_layer: Literal["every_step", "once"] = field(metadata=meta(
        "the analog input layer: its MACs at every timestep, or once per image with the "
        "current (constant over T) kept and reused"))
    dataflow: str = field(default="best", metadata=meta(
        "the dataflow pair the report headlines (docs/hwsim.md): " + DATAFLOW_HELP))

    def problems(self) -> list[tuple[str, str, Any]]:
        if parse_dataflow(self.dataflow) is None:
            return [("dataflow", DATAFLOW_HELP, self.dataflow)]
        return []


@dataclass(frozen=True)
class ArchConfig:
    """A validated accelerator description; build it with :func:`arch_configs.load_arch`.

    Energy API (pJ): :meth:`op_energy_pj` (logic, × node_scale), :meth:`access_pj` (by
    memory level and action: SRAM from :meth:`sram_cost`, the memory model at the node;
    registers × node_scale; DRAM per bit, not scaled), :meth:`noc_hop_pj` (× wire_scale),
    :meth:`leak_pj`, :attr:`clock_pj_per_cycle`, :attr:`paper_mac_pj`, :attr:`paper_ac_pj`;
    static power :attr:`leakage_w` (W).
    """

    name: str = field(metadata=meta("config name (the file stem)", yaml=False))
    source_file: str = field(metadata=meta("the YAML file it was read from", yaml=False))
    technology: Technology = field(metadata=meta("the process"))
    clock_hz: Sourced = field(metadata=meta("clock frequency", "Hz", gt=0))
    precision: Precision = field(metadata=meta("number formats"))
    pe_array: PEArray = field(metadata=meta("processing elements"))
    global_buffer: GlobalBuffer = field(metadata=meta("shared on-chip SRAM"))
    dram: DRAM = field(metadata=meta("off-chip memory"))
    noc: NoC = field(metadata=meta("network-on-chip"))
    policy: Policy = field(metadata=meta("mapping policy"))
    description: str = field(default="", metadata=meta(
        "one line about this config (not inherited)"))

    @property
    def node_scale(self) -> float:
        return self.technology.node_scale.value

    @property
    def node_nm(self) -> int:
        return int(self.technology.node_nm.value)

    @property
    def pes(self) -> int:
        return self.pe_array.count

    @property
    def frequency_hz(self) -> float:
        return self.clock_hz.value

    def op_energy_pj(self, op: str, bits: int, kind: str | None = None) -> float:
        """Energy of one operation (add, mult, mac, compare, shift) on ``bits``-wide operands,
        pJ; ``kind`` (int or fp) defaults to the config's datapath."""
        return self.technology.energy.op_pj(op, bits, kind or self.precision.datapath) * \
            self.node_scale

    def sram_access_pj(self, size_bytes: float, bits: int) -> float:
        """``model: table`` only: one ``bits``-wide access to an SRAM of ``size_bytes``, pJ."""
        return self.technology.energy.sram_pj(size_bytes, bits) * self.node_scale

    def register_access_pj(self, bits: int) -> float:
        """Energy of one ``bits``-wide register-file access, pJ."""
        return self.technology.energy.register_pj_per_bit.value * bits * self.node_scale

    @property
    def dram_pj_per_bit(self) -> float:
        """DRAM access energy, pJ/bit (the DRAM part's own number, not node-scaled)."""
        return self.dram.pj_per_bit.value

    def sram_cost(self, level: str) -> SramCost:
        """The memory model's numbers for the PE SRAM (one PE's) or the GLB (all banks; an
        access reaches one bank), at this node and cell type (``model: cacti``)."""
        m = self.technology.memory
        if level == "pe_sram":
            return sram(self.node_nm, m.cell_type, self.pe_array.sram_bytes,
                        self.pe_array.sram_width_bits, 1, self.node_scale)
        if level == "glb":
            g = self.global_buffer
            return sram(self.node_nm, m.cell_type, g.size_bytes, g.width_bits, g.banks,
                        self.node_scale)
        raise ValueError(f"{level!r} is not an SRAM level (pe_sram, glb)")

    def word_bits(self, level: str) -> int | None:
        """Word width of an SRAM level (None for register and DRAM: priced per bit)."""
        return {"pe_sram": self.pe_array.sram_width_bits,
                "glb": self.global_buffer.width_bits}.get(level)

    def access_pj(self, level: str, bits: int, action: str = "read") -> float:
        """Energy of moving one ``bits``-wide operand at a memory level (register, pe_sram,
        glb, dram) by ``action`` (read, write), pJ.

        SRAM (``model: cacti``): operands travel packed in words (a PE's lanes read and write
        vectors), so an operand costs its share of one word access: E_word(action) · bits /
        word bits. ``model: table``: the table's per-bit energy × bits, reads = writes."""
        if action not in ("read", "write"):
            raise ValueError(f"unknown access {action!r}; read or write")
        if level == "register":
            return self.register_access_pj(bits)
        if level == "dram":
            return self.dram_pj_per_bit * bits
        if level not in ("pe_sram", "glb"):
            raise ValueError(f"unknown memory level {level!r}; levels are {LEVELS}")
        if self.technology.memory.model == "table":
            size = (self.pe_array.sram_bytes if level == "pe_sram"
                    else self.global_buffer.size_bytes / self.global_buffer.banks)
            return self.sram_access_pj(size, bits)
        c = self.sram_cost(level)
        word = c.read_pj if action == "read" else c.write_pj
        return word * bits / self.word_bits(level)

    def capacity_bytes(self, level: str) -> int | None:
        """Capacity of a level: per PE for register and pe_sram, the whole GLB, None (unbounded)
        for DRAM."""
        caps = {"register": self.pe_array.register_bytes, "pe_sram": self.pe_array.sram_bytes,
                "glb": self.global_buffer.size_bytes, "dram": None}
        if level not in caps:
            raise ValueError(f"unknown memory level {level!r}; levels are {LEVELS}")
        return caps[level]

    def noc_hop_pj(self, bits: int) -> float:
        """Energy to move ``bits`` one NoC hop, pJ (× ``technology.wire_scale``)."""
        return self.noc.hop_pj_per_bit.value * bits * self.technology.wire_scale.value

    @property
    def clock_pj_per_cycle(self) -> float:
        """Clock tree and control energy of the whole PE array in one cycle, pJ."""
        return (self.technology.energy.clock_pj_per_pe_cycle.value * self.pe_array.count
                * self.node_scale)

    def leak_pj(self) -> float:
        """Energy of one neuron's leak at the membrane width, pJ: one multiply, or one shift and
        one add (``policy.leak``)."""
        b = self.precision.membrane_bits
        if self.policy.leak == "multiply":
            return self.op_energy_pj("mult", b)
        return self.op_energy_pj("shift", b) + self.op_energy_pj("add", b)

    @property
    def paper_mac_pj(self) -> float:
        """The paper's ANN operation energy (4.6 pJ at 45 nm), node-scaled."""
        return self.technology.energy.paper_mac_pj.value * self.node_scale

    @property
    def paper_ac_pj(self) -> float:
        """The paper's SNN operation energy (0.9 pJ at 45 nm), node-scaled."""
        return self.technology.energy.paper_ac_pj.value * self.node_scale

    @property
    def leakage_w(self) -> float:
        """Static power of the whole chip (PE logic and all on-chip SRAM), W."""
        lk = self.technology.leakage
        logic_uw = self.pe_array.count * lk.pe_uw.value * self.node_scale
        if self.technology.memory.model == "table":
            sram_kib = (self.pe_array.count * self.pe_array.sram_bytes
                        + self.global_buffer.size_bytes) / 1024
            return (logic_uw + sram_kib * lk.sram_uw_per_kib.value * self.node_scale) * 1e-6
        sram_uw = (self.pe_array.count * self.sram_cost("pe_sram").leakage_uw
                   + self.sram_cost("glb").leakage_uw)
        return (logic_uw + sram_uw) * 1e-6

    def memory_notes(self) -> dict[str, str]:
        """How each SRAM's numbers were obtained (for the report)."""
        if self.technology.memory.model == "table":
            return {lv: "explicit energy.sram table" for lv in ("pe_sram", "glb")}
        return {lv: self.sram_cost(lv).note for lv in ("pe_sram", "glb")}

    def memory_problems(self) -> list[tuple[str, str, Any]]:
        """Memories the memory model cannot price, as (key path, expected, got); the loader
        checks them once the node is known to be consistent."""
        if self.technology.memory.model != "cacti":
            return []
        cell = self.technology.memory.cell_type
        try:
            sram(self.node_nm, cell, 8192, 64, 1, self.node_scale)  # the node alone
        except MemoryModelError as e:
            return [("technology.node_nm", f"a node the CACTI table covers or extrapolates to "
                     f"({e})", self.node_nm)]
        out = []
        for level, key, got in (("pe_sram", "pe_array.sram_bytes", self.pe_array.sram_bytes),
                                ("glb", "global_buffer.size_bytes",
                                 self.global_buffer.size_bytes)):
            try:
                self.sram_cost(level)
            except MemoryModelError as e:
                out.append((key, f"a memory the CACTI table models ({e})", got))
        return out

    def summary(self) -> dict:
        """The report's ``arch`` object: name, node_nm, pes, clock_hz (and the file)."""
        return {"name": self.name, "node_nm": self.node_nm, "pes": self.pes,
                "clock_hz": self.frequency_hz, "source_file": self.source_file}


# ---------------------------------------------------------------------------------------------
# The validator: YAML data -> dataclasses, driven by the annotations and metadata above.


class ErrorContext:
    """Error reporting: which file a key path came from (configs inherit from each other)."""

    def __init__(self, origin: dict[str, str], default_file: str):
        self.origin = origin
        self.default_file = default_file

    def file_of(self, path: str) -> str:
        p = path
        while p:
            if p in self.origin:
                return self.origin[p]
            cut = max(p.rfind("."), p.rfind("["))
            p = p[:cut] if cut > 0 else ""
        return self.default_file

    def fail(self, path: str, expected: str, got: Any) -> None:
        g = repr(got)
        g = g if len(g) <= 60 else g[:57] + "..."
        raise ConfigError(f"{self.file_of(path)}: {path}: expected {expected}, got {g}")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _bounds(meta) -> str:
    s = []
    if meta.get("gt") is not None:
        s.append(f"> {meta['gt']:g}")
    if meta.get("ge") is not None:
        s.append(f">= {meta['ge']:g}")
    if meta.get("le") is not None:
        le = meta["le"]
        s.append(f"<= {le}" if isinstance(le, int) else f"<= {le:g}")
    return (" " + " and ".join(s)) if s else ""


def describe(tp, meta=None) -> str:
    """What a value of schema type ``tp`` must look like, in words."""
    meta = meta or {}
    if _optional(tp) is not None:
        return describe(_optional(tp), meta) + " (optional)"
    if tp is Sourced:
        num = "an integer" if meta.get("integer") else "a number"
        return f"{{value: {num}{_bounds(meta)}, source: a string}}"
    if is_dataclass(tp):
        return "a mapping with keys " + ", ".join(
            f.name for f in fields(tp) if f.metadata.get("yaml", True))
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if get_origin(tp) is tuple:
        item = get_args(tp)[0]
        if is_dataclass(item):
            return "a non-empty list of mappings with keys " + ", ".join(
                f.name for f in fields(item))
        return f"a non-empty list of {describe(item)}"
    if tp is int:
        return "an integer" + _bounds(meta)
    if tp is float:
        return "a number" + _bounds(meta)
    if tp is str:
        return "a non-empty string"
    raise TypeError(f"schema type {tp!r} has no validator")


def _number(value, path, meta, integer: bool, ctx: ErrorContext):
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if integer:
        ok = ok and isinstance(value, int)
    if ok and meta.get("gt") is not None and not value > meta["gt"]:
        ok = False
    if ok and meta.get("ge") is not None and not value >= meta["ge"]:
        ok = False
    if ok and meta.get("le") is not None and not value <= meta["le"]:
        ok = False
    if not ok:
        ctx.fail(path, describe(int if integer else float, meta), value)
    return int(value) if integer else float(value)


def _check_keys(cls, data, path, ctx: ErrorContext, meta=None) -> list:
    flds = [f for f in fields(cls) if f.metadata.get("yaml", True)]
    if not isinstance(data, dict):
        ctx.fail(path, describe(cls, meta), data)
    names = [f.name for f in flds]
    for k in data:
        if k not in names:
            raise ConfigError(f"{ctx.file_of(_join(path, str(k)))}: {_join(path, str(k))}: "
                              f"unknown key; expected one of {', '.join(names)}")
    return flds


def _optional(tp):
    """The X of ``X | None`` (None for any other type)."""
    if get_origin(tp) is types.UnionType and type(None) in get_args(tp):
        return next(a for a in get_args(tp) if a is not type(None))
    return None


def _value(tp, value, path: str, meta, ctx: ErrorContext):
    if _optional(tp) is not None:
        return None if value is None else _value(_optional(tp), value, path, meta, ctx)
    if tp is Sourced:
        _check_keys(Sourced, value, path, ctx, meta)
        for k in ("value", "source"):
            if k not in value:
                ctx.fail(path, describe(Sourced, meta), value)
        return Sourced(_number(value["value"], _join(path, "value"), meta,
                               bool(meta.get("integer")), ctx),
                       _value(str, value["source"], _join(path, "source"), {}, ctx))
    if is_dataclass(tp):
        return build(tp, value, path, ctx)
    if get_origin(tp) is Literal:
        if not isinstance(value, str) or value not in get_args(tp):
            ctx.fail(path, describe(tp), value)
        return value
    if get_origin(tp) is tuple:
        if not isinstance(value, list) or not value:
            ctx.fail(path, describe(tp), value)
        item = get_args(tp)[0]
        return tuple(_value(item, v, f"{path}[{i}]", {}, ctx) for i, v in enumerate(value))
    if tp is int or tp is float:
        return _number(value, path, meta, tp is int, ctx)
    if tp is str:
        if not isinstance(value, str) or not value.strip():
            ctx.fail(path, describe(str), value)
        return value
    raise TypeError(f"schema type {tp!r} has no validator")


@functools.cache
def _hints(cls) -> dict:
    return get_type_hints(cls)


def build(cls, data, path: str, ctx: ErrorContext, **extra):
    """Validate ``data`` (parsed YAML) against dataclass ``cls``; ``extra`` fills non-YAML
    fields. Unknown keys, missing keys, wrong types and bounds raise :class:`ConfigError`."""
    flds = _check_keys(cls, data, path, ctx)
    hints = _hints(cls)
    kw = dict(extra)
    for f in flds:
        p = _join(path, f.name)
        if f.name not in data:
            if f.default is not MISSING:
                continue
            raise ConfigError(f"{ctx.file_of(path)}: {p}: missing key; expected "
                              f"{describe(hints[f.name], f.metadata)}")
        kw[f.name] = _value(hints[f.name], data[f.name], p, f.metadata, ctx)
    obj = cls(**kw)
    for sub, expected, got in getattr(obj, "problems", list)():
        ctx.fail(_join(path, sub), expected, got)
    return obj


def key_table(cls=ArchConfig, path: str = "") -> list[tuple[str, str, str, str]]:
    """Every YAML key of the schema as (key path, expected value, unit, doc), for the docs."""
    rows = []
    hints = _hints(cls)
    for f in fields(cls):
        if not f.metadata.get("yaml", True):
            continue
        tp, p = hints[f.name], _join(path, f.name)
        rows.append((p, describe(tp, f.metadata), f.metadata.get("unit", ""),
                     f.metadata.get("doc", "")))
        tp = _optional(tp) or tp
        if is_dataclass(tp) and tp is not Sourced:
            rows += key_table(tp, p)
        elif get_origin(tp) is tuple:
            rows += key_table(get_args(tp)[0], p + "[]")
    return rows

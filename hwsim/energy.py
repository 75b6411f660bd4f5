"""Energy (pJ) and latency (cycles) of one inference, SNN and ANN, on one chip: the one place
where counts meet the technology table. Every term is listed in docs/hwsim.md.

Accounting (per image; Lemaire et al. 2022 style, with the memory level from the mapping):

SNN, spiking-input layer, per synaptic accumulate (AC = event × reached neuron):
    one add at membrane width (compute), one weight read at the weight level (weights; none
    for the adds of an identity shortcut),
    one membrane read + one write at the membrane level (membrane: the scatter is a
    read-modify-write of the target neuron's potential).
  per neuron per timestep (LIF phase): one membrane read + write, one leak (multiply or
    shift + add), one threshold compare; per spike one reset add (compute).
  per output spike: one address-event packet (log2(neurons) + spike bits) written to and read
    from the stream buffer and sent over the NoC mesh (spikes).
SNN, analog first layer: per MAC one multiply + add and one weight read; per pixel read from
    the stream buffer; MACs at every step or once (``first_layer``); then the LIF phase.
SNN, output layer: per AC an add into its accumulator (membrane traffic as above), no LIF.
ANN baseline (same chip, same mapping, dense: zeros are not skipped): the same event-driven
    dataflow with every activation an event. Per MAC one multiply + add (compute), one weight
    read (weights) and one partial-sum read + write where the layer's neuron state lives
    (activations); per input one read from the activation buffer; per output one write to it
    and one packet over the NoC (noc).
Accesses that land in DRAM are booked under ``dram`` (so every part is exclusive); the input
image is loaded from DRAM once per inference in both. Weights kept in DRAM are fetched into the
GLB before use: the ANN fetches each layer once per image, the SNN per timestep only the weights
its events need (at most the whole layer), and uses then read the GLB copy. Membranes kept in
DRAM are read and written there at every access (a scatter has no locality to exploit).
Leakage = static power × latency.

Latency: per layer and step, compute cycles = the busiest PE's work / accumulators per cycle
(+ its LIF phase); memory cycles = bits through the GLB / its bandwidth + bits through DRAM /
its bandwidth; the layer takes the larger of the two plus the NoC hop latency. Layers run in
turn (``layer_by_layer``) or overlap across timesteps (``pipelined``: Σ_l c_l + (T−1)·max_l c_l).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from arch_configs import ArchConfig
from mapping.placement import LayerMapping, Mapping

from .counts import LayerCounts

SNN_PARTS = ("compute", "membrane", "weights", "spikes", "leakage", "dram")
ANN_PARTS = ("compute", "activations", "weights", "noc", "leakage", "dram")


@dataclass
class Traffic:
    """Bits moved per memory level for one layer (per image), for energy and bandwidth."""

    bits: dict[str, float] = field(default_factory=lambda: {"register": 0.0, "pe_sram": 0.0,
                                                            "glb": 0.0, "dram": 0.0})


class _Book:
    """Adds access energies into parts, diverting DRAM accesses to ``dram``.

    Weights that live in DRAM are not read from DRAM per use: a layer fetches the weights it
    needs into the GLB (:meth:`weights`), and each use reads the GLB copy."""

    def __init__(self, arch: ArchConfig, parts: tuple[str, ...]):
        self.arch = arch
        self.e = dict.fromkeys(parts, 0.0)
        self.traffic = Traffic()

    def op(self, part: str, count: float, pj: float) -> None:
        self.e[part] += count * pj

    def access(self, part: str, level: str, count: float, bits: int) -> None:
        if count == 0:
            return
        self.traffic.bits[level] += count * bits
        self.e["dram" if level == "dram" else part] += count * self.arch.access_pj(level, bits)


    def weights(self, level: str, uses: float, fetched: float, bits: int) -> None:
        """``uses`` weight reads; ``fetched`` weights brought from DRAM when they live there."""
        if level == "dram":
            self.access("weights", "dram", fetched, bits)
            level = "glb"
        self.access("weights", level, uses, bits)


def mesh_hops(pes: int) -> float:
    """Mean Manhattan distance between two random nodes of a √P×√P mesh: 2·(√P − 1/√P)/3."""
    s = math.sqrt(max(1, pes))
    return 2.0 * (s - 1.0 / s) / 3.0


def packet_bits(neurons: int, payload_bits: int) -> int:
    """An address-event packet: the neuron's address plus the payload."""
    return max(1, math.ceil(math.log2(max(2, neurons)))) + payload_bits


def _noc_pj(arch: ArchConfig, packets: float, bits: int, destinations: int) -> float:
    """Packets multicast from one PE to ``destinations`` PEs: mean path + one hop per extra
    destination (a multicast tree over neighbouring PEs)."""
    hops = mesh_hops(arch.pes) + max(0, destinations - 1)
    return packets * arch.noc_hop_pj(bits) * hops


@dataclass
class LayerCost:
    name: str
    energy_pj: dict[str, float]
    cycles: float
    traffic: Traffic

    @property
    def total_pj(self) -> float:
        return sum(self.energy_pj.values())


def _destinations(mapping: Mapping, consumers: dict[str, list[str]], name: str) -> int:
    """PEs that receive a layer's output stream: the PEs of every layer consuming it."""
    return max(1, sum(mapping.layer(c).pes_used for c in consumers.get(name, [])))


def _memory_cycles(arch: ArchConfig, traffic: Traffic, T: int) -> np.ndarray:
    glb = traffic.bits["glb"] / arch.global_buffer.bandwidth_bits_per_cycle
    dram_bits_per_cycle = arch.dram.bandwidth_bytes_per_s.value * 8 / arch.frequency_hz
    dram = traffic.bits["dram"] / dram_bits_per_cycle
    return np.full(T, (glb + dram) / T)


def snn_layer_cost(arch: ArchConfig, mapping: Mapping, lc: LayerCounts, lm: LayerMapping,
                   membrane_level: str | None, destinations: int) -> LayerCost:
    """Energy (pJ, per image, without leakage) and cycles per timestep of one SNN layer."""
    p = arch.precision
    book = _Book(arch, SNN_PARTS)
    acs = lc.per_image(lc.accumulates).sum()
    spikes = lc.per_image(lc.output_spikes).sum()
    steps = lc.T
    v_level = membrane_level or "register"
    add = arch.op_energy_pj("add", p.membrane_bits)
    if lc.analog:
        mult = arch.op_energy_pj("mult", max(p.weight_bits, p.activation_bits))
        book.op("compute", acs, mult + add)
        steps_computed = int((lc.accumulates > 0).sum())
        book.weights(lm.weight_level, acs, lc.params * steps_computed, p.weight_bits)
        pixels = lc.per_image(lc.input_events)
        computed = lc.accumulates > 0
        book.access("spikes", mapping.buffer_level, pixels[computed].sum(), p.activation_bits)
        # the input image comes from DRAM once per inference
        book.access("dram", "dram", pixels[0], p.activation_bits)
        # the current is added to the membrane at every step (in the LIF phase below)
        book.op("compute", lc.neurons * steps, add)
    else:
        book.op("compute", acs, add)
        # identity-shortcut adds read no weight; from DRAM, each step fetches the weights its
        # events need, at most the whole layer
        uses = lc.per_image(lc.accumulates - lc.residual_events)
        book.weights(lm.weight_level, uses.sum(), np.minimum(uses, lc.params).sum(),
                     p.weight_bits)
        book.access("membrane", v_level, acs, p.membrane_bits)  # read
        book.access("membrane", v_level, acs, p.membrane_bits)  # write
    if lc.neuron == "lif":
        n_steps = lc.neurons * steps
        book.access("membrane", v_level, n_steps, p.membrane_bits)
        book.access("membrane", v_level, n_steps, p.membrane_bits)
        book.op("compute", n_steps, arch.leak_pj() + arch.op_energy_pj("compare",
                                                                       p.membrane_bits))
        book.op("compute", spikes, add)  # soft reset: u -= v
        bits = packet_bits(lc.neurons, p.spike_bits)
        book.access("spikes", mapping.buffer_level, spikes, bits)  # write to stream buffer
        book.access("spikes", mapping.buffer_level, spikes, bits)  # read for the next layer
        book.op("spikes", 1.0, _noc_pj(arch, spikes, bits, destinations))
    # cycles per step: the busiest PE's accumulates plus its LIF phase
    acc = arch.pe_array.accumulators
    work = lc.per_image(lc.pe_work).max(axis=1) if lc.pe_work.size else np.zeros(steps)
    lif = (lc.pe_neurons.max() if lc.pe_neurons.size else 0) if lc.neuron == "lif" else 0
    compute = np.ceil(work / acc) + math.ceil(lif / acc)
    memory = _memory_cycles(arch, book.traffic, steps)
    noc = arch.noc.hop_latency_cycles.value * mesh_hops(arch.pes)
    cycles = float(np.maximum(compute, memory).sum() + noc * steps)
    return LayerCost(lc.name, book.e, cycles, book.traffic)


def ann_layer_cost(arch: ArchConfig, mapping: Mapping, lc: LayerCounts, lm: LayerMapping,
                   state_level: str | None, inputs: int, destinations: int) -> LayerCost:
    """Energy (pJ, without leakage) and cycles of the same layer as a dense ANN layer run on
    the same chip and mapping: every input activation is an event (zeros included) that is
    read once from the activation buffer and scattered like a spike, with a multiply."""
    p = arch.precision
    book = _Book(arch, ANN_PARTS)
    macs = float(lc.ann_macs)
    buffer = mapping.ann_buffer_level
    mult = arch.op_energy_pj("mult", max(p.weight_bits, p.activation_bits))
    add = arch.op_energy_pj("add", p.membrane_bits)
    book.op("compute", macs, mult + add)
    book.weights(lm.weight_level, macs, lc.params, p.weight_bits)  # from DRAM: once per image
    book.access("activations", buffer, inputs, p.activation_bits)  # each input read once
    level = state_level or "register"
    book.access("activations", level, macs, p.membrane_bits)  # partial sum read
    book.access("activations", level, macs, p.membrane_bits)  # partial sum write
    outputs = lm.outputs
    if lc.neuron is not None:  # activation written to the buffer and sent on
        book.access("activations", buffer, outputs, p.activation_bits)
        bits = packet_bits(outputs, p.activation_bits)
        book.op("noc", 1.0, _noc_pj(arch, outputs, bits, destinations))
    if lc.analog:  # the input image comes from DRAM once per inference
        book.access("dram", "dram", inputs, p.activation_bits)
    per_output = lc.ann_macs / outputs
    busiest = max(lm.neurons_per_pe) * per_output
    compute = math.ceil(busiest / arch.pe_array.accumulators)
    memory = float(_memory_cycles(arch, book.traffic, 1)[0])
    noc = arch.noc.hop_latency_cycles.value * mesh_hops(arch.pes)
    return LayerCost(lc.name, book.e, max(compute, memory) + noc, book.traffic)


def schedule_cycles(per_layer_steps: list[float], T: int, schedule: str) -> float:
    """Total cycles from each layer's cycles summed over T steps."""
    if schedule == "pipelined" and T > 1:
        per_step = [c / T for c in per_layer_steps]
        return sum(per_step) + (T - 1) * max(per_step)
    return float(sum(per_layer_steps))


def add_leakage(costs: list[LayerCost], arch: ArchConfig, total_cycles: float) -> float:
    """Book static energy (leakage power × latency) onto layers by their share of cycles;
    returns the latency in seconds."""
    seconds = total_cycles / arch.frequency_hz
    total_pj = arch.leakage_w * seconds * 1e12
    busy = sum(c.cycles for c in costs) or 1.0
    for c in costs:
        c.energy_pj["leakage"] = total_pj * c.cycles / busy
    return seconds


def paper_energy(counts: list[LayerCounts], arch: ArchConfig) -> dict:
    """The paper's Table 3: ANN = Σ MACs × 4.6 pJ; SNN = first-layer MACs × 4.6 pJ + the other
    layers' accumulates × 0.9 pJ; no data movement (both node-scaled from 45 nm)."""
    mac, ac = arch.paper_mac_pj, arch.paper_ac_pj
    ann = sum(lc.ann_macs for lc in counts) * mac
    first = sum(lc.ann_macs for lc in counts if lc.analog)
    others = sum(lc.per_image(lc.accumulates).sum() for lc in counts if not lc.analog)
    snn = first * mac + others * ac
    total_ops = sum(lc.ann_macs for lc in counts)
    rest = total_ops - first
    return {
        "ann_pj": ann, "snn_pj": snn, "ratio": ann / snn if snn else float("inf"),
        # the paper's (b): SNN accumulates of the non-input layers / their ANN MACs
        "normalised_snn_ops": others / rest if rest else 0.0,
        "first_layer_share": first / total_ops if total_ops else 0.0,
        "mac_pj": mac, "ac_pj": ac,
    }

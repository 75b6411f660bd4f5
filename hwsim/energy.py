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
SNN, integrating output layer: per AC an add into its accumulator (membrane traffic as above),
    no LIF; with a leak λ ≠ 1 per neuron per step one leak (as a LIF layer's) and one read +
    write of its accumulator. A LIF output layer is a LIF layer (its spikes go to the stream
    buffer: the chip's result) plus, per output spike, one increment of that neuron's spike
    counter (an int add of ⌈log2(T+1)⌉ bits and a read + write of the counter register).
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
Leakage = static power × latency; clock = the clock tree and control of every PE in every
cycle of the latency (``technology.energy.clock_pj_per_pe_cycle``).

Latency: per layer and step, compute cycles = the busiest PE's work / its lanes (accumulators
that have a partial sum of the dataflow's tile to work on: min(accumulators, the tile's
partial sums in flight), :func:`lanes`) (+ its LIF phase); memory cycles = bits through the
GLB / its bandwidth + bits through DRAM / its bandwidth, and the busiest PE's SRAM words /
its ports; the layer takes the largest plus the NoC hop latency, and reports which resource
bound it. Layers run in turn (``layer_by_layer``) or overlap across timesteps
(``pipelined``: Σ_l c_l + (T−1)·max_l c_l).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from arch_configs import ArchConfig
from mapping.placement import LayerMapping, Mapping

from .counts import LayerCounts
from .dataflow import Accesses, readout_ops

SNN_PARTS = ("compute", "membrane", "weights", "spikes", "clock", "leakage", "dram")
ANN_PARTS = ("compute", "activations", "weights", "noc", "clock", "leakage", "dram")


# Which part of the breakdown each operand's accesses belong to (DRAM accesses go to ``dram``).
PART_OF = {
    "snn": {"W": "weights", "V": "membrane", "I": "spikes", "O": "spikes", "X": "dram"},
    "ann": {"W": "weights", "V": "activations", "I": "activations", "O": "activations",
            "X": "dram"},
}
NOC_PART = {"snn": "spikes", "ann": "noc"}


@dataclass
class Traffic:
    """Bits moved per memory level for one layer (per image), for energy and bandwidth."""

    bits: dict[str, float] = field(default_factory=lambda: {"register": 0.0, "pe_sram": 0.0,
                                                            "glb": 0.0, "dram": 0.0})


def traffic(acc: Accesses) -> Traffic:
    t = Traffic()
    for (_, level, _, bits), n in acc.mem.items():
        t.bits[level] += n * bits
    return t


def op_pj(arch: ArchConfig, op: str, bits: int) -> float:
    """One operation of the accounting: ``leak`` is the policy's leak at membrane width;
    ``count`` a spike counter's increment, an integer add of ``bits`` on any datapath."""
    if op == "leak":
        return arch.leak_pj()
    if op == "count":
        return arch.op_energy_pj("add", bits, "int")
    return arch.op_energy_pj(op, bits)


def price(acc: Accesses, arch: ArchConfig, side: str) -> dict[str, float]:
    """Energy per part (pJ, per image, without leakage) of a layer's accesses: the one place
    where counts meet the technology table. Operations are ``compute``; each operand's
    accesses go to its part (:data:`PART_OF`), DRAM accesses to ``dram``; NoC transfers are
    multicast from one PE to their destinations (:func:`noc_pj`)."""
    parts = SNN_PARTS if side == "snn" else ANN_PARTS
    e = dict.fromkeys(parts, 0.0)
    for (op, bits), n in acc.ops.items():
        e["compute"] += n * op_pj(arch, op, bits)
    for (operand, level, action, bits), n in acc.mem.items():
        part = "dram" if level == "dram" else PART_OF[side][operand]
        e[part] += n * arch.access_pj(level, bits, action)
    for _, packets, bits, destinations in acc.noc:
        e[NOC_PART[side]] += noc_pj(arch, packets, bits, destinations)
    return {k: float(v) for k, v in e.items()}  # plain floats (packet counts may be numpy)


def mesh_hops(pes: int) -> float:
    """Mean Manhattan distance between two random nodes of a √P×√P mesh: 2·(√P − 1/√P)/3."""
    s = math.sqrt(max(1, pes))
    return 2.0 * (s - 1.0 / s) / 3.0


def packet_bits(neurons: int, payload_bits: int) -> int:
    """An address-event packet: the neuron's address plus the payload."""
    return max(1, math.ceil(math.log2(max(2, neurons)))) + payload_bits


def noc_link_cycles(arch: ArchConfig, acc: Accesses) -> float:
    """Link-cycles a layer's NoC transfers occupy: per transfer its packets × flits per packet
    × hops (the mean mesh path + one per extra destination, as :func:`noc_pj` prices them)."""
    return sum(packets * math.ceil(bits / arch.noc.link_bits)
               * (mesh_hops(arch.pes) + max(0, destinations - 1))
               for _, packets, bits, destinations in acc.noc)


def noc_pj(arch: ArchConfig, packets: float, bits: int, destinations: int) -> float:
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
    accesses: Accesses | None = None
    mapping: str = "scatter"
    bound: str = ""  # what set its cycles: compute, pe_sram (ports), glb or dram
    compute_cycles: float = 0.0  # the busiest PE's compute alone (all steps)

    @property
    def total_pj(self) -> float:
        return sum(self.energy_pj.values())


def memory_cycles(arch: ArchConfig, lm: LayerMapping, traffic: Traffic) -> dict[str, float]:
    """Cycles each memory needs for a layer's traffic (whole layer, per image): ``glb`` and
    ``dram`` its bits over their bandwidths (they share the path, so they add up), ``pe_sram``
    the busiest PE's share (its share of the layer's outputs) packed in words through its
    read-write ports (``pe_array.sram_ports`` words a cycle)."""
    share = max(lm.neurons_per_pe) / max(1, sum(lm.neurons_per_pe))
    words = traffic.bits["pe_sram"] * share / arch.pe_array.sram_width_bits
    dram_bits_per_cycle = arch.dram.bandwidth_bytes_per_s.value * 8 / arch.frequency_hz
    return {"glb": traffic.bits["glb"] / arch.global_buffer.bandwidth_bits_per_cycle,
            "dram": traffic.bits["dram"] / dram_bits_per_cycle,
            "pe_sram": words / arch.pe_array.sram_ports}


def bound(compute: float, memory: dict[str, float]) -> str:
    """Which resource sets a layer's time: compute, pe_sram (its ports), or glb/dram."""
    shared = memory["glb"] + memory["dram"]
    options = {"compute": compute, "pe_sram": memory["pe_sram"],
               ("dram" if memory["dram"] > memory["glb"] else "glb"): shared}
    return max(options, key=options.get)


def lanes(arch: ArchConfig, lm: LayerMapping, in_flight: float | None = None) -> int:
    """Accumulates (or MACs) the busiest PE does per cycle: one per accumulator that has an
    output of its own to work on. Each accumulator keeps one partial sum in its register and
    a PE never splits one output's reduction over several accumulators (that would need a
    final add tree, which the chip does not have), so min(accumulators, partial sums in flight:
    ``in_flight``, the dataflow tile's (:attr:`dataflow.Accesses.in_flight`); None: the PE's
    outputs, as ``scatter`` may update any neuron of its block)."""
    limit = max(lm.neurons_per_pe) if in_flight is None else in_flight
    return int(max(1, min(arch.pe_array.accumulators, limit)))


def compute_cycles(arch: ArchConfig, lc: LayerCounts, lm: LayerMapping,
                   in_flight: float | None = None) -> np.ndarray:
    """Compute cycles per timestep of one SNN layer: the busiest PE's work / its
    :func:`lanes` + its LIF phase (its neurons / accumulators: every neuron is its own
    update; a leaky output integrator's leak likewise)."""
    acc = arch.pe_array.accumulators
    work = lc.per_image(lc.pe_work).max(axis=1) if lc.pe_work.size else np.zeros(lc.T)
    updated = lc.neuron == "lif" or getattr(lc, "leaky", False)  # LayerCounts.state_update
    lif = (lc.pe_neurons.max() if lc.pe_neurons.size else 0) if updated else 0
    return np.ceil(work / lanes(arch, lm, in_flight)) + math.ceil(lif / acc)


def snn_cycles(arch: ArchConfig, lc: LayerCounts, lm: LayerMapping, t: Traffic,
               with_bound: bool = False, in_flight: float | None = None):
    """Cycles of one SNN layer over all T: per step the largest of compute (at the tile's
    :func:`lanes`, ``in_flight``), the shared memory path (GLB + DRAM) and the busiest PE's
    SRAM ports (:func:`memory_cycles`, spread evenly over the steps), plus the NoC hop
    latency. ``with_bound``: (cycles, the resource that set them, the compute cycles alone)."""
    m = memory_cycles(arch, lm, t)
    compute = compute_cycles(arch, lc, lm, in_flight)
    per_step = max(m["glb"] + m["dram"], m["pe_sram"]) / lc.T
    noc = arch.noc.hop_latency_cycles.value * mesh_hops(arch.pes)
    cycles = float(np.maximum(compute, per_step).sum() + noc * lc.T)
    if not with_bound:
        return cycles
    return cycles, bound(float(compute.sum()), m), float(compute.sum())


def ann_cycles(arch: ArchConfig, lc: LayerCounts, lm: LayerMapping, t: Traffic,
               macs: float | None = None, with_bound: bool = False,
               in_flight: float | None = None):
    """Cycles of one ANN layer: the busiest PE's MACs (``macs`` in the layer, default its
    ``ann_macs``, spread evenly over its outputs) / its :func:`lanes` (the tile's partial sums
    in flight, ``in_flight``, at most the accumulators), or the memory time if longer (shared
    path or PE SRAM ports, :func:`memory_cycles`), plus the NoC. ``with_bound``: (cycles, the
    resource that set them, the compute cycles alone)."""
    macs = lc.ann_macs if macs is None else macs
    busiest = max(lm.neurons_per_pe) * macs / lm.outputs
    compute = math.ceil(busiest / lanes(arch, lm, in_flight))
    m = memory_cycles(arch, lm, t)
    noc = arch.noc.hop_latency_cycles.value * mesh_hops(arch.pes)
    cycles = max(compute, m["glb"] + m["dram"], m["pe_sram"]) + noc
    return (cycles, bound(compute, m), float(compute)) if with_bound else cycles


def _weights(acc: Accesses, level: str, uses: float, fetched: float, bits: int) -> None:
    """Scatter's weights: ``uses`` reads; weights living in DRAM are first fetched (``fetched``
    of them) into the GLB and each use reads the GLB copy."""
    if level == "dram":
        acc.read("W", "dram", fetched, bits)
        level = "glb"
    acc.read("W", level, uses, bits)


def snn_scatter(arch: ArchConfig, mapping: Mapping, lc: LayerCounts, lm: LayerMapping,
                membrane_level: str | None, destinations: int) -> Accesses:
    """The SNN's ``scatter`` dataflow (today's accounting, module docstring), as accesses."""
    p = arch.precision
    acc = Accesses(in_flight=max(lm.neurons_per_pe))  # any neuron of the PE's block
    acs = lc.per_image(lc.accumulates).sum()
    spikes = lc.per_image(lc.output_spikes).sum()
    steps = lc.T
    v_level = membrane_level or "register"
    vb = p.membrane_bits
    if lc.analog:
        acc.op("mult", acs, max(p.weight_bits, p.activation_bits))
        acc.op("add", acs, vb)
        steps_computed = int((lc.accumulates > 0).sum())
        _weights(acc, lm.weight_level, acs, lc.params * steps_computed, p.weight_bits)
        pixels = lc.per_image(lc.input_events)
        computed = lc.accumulates > 0
        acc.read("I", mapping.buffer_level, pixels[computed].sum(), p.activation_bits)
        acc.read("X", "dram", pixels[0], p.activation_bits)  # the image, once per inference
        acc.op("add", lc.neurons * steps, vb)  # the current into the membrane at every step
        if steps_computed < steps:  # computed once (first_layer: once): kept, read each step
            acc.write("V", v_level, lc.neurons, vb)
            acc.read("V", v_level, lc.neurons * steps, vb)
        if lc.bias:  # the bias into each computed current
            acc.op("add", lc.neurons * steps_computed, vb)
    else:
        acc.op("add", acs, vb)
        # identity-shortcut adds read no weight; from DRAM, each step fetches the weights its
        # events need, at most the whole layer
        uses = lc.per_image(lc.accumulates - lc.residual_events)
        _weights(acc, lm.weight_level, uses.sum(), np.minimum(uses, lc.params).sum(),
                 p.weight_bits)
        acc.rmw("V", v_level, acs, vb)
        if lc.bias:  # the bias current into every neuron at every step
            acc.op("add", lc.neurons * steps, vb)
    if lc.neuron == "lif":
        n_steps = lc.neurons * steps
        acc.rmw("V", v_level, n_steps, vb)
        acc.op("leak", n_steps, vb)
        acc.op("compare", n_steps, vb)
        acc.op("add", spikes, vb)  # soft reset: u -= v
        bits = packet_bits(lc.neurons, p.spike_bits)
        acc.write("O", mapping.buffer_level, spikes, bits)  # to the stream buffer
        acc.read("O", mapping.buffer_level, spikes, bits)  # read for the next layer
        acc.noc.append(("O", spikes, bits, destinations))
    elif lc.leaky:  # a leaky output integrator: a[t] = λ·a[t-1] + I[t], every neuron, step
        acc.rmw("V", v_level, lc.neurons * steps, vb)
        acc.op("leak", lc.neurons * steps, vb)
    if lc.spike_readout:
        readout_ops(acc, spikes, steps)
    return acc


def destinations(mapping: Mapping, consumers: dict[str, list[str]], name: str) -> int:
    """PEs that receive a layer's output stream: the PEs of every layer consuming it."""
    return max(1, sum(mapping.layer(c).pes_used for c in consumers.get(name, [])))


def snn_layer_cost(arch: ArchConfig, mapping: Mapping, lc: LayerCounts, lm: LayerMapping,
                   membrane_level: str | None, destinations: int) -> LayerCost:
    """Energy (pJ, per image, without leakage) and cycles of one SNN layer on ``scatter``."""
    acc = snn_scatter(arch, mapping, lc, lm, membrane_level, destinations)
    t = traffic(acc)
    cycles, limit, compute = snn_cycles(arch, lc, lm, t, with_bound=True)
    return LayerCost(lc.name, price(acc, arch, "snn"), cycles, t, acc, bound=limit,
                     compute_cycles=compute)


def ann_scatter(arch: ArchConfig, mapping: Mapping, lc: LayerCounts, lm: LayerMapping,
                state_level: str | None, inputs: int, destinations: int) -> Accesses:
    """The ANN's ``scatter`` baseline of old reports: the SNN's event-driven dataflow with every
    activation an event, partial sums where the SNN keeps its membranes, address bits on
    every packet, weights from DRAM once per image (module docstring)."""
    p = arch.precision
    acc = Accesses(in_flight=max(lm.neurons_per_pe))  # any output of the PE's block
    macs = float(lc.ann_macs)
    buffer = mapping.ann_buffer_level
    acc.op("mult", macs, max(p.weight_bits, p.activation_bits))
    acc.op("add", macs, p.membrane_bits)
    _weights(acc, lm.weight_level, macs, lc.params, p.weight_bits)  # from DRAM: once
    acc.read("I", buffer, inputs, p.activation_bits)  # each input read once
    acc.rmw("V", state_level or "register", macs, p.membrane_bits)  # partial sums
    outputs = lm.outputs
    if lc.bias:  # the bias added to every output once
        acc.op("add", outputs, p.membrane_bits)
    if lc.neuron is not None:  # activation written to the buffer and sent on
        acc.write("O", buffer, outputs, p.activation_bits)
        acc.noc.append(("O", outputs, packet_bits(outputs, p.activation_bits), destinations))
    if lc.analog:  # the input image comes from DRAM once per inference
        acc.read("X", "dram", inputs, p.activation_bits)
    return acc


def ann_layer_cost(arch: ArchConfig, mapping: Mapping, lc: LayerCounts, lm: LayerMapping,
                   state_level: str | None, inputs: int, destinations: int) -> LayerCost:
    """Energy (pJ, without leakage) and cycles of the layer as a dense ANN on ``scatter``."""
    acc = ann_scatter(arch, mapping, lc, lm, state_level, inputs, destinations)
    t = traffic(acc)
    cycles, limit, compute = ann_cycles(arch, lc, lm, t, with_bound=True)
    return LayerCost(lc.name, price(acc, arch, "ann"), cycles, t, acc, bound=limit,
                     compute_cycles=compute)


def schedule_cycles(per_layer_steps: list[float], T: int, schedule: str) -> float:
    """Total cycles from each layer's cycles summed over T steps."""
    if schedule == "pipelined" and T > 1:
        per_step = [c / T for c in per_layer_steps]
        return sum(per_step) + (T - 1) * max(per_step)
    return float(sum(per_layer_steps))


def add_leakage(costs: list[LayerCost], arch: ArchConfig, total_cycles: float) -> float:
    """Book the energy that runs with time onto layers by their share of cycles: static energy
    (leakage power × latency) and the clock tree and control (every PE, every cycle); returns
    the latency in seconds."""
    seconds = total_cycles / arch.frequency_hz
    static_pj = arch.leakage_w * seconds * 1e12
    clock_pj = arch.clock_pj_per_cycle * total_cycles
    busy = sum(c.cycles for c in costs) or 1.0
    for c in costs:
        c.energy_pj["leakage"] = static_pj * c.cycles / busy
        c.energy_pj["clock"] = clock_pj * c.cycles / busy
    return seconds


def paper_energy(counts: list[LayerCounts], arch: ArchConfig) -> dict:
    """The paper's Table 3: ANN = Σ MACs × 4.6 pJ; SNN = first-layer MACs × 4.6 pJ + the other
    layers' accumulates × 0.9 pJ; no data movement (both node-scaled from 45 nm)."""
    mac, ac = arch.paper_mac_pj, arch.paper_ac_pj
    ann = sum(lc.ann_macs for lc in counts) * mac
    first = sum(lc.ann_macs for lc in counts if lc.analog)
    others = float(sum(lc.per_image(lc.accumulates).sum() for lc in counts if not lc.analog))
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

"""The simulator against independent references: hand counts, energies and cycles of
micro-networks fed known spikes; bit-exact agreement with the PyTorch model on converted nets;
conservation, node and PE scaling; the paper's Table 3 (docs/DESIGN.md §2, docs/hwsim.md)."""

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from arch_configs import load_arch
from hwsim import energy as E
from hwsim.counts import LayerCounts
from hwsim.functional import compare_with_model, run_batch, shift_leak, store
from hwsim.simulate import SimOptions, simulate
from model.architectures import ARCHITECTURES, _Builder, build_architecture
from model.bundled import MODEL, bundled_sample
from model.checkpoint import Checkpoint
from model.checkpoint import load as load_checkpoint
from model.conversion import balance_thresholds
from model.data import ArraySet, normalise
from model.network import Network
from tests.conftest import make_images

MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]
DRAM_BITS_PER_CYCLE = 1.28e10 * 8 / 5e8  # 45nm.yaml: DDR3-1600 at a 500 MHz clock


def checkpoint(net: Network, arch: str, input_shape, mean=MEAN, std=STD) -> Checkpoint:
    ckpt = Checkpoint(arch, "cifar10", net.nodes[-1].out_shape[0], tuple(input_shape),
                      {"mean": mean, "std": std}, "converted", net.timesteps)
    ckpt.update_from(net)
    return ckpt


def register(monkeypatch, name: str, nodes) -> None:
    """Make a hand-built node list loadable by name (checkpoints refer to architectures so)."""
    monkeypatch.setitem(ARCHITECTURES, name, lambda num_classes, input_shape, **kw: tuple(nodes))


def sim(ckpt, data, arch="45nm", overrides=None, samples=None, **opts):
    """The simulator's report; the headline pair is ``scatter`` (today's accounting, which
    these hand counts check) unless ``dataflow`` is given."""
    opts.setdefault("dataflow", "scatter")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spills are listed in the report
        return simulate(ckpt, load_arch(arch, overrides), data, samples or len(data),
                        SimOptions(progress=False, **opts))


def mesh_mean_distance(pes: int) -> float:
    """Mean Manhattan distance over all ordered pairs of nodes of a square mesh, by brute force."""
    s = math.isqrt(pes)
    yx = np.array([(y, x) for y in range(s) for x in range(s)])
    return float(np.abs(yx[:, None] - yx[None]).sum(-1).mean())


def converted(name: str, n: int, T: int, scale: float = 0.5, seed: int = 0):
    """A freshly initialised ``name`` with thresholds balanced on ``n`` toy images."""
    torch.manual_seed(seed)
    net = Network(build_architecture(name, 10), T).eval()
    images, labels = make_images(n, seed=seed)
    with torch.no_grad():
        balance_thresholds(net, normalise(torch.from_numpy(images), MEAN, STD), T, scale=scale)
    return checkpoint(net, name, (3, 32, 32)), ArraySet(images, labels)


@pytest.fixture(scope="module")
def tiny():
    return converted("tiny", 4, 3)


# ------------------------------------------------------------------ micro-networks, by hand
# PE SRAMs that never bind the time (16 ports of 1,024-bit words), so that the cycles by hand
# below are compute and GLB/DRAM; tests/test_memory.py checks the port bound.
WIDE_PORTS = {"sram_ports": 16, "sram_width_bits": 1024}

def one_pixel_image(size: int, y: int, x: int) -> ArraySet:
    """One image, 255 in channel 0 at (y, x), else 0: with mean 0 and std 1 the network sees
    exactly 1.0 there and 0 elsewhere."""
    im = np.zeros((1, size, size, 3), np.uint8)
    im[0, y, x, 0] = 255
    return ArraySet(im, np.zeros(1, np.int64))


def micro_net(monkeypatch, c1: int, c2: int, residual: bool, T: int) -> Checkpoint:
    """input (3,5,5) -> conv1 1x1 (3->c1, reads channel 0) -> conv2 3x3 pad 1 (c1->c2,
    identity shortcut from conv1 if ``residual``) -> fc (-> 3, integrate). All weights 1 and
    thresholds 0.5, so a neuron whose input current is >= 1 at every step spikes at every step:
    the image's one pixel makes conv1 spike there at each step, and conv2 spike at every
    position its 3x3 kernel reaches from there."""
    b = _Builder((3, 5, 5))
    b.conv("conv1", c1, kernel=1, padding=0)
    b.conv("conv2", c2, residual="conv1" if residual else None)
    b.flatten()
    b.linear("fc", 3, neuron="integrate")
    name = "micro_res" if residual else "micro"
    register(monkeypatch, name, b.nodes)
    net = Network(tuple(b.nodes), T).eval()
    with torch.no_grad():
        for w in net.weights.values():
            w.fill_(1.0)
        net.weight("conv1")[:, 1:] = 0.0
        for n in net.spiking_layers:
            net.neuron(n.name).threshold.fill_(0.5)
    return checkpoint(net, name, (3, 5, 5), mean=[0.0] * 3, std=[1.0] * 3)


def reached(y: int, x: int, size: int = 5) -> int:
    """Output positions a 3x3 pad-1 kernel reaches from input (y, x)."""
    rows = min(y + 1, size - 1) - max(y - 1, 0) + 1
    cols = min(x + 1, size - 1) - max(x - 1, 0) + 1
    return rows * cols


@pytest.mark.parametrize("pos, level", [((2, 2), "register"), ((0, 0), "pe_sram"),
                                        ((0, 2), "glb"), ((2, 2), "dram")])
def test_micro_conv_counts_energy_and_cycles_by_hand(monkeypatch, pos, level):
    T, P, ACC = 3, 4, 4
    r = reached(*pos)
    assert r == {(2, 2): 9, (0, 0): 4, (0, 2): 6}[pos]
    over = {"pe_array": {"count": P, "accumulators": ACC, "register_bytes": 256, **WIDE_PORTS},
            "policy": {"membrane_level": level, "weight_level": "pe_sram"}}
    arch = load_arch("45nm", over)
    rep = sim(micro_net(monkeypatch, 1, 4, False, T), one_pixel_image(5, *pos), overrides=over)
    assert rep["accuracy"]["functional_match"] and rep["mapping"]["buffer_level"] == "glb"
    conv1, conv2, fc = rep["layers"]
    assert [row["membrane_level"] for row in rep["layers"]] == [level] * 3
    assert [row["weight_level"] for row in rep["layers"]] == ["pe_sram"] * 3

    # counts: conv1 sees 75 pixels and does 75 MACs per step, spikes once per step
    macs1, s1 = 3 * 25 * T, T
    a2 = s2 = r * 4 * T  # one event reaches r positions x 4 channels; each of them spikes
    a3 = s2 * 3
    assert (conv1["snn_macs"], conv1["snn_acs"], conv1["spikes"]) == (macs1, 0, s1)
    assert (conv1["weight_reads"], conv1["membrane_reads"], conv1["membrane_writes"]) == \
        (macs1, 25 * T, 25 * T)
    assert (conv2["input_events"], conv2["snn_acs"], conv2["spikes"]) == (T, a2, s2)
    assert (conv2["weight_reads"], conv2["membrane_reads"], conv2["membrane_writes"]) == \
        (a2, a2 + 100 * T, a2 + 100 * T)
    assert conv2["spike_rate"] == pytest.approx(s2 / 100)
    assert (fc["input_events"], fc["snn_acs"], fc["spikes"], fc["spike_rate"]) == \
        (s2, a3, 0, None)
    assert (fc["weight_reads"], fc["membrane_reads"]) == (a3, a3)

    # energy of conv2 (pJ per image)
    add, cmp = arch.op_energy_pj("add", 16), arch.op_energy_pj("compare", 16)
    # a read-modify-write of a membrane: one read and one write (CACTI: they differ)
    v = arch.access_pj(level, 16, "read") + arch.access_pj(level, 16, "write")
    w = arch.access_pj("pe_sram", 8)
    hops = mesh_mean_distance(P)
    assert E.mesh_hops(P) == pytest.approx(hops)
    rw2 = a2 + 100 * T
    e2 = conv2["energy_pj"]
    assert e2["compute"] == pytest.approx(a2 * add + 100 * T * (arch.leak_pj() + cmp) + s2 * add)
    assert e2["weights"] == pytest.approx(a2 * w)
    assert e2["membrane"] == pytest.approx(0 if level == "dram" else rw2 * v)
    assert e2["dram"] == pytest.approx(rw2 * v if level == "dram" else 0)
    packet = 7 + 1  # ceil(log2(100 neurons)) address bits + 1 spike bit
    noc = s2 * arch.noc_hop_pj(packet) * (hops + 3 - 1)  # multicast to fc's 3 PEs
    glb_rw = arch.access_pj("glb", packet, "write") + arch.access_pj("glb", packet, "read")
    assert e2["spikes"] == pytest.approx(s2 * glb_rw + noc)
    # conv1: analog MACs, pixel reads from the stream buffer, the image from DRAM once
    e1 = conv1["energy_pj"]
    mult = arch.op_energy_pj("mult", 8)
    assert e1["compute"] == pytest.approx(macs1 * (mult + add) + 25 * T * add
                                          + 25 * T * (arch.leak_pj() + cmp) + s1 * add)
    rw1 = 25 * T
    assert e1["dram"] == pytest.approx(75 * 8 * arch.dram_pj_per_bit
                                       + (rw1 * v if level == "dram" else 0))
    assert e1["spikes"] == pytest.approx(
        75 * T * arch.access_pj("glb", 8)
        + s1 * (arch.access_pj("glb", 6, "write") + arch.access_pj("glb", 6, "read"))
        + s1 * arch.noc_hop_pj(6) * (hops + 4 - 1))

    # cycles per step: busiest PE's work / min(accumulators, partial sums its tile keeps)
    # + its LIF phase, or the memory time
    def cycles(compute, glb_bits, dram_bits):
        memory = (glb_bits / 1024 + dram_bits / DRAM_BITS_PER_CYCLE) / T
        return T * (max(compute, memory) + hops)

    def traffic(rw):  # bits of ``rw`` membrane reads + writes through (glb, dram)
        return {"glb": (rw * 16, 0), "dram": (0, rw * 16)}.get(level, (0, 0))

    g, d = traffic(2 * rw1)
    # conv1: 1 channel over 4 PEs as spatial tiles of 7, 6, 6, 6 neurons, 3 MACs each
    c1 = cycles(math.ceil(7 * 3 / ACC) + math.ceil(7 / ACC),
                75 * 8 * T + 2 * s1 * 6 + g, 75 * 8 + d)
    g, d = traffic(2 * rw2)
    # conv2: one channel (25 neurons) per PE; each PE does r ACs per step
    c2 = cycles(math.ceil(r / ACC) + math.ceil(25 / ACC), 2 * s2 * packet + g, d)
    g, d = traffic(2 * a3)
    # fc: one neuron on each of 3 PEs, no LIF: one partial sum, so one accumulate a cycle
    # (a PE never splits one output's sum over its accumulators; this said r·4 / ACC before)
    c3 = cycles(r * 4, g, d)
    assert [row["cycles"] for row in rep["layers"]] == pytest.approx([c1, c2, c3])
    assert rep["snn"]["latency_cycles"] == pytest.approx(c1 + c2 + c3)
    if level == "dram":
        assert c2 > T * (math.ceil(r / ACC) + math.ceil(25 / ACC) + hops)  # memory-bound
    assert rep["snn"]["energy_pj"]["leakage"] == pytest.approx(
        arch.leakage_w * rep["snn"]["latency_cycles"] / arch.frequency_hz * 1e12)

    # the ANN baseline of conv2: 25 inputs read once, 900 dense MACs each a partial-sum
    # read-modify-write where conv2's neurons live, 100 outputs written to the buffer
    a = conv2["ann_energy_pj"]
    assert conv2["ann_macs"] == 900
    assert a["compute"] == pytest.approx(900 * (mult + add))
    assert a["weights"] == pytest.approx(900 * w)
    psums = 0.0 if level == "dram" else 900 * v
    assert a["activations"] == pytest.approx(25 * arch.access_pj("glb", 8)
                                             + 100 * arch.access_pj("glb", 8, "write") + psums)
    if level == "dram":
        assert a["dram"] == pytest.approx(2 * 900 * arch.access_pj("dram", 16))


def test_micro_conv_spatial_partition_is_load_imbalanced(monkeypatch):
    """Spatial tiles of 7, 6, 6, 6 positions (row-major): a spike at the centre reaches
    positions 6 | 7, 8, 11, 12 | 13, 16, 17, 18 | none, i.e. 4, 16, 16, 0 ACs per step."""
    T, ACC = 2, 4
    over = {"pe_array": {"count": 4, "accumulators": ACC, **WIDE_PORTS},
            "policy": {"partition": "spatial", "membrane_level": "pe_sram"}}
    rep = sim(micro_net(monkeypatch, 1, 4, False, T), one_pixel_image(5, 2, 2), overrides=over)
    conv2 = rep["layers"][1]
    assert conv2["pe_load_imbalance"] == pytest.approx(16 / 9)
    hops = mesh_mean_distance(4)
    assert conv2["cycles"] == pytest.approx(T * (16 / ACC + math.ceil(7 * 4 / ACC) + hops))


def test_micro_identity_shortcut_adds_without_weights(monkeypatch):
    """conv2 (2->2) adds conv1's 2 spikes 1:1 into its membranes: 2 more accumulates and
    membrane read-modify-writes per step, but no weight reads."""
    T = 3
    over = {"pe_array": {"count": 4}, "policy": {"membrane_level": "pe_sram",
                                                  "weight_level": "pe_sram"}}
    arch = load_arch("45nm", over)
    rep = sim(micro_net(monkeypatch, 2, 2, True, T), one_pixel_image(5, 2, 2), overrides=over)
    assert rep["accuracy"]["functional_match"]
    conv1, conv2, fc = rep["layers"]
    synaptic = 9 * 2 * 2 * T  # 2 events x 9 positions x 2 channels
    acs = synaptic + 2 * T
    assert conv1["spikes"] == 2 * T and conv2["input_events"] == 2 * T
    assert (conv2["snn_acs"], conv2["weight_reads"]) == (acs, synaptic)
    assert conv2["membrane_reads"] == conv2["membrane_writes"] == acs + 50 * T
    assert conv2["spikes"] == 9 * 2 * T
    e = conv2["energy_pj"]
    assert e["weights"] == pytest.approx(synaptic * arch.access_pj("pe_sram", 8))
    assert e["membrane"] == pytest.approx((acs + 50 * T) * (
        arch.access_pj("pe_sram", 16, "read") + arch.access_pj("pe_sram", 16, "write")))


def test_micro_mlp_with_analog_linear_input(monkeypatch):
    """input -> flatten -> fc1 (lif) -> fc2: the analog image feeds a dense linear layer."""
    T = 4
    b = _Builder((3, 4, 4))
    b.flatten()
    b.linear("fc1", 16)
    b.linear("fc2", 3, neuron="integrate")
    register(monkeypatch, "mlp", b.nodes)
    torch.manual_seed(0)
    net = Network(tuple(b.nodes), T).eval()
    images, labels = make_images(4, size=4, classes=3)
    with torch.no_grad():
        balance_thresholds(net, normalise(torch.from_numpy(images), MEAN, STD), T, scale=0.5)
    rep = sim(checkpoint(net, "mlp", (3, 4, 4)), ArraySet(images, labels))
    acc = rep["accuracy"]
    assert acc["functional_match"] and acc["spike_mismatches"] == 0
    fc1, fc2 = rep["layers"]
    assert fc1["analog_input"] and fc1["snn_macs"] == 48 * 16 * T and fc1["spikes"] > 0
    assert fc2["input_events"] == fc1["spikes"] and fc2["snn_acs"] == 3 * fc1["spikes"]


# ------------------------------------------------------------------ functional match
def assert_matches(rep):
    acc = rep["accuracy"]
    assert acc["functional_match"] is True
    assert acc["spike_mismatches"] == 0 and acc["prediction_mismatches"] == 0
    spiking = [r for r in rep["layers"] if r["neuron"] == "lif"]
    # every spike of every LIF layer, every step and image, was compared
    assert acc["spikes_compared"] == rep["model"]["timesteps"] * rep["samples"] * sum(
        r["neurons"] for r in spiking)
    assert all(r["spikes"] > 0 for r in spiking), "a silent layer makes the check vacuous"


def test_tiny_matches_the_model_bit_for_bit(tiny):
    assert_matches(sim(*tiny))


def test_a_wrong_datapath_is_detected(tiny):
    """The comparison can fail: halve one stored weight on the model side only."""
    ckpt, data = tiny
    stored = store(ckpt, 8)
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    res = run_batch(stored, x, 3)
    assert compare_with_model(stored, x, 3, res).functional_match
    with torch.no_grad():
        stored.net.weight("conv2").mul_(0.5)
    bad = compare_with_model(stored, x, 3, res)
    assert bad.spike_mismatches > 0 and not bad.functional_match


@pytest.mark.parametrize("bits", [4, 8, 24])
def test_fixed_point_membranes_match_the_model_and_change_the_spikes(tiny, bits):
    """The chip's membrane width is simulated: at any width the spikes are the PyTorch model's
    (run with the same membrane format), every layer's membranes are on their grid, and a
    narrow membrane changes the spikes of float membranes."""
    ckpt, data = tiny
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    fixed, floating = store(ckpt, 8, bits, 3), store(ckpt, 8)
    res = run_batch(fixed, x, 3)
    assert compare_with_model(fixed, x, 3, res).functional_match
    assert set(fixed.membranes) == {n.name for n in fixed.nodes if n.neuron}
    out = fixed.net.snn(x, 3, record_membranes=True)
    for name, fmt in fixed.membranes.items():
        k = out.membranes[name] / fmt.lsb
        assert torch.equal(k, k.floor()) and k.min() >= fmt.low and k.max() <= fmt.high
    ref = run_batch(floating, x, 3)
    changed = sum(int((res.spikes[k] != ref.spikes[k]).sum()) for k in res.spikes)
    assert (changed > 0) == (bits < 24)


def test_the_membrane_width_reaches_the_report(tiny):
    narrow = sim(*tiny, overrides={"precision": {"membrane_bits": 4}})
    assert_matches(narrow)
    assert "4-bit fixed-point membranes" in narrow["accuracy"]["datapath"]
    rates = [[r["spike_rate"] for r in rep["layers"]] for rep in (narrow, sim(*tiny))]
    assert rates[0] != rates[1]


@pytest.mark.parametrize(("leak", "bits", "realised"), [
    (0.95, 16, 0.9375), (0.99, 16, 1 - 2**-7), (0.3, 16, 0.25), (0.8, 4, 0.75), (0.99, 4, 1.0),
    (0.0, 8, 0.0), (1.0, 8, 1.0)])
def test_shift_leak_realises_the_nearest_shift_and_add(leak, bits, realised):
    assert shift_leak(leak, bits) == realised


def test_a_shift_leak_chip_simulates_the_leak_it_can_build(tiny):
    """policy.leak: shift prices a shift and an add, so the simulated λ is one such a unit
    realises (1 − 2^-k or 2^-k), and the spikes still match the model's bit for bit."""
    ckpt, data = tiny
    ckpt = replace(ckpt, leak={k: 0.9 for k in ckpt.threshold})  # converted nets do not leak
    stored = store(ckpt, 8, 16, 3, leak="shift")
    assert set(stored.leak.values()) == {0.875}
    rep = sim(ckpt, data, overrides={"policy": {"leak": "shift"}})
    assert_matches(rep)
    assert "shift and add" in rep["accuracy"]["datapath"]


def test_vgg16_matches_the_model_bit_for_bit():
    rep = sim(*converted("vgg16", 4, 2))
    assert len([r for r in rep["layers"] if r["neuron"] == "lif"]) == 15
    assert_matches(rep)


def test_resnet20_matches_the_model_bit_for_bit():
    rep = sim(*converted("resnet20", 2, 2))
    names = [r["name"] for r in rep["layers"]]
    assert "s2b1.shortcut" in names and len([r for r in rep["layers"]
                                             if r["neuron"] == "lif"]) == 19
    assert_matches(rep)
    rows = {r["name"]: r for r in rep["layers"]}
    # an identity shortcut adds each spike of the block's input once, reading no weight
    for block, source in (("s1b2", "s1b1.conv2"), ("s3b2", "s3b1.conv2")):
        row = rows[f"{block}.conv2"]
        assert row["snn_acs"] - row["weight_reads"] == rows[source]["spikes"] > 0
    # a shortcut conv's current is its own layer's work: every accumulate reads a weight
    assert rows["s2b1.conv2"]["snn_acs"] == rows["s2b1.conv2"]["weight_reads"]
    assert rows["s2b1.shortcut"]["snn_acs"] == rows["s2b1.shortcut"]["weight_reads"] > 0


@pytest.mark.skipif(not MODEL.is_file(), reason="the bundled model is not in this checkout")
def test_bundled_model_matches_the_model_bit_for_bit():
    rep = sim(load_checkpoint(MODEL), bundled_sample(), samples=2)  # at its own T
    assert_matches(rep)


# ------------------------------------------------------------------ spikes and ACs vs the model
def test_spike_rates_and_acs_follow_the_models_own_spikes(tiny):
    ckpt, data = tiny
    T = 3
    rep = sim(ckpt, data)
    net = store(ckpt, 8, 16, T).net  # the default chip: 8-bit weights, 16-bit membranes
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    out = net.snn(x, T, record_spikes=True)
    n_img = len(data)
    rows = {r["name"]: r for r in rep["layers"]}
    for n in net.spiking_layers:
        assert rows[n.name]["spike_rate"] == pytest.approx(
            out.spike_counts[n.name].item() / (n.neurons * n_img), rel=1e-12)
    # conv2 reads pool1(conv1's spikes): ACs = Σ events × positions reached × C_out
    pooled = F.avg_pool2d(out.spikes["conv1"].flatten(0, 1), 2)
    ones = torch.ones(1, pooled.shape[1], 3, 3)
    fanin = F.conv2d((pooled != 0).float(), ones, padding=1)
    assert rows["conv2"]["snn_acs"] == pytest.approx(fanin.sum().item() * 16 / n_img)
    assert rows["conv2"]["input_events"] == pytest.approx((pooled != 0).sum().item() / n_img)
    # fc1 reads pool2(conv2's spikes), flattened: ACs = events × 10
    events = (F.avg_pool2d(out.spikes["conv2"].flatten(0, 1), 2) != 0).sum().item()
    assert rows["fc1"]["snn_acs"] == pytest.approx(events * 10 / n_img)


# ------------------------------------------------------------------ conservation and scaling
@pytest.mark.parametrize("mode", ["full", "paper"])
def test_energy_parts_add_up(tiny, mode):
    rep = sim(*tiny, energy_mode=mode)
    for side, parts, key in (("snn", E.SNN_PARTS, "energy_pj"),
                             ("ann", E.ANN_PARTS, "ann_energy_pj")):
        tot = rep[side]["energy_pj"]
        assert set(tot) == {*parts, "total"}
        assert tot["total"] == pytest.approx(sum(tot[p] for p in parts))
        for p in parts:
            assert tot[p] == pytest.approx(sum(r[key][p] for r in rep["layers"]))
        for r in rep["layers"]:
            assert r[key]["total"] == pytest.approx(sum(r[key][p] for p in parts))
    full = rep["ann"]["energy_pj"]["total"] / rep["snn"]["energy_pj"]["total"]
    paper = rep["paper"]["ann_pj"] / rep["paper"]["snn_pj"]
    assert rep["ratio"]["energy_ann_over_snn_full"] == pytest.approx(full)
    assert rep["ratio"]["energy_ann_over_snn"] == pytest.approx(full if mode == "full" else paper)
    assert rep["ratio"]["latency_ann_over_snn"] == pytest.approx(
        rep["ann"]["latency_cycles"] / rep["snn"]["latency_cycles"])


def test_leakage_noc_and_spike_energies_are_never_zero(tiny):
    rep = sim(*tiny)
    snn, ann = rep["snn"]["energy_pj"], rep["ann"]["energy_pj"]
    assert snn["leakage"] > 0 and snn["spikes"] > 0 and snn["dram"] > 0
    assert ann["leakage"] > 0 and ann["noc"] > 0
    for r in rep["layers"]:
        assert r["energy_pj"]["leakage"] > 0 and r["ann_energy_pj"]["noc"] > 0
        if r["neuron"] == "lif":
            assert r["energy_pj"]["spikes"] > 0


def test_7nm_scales_logic_and_memories_each_by_their_own_model(tiny):
    """Logic (operations, clock) scales by Stillmaker & Baas' 0.094; DRAM not at all; static
    energy by the chip's leakage power; memories and wires by their own models, all cheaper."""
    a45, a7 = load_arch("45nm"), load_arch("7nm")
    assert a7.dram_pj_per_bit == a45.dram_pj_per_bit  # the DRAM part is not node-scaled
    r45, r7 = sim(*tiny), sim(*tiny, arch="7nm")
    assert r7["snn"]["latency_cycles"] == r45["snn"]["latency_cycles"]
    assert r7["ann"]["latency_cycles"] == r45["ann"]["latency_cycles"]
    factor = {"compute": 0.094, "clock": 0.094, "dram": 1.0,
              "leakage": a7.leakage_w / a45.leakage_w}
    for side, parts in (("snn", E.SNN_PARTS), ("ann", E.ANN_PARTS)):
        for p in parts:
            e45, e7 = r45[side]["energy_pj"][p], r7[side]["energy_pj"][p]
            assert e45 > 0
            if p in factor:
                assert e7 == pytest.approx(factor[p] * e45, rel=1e-9), (side, p)
            else:  # SRAM (CACTI 22 nm x 0.297), registers (x 0.094), wires (x 0.123)
                assert 0.09 * e45 < e7 < 0.31 * e45, (side, p)
    assert r7["paper"]["ratio"] == pytest.approx(r45["paper"]["ratio"])


@pytest.mark.parametrize("glb_bits_per_cycle", [1024, 2**20])
def test_more_pes_take_fewer_cycles_for_the_same_compute_energy(tiny, glb_bits_per_cycle):
    few, many = (sim(*tiny, overrides={"pe_array": {"count": p}, "global_buffer": {
        "bandwidth_bits_per_cycle": glb_bits_per_cycle}}) for p in (16, 64))
    for side in ("snn", "ann"):
        assert many[side]["energy_pj"]["compute"] == pytest.approx(
            few[side]["energy_pj"]["compute"], rel=1e-12)
    assert [r["snn_acs"] for r in many["layers"]] == [r["snn_acs"] for r in few["layers"]]
    assert many["snn"]["latency_cycles"] < few["snn"]["latency_cycles"]
    if glb_bits_per_cycle > 1024:
        assert many["ann"]["latency_cycles"] < few["ann"]["latency_cycles"]
    else:  # the dense ANN is GLB-bound: more PEs only lengthen each layer's NoC path
        longer = len(few["layers"]) * (mesh_mean_distance(64) - mesh_mean_distance(16))
        assert many["ann"]["latency_cycles"] <= few["ann"]["latency_cycles"] + longer + 1e-9


def test_first_layer_once_computes_its_macs_once(tiny):
    every, once = sim(*tiny), sim(*tiny, overrides={"policy": {"first_layer": "once"}})
    c_every, c_once = every["layers"][0], once["layers"][0]
    assert c_every["snn_macs"] == 3 * c_every["ann_macs"]
    assert c_once["snn_macs"] == c_once["weight_reads"] == c_once["ann_macs"]
    assert (c_every["input_events"], c_once["input_events"]) == (3 * 3072, 3072)
    assert c_once["cycles"] < c_every["cycles"]
    assert c_once["energy_pj"]["compute"] < c_every["energy_pj"]["compute"]
    assert [r["snn_acs"] for r in once["layers"]] == [r["snn_acs"] for r in every["layers"]]


# ------------------------------------------------------------------ the paper's Table 3
def counts(name, ann_macs, acs_per_step, analog, T=5):
    z = np.zeros(T)
    return LayerCounts(name, "conv", "lif", 1, 1, ann_macs, analog, T, z, np.full(T, acs_per_step),
                       z, np.zeros((T, 1)), np.ones(1), z, images=1)


def test_paper_mode_reproduces_table_3():
    b, c, total = 0.39, 0.005, 10_000_000
    first, rest = round(c * total), total - round(c * total)
    layers = [counts("conv1", first, first, True),
              counts("conv2", rest // 2, b * (rest // 2) / 5, False),
              counts("conv3", rest - rest // 2, b * (rest - rest // 2) / 5, False)]
    p = E.paper_energy(layers, load_arch("45nm"))
    assert p["normalised_snn_ops"] == pytest.approx(b)
    assert p["first_layer_share"] == pytest.approx(c)
    assert p["ann_pj"] == pytest.approx(total * 4.6)
    assert p["snn_pj"] == pytest.approx(first * 4.6 + b * rest * 0.9)
    assert p["ratio"] == pytest.approx(4.6 / (c * 4.6 + (1 - c) * b * 0.9))
    assert round(p["ratio"], 1) == 12.4


def test_paper_mode_on_a_real_run(tiny):
    rep = sim(*tiny, energy_mode="paper")
    layers = rep["layers"]
    ann = sum(r["ann_macs"] for r in layers) * 4.6
    snn = sum(r["ann_macs"] * 4.6 if r["analog_input"] else r["snn_acs"] * 0.9 for r in layers)
    assert rep["paper"]["ann_pj"] == pytest.approx(ann)
    assert rep["paper"]["snn_pj"] == pytest.approx(snn)
    assert rep["ratio"]["energy_ann_over_snn"] == pytest.approx(ann / snn)


def test_batching_does_not_change_the_counts(tiny):
    whole, single = sim(*tiny), sim(*tiny, batch_size=1)
    for a, b in zip(whole["layers"], single["layers"]):
        for k in ("spikes", "input_events", "snn_acs", "snn_macs", "weight_reads",
                  "membrane_reads", "cycles"):
            assert a[k] == pytest.approx(b[k], rel=1e-12), (a["name"], k)
        assert a["energy_pj"] == pytest.approx(b["energy_pj"], rel=1e-12)
    assert whole["snn"]["energy_pj"] == pytest.approx(single["snn"]["energy_pj"], rel=1e-12)


def test_pipelined_layers_overlap_across_timesteps(tiny):
    rep = sim(*tiny, overrides={"policy": {"schedule": "pipelined"}})
    assert rep["arch"]["schedule"] == "pipelined"
    per_step = [r["cycles"] / 3 for r in rep["layers"]]  # T = 3
    assert rep["snn"]["latency_cycles"] == pytest.approx(sum(per_step) + 2 * max(per_step))
    assert rep["snn"]["latency_cycles"] < 3 * sum(per_step)

"""The output layer's two readouts, in the model and in the simulator, bit for bit: a spiking
(LIF) output read out as spike counts, and a leaky integrator (NIR's LI) a[t] = λ·a[t-1] + I[t];
and biases stored in fixed point on their layer's membrane grid on the int datapath.

Golden values are computed by hand (every one exact in binary)."""

import json
import warnings

import numpy as np
import pytest
import torch

import hwsim.functional as HF
import hwsim.kernels as K
import model.checkpoint as C
from arch_configs import load_arch
from hwsim import dataflow as D
from hwsim import energy as E
from hwsim import report_schema as RS
from mapping.graph import layer_graph
from model.architectures import ArchitectureError, nodes_from_dicts
from model.network import Network
from model.neuron import MembraneFormat, integrate_step
from tests.test_checkpoint_format import custom_nodes

# ------------------------------------------------------------------ golden traces
# A LIF output, λ = 0.5, v = 1, paper reset, constant current I; hand-computed
# u[t] = λ·u[t-1] + I − v·o[t-1]:
#   I = 0.75: u = 0.75, 1.125, 0.3125, 0.90625, 1.203125    o = 0 1 0 0 1  count 2
#   I = 1.25: u = 1.25, 0.875, 1.6875, 1.09375, 0.796875    o = 1 0 1 1 0  count 3
#   I = -0.5: u = -0.5, -0.75, -0.875, -0.9375, -0.96875    o = 0 0 0 0 0  count 0
READOUT_BIAS = [0.75, 1.25, -0.5]
SPIKES = [[0, 1, 0, 0, 1], [1, 0, 1, 1, 0], [0, 0, 0, 0, 0]]
COUNTS = [2.0, 3.0, 0.0]
# a leaky integrator, λ = 0.75, I = 1 at every step: a = 1, 1.75, 2.3125, 2.734375, 3.05078125
LI_TRACE = [1.0, 1.75, 2.3125, 2.734375, 3.05078125]
# λ = 0.75 with a current that changes: I = 1, 0, 2, -1, 0.5
LI_CURRENT = [1.0, 0.0, 2.0, -1.0, 0.5]
LI_VARYING = [1.0, 0.75, 2.5625, 0.921875, 1.19140625]
# the same on a 8-bit accumulator of LSB 1/8 (each update floored onto the grid):
# 1; 0.75; ⌊8·2.5625⌋/8 = 2.5; 1.875 − 1 = 0.875; ⌊8·1.15625⌋/8 = 1.125
LI_FIXED = [1.0, 0.75, 2.5, 0.875, 1.125]


def _readout_checkpoint(neuron: str, leak: float | None = None) -> C.Checkpoint:
    """input (1, 2, 2) -> flatten -> linear 'out' (4 -> 3) with neuron ``neuron``; weight 0
    and bias READOUT_BIAS, so the output's current is the bias at every step."""
    nodes = nodes_from_dicts([
        {"name": "in", "kind": "input", "out_shape": [1, 2, 2]},
        {"name": "f", "kind": "flatten", "source": "in", "in_shape": [1, 2, 2],
         "out_shape": [4]},
        {"name": "out", "kind": "linear", "source": "f", "in_shape": [4], "out_shape": [3],
         "neuron": neuron, "bias": True},
    ])
    ck = C.Checkpoint(arch="readout", dataset="toy", num_classes=3, input_shape=(1, 2, 2),
                      preprocessing={"mean": [0.0], "std": [1.0]}, stage="snn", timesteps=5,
                      layers=nodes, weights={"out": torch.zeros(3, 4)},
                      bias={"out": torch.tensor(READOUT_BIAS)})
    if neuron == "lif":
        ck.leak, ck.threshold = {"out": 0.5}, {"out": 1.0}
    elif leak is not None:
        ck.leak = {"out": leak}
    return ck


def test_spike_count_readout_golden_in_model_and_simulator():
    ck = _readout_checkpoint("lif")
    x = torch.randn(2, 1, 2, 2)  # the weight is 0: only the bias drives the output
    net = ck.build().eval()
    out = net.snn(x, 5, record_spikes=True)
    assert out.spikes["out"][:, 0].T.tolist() == SPIKES
    assert out.logits.tolist() == [COUNTS, COUNTS]
    # the ANN reading keeps ReLU on the output: relu(0·x + b)
    assert net(x).tolist() == [[0.75, 1.25, 0.0]] * 2
    for membrane_bits in (None, 12):
        stored = HF.store(ck, weight_bits=8, membrane_bits=membrane_bits, T=5)
        sim = HF.run_batch(stored, x, 5)
        assert sim.spikes["out"][:, 0].T.tolist() == SPIKES
        assert sim.logits.tolist() == [COUNTS, COUNTS]
        assert sim.events["out"].spike_readout and sim.events["out"].output_spikes.sum() == 10
        assert HF.compare_with_model(stored, x, 5, sim).functional_match


def test_spike_count_in_the_kernel():
    """The kernel's spikes over T, summed per neuron, are the hand counts."""
    current = np.array([READOUT_BIAS], np.float32)
    spikes, _, counts = K.lif_run(current, 0.5, 1.0, "paper", True, 5)
    assert spikes[:, 0].T.tolist() == SPIKES and spikes.sum(axis=0)[0].tolist() == COUNTS
    assert counts[:, 0].tolist() == [sum(s[t] for s in SPIKES) for t in range(5)]


def test_leaky_integrator_golden_in_model_and_simulator():
    ck = _readout_checkpoint("integrate", leak=0.75)
    ck.bias = {"out": torch.tensor([1.0, 0.5, -0.25])}  # a = (λ-series) · b
    x = torch.randn(2, 1, 2, 2)
    net = ck.build().eval()
    assert net.output_leak.item() == 0.75
    out = net.snn(x, 5, record_membranes=True)
    assert out.membranes["out"][:, 0, 0].tolist() == LI_TRACE
    assert out.logits[0].tolist() == [LI_TRACE[-1], LI_TRACE[-1] / 2, -LI_TRACE[-1] / 4]
    stored = HF.store(ck, weight_bits=8)
    assert stored.output_leak == 0.75
    sim = HF.run_batch(stored, x, 5)
    assert sim.logits.tolist() == out.logits.tolist() and sim.events["out"].leaky
    # λ = 1 (no leak entry) is today's integrator: a[T] = T·b
    plain = _readout_checkpoint("integrate")
    assert plain.build().snn(x, 5).logits[0].tolist() == [5 * b for b in READOUT_BIAS]
    assert not HF.run_batch(HF.store(plain, 8), x, 5).events["out"].leaky


@pytest.mark.parametrize("fmt,trace", [(None, LI_VARYING),
                                       (MembraneFormat(8, 0.125), LI_FIXED)])
def test_leaky_integrator_golden_step_and_kernel(fmt, trace):
    a = torch.zeros(1)
    got = []
    for i in LI_CURRENT:
        a = integrate_step(a, torch.tensor([i]), fmt, torch.tensor(0.75))
        got.append(a.item())
    assert got == trace
    current = np.array(LI_CURRENT, np.float32).reshape(5, 1, 1)
    for T in (1, 3, 5):
        assert K.integrate_run(current[:T], False, T, fmt, 0.75)[0, 0] == trace[T - 1]


# ------------------------------------------------------------------ networks, bit for bit
def _network_checkpoint(readout: str, leak: float = 1.0, seed: int = 3) -> C.Checkpoint:
    """The custom graph of test_checkpoint_format (bias, hard reset + τ, shortcut conv, pool)
    ending in ``readout`` ('lif': spike counts; 'integrate' with ``leak``), every LIF layer's
    v low enough that it spikes."""
    items = custom_nodes()
    items[-1]["neuron"] = readout
    nodes = nodes_from_dicts(items)
    torch.manual_seed(seed)
    net = Network(nodes, timesteps=4)
    with torch.no_grad():
        for n in net.nodes:
            if n.bias:
                net.bias(n.name).normal_(0.0, 0.3)
        for n in net.spiking_layers:
            net.neuron(n.name).threshold.fill_(0.6)
        net.neuron("c3").leak.fill_(0.8)
        net.output_leak.fill_(leak)
    ck = C.Checkpoint(arch="mine", dataset="toy", num_classes=4, input_shape=(3, 8, 8),
                      preprocessing={"mean": [0.5] * 3, "std": [0.25] * 3}, stage="snn",
                      timesteps=4, layers=nodes)
    ck.update_from(net)
    return ck


@pytest.mark.parametrize("membrane_bits", [None, 12])
def test_a_network_ending_in_lif_is_bit_exact_and_the_check_can_fail(membrane_bits):
    ck = _network_checkpoint("lif")
    stored = HF.store(ck, weight_bits=6, membrane_bits=membrane_bits)
    x = torch.randn(6, 3, 8, 8)
    sim = HF.run_batch(stored, x, 4)
    rep = HF.compare_with_model(stored, x, 4, sim)
    assert rep.spikes_compared == 6 * 4 * (96 * 3 + 4)  # the output's spikes are compared
    assert 0 < sim.spikes["out"].mean() < 1
    assert np.array_equal(sim.logits, sim.spikes["out"].sum(axis=0))
    assert rep.functional_match and rep.logits_equal
    broken = HF.store(ck, weight_bits=6, membrane_bits=membrane_bits)
    broken.leak["out"] = 0.5 if broken.leak["out"] != 0.5 else 0.25  # a wrong λ on the chip
    bad = HF.compare_with_model(stored, x, 4, HF.run_batch(broken, x, 4))
    assert bad.spike_mismatches > 0 and not bad.functional_match


@pytest.mark.parametrize("membrane_bits", [None, 12])
def test_a_network_ending_in_a_leaky_integrator_is_bit_exact_and_the_check_can_fail(
        membrane_bits):
    ck = _network_checkpoint("integrate", leak=0.75)
    assert ck.leak["out"] == 0.75
    stored = HF.store(ck, weight_bits=6, membrane_bits=membrane_bits)
    assert stored.output_leak == 0.75 and stored.net.output_leak.item() == 0.75
    x = torch.randn(6, 3, 8, 8)
    sim = HF.run_batch(stored, x, 4)
    rep = HF.compare_with_model(stored, x, 4, sim)
    assert rep.functional_match and rep.logits_equal and rep.logit_mismatches == 0
    # not today's integrator: λ = 1 gives other logits
    plain = HF.store(ck, weight_bits=6, membrane_bits=membrane_bits)
    plain.output_leak = 1.0  # the simulator's λ wrong: no spike differs, every logit does
    bad = HF.compare_with_model(stored, x, 4, HF.run_batch(plain, x, 4))
    assert bad.spike_mismatches == 0 and bad.logit_mismatches > 0
    assert not bad.functional_match and not bad.logits_equal


def test_the_output_leak_goes_onto_the_leak_units_grid():
    """On fixed-point membranes the output's λ is held as a LIF layer's: a fraction in steps
    of 2^-(B-1) (multiplier) or what a shift-and-add unit builds."""
    ck = _network_checkpoint("integrate", leak=0.8)
    mult = HF.store(ck, 6, 12)
    assert mult.output_leak == round(0.8 * 2 ** 11) / 2 ** 11 == 1638 / 2048
    shift = HF.store(ck, 6, 12, leak="shift")
    assert shift.output_leak == 0.75  # 1 − 2^-2, the nearest to 0.8
    assert HF.store(ck, 6).output_leak == pytest.approx(0.8)  # float membranes: as stored


# ------------------------------------------------------------------ checkpoint, mapping, run
def test_the_checkpoint_takes_an_output_leak_and_refuses_bad_ones(tmp_path):
    ck = _network_checkpoint("integrate", leak=0.75)
    C.save(ck, tmp_path / "li.pt")
    back = C.load(tmp_path / "li.pt")
    assert back.leak["out"] == 0.75 and back.build().output_leak.item() == 0.75
    for value, says in ((1.5, "leak.out is 1.5; expected a number in [0, 1]"),
                        ("x", "leak.out is 'x'; expected a number in [0, 1]")):
        d = ck.to_dict()
        d["leak"]["out"] = value
        torch.save(d, tmp_path / "bad.pt")
        with pytest.raises(C.CheckpointError) as e:
            C.load(tmp_path / "bad.pt")
        assert says in str(e.value) and "\n" not in str(e.value)
    d = ck.to_dict()
    d["threshold"]["out"] = 1.0  # an integrator has no threshold
    torch.save(d, tmp_path / "bad.pt")
    with pytest.raises(C.CheckpointError, match="threshold.out: no LIF layer"):
        C.load(tmp_path / "bad.pt")


def test_node_lists_allow_lif_or_integrate_at_the_output_only():
    items = custom_nodes()
    items[-1]["neuron"] = None
    with pytest.raises(ArchitectureError, match="neuron 'integrate' or 'lif'"):
        nodes_from_dicts(items)
    items = custom_nodes()
    items[1]["neuron"] = "integrate"  # c1
    with pytest.raises(ArchitectureError, match="node 'c1': neuron 'integrate' is the output"):
        nodes_from_dicts(items)


def _npz(folder, n: int = 4):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8)
    np.savez(folder / "test.npz", images=images, labels=np.arange(n) % 4)
    return folder


@pytest.mark.parametrize("readout,leak", [("lif", 1.0), ("integrate", 0.75)])
def test_a_checkpoint_with_either_output_maps_and_runs_through_hwsim_run(tmp_path, readout,
                                                                          leak, capsys):
    from hwsim.run import main as run_main
    from mapping.__main__ import main as map_main

    path = tmp_path / "f.pt"
    C.save(_network_checkpoint(readout, leak), path)
    assert map_main(["--model", str(path), "--json", str(tmp_path / "m.json")]) == 0
    doc = json.loads((tmp_path / "m.json").read_text())
    out = doc["graph"]["nodes"][-1]
    assert out["name"] == "output"
    assert out["readout"] == ("spike_count" if readout == "lif" else "integrate")
    layer = next(n for n in doc["graph"]["nodes"] if n["name"] == "out")
    assert layer["neuron"] == readout and layer["neurons"] == 4
    assert layer["leak"] == leak and (layer["threshold"] is not None) == (readout == "lif")
    assert next(lm for lm in doc["layers"] if lm["name"] == "out")["membrane_level"]
    capsys.readouterr()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = run_main(["--model", str(path), "--data", str(_npz(tmp_path)), "--samples", "4",
                        "--quiet", "--dataflow", "scatter", "--json",
                        str(tmp_path / "r.json")])
    assert RS.validate(json.loads((tmp_path / "r.json").read_text())) == []
    assert rep["accuracy"]["functional_match"] is True
    row = next(r for r in rep["layers"] if r["name"] == "out")
    arch = load_arch("45nm")
    vb = arch.precision.membrane_bits
    add, compare = arch.op_energy_pj("add", vb), arch.op_energy_pj("compare", vb)
    steps = 4 * row["neurons"]
    if readout == "lif":
        # a LIF layer (ACs, bias, leak + compare per neuron and step, a reset add per spike)
        # plus one 3-bit (⌈log2(T + 1)⌉) counter increment per spike
        assert row["neuron"] == "lif" and row["spike_rate"] == row["spikes"] / 4
        count = arch.op_energy_pj("add", D.counter_bits(4), "int")
        expected = (row["snn_acs"] * add + steps * add + steps * (arch.leak_pj() + compare)
                    + row["spikes"] * (add + count))
    else:  # ACs, bias, and one leak per neuron and step (λ ≠ 1)
        assert row["neuron"] == "integrate" and row["spikes"] == 0
        expected = row["snn_acs"] * add + steps * add + steps * arch.leak_pj()
    assert row["energy_pj"]["compute"] == pytest.approx(expected)


def test_the_readouts_are_priced_on_every_snn_dataflow():
    """A leaky output integrator pays one leak per neuron and step; a LIF output one counter
    increment (an int add and a register read + write) per spike; nothing else changes."""
    from hwsim.compare import geometry
    from hwsim.tiles import Activity

    node = next(n for n in nodes_from_dicts(custom_nodes()) if n.name == "out")
    g = geometry(node)
    act = Activity(g, np.full((1, 1), 30.0), np.full((1, 1), 30.0), 5.0)
    base = dict(name="out", side="snn", activity=act, dense=act, groups=(4,),
                chunk_starts=(0,), chunk_sizes=(1,), weight_level="pe_sram",
                stream_level="glb", membrane_level="register", free_register_bits=4096,
                free_pe_bytes=4096, free_glb_bytes=1 << 20, weight_bits=8, membrane_bits=16,
                mult_bits=8, input_bits=1, input_packet_bits=6, output_bits=1,
                output_packet_bits=3, state_steps=4)
    for df in ("os", "time_batched"):
        t = D.Tiling(df, k=4, p=1)
        plain = D.nest_of(df)(D.LayerSpec(**base), t)
        leaky = D.nest_of(df)(D.LayerSpec(**base, leaky=True), t)
        assert leaky.ops[("leak", 16)] == 4 * 4 and ("leak", 16) not in plain.ops
        assert {k: v for k, v in leaky.ops.items() if k[0] != "leak"} == plain.ops
        assert leaky.mem == plain.mem
        lif = D.nest_of(df)(D.LayerSpec(**base, lif=True), t)
        counted = D.nest_of(df)(D.LayerSpec(**base, lif=True, spike_readout=True), t)
        assert counted.ops[("count", 3)] == 5.0 and ("count", 3) not in lif.ops
        assert counted.count("O", "register") == 2 * 5.0
        assert counted.count("O") - lif.count("O") == 2 * 5.0
    arch = load_arch("45nm")
    assert E.op_pj(arch, "count", 3) == arch.op_energy_pj("add", 3, "int")
    fp = load_arch("45nm_fp32")
    assert E.op_pj(fp, "count", 3) == fp.op_energy_pj("add", 3, "int")  # an int counter


# ------------------------------------------------------------------ biases in fixed point
def test_biases_sit_on_the_membrane_grid_of_the_int_datapath():
    ck = _network_checkpoint("integrate", leak=0.75)
    ck.bias["c1"][0] = 0.3
    ck.bias["c1"][1] = 100.0  # far beyond c1's ±4 v membrane: saturates
    ck.bias["out"][1] = 1e6  # the output accumulator's range grows to hold it
    stored = HF.store(ck, weight_bits=6, membrane_bits=12, T=4)
    f = stored.membranes
    for name, b in stored.bias.items():
        k = b / f[name].lsb
        assert np.array_equal(k, np.round(k)) and k.min() >= f[name].low
        assert k.max() <= f[name].high, name
        # the model runs the same stored copy
        assert np.array_equal(stored.net.bias(name).detach().numpy(), b)
    # by hand: c1's membrane holds ±4 v = ±2.4 in 12 bits: LSB 2^ceil(log2(2.4 / 2^11)) = 2^-9;
    # 0.3 · 512 = 153.6 rounds to 154: 154 / 512 = 0.30078125
    assert f["c1"].lsb == 2.0 ** -9 and stored.bias["c1"][0] == 0.30078125
    assert stored.bias["c1"][1] == 2047 / 512  # saturated: 2^11 − 1 LSBs
    # the bias counts in the output accumulator's bound: T · (Σ|w| + |b|) ≥ 4e6, so 1e6 fits
    assert f["out"].lsb * 2 ** 11 >= 4e6 and abs(stored.bias["out"][1] - 1e6) <= f["out"].lsb / 2
    x = torch.randn(4, 3, 8, 8)
    assert HF.compare_with_model(stored, x, 4, HF.run_batch(stored, x, 4)).functional_match
    # float membranes and the float datapath keep the checkpoint's biases
    assert stored.bias["c1"][0] != np.float32(0.3)
    assert HF.store(ck, weight_bits=6).bias["c1"][0] == np.float32(0.3)
    assert HF.store(ck, weight_bits=None).bias["c1"][0] == np.float32(0.3)


def test_a_shortcut_convs_bias_sits_on_its_targets_grid():
    items = custom_nodes()
    next(d for d in items if d["name"] == "sc")["bias"] = True  # adds into c3's membrane
    nodes = nodes_from_dicts(items)
    torch.manual_seed(0)
    net = Network(nodes, timesteps=3)
    with torch.no_grad():
        net.bias("sc").normal_(0.0, 0.3)
    ck = C.Checkpoint(arch="mine", dataset="toy", num_classes=4, input_shape=(3, 8, 8),
                      preprocessing={"mean": [0.5] * 3, "std": [0.25] * 3}, stage="snn",
                      timesteps=3, layers=nodes)
    ck.update_from(net)
    stored = HF.store(ck, weight_bits=6, membrane_bits=10)
    assert HF.bias_format(stored.nodes, "sc", stored.membranes) == stored.membranes["c3"]
    k = stored.bias["sc"] / stored.membranes["c3"].lsb
    assert np.array_equal(k, np.round(k)) and not np.array_equal(
        stored.bias["sc"], ck.bias["sc"].numpy())
    x = torch.randn(3, 3, 8, 8)
    assert HF.compare_with_model(stored, x, 3, HF.run_batch(stored, x, 3)).functional_match


def test_the_graph_names_the_readout():
    for readout, name in (("lif", "spike_count"), ("integrate", "integrate")):
        g = layer_graph(_network_checkpoint(readout, 0.75 if readout == "integrate" else 1.0))
        assert g.nodes["output"]["readout"] == name
        assert g.edges["out", "output"]["kind"] == ("spikes" if readout == "lif" else "current")
        assert g.nodes["out"]["neurons"] == 4
    assert layer_graph(_network_checkpoint("integrate", 0.75)).nodes["out"]["leak"] == 0.75

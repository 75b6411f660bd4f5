"""Neuron models users have: bias, IF (λ = 1), hard reset (to zero), leak given as τ. Golden
membrane traces computed by hand, in the model and in the simulator's kernel, and the
simulator's datapath bit-exact against the model on a small network using all of them."""

import math

import numpy as np
import pytest
import torch

import hwsim.functional as HF
import hwsim.kernels as K
import model.checkpoint as C
from model.architectures import nodes_from_dicts
from model.network import Network
from model.neuron import MembraneFormat, leak_from_tau, lif_step
from tests.test_checkpoint_format import custom_nodes

# (reset, λ, I, hand-computed u[t], o[t]) with v = 1; every value is exact in binary
GOLDEN = [
    # hard reset: a spike sets u to 0 before the next step's leak and input
    ("zero", 0.5, 0.75, [0.75, 1.125, 0.75, 1.125, 0.75], [0, 1, 0, 1, 0]),
    # IF (λ = 1), paper (soft) reset: u = u + I − v·o
    ("paper", 1.0, 0.75, [0.75, 1.5, 1.25, 1.0, 1.75], [0, 1, 1, 0, 1]),
    # IF with a hard reset
    ("zero", 1.0, 0.75, [0.75, 1.5, 0.75, 1.5, 0.75], [0, 1, 0, 1, 0]),
    # soft resets for contrast: paper leaks no reset, leaked does
    ("paper", 0.5, 0.75, [0.75, 1.125, 0.3125, 0.90625, 1.203125], [0, 1, 0, 0, 1]),
    ("leaked", 0.5, 0.75, [0.75, 1.125, 0.8125, 1.15625, 0.828125], [0, 1, 0, 1, 0]),
]


@pytest.mark.parametrize("reset,leak,current,u_ref,o_ref", GOLDEN)
def test_lif_step_golden(reset, leak, current, u_ref, o_ref):
    u = o = torch.zeros(1)
    us, os_ = [], []
    for _ in u_ref:
        o, u = lif_step(u, torch.tensor([current]), torch.tensor(leak), torch.tensor(1.0), o,
                        reset)
        us.append(u.item())
        os_.append(o.item())
    assert us == u_ref and os_ == o_ref


@pytest.mark.parametrize("reset,leak,current,u_ref,o_ref", GOLDEN)
def test_kernel_golden(reset, leak, current, u_ref, o_ref):
    for T in (1, len(u_ref)):
        spikes, u, counts = K.lif_run(np.full((1, 3), current, np.float32), leak, 1.0, reset,
                                      True, T)
        assert spikes[:, 0, 0].tolist() == o_ref[:T] and u[0, 0] == u_ref[T - 1]
        assert counts[:, 0].tolist() == [3 * o for o in o_ref[:T]]


def test_hard_reset_on_a_fixed_point_membrane():
    """Hard reset with a 6-bit membrane, LSB 1/8: 0.8 floors to 0.75 first."""
    fmt = MembraneFormat(6, 0.125)
    spikes, u, _ = K.lif_run(np.full((1, 1), 0.8, np.float32), 0.5, 1.0, "zero", True, 3,
                             fmt)
    # t0: ⌊0.8·8⌋/8 = 0.75; t1: ⌊(0.375 + 0.8)·8⌋/8 = 1.125 spikes; t2: 0·0.5 + 0.8 -> 0.75
    assert spikes[:, 0, 0].tolist() == [0, 1, 0] and u[0, 0] == 0.75
    o = uu = torch.zeros(1)
    for _ in range(3):
        o, uu = lif_step(uu, torch.tensor([0.8]), torch.tensor(0.5), torch.tensor(1.0), o,
                         "zero", fmt=fmt)
    assert uu.item() == 0.75


def test_leak_from_tau():
    assert leak_from_tau(1 / math.log(2)) == 0.5  # dt = 1 timestep
    assert leak_from_tau(2.0) == float(np.float32(math.exp(-0.5)))
    assert leak_from_tau(4.0, dt=2.0) == leak_from_tau(2.0)
    assert leak_from_tau(math.inf) == 1.0  # IF
    with pytest.raises(ValueError):
        leak_from_tau(0.0)


def _bias_net(reset: str, tau: float = 0.0) -> C.Checkpoint:
    """input (1, 2, 2) -> 1x1 conv, weight 0, bias 0.75 (so I[t] = 0.75) -> LIF -> output."""
    nodes = nodes_from_dicts([
        {"name": "in", "kind": "input", "out_shape": [1, 2, 2]},
        {"name": "c", "kind": "conv", "source": "in", "in_shape": [1, 2, 2],
         "out_shape": [1, 2, 2], "kernel": 1, "neuron": "lif", "bias": True, "reset": reset,
         "tau": tau},
        {"name": "f", "kind": "flatten", "source": "c", "in_shape": [1, 2, 2],
         "out_shape": [4]},
        {"name": "out", "kind": "linear", "source": "f", "in_shape": [4], "out_shape": [2],
         "neuron": "integrate", "bias": True},
    ])
    ck = C.Checkpoint(arch="bias-test", dataset="cifar10", num_classes=2,
                      input_shape=(1, 2, 2), preprocessing={"mean": [0.0], "std": [1.0]},
                      stage="snn", timesteps=5, layers=nodes,
                      weights={"c": torch.zeros(1, 1, 1, 1),
                               "out": torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])},
                      bias={"c": torch.tensor([0.75]), "out": torch.tensor([0.5, -0.25])},
                      threshold={"c": 1.0})
    if not tau:
        ck.leak = {"c": 0.5}
    return ck


@pytest.mark.parametrize("reset,tau", [("zero", 0.0), ("zero", 1 / math.log(2)),
                                       ("leaked", 0.0)])
def test_bias_tau_and_reset_golden_in_model_and_simulator(reset, tau):
    ck = _bias_net(reset, tau)
    _, _, _, u_ref, o_ref = next(g for g in GOLDEN if g[0] == reset and g[1] == 0.5)
    x = torch.randn(3, 1, 2, 2)  # the weight is 0: only the bias drives the layer
    out = ck.build().eval().snn(x, 5, record_spikes=True, record_membranes=True)
    assert out.membranes["c"][:, 0, 0, 0, 0].tolist() == u_ref
    assert out.spikes["c"][:, 0, 0, 0, 0].tolist() == o_ref
    # logits: a[T] = Σ_t (o[t] + b): spikes of neuron 0 (output 0), neuron 1 (output 1)
    assert out.logits[0].tolist() == [sum(o_ref) + 5 * 0.5, sum(o_ref) - 5 * 0.25]
    stored = HF.store(ck, weight_bits=8)
    sim = HF.run_batch(stored, x, 5)
    assert sim.spikes["c"][:, 0, 0, 0, 0].tolist() == o_ref
    assert sim.logits[0].tolist() == out.logits[0].tolist()


def _small_checkpoint(reset: str) -> C.Checkpoint:
    """The custom graph of test_checkpoint_format (bias, hard reset + τ, shortcut, pool) with
    thresholds low enough that every layer spikes; ``reset`` is the network's."""
    nodes = nodes_from_dicts(custom_nodes())
    torch.manual_seed(3)
    net = Network(nodes, timesteps=4, reset=reset)
    with torch.no_grad():
        for n in net.nodes:
            if n.bias:
                net.bias(n.name).normal_(0.0, 0.3)
        for name in ("c1", "c2", "c3"):
            net.neuron(name).threshold.fill_(0.6)
        net.neuron("c1").leak.fill_(1.0)  # IF
        net.neuron("c3").leak.fill_(0.8)
    ck = C.Checkpoint(arch="mine", dataset="cifar10", num_classes=4, input_shape=(3, 8, 8),
                      preprocessing={"mean": [0.5] * 3, "std": [0.25] * 3}, stage="snn",
                      timesteps=4, reset=reset, layers=nodes)
    ck.update_from(net)
    return ck


@pytest.mark.parametrize("reset,membrane_bits", [("paper", None), ("leaked", None),
                                                 ("zero", None), ("paper", 12)])
def test_simulator_is_bit_exact_with_every_neuron_model(reset, membrane_bits):
    ck = _small_checkpoint(reset)
    stored = HF.store(ck, weight_bits=6, membrane_bits=membrane_bits)
    assert stored.resets == {"c1": reset, "c2": "zero", "c3": reset}
    x = torch.randn(6, 3, 8, 8)
    sim = HF.run_batch(stored, x, 4)
    rep = HF.compare_with_model(stored, x, 4, sim)
    assert rep.spikes_compared == 6 * 4 * (96 + 96 + 96)
    for name in ("c1", "c2", "c3"):  # every layer spikes, and not everywhere
        assert 0 < sim.spikes[name].mean() < 1, name
    assert rep.spike_mismatches == 0 and rep.prediction_mismatches == 0 and rep.logits_equal
    # the check can fail: the model with another reset on c2 disagrees
    other = HF.store(ck, weight_bits=6, membrane_bits=membrane_bits)
    other.resets["c2"] = "paper"
    assert HF.compare_with_model(stored, x, 4, HF.run_batch(other, x, 4)).spike_mismatches


def test_a_custom_graph_with_biases_runs_through_hwsim_run_and_prices_its_biases():
    """A self-describing checkpoint (no built-in architecture) goes through mapping and the
    whole simulator; its bias adds are priced (one per neuron per step, scatter accounting)."""
    import warnings

    from arch_configs import load_arch
    from hwsim.simulate import SimOptions, simulate
    from model.data import ArraySet

    ck = _small_checkpoint("paper")
    rng = np.random.default_rng(0)
    data = ArraySet(rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8), np.arange(4) % 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rep = simulate(ck, load_arch("45nm"), data, 4, SimOptions(progress=False,
                                                                   dataflow="scatter"))
    assert rep["accuracy"]["functional_match"]
    arch = load_arch("45nm")
    add = arch.op_energy_pj("add", arch.precision.membrane_bits)
    rows = {r["name"]: r for r in rep["layers"]}
    nodes = {n.name: n for n in ck.nodes()}
    for name, r in rows.items():
        n = nodes[name]
        if n.bias and not r["analog_input"]:
            # compute = ACs + bias adds + LIF ops: the bias part is neurons x T adds exactly
            lif = (r["neurons"] * 4 * (arch.leak_pj() + arch.op_energy_pj(
                "compare", arch.precision.membrane_bits)) + r["spikes"] * add
                if n.neuron == "lif" else 0.0)
            assert r["energy_pj"]["compute"] == pytest.approx(
                r["snn_acs"] * add + r["neurons"] * 4 * add + lif), name

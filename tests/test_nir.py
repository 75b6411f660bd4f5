"""NIR import and export (model/nir.py): round trips of every built-in architecture and of a
custom graph, the forward-Euler discretisation against a hand-written NIR reference, and the
one-line refusals of what the chip cannot represent."""

import math

import nir
import numpy as np
import pytest
import torch

import model.checkpoint as C
from model.architectures import ARCHITECTURES, build_architecture, nodes_from_dicts
from model.network import Network
from model.nir import NIRError, from_nir, main, to_nir, write_nir
from tests.test_checkpoint_format import custom_nodes

DT = 1e-4


def checkpoint_of(nodes, seed=0, T=3, reset="paper", shape=(3, 32, 32), classes=10,
                  biases=False):
    torch.manual_seed(seed)
    net = Network(nodes, timesteps=T, reset=reset)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for i, p in enumerate(net.lif.values()):
            # λ in (0.5, 1) and one IF layer (λ = 1); thresholds around 1
            p.leak.fill_(1.0 if i == 1 else 0.5 + 0.5 * float(torch.rand((), generator=gen)))
            p.threshold.fill_(0.5 + float(torch.rand((), generator=gen)))
    ck = C.Checkpoint(arch="test", dataset="cifar10", num_classes=classes, input_shape=shape,
                      preprocessing={"mean": [0.4] * shape[0], "std": [0.2] * shape[0]},
                      stage="snn", timesteps=T, reset=reset, layers=tuple(nodes))
    ck.update_from(net)
    if biases:
        ck.bias = {k: torch.randn_like(v) for k, v in ck.bias.items()}
    return ck


def assert_same_network(a: C.Checkpoint, b: C.Checkpoint):
    assert a.nodes() == b.nodes()
    assert set(a.weights) == set(b.weights)
    for k in a.weights:
        assert torch.equal(a.weights[k].float(), b.weights[k])
    assert set(a.bias) == set(b.bias)
    for k in a.bias:
        assert torch.equal(a.bias[k].float(), b.bias[k])
    assert a.leak == b.leak and a.threshold == b.threshold
    for key in ("timesteps", "reset", "num_classes", "input_shape", "preprocessing", "stage"):
        assert getattr(a, key) == getattr(b, key), key


def same_spikes(a: C.Checkpoint, b: C.Checkpoint, x: torch.Tensor):
    oa = a.build().eval().snn(x, record_spikes=True)
    ob = b.build().eval().snn(x, record_spikes=True)
    assert torch.equal(oa.logits, ob.logits)
    assert oa.spikes.keys() == ob.spikes.keys()
    for k in oa.spikes:
        assert torch.equal(oa.spikes[k], ob.spikes[k]), k


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_round_trips_bit_for_bit(arch, tmp_path):
    """checkpoint -> .nir file -> checkpoint is identical, and gives identical spikes."""
    nodes = build_architecture(arch, 10, (3, 32, 32))
    ck = checkpoint_of(nodes)
    path = write_nir(ck, tmp_path / "net.nir")
    back = from_nir(path)
    assert_same_network(ck, back)
    same_spikes(ck, back, torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("readout", ["current", "integrator"])
def test_custom_graph_round_trips(readout, tmp_path):
    """Biases, stride 2, a hard-reset layer, a τ layer, a 1x1 shortcut conv summed into a LIF."""
    nodes = nodes_from_dicts(custom_nodes())
    ck = checkpoint_of(nodes, shape=(3, 8, 8), classes=4, biases=True)
    graph = to_nir(ck, readout=readout)
    kinds = {type(v).__name__ for v in graph.nodes.values()}
    assert ("I" in kinds) == (readout == "integrator")
    assert {"Conv2d", "Affine", "LIF", "IF", "AvgPool2d", "Flatten"} <= kinds
    back = from_nir(write_nir(ck, tmp_path / "c.nir", readout=readout))
    assert_same_network(ck, back)
    same_spikes(ck, back, torch.randn(3, 3, 8, 8))


def test_export_writes_nir_physics():
    """A layer with λ, v is written as NIR's LIF under forward Euler: τ = dt/(1−λ), R = τ/dt
    (gain 1), v_leak = v_reset = 0; λ = 1 as IF with R = 1/dt."""
    ck = checkpoint_of(build_architecture("tiny", 10, (3, 32, 32)))
    g = to_nir(ck, dt=1e-3)
    lam, v = ck.leak["conv1"], ck.threshold["conv1"]
    lif = g.nodes["conv1_lif"]
    assert isinstance(lif, nir.LIF)
    assert np.allclose(lif.tau, 1e-3 / (1 - lam)) and np.allclose(lif.r * 1e-3 / lif.tau, 1)
    assert np.all(lif.v_threshold == np.float32(v)) and not lif.v_leak.any()
    assert isinstance(g.nodes["conv2_lif"], nir.IF) and np.allclose(g.nodes["conv2_lif"].r, 1e3)
    assert g.metadata["dt"] == 1e-3


def nir_reference(x, w1, b1, tau, r, vth, w2, T, dt):
    """NIR's equations stepped by forward Euler in float64, independently of this project:
    v += dt/τ·(−v + R·I); z = v > v_thr; v = 0 where z; then a linear readout summed over T."""
    v = np.zeros(w1.shape[0])
    out = np.zeros(w2.shape[0])
    spikes = []
    for _ in range(T):
        v = v + dt / tau * (-v + r * (w1 @ x + b1))
        z = (v > vth).astype(float)
        v = np.where(z > 0, 0.0, v)
        spikes.append(z)
        out = out + w2 @ z
    return np.array(spikes), out


def test_discretisation_matches_a_hand_written_nir_reference():
    """Dyadic numbers (exact in float32 and float64): τ = 4·dt (λ = 0.75), R = 2 (gain 0.5),
    v_thr = 0.5; the imported network fires exactly as the reference."""
    rng = np.random.default_rng(0)
    w1 = rng.integers(-8, 9, (6, 4)) / 8.0
    b1 = rng.integers(-4, 5, 6) / 16.0
    w2 = rng.integers(-8, 9, (3, 6)) / 8.0
    tau, r, vth, T = 4 * DT, 2.0, 0.5, 8
    full = np.full(6, 1.0)
    g = nir.NIRGraph(nodes={
        "x": nir.Input(input_type={"input": np.array([4])}),
        "fc1": nir.Affine(weight=w1, bias=b1),
        "lif": nir.LIF(tau=full * tau, r=full * r, v_leak=full * 0, v_threshold=full * vth),
        "fc2": nir.Linear(weight=w2),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }, edges=[("x", "fc1"), ("fc1", "lif"), ("lif", "fc2"), ("fc2", "out")],
        metadata={"dt": DT})
    ck = from_nir(g, timesteps=T)
    assert ck.leak["fc1"] == 0.75 and ck.threshold["fc1"] == 0.5
    assert torch.equal(ck.weights["fc1"], torch.tensor(w1 * 0.5, dtype=torch.float32))
    assert ck.nodes()[-1].neuron == "integrate"
    assert ck.input_shape == (4, 1, 1) and ck.num_classes == 3
    assert ck.preprocessing == {"mean": [0.0] * 4, "std": [1.0] * 4}
    for _ in range(5):
        x = rng.integers(-16, 17, 4) / 8.0
        ref_spikes, ref_out = nir_reference(x, w1, b1, tau, r, vth, w2, T, DT)
        out = ck.build().eval().snn(torch.tensor(x, dtype=torch.float32).view(1, 4, 1, 1),
                                    record_spikes=True)
        assert np.array_equal(out.spikes["fc1"][:, 0].numpy(), ref_spikes)
        assert np.array_equal(out.logits[0].detach().numpy(), ref_out)


def test_an_ann_is_not_exported():
    ck = checkpoint_of(build_architecture("tiny", 10, (3, 32, 32)))
    ck.stage = "ann"
    with pytest.raises(ValueError, match="an ANN checkpoint has no thresholds"):
        to_nir(ck)


def test_dt_and_metadata(tmp_path):
    """dt and T come from the metadata; an explicit dt changes λ = 1 − dt/τ."""
    ck = checkpoint_of(build_architecture("tiny", 10, (3, 32, 32)), T=7)
    path = write_nir(ck, tmp_path / "t.nir", dt=1e-3)
    assert from_nir(path).timesteps == 7
    assert from_nir(path, timesteps=2).timesteps == 2
    lam = ck.leak["conv1"]
    other = from_nir(path, dt=5e-4)
    assert math.isclose(other.leak["conv1"], 1 - 0.5 * (1 - lam), rel_tol=1e-6)
    assert other.metrics["imported_from_nir"]["dt_s"] == 5e-4
    assert from_nir(path, reset="zero").reset == "zero"


def lif(n=4, **kw):
    p = dict(tau=np.full(n, 2e-3), r=np.full(n, 20.0), v_leak=np.zeros(n),
             v_threshold=np.ones(n))
    p.update(kw)
    return nir.LIF(**p)


def mlp(neuron, extra=None, edges=None):
    nodes = {"x": nir.Input(input_type={"input": np.array([3])}),
             "fc": nir.Linear(weight=np.ones((4, 3))), "n": neuron,
             "fc2": nir.Linear(weight=np.ones((2, 4))),
             "out": nir.Output(output_type={"output": np.array([2])})}
    nodes.update(extra or {})
    return nir.NIRGraph(nodes=nodes, type_check=False, edges=edges or [
        ("x", "fc"), ("fc", "n"), ("n", "fc2"), ("fc2", "out")])


BAD = {
    "cuba": (mlp(nir.CubaLIF(tau_syn=np.ones(4), tau_mem=np.ones(4), r=np.ones(4),
                             v_leak=np.zeros(4), v_threshold=np.ones(4))),
             "node 'n': a CubaLIF: a current-based synapse"),
    "delay": (mlp(lif(), {"d": nir.Delay(delay=np.ones(4))},
                  [("x", "fc"), ("fc", "n"), ("n", "d"), ("d", "fc2"), ("fc2", "out")]),
              "node 'd': a Delay: synaptic delays are not modelled"),
    "recurrent": (mlp(lif(), {"rec": nir.Linear(weight=np.eye(4))},
                      [("x", "fc"), ("fc", "n"), ("n", "rec"), ("rec", "n"), ("n", "fc2"),
                       ("fc2", "out")]), "a recurrent edge"),
    "per-neuron tau": (mlp(lif(tau=np.array([1e-3, 2e-3, 2e-3, 2e-3]))),
                       "node 'n': tau differs across neurons"),
    "v_leak": (mlp(lif(v_leak=np.full(4, 0.1))), "node 'n': v_leak is not 0"),
    "tau < dt": (mlp(lif(tau=np.full(4, 1e-5))), "tau 1e-05 s < dt 0.0001 s"),
    "no neuron between": (mlp(nir.Linear(weight=np.ones((4, 4)))), "a neuron (LIF, IF) must "
                                                                   "come between"),
    "nan weight": (mlp(lif(), {"fc": nir.Linear(weight=np.full((4, 3), np.nan))}),
                   "node 'fc': weight holds 12 NaN or infinite values"),
    "hidden LI": (mlp(nir.LI(tau=np.full(4, 1e-3), r=np.ones(4), v_leak=np.zeros(4))),
                  "node 'n': a non-spiking LI layer inside the network"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_what_cannot_be_mapped_is_one_line(case):
    graph, expected = BAD[case]
    with pytest.raises(NIRError) as e:
        from_nir(graph)
    assert expected in str(e.value) and "\n" not in str(e.value)


def test_grouped_conv_and_bad_files(tmp_path):
    g = nir.NIRGraph(nodes={
        "x": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "c": nir.Conv2d(input_shape=(4, 4), weight=np.ones((2, 1, 3, 3)), stride=1, padding=1,
                        dilation=1, groups=2, bias=np.zeros(2)),
        "n": nir.IF(r=np.ones((2, 4, 4)), v_threshold=np.ones((2, 4, 4))),
        "out": nir.Output(output_type={"output": np.array([2, 4, 4])})},
        edges=[("x", "c"), ("c", "n"), ("n", "out")], type_check=False)
    with pytest.raises(NIRError, match="groups 2: only dense convolutions"):
        from_nir(g)
    with pytest.raises(NIRError, match="no such NIR file"):
        from_nir(tmp_path / "missing.nir")
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(NIRError, match="junk.nir: not a readable NIR graph") as e:
        from_nir(junk)
    assert "\n" not in str(e.value)


def test_cli_export_import(tmp_path, capsys):
    out = tmp_path / "bundled.nir"
    main(["export", "--out", str(out), "--readout", "integrator"])
    assert "wrote" in capsys.readouterr().out
    from mapping.__main__ import main as mapping_main

    mapping_main(["--model", str(out), "--json", str(tmp_path / "m.json")])  # .nir as --model
    assert "conv1" in (tmp_path / "m.json").read_text()
    capsys.readouterr()
    pt = tmp_path / "back.pt"
    main(["import", str(out), "--out", str(pt), "--timesteps", "3"])
    ck = C.load(pt)
    assert ck.timesteps == 3 and ck.stage == "snn"
    with pytest.raises(SystemExit) as e:
        main(["import", str(tmp_path / "none.nir"), "--out", str(tmp_path / "x.pt")])
    assert e.value.code == 2
    assert "no such NIR file" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


def small_graph(neuron):
    return nodes_from_dicts([
        {"name": "in", "kind": "input", "out_shape": [2, 4, 4]},
        {"name": "c1", "kind": "conv", "source": "in", "in_shape": [2, 4, 4],
         "out_shape": [4, 4, 4], "kernel": 3, "padding": 1, "neuron": "lif"},
        {"name": "flat", "kind": "flatten", "source": "c1", "in_shape": [4, 4, 4],
         "out_shape": [64]},
        {"name": "fc", "kind": "linear", "source": "flat", "in_shape": [64], "out_shape": [3],
         "neuron": neuron, "bias": True}])


def test_spike_count_and_leaky_outputs_round_trip():
    """A LIF output (read by spike count) is written as NIR LIF -> Output; a leaky
    integrating output as NIR LI (readout='integrator'), and cannot be a plain current."""
    x = torch.randn(4, 2, 4, 4)
    counted = checkpoint_of(small_graph("lif"), shape=(2, 4, 4), classes=3, biases=True)
    g = to_nir(counted)
    assert isinstance(g.nodes["fc_lif"], nir.LIF | nir.IF) and ("fc_lif", "output") in g.edges
    back = from_nir(g)
    assert_same_network(counted, back)
    same_spikes(counted, back, x)
    leaky = checkpoint_of(small_graph("integrate"), shape=(2, 4, 4), classes=3, biases=True)
    leaky.leak["fc"] = 0.75
    with pytest.raises(ValueError, match="a leaky output"):
        to_nir(leaky)
    g = to_nir(leaky, readout="integrator")
    assert isinstance(g.nodes["fc_integrate"], nir.LI)
    assert np.allclose(g.nodes["fc_integrate"].tau, DT / 0.25)
    back = from_nir(g)
    assert back.leak["fc"] == 0.75
    assert_same_network(leaky, back)
    same_spikes(leaky, back, x)


def test_sum_pooling_and_scale_gains_are_folded_exactly():
    """SumPool2d (= k² × average) and Scale nodes carry a gain into the next synaptic layer's
    weights (or, after a synaptic layer, into its weights and bias); with dyadic numbers the
    imported network equals a direct float64 evaluation of the graph."""
    rng = np.random.default_rng(3)
    wc = rng.integers(-4, 5, (2, 1, 3, 3)) / 4.0
    wl = rng.integers(-4, 5, (3, 8)) / 8.0
    bl = rng.integers(-4, 5, 3) / 8.0
    shape = (2, 4, 4)
    g = nir.NIRGraph(nodes={
        "x": nir.Input(input_type={"input": np.array([1, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=wc, stride=1, padding=1, dilation=1,
                           groups=1, bias=np.zeros(2)),
        "gain": nir.Scale(scale=np.full(shape, 2.0)),
        "lif": nir.IF(r=np.full(shape, 1 / DT), v_threshold=np.full(shape, 1.0)),
        "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                              padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0),
        "half": nir.Scale(scale=np.full(8, 0.5)),
        "fc": nir.Affine(weight=wl, bias=bl),
        "out": nir.Output(output_type={"output": np.array([3])})},
        edges=[("x", "conv"), ("conv", "gain"), ("gain", "lif"), ("lif", "pool"),
               ("pool", "flat"), ("flat", "half"), ("half", "fc"), ("fc", "out")],
        type_check=False)
    ck = from_nir(g, timesteps=4)
    assert [n.kind for n in ck.nodes()] == ["input", "conv", "avgpool", "flatten", "linear"]
    assert torch.equal(ck.weights["conv"], torch.tensor(2 * wc, dtype=torch.float32))
    assert torch.equal(ck.weights["fc"], torch.tensor(wl * 4 * 0.5, dtype=torch.float32))
    x = rng.integers(-8, 9, (1, 4, 4)) / 4.0
    cur = torch.nn.functional.conv2d(torch.tensor(x)[None], torch.tensor(wc), padding=1)[0]
    v, out = torch.zeros_like(cur), np.zeros(3)
    for _ in range(4):  # IF, hard reset; then sum-pool, flatten, x0.5, affine; summed over T
        v = v + 2 * cur
        z = (v > 1).double()
        v = v * (1 - z)
        pooled = torch.nn.functional.avg_pool2d(z[None], 2)[0] * 4
        out = out + wl @ (0.5 * pooled.reshape(-1).numpy()) + bl
    mine = ck.build().eval().snn(torch.tensor(x, dtype=torch.float32)[None])
    assert mine.spike_counts["conv"] > 0
    assert np.array_equal(mine.logits[0].detach().numpy(), out)

"""Batch norm in the ANN stage and its folding into weight + bias at conversion: the fold
against torch's BatchNorm in eval mode, the checkpoint's ``batch_norm`` key and its one-line
errors, ``model.train ann --batch-norm`` -> ``convert --fold-bn`` -> ``hwsim.run``."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import make_images

import model.checkpoint as C
from model import train as TR
from model.architectures import (
    ArchitectureError,
    build_architecture,
    node_to_dict,
    nodes_from_dicts,
)
from model.conversion import fold_batch_norm, fold_layer
from model.network import Network, parameter_groups

PREP = {"mean": [0.5] * 3, "std": [0.25] * 3}


def bn_nodes():
    """A small graph with batch norm everywhere it can be: a conv with a bias as well, a
    shortcut conv and a residual sum, a hidden linear (BatchNorm1d); the output has none."""
    return nodes_from_dicts([
        {"name": "in", "kind": "input", "out_shape": [3, 8, 8]},
        {"name": "c1", "kind": "conv", "source": "in", "in_shape": [3, 8, 8],
         "out_shape": [6, 8, 8], "kernel": 3, "padding": 1, "neuron": "lif", "bias": True,
         "batch_norm": True, "bn_eps": 1e-3, "bn_momentum": 0.5},
        {"name": "sc", "kind": "conv", "source": "c1", "in_shape": [6, 8, 8],
         "out_shape": [6, 8, 8], "kernel": 1, "neuron": None, "batch_norm": True},
        {"name": "c2", "kind": "conv", "source": "c1", "in_shape": [6, 8, 8],
         "out_shape": [6, 8, 8], "kernel": 3, "padding": 1, "neuron": "lif",
         "residual": "sc", "batch_norm": True},
        {"name": "pool", "kind": "avgpool", "source": "c2", "in_shape": [6, 8, 8],
         "out_shape": [6, 4, 4], "kernel": 2, "stride": 2},
        {"name": "flat", "kind": "flatten", "source": "pool", "in_shape": [6, 4, 4],
         "out_shape": [96]},
        {"name": "fc1", "kind": "linear", "source": "flat", "in_shape": [96],
         "out_shape": [12], "neuron": "lif", "batch_norm": True},
        {"name": "out", "kind": "linear", "source": "fc1", "in_shape": [12], "out_shape": [4],
         "neuron": "integrate", "bias": True},
    ])


def trained_bn_net(seed: int = 0) -> Network:
    """:func:`bn_nodes` with non-trivial running statistics (a few training-mode passes on
    shifted, scaled inputs), random γ, β and biases; in eval mode."""
    torch.manual_seed(seed)
    net = Network(bn_nodes(), timesteps=3)
    net.train()
    with torch.no_grad():
        for _ in range(4):
            net(torch.randn(16, 3, 8, 8) * 3 + 1)
        for m in net.bn.values():
            m.weight.uniform_(0.3, 2.0)
            m.bias.uniform_(-1.0, 1.0)
        for b in net.biases.values():
            b.uniform_(-0.5, 0.5)
    return net.eval()


def bn_checkpoint(net: Network, stage: str = "ann") -> C.Checkpoint:
    ck = C.Checkpoint(arch="bn-net", dataset="cifar10", num_classes=4, input_shape=(3, 8, 8),
                      preprocessing=PREP, stage=stage, timesteps=3, layers=net.nodes)
    ck.update_from(net)
    return ck


# ------------------------------------------------------------------------------ folding
@pytest.mark.parametrize("kind", ["conv", "linear"])
def test_fold_layer_is_batch_norm_of_the_current(kind):
    """W'·x + b' against torch's BatchNorm (eval mode) of W·x + b, float64 throughout: the
    fold is exact up to float64 rounding."""
    g = torch.Generator().manual_seed(1)
    c = 5
    shape = (c, 3, 3, 3) if kind == "conv" else (c, 7)
    w, b = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(c, generator=g,
                                                                             dtype=torch.float64)
    bn = (torch.nn.BatchNorm2d if kind == "conv" else torch.nn.BatchNorm1d)(c, eps=1e-3).double()
    with torch.no_grad():
        bn.weight.copy_(torch.rand(c, generator=g) + 0.5)
        bn.bias.copy_(torch.randn(c, generator=g))
        bn.running_mean.copy_(torch.randn(c, generator=g) * 2)
        bn.running_var.copy_(torch.rand(c, generator=g) * 3 + 0.1)
    bn.eval()
    x = torch.randn((4, 3, 6, 6) if kind == "conv" else (4, 7), generator=g, dtype=torch.float64)
    op = (lambda x, w, b: F.conv2d(x, w, b)) if kind == "conv" else F.linear
    wf, bf = fold_layer(w, b, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps)
    torch.testing.assert_close(op(x, wf, bf), bn(op(x, w, b)), rtol=1e-12, atol=1e-12)
    # no bias: b = 0
    wf, bf = fold_layer(w, None, bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps)
    torch.testing.assert_close(op(x, wf, bf), bn(op(x, w, None)), rtol=1e-12, atol=1e-12)


def test_folded_ann_gives_the_batch_norm_anns_logits():
    """The folded network (no batch norm, a bias per folded layer) gives the eval-mode logits
    of the batch-norm ANN: within 2e-6 of the largest |logit| in float32 (measured over 20
    seeds of this net: at most 7.2e-7, median 4.7e-7, i.e. a few float32 ulps from W', b'
    rounded to float32 and the other order of operations), and with the same argmax."""
    net = trained_bn_net()
    ck = bn_checkpoint(net)
    folded = fold_batch_norm(ck)
    nodes = folded.nodes()
    assert not any(n.batch_norm for n in nodes) and folded.batch_norm == {}
    assert {n.name for n in nodes if n.bias} == {"c1", "sc", "c2", "fc1", "out"}
    assert ck.nodes() == net.nodes and ck.batch_norm  # the input is left as it was
    x = torch.randn(32, 3, 8, 8)
    fnet = folded.build().eval()
    with torch.no_grad():
        ref, got = net(x), fnet(x)
        scale = ref.abs().max().item()
        rel = (got - ref).abs().max().item() / scale
        assert rel < 2e-6, rel
        assert torch.equal(got.argmax(1), ref.argmax(1))
    # the folded network is an SNN's; the batch-norm one is refused by the SNN in one line
    assert fnet.snn(x[:2]).logits.shape == (2, 4)
    with pytest.raises(ValueError, match=r"layers c1, sc, c2, fc1 have batch norm, which the "
                                         r"SNN does not run: fold it first"):
        net.float().snn(x[:2])


def test_running_statistics_not_batch_statistics_are_folded():
    """Training mode normalises with the batch's own statistics: the fold (eval mode) must not
    agree with it, or the running statistics would not be what is being folded."""
    net = trained_bn_net()
    folded = fold_batch_norm(bn_checkpoint(net)).build().eval()
    x = torch.randn(16, 3, 8, 8)
    with torch.no_grad():
        assert not torch.allclose(net.train()(x), folded(x), atol=1e-3)


# ------------------------------------------------------------------------------ architectures
def test_builders_put_batch_norm_after_each_hidden_layer():
    for arch in ("tiny", "vgg6", "resnet20"):
        nodes = build_architecture(arch, 10, batch_norm=True)
        synaptic = [n for n in nodes if n.synaptic]
        assert all(n.batch_norm for n in synaptic[:-1]) and not synaptic[-1].batch_norm
        assert nodes_from_dicts([node_to_dict(n) for n in nodes]) == nodes
        plain = build_architecture(arch, 10)
        assert not any(n.batch_norm for n in plain)
        # a file without batch norm stores no batch-norm fields (older readers take it)
        assert not any({"batch_norm", "bn_eps"} & set(node_to_dict(n)) for n in plain)
    assert any(n.batch_norm and n.neuron is None
               for n in build_architecture("resnet20", 10, batch_norm=True))  # shortcuts


def test_batch_norm_is_not_weight_decayed():
    net = Network(bn_nodes())
    groups = parameter_groups(net, 5e-4, train_leak=False, train_threshold=False)
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    bn = [p for m in net.bn.values() for p in m.parameters()]
    assert len(bn) == 8 and all(p.requires_grad for p in bn)
    assert all(id(p) in {id(q) for g in groups for q in g["params"]} for p in bn)
    assert not any(id(p) in decayed for p in bn)
    assert {id(p) for p in net.weights.values()} <= decayed


# ------------------------------------------------------------------------------ checkpoints
def test_checkpoint_round_trip_of_a_batch_norm_ann(tmp_path):
    net = trained_bn_net()
    C.save(bn_checkpoint(net), tmp_path / "bn.pt")
    d = torch.load(tmp_path / "bn.pt", weights_only=True)
    assert set(d["batch_norm"]) == {"c1", "sc", "c2", "fc1"}
    assert set(d["batch_norm"]["c1"]) == {"gamma", "beta", "running_mean", "running_var"}
    ck = C.load(tmp_path / "bn.pt")
    assert ck.nodes() == net.nodes
    c1 = ck.nodes()[1]
    assert (c1.bn_eps, c1.bn_momentum) == (1e-3, 0.5)
    bn = net.batch_norm("c1")
    for key, t in (("gamma", bn.weight), ("beta", bn.bias), ("running_mean", bn.running_mean),
                   ("running_var", bn.running_var)):
        assert torch.equal(ck.batch_norm["c1"][key], t.detach())
    x = torch.randn(4, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(ck.build().eval()(x), net(x))
    C.save(ck, tmp_path / "again.pt")
    again = C.load(tmp_path / "again.pt")
    assert again.nodes() == ck.nodes() and all(
        torch.equal(again.batch_norm[k][t], ck.batch_norm[k][t])
        for k in ck.batch_norm for t in ck.batch_norm[k])


def _bn_file(tmp_path, change, stage="ann"):
    d = bn_checkpoint(trained_bn_net(), stage).to_dict()
    if stage != "ann":
        d["threshold"] = {"c1": 1.0, "c2": 1.0, "fc1": 1.0}
    change(d)
    torch.save(d, tmp_path / "bn.pt")
    return tmp_path / "bn.pt"


def _node(d, name):
    return next(n for n in d["nodes"] if n["name"] == name)


@pytest.mark.parametrize("change,message", [
    (lambda d: d["batch_norm"].pop("c2"),
     "batch_norm values do not match the layers with batch_norm=true (differing layers: "
     "['c2'])"),
    (lambda d: _node(d, "out").update(batch_norm=False) or d["batch_norm"].update(
        out=d["batch_norm"]["fc1"]), "differing layers: ['out']"),
    (lambda d: d["batch_norm"]["c1"].pop("running_var"),
     "batch_norm.c1 holds ['beta', 'gamma', 'running_mean']; expected gamma, beta, "
     "running_mean, running_var"),
    (lambda d: d["batch_norm"].update(c1=[1.0]), "batch_norm.c1 holds list; expected"),
    (lambda d: d["batch_norm"]["sc"].update(gamma=torch.ones(5)),
     "batch_norm.sc.gamma has shape (5,); expected (6,) (one per output channel)"),
    (lambda d: d["batch_norm"]["fc1"].update(beta=torch.zeros(12, dtype=torch.int64)),
     "batch_norm.fc1.beta is a torch.int64; expected a float tensor"),
    (lambda d: d["batch_norm"]["c2"]["running_mean"].__setitem__(0, float("nan")),
     "batch_norm.c2.running_mean holds 1 NaN or infinite values"),
    (lambda d: d["batch_norm"]["c2"]["running_var"].__setitem__(3, -0.5),
     "batch_norm.c2.running_var has negative values (min -0.5); a variance is >= 0"),
    (lambda d: d.update(batch_norm=[]), "batch_norm is []; expected a mapping"),
    (lambda d: _node(d, "pool").update(batch_norm=True),
     "node 'pool': a avgpool node has no neuron, residual, bias, reset, tau or batch_norm"),
    (lambda d: _node(d, "c1").update(bn_eps=0.0),
     "node 'c1': bn_eps is 0.0; expected a number in (0, 1)"),
    (lambda d: _node(d, "c1").update(bn_momentum=1.5),
     "node 'c1': bn_momentum is 1.5; expected a number in [0, 1]"),
    (lambda d: _node(d, "c1").update(batch_norm="yes"),
     "node 'c1': batch_norm is 'yes'; expected true or false"),
    (lambda d: _node(d, "out").update(bn_eps=1e-3),
     "node 'out': bn_eps and bn_momentum need batch_norm true"),
])
def test_bad_batch_norm_entries_are_one_clear_line(tmp_path, change, message):
    path = _bn_file(tmp_path, change)
    with pytest.raises(C.CheckpointError) as e:
        C.load(path)
    text = str(e.value)
    assert message in text and "\n" not in text and text.startswith(str(path))


@pytest.mark.parametrize("stage", ["converted", "snn"])
def test_snn_stages_refuse_batch_norm(tmp_path, stage):
    path = _bn_file(tmp_path, lambda d: None, stage)
    with pytest.raises(C.CheckpointError, match=f"layer 'c1' has batch_norm in a '{stage}' "
                       r"checkpoint; only an ANN has batch norm \(fold it: model.train "
                       r"convert --fold-bn\)"):
        C.load(path)


# ------------------------------------------------------------------------------ CLI
@pytest.fixture
def small_npz(tmp_path):
    """train.npz (120 images) and test.npz (40), 10 classes, 16x16."""
    for split, n, seed in (("train", 120, 0), ("test", 40, 1)):
        images, labels = make_images(n, size=16, seed=seed)
        np.savez(tmp_path / f"{split}.npz", images=images, labels=labels)
    return tmp_path


def train(*argv):
    TR.main([*argv, "--threads", "1"])


def test_ann_batch_norm_fold_convert_and_simulate(small_npz, tmp_path, capsys):
    from hwsim.run import main as hwsim_main

    ann, plain, snn = tmp_path / "ann.pt", tmp_path / "plain.pt", tmp_path / "snn.pt"
    common = ["--data", str(small_npz), "--image-size", "16", "--epochs", "1", "--lr", "0.05",
              "--batch-size", "32"]
    train("ann", "--arch", "tiny", "--batch-norm", *common, "--out", str(ann))
    a = C.load(ann)
    assert a.arch_kwargs["batch_norm"] is True and set(a.batch_norm) == {"conv1", "conv2"}
    assert not torch.equal(a.batch_norm["conv1"]["running_var"], torch.ones(8))  # trained
    assert a.history[-1]["weight_decay"] == 5e-4

    # without --fold-bn: one line saying to pass it; nothing written
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        train("convert", "--ann", str(ann), "--timesteps", "3", "--out", str(snn))
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and not snn.exists() and len(err.splitlines()) == 1
    assert (f"{ann}: layers conv1, conv2 have batch norm, which an SNN does not run; pass "
            f"--fold-bn to fold it into their weights and biases") in err

    train("convert", "--ann", str(ann), "--fold-bn", "--timesteps", "3", "--calib-samples",
          "32", "--out", str(snn))
    s = C.load(snn)
    assert s.stage == "converted" and s.batch_norm == {}
    assert not any(n.batch_norm for n in s.nodes())
    assert {n.name for n in s.nodes() if n.bias} == {"conv1", "conv2"}
    rec = s.history[-1]
    assert rec["folded_batch_norm"] == ["conv1", "conv2"]
    assert rec["fold_max_abs_logit_diff"] <= 2e-6 * rec["fold_max_abs_logit"]
    ref = fold_batch_norm(a)  # the file holds exactly the fold of the ANN
    assert all(torch.equal(s.weights[k], ref.weights[k]) for k in ref.weights)
    assert all(torch.equal(s.bias[k], ref.bias[k]) for k in ref.bias)

    # the simulator sees only the folded layers, bit for bit with the model
    rep = hwsim_main(["--model", str(snn), "--data", str(small_npz), "--samples", "4",
                      "--quiet", "--threads", "1"])
    assert rep["accuracy"]["functional_match"] is True
    assert rep["accuracy"]["spike_mismatches"] == 0
    assert [r["name"] for r in rep["layers"]] == ["conv1", "conv2", "fc1"]

    # --fold-bn on an ANN without batch norm is refused in one line too
    train("ann", "--arch", "tiny", *common, "--out", str(plain))
    assert "batch_norm" not in C.load(plain).arch_kwargs
    capsys.readouterr()
    with pytest.raises(SystemExit):
        train("convert", "--ann", str(plain), "--fold-bn", "--out", str(tmp_path / "x.pt"))
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"--fold-bn: {plain} has no batch-norm layers to fold")
    assert len(err.splitlines()) == 1


def test_ann_init_keeps_batch_norm_and_refuses_a_contradiction(small_npz, tmp_path, capsys):
    ann, more = tmp_path / "ann.pt", tmp_path / "more.pt"
    common = ["--data", str(small_npz), "--epochs", "1", "--lr", "0.05", "--limit", "40"]
    train("ann", "--arch", "tiny", "--image-size", "16", "--batch-norm", *common,
          "--out", str(ann))
    train("ann", "--init", str(ann), *common, "--out", str(more))
    a, m = C.load(ann), C.load(more)
    assert set(m.batch_norm) == {"conv1", "conv2"}
    assert not torch.equal(a.batch_norm["conv1"]["running_mean"],
                           m.batch_norm["conv1"]["running_mean"])  # trained on
    plain = tmp_path / "plain.pt"
    train("ann", "--arch", "tiny", "--image-size", "16", *common, "--out", str(plain))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        train("ann", "--init", str(plain), "--batch-norm", *common,
              "--out", str(tmp_path / "x.pt"))
    assert f"--batch-norm True contradicts --init {plain} (False)" in capsys.readouterr().err


def test_architecture_error_for_batch_norm_outside_a_layer():
    with pytest.raises(ArchitectureError, match="a flatten node has no neuron"):
        nodes_from_dicts([node_to_dict(n) for n in bn_nodes()][:5] + [
            {"name": "flat", "kind": "flatten", "source": "pool", "in_shape": [6, 4, 4],
             "out_shape": [96], "batch_norm": True}])

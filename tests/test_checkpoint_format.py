"""Self-describing checkpoints (format version 2: the node list travels in the file), the old
version-1 path, validation of stored node lists, and the loader's one-line errors."""

import pickle
import re

import pytest
import torch

import model.checkpoint as C
import model.evaluate as E
from model.architectures import build_architecture, node_to_dict
from model.network import Network

PREP = {"mean": [0.5] * 3, "std": [0.25] * 3, "image_size": 16, "encoding": "direct"}


def custom_nodes(channels: int = 3):
    """A graph no built-in architecture produces: stride-2 conv, a bias, a hard-reset layer,
    a τ-leak layer, a 1x1 shortcut residual, an output conv with a bias. Plain dicts only."""
    return [
        {"name": "in", "kind": "input", "out_shape": [channels, 8, 8]},
        {"name": "c1", "kind": "conv", "source": "in", "in_shape": [channels, 8, 8],
         "out_shape": [6, 4, 4], "kernel": 3, "stride": 2, "padding": 1, "neuron": "lif",
         "bias": True},
        {"name": "c2", "kind": "conv", "source": "c1", "in_shape": [6, 4, 4],
         "out_shape": [6, 4, 4], "kernel": 3, "padding": 1, "neuron": "lif", "reset": "zero",
         "tau": 4.0},
        {"name": "sc", "kind": "conv", "source": "c1", "in_shape": [6, 4, 4],
         "out_shape": [6, 4, 4], "kernel": 1, "neuron": None},
        {"name": "c3", "kind": "conv", "source": "c2", "in_shape": [6, 4, 4],
         "out_shape": [6, 4, 4], "kernel": 3, "padding": 1, "neuron": "lif",
         "residual": "sc"},
        {"name": "pool", "kind": "avgpool", "source": "c3", "in_shape": [6, 4, 4],
         "out_shape": [6, 2, 2], "kernel": 2, "stride": 2},
        {"name": "flat", "kind": "flatten", "source": "pool", "in_shape": [6, 2, 2],
         "out_shape": [24]},
        {"name": "out", "kind": "linear", "source": "flat", "in_shape": [24],
         "out_shape": [4], "neuron": "integrate", "bias": True},
    ]


def custom_file(tmp_path, change=None, name="custom.pt", channels: int = 3) -> dict:
    """A version-2 checkpoint dict of :func:`custom_nodes` written as plain data (no code of
    this project builds its architecture by name), after ``change(d)``."""
    from model.architectures import nodes_from_dicts

    nodes = nodes_from_dicts(custom_nodes(channels))
    torch.manual_seed(1)
    net = Network(nodes, timesteps=3)
    ck = C.Checkpoint(arch="my-own-net", dataset="cifar10", num_classes=4,
                      input_shape=(channels, 8, 8),
                      preprocessing={"mean": [0.5] * channels, "std": [0.25] * channels},
                      stage="converted", timesteps=3, layers=nodes)
    ck.update_from(net)
    ck.bias = {k: torch.randn_like(v) for k, v in ck.bias.items()}
    d = ck.to_dict()
    if change:
        change(d)
    torch.save(d, tmp_path / name)
    return d


def test_custom_graph_loads_and_runs_with_no_code_change(tmp_path):
    d = custom_file(tmp_path)
    assert d["version"] == 2 and [n["name"] for n in d["nodes"]][-1] == "out"
    ck = C.load(tmp_path / "custom.pt")
    assert ck.arch == "my-own-net" and [n.name for n in ck.nodes()] == [
        n["name"] for n in custom_nodes()]
    net = ck.build().eval()
    assert torch.equal(net.bias("out"), d["bias"]["out"].float())
    assert net.node("c2").reset == "zero" and net.node("c2").tau == 4.0
    # λ of the τ layer: exp(-1/τ) stored by update_from (and the default when absent)
    assert net.neuron("c2").leak.item() == pytest.approx(0.7788007, abs=1e-7)
    out = net.snn(torch.randn(2, 3, 8, 8), record_spikes=True)
    assert out.logits.shape == (2, 4) and set(out.spikes) == {"c1", "c2", "c3"}
    # save again: the same node list and values come back
    C.save(ck, tmp_path / "again.pt")
    again = C.load(tmp_path / "again.pt")
    assert again.nodes() == ck.nodes() and torch.equal(again.bias["c1"], ck.bias["c1"])


def test_file_holds_only_plain_types(tmp_path):
    custom_file(tmp_path)
    d = torch.load(tmp_path / "custom.pt", weights_only=True)
    for n in d["nodes"]:
        assert all(v is None or isinstance(v, str | int | float | bool | list)
                   for v in n.values())


def test_builtin_architectures_produce_node_lists():
    nodes = build_architecture("resnet20", 10)
    from model.architectures import nodes_from_dicts

    assert nodes_from_dicts([node_to_dict(n) for n in nodes]) == nodes


def test_version_1_files_still_load(tmp_path):
    bundled = C.load("model/bundled/default.pt")
    assert bundled.layers is None  # the bundled file predates version 2: built by name
    d = C.Checkpoint.to_dict(bundled)
    d.update(version=1)
    del d["nodes"], d["bias"]
    torch.save(d, tmp_path / "v1.pt")
    ck = C.load(tmp_path / "v1.pt")
    assert ck.layers is None and ck.nodes() == bundled.nodes()
    d["version"] = 3
    torch.save(d, tmp_path / "v3.pt")
    with pytest.raises(C.CheckpointError, match="version 3, this code reads versions 1, 2"):
        C.load(tmp_path / "v3.pt")


def _node(d, name):
    return next(n for n in d["nodes"] if n["name"] == name)


@pytest.mark.parametrize("change,message", [
    (lambda d: _node(d, "c2").update(kind="lstm"), "node 'c2': unknown kind 'lstm'"),
    (lambda d: _node(d, "c2").update(out_shape=[6, 5, 5]),
     "node 'c2': out_shape [6, 5, 5] does not follow from its input [6, 4, 4]"),
    (lambda d: _node(d, "c2").update(in_shape=[5, 4, 4]),
     "node 'c2': in_shape [5, 4, 4] != the out_shape [6, 4, 4] of its source 'c1'"),
    (lambda d: _node(d, "c2").update(source="nowhere"),
     "node 'c2': source 'nowhere' is not a node before it"),
    (lambda d: _node(d, "c3").update(residual="pool"),
     "node 'c3': residual 'pool' is not a node before it"),
    (lambda d: _node(d, "c3").update(residual="in"), "node 'c3': residual 'in' has shape"),
    (lambda d: _node(d, "c2").update(colour="red"), "node 'c2': unknown field 'colour'"),
    (lambda d: _node(d, "c2").update(reset="soft"), "node 'c2': unknown reset 'soft'"),
    (lambda d: _node(d, "c2").update(neuron="izhikevich"), "unknown neuron 'izhikevich'"),
    (lambda d: _node(d, "pool").update(stride=1), "avgpool needs stride == kernel"),
    (lambda d: _node(d, "out").update(neuron=None),
     "node 'out': the last node must be a conv or linear layer with neuron 'integrate' or "
     "'lif' (the output); got a linear node with neuron None"),
    (lambda d: d.update(nodes=d["nodes"][:-1]),
     "node 'flat': the last node must be a conv or linear layer with neuron 'integrate' or "
     "'lif' (the output); got a flatten node with neuron None"),
    (lambda d: _node(d, "c1").update(neuron="integrate"),
     "node 'c1': neuron 'integrate' is the output's readout, only the last node may have it"),
    (lambda d: _node(d, "out").update(neuron="lif"),  # a spike-count output needs its v
     "threshold.out is missing; expected a finite number > 0 for every LIF layer"),
    (lambda d: d.update(nodes=d["nodes"][1:]), "the first node, and only it, must be"),
    (lambda d: d.update(nodes="vgg"), "nodes: expected a non-empty list"),
    (lambda d: d["bias"].pop("c1"), "bias values do not match the layers with bias=true"),
    (lambda d: d["bias"].update(c1=torch.zeros(5)), "layer c1 bias shape (5,) != (6,)"),
    (lambda d: d.update(num_classes=5), "the output node 'out' has shape [4]; num_classes"),
])
def test_bad_node_lists_are_one_clear_line(tmp_path, change, message):
    custom_file(tmp_path, change)
    with pytest.raises(C.CheckpointError) as e:
        C.load(tmp_path / "custom.pt")
    text = str(e.value)
    assert message in text and "\n" not in text and text.startswith(str(tmp_path))


@pytest.mark.parametrize("how", ["torch", "pickle", "custom class"])
def test_pickled_module_is_one_clean_line(tmp_path, how):
    path = tmp_path / "model.pt"
    m = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    if how == "pickle":
        path.write_bytes(pickle.dumps(m))
    else:
        torch.save(m if how == "torch" else Network(build_architecture("tiny", 10)), path)
    with pytest.raises(C.CheckpointError) as e:
        C.load(path)
    text = str(e.value)
    assert text.startswith(f"{path}: a pickled torch module, not a checkpoint; save a state "
                           f"dict with torch.save(model.state_dict(), ...) / use "
                           f"model.checkpoint")
    assert "\x1b" not in text and "\n" not in text


def test_input_channels_that_do_not_fit_the_data_are_one_line(tmp_path, npz_dir, capsys):
    """A 1-channel model against RGB data: one error line naming both shapes (it used to be a
    traceback in model/data.py)."""
    from model.data import DataError, normalise

    net = Network(build_architecture("tiny", 10, (1, 32, 32)), timesteps=2)
    ck = C.Checkpoint(arch="tiny", dataset="cifar10", num_classes=10, input_shape=(1, 32, 32),
                      preprocessing={"mean": [0.5], "std": [0.25]}, stage="converted",
                      timesteps=2)
    ck.update_from(net)
    C.save(ck, tmp_path / "gray.pt")

    with pytest.raises(DataError, match=r"images have shape \(32, 32, 3\) \(H, W, C\), 3 "
                       r"channel\(s\); the model's input has shape \(1, H, W\)"):
        normalise(torch.zeros(2, 32, 32, 3, dtype=torch.uint8), [0.5], [0.25])
    assert normalise(torch.zeros(2, 8, 8, 1, dtype=torch.uint8), [0.5], [0.25]).shape == (
        2, 1, 8, 8)
    with pytest.raises(SystemExit) as e:
        E.main(["--model", str(tmp_path / "gray.pt"), "--data", str(npz_dir), "--limit", "4",
                "--threads", "1"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    lines = re.findall(r"error: [^\r\n]*", err)  # after the progress bar: one error line
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "3 channel(s)" in lines[0] and "1 channel(s)" in lines[0]

"""Layer graph (hand counts, residual edges, JSON round trip), placement (partition, pipeline,
capacity and spills) and the ``python -m mapping`` command."""

import itertools
import json
import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from arch_configs import load_arch
from mapping.__main__ import main
from mapping.graph import (
    STREAMS,
    GraphError,
    graph_from_json,
    graph_to_json,
    layer_graph,
    synaptic_layers,
    totals,
)
from mapping.placement import MappingWarning, map_network, nbytes, stream_buffer_bytes
from model.architectures import build_architecture
from model.checkpoint import Checkpoint, save
from model.network import Network

ROOT = Path(__file__).resolve().parents[1]
CIFAR, IMAGENET = (3, 32, 32), (3, 224, 224)
KINDS = {"input", "conv", "linear", "avgpool", "flatten", "add", "output"}

# Hand counts (docs/DESIGN.md §1 and by hand from the layer shapes; Eq. 16 of the paper).
HAND = [
    ("vgg16", 10, CIFAR, 338_403_328, 39_917_248),
    # VGG6: 1728 + 73,728 + 147,456 conv weights, FC 8192*4096 + 4096*4096 + 4096*10
    ("vgg6", 10, CIFAR, 108_765_184, 50_595_520),
    ("resnet20", 10, CIFAR, 215_699_456, 11_253_440),
    ("vgg16", 1000, IMAGENET, 15_470_264_320, 138_344_128),
    # compact: convs 3-64@32, 64-128@16, 128-128@16, 128-256@8, 256-256@8; FC 4096-10
    ("compact", 10, CIFAR, 115_056_640, 1_148_608),
]


def graph(arch, classes=10, shape=CIFAR):
    return layer_graph(build_architecture(arch, classes, shape))


def chip(**sections):
    """The 45 nm chip with some sections overridden."""
    return load_arch("45nm", overrides=sections)


def quiet_map(g, arch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        return map_network(g, arch)


@pytest.fixture
def compact_ckpt(tmp_path):
    """A compact-net checkpoint with distinct λ and v per layer."""
    torch.manual_seed(0)
    net = Network(build_architecture("compact", 10, CIFAR))
    with torch.no_grad():
        for i, n in enumerate(net.spiking_layers):
            net.neuron(n.name).leak.fill_(0.5 + 0.1 * i)
            net.neuron(n.name).threshold.fill_(1.0 + i)
    ckpt = Checkpoint(arch="compact", dataset="cifar10", num_classes=10, input_shape=CIFAR,
                      preprocessing={"mean": [0.5] * 3, "std": [0.25] * 3}, stage="snn")
    ckpt.update_from(net)
    path = tmp_path / "compact.pt"
    save(ckpt, path)
    return ckpt, path


# --- the layer graph ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch,classes,shape,macs,weights", HAND,
                         ids=[f"{a}-{s[1]}" for a, _, s, *_ in HAND])
def test_macs_and_weights_match_hand_counts(arch, classes, shape, macs, weights):
    g = graph(arch, classes, shape)
    assert totals(g)["ann_macs"] == macs
    assert totals(g)["params"] == weights
    m = quiet_map(g, "45nm")
    assert sum(lm.ann_macs for lm in m.layers) == macs
    assert sum(lm.params for lm in m.layers) == weights


def test_per_layer_counts_by_hand():
    g = graph("vgg16")
    assert g.nodes["conv1"]["ann_macs"] == 3 * 3 * 3 * 32 * 32 * 64
    assert g.nodes["conv13"]["ann_macs"] == 3 * 3 * 512 * 2 * 2 * 512
    assert g.nodes["fc1"]["ann_macs"] == g.nodes["fc1"]["params"] == 2048 * 4096
    assert totals(g)["neurons"] == (2 * 64 * 32 * 32 + 2 * 128 * 16 * 16 + 3 * 256 * 8 * 8
                                    + 3 * 512 * 4 * 4 + 3 * 512 * 2 * 2 + 2 * 4096 + 10)
    assert sum(d.get("neuron") == "lif" for _, d in g.nodes(data=True)) == 15
    r = graph("resnet20")
    assert r.nodes["s2b1.shortcut"]["ann_macs"] == 1 * 1 * 64 * 8 * 8 * 128
    assert r.nodes["s2b1.shortcut"]["neurons"] == 0  # adds into s2b1.conv2's membranes
    assert sum(d.get("neuron") == "lif" for _, d in r.nodes(data=True)) == 19


@pytest.mark.parametrize("arch,classes,shape", [(a, c, s) for a, c, s, *_ in HAND])
def test_graph_is_a_well_formed_stream_graph(arch, classes, shape):
    g = graph(arch, classes, shape)
    assert nx.is_directed_acyclic_graph(g)
    assert {d["kind"] for _, d in g.nodes(data=True)} <= KINDS
    assert next(iter(g.nodes)) == "input" and list(g.nodes)[-1] == "output"
    order = {n: d["index"] for n, d in g.nodes(data=True)}
    assert sorted(order.values()) == list(range(len(g)))
    for u, v, e in g.edges(data=True):
        assert order[u] < order[v]
        assert e["kind"] in STREAMS and e["role"] in ("input", "residual")
        if e["role"] == "input":
            assert e["shape"] == g.nodes[v]["in_shape"] == g.nodes[u]["out_shape"]
    assert g.edges["input", "conv1"]["kind"] == "analog"
    assert g.graph["input_shape"] == shape and g.graph["num_classes"] == classes


def test_resnet20_has_its_residual_edges():
    g = graph("resnet20")
    adds = [n for n, d in g.nodes(data=True) if d["kind"] == "add"]
    assert len(adds) == 8
    kinds = []
    for a in adds:
        d = g.nodes[a]
        (u, _, into), = g.in_edges(a, data=True)
        (_, target, out), = g.out_edges(a, data=True)
        assert u == d["operand"] and target == d["target"] == a.removesuffix(".add")
        assert into["role"] == out["role"] == "residual"
        assert g.nodes[target]["residual"] == a
        assert into["shape"] == out["shape"] == g.nodes[target]["out_shape"]
        kinds.append(into["kind"])
    assert kinds.count("current") == 3  # the stride-2 blocks' 1x1 shortcut convs
    assert sorted(kinds) == sorted(["pooled_spikes"] + ["spikes"] * 4 + ["current"] * 3)
    assert g.edges["s2b1.shortcut", "s2b1.conv2.add"]["kind"] == "current"
    assert g.edges["pool1", "s1b1.conv2.add"]["kind"] == "pooled_spikes"  # identity on pool1
    assert "drop_conv1" not in g and "s1b1.drop" not in g  # dropout is the identity here
    assert g.edges["s1b1.conv1", "s1b1.conv2"]["role"] == "input"


def test_checkpoint_brings_leak_threshold_and_model_facts(compact_ckpt):
    ckpt, _ = compact_ckpt
    g = layer_graph(ckpt)
    lif = [n for n, d in g.nodes(data=True) if d.get("neuron") == "lif"]
    for i, n in enumerate(lif):
        assert g.nodes[n]["leak"] == pytest.approx(0.5 + 0.1 * i)
        assert g.nodes[n]["threshold"] == pytest.approx(1.0 + i)
    assert g.nodes["fc1"]["neuron"] == "integrate" and g.nodes["fc1"]["leak"] == 1.0
    assert g.graph["arch"] == "compact" and g.graph["stage"] == "snn"
    assert g.graph["timesteps"] == ckpt.timesteps


@pytest.mark.parametrize("arch,classes,shape", [("vgg16", 10, CIFAR), ("resnet20", 10, CIFAR),
                                                ("vgg6", 10, CIFAR), ("vgg16", 1000, IMAGENET)])
def test_json_round_trip(arch, classes, shape):
    g = graph(arch, classes, shape)
    text = graph_to_json(g)
    back = graph_from_json(text)
    assert list(back.nodes(data=True)) == list(g.nodes(data=True))
    assert list(back.edges(data=True)) == list(g.edges(data=True))
    assert back.graph == g.graph
    assert graph_to_json(back) == text
    assert json.loads(text)["format"] == "dietsim-layer-graph"


def test_every_node_kind_round_trips(compact_ckpt):
    seen = set()
    for g in (graph("resnet20"), layer_graph(compact_ckpt[0])):
        back = graph_from_json(graph_to_json(g))
        for n, d in g.nodes(data=True):
            assert back.nodes[n] == d
            seen.add(d["kind"])
    assert seen == KINDS


@pytest.mark.parametrize("text", ["[]", '{"format": "other"}', "not json",
                                  '{"format": "dietsim-layer-graph", "version": 1}',
                                  '{"format": "dietsim-layer-graph", "version": 9}'])
def test_foreign_json_is_refused(text):
    with pytest.raises(GraphError):
        graph_from_json(text)


# --- placement ---------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(pes=st.integers(1, 300),
       mode=st.sampled_from(["output_channels", "spatial", "auto"]),
       schedule=st.sampled_from(["layer_by_layer", "pipelined"]))
def test_every_output_has_one_pe_within_the_layers_group(pes, mode, schedule):
    g = graph("compact")
    m = quiet_map(g, chip(pe_array={"count": pes},
                          policy={"partition": mode, "schedule": schedule}))
    for lm in m.layers:
        ids = lm.pe_map()
        assert ids.shape == lm.out_shape
        counts = np.bincount(ids.ravel() - lm.pe_first, minlength=lm.pes_used)
        assert counts.tolist() == list(lm.neurons_per_pe)
        assert sum(lm.neurons_per_pe) == lm.outputs == math.prod(lm.out_shape)
        assert 1 <= lm.pes_used <= lm.pes_available
        assert lm.pe_first + lm.pes_available <= pes
        assert 0 < lm.utilisation <= 1
        if lm.kind == "linear" or mode == "output_channels":
            assert lm.spatial_tiles == 1


def test_partition_modes_by_hand():
    g = graph("compact")
    m = quiet_map(g, chip(pe_array={"count": 256}, policy={"partition": "auto"}))
    conv1 = m.layer("conv1")  # 64 channels x 1024 positions on 256 PEs: 64 groups x 4 tiles
    assert (conv1.channel_groups, conv1.spatial_tiles) == (64, 4)
    assert set(conv1.neurons_per_pe) == {256}
    assert conv1.pe_map()[0, 0, 0] == 0 and conv1.pe_map()[0, 31, 31] == 3
    assert conv1.pe_map()[1, 0, 0] == 4
    m = quiet_map(g, chip(pe_array={"count": 256}, policy={"partition": "output_channels"}))
    assert m.layer("conv1").pes_used == 64 and m.layer("conv1").utilisation == 0.25
    m = quiet_map(g, chip(pe_array={"count": 100}, policy={"partition": "spatial"}))
    conv1 = m.layer("conv1")  # 1024 positions on 100 PEs: 24 PEs get 11, 76 get 10
    assert conv1.channel_groups == 1 and max(conv1.neurons_per_pe) == 11 * 64
    assert min(conv1.neurons_per_pe) == 10 * 64
    assert m.layer("fc1").channel_groups == 10  # a linear layer splits by features


def test_pipelined_groups_are_disjoint_and_follow_the_work():
    g = graph("resnet20")
    m = quiet_map(g, chip(pe_array={"count": 64}, policy={"schedule": "pipelined"}))
    assert m.schedule == "pipelined"
    stages = {}
    for lm in m.layers:
        stages.setdefault((lm.pe_first, lm.pes_available), []).append(lm.name)
    spans = sorted(stages)
    for (a, n), (b, _) in itertools.pairwise(spans):
        assert a + n == b  # contiguous, disjoint
    assert spans[-1][0] + spans[-1][1] <= 64
    for s in ("s2b1", "s3b1", "s4b1"):  # a shortcut conv shares its target's PEs
        assert m.layer(f"{s}.shortcut").pe_first == m.layer(f"{s}.conv2").pe_first
    assert m.layer("conv2").pes_available > m.layer("fc1").pes_available == 1
    with pytest.warns(MappingWarning, match="pipelined schedule needs one PE per layer"):
        m = map_network(g, chip(pe_array={"count": 8}, policy={"schedule": "pipelined"}))
    assert m.schedule == "layer_by_layer"


def test_capacity_accounting_by_hand():
    """compact on 4 PEs by output channels, 16-bit membranes, 64 KiB PE SRAM, no registers."""
    a = chip(pe_array={"count": 4, "register_bytes": 0, "sram_bytes": 64 * 1024},
             policy={"partition": "output_channels"})
    m = quiet_map(graph("compact"), a)
    per_pe = {"conv1": 16 * 32 * 32, "conv2": 32 * 16 * 16, "conv3": 32 * 16 * 16,
              "conv4": 64 * 8 * 8, "conv5": 64 * 8 * 8}  # neurons per PE
    assert {n: max(m.layer(n).neurons_per_pe) for n in per_pe} == per_pe
    # conv1..conv3 fill the PE SRAM exactly (32 + 16 + 16 KiB per PE); the rest go to the GLB
    assert [m.layer(n).membrane_level for n in per_pe] == ["pe_sram"] * 3 + ["glb"] * 2
    assert m.level("pe_sram").peak_pe_bytes == 64 * 1024
    assert m.layer("conv4").membrane_bytes == nbytes(256 * 8 * 8, 16)
    assert all(lm.weight_level != "pe_sram" for lm in m.layers)  # no PE SRAM left
    assert m.level("glb").used_bytes == m.buffer_bytes + sum(
        lm.membrane_bytes * (lm.membrane_level == "glb") + lm.weight_bytes *
        (lm.weight_level == "glb") for lm in m.layers)


def test_stream_buffer_by_hand():
    prec = load_arch("45nm").precision  # 8-bit pixels, 1-bit spikes, 16-bit membranes
    image = 3 * 32 * 32
    # the largest layer is conv2: pooled spikes in (64x16x16, 1 + log2(4) bits), spikes out
    conv2 = 64 * 16 * 16 * 3 // 8 + 128 * 16 * 16 // 8
    assert stream_buffer_bytes(graph("compact"), prec) == image + conv2
    ann = image + 64 * 32 * 32 * 2  # the ANN's largest: conv2 of VGG16, 8-bit in and out
    assert stream_buffer_bytes(graph("vgg16"), prec, ann=True) == ann


def test_a_chip_too_small_for_vgg16_spills_and_says_so():
    small = chip(pe_array={"sram_bytes": 1024, "register_bytes": 0},
                 global_buffer={"size_bytes": 256 * 1024})
    summary = r"network on 45nm: \d+ placement problem\(s\); [\d.]+ MiB spilled"
    with pytest.warns(MappingWarning, match=summary) as rec:
        m = map_network(layer_graph(build_architecture("vgg16", 10, CIFAR)), small)
    assert len(rec) == 1  # one summary per mapping
    assert m.spilled_bytes > 0 and not m.on_chip
    assert m.warnings and all(re.match(r"\S+: (membranes|weights) \(\d+(\.\d)? (B|KiB|MiB)\) "
                                       r"spilled from \w+ to \w+: ", w) for w in m.warnings)
    fc2 = m.layer("fc2")
    assert fc2.weight_level == fc2.membrane_level == "dram"
    assert fc2.spilled_bytes == 4096 * 4096 + 4096 * 2  # 8-bit weights, 16-bit membranes
    assert any(w.startswith("fc2: weights (16.0 MiB) spilled from pe_sram to dram") and
               "glb needs 16.0 MiB" in w for w in m.warnings)
    for u in m.levels:  # capacities respected
        if u.capacity_bytes is not None:
            assert u.used_bytes <= u.capacity_bytes
    assert m.level("pe_sram").peak_pe_bytes <= 1024


def test_a_large_chip_keeps_vgg16_on_chip():
    big = chip(pe_array={"sram_bytes": 512 * 1024},  # 16 MiB: the largest memory CACTI models
               global_buffer={"size_bytes": 16 * 1024 * 1024, "banks": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = map_network(graph("vgg16"), big)
    assert m.on_chip and m.spilled_bytes == 0 and not m.warnings
    assert {lm.membrane_level for lm in m.layers} <= {"register", "pe_sram"}
    assert m.level("dram").used_bytes == 0 and m.buffer_level == m.ann_buffer_level == "glb"


def test_explicit_levels_spill_outward_with_a_warning():
    a = chip(policy={"membrane_level": "register", "weight_level": "glb"},
             global_buffer={"size_bytes": 1024 * 1024})
    with pytest.warns(MappingWarning):
        m = map_network(graph("vgg16"), a)
    conv1 = m.layer("conv1")  # 512 16-bit membranes per PE do not fit 64 B of registers
    assert conv1.membrane_level == "pe_sram" and conv1.spilled_bytes >= conv1.membrane_bytes
    assert any(w.startswith("conv1: membranes (128.0 KiB) spilled from register to pe_sram: "
                            "register needs 1.0 KiB per PE and has 64 B free") for w in m.warnings)
    assert m.layer("conv11").membrane_level == "register"  # 16 per PE fit
    assert m.layer("fc2").weight_level == "dram"
    assert all(lm.weight_level in ("glb", "dram") for lm in m.layers)  # never closer than asked


def test_dram_policy_is_not_a_spill():
    a = chip(policy={"membrane_level": "dram", "weight_level": "dram"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = map_network(graph("compact"), a)
    assert {lm.membrane_level for lm in m.layers if lm.neurons} == {"dram"}
    assert m.spilled_bytes == 0 and not m.on_chip


def test_mapping_accepts_checkpoint_nodes_or_graph(compact_ckpt):
    ckpt, _ = compact_ckpt
    nodes = build_architecture("compact", 10, CIFAR)
    a, b, c = (map_network(s, "45nm") for s in (ckpt, nodes, layer_graph(ckpt)))
    assert a.layers == b.layers == c.layers
    assert a.model["arch"] == "compact" and b.model["arch"] is None
    d = a.to_dict()
    json.dumps(d)
    assert [x["name"] for x in d["layers"]] == synaptic_layers(layer_graph(ckpt))
    assert "conv1" in a.table() and "memory levels" in a.table()


# --- the command -------------------------------------------------------------------------------

def test_cli_prints_and_writes_json(compact_ckpt, tmp_path, capsys, monkeypatch):
    _, path = compact_ckpt
    monkeypatch.chdir(ROOT)
    out = tmp_path / "map.json"
    assert main(["--model", str(path), "--arch", "arch_configs/45nm.yaml",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "layer graph: compact" in text and "placement on 45nm" in text
    doc = json.loads(out.read_text())
    for key in ("model", "arch", "policy", "layers", "levels", "buffer", "warnings", "graph"):
        assert key in doc
    for layer in doc["layers"]:
        assert {"name", "kind", "neurons", "params", "ann_macs", "pes_used", "membrane_level",
                "weight_level", "utilisation"} <= set(layer)
    assert sum(x["ann_macs"] for x in doc["layers"]) == 115_056_640
    assert sum(x["params"] for x in doc["layers"]) == 1_148_608
    assert doc["arch"]["name"] == "45nm" and doc["arch"]["node_nm"] == 45
    assert doc["model"]["ann_macs"] == 115_056_640
    assert graph_to_json(layer_graph(compact_ckpt[0]), indent=None) == \
        json.dumps(doc["graph"], indent=None)
    assert main(["--model", str(path), "--arch", "45nm"]) == 0


def test_cli_card_command_from_the_repository_root(compact_ckpt):
    _, path = compact_ckpt
    r = subprocess.run([sys.executable, "-m", "mapping", "--model", str(path), "--arch",
                        "configs/45nm.yaml"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert "placement on 45nm" in r.stdout


@pytest.mark.parametrize("problem", ["missing", "foreign", "config", "unknown-arch"])
def test_cli_errors_are_one_line(problem, compact_ckpt, tmp_path, capsys):
    _, path = compact_ckpt
    arch = "45nm"
    if problem == "missing":
        path = tmp_path / "nope.pt"
    elif problem == "foreign":
        path = tmp_path / "foreign.pt"
        torch.save({"state_dict": {}}, path)
    elif problem == "config":
        arch = str(tmp_path / "bad.yaml")
        Path(arch).write_text("inherits: 45nm\npe_array: {count: -1}\n")
    else:
        arch = "99nm"
    assert main(["--model", str(path), "--arch", arch]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    expected = {"missing": "no such checkpoint file", "foreign": "a foreign .pt",
                "config": "bad.yaml: pe_array.count: expected an integer > 0",
                "unknown-arch": "'99nm' not found"}[problem]
    assert expected in err

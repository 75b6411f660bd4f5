"""Weight and MAC counts (paper Eq. 16) against hand counts, and ANN/SNN sharing weights."""

import pytest
import torch

from model.architectures import ArchitectureError, build_architecture, spiking_nodes
from model.network import Network


def totals(name, classes=10, shape=(3, 32, 32)):
    nodes = build_architecture(name, classes, shape)
    return sum(n.params for n in nodes), sum(n.ann_macs for n in nodes), len(spiking_nodes(nodes))


@pytest.mark.parametrize("name,params,macs,spiking", [
    ("vgg6", 50_595_520, 108_765_184, 5),
    ("vgg16", 39_917_248, 338_403_328, 15),
    ("resnet20", 11_253_440, 215_699_456, 19),
])
def test_counts_match_hand_counts(name, params, macs, spiking):
    assert totals(name) == (params, macs, spiking)


def test_vgg16_first_layer_hand_count():
    conv1 = build_architecture("vgg16", 10)[1]
    # 3x3 kernel, 3 -> 64 channels, 32x32 output: 9*3*32*32*64
    assert conv1.ann_macs == 9 * 3 * 32 * 32 * 64 == 1_769_472
    assert conv1.params == 64 * 3 * 9


def test_imagenet_vgg16_and_cifar100():
    p, m, s = totals("vgg16", 1000, (3, 224, 224))
    assert (p, m, s) == (138_344_128, 15_470_264_320, 15)
    fc1 = [n for n in build_architecture("vgg16", 1000, (3, 224, 224)) if n.name == "fc1"][0]
    assert fc1.in_shape == (25088,)
    p100, _, _ = totals("vgg16", 100)
    assert p100 == 39_917_248 + 4096 * 90


def test_resnet20_residuals():
    nodes = build_architecture("resnet20", 10)
    res = [n for n in nodes if n.residual]
    assert len(res) == 8
    shortcuts = [n for n in nodes if n.name.endswith("shortcut")]
    assert [n.kernel for n in shortcuts] == [1, 1, 1] and all(n.stride == 2 for n in shortcuts)
    assert all(n.neuron is None for n in shortcuts)


@pytest.mark.parametrize("name", ["vgg6", "vgg11", "vgg16", "resnet20", "compact", "tiny"])
def test_ann_and_snn_run_on_the_same_weights(name):
    torch.manual_seed(0)
    net = Network(build_architecture(name, 10)).eval()
    x = torch.randn(2, 3, 32, 32)
    assert net(x).shape == (2, 10)
    out = net.snn(x, 2, record_spikes=True)
    assert out.logits.shape == (2, 10)
    assert set(out.spikes) == {n.name for n in net.spiking_layers}
    for s in out.spikes.values():
        assert s.shape[0] == 2 and set(s.unique().tolist()) <= {0.0, 1.0}


def test_bad_architecture_arguments():
    with pytest.raises(ArchitectureError, match="unknown architecture"):
        build_architecture("vgg99", 10)
    with pytest.raises(ArchitectureError, match="too small"):
        build_architecture("vgg16", 10, (3, 8, 8))

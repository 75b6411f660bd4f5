"""Threshold balancing against independently computed percentiles, and IF convergence to the
ANN as T grows."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.architectures import build_architecture
from model.conversion import balance_thresholds, percentile
from model.network import Network


@pytest.mark.parametrize("q", [0.0, 50.0, 99.7, 100.0])
def test_percentile_matches_numpy(q):
    v = torch.randn(10_001, dtype=torch.float64) ** 3
    assert percentile(v, q) == pytest.approx(np.percentile(v.numpy(), q), rel=1e-12)


def independent_thresholds(net, x, T, q):
    """Sequential percentiles recomputed with numpy, running each layer per timestep."""
    thr = {}
    spikes_in = None  # [T, B, ...]
    for n in net.nodes[1:]:
        if n.synaptic:
            w = net.weight(n.name).detach()

            def syn(h, w=w, n=n):
                return F.conv2d(h, w, padding=n.padding) if n.kind == "conv" else F.linear(h, w)

            cur = [syn(x)] * T if spikes_in is None else [syn(s) for s in spikes_in]
            if n.neuron != "lif":
                break
            allv = torch.cat([c.reshape(-1) for c in cur[:1]] if spikes_in is None
                             else [c.reshape(-1) for c in cur]).numpy()
            v = float(np.percentile(allv, q))
            thr[n.name] = v
            u = torch.zeros_like(cur[0])
            o = torch.zeros_like(u)
            out = []
            for t in range(T):
                u = u + cur[t] - v * o
                o = (u / v - 1 > 0).float()
                out.append(o)
            spikes_in = out
        elif n.kind == "avgpool":
            spikes_in = [F.avg_pool2d(s, 2) for s in spikes_in]
        elif n.kind == "flatten":
            spikes_in = [s.flatten(1) for s in spikes_in]
    return thr


def test_thresholds_are_sequential_percentiles():
    torch.manual_seed(0)
    net = Network(build_architecture("tiny", 10)).eval()
    x = torch.randn(16, 3, 32, 32)
    got = balance_thresholds(net, x, 4, q=99.0)
    ref = independent_thresholds(net, x, 4, 99.0)
    assert got.keys() == ref.keys() == {"conv1", "conv2"}
    for k in ref:
        assert got[k] == pytest.approx(ref[k], rel=1e-5)
        assert net.neuron(k).threshold.item() == pytest.approx(ref[k], rel=1e-5)
        assert net.neuron(k).leak.item() == 1.0


def test_scale_multiplies_every_threshold():
    torch.manual_seed(0)
    net = Network(build_architecture("tiny", 10)).eval()
    x = torch.randn(8, 3, 32, 32)
    a = balance_thresholds(net, x, 3, scale=1.0)
    net2 = Network(build_architecture("tiny", 10)).eval()
    net2.load_state_dict(net.state_dict())
    b = balance_thresholds(net2, x, 3, scale=0.5)
    assert b["conv1"] == pytest.approx(0.5 * a["conv1"])


def test_if_conversion_approaches_ann_as_T_grows():
    """Train a tiny MLP briefly, convert, and watch the SNN's output rate approach the ANN."""
    torch.manual_seed(0)
    from model.architectures import _Builder

    b = _Builder((3, 4, 4))
    b.flatten()
    b.linear("fc1", 32)
    b.linear("fc2", 32)
    b.linear("fc3", 3, neuron="integrate")
    net = Network(tuple(b.nodes))
    x = torch.randn(256, 3, 4, 4)
    y = (x[:, 0].mean((1, 2)) > 0).long() + (x[:, 1].mean((1, 2)) > 0.3).long()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    for _ in range(150):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        ann = net(x)
        thr = balance_thresholds(net, x, 64, q=99.99)
        # spike rate of layer l ≈ relu(a_l)/v_l, and each v is measured on currents already
        # divided by the thresholds below, so the SNN output ≈ ANN logits / (v_fc1 · v_fc2)
        ann = ann / (thr["fc1"] * thr["fc2"])
        errors = []
        agreement = []
        for T in (4, 16, 64, 256):
            snn = net.snn(x, T).logits / T  # average output current per step
            errors.append((snn - ann).abs().mean().item())
            agreement.append((snn.argmax(1) == ann.argmax(1)).float().mean().item())
    assert errors[-1] < errors[0] / 4
    assert errors == sorted(errors, reverse=True)
    assert agreement[-1] > 0.95

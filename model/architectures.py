"""Network architectures as data: an ordered list of nodes (a small dataflow graph).

Every architecture is a tuple of :class:`Node` in topological order. The same graph drives the
ANN forward pass (neurons are ReLUs), the SNN forward pass (neurons are LIF), the layer graph of
``mapping/`` and the simulator of ``hwsim/``.

Node kinds
----------
``input``    the normalised image, shape (C, H, W); analog (direct input encoding).
``conv``     2-D convolution, no bias. ``neuron`` says what follows the synaptic current:
             ``"lif"`` (a spiking layer with one leak and one threshold), ``"integrate"`` (the
             output layer: accumulate, never spike) or ``None`` (the current is only consumed as
             another node's ``residual``, e.g. a 1x1 shortcut conv).
``linear``   fully connected, no bias; ``neuron`` as for ``conv``.
``avgpool``  average pooling of a spike map (the next layer sees 0, 1/4, 1/2, ...).
``flatten``  (C, H, W) -> (C*H*W,).
``dropout``  dropout with probability ``p``; in the SNN the mask is fixed across all T steps.

A synaptic node (conv/linear) with ``residual`` set adds that node's output to its own current
before its neuron: the current of a shortcut conv (``neuron=None``) or the spikes of an
identity shortcut. This is how ResNet's residual sum enters the second LIF's membrane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

NODE_KINDS = ("input", "conv", "linear", "avgpool", "flatten", "dropout")
NEURONS = ("lif", "integrate", None)


@dataclass(frozen=True)
class Node:
    """One node of an architecture graph.

    Shapes are per sample, without the batch (or time) axis: ``(C, H, W)`` or ``(F,)``.
    """

    name: str
    kind: str
    source: str | None = None  # the node this one reads (None only for the input)
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    kernel: int = 0  # conv / avgpool kernel size
    stride: int = 1
    padding: int = 0
    neuron: str | None = None  # conv/linear only: "lif", "integrate" or None
    residual: str | None = None  # conv/linear only: node whose output is added to the current
    p: float = 0.0  # dropout probability

    def __post_init__(self):
        if self.kind not in NODE_KINDS:
            raise ValueError(f"node {self.name!r}: unknown kind {self.kind!r}")
        if self.neuron not in NEURONS:
            raise ValueError(f"node {self.name!r}: unknown neuron {self.neuron!r}")

    @property
    def synaptic(self) -> bool:
        """True for nodes with weights (conv, linear)."""
        return self.kind in ("conv", "linear")

    @property
    def spiking(self) -> bool:
        return self.synaptic and self.neuron == "lif"

    @property
    def weight_shape(self) -> tuple[int, ...]:
        """(C_out, C_in, k, k) for conv, (F_out, F_in) for linear, () otherwise."""
        if self.kind == "conv":
            return (self.out_shape[0], self.in_shape[0], self.kernel, self.kernel)
        if self.kind == "linear":
            return (self.out_shape[0], self.in_shape[0])
        return ()

    @property
    def params(self) -> int:
        """Number of weights (no biases anywhere)."""
        n = 1
        for d in self.weight_shape:
            n *= d
        return n if self.synaptic else 0

    @property
    def neurons(self) -> int:
        """Number of output neurons (elements of the output map)."""
        n = 1
        for d in self.out_shape:
            n *= d
        return n

    @property
    def ann_macs(self) -> int:
        """Multiply-accumulates of the ANN layer, the paper's Eq. 16.

        conv: k_w * k_h * c_in * h_out * w_out * c_out; linear: f_in * f_out; else 0.
        """
        if self.kind == "conv":
            c_out, c_in, k, _ = self.weight_shape
            return k * k * c_in * self.out_shape[1] * self.out_shape[2] * c_out
        if self.kind == "linear":
            return self.in_shape[0] * self.out_shape[0]
        return 0


class ArchitectureError(ValueError):
    """An architecture name or its arguments that cannot be built."""


class _Builder:
    """Appends nodes while tracking the current shape."""

    def __init__(self, input_shape: tuple[int, int, int]):
        self.nodes: list[Node] = [Node("input", "input", None, (), tuple(input_shape))]

    @property
    def last(self) -> Node:
        return self.nodes[-1]

    def _add(self, node: Node) -> str:
        if any(n.name == node.name for n in self.nodes):
            raise ArchitectureError(f"duplicate node name {node.name!r}")
        self.nodes.append(node)
        return node.name

    def shape(self, name: str) -> tuple[int, ...]:
        return next(n.out_shape for n in self.nodes if n.name == name)

    def conv(self, name, out_ch, source=None, kernel=3, stride=1, padding=1, neuron="lif",
             residual=None):
        source = source or self.last.name
        c, h, w = self.shape(source)
        ho = (h + 2 * padding - kernel) // stride + 1
        wo = (w + 2 * padding - kernel) // stride + 1
        if ho < 1 or wo < 1:
            raise ArchitectureError(f"{name}: input {h}x{w} too small for kernel {kernel}")
        return self._add(Node(name, "conv", source, (c, h, w), (out_ch, ho, wo), kernel, stride,
                              padding, neuron, residual))

    def linear(self, name, out_f, neuron="lif"):
        (f,) = self.shape(self.last.name)
        return self._add(Node(name, "linear", self.last.name, (f,), (out_f,), neuron=neuron))

    def avgpool(self, name, kernel=2):
        c, h, w = self.shape(self.last.name)
        if h < kernel or w < kernel:
            raise ArchitectureError(f"{name}: map {h}x{w} too small to pool by {kernel}")
        return self._add(Node(name, "avgpool", self.last.name, (c, h, w),
                              (c, h // kernel, w // kernel), kernel=kernel, stride=kernel))

    def flatten(self, name="flatten"):
        s = self.shape(self.last.name)
        n = 1
        for d in s:
            n *= d
        return self._add(Node(name, "flatten", self.last.name, s, (n,)))

    def dropout(self, name, p):
        if p <= 0:
            return self.last.name
        s = self.shape(self.last.name)
        return self._add(Node(name, "dropout", self.last.name, s, s, p=p))


def vgg(cfg: list, classifier: list[int], num_classes: int, input_shape=(3, 32, 32),
        conv_dropout: float = 0.2, fc_dropout: float = 0.5) -> tuple[Node, ...]:
    """A VGG-style net from a cfg list: ints are 3x3 conv widths, ``"A"`` is AvgPool 2.

    Each conv is followed by dropout (``conv_dropout``) unless a pool follows; each hidden FC by
    dropout ``fc_dropout``. The last FC is the integrate-only output layer.
    """
    b = _Builder(input_shape)
    ci = 0
    pi = 0
    for i, item in enumerate(cfg):
        if item == "A":
            pi += 1
            b.avgpool(f"pool{pi}")
            continue
        ci += 1
        b.conv(f"conv{ci}", int(item))
        if i + 1 < len(cfg) and cfg[i + 1] != "A":
            b.dropout(f"drop_conv{ci}", conv_dropout)
    b.flatten()
    for j, width in enumerate(classifier, start=1):
        b.linear(f"fc{j}", width)
        b.dropout(f"drop_fc{j}", fc_dropout)
    b.linear(f"fc{len(classifier) + 1}", num_classes, neuron="integrate")
    return tuple(b.nodes)


def resnet20(num_classes: int, input_shape=(3, 32, 32), conv_dropout: float = 0.2,
             fc_dropout: float = 0.0) -> tuple[Node, ...]:
    """The paper's ResNet20: a 3-conv stem, AvgPool, 4 stages of 2 basic blocks (64/128/256/512,
    stride 2 from stage 2, 1x1 stride-2 conv shortcut), no global pooling, one FC.

    The residual sum (shortcut current or identity spikes) enters the second LIF's membrane.
    19 spiking layers on CIFAR.
    """
    b = _Builder(input_shape)
    b.conv("conv1", 64)
    b.dropout("drop_conv1", conv_dropout)
    b.conv("conv2", 64)
    b.dropout("drop_conv2", conv_dropout)
    b.conv("conv3", 64)
    b.avgpool("pool1")
    in_ch = 64
    for s, width in enumerate((64, 128, 256, 512), start=1):
        for k in (1, 2):
            stride = 2 if (s > 1 and k == 1) else 1
            block_in = b.last.name
            pre = f"s{s}b{k}"
            b.conv(f"{pre}.conv1", width, source=block_in, stride=stride)
            mid = b.dropout(f"{pre}.drop", conv_dropout)
            if stride != 1 or in_ch != width:
                shortcut = b.conv(f"{pre}.shortcut", width, source=block_in, kernel=1,
                                  stride=stride, padding=0, neuron=None)
            else:
                shortcut = block_in
            b.conv(f"{pre}.conv2", width, source=mid, residual=shortcut)
            in_ch = width
    b.flatten()
    b.dropout("drop_fc", fc_dropout)
    b.linear("fc1", num_classes, neuron="integrate")
    return tuple(b.nodes)


VGG_CFGS = {
    "vgg6": ([64, "A", 128, 128, "A"], [4096, 4096]),
    "vgg11": ([64, "A", 128, "A", 256, 256, "A", 512, 512, "A", 512, 512], [4096, 4096]),
    "vgg16": ([64, 64, "A", 128, 128, "A", 256, 256, 256, "A", 512, 512, 512, "A",
               512, 512, 512], [4096, 4096]),
    # The bundled default: compact, one conv at full resolution, 1.15 M weights, 115 M MACs.
    "compact": ([64, "A", 128, 128, "A", 256, 256, "A"], []),
    # compact at 1.5x width: 2.55 M weights, 257 M MACs (a candidate for the bundled default).
    "compact_wide": ([96, "A", 192, 192, "A", 384, 384, "A"], []),
    # A toy net for tests and quick demos (seconds per epoch on a few hundred images).
    "tiny": ([8, "A", 16, "A"], []),
}


def _imagenet_cfg(cfg: list) -> list:
    """ImageNet VGGs add a fifth pool at the end of the conv stack."""
    return cfg + ["A"] if cfg[-1] != "A" else cfg


def _vgg_builder(key: str) -> Callable[..., tuple[Node, ...]]:
    def build(num_classes: int, input_shape=(3, 32, 32), **kw):
        cfg, classifier = VGG_CFGS[key]
        if input_shape[1] >= 64:
            cfg = _imagenet_cfg(cfg)
        return vgg(cfg, classifier, num_classes, input_shape, **kw)

    build.__doc__ = f"{key}: cfg {VGG_CFGS[key][0]}, classifier {VGG_CFGS[key][1]}"
    return build


ARCHITECTURES: dict[str, Callable[..., tuple[Node, ...]]] = {
    **{k: _vgg_builder(k) for k in VGG_CFGS},
    "resnet20": resnet20,
}


def build_architecture(name: str, num_classes: int, input_shape=(3, 32, 32),
                       **kw) -> tuple[Node, ...]:
    """The node list of a named architecture (see ``ARCHITECTURES``)."""
    if name not in ARCHITECTURES:
        raise ArchitectureError(
            f"unknown architecture {name!r}; choose one of {', '.join(sorted(ARCHITECTURES))}")
    if num_classes < 2:
        raise ArchitectureError(f"num_classes must be >= 2, got {num_classes}")
    return ARCHITECTURES[name](num_classes, tuple(input_shape), **kw)


def synaptic_nodes(nodes) -> list[Node]:
    return [n for n in nodes if n.synaptic]


def spiking_nodes(nodes) -> list[Node]:
    return [n for n in nodes if n.spiking]

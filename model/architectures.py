"""Network architectures as data: an ordered list of nodes (a small dataflow graph).

Every architecture is a tuple of :class:`Node` in topological order. The same graph drives the
ANN forward pass (neurons are ReLUs), the SNN forward pass (neurons are LIF), the layer graph of
``mapping/`` and the simulator of ``hwsim/``.

Node kinds
----------
``input``    the normalised image, shape (C, H, W); analog (direct input encoding).
``conv``     2-D convolution. ``neuron`` says what follows the synaptic current: ``"lif"`` (a
             spiking layer with one leak and one threshold), ``"integrate"`` (the output layer
             only: accumulate a[t] = λ·a[t-1] + I[t], never spike) or ``None`` (the current is
             only consumed as another node's ``residual``, e.g. a 1x1 shortcut conv).
``linear``   fully connected; ``neuron`` as for ``conv``.
``avgpool``  average pooling of a spike map (the next layer sees 0, 1/4, 1/2, ...).
``flatten``  (C, H, W) -> (C*H*W,).
``dropout``  dropout with probability ``p``; in the SNN the mask is fixed across all T steps.

Neuron options of a synaptic node (conv/linear): ``bias`` (a learned current per output
channel, added to the synaptic current at every step, before the neuron), ``reset`` (None: the
network's reset; or ``"paper"``, ``"leaked"``, ``"zero"``: this layer's own, see
``model.neuron``) and ``tau`` (a LIF layer's fixed membrane time constant in timesteps:
λ = exp(−dt/τ) with dt = 1 timestep; 0: λ is the layer's trained leak). IF neurons are LIF
with λ = 1.

Batch norm (ANN stage only): a synaptic node with ``batch_norm`` set normalises its current per
output channel before the residual and the neuron, y = γ·(W·x + b − μ)/√(σ² + ε) + β (batch
statistics in training, the running μ, σ² in eval; ``bn_eps`` = ε, ``bn_momentum`` the running
statistics' update rate, as in ``torch.nn.BatchNorm2d``). γ, β, μ, σ² live in the checkpoint's
``batch_norm`` key. Conversion folds them into the layer's weight and bias
(``model.conversion.fold_batch_norm``); the SNN stages, the layer graph and the simulator only
ever see folded layers.

The output (the last node) is a conv or linear layer that reads the network out
(``model.neuron``): neuron ``"integrate"`` (logits = the accumulated current a[T-1]; its λ,
default 1, is the checkpoint's ``leak`` entry for that layer: NIR's leaky integrator LI) or
``"lif"`` (a spiking output layer with its own λ and v; logits = each output neuron's spike
count over the T steps; the ANN reading is ReLU of its current, as for any LIF layer).

A synaptic node (conv/linear) with ``residual`` set adds that node's output to its own current
before its neuron: the current of a shortcut conv (``neuron=None``) or the spikes of an
identity shortcut. This is how ResNet's residual sum enters the second LIF's membrane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

NODE_KINDS = ("input", "conv", "linear", "avgpool", "flatten", "dropout")
NEURONS = ("lif", "integrate", None)
OUTPUT_NEURONS = ("integrate", "lif")  # the readouts of the last node (model.neuron)


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
    bias: bool = False  # conv/linear only: a bias current per output channel
    reset: str | None = None  # conv/linear with neuron "lif": this layer's reset (None: net's)
    tau: float = 0.0  # LIF only: fixed time constant in timesteps, λ = exp(-1/τ) (0: trained λ)
    batch_norm: bool = False  # conv/linear, ANN stage only: batch norm of the current
    bn_eps: float = 1e-5  # batch norm's ε, added to the variance
    bn_momentum: float = 0.1  # batch norm's running-statistics update rate (torch's momentum)

    def __post_init__(self):
        if self.kind not in NODE_KINDS:
            raise ValueError(f"node {self.name!r}: unknown kind {self.kind!r}")
        if self.neuron not in NEURONS:
            raise ValueError(f"node {self.name!r}: unknown neuron {self.neuron!r}")

    @property
    def bias_shape(self) -> tuple[int, ...]:
        """(C_out,) or (F_out,) for a synaptic node with a bias, () otherwise."""
        return (self.out_shape[0],) if self.synaptic and self.bias else ()

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
        """Number of weights (a bias is not counted: it is a neuron parameter)."""
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
    """Appends nodes while tracking the current shape; with ``batch_norm`` every conv and
    linear layer gets batch norm unless told otherwise (the output layer)."""

    def __init__(self, input_shape: tuple[int, int, int], batch_norm: bool = False):
        self.nodes: list[Node] = [Node("input", "input", None, (), tuple(input_shape))]
        self.batch_norm = bool(batch_norm)

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
             residual=None, batch_norm=None):
        source = source or self.last.name
        c, h, w = self.shape(source)
        ho = (h + 2 * padding - kernel) // stride + 1
        wo = (w + 2 * padding - kernel) // stride + 1
        if ho < 1 or wo < 1:
            raise ArchitectureError(f"{name}: input {h}x{w} too small for kernel {kernel}")
        bn = self.batch_norm if batch_norm is None else batch_norm
        return self._add(Node(name, "conv", source, (c, h, w), (out_ch, ho, wo), kernel, stride,
                              padding, neuron, residual, batch_norm=bn))

    def linear(self, name, out_f, neuron="lif", batch_norm=None):
        (f,) = self.shape(self.last.name)
        bn = self.batch_norm if batch_norm is None else batch_norm
        return self._add(Node(name, "linear", self.last.name, (f,), (out_f,), neuron=neuron,
                              batch_norm=bn))

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
        conv_dropout: float = 0.2, fc_dropout: float = 0.5,
        batch_norm: bool = False) -> tuple[Node, ...]:
    """A VGG-style net from a cfg list: ints are 3x3 conv widths, ``"A"`` is AvgPool 2.

    Each conv is followed by dropout (``conv_dropout``) unless a pool follows; each hidden FC by
    dropout ``fc_dropout``. The last FC is the integrate-only output layer. ``batch_norm``: every
    conv and hidden FC normalises its current (an ANN to fold at conversion).
    """
    b = _Builder(input_shape, batch_norm)
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
    b.linear(f"fc{len(classifier) + 1}", num_classes, neuron="integrate", batch_norm=False)
    return tuple(b.nodes)


def resnet20(num_classes: int, input_shape=(3, 32, 32), conv_dropout: float = 0.2,
             fc_dropout: float = 0.0, batch_norm: bool = False) -> tuple[Node, ...]:
    """The paper's ResNet20: a 3-conv stem, AvgPool, 4 stages of 2 basic blocks (64/128/256/512,
    stride 2 from stage 2, 1x1 stride-2 conv shortcut), no global pooling, one FC.

    The residual sum (shortcut current or identity spikes) enters the second LIF's membrane.
    19 spiking layers on CIFAR. ``batch_norm``: every conv (the shortcuts included) normalises
    its current, before the residual sum (an ANN to fold at conversion).
    """
    b = _Builder(input_shape, batch_norm)
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
    b.linear("fc1", num_classes, neuron="integrate", batch_norm=False)
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


def batch_norm_nodes(nodes) -> list[Node]:
    """The layers with batch norm (an ANN's; none once folded)."""
    return [n for n in nodes if n.batch_norm]


# ------------------------------------------------------------------ node lists as plain data
BN_FIELDS = ("batch_norm", "bn_eps", "bn_momentum")  # stored only for a batch-norm layer
NODE_FIELDS = ("name", "kind", "source", "in_shape", "out_shape", "kernel", "stride", "padding",
               "neuron", "residual", "p", "bias", "reset", "tau", *BN_FIELDS)
NODE_RESETS = ("paper", "leaked", "zero")


def node_to_dict(n: Node) -> dict:
    """A node as plain types (tuples as lists): what a checkpoint stores. The batch-norm fields
    are written only for a layer with batch norm (a file without any reads as before)."""
    d = {k: getattr(n, k) for k in NODE_FIELDS if n.batch_norm or k not in BN_FIELDS}
    d["in_shape"], d["out_shape"] = list(n.in_shape), list(n.out_shape)
    return d


def _conv_out(h: int, k: int, s: int, p: int) -> int:
    return (h + 2 * p - k) // s + 1


def nodes_from_dicts(items) -> tuple[Node, ...]:
    """Build and validate a node list stored as plain data (:func:`node_to_dict`).

    Raises :class:`ArchitectureError` with one line naming the node and the problem: unknown
    kind or field, a source that does not exist (or comes later), shapes that do not follow
    from the source's shape and the node's kernel/stride/padding, a residual of another shape,
    an output that is not a conv or linear layer with neuron "integrate" or "lif", an
    "integrate" neuron anywhere but the output, batch-norm fields on a node without weights or
    out of range (ε in (0, 1), momentum in [0, 1]).
    """
    if not isinstance(items, list | tuple) or not items:
        raise ArchitectureError("nodes: expected a non-empty list of layers")
    nodes: list[Node] = []
    by_name: dict[str, Node] = {}
    for i, d in enumerate(items):
        where = f"nodes[{i}]"
        if not isinstance(d, dict):
            raise ArchitectureError(f"{where}: expected a mapping of node fields")
        name = d.get("name")
        if not isinstance(name, str) or not name:
            raise ArchitectureError(f"{where}: name is {name!r}; expected a non-empty string")
        where = f"node {name!r}"
        extra = sorted(set(d) - set(NODE_FIELDS))
        if extra:
            raise ArchitectureError(f"{where}: unknown field {extra[0]!r} (fields: "
                                    f"{', '.join(NODE_FIELDS)})")
        if name in by_name:
            raise ArchitectureError(f"{where}: duplicate node name")
        kind = d.get("kind")
        if kind not in NODE_KINDS:
            raise ArchitectureError(f"{where}: unknown kind {kind!r}; supported: "
                                    f"{', '.join(NODE_KINDS)}")
        if (kind == "input") != (i == 0):
            raise ArchitectureError(f"{where}: the first node, and only it, must be the input")
        f = {k: d[k] for k in NODE_FIELDS if k in d}
        for key in ("in_shape", "out_shape"):
            v = f.get(key, [])
            if not isinstance(v, list | tuple) or not all(
                    isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
                raise ArchitectureError(f"{where}: {key} is {v!r}; expected whole numbers > 0")
            f[key] = tuple(v)
        for key in ("kernel", "stride", "padding"):
            v = f.get(key, Node.__dataclass_fields__[key].default)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ArchitectureError(f"{where}: {key} is {v!r}; expected a whole number")
        for key in ("p", "tau"):
            v = f.get(key, 0.0)
            if not isinstance(v, int | float) or isinstance(v, bool) or not v >= 0 or \
                    v == float("inf"):
                raise ArchitectureError(f"{where}: {key} is {v!r}; expected a number >= 0")
        for key in ("bias", "batch_norm"):
            if not isinstance(f.get(key, False), bool):
                raise ArchitectureError(f"{where}: {key} is {f[key]!r}; expected true or false")
        eps = f.get("bn_eps", Node.bn_eps)
        if not isinstance(eps, int | float) or isinstance(eps, bool) or not 0 < eps < 1:
            raise ArchitectureError(f"{where}: bn_eps is {eps!r}; expected a number in (0, 1)")
        mom = f.get("bn_momentum", Node.bn_momentum)
        if not isinstance(mom, int | float) or isinstance(mom, bool) or not 0 <= mom <= 1:
            raise ArchitectureError(f"{where}: bn_momentum is {mom!r}; expected a number in "
                                    f"[0, 1]")
        if f.get("reset") not in (None, *NODE_RESETS):
            raise ArchitectureError(f"{where}: unknown reset {f['reset']!r}; choose one of "
                                    f"{', '.join(NODE_RESETS)} (or none: the network's)")
        try:
            n = Node(**f)
        except (TypeError, ValueError) as e:
            raise ArchitectureError(f"{where}: {e}") from None
        _check_node(n, by_name, where)
        nodes.append(n)
        by_name[name] = n
    last = nodes[-1]
    if not (last.synaptic and last.neuron in OUTPUT_NEURONS):
        raise ArchitectureError(f"node {last.name!r}: the last node must be a conv or linear "
                                f"layer with neuron 'integrate' or 'lif' (the output); got "
                                f"a {last.kind} node with neuron {last.neuron!r}")
    inner = next((n for n in nodes[:-1] if n.neuron == "integrate"), None)
    if inner is not None:
        raise ArchitectureError(f"node {inner.name!r}: neuron 'integrate' is the output's "
                                f"readout, only the last node may have it (here "
                                f"{last.name!r}); use 'lif' or none")
    return tuple(nodes)


def _check_node(n: Node, by_name: dict[str, Node], where: str) -> None:
    """Shapes and references of one node against the nodes before it."""
    if n.kind == "input":
        if len(n.out_shape) != 3 or n.source is not None:
            raise ArchitectureError(f"{where}: the input needs out_shape [C, H, W] and no source")
        return
    if n.source not in by_name:
        raise ArchitectureError(f"{where}: source {n.source!r} is not a node before it")
    src = by_name[n.source].out_shape
    if n.in_shape != src:
        raise ArchitectureError(f"{where}: in_shape {list(n.in_shape)} != the out_shape "
                                f"{list(src)} of its source {n.source!r}")
    if not n.synaptic and (n.neuron or n.residual or n.bias or n.reset or n.tau
                           or n.batch_norm):
        raise ArchitectureError(f"{where}: a {n.kind} node has no neuron, residual, bias, "
                                f"reset, tau or batch_norm")
    if n.neuron != "lif" and (n.reset or n.tau):
        raise ArchitectureError(f"{where}: reset and tau need neuron 'lif'")
    if not n.batch_norm and (n.bn_eps, n.bn_momentum) != (Node.bn_eps, Node.bn_momentum):
        raise ArchitectureError(f"{where}: bn_eps and bn_momentum need batch_norm true")
    expect: tuple[int, ...] | None
    if n.kind == "conv":
        if len(src) != 3 or len(n.out_shape) != 3 or n.kernel < 1 or n.stride < 1:
            raise ArchitectureError(f"{where}: a conv needs [C, H, W] shapes, kernel >= 1 "
                                    f"and stride >= 1")
        c, h, w = src
        expect = (n.out_shape[0], _conv_out(h, n.kernel, n.stride, n.padding),
                  _conv_out(w, n.kernel, n.stride, n.padding))
    elif n.kind == "linear":
        if len(src) != 1 or len(n.out_shape) != 1:
            raise ArchitectureError(f"{where}: a linear layer needs [F] shapes (flatten first)")
        expect = n.out_shape
    elif n.kind == "avgpool":
        if len(src) != 3 or n.kernel < 1 or n.stride < 1:
            raise ArchitectureError(f"{where}: avgpool needs a [C, H, W] input, kernel >= 1")
        if n.stride != n.kernel or n.padding:
            raise ArchitectureError(f"{where}: avgpool needs stride == kernel and no padding "
                                    f"(got kernel {n.kernel}, stride {n.stride}, padding "
                                    f"{n.padding})")
        expect = (src[0], src[1] // n.kernel, src[2] // n.kernel)
    elif n.kind == "flatten":
        size = 1
        for d in src:
            size *= d
        expect = (size,)
    else:  # dropout
        if not n.p < 1:
            raise ArchitectureError(f"{where}: dropout p is {n.p}; expected 0 <= p < 1")
        expect = src
    if n.out_shape != expect or min(expect, default=1) < 1:
        raise ArchitectureError(f"{where}: out_shape {list(n.out_shape)} does not follow from "
                                f"its input {list(src)} (expected {list(expect)})")
    if n.residual is not None:
        if not n.synaptic:
            raise ArchitectureError(f"{where}: only conv and linear nodes take a residual")
        if n.residual not in by_name:
            raise ArchitectureError(f"{where}: residual {n.residual!r} is not a node before it")
        r = by_name[n.residual]
        if r.out_shape != n.out_shape:
            raise ArchitectureError(f"{where}: residual {n.residual!r} has shape "
                                    f"{list(r.out_shape)}, this layer {list(n.out_shape)}")

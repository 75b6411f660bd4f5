"""The network as a layer graph (``networkx.DiGraph``), lowered from a checkpoint or node list.

Nodes, in network order (``g.nodes`` iterates in that order), keyed by layer name:

``input``    the normalised image, ``out_shape`` (C, H, W); analog.
``conv``     synapse + neuron: ``kernel``, ``stride``, ``padding``, ``neuron`` (lif,
             integrate or None for a shortcut conv), ``leak`` λ (an integrating output's: 1
             unless the checkpoint gives one), ``threshold`` v.
``linear``   synapse + neuron, as conv without the kernel keys.
``avgpool``  ``kernel``, ``stride``; averages spikes (outputs are multiples of 1/kernel²).
``flatten``  (C, H, W) -> (C·H·W,).
``add``      ``<layer>.add``: the residual operand of ``target`` (a shortcut conv's current or
             the identity shortcut's spikes); its output is added to the target's membrane
             together with the target's own synaptic current: u += W·x + residual.
``output``   the logits, as ``readout`` says: ``integrate`` (the output layer's accumulated
             current after T steps, its stream kind ``current``) or ``spike_count`` (a LIF
             output layer's spikes counted per neuron over the T steps, stream ``spikes``).

Every node has ``kind``, ``in_shape``, ``out_shape``, ``outputs`` (elements of the output map),
``neurons`` (membrane potentials: outputs of lif/integrate layers, else 0), ``params`` (weights),
``ann_macs`` (the paper's Eq. 16: k·k·c_in·h_out·w_out·c_out for conv, f_in·f_out for linear,
else 0) and ``index`` (network order). Dropout is the identity at inference and is left out.

Edges are the streams: ``kind`` (analog, spikes, pooled_spikes, current), ``shape`` and
``role`` (input: into a synapse or pooling; residual: into and out of an add node).
"""

from __future__ import annotations

import json

import networkx as nx

from model.architectures import Node
from model.checkpoint import Checkpoint

from .text import format_table

FORMAT = "dietsim-layer-graph"
VERSION = 1
STREAMS = ("analog", "spikes", "pooled_spikes", "current")
_SHAPE_KEYS = ("in_shape", "out_shape", "shape", "input_shape")


class GraphError(ValueError):
    """Data that is not a layer graph of this project."""


def _stream_kind(node: Node, in_kind: str | None) -> str:
    """The kind of stream a node emits."""
    if node.kind == "input":
        return "analog"
    if node.synaptic:
        return "spikes" if node.neuron == "lif" else "current"
    if node.kind == "avgpool":
        return "pooled_spikes" if in_kind in ("spikes", "pooled_spikes") else in_kind
    return in_kind  # flatten, dropout pass their input through


def layer_graph(source: Checkpoint | tuple[Node, ...] | list[Node],
                leak: dict[str, float] | None = None,
                threshold: dict[str, float] | None = None) -> nx.DiGraph:
    """Lower a checkpoint (its λ and v included) or an architecture's node list to the layer
    graph described in the module docstring. ``leak``/``threshold`` ({layer: value}) override
    the checkpoint's; layers without a value get None."""
    if isinstance(source, Checkpoint):
        nodes = source.nodes()  # the file's own node list (format 2), or its architecture
        leak = source.leak if leak is None else leak
        threshold = source.threshold if threshold is None else threshold
        meta = {"arch": source.arch, "dataset": source.dataset, "stage": source.stage,
                "timesteps": source.timesteps, "reset": source.reset}
    else:
        nodes = tuple(source)
        meta = {"arch": None, "dataset": None, "stage": None, "timesteps": None, "reset": None}
    leak, threshold = leak or {}, threshold or {}
    by_name = {n.name: n for n in nodes}
    meta.update(input_shape=tuple(nodes[0].out_shape), num_classes=nodes[-1].out_shape[0])

    g = nx.DiGraph(**meta)
    alias: dict[str, str] = {}  # dropout -> the node it passes through
    kind_of: dict[str, str] = {}  # graph node -> kind of stream it emits

    def src(name: str) -> str:
        return alias.get(name, name)

    for n in nodes:
        if n.kind == "dropout":
            alias[n.name] = src(n.source)
            continue
        kind_of[n.name] = _stream_kind(n, kind_of.get(src(n.source)) if n.source else None)
        attrs = {"kind": n.kind, "in_shape": tuple(n.in_shape),
                 "out_shape": tuple(n.out_shape), "outputs": n.neurons,
                 "neurons": n.neurons if n.neuron else 0, "params": n.params,
                 "ann_macs": n.ann_macs}
        if n.kind in ("conv", "avgpool"):
            attrs.update(kernel=n.kernel, stride=n.stride)
        if n.kind == "conv":
            attrs["padding"] = n.padding
        if n.synaptic:
            attrs.update(neuron=n.neuron, residual=None,
                         leak=leak.get(n.name, 1.0 if n.neuron == "integrate" else None),
                         threshold=threshold.get(n.name))
        if n.residual:
            add = f"{n.name}.add"
            operand = src(n.residual)
            shape = tuple(by_name[n.residual].out_shape)
            g.add_node(add, kind="add", in_shape=shape, out_shape=shape, outputs=n.neurons,
                       neurons=0, params=0, ann_macs=0, target=n.name, operand=operand)
            g.add_edge(operand, add, kind=kind_of[operand], shape=shape, role="residual")
            attrs["residual"] = add
        g.add_node(n.name, **attrs)
        if n.source:
            s = src(n.source)
            g.add_edge(s, n.name, kind=kind_of[s], shape=tuple(n.in_shape), role="input")
        if n.residual:
            g.add_edge(f"{n.name}.add", n.name, kind=kind_of[src(n.residual)],
                       shape=tuple(n.out_shape), role="residual")
    last = nodes[-1]
    g.add_node("output", kind="output", in_shape=tuple(last.out_shape),
               out_shape=tuple(last.out_shape), outputs=last.neurons, neurons=0, params=0,
               ann_macs=0, readout="spike_count" if last.neuron == "lif" else "integrate")
    g.add_edge(last.name, "output", kind=kind_of[last.name], shape=tuple(last.out_shape),
               role="input")
    for i, name in enumerate(g.nodes):
        g.nodes[name]["index"] = i
    return g


def synaptic_layers(g: nx.DiGraph) -> list[str]:
    """Names of the conv and linear nodes, in network order."""
    return [n for n, d in g.nodes(data=True) if d["kind"] in ("conv", "linear")]


def totals(g: nx.DiGraph) -> dict[str, int]:
    """Network totals: neurons, params (weights), ann_macs."""
    return {k: sum(d[k] for _, d in g.nodes(data=True)) for k in ("neurons", "params", "ann_macs")}


def _plain(v):
    return list(v) if isinstance(v, tuple) else v


def graph_to_dict(g: nx.DiGraph) -> dict:
    """A JSON-ready dict: ``format``, ``version``, ``graph`` (model facts), ``nodes`` (name +
    attributes, in network order) and ``edges`` (source, target + attributes)."""
    return {"format": FORMAT, "version": VERSION,
            "graph": {k: _plain(v) for k, v in g.graph.items()},
            "nodes": [{"name": n, **{k: _plain(v) for k, v in d.items()}}
                      for n, d in g.nodes(data=True)],
            "edges": [{"source": u, "target": v, **{k: _plain(x) for k, x in d.items()}}
                      for u, v, d in g.edges(data=True)]}


def _tuples(d: dict) -> dict:
    return {k: tuple(v) if k in _SHAPE_KEYS and isinstance(v, list) else v for k, v in d.items()}


def graph_from_dict(data: dict) -> nx.DiGraph:
    """The inverse of :func:`graph_to_dict`; raises :class:`GraphError` for foreign data."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise GraphError(f"not a {FORMAT} document")
    if data.get("version") != VERSION:
        raise GraphError(f"layer graph version {data.get('version')!r}, this code reads "
                         f"version {VERSION}")
    try:
        g = nx.DiGraph(**_tuples(data["graph"]))
        for n in data["nodes"]:
            g.add_node(n["name"], **_tuples({k: v for k, v in n.items() if k != "name"}))
        for e in data["edges"]:
            g.add_edge(e["source"], e["target"],
                       **_tuples({k: v for k, v in e.items() if k not in ("source", "target")}))
    except (KeyError, TypeError) as e:
        raise GraphError(f"malformed layer graph ({type(e).__name__}: {e})") from e
    return g


def graph_to_json(g: nx.DiGraph, indent: int | None = 1) -> str:
    """The graph as JSON text (see :func:`graph_to_dict`)."""
    return json.dumps(graph_to_dict(g), indent=indent)


def graph_from_json(text: str) -> nx.DiGraph:
    """Read :func:`graph_to_json` output back into an equal graph."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise GraphError(f"not JSON ({e})") from e
    return graph_from_dict(data)


def graph_table(g: nx.DiGraph) -> str:
    """The graph for people: one row per node with its inputs, shapes, kernel, λ, v and counts."""
    def shape(s) -> str:
        return "x".join(str(d) for d in s)

    rows = []
    for n, d in g.nodes(data=True):
        ksp = f"{d['kernel']}/{d['stride']}/{d.get('padding', 0)}" if "kernel" in d else ""
        ins = ", ".join(f"{u}" if e["role"] == "input" else f"+{u}"
                        for u, _, e in g.in_edges(n, data=True))
        what = d.get("neuron") or d.get("readout")  # a layer's neuron, the output's readout
        rows.append([n, d["kind"] + (f" ({what})" if what else ""), ins,
                     f"{shape(d['in_shape'])} -> {shape(d['out_shape'])}", ksp,
                     d.get("leak"), d.get("threshold"), d["neurons"], d["params"],
                     d["ann_macs"]])
    t = totals(g)
    rows.append(["total", "", "", "", "", None, None, t["neurons"], t["params"], t["ann_macs"]])
    title = (f"layer graph: {g.graph.get('arch') or 'network'}"
             f" ({g.graph.get('dataset') or 'input ' + shape(g.graph['input_shape'])}); "
             "k/s/p = kernel/stride/padding, +x = residual operand")
    return format_table(["node", "kind", "inputs", "shape", "k/s/p", "leak", "threshold",
                         "neurons", "weights", "MACs"], rows, title)

"""One simulation: a checkpoint, a chip and images in; the report (docs/report.md) out.

Images stream through in batches (memory stays bounded): each batch runs through the chip's
functional datapath (``functional.run_batch``), is checked against the PyTorch model on the
same stored weights, and its events are counted per layer, step and PE (``counts``). At the end
the counts are priced and timed (``energy``) for the SNN and for the ANN baseline.

``accuracy.reference`` (the full-precision model's accuracy on the same images) runs the
checkpoint's float32 weights through the same event datapath (``functional.reference_model``):
a fraction of a PyTorch run, since the scatter costs events where torch costs dense MACs; where
the stored weights already equal the checkpoint's, the simulator's own predictions are the
reference's. The check (``check``) is the one PyTorch run, by design.
"""

from __future__ import annotations

import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from arch_configs import ArchConfig
from mapping.graph import layer_graph
from mapping.placement import Mapping, map_network
from model.checkpoint import Checkpoint
from model.checkpoint import load as C_load
from model.conversion import fold_batch_norm
from model.data import Dataset, batches, stratified_indices

from . import compare as CMP
from . import energy as E
from .counts import Counter, LayerCounts
from .functional import (
    ActivationFormat,
    MatchReport,
    ann_activity,
    calibrate_activations,
    compare_with_model,
    model_outputs,
    reference_model,
    run_batch,
    store,
)

CALIBRATION_IMAGES = 32  # the first images of a run set the ANN's activation steps
BATCH_BYTES = 1 << 30  # the maps of one batch (simulator and check together) stay near this


def batch_size(nodes, T: int, requested: int, itemsize: int = 4) -> int:
    """``requested``, or fewer images where one batch's maps would exceed :data:`BATCH_BYTES`
    (ImageNet-size VGG16: 1). Per image: the recorded spikes of every LIF layer twice (the
    simulator's and the check's) and ~6 maps of the largest layer, all over T steps. The
    results do not depend on the batch size."""
    sizes = [n.neurons for n in nodes if n.synaptic]
    lif = sum(n.neurons for n in nodes if n.spiking)
    per_image = T * itemsize * (2 * lif + 6 * max(sizes, default=0))
    return max(1, min(requested, BATCH_BYTES // max(1, per_image)))


@dataclass
class SimOptions:
    timesteps: int | None = None  # None: the checkpoint's T
    batch_size: int = 32  # at most (see batch_size)
    energy_mode: str = "full"  # full | paper
    progress: bool = True
    check: bool = True  # compare with the PyTorch model (functional_match)
    reference: bool = True  # the full-precision model's accuracy (accuracy.reference)
    dataflow: str | None = None  # the headline pair (None: the config's policy.dataflow)
    objective: str = "energy"  # what the mapper minimises: energy | latency | edp
    ann: str | None = None  # an ANN checkpoint as the baseline (None: the SNN's weights, ReLU)


def _producers(nodes) -> dict[str, str | None]:
    """For every node, the synaptic node (or None for the input) whose stream it carries."""
    prod: dict[str, str | None] = {}
    for n in nodes:
        if n.kind == "input":
            prod[n.name] = None
        elif n.synaptic:
            prod[n.name] = n.name
        else:
            prod[n.name] = prod[n.source]
    return prod


def consumers(nodes) -> dict[str, list[str]]:
    """Synaptic layer -> the synaptic layers that read its output (incl. identity shortcuts)."""
    prod = _producers(nodes)
    out: dict[str, list[str]] = {}
    for n in nodes:
        if not n.synaptic:
            continue
        for src in (n.source, n.residual):
            if src is None:
                continue
            p = prod[src] if src in prod else None
            if p is not None and p != n.name:
                out.setdefault(p, []).append(n.name)
    return out


@dataclass
class FunctionalPass:
    """What the chip's datapath computed on a set of images (the events went to a callback)."""

    samples: int
    correct: int | None = 0  # None: the inputs have no labels
    reference_correct: int | None = None  # None: the reference was not run (or no labels)
    match: MatchReport | None = None  # None: the check was not run
    reference_datapath: str | None = None
    ann_correct: int | None = None  # None: the ANN was not run
    ann_activations: ActivationFormat | None = None  # None: float ANN activations


def functional_pass(ckpt: Checkpoint, stored, data: Dataset, T: int, *, max_batch: int,
                    check: bool, reference: bool, on_events, progress: bool = False,
                    on_ann=None, ann_model=None,
                    activation_bits: int | None = None) -> FunctionalPass:
    """Run ``data`` (every image, in order) through the stored network's event datapath.

    Each batch's events go to ``on_events(events, images)``; with ``check`` every spike is
    compared with the PyTorch model on the same stored weights; with ``reference`` the
    checkpoint's full-precision weights run through the same datapath for
    ``accuracy.reference``; with ``on_ann`` the ANN (the stored weights with ReLU) runs on
    the same images and its activity goes to ``on_ann(activity, images)`` (zero-skipping
    dataflows need its real activations); ``ann_model`` (a stored ANN checkpoint, see
    :func:`ann_baseline`) runs instead of the SNN's weights; ``activation_bits`` (the ``int``
    datapath's ``precision.activation_bits``; None: float) quantises the ANN's activations,
    their steps calibrated on the first :data:`CALIBRATION_IMAGES` images before any is
    counted (:func:`ann_activations`). The one functional loop of ``hwsim.run`` and
    ``hwsim.sweep``."""
    ref_model = reference_model(ckpt, stored) if reference else None
    labelled = data.labels is not None  # without labels: no accuracies, all else the same
    out = FunctionalPass(samples=len(data), match=MatchReport() if check else None,
                         correct=0 if labelled else None,
                         reference_correct=0 if reference and labelled else None)
    if reference:
        out.reference_datapath = ("full-precision float32 weights and membranes on the event "
                                  "datapath")
    mean, std = ckpt.preprocessing["mean"], ckpt.preprocessing["std"]
    bar = tqdm(total=len(data), desc="simulating", unit="img", disable=not progress)
    seen = 0
    size = batch_size(stored.nodes, T, max_batch, stored.dtype.itemsize)
    ann_net = ann_model if ann_model is not None else stored
    ann = on_ann is not None and ann_net.net is not None
    if ann and activation_bits is not None:
        out.ann_activations = ann_activations(ann_net, data, activation_bits, mean, std)

    @torch.no_grad()
    def torch_side(x):
        """The PyTorch runs (the check's SNN, the ANN): on a second thread, overlapping the
        event datapath (its Numba kernels release the GIL)."""
        return (model_outputs(stored, x, T) if check else None,
                ann_activity(ann_net, x, out.ann_activations) if ann else None)

    pool = ThreadPoolExecutor(max_workers=1) if check or ann else None
    try:
        for x, y in batches(data, size, mean, std):
            side = pool.submit(torch_side, x) if pool else None
            with torch.no_grad():
                res = run_batch(stored, x, T, record_spikes=check)
                ref_logits = (run_batch(ref_model, x, T, record_spikes=False).logits
                              if reference else None)
            model_out, act = side.result() if side else (None, None)
            if check:
                out.match.add(compare_with_model(stored, x, T, res, model_out))
                res.spikes.clear()
                del model_out
            n = len(x)
            on_events(res.events, n)
            if act is not None:
                on_ann(act, n)
            if labelled:
                labels = y.numpy()
                out.correct += int((res.logits.argmax(1) == labels).sum())
                if act is not None:
                    out.ann_correct = (out.ann_correct or 0) + int((act.logits.argmax(1)
                                                                    == labels).sum())
                if reference:
                    out.reference_correct += int((ref_logits.argmax(1) == labels).sum())
            seen += n
            bar.update(n)
            if labelled:
                bar.set_postfix(acc=f"{out.correct / seen:.3f}")
    finally:
        if pool:
            pool.shutdown(wait=False, cancel_futures=True)
        bar.close()
    return out


def ann_activations(ann_net, data: Dataset, bits: int, mean, std) -> ActivationFormat:
    """The ANN's fixed-point activation format, ``bits`` wide, its per-layer steps calibrated
    (:func:`hwsim.functional.calibrate_activations`) on the first :data:`CALIBRATION_IMAGES`
    images of ``data`` (inputs only, never labels)."""
    k = min(CALIBRATION_IMAGES, len(data))
    x, _ = next(batches(data.subset(np.arange(k)), k, mean, std))
    return calibrate_activations(ann_net, x, bits)


class AnnMismatch(ValueError):
    """An ANN checkpoint that is not the same network as the SNN."""


def ann_baseline(path: str, ckpt: Checkpoint, weight_bits: int | None):
    """A trained ANN checkpoint as the chip's baseline, stored in the chip's weight format;
    its synaptic layers must have the SNN's names and shapes (it is costed on the SNN's layer
    graph with its own activations)."""
    ann = fold_batch_norm(C_load(path, stages=("ann",)))  # the chip runs folded layers
    mine = {n.name: (n.kind, n.in_shape, n.out_shape) for n in ckpt.nodes() if n.synaptic}
    theirs = {n.name: (n.kind, n.in_shape, n.out_shape) for n in ann.nodes() if n.synaptic}
    if mine != theirs:
        diff = sorted(set(mine.items()) ^ set(theirs.items()))[:1]
        raise AnnMismatch(f"--ann {path}: its layers are not the SNN's ({ann.arch} vs "
                          f"{ckpt.arch}; first difference: {diff[0][0] if diff else '?'})")
    if ann.preprocessing != ckpt.preprocessing:
        raise AnnMismatch(f"--ann {path}: its input normalisation differs from the SNN's")
    return store(ann, weight_bits)


def stored_formats(arch: ArchConfig) -> tuple[int | None, int | None, str]:
    """What the stored model depends on: (weight bits, membrane bits, leak unit), fixed point
    on the int datapath; (None, None, ...) (float, simulated in float64) on the fp one."""
    p = arch.precision
    if p.datapath == "int":
        return p.weight_bits, p.membrane_bits, arch.policy.leak
    return None, None, arch.policy.leak


def ann_activation_bits(arch: ArchConfig) -> int | None:
    """The ANN's activation width on this chip: ``precision.activation_bits`` on the int
    datapath, None (float) on the fp one (docs/hwsim.md, "The ANN's activations")."""
    p = arch.precision
    return p.activation_bits if p.datapath == "int" else None


def simulate(ckpt: Checkpoint, arch: ArchConfig, data: Dataset, samples: int,
             opts: SimOptions, model_name: str = "") -> dict:
    started = time.time()
    T = opts.timesteps or ckpt.timesteps
    exact = arch.precision.datapath == "int"
    w_bits, v_bits, leak = stored_formats(arch)
    stored = store(ckpt, w_bits, v_bits, T, leak)
    ann_model = (ann_baseline(opts.ann, ckpt, arch.precision.weight_bits if exact else None)
                 if opts.ann else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mapping = map_network(layer_graph(ckpt), arch)
    counter = Counter(mapping, T, first_layer_once=arch.policy.first_layer == "once")
    # a class-balanced subset (the data may be sorted by class); without labels the first ones
    subset = data if samples >= len(data) else data.subset(
        stratified_indices(data.labels, samples) if data.labels is not None
        else np.arange(samples))
    fp = functional_pass(ckpt, stored, subset, T, max_batch=opts.batch_size, check=opts.check,
                         reference=opts.reference, on_events=counter.add,
                         progress=opts.progress, on_ann=counter.add_ann, ann_model=ann_model,
                         activation_bits=ann_activation_bits(arch))
    report = build_report(ckpt, arch, mapping, counter, T, opts, fp.samples, model_name)
    report["accuracy"] = accuracy_summary(arch, fp.correct, fp.reference_correct, fp.samples,
                                          fp.match, fp.reference_datapath, fp.ann_correct)
    report["accuracy"]["ann_model"] = (opts.ann or "the SNN's stored weights with ReLU")
    report["mapping_warnings"] = list(mapping.warnings) + [str(w.message) for w in caught
                                                           if "spill" not in str(w.message)]
    report["seconds"] = round(time.time() - started, 2)
    return report


def accuracy_summary(arch: ArchConfig, correct: int | None, reference_correct: int | None,
                     samples: int, match: MatchReport | None,
                     reference_datapath: str | None = None,
                     ann_correct: int | None = None) -> dict:
    """The report's ``accuracy`` object (``match`` None: the check was not run; ``correct``
    None: the inputs have no labels)."""
    return {
        "snn": None if correct is None else correct / samples,
        "reference": None if reference_correct is None else reference_correct / samples,
        "reference_datapath": reference_datapath,
        "ann": None if ann_correct is None else ann_correct / samples,
        "functional_match": match.functional_match if match else None,
        "spike_mismatches": match.spike_mismatches if match else None,
        "prediction_mismatches": match.prediction_mismatches if match else None,
        "logit_mismatches": match.logit_mismatches if match else None,
        "spikes_compared": match.spikes_compared if match else 0,
        "datapath": datapath_text(arch),
    }


def datapath_text(arch: ArchConfig) -> str:
    """What the simulated datapath computes with, in one line."""
    p = arch.precision
    if p.datapath != "int":
        return "fp: full-precision weights, membranes and ANN activations, float64 on both sides"
    return (f"int: {p.weight_bits}-bit fixed-point weights (power-of-two step 2^-e), "
            f"{p.membrane_bits}-bit fixed-point membranes (per layer a power-of-two LSB for "
            f"±4 thresholds, the output's for no overflow; floor, saturating), "
            + (f"leak in steps of 2^-{p.membrane_bits - 1}" if arch.policy.leak == "multiply"
               else "leak by shift and add (λ = 1 − 2^-k or 2^-k)")
            + f"; ANN activations {p.activation_bits}-bit unsigned fixed point (per layer a "
            f"power-of-two step covering the largest on the first {CALIBRATION_IMAGES} images; "
            "round to nearest, saturating)")


def _layer_row(lc: LayerCounts, snn: E.LayerCost, ann: E.LayerCost, lm, v_level) -> dict:
    acs = float(lc.per_image(lc.accumulates).sum())
    steps = lc.T
    lif_rw = lc.neurons * steps if lc.state_update else 0  # a LIF phase or a leaky output's leak
    scatter_rw = 0.0 if lc.analog else acs
    pe = lc.per_image(lc.pe_work)
    busy = pe.sum(axis=0)
    if snn.mapping == "scatter":
        v_reads = v_writes = scatter_rw + lif_rw
        w_reads = acs - float(lc.per_image(lc.residual_events).sum())
    else:  # accesses at the homes (membrane level, weight level) the dataflow makes
        level = v_level or "register"
        v_reads = snn.accesses.count("V", level, "read")
        v_writes = snn.accesses.count("V", level, "write")
        w_reads = snn.accesses.count("W", lm.weight_level, "read")
    return {
        "name": lc.name, "kind": lc.kind, "neuron": lc.neuron, "neurons": lc.neurons,
        "analog_input": lc.analog,
        "spikes": float(lc.per_image(lc.output_spikes).sum()),
        "spike_rate": lc.spike_rate,
        "input_events": float(lc.per_image(lc.input_events).sum()),
        "ann_macs": lc.ann_macs,
        "snn_acs": 0.0 if lc.analog else acs,
        "snn_macs": acs if lc.analog else 0.0,
        "membrane_reads": v_reads, "membrane_writes": v_writes, "weight_reads": w_reads,
        "snn_mapping": snn.mapping, "ann_mapping": ann.mapping,
        "snn_bound": snn.bound, "ann_bound": ann.bound,
        "membrane_level": v_level, "weight_level": lm.weight_level, "pes_used": lm.pes_used,
        "pe_load_imbalance": float(busy.max() / busy.mean()) if busy.size and busy.mean() else 1.0,
        "acs_per_step": [float(v) for v in lc.per_image(lc.accumulates)],
        "spikes_per_step": [float(v) for v in lc.per_image(lc.output_spikes)],
        "cycles": snn.cycles,
        "energy_pj": {**snn.energy_pj, "total": snn.total_pj},
        "ann_cycles": ann.cycles,
        "ann_energy_pj": {**ann.energy_pj, "total": ann.total_pj},
    }


def build_report(ckpt: Checkpoint, arch: ArchConfig, mapping: Mapping, counter: Counter, T: int,
                 opts: SimOptions, samples: int, model_name: str,
                 selected_out: dict | None = None) -> dict:
    """The report (docs/report.md) from the counts: every dataflow on both sides
    (``hwsim.compare``), the headline pair per layer and in total, the paper's formula.
    ``selected_out`` (a dict) receives the headline pair's per-layer costs (``snn``, ``ann``:
    lists of ``energy.LayerCost``) and the ANN's placement (``ann_mapping``) for the system
    timing."""
    nodes = ckpt.nodes()
    cons = consumers(nodes)
    order = [n.name for n in nodes if n.synaptic]
    counts = [counter.layers[name] for name in order]
    levels = CMP.membrane_levels(nodes, mapping)
    ctx = CMP.context(arch, mapping, nodes, T, cons)
    setting = opts.dataflow or arch.policy.dataflow
    flows = CMP.compare(ctx, counts, setting, opts.objective)
    results = flows.pop("_results")
    snn_r = results["snn"][flows["selected"]["snn"]]
    ann_r = results["ann"][flows["selected"]["ann"]]
    snn_costs, ann_costs = snn_r.layers, ann_r.layers
    if selected_out is not None:
        selected_out.update(snn=snn_costs, ann=ann_costs, ann_mapping=ctx.placements[
            (CMP.placement_kind("ann", flows["selected"]["ann"]), ann_r.weights)])
    snn_cycles, ann_cycles = snn_r.cycles, ann_r.cycles
    snn_s, ann_s = snn_r.seconds, ann_r.seconds
    layers = [_layer_row(lc, s, a, mapping.layer(lc.name), levels[lc.name])
              for lc, s, a in zip(counts, snn_costs, ann_costs)]

    def total(costs, parts):
        d = {p: float(sum(c.energy_pj[p] for c in costs)) for p in parts}
        d["total"] = float(sum(d.values()))
        return d

    snn_e, ann_e = total(snn_costs, E.SNN_PARTS), total(ann_costs, E.ANN_PARTS)
    paper = E.paper_energy(counts, arch)
    mode = opts.energy_mode
    snn_total = paper["snn_pj"] if mode == "paper" else snn_e["total"]
    ann_total = paper["ann_pj"] if mode == "paper" else ann_e["total"]
    spikes = sum(r["spikes"] for r in layers)
    neurons = sum(r["neurons"] for r in layers if r["neuron"] == "lif")
    return {
        "model": {"name": model_name, "architecture": ckpt.arch, "timesteps": T,
                  "dataset": ckpt.dataset, "stage": ckpt.stage, "reset": ckpt.reset},
        "arch": arch.summary() | {"schedule": mapping.schedule,
                                  "partition": mapping.partition,
                                  "membrane_policy": mapping.membrane_policy,
                                  "weight_policy": mapping.weight_policy,
                                  "first_layer": arch.policy.first_layer},
        "samples": samples,
        "energy_mode": mode,
        "layers": layers,
        "snn": {"energy_pj": snn_e, "latency_cycles": snn_cycles, "latency_s": snn_s,
                "spikes": spikes, "mean_spike_rate": spikes / neurons if neurons else 0.0},
        "ann": {"energy_pj": ann_e, "latency_cycles": ann_cycles, "latency_s": ann_s},
        "paper": paper,
        "ratio": {"energy_ann_over_snn": ann_total / snn_total if snn_total else None,
                  "energy_ann_over_snn_full": ann_e["total"] / snn_e["total"],
                  "energy_ann_over_snn_paper": paper["ratio"],
                  "latency_ann_over_snn": ann_cycles / snn_cycles if snn_cycles else None},
        "mapping": {"on_chip": mapping.on_chip, "spilled_bytes": mapping.spilled_bytes,
                    "buffer_level": mapping.buffer_level},
        "dataflows": flows,
    }

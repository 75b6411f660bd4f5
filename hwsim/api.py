"""The Python API: one call simulates a model on a chip and returns a typed :class:`Report`.

    >>> from hwsim import simulate, load_arch
    >>> rep = simulate(samples=8, check=False)           # the bundled model on 45 nm
    >>> rep.verdict.energy_ann_over_snn                  # > 1: the SNN costs less energy
    >>> rep.to_dataframe()                               # the per-layer table (pandas)
    >>> rep.to_dict()                                    # exactly what `hwsim.run --json` writes

:func:`simulate` takes what ``python -m hwsim.run`` takes (same defaults, same checks, the
same one-line exceptions, listed in :data:`ERRORS`) and runs the same code. A report written
by ``hwsim.run --json`` reads back with :meth:`Report.read`. Every field and unit is in
docs/report.md; the dataclasses below mirror ``hwsim/report_schema.json`` key for key.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from arch_configs import ArchConfig, ConfigError, load_arch
from arch_configs.schema import SNN_DATAFLOWS
from model import checkpoint as C
from model.bundled import bundled_model_path
from model.common import USER_ERRORS, UsageError
from model.data import ArraySet, FolderSet, describe_input, stratified_indices

from . import report as R
from .compare import Infeasible
from .run import check_samples, load_images, overrides
from .simulate import AnnMismatch, SimOptions
from .simulate import simulate as _simulate


class ReportError(ValueError):
    """A report (dict or JSON file) that does not have the shape of docs/report.md."""


#: Everything :func:`simulate` and :meth:`Report.read` raise for bad input: one line each,
#: the messages ``python -m hwsim.run`` prints after ``error:``.
ERRORS = (*USER_ERRORS, ConfigError, UsageError, Infeasible, AnnMismatch, ReportError)

OBJECTIVES = ("energy", "latency", "edp")
BISECTIONS = 16  # break_even: the factor to 1/65,536 of its bracket
ENERGY_MODES = ("full", "paper")


# ------------------------------------------------------------------------------ the report
@dataclass(frozen=True)
class _Record:
    """Base of the report's records. A field with a default is a key the schema lets a report
    lack; ``_absent`` names those the dict read lacked, so :meth:`Report.to_dict` leaves them
    out again."""

    _absent: frozenset[str] = field(default=frozenset(), repr=False, compare=False,
                                    kw_only=True)


@dataclass(frozen=True)
class ModelInfo(_Record):
    """The checkpoint simulated (``model``)."""

    name: str  # the model path as given ("" for a Checkpoint object)
    architecture: str
    timesteps: int  # T simulated, steps
    dataset: str
    stage: str  # ann | converted | snn
    reset: str  # the reset variant (docs/DESIGN.md)


@dataclass(frozen=True)
class ArchInfo(_Record):
    """The chip (``arch``)."""

    name: str
    node_nm: int  # technology node, nm
    pes: int
    clock_hz: float  # Hz
    source_file: str  # the YAML read
    schedule: str  # layer_by_layer | pipelined
    partition: str
    membrane_policy: str  # policy.membrane_level asked for
    weight_policy: str  # policy.weight_level asked for
    first_layer: str  # every_step | once


@dataclass(frozen=True)
class SnnEnergy(_Record):
    """SNN energy by part, pJ per image (docs/report.md, ``snn.energy_pj``)."""

    compute: float
    membrane: float
    weights: float
    spikes: float
    clock: float
    leakage: float
    dram: float
    total: float


@dataclass(frozen=True)
class AnnEnergy(_Record):
    """ANN energy by part, pJ per image (docs/report.md, ``ann.energy_pj``)."""

    compute: float
    activations: float
    weights: float
    noc: float
    clock: float
    leakage: float
    dram: float
    total: float


@dataclass(frozen=True)
class Layer(_Record):
    """One synaptic layer on the headline dataflow pair (``layers[]``); per image."""

    name: str
    kind: str  # conv | linear
    neuron: str | None  # lif | integrate | None (a shortcut)
    neurons: int  # output neurons C×H×W
    analog_input: bool  # reads the analog image (dense MACs)
    spikes: float  # spikes emitted over all T
    spike_rate: float | None  # spikes per neuron over all T (Eq. 18); None if not spiking
    input_events: float  # address events received over all T
    ann_macs: int
    snn_acs: float
    snn_macs: float
    membrane_reads: float
    membrane_writes: float
    weight_reads: float
    snn_mapping: str  # the SNN dataflow's tiling
    ann_mapping: str
    snn_bound: str  # what set the SNN layer's cycles
    ann_bound: str
    membrane_level: str | None
    weight_level: str
    pes_used: int
    pe_load_imbalance: float  # busiest PE's work / mean PE's
    acs_per_step: tuple[float, ...]  # accumulates (MACs for the analog layer) per step
    spikes_per_step: tuple[float, ...]
    cycles: float  # SNN cycles over all T
    energy_pj: SnnEnergy
    ann_cycles: float
    ann_energy_pj: AnnEnergy


@dataclass(frozen=True)
class SnnTotals(_Record):
    """The SNN on the headline dataflow (``snn``), per image."""

    energy_pj: SnnEnergy
    latency_cycles: float
    latency_s: float
    spikes: float  # all LIF layers
    mean_spike_rate: float  # spikes per LIF neuron over all T, weighted by neurons


@dataclass(frozen=True)
class AnnTotals(_Record):
    """The same network as an ANN on the headline dataflow (``ann``), per image."""

    energy_pj: AnnEnergy
    latency_cycles: float
    latency_s: float


@dataclass(frozen=True)
class Paper(_Record):
    """The paper's Table 3 formula, no data movement (``paper``); pJ per image."""

    ann_pj: float
    snn_pj: float
    ratio: float  # ann_pj / snn_pj
    normalised_snn_ops: float
    first_layer_share: float
    mac_pj: float  # one MAC, pJ
    ac_pj: float  # one AC, pJ


@dataclass(frozen=True)
class Ratios(_Record):
    """ANN over SNN on the headline pair (``ratio``; > 1: the SNN wins)."""

    energy_ann_over_snn: float | None  # of the energy mode (full or paper)
    energy_ann_over_snn_full: float
    energy_ann_over_snn_paper: float
    latency_ann_over_snn: float | None


@dataclass(frozen=True)
class Placement(_Record):
    """The SNN's placement (``mapping``)."""

    on_chip: bool
    spilled_bytes: int
    buffer_level: str


@dataclass(frozen=True)
class Pair(_Record):
    """One dataflow per side."""

    snn: str
    ann: str


@dataclass(frozen=True)
class SnnDataflowLayer(_Record):
    """One layer on one SNN dataflow, per image."""

    name: str
    mapping: str  # the mapper's tiling
    cycles: float  # over all T
    bound: str
    energy_pj: SnnEnergy


@dataclass(frozen=True)
class AnnDataflowLayer(_Record):
    """One layer on one ANN dataflow, per image."""

    name: str
    mapping: str
    cycles: float
    bound: str
    energy_pj: AnnEnergy


@dataclass(frozen=True)
class SnnDataflow(_Record):
    """One SNN dataflow, every layer mapped by the mapper; per image."""

    energy_pj: SnnEnergy
    latency_cycles: float
    latency_s: float
    search_s: float  # the mapper's search time, s
    candidates: int
    weights: str  # the weight placement it ran on
    layers: tuple[SnnDataflowLayer, ...]


@dataclass(frozen=True)
class AnnDataflow(_Record):
    """One ANN dataflow, every layer mapped by the mapper; per image."""

    energy_pj: AnnEnergy
    latency_cycles: float
    latency_s: float
    search_s: float
    candidates: int
    weights: str
    layers: tuple[AnnDataflowLayer, ...]


@dataclass(frozen=True)
class Verdict(_Record):
    """The best SNN dataflow against the best ANN dataflow on this chip."""

    snn: str
    ann: str
    energy_ann_over_snn: float  # > 1: the SNN costs less energy
    latency_ann_over_snn: float | None  # > 1: the SNN is faster

    @property
    def winner(self) -> str:
        """``"snn"`` or ``"ann"``: the side with less energy per image."""
        return "snn" if self.energy_ann_over_snn > 1 else "ann"


@dataclass(frozen=True)
class PairRatio(_Record):
    """One (SNN, ANN) dataflow pair."""

    energy_ann_over_snn: float
    latency_ann_over_snn: float | None


@dataclass(frozen=True)
class InfeasibleFlows(_Record):
    """Dataflows with no tiling that fits, and why (by dataflow name)."""

    snn: dict[str, str] = field(default_factory=dict, kw_only=True)
    ann: dict[str, str] = field(default_factory=dict, kw_only=True)


@dataclass(frozen=True)
class Dataflows(_Record):
    """Every dataflow of both sides (``dataflows``; docs/hwsim.md, Dataflows)."""

    objective: str  # what the mapper minimised
    setting: str  # the pair asked for
    selected: Pair  # the headline pair
    best: Pair  # the best of each side under the objective
    snn: dict[str, SnnDataflow]
    ann: dict[str, AnnDataflow]
    verdict: Verdict
    pairs: dict[str, PairRatio]  # by "snn/ann" name
    infeasible: InfeasibleFlows | None = field(default=None, kw_only=True)  # and why
    search_s: float  # the mapper's time for every dataflow, s


@dataclass(frozen=True)
class Accuracy(_Record):
    """Accuracies on the simulated images (fractions) and the bit-exact check; None where not
    run or not checked, or where an older report lacks the key."""

    snn: float | None  # the chip's SNN; None: the inputs have no labels
    reference: float | None  # the full-precision model on the event datapath
    reference_datapath: str | None = field(default=None, kw_only=True)
    ann: float | None  # the ANN baseline
    functional_match: bool | None  # spikes and predictions equal the PyTorch model's
    spike_mismatches: int | None = field(default=None, kw_only=True)
    prediction_mismatches: int | None = field(default=None, kw_only=True)
    logit_mismatches: int | None = field(default=None, kw_only=True)  # int datapath: logits
    spikes_compared: int | None = field(default=None, kw_only=True)
    datapath: str  # the number formats simulated
    ann_model: str | None = field(default=None, kw_only=True)  # what the ANN baseline is


@dataclass(frozen=True)
class Report(_Record):
    """The simulator's report (docs/report.md) as typed, read-only data.

    ``layers`` holds one :class:`Layer` per synaptic layer, ``dataflows.verdict`` (also
    :attr:`verdict`) the best SNN against the best ANN; energies are pJ per image, latencies
    cycles and seconds per image. :meth:`to_dict` gives the JSON of ``hwsim.run --json``,
    :meth:`from_dict` / :meth:`read` read one back, :meth:`to_dataframe` tabulates the layers.
    ``system``, ``system_ann`` and ``sweep`` are set in sweep points only (kept as dicts).
    """

    model: ModelInfo
    arch: ArchInfo
    samples: int  # images simulated
    energy_mode: str  # full | paper
    layers: tuple[Layer, ...]
    snn: SnnTotals
    ann: AnnTotals
    paper: Paper
    ratio: Ratios
    mapping: Placement
    dataflows: Dataflows
    accuracy: Accuracy
    mapping_warnings: tuple[str, ...]
    seconds: float | None = None  # wall time, s
    system: dict[str, Any] | None = None
    system_ann: dict[str, Any] | None = None
    sweep: dict[str, Any] | None = None

    @property
    def verdict(self) -> Verdict:
        """The best SNN dataflow against the best ANN dataflow (``dataflows.verdict``)."""
        return self.dataflows.verdict

    @classmethod
    def from_dict(cls, d: dict) -> Report:
        """A report dict (``hwsim.run --json``, a sweep point) as a :class:`Report`; numpy
        scalars become Python numbers. Raises :class:`ReportError` naming the first key that
        does not fit docs/report.md."""
        return _read(cls, d, "")

    @classmethod
    def read(cls, path: str | os.PathLike) -> Report:
        """A report JSON file written by ``hwsim.run --json``."""
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{p}: no such report file") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ReportError(f"{p}: not a JSON report ({e})") from None
        try:
            return cls.from_dict(d)
        except ReportError as e:
            raise ReportError(f"{p}: {e}") from None

    def to_dict(self) -> dict:
        """The report as plain JSON types: the dict ``hwsim.run --json`` writes."""
        return _plain(self)

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON (atomically, like ``hwsim.run --json``)."""
        return R.write_json(self.to_dict(), path)

    def to_dataframe(self):
        """The per-layer table as a pandas DataFrame indexed by layer name, in network order:
        every scalar of :class:`Layer` (per image), the energies flattened as
        ``energy_<part>_pj`` (SNN) and ``ann_energy_<part>_pj`` (ANN), pJ per image. The
        per-step lists stay in :attr:`layers`."""
        import pandas as pd

        rows = []
        for lay in self.layers:
            row = {f.name: getattr(lay, f.name) for f in dataclasses.fields(Layer)
                   if f.name not in ("_absent", "acs_per_step", "spikes_per_step",
                                     "energy_pj", "ann_energy_pj")}
            row |= {f"energy_{k}_pj": v for k, v in _plain(lay.energy_pj).items()}
            row |= {f"ann_energy_{k}_pj": v for k, v in _plain(lay.ann_energy_pj).items()}
            rows.append(row)
        return pd.DataFrame(rows).set_index("name")

    def summary(self) -> str:
        """The text ``hwsim.run`` prints under its tables."""
        return R.summary(self.to_dict())

    def table(self) -> str:
        """The per-layer table ``hwsim.run`` prints."""
        return R.table(self.to_dict())


# --------------------------------------------------------- dict <-> dataclass, by annotation
@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _read(tp, v, path: str):
    """``v`` (JSON-like data) as type ``tp``; ReportError naming ``path`` if it does not fit."""
    where = path or "(top)"
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if v is None:
            if type(None) in args:
                return None
            raise ReportError(f"report key {where}: expected {_name(tp)}, got null")
        (inner,) = [a for a in args if a is not type(None)]
        return _read(inner, v, path)
    if dataclasses.is_dataclass(tp):
        if not isinstance(v, dict):
            raise ReportError(f"report key {where}: expected an object, got {_short(v)}")
        hints = _hints(tp)
        keys = [f for f in dataclasses.fields(tp) if f.name != "_absent"]
        extra = [k for k in v if k not in hints or k == "_absent"]
        if extra:
            raise ReportError(f"report key {_join(path, extra[0])}: not a key of "
                              f"docs/report.md ({tp.__name__} has "
                              f"{', '.join(f.name for f in keys)})")
        missing = [f.name for f in keys if f.name not in v and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ReportError(f"report key {_join(path, missing[0])}: missing")
        absent = frozenset(f.name for f in keys if f.name not in v)
        return tp(**{k: _read(hints[k], x, _join(path, k)) for k, x in v.items()},
                  _absent=absent)
    if origin is tuple:
        if not isinstance(v, list | tuple):
            raise ReportError(f"report key {where}: expected a list, got {_short(v)}")
        item = typing.get_args(tp)[0]
        return tuple(_read(item, x, f"{path}[{i}]") for i, x in enumerate(v))
    if origin is dict:
        if not isinstance(v, dict):
            raise ReportError(f"report key {where}: expected an object, got {_short(v)}")
        item = typing.get_args(tp)[1]
        return {k: _read(item, x, _join(path, k)) for k, x in v.items()}
    if tp is Any:
        return _plain(v)
    return _scalar(tp, v, where)


def _scalar(tp, v, where: str):
    if isinstance(v, np.generic):
        v = v.item()
    ok = {bool: isinstance(v, bool), str: isinstance(v, str),
          int: isinstance(v, int) and not isinstance(v, bool),
          float: isinstance(v, int | float) and not isinstance(v, bool)}[tp]
    if not ok:
        raise ReportError(f"report key {where}: expected {_name(tp)}, got {_short(v)}")
    if isinstance(v, float) and not math.isfinite(v):
        raise ReportError(f"report key {where}: {v} is not a finite number")
    return v


def _plain(v):
    """Records, tuples and numpy scalars as JSON types (the keys a record read lacked left
    out)."""
    if dataclasses.is_dataclass(v):
        return {f.name: _plain(getattr(v, f.name)) for f in dataclasses.fields(v)
                if f.name != "_absent" and f.name not in v._absent}
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    return v


def _join(path: str, key) -> str:
    return f"{path}.{key}" if path else str(key)


def _name(tp) -> str:
    return {bool: "true or false", str: "a string", int: "an integer",
            float: "a number"}.get(tp, str(tp))


def _short(v) -> str:
    text = json.dumps(v) if isinstance(v, str | int | float | bool | None) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


# ------------------------------------------------------------------------------ simulate
Model = str | os.PathLike | C.Checkpoint | None
Arch = str | os.PathLike | ArchConfig
Data = str | os.PathLike | ArraySet | FolderSet | None


def simulate(model: Model = None, arch: Arch = "45nm", data: Data = None,
             samples: int | None = None, *, timesteps: int | None = None,
             objective: str = "energy", dataflow: str | None = None, pes: int | None = None,
             membrane: str | None = None, weights: str | None = None,
             schedule: str | None = None, first_layer: str | None = None,
             energy: str = "full", ann: str | os.PathLike | None = None,
             batch_size: int = 32, check: bool = True, progress: bool = False) -> Report:
    """Simulate ``model`` on chip ``arch`` with ``samples`` test images of ``data``: what
    ``python -m hwsim.run`` does, returned as a :class:`Report` instead of printed.

    model: a checkpoint path (``.pt``; ``.nir`` where model.nir reads it), a
        :class:`model.checkpoint.Checkpoint` (stage ``converted`` or ``snn``), or None for
        the bundled DIET-SNN.
    arch: a config name (``"45nm"``), a YAML path, or an :class:`ArchConfig` (then without
        the overrides ``pes`` ... ``dataflow``: give them to ``load_arch`` instead).
    data: a data folder or ``.npz`` (its test split; docs/data.md), a dataset
        (``model.data.ArraySet``/``FolderSet`` with labels), or None for the bundled
        CIFAR-10 sample.
    samples: images, a class-balanced subset (default: 200, or all if fewer).
    timesteps: T (default: the checkpoint's).
    objective: what the mapper minimises per layer and what "best" means: ``energy``,
        ``latency`` or ``edp``.
    dataflow: the headline pair, ``best`` (the config's default), ``scatter``, ``os`` or
        ``SNN/ANN`` such as ``time_batched/rs_skip``; every dataflow is reported either way.
    pes, membrane, weights, schedule, first_layer: config overrides (``--pes`` ...).
    energy: the ratio to headline: ``full`` (every access priced) or ``paper`` (Table 3).
    ann: a trained ANN checkpoint as the baseline (default: the SNN's weights with ReLU).
    batch_size: images per batch at most; check: compare every spike with the PyTorch model
        (``accuracy.functional_match``); progress: show a progress bar.

    Raises one of :data:`ERRORS` with the one-line message ``hwsim.run`` prints.
    """
    ckpt, name, chip, ds, n = _inputs(model, arch, data, samples, timesteps, batch_size,
                                      objective, energy,
                                      overrides(pes, membrane, weights, schedule, first_layer,
                                                dataflow))
    opts = SimOptions(timesteps=timesteps, batch_size=batch_size, energy_mode=energy,
                      objective=objective, ann=None if ann is None else str(ann),
                      progress=progress, check=check)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # spills are listed in the report instead
        return Report.from_dict(_simulate(ckpt, chip, ds, n, opts, model_name=name))


@dataclass(frozen=True)
class BreakEven:
    """Up to which spike rate an SNN dataflow beats the best ANN dataflow on a chip.

    Every spike-driven count of the simulated images (input events, accumulates, spikes past
    the analog input layer) is scaled by a factor f and the SNN re-mapped and re-priced at
    each f (``hwsim.compare.break_even``, bisection) until it costs what the best ANN does.
    Energies in pJ per image; spike rates in spikes per LIF neuron over all T (Eq. 18)."""

    snn: str  # the SNN dataflow
    ann: str  # the best ANN dataflow (least energy)
    ann_energy_pj: float
    snn_energy_pj: float  # at the measured spike rate
    measured_spike_rate: float
    factor: float | None  # f at break-even; None: costs more even with no spikes; inf: > 1e4
    spike_rate: float | None  # factor × measured_spike_rate (None or inf as factor)

    @property
    def snn_wins(self) -> bool:
        """The SNN costs less than the best ANN at the measured spike rate."""
        return self.snn_energy_pj < self.ann_energy_pj


def break_even(model: Model = None, arch: Arch = "45nm", data: Data = None,
               samples: int | None = None, *, timesteps: int | None = None,
               dataflow: str | None = None, objective: str = "energy",
               pes: int | None = None, membrane: str | None = None,
               weights: str | None = None, schedule: str | None = None,
               first_layer: str | None = None, batch_size: int = 32) -> BreakEven:
    """The break-even spike rate of ``dataflow`` (an SNN dataflow; default: the SNN's best)
    against the best ANN dataflow, on the same images, chip and options as :func:`simulate`
    (one functional pass of its own without the check, then ~20 mapper runs: the factor to
    1/2^16 of the bracket it is found in).
    Raises one of :data:`ERRORS`."""
    from . import compare as CMP
    from .simulate import ann_activation_bits, consumers, stored_formats
    from .sweep import count_run, functional_run

    ckpt, _, chip, ds, n = _inputs(model, arch, data, samples, timesteps, batch_size,
                                   objective, "full",
                                   overrides(pes, membrane, weights, schedule, first_layer))
    if dataflow is not None and dataflow not in SNN_DATAFLOWS:
        raise UsageError(f"dataflow {dataflow!r}: expected an SNN dataflow, one of "
                         f"{', '.join(SNN_DATAFLOWS)}")
    T = timesteps or ckpt.timesteps
    subset = ds.subset(stratified_indices(ds.labels, n)) if n < len(ds) else ds
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = functional_run(ckpt, subset, T, stored_formats(chip), batch_size, check=False,
                             activation_bits=ann_activation_bits(chip))
        mapping, counter, _ = count_run(ckpt, chip, run)
    nodes = ckpt.nodes()
    counts = [counter.layers[nd.name] for nd in nodes if nd.synaptic]
    ctx = CMP.context(chip, mapping, nodes, T, consumers(nodes))
    flows = CMP.compare(ctx, counts, "best", objective)
    snn = dataflow or flows["best"]["snn"]
    if snn in flows["infeasible"]["snn"]:
        raise Infeasible(f"SNN dataflow {snn} does not fit this chip: "
                         f"{flows['infeasible']['snn'][snn]}")
    ann = min(flows["ann"], key=lambda df: flows["ann"][df]["energy_pj"]["total"])
    ann_pj = flows["ann"][ann]["energy_pj"]["total"]
    lif = [lc for lc in counts if lc.neuron == "lif"]
    rate = (sum(float(lc.per_image(lc.output_spikes).sum()) for lc in lif)
            / max(1, sum(lc.neurons for lc in lif)))
    f = CMP.break_even(ctx, counts, snn, ann_pj, objective, iterations=BISECTIONS)
    return BreakEven(snn=snn, ann=ann, ann_energy_pj=ann_pj,
                     snn_energy_pj=flows["snn"][snn]["energy_pj"]["total"],
                     measured_spike_rate=rate, factor=f,
                     spike_rate=None if f is None else f * rate)


def _inputs(model: Model, arch: Arch, data: Data, samples: int | None,
            timesteps: int | None, batch_size: int, objective: str, energy: str, over: dict):
    """(checkpoint, its report name, chip, dataset, images) checked as ``hwsim.run`` checks
    them, in its order."""
    for name, v in (("timesteps", timesteps), ("batch_size", batch_size)):
        if v is not None and v < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {v}")
    for name, v, allowed in (("objective", objective, OBJECTIVES),
                             ("energy", energy, ENERGY_MODES)):
        if v not in allowed:
            raise UsageError(f"--{name} must be one of {', '.join(allowed)}, got {v!r}")
    if isinstance(arch, ArchConfig):
        if over:
            raise UsageError(f"arch is a loaded config ({arch.name}): pass its name or path "
                             f"to apply {', '.join(sorted(_flat(over)))}, or load it with "
                             f"load_arch(spec, overrides)")
        chip = arch
    else:
        chip = load_arch(arch, over)
    ckpt, name = _checkpoint(model)
    ds, n = _images(ckpt, data, samples)
    return ckpt, name, chip, ds, n


def _flat(over: dict, prefix: str = "") -> list[str]:
    """Key paths of a nested overrides dict (``policy.membrane_level``)."""
    out = []
    for k, v in over.items():
        out += _flat(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"]
    return out


def _checkpoint(model: Model) -> tuple[C.Checkpoint, str]:
    """The checkpoint and the name the report gives it (its path, as ``hwsim.run``)."""
    stages = ("converted", "snn")
    if isinstance(model, C.Checkpoint):
        if model.stage not in stages:
            raise C.CheckpointError(f"the Checkpoint object: stage {model.stage!r}, expected "
                                    f"one of {stages}")
        return model, ""
    path = bundled_model_path() if model is None else model
    return C.load(path, stages=stages), str(path)


def _images(ckpt: C.Checkpoint, data: Data, samples: int | None):
    """(dataset, images to use) as ``hwsim.run`` picks them; a dataset object is checked
    against the model's input and the sample count."""
    if data is None or isinstance(data, str | os.PathLike):
        return load_images(ckpt, None if data is None else str(data), samples)
    if not isinstance(data, ArraySet | FolderSet):
        raise UsageError(f"data: expected a path, a model.data.ArraySet or FolderSet, or None; "
                         f"got {type(data).__name__}")
    if tuple(data.input_shape) != tuple(ckpt.input_shape):
        raise UsageError(f"data {data.source or '(dataset)'}: inputs are "
                         f"{describe_input(data.input_shape)} but the model expects "
                         f"{describe_input(ckpt.input_shape)}")
    return data, check_samples(data, samples)

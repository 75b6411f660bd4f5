"""Counting: what each layer did, per timestep and per PE, accumulated over simulated images.

The functional datapath (``hwsim.functional``) reports per batch and layer the address-event
packets received, the synaptic accumulates (ACs) and the output spikes per timestep, and how
many events reached each output position (``fanin``). Here those become per-PE work through
the mapping's partition (:meth:`mapping.placement.LayerMapping.pe_map`):

- a conv neuron (c, h, w) receives one AC per event that reaches position (h, w), so a PE's ACs
  at step t are Σ over its neurons of fanin[t, h, w];
- a linear neuron receives one AC per input event, so a PE's ACs are events × its neurons;
- the analog first layer does k·k·C_in MACs per neuron at every step (``first_layer:
  every_step``) or once per image (``once``, its current reused over T).

Everything is kept as sums over the images; :meth:`LayerCounts.per_image` divides.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mapping.placement import LayerMapping, Mapping

from .functional import LayerEvents


@dataclass
class LayerCounts:
    """Sums over ``images`` images for one synaptic layer; arrays indexed by timestep t.

    ``pe_work`` [T, pes_used]: ACs (or MACs for the analog layer) done by each of the layer's
    PEs; ``pe_neurons`` [pes_used]: neurons each PE updates (leak/compare; a leaky output
    integrator's leak) per step; ``residual_events`` [T]: identity-shortcut adds (in
    ``accumulates``, but they read no weight). ``leaky``: an integrating output with λ ≠ 1
    (one leak per neuron per step); ``spike_readout``: a LIF output whose spikes are counted
    per neuron (the logits: one counter increment per spike).
    """

    name: str
    kind: str
    neuron: str | None
    neurons: int
    params: int
    ann_macs: int
    analog: bool
    T: int
    input_events: np.ndarray
    accumulates: np.ndarray
    output_spikes: np.ndarray
    pe_work: np.ndarray
    pe_neurons: np.ndarray
    residual_events: np.ndarray
    images: int = 0
    event_map: np.ndarray | None = None  # [H_in, W_in] input events, Σ over T and images
    fanin_map: np.ndarray | None = None  # [H_out, W_out] (event, tap) pairs, Σ over T, images
    ann_input_nonzero: np.ndarray | None = None  # the ANN's non-zero inputs [H_in, W_in]
    ann_output_nonzero: float = 0.0  # the ANN's non-zero outputs, Σ over images
    ann_images: int = 0
    bias: bool = False  # a bias current added to every neuron at every computed step
    leaky: bool = False  # an integrating output with λ ≠ 1
    spike_readout: bool = False  # a LIF output read out as spike counts

    @property
    def state_update(self) -> bool:
        """Whether every neuron's state is updated once per step besides its accumulates (the
        LIF phase, or a leaky integrator's leak)."""
        return self.neuron == "lif" or self.leaky

    def per_image(self, a: np.ndarray) -> np.ndarray:
        return a / max(1, self.images)

    @property
    def spike_rate(self) -> float | None:
        """Spikes per neuron per image over all T (the paper's Eq. 18); None if no LIF."""
        if self.neuron != "lif":
            return None
        return float(self.output_spikes.sum()) / (self.neurons * max(1, self.images))


def _position_classes(lm: LayerMapping) -> tuple[np.ndarray, np.ndarray]:
    """Output positions grouped by how their neurons are spread over PEs (one class per spatial
    tile, for the mapping's tiles): ``position_class`` [H·W] and ``neurons`` [classes, pes],
    the channels at any one position of the class that each PE holds (PEs 0-based)."""
    pe = lm.pe_map() - lm.pe_first  # [C, H, W]
    columns = np.ascontiguousarray(pe.reshape(pe.shape[0], -1).T)  # [H·W, C]: PE per channel
    # classes by a hash of each column (fast), verified exactly; np.unique over rows if two
    # different columns ever share a hash
    key = columns @ np.random.default_rng(0).integers(1, 2**62, columns.shape[1])
    _, first, position_class = np.unique(key, return_index=True, return_inverse=True)
    classes = columns[first]
    if not np.array_equal(classes[position_class], columns):
        classes, position_class = np.unique(columns, axis=0, return_inverse=True)
    neurons = np.zeros((len(classes), lm.pes_used), np.float64)
    for k, col in enumerate(classes):
        neurons[k] = np.bincount(col, minlength=lm.pes_used)
    return position_class.reshape(-1), neurons


def _pe_work_conv(lm: LayerMapping, fanin: np.ndarray,
                  classes: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """[T, pes] ACs per PE from fanin [T, H, W] (summed over images): Σ over a PE's neurons
    (c, h, w) of fanin[t, h, w] = Σ over position classes of the class's fanin × the PE's
    channels there (exact: integers in float64). ``classes``: :func:`_position_classes`."""
    position_class, neurons = classes if classes is not None else _position_classes(lm)
    per_class = np.stack([np.bincount(position_class, weights=f.reshape(-1),
                                      minlength=neurons.shape[0]) for f in fanin])
    return per_class @ neurons


@dataclass
class Counter:
    """Accumulates :class:`LayerEvents` of successive batches into :class:`LayerCounts`."""

    mapping: Mapping
    T: int
    first_layer_once: bool = False
    layers: dict[str, LayerCounts] = field(default_factory=dict)
    _classes: dict[str, tuple] = field(default_factory=dict, repr=False)

    def add(self, events: dict[str, LayerEvents], images: int) -> None:
        for name, ev in events.items():
            lm = self.mapping.layer(name)
            lc = self.layers.get(name)
            if lc is None:
                npe = np.asarray(lm.neurons_per_pe, dtype=np.int64) if lm.neuron == "lif" \
                    else np.zeros(lm.pes_used, np.int64)
                lc = LayerCounts(name, lm.kind, lm.neuron, lm.neurons, lm.params, lm.ann_macs,
                                 ev.analog, self.T, np.zeros(self.T), np.zeros(self.T),
                                 np.zeros(self.T), np.zeros((self.T, lm.pes_used)), npe,
                                 np.zeros(self.T))
                self.layers[name] = lc
            lc.bias = lc.bias or getattr(ev, "bias", False)
            lc.spike_readout = lc.spike_readout or getattr(ev, "spike_readout", False)
            if getattr(ev, "leaky", False) and not lc.leaky:  # updated every step, as LIF
                lc.leaky = True
                lc.pe_neurons = np.asarray(lm.neurons_per_pe, dtype=np.int64)
            lc.images += images
            # the analog layer computed once reads its pixels once
            computed = (np.arange(self.T) == 0) if ev.analog and self.first_layer_once else True
            lc.input_events += np.where(computed, ev.input_events, 0)
            lc.output_spikes += ev.output_spikes
            npe_outputs = np.asarray(lm.neurons_per_pe, dtype=np.float64)
            if ev.analog:
                macs = np.where(computed, ev.accumulates, 0).astype(np.float64)
                lc.accumulates += macs
                per_neuron = lm.ann_macs / lm.outputs
                work = np.outer(macs > 0, npe_outputs * per_neuron * images)
                lc.pe_work += work
            else:
                lc.accumulates += ev.accumulates
                if ev.event_map is not None:
                    f = ev.fanin.sum(axis=0)
                    f = f if f.ndim == 2 else np.array([[float(f)]])
                    lc.event_map = ev.event_map + (0 if lc.event_map is None else lc.event_map)
                    lc.fanin_map = f + (0 if lc.fanin_map is None else lc.fanin_map)
                if lm.kind == "conv":
                    if name not in self._classes:
                        self._classes[name] = _position_classes(lm)
                    lc.pe_work += _pe_work_conv(lm, ev.fanin, self._classes[name])
                else:
                    lc.pe_work += np.outer(ev.fanin, npe_outputs)
            if ev.residual_events is not None:
                lc.residual_events += ev.residual_events
                lc.pe_work += np.outer(ev.residual_events, npe_outputs / npe_outputs.sum())

    def add_ann(self, activity, images: int) -> None:
        """Accumulate a batch's :class:`hwsim.functional.AnnActivity` (after :meth:`add`)."""
        for name, nz in activity.input_nonzero.items():
            lc = self.layers[name]
            lc.ann_input_nonzero = nz + (0 if lc.ann_input_nonzero is None
                                         else lc.ann_input_nonzero)
            lc.ann_output_nonzero += activity.output_nonzero[name]
            lc.ann_images += images

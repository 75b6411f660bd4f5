"""Tile geometry for the dataflow model: which inputs a tile of output positions reads, and
how many non-zero inputs (events) and accumulates it sees, exactly, from real activity maps.

A layer's output positions are numbered row-major (oy·Q + ox, Q output columns); a PE's block
and every tile inside it are *chunks*: runs of consecutive positions ``[start, start + size)``.
A chunk covers at most three rectangles of output positions (a partial first row, whole middle
rows, a partial last row); with stride <= kernel an output rectangle reads one input rectangle
(its receptive field, clipped to the map), so a chunk's input window is a union of at most
three rectangles, whose event count follows from a summed-area table by inclusion–exclusion
(exact, no double count of the halo). With stride >= kernel receptive fields do not overlap and
a window's events are its positions' fanin. A linear layer is a 1×1 map with one position.

``event_map`` [H_in, W_in]: non-zero inputs at each input position, summed over channels,
images and timesteps. ``fanin`` [H_out, W_out]: (event, kernel tap) pairs landing on each
output position, same sums; a tile's accumulates are its positions' fanin × its channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Geometry:
    """A synaptic layer's shape: C_in×H_in×W_in → K×P×Q with a k×k kernel (linear: 1×1)."""

    K: int
    C: int
    H: int
    W: int
    P: int
    Q: int
    k: int = 1
    stride: int = 1
    padding: int = 0

    @property
    def positions(self) -> int:
        return self.P * self.Q

    @property
    def weights(self) -> int:
        return self.K * self.C * self.k * self.k

    @property
    def outputs(self) -> int:
        return self.K * self.positions


def dense_event_map(g: Geometry) -> np.ndarray:
    """The event map of a dense input (every element non-zero): C at every position."""
    return np.full((g.H, g.W), float(g.C))


def fanin_of(g: Geometry, event_map: np.ndarray) -> np.ndarray:
    """[P, Q] (event, tap) pairs landing on each output position: the event map correlated
    with a k×k window of ones at the layer's stride and padding."""
    e = np.pad(np.asarray(event_map, np.float64), g.padding)
    out = np.zeros((g.P, g.Q))
    s = g.stride
    for ky in range(g.k):
        for kx in range(g.k):
            out += e[ky:ky + s * (g.P - 1) + 1:s, kx:kx + s * (g.Q - 1) + 1:s]
    return out


def _integral(a: np.ndarray) -> np.ndarray:
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    s[1:, 1:] = np.asarray(a, np.float64).cumsum(0).cumsum(1)
    return s


def _box(S: np.ndarray, r0, r1, c0, c1) -> np.ndarray:
    """Sum over rows r0..r1, cols c0..c1 (inclusive, already clipped); empty boxes give 0."""
    ok = (r0 <= r1) & (c0 <= c1)
    r0, r1, c0, c1 = (np.where(ok, v, 0) for v in (r0, r1, c0, c1))
    v = S[r1 + 1, c1 + 1] - S[r0, c1 + 1] - S[r1 + 1, c0] + S[r0, c0]
    return np.where(ok, v, 0.0)


def chunk_rects(g: Geometry, start: np.ndarray, size: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """The (up to) three output rectangles (row0, row1, col0, col1; inclusive; empty where
    row0 > row1) of chunks ``[start, start + size)``."""
    start = np.asarray(start, np.int64)
    end = start + np.asarray(size, np.int64) - 1
    ra, ca = np.divmod(start, g.Q)
    rb, cb = np.divmod(end, g.Q)
    same = ra == rb
    first = (ra, ra, ca, np.where(same, cb, g.Q - 1))
    middle = (ra + 1, rb - 1, np.zeros_like(ra), np.full_like(ra, g.Q - 1))
    last = (np.where(same, 1, rb), np.where(same, 0, rb), np.zeros_like(ra), cb)
    return [first, middle, last]


def _window(g: Geometry, rect) -> tuple[np.ndarray, ...]:
    """The input rectangle an output rectangle reads (clipped; empty stays empty)."""
    r0, r1, c0, c1 = rect
    empty = r0 > r1
    s, p, k = g.stride, g.padding, g.k
    y0, y1 = np.maximum(r0 * s - p, 0), np.minimum(r1 * s - p + k - 1, g.H - 1)
    x0, x1 = np.maximum(c0 * s - p, 0), np.minimum(c1 * s - p + k - 1, g.W - 1)
    return np.where(empty, 1, y0), np.where(empty, 0, y1), x0, x1


def _meet(a, b):
    return (np.maximum(a[0], b[0]), np.minimum(a[1], b[1]),
            np.maximum(a[2], b[2]), np.minimum(a[3], b[3]))


def window_events(g: Geometry, S: np.ndarray, start, size) -> np.ndarray:
    """Events in each chunk's input window (``S``: :func:`_integral` of the event map), for
    stride <= kernel (receptive fields of neighbours touch, so a rectangle of outputs reads
    a rectangle of inputs; :meth:`Activity.window_events` handles every stride)."""
    w = [_window(g, r) for r in chunk_rects(g, start, size)]
    a, b, c = w
    total = _box(S, *a) + _box(S, *b) + _box(S, *c)
    total -= _box(S, *_meet(a, b)) + _box(S, *_meet(a, c)) + _box(S, *_meet(b, c))
    total += _box(S, *_meet(_meet(a, b), c))
    return total


def tile_taps(g: Geometry, start, size) -> np.ndarray:
    """Per chunk of output positions, the kernel taps (ky, kx) that land inside the input map
    for at least one of its positions: the distinct weights per (output, input) channel pair a
    dense tile uses (an edge tile uses fewer than k²)."""
    start = np.asarray(start, np.int64)
    end = start + np.asarray(size, np.int64)
    oy, ox = np.arange(g.P) * g.stride - g.padding, np.arange(g.Q) * g.stride - g.padding
    out = np.zeros(len(start))
    for ky in range(g.k):
        rows = (oy + ky >= 0) & (oy + ky < g.H)
        for kx in range(g.k):
            cols = (ox + kx >= 0) & (ox + kx < g.W)
            used = np.concatenate([[0], np.outer(rows, cols).reshape(-1).cumsum()])
            out += (used[end] - used[start]) > 0
    return out


def chunks(n: int, size: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(starts, sizes) of consecutive chunks of ``size`` covering ``n`` positions."""
    starts = np.arange(0, n, size, dtype=np.int64)
    return starts + offset, np.minimum(size, n - starts)


@dataclass
class Activity:
    """Real (or dense) activity of one layer for the dataflow model: its geometry, the event map
    and fanin (sums over channels, images and steps; divide by ``images``), and the outputs'
    events (spikes, or non-zero activations). Tile queries are exact sums over the maps."""

    geometry: Geometry
    event_map: np.ndarray
    fanin: np.ndarray
    output_events: float
    images: int = 1
    extra_accumulates: float = 0.0  # identity-shortcut adds: one per event, no weight

    def __post_init__(self):
        self._S = _integral(np.asarray(self.event_map, np.float64).reshape(
            self.geometry.H, self.geometry.W))
        self._F = np.concatenate([[0.0], np.asarray(self.fanin, np.float64).reshape(-1)
                                  .cumsum()])

    def window_events(self, start, size) -> np.ndarray:
        """Per image, events in the input window of each chunk of output positions. With
        stride >= kernel no two positions share an input, so a window holds exactly its
        positions' fanin (a strided window is not a rectangle)."""
        g = self.geometry
        if g.stride >= g.k:
            return self.chunk_fanin(start, size)
        return window_events(g, self._S, start, size) / self.images

    def chunk_fanin(self, start, size) -> np.ndarray:
        """Per image, (event, tap) pairs landing on each chunk's positions (× channels = ACs)."""
        start = np.asarray(start, np.int64)
        return (self._F[start + np.asarray(size, np.int64)] - self._F[start]) / self.images

    @property
    def accumulates_per_channel(self) -> float:
        """Per image, Σ fanin: the accumulates of one output channel."""
        return float(self._F[-1]) / self.images

"""The event-driven compute core of the simulator: every Numba kernel lives in this file.

Layouts (channels last, so the innermost loop of every scatter runs over contiguous output
channels; synapses are never expanded, weights are indexed by kernel offset):

    spike maps   [N, H, W, C]            N = images × timesteps, float32 (0/1 or pooled k/4)
    conv weights [C_in, k, k, C_out]     = torch's [C_out, C_in, k, k].permute(1, 2, 3, 0)
    fc weights   [F_in, F_out]           = torch's [F_out, F_in].T
    LIF currents [T, B, ...] or [B, ...] (static: the same current at every step)

Each nonzero input element is one address-event packet carrying its value; zeros cost nothing.
A packet at input position (y, x) reaches every output position (oy, ox) with
oy·stride + ky − padding = y for some kernel row 0 ≤ ky < k (same for x); there it adds
value · w[c_in, ky, kx, :] to all C_out outputs (C_out synaptic accumulates, C_out weight reads).

Exactness (docs/DESIGN.md §2): no fastmath, so no FMA contraction and no reassociation. With
weights on a fixed-point grid and inputs that are multiples of 1/4, every product and every
partial sum is exact in float32 (while |sum| < 2**24 grid steps), so the scatter equals torch's
dense convolution bit for bit in any order. The LIF recursion performs the same IEEE float32
operations, in the same order, as ``model.neuron.lif_step``.

Arrays are float32; float64 inputs stay float64 (for datapaths that cannot be made exact: run
both sides in float64 and count the differences).

Numba compiles each kernel on first use (seconds) and caches it in ``hwsim/__pycache__``
(set ``NUMBA_CACHE_DIR`` if that is read-only). Kernels run in parallel over their first axis
(``numba.set_num_threads`` sets the thread count); each iteration writes its own slice only.
"""

from __future__ import annotations

import functools

import numba
import numpy as np
from numba import prange

_JIT = {"cache": True, "nogil": True, "parallel": True, "fastmath": False}


def _floats(*arrays) -> list[np.ndarray]:
    """C-contiguous copies/views in one dtype: float64 if any input is float64, else float32."""
    arrays = [np.asarray(a) for a in arrays]
    dtype = np.float64 if any(a.dtype == np.float64 for a in arrays) else np.float32
    return [np.ascontiguousarray(a, dtype=dtype) for a in arrays]


def output_size(size: int, k: int, stride: int, padding: int) -> int:
    """Output length of a convolution/pooling along one axis (torch's floor rule)."""
    return (size + 2 * padding - k) // stride + 1


def to_event_layout(weight) -> np.ndarray:
    """torch weight -> kernel layout: conv [C_out, C_in, k, k] -> [C_in, k, k, C_out];
    linear [F_out, F_in] -> [F_in, F_out]. Returns a C-contiguous float32 array."""
    w = np.asarray(weight, dtype=np.float32)
    axes = {4: (1, 2, 3, 0), 2: (1, 0)}.get(w.ndim)
    if axes is None:
        raise ValueError(f"expected a 4-d conv or 2-d linear weight, got shape {w.shape}")
    return np.ascontiguousarray(w.transpose(axes))


# ------------------------------------------------------------------------------- scatter
@functools.lru_cache(maxsize=256)
def _axis_targets(size: int, k: int, stride: int, padding: int) -> tuple[np.ndarray, ...]:
    """Per input coordinate y: the kernel rows ky and output rows oy its events reach.

    Returns read-only ``count`` [size], ``taps`` [size, k] and ``outs`` [size, k] (first
    ``count[y]`` entries valid): oy·stride = y + padding − ky, 0 ≤ ky < k, 0 ≤ oy < size_out.
    """
    n_out = output_size(size, k, stride, padding)
    pos = np.arange(size)[:, None] + padding - np.arange(k)[None, :]
    hit = (pos >= 0) & (pos % stride == 0) & (pos // stride < n_out)
    count = hit.sum(axis=1)
    order = np.argsort(~hit, axis=1, kind="stable")  # valid taps first, in ky order
    taps = np.take_along_axis(np.broadcast_to(np.arange(k), pos.shape), order, axis=1)
    outs = np.take_along_axis(pos // stride, order, axis=1)
    arrays = (count.astype(np.int64), np.ascontiguousarray(taps, np.int64),
              np.ascontiguousarray(outs, np.int64))
    for a in arrays:
        a.flags.writeable = False
    return arrays


@numba.njit(**_JIT)
def _conv_scatter(spikes, weights, ny, ky_of, oy_of, nx, kx_of, ox_of, out, fanin):
    n_maps, height, width, c_in = spikes.shape
    c_out = weights.shape[3]
    for n in prange(n_maps):
        active = np.empty(c_in, np.int64)
        for y in range(height):
            if ny[y] == 0:
                continue
            for x in range(width):
                if nx[x] == 0:
                    continue
                events = 0  # branch-free compaction of the nonzero channels at (y, x)
                for ci in range(c_in):
                    active[events] = ci
                    events += spikes[n, y, x, ci] != 0
                if events == 0:
                    continue
                for j in range(ny[y]):
                    ky, oy = ky_of[y, j], oy_of[y, j]
                    for i in range(nx[x]):
                        kx, ox = kx_of[x, i], ox_of[x, i]
                        fanin[n, oy, ox] += events
                        e = 0
                        while e + 4 <= events:  # 4 events per pass over the row, in order
                            c0, c1, c2, c3 = active[e], active[e + 1], active[e + 2], active[e + 3]
                            s0, s1 = spikes[n, y, x, c0], spikes[n, y, x, c1]
                            s2, s3 = spikes[n, y, x, c2], spikes[n, y, x, c3]
                            for co in range(c_out):
                                out[n, oy, ox, co] = (((out[n, oy, ox, co]
                                                        + s0 * weights[c0, ky, kx, co])
                                                       + s1 * weights[c1, ky, kx, co])
                                                      + s2 * weights[c2, ky, kx, co]) \
                                    + s3 * weights[c3, ky, kx, co]
                            e += 4
                        for r in range(e, events):
                            c0 = active[r]
                            s0 = spikes[n, y, x, c0]
                            for co in range(c_out):
                                out[n, oy, ox, co] += s0 * weights[c0, ky, kx, co]


def conv_events(spikes, weights, stride: int = 1, padding: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Event-driven convolution (no bias, zero padding, square kernel).

    spikes [N, H, W, C_in] float32, weights [C_in, k, k, C_out] float32 (see
    :func:`to_event_layout`). Returns ``current`` [N, H_out, W_out, C_out] float32 (units of
    weight × spike value) and ``fanin`` [N, H_out, W_out] int64: the number of input events
    that reached each output position. Synaptic accumulates at a position = fanin × C_out (for
    any split of the output channels over PEs: fanin × channels held by the PE).
    """
    s, w = _floats(spikes, weights)
    if s.ndim != 4 or w.ndim != 4 or w.shape[0] != s.shape[3] or w.shape[1] != w.shape[2]:
        raise ValueError(f"spikes {s.shape} [N,H,W,C_in] and weights {w.shape} "
                         "[C_in,k,k,C_out] do not match")
    if stride < 1 or padding < 0:
        raise ValueError(f"need stride >= 1 and padding >= 0, got {stride}, {padding}")
    n, h, wd, _ = s.shape
    k, c_out = w.shape[1], w.shape[3]
    h_out, w_out = output_size(h, k, stride, padding), output_size(wd, k, stride, padding)
    if h_out < 1 or w_out < 1:
        raise ValueError(f"kernel {k} with padding {padding} does not fit a {h}x{wd} map")
    out = np.zeros((n, h_out, w_out, c_out), s.dtype)
    fanin = np.zeros((n, h_out, w_out), np.int64)
    _conv_scatter(s, w, *_axis_targets(h, k, stride, padding),
                  *_axis_targets(wd, k, stride, padding), out, fanin)
    return out, fanin


@numba.njit(**_JIT)
def _linear_scatter(spikes, weights, out, events):
    n_rows, f_in = spikes.shape
    f_out = weights.shape[1]
    for n in prange(n_rows):
        for i in range(f_in):
            s = spikes[n, i]
            if s == 0:
                continue
            events[n] += 1
            for j in range(f_out):
                out[n, j] += s * weights[i, j]


def linear_events(spikes, weights) -> tuple[np.ndarray, np.ndarray]:
    """Event-driven fully connected layer (no bias).

    spikes [N, F_in] float32, weights [F_in, F_out] float32. Returns ``current`` [N, F_out]
    float32 and ``events`` [N] int64 (nonzero inputs per row; accumulates = events × F_out).
    """
    s, w = _floats(spikes, weights)
    if s.ndim != 2 or w.ndim != 2 or w.shape[0] != s.shape[1]:
        raise ValueError(f"spikes {s.shape} [N,F_in] and weights {w.shape} [F_in,F_out] "
                         "do not match")
    out = np.zeros((s.shape[0], w.shape[1]), s.dtype)
    events = np.zeros(s.shape[0], np.int64)
    _linear_scatter(s, w, out, events)
    return out, events


# ------------------------------------------------------------------------------- pooling
@numba.njit(**_JIT)
def _avgpool(spikes, k, out):
    n_maps, h_out, w_out, c = out.shape
    divisor = np.float32(k * k)
    for n in prange(n_maps):
        for oy in range(h_out):
            for ox in range(w_out):
                for ch in range(c):  # channels innermost (contiguous): the loops vectorise
                    out[n, oy, ox, ch] = 0.0
                for dy in range(k):  # each sum in the same (dy, dx) order as before
                    for dx in range(k):
                        for ch in range(c):
                            out[n, oy, ox, ch] += spikes[n, oy * k + dy, ox * k + dx, ch]
                for ch in range(c):
                    out[n, oy, ox, ch] = out[n, oy, ox, ch] / divisor


def avgpool(spikes, k: int = 2) -> np.ndarray:
    """Average pooling, kernel = stride = k: [N, H, W, C] -> [N, H//k, W//k, C] float32.

    Sums each window row by row in float32, then divides by k·k: the operations of torch's
    ``F.avg_pool2d(x, k)`` on CPU, so the results are equal bit for bit.
    """
    (s,) = _floats(spikes)
    if s.ndim != 4 or k < 1 or s.shape[1] < k or s.shape[2] < k:
        raise ValueError(f"cannot pool a {s.shape} [N,H,W,C] map with kernel {k}")
    out = np.empty((s.shape[0], s.shape[1] // k, s.shape[2] // k, s.shape[3]), s.dtype)
    _avgpool(s, k, out)
    return out


# ------------------------------------------------------------------------------- neurons
LIF_CHUNK = 16384  # neurons per parallel job: images × chunks jobs keep both cores busy at B = 1


def spike_cut(threshold: np.float32) -> float:
    """The float64 number c with  fl32(fl32(u / v) − 1) > 0  ⇔  u > c  for every float32 u.

    v > 0 finite: fl32(q − 1) > 0 ⇔ q > 1 for a float32 q (Sterbenz); fl32(u / v) > 1 ⇔ the
    exact u / v > 1 + 2^-24 (round to nearest even sends the tie to 1.0); ⇔ u > v·(1 + 2^-24),
    a product of a 24-bit and a 25-bit significand, so exact in float64. Overflow (u / v = inf)
    and NaN (compares false on both sides) agree too. The LIF kernel then compares instead of
    dividing, and gives the model's spikes bit for bit.
    """
    v = float(np.float32(threshold))
    if not (np.isfinite(v) and v > 0):
        raise ValueError(f"spike_cut needs a positive finite threshold, got {v}")
    return v * (1.0 + 2.0 ** -24)


@numba.njit(cache=True, nogil=True, inline="always")
def _fires(u, threshold, cut):
    """The spike condition u / v − 1 > 0: divided (``cut`` None), or one float64 compare."""
    if cut is None:
        return u / threshold - 1 > 0
    return np.float64(u) > cut


@numba.njit(cache=True, nogil=True, inline="always")
def _on_grid(u, grid, inv_lsb, lsb, low, high):
    """``model.neuron.quantize_membrane``: ⌊u / q⌋ saturated to [low, high], times q (exact)."""
    if not grid:
        return u
    k = np.floor(u * inv_lsb)
    if k < low:
        k = low
    if k > high:
        k = high
    return k * lsb


RESET_MODES = {"paper": 0, "leaked": 1, "zero": 2}


@numba.njit(cache=True, nogil=True)
def _lif_chunk(current, previous, membrane, out, leak, threshold, cut, reset_mode, first, one,
               grid, inv_lsb, lsb, low, high):
    """One step of a run of neurons; returns its spike count. Every store is unconditional (the
    loop vectorises); the operations and their order are ``model.neuron.lif_step``'s (``grid``:
    a fixed-point membrane, put on its grid before the spike test). ``reset_mode``: 0 paper,
    1 leaked, 2 zero (hard reset)."""
    zero = one - one
    count = 0
    if first:  # u[-1] = 0 and o[-1] = 0: λ·0 + I − v·0 in the model, the same bits as λ·0 + I
        for m in range(current.shape[0]):  # (leaked: λ·(0 − v·0) + I; zero: λ·(0·1) + I)
            u = leak * membrane[m] + current[m]
            if reset_mode == 0:
                u = u - threshold * zero
            u = _on_grid(u, grid, inv_lsb, lsb, low, high)
            membrane[m] = u
            s = _fires(u, threshold, cut)
            out[m] = one if s else zero
            count += s
    elif reset_mode == 1:
        for m in range(current.shape[0]):
            u = leak * (membrane[m] - threshold * previous[m]) + current[m]
            u = _on_grid(u, grid, inv_lsb, lsb, low, high)
            membrane[m] = u
            s = _fires(u, threshold, cut)
            out[m] = one if s else zero
            count += s
    elif reset_mode == 2:
        for m in range(current.shape[0]):
            u = leak * (membrane[m] * (one - previous[m])) + current[m]
            u = _on_grid(u, grid, inv_lsb, lsb, low, high)
            membrane[m] = u
            s = _fires(u, threshold, cut)
            out[m] = one if s else zero
            count += s
    else:
        for m in range(current.shape[0]):
            u = leak * membrane[m] + current[m] - threshold * previous[m]
            u = _on_grid(u, grid, inv_lsb, lsb, low, high)
            membrane[m] = u
            s = _fires(u, threshold, cut)
            out[m] = one if s else zero
            count += s
    return count


@numba.njit(**_JIT)
def _lif(current, leak, threshold, cut, reset_mode, one, grid, inv_lsb, lsb, low, high,
         spikes, membrane, counts):
    timesteps, batch, neurons = spikes.shape
    static = current.shape[0] == 1
    chunks = counts.shape[2]
    for job in prange(batch * chunks):
        b = job // chunks
        lo = (job - b * chunks) * LIF_CHUNK
        hi = min(neurons, lo + LIF_CHUNK)
        for t in range(timesteps):
            tc = 0 if static else t
            counts[t, b, job - b * chunks] = _lif_chunk(
                current[tc, b, lo:hi], spikes[max(t - 1, 0), b, lo:hi], membrane[b, lo:hi],
                spikes[t, b, lo:hi], leak, threshold, cut, reset_mode, t == 0, one,
                grid, inv_lsb, lsb, low, high)


def reset_mode(reset) -> int:
    """The kernel's reset code of a reset variant (``"paper"``, ``"leaked"``, ``"zero"``), or of
    a bool (True: leaked, False: paper)."""
    if isinstance(reset, bool | np.bool_):
        return int(bool(reset))
    if reset not in RESET_MODES:
        raise ValueError(f"unknown reset variant {reset!r}; choose one of "
                         f"{', '.join(RESET_MODES)}")
    return RESET_MODES[reset]


def lif_run(current, leak: float, threshold: float, reset_leaked, static: bool,
            T: int, fmt=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One LIF layer over T steps, equal bit for bit to T calls of ``model.neuron.lif_step``.

    ``reset_leaked``: the reset variant, a name or a bool (True: leaked, False: paper):
    reset="paper"  (False):  u = (λ·u + I) − v·o
    reset="leaked" (True):   u = λ·(u − v·o) + I
    reset="zero":            u = λ·(u·(1 − o)) + I        (hard reset to 0)
    o = [u / v − 1 > 0]; u and o start at 0. All operations are float32, unfused, in this order
    (in float32 with v > 0 the spike test is the equivalent compare u > :func:`spike_cut`).
    IF neurons: λ = 1. A bias is part of the current (added before this call, as the model).

    ``current`` is [T, B, ...] float32, or [B, ...] (the same at every step) when ``static``.
    λ (``leak``) and v (``threshold``) are rounded to the current's dtype, like the model's
    0-d tensors. Returns ``spikes`` [T, B, ...] 0/1 and ``membrane`` u[T-1] [B, ...] in that
    dtype, and ``counts`` [T, B] int64 (spikes per image per step). ``fmt``: a fixed-point
    membrane (``model.neuron.MembraneFormat``), put on its grid after each update.
    """
    mode = reset_mode(reset_leaked)
    (cur,) = _floats(current)
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if static:
        cur = cur[None]
    elif cur.shape[0] != T:
        raise ValueError(f"current has {cur.shape[0]} steps, expected T={T}")
    if cur.ndim < 2:
        raise ValueError(f"current {current.shape} needs a batch axis")
    shape = cur.shape[1:]
    flat = cur.reshape(cur.shape[0], shape[0], -1)
    neurons = flat.shape[2]
    spikes = np.empty((T, *flat.shape[1:]), cur.dtype)
    membrane = np.zeros(flat.shape[1:], cur.dtype)
    counts = np.zeros((T, shape[0], max(1, -(-neurons // LIF_CHUNK))), np.int64)
    scalar = cur.dtype.type
    v = scalar(threshold)
    cut = spike_cut(v) if scalar is np.float32 and np.isfinite(v) and v > 0 else None
    grid = fmt is not None
    q = fmt.lsb if grid else 1.0
    _lif(flat, scalar(leak), v, cut, mode, scalar(1.0), grid, scalar(1.0 / q),
         scalar(q), scalar(fmt.low if grid else 0.0), scalar(fmt.high if grid else 0.0), spikes,
         membrane, counts)
    return spikes.reshape(T, *shape), membrane.reshape(shape), counts.sum(axis=2)


def integrate_run(current, static: bool, T: int, fmt=None, leak: float = 1.0) -> np.ndarray:
    """Integrating output layer (no spike): a[t] = λ·a[t-1] + I[t], a[-1] = 0, equal bit for
    bit to T calls of ``model.neuron.integrate_step``: a multiply, then an add, each rounded
    to the current's dtype (λ = 1, the default: a plain sum, since 1·a = a exactly). ``leak``
    λ is rounded to that dtype like the model's 0-d tensor; ``fmt``: a fixed-point
    accumulator, put on its grid after each update as ``lif_run`` does.

    ``current`` [T, B, F] (or [B, F] when ``static``); returns a[T-1] [B, F] (logits).
    """
    (cur,) = _floats(current)
    acc = np.zeros(cur.shape[int(not static):], cur.dtype)
    scalar = cur.dtype.type
    lam = scalar(leak)
    for t in range(T):
        acc = acc * lam + (cur if static else cur[t])
        if fmt is not None:
            acc = np.clip(np.floor(acc * scalar(1.0 / fmt.lsb)), scalar(fmt.low),
                          scalar(fmt.high)) * scalar(fmt.lsb)
    return acc


# ------------------------------------------------------------------------------- counting
@numba.njit(**_JIT)
def _mismatches_chw(reference, spikes, counts):
    n_maps, c, h, w = reference.shape
    for n in prange(n_maps):
        count = 0
        for y in range(h):
            for ch in range(c):
                for x in range(w):
                    count += reference[n, ch, y, x] != spikes[n, y, x, ch]
        counts[n] = count


def count_mismatches(reference, spikes) -> int:
    """Elements where two spike maps differ: conv maps ``reference`` [T, B, C, H, W] (torch's
    layout) against ``spikes`` [T, B, H, W, C] (the kernels'), read in place, no transposed
    copy; maps of any other rank must have one shape ([T, B, F])."""
    ref, s = np.asarray(reference), np.asarray(spikes)
    if ref.ndim != 5:
        if ref.shape != s.shape:
            raise ValueError(f"spike maps {ref.shape} and {s.shape} do not match")
        return int(np.count_nonzero(ref != s))
    c, h, w = ref.shape[-3:]
    if s.shape != (*ref.shape[:-3], h, w, c):
        raise ValueError(f"spike maps {ref.shape} [T, B, C, H, W] and {s.shape} "
                         "[T, B, H, W, C] do not match")
    ref = np.ascontiguousarray(ref).reshape(-1, c, h, w)
    s = np.ascontiguousarray(s, dtype=ref.dtype).reshape(-1, h, w, c)
    counts = np.zeros(ref.shape[0], np.int64)
    _mismatches_chw(ref, s, counts)
    return int(counts.sum())


def events_per_map(spikes) -> np.ndarray:
    """Address-event packets per map: nonzero elements of each [..., H, W, C] or [..., F] map.

    ``spikes`` [N, ...] -> [N] int64. Spike maps of [T, B, ...] give [T·B] (reshape to [T, B]
    for per-timestep counts).
    """
    s = np.asarray(spikes)
    return np.count_nonzero(s.reshape(s.shape[0], -1), axis=1).astype(np.int64)


def fanout_map(height: int, width: int, k: int, stride: int, padding: int) -> np.ndarray:
    """Output positions reached by one event at each input position, [H, W] int64 (closed form).

    Along one axis, input y reaches outputs oy with oy·stride = y + padding − ky, 0 ≤ ky < k,
    0 ≤ oy < H_out; the 2-d fan-out is the product of the two axes' counts. Summed over a map's
    events it equals ``fanin.sum()`` of :func:`conv_events`; × C_out it gives the map's
    synaptic accumulates.
    """
    rows = _axis_targets(height, k, stride, padding)[0]
    cols = _axis_targets(width, k, stride, padding)[0]
    return np.outer(rows, cols)


def conv_accumulates(spikes, k: int, stride: int, padding: int, c_out: int) -> np.ndarray:
    """Synaptic accumulates of a conv per map without running it: Σ_events fanout × C_out.

    ``spikes`` [N, H, W, C_in] -> [N] int64; equals ``fanin.sum((1, 2)) * c_out``.
    """
    s = np.asarray(spikes)
    per_position = np.count_nonzero(s, axis=3)
    return (per_position * fanout_map(s.shape[1], s.shape[2], k, stride, padding)).sum(
        axis=(1, 2)) * c_out

"""The dataflow model against hand counts and brute force: exact tile windows, each loop nest's
accesses on layers small enough to count by hand, capacities never exceeded, conservation
between levels, and the fixes that give the ANN baseline its own dataflow (docs/hwsim.md)."""

import dataclasses
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arch_configs import load_arch
from hwsim import dataflow as D
from hwsim import energy as E
from hwsim import mapper as M
from hwsim.tiles import Activity, Geometry, dense_event_map, fanin_of, tile_taps

ARCH = load_arch("45nm")


# ------------------------------------------------------------------------------- tile geometry
def in_map_taps(g: Geometry, start: int, size: int):
    """(y, x, ky, kx) of every kernel tap inside the map, for positions start..start+size-1."""
    for pos in range(start, start + size):
        oy, ox = divmod(pos, g.Q)
        for ky in range(g.k):
            for kx in range(g.k):
                y, x = oy * g.stride + ky - g.padding, ox * g.stride + kx - g.padding
                if 0 <= y < g.H and 0 <= x < g.W:
                    yield y, x, ky, kx


def brute_window(g: Geometry, event_map: np.ndarray, start: int, size: int) -> float:
    """Events in the union of the receptive fields of positions start..start+size-1."""
    seen = np.zeros((g.H, g.W), bool)
    for y, x, _, _ in in_map_taps(g, start, size):
        seen[y, x] = True
    return float(event_map[seen].sum())


@st.composite
def layers(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, 3))
    p = draw(st.integers(0, k - 1))
    H = draw(st.integers(k, 12))
    W = draw(st.integers(k, 12))
    P, Q = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    return Geometry(draw(st.integers(1, 4)), draw(st.integers(1, 4)), H, W, P, Q, k, s, p)


@settings(max_examples=60, deadline=None)
@given(layers(), st.data())
def test_window_events_equal_brute_force(g, data):
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31)))
    m = rng.integers(0, 4, (g.H, g.W)).astype(float)
    start = data.draw(st.integers(0, g.positions - 1))
    size = data.draw(st.integers(1, g.positions - start))
    act = Activity(g, m, fanin_of(g, m), 0.0)
    got = act.window_events(np.array([start]), np.array([size]))[0]
    assert got == brute_window(g, m, start, size)


@settings(max_examples=30, deadline=None)
@given(layers(), st.integers(0, 2**31))
def test_fanin_is_the_events_each_position_receives(g, seed):
    m = np.random.default_rng(seed).integers(0, 3, (g.H, g.W)).astype(float)
    f = fanin_of(g, m)
    for pos in range(g.positions):  # a one-position window holds exactly its fanin
        assert f.reshape(-1)[pos] == brute_window(g, m, pos, 1)


def test_the_simulators_fanin_matches_its_event_map(tiny_counts):
    """The functional datapath's per-position fanin equals the fanin of its recorded event
    map: the two come from different code (the Numba scatter, a numpy count)."""
    for lc, node in tiny_counts:
        g = D_geometry(node)
        assert np.array_equal(fanin_of(g, lc.event_map), lc.fanin_map)


def D_geometry(node):
    from hwsim.compare import geometry
    return geometry(node)


@pytest.fixture(scope="module")
def tiny_counts():
    """Counts of a converted VGG6-like net on 4 random images (non-analog layers)."""
    import torch

    from hwsim.counts import Counter
    from hwsim.functional import run_batch, store
    from mapping.placement import map_network
    from model.data import normalise
    from tests.test_hwsim import MEAN, STD, converted
    ckpt, data = converted("tiny", 4, 3)
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    stored = store(ckpt, 8)
    counter = Counter(map_network(ckpt, ARCH), 3)
    with torch.no_grad():
        counter.add(run_batch(stored, x, 3, record_spikes=False).events, len(x))
    nodes = {n.name: n for n in ckpt.nodes()}
    return [(lc, nodes[name]) for name, lc in counter.layers.items() if not lc.analog]


# ------------------------------------------------------------------------------- hand counts
def spec(g: Geometry, side="ann", groups=None, chunks=None, event_map=None, weight_level="glb",
         membrane_level="pe_sram", reg_bits=512, pe_bytes=8192, T=1, spikes=0.0, **kw):
    """A LayerSpec for a hand-built layer: one PE per channel group × spatial chunk."""
    groups = groups or (g.K,)
    chunks = chunks or ((0,), (g.positions,))
    dense = Activity(g, dense_event_map(g), fanin_of(g, dense_event_map(g)), float(g.outputs))
    act = dense if event_map is None else Activity(g, event_map, fanin_of(g, event_map),
                                                   spikes)
    snn = side == "snn"
    return D.LayerSpec(
        name="L", side=side, activity=act, dense=dense, groups=tuple(groups),
        chunk_starts=tuple(chunks[0]), chunk_sizes=tuple(chunks[1]), weight_level=weight_level,
        stream_level="glb", membrane_level=membrane_level if snn else None,
        free_register_bits=reg_bits, free_pe_bytes=pe_bytes, free_glb_bytes=1 << 20,
        weight_bits=8, membrane_bits=16, mult_bits=8, input_bits=1 if snn else 8,
        input_packet_bits=9 if snn else 8, output_bits=1 if snn else 8,
        output_packet_bits=9 if snn else 8, state_steps=T if snn else 0, lif=snn,
        **kw)


def cost(side):
    def f(acc):
        return sum(E.price(acc, ARCH, side).values()), 0.0
    return f


CONV = Geometry(K=4, C=2, H=5, W=5, P=5, Q=5, k=3, stride=1, padding=1)
DENSE_MACS = 4 * 2 * (9 * 9 + 12 * 6 + 4 * 4)  # 9 interior, 12 edge (6 taps), 4 corners (4)


def test_dense_macs_count_only_taps_inside_the_map():
    act = Activity(CONV, dense_event_map(CONV), fanin_of(CONV, dense_event_map(CONV)), 0.0)
    assert act.accumulates_per_channel * CONV.K == DENSE_MACS


@pytest.mark.parametrize("level,multicast", [("glb", True), ("pe_sram", False)])
def test_weight_stationary_reads_each_weight_from_home_once(level, multicast):
    """Dense WS: every weight leaves its home once per image (per PE when it lives in PE
    SRAM; once for all spatial chunks when multicast from the GLB); every MAC reads its
    weight from the register file; psums are read-modify-written per MAC where they live."""
    s = spec(CONV, groups=(2, 2), chunks=((0, 13), (13, 12)), weight_level=level)
    t = D.Tiling("ws", k=2, p=13, c=2, local="pe_sram")
    acc = D.nest_ws(s, t)
    chunks = 2
    assert acc.count("W", level, "read") == CONV.weights * (1 if multicast else chunks)
    assert acc.count("W", "register", "read") == DENSE_MACS
    assert acc.count("V", "pe_sram", "write") == DENSE_MACS
    assert acc.count("V", "pe_sram", "read") == DENSE_MACS + CONV.outputs  # + the final read
    assert acc.count("O", "glb", "write") == CONV.outputs
    assert acc.ops[("mult", 8)] == DENSE_MACS


def test_output_stationary_writes_each_potential_once_per_step():
    """SNN OS: each membrane is read and written at its home once per step (not per
    accumulate), and every accumulate reads its weight from home."""
    T = 4
    m = np.zeros((5, 5))
    m[2, 2], m[0, 0] = 3, 1  # 4 events over T: 3 at the centre, 1 in a corner
    s = spec(CONV, side="snn", event_map=m, T=T, spikes=7.0)
    acc = D.nest_os(s, D.Tiling("os", k=1, p=5))
    acs = 4 * (3 * 9 + 1 * 4)
    assert acc.count("V", "pe_sram", "write") == CONV.outputs * T
    assert acc.count("V", "pe_sram", "read") == CONV.outputs * T
    assert acc.count("W", "glb", "read") == acs  # event-driven: no multicast
    assert acc.ops[("add", 16)] == acs + 7  # + one soft reset per spike
    assert acc.count("O", "glb", "write") == 7


def test_zero_skipping_macs_are_the_nonzero_inputs_times_their_fanout():
    m = np.zeros((5, 5))
    m[1, 1], m[4, 2] = 2, 1  # 2 non-zero inputs (of 2 channels) at (1, 1), 1 at (4, 2)
    s = spec(CONV, event_map=m, skip_outputs=True)
    acc = D.nest_os(s, D.Tiling("os_skip", k=4, p=5))
    macs = 4 * (2 * 9 + 1 * 6)  # (4, 2) is on the bottom edge: 6 outputs reached
    assert acc.ops[("mult", 8)] == macs
    dense = D.nest_os(spec(CONV), D.Tiling("os", k=4, p=5))
    assert dense.ops[("mult", 8)] == DENSE_MACS


@pytest.mark.parametrize("T", [1, 3, 8])
def test_time_batched_weight_fetches_are_tiles_times_weights_whatever_T(T):
    m = np.ones((5, 5)) * T  # one event per position and step
    s = spec(CONV, side="snn", event_map=m, T=T, weight_level="pe_sram", reg_bits=4096,
             pe_bytes=1 << 16)
    t = D.Tiling("time_batched", k=2, p=5)
    acc = D.nest_time_batched(s, t)
    tiles = math.ceil(CONV.positions / 5)
    assert acc.count("W", "pe_sram", "read") == tiles * CONV.weights
    assert acc.count("V", "pe_sram") == 0  # potentials never leave the tile


def test_row_stationary_reads_filter_rows_once_per_row_segment():
    s = spec(CONV, weight_level="pe_sram")
    acc = D.nest_rs(s, D.Tiling("rs", k=4, p=5))
    assert acc.count("W", "pe_sram", "read") == CONV.weights * 5  # 5 output rows
    assert acc.count("V", "register", "write") == DENSE_MACS
    assert acc.count("O", "glb", "write") == CONV.outputs  # each output written once


def brute_taps(g: Geometry, start: int, size: int) -> int:
    """Kernel taps inside the map for at least one of positions start..start+size-1."""
    return len({(ky, kx) for _, _, ky, kx in in_map_taps(g, start, size)})


@settings(max_examples=40, deadline=None)
@given(layers(), st.data())
def test_tile_taps_equal_brute_force(g, data):
    start = data.draw(st.integers(0, g.positions - 1))
    size = data.draw(st.integers(1, g.positions - start))
    assert tile_taps(g, np.array([start]), np.array([size]))[0] == brute_taps(g, start, size)


def test_output_stationary_reuses_each_weight_over_its_tiles_positions():
    """Dense OS, hand count (CONV, one PE, weights in its SRAM): a tile reads each weight
    whose tap some of its positions use once and keeps it in a register for the others.
    Row tiles of 5: rows 0 and 4 use 6 taps, rows 1-3 all 9, so 4·2·(6 + 3·9 + 6) = 312
    reads, not one per MAC (1,352: the old count, still what 1-position tiles read); one
    tile of the whole map reads every weight once (72). Without register room for a
    channel's kt×k×k weights the nest falls back to a read per MAC."""
    s = spec(CONV, weight_level="pe_sram")
    reads = {p: D.nest_os(s, D.Tiling("os", k=1, p=p)).count("W", "pe_sram", "read")
             for p in (1, 5, 25)}
    assert reads == {1: DENSE_MACS, 5: 4 * 2 * (6 + 3 * 9 + 6), 25: CONV.weights}
    acc = D.nest_os(s, D.Tiling("os", k=1, p=5))
    assert acc.count("W", "register", "write") == 312  # each fill lands in a register
    assert acc.count("W", "register", "read") == DENSE_MACS  # every MAC reads it there
    tight = dataclasses.replace(s, free_register_bits=5 * 16 + 71)  # psums fit, 9 weights not
    assert D.nest_os(tight, D.Tiling("os", k=1, p=5)).count("W", "pe_sram", "read") == DENSE_MACS
    assert D.nest_os(tight, D.Tiling("os", k=1, p=5)).count("W", "register") == 0
    # from the GLB in lockstep: one read serves both spatial chunks (multicast)
    two = spec(CONV, chunks=((0, 15), (15, 10)))  # rows 0-2 | rows 3-4
    shared = D.nest_os(two, D.Tiling("os", k=1, p=5)).count("W", "glb", "read")
    assert shared == 4 * 2 * (6 + 3 * 9 + 6) / 2


def test_output_stationary_spike_weights_once_per_tile_and_step_at_most():
    """SNN OS: a weight is read at most once per use and at most once per tile and step.
    Every input firing at every step (8 events per position over T = 4, C = 2): every weight
    of a whole-map tile is used at each step, so 72 × 4 reads; a lone event's weights are
    read once per use (its 9 taps × 4 channels × 3 events: the events are not recorded per
    channel, so no reuse is claimed)."""
    T = 4
    full = spec(CONV, side="snn", event_map=np.full((5, 5), 2.0 * T), T=T, reg_bits=1024,
                weight_level="pe_sram")
    acc = D.nest_os(full, D.Tiling("os", k=2, p=8))
    assert D.nest_os(full, D.Tiling("os", k=1, p=25)).count("W", "pe_sram", "read") == \
        CONV.weights * T
    assert acc.count("W", "pe_sram", "read") < acc.ops[("add", 16)]  # fewer than ACs
    m = np.zeros((5, 5))
    m[2, 2] = 3
    lone = spec(CONV, side="snn", event_map=m, T=T, weight_level="pe_sram")
    assert D.nest_os(lone, D.Tiling("os", k=1, p=25)).count("W", "pe_sram", "read") == \
        4 * 9 * 3


@settings(max_examples=30, deadline=None)
@given(layers(), st.integers(0, 2**31), st.booleans(), st.integers(1, 3))
def test_output_stationary_weight_reads_lie_between_one_per_weight_and_one_per_mac(
        g, seed, dense, T):
    """Per pass, a dense OS reads every weight some position uses at least once; no tile
    reads more than one weight per MAC (the old count); doubling a tile never reads more."""
    m = None if dense else np.random.default_rng(seed).integers(0, 3, (g.H, g.W)) * 1.0
    side = "ann" if dense else "snn"
    s = spec(g, side=side, event_map=m, T=T, reg_bits=1 << 16, weight_level="pe_sram")
    used = g.K * g.C * tile_taps(g, np.array([0]), np.array([g.positions]))[0]
    previous = math.inf
    for p in D.pow2_upto(g.positions):
        acc = D.nest_os(s, D.Tiling("os", k=1, p=p))
        reads, macs = acc.count("W", "pe_sram", "read"), s.activity.accumulates_per_channel * g.K
        assert reads <= macs + 1e-9
        if dense:
            assert reads >= used
        if p < g.positions:  # the full size is no double of the previous
            assert reads <= previous + 1e-9
            previous = reads


def test_compute_runs_at_the_partial_sums_the_tile_keeps_in_flight():
    """Each accumulator keeps one partial sum and one output's sum is never split, so the
    busiest PE does min(8 accumulators, partial sums in flight) MACs a cycle. CONV on one PE
    (1,352 MACs): an `os k1 p1` tile takes 1,352 cycles, `k1 p2` 676, `k2 p4` (8 psums) 169;
    the old formula gave ⌈1,352 / 8⌉ = 169 to all. A linear layer with one output per PE
    (90 MACs on it) takes 90 cycles, not ⌈90 / 8⌉ = 12; the latency objective now picks a
    tile with 8 partial sums."""
    s = spec(CONV)
    lm = SimpleNamespace(neurons_per_pe=(CONV.outputs,), outputs=CONV.outputs)
    none = E.Traffic()

    def compute(acc, macs=DENSE_MACS, layer=lm):
        return E.ann_cycles(ARCH, SimpleNamespace(ann_macs=macs), layer, none, macs,
                            with_bound=True, in_flight=acc.in_flight)[2]

    got = {(k, p): compute(D.nest_os(s, D.Tiling("os", k=k, p=p)))
           for k, p in ((1, 1), (1, 2), (2, 4), (4, 5))}
    assert got == {(1, 1): 1352, (1, 2): 676, (2, 4): 169, (4, 5): 169}
    ch = M.best_tiling(s, "os", lambda acc: (0.0, compute(acc)), "latency")
    assert ch.cycles == 169 and ch.accesses.in_flight >= 8
    rs = D.nest_rs(s, D.Tiling("rs", k=1, p=2))
    assert compute(rs) == 676  # rs: kt × q psums
    fc = Geometry(K=3, C=30, H=1, W=1, P=1, Q=1)
    per_pe = SimpleNamespace(neurons_per_pe=(1, 1, 1), outputs=3)
    acc = D.nest_os(spec(fc, groups=(1, 1, 1)), D.Tiling("os", k=1, p=1))
    assert compute(acc, macs=90, layer=per_pe) == 30  # 30 MACs on each PE, one at a time
    # the SNN: the busiest PE's accumulates of a step, at the same lanes (scatter: the PE's
    # neurons); the LIF phase stays one neuron per accumulator
    lc = SimpleNamespace(T=1, pe_work=np.array([[90.0, 10.0]]), pe_neurons=np.array([0, 0]),
                         neuron=None, per_image=lambda a: a)
    one = SimpleNamespace(neurons_per_pe=(1, 1), outputs=2)
    assert E.compute_cycles(ARCH, lc, one)[0] == 90
    assert E.compute_cycles(ARCH, lc, lm, in_flight=4)[0] == 23
    assert E.compute_cycles(ARCH, lc, lm)[0] == 12  # 100 neurons: all 8 accumulators


# ---------------------------------------------------------------------- capacity, conservation
@settings(max_examples=25, deadline=None)
@given(layers(), st.sampled_from(["os", "ws", "rs", "time_batched", "os_skip"]),
       st.integers(16, 2048), st.integers(0, 4096), st.integers(1, 4))
def test_the_mapper_never_overfills_a_level(g, df, reg_bits, pe_bytes, groups):
    groups = min(groups, g.K)
    sizes = tuple(len(a) for a in np.array_split(np.arange(g.K), groups))
    side = "snn" if df == "time_batched" else "ann"
    s = spec(g, side=side, groups=sizes, reg_bits=reg_bits, pe_bytes=pe_bytes, T=3,
             event_map=np.ones((g.H, g.W)) if side == "snn" else None)
    try:
        ch = M.best_tiling(s, df, cost(side))
    except M.NoFit:
        return
    t = ch.tiling
    kb, pb = max(sizes), g.positions
    assert t.k <= kb and t.p <= pb
    if df.startswith("os"):  # psums; weights too where they are reused from registers
        assert t.k * t.p * 16 <= reg_bits
        if ch.accesses.count("W", "register"):
            assert t.k * t.p * 16 + t.k * g.k * g.k * 8 <= reg_bits
    elif df == "ws":
        assert t.k * t.c * g.k * g.k * 8 <= reg_bits
        psums = kb * min(t.p, pb) * 16
        if t.local == "pe_sram":
            assert psums <= pe_bytes * 8
        elif t.local == "register":
            assert psums + t.k * t.c * g.k * g.k * 8 <= reg_bits
    elif df == "rs":
        assert t.k * g.k * 8 + t.k * t.p * 16 + g.k * 8 <= reg_bits
    else:  # T = 3 currents + V of the tile, beside one channel's weights
        w = t.k * g.k * g.k * 8
        if t.local == "register":
            assert 4 * t.k * t.p * 16 + w <= reg_bits
        else:  # (before: 4·kt·pt·16 ≤ PE SRAM, which a tile that fits exactly can exceed)
            assert t.k * t.p * 16 + w <= reg_bits and 3 * t.k * t.p * 16 <= pe_bytes * 8
    if t.stage:
        assert s.window_positions * g.C * s.input_bits <= pe_bytes * 8


@pytest.mark.parametrize("df", ["ws", "rs", "os", "time_batched"])
def test_inner_levels_are_read_at_least_as_often_as_they_are_filled(df):
    """Conservation: a level's reads of an operand are never fewer than the fills it gets from
    the level above (a fill that is never read would be waste the mapper cannot want)."""
    side = "snn" if df == "time_batched" else "ann"
    m = np.full((5, 5), 2.0)
    s = spec(CONV, side=side, event_map=m if side == "snn" else None, T=2, reg_bits=2048,
             pe_bytes=4096, groups=(2, 2), chunks=((0, 13), (13, 12)))
    for stage in (False, True):
        acc = D.nest_of(df)(s, D.Tiling(df, k=2, p=4, c=1, stage=stage))
        assert acc is not None
        for operand in ("W", "I"):
            for level in ("register", "pe_sram"):
                fills = acc.count(operand, level, "write")
                if fills:
                    assert acc.count(operand, level, "read") >= fills


def test_report_totals_are_the_sum_of_layers_and_parts(tiny_report):
    for side in ("snn", "ann"):
        for r in tiny_report["dataflows"][side].values():
            e = r["energy_pj"]
            assert e["total"] == pytest.approx(sum(v for k, v in e.items() if k != "total"))
            assert e["total"] == pytest.approx(sum(lay["energy_pj"]["total"]
                                                   for lay in r["layers"]))


# --------------------------------------------------------------- the ANN baseline's own rules
@pytest.fixture(scope="module")
def tiny_report():
    return _report()


def _report(**over):
    import warnings

    from hwsim.simulate import SimOptions, simulate
    from tests.test_hwsim import converted
    ckpt, data = converted("tiny", 8, 3)
    policy = {"first_layer": "every_step", **over.pop("policy", {})}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return simulate(ckpt, load_arch("45nm", {"policy": policy, **over}), data, 8,
                        SimOptions(progress=False, reference=False))


def test_ann_partial_sums_do_not_follow_the_snns_membranes():
    """Before: the ANN's partial sums were read and written where the SNN keeps its
    membranes, so --membrane dram sent the ANN's psums to DRAM too."""
    near = _report(policy={"membrane_level": "register"})["dataflows"]["ann"]
    far = _report(policy={"membrane_level": "dram"})["dataflows"]["ann"]
    for df in ("ws", "os", "rs", "ws_skip", "os_skip", "rs_skip"):
        assert far[df]["energy_pj"]["total"] == pytest.approx(near[df]["energy_pj"]["total"])
        assert far[df]["energy_pj"]["dram"] == pytest.approx(near[df]["energy_pj"]["dram"])
    assert far["scatter"]["energy_pj"]["dram"] > 10 * near["scatter"]["energy_pj"]["dram"]


def test_dense_ann_streams_carry_no_address_bits():
    """Before: every ANN packet carried ceil(log2(outputs)) address bits. Now a dense ANN
    stream moves activation_bits per element on every dataflow, in buffers and on the NoC."""
    s = spec(CONV)
    for df, t in (("ws", D.Tiling("ws", k=1, p=25, c=1, local="pe_sram")),
                  ("os", D.Tiling("os", k=1, p=5)), ("rs", D.Tiling("rs", k=1, p=5))):
        acc = D.nest_of(df)(s, t)
        assert {b for (o, _, _, b) in acc.mem if o in ("I", "O") and _ != "register"} == {8}
        assert [(n, b) for o, n, b, _ in acc.noc if o == "O"] == [(CONV.outputs, 8)]
    old = E.ann_scatter  # the old baseline keeps its address bits (reproducible reports)
    assert old is not None


def test_weights_in_dram_follow_the_dataflows_tile_reuse():
    """One DRAM weight rule for both sides: a layer whose weights fit the free GLB is staged
    there once per pass over the layer (ANN and time-batched SNN: once per image; an SNN
    running step by step: once per step), else read from DRAM at every fill the loop nest
    makes. Before, the SNN fetched per step what its events needed and the ANN once."""
    s = spec(CONV, weight_level="dram")
    acc = D.nest_ws(dataclasses.replace(s, free_glb_bytes=0),
                    D.Tiling("ws", k=1, p=25, c=1, local="pe_sram"))
    assert acc.count("W", "dram", "read") == CONV.weights
    assert acc.count("W", "glb") == 0
    staged = D.nest_ws(s, D.Tiling("ws", k=1, p=5, c=1, local="pe_sram"))
    assert staged.count("W", "dram", "read") == CONV.weights  # once into the GLB
    assert staged.count("W", "glb", "write") == CONV.weights
    assert staged.count("W", "glb", "read") == CONV.weights * 5  # once per position tile
    for T in (2, 6):
        snn = spec(CONV, side="snn", event_map=np.ones((5, 5)) * T, T=T, weight_level="dram",
                   reg_bits=4096, pe_bytes=1 << 16)
        tb = D.nest_time_batched(snn, D.Tiling("time_batched", k=4, p=25, local="pe_sram"))
        assert tb.count("W", "dram", "read") == CONV.weights
        os_ = D.nest_os(snn, D.Tiling("os", k=1, p=5))
        assert os_.count("W", "dram", "read") == CONV.weights * T


def test_the_first_layer_is_costed_by_the_same_rules_on_both_sides():
    """The analog input layer: the SNN's output-stationary nest computed once does the ANN's
    MACs, weight reads and pixel reads exactly (then adds its LIF phase)."""
    kw = dict(weight_level="pe_sram", analog=True)
    ann = D.nest_os(spec(CONV, **kw), D.Tiling("os", k=2, p=5))
    snn = D.nest_os(spec(CONV, side="snn", T=4, repeat=1, stored_current=True, **kw),
                    D.Tiling("os", k=2, p=5))
    for operand, level in (("W", "pe_sram"), ("X", "dram")):
        assert snn.count(operand, level) == ann.count(operand, level)
    assert snn.ops[("mult", 8)] == ann.ops[("mult", 8)] == DENSE_MACS
    every = D.nest_os(spec(CONV, side="snn", T=4, repeat=4, **kw), D.Tiling("os", k=2, p=5))
    assert every.ops[("mult", 8)] == 4 * DENSE_MACS


def test_the_verdict_is_best_against_best(tiny_report):
    d = tiny_report["dataflows"]
    best_snn = min(d["snn"], key=lambda k: d["snn"][k]["energy_pj"]["total"])
    best_ann = min(d["ann"], key=lambda k: d["ann"][k]["energy_pj"]["total"])
    assert (d["verdict"]["snn"], d["verdict"]["ann"]) == (best_snn, best_ann)
    assert d["verdict"]["energy_ann_over_snn"] == pytest.approx(
        d["ann"][best_ann]["energy_pj"]["total"] / d["snn"][best_snn]["energy_pj"]["total"])
    assert tiny_report["accuracy"]["functional_match"]
    assert set(d["pairs"]) == {f"{s}/{a}" for s in d["snn"] for a in d["ann"]}


@pytest.mark.parametrize("objective", ["energy", "latency", "edp"])
def test_the_mapper_minimises_the_objective_over_every_fitting_tiling(objective):
    s = spec(CONV, side="snn", event_map=np.full((5, 5), 2.0), T=2, reg_bits=2048,
             pe_bytes=4096, groups=(2, 2), chunks=((0, 13), (13, 12)))

    def cost(acc):  # energy from the table, "cycles": the GLB traffic in bits
        return sum(E.price(acc, ARCH, "snn").values()), acc.bits_at("glb")

    ch = M.best_tiling(s, "os", cost, objective)
    values = [M.objective_value(objective, *cost(acc)) for acc in
              (D.nest_os(s, t) for t in M.candidates(s, "os")) if acc is not None]
    assert ch.tried == len(values)
    assert M.objective_value(objective, ch.energy_pj, ch.cycles) == min(values)


def test_break_even_finds_the_spike_scale_where_the_snn_costs_the_target():
    """compare.break_even: with the SNN's own energy at 1.5x its spikes as the target, the
    bisection lands on 1.5; an unreachable target (below the no-spike cost) gives None."""
    import warnings

    import torch

    from hwsim import compare as CMP
    from hwsim.counts import Counter
    from hwsim.functional import run_batch, store
    from hwsim.simulate import consumers
    from mapping.placement import map_network
    from model.data import normalise
    from tests.test_hwsim import MEAN, STD, converted
    ckpt, data = converted("tiny", 4, 3)
    x = normalise(torch.from_numpy(data.images), MEAN, STD)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapping = map_network(ckpt, ARCH)
    counter = Counter(mapping, 3)
    with torch.no_grad():
        counter.add(run_batch(store(ckpt, 8), x, 3, record_spikes=False).events, len(x))
    nodes = ckpt.nodes()
    counts = [counter.layers[n.name] for n in nodes if n.synaptic]
    ctx = CMP.context(ARCH, mapping, nodes, 3, consumers(nodes))

    def energy(f):
        scaled = [CMP.scaled_counts(lc, f) for lc in counts]
        return CMP.evaluate(ctx, scaled, "snn", "os").energy_pj["total"]

    assert energy(0.5) < energy(1.0) < energy(2.0)  # more spikes, more energy
    f = CMP.break_even(ctx, counts, "os", energy(1.5), iterations=14)
    assert f == pytest.approx(1.5, rel=1e-3)
    assert CMP.break_even(ctx, counts, "os", energy(0.0) * 0.5) is None


@pytest.mark.parametrize("side", ["snn", "ann"])
def test_a_bias_costs_one_add_per_neuron_each_time_its_current_is_formed(side):
    """SNN: every neuron at every step; ANN: every output once (the dataflows and scatter)."""
    T = 3
    g = CONV
    plain, biased = (spec(g, side=side, T=T, bias=b) for b in (False, True))
    for df in (("os", "time_batched") if side == "snn" else ("ws", "os", "rs")):
        a, b = (M.best_tiling(s, df, cost(side), "energy").accesses for s in (plain, biased))
        extra = b.ops.get(("add", 16), 0.0) - a.ops.get(("add", 16), 0.0)
        assert extra == g.outputs * (T if side == "snn" else 1), df

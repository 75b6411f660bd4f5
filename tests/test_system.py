"""hwsim.system: the SimPy system model against closed forms, bandwidth bounds and the simulator."""

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from arch_configs import load_arch
from hwsim import energy as E
from hwsim import system as S
from hwsim.compare import membrane_levels
from hwsim.counts import Counter
from hwsim.functional import run_batch, store
from hwsim.simulate import SimOptions, build_report, consumers
from mapping.graph import layer_graph
from mapping.placement import map_network
from model.architectures import build_architecture
from model.checkpoint import Checkpoint
from model.conversion import balance_thresholds
from model.data import normalise
from model.network import Network
from tests.conftest import make_images

PREP = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
# a chip whose GLB and DRAM never limit (the simulator's compute-bound cycles)
UNLIMITED = {"global_buffer": {"bandwidth_bits_per_cycle": 10 ** 18},
             "dram": {"bandwidth_bytes_per_s": {"value": 1e30, "source": "test: unlimited"}}}


def chain(costs: list[list[float]], **work) -> list[S.LayerWork]:
    """Layers in a chain, each in its own PE group; costs[l][t] compute cycles."""
    out = []
    for i, cs in enumerate(costs):
        steps = tuple(S.StepWork(c, **work) for c in cs)
        out.append(S.LayerWork(f"l{i}", steps, (f"l{i - 1}",) if i else (), group=i))
    return out


# --- closed forms ------------------------------------------------------------------------------

def test_layer_by_layer_unlimited_is_the_sum_of_compute_and_latency():
    layers = chain([[10, 20, 5], [7, 7, 7], [3, 1, 4]])
    res = S.simulate_system(layers, S.Chip(noc_latency_cycles=2.0), "layer_by_layer")
    assert res.cycles == pytest.approx(10 + 20 + 5 + 21 + 8 + 9 * 2)
    assert res.critical["compute"] == pytest.approx(64)
    assert res.critical["noc"] == pytest.approx(18)
    assert res.critical["memory_stall"] == pytest.approx(0, abs=1e-9)


def test_pipelined_unlimited_matches_the_pipeline_formula():
    c = [10.0, 30.0, 5.0, 12.0]
    T = 6
    res = S.simulate_system(chain([[x] * T for x in c]), S.Chip(), "pipelined")
    assert res.cycles == pytest.approx(sum(c) + (T - 1) * max(c))
    assert sum(res.critical.values()) == pytest.approx(res.cycles)


def test_pipelined_follows_the_dataflow_recurrence_when_steps_differ():
    costs = [[4, 9, 1], [6, 2, 8], [3, 3, 3]]
    f = [[0.0] * 3 for _ in costs]
    for layer, cs in enumerate(costs):
        for t, c in enumerate(cs):
            f[layer][t] = max(f[layer - 1][t] if layer else 0.0, f[layer][t - 1] if t else 0.0) + c
    res = S.simulate_system(chain(costs), S.Chip(), "pipelined")
    assert res.cycles == pytest.approx(f[-1][-1])


def test_memory_bound_step_takes_bits_over_bandwidth():
    layers = [S.LayerWork("a", (S.StepWork(100.0, glb_bits=1000.0),))]
    res = S.simulate_system(layers, S.Chip(glb_bits_per_cycle=2.0, noc_latency_cycles=3.0))
    assert res.cycles == pytest.approx(500 + 3)
    assert res.critical == pytest.approx({"compute": 100, "memory_stall": 400, "noc": 3})
    assert res.utilisation["glb"] == pytest.approx(500 / 503)


def test_shared_glb_serialises_layers_that_overlap():
    # two independent layers on their own PEs: alone each needs 500 cycles of GLB time
    w = S.StepWork(10.0, glb_bits=1000.0)
    layers = [S.LayerWork("a", (w,), group=0), S.LayerWork("b", (w,), group=1)]
    res = S.simulate_system(layers, S.Chip(glb_bits_per_cycle=2.0), "pipelined")
    assert res.cycles == pytest.approx(1000)
    assert res.busy["glb"] == pytest.approx(1000)


def test_layers_of_one_pe_group_never_overlap():
    w = S.StepWork(50.0)
    layers = [S.LayerWork("a", (w, w), group=0), S.LayerWork("b", (w, w), group=0)]
    assert S.simulate_system(layers, S.Chip(), "pipelined").cycles == pytest.approx(200)


def test_noc_serialisation_on_shared_links():
    layers = [S.LayerWork("a", (S.StepWork(10.0, noc_link_cycles=400.0),))]
    res = S.simulate_system(layers, S.Chip(noc_links=8.0, noc_latency_cycles=1.0))
    assert res.cycles == pytest.approx(10 + 50 + 1)
    assert res.critical["noc"] == pytest.approx(51)


def test_mesh_links():
    assert S.mesh_links(16) == 48  # 4x4 mesh: 2 directions x 2 axes x 4 rows x 3 links
    assert S.mesh_links(1) == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 2000),
                                   st.integers(0, 500), st.integers(0, 300)),
                         min_size=3, max_size=3), min_size=1, max_size=4),
       st.sampled_from(["layer_by_layer", "pipelined"]), st.integers(1, 4),
       st.floats(0.5, 64), st.floats(0.5, 64), st.floats(1, 16))
def test_never_faster_than_any_bound(work, schedule, tiles, glb, dram, links):
    layers = [S.LayerWork(f"l{i}", tuple(S.StepWork(*w) for w in ws),
                          (f"l{i - 1}",) if i else (), group=i)
              for i, ws in enumerate(work)]
    chip = S.Chip(glb_bits_per_cycle=glb, dram_bits_per_cycle=dram, noc_links=links,
                  noc_latency_cycles=1.0)
    res = S.simulate_system(layers, chip, schedule, tiles)
    tol = 1e-9 * max(1.0, res.cycles)
    glb_bound = sum(s.glb_bits for lw in layers for s in lw.steps) / glb
    dram_bound = sum(s.dram_bits for lw in layers for s in lw.steps) / dram
    noc_bound = sum(s.noc_link_cycles for lw in layers for s in lw.steps) / links
    for bound in (glb_bound, dram_bound, noc_bound, res.bounds["compute"]):
        assert res.cycles >= bound - tol
    assert res.bounds["glb"] == pytest.approx(glb_bound)
    assert sum(res.critical.values()) == pytest.approx(res.cycles)
    assert min(res.critical.values()) >= -tol


@pytest.mark.parametrize("bad,match", [
    (dict(schedule="round_robin"), "schedule"), (dict(tiles=0), "tiles"),
])
def test_bad_options(bad, match):
    with pytest.raises(ValueError, match=match):
        S.simulate_system(chain([[1.0]]), S.Chip(), **bad)


def test_bad_work():
    with pytest.raises(ValueError, match="steps"):
        S.simulate_system([S.LayerWork("a", (S.StepWork(1),)),
                           S.LayerWork("b", (S.StepWork(1), S.StepWork(1)))], S.Chip())
    with pytest.raises(ValueError, match="unknown inputs"):
        S.simulate_system([S.LayerWork("a", (S.StepWork(1),), ("z",))], S.Chip())
    with pytest.raises(ValueError, match=">= 0"):
        S.StepWork(-1.0)
    with pytest.raises(ValueError, match="> 0"):
        S.Chip(glb_bits_per_cycle=0)


# --- against the simulator on a real (tiny) network ---------------------------------------------

@pytest.fixture(scope="module")
def counted():
    """A converted tiny net and its functional events for 8 toy images at T=3."""
    torch.manual_seed(0)
    net = Network(build_architecture("tiny", 10, (3, 32, 32)), timesteps=3)
    images, _ = make_images(16)
    x = normalise(torch.from_numpy(images), PREP["mean"], PREP["std"])
    balance_thresholds(net, x, 3, scale=0.5)
    ckpt = Checkpoint(arch="tiny", dataset="cifar10", num_classes=10, input_shape=(3, 32, 32),
                      preprocessing=PREP, stage="converted")
    ckpt.update_from(net)
    with torch.no_grad():
        res = run_batch(store(ckpt, 8), x[:8], 3)
    return ckpt, res.events


def priced(ckpt, events, over):
    arch = load_arch("45nm", over)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapping = map_network(layer_graph(ckpt), arch)
    counter = Counter(mapping, 3, first_layer_once=arch.policy.first_layer == "once")
    counter.add(events, 8)
    return arch, mapping, counter


@pytest.mark.parametrize("pes,membrane,weights", [(4, "glb", "dram"), (64, "dram", "glb"),
                                                  (16, "register", "auto")])
def test_step_work_adds_up_to_the_simulators_layer_costs(counted, pes, membrane, weights):
    ckpt, events = counted
    over = {"pe_array": {"count": pes},
            "policy": {"membrane_level": membrane, "weight_level": weights}}
    arch, mapping, counter = priced(ckpt, events, over)
    nodes = ckpt.nodes()
    cons = consumers(nodes)
    big, _, _ = priced(ckpt, events, {**over, **UNLIMITED})
    for lw in S.layer_works(arch, mapping, counter, nodes):
        lc, lm = counter.layers[lw.name], mapping.layer(lw.name)
        v, dest = membrane_levels(nodes, mapping)[lw.name], E.destinations(mapping, cons,
                                                                            lw.name)
        whole = E.snn_layer_cost(arch, mapping, lc, lm, v, dest).traffic.bits
        assert sum(s.glb_bits for s in lw.steps) == pytest.approx(whole["glb"])
        assert sum(s.dram_bits for s in lw.steps) == pytest.approx(whole["dram"])
        if weights != "auto":
            assert whole["glb"] > 0
        bound = E.snn_layer_cost(big, mapping, lc, lm, v, dest).cycles
        noc = arch.noc.hop_latency_cycles.value * E.mesh_hops(pes) * 3
        assert sum(s.compute_cycles for s in lw.steps) + noc == pytest.approx(bound)


@pytest.mark.parametrize("membrane", ["register", "dram"])
@pytest.mark.parametrize("pes", [4, 64])
def test_unlimited_bandwidth_equals_the_compute_bound_cycles(counted, pes, membrane):
    ckpt, events = counted
    over = {"pe_array": {"count": pes}, "policy": {"membrane_level": membrane}}
    arch, mapping, counter = priced(ckpt, events, over)
    big, big_map, big_counter = priced(ckpt, events, {**over, **UNLIMITED})
    sel = {}
    rep = build_report(ckpt, big, big_map, big_counter, 3, SimOptions(timesteps=3), 8, "", sel)
    costs = {c.name: c for c in sel["snn"]}  # the PE SRAM ports stay: they are a PE's
    res = S.system_timing(arch, mapping, counter, ckpt.nodes(), unlimited=True, costs=costs)
    assert res.cycles == pytest.approx(rep["snn"]["latency_cycles"], rel=1e-9)


@pytest.mark.parametrize("schedule", ["layer_by_layer", "pipelined"])
def test_limited_bandwidth_is_never_below_bits_over_bandwidth(counted, schedule):
    ckpt, events = counted
    # a starved chip: the membranes in DRAM, a narrow GLB port
    over = {"pe_array": {"count": 16}, "global_buffer": {"bandwidth_bits_per_cycle": 8},
            "policy": {"membrane_level": "dram", "schedule": schedule}}
    arch, mapping, counter = priced(ckpt, events, over)
    works = S.layer_works(arch, mapping, counter, ckpt.nodes())
    res = S.system_timing(arch, mapping, counter, ckpt.nodes())
    glb_bits = sum(s.glb_bits for lw in works for s in lw.steps)
    dram_bits = sum(s.dram_bits for lw in works for s in lw.steps)
    dram_rate = arch.dram.bandwidth_bytes_per_s.value * 8 / arch.frequency_hz
    assert dram_bits > 0 and glb_bits > 0
    assert res.cycles >= glb_bits / 8 * (1 - 1e-12)
    assert res.cycles >= dram_bits / dram_rate * (1 - 1e-12)
    assert res.cycles > S.system_timing(arch, mapping, counter, ckpt.nodes(),
                                        unlimited=True).cycles
    assert res.critical["memory_stall"] > 0
    assert sum(res.critical.values()) == pytest.approx(res.cycles)
    assert math.isclose(sum(r["compute"] for r in res.layers),
                        sum(s.compute_cycles for lw in works for s in lw.steps))


def test_the_ann_runs_on_the_same_system_model(counted):
    """The headline ANN dataflow's layers as one step each: with unlimited bandwidth the sum of
    each layer's compute (or PE-SRAM port) cycles and the NoC latency; with the chip's
    bandwidths never below bits / bandwidth, and close to the per-layer model."""
    ckpt, events = counted
    arch, mapping, counter = priced(ckpt, events, {"pe_array": {"count": 16}})
    sel = {}
    rep = build_report(ckpt, arch, mapping, counter, 3, SimOptions(timesteps=3), 8, "", sel)
    amap = sel["ann_mapping"]
    works = S.ann_layer_works(arch, amap, ckpt.nodes(), sel["ann"])
    assert [w.name for w in works] == [c.name for c in sel["ann"]]
    latency = arch.noc.hop_latency_cycles.value * E.mesh_hops(16)
    busy = [max(c.compute_cycles, E.memory_cycles(arch, amap.layer(c.name), c.traffic)["pe_sram"])
            for c in sel["ann"]]
    free = S.simulate_system(works, S.Chip.from_arch(arch, unlimited=True))
    assert free.cycles == pytest.approx(sum(busy) + latency * len(works), rel=1e-9)
    real = S.simulate_system(works, S.Chip.from_arch(arch))
    glb = sum(c.traffic.bits["glb"] for c in sel["ann"])
    assert real.cycles >= free.cycles * (1 - 1e-12)
    assert real.cycles >= glb / arch.global_buffer.bandwidth_bits_per_cycle * (1 - 1e-12)
    assert real.cycles >= real.bounds["noc"] * (1 - 1e-12) > 0
    assert real.cycles >= rep["ann"]["latency_cycles"] - latency * len(works)

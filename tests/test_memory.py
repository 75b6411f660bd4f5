"""The SRAM memory model (arch_configs/memory.py) against the CACTI table it reads, and the
port-limited timing it feeds (hwsim/energy.py)."""

import csv
import math
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arch_configs import CONFIG_DIR, load_arch
from arch_configs.memory import MemoryModelError, sram
from hwsim import energy as E


def raw(node, cell, size, width, banks=1):
    with open(CONFIG_DIR / "cacti_sram.csv") as f:
        for r in csv.DictReader(f):
            if (int(r["node_nm"]), r["cell_type"], int(r["size_bytes"]), int(r["width_bits"]),
                    int(r["banks"])) == (node, cell, size, width, banks):
                return {k: float(v) for k, v in r.items() if k != "cell_type"}
    raise KeyError((node, cell, size, width, banks))


@settings(max_examples=80, deadline=None)
@given(s1=st.integers(1 << 12, 1 << 24), s2=st.integers(1 << 12, 1 << 24),
       w1=st.sampled_from([8, 12, 16, 24, 32, 48, 64, 100, 128, 256, 512]),
       w2=st.sampled_from([8, 12, 16, 24, 32, 48, 64, 100, 128, 256, 512]),
       node=st.sampled_from([22, 28, 32, 45]), cell=st.sampled_from(["itrs-lop", "itrs-hp"]))
def test_access_energy_rises_with_size_and_width(s1, s2, w1, w2, node, cell):
    (sa, sb), (wa, wb) = sorted((s1, s2)), sorted((w1, w2))
    small, big = sram(node, cell, sa, wa), sram(node, cell, sb, wb)
    assert 0 < small.read_pj <= big.read_pj and 0 < small.write_pj <= big.write_pj
    assert small.leakage_uw > 0 and small.cycle_time_ns > 0


def test_computed_points_and_between_them():
    """At a computed point the table's own numbers; between two sizes, between them."""
    r8, r16 = raw(45, "itrs-lop", 8192, 64), raw(45, "itrs-lop", 16384, 64)
    c = sram(45, "itrs-lop", 8192, 64)
    assert (c.read_pj, c.write_pj, c.leakage_uw) == (r8["read_pj"], r8["write_pj"],
                                                     r8["leakage_uw"])
    mid = sram(45, "itrs-lop", math.sqrt(8192 * 16384), 64)  # the log-midpoint
    c16 = sram(45, "itrs-lop", 16384, 64)
    assert c16.read_pj >= r16["read_pj"]  # the running maximum only ever raises a point
    assert c.read_pj <= mid.read_pj <= c16.read_pj
    assert mid.read_pj == pytest.approx(math.sqrt(c.read_pj * c16.read_pj), rel=1e-9)


def test_writes_are_not_reads():
    """CACTI: an 8 KiB array's 16-bit write costs ~1.4x its read (1.45x raw; the 16-bit read
    is raised to the 8-bit one's by the running maximum), an 8-bit one ~0.8x."""
    w16, w8 = sram(45, "itrs-lop", 8192, 16), sram(45, "itrs-lop", 8192, 8)
    assert w16.write_pj / w16.read_pj == pytest.approx(1.39, abs=0.05)
    assert w8.write_pj / w8.read_pj == pytest.approx(0.82, abs=0.05)


def test_nodes_computed_interpolated_and_extrapolated():
    at22, at32 = sram(22, "itrs-lop", 8192, 64), sram(32, "itrs-lop", 8192, 64)
    at28 = sram(28, "itrs-lop", 8192, 64)
    assert "interpolated" in at28.note
    assert min(at22.read_pj, at32.read_pj) <= at28.read_pj <= max(at22.read_pj, at32.read_pj)
    at7 = sram(7, "itrs-lop", 8192, 64, 1, 0.094)
    assert at7.read_pj == pytest.approx(at22.read_pj * 0.094 / 0.317)
    assert "extrapolated" in at7.note
    assert at22.note == "CACTI 22 nm"


@pytest.mark.parametrize(("args", "words"), [
    ((45, "itrs-lop", 32, 64), "outside what CACTI models"),       # under 32 words
    ((45, "itrs-lop", 1 << 30, 64), "outside what CACTI models"),  # 1 GiB
    ((45, "itrs-lop", 8192, 2048), "outside the CACTI table's widths"),
    ((5, "itrs-lop", 8192, 64), "extrapolating needs the node's logic-energy scale"),
    ((180, "itrs-lop", 8192, 64), "above the CACTI table's nodes"),
    ((45, "itrs-xx", 8192, 64), "unknown cell type")])
def test_what_the_table_cannot_price_is_refused(args, words):
    with pytest.raises(MemoryModelError, match=words):
        sram(*args)


def test_a_banked_buffer_costs_more_than_its_lone_bank():
    """An access to one bank of a banked memory includes the routing to that bank."""
    lone, banked = sram(45, "itrs-lop", 1 << 17, 64), sram(45, "itrs-lop", 1 << 21, 64, 16)
    assert banked.read_pj > 2 * lone.read_pj


# ------------------------------------------------------------------------- port-limited timing
@settings(max_examples=100, deadline=None)
@given(pe_bits=st.floats(0, 1e9), glb_bits=st.floats(0, 1e8), ports=st.integers(1, 4),
       width=st.sampled_from([16, 32, 64, 128]), per_pe=st.lists(st.integers(1, 50), min_size=1,
                                                                  max_size=16),
       macs=st.integers(0, 10**7), T=st.integers(1, 8))
def test_a_layer_takes_at_least_its_busiest_pe_sram_words_over_the_ports(
        pe_bits, glb_bits, ports, width, per_pe, macs, T):
    arch = load_arch("45nm", {"pe_array": {"sram_ports": ports, "sram_width_bits": width}})
    lm = SimpleNamespace(neurons_per_pe=tuple(per_pe), outputs=sum(per_pe))
    t = E.Traffic({"register": 0.0, "pe_sram": pe_bits, "glb": glb_bits, "dram": 0.0})
    words = pe_bits * max(per_pe) / sum(per_pe) / width
    ann, why, _ = E.ann_cycles(arch, SimpleNamespace(ann_macs=macs), lm, t, with_bound=True)
    assert ann >= words / ports
    assert ann >= glb_bits / arch.global_buffer.bandwidth_bits_per_cycle
    lc = SimpleNamespace(T=T, pe_work=__import__("numpy").zeros((T, 1)), pe_neurons=[0],
                         neuron=None, per_image=lambda a: a)
    snn = E.snn_cycles(arch, lc, lm, t)
    assert snn >= words / ports
    if words / ports > max(macs * max(per_pe) / sum(per_pe) / 8 + 1,
                           glb_bits / arch.global_buffer.bandwidth_bits_per_cycle):
        assert why == "pe_sram"

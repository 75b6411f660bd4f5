"""Architecture configs: spec resolution, inheritance, every schema key validated, Horowitz
numbers, node scaling, the SRAM and operation-width models."""

import copy
import csv
import math
import re
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from arch_configs import CONFIG_DIR, ConfigError, key_table, list_configs, load_arch
from arch_configs.memory import LOGIC_SCALE_22NM

ROOT = Path(__file__).resolve().parents[1]
BASE = yaml.safe_load((CONFIG_DIR / "45nm.yaml").read_text())
SCALES = {"32nm": 0.66, "16nm": 0.17, "7nm": 0.094}


def write_tmp(data) -> Path:
    """``data`` as a YAML file in a fresh temporary folder (for tests without tmp_path)."""
    return write(Path(tempfile.mkdtemp()), data)


def write(tmp_path, data, name="chip.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False))
    return p


def leaves(d, path=""):
    """(dotted path, value) of every scalar in a parsed config."""
    items = d.items() if isinstance(d, dict) else ((f"[{i}]", v) for i, v in enumerate(d))
    for k, v in items:
        p = f"{path}{k}" if str(k).startswith("[") else (f"{path}.{k}" if path else k)
        if isinstance(v, dict | list):
            yield from leaves(v, p)
        else:
            yield p, v


def mappings(d, path=""):
    """(dotted path, dict) of every mapping in a parsed config, the root included."""
    if isinstance(d, dict):
        yield path, d
        for k, v in d.items():
            yield from mappings(v, f"{path}.{k}" if path else k)
    elif isinstance(d, list):
        for i, v in enumerate(d):
            yield from mappings(v, f"{path}[{i}]")


def edit(data, path, fn):
    """Apply ``fn(container, key)`` at a dotted path (with [i] indices) of a deep copy."""
    data = copy.deepcopy(data)
    keys = [int(k[1:-1]) if k.startswith("[") else k
            for k in re.findall(r"\[\d+\]|[^.\[\]]+", path)]
    node = data
    for k in keys[:-1]:
        node = node[k]
    fn(node, keys[-1])
    return data


def expect_error(tmp_path, data, *fragments) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as e:
        load_arch(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert path.name in msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


# --- finding configs ---------------------------------------------------------------------------

@pytest.mark.parametrize("cwd", ["root", "elsewhere"])
def test_every_spec_form_finds_the_packaged_file(cwd, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT if cwd == "root" else tmp_path)
    ref = load_arch(CONFIG_DIR / "45nm.yaml")
    for spec in ("45nm", "45nm.yaml", "configs/45nm.yaml", "arch_configs/45nm.yaml",
                 str(CONFIG_DIR / "45nm.yaml")):
        assert load_arch(spec) == ref, spec


def test_every_packaged_config_loads():
    names = list_configs()
    assert {"45nm", "32nm", "16nm", "7nm"} <= set(names)
    for name in names:
        arch = load_arch(name)
        assert arch.name == name
        assert arch.leakage_w > 0
        assert arch.description


def test_unknown_config_names_the_packaged_ones():
    with pytest.raises(ConfigError, match=r"'44nm' not found.*packaged configs: .*45nm"):
        load_arch("44nm")


# --- the reference numbers ---------------------------------------------------------------------

def test_45nm_reproduces_horowitz():
    a = load_arch("45nm")
    assert a.node_nm == 45 and a.node_scale == 1.0
    for bits, pj in ((8, 0.03), (16, 0.05), (32, 0.1)):
        assert a.op_energy_pj("add", bits, "int") == pytest.approx(pj)
    assert a.op_energy_pj("mult", 8, "int") == pytest.approx(0.2)
    assert a.op_energy_pj("mult", 32, "int") == pytest.approx(3.1)
    for op, bits, pj in (("add", 16, 0.4), ("add", 32, 0.9), ("mult", 16, 1.1),
                         ("mult", 32, 3.7), ("mac", 32, 4.6)):
        assert a.op_energy_pj(op, bits, "fp") == pytest.approx(pj)
    assert a.paper_mac_pj == pytest.approx(4.6) and a.paper_ac_pj == pytest.approx(0.9)
    assert a.paper_mac_pj == pytest.approx(a.op_energy_pj("mac", 32, "fp"))
    table = load_arch(write_tmp(TABLE))  # the explicit Horowitz SRAM table still prices
    for size, pj in ((8 * 1024, 10), (32 * 1024, 20), (1024 * 1024, 100)):
        assert table.sram_access_pj(size, 64) == pytest.approx(pj)
    assert table.access_pj("pe_sram", 16, "write") == pytest.approx(2.5)
    assert a.dram_pj_per_bit == pytest.approx(1300 / 64, rel=1e-3)
    assert a.op_energy_pj("add", 16) == a.op_energy_pj("add", 16, "int")  # int datapath


def cacti_row(node, cell, size, width, banks=1) -> dict:
    """A row of the committed CACTI table, read here without the loader's code."""
    with open(CONFIG_DIR / "cacti_sram.csv") as f:
        rows = [r for r in csv.DictReader(f) if (int(r["node_nm"]), r["cell_type"],
                int(r["size_bytes"]), int(r["width_bits"]), int(r["banks"]))
                == (node, cell, size, width, banks)]
    assert len(rows) == 1
    return {k: float(v) for k, v in rows[0].items() if k != "cell_type"}


def test_shipped_srams_are_cactis_numbers():
    """The 45 nm chip's PE SRAM (8 KiB, 64-bit words) and GLB (2 MiB in 16 banks, 64-bit)
    are priced with the table's own rows: a 64-bit operand pays one word, a 16-bit one a
    quarter; reads and writes differ where CACTI says so; leakage is CACTI's."""
    a = load_arch("45nm")
    pe, glb = cacti_row(45, "itrs-lop", 8192, 64), cacti_row(45, "itrs-lop", 1 << 21, 64, 16)
    for level, row in (("pe_sram", pe), ("glb", glb)):
        assert a.access_pj(level, 64, "read") == pytest.approx(row["read_pj"], rel=1e-9)
        assert a.access_pj(level, 64, "write") == pytest.approx(row["write_pj"], rel=1e-9)
        assert a.access_pj(level, 16, "read") == pytest.approx(row["read_pj"] / 4, rel=1e-9)
    assert a.access_pj("glb", 64, "read") != a.access_pj("glb", 64, "write")
    logic = a.pes * a.technology.leakage.pe_uw.value
    assert a.leakage_w == pytest.approx(
        (logic + a.pes * pe["leakage_uw"] + glb["leakage_uw"]) * 1e-6, rel=1e-9)
    assert a.memory_notes() == {"pe_sram": "CACTI 45 nm", "glb": "CACTI 45 nm"}


def test_hierarchy_costs_grow_outward():
    a = load_arch("45nm")
    costs = [a.access_pj(level, 16) for level in ("register", "pe_sram", "glb", "dram")]
    assert costs == sorted(costs) and len(set(costs)) == 4
    with pytest.raises(ValueError, match="unknown memory level"):
        a.access_pj("l3", 16)


@pytest.mark.parametrize("name", sorted(SCALES))
def test_node_scaling(name):
    ref, a, f = load_arch("45nm"), load_arch(name), SCALES[name]
    assert a.node_scale == f
    assert a.node_nm == int(name[:-2])
    for op in ("add", "mult", "mac", "compare", "shift"):
        for kind in ("int", "fp"):
            for bits in (1, 4, 8, 12, 16, 24, 32, 64):
                assert a.op_energy_pj(op, bits, kind) == pytest.approx(
                    f * ref.op_energy_pj(op, bits, kind), rel=1e-12)
    assert a.access_pj("register", 16) == pytest.approx(f * ref.access_pj("register", 16))
    # SRAM: CACTI at the node; below its 22 nm, 22 nm times the logic-energy ratio
    node = a.node_nm
    base, g = (node, 1.0) if node >= 22 else (22, f / LOGIC_SCALE_22NM)
    pe = cacti_row(base, "itrs-lop", 8192, 64)
    assert a.access_pj("pe_sram", 64, "write") == pytest.approx(g * pe["write_pj"], rel=1e-9)
    assert ("extrapolated" in a.memory_notes()["pe_sram"]) == (node < 22)
    # wires: their own factor, V^2 and hop length
    ws = a.technology.wire_scale.value
    assert ws == pytest.approx((0.8 / 0.9) ** 2 * node / 45, abs=1e-3)
    assert a.noc_hop_pj(64) == pytest.approx(ws * ref.noc_hop_pj(64))
    assert a.clock_pj_per_cycle == pytest.approx(f * ref.clock_pj_per_cycle)
    assert a.leak_pj() == pytest.approx(f * ref.leak_pj())
    assert a.paper_mac_pj == pytest.approx(f * 4.6)
    assert a.dram_pj_per_bit == ref.dram_pj_per_bit  # an off-chip part: not node-scaled
    assert a.pes == ref.pes and a.precision == ref.precision  # the same chip otherwise


def test_leak_policy_prices_multiply_or_shift_add():
    mult = load_arch("45nm")
    shift = load_arch("45nm", overrides={"policy": {"leak": "shift"}})
    b = mult.precision.membrane_bits
    assert mult.leak_pj() == pytest.approx(mult.op_energy_pj("mult", b))
    assert shift.leak_pj() == pytest.approx(shift.op_energy_pj("shift", b)
                                            + shift.op_energy_pj("add", b))
    assert shift.leak_pj() < mult.leak_pj()


def test_fp32_config_is_the_papers_arithmetic():
    a = load_arch("45nm_fp32")
    assert a.precision.datapath == "fp" and a.precision.membrane_bits == 32
    assert a.op_energy_pj("mac", 32) == pytest.approx(4.6)
    assert a.op_energy_pj("add", 32) == pytest.approx(0.9)


@settings(max_examples=60, deadline=None)
@given(op=st.sampled_from(["add", "mult", "compare", "shift", "mac"]),
       kind=st.sampled_from(["int", "fp"]), a=st.integers(1, 128), b=st.integers(1, 128))
def test_operation_energy_grows_with_width(op, kind, a, b):
    arch = load_arch("45nm")
    lo, hi = sorted((a, b))
    assert 0 < arch.op_energy_pj(op, lo, kind) <= arch.op_energy_pj(op, hi, kind)


def test_widths_between_rows_interpolate_and_beyond_scale():
    a = load_arch("45nm")
    m16 = a.op_energy_pj("mult", 16, "int")
    assert 0.2 < m16 < 3.1
    assert m16 == pytest.approx(math.sqrt(0.2 * 3.1))  # log-log midpoint of 8 and 32 bits
    assert a.op_energy_pj("mult", 64, "int") == pytest.approx(3.1 * 4)  # square beyond 32
    assert a.op_energy_pj("add", 4, "int") == pytest.approx(0.03 / 2)  # linear below 8


@settings(max_examples=60, deadline=None)
@given(s1=st.integers(64, 1 << 26), s2=st.integers(64, 1 << 26), bits=st.integers(1, 256))
def test_table_sram_energy_grows_with_size_and_is_linear_in_width(s1, s2, bits):
    a = load_arch(write_tmp(TABLE))
    lo, hi = sorted((s1, s2))
    assert 0 < a.sram_access_pj(lo, bits) <= a.sram_access_pj(hi, bits)
    assert a.sram_access_pj(hi, bits) == pytest.approx(a.sram_access_pj(hi, 1) * bits)


# --- inheritance -------------------------------------------------------------------------------

def test_inherit_and_override(tmp_path):
    child = write(tmp_path, {"inherits": "45nm.yaml", "pe_array": {"count": 256},
                             "clock_hz": {"value": 1e9, "source": "test"}})
    a, ref = load_arch(child), load_arch("45nm")
    assert a.pes == 256 and a.pe_array.sram_bytes == ref.pe_array.sram_bytes
    assert a.frequency_hz == 1e9 and a.clock_hz.source == "test"
    assert a.technology == ref.technology and a.name == "chip"
    assert a.description == ""  # descriptions are not inherited
    assert load_arch("45nm", overrides={"pe_array": {"count": 256}}).pes == 256


def test_inherits_relative_to_the_file_first(tmp_path):
    write(tmp_path, edit(BASE, "pe_array.count", lambda d, k: d.__setitem__(k, 7)), "45nm.yaml")
    child = write(tmp_path, {"inherits": "45nm.yaml"}, "mine.yaml")
    assert load_arch(child).pes == 7


def test_yaml_12_floats(tmp_path):
    child = tmp_path / "c.yaml"
    child.write_text("inherits: 45nm\nclock_hz: {value: 8e8, source: test}\n")
    assert load_arch(child).frequency_hz == 8e8


def test_a_sourced_override_needs_its_own_source(tmp_path):
    expect_error(tmp_path, {"inherits": "45nm", "clock_hz": {"value": 8e8}},
                 "clock_hz", "expected {value: a number > 0, source: a string}")


def test_error_names_the_file_that_set_the_key(tmp_path):
    bad = write(tmp_path, edit(BASE, "noc.link_bits", lambda d, k: d.__setitem__(k, "wide")),
                "parent.yaml")
    child = write(tmp_path, {"inherits": bad.name, "pe_array": {"count": 64}}, "child.yaml")
    with pytest.raises(ConfigError, match=r"/parent\.yaml: noc\.link_bits: expected an integer"):
        load_arch(child)
    child.write_text("inherits: 45nm\npe_array: {count: -4}\n")
    with pytest.raises(ConfigError, match=r"/child\.yaml: pe_array\.count: expected an integer"):
        load_arch(child)


def test_inheritance_cycle(tmp_path):
    (tmp_path / "a.yaml").write_text("inherits: b.yaml\n")
    (tmp_path / "b.yaml").write_text("inherits: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle \(a.yaml -> b.yaml -> a.yaml\)"):
        load_arch(tmp_path / "a.yaml")


# --- every key validated -----------------------------------------------------------------------

LEAVES = list(leaves(BASE))
MAPPINGS = list(mappings(BASE))
SOURCED = {p for p, d in MAPPINGS if set(d) == {"value", "source"}}
DEFAULTED = ("description", "policy.dataflow", "pe_array.sram_width_bits", "pe_array.sram_ports",
             "global_buffer.width_bits")
REQUIRED = list(dict.fromkeys(  # a {value, source} pair is one key
    p.rsplit(".", 1)[0] if p.rsplit(".", 1)[0] in SOURCED else p
    for p, _ in LEAVES if p not in DEFAULTED))
# keys only a `technology.memory.model: table` config sets (TABLE below)
TABLE_ONLY = {"technology.energy.sram[].size_bytes", "technology.energy.sram[].bits",
              "technology.energy.sram[].pj", "technology.energy.sram[].source",
              "technology.leakage.sram_uw_per_kib"}
HOROWITZ_SRAM = [{"size_bytes": s, "bits": 64, "pj": pj, "source": "Horowitz ISSCC 2014"}
                 for s, pj in ((8192, 10.0), (32768, 20.0), (1 << 20, 100.0))]
TABLE = {"inherits": "45nm.yaml", "technology": {
    "memory": {"model": "table"}, "energy": {"sram": HOROWITZ_SRAM},
    "leakage": {"sram_uw_per_kib": {"value": 1.0, "source": "assumption"}}}}


def test_the_default_config_sets_every_schema_key():
    """So that the parametrised tests below reach every key of the schema."""
    leaf_keys = {p for p, e, *_ in key_table()
                 if not e.startswith(("a mapping", "a non-empty list of mappings"))}
    assert {re.sub(r"\[\d+\]", "[]", p) for p in REQUIRED} | set(DEFAULTED) | TABLE_ONLY \
        == leaf_keys


def _wrong(value):
    return [1, 2] if isinstance(value, str) else "lots"


# (case, edits): each edit is (key path to report, path to change, how), one config per edit.
CASES = {
    "wrong type": [(p, p, lambda d, k: d.__setitem__(k, _wrong(d[k]))) for p, _ in LEAVES],
    "negative": [(p, p, lambda d, k: d.__setitem__(k, -1))
                 for p, v in LEAVES if isinstance(v, int | float)],
    "unknown key": [(f"{p}.bogus" if p else "bogus", f"{p}.bogus" if p else "bogus",
                     lambda d, k: d.__setitem__(k, 1)) for p, _ in MAPPINGS],
    "missing key": [(p, p, lambda d, k: d.pop(k)) for p in REQUIRED],
}
EXPECT = {"wrong type": "expected ", "negative": "expected ",
          "unknown key": "unknown key; expected one of ", "missing key": "missing key; expected "}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_key_is_validated(tmp_path, case):
    """One line naming the file, the key path and what was expected, for every key."""
    for key, path, how in CASES[case]:
        expect_error(tmp_path, edit(BASE, path, how), f"{key}: {EXPECT[case]}")


@pytest.mark.parametrize("path,bad", [("pe_array.count", True), ("pe_array.count", 1.5),
                                      ("technology.node_nm.value", 45.5),
                                      ("clock_hz.value", float("nan")),
                                      ("pe_array.register_bytes", -1),
                                      ("global_buffer.size_bytes", 0),
                                      ("policy.membrane_level", "l2"),
                                      ("policy.weight_level", "register"),
                                      ("policy.dataflow", "ws"),
                                      ("policy.dataflow", "os/time_batched"),
                                      ("technology.energy.ops", []),
                                      ("technology.energy", [1]),
                                      ("precision.source", "  ")])
def test_edge_values(tmp_path, path, bad):
    expect_error(tmp_path, edit(BASE, path, lambda d, k: d.__setitem__(k, bad)),
                 f"{path}: expected ")


def test_register_file_may_be_absent():
    assert load_arch("45nm", overrides={"pe_array": {"register_bytes": 0}}).pe_array \
        .register_bytes == 0


def test_cross_field_checks(tmp_path):
    ops = BASE["technology"]["energy"]["ops"]
    dup = edit(BASE, "technology.energy.ops", lambda d, k: d[k].append(dict(ops[0])))
    expect_error(tmp_path, dup, f"technology.energy.ops[{len(ops)}]: expected one row per")
    no_fp_shift = edit(BASE, "technology.energy.ops", lambda d, k: d.__setitem__(
        k, [r for r in ops if not (r["op"] == "shift" and r["kind"] == "fp")]))
    expect_error(tmp_path, no_fp_shift, "technology.energy.ops: expected rows", "fp shift")
    one_size = dict(TABLE, technology={**TABLE["technology"],
                                       "energy": {"sram": HOROWITZ_SRAM[:1]}})
    expect_error(tmp_path, one_size, "technology.energy.sram: expected points of at least 2")
    no_table = dict(TABLE, technology={"memory": {"model": "table"}})
    expect_error(tmp_path, no_table, "technology.memory.model: expected cacti, or "
                 "technology.energy.sram set")
    both = dict(TABLE, technology={"energy": {"sram": HOROWITZ_SRAM}})
    expect_error(tmp_path, both, "technology.energy.sram: expected no value with "
                 "technology.memory.model: cacti")
    cell = edit(BASE, "technology.memory", lambda d, k: d[k].update(cell_type="itrs-xx"))
    expect_error(tmp_path, cell, "technology.memory.cell_type: expected one of 'itrs-lop'")
    tiny = edit(BASE, "pe_array", lambda d, k: d[k].update(sram_bytes=32))
    expect_error(tmp_path, tiny, "pe_array.sram_bytes: expected a memory the CACTI table models")
    wide = edit(BASE, "global_buffer", lambda d, k: d[k].update(width_bits=2048))
    expect_error(tmp_path, wide, "global_buffer.width_bits: expected an integer > 0 and <= 1024")
    ports = edit(BASE, "pe_array", lambda d, k: d[k].update(sram_ports=-1))
    expect_error(tmp_path, ports, "pe_array.sram_ports: expected an integer > 0")
    banks = edit(BASE, "global_buffer", lambda d, k: d[k].update(size_bytes=8, banks=16))
    expect_error(tmp_path, banks, "global_buffer.banks: expected at most size_bytes")


@pytest.mark.parametrize("text,fragment", [
    ("pe_array: [1\n", "invalid YAML"),
    ("- a\n- b\n", "expected a mapping of config keys, got list"),
    ("inherits: 45nm\npe_array: {count: 1}\npe_array: {count: 2}\n", "duplicate key 'pe_array'"),
    ("inherits: 3\n", "inherits: expected a config file name"),
    ("inherits: nowhere.yaml\n", "inherits: arch config 'nowhere.yaml' not found")])
def test_file_level_errors_are_one_line(tmp_path, text, fragment):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_arch(p)
    assert "\n" not in str(e.value) and "bad.yaml" in str(e.value) and fragment in str(e.value)


def test_docs_list_every_key():
    doc = (ROOT / "docs" / "arch_configs.md").read_text()
    missing = [p for p, *_ in key_table() if f"`{p}`" not in doc]
    assert not missing

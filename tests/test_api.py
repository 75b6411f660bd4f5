"""The Python API (hwsim.api, docs/api.md): the same report as ``hwsim.run --json``, a typed
Report that mirrors the schema and round-trips, the per-layer DataFrame, the CLI's errors,
the package exports, and the walkthrough in docs/api.md run as written."""

import dataclasses
import json
import math
import re
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

import hwsim
from hwsim import api
from hwsim import report_schema as RS
from hwsim.api import ERRORS, Report, ReportError
from hwsim.energy import ANN_PARTS, SNN_PARTS
from hwsim.run import main as cli

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = 8
TIMING = ("seconds", "search_s")  # wall-clock keys: the only ones that differ run to run


def untimed(d):
    """``d`` without its wall-clock keys (at any depth)."""
    if isinstance(d, dict):
        return {k: untimed(v) for k, v in d.items() if k not in TIMING}
    if isinstance(d, list):
        return [untimed(v) for v in d]
    return d


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The bundled model, 8 images, no check: the CLI's JSON file and the API's Report."""
    out = tmp_path_factory.mktemp("api") / "cli.json"
    cli(["--samples", str(SAMPLES), "--no-check", "--quiet", "--json", str(out)])
    return out, api.simulate(samples=SAMPLES, check=False)


def test_api_report_equals_the_cli_json(runs):
    path, rep = runs
    written = json.loads(path.read_text())
    assert untimed(rep.to_dict()) == untimed(written)
    assert rep.model.name == written["model"]["name"] and rep.samples == SAMPLES


def test_to_dict_conforms_and_holds_only_plain_finite_values(runs):
    d = runs[1].to_dict()
    assert RS.validate(d) == []
    bad = []

    def walk(v, path):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{path}.{k}")
        elif isinstance(v, list):
            for i, x in enumerate(v):
                walk(x, f"{path}[{i}]")
        elif type(v) not in (str, int, float, bool, type(None)):
            bad.append((path, type(v).__name__))
        elif type(v) is float and not math.isfinite(v):
            bad.append((path, v))

    walk(d, "")
    assert bad == []
    json.dumps(d, allow_nan=False)


def test_round_trips(runs):
    path, rep = runs
    assert Report.from_dict(rep.to_dict()) == rep
    # a key the schema lets a report lack stays absent; a null one stays null
    d = rep.to_dict()
    del d["seconds"], d["accuracy"]["ann_model"]
    assert Report.from_dict(d).to_dict() == d
    d["accuracy"]["ann_model"] = None
    assert Report.from_dict(d).to_dict() == d
    back = Report.read(path)
    assert back.to_dict() == json.loads(path.read_text())
    assert untimed(back.to_dict()) == untimed(rep.to_dict())
    # numpy scalars (as simulate's raw dict holds) come out as Python numbers
    d = rep.to_dict()
    d["paper"]["ratio"] = np.float64(d["paper"]["ratio"])
    d["mapping"]["spilled_bytes"] = np.int64(d["mapping"]["spilled_bytes"])
    again = Report.from_dict(d)
    assert type(again.paper.ratio) is float and type(again.mapping.spilled_bytes) is int


def test_from_dict_names_the_key_that_does_not_fit(runs, tmp_path):
    good = runs[1].to_dict()
    cases = [
        (lambda d: d["snn"]["energy_pj"].update(mystery=1.0), "snn.energy_pj.mystery"),
        (lambda d: d["layers"][2].update(spike_rate="high"), "layers[2].spike_rate"),
        (lambda d: d["accuracy"].pop("snn"), "accuracy.snn: missing"),
        (lambda d: d["paper"].update(ratio=float("inf")), "paper.ratio: inf"),
        (lambda d: d["mapping"].update(spilled_bytes=1.5), "mapping.spilled_bytes"),
        (lambda d: d["dataflows"]["verdict"].update(energy_ann_over_snn=None),
         "dataflows.verdict.energy_ann_over_snn"),
    ]
    for edit, where in cases:
        d = json.loads(json.dumps(good))
        edit(d)
        with pytest.raises(ReportError, match=re.escape(where)):
            Report.from_dict(d)
    p = tmp_path / "r.json"
    p.write_text("{not json")
    with pytest.raises(ReportError, match="r.json: not a JSON report"):
        Report.read(p)
    with pytest.raises(FileNotFoundError, match="no such report file"):
        Report.read(tmp_path / "none.json")


def test_the_dataclasses_mirror_the_schema():
    """Every record has exactly the keys of its schema object, a default exactly for the keys
    the schema lets a report lack; the energy records have the simulator's parts."""
    seen = set()

    def check(cls, node, path):
        seen.add(cls)
        keys = [f for f in dataclasses.fields(cls) if f.name != "_absent"]
        names = [f.name for f in keys]
        assert names == list(node["properties"]), path  # the schema's order
        required = {f.name for f in keys if f.default is dataclasses.MISSING
                    and f.default_factory is dataclasses.MISSING}
        assert required == set(node.get("required", [])), path
        hints = typing.get_type_hints(cls)
        for name in names:
            tp, sub = hints[name], node["properties"][name]
            args = [a for a in typing.get_args(tp) if a not in (type(None), Ellipsis)]
            inner = args[-1] if args else tp
            if dataclasses.is_dataclass(inner):
                if typing.get_origin(tp) is tuple:
                    check(inner, sub["items"], f"{path}.{name}[]")
                elif typing.get_origin(tp) is dict:
                    check(inner, sub["additionalProperties"], f"{path}.{name}.<name>")
                else:
                    check(inner, sub, f"{path}.{name}")

    check(Report, RS.schema(), "")
    for cls, parts in ((api.SnnEnergy, SNN_PARTS), (api.AnnEnergy, ANN_PARTS)):
        assert [f.name for f in dataclasses.fields(cls) if f.name != "_absent"] == \
            [*parts, "total"]
    assert seen == set(api._Record.__subclasses__())  # every record is checked


def test_dataframe_is_the_layer_table(runs):
    rep = runs[1]
    df = rep.to_dataframe()
    assert list(df.index) == [lay.name for lay in rep.layers]
    scalars = [f.name for f in dataclasses.fields(api.Layer) if f.name not in (
        "_absent", "name", "acs_per_step", "spikes_per_step", "energy_pj", "ann_energy_pj")]
    assert list(df.columns) == scalars + [f"energy_{p}_pj" for p in (*SNN_PARTS, "total")] \
        + [f"ann_energy_{p}_pj" for p in (*ANN_PARTS, "total")]
    for lay in rep.layers:
        row = df.loc[lay.name]
        assert row["energy_total_pj"] == lay.energy_pj.total
        assert row["ann_energy_dram_pj"] == lay.ann_energy_pj.dram
        assert row["snn_acs"] == lay.snn_acs and row["cycles"] == lay.cycles
    assert math.isclose(df["energy_total_pj"].sum(), rep.snn.energy_pj.total, rel_tol=1e-12)


@pytest.mark.parametrize("argv, kwargs", [
    (["--samples", "0"], {"samples": 0}),
    (["--samples", "5000"], {"samples": 5000}),
    (["--timesteps", "0"], {"timesteps": 0}),
    (["--batch-size", "0"], {"batch_size": 0}),
    (["--pes", "0"], {"pes": 0}),
    (["--arch", "3nm"], {"arch": "3nm"}),
    (["--dataflow", "fastest"], {"dataflow": "fastest"}),
    (["--model", "no/such.pt"], {"model": "no/such.pt"}),
    (["--data", "no/such/folder"], {"data": "no/such/folder"}),
])
def test_errors_are_the_clis(argv, kwargs, capsys):
    with pytest.raises(SystemExit) as e:
        cli(argv + ["--quiet"])
    assert e.value.code == 2
    line = capsys.readouterr().err.strip()
    with pytest.raises(ERRORS) as raised:
        api.simulate(**kwargs)
    assert line == f"error: {raised.value}"
    assert "\n" not in str(raised.value)


def test_api_only_errors():
    from model.bundled import bundled_sample

    with pytest.raises(ERRORS, match="--objective must be one of energy, latency, edp"):
        api.simulate(objective="speed")
    with pytest.raises(ERRORS, match="pass its name or path to apply pe_array.count"):
        api.simulate(arch=hwsim.load_arch("45nm"), pes=64)
    with pytest.raises(ERRORS, match="expected a path, a model.data.ArraySet"):
        api.simulate(data=[1, 2, 3])
    ds = bundled_sample()
    with pytest.raises(ERRORS, match="--samples 2000 but the data has only 1000"):
        api.simulate(data=ds, samples=2000)


def test_objects_give_the_same_report_as_paths(runs):
    """A Checkpoint, an ArchConfig and a dataset in memory: the report of the paths."""
    from model import load_checkpoint
    from model.bundled import bundled_model_path, bundled_sample

    rep = hwsim.simulate(load_checkpoint(bundled_model_path()), hwsim.load_arch("45nm"),
                         bundled_sample(), SAMPLES, check=False)
    want = untimed(runs[1].to_dict())
    want["model"]["name"] = ""
    assert untimed(rep.to_dict()) == want


def test_exports():
    import hwsim.simulate as engine
    from hwsim import simulate

    assert simulate is engine and callable(simulate)  # the module, callable as the API
    assert engine.SimOptions is not None and hwsim.Report is Report
    assert list(__import__("inspect").signature(simulate).parameters)[:4] == \
        ["model", "arch", "data", "samples"]
    import model
    from model import load_checkpoint
    from model.checkpoint import load

    assert load_checkpoint is load and "load_checkpoint" in dir(model)
    with pytest.raises(AttributeError):
        model.no_such_thing  # noqa: B018
    code = ("import sys, model, hwsim.run; "
            "print(sorted(m for m in ('nir', 'h5py') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_from_nir_and_to_nir_are_model_nir():
    nir_module = pytest.importorskip("model.nir")
    from model import from_nir, to_nir

    assert from_nir is nir_module.from_nir and to_nir is nir_module.to_nir


def test_docs_api_runs_as_written(tmp_path, monkeypatch, capsys):
    """The ```python blocks of docs/api.md, in order, with 8 images instead of 200."""
    text = (ROOT / "docs" / "api.md").read_text()
    code = "\n".join(re.findall(r"```python\n(.*?)```", text, re.S))
    code, n = re.subn(r"^SAMPLES = \d+", f"SAMPLES = {SAMPLES}", code, flags=re.M)
    assert n == 1
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    exec(compile(code, "docs/api.md", "exec"), {"__name__": "docs_api"})
    out = capsys.readouterr().out
    assert "wins" in out and (tmp_path / "energy_per_layer.png").stat().st_size > 1000
    assert (tmp_path / "report.json").is_file()


def test_write_json_writes_plain_numbers_and_refuses_nan(tmp_path):
    from hwsim.report import write_json

    d = {"a": np.float32(1.5), "b": np.int64(3), "c": np.bool_(True), "d": np.float64(0.1)}
    assert json.loads(write_json(d, tmp_path / "ok.json").read_text()) == \
        {"a": 1.5, "b": 3, "c": True, "d": 0.1}
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_json({"ratio": float("inf")}, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_break_even_agrees_with_the_report(runs):
    """break_even's own pass gives the report's spike rate and energies; its factor is
    below 1 exactly when the SNN loses at the measured rate."""
    rep = runs[1]
    b = api.break_even(samples=SAMPLES, dataflow="scatter")  # scatter: a quick mapper
    assert b.snn == "scatter" and b.ann == rep.dataflows.best.ann
    assert b.measured_spike_rate == pytest.approx(rep.snn.mean_spike_rate, rel=1e-12)
    assert b.snn_energy_pj == pytest.approx(rep.dataflows.snn["scatter"].energy_pj.total,
                                            rel=1e-12)
    assert b.ann_energy_pj == min(f.energy_pj.total for f in rep.dataflows.ann.values())
    assert b.factor is not None and (b.factor < 1) == (not b.snn_wins)
    assert b.spike_rate == b.factor * b.measured_spike_rate
    with pytest.raises(ERRORS, match="expected an SNN dataflow, one of scatter, os"):
        api.break_even(samples=SAMPLES, dataflow="rs_skip")

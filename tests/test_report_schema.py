"""The report contract (docs/report.md): real reports validate against the shipped JSON Schema,
the schema rejects what it should, every CSV column and sweep column is documented, and the
page is current."""

import copy
import csv

import pytest

from hwsim import report_schema as RS
from hwsim.report import write_csv
from hwsim.sweep_results import COLUMNS
from tests.test_hwsim import sim, tiny  # noqa: F401 (the fixture)


@pytest.fixture(scope="module")
def reports(tiny):  # noqa: F811
    return {"full": sim(*tiny, dataflow="best"), "paper": sim(*tiny, energy_mode="paper"),
            "scatter, 7nm": sim(*tiny, arch="7nm", dataflow="scatter")}


def test_real_reports_conform(reports):
    for name, rep in reports.items():
        assert RS.validate(rep) == [], name


def test_the_schema_can_fail(reports):
    rep = copy.deepcopy(reports["full"])
    rep["snn"]["energy_pj"]["mystery"] = 1.0  # an undocumented key
    rep["layers"][0]["spike_rate"] = "high"  # a wrong type
    del rep["accuracy"]["snn"]  # a missing key
    errors = "\n".join(RS.validate(rep))
    assert "mystery" in errors and "'high'" in errors and "'snn' is a required" in errors


def test_every_csv_column_is_documented(reports, tmp_path):
    for path in write_csv(reports["full"], tmp_path):
        with open(path) as f:
            header = next(csv.reader(f))
        assert header == list(RS.CSV_FILES[path.name]), path.name
    assert list(RS.SWEEP_COLUMNS) == COLUMNS


def test_docs_report_is_current():
    assert RS.DOC_PATH.read_text() == RS.render(), \
        "docs/report.md is stale: run python -m hwsim.report_schema --docs"

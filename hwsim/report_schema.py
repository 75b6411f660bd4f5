"""The report contract: the JSON Schema of the ``hwsim.run`` report (``report_schema.json``,
shipped with the package) and the meaning and unit of every CSV column the tools write.
``docs/report.md`` is generated from both (``python -m hwsim.report_schema --docs``); a test
checks that real reports validate and that the page is current."""

from __future__ import annotations

import argparse
import functools
import json
from pathlib import Path

from .energy import ANN_PARTS, SNN_PARTS

SCHEMA_PATH = Path(__file__).with_name("report_schema.json")
DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "report.md"


@functools.cache
def schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def validate(report: dict) -> list[str]:
    """Every way ``report`` breaks the schema, one line each (empty: it conforms)."""
    import jsonschema

    v = jsonschema.Draft202012Validator(schema())
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(v.iter_errors(report), key=lambda e: list(map(str, e.path)))]


def key_rows(node: dict | None = None, path: str = "") -> list[tuple[str, str, str, str]]:
    """(key path, type, unit, meaning) for every key of the schema, depth first; ``<name>``
    stands for a dataflow or pair name, ``[]`` for the items of a list."""
    node = schema() if node is None else node
    rows = []
    for key, sub in node.get("properties", {}).items():
        p = f"{path}.{key}" if path else key
        rows.append((p, _type(sub), sub.get("unit", ""), sub.get("description", "")))
        rows += _children(sub, p)
    return rows


def _children(sub: dict, p: str) -> list:
    if sub.get("type") == "array" and isinstance(sub.get("items"), dict):
        items = sub["items"]
        return key_rows(items, p + "[]") if "properties" in items else []
    extra = sub.get("additionalProperties")
    if isinstance(extra, dict) and "properties" in extra:
        rows = [(f"{p}.<name>", "object", "", extra.get("description", ""))]
        return rows + key_rows(extra, f"{p}.<name>")
    return key_rows(sub, p) if "properties" in sub else []


def _type(sub: dict) -> str:
    t = sub.get("type", "object")
    t = " or ".join(x for x in t) if isinstance(t, list) else t
    if "enum" in sub:
        t += " (" + ", ".join("null" if e is None else f"`{e}`" for e in sub["enum"] if e != "")
        t += ")"
    return t


# ------------------------------------------------------------------------- CSV columns
def _parts(prefix: str, suffix: str, parts, side: str) -> dict[str, str]:
    return {f"{prefix}{p}{suffix}": f"{side} energy, part `{p}` (pJ per image)"
            for p in (*parts, "total")}


LAYER_COLUMNS = {  # SNN_LAYERS.csv / ANN_LAYERS.csv: the report's ``layers[]`` keys
    "name": "layer name", "kind": "conv or linear", "neurons": "output neurons",
    "spikes": "spikes over all T, per image", "spike_rate": "spikes per neuron over all T",
    "input_events": "events received over all T, per image",
    "snn_acs": "SNN accumulates, per image", "snn_macs": "SNN MACs (analog layer), per image",
    "membrane_reads": "membrane reads (scatter accounting), per image",
    "membrane_writes": "membrane writes (scatter accounting), per image",
    "weight_reads": "weight reads (scatter accounting), per image",
    "cycles": "the layer's cycles (SNN: over all T; ANN: once), per image",
    "membrane_level": "where its membranes live", "weight_level": "where its weights live",
    "pes_used": "PEs holding its neurons", "pe_load_imbalance": "busiest PE / mean PE work",
    "ann_macs": "the ANN's dense MACs, per image",
}
CSV_FILES = {
    "SNN_LAYERS.csv": {**{k: LAYER_COLUMNS[k] for k in (
        "name", "kind", "neurons", "spikes", "spike_rate", "input_events", "snn_acs", "snn_macs",
        "membrane_reads", "membrane_writes", "weight_reads", "cycles", "membrane_level",
        "weight_level", "pes_used", "pe_load_imbalance")},
        **_parts("energy_", "_pj", SNN_PARTS, "SNN")},
    "ANN_LAYERS.csv": {**{k: LAYER_COLUMNS[k] for k in ("name", "kind", "ann_macs", "cycles",
                                                        "weight_level")},
                       **_parts("energy_", "_pj", ANN_PARTS, "ANN")},
    "SUMMARY.csv": {"quantity": "a name: accuracy_*, snn_energy_<part>, ann_energy_<part>, "
                                "snn_latency(_s), ann_latency(_s), the ratio keys, samples",
                    "value": "its value", "unit": "its unit (pJ/image, cycles/image, ...)"},
    "DATAFLOWS.csv": {
        "side": "snn or ann", "dataflow": "dataflow name", "best": "least energy of its side",
        "headline": "the pair the report headlines", "weights": "weight placement it ran on",
        "latency_cycles": "cycles per image", "latency_s": "seconds per image",
        "search_s": "the mapper's search time, s", "energy_total_pj": "pJ per image",
        "parts_pj": "part=pJ;... per image", "layer_mappings": "layer=tiling;..."},
}
SWEEP_COLUMNS = {  # points.csv of hwsim.sweep (hwsim/sweep_results.COLUMNS)
    "key": "the point's id (hash of chip, T, model, images, options)",
    "model": "model path", "arch": "base config", "timesteps": "T", "pes": "PE count",
    "node": "technology node (e.g. 45nm)", "membrane": "membrane level asked for",
    "dataflow": "the dataflow pair asked for", "samples": "images",
    "snn_dataflow": "SNN dataflow the row's energies are for",
    "ann_dataflow": "ANN dataflow the row's energies are for",
    "best_snn_dataflow": "least-energy SNN dataflow", "best_ann_dataflow":
        "least-energy ANN dataflow",
    "best_energy_ratio": "ANN/SNN energy of the best pair",
    "ann_accuracy": "the ANN baseline's accuracy", "accuracy_snn": "the chip's SNN accuracy",
    "accuracy_reference": "the full-precision model's accuracy",
    "functional_match": "spikes and predictions equal the PyTorch model's",
    "spike_mismatches": "spikes that differ", "prediction_mismatches": "predictions that differ",
    "mean_spike_rate": "spikes per LIF neuron over all T (Eq. 18, weighted by neurons)",
    "snn_energy_pj": "SNN energy, pJ per image", "ann_energy_pj": "ANN energy, pJ per image",
    "energy_ratio": "ANN/SNN energy (the row's pair)",
    "paper_snn_pj": "the paper's formula, SNN, pJ per image",
    "paper_ann_pj": "the paper's formula, ANN, pJ per image",
    "paper_ratio": "the paper's formula, ANN/SNN",
    **{f"snn_{p}_pj": f"SNN energy, part `{p}`, pJ per image" for p in SNN_PARTS},
    **{f"ann_{p}_pj": f"ANN energy, part `{p}`, pJ per image" for p in ANN_PARTS},
    "latency_s": "SNN latency on the SimPy system model, s per image",
    "latency_cycles": "SNN latency on the SimPy system model, cycles per image",
    "system_compute_cycles": "critical path: compute, cycles",
    "system_memory_stall_cycles": "critical path: memory stalls, cycles",
    "system_noc_cycles": "critical path: NoC, cycles",
    "glb_utilisation": "GLB busy / total", "dram_utilisation": "DRAM busy / total",
    "noc_utilisation": "NoC busy / total",
    "compute_bound_cycles": "SimPy with unlimited bandwidth, cycles",
    "sim_latency_cycles": "SNN latency, per-layer model, cycles per image",
    "sim_latency_s": "SNN latency, per-layer model, s per image",
    "ann_latency_cycles": "ANN latency, per-layer model, cycles per image",
    "ann_latency_s": "ANN latency, per-layer model, s per image",
    "ann_system_latency_cycles": "ANN latency on the SimPy model, cycles per image",
    "ann_system_latency_s": "ANN latency on the SimPy model, s per image",
    "schedule": "layer schedule",
    "membrane_levels": "levels the membranes landed at (+-joined)",
    "weight_levels": "levels the weights landed at (+-joined)",
    "on_chip": "everything placed on chip", "spilled_bytes": "bytes spilled outward",
    "row_sha256": "checksum of the row's other cells",
}


def render() -> str:
    """docs/report.md."""
    out = ["# The report contract", "",
           "Generated by `python -m hwsim.report_schema --docs` from `hwsim/report_schema.json`",
           "(the JSON Schema of the report, shipped with the package) and the column lists in",
           "`hwsim/report_schema.py`; `tests/test_report_schema.py` validates real reports",
           "against the schema and fails when this page is stale. Everything is per image",
           "unless stated; energies in pJ, latencies in cycles and seconds.", "",
           "## The JSON report (`hwsim.run --json`)", "",
           "`<name>` is a dataflow name (`os`, `rs_skip`, ...) or a pair (`os/rs_skip`); `[]` the",
           "items of a list.", "", "| key | type | unit | meaning |", "|---|---|---|---|"]
    out += [f"| `{k}` | {t} | {u} | {d} |" for k, t, u, d in key_rows()]
    out += ["", "## CSV files (`hwsim.run --csv DIR`)", ""]
    for name, cols in CSV_FILES.items():
        out += [f"### `{name}`", "", "| column | meaning |", "|---|---|"]
        out += [f"| `{c}` | {d} |" for c, d in cols.items()]
        out.append("")
    out += ["## Sweep rows (`hwsim.sweep`: `points.csv`)", "", "| column | meaning |",
            "|---|---|"]
    out += [f"| `{c}` | {d} |" for c, d in SWEEP_COLUMNS.items()]
    return "\n".join(out) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m hwsim.report_schema", description=__doc__)
    ap.add_argument("--docs", action="store_true", help=f"write {DOC_PATH.name}")
    ap.add_argument("--validate", metavar="REPORT.json", help="check a report against the schema")
    args = ap.parse_args(argv)
    if args.docs:
        DOC_PATH.write_text(render())
        print(f"wrote {DOC_PATH}")
    if args.validate:
        errors = validate(json.loads(Path(args.validate).read_text()))
        print("\n".join(errors) or f"{args.validate}: conforms")
        raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()

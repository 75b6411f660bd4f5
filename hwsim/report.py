"""The simulator's outputs for people and tools: a terminal table, JSON, per-layer CSVs, plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from model.files import atomic_path, write_text
from model.table import render

from .energy import ANN_PARTS, SNN_PARTS


def _eng(pj: float) -> str:
    """Energy with a readable unit (input in pJ)."""
    for unit, f in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= f:
            return f"{pj / f:.2f} {unit}"
    return f"{pj:.1f} pJ"


def _time(seconds: float) -> str:
    """A latency with a readable unit (input in s): s, ms down to 0.1 ms, µs, ns."""
    for unit, f, low in (("s", 1.0, 1.0), ("ms", 1e3, 0.1), ("µs", 1e6, 1.0)):
        if abs(seconds) * f >= low:
            return f"{seconds * f:.3f} {unit}"
    return f"{seconds * 1e9:.1f} ns"


def _num(v: float) -> str:
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= f:
            return f"{v / f:.2f}{unit}"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"


def table(report: dict) -> str:
    """Per layer and total, SNN vs ANN, with the ratio; then accuracy and the verdict."""
    head = ["layer", "spike rate", "SNN MACs", "SNN ACs", "ANN MACs", "SNN energy",
            "ANN energy", "ANN/SNN", "SNN cycles", "bound", "V at", "W at", "SNN tiling",
            "ANN tiling"]
    rows = []
    for r in report["layers"]:
        snn, ann = r["energy_pj"]["total"], r["ann_energy_pj"]["total"]
        rows.append([r["name"], "-" if r["spike_rate"] is None else f"{r['spike_rate']:.3f}",
                     _num(r["snn_macs"]), _num(r["snn_acs"]), _num(r["ann_macs"]),
                     _eng(snn), _eng(ann), f"{ann / snn:.2f}x" if snn else "-",
                     _num(round(r["cycles"])), r.get("snn_bound") or "-",
                     r["membrane_level"] or "-", r["weight_level"],
                     r.get("snn_mapping", "-"), r.get("ann_mapping", "-")])
    s, a = report["snn"], report["ann"]
    rows.append(["total", f"{s['mean_spike_rate']:.3f}",
                 _num(sum(r["snn_macs"] for r in report["layers"])),
                 _num(sum(r["snn_acs"] for r in report["layers"])),
                 _num(sum(r["ann_macs"] for r in report["layers"])),
                 _eng(s["energy_pj"]["total"]), _eng(a["energy_pj"]["total"]),
                 f"{report['ratio']['energy_ann_over_snn_full']:.2f}x",
                 _num(round(s["latency_cycles"])), "", "", "", "", ""])
    return render(head, rows[:-1], align=["left"] + ["right"] * (len(head) - 1),
                  footer=rows[-1])


def dataflow_table(report: dict) -> str:
    """Every dataflow of both sides: energy per image (with its largest parts), latency, and
    the placement it ran on; the headline pair and the best of each side marked."""
    d = report["dataflows"]
    head = ["side", "dataflow", "energy", "largest parts", "cycles", "latency", "weights", ""]
    rows = []
    for side in ("snn", "ann"):
        for name, r in d[side].items():
            e = r["energy_pj"]
            top = sorted((k for k in e if k != "total"), key=lambda k: -e[k])[:2]
            mark = ", ".join(m for m, ok in (("best", d["best"][side] == name),
                                              ("headline", d["selected"][side] == name)) if ok)
            rows.append([side.upper(), name, _eng(e["total"]),
                         ", ".join(f"{k} {_eng(e[k])}" for k in top),
                         _num(round(r["latency_cycles"])), _time(r["latency_s"]),
                         r["weights"], mark])
        for name, why in d["infeasible"][side].items():
            rows.append([side.upper(), name, "-", "does not fit: " + why[:60], "", "", "", ""])
    v = d["verdict"]
    lines = [render(head, rows, align=["left"] * len(head),
                    title=f"dataflows (mapper objective: {d['objective']}; search "
                          f"{d['search_s']:.2f} s for all)")]
    lines.append(f"verdict on this chip: best SNN ({v['snn']}) vs best ANN ({v['ann']}): "
                 f"ANN/SNN energy {v['energy_ann_over_snn']:.2f}x, latency "
                 f"{v['latency_ann_over_snn']:.2f}x -> "
                 + ("the SNN wins" if v["energy_ann_over_snn"] > 1 else "the ANN wins")
                 + " on energy")
    return "\n".join(lines)


def summary(report: dict) -> str:
    m, ar, acc = report["model"], report["arch"], report["accuracy"]
    s, a, p, ratio = report["snn"], report["ann"], report["paper"], report["ratio"]
    parts = lambda e, keys: ", ".join(f"{k} {_eng(e[k])}" for k in keys)  # noqa: E731
    match = acc["functional_match"]
    match_s = ("not checked" if match is None else
               f"{match} ({acc['spike_mismatches']} of {acc['spikes_compared']:,} spikes and "
               f"{acc['prediction_mismatches']} predictions differ)")
    sel = report.get("dataflows", {}).get("selected", {"snn": "scatter", "ann": "scatter"})
    ann_acc = acc.get("ann")
    lines = [
        f"model {m['name'] or m['architecture']} ({m['architecture']}, {m['dataset']}, "
        f"T={m['timesteps']}) on {ar['name']} ({ar['node_nm']} nm, {ar['pes']} PEs, "
        f"{ar['clock_hz'] / 1e6:.0f} MHz, {ar['schedule']}), {report['samples']} images",
        (f"accuracy: simulator {acc['snn']:.4f}, full-precision model "
         f"{'not run' if acc['reference'] is None else format(acc['reference'], '.4f')}, "
         f"ANN ({acc.get('ann_model') or 'same weights, ReLU'}) "
         f"{'not run' if ann_acc is None else format(ann_acc, '.4f')};"
         if acc["snn"] is not None else "accuracy: none (the inputs have no labels);")
        + f" functional_match {match_s}",
        f"headline pair: SNN {sel['snn']} vs ANN {sel['ann']}",
        f"SNN energy/image {_eng(s['energy_pj']['total'])} = {parts(s['energy_pj'], SNN_PARTS)}",
        f"ANN energy/image {_eng(a['energy_pj']['total'])} = {parts(a['energy_pj'], ANN_PARTS)}",
        f"latency/image: SNN {_num(round(s['latency_cycles']))} cycles "
        f"({_time(s['latency_s'])}), ANN {_num(round(a['latency_cycles']))} cycles "
        f"({_time(a['latency_s'])})",
        f"spike rate: {s['mean_spike_rate']:.3f} spikes per LIF neuron over all T "
        f"(the paper's Eq. 18 over the network, weighted by neurons)",
    ]
    full = (f"full model {ratio['energy_ann_over_snn_full']:.2f}x (SNN "
            f"{_eng(s['energy_pj']['total'])} vs ANN {_eng(a['energy_pj']['total'])}, every "
            "operation and access priced on this chip)")
    paper = (f"paper mode {p['ratio']:.2f}x (ANN {_eng(p['ann_pj'])} vs SNN "
             f"{_eng(p['snn_pj'])}: the paper's Table 3, MACs x {p['mac_pj']:g} pJ against "
             f"first-layer MACs x {p['mac_pj']:g} + ACs x {p['ac_pj']:g} pJ, no data movement; "
             f"normalised SNN ops {p['normalised_snn_ops']:.3f}, first-layer share "
             f"{p['first_layer_share']:.4f})")
    if report.get("energy_mode") == "paper":  # the paper's formula is the headline
        lines.append(f"HEADLINE ANN/SNN energy, {paper}; for reference, {full}")
    else:
        lines.append(f"ANN/SNN energy: {full}; {paper}")
    lines.append(f"latency ANN/SNN {ratio['latency_ann_over_snn']:.2f}x")
    if report.get("mapping_warnings"):
        lines += [f"mapping: {w}" for w in report["mapping_warnings"]]
    return "\n".join(lines)


def write_json(report: dict, path: str | Path) -> Path:
    """The report as JSON (docs/report.md): numbers as plain JSON numbers (numpy scalars by
    their value); a NaN or infinity is refused (ValueError), as JSON has none."""
    path = Path(path)
    text = json.dumps(report, indent=1, allow_nan=False, default=_json_scalar)
    write_text(path, text)  # tmp + rename: never half written
    return path


def _json_scalar(v):
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(f"{type(v).__name__} is not a report value")


def write_csv(report: dict, out_dir: str | Path) -> list[Path]:
    """SCALE-Sim-like per-layer CSVs: SNN_LAYERS.csv, ANN_LAYERS.csv, SUMMARY.csv."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    snn_cols = ["name", "kind", "neurons", "spikes", "spike_rate", "input_events", "snn_acs",
                "snn_macs", "membrane_reads", "membrane_writes", "weight_reads", "cycles",
                "membrane_level", "weight_level", "pes_used", "pe_load_imbalance"]
    paths = []
    with atomic_path(out / "SNN_LAYERS.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(snn_cols + [f"energy_{k}_pj" for k in (*SNN_PARTS, "total")])
        for r in report["layers"]:
            w.writerow([r[c] for c in snn_cols] +
                       [r["energy_pj"][k] for k in (*SNN_PARTS, "total")])
    paths.append(out / "SNN_LAYERS.csv")
    with atomic_path(out / "ANN_LAYERS.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "kind", "ann_macs", "cycles", "weight_level"] +
                   [f"energy_{k}_pj" for k in (*ANN_PARTS, "total")])
        for r in report["layers"]:
            w.writerow([r["name"], r["kind"], r["ann_macs"], r["ann_cycles"], r["weight_level"]]
                       + [r["ann_energy_pj"][k] for k in (*ANN_PARTS, "total")])
    paths.append(out / "ANN_LAYERS.csv")
    with atomic_path(out / "SUMMARY.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["quantity", "value", "unit"])
        acc = report["accuracy"]
        for k in ("snn", "reference", "functional_match", "spike_mismatches",
                  "prediction_mismatches"):
            w.writerow([f"accuracy_{k}", acc[k], ""])
        for side, parts in (("snn", SNN_PARTS), ("ann", ANN_PARTS)):
            for k in (*parts, "total"):
                w.writerow([f"{side}_energy_{k}", report[side]["energy_pj"][k], "pJ/image"])
            w.writerow([f"{side}_latency", report[side]["latency_cycles"], "cycles/image"])
            w.writerow([f"{side}_latency_s", report[side]["latency_s"], "s/image"])
        for k, v in report["ratio"].items():
            w.writerow([k, v, ""])
        w.writerow(["samples", report["samples"], "images"])
    paths.append(out / "SUMMARY.csv")
    d = report["dataflows"]
    with atomic_path(out / "DATAFLOWS.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["side", "dataflow", "best", "headline", "weights", "latency_cycles",
                    "latency_s", "search_s", "energy_total_pj", "parts_pj", "layer_mappings"])
        for side in ("snn", "ann"):
            for name, r in d[side].items():
                e = r["energy_pj"]
                w.writerow([side, name, d["best"][side] == name, d["selected"][side] == name,
                            r["weights"], r["latency_cycles"], r["latency_s"], r["search_s"],
                            e["total"], ";".join(f"{k}={v!r}" for k, v in e.items()
                                                 if k != "total"),
                            ";".join(f"{lay['name']}={lay['mapping']}" for lay in r["layers"])])
    paths.append(out / "DATAFLOWS.csv")
    return paths


PART_LABEL = {"membrane": "membrane / activations", "activations": "membrane / activations",
              "spikes": "spikes / NoC", "noc": "spikes / NoC"}  # one legend entry for both
PLOT_COLOURS = {"compute": "#4c72b0", "membrane": "#dd8452", "activations": "#dd8452",
                "weights": "#55a868", "spikes": "#c44e52", "noc": "#c44e52",
                "clock": "#da8bc3", "leakage": "#8172b3", "dram": "#937860"}


def plot(report: dict, out_dir: str | Path) -> list[Path]:
    """energy_per_layer.png (stacked SNN vs ANN bars per layer) and spike_rate.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    layers = report["layers"]
    names = [r["name"] for r in layers]
    x = np.arange(len(layers))
    w = 0.4
    fig, (ax, lax) = plt.subplots(2, 1, figsize=(max(7, 0.6 * len(layers) + 3.5), 6.4),
                                  sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    legend = {}
    for key, parts, off, hatch in (("energy_pj", SNN_PARTS, -w / 2, None),
                                   ("ann_energy_pj", ANN_PARTS, w / 2, "//")):
        bottom = np.zeros(len(layers))
        for part in parts:
            vals = np.array([r[key][part] for r in layers]) / 1e6
            bars = ax.bar(x + off, vals, w, bottom=bottom, color=PLOT_COLOURS[part],
                          hatch=hatch, edgecolor="white", linewidth=0.3)
            legend.setdefault(PART_LABEL.get(part, part), bars)
            bottom += vals
    ax.set_ylabel("energy per image (µJ)")
    m, ar = report["model"], report["arch"]
    ax.set_title(f"{m['architecture']} T={m['timesteps']} on {ar['name']}: SNN (left, plain) vs "
                 f"ANN (right, hatched); total ANN/SNN "
                 f"{report['ratio']['energy_ann_over_snn_full']:.2f}x", fontsize=9)
    ax.legend(legend.values(), legend.keys(), fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1.0), title="part", title_fontsize=7)
    # the totals on a log axis: layers that differ by orders of magnitude stay visible
    snn_t = np.array([r["energy_pj"]["total"] for r in layers]) / 1e6
    ann_t = np.array([r["ann_energy_pj"]["total"] for r in layers]) / 1e6
    lax.bar(x - w / 2, snn_t, w, color="#4c72b0", label="SNN")
    lax.bar(x + w / 2, ann_t, w, color="#c44e52", hatch="//", edgecolor="white",
            linewidth=0.3, label="ANN")
    lax.set(yscale="log", ylabel="total (µJ, log)")
    lax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    lax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    paths = [out / "energy_per_layer.png"]
    fig.savefig(paths[0], dpi=130)
    plt.close(fig)

    rows = [r for r in layers if r["spike_rate"] is not None]
    fig, ax = plt.subplots(figsize=(max(5, 0.45 * len(rows) + 2), 3.2))
    ax.bar(np.arange(len(rows)), [r["spike_rate"] for r in rows], color="#3b75af")
    ax.set_xticks(np.arange(len(rows)), [r["name"] for r in rows], rotation=60, ha="right",
                  fontsize=8)
    ax.set_ylabel("spikes / neuron / image")
    ax.set_title(f"spike rate per layer (spikes per neuron over all T); network "
                 f"{report['snn']['mean_spike_rate']:.3f} (weighted by neurons)", fontsize=9)
    fig.tight_layout()
    paths.append(out / "spike_rate.png")
    fig.savefig(paths[1], dpi=130)
    plt.close(fig)
    paths.append(plot_dataflows(report, out / "dataflows.png"))
    return paths


def plot_dataflows(report: dict, path: Path) -> Path:
    """dataflows.png: energy per image of every dataflow, SNN and ANN side by side, stacked
    by part; the best of each side outlined; the verdict in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = report["dataflows"]
    bars = [("snn", n) for n in d["snn"]] + [("ann", n) for n in d["ann"]]
    fig, ax = plt.subplots(figsize=(max(6, 0.62 * len(bars) + 2), 4.2))
    legend = {}
    for i, (side, name) in enumerate(bars):
        e = d[side][name]["energy_pj"]
        bottom = 0.0
        for part in (SNN_PARTS if side == "snn" else ANN_PARTS):
            v = e[part] / 1e6
            b = ax.bar(i, v, 0.7, bottom=bottom, color=PLOT_COLOURS[part],
                       hatch=None if side == "snn" else "//", edgecolor="white", linewidth=0.3)
            legend.setdefault(PART_LABEL.get(part, part), b)
            bottom += v
        if d["best"][side] == name:
            ax.bar(i, bottom, 0.7, fill=False, edgecolor="black", linewidth=1.5)
    ax.set_xticks(range(len(bars)), [f"{s.upper()} {n}" for s, n in bars], rotation=50,
                  ha="right", fontsize=8)
    ax.set_ylabel("energy per image (µJ)")  # linear: stacked parts on a log axis mislead
    v = d["verdict"]
    m, ar = report["model"], report["arch"]
    ax.set_title(f"{m['architecture']} T={m['timesteps']} on {ar['name']}: every dataflow "
                 f"(outlined: best of each side); best ANN {v['ann']} / best SNN {v['snn']} = "
                 f"{v['energy_ann_over_snn']:.2f}x", fontsize=9)
    ax.legend(legend.values(), legend.keys(), fontsize=7, ncol=3, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path

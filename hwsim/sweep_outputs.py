"""A sweep's outputs for people: the Pareto fronts, pareto.csv, summary.md and the plots."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from model.files import atomic_path, write_text

from .sweep_results import COLUMNS


def pareto_front(*objectives: Iterable[float]) -> list[int]:
    """Indices of the points no other point dominates, every objective minimised (another point
    dominates if it is at least as good in all and strictly better in one); sorted by the
    objectives."""
    x = np.asarray([list(o) for o in objectives], float).T  # [points, objectives]
    front = []
    for i in range(len(x)):
        dominated = (x <= x[i]).all(axis=1) & (x < x[i]).any(axis=1)
        if not dominated.any():
            front.append(i)
    return sorted(front, key=lambda i: tuple(x[i]))


def _f(row: dict[str, str], k: str) -> float:
    return float(row[k]) if row[k] not in ("", None) else math.nan


def _time(s: float) -> str:
    for unit, f in (("s", 1.0), ("ms", 1e-3)):
        if s >= f:
            return f"{s / f:.3g} {unit}"
    return f"{s / 1e-6:.3g} µs"


def _eng(pj: float) -> str:
    for unit, f in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if pj >= f:
            return f"{pj / f:.4g} {unit}"
    return f"{pj:.4g} pJ"


def summary_table(rows: list[dict[str, str]], front: set[str], front_acc: set[str]) -> str:
    """A markdown table of the points: accuracy, energy, latency; the Pareto fronts marked."""
    head = ["T", "PEs", "node", "membrane", "dataflow", "accuracy", "SNN energy", "ANN/SNN",
            "latency",
            "stall %", "NoC %", "front E,L", "front E,L,acc"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cyc = _f(r, "latency_cycles") or 1.0
        lines.append("| " + " | ".join([
            r["timesteps"], r["pes"], r["node"], r["membrane"],
            f"{r['snn_dataflow']}/{r['ann_dataflow']}", f"{_f(r, 'accuracy_snn'):.3f}",
            _eng(_f(r, "snn_energy_pj")),
            f"{_f(r, 'energy_ratio'):.2f}x", _time(_f(r, "latency_s")),
            f"{100 * _f(r, 'system_memory_stall_cycles') / cyc:.0f}",
            f"{100 * _f(r, 'system_noc_cycles') / cyc:.0f}",
            "*" if r["key"] in front else "", "*" if r["key"] in front_acc else ""]) + " |")
    return "\n".join(lines)


def plot(rows: list[dict[str, str]], front: list[int], out: Path,
         front_acc: list[int] = ()) -> list[Path]:
    """pareto.png (the energy-latency front; ``front_acc``, the front with accuracy as a third
    objective, marked too), vs_timesteps.png, cycles_vs_pes.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    col = lambda k: np.array([_f(r, k) for r in rows])  # noqa: E731
    energy, lat, acc = col("snn_energy_pj") / 1e6, col("latency_s") * 1e3, col("accuracy_snn")
    T, pes = col("timesteps").astype(int), col("pes").astype(int)
    hw = [(r["node"], r["membrane"]) for r in rows]
    paths = []

    fig, ax = plt.subplots(figsize=(7, 5))
    sc = ax.scatter(lat, energy, c=acc, cmap="viridis", s=36, zorder=2)
    fe, fl = energy[front], lat[front]
    ax.step(fl[np.argsort(fl)], fe[np.argsort(fl)], where="post", color="k", lw=1, zorder=1)
    ax.scatter(fl, fe, facecolors="none", edgecolors="red", s=110, lw=1.5, zorder=3,
               label="Pareto front (energy, latency)")
    extra = [i for i in front_acc if i not in front]
    if extra:
        ax.scatter(lat[extra], energy[extra], facecolors="none", edgecolors="k", marker="D",
                   s=90, lw=1.2, zorder=3, label="... with accuracy as a third objective")
    # the same network as an ANN on each chip of the grid (it does not depend on T)
    ann_e, ann_l = col("ann_energy_pj") / 1e6, _ann_latency_ms(rows)
    ax.scatter(ann_l, ann_e, marker="x", color="0.45", s=30, zorder=2,
               label="the ANN on the same chips")
    several_hw = len(set(hw)) > 1
    for i in front:  # the front only: the accuracy front is listed in summary.md
        label = f"T={T[i]}, {pes[i]} PEs" + (f", {hw[i][0]}, {hw[i][1]}" if several_hw else "")
        ax.annotate(label, (lat[i], energy[i]), fontsize=7, xytext=(4, 4),
                    textcoords="offset points")
    ax.set(xscale="log", yscale="log", xlabel="latency per image (ms, SimPy system model)",
           ylabel="energy per image (µJ)", title="SNN energy vs latency (colour: accuracy)")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_formatter(NullFormatter())
    fig.colorbar(sc, ax=ax, label="accuracy (simulator)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)
    fig.tight_layout()
    paths.append(out / "pareto.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    ts = sorted(set(T))
    first = {t: next(i for i in range(len(rows)) if T[i] == t) for t in ts}
    axes[0].plot(ts, [acc[first[t]] for t in ts], "o-", label="simulator (stored weights)")
    axes[0].plot(ts, [_f(rows[first[t]], "accuracy_reference") for t in ts], "s--",
                 label="full-precision model")
    axes[0].set(xlabel="timesteps T", ylabel="accuracy", title="Accuracy vs T")
    axes[0].legend(fontsize=8)
    mid = sorted(set(pes))[len(set(pes)) // 2]
    ann_e, ann_l = col("ann_energy_pj") / 1e6, _ann_latency_ms(rows)
    for k, h in enumerate(dict.fromkeys(hw)):
        idx = [i for i in range(len(rows)) if hw[i] == h and pes[i] == mid]
        idx.sort(key=lambda i: T[i])
        axes[1].plot(T[idx], energy[idx], "o-", color=f"C{k % 10}",
                     label=f"SNN, {h[0]}, V in {h[1]}")
        axes[1].plot(T[idx], ann_e[idx], "--", color=f"C{k % 10}", lw=1)  # the ANN: no T
    axes[1].plot([], [], "k--", lw=1, label="the ANN (dashed, same colour): SNN below wins")
    axes[1].set(yscale="log", xlabel="timesteps T", ylabel="energy per image (µJ)",
                title=f"Energy vs T ({mid} PEs)")
    axes[1].legend(fontsize=6)
    h0 = hw[0]
    for k, p in enumerate(sorted(set(pes))):
        idx = sorted((i for i in range(len(rows)) if hw[i] == h0 and pes[i] == p),
                     key=lambda i: T[i])
        axes[2].plot(T[idx], lat[idx], "o-", color=f"C{k % 10}", label=f"SNN, {p} PEs")
        axes[2].plot(T[idx], ann_l[idx], "--", color=f"C{k % 10}", lw=1)
    axes[2].plot([], [], "k--", lw=1, label="the ANN (dashed, same colour)")
    axes[2].set(yscale="log", xlabel="timesteps T", ylabel="latency per image (ms)",
                title=f"Latency vs T ({h0[0]}, V in {h0[1]})")
    axes[2].legend(fontsize=6)
    for a in axes:
        a.set_xticks(ts)
    fig.tight_layout()
    paths.append(out / "vs_timesteps.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5))
    for k, t in enumerate(ts):
        idx = sorted((i for i in range(len(rows)) if hw[i] == h0 and T[i] == t),
                     key=lambda i: pes[i])
        color = f"C{k % 10}"
        ax.plot(pes[idx], col("latency_cycles")[idx], "o-", color=color,
                label=f"T={t} system (SimPy)")
        ax.plot(pes[idx], col("sim_latency_cycles")[idx], "x:", color=color,
                label=f"T={t} per-layer model")
        ax.plot(pes[idx], col("compute_bound_cycles")[idx], ".--", color=color, alpha=0.5,
                label=f"T={t} compute-bound")
    ax.set(xscale="log", yscale="log", xlabel="PE count", ylabel="cycles per image",
           title=f"Cycles vs PE count ({h0[0]}, V in {h0[1]})")
    ax.set_xticks(sorted(set(pes)))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    paths.append(out / "cycles_vs_pes.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths


def _ann_latency_ms(rows: list[dict[str, str]]) -> np.ndarray:
    """The ANN's latency per row on the SimPy system model (the per-layer model for rows of
    an older sweep without it), ms."""
    return np.array([_f(r, "ann_system_latency_s") if r.get("ann_system_latency_s")
                     else _f(r, "ann_latency_s") for r in rows]) * 1e3


def story(rows: list[dict[str, str]]) -> list[str]:
    """The sweep in a few lines: where the SNN stops beating the ANN (the largest T at which
    the best SNN still costs less than the best ANN, per chip), at which spike rate, and what
    bounds the latency."""
    chips: dict[tuple, list[dict[str, str]]] = {}
    for r in rows:
        chips.setdefault((r["pes"], r["node"], r["membrane"]), []).append(r)
    wins, lines = [], []
    for rs in chips.values():
        won = [r for r in rs if _f(r, "best_energy_ratio") > 1]
        wins.append(max((int(r["timesteps"]) for r in won), default=0))
    ts = sorted({int(r["timesteps"]) for r in rows})
    counts = {t: wins.count(t) for t in [0, *ts] if wins.count(t)}
    lines.append("- **Break-even T** (the largest T at which the best SNN still costs less than "
                 "the best ANN on the same chip), over the grid's chips: " + ", ".join(
                     f"{'never' if t == 0 else f'T = {t}'} on {n}" for t, n in counts.items()))
    by_t = {t: [r for r in rows if int(r["timesteps"]) == t] for t in ts}
    rate = {t: float(np.mean([_f(r, "mean_spike_rate") for r in rs])) for t, rs in by_t.items()}
    won = {t: sum(_f(r, "best_energy_ratio") > 1 for r in rs) for t, rs in by_t.items()}
    lines.append("- **Spike rate** (spikes per neuron over all T) and chips where the SNN wins: "
                 + ", ".join(f"T = {t}: {rate[t]:.3f}, {won[t]} of {len(by_t[t])}"
                             for t in ts))
    share = {k: float(np.mean([_f(r, f"system_{k}_cycles") / (_f(r, "latency_cycles") or 1)
                               for r in rows])) for k in ("compute", "memory_stall", "noc")}
    lines.append("- **What bounds latency** (mean share of the critical path over the points): "
                 + ", ".join(f"{k.replace('_', ' ')} {100 * v:.0f} %" for k, v in share.items()))
    return lines


def write_outputs(rows: list[dict[str, str]], out: Path, plots: bool = True) -> dict:
    """pareto.csv, summary.md and the plots from this grid's rows; returns the front's keys
    and the summary text."""
    energy = [_f(r, "snn_energy_pj") for r in rows]
    latency = [_f(r, "latency_s") for r in rows]
    front = pareto_front(energy, latency)
    keys = [rows[i]["key"] for i in front]
    front_acc = pareto_front(energy, latency, [-_f(r, "accuracy_snn") for r in rows])
    keys_acc = {rows[i]["key"] for i in front_acc}
    with atomic_path(out / "pareto.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows[i] for i in front)
    text = summary_table(rows, set(keys), keys_acc)
    best = {"highest accuracy (then least energy)": min(
                rows, key=lambda r: (-_f(r, "accuracy_snn"), _f(r, "snn_energy_pj"))),
            "lowest energy": min(rows, key=lambda r: _f(r, "snn_energy_pj")),
            "lowest latency": min(rows, key=lambda r: (_f(r, "latency_s"),
                                                       _f(r, "snn_energy_pj")))}
    notes = [f"- {what}: T={r['timesteps']}, {r['pes']} PEs, {r['node']}, V in "
             f"{r['membrane']} (accuracy {_f(r, 'accuracy_snn'):.3f}, "
             f"{_eng(_f(r, 'snn_energy_pj'))}, {_time(_f(r, 'latency_s'))})"
             for what, r in best.items()]
    md = ("# Sweep summary\n\n" + "\n".join(story(rows)) + "\n\n" + f"{len(rows)} points; "
          f"{len(keys)} on the energy-latency Pareto front, {len(keys_acc)} on the "
          "energy-latency-accuracy front. Energy: SNN per image (full model); latency: the SimPy "
          "system model; stall % and NoC %: their shares of it on the critical path.\n\n"
          + "\n".join(notes) + "\n\n" + text + "\n")
    write_text(out / "summary.md", md)
    paths = plot(rows, front, out, front_acc) if plots and rows else []
    return {"front": keys, "front_accuracy": sorted(keys_acc), "summary": md, "plots": paths}

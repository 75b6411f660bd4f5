"""README.md of the SCALE-Sim cross-check from results.json (standard library only; every number
on the page comes from results.json)::

    python benchmarks/scalesim/run.py --readme-only
"""

from __future__ import annotations

import re

SS = ("os", "ws", "is")
OURS = ("os", "ws", "rs")


def n0(v: float) -> str:
    return f"{v:,.0f}"


def r2(v: float) -> str:
    return f"{v:.2f}"


def pct(v: float) -> str:
    return f"{100 * v:.0f} %"


def shape(lay: dict) -> str:
    s = lay["shape"]
    if lay["kind"] == "linear":
        return f"{s['K']}×{s['C']} (fc)"
    return f"{s['K']}×{s['C']}×{s['OY']}×{s['OX']}×{s['FY']}"


def ss_cycles(lay, df):
    return lay["scalesim"][df]["cycles"]


def our_cycles(lay, df, obj="latency"):
    return lay["ours"][obj][df]["cycles"]


def best_ratio(lay) -> float:
    return our_cycles(lay, best_ours(lay)) / ss_cycles(lay, best_ss(lay))


def one_acc(o: dict) -> float:
    """Cycles of a layer whose PEs use one accumulator each (one output per PE): its MACs per PE
    plus the NoC."""
    return o["macs_in_map"] / o["pes_used"] + o["noc_cycles"]


def weights(lay) -> int:
    s = lay["shape"]
    return s["K"] * s["C"] * s["FY"] * s["FX"]


def done(lay, df) -> bool:
    return lay["scalesim"][df]["completed"]


def ss_cell(lay, df) -> str:
    """SCALE-Sim's cycles; a run that did not finish shows its stall-free cycles as a bound."""
    return n0(ss_cycles(lay, df)) if done(lay, df) else f"≥ {n0(ss_cycles(lay, df))}*"


def bound(exact: bool) -> str:
    """Prefix of a ratio over a SCALE-Sim lower bound (a run that did not finish)."""
    return "" if exact else "≤ "


def ss_total(lays, df) -> str:
    t = n0(sum(ss_cycles(lay, df) for lay in lays))
    return t if all(done(lay, df) for lay in lays) else f"≥ {t}*"


def derived(lay, df, dram_rate: float) -> float:
    """max(SCALE-Sim's stall-free cycles, one pass of the layer's DRAM weights at DRAM rate)."""
    once = weights(lay) / dram_rate if lay["weight_home"] == "dram" else 0.0
    return max(ss_compute(lay, df), once)


def dram_table(doc: dict) -> list[str]:
    """SCALE-Sim on the layers whose weights our placement keeps in DRAM."""
    m = doc["chip"]
    rate, bw = m["ours"]["dram_bytes_per_cycle"], m["filter_bw"]["dram"]
    out = [f"| layer | weights | one pass at {rate:.1f} B/cycle | SCALE-Sim os: total "
           "(stall-free; weights fetched) | ws | is | SCALE-Sim filter traffic ÷ "
           f"{bw} B/cycle, os / ws / is | ours best (bound) | ours os (weights fetched) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for key, net in doc["networks"].items():
        for lay in net["layers"]:
            if lay["weight_home"] != "dram":
                continue
            cells = []
            traffic = []
            for d in SS:
                x = lay["scalesim"][d]
                if done(lay, d):
                    cells.append(f"{n0(x['cycles'])} ({n0(x['compute_cycles'])}; "
                                 f"{x['filter_fetches_per_weight']:.1f}×)")
                    traffic.append(n0(x["dram_reads"]["filter"] / bw))
                else:
                    cells.append(f"≥ {n0(x['cycles'])}* (not completed)")
                    traffic.append("—")
            b = best_ours(lay)
            o = lay["ours"]["latency"]
            out.append(f"| {key} {lay['name']} | {weights(lay) / 1024:,.0f} KiB | "
                       f"{n0(weights(lay) / rate)} | " + " | ".join(cells) + " | "
                       + " / ".join(traffic) + f" | {n0(our_cycles(lay, b))} ({b}, "
                       f"{o[b]['bound']}) | {n0(our_cycles(lay, 'os'))} "
                       f"({o['os']['weight_fetches_per_weight']:.1f}×) |")
    return out


def ss_compute(lay, df):
    return lay["scalesim"][df]["compute_cycles"]


def best_ss(lay):
    return min(SS, key=lambda d: ss_cycles(lay, d))


def best_ours(lay, obj="latency"):
    return min(OURS, key=lambda d: our_cycles(lay, d, obj))


def totals(net: dict) -> dict:
    lays = net["layers"]
    t = {"ideal": sum(lay["ideal_cycles"] for lay in lays),
         "ss": {d: sum(ss_cycles(lay, d) for lay in lays) for d in SS},
         "ours": {d: sum(our_cycles(lay, d) for lay in lays) for d in OURS},
         "ss_best": sum(ss_cycles(lay, best_ss(lay)) for lay in lays),
         "ours_best": sum(our_cycles(lay, best_ours(lay)) for lay in lays)}
    return t


def ratio_range(lays, f) -> str:
    vals = [(f(lay), lay["name"]) for lay in lays]
    lo, hi = min(vals), max(vals)
    return f"{lo[0]:.2f} ({lo[1]}) – {hi[0]:.2f} ({hi[1]})"


def summary(doc: dict) -> list[str]:
    out = ["| network | ideal (MACs / 1,024) | SCALE-Sim os | ws | is | ours os | ws | rs | "
           "ours/SCALE-Sim: os/os | ws/ws | best/best |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for net in doc["networks"].values():
        t, lays = totals(net), net["layers"]
        ex = {d: all(done(lay, d) for lay in lays) for d in SS}
        exb = all(done(lay, best_ss(lay)) for lay in lays)
        out.append(
            f"| {net['label']} | {n0(t['ideal'])} | "
            + " | ".join(ss_total(lays, d) for d in SS)
            + f" | {n0(t['ours']['os'])} | {n0(t['ours']['ws'])} | {n0(t['ours']['rs'])} | "
            f"**{bound(ex['os'])}{r2(t['ours']['os'] / t['ss']['os'])}** | "
            f"**{bound(ex['ws'])}{r2(t['ours']['ws'] / t['ss']['ws'])}** | "
            f"**{bound(exb)}{r2(t['ours_best'] / t['ss_best'])}** |")
    out += ["", "The same against SCALE-Sim's stall-free cycles (*Total Cycles* − *Stall Cycles*: "
            "the array's own time, without its memory model; see difference 4):", "",
            "| network | SCALE-Sim os | ws | is | ours/SCALE-Sim: os/os | ws/ws | best/best |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for net in doc["networks"].values():
        lays = net["layers"]
        c = {d: sum(ss_compute(lay, d) for lay in lays) for d in SS}
        cb = sum(min(ss_compute(lay, d) for d in SS) for lay in lays)
        t = totals(net)
        out.append(f"| {net['label']} | " + " | ".join(n0(c[d]) for d in SS)
                   + f" | **{r2(t['ours']['os'] / c['os'])}** | **{r2(t['ours']['ws'] / c['ws'])}**"
                   f" | **{r2(t['ours_best'] / cb)}** |")
    out += ["", "And against a reference derived from SCALE-Sim (not its output): per layer the "
            "larger of its stall-free cycles and one pass of the layer's weights at the DRAM rate "
            "where our placement keeps them in DRAM — what its array would take if its buffers "
            "fetched each weight once (difference 4):", "",
            "| network | derived os | ws | is | ours/derived: os/os | ws/ws | best/best |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for net in doc["networks"].values():
        lays = net["layers"]
        rate = doc["chip"]["ours"]["dram_bytes_per_cycle"]
        c = {d: sum(derived(lay, d, rate) for lay in lays) for d in SS}
        cb = sum(min(derived(lay, d, rate) for d in SS) for lay in lays)
        t = totals(net)
        out.append(f"| {net['label']} | " + " | ".join(n0(c[d]) for d in SS)
                   + f" | **{r2(t['ours']['os'] / c['os'])}** | **{r2(t['ours']['ws'] / c['ws'])}**"
                   f" | **{r2(t['ours_best'] / cb)}** |")
    out += ["", "\\* A SCALE-Sim run that did not finish (see *Time* above): its stall-free "
            "cycles from its loop structure stand in, a lower bound of its *Total Cycles*; a "
            "ratio over it is an upper bound (≤)."]
    out += ["", "Per-layer range of the ratio ours/SCALE-Sim total (lowest – highest, with the "
            "layer):",
            "", "| network | os/os | ws/ws | best/best | rs/is (not the same dataflow) |",
            "|---|---|---|---|---|"]
    for net in doc["networks"].values():
        lays = net["layers"]
        out.append(
            f"| {net['label']} | "
            f"{ratio_range(lays, lambda x: our_cycles(x, 'os') / ss_cycles(x, 'os'))} | "
            f"{ratio_range(lays, lambda x: our_cycles(x, 'ws') / ss_cycles(x, 'ws'))} | "
            f"{ratio_range(lays, best_ratio)} | "
            f"{ratio_range(lays, lambda x: our_cycles(x, 'rs') / ss_cycles(x, 'is'))} |")
    rate = doc["chip"]["ours"]["dram_bytes_per_cycle"]
    out += ["", "Per-layer range of the ratio ours/derived reference:", "",
            "| network | os/os | ws/ws | best/best | rs/is |", "|---|---|---|---|---|"]
    for net in doc["networks"].values():
        lays = net["layers"]
        cells = [ratio_range(lays, lambda x: our_cycles(x, "os") / derived(x, "os", rate)),
                 ratio_range(lays, lambda x: our_cycles(x, "ws") / derived(x, "ws", rate)),
                 ratio_range(lays, lambda x: our_cycles(x, best_ours(x))
                             / min(derived(x, d, rate) for d in SS)),
                 ratio_range(lays, lambda x: our_cycles(x, "rs") / derived(x, "is", rate))]
        out.append(f"| {net['label']} | " + " | ".join(cells) + " |")
    return out


def in_short(doc: dict) -> list[str]:
    """The headline, computed: layer groups by what bounds them on each side."""
    nets, rate = doc["networks"], doc["chip"]["ours"]["dram_bytes_per_cycle"]
    acc = doc["chip"]["ours"]["accumulators"]
    rows = [(k, lay) for k, net in nets.items() for lay in net["layers"]]

    def rng(group, f):
        v = [f(lay) for _, lay in group]
        if not v:
            return "—"
        lo, hi = f"{min(v):.2f}", f"{max(v):.2f}"
        return lo if lo == hi else f"{lo}–{hi}"

    def names(group):
        return ", ".join(f"{k} {lay['name']}" for k, lay in group)

    def ours_best(lay):
        return lay["ours"]["latency"][best_ours(lay)]

    def in_map_ideal(lay):
        return ours_best(lay)["macs_in_map"] / doc["chip"]["macs_per_cycle"]

    conv_c = [(k, lay) for k, lay in rows if lay["kind"] == "conv"
              and lay["weight_home"] != "dram" and ours_best(lay)["bound"] == "compute"]
    fc_c = [(k, lay) for k, lay in rows if lay["kind"] == "linear"
            and lay["weight_home"] != "dram"]
    conv_m = [(k, lay) for k, lay in rows if lay["weight_home"] != "dram"
              and lay["ours"]["latency"]["os"]["bound"] != "compute"]
    dram = [(k, lay) for k, lay in rows if lay["weight_home"] == "dram"]
    out = [
        f"- **Compute-bound conv layers** ({names(conv_c)}): ours, best dataflow / SCALE-Sim, "
        f"best dataflow = {rng(conv_c, best_ratio)}. Ours is lower because it has no systolic "
        "fill/drain and folds (differences 1–2) and counts no padding MACs (3): SCALE-Sim's "
        f"best dataflow takes {rng(conv_c, lambda x: ss_cycles(x, best_ss(x)) / x['ideal_cycles'])}"
        "× the ideal MACs / 1,024 on them, ours "
        f"{rng(conv_c, lambda x: our_cycles(x, best_ours(x)) / in_map_ideal(x))}"
        "× the in-map MACs / 1,024 (above 1: NoC latency, load imbalance).",
        f"- **fc layers with on-chip weights** ({names(fc_c)}): ours/SCALE-Sim best "
        f"{rng(fc_c, best_ratio)}: a PE of ours owns "
        + "/".join(sorted({str(ours_best(x)["neurons_per_pe_max"]) for _, x in fc_c}))
        + f" output(s) there, so it runs at that many MACs a cycle, not {acc} (finding 1); "
        f"SCALE-Sim's os uses 1 of its "
        f"{doc['chip']['array_rows']} rows for the single output pixel (difference 2).",
    ]
    if conv_m:
        out.append(
            f"- **On-chip layers where our `os` is memory-bound** ({names(conv_m)}): our os / "
            f"SCALE-Sim os {rng(conv_m, lambda x: our_cycles(x, 'os') / ss_cycles(x, 'os'))}; "
            f"our best / SCALE-Sim best {rng(conv_m, best_ratio)} (finding 2).")
    if dram:
        refetch = max(lay["scalesim"][d]["filter_fetches_per_weight"] for _, lay in dram
                      for d in SS if done(lay, d))

        def vs_derived(x):
            return our_cycles(x, best_ours(x)) / min(derived(x, d, rate) for d in SS)

        out.append(
            f"- **Layers with weights in DRAM** ({names(dram)}): our best / derived reference "
            "(SCALE-Sim's stall-free cycles or one pass of the weights at DRAM rate, whichever "
            f"is longer) {rng(dram, vs_derived)}; SCALE-Sim's own totals there are set by its "
            f"buffers re-fetching the weights (up to {refetch:.0f}×, difference 4).")
    return out


def objective_table(doc: dict) -> list[str]:
    """Our totals per dataflow when the mapper minimises latency (the tables) or energy (the
    project's default objective)."""
    out = ["| network | objective | ours os | ours ws | ours rs |", "|---|---|---:|---:|---:|"]
    for net in doc["networks"].values():
        for obj in ("latency", "energy"):
            out.append(f"| {net['label']} | {obj} | " + " | ".join(
                n0(sum(our_cycles(lay, d, obj) for lay in net["layers"])) for d in OURS) + " |")
    return out


def layer_table(net: dict) -> list[str]:
    out = [f"**{net['label']}**, batch 1, {n0(net['total_macs'])} MACs; cycles per image "
           "(SCALE-Sim: its *Total Cycles* = compute + stalls; ours: the latency objective)", "",
           "| layer | K×C×OY×OX×F | W | ideal | ideal in map | SS os | SS ws | SS is | ours os | "
           "ours ws | ours rs | os/os | ws/ws | best/best |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for lay in net["layers"]:
        bo, bs = best_ours(lay), best_ss(lay)
        out.append(
            f"| {lay['name']} | {shape(lay)} | {'DRAM' if lay['weight_home'] == 'dram' else 'chip'}"
            f" | {n0(lay['ideal_cycles'])} | "
            f"{n0(lay['ours']['latency']['os']['macs_in_map'] / 1024)} | "
            + " | ".join(ss_cell(lay, d) for d in SS) + " | "
            + " | ".join(n0(our_cycles(lay, d)) for d in OURS) + " | "
            f"{bound(done(lay, 'os'))}{r2(our_cycles(lay, 'os') / ss_cycles(lay, 'os'))} | "
            f"{bound(done(lay, 'ws'))}{r2(our_cycles(lay, 'ws') / ss_cycles(lay, 'ws'))} | "
            f"{bound(done(lay, bs))}{r2(our_cycles(lay, bo) / ss_cycles(lay, bs))} "
            f"({bo}/{bs}) |")
    t = totals(net)
    in_map = sum(lay["ours"]["latency"]["os"]["macs_in_map"] for lay in net["layers"]) / 1024
    lays = net["layers"]
    ex = {d: all(done(lay, d) for lay in lays) for d in SS}
    exb = all(done(lay, best_ss(lay)) for lay in lays)
    out.append(f"| **total** | | | {n0(t['ideal'])} | {n0(in_map)} | "
               + " | ".join(f"**{ss_total(lays, d)}**" for d in SS) + " | "
               + " | ".join(f"**{n0(t['ours'][d])}**" for d in OURS) + " | "
               f"**{bound(ex['os'])}{r2(t['ours']['os'] / t['ss']['os'])}** | "
               f"**{bound(ex['ws'])}{r2(t['ours']['ws'] / t['ss']['ws'])}** | "
               f"**{bound(exb)}{r2(t['ours_best'] / t['ss_best'])}** |")
    return out


def util_table(net: dict) -> list[str]:
    """Utilisation = nominal MACs / (1,024 × cycles) on both sides (SCALE-Sim's Overall Util);
    SCALE-Sim's mapping efficiency; stalls; ours: what bounds the layer and the tiling."""
    out = [f"**{net['label']}**: utilisation of the 1,024 MACs = MACs done / (1,024 × cycles) "
           "(SCALE-Sim: its *Overall Util*, padding taps included; ours: taps inside the map), "
           "SCALE-Sim's mapping efficiency (share of the PEs a fold uses, averaged over folds) "
           "and stall cycles; ours: what bounds the layer and the tiling the mapper chose", "",
           "| layer | SS os util / map / stalls | SS ws | SS is | ours os | ours ws | ours rs |",
           "|---|---|---|---|---|---|---|"]
    for lay in net["layers"]:
        cells = []
        for d in SS:
            s = lay["scalesim"][d]
            stalls = n0(s["stall_cycles"]) if done(lay, d) else "not completed*"
            cells.append(f"{pct(s['overall_util'])} / {pct(s['mapping_efficiency'])} / "
                         f"{stalls}")
        for d in OURS:
            o = lay["ours"]["latency"][d]
            cells.append(f"{pct(o['macs_in_map'] / (1024 * o['cycles']))}, {o['bound']}, "
                         f"`{o['tiling']}`")
        out.append(f"| {lay['name']} | " + " | ".join(cells) + " |")
    return out


def breakdown(net: dict) -> list[str]:
    """Where SCALE-Sim's cycles go (its loop structure) and where ours go (compute term,
    what the memory side adds, NoC), summed over the network."""
    lays = net["layers"]
    out = ["| | streaming (folds × T) | fill / drain / load | stalls | total | "
           "incl. first prefetch and last drain |", "|---|---:|---:|---:|---:|---:|"]
    for d in SS:
        st = sum(lay["scalesim"][d]["analytical"]["streaming"] for lay in lays)
        fd = sum(lay["scalesim"][d]["analytical"]["fill_drain"] for lay in lays)
        full = all(done(lay, d) for lay in lays)
        mark = "" if full else "≥ "
        sl = sum(lay["scalesim"][d]["stall_cycles"] or 0 for lay in lays)
        inc = sum(lay["scalesim"][d]["cycles_incl_prefetch"] or ss_cycles(lay, d)
                  for lay in lays)
        out.append(f"| SCALE-Sim {d} | {n0(st)} | {n0(fd)} | {mark}{n0(sl)}{'*' * (not full)} | "
                   f"{ss_total(lays, d)} | {mark}{n0(inc)}{'*' * (not full)} |")
    out += ["", "| | compute term | memory side above compute | NoC | total |",
            "|---|---:|---:|---:|---:|"]
    for d in OURS:
        c = sum(lay["ours"]["latency"][d]["compute_cycles"] for lay in lays)
        noc = sum(lay["ours"]["latency"][d]["noc_cycles"] for lay in lays)
        tot = sum(our_cycles(lay, d) for lay in lays)
        out.append(f"| ours {d} | {n0(c)} | {n0(tot - c - noc)} | {n0(noc)} | {n0(tot)} |")
    return out


def tile_outputs(tiling: str) -> int | None:
    """Partial sums an os/rs register tile holds (k × p, k × q); None for ws."""
    m = re.match(r"(os|rs) k(\d+) [pq](\d+)", tiling)
    return int(m.group(2)) * int(m.group(3)) if m else None


def before(doc: dict, key: str, lay: dict, df: str) -> dict | None:
    """Our layer at the baseline's model state (``run.py --baseline``), or None."""
    b = doc.get("baseline")
    return b["networks"][key]["layers"][lay["name"]][df] if b and key in b["networks"] else None


def findings(doc: dict) -> list[str]:
    """The two defects this comparison found (fixed in docs/hwsim.md "Compute lanes" and
    "Weight reuse in os"), with what they did before (the baseline) and do now."""
    nets = doc["networks"]
    acc = doc["chip"]["ours"]["accumulators"]
    rows = [(key, lay) for key, net in nets.items() for lay in net["layers"]]
    small = [(key, lay["name"], d, lay["ours"]["latency"][d]["tiling"])
             for key, lay in rows for d in ("os", "rs")
             if lay["ours"]["latency"][d]["bound"] == "compute"
             and (tile_outputs(lay["ours"]["latency"][d]["tiling"]) or acc) < min(
                 acc, lay["ours"]["latency"][d]["neurons_per_pe_max"])]
    few = [(key, lay) for key, lay in rows
           if lay["ours"]["latency"]["os"]["neurons_per_pe_max"] < acc]

    def was(key, lay, df, field="cycles"):
        b = before(doc, key, lay, df)
        return f"{n0(b[field])} → " if b else ""

    lines = [
        f"1. **The compute term did not see the tile** (before: `energy.ann_cycles` compute = "
        f"⌈busiest PE's MACs / {acc}⌉ for every tiling). All {acc} accumulators of a PE were "
        "taken to be busy every cycle whatever the register tile held, although each keeps one "
        "partial sum in its own register (`hwsim/compare.py` `_free`); that needs a tile of "
        f"≥ {acc} partial sums, or a PE that splits one output's reduction over its "
        "accumulators and adds the pieces at the end, which no loop nest described and no "
        "count priced. **Fix** (`energy.lanes`, docs/hwsim.md \"Compute lanes\"): compute = "
        f"busiest PE's MACs / min({acc}, partial sums its tile keeps in flight); a PE never "
        "splits a reduction (the chip has no adder tree for it). With the latency objective "
        "the mapper now picks tiles that fill the accumulators: "
        + (f"{len(small)} compute-bound (layer, os/rs) results still use fewer partial sums "
           "than the accumulators and the PE's outputs allow: "
           + "; ".join(f"{k} {n} {d} `{t}`" for k, n, d, t in small)
           if small else "no compute-bound os/rs result uses a tile of fewer partial sums "
           "than the accumulators (or the PE's outputs, where fewer) allow")
        + ". Where a PE owns fewer outputs than accumulators no tile fills them: "
        + "; ".join(
            f"{k} {lay['name']} ({lay['ours']['latency']['os']['neurons_per_pe_max']} output "
            f"per PE on {lay['ours']['latency']['os']['pes_used']} PEs: ours, best dataflow, "
            f"{was(k, lay, best_ours(lay))}{n0(our_cycles(lay, best_ours(lay)))} cycles; "
            f"SCALE-Sim's best {n0(ss_cycles(lay, best_ss(lay)))})" for k, lay in few)
        + ".",
    ]
    osw = [(key, lay) for key, lay in rows
           if (before(doc, key, lay, "os") or lay["ours"]["latency"]["os"])
           ["weight_fetches_per_weight"] > 1.5]
    lines.append(
        "2. **Our `os` fetched a weight for every MAC** (before: `dataflow.nest_os` read W "
        "from its home once per MAC, ÷ spatial chunks when multicast), although its register "
        "tile keeps `p` positions that all use that weight; SCALE-Sim's os sends each weight "
        f"into the array once per fold and reuses it across {doc['chip']['array_rows']} rows. "
        "**Fix** (`LayerSpec.weight_fills`, docs/hwsim.md \"Weight reuse in os\"): the tile "
        "takes its inputs channel by channel and reads each weight from home at its first "
        "use, keeping it in a register (beside the partial sums) for the tile's other "
        "positions, as `rs` does per row segment: exact for a dense tile; for events (SNN, "
        "`os_skip`) min(uses, weights × tiles × steps), a bound. Weights sent per weight "
        "(os, latency objective) and os cycles, "
        + ("before → now" if doc.get("baseline") else "now")
        + ": "
        + "; ".join(
            f"{k} {lay['name']} ({lay['ours']['latency']['os']['weight_level']}: "
            f"{was(k, lay, 'os', 'weight_fetches_per_weight').replace(',', '')}"
            f"{lay['ours']['latency']['os']['weight_fetches_per_weight']:.1f}× (SCALE-Sim os "
            f"{lay['scalesim']['os']['filter_fetches_per_weight']:.1f}×); "
            f"{was(k, lay, 'os')}{n0(our_cycles(lay, 'os'))} cycles, SCALE-Sim os "
            f"{n0(ss_cycles(lay, 'os'))})" for k, lay in osw)
        + ".")
    return lines


def baseline_section(doc: dict) -> list[str]:
    """Our totals and the ratios at the baseline's model state against now."""
    b = doc.get("baseline")
    if not b:
        return []
    out = ["## Ours before and after the fix", "",
           f"Our cycles (latency objective) at commit `{b['commit'][:10]}` ({b['date']}, the "
           "model state of the findings above) and now, against SCALE-Sim's *Total Cycles*:", "",
           "| network | dataflow | ours before | ours now | ours/SCALE-Sim before | now |",
           "|---|---|---:|---:|---:|---:|"]
    for key, net in doc["networks"].items():
        if key not in b["networks"]:
            continue
        lays, old_lays = net["layers"], b["networks"][key]["layers"]
        for d, ss in (("os", "os"), ("ws", "ws"), ("rs", None), ("best", None)):
            if d == "best":
                now = sum(our_cycles(x, best_ours(x)) for x in lays)
                old = sum(min(old_lays[x["name"]][e]["cycles"] for e in OURS) for x in lays)
                ref = sum(ss_cycles(x, best_ss(x)) for x in lays)
                open_ = any(not done(x, e) for x in lays for e in SS)
            else:
                now = sum(our_cycles(x, d) for x in lays)
                old = sum(old_lays[x["name"]][d]["cycles"] for x in lays)
                ref = sum(ss_cycles(x, ss) for x in lays) if ss else None
                open_ = ss is not None and any(not done(x, ss) for x in lays)
            mark = "≤ " if open_ else ""  # over a lower bound of SCALE-Sim's total
            cells = ([f"{mark}{r2(old / ref)}", f"{mark}{r2(now / ref)}"] if ref
                     else ["—", "—"])
            out.append(f"| {net['label']} | {d} | {n0(old)} | {n0(now)} | " + " | ".join(cells)
                       + " |")
    out += ["", "`best`: per layer each side's fastest dataflow. Layers whose cycles changed by "
            "more than 1 %:", "", "| layer | dataflow | before (tiling, bound) | now |",
            "|---|---|---|---|"]
    for key, net in doc["networks"].items():
        for lay in net["layers"]:
            for d in OURS:
                old = before(doc, key, lay, d)
                new = lay["ours"]["latency"][d]
                if old and abs(new["cycles"] - old["cycles"]) > 0.01 * old["cycles"]:
                    out.append(f"| {key} {lay['name']} | {d} | {n0(old['cycles'])} "
                               f"(`{old['tiling']}`, {old['bound']}) | {n0(new['cycles'])} "
                               f"(`{new['tiling']}`, {new['bound']}) |")
    return out + [""]


def readme(doc: dict) -> str:
    m = doc["chip"]
    o = m["ours"]
    v = doc["scalesim_venv"]
    nets = doc["networks"]
    ana_ok = sum(1 for net in nets.values() for lay in net["layers"] for d in SS
                 if done(lay, d) and lay["scalesim"][d]["analytical"]["cycles"]
                 == lay["scalesim"][d]["compute_cycles"])
    ana_n = sum(1 for net in nets.values() for lay in net["layers"] for d in SS
                if done(lay, d))
    stall_layers = [(key, lay["name"], d, lay["scalesim"][d]["stall_cycles"])
                    for key, net in nets.items() for lay in net["layers"] for d in SS
                    if done(lay, d) and lay["scalesim"][d]["stall_cycles"] > 0
                    and lay["weight_home"] != "dram"]
    any_dram = any(lay["weight_home"] == "dram" for net in nets.values()
                   for lay in net["layers"])
    ss_time = {name: net["scalesim_seconds"] for name, net in nets.items()}
    heavy = sorted(((lay["scalesim"][d]["seconds"], name, lay["name"], d)
                    for name, net in nets.items() for lay in net["layers"] for d in SS),
                   reverse=True)[:3]
    git = doc["project"]
    peak = max(lay["scalesim"][d]["peak_rss_mb"] or 0 for net in nets.values()
               for lay in net["layers"] for d in SS)
    span = doc["scalesim_runs"]["span_s"]
    big = max((weights(lay), key, lay["name"]) for key, net in nets.items()
              for lay in net["layers"])
    dirty = ", ".join(f"`{p}`" for p in git["uncommitted_model_files"])
    lines = [
        "# SCALE-Sim cross-check: our dense ANN cycles against a systolic-array simulator",
        "",
        "An independent reference for the *latency* side of the project's dataflow model: every "
        "conv/linear layer of the bundled model and of VGG16 (CIFAR-10), dense ANN inference at "
        "batch 1 with 8-bit weights and activations, timed by our model (`hwsim`, dense ANN "
        "dataflows `os`, `ws`, `rs`, each layer's tiling chosen by the mapper with the `latency` "
        "objective) and by **SCALE-Sim** (PyPI `scalesim` "
        f"**{v['scalesim']}**, Georgia Tech), a cycle-level simulator of a systolic array with "
        "double-buffered SRAMs, on a 32×32 array with the same 1,024 MACs per cycle and memories "
        "taken from our chip. SCALE-Sim is not part of the project: it runs only in its own "
        "virtualenv, called by `run.py` through `subprocess`. The companion energy reference is "
        "`benchmarks/zigzag/`.",
        "",
        "| file | what |",
        "|---|---|",
        "| `run.py` | runs in the project's environment: exports the layers and the chip to "
        "SCALE-Sim inputs, runs SCALE-Sim (through `scalesim_driver.py`), parses its reports, "
        "runs our model on the same layers, writes `results.json` and this page |",
        "| `scalesim_driver.py` | runs in the SCALE-Sim venv: one SCALE-Sim simulation, without "
        "its per-cycle traces |",
        "| `readme.py` | this page from `results.json` (`run.py --readme-only`) |",
        "| `requirements.txt` | the SCALE-Sim venv's pins |",
        "| `generated/` | SCALE-Sim inputs: each network's topology (`topology_<net>.csv`, "
        "zero-padded input maps), one config per dataflow and weight port "
        "(`scale_<df>_weights_<on_chip|dram>.cfg`), the (empty) layout file. `run.py` runs "
        "every layer alone with these rows and configs (run name = dataflow, port, shape) |",
        "| `results.json` | per network and layer: shape, MACs, ideal cycles; SCALE-Sim per "
        "dataflow (total cycles, cycles with the first prefetch, stalls, compute = total − "
        "stalls, overall/compute utilisation, mapping efficiency, SRAM and DRAM accesses, its "
        "loop structure: Sr, Sc, T, folds, cycles per fold; run seconds); ours per dataflow and "
        "objective (cycles, compute term, NoC, bits per memory level, what bounds the layer, "
        "tiling, placement); versions, chip mapping, times |",
        "",
        "## Rerun",
        "",
        "```bash",
        "# 1. SCALE-Sim in its own venv (never in the project's environment)",
        "python3 -m venv benchmarks/scalesim/.venv",
        "benchmarks/scalesim/.venv/bin/pip install -r benchmarks/scalesim/requirements.txt",
        "",
        "# 2. the project's environment (pip install -e . done)",
        "python benchmarks/scalesim/run.py                      # both networks",
        "python benchmarks/scalesim/run.py --networks compact   # the bundled model only",
        "python benchmarks/scalesim/run.py --readme-only        # this page from results.json",
        "python benchmarks/scalesim/run.py --baseline OLD.json  # also: ours against OLD's",
        "```",
        "",
        "The venv's python is `--scalesim-python PATH`, or `$SCALESIM_PYTHON`, or "
        "`benchmarks/scalesim/.venv/bin/python` (ignored by git, like `work/`, where SCALE-Sim's "
        "raw reports are kept; a run whose inputs are unchanged is reused, `--force` reruns). "
        f"Versions used: scalesim {v['scalesim']}, numpy {v['numpy']}, pandas {v['pandas']}, "
        f"tqdm {v['tqdm']}, Python {v['python']}. **scalesim {v['scalesim']} does not run on "
        "numpy 2.x** (`read_buffer.prefetch_active_buffer`: `int(max(array))` raises "
        "\"TypeError: only 0-dimensional arrays can be converted to Python scalars\"), and "
        "`pip install scalesim` picks numpy 2 — hence the pins; pandas (imported by scalesim's "
        "report utility) 3.x needs numpy ≥ 2, hence pandas 2.2. SCALE-Sim's own CLI takes the "
        "generated inputs as they are, e.g. `benchmarks/scalesim/.venv/bin/python -m "
        "scalesim.scale -c benchmarks/scalesim/generated/scale_os_weights_on_chip.cfg -t "
        "benchmarks/scalesim/generated/topology_compact.csv -l "
        "benchmarks/scalesim/generated/layout.csv -p /tmp/scalesim_out` (it also writes "
        "per-cycle traces; `run.py` runs each layer alone, with the DRAM port for the layers "
        "whose weights are in DRAM).",
        "",
        "**Time** (this 2-core machine, shared with other jobs): SCALE-Sim "
        + ", ".join(f"{name} " + " / ".join(f"{d} {n0(s[d])} s" for d in SS)
                    for name, s in ss_time.items())
        + " (seconds inside SCALE-Sim per run, summed over the network's layers; a layer "
        "both networks share counts for both), niced, two runs at a time on "
        f"{doc['machine']['cpus']} cores. The slowest runs: "
        + "; ".join(f"{name} {lay} {d} {n0(s)} s" for s, name, lay, d in heavy)
        + " — SCALE-Sim simulates every cycle in Python and builds Python sets of every operand "
        f"address, so batch-1 fully connected layers ({big[1]} {big[2]}: {big[0] / 1e6:.1f} M "
        "weights) cost minutes and GBs each; `run.py` runs at most one of those at a time. "
        + ("".join(f"**{name} {lay['name']} {d} did not finish**: "
                   f"{lay['scalesim'][d]['failed']}; the tables use its stall-free cycles from "
                   "SCALE-Sim's loop structure instead (marked \\*). "
                   for name, net in nets.items() for lay in net["layers"] for d in SS
                   if not done(lay, d)))
        + f"Peak memory of one SCALE-Sim process: {peak / 1024:.1f} GB among the finished "
        "runs. Our model: "
        + ", ".join(f"{name} {s:.1f} s" for name, s in doc["our_seconds"].items())
        + " (all three dataflows, both objectives, both weight placements). "
        f"All SCALE-Sim runs behind these tables took {span / 60:.0f} min from the first start "
        f"to the last finish ({n0(doc['scalesim_runs']['wall_s_sum'])} s summed over runs, "
        f"{doc['scalesim_runs']['count']} runs); this invocation of `run.py`, reusing them: "
        f"{n0(doc['total_wall_s'])} s.",
        "",
        "## The chip as SCALE-Sim sees it",
        "",
        "Every number comes from `arch_configs.load_arch('45nm')` (`run.py` `chip_mapping`):",
        "",
        "| SCALE-Sim input | value | from our chip |",
        "|---|---|---|",
        f"| array | {m['array_rows']} × {m['array_cols']} = {m['macs_per_cycle']:,} MACs/cycle | "
        f"{o['pes']} PEs × {o['accumulators']} accumulators (MACs/cycle per PE) |",
        f"| word | 1 byte (scalesim {v['scalesim']} fixes `word_size = 1`) | "
        f"{o['weight_bits']}-bit weights, {o['activation_bits']}-bit activations |",
        f"| ifmap SRAM | {n0(m['ifmap_kb'])} KB | half of our {o['glb_bytes'] // 1024:,} KiB GLB "
        "(the GLB holds a layer's input and output maps) |",
        f"| ofmap SRAM | {n0(m['ofmap_kb'])} KB | the other half of the GLB |",
        f"| filter SRAM | {n0(m['filter_kb'])} KB | our {o['pes']} PE SRAMs × "
        f"{o['pe_sram_bytes'] // 1024} KiB (where the placement keeps weights near the MACs) |",
        f"| — | — | our register files ({o['register_bytes']} B per PE) have no counterpart: a "
        "SCALE-Sim PE holds one operand of each kind |",
        f"| ifmap / ofmap backing port | {m['ifmap_bw']} / {m['ofmap_bw']} words per cycle | our "
        f"GLB port, {o['glb_bits_per_cycle']:,} bits/cycle |",
        f"| filter backing port | {m['filter_bw']['on_chip']} words/cycle where our ANN placement "
        f"keeps the layer's weights on chip; **{m['filter_bw']['dram']}** where it keeps them in "
        f"DRAM | GLB port; DRAM {o['dram_bytes_per_cycle'] * o['clock_hz'] / 1e9:.1f} GB/s at "
        f"{o['clock_hz'] / 1e6:.0f} MHz = "
        f"{o['dram_bytes_per_cycle']:.1f} B/cycle (SCALE-Sim wants an integer) |",
        "| bandwidth mode | `USER` (the ports above); double-buffered SRAMs, half active; no "
        "Ramulator, no custom layouts, no sparsity | — |",
        "| padding | not a SCALE-Sim parameter: each padded layer gets its zero-padded input map "
        "(34×34 for a 32×32 map, 3×3 kernel), so SCALE-Sim computes the padding taps too | ours "
        "counts only taps inside the map |",
        "",
        "SCALE-Sim's three SRAMs each talk to their own backing store at their own rate; ours "
        "share one GLB port (GLB + DRAM bits over one path). SCALE-Sim runs each layer "
        "independently with empty SRAMs (`Total Cycles` excludes the first fill, `incl. prefetch` "
        "includes it and the last write-back). In SCALE-Sim's own terms its backing store is "
        "\"DRAM\"; here it stands for our GLB port (and for DRAM for the weights our placement "
        "spills).",
        "",
        "**Our side.** `hwsim.compare.evaluate` on the ANN side for `os`, `ws`, `rs` (dense: no "
        "zero skipping), objective `latency` (for reference the default `energy` objective is in "
        "`results.json`), on the ANN placement (no membranes) with the policy's weight levels "
        "or all weights in the GLB, whichever is faster. A layer's cycles = max(compute, "
        "memory) + NoC latency, compute = ⌈busiest PE's MACs / min(accumulators, partial sums "
        "its register tile keeps in flight)⌉ (MACs = taps inside the map; `energy.lanes`), "
        "memory = GLB bits / GLB bandwidth + DRAM bits / DRAM bandwidth or the busiest "
        "PE's SRAM port time, whichever is longer (`energy.ann_cycles`). The dense counts are "
        "built without images (a dense dataflow does not depend on the values); "
        + (f"for the bundled model they give the same per-layer cycles as `hwsim.simulate` on "
           f"{doc['verify']['images']} real images with `--objective latency` (largest relative "
           f"difference {doc['verify']['max_relative_difference']:.1e})."
           if doc.get("verify") else "(not checked against `hwsim.simulate` in this run).")
        + f" Model state: commit `{git['commit'][:10]}`"
        + (f", with uncommitted changes in {dirty} "
           "(work in progress by another engineer at the time of the run; the PE-SRAM port "
           "term of the latency was among them)" if git["uncommitted_model_files"] else "")
        + ".",
        "",
        "**Pairs.** SCALE-Sim `os` ↔ ours `os` (outputs stay put, inputs and weights stream) and "
        "`ws` ↔ `ws` (weights stay put) are the same idea on different hardware; SCALE-Sim `is` "
        "(inputs stay put) and our `rs` (Eyeriss row-stationary) have no counterpart on the other "
        "side, so they enter only the *best/best* comparison (per layer, each side's fastest "
        "dataflow).",
        "",
        "## In short",
        "",
        *in_short(doc),
        "",
        f"## Results ({doc['date']})",
        "",
        *summary(doc),
        "",
    ]
    lines += ["Our cycles with the mapper's default objective (energy) instead of latency — the "
              "tables below use latency:", "", *objective_table(doc), ""]
    for net in nets.values():
        lines += layer_table(net) + [""]
    lines += ["`W`: where our ANN placement keeps the layer's weights (`chip`: PE SRAM or GLB; "
              "`DRAM`: spilled; SCALE-Sim's filter port follows it). `best/best`: each side's "
              "fastest dataflow for the layer (ours/SCALE-Sim).", ""]
    for net in nets.values():
        lines += util_table(net) + [""]
    lines += ["## Where the cycles go", ""]
    for net in nets.values():
        lines += [f"**{net['label']}**, summed over layers:", ""] + breakdown(net) + [""]
    if any(lay["weight_home"] == "dram" for net in nets.values() for lay in net["layers"]):
        lines += ["**SCALE-Sim on the layers whose weights our placement keeps in DRAM** "
                  "(filter port "
                  f"{m['filter_bw']['dram']} B/cycle; cycles; *weights fetched* = its filter "
                  "port's reads ÷ the layer's weights):", "", *dram_table(doc), ""]
    lines += [
        f"SCALE-Sim's cycles follow its loop structure exactly: on {ana_ok} of the {ana_n} "
        "completed (layer, dataflow) runs its stall-free cycles (*Total Cycles* − *Stall "
        "Cycles*) equal `folds × (T + rows + cols − 2 [+ rows "
        "for ws/is]) − 1` (`run.py` `analytical_cycles`; Sr, Sc, T are the SCALE-Sim paper's "
        "spatial and temporal dimensions: os Sr = output pixels, Sc = filters, T = C·F²; ws "
        "Sr = C·F², Sc = filters, T = pixels; is Sr = C·F², Sc = pixels, T = filters)"
        + ". Stalls: " + ("every run of a layer with DRAM weights (table above); "
                          if any_dram else "")
        + ("on layers with on-chip weights " + "; ".join(
            f"{a} {b} {c} {n0(s)} cycles" for a, b, c, s in stall_layers)
           if stall_layers else "no run of a layer with on-chip weights")
        + ".",
        "",
        "## Systematic differences",
        "",
    ]
    lines += differences(doc)
    lines += ["", "## What the comparison found wrong in our model, and the fix", ""]
    lines += findings(doc)
    lines += [""] + baseline_section(doc)
    return "\n".join(lines)


def dominated(nets: dict) -> str:
    """Where SCALE-Sim's fill/drain/load exceeds its streaming cycles, grouped by dataflow."""
    parts = []
    for d in SS:
        hits = [(key, lay["name"], lay["scalesim"][d]["analytical"]["T"])
                for key, net in nets.items() for lay in net["layers"]
                if lay["scalesim"][d]["analytical"]["fill_drain"]
                > lay["scalesim"][d]["analytical"]["streaming"]]
        if hits:
            parts.append(f"{d}: " + ", ".join(f"{k} {n} (T = {t:,})" for k, n, t in hits))
    return "; ".join(parts) if parts else "none"


def differences(doc: dict) -> list[str]:
    nets = doc["networks"]
    m = doc["chip"]
    o = m["ours"]
    rows, cols = m["array_rows"], m["array_cols"]
    items = []
    # fill / drain share
    fd = {d: (sum(lay["scalesim"][d]["analytical"]["fill_drain"] for net in nets.values()
                  for lay in net["layers"]),
              sum(ss_compute(lay, d) for net in nets.values() for lay in net["layers"]))
          for d in SS}
    noc = next(iter(nets.values()))["layers"][0]["ours"]["latency"]["os"]["noc_cycles"]
    items.append(
        f"**Systolic fill and drain (SCALE-Sim only).** Every fold of a {rows}×{cols} array "
        f"pays the skew: {rows + cols - 2} cycles for os, {2 * rows + cols - 2} for ws/is (the "
        f"stationary operand is first loaded over {rows} cycles). Over all layers here that is "
        + ", ".join(f"{pct(a / b)} of SCALE-Sim's stall-free {d} cycles"
                    for d, (a, b) in fd.items())
        + ". It outweighs the streaming itself where T, the streamed dimension, is short — "
        + dominated(nets)
        + ". Ours has no pipeline fill: a PE starts its MACs at once, and a layer only adds "
        f"the NoC hop latency ({noc:.1f} cycles: mean mesh distance × hop latency).")
    # array shape / folds
    fcs = [(key, lay) for key, net in nets.items() for lay in net["layers"]
           if lay["kind"] == "linear"]
    items.append(
        f"**Array shape and folding.** SCALE-Sim maps a Sr×Sc operand grid onto {rows}×{cols} "
        "PEs and pays whole folds for partial ones (mapping efficiency < 100 %); a batch-1 fc "
        f"layer in os has Sr = 1 output pixel, so 1 of {rows} rows works ("
        + "; ".join(f"{lab} {lay['name']}: os mapping efficiency "
                    f"{pct(lay['scalesim']['os']['mapping_efficiency'])}, utilisation "
                    f"{lay['scalesim']['os']['overall_util'] * 100:.1f} %" for lab, lay in fcs)
        + f"). Ours is {o['pes']} independent PEs of {o['accumulators']} accumulators that "
        f"each own whole outputs; its compute term is the busiest PE's MACs / min("
        f"{o['accumulators']}, the partial sums its tile keeps in flight), so a PE that owns "
        f"fewer outputs than {o['accumulators']}, as in a batch-1 fc layer, idles "
        "accumulators (finding 1 below).")
    # padding
    pad = [(key, lay, lay["ours"]["latency"]["os"]["macs_in_map"] / lay["macs"])
           for key, net in nets.items() for lay in net["layers"] if lay["shape"]["padding"]]
    if pad:
        lo = min(pad, key=lambda x: x[2])
        items.append(
            "**Padding MACs.** SCALE-Sim multiplies the zero padding (its MAC count is the "
            "nominal K·C·OY·OX·F²); our MACs are the taps inside the map (`tiles.fanin_of`), "
            f"{pct(min(p for _, _, p in pad))}–{pct(max(p for _, _, p in pad))} of the nominal "
            f"count on the padded layers (lowest: {lo[0]} {lo[1]['name']}, "
            f"{lo[1]['shape']['OY']}×{lo[1]['shape']['OX']} map). So a compute-bound padded "
            "layer of ours takes less than the ideal MACs / 1,024 (column *ideal in map*).")
    # memory
    onchip_stalls = [(key, lay["name"], d, lay["scalesim"][d]["stall_cycles"])
                     for key, net in nets.items() for lay in net["layers"] for d in SS
                     if lay["weight_home"] != "dram" and done(lay, d)
                     and lay["scalesim"][d]["stall_cycles"]]
    mem = ("**Memory model.** Ours overlaps memory and compute completely (a layer takes the "
           "longer of the two, the bits averaged over the layer); SCALE-Sim stalls the array "
           "whenever a demanded operand is not in the active half of its SRAM and refills it "
           "from the backing store at the port's rate. Its three ports are separate, ours "
           "share one GLB/DRAM path; its ifmap traffic is the im2col stream (each input "
           "fetched once per window it falls in). With these ports, layers whose weights are "
           "on chip "
           + ("never stall in SCALE-Sim." if not onchip_stalls else
              "stall in SCALE-Sim only in " + "; ".join(
                  f"{k} {n} {d} ({n0(c)} cycles)" for k, n, d, c in onchip_stalls) + "."))
    dram_rows = [(key, lay) for key, net in nets.items()
                 for lay in net["layers"] if lay["weight_home"] == "dram"]
    if dram_rows:
        refetch = [lay["scalesim"][d]["filter_fetches_per_weight"] for _, lay in dram_rows
                   for d in SS if done(lay, d)]
        thrash = [(lay["scalesim"][d]["cycles"] / (lay["scalesim"][d]["dram_reads"]["filter"]
                                                    / m["filter_bw"]["dram"]))
                  for _, lay in dram_rows for d in SS
                  if done(lay, d) and lay["scalesim"][d]["filter_fetches_per_weight"] > 4]
        mem += (
            " On the layers whose weights our placement keeps in DRAM (filter port "
            f"{m['filter_bw']['dram']} B/cycle; table above) SCALE-Sim's stalls are not a "
            f"bandwidth bound: its filter port delivered each weight {min(refetch):.1f}–"
            f"{max(refetch):.1f} times"
            + (f", and where it fetched them more than 4 times its total is "
               f"{min(thrash):.2f}–{max(thrash):.2f}× its filter traffic ÷ "
               f"{m['filter_bw']['dram']} B/cycle: the re-fetching sets its time"
               if thrash else "")
            + ". Its read buffer (`memory/read_buffer.py`) keeps a window of half the SRAM "
            "over a cyclic list of fetches in prefetch order and moves it on by half an SRAM "
            "whenever a demanded address is missing. Where the order in which the array "
            "demands the weights departs from the fetch list's order (for ws each fold's "
            "filter rows are demanded bottom-up, `np.flip` in `systolic_compute_ws.py`, but "
            "fetched top-down), an address that has just left the window is found again only "
            "after the window has gone round the whole list, re-reading the layer's weights "
            "(traced with an instrumented `new_prefetch` on VGG16 conv8 ws: the window moved 6 "
            "times where 2 moves cover the layer; the os fc runs were not traced). It also "
            "adds a positive stall twice (`offset += potential_stall_cycles` before and inside "
            "`if potential_stall_cycles > 0`). So on these layers SCALE-Sim's *Total Cycles* "
            "measure its buffer model more than the chip; its stall-free cycles and one pass "
            "of the weights at DRAM rate (the derived reference of the summary) are the fairer "
            "references. Ours reads DRAM weights once per image where the layer fits the free "
            "GLB (staged) and at every fill otherwise (`dataflow._weights_from_home`).")
    items.append(mem)
    # our on-chip memory side
    mb = [(key, lay["name"], d, lay["ours"]["latency"][d]["bound"])
          for key, net in nets.items() for lay in net["layers"] for d in OURS
          if lay["weight_home"] != "dram"
          and lay["ours"]["latency"][d]["bound"] not in ("compute", "dram")]
    if mb:
        port = (f" ({o['pe_sram_width_bits']}-bit words, {o['pe_sram_ports']} port"
                f"{'s' if o['pe_sram_ports'] != 1 else ''} per PE SRAM)"
                if o.get("pe_sram_width_bits") else "")
        items.append(
            "**Our memory side on chip.** Where the weights are on chip ours can still be "
            "memory-bound, on resources a systolic array does not have: "
            + "; ".join(f"{k} {n} {d} ({b})" for k, n, d, b in mb)
            + ". `glb`: the shared GLB port (os reads each weight from it once per register "
            "tile, rs once per row segment); `pe_sram`: the busiest PE's SRAM "
            f"ports{port}, e.g. ws with its partial sums in the PE SRAM (a read-modify-write "
            "per MAC) where the register file cannot hold them. In SCALE-Sim partial sums move "
            "between neighbouring PEs and weights are reused across a fold.")
    items.append(
        "**Dataflow pairs.** SCALE-Sim's os/ws/is are fixed mappings of a GEMM onto the array "
        "(no tiling choice); ours are loop nests per PE block whose tiles the mapper picks per "
        "layer. `is` and `rs` have no counterpart on the other side.")
    return [f"{i}. {t}" for i, t in enumerate(items, 1)]

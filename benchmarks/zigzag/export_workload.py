"""Export our chip's numbers and two networks' layer shapes for the ZigZag reference run.

Runs in the project's own environment (``pip install -e .``)::

    python benchmarks/zigzag/export_workload.py            # writes benchmarks/zigzag/chip_45nm.json

Everything comes from the project API: ``arch_configs.load_arch('45nm')`` for energies,
capacities and bandwidths, ``model.checkpoint.load`` for the bundled network, and
``model.architectures.build_architecture('vgg16', 10, (3, 32, 32))`` for VGG16 on CIFAR-10 (the
same node list ``python -m model.train ann --arch vgg16 --dataset cifar10 --epochs 0`` builds).
``mapping.map_network`` adds where our placement puts each layer's weights and membranes, so the
ZigZag run can start each operand at the same level (weights the placement spills to DRAM are
read from DRAM there too).

ZigZag is not imported here: it runs only from ``run_zigzag.py`` in its own virtualenv.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from arch_configs import LEVELS, load_arch
from mapping import MappingWarning, layer_graph, map_network
from model.architectures import build_architecture
from model.checkpoint import load

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


def layer_shapes(nodes) -> list[dict]:
    """Every conv/linear node as ZigZag loop bounds: K, C, OY, OX, FY, FX, stride, padding and the
    input size IY, IX (a linear layer is a 1x1 conv on a 1x1 map)."""
    out = []
    for n in nodes:
        if not n.synaptic:
            continue
        if n.kind == "conv":
            c, iy, ix = n.in_shape
            k, oy, ox = n.out_shape
            f, s, p = n.kernel, n.stride, n.padding
        else:
            (c,), (k,) = n.in_shape, n.out_shape
            iy = ix = oy = ox = f = s = 1
            p = 0
        row = {"name": n.name, "kind": n.kind, "K": k, "C": c, "OY": oy, "OX": ox, "FY": f,
               "FX": f, "IY": iy, "IX": ix, "stride": s, "padding": p,
               "macs": n.ann_macs, "params": n.params, "neuron": n.neuron}
        assert row["macs"] == k * c * oy * ox * f * f, n.name
        out.append(row)
    return out


def network(nodes, arch, label: str, source: str) -> dict:
    """Layer shapes plus our placement (weight and membrane level of each layer)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        m = map_network(layer_graph(nodes), arch)
    layers = layer_shapes(nodes)
    for row in layers:
        lm = m.layer(row["name"])
        row["weight_level"] = lm.weight_level
        row["membrane_level"] = lm.membrane_level
    return {"name": label, "source": source, "input_shape": list(nodes[0].out_shape),
            "batch": 1, "layers": layers,
            "total_macs": sum(r["macs"] for r in layers),
            "total_params": sum(r["params"] for r in layers)}


def chip(a) -> dict:
    p, pe, g = a.precision, a.pe_array, a.global_buffer
    widths = {"weight": p.weight_bits, "activation": p.activation_bits,
              "psum": p.membrane_bits, "word": 64}
    access = {lvl: {f"{name}_{b}b": a.access_pj(lvl, b) for name, b in widths.items()}
              for lvl in LEVELS}
    per_bit = {lvl: a.access_pj(lvl, 64) / 64 for lvl in LEVELS}
    mult = a.op_energy_pj("mult", max(p.weight_bits, p.activation_bits))
    add = a.op_energy_pj("add", p.membrane_bits)
    dram_bits_per_cycle = a.dram.bandwidth_bytes_per_s.value * 8 / a.frequency_hz
    return {
        "name": a.name, "node_nm": a.node_nm, "clock_hz": a.frequency_hz,
        "precision": {"weight_bits": p.weight_bits, "activation_bits": p.activation_bits,
                      "psum_bits": p.membrane_bits},
        "mac_pj": mult + add,
        "mac_parts_pj": {f"mult_{max(p.weight_bits, p.activation_bits)}b": mult,
                         f"add_{p.membrane_bits}b": add},
        "access_pj": access,
        "access_pj_per_bit": per_bit,
        "pe_array": {"count": pe.count, "macs_per_pe": pe.accumulators,
                     "register_bytes": pe.register_bytes, "sram_bytes": pe.sram_bytes},
        "global_buffer": {"size_bytes": g.size_bytes, "banks": g.banks,
                          "bank_bytes": g.size_bytes // g.banks,
                          "bandwidth_bits_per_cycle": g.bandwidth_bits_per_cycle},
        "dram": {"kind": a.dram.kind, "pj_per_bit": a.dram_pj_per_bit,
                 "bandwidth_bytes_per_s": a.dram.bandwidth_bytes_per_s.value,
                 "bandwidth_bits_per_cycle": dram_bits_per_cycle},
        "notes": {
            "access_pj": "a.access_pj(level, bits): linear in bits at every level (register "
                         "pJ/bit x bits; SRAM energy per bit interpolated by capacity x bits; "
                         "a GLB access is one bank's; DRAM pJ/bit x bits). Reads and writes "
                         "cost the same.",
            "mac_pj": "a.op_energy_pj('mult', 8) + a.op_energy_pj('add', 16)",
        },
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default=str(HERE / "chip_horowitz.yaml"),
                    help="the chip to export (default: the one the committed results used)")
    ap.add_argument("--model", default=str(ROOT / "model" / "bundled" / "default.pt"))
    ap.add_argument("--out", default=str(HERE / "chip_45nm.json"))
    args = ap.parse_args(argv)

    a = load_arch(args.arch)
    ck = load(args.model)
    nets = {
        "compact": network(ck.nodes(), a, f"bundled model ({ck.arch}, {ck.dataset})",
                           "model.checkpoint.load('model/bundled/default.pt').nodes()"),
        "vgg16": network(build_architecture("vgg16", 10, (3, 32, 32)), a,
                         "VGG16, CIFAR-10 (32x32)",
                         "model.architectures.build_architecture('vgg16', 10, (3, 32, 32))"),
    }
    doc = {"chip": chip(a), "networks": nets,
           "generated_by": "benchmarks/zigzag/export_workload.py"}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
    for key, n in nets.items():
        print(f"{key}: {len(n['layers'])} layers, {n['total_macs']:,} MACs, "
              f"{n['total_params']:,} weights")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

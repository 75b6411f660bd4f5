"""``python -m mapping [--model FILE] [--arch CONFIG] [--json PATH]``: print a checkpoint's layer
graph and its placement on a chip; ``--json`` also writes both (keys: model, arch, policy,
layers [{name, kind, neurons, params, ann_macs, ...}], levels, buffer, warnings, graph).

Exit status 0 on success, 2 with one ``error:`` line for a bad checkpoint, config or path.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from arch_configs import ConfigError, list_configs, load_arch
from model.bundled import bundled_model_path
from model.checkpoint import CheckpointError, load
from model.common import UsageError, check_output
from model.files import write_json

from .graph import graph_table, graph_to_dict, layer_graph, totals
from .placement import MappingWarning, map_network


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m mapping",
        description="Print a checkpoint's layer graph and its placement on an accelerator.")
    p.add_argument("--model", metavar="FILE",
                   help="a checkpoint (.pt); default: the bundled DIET-SNN, as hwsim.run")
    p.add_argument("--arch", default="45nm", metavar="CONFIG",
                   help=f"a config name ({', '.join(list_configs())}) or YAML path; "
                        "default 45nm")
    p.add_argument("--json", metavar="PATH", help="also write the graph and placement as JSON")
    args = p.parse_args(argv)
    try:
        if args.json:
            check_output(args.json, "--json")
        ckpt = load(args.model or bundled_model_path())
        arch = load_arch(args.arch)
    except (CheckpointError, ConfigError, UsageError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    g = layer_graph(ckpt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MappingWarning)
        mapping = map_network(g, arch)
    print(graph_table(g))
    print()
    print(mapping.table())
    for w in mapping.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if args.json:
        doc = mapping.to_dict()
        doc["model"].update(totals(g))
        doc.update(arch=arch.summary(), graph=graph_to_dict(g))
        try:
            write_json(args.json, doc, indent=1)
        except OSError as e:
            print(f"error: {args.json}: cannot write ({e.strerror})", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

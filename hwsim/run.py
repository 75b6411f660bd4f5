"""Simulate a trained DIET-SNN on an event-driven accelerator and compare it with the ANN.

    python -m hwsim.run --arch configs/45nm.yaml --model vgg16.pt
    python -m hwsim.run                       # the bundled model and test images, 45 nm

Prints a per-layer table of the headline dataflow pair (SNN vs ANN energy, ops, cycles, where
V and W live, each layer's chosen tiling), every dataflow of both sides with its energy and
latency, the verdict (best SNN dataflow vs best ANN dataflow on this chip), accuracy and the
functional match with the PyTorch model, the energy breakdown, latency and ANN/SNN ratios in
the full model and in the paper's mode. See docs/hwsim.md for every quantity.
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch

from arch_configs import ConfigError, load_arch
from arch_configs.schema import MAX_PES
from model import checkpoint as C
from model.bundled import bundled_model_path, bundled_sample
from model.common import USER_ERRORS, UsageError, check_output, load_splits
from model.data import describe_input

from . import report as R
from .compare import Infeasible
from .simulate import AnnMismatch, SimOptions, simulate

MEMBRANE_LEVELS = ("register", "pe_sram", "glb", "dram", "auto")


def overrides(pes: int | None = None, membrane: str | None = None, weights: str | None = None,
              schedule: str | None = None, first_layer: str | None = None,
              dataflow: str | None = None) -> dict:
    """Config overrides (validated like the YAML itself) from command-line values."""
    over: dict = {}
    if pes is not None and not 1 <= pes <= MAX_PES:
        raise UsageError(f"--pes must be a PE count from 1 to {MAX_PES}, got {pes}")
    if pes is not None:
        over["pe_array"] = {"count": pes}
    policy = {k: v for k, v in (("membrane_level", membrane), ("weight_level", weights),
                                ("schedule", schedule), ("first_layer", first_layer),
                                ("dataflow", dataflow))
              if v is not None}
    if policy:
        over["policy"] = policy
    return over


def load_images(ckpt: C.Checkpoint, data: str | None, samples: int | None, seed: int = 0):
    """The test inputs to simulate (bundled sample by default) and how many to use. Inputs
    without labels (an .npy, an npz with 'x' only) are simulated too: energy, latency and the
    bit-exact check need none; the report's accuracies are then null."""
    if data:
        ds = load_splits(data, ckpt.input_shape, ckpt.num_classes, need_train=False,
                         seed=seed, need_labels=False).test
    else:
        ds = bundled_sample()
        if ds.input_shape != tuple(ckpt.input_shape):
            raise UsageError(f"the bundled images are {describe_input(ds.input_shape)} but "
                             f"the model expects {describe_input(ckpt.input_shape)}: pass "
                             "--data DIR or F.npz")
    return ds, check_samples(ds, samples)


def check_samples(ds, samples: int | None) -> int:
    """How many of ``ds``'s images to simulate: ``samples``, or 200 (all if fewer)."""
    n = min(200, len(ds)) if samples is None else samples
    if n < 1:
        raise UsageError(f"--samples must be positive, got {n}")
    if n > len(ds):
        raise UsageError(f"--samples {n} but the data has only {len(ds)} test images")
    return n


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m hwsim.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="45nm",
                    help="config: a name (45nm), or a path (configs/45nm.yaml)")
    ap.add_argument("--model", help="checkpoint (default: the bundled DIET-SNN)")
    ap.add_argument("--data", help="data folder, an .npz of inputs 'x' and labels 'y', or "
                    "an .npy of inputs (uint8 or float, (N, C, H, W) or (N, H, W, C) as the "
                    "model's input); its test split is simulated; without labels the report "
                    "has no accuracy. Default: the bundled CIFAR-10 sample; formats in "
                    "docs/data.md")
    ap.add_argument("--samples", type=int, help="images to simulate (default: 200, or all if "
                                                "fewer)")
    ap.add_argument("--timesteps", type=int, help="override T")
    ap.add_argument("--pes", type=int, help="override the PE count")
    ap.add_argument("--membrane", choices=MEMBRANE_LEVELS, help="override where membranes live")
    ap.add_argument("--weights", choices=("pe_sram", "glb", "dram", "auto"),
                    help="override where weights live")
    ap.add_argument("--schedule", choices=("layer_by_layer", "pipelined"))
    ap.add_argument("--first-layer", choices=("every_step", "once"),
                    help="override policy.first_layer: the analog input layer's MACs at every "
                         "step, or once (current reused)")
    ap.add_argument("--dataflow", help="the headline dataflow pair (policy.dataflow): 'best' "
                    "(default: the best of each side), 'scatter' (today's accounting on both "
                    "sides), 'os', or SNN/ANN such as time_batched/rs_skip; every dataflow is "
                    "reported either way")
    ap.add_argument("--ann", help="a trained ANN checkpoint (same architecture) as the baseline: "
                    "its own activations and accuracy (default: the SNN's weights with ReLU)")
    ap.add_argument("--objective", choices=("energy", "latency", "edp"), default="energy",
                    help="what the mapper minimises per layer, and what 'best' means")
    ap.add_argument("--energy", choices=("full", "paper"), default="full",
                    help="ratio to headline: the full model or the paper's Table 3 formula")
    ap.add_argument("--json", help="write the report (docs/report.md keys) here")
    ap.add_argument("--csv", help="write per-layer CSVs into this folder")
    ap.add_argument("--plot", help="write PNG plots into this folder")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    ap.add_argument("--no-check", action="store_true",
                    help="skip the comparison with the PyTorch model")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> dict:
    args = parser().parse_args(argv)
    if args.threads is not None and args.threads < 1:
        print(f"error: --threads must be >= 1, got {args.threads}", file=sys.stderr)
        raise SystemExit(2)
    if args.threads:
        import numba

        torch.set_num_threads(args.threads)
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    try:
        for name in ("timesteps", "batch_size"):
            v = getattr(args, name)
            if v is not None and v < 1:
                raise UsageError(f"--{name.replace('_', '-')} must be positive, got {v}")
        for flag, path, folder in (("--json", args.json, False), ("--csv", args.csv, True),
                                   ("--plot", args.plot, True)):
            if path:
                check_output(path, flag, folder)  # before any work
        arch = load_arch(args.arch, overrides(args.pes, args.membrane, args.weights,
                                              args.schedule, args.first_layer, args.dataflow))
        model_path = args.model or bundled_model_path()
        ckpt = C.load(model_path, stages=("converted", "snn"))
        ds, n = load_images(ckpt, args.data, args.samples)
        opts = SimOptions(timesteps=args.timesteps, batch_size=args.batch_size,
                          energy_mode=args.energy, objective=args.objective, ann=args.ann,
                          progress=not args.quiet, check=not args.no_check)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # spills are listed in the report instead
            rep = simulate(ckpt, arch, ds, n, opts, model_name=str(model_path))
    except (*USER_ERRORS, ConfigError, UsageError, Infeasible, AnnMismatch) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted: nothing was written (a run keeps no partial state; run it again)",
              file=sys.stderr)
        raise SystemExit(130) from None
    print(R.table(rep))
    print()
    print(R.dataflow_table(rep))
    print()
    print(R.summary(rep))
    try:
        if args.json:
            print(f"wrote {R.write_json(rep, args.json)}")
        if args.csv:
            for p in R.write_csv(rep, args.csv):
                print(f"wrote {p}")
        if args.plot:
            for p in R.plot(rep, args.plot):
                print(f"wrote {p}")
    except OSError as e:
        print(f"error: cannot write {e.filename}: {e.strerror}", file=sys.stderr)
        raise SystemExit(2) from None
    return rep


if __name__ == "__main__":
    main()

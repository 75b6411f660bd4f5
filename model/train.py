"""The DIET-SNN pipeline: ``ann`` -> ``convert`` -> ``snn``.

    python -m model.train ann --arch vgg16 --dataset cifar10 --data DIR --epochs N --out ann.pt
    python -m model.train convert --ann ann.pt --timesteps 5 --data DIR --out snn0.pt
    (an ANN trained with --batch-norm: convert --fold-bn folds it into weights and biases)
    python -m model.train snn --init snn0.pt --epochs N --out vgg16.pt

Every command selects its model on the validation split (never the test set), measures the test
accuracy once at the end, writes ``OUT`` and keeps ``OUT.resume.pt`` after each epoch so that an
interrupted run continues where it stopped; a resume file of a run with other options is
refused, naming them (``--restart`` discards it). The same command with
``--snapshot PATH`` trains nothing: it writes the best epoch so far to PATH and keeps the resume
file (an interim model from a run that spans sessions).
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import checkpoint as C
from . import data as D
from .architectures import ARCHITECTURES
from .common import (
    USER_ERRORS,
    UsageError,
    check_flags,
    check_output,
    dataset_info,
    evaluate,
    fail,
    load_splits,
    progress,
    resolve_device,
    seed_everything,
    set_threads,
)
from .conversion import balance_thresholds, fold_batch_norm
from .files import save_torch
from .network import Network, parameter_groups
from .neuron import RESETS


# ------------------------------------------------------------------------------ helpers
def _resume_path(out: Path) -> Path:
    return out.with_name(out.name + ".resume.pt")


def _epochs_dir(out: Path) -> Path:
    return out.with_name(out.name + ".epochs")


def _data_dir(args, ckpt: C.Checkpoint) -> str:
    data = args.data or ckpt.metrics.get("data_dir")
    if not data:
        raise D.DataError("no --data given and the checkpoint does not name its data folder")
    return str(data)


def _lr_at(epoch: int, epochs: int, base: float) -> float:
    """Cosine annealing from ``base`` to 0 over ``epochs``."""
    return 0.5 * base * (1 + math.cos(math.pi * epoch / max(1, epochs)))


def _fit(net: Network, ckpt: C.Checkpoint, splits, args, *, snn: bool, optimiser_groups,
         make_optimiser, label: str) -> tuple[Network, list]:
    """Train ``epochs`` epochs with per-epoch resume files; return the best-on-validation net.

    With ``--time-budget S`` the number of epochs is fixed after the first one, from its
    measured speed, to what fits in S seconds (at most ``--epochs``); the cosine schedule is
    exact because its first epoch runs at the base rate whatever the total.
    """
    out = Path(args.out)
    resume = _resume_path(out)
    device = next(net.parameters()).device
    opt = make_optimiser(optimiser_groups)
    start, history = 0, []
    epochs = args.epochs
    best_state, best_val, best_report = copy.deepcopy(net.state_dict()), -1.0, None
    signature = {"command": label, "arch": ckpt.arch, "epochs": args.epochs, "seed": args.seed,
                 "limit": args.limit, "train_limit": args.train_limit, "lr": args.lr,
                 "batch_size": args.batch_size,
                 "time_budget": args.time_budget, "init": getattr(args, "init", None)}
    if ckpt.arch_kwargs.get("batch_norm"):  # its state holds batch norm: never another run's
        signature["batch_norm"] = True
    if resume.exists() and not args.restart:
        state = C.read_plain(resume, "resume file")
        if not isinstance(state, dict) or not {"signature", "net", "epoch"} <= state.keys():
            raise UsageError(f"{resume}: not a resume file of `model.train`; add --restart "
                             f"to discard it")
        if state.get("signature") == signature:
            net.load_state_dict(state["net"])
            opt.load_state_dict(state["optimiser"])
            start, history = state["epoch"], state["history"]
            best_state, best_val = state["best_state"], state["best_val"]
            best_report = state.get("best_report")
            epochs = state.get("planned_epochs", epochs)
            print(f"resuming {label} from {resume} at epoch {start}/{epochs}")
        else:  # never overwrite hours of another run's epochs without being told to
            theirs = state.get("signature") or {}
            diff = ", ".join(f"{k} {theirs.get(k)!r} there, {signature.get(k)!r} here"
                             for k in {**signature, **theirs}
                             if theirs.get(k) != signature.get(k))
            raise UsageError(f"{resume} belongs to a different run ({diff or 'no signature'}, "
                             f"epoch {state.get('epoch', '?')} finished): rerun with its "
                             f"options to resume it, or add --restart to discard it")
    if getattr(args, "snapshot", None):
        if start == 0:
            raise UsageError(f"--snapshot needs {resume} with at least one finished epoch of "
                             f"this very run (the same command and options)")
        print(f"snapshot of {label} after epoch {start}/{epochs}: the best on validation "
              f"(epoch {max(history, key=lambda r: r['val_accuracy'])['epoch']}, "
              f"val {best_val:.4f})")
        net.load_state_dict(best_state)
        return net, history, best_report
    T = ckpt.timesteps
    mean, std = ckpt.preprocessing["mean"], ckpt.preprocessing["std"]
    forward = net.snn if snn else net.forward
    step_fn = torch.compile(forward, dynamic=False) if args.compile else forward
    fit_started = time.time()
    epoch = start
    while epoch < epochs:
        torch.manual_seed(args.seed * 1009 + epoch)
        lr = _lr_at(epoch, epochs, args.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        net.train()
        n_batches = (len(splits.train) + args.batch_size - 1) // args.batch_size
        bar = progress(D.batches(splits.train, args.batch_size, mean, std, shuffle=True,
                                 augment=True, seed=args.seed, epoch=epoch,
                                 workers=args.workers, device=device),
                       total=n_batches, desc=f"{label} epoch {epoch + 1}/{epochs}",
                       unit="batch")
        t0 = time.time()
        # running sums stay on the device: no host sync per batch (the GPU runs ahead)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen, t_warm, warm_batches = 0, None, min(20, n_batches // 4)
        for b, (x, y) in enumerate(bar):
            if len(y) == 1 and len(net.bn):
                continue  # batch norm has no batch statistics of one image
            logits = step_fn(x, T).logits if snn else step_fn(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            net.clamp_()
            loss_sum += loss.detach().to(torch.float64) * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            seen += len(y)
            if b + 1 == warm_batches:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                t_warm = time.time()
            if (b + 1) % 50 == 0 or b + 1 == n_batches:
                bar.set_postfix(loss=f"{float(loss_sum) / seen:.3f}",
                                acc=f"{int(correct) / seen:.3f}")
        t_train = time.time()
        val = evaluate(net, splits.val, ckpt.preprocessing, snn=snn, timesteps=T,
                       batch_size=args.eval_batch_size, desc="validation")
        t_val = time.time() - t_train
        row = {"epoch": epoch + 1, "lr": lr, "train_loss": float(loss_sum) / max(1, seen),
               "train_accuracy": int(correct) / max(1, seen), "val_accuracy": val["accuracy"],
               "seconds": round(time.time() - t0, 1)}
        if snn:
            row["leak"] = {n.name: round(net.neuron(n.name).leak.item(), 4)
                           for n in net.spiking_layers}
            row["threshold"] = {n.name: round(net.neuron(n.name).threshold.item(), 4)
                                for n in net.spiking_layers}
        history.append(row)
        tqdm.write(f"{label} epoch {epoch + 1}/{epochs}: loss {row['train_loss']:.4f} train "
                   f"{row['train_accuracy']:.4f} val {val['accuracy']:.4f} ({row['seconds']} s)")
        if val["accuracy"] > best_val:
            best_val, best_state = val["accuracy"], copy.deepcopy(net.state_dict())
            best_report = {**val, "epoch": epoch + 1}  # which epoch the kept weights are
        epoch += 1
        if args.time_budget and epoch == 1 and start == 0:
            # steady-state epoch time: batches after the warm-up, extrapolated, plus validation
            if t_warm is not None and n_batches > warm_batches:
                per_batch = (t_train - t_warm) / (n_batches - warm_batches)
                t_epoch = per_batch * n_batches + t_val
            else:
                t_epoch = time.time() - t0
            epochs = max(1, min(args.epochs, int(args.time_budget / max(t_epoch, 1e-6))))
            tqdm.write(f"{label}: {t_epoch:.1f} s per epoch -> {epochs} epochs fit the "
                       f"{args.time_budget:.0f} s budget")
        elif args.time_budget and time.time() - fit_started > 1.3 * args.time_budget:
            tqdm.write(f"{label}: stopping after epoch {epoch} of {epochs}: past 1.3x the "
                       f"{args.time_budget:.0f} s budget")
            epochs = epoch
        save_torch({"signature": signature, "net": net.state_dict(), "epoch": epoch,
                      "planned_epochs": epochs, "optimiser": opt.state_dict(),
                      "history": history, "best_state": best_state, "best_val": best_val,
                      "best_report": best_report}, resume)
        if getattr(args, "keep_epochs", False):  # for `average` (weights of several epochs)
            save_torch({"signature": signature, "net": net.state_dict(), "epoch": epoch,
                          "history": history}, _epochs_dir(out) / f"epoch{epoch:03d}.pt")
    net.load_state_dict(best_state)
    return net, history, best_report


def _round_half_(net: Network) -> bool:
    """Round the weights to float16 values in place; True if any weight changed."""
    changed = False
    with torch.no_grad():
        for w in net.weights.values():
            r = w.half().float()
            changed |= not torch.equal(r, w)
            w.copy_(r)
    return changed


def _finish(net: Network, ckpt: C.Checkpoint, splits, args, *, snn: bool, history: list,
            extra: dict, started: float, val: dict | None = None,
            drop_resume: bool = True) -> None:
    """Measure validation and test accuracy once, write the checkpoint, print one summary.

    ``val``: the validation result of exactly these weights, when training measured it already.
    With ``--half`` the weights are rounded to float16 first, so the metrics are those of the
    stored model (and validation is measured again)."""
    T = ckpt.timesteps
    kept_epoch = (val or {}).get("epoch")  # the epoch these weights come from, when one is
    if getattr(args, "half", False) and _round_half_(net):
        val = None  # these weights differ from the measured ones
    if val is None:
        val = evaluate(net, splits.val, ckpt.preprocessing, snn=snn, timesteps=T,
                       batch_size=args.eval_batch_size, desc="validation")
    test = None
    if splits.test is not None:
        test = evaluate(net, splits.test, ckpt.preprocessing, snn=snn, timesteps=T,
                        batch_size=args.eval_batch_size, desc="test")
    ckpt.update_from(net, half=getattr(args, "half", False))
    entry = {"stage": ckpt.stage, "epochs": history, **extra}
    if kept_epoch is not None:
        entry["kept_epoch"] = kept_epoch
    ckpt.history = list(ckpt.history) + [entry]
    for key in (f"{ckpt.stage}_test_accuracy", "test_samples"):
        ckpt.metrics.pop(key, None)  # never keep a test number of an earlier model
    if test is not None:
        ckpt.metrics.update({f"{ckpt.stage}_test_accuracy": test["accuracy"],
                             "test_samples": test["samples"]})
    ckpt.metrics.update({
        f"{ckpt.stage}_val_accuracy": val["accuracy"], "val_samples": val["samples"],
        "train_samples": len(splits.train), "data_dir": str(Path(args.data).resolve())
        if args.data else ckpt.metrics.get("data_dir"),
        f"{ckpt.stage}_seconds": round(time.time() - started, 1),
        f"{ckpt.stage}_threads": torch.get_num_threads(),
        f"{ckpt.stage}_device": _device_name(next(net.parameters()).device),
    })
    out = getattr(args, "snapshot", None) or args.out
    if out != args.out:  # an interim model of an unfinished run: its resume file stays
        ckpt.history[-1]["snapshot_of"] = str(_resume_path(Path(args.out)))
    C.save(ckpt, out)  # atomic, and only then is the resume state of a finished run dropped
    if out == args.out and drop_resume:
        _resume_path(Path(args.out)).unlink(missing_ok=True)
    what = f"SNN T={T}" if snn else "ANN"
    tested = (f"test {test['accuracy']:.4f} ({test['samples']} images)" if test is not None
              else "test not measured (--no-test)")
    print(f"{ckpt.stage}: {ckpt.arch} {ckpt.dataset} {what} val {val['accuracy']:.4f} {tested} "
          f"in {time.time() - started:.0f} s -> {out}")


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}, torch {torch.__version__})"
    return f"cpu (torch {torch.__version__}, {torch.get_num_threads()} threads)"


def _parse_scales(text: str) -> list[float]:
    try:
        scales = [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--scale must be a number or a comma-separated list, got "
                         f"{text!r}") from None
    if not scales or any(not (math.isfinite(v) and v > 0) for v in scales):
        raise UsageError(f"--scale values must be positive finite numbers, got {text!r}")
    return scales


# ------------------------------------------------------------------------------ commands
def cmd_ann(args) -> None:
    started = time.time()
    if not args.data:
        raise D.DataError("ann needs --data DIR or F.npz (CIFAR archives, train/test.npz, "
                          "image folders, or an npz with x_train/y_train)")
    if args.init:
        # warm restart: the ANN's weights, architecture and data settings; a new schedule
        ckpt = C.load(args.init, stages=("ann",))
        kw = ckpt.arch_kwargs
        for flag, mine, theirs in (
                ("--arch", args.arch, ckpt.arch), ("--dataset", args.dataset, ckpt.dataset),
                ("--image-size", args.image_size, ckpt.input_shape[1]),
                ("--conv-dropout", args.conv_dropout, kw.get("conv_dropout")),
                ("--fc-dropout", args.fc_dropout, kw.get("fc_dropout")),
                ("--batch-norm", args.batch_norm, kw.get("batch_norm", False))):
            if mine is not None and mine != theirs:
                raise UsageError(f"{flag} {mine} contradicts --init {args.init} ({theirs})")
        args.arch, args.dataset = ckpt.arch, ckpt.dataset
        classes, size = ckpt.num_classes, ckpt.input_shape[1]
        ckpt.history = list(ckpt.history) + [{"stage": "ann_init", "init": str(args.init)}]
        net = ckpt.build().to(args.device)
    else:
        if args.arch is None:
            raise UsageError("ann needs --arch (or --init ANN.pt to continue training one)")
        args.dataset = args.dataset or "cifar10"
        classes, size, prep = dataset_info(args.dataset)
        if args.image_size:
            size = prep["image_size"] = args.image_size
        kwargs = {"conv_dropout": 0.2 if args.conv_dropout is None else args.conv_dropout,
                  "fc_dropout": 0.5 if args.fc_dropout is None else args.fc_dropout}
        if args.batch_norm:
            kwargs["batch_norm"] = True
        from .architectures import build_architecture

        nodes = build_architecture(args.arch, classes, (3, size, size), **kwargs)
        net = Network(nodes).to(args.device)
        ckpt = C.Checkpoint(arch=args.arch, dataset=args.dataset, num_classes=classes,
                            input_shape=(3, size, size), preprocessing=prep, stage="ann",
                            arch_kwargs=kwargs)
    splits = load_splits(args.data, ckpt.input_shape, classes, limit=args.limit,
                         seed=args.seed, train_limit=args.train_limit,
                         need_test=not args.no_test)
    groups = parameter_groups(net, args.weight_decay, train_leak=False, train_threshold=False)
    net, history, val = _fit(net, ckpt, splits, args, snn=False, optimiser_groups=groups,
                             make_optimiser=lambda g: torch.optim.SGD(g, lr=args.lr,
                                                                      momentum=0.9),
                             label="ann")
    _finish(net, ckpt, splits, args, snn=False, history=history, val=val,
            extra={"lr": args.lr, "batch_size": args.batch_size,
                   "weight_decay": args.weight_decay, "optimiser": "SGD momentum 0.9"},
            started=started)


def _fold(ckpt: C.Checkpoint, args) -> tuple[C.Checkpoint, list[str]]:
    """The ANN with its batch norm folded (``--fold-bn``) and the folded layers' names; an ANN
    with batch norm and no ``--fold-bn``, or the flag on an ANN without, is one UsageError."""
    layers = [n.name for n in ckpt.nodes() if n.batch_norm]
    if layers and not args.fold_bn:
        raise UsageError(f"{args.ann}: layers {', '.join(layers)} have batch norm, which an SNN "
                         f"does not run; pass --fold-bn to fold it into their weights and "
                         f"biases")
    if args.fold_bn and not layers:
        raise UsageError(f"--fold-bn: {args.ann} has no batch-norm layers to fold")
    return (fold_batch_norm(ckpt) if layers else ckpt), layers


def cmd_convert(args) -> None:
    started = time.time()
    ann = C.load(args.ann, stages=("ann",))
    ckpt, folded = _fold(ann, args)
    args.data = _data_dir(args, ckpt)
    ckpt.stage, ckpt.timesteps, ckpt.reset = "converted", args.timesteps, args.reset
    scales = _parse_scales(args.scale)
    if args.max_spike_rate is not None and len(scales) < 2:
        raise UsageError("--max-spike-rate chooses among scales: give --scale a list")
    net = ckpt.build().to(args.device)
    net.timesteps, net.reset = args.timesteps, args.reset
    splits = load_splits(args.data, ckpt.input_shape, ckpt.num_classes, limit=args.limit,
                         seed=args.seed, train_limit=args.train_limit,
                         need_test=not args.no_test)
    n = min(args.calib_samples, len(splits.train))
    idx = D.stratified_indices(splits.train.labels, n, args.seed)
    x, _ = next(D.batches(splits.train.subset(idx), n, ckpt.preprocessing["mean"],
                          ckpt.preprocessing["std"], device=args.device))
    fold_report = {}
    if folded:  # the folded ANN against the batch-norm ANN (eval mode) on these images
        with torch.no_grad():
            ref = ann.build().to(args.device).eval()(x)
            diff = (net.eval()(x) - ref).abs().max().item()
        fold_report = {"folded_batch_norm": folded, "fold_max_abs_logit_diff": diff,
                       "fold_max_abs_logit": ref.abs().max().item()}
        tqdm.write(f"folded batch norm of {len(folded)} layers: ANN logits differ by at most "
                   f"{diff:.3g} (largest |logit| {fold_report['fold_max_abs_logit']:.3g})")
    bar = progress(total=len(net.spiking_layers), desc="threshold balancing", unit="layer")

    def on_layer(name, thr):
        bar.set_postfix(layer=name, v=f"{thr:.3f}")
        bar.update()

    measured = balance_thresholds(net, x, args.timesteps, args.percentile, 1.0, on_layer)
    bar.close()
    search, reports, scale = [], {}, scales[0]
    if len(scales) > 1:
        # the percentiles do not depend on the scale: measure once, then try each scale
        neurons = sum(nd.neurons for nd in net.spiking_layers)
        for sc in scales:
            _set_thresholds(net, measured, sc)
            r = evaluate(net, splits.val, ckpt.preprocessing, snn=True, timesteps=args.timesteps,
                         batch_size=args.eval_batch_size, desc=f"validation scale {sc}")
            rate = sum(r["spikes"].values()) / (neurons * r["samples"])  # per neuron, image
            search.append({"scale": sc, "val_accuracy": r["accuracy"], "spike_rate": rate})
            reports[sc] = r
            tqdm.write(f"scale {sc}: val {r['accuracy']:.4f}, spike rate {rate:.4f}")
        allowed = search
        if args.max_spike_rate is not None:
            allowed = [r for r in search if r["spike_rate"] <= args.max_spike_rate]
            if not allowed:
                lowest = min(r["spike_rate"] for r in search)
                raise UsageError(f"no scale in {args.scale} keeps the spike rate at or below "
                                 f"{args.max_spike_rate} (lowest: {lowest:.4f} at scale "
                                 f"{max(scales)}); add larger scales")
        scale = max(allowed, key=lambda r: r["val_accuracy"])["scale"]
        tqdm.write(f"threshold scale {scale} selected on validation")
    thresholds = _set_thresholds(net, measured, scale)
    _finish(net, ckpt, splits, args, snn=True, history=[], val=reports.get(scale),
            extra={"percentile": args.percentile, "scale": scale, "scale_search": search,
                   "max_spike_rate": args.max_spike_rate,
                   "calibration_samples": n, "thresholds": thresholds, **fold_report},
            started=started)


@torch.no_grad()
def _set_thresholds(net: Network, measured: dict[str, float], scale: float) -> dict[str, float]:
    for name, thr in measured.items():
        net.neuron(name).threshold.fill_(thr * scale)
    return {k: v * scale for k, v in measured.items()}


def _snn_init(path: str, args) -> C.Checkpoint:
    """The converted (or SNN) checkpoint a DIET-SNN stage starts from, as stage 'snn', with
    ``--timesteps``/``--reset`` applied and ``args.data`` resolved."""
    ckpt = C.load(path, stages=("converted", "snn"))
    args.data = _data_dir(args, ckpt)
    ckpt.stage = "snn"
    if args.timesteps:
        ckpt.timesteps = args.timesteps
    if args.reset:
        ckpt.reset = args.reset
    return ckpt


def cmd_snn(args) -> None:
    started = time.time()
    ckpt = _snn_init(args.init, args)
    ckpt.gamma = args.gamma
    net = ckpt.build().to(args.device)
    splits = load_splits(args.data, ckpt.input_shape, ckpt.num_classes, limit=args.limit,
                         seed=args.seed, train_limit=args.train_limit,
                         need_test=not args.no_test)
    groups = parameter_groups(net, args.weight_decay, train_leak=args.train_leak,
                              train_threshold=args.train_threshold)
    net, history, val = _fit(net, ckpt, splits, args, snn=True, optimiser_groups=groups,
                             make_optimiser=lambda g: torch.optim.Adam(g, lr=args.lr),
                             label="snn")
    _finish(net, ckpt, splits, args, snn=True, history=history, val=val,
            extra={"lr": args.lr, "batch_size": args.batch_size,
                   "weight_decay": args.weight_decay, "optimiser": "Adam",
                   "train_leak": args.train_leak, "train_threshold": args.train_threshold,
                   "gamma": args.gamma, "reset": ckpt.reset},
            started=started)


def _load_epoch_states(paths: list[str]) -> list[dict]:
    """Per-epoch states of one run (``--keep-epochs`` files or copies of resume files), sorted
    by epoch; raise :class:`UsageError` naming the file for anything else."""
    states = []
    for p in paths:
        if not Path(p).is_file():
            raise UsageError(f"{p}: no such epoch state")
        s = C.read_plain(p, "epoch state")
        if not isinstance(s, dict) or not {"signature", "net", "epoch"} <= s.keys() \
                or not isinstance(s["signature"], dict):
            raise UsageError(f"{p}: not an epoch state of `model.train` (written by "
                             f"--keep-epochs, or a copy of OUT.resume.pt)")
        if s["signature"].get("command") != "snn":
            raise UsageError(f"{p}: an epoch of the {s['signature'].get('command')!r} stage; "
                             f"`average` takes DIET-SNN ('snn') epochs")
        s["path"] = str(p)
        states.append(s)
    if not states:
        raise UsageError("--states: no files given")
    first = states[0]
    for s in states[1:]:
        if s["signature"] != first["signature"]:
            raise UsageError(f"{s['path']} and {first['path']} come from different runs: "
                             f"only epochs of one run are averaged")
    epochs = [s["epoch"] for s in states]
    if len(set(epochs)) != len(epochs):
        raise UsageError(f"--states: epoch {max(epochs, key=epochs.count)} given twice")
    return sorted(states, key=lambda s: s["epoch"])


def _average(states: list[dict]) -> dict:
    """Element-wise mean of the states' tensors (accumulated in float64)."""
    keys = states[0]["net"].keys()
    out = {}
    for k in keys:
        ts = [s["net"][k] for s in states]
        if ts[0].is_floating_point():
            out[k] = (sum(t.double() for t in ts) / len(ts)).to(ts[0].dtype)
        else:
            out[k] = ts[-1]
    return out


def cmd_average(args) -> None:
    """Average the weights, λ and v of the last K epochs of a DIET-SNN run (stochastic weight
    averaging, Izmailov et al. 2018) for each K of ``--last``, keep the best on validation."""
    started = time.time()
    states = _load_epoch_states(args.states)
    init = args.init or states[-1]["signature"].get("init")
    if not init:
        raise UsageError("--init: the checkpoint the run started from (not named in its files)")
    ckpt = _snn_init(init, args)
    try:
        lasts = [int(k) for k in args.last.split(",") if k.strip()] if args.last \
            else [len(states)]
    except ValueError:
        raise UsageError(f"--last must be whole numbers separated by commas, got "
                         f"{args.last!r}") from None
    for k in lasts:
        if not 1 <= k <= len(states):
            raise UsageError(f"--last {k}: there are {len(states)} epoch states (1..{len(states)})")
    net = ckpt.build().to(args.device)
    splits = load_splits(args.data, ckpt.input_shape, ckpt.num_classes, limit=args.limit,
                         seed=args.seed, need_test=not args.no_test)
    best = None
    candidates = []
    for k in lasts:
        chosen = states[-k:]
        try:
            net.load_state_dict(_average(chosen))
        except RuntimeError as e:
            raise UsageError(f"the epoch states do not fit {ckpt.arch} of {init}: "
                             f"{str(e).splitlines()[0]}") from e
        net.clamp_()
        if args.half:
            _round_half_(net)
        val = evaluate(net, splits.val, ckpt.preprocessing, snn=True, timesteps=ckpt.timesteps,
                       batch_size=args.eval_batch_size, desc=f"validation, last {k}")
        epochs = [s["epoch"] for s in chosen]
        candidates.append({"last": k, "epochs": epochs, "val_accuracy": val["accuracy"]})
        tqdm.write(f"average of epochs {epochs[0]}-{epochs[-1]} ({k}): val {val['accuracy']:.4f}")
        if best is None or val["accuracy"] > best[1]["accuracy"]:
            best = (copy.deepcopy(net.state_dict()), val, epochs)
    net.load_state_dict(best[0])
    tqdm.write(f"kept the average of epochs {best[2]} (val {best[1]['accuracy']:.4f})")
    _finish(net, ckpt, splits, args, snn=True, history=states[-1].get("history", []),
            val=best[1], started=started, drop_resume=False,
            extra={"averaged_epochs": best[2], "average_candidates": candidates,
                   "epoch_states": [s["path"] for s in states]})


# ------------------------------------------------------------------------------ CLI
def _common(p: argparse.ArgumentParser, epochs: bool = True) -> None:
    p.add_argument("--data", help="data folder (CIFAR archives, train/test.npz, or ImageFolder) "
                   "or an .npz with x_train/y_train and x_test/y_test (docs/data.md)")
    p.add_argument("--out", required=True, help="output checkpoint (.pt)")
    p.add_argument("--limit", type=int, help="stratified subset of N train and N test images")
    p.add_argument("--train-limit", type=int,
                   help="stratified subset of N training images only (validation and test "
                        "stay whole)")
    p.add_argument("--no-test", action="store_true",
                   help="do not measure the test set (studies that only select on validation)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads (default: all cores)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--eval-batch-size", type=int, default=128)
    p.add_argument("--workers", type=int, default=0, help="decoder workers for large images")
    p.add_argument("--restart", action="store_true", help="ignore OUT.resume.pt")
    p.add_argument("--half", action="store_true", help="store weights in float16")
    p.add_argument("--device", default="auto",
                   help="cpu, cuda, cuda:N or auto (the GPU when there is one; default)")
    if epochs:
        p.add_argument("--epochs", type=int, default=0)
        p.add_argument("--time-budget", type=float, metavar="SECONDS",
                       help="fit the number of epochs (at most --epochs) to SECONDS of training, "
                            "measured on the first epoch")
        p.add_argument("--compile", action="store_true", help="torch.compile the forward pass")
        p.add_argument("--keep-epochs", action="store_true",
                       help="also keep each epoch's weights in OUT.epochs/ (for `average`)")
        p.add_argument("--snapshot", metavar="PATH",
                       help="train nothing: write the best-on-validation model of the epochs "
                            "finished so far in OUT.resume.pt to PATH (validation and test "
                            "measured); the resume file stays, so the same command without "
                            "--snapshot goes on training")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m model.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)

    a = sub.add_parser("ann", help="train the ANN (ReLU, no bias, avg pool, dropout; batch "
                                   "norm with --batch-norm)")
    a.add_argument("--arch", choices=sorted(ARCHITECTURES))
    a.add_argument("--init", help="continue training this ANN checkpoint (warm restart: its "
                                  "weights, a new cosine schedule from --lr)")
    a.add_argument("--dataset", choices=sorted(D.DATASETS), help="default cifar10")
    a.add_argument("--image-size", type=int, help="override the dataset's input size")
    a.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (cosine)")
    a.add_argument("--weight-decay", type=float, default=5e-4)
    a.add_argument("--conv-dropout", type=float, help="default 0.2 (with --init: its own)")
    a.add_argument("--fc-dropout", type=float, help="default 0.5 (with --init: its own)")
    a.add_argument("--batch-norm", action="store_true", default=None,
                   help="batch norm after every hidden conv and linear layer (no weight decay "
                        "on its γ and β); convert it with --fold-bn")
    _common(a)
    a.set_defaults(func=cmd_ann)

    c = sub.add_parser("convert", help="ANN -> SNN by 99.7th-percentile threshold balancing")
    c.add_argument("--ann", required=True, help="checkpoint of stage 'ann'")
    c.add_argument("--timesteps", type=int, default=5)
    c.add_argument("--percentile", type=float, default=99.7)
    c.add_argument("--scale", default="1.0",
                   help="multiply all thresholds; a comma-separated list tries each and keeps "
                        "the best on the validation split (e.g. 0.5,0.6,0.7,0.8,0.9,1.0)")
    c.add_argument("--max-spike-rate", type=float, metavar="RATE",
                   help="with a --scale list: the most accurate scale whose spike rate (spikes "
                        "per neuron per image over all T, on validation) is at most RATE: "
                        "trade accuracy for the chip's energy")
    c.add_argument("--calib-samples", type=int, default=512,
                   help="training images used to balance thresholds")
    c.add_argument("--reset", choices=RESETS, default="paper")
    c.add_argument("--fold-bn", action="store_true",
                   help="fold the ANN's batch norm into its layers' weights and biases "
                        "(W' = W·γ/√(σ²+ε), b' = β + (b − μ)·γ/√(σ²+ε)) before balancing")
    _common(c, epochs=False)
    c.set_defaults(func=cmd_convert, epochs=0, compile=False, time_budget=None, snapshot=None)

    s = sub.add_parser("snn", help="BPTT of weights, leak and threshold (DIET-SNN)")
    s.add_argument("--init", required=True, help="checkpoint of stage 'converted' or 'snn'")
    s.add_argument("--timesteps", type=int, help="override T of the init checkpoint")
    s.add_argument("--reset", choices=RESETS, help="override the reset variant")
    s.add_argument("--gamma", type=float, default=0.3, help="surrogate gradient height")
    s.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (cosine)")
    s.add_argument("--weight-decay", type=float, default=0.0,
                   help="L2 on the weights (Adam); 0 by default: 5e-4 shrank the weights and "
                        "lowered accuracy epoch after epoch (benchmarks/accuracy.md)")
    s.add_argument("--train-leak", action=argparse.BooleanOptionalAction, default=True)
    s.add_argument("--train-threshold", action=argparse.BooleanOptionalAction, default=True)
    _common(s)
    s.set_defaults(func=cmd_snn)

    v = sub.add_parser("average", help="average the weights, λ and v of a DIET-SNN run's last "
                                       "epochs (SWA); keep the best on validation")
    v.add_argument("--states", nargs="+", required=True, metavar="FILE",
                   help="epoch states of one run: OUT.epochs/epoch*.pt (--keep-epochs) or "
                        "copies of OUT.resume.pt taken after each epoch")
    v.add_argument("--init", help="the checkpoint the run started from (default: the one its "
                                  "files name)")
    v.add_argument("--last", help="comma-separated K: try the average of the K latest epochs "
                                  "for each, keep the best on validation (default: all)")
    v.add_argument("--timesteps", type=int, help="override T of the init checkpoint")
    v.add_argument("--reset", choices=RESETS, help="override the reset variant")
    _common(v, epochs=False)
    v.set_defaults(func=cmd_average, epochs=0, compile=False, time_budget=None, snapshot=None)
    return ap


def _check_args(args) -> None:
    """Every flag's range and every output path, before any work (one UsageError)."""
    check_flags(args, positive=("limit", "train_limit", "batch_size", "eval_batch_size",
                                "timesteps", "calib_samples", "threads", "image_size"),
                non_negative=("epochs", "workers"),
                finite_positive=("lr", "gamma", "time_budget", "max_spike_rate"),
                fractions=("conv_dropout", "fc_dropout"))
    wd = getattr(args, "weight_decay", None)
    if wd is not None and not (math.isfinite(wd) and wd >= 0):
        raise UsageError(f"--weight-decay must be a finite number >= 0, got {wd}")
    pct = getattr(args, "percentile", None)
    if pct is not None and not 0 < pct <= 100:
        raise UsageError(f"--percentile must be in (0, 100], got {pct}")
    if getattr(args, "time_budget", None) is not None and not args.epochs:
        raise UsageError("--time-budget needs --epochs N, the most epochs it may fit")
    if args.snapshot and Path(args.snapshot).resolve() == Path(args.out).resolve():
        raise UsageError("--snapshot PATH must differ from --out: OUT is written only by a "
                         "finished run")
    check_output(args.out, "--out")
    if args.snapshot:
        check_output(args.snapshot, "--snapshot")
    if getattr(args, "keep_epochs", False):
        check_output(_epochs_dir(Path(args.out)), "--keep-epochs", folder=True)


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        _check_args(args)
    except UsageError as e:
        fail(str(e))
    set_threads(args.threads)
    seed_everything(args.seed)
    try:
        args.device = resolve_device(args.device)
        if args.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        args.func(args)
    except USER_ERRORS as e:
        fail(str(e))
    except OSError as e:  # a full disk, a folder that cannot be written, ...
        resume = _resume_path(Path(args.out))
        kept = (f"; the finished epochs stay in {resume}: rerun the same command to go on"
                if resume.exists() else "")
        fail(f"{e.filename or args.out}: {e.strerror or e}{kept}")
    except KeyboardInterrupt:
        fail(f"interrupted; rerun the same command to resume from {args.out}.resume.pt", 130)


if __name__ == "__main__":
    main()

"""The model half of the ``bioprop`` command line: datasets, rules, parameters, training.

The entry point is :func:`bioprop.analysis.cli.main`, which adds the analysis
commands (combine, summary, figure), so that models never import analysis.

Every user error (unknown rule or parameter, wrong unit, value out of range,
missing dataset, existing output) is printed as one line on stderr and exits
with status 2, without a traceback.  A numerical fault that stops training exits
with 3; SIGTERM or SIGINT with 128 + the signal number (143, 130), keeping the
checkpoint of the last finished epoch.
"""
from __future__ import annotations

import argparse
import os
import sys
import textwrap

from .errors import BiopropError, ParameterError
from .params import parse_assignments


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line, like every other user error (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        sizes = ()
    if not sizes or any(n < 1 for n in sizes):
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive layer sizes such as 200 or 500,500; got {text!r}")
    return sizes


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer; got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer seed; got {text!r}")
    return value


def _validation(text: str) -> float:
    """An integer count of samples or a fraction in (0, 1)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0 or (value >= 1 and not value.is_integer()):
        raise argparse.ArgumentTypeError(
            f"expected a sample count (e.g. 5000) or a fraction in (0, 1) (e.g. 0.1); got {text!r}")
    return int(value) if value >= 1 else value


def cmd_datasets_list(args) -> int:
    from .datasets import list_datasets
    for entry in list_datasets():
        where = entry.get("found") or "not found locally"
        print(f"{entry['name']:<14} {entry.get('description', '')}\n{'':<14} location: {where}")
    return 0


def cmd_datasets_verify(args) -> int:
    from .datasets import verify_dataset
    statuses = verify_dataset(args.name, data_dir=args.data_dir)
    bad = 0
    for status in statuses:
        print(f"{status.status:<18} {status.file}  {status.path or ''}")
        bad += status.status != "ok"
    missing = [s for s in statuses if s.status == "missing"]
    if missing:
        print(f"{len(missing)} file(s) absent; searched: " + "; ".join(map(str, missing[0].searched)))
    if any(s.status not in ("ok", "missing") for s in statuses):
        return 1
    print(f"{args.name}: {len(statuses) - bad} of {len(statuses)} files present and verified")
    return 0


def cmd_rules(args) -> int:
    from .rules import available_rules
    for name, cls in available_rules().items():
        twin = f" (rate twin: {cls.rate_twin})" if cls.rate_twin else ""
        print(f"{name:<16} {cls.family:<8} {cls.summary}{twin}")
    return 0


def cmd_params(args) -> int:
    from .rules import get_rule
    rule = get_rule(args.rule)
    print(f"{rule.name}: {rule.summary}\nreference: {rule.reference}\n")
    for p in rule.parameters:
        unit = "" if p.unit == "1" else f" {p.unit}"
        print(f"{p.name} = {p.default!r}{unit}    ({p.expected()})")
        for line in textwrap.wrap(p.doc, 76):
            print(f"    {line}")
        if p.source:
            print(f"    source: {p.source}")
    return 0


def cmd_train(args) -> int:
    from pathlib import Path

    from . import schema
    from .rules import get_rule
    rule_cls = get_rule(args.rule)
    overrides = parse_assignments(args.set or [])
    rule_cls.parameters.resolve(overrides, rule=args.rule)  # fail before loading data
    if args.label is not None:
        schema.check_label(args.label)
    device = None
    if rule_cls.family == "spiking":
        from .device import SETTINGS, DeviceConfig
        device = DeviceConfig.from_settings({name: getattr(args, f"device_{name}") for name in SETTINGS})
    return _train_and_write(
        args, Path(args.out), rule=args.rule, dataset=args.dataset, n_train=args.n_train,
        n_test=args.n_test, n_val=args.n_val, seed=args.seed, hidden=args.hidden, epochs=args.epochs,
        overrides=overrides, device=device, label=args.label, patience=args.patience)


def _train_and_write(args, out, *, rule, dataset, n_train, n_test, n_val, seed, hidden, epochs,
                     overrides, device, label, patience=None, expect_sources=()) -> int:
    """Train, write ``out`` atomically, then drop the checkpoint; the part of ``train``
    and ``rerun`` after their arguments are known.  ``args`` gives ``data_dir``,
    ``overwrite``, ``resume``, ``keep_state``, ``on_fault`` and ``quiet``; ``expect_sources`` (a
    result's ``dataset_subset["sources"]``) are the files the data must match."""
    import warnings

    from . import schema
    from .checkpoint import checkpoint_path, state_path
    from .files import check_output
    from .training import Interrupted, TrainingWarning, stop_on_signals, train
    if out.suffix != ".nc":
        raise ParameterError(f"--out must name a NetCDF file ending in .nc; got {str(out)!r}")
    check_output(out, overwrite=args.overwrite)  # before training, not after
    if args.keep_state:
        check_output(state_path(out), overwrite=args.overwrite)
    ckpt = checkpoint_path(out)
    if ckpt.exists() and not (args.resume or args.overwrite):
        raise ParameterError(f"checkpoint {ckpt} of an interrupted run exists; pass --resume to "
                             "continue it or --overwrite to start again")
    from .datasets import check_same_files, load_dataset
    data = load_dataset(dataset, data_dir=args.data_dir, n_train=n_train, n_test=n_test, n_val=n_val,
                        seed=seed)
    check_same_files(expect_sources, data.subset.get("sources", []))
    resumed = args.resume and ckpt.exists()
    with warnings.catch_warnings():
        # a fault under --on-fault warn is one line, like an error
        warnings.simplefilter("always", TrainingWarning)
        show = warnings.showwarning
        warnings.showwarning = lambda message, category, *rest, **kw: (
            print(f"bioprop: warning: {message}", file=sys.stderr) if issubclass(category, TrainingWarning)
            else show(message, category, *rest, **kw))
        try:
            with stop_on_signals():
                result = train(rule, data, hidden=hidden, epochs=epochs, seed=seed, overrides=overrides,
                               device=device, progress=not args.quiet, label=label, checkpoint=ckpt,
                               resume=args.resume, on_fault=args.on_fault, patience=patience)
                schema.write_result(result, out, overwrite=args.overwrite)
                if args.keep_state and ckpt.exists():
                    os.replace(ckpt, state_path(out))   # the last epoch's state, atomically
                elif args.keep_state:
                    print(f"bioprop: warning: {rule} has no checkpointable state; {state_path(out)} "
                          "not written", file=sys.stderr)
                ckpt.unlink(missing_ok=True)
        except Interrupted as stop:
            kept = (f"; checkpoint {ckpt} kept: add --resume to continue" if ckpt.exists()
                    else "; no epoch had finished, nothing kept")
            print(f"bioprop: stopped by {stop}, {out} not written{kept}", file=sys.stderr)
            return 128 + stop.signum
    acc = result["test_accuracy"].values
    how = " (resumed)" if resumed else ""
    early = " (stopped early: validation accuracy plateaued)" if result.attrs["stopped_early"] else ""
    print(f"{result.attrs['label']} on {data.name}: test accuracy {acc[-1]:.4f} after {len(acc)} epoch(s)"
          f"{how}{early} ({result.attrs['wall_clock_seconds']:.1f} s); wrote {out}")
    return 0


def _train_from_provenance(args, out, run, epochs) -> int:
    """``_train_and_write`` with a result's provenance (:func:`bioprop.models.training.provenance`)."""
    return _train_and_write(
        args, out, rule=run["rule_name"], dataset=run["dataset"], **run["subset"], seed=run["seed"],
        hidden=run["hidden"], epochs=epochs, overrides=run["overrides"], device=run["device"],
        label=run["label"], patience=run["patience"], expect_sources=run["sources"])


def cmd_rerun(args) -> int:
    """Train again from a result's provenance attributes (rule, data subset, seed, sizes,
    parameters, device, epochs)."""
    from pathlib import Path

    from . import schema
    from .training import provenance
    source = schema.read_result(args.result)
    run = provenance(source)
    versions = schema.package_versions()
    changed = [f"{k} {source.attrs.get(k)} -> {v}" for k, v in versions.items() if source.attrs.get(k) != v]
    if changed:
        print(f"bioprop: note: versions differ from the original run ({'; '.join(changed)}); "
              "results may differ", file=sys.stderr)
    out = Path(args.out) if args.out else Path(args.result).with_name(Path(args.result).stem + ".rerun.nc")
    return _train_from_provenance(args, out, run, run["epochs"])


def cmd_extend(args) -> int:
    """Train a finished run on to ``--epochs`` from the final state it kept
    (``--keep-state``); the result equals a run trained that long from the start."""
    import shutil
    from pathlib import Path

    from . import schema
    from .checkpoint import checkpoint_path, state_path
    from .files import atomic_output, check_output
    from .training import provenance
    source = Path(args.result)
    result = schema.read_result(source)
    run = provenance(result)
    done = result.sizes[schema.EPOCH]
    if args.epochs <= done:
        raise ParameterError(f"--epochs must exceed the {done} epoch(s) {source} already has; got {args.epochs}")
    if result.attrs.get("stopped_early"):
        raise ParameterError(f"{source} stopped early ({result.attrs['stopped_early']}); more epochs would "
                             "not be trained")
    state = state_path(source)
    if not state.is_file():
        raise ParameterError(f"{state}: no final state beside {source}; only runs trained with --keep-state "
                             "can be extended (`bioprop rerun` trains one again)")
    out = Path(args.out) if args.out else source.with_name(f"{source.stem}.epochs{args.epochs}.nc")
    in_place = out.resolve() == source.resolve()
    check_output(out, overwrite=args.overwrite or in_place)
    ckpt = checkpoint_path(out)
    if not (args.resume and ckpt.exists()):      # else an interrupted extension goes on from its own
        with atomic_output(ckpt, overwrite=True) as tmp:
            shutil.copyfile(state, tmp)
    # the extended run keeps its state too: it can be extended again, and no stale state
    # is left beside a result extended in place
    args.resume, args.keep_state, args.overwrite = True, True, args.overwrite or in_place
    return _train_from_provenance(args, out, run, args.epochs)


def cmd_clean_builds(args) -> int:
    from .device import build_root, clean_builds
    removed, busy = clean_builds(everything=args.all)
    print(f"removed {len(removed)} build director{'y' if len(removed) == 1 else 'ies'} from {build_root()}"
          + (f"; {len(busy)} in use by running processes kept" if busy else ""))
    return 0


def _run_options(parser) -> None:
    """Options that ``train`` and ``rerun`` share: output, resuming, faults."""
    parser.add_argument("--data-dir", help="directory holding the dataset's files")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output file (and start again over its checkpoint)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint OUT.ckpt an interrupted run left (the result "
                             "equals an uninterrupted run's); without one, start from epoch 1")
    parser.add_argument("--on-fault", choices=("stop", "warn"), default="stop",
                        help="at NaN/inf weights or state, or a silent or saturated spiking network: stop "
                             "with status 3 (default) or warn and train on")
    parser.add_argument("--keep-state", action="store_true",
                        help="keep the trained rule's final state as OUT.state.npz, for `bioprop spikes`")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _device_options(parser) -> None:
    """``--device``, ``--threads``, ... for spiking rules, from :data:`bioprop.models.device.SETTINGS`."""
    import dataclasses

    from .device import KINDS, RANDOM_GENERATORS, SETTINGS, DeviceConfig, option_name
    defaults = {f.name: f.default for f in dataclasses.fields(DeviceConfig)}
    group = parser.add_argument_group("simulation device (spiking rules)")
    for name, (kind, help_text) in SETTINGS.items():
        flag = option_name(name)
        choices = {"kind": KINDS, "random": RANDOM_GENERATORS}.get(name)
        extra = {"choices": choices} if choices else {"type": _positive_int if kind is int else kind}
        group.add_argument(flag, dest=f"device_{name}", default=defaults[name], metavar=None if choices else name.upper(),
                           help=f"{help_text} (default {defaults[name]})", **extra)


def build_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """The parser of the model commands and its subcommand table, to which
    :mod:`bioprop.analysis.cli` adds the analysis commands."""
    parser = _Parser(
        prog="bioprop", description="Local learning rules in Brian2 and NumPy: train, compare, analyse.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    datasets = sub.add_parser("datasets", help="list and verify datasets",
                              description="List registered datasets or verify their files and checksums.")
    dsub = datasets.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")
    dsub.add_parser("list", help="registered datasets and where they were found",
                    description="Registered datasets and where they were found.").set_defaults(func=cmd_datasets_list)
    verify = dsub.add_parser("verify", help="check a dataset's files and checksums (never downloads)",
                             description="Check that a dataset's files are present and match their checksums.")
    verify.add_argument("name", help="registered dataset name (see `bioprop datasets list`)")
    verify.add_argument("--data-dir", help="directory holding the dataset's files")
    verify.set_defaults(func=cmd_datasets_verify)

    sub.add_parser("rules", help="list the learning rules", description="List the registered learning rules."
                   ).set_defaults(func=cmd_rules)
    params = sub.add_parser("params", help="a rule's parameters with units, defaults and sources",
                            description="Show a rule's parameters with units, defaults, ranges and sources.")
    params.add_argument("rule", help="rule name (see `bioprop rules`)")
    params.set_defaults(func=cmd_params)

    train = sub.add_parser("train", help="train a rule and write a NetCDF result",
                           description="Train a learning rule on a dataset and write the result (NetCDF).")
    train.add_argument("rule", help="rule name (see `bioprop rules`)")
    train.add_argument("--dataset", required=True,
                       help="registered name (mnist, kmnist, fashion-mnist, digits) or a path to an IDX "
                            "directory or .npz file")
    train.add_argument("--n-train", type=_positive_int, help="number of training samples (seeded subset)")
    train.add_argument("--n-test", type=_positive_int, help="number of test samples (seeded subset)")
    train.add_argument("--n-val", type=_validation, default=0,
                       help="validation samples taken from the training set: a count or a fraction")
    train.add_argument("--epochs", type=_positive_int, default=1, help="passes over the training set")
    train.add_argument("--patience", type=_positive_int,
                       help="stop before --epochs once the validation accuracy has not risen above its "
                            "best for this many epochs (needs --n-val)")
    train.add_argument("--seed", type=_seed, default=0, help="seed for data subset, initial weights and noise")
    train.add_argument("--hidden", type=_hidden, default=(200,), help="hidden layer sizes, e.g. 200,200")
    _device_options(train)
    train.add_argument("--set", action="append", metavar="NAME=VALUE",
                       help="rule parameter; a dimensioned one needs its unit, as in Brian2 "
                            "(e.g. learning_rate=1e-3, tau_dendrite=5ms)")
    train.add_argument("--label", help="name of this variant in combined results, e.g. erbp-fb0.2 "
                       "(default: the rule name)")
    train.add_argument("--out", required=True, help="result file to write (.nc); a checkpoint OUT.ckpt "
                       "beside it is kept after every epoch until the result is written")
    _run_options(train)
    train.set_defaults(func=cmd_train)

    rerun = sub.add_parser("rerun", help="train again from a result file's provenance",
                           description="Train again with the rule, data subset, seed, layer sizes, "
                                       "parameters, device and epochs recorded in a result file; with "
                                       "the same versions the result is bit-identical.")
    rerun.add_argument("result", help="result file written by `bioprop train` (.nc)")
    rerun.add_argument("--out", help="result file to write (default: RESULT.rerun.nc beside it)")
    _run_options(rerun)
    rerun.set_defaults(func=cmd_rerun)

    extend = sub.add_parser("extend", help="train a finished run on to more epochs",
                            description="Train a finished run on to --epochs from the final state it kept "
                                        "(train with --keep-state); the result equals a run trained for "
                                        "--epochs from the start.")
    extend.add_argument("result", help="result file written by `bioprop train --keep-state` (.nc)")
    extend.add_argument("--epochs", type=_positive_int, required=True,
                        help="total passes over the training set, more than the result has")
    extend.add_argument("--out", help="result file to write (default: RESULT.epochsN.nc beside it; the "
                                      "result's own name replaces it, with its state)")
    _run_options(extend)
    extend.set_defaults(func=cmd_extend)

    clean = sub.add_parser("clean-builds", help="remove build directories of finished or killed runs",
                           description="Remove the cpp_standalone build directories under the build root "
                                       "($BIOPROP_BUILD_DIR, default ~/.cache/bioprop/builds) whose "
                                       "process is gone.")
    clean.add_argument("--all", action="store_true",
                       help="also remove builds of processes still running (they will fail)")
    clean.set_defaults(func=cmd_clean_builds)

    return parser, sub


def run(parser: argparse.ArgumentParser, argv=None) -> int:
    """Parse ``argv`` and run the chosen command; a user error is one line and status 2."""
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BiopropError as err:
        print(f"bioprop: error: {err}", file=sys.stderr)
        return getattr(err, "exit_status", 2)   # 3: a numerical fault stopped training

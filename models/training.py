"""The training loop shared by every rule: dataset in, schema Dataset out.

One epoch = one pass over the training set in a fresh seeded order; after it
the test (and validation) sets are classified with learning off.  The loop
owns shuffling, accuracy bookkeeping, progress and provenance, so a rule only
implements :meth:`LearningRule.train_epoch` and :meth:`LearningRule.predict`.

The loop also makes runs safe to kill: after every epoch it checks for numerical
faults and writes a checkpoint (:mod:`bioprop.models.checkpoint`) from which
``resume`` continues to the result an uninterrupted run gives.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
import warnings
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from . import schema
from .checkpoint import CheckpointError, arrays_of, capture, load, restore, save
from .datasets import Dataset
from .errors import BiopropError, ParameterError
from .rules import get_rule

#: what ``on_fault`` accepts: stop at a numerical fault, or warn and train on
ON_FAULT = ("stop", "warn")


def _accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == labels)) if len(labels) else float("nan")


def _stack_epochs(records: list[dict]) -> dict:
    """Turn per-epoch ``{name: (dims, values, attrs)}`` into epoch-stacked variables."""
    out = {}
    for name in records[0]:
        dims, _, attrs = records[0][name]
        out[name] = ((schema.EPOCH, *dims), np.stack([np.asarray(r[name][1]) for r in records]), attrs)
    return out


class TrainingFault(BiopropError):
    """Weights or state became NaN or infinite, or a network fell silent or saturated."""

    exit_status = 3


class TrainingWarning(RuntimeWarning):
    """Something the user should know about a run that went on (one line on the CLI)."""


class FaultWarning(TrainingWarning):
    """A numerical fault under ``on_fault="warn"``: training went on."""


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived during training (:func:`stop_on_signals`)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals():
    """Turn SIGTERM and SIGINT into :class:`Interrupted`, so that a killed run unwinds:
    build directories are removed, the temporary output is dropped, and the
    checkpoint of the last finished epoch stays."""
    def handler(signum, frame):
        # once only: a second signal kills at once, as if unhandled (the next build
        # removes what the interrupted cleanup left)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        raise Interrupted(signum)
    old = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _non_finite(arrays: Mapping[str, np.ndarray]) -> list[str]:
    """The learned arrays holding NaN or inf.  Paths with a private part (``_buffers``)
    are scratch space, written before they are read, and are not checked."""
    out = []
    for path, values in arrays.items():
        if values.dtype.kind != "f" or any(part.startswith("_") for part in re.split(r"[.\[\]]", path)):
            continue
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad:
            out.append(f"{path} has {bad} NaN or infinite value(s) of {values.size}")
    return out


def _identity(rule_name, label, data, seed, hidden, parameters_json, device_info) -> dict:
    """What a checkpoint must share with the run that resumes it (the data files by
    name and checksum, not by path: a copy elsewhere is the same data)."""
    subset = {**data.subset, "sources": [{k: v for k, v in source.items() if k != "path"}
                                         for source in data.subset.get("sources", [])]}
    return {"rule": rule_name, "label": label or rule_name, "dataset": data.name,
            "dataset_subset": json.loads(json.dumps(subset, default=str)), "seed": int(seed),
            "hidden": [int(h) for h in hidden], "parameters": json.loads(parameters_json),
            "device": json.loads(json.dumps(device_info, default=str))}


def train(rule_name: str, data: Dataset, *, hidden: tuple[int, ...] = (200,), epochs: int = 1,
          seed: int = 0, overrides: Mapping[str, Any] | None = None, device=None,
          progress: bool = True, keep_weights: bool = True, label: str | None = None,
          checkpoint: str | os.PathLike | None = None, resume: bool = False,
          on_fault: str = "stop", patience: int | None = None) -> xr.Dataset:
    """Train rule ``rule_name`` on ``data`` and return a schema Dataset.

    ``overrides`` are parameter values (strings with units allowed) checked
    against the rule's :class:`ParameterSet`; ``device`` is a
    :class:`bioprop.models.device.DeviceConfig` for spiking rules; ``label`` names
    this variant of the rule in combined results (default: the rule name).

    ``checkpoint``: a file written atomically after every epoch (rule state,
    shuffle generator, records so far; :mod:`bioprop.models.checkpoint`) and left
    for the caller to remove once the result is safe.  With ``resume`` an existing
    checkpoint is continued -- the result equals that of an uninterrupted run --
    and a missing one starts from epoch 1.

    After every epoch the rule's state is checked for NaN and inf and the rule for
    its own faults (:meth:`LearningRule.faults`); ``on_fault="stop"`` raises
    :class:`TrainingFault` naming the epoch and what failed (the checkpoint keeps the
    epoch before), ``"warn"`` issues a :class:`FaultWarning` and goes on; the faults
    are listed in the result's ``faults`` attribute.

    ``patience``: stop early, before ``epochs``, once the validation accuracy has not
    risen above its best for ``patience`` epochs (needs validation samples); the
    result then ends at the epoch that stopped it and says so in its ``stopped_early``
    attribute.  ``None`` trains all ``epochs``.
    """
    rule_cls = get_rule(rule_name)
    if int(epochs) < 1:
        raise ParameterError(f"epochs must be a positive integer; got {epochs!r}")
    if any(int(h) < 1 for h in hidden):
        raise ParameterError(f"hidden must list positive layer sizes, e.g. 200,200; got {hidden!r}")
    if on_fault not in ON_FAULT:
        raise ParameterError(f"on_fault must be one of {', '.join(ON_FAULT)}; got {on_fault!r}")
    if patience is not None and (isinstance(patience, bool) or int(patience) != patience or patience < 1):
        raise ParameterError(f"patience must be a positive number of epochs; got {patience!r}")
    if patience is not None and not len(data.y_val):
        raise ParameterError("patience (early stopping) needs validation samples: give n_val > 0")
    params = rule_cls.parameters.resolve(overrides, rule=rule_name)
    if label is not None:
        schema.check_label(label)
    device_info = {"family": rule_cls.family}
    if device is not None and rule_cls.family == "spiking":
        device_info.update(vars(device))
    parameters_json = rule_cls.parameters.provenance(params)
    identity = _identity(rule_name, label, data, seed, hidden, parameters_json, device_info)
    saved = None
    if resume and checkpoint is not None and Path(checkpoint).exists():
        saved = _load_checkpoint(checkpoint, identity, epochs)
    start = time.perf_counter()
    rule = rule_cls(n_inputs=data.x_train.shape[1], n_classes=data.n_classes, hidden=tuple(hidden),
                    params=params, seed=seed, device=device)
    rule.progress = progress
    loop = _LoopState(seed)
    first, elapsed_before = 1, 0.0
    if saved is not None:
        meta, arrays = saved
        rule.load_state(meta["rule_state"], _prefixed(arrays, "rule/"))
        restore(loop, meta["loop"], _prefixed(arrays, "loop/"))
        first, elapsed_before = meta["epochs_done"] + 1, meta["wall_clock_seconds"]
    train_acc, test_acc, val_acc, records, faults = (
        loop.train_acc, loop.test_acc, loop.val_acc, loop.records, loop.faults)
    # a resumed run may have stopped already (killed between its last epoch and writing)
    stopped = _plateau(val_acc, patience)
    # numpy's overflow warnings from inside a rule are left out: the fault check after
    # each epoch names the arrays that went non-finite
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), contextlib.closing(rule):
        bar = tqdm(range(first, int(epochs) + 1), desc=f"{rule_name} on {data.name}", unit="epoch",
                   disable=not progress, initial=first - 1, total=int(epochs))
        for epoch in bar:
            if stopped:
                break
            order = loop.order_rng.permutation(len(data.y_train))
            x, y = data.x_train[order], data.y_train[order]
            result = rule.train_epoch(x, y)
            loop.online_train = result.train_predictions is not None
            if loop.online_train:
                train_acc.append(_accuracy(result.train_predictions, y))
            else:
                probe = order[:rule.train_eval_limit]
                train_acc.append(_accuracy(rule.predict(data.x_train[probe]), data.y_train[probe]))
            test_pred, test_records = rule.evaluate(data.x_test)
            test_acc.append(_accuracy(test_pred, data.y_test))
            if len(data.y_val):
                val_acc.append(_accuracy(rule.predict(data.x_val), data.y_val))
            records.append({**result.variables, **test_records})
            found = _non_finite(arrays_of(rule, rule.checkpoint_exclude)) + rule.faults()
            if found:
                message = f"epoch {epoch} of {rule_name}: " + "; ".join(found)
                if on_fault == "stop":
                    kept = (f"; the checkpoint {checkpoint} keeps epoch {epoch - 1}"
                            if checkpoint is not None and epoch > 1 else "")
                    raise TrainingFault(message + kept + "; stopped (--on-fault warn would train on)")
                warnings.warn(message, FaultWarning, stacklevel=2)
                faults.append(message)
            if checkpoint is not None:
                try:
                    state = rule.state()
                except CheckpointError as err:
                    warnings.warn(f"{rule_name} cannot be checkpointed ({err}); training on without "
                                  "checkpoints", TrainingWarning, stacklevel=2)
                    checkpoint = None
                else:
                    _save_checkpoint(checkpoint, identity, epoch, state, loop,
                                     elapsed_before + time.perf_counter() - start)
            bar.set_postfix(train=f"{train_acc[-1]:.3f}", test=f"{test_acc[-1]:.3f}")
            stopped = _plateau(val_acc, patience)
        bar.close()
        if len(test_acc) == int(epochs):
            stopped = None                # it did not stop before its last epoch
        weights = rule.weights() if keep_weights else None
        final = rule.after_training(data, _accuracy)
        coords = rule.coordinates()
    result = schema.make_result(
        rule=rule_name, dataset=data.name, dataset_subset=data.subset, seed=seed,
        layer_sizes=rule.layer_sizes, parameters_json=parameters_json,
        device=device_info, train_accuracy=train_acc, test_accuracy=test_acc,
        validation_accuracy=val_acc if len(data.y_val) else None,
        epoch_variables=_stack_epochs(records) if records and records[0] else None,
        final_variables=final,
        weights=weights, weight_units=rule_cls.weight_units,
        wall_clock_seconds=elapsed_before + time.perf_counter() - start,
        label=label, coords=coords)
    result.attrs["faults"] = json.dumps(faults)
    result.attrs["patience"] = 0 if patience is None else int(patience)
    result.attrs["max_epochs"] = int(epochs)
    result.attrs["stopped_early"] = stopped or ""
    if saved is not None:
        result.attrs["history"] += f" (resumed after epoch {first - 1})"
    result["train_accuracy"].attrs["comment"] = (
        "online, while the samples were presented" if loop.online_train else
        "learning off, after each epoch, on "
        + ("all training samples" if rule_cls.train_eval_limit is None
           else f"a fresh random subset of at most {rule_cls.train_eval_limit} training samples"))
    return result


def provenance(result: xr.Dataset) -> dict:
    """What a result records of the run that made it, as keyword arguments of
    :func:`train` (``rule_name``, ``hidden``, ``epochs``, ``seed``, ``overrides``,
    ``device``, ``label``, ``patience``) plus ``dataset`` (a registered name, or the path where a
    user's data were found: :func:`bioprop.models.datasets.original_location`),
    ``subset`` (``n_train``, ``n_test``, ``n_val``) and ``sources`` (the data files'
    names and MD5s)."""
    from .datasets import original_location
    attrs = result.attrs
    rule_cls = get_rule(attrs["rule"])
    overrides = {}
    recorded = json.loads(attrs["parameters"])
    for name, entry in rule_cls.upgrade_parameters(recorded).items():
        value, unit = entry["value"], entry["unit"]
        # repr keeps every digit: the value parses back to the number the run used
        overrides[name] = (
            f"{value!r} {unit}" if unit != "1" and value is not None else value)
    subset = json.loads(attrs["dataset_subset"])
    sources = subset.get("sources", [])
    device = None
    if rule_cls.family == "spiking":
        from .device import SETTINGS, DeviceConfig
        saved = json.loads(attrs["device"])
        # results written before the xoshiro generator existed drew from Brian2's
        device = DeviceConfig.from_settings({"random": "mt19937",
                                             **{k: saved[k] for k in SETTINGS if k in saved}})
    return {"rule_name": attrs["rule"], "dataset": original_location(attrs["dataset"], sources),
            "subset": {k: subset[k] for k in ("n_train", "n_test", "n_val")}, "sources": sources,
            "seed": int(attrs["seed"]), "hidden": tuple(json.loads(attrs["layer_sizes"])[1:-1]),
            "epochs": int(attrs.get("max_epochs", result.sizes[schema.EPOCH])), "overrides": overrides, "device": device,
            "label": attrs.get("label"), "patience": int(attrs.get("patience", 0)) or None}


def restore_trained(result_path: str | os.PathLike, data_dir=None):
    """``(rule, data)``: the trained rule of a result, from the final state kept beside
    it (``bioprop train --keep-state``: :func:`bioprop.models.checkpoint.state_path`),
    and its data subset, loaded again and checked against the result's files."""
    from .checkpoint import state_path
    from .datasets import check_same_files, load_dataset
    result = schema.read_result(result_path)
    run = provenance(result)
    path = state_path(result_path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no final state beside {result_path}; train with --keep-state "
                              "to keep it")
    data = load_dataset(run["dataset"], data_dir=data_dir, seed=run["seed"], **run["subset"])
    check_same_files(run["sources"], data.subset.get("sources", []))
    rule_cls = get_rule(run["rule_name"])
    params = rule_cls.parameters.resolve(run["overrides"], rule=run["rule_name"])
    device_info = {"family": rule_cls.family}
    if run["device"] is not None:
        device_info.update(vars(run["device"]))
    identity = _identity(run["rule_name"], run["label"], data, run["seed"], run["hidden"],
                         rule_cls.parameters.provenance(params), device_info)
    meta, arrays = _load_checkpoint(path, identity, run["epochs"])
    rule = rule_cls(n_inputs=data.x_train.shape[1], n_classes=data.n_classes, hidden=run["hidden"],
                    params=params, seed=run["seed"], device=run["device"])
    rule.load_state(meta["rule_state"], _prefixed(arrays, "rule/"))
    return rule, data


def _plateau(val_acc, patience) -> str | None:
    """Why training stops early: the validation accuracy has not risen above its best
    for ``patience`` epochs (None while it has, or without ``patience``)."""
    if patience is None or not val_acc:
        return None
    best = int(np.argmax(val_acc))        # the first epoch that reached the best
    waited = len(val_acc) - 1 - best
    if waited < patience:
        return None
    return (f"after epoch {len(val_acc)}: validation accuracy {val_acc[best]:.4f} at epoch {best + 1} "
            f"not exceeded for {waited} epochs (patience {patience})")


class _LoopState:
    """The training loop's own state, in the form :mod:`.checkpoint` stores."""

    def __init__(self, seed):
        self.order_rng = np.random.default_rng([seed, 1])  # shuffling stream, separate from the rule's
        self.train_acc, self.test_acc, self.val_acc = [], [], []
        self.records, self.faults = [], []
        self.online_train = False


def _prefixed(arrays, prefix):
    return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}


def _save_checkpoint(path, identity, epoch, state, loop, wall_seconds) -> None:
    tree, arrays = state
    loop_tree, loop_arrays = capture(loop)
    meta = {"identity": identity, "epochs_done": epoch, "wall_clock_seconds": wall_seconds,
            "rule_state": tree, "loop": loop_tree}
    save(path, meta, {**{f"rule/{k}": v for k, v in arrays.items()},
                      **{f"loop/{k}": v for k, v in loop_arrays.items()}})


def _load_checkpoint(path, identity, epochs):
    meta, arrays = load(path)
    theirs = meta.get("identity", {})
    for key, value in identity.items():
        if theirs.get(key) != value:
            raise CheckpointError(
                f"checkpoint {path} belongs to another run: its {key} is {json.dumps(theirs.get(key))[:200]}, "
                f"this run's is {json.dumps(value)[:200]}; delete it or use the run's own settings")
    if meta["epochs_done"] > int(epochs):
        raise CheckpointError(f"checkpoint {path} has {meta['epochs_done']} epochs done, more than "
                              f"--epochs {epochs}")
    return meta, arrays

"""The training loop shared by every rule: dataset in, schema Dataset out.

One epoch = one pass over the training set in a fresh seeded order; after it
the test (and validation) sets are classified with learning off.  The loop
owns shuffling, accuracy bookkeeping, progress and provenance, so a rule only
implements :meth:`LearningRule.train_epoch` and :meth:`LearningRule.predict`.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

import numpy as np
import xarray as xr
from tqdm.auto import tqdm

from . import schema
from .datasets import Dataset
from .errors import ParameterError
from .rules import get_rule


def _accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(predicted) == labels)) if len(labels) else float("nan")


def _stack_epochs(records: list[dict]) -> dict:
    """Turn per-epoch ``{name: (dims, values, attrs)}`` into epoch-stacked variables."""
    out = {}
    for name in records[0]:
        dims, _, attrs = records[0][name]
        out[name] = ((schema.EPOCH, *dims), np.stack([np.asarray(r[name][1]) for r in records]), attrs)
    return out


def train(rule_name: str, data: Dataset, *, hidden: tuple[int, ...] = (200,), epochs: int = 1,
          seed: int = 0, overrides: Mapping[str, Any] | None = None, device=None,
          progress: bool = True, keep_weights: bool = True, label: str | None = None) -> xr.Dataset:
    """Train rule ``rule_name`` on ``data`` and return a schema Dataset.

    ``overrides`` are parameter values (strings with units allowed) checked
    against the rule's :class:`ParameterSet`; ``device`` is a
    :class:`bioprop.models.device.DeviceConfig` for spiking rules; ``label`` names
    this variant of the rule in combined results (default: the rule name).
    """
    rule_cls = get_rule(rule_name)
    if int(epochs) < 1:
        raise ParameterError(f"epochs must be a positive integer; got {epochs!r}")
    if any(int(h) < 1 for h in hidden):
        raise ParameterError(f"hidden must list positive layer sizes, e.g. 200,200; got {hidden!r}")
    params = rule_cls.parameters.resolve(overrides, rule=rule_name)
    if label is not None:
        schema.check_label(label)
    start = time.perf_counter()
    rule = rule_cls(n_inputs=data.x_train.shape[1], n_classes=data.n_classes, hidden=tuple(hidden),
                    params=params, seed=seed, device=device)
    rule.progress = progress
    order_rng = np.random.default_rng([seed, 1])  # shuffling stream, separate from the rule's own
    train_acc, test_acc, val_acc, records = [], [], [], []
    try:
        bar = tqdm(range(1, int(epochs) + 1), desc=f"{rule_name} on {data.name}", unit="epoch",
                   disable=not progress)
        for _ in bar:
            order = order_rng.permutation(len(data.y_train))
            x, y = data.x_train[order], data.y_train[order]
            result = rule.train_epoch(x, y)
            online_train = result.train_predictions is not None
            if online_train:
                train_acc.append(_accuracy(result.train_predictions, y))
            else:
                probe = order[:rule.train_eval_limit]
                train_acc.append(_accuracy(rule.predict(data.x_train[probe]), data.y_train[probe]))
            test_pred, test_records = rule.evaluate(data.x_test)
            test_acc.append(_accuracy(test_pred, data.y_test))
            if len(data.y_val):
                val_acc.append(_accuracy(rule.predict(data.x_val), data.y_val))
            records.append({**result.variables, **test_records})
            bar.set_postfix(train=f"{train_acc[-1]:.3f}", test=f"{test_acc[-1]:.3f}")
        weights = rule.weights() if keep_weights else None
        final = rule.after_training(data, _accuracy)
        coords = rule.coordinates()
    finally:
        rule.close()
    device_info = {"family": rule_cls.family}
    if device is not None and rule_cls.family == "spiking":
        device_info.update(vars(device))
    result = schema.make_result(
        rule=rule_name, dataset=data.name, dataset_subset=data.subset, seed=seed,
        layer_sizes=rule.layer_sizes, parameters_json=rule_cls.parameters.provenance(params),
        device=device_info, train_accuracy=train_acc, test_accuracy=test_acc,
        validation_accuracy=val_acc if len(data.y_val) else None,
        epoch_variables=_stack_epochs(records) if records and records[0] else None,
        final_variables=final,
        weights=weights, weight_units=rule_cls.weight_units, wall_clock_seconds=time.perf_counter() - start,
        label=label, coords=coords)
    result["train_accuracy"].attrs["comment"] = (
        "online, while the samples were presented" if online_train else
        "learning off, after each epoch, on "
        + ("all training samples" if rule_cls.train_eval_limit is None
           else f"a fresh random subset of at most {rule_cls.train_eval_limit} training samples"))
    return result

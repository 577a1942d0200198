"""Diagnostic for the eRBP gap study: how much does the hidden layer represent?

Trains ``erbp`` (one epoch, with ``--set`` overrides) on a seeded subset, then
presents training and validation samples with learning off and fits a logistic
regression to the hidden layer's spike counts (and, as references, to the
pixels and to the expected input firing rates of the escape-noise encoding).
Writes one JSON line.  ``--no-training`` reads out the untrained network.

    python workflows/scripts/erbp_hidden_readout.py --dataset fashion-mnist \
        --n-train 10000 --n-val 2000 --set noise_weight=0nA --out readout.json
"""
import argparse
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression

from bioprop.models.datasets import load_dataset
from bioprop.models.encoding import escape_noise_effective_rate
from bioprop.models.files import atomic_output
from bioprop.models.params import parse_assignments
from bioprop.models.rules import get_rule


def readout(x_fit, y_fit, x_val, y_val) -> float:
    scale = max(float(np.max(x_fit)), 1e-12)
    model = LogisticRegression(max_iter=2000).fit(x_fit / scale, y_fit)
    return float(model.score(x_val / scale, y_val))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-val", type=int, default=2000)
    ap.add_argument("--n-fit", type=int, default=2000, help="training samples the readout is fitted on")
    ap.add_argument("--hidden", default="200")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--no-training", action="store_true")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    data = load_dataset(args.dataset, n_train=args.n_train, n_val=args.n_val, n_test=1, seed=args.seed)
    cls = get_rule("erbp")
    params = cls.parameters.resolve(parse_assignments(args.set), rule="erbp")
    rule = cls(n_inputs=data.x_train.shape[1], n_classes=data.n_classes,
               hidden=tuple(int(h) for h in args.hidden.split(",")), params=params, seed=args.seed)
    rule.progress = sys.stderr.isatty()
    try:
        if not args.no_training:
            order = np.random.default_rng([args.seed, 1]).permutation(len(data.y_train))
            rule.train_epoch(data.x_train[order], data.y_train[order])
        x_fit, y_fit = data.x_train[:args.n_fit], data.y_train[:args.n_fit]
        fit, val = rule.population_counts(x_fit), rule.population_counts(data.x_val)
    finally:
        rule.close()
    hidden = [name for name in fit if name.startswith("hidden_")]
    t_sample = float(params["t_sample"])   # seconds
    result = {
        "dataset": args.dataset, "set": args.set, "trained": not args.no_training,
        "network_accuracy": float(np.mean(np.argmax(val["output"], axis=1) == data.y_val)),
        "readout_pixels": readout(x_fit, y_fit, data.x_val, data.y_val),
        "readout_input_rates": readout(escape_noise_effective_rate(x_fit), y_fit,
                                       escape_noise_effective_rate(data.x_val), data.y_val),
        **{f"readout_{name}": readout(fit[name], y_fit, val[name], data.y_val) for name in hidden},
        **{f"rate_hz_{name}_quantiles_0_10_50_90_100":
           np.quantile(val[name].mean(axis=0) / t_sample, [0, .1, .5, .9, 1]).round(1).tolist()
           for name in hidden},
    }
    with atomic_output(args.out) as tmp:
        with open(tmp, "w") as fh:
            fh.write(json.dumps(result) + "\n")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Diagnostic for spiking GAIT-Prop: its rate twin trained with exact backprop.

Trains the rate twin of ``spiking-gaitprop`` (the same initial weights, Adam, batch of
``chunk_slots`` and orthogonality penalty as the rule, with ``--set`` overrides) with
rate backprop's update in place of the spiking network's, so no spike is simulated:
what the spiking rule would reach if its update were exact.  Classifies by the twin's
output rates.  Writes one JSON line per epoch (validation and test accuracy).

    python workflows/scripts/gaitprop_twin_backprop.py --dataset fashion-mnist \
        --n-train 10000 --n-val 500 --n-test 1000 --epochs 2 \
        --set learning_rate=1e-3 --set penalty_form=full_identity --out twin.jsonl
"""
import argparse
import json
import sys

import numpy as np

from bioprop.models.datasets import load_dataset
from bioprop.models.files import atomic_output
from bioprop.models.params import parse_assignments
from bioprop.models.rules import get_rule
from bioprop.models.spiking.gaitprop import rate_twin


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--n-train", type=int, default=10000)
    ap.add_argument("--n-val", type=int, default=500)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--hidden", default="200")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--out", required=True, help="JSON lines file to write")
    args = ap.parse_args(argv)
    data = load_dataset(args.dataset, n_train=args.n_train, n_val=args.n_val, n_test=args.n_test,
                        seed=args.seed)
    cls = get_rule("spiking-gaitprop")
    params = cls.parameters.resolve(parse_assignments(args.set), rule=cls.name)
    rule = cls(n_inputs=data.x_train.shape[1], n_classes=data.n_classes,
               hidden=tuple(int(h) for h in args.hidden.split(",")), params=params, seed=args.seed)
    r0 = float(rule.input_rates(np.zeros((1, 1)))[0, 0])   # a black pixel's rate is the baseline

    def score(x, y):
        out = [np.argmax(rate_twin(rule.W, rule.b, xr, 0.0, r0, params["leaky_slope"])[0][-1])
               for xr in rule.input_rates(x)]
        return float(np.mean(np.array(out) == y))

    order_rng = np.random.default_rng(args.seed)
    k = int(params["chunk_slots"])
    lines = []
    for epoch in range(1, args.epochs + 1):
        order = order_rng.permutation(len(data.y_train))
        for s in range(0, len(order), k):
            rows = order[s:s + k]
            rule._apply(*rule.backprop_update(data.x_train[rows], data.y_train[rows]))
        line = {"epoch": epoch, "seed": args.seed, "parameters": args.set,
                "validation_accuracy": score(data.x_val, data.y_val),
                "test_accuracy": score(data.x_test, data.y_test)}
        print(json.dumps(line), flush=True)
        lines.append(json.dumps(line))
    with atomic_output(args.out) as tmp, open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

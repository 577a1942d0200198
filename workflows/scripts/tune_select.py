"""Select each rule's tuned setting from the runs of the tuning grid (tune.smk).

Reads only ``validation_accuracy`` (never the test set).  A run's score is its
peak validation accuracy over epochs (early stopping on validation); a grid
point's score is the mean over seeds; each run label's winner is the grid
point with the highest score among those where no run faulted (diverged: the
runs train on under ``--on-fault warn`` so that the grid completes, and the
table counts them in ``faulted``).  Writes every grid point to ``--table`` (CSV) and
the winners to ``--winners`` (YAML: per label the rule, the winning
parameters, the epoch of the peak and a ``source`` line recording the search,
ready for a parameter's ``source`` string).

    python workflows/scripts/tune_select.py RUN.nc ... --table tuning.csv --winners tuned.yaml
"""
import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from bioprop.models.files import atomic_output
from bioprop.models.schema import read_result


def grid_point(path: Path, parameters: dict) -> dict:
    """``{parameter: value}`` of a run, from its setting directory name and its provenance."""
    names = [part.split("=", 1)[0] for part in path.parent.name.split("+") if "=" in part]
    return {name: parameters[name]["value"] for name in names}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--table", required=True, type=Path)
    ap.add_argument("--winners", required=True, type=Path)
    args = ap.parse_args(argv)

    rows = []
    context = {}
    for path in args.runs:
        ds = read_result(path)
        if "validation_accuracy" not in ds:
            raise SystemExit(f"{path}: no validation_accuracy (tuning needs n_val)")
        val = ds["validation_accuracy"].values
        point = grid_point(path, json.loads(ds.attrs["parameters"]))
        rows.append({"dataset": ds.attrs["dataset"], "label": ds.attrs["label"], "rule": ds.attrs["rule"],
                     "setting": path.parent.name, "seed": int(ds.attrs["seed"]),
                     "peak_validation": float(np.max(val)), "peak_epoch": int(np.argmax(val)) + 1,
                     "final_validation": float(val[-1]), "epochs": len(val), "point": json.dumps(point),
                     "faulted": bool(json.loads(ds.attrs.get("faults", "[]")))})
        context[ds.attrs["dataset"]] = (json.loads(ds.attrs["dataset_subset"]), ds.attrs["layer_sizes"])
    runs = pd.DataFrame(rows)
    table = (runs.groupby(["dataset", "label", "rule", "setting", "point"], sort=True)
             .agg(seeds=("seed", "count"), peak_validation=("peak_validation", "mean"),
                  peak_validation_sd=("peak_validation", "std"), peak_epoch=("peak_epoch", "mean"),
                  final_validation=("final_validation", "mean"), epochs=("epochs", "max"),
                  faulted=("faulted", "sum"))
             .reset_index())
    with atomic_output(args.table, overwrite=True) as tmp:
        table.drop(columns="point").to_csv(tmp, index=False, float_format="%.4f")

    winners = defaultdict(dict)
    for (dataset, label), group in table.groupby(["dataset", "label"]):
        stable = group[group["faulted"] == 0]
        if stable.empty:
            raise SystemExit(f"{dataset} / {label}: every grid point faulted (diverged); "
                             "extend the grid to smaller steps")
        best = stable.loc[stable["peak_validation"].idxmax()]
        subset, layers = context[dataset]
        grid = defaultdict(list)
        for point in group["point"]:
            for name, value in json.loads(point).items():
                if value not in grid[name]:
                    grid[name].append(value)
        for name in grid:
            try:
                grid[name].sort()
            except TypeError:   # mixed kinds: keep the order they were found in
                pass
        chosen = json.loads(best["point"])
        winners[dataset][label] = {
            "rule": best["rule"], "set": chosen, "peak_epoch": float(best["peak_epoch"]),
            "source": (f"validation search ({dataset}, n_train={subset.get('n_train')}, "
                       f"n_val={subset.get('n_val')}, layers {layers}, {int(best['epochs'])} epochs, "
                       f"{int(best['seeds'])} seed(s); grid {dict(grid)}; winner "
                       + ", ".join(f"{k}={v}" for k, v in chosen.items()) + ")"),
        }
    with atomic_output(args.winners, overwrite=True) as tmp:
        Path(tmp).write_text(yaml.safe_dump(dict(winners), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

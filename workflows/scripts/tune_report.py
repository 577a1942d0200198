"""Early-stopped test accuracy of benchmark runs (tune.smk, rule early_stopping).

For every run the epoch of peak validation accuracy is chosen (early stopping
on validation; the test set plays no part in the choice) and the test accuracy
of that epoch is reported.  Per run label: mean and s.d. over seeds of that
test accuracy, of the chosen epoch and of the final epoch's test accuracy, and
the paired difference to ``--reference`` (by seed) with its t-interval.

    python workflows/scripts/tune_report.py RUN.nc ... --reference bp --out early_stopping.csv
"""
import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bioprop.models.files import atomic_output
from bioprop.models.schema import read_result


def early_stopped(ds) -> dict:
    if "validation_accuracy" not in ds:
        raise SystemExit(f"run {ds.attrs['label']} seed {ds.attrs['seed']}: no validation_accuracy "
                         "(early stopping needs n_val)")
    val = ds["validation_accuracy"].values
    best = int(np.argmax(val))
    return {"label": ds.attrs["label"], "rule": ds.attrs["rule"], "dataset": ds.attrs["dataset"],
            "seed": int(ds.attrs["seed"]), "epochs": len(val), "peak_epoch": best + 1,
            "peak_validation": float(val[best]), "test_at_peak": float(ds["test_accuracy"].values[best]),
            "final_test": float(ds["test_accuracy"].values[-1])}


def paired_interval(a: np.ndarray, b: np.ndarray, confidence: float) -> tuple[float, float, float]:
    d = a - b
    if len(d) < 2:
        return float(d.mean()), float("nan"), float("nan")
    half = stats.t.ppf(0.5 + confidence / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--reference", default="bp", help="run label the paired differences are taken to")
    ap.add_argument("--confidence", type=float, default=0.95)
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args(argv)

    runs = pd.DataFrame([early_stopped(read_result(p)) for p in args.runs])
    rows = []
    for (dataset, label), group in runs.groupby(["dataset", "label"], sort=False):
        row = {"dataset": dataset, "label": label, "rule": group["rule"].iloc[0], "seeds": len(group),
               "epochs": int(group["epochs"].max()),
               "peak_epoch_mean": group["peak_epoch"].mean(),
               "test_at_peak_mean": group["test_at_peak"].mean(),
               "test_at_peak_sd": group["test_at_peak"].std(ddof=1),
               "final_test_mean": group["final_test"].mean()}
        ref = runs[(runs["dataset"] == dataset) & (runs["label"] == args.reference)]
        if len(ref) and label != args.reference:
            paired = group.merge(ref, on="seed", suffixes=("", "_ref"))
            mean, low, high = paired_interval(paired["test_at_peak"].to_numpy(),
                                              paired["test_at_peak_ref"].to_numpy(), args.confidence)
            row.update({f"difference_to_{args.reference}": mean, "ci_low": low, "ci_high": high})
        rows.append(row)
    table = pd.DataFrame(rows).sort_values(["dataset", "test_at_peak_mean"], ascending=[True, False])
    with atomic_output(args.out, overwrite=True) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

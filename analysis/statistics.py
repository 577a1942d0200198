"""Statistics over seeds: summaries with confidence intervals and paired tests.

Runs that differ only in their seed are independent replicates; the same seed
gives two rules the same data subset and order, so rule comparisons are paired
by seed.
"""
from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import stats

from bioprop.models.errors import ResultError
from .results import final_epoch


def _t_interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """Student-t confidence interval of the mean: mean +- t_{(1+c)/2, n-1} * s / sqrt(n)."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * np.std(values, ddof=1) / np.sqrt(n)
    return mean - half, mean + half


def _bootstrap_interval(values: np.ndarray, confidence: float, resamples: int = 9999,
                        seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean (Efron and Tibshirani 1993, ch. 13),
    from a fixed seed so that a table is reproducible.  No normality assumed, but with
    few seeds it is narrower than the t-interval: there are only n^n resamples."""
    if np.all(values == values[0]):
        return float(values[0]), float(values[0])
    res = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=resamples,
                          method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summary(combined: xr.Dataset, variable: str = "test_accuracy", confidence: float = 0.95,
            last: int = 1) -> xr.Dataset:
    """Mean, standard deviation, count and t-interval over seeds of ``variable``
    at each run's final epoch (``last`` > 1: its mean over the run's last ``last``
    epochs, :func:`~.results.final_epoch`), for every (rule, dataset)."""
    final = final_epoch(combined, variable, last)
    out = {name: np.full((final.sizes["rule"], final.sizes["dataset"]), np.nan)
           for name in ("mean", "std", "n", "ci_low", "ci_high")}
    for i, rule in enumerate(final.rule.values):
        for j, dataset in enumerate(final.dataset.values):
            values = final.sel(rule=rule, dataset=dataset).values
            values = values[np.isfinite(values)]
            if not len(values):
                continue
            out["mean"][i, j] = values.mean()
            out["std"][i, j] = values.std(ddof=1) if len(values) > 1 else np.nan
            out["n"][i, j] = len(values)
            out["ci_low"][i, j], out["ci_high"][i, j] = _t_interval(values, confidence)
    units = combined[variable].attrs.get("units", "1")
    labels = {"mean": "mean over seeds", "std": "sample standard deviation over seeds",
              "n": "number of seeds", "ci_low": f"lower {confidence:.0%} t-interval bound",
              "ci_high": f"upper {confidence:.0%} t-interval bound"}
    measure = "final-epoch" if last == 1 else f"last-{last}-epoch mean"
    return xr.Dataset({name: (("rule", "dataset"), values,
                              {"units": "1" if name == "n" else units,
                               "long_name": f"{measure} {variable}: {labels[name]}"})
                       for name, values in out.items()},
                      coords={"rule": final.rule.values, "dataset": final.dataset.values},
                      attrs={"confidence": confidence, "variable": variable, "last_epochs": last})


def paired_comparison(combined: xr.Dataset, rule_a: str, rule_b: str, *, dataset: str | None = None,
                      variable: str = "test_accuracy", margin: float | None = None,
                      confidence: float = 0.95, last: int = 1) -> dict:
    """Compare two rules at the final epoch (``last`` > 1: the mean of each run's
    last ``last`` epochs), paired by seed.

    Returns the mean difference d = a - b over seeds with its t-interval and its
    percentile bootstrap interval (``bootstrap_low``, ``bootstrap_high``), the
    standardised effect size d_z = mean(d) / sd(d) (Cohen 1988; Lakens 2013), the
    two-sided paired t-test p-value (H0: mean d = 0), and, when ``margin`` is
    given, the two one-sided tests (TOST, Schuirmann 1987) p-value for
    equivalence |mean d| < margin -- the test behind claims such as "within
    one point of its rate-based twin".
    """
    final = final_epoch(combined, variable, last)
    if dataset is None:
        if final.sizes["dataset"] != 1:
            raise ResultError("several datasets in the results; name one with dataset=")
        dataset = str(final.dataset.values[0])
    for rule in (rule_a, rule_b):
        if rule not in final.rule.values:
            raise ResultError(f"rule {rule!r} not in results; have {list(final.rule.values)}")
    a = final.sel(rule=rule_a, dataset=dataset).values
    b = final.sel(rule=rule_b, dataset=dataset).values
    paired = np.isfinite(a) & np.isfinite(b)
    diff = a[paired] - b[paired]
    if len(diff) < 2:
        raise ResultError(f"need at least two seeds run with both {rule_a} and {rule_b}; have {len(diff)}")
    low, high = _t_interval(diff, confidence)
    boot_low, boot_high = _bootstrap_interval(diff, confidence)
    sd = np.std(diff, ddof=1)
    result = {"rule_a": rule_a, "rule_b": rule_b, "dataset": dataset, "n_seeds": int(len(diff)),
              "mean_difference": float(diff.mean()), "ci_low": low, "ci_high": high,
              "bootstrap_low": boot_low, "bootstrap_high": boot_high,
              "effect_size_dz": float(diff.mean() / sd) if sd > 0 else float("nan"),
              "p_value": float(stats.ttest_rel(a[paired], b[paired]).pvalue)
              if np.any(diff != diff[0]) else (1.0 if diff[0] == 0 else 0.0)}
    if margin is not None:
        sem = np.std(diff, ddof=1) / np.sqrt(len(diff))
        if sem == 0:
            p_tost = 0.0 if abs(diff.mean()) < margin else 1.0
        else:
            df = len(diff) - 1
            p_lower = stats.t.sf((diff.mean() + margin) / sem, df)
            p_upper = stats.t.cdf((diff.mean() - margin) / sem, df)
            p_tost = float(max(p_lower, p_upper))
        result.update(margin=margin, p_equivalence=p_tost)
    return result


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of p-values for multiple comparisons (Holm 1979):
    the k-th smallest of m p-values becomes max_{j<=k} min(1, (m - j + 1) p_(j)); it
    controls the family-wise error rate at any dependence between the tests."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order]))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def comparisons(combined: xr.Dataset, pairs, **options) -> list[dict]:
    """:func:`paired_comparison` of every (rule_a, rule_b) pair on every dataset, one
    family of tests: each row also gets ``p_holm`` (and ``p_equivalence_holm`` with a
    margin), the p-values adjusted by :func:`holm` over all rows."""
    rows = [paired_comparison(combined, a, b, dataset=str(dataset), **options)
            for a, b in pairs for dataset in combined.dataset.values]
    for key, adjusted_key in (("p_value", "p_holm"), ("p_equivalence", "p_equivalence_holm")):
        if rows and key in rows[0]:
            for row, adjusted in zip(rows, holm([row[key] for row in rows])):
                row[adjusted_key] = float(adjusted)
    return rows

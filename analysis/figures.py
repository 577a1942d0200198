"""Figures from combined results: learning curves and alignment to backprop.

Each function takes a combined Dataset (:func:`bioprop.analysis.results.combine_runs`)
and returns a Matplotlib Figure; :func:`save_figure` writes it atomically.
"""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are written to files, often on machines without a screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
import xarray as xr  # noqa: E402

from bioprop.models.files import atomic_output  # noqa: E402


def _mean_band(ax, curves: xr.DataArray, label: str):
    """Mean over seeds with a +-1 standard deviation band."""
    mean = curves.mean("seed")
    ax.plot(curves.epoch, mean, marker="o", ms=3, label=label)
    if curves.sizes.get("seed", 1) > 1:
        std = curves.std("seed", ddof=1)
        ax.fill_between(curves.epoch, mean - std, mean + std, alpha=0.2)


def learning_curves(combined: xr.Dataset, variable: str = "test_accuracy") -> plt.Figure:
    """One panel per dataset: ``variable`` against epoch, one line per rule
    (mean over seeds, band = +-1 s.d.)."""
    datasets = list(combined.dataset.values)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for rule in combined.rule.values:
            curves = combined[variable].sel(rule=rule, dataset=dataset).dropna("seed", how="all")
            if curves.sizes["seed"]:
                _mean_band(ax, curves, str(rule))
        ax.set(title=str(dataset), xlabel="epoch",
               ylabel=combined[variable].attrs.get("long_name", variable))
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small", loc="best", ncol=2 if combined.sizes["rule"] > 4 else 1)
    fig.tight_layout()
    return fig


def alignment_curves(combined: xr.Dataset, variable: str = "update_angle") -> plt.Figure:
    """Angle between each rule's update and backprop's, per layer, against epoch."""
    if variable not in combined:
        raise KeyError(f"{variable!r} not recorded; train with --set record_alignment=true")
    layers = list(combined.layer.values)
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3.4), squeeze=False, sharey=True)
    for ax, layer in zip(axes[0], layers):
        for rule in combined.rule.values:
            curves = combined[variable].sel(rule=rule, layer=layer).mean("dataset").dropna("seed", how="all")
            if curves.sizes["seed"] and np.isfinite(curves).any():
                _mean_band(ax, curves, str(rule))
        ax.axhline(90, color="grey", lw=0.8, ls=":")
        ax.set(title=f"layer {layer}", xlabel="epoch", ylabel="angle to backprop update (degree)")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save atomically (temporary file, then rename); never replaces a file unasked."""
    try:
        with atomic_output(path, overwrite=overwrite) as tmp:
            fig.savefig(tmp, dpi=150, format=Path(path).suffix.lstrip(".") or None)
    finally:
        plt.close(fig)
    return Path(path)

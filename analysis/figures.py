"""Figures from combined results: learning curves, alignment to backprop, firing
rates and synaptic events of spiking rules, robustness to weight quantization
and pruning, accuracy against swept parameters and work per sample, and spike
rasters of a trained network.

Each function takes a combined Dataset (:func:`bioprop.analysis.results.combine_runs`)
and returns a Matplotlib Figure; :func:`save_figure` writes it atomically.  Bands
and error bars are 95% Student-t confidence intervals of the mean over seeds.
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
from scipy import stats  # noqa: E402

from bioprop.models.files import atomic_output, check_output  # noqa: E402
from bioprop.models.schema import RUN_DIMS  # noqa: E402

CONFIDENCE = 0.95


def _half_width(values: xr.DataArray, dim: str = "seed") -> xr.DataArray:
    """Half-width of the t-interval of the mean along ``dim``: t_{(1+c)/2, n-1} s / sqrt(n)
    (NaN where fewer than two values)."""
    n = values.notnull().sum(dim)
    t = xr.apply_ufunc(lambda k: stats.t.ppf((1 + CONFIDENCE) / 2, np.maximum(k - 1, 1)), n)
    return (t * values.std(dim, ddof=1) / np.sqrt(n)).where(n > 1)


def _mean_band(ax, curves: xr.DataArray, label: str, bounds: tuple[float, float] = (-np.inf, np.inf)):
    """Mean over seeds with its confidence band, clipped to the variable's possible
    ``bounds`` (an accuracy band never passes 1, an angle band never 0)."""
    mean = curves.mean("seed")
    ax.plot(curves.epoch, mean, marker="o", ms=3, label=label)
    if curves.sizes.get("seed", 1) > 1:
        half = _half_width(curves)
        ax.fill_between(curves.epoch, np.clip(mean - half, *bounds), np.clip(mean + half, *bounds), alpha=0.2)


def learning_curves(combined: xr.Dataset, variable: str = "test_accuracy") -> plt.Figure:
    """One panel per dataset: ``variable`` against epoch, one line per rule
    (mean over seeds with its confidence band)."""
    datasets = list(combined.dataset.values)
    bounds = (0.0, 1.0) if variable.endswith("accuracy") else (-np.inf, np.inf)
    fig, axes = plt.subplots(1, len(datasets), figsize=(4.5 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        for rule in combined.rule.values:
            curves = combined[variable].sel(rule=rule, dataset=dataset).dropna("seed", how="all")
            if curves.sizes["seed"]:
                _mean_band(ax, curves, str(rule), bounds)
        ax.set(title=str(dataset), xlabel="epoch (passes over the training set)",
               ylabel=f"{variable.replace('_', ' ')} (fraction)")
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small", loc="best", ncol=2 if combined.sizes["rule"] > 4 else 1)
    fig.tight_layout()
    return fig


def alignment_curves(combined: xr.Dataset, variable: str = "update_angle") -> plt.Figure:
    """One alignment variable per layer against epoch: by default the angle between
    each rule's update and backprop's (a dotted line marks 90 degrees, no alignment);
    any other recorded one, e.g. ``error_angle`` or ``dead_fraction``, by name."""
    if variable not in combined:
        raise KeyError(f"{variable!r} not recorded; train with --set record_alignment=true")
    angle = combined[variable].attrs.get("units") == "degree"
    bounds = (0.0, 180.0) if angle else (0.0, 1.0)
    # the output layer has no feedback and no dead_fraction: no empty panels
    layers = [layer for layer in combined.layer.values
              if np.isfinite(combined[variable].sel(layer=layer)).any()]
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3.4), squeeze=False, sharey=True)
    for ax, layer in zip(axes[0], layers):
        for rule in combined.rule.values:
            curves = combined[variable].sel(rule=rule, layer=layer).mean("dataset").dropna("seed", how="all")
            if curves.sizes["seed"] and np.isfinite(curves).any():
                _mean_band(ax, curves, str(rule), bounds)
        if angle:
            ax.axhline(90, color="grey", lw=0.8, ls=":")
        ax.set(title=f"layer {layer}", xlabel="epoch (passes over the training set)",
               ylabel=f"{variable.replace('_', ' ')} ({'degree' if angle else 'fraction'})")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def silent_units(combined: xr.Dataset) -> plt.Figure:
    """Share of each hidden layer's units that pass no error back (``dead_fraction``:
    silent ReLUs, saturated tanh or sigmoid units) against epoch, per rule."""
    return alignment_curves(combined, "dead_fraction")


def _rules_with(combined: xr.Dataset, variable: str) -> list[str]:
    return [str(rule) for rule in combined.rule.values
            if variable in combined and bool(combined[variable].sel(rule=rule).notnull().any())]


def _runs(values: xr.DataArray) -> xr.DataArray:
    """Runs of every dataset and seed along one dimension ``run`` (replicates)."""
    return values.stack(run=("dataset", "seed"), create_index=False)


def _last_epoch(values: xr.DataArray) -> xr.DataArray:
    """Each run's values at its last recorded epoch (runs differ in epochs)."""
    last = values.notnull().any([d for d in values.dims if d not in ("epoch",) + RUN_DIMS])
    return values.isel(epoch=last.cumsum("epoch").argmax("epoch"))


def firing_rates(combined: xr.Dataset) -> plt.Figure:
    """Spiking rules at their last epoch: one panel per rule with the mean firing
    rate per neuron of each population during training and test presentations,
    and a last panel with synaptic events per sample presentation beside the
    multiply-accumulates of the equivalent rate network (where recorded)."""
    rules = _rules_with(combined, "firing_rate")
    if not rules:
        raise KeyError("firing_rate not recorded; no spiking rule among the runs")
    fig, axes = plt.subplots(1, len(rules) + 1, figsize=(3.6 * (len(rules) + 1), 4.0), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, rule in zip(axes[0], rules):
        rates = _runs(_last_epoch(combined["firing_rate"].sel(rule=rule)))
        rates = rates.dropna("population", how="all").dropna("run", how="all")
        x = np.arange(rates.sizes["population"])
        for k, presentation in enumerate(rates.presentation.values):
            values = rates.sel(presentation=presentation)
            ax.bar(x + (k - 0.5) * 0.4, values.mean("run"), 0.4, yerr=_half_width(values, "run").fillna(0),
                   capsize=2, color=colors[k], label=f"{presentation} samples")
        ax.set_xticks(x, [str(p) for p in rates.population.values], rotation=30)
        ax.set(title=rule, xlabel="population", ylabel="mean firing rate per neuron (Hz)")
    ax = axes[0][-1]
    events = _runs(_last_epoch(combined["synops_per_sample"].sel(rule=rules)).sel(presentation="train"))
    x = np.arange(len(rules))
    ax.bar(x - 0.2, events.mean("run"), 0.4, yerr=_half_width(events, "run").fillna(0), capsize=2,
           color=colors[2], label="synaptic events (spiking)")
    if "rate_network_macs_per_sample" in combined:
        macs = _last_epoch(combined["rate_network_macs_per_sample"].sel(rule=rules)).max(["dataset", "seed"])
        ax.bar(x + 0.2, macs, 0.4, color=colors[3], label="multiply-accumulates (rate twin)")
    ax.set_xticks(x, rules, rotation=30)
    ax.set(yscale="log", title="work per training sample", ylabel="operations per sample (1)")
    return _legend_below(fig)


def _legend_below(fig: plt.Figure) -> plt.Figure:
    """One legend for all panels, below them, where it hides no bar or error bar."""
    entries = {}
    for ax in fig.axes:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            entries.setdefault(label, handle)
    ncol = max(1, min(len(entries), int(fig.get_figwidth() / 2.3)))
    rows = -(-len(entries) // ncol)
    fig.tight_layout(rect=(0, (0.15 + 0.2 * rows) / fig.get_figheight(), 1, 1))
    fig.legend(entries.values(), entries.keys(), loc="lower center", ncol=ncol, fontsize="small",
               frameon=False)
    return fig


def sparsity(combined: xr.Dataset, variable: str = "sparseness") -> plt.Figure:
    """Population sparseness of the spiking rules' test presentations over training:
    one panel per rule, one line per population (mean over seeds with its band);
    ``variable="active_fraction"`` draws the fraction of neurons active per sample."""
    rules = _rules_with(combined, variable)
    if not rules:
        raise KeyError(f"{variable} not recorded; no spiking rule among the runs")
    fig, axes = plt.subplots(1, len(rules), figsize=(4.2 * len(rules), 3.6), squeeze=False, sharey=True)
    for ax, rule in zip(axes[0], rules):
        values = combined[variable].sel(rule=rule, presentation="test").mean("dataset")
        for population in values.population.values:
            curves = values.sel(population=population).dropna("seed", how="all")
            if curves.sizes["seed"] and bool(np.isfinite(curves).any()):
                _mean_band(ax, curves, str(population))
        ax.set(title=rule, xlabel="epoch (passes over the training set)", ylim=(0, 1),
               ylabel=("population sparseness (Vinje-Gallant)" if variable == "sparseness"
                       else variable.replace("_", " ")) + " (1)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    return _legend_below(fig)


#: robustness variables of a run, in the order of the experiments
ROBUSTNESS = {"test_accuracy": "trained", "quantized_test_accuracy": "weights rounded",
              "relearned_test_accuracy": "unpruned + re-learned",
              "pruned_test_accuracy_before_relearning": "pruned",
              "pruned_test_accuracy": "pruned + re-learned"}


def robustness(combined: xr.Dataset) -> plt.Figure:
    """Test accuracy of each rule with robustness records: trained, with its
    weights rounded to ``weight_bits``, unpruned after the re-learning samples (the
    control), and after pruning ``prune_fraction`` of them before and after
    re-learning (the S2M paper's experiments)."""
    rules = [rule for rule in combined.rule.values
             if any(name in combined and bool(combined[name].sel(rule=rule).notnull().any())
                    for name in list(ROBUSTNESS)[1:])]
    if not rules:
        raise KeyError("quantized_test_accuracy / pruned_test_accuracy not recorded; "
                       "train with --set weight_bits=N or --set prune_fraction=F")
    fig, ax = plt.subplots(figsize=(2.2 + 2.4 * len(rules), 3.6))
    names = [name for name in ROBUSTNESS if name in combined]
    width = 0.8 / len(names)
    for k, name in enumerate(names):
        values = combined[name].sel(rule=rules)
        if "epoch" in values.dims:
            values = _last_epoch(values)
        values = _runs(values)
        ax.bar(np.arange(len(rules)) + (k - (len(names) - 1) / 2) * width, values.mean("run"), width,
               yerr=_half_width(values, "run").fillna(0), capsize=2, label=ROBUSTNESS[name])
    ax.set_xticks(np.arange(len(rules)), [str(r) for r in rules])
    ax.set(xlabel="rule", ylabel="test accuracy (fraction)", ylim=(0, 1))
    return _legend_below(fig)


def _sweep_points(labels) -> dict[tuple[str, str], dict[str, list[tuple[str, str]]]]:
    """Run labels of parameter studies (``BASE+name=value[+other=v]``, the workflow's
    ``sweep:``) grouped as ``{(base, name): {other settings: [(value, label)]}}``."""
    groups: dict = {}
    for label in map(str, labels):
        base, *parts = label.split("+")
        point = dict(part.partition("=")[::2] for part in parts if "=" in part)
        for name, value in point.items():
            others = "+".join(f"{k}={v}" for k, v in point.items() if k != name)
            groups.setdefault((base, name), {}).setdefault(others, []).append((value, label))
    return groups


def _sweep_x(name: str, values: list[str]) -> tuple[np.ndarray, list[str] | None]:
    """Positions of swept values: numbers as they are, hidden sizes ``200-200`` as the
    total of hidden units, anything else one slot each (with its tick labels)."""
    try:
        if name == "hidden":
            return np.array([sum(int(v) for v in value.split("-")) for value in values], float), None
        return np.array([float(value) for value in values]), None
    except ValueError:
        return np.arange(len(values), dtype=float), list(values)


def _final(combined: xr.Dataset, name: str, labels: list[str]) -> xr.DataArray:
    values = combined[name].sel(rule=labels)
    return _runs(_last_epoch(values) if "epoch" in values.dims else values)


def sweeps(combined: xr.Dataset) -> plt.Figure:
    """Accuracy against each swept parameter (the workflow's ``sweep:`` labels
    ``BASE+name=value``): one panel per study, test accuracy at the last epoch and,
    where recorded, the accuracy after weight rounding and after pruning (the S2M
    paper's Figs. 6-7 as curves); with a ``hidden`` sweep, a last panel of accuracy
    against work per training sample: synaptic events of spiking runs and
    multiply-accumulates of rate runs (the eRBP paper's Fig. 5).  Means over seeds
    with 95% t-intervals."""
    groups = _sweep_points(combined.rule.values)
    if not groups:
        raise KeyError("no parameter study among the runs: labels LABEL+name=value come from "
                       "a rule's sweep: in the workflow config")
    sized = [key for key in groups if key[1] == "hidden"]
    n = len(groups) + bool(sized)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, ((base, name), series) in zip(axes[0], groups.items()):
        for k, (others, points) in enumerate(series.items()):
            x, ticks = _sweep_x(name, [value for value, _ in points])
            order = np.argsort(x)
            labels = [points[i][1] for i in order]
            for j, variable in enumerate(v for v in ROBUSTNESS if v in combined):
                values = _final(combined, variable, labels)
                if not bool(values.notnull().any()):
                    continue
                # one colour per measure in every panel, so the shared legend reads for all
                ax.errorbar(x[order], values.mean("run"), yerr=_half_width(values, "run").fillna(0),
                            marker="os^v"[j], ls="-" if not j else "--", capsize=2, color=colors[j],
                            alpha=1.0 if not k else 0.6,
                            label=f"test accuracy, {ROBUSTNESS[variable]}" + (f" ({others})" if others else ""))
            if ticks is not None:
                ax.set_xticks(x, ticks)
        unit = "hidden units, total" if name == "hidden" else "as in bioprop params"
        ax.set(title=f"{base}: {name}", xlabel=f"{name} ({unit})", ylabel="test accuracy (fraction)")
        ax.grid(alpha=0.3)
    if sized:
        ax = axes[0][-1]
        for m, (base, name) in enumerate(sized):
            points = [p for pts in groups[(base, name)].values() for p in pts]
            labels = [label for _, label in points]
            spiking = "synops_per_sample" in combined and bool(
                combined["synops_per_sample"].sel(rule=labels).notnull().any())
            if spiking:
                work = _final(combined, "synops_per_sample", labels).sel(presentation="train").mean("run")
            elif "rate_network_macs_per_sample" in combined:
                work = _final(combined, "rate_network_macs_per_sample", labels).mean("run")
            else:
                continue
            accuracy = _final(combined, "test_accuracy", labels)
            order = np.argsort(work.values)
            ax.errorbar(work.values[order], accuracy.mean("run").values[order],
                        yerr=_half_width(accuracy, "run").fillna(0).values[order], capsize=2,
                        marker="o" if spiking else "s", ls="-" if spiking else "--",
                        color=colors[(len(ROBUSTNESS) + m) % len(colors)],
                        label=f"{base} ({'synaptic events' if spiking else 'multiply-accumulates'})")
        ax.set(xscale="log", title="accuracy against work per sample",
               xlabel="operations per training sample (1)", ylabel="test accuracy (fraction)")
        ax.grid(alpha=0.3)
    return _legend_below(fig)


def spike_raster(spikes: xr.Dataset, bin_ms: float | None = None) -> plt.Figure:
    """A spike raster of a recording (:func:`bioprop.analysis.spikes.record`), one colour
    per population, presentations separated by lines and labelled with sample and class;
    below it each population's firing rate per neuron in bins of ``bin_ms`` (default:
    10 ms, or longer for a recording of more than 150 such bins)."""
    from .spikes import _populations, population_rates
    pops = _populations(spikes)
    if bin_ms is None:
        total_ms = 1e3 * spikes.sizes["shown"] * spikes.attrs["duration_s"]
        bin_ms = max(10.0, 10.0 * np.ceil(total_ms / 1500.0))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True,
                                      gridspec_kw={"height_ratios": (3, 1.4)})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    t, neuron = spikes.spike_time.values, spikes.spike_neuron.values
    repeats = int(spikes.shown_repeat.max()) + 1 if spikes.sizes.get("shown") else 1
    for k, (name, a, b) in enumerate(pops):
        mine = (neuron >= a) & (neuron < b)
        top.scatter(t[mine], neuron[mine], s=0.5, marker="|", color=colors[k % len(colors)],
                    linewidths=0.5, rasterized=True)
        top.plot([], [], color=colors[k % len(colors)], lw=3, label=name)   # a visible legend key
        top.axhline(b - 0.5, color="0.8", lw=0.5)
    rates = population_rates(spikes, bin_ms)
    for k, name in enumerate(rates.population.values):
        bottom.plot(rates.time, rates.sel(population=name), color=colors[k % len(colors)], lw=1)
    for ax in (top, bottom):
        for start in spikes.shown_start.values[1:]:
            ax.axvline(start, color="k", lw=0.6, ls="--")
    labels = top.secondary_xaxis("top")
    labels.set_xticks(spikes.shown_start.values + spikes.attrs["duration_s"] / 2,
                      [f"sample {s}\nclass {c}" + (f"\nrepeat {r}" if repeats > 1 else "")
                       for s, c, r in zip(spikes.shown_sample.values, spikes.shown_label.values,
                                          spikes.shown_repeat.values)], fontsize="x-small")
    labels.tick_params(length=0)
    top.set(ylabel="neuron (index in net)", ylim=(-0.5, pops[-1][2] - 0.5))
    top.set_title(f"{spikes.attrs['rule']}: spikes of the trained network, learning off", pad=8)
    bottom.set(xlabel="time (s)", ylabel=f"rate per neuron\n(Hz, {bin_ms:g} ms bins)")
    return _legend_below(fig)


def save_figure(fig: plt.Figure, path: str | os.PathLike, *more_paths: str | os.PathLike,
                overwrite: bool = False) -> Path:
    """Save atomically (temporary file, then rename) to ``path`` and each of
    ``more_paths``, in the format each suffix names (e.g. PNG and PDF); every path
    is checked before the first is written, and no file is replaced unasked."""
    paths = [Path(p) for p in (path, *more_paths)]
    try:
        for target in paths:
            check_output(target, overwrite=overwrite)
        for target in paths:
            with atomic_output(target, overwrite=overwrite) as tmp:
                fig.savefig(tmp, dpi=150, format=target.suffix.lstrip(".") or None)
    finally:
        plt.close(fig)
    return paths[0]

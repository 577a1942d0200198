"""Spike trains of a trained spiking network: recording, irregularity, variability.

:func:`record` re-runs a saved result's trained network (its final state, kept by
``bioprop train --keep-state``) on chosen test samples with a spike monitor on, and
returns the spikes as a Dataset (dimension ``spike``, one presentation per sample and
repeat).  From it:

* :func:`population_rates` -- population firing rates over time (Hz), in bins;
* :func:`isi_cv` -- coefficient of variation of the inter-spike intervals by
  population (1 for a Poisson process, 0 for a clock; Softky and Koch 1993);
* :func:`fano_factor` -- variance over mean of each neuron's spike count across
  repeated presentations of the same sample (1 for Poisson; Teich 1989,
  Churchland et al. 2010), which needs ``repeats >= 2``.

ISIs are taken within one presentation only (the gap to the next sample's first
spike is not an interval of either), from neurons with at least ``min_spikes``
spikes there; each population's value is the mean over its neurons and
presentations, with the number of those it averages in ``n``.
"""
from __future__ import annotations

import json
import os

import numpy as np
import xarray as xr

from bioprop.models.errors import ParameterError, ResultError

SPIKE = "spike"
SHOWN = "shown"


def record(result_path: str | os.PathLike, samples=(0, 1, 2), repeats: int = 1, *, data_dir=None,
           seed: int = 0) -> xr.Dataset:
    """Spikes of the trained network of ``result_path`` on its test samples ``samples``
    (indices into the result's test subset), each shown ``repeats`` times."""
    from bioprop.models.training import restore_trained
    rule, data = restore_trained(result_path, data_dir=data_dir)
    if getattr(rule, "family", None) != "spiking" or not hasattr(rule, "record_spikes"):
        raise ResultError(f"{result_path}: {rule.name} is not a spiking rule; it has no spikes")
    samples = np.asarray(samples, int)
    bad = samples[(samples < 0) | (samples >= len(data.y_test))]
    if bad.size or not samples.size:
        raise ParameterError(f"samples must be indices into the {len(data.y_test)} test samples of "
                             f"{result_path} (0 to {len(data.y_test) - 1}); got {samples.tolist()}")
    try:
        rec = rule.record_spikes(data.x_test[samples], repeats=repeats, seed=seed)
    finally:
        rule.close()
    names = np.empty(rule.populations[-1][2], dtype=object)
    for name, a, b in rule.populations:
        names[a:b] = name
    shown = np.searchsorted(rec["start"], rec["times"], side="right") - 1
    ds = xr.Dataset(
        {"spike_time": (SPIKE, rec["times"], {"units": "s", "long_name": "spike time from the "
                                                "start of the recording"}),
         "spike_neuron": (SPIKE, rec["neurons"], {"units": "1", "long_name": "neuron index in net"}),
         "spike_population": (SPIKE, names[rec["neurons"]].astype(str)),
         "spike_shown": (SPIKE, shown, {"units": "1", "long_name": "index of the presentation"}),
         "shown_sample": (SHOWN, samples[rec["sample"]], {"long_name": "test sample index"}),
         "shown_label": (SHOWN, data.y_test[samples][rec["sample"]], {"long_name": "true class"}),
         "shown_repeat": (SHOWN, rec["repeat"]),
         "shown_start": (SHOWN, rec["start"], {"units": "s"})},
        attrs={"rule": rule.name, "result": os.fspath(result_path), "duration_s": float(rec["duration"]),
               "populations": json.dumps([[n, int(a), int(b)] for n, a, b in rule.populations]),
               "recording": "runtime device, learning off, SpikeMonitor on net", "seed": int(seed)})
    return ds


def _populations(spikes: xr.Dataset) -> list[tuple[str, int, int]]:
    return [(str(n), int(a), int(b)) for n, a, b in json.loads(spikes.attrs["populations"])]


def population_rates(spikes: xr.Dataset, bin_ms: float = 10.0) -> xr.DataArray:
    """Mean firing rate per neuron of each population in bins of ``bin_ms`` (Hz)."""
    if not bin_ms > 0:
        raise ParameterError(f"bin_ms must be a positive duration in ms; got {bin_ms!r}")
    end = float(spikes.shown_start.max()) + spikes.attrs["duration_s"]
    edges = np.arange(0.0, end + 1e-12, bin_ms * 1e-3)
    t = spikes.spike_time.values
    rows = []
    for name, a, b in _populations(spikes):
        counts, _ = np.histogram(t[spikes.spike_population.values == name], edges)
        rows.append(counts / ((b - a) * bin_ms * 1e-3))
    return xr.DataArray(np.array(rows), dims=("population", "time"),
                        coords={"population": [p[0] for p in _populations(spikes)],
                                "time": ("time", edges[:-1] + bin_ms * 5e-4, {"units": "s"})},
                        name="population_rate", attrs={"units": "Hz", "bin_ms": bin_ms})


def isi_cv(spikes: xr.Dataset, min_spikes: int = 3) -> xr.Dataset:
    """ISI coefficient of variation (std / mean of a neuron's intervals within one
    presentation) by population: ``cv`` (mean) and ``n`` (neuron-presentations with at
    least ``min_spikes`` spikes)."""
    order = np.lexsort((spikes.spike_time.values, spikes.spike_neuron.values, spikes.spike_shown.values))
    t = spikes.spike_time.values[order]
    key = spikes.spike_shown.values[order] * (1 << 32) + spikes.spike_neuron.values[order]
    pop = spikes.spike_population.values[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    stops = np.r_[starts[1:], len(key)]
    by_pop = {name: [] for name, *_ in _populations(spikes)}
    for a, b in zip(starts, stops):
        if b - a >= min_spikes:
            isi = np.diff(t[a:b])
            if isi.mean() > 0:
                by_pop[pop[a]].append(isi.std() / isi.mean())
    names = list(by_pop)
    return xr.Dataset({"cv": ("population", [np.mean(v) if v else np.nan for v in by_pop.values()],
                              {"units": "1", "long_name": "ISI coefficient of variation"}),
                       "n": ("population", [len(v) for v in by_pop.values()])},
                      coords={"population": names})


def fano_factor(spikes: xr.Dataset) -> xr.Dataset:
    """Fano factor of spike counts across repeats of each sample, by population:
    ``fano`` (mean over neurons and samples with a non-zero mean count) and ``n``."""
    repeats = int(spikes.shown_repeat.max()) + 1
    if repeats < 2:
        raise ParameterError("the Fano factor needs repeated presentations: record with repeats >= 2")
    pops = _populations(spikes)
    n_net = pops[-1][2]
    counts = np.zeros((spikes.sizes[SHOWN], n_net))
    np.add.at(counts, (spikes.spike_shown.values, spikes.spike_neuron.values), 1)
    samples = spikes.shown_sample.values
    fano, n = [], []
    for name, a, b in pops:
        values = []
        for s in np.unique(samples):
            block = counts[samples == s, a:b]
            mean = block.mean(axis=0)
            alive = mean > 0
            values.extend(block[:, alive].var(axis=0, ddof=1) / mean[alive])
        fano.append(np.mean(values) if values else np.nan)
        n.append(len(values))
    return xr.Dataset({"fano": ("population", fano, {"units": "1", "long_name": "Fano factor of "
                                                     "spike counts across repeats"}),
                       "n": ("population", n)}, coords={"population": [p[0] for p in pops]})

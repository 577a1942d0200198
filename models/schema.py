"""The result schema: the one place that names dimensions, variables and attributes.

Every rule, rate or spiking, produces an :class:`xarray.Dataset` of this form
and writes it as NetCDF (engine ``h5netcdf``):

Dimensions
    ``epoch`` (1..E), ``layer`` (1..L, the weight layer feeding layer l),
    ``population`` (named neuron populations of a spiking network; the names are
    the coordinate), ``presentation`` (``train``: the training presentation, learning
    on; ``test``: the test presentation, learning off -- the word ``phase`` is kept
    for the phases within one sample slot), ``neuron_<k>`` (units of layer k;
    ``neuron_0`` are the inputs).

Variables (every one has ``units`` and ``long_name``)
    ``train_accuracy(epoch)``, ``test_accuracy(epoch)`` -- always, fractions in [0, 1];
    ``validation_accuracy(epoch)`` -- when a validation split was asked for;
    ``weight_<k>(neuron_<k>, neuron_<k-1>)`` -- final forward weights, optional;
    every spiking rule (:func:`spiking_records`): ``firing_rate(epoch, presentation,
    population)`` in Hz, ``synops_per_sample(epoch, presentation)``,
    ``wall_ms_per_sample(epoch, presentation)``; any other per-epoch variable a rule
    records, e.g. ``update_angle(epoch, layer)`` in degrees.

Global attributes (CF-style plus provenance)
    ``Conventions``, ``title``, ``source``, ``history``, ``rule``, ``dataset``,
    ``dataset_subset`` (JSON), ``seed``, ``layer_sizes`` (JSON), ``parameters``
    (JSON ``{name: {value, unit}}``), ``device`` (JSON), ``bioprop_version``,
    ``brian2_version``, ``numpy_version``, ``wall_clock_seconds``, ``created``.

NetCDF attributes cannot be bool, dict or None: structured values are JSON
strings.  Runs combine along :data:`RUN_DIMS` (``rule``, ``dataset``, ``seed``) with
:func:`bioprop.analysis.results.combine_runs`; combined files are written and read
with :func:`write_combined` and :func:`read_combined`.
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import xarray as xr

from .errors import ParameterError, ResultError
from .files import atomic_output

ENGINE = "h5netcdf"
CONVENTIONS = "CF-1.8"
SCHEMA_VERSION = "1"

EPOCH = "epoch"
LAYER = "layer"
POPULATION = "population"
PRESENTATION = "presentation"
#: coordinate values of ``presentation``: the training pass (learning on) and the test pass
PRESENTATIONS = ("train", "test")
#: run-level attributes that become dimensions when runs are combined
RUN_DIMS = ("rule", "dataset", "seed")

REQUIRED_VARIABLES = ("train_accuracy", "test_accuracy")
REQUIRED_ATTRS = ("Conventions", "title", "source", "history", "rule", "dataset",
                  "dataset_subset", "seed", "layer_sizes", "parameters", "device",
                  "bioprop_version", "brian2_version", "numpy_version",
                  "wall_clock_seconds", "created", "schema_version")
#: attributes stored as JSON text
JSON_ATTRS = ("dataset_subset", "layer_sizes", "parameters", "device")


#: a run label (rule variant) is also a directory name in workflows
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=-]*")


def check_label(label: str) -> str:
    """Return ``label`` if it can name a run variant, else raise ParameterError."""
    if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
        raise ParameterError(f"label must start with a letter or digit and contain only letters, digits "
                             f"and . _ + = - (e.g. erbp-fb0.2); got {label!r}")
    return label


def neuron_dim(k: int) -> str:
    """Dimension indexing the units of layer ``k`` (0 = inputs)."""
    return f"neuron_{k}"


def weight_name(k: int) -> str:
    """Variable holding the weights from layer ``k-1`` to layer ``k``."""
    return f"weight_{k}"


def package_versions() -> dict[str, str]:
    """Versions of bioprop, Brian2 and NumPy for provenance."""
    def version(dist):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"
    return {"bioprop_version": version("bioprop"), "brian2_version": version("brian2"),
            "numpy_version": np.__version__}


def make_result(*, rule: str, dataset: str, dataset_subset: Mapping, seed: int,
                layer_sizes: tuple[int, ...], parameters_json: str, device: Mapping,
                train_accuracy, test_accuracy, validation_accuracy=None,
                epoch_variables: Mapping[str, tuple[tuple[str, ...], Any, dict]] | None = None,
                final_variables: Mapping[str, tuple[tuple[str, ...], Any, dict]] | None = None,
                weights: list[np.ndarray] | None = None, weight_units: str = "1",
                wall_clock_seconds: float,
                title: str | None = None, command: str | None = None,
                label: str | None = None,
                coords: Mapping[str, tuple[Any, dict]] | None = None) -> xr.Dataset:
    """Assemble a result Dataset that follows the schema.

    ``epoch_variables`` maps a name to ``(dims, values, attrs)`` where dims
    starts with ``epoch`` and attrs has at least ``units`` and ``long_name``;
    ``final_variables`` (same form, no ``epoch`` dimension) describe the trained
    network (:meth:`~bioprop.models.rules.LearningRule.after_training`).
    ``coords`` maps a dimension of those variables to ``(values, attrs)``, e.g.
    :func:`spiking_coordinates`.  ``label`` names the run's variant in combined
    results (default: ``rule``).
    """
    n_epochs = len(train_accuracy)
    epochs = np.arange(1, n_epochs + 1)
    data_vars = {
        "train_accuracy": ((EPOCH,), np.asarray(train_accuracy, float),
                           {"units": "1", "long_name": "fraction of training samples classified correctly"}),
        "test_accuracy": ((EPOCH,), np.asarray(test_accuracy, float),
                          {"units": "1", "long_name": "fraction of test samples classified correctly"}),
    }
    if validation_accuracy is not None:
        data_vars["validation_accuracy"] = (
            (EPOCH,), np.asarray(validation_accuracy, float),
            {"units": "1", "long_name": "fraction of validation samples classified correctly"})
    for name, (dims, values, attrs) in {**(epoch_variables or {}), **(final_variables or {})}.items():
        data_vars[name] = (tuple(dims), np.asarray(values), dict(attrs))
    for k, w in enumerate(weights or [], start=1):
        data_vars[weight_name(k)] = (
            (neuron_dim(k), neuron_dim(k - 1)), np.asarray(w),
            {"units": weight_units, "long_name": f"synaptic weight from layer {k - 1} to layer {k}"})
    coordinates = {EPOCH: (EPOCH, epochs, {"units": "1", "long_name": "training epoch"})}
    for dim, (values, attrs) in (coords or {}).items():
        coordinates[dim] = (dim, np.asarray(values), dict(attrs))
    ds = xr.Dataset(data_vars, coords=coordinates)
    if LAYER in ds.dims:
        ds = ds.assign_coords({LAYER: (LAYER, np.arange(1, ds.sizes[LAYER] + 1),
                                       {"units": "1", "long_name": "weight layer (1 = first hidden)"})})
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    command = command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])
    ds.attrs = {
        "Conventions": CONVENTIONS,
        "title": title or f"{rule} trained on {dataset}",
        "source": f"bioprop {package_versions()['bioprop_version']}",
        "history": f"{now}: {command}",
        "rule": rule,
        "label": check_label(label) if label is not None else rule,
        "dataset": dataset,
        "dataset_subset": json.dumps(dict(dataset_subset), default=str),
        "seed": int(seed),
        "layer_sizes": json.dumps([int(n) for n in layer_sizes]),
        "parameters": parameters_json,
        "device": json.dumps(dict(device), default=str),
        **package_versions(),
        "wall_clock_seconds": float(wall_clock_seconds),
        "created": now,
        "schema_version": SCHEMA_VERSION,
    }
    validate(ds)
    return ds


def validate(ds: xr.Dataset) -> None:
    """Raise :class:`ResultError` unless ``ds`` follows the schema."""
    problems = []
    for name in REQUIRED_VARIABLES:
        if name not in ds:
            problems.append(f"missing variable {name!r}")
        elif ds[name].dims != (EPOCH,):
            problems.append(f"{name} must have dims ('epoch',), has {ds[name].dims}")
    for name in ("train_accuracy", "test_accuracy", "validation_accuracy"):
        if name in ds:
            values = np.asarray(ds[name])
            if np.any((values < 0) | (values > 1)):
                problems.append(f"{name} must be a fraction in [0, 1]")
    for name, var in ds.data_vars.items():
        for attr in ("units", "long_name"):
            if attr not in var.attrs:
                problems.append(f"variable {name!r} lacks attribute {attr!r}")
    for attr in REQUIRED_ATTRS:
        if attr not in ds.attrs:
            problems.append(f"missing global attribute {attr!r}")
    for attr, value in ds.attrs.items():
        if isinstance(value, (bool, dict, type(None))):
            problems.append(f"attribute {attr!r} is {type(value).__name__}; store it as JSON text")
    if problems:
        raise ResultError("result does not follow the bioprop schema: " + "; ".join(problems))


def write_result(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``ds`` to NetCDF atomically.

    The file is written to a temporary name in the same directory and renamed
    into place, so an interrupted run never leaves a file that looks complete.
    An existing file is kept unless ``overwrite`` is true.
    """
    validate(ds)
    path = Path(path)
    if path.suffix != ".nc":
        raise ResultError(f"--out must name a NetCDF file ending in .nc; got {str(path)!r}")
    with atomic_output(path, overwrite=overwrite) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE)
    return path


def read_result(path: str | os.PathLike) -> xr.Dataset:
    """Open a result file (loaded into memory, file closed) and check its schema."""
    path = Path(path)
    if not path.is_file():
        raise ResultError(f"no result file at {path}")
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            ds = ds.load()
    except (OSError, ValueError) as err:
        raise ResultError(f"cannot read result {path}: {err}") from None
    validate(ds)
    return ds


def write_combined(ds: xr.Dataset, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write combined runs (:func:`bioprop.analysis.results.combine_runs`) atomically."""
    missing = [dim for dim in RUN_DIMS if dim not in ds.dims]
    if missing:
        raise ResultError(f"combined results lack the run dimensions {', '.join(missing)}")
    path = Path(path)
    with atomic_output(path, overwrite=overwrite) as tmp:
        ds.to_netcdf(tmp, engine=ENGINE)
    return path


def read_combined(path: str | os.PathLike) -> xr.Dataset:
    """Open a combined file (loaded into memory, file closed)."""
    path = Path(path)
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            ds = ds.load()
    except (OSError, ValueError) as err:
        raise ResultError(f"cannot read combined results {path}: {err}") from None
    missing = [dim for dim in RUN_DIMS if dim not in ds.dims]
    if missing:
        raise ResultError(f"{path} is not a combined result file (no {', '.join(missing)} dimension)")
    return ds


def spiking_coordinates(population_names) -> dict[str, tuple[Any, dict]]:
    """Coordinates of the records every spiking rule writes (:func:`spiking_records`)."""
    return {
        POPULATION: (np.asarray(list(population_names), dtype=object),
                     {"long_name": "neuron population of the spiking network"}),
        PRESENTATION: (np.asarray(PRESENTATIONS, dtype=object),
                       {"long_name": "presentation of the data: train = training pass (learning on), "
                                     "test = test pass (learning off, label inputs silent)"}),
    }


def spiking_records(*, firing_rate_hz, synops_per_sample, wall_ms_per_sample,
                    device_kind: str, sparseness=None,
                    active_fraction=None) -> dict[str, tuple[tuple[str, ...], Any, dict]]:
    """One epoch's records of a spiking rule, for the training and the test presentation.

    firing_rate_hz : ``(2, n_populations)`` mean rate per neuron of each population;
    synops_per_sample, wall_ms_per_sample : ``(2,)``; row/entry 0 = train, 1 = test;
    sparseness, active_fraction : ``(2, n_populations)``, optional
    (:func:`population_sparseness`).
    """
    optional = {}
    if sparseness is not None:
        optional["sparseness"] = ((PRESENTATION, POPULATION), np.asarray(sparseness, float), {
            "units": "1", "long_name": "population sparseness of the spike counts per sample",
            "definition": "Vinje and Gallant 2000: (1 - mean(r)^2 / mean(r^2)) / (1 - 1/N) over "
                          "the N neurons of the population, mean over samples that evoked a spike; "
                          "0 = all alike, 1 = one neuron active"})
    if active_fraction is not None:
        optional["active_fraction"] = ((PRESENTATION, POPULATION), np.asarray(active_fraction, float), {
            "units": "1", "long_name": "fraction of the population's neurons that spiked during a "
                                       "sample, mean over samples"})
    return {**optional,
        "firing_rate": ((PRESENTATION, POPULATION), np.asarray(firing_rate_hz, float), {
            "units": "Hz", "long_name": "mean firing rate per neuron by population"}),
        "synops_per_sample": ((PRESENTATION,), np.asarray(synops_per_sample, float), {
            "units": "1", "long_name": "synaptic events per sample presentation",
            "note": "transmitted events (expected number for stochastic synapses) of all synapses; "
                    "noise inputs not counted"}),
        "wall_ms_per_sample": ((PRESENTATION,), np.asarray(wall_ms_per_sample, float), {
            "units": "ms", "long_name": "wall-clock time per sample presentation",
            "device": device_kind}),
    }


def population_sparseness(counts: np.ndarray) -> tuple[float, float]:
    """``(sparseness, active_fraction)`` of spike counts ``(n_samples, n_neurons)``: the
    Vinje-Gallant population sparseness averaged over samples with at least one spike
    (NaN for one neuron or no spike at all), and the mean fraction of neurons that
    spiked at least once."""
    counts = np.asarray(counts, float)
    if not counts.size:
        return float("nan"), float("nan")
    active = float(np.mean(counts > 0))
    n = counts.shape[1]
    spiking = counts[counts.sum(axis=1) > 0]
    if n < 2 or not len(spiking):
        return float("nan"), active
    ratio = spiking.mean(axis=1) ** 2 / np.mean(spiking ** 2, axis=1)
    return float(np.mean((1.0 - ratio) / (1.0 - 1.0 / n))), active


def rate_macs_record(layer_sizes) -> dict[str, tuple[tuple[str, ...], Any, dict]]:
    """Multiply-accumulates per training sample of a rate network of ``layer_sizes``,
    forward and backward (2 sum_l n_l n_(l+1)): recorded by the rate rules for their
    own network and by eRBP for its rate twin, so that accuracy can be set against
    work per sample (Neftci et al. 2017, Fig. 5)."""
    sizes = [int(n) for n in layer_sizes]
    macs = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return {"rate_network_macs_per_sample": ((), float(macs), {
        "units": "1", "long_name": "multiply-accumulates per sample of the (equivalent) rate "
        "network, forward and backward: 2 * sum_l n_l n_(l+1)"})}


def json_attr(ds: xr.Dataset, name: str) -> Any:
    """Decode one of the JSON attributes (``parameters``, ``device``, ...)."""
    return json.loads(ds.attrs[name])

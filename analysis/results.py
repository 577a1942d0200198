"""Combine result files from many runs into one labelled Dataset."""
from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import xarray as xr

from bioprop.models import schema
from bioprop.models.errors import ResultError

RUN_DIMS = schema.RUN_DIMS


def as_run(ds: xr.Dataset) -> xr.Dataset:
    """Lift a single run's ``label`` (its rule or a named variant of it), ``dataset``
    and ``seed`` attributes to length-1 dimensions ``rule``, ``dataset``, ``seed``; drop
    per-run arrays that cannot be aligned across architectures (weights); keep the
    registered rule (``learning_rule``) and provenance (``parameters``) per run."""
    keep = [v for v in ds.data_vars if not v.startswith("weight_")]
    label = ds.attrs.get("label", ds.attrs["rule"])
    run = ds[keep].expand_dims({"rule": [label], "dataset": [ds.attrs["dataset"]],
                                "seed": [int(ds.attrs["seed"])]})
    run["learning_rule"] = (RUN_DIMS, np.array(ds.attrs["rule"], dtype=object).reshape(1, 1, 1),
                            {"units": "1", "long_name": "registered learning rule of the run"})
    run["parameters"] = (RUN_DIMS, np.array(ds.attrs["parameters"], dtype=object).reshape(1, 1, 1),
                         {"units": "1", "long_name": "rule parameters (JSON)"})
    run["wall_clock_seconds"] = (RUN_DIMS, np.full((1, 1, 1), float(ds.attrs["wall_clock_seconds"])),
                                 {"units": "s", "long_name": "wall-clock time of the run"})
    run.attrs = {k: ds.attrs[k] for k in ("Conventions", "source", "bioprop_version",
                                          "brian2_version", "numpy_version")}
    return run


def _run_key(path) -> tuple[str, str, int]:
    """(label, dataset, seed) of a result file, from its attributes alone."""
    try:
        with xr.open_dataset(path, engine=schema.ENGINE) as ds:
            attrs = dict(ds.attrs)
    except (OSError, ValueError) as err:
        raise ResultError(f"cannot read result {path}: {err}") from None
    try:
        return attrs.get("label", attrs["rule"]), attrs["dataset"], int(attrs["seed"])
    except KeyError as err:
        raise ResultError(f"result {path} lacks the global attribute {err}") from None


def _prepared(ds: xr.Dataset) -> xr.Dataset:
    schema.validate(ds)
    return as_run(ds)


def combine_runs(paths: Iterable[str | os.PathLike], *, lazy: bool = False) -> xr.Dataset:
    """Open result files and combine them along ``rule``, ``dataset`` and ``seed``.

    Runs with different numbers of epochs are padded with NaN.  Two files
    describing the same (rule, dataset, seed) are an error, not silently merged.
    With ``lazy`` the files are opened with ``xarray.open_mfdataset`` and the
    values stay on disk (dask arrays, one chunk per run) until used or written,
    so that a study of hundreds of runs is combined without holding them all in
    memory; the files must stay in place while the result is in use.
    """
    paths = list(paths)
    if not paths:
        raise ResultError("no result files to combine")
    for path in paths:
        if not os.path.isfile(path):
            raise ResultError(f"no result file at {path}")
    keys = [_run_key(p) for p in paths]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise ResultError(f"several result files for the same (rule, dataset, seed): {sorted(duplicates)}")
    options = dict(data_vars="all", coords="different", compat="no_conflicts",
                   combine_attrs="drop_conflicts", join="outer")
    if lazy:
        combined = xr.open_mfdataset(paths, engine=schema.ENGINE, preprocess=_prepared,
                                     combine="by_coords", **options)
    else:
        combined = xr.combine_by_coords([as_run(schema.read_result(p)) for p in paths], **options)
    combined.attrs.update(title="combined bioprop runs", history="combined by bioprop.analysis.results")
    return combined


def final_epoch(combined: xr.Dataset, variable: str = "test_accuracy", last: int = 1) -> xr.DataArray:
    """``variable`` at the last epoch each run reached (ignoring NaN padding), or with
    ``last`` = k > 1 its mean over the run's last k evaluated epochs: a plateau
    measure, as the eRBP paper (Neftci et al. 2017) reports the mean of the last 5
    test evaluations of a run.  A run with fewer than k evaluated epochs gives NaN."""
    if isinstance(last, bool) or not isinstance(last, (int, np.integer)) or last < 1:
        raise ResultError(f"last (number of final epochs averaged) must be an integer >= 1; got {last!r}")
    values = combined[variable]
    evaluated = values.notnull()
    if last == 1:
        return values.isel(epoch=evaluated.cumsum("epoch").argmax("epoch"))
    from_end = evaluated.isel(epoch=slice(None, None, -1)).cumsum("epoch").isel(epoch=slice(None, None, -1))
    window = evaluated & (from_end <= last)
    mean = values.where(window).mean("epoch")
    return mean.where(window.sum("epoch") == last)

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


def combine_runs(paths: Iterable[str | os.PathLike]) -> xr.Dataset:
    """Open result files and combine them along ``rule``, ``dataset`` and ``seed``.

    Runs with different numbers of epochs are padded with NaN.  Two files
    describing the same (rule, dataset, seed) are an error, not silently merged.
    """
    runs = [as_run(schema.read_result(p)) for p in paths]
    if not runs:
        raise ResultError("no result files to combine")
    keys = [(r.rule.item(), r.dataset.item(), r.seed.item()) for r in runs]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise ResultError(f"several result files for the same (rule, dataset, seed): {sorted(duplicates)}")
    combined = xr.combine_by_coords(runs, data_vars="all", coords="different", compat="no_conflicts",
                                  combine_attrs="drop_conflicts", join="outer")
    combined.attrs.update(title="combined bioprop runs", history="combined by bioprop.analysis.results")
    return combined


def final_epoch(combined: xr.Dataset, variable: str = "test_accuracy") -> xr.DataArray:
    """``variable`` at the last epoch each run reached (ignoring NaN padding)."""
    values = combined[variable]
    last = values.notnull().cumsum("epoch").argmax("epoch")
    return values.isel(epoch=last)

"""The result schema: round trip through NetCDF, validation, atomic writes."""
import json
import os

import numpy as np
import pytest
import xarray as xr

from bioprop.models import schema
from bioprop.models.errors import ResultError


def _result(**changes):
    kwargs = dict(
        rule="bp", dataset="digits", dataset_subset={"n_train": 100, "seed": 0}, seed=3,
        layer_sizes=(64, 20, 10), parameters_json=json.dumps({"eta": {"value": 0.1, "unit": "1"}}),
        device={"family": "rate"}, train_accuracy=[0.5, 0.7], test_accuracy=[0.4, 0.6],
        validation_accuracy=[0.45, 0.65],
        epoch_variables={"firing_rate": (("epoch", "population"), np.array([[1.0, 2.0], [3.0, 4.0]]),
                                         {"units": "Hz", "long_name": "mean firing rate"})},
        weights=[np.ones((20, 64)), np.zeros((10, 20))], wall_clock_seconds=1.5, command="bioprop train bp")
    kwargs.update(changes)
    return schema.make_result(**kwargs)


def test_round_trip_keeps_values_units_and_attrs(tmp_path):
    ds = _result()
    path = schema.write_result(ds, tmp_path / "run.nc")
    back = schema.read_result(path)
    xr.testing.assert_identical(ds, back)
    assert back["test_accuracy"].attrs["units"] == "1"
    assert back["firing_rate"].attrs["units"] == "Hz"
    assert back["weight_1"].dims == ("neuron_1", "neuron_0")
    assert schema.json_attr(back, "parameters")["eta"]["unit"] == "1"
    assert back.attrs["Conventions"].startswith("CF-")
    assert "bioprop train bp" in back.attrs["history"]
    assert back.attrs["brian2_version"] and back.attrs["numpy_version"] == np.__version__


def test_accuracy_must_be_a_fraction():
    with pytest.raises(ResultError, match="fraction"):
        _result(test_accuracy=[40.0, 60.0])


def test_variables_need_units():
    with pytest.raises(ResultError, match="'rate' lacks attribute 'units'"):
        _result(epoch_variables={"rate": (("epoch",), [1.0, 2.0], {"long_name": "x"})})


def test_existing_result_is_not_overwritten(tmp_path):
    path = tmp_path / "run.nc"
    path.write_bytes(b"precious")
    with pytest.raises(ResultError, match="already exists"):
        schema.write_result(_result(), path)
    assert path.read_bytes() == b"precious"
    schema.write_result(_result(), path, overwrite=True)
    assert schema.read_result(path).attrs["rule"] == "bp"


def test_interrupted_write_leaves_no_file(tmp_path, monkeypatch):
    def explode(self, path, **kwargs):
        with open(path, "wb") as fh:
            fh.write(b"half a file")
        raise KeyboardInterrupt
    monkeypatch.setattr(xr.Dataset, "to_netcdf", explode)
    with pytest.raises(KeyboardInterrupt):
        schema.write_result(_result(), tmp_path / "run.nc")
    assert os.listdir(tmp_path) == []


def test_out_must_be_netcdf(tmp_path):
    with pytest.raises(ResultError, match=r"\.nc"):
        schema.write_result(_result(), tmp_path / "run.csv")


def test_population_sparseness_by_hand():
    """One neuron of four active: 1; all alike: 0; a silent sample is left out of the
    sparseness but counts in the active fraction (5 of 12 neuron-samples)."""
    sparse, active = schema.population_sparseness([[3, 0, 0, 0], [2, 2, 2, 2], [0, 0, 0, 0]])
    assert sparse == pytest.approx(0.5) and active == pytest.approx(5 / 12)
    assert np.isnan(schema.population_sparseness([[0, 0]])[0])
    assert np.isnan(schema.population_sparseness([[4], [2]])[0])      # one neuron: undefined

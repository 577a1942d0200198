"""Spikes of a trained network (``bioprop train --keep-state`` then ``bioprop spikes``):
restoring the trained rule, the recording, ISI CV and Fano factor, the raster."""
import json
import subprocess
import sys

import numpy as np
import pytest
import xarray as xr

from bioprop.analysis import spikes
from bioprop.models import schema
from bioprop.models.training import restore_trained

ERBP_TINY = ["--set", "t_sample=40 ms", "--set", "t_settle=10 ms", "--set", "chunk_slots=10"]


def _cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "bioprop.analysis.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


def _one_line(proc):
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    d = tmp_path_factory.mktemp("spikes")
    proc = _cli("train", "erbp", "--dataset", "digits", "--n-train", "40", "--n-test", "10",
                "--hidden", "12", "--device", "runtime", *ERBP_TINY, "--quiet", "--keep-state",
                "--out", "erbp.nc", cwd=d)
    assert proc.returncode == 0, proc.stderr
    return d


def test_kept_state_restores_the_trained_weights(trained):
    result = schema.read_result(trained / "erbp.nc")
    rule, data = restore_trained(trained / "erbp.nc")
    np.testing.assert_array_equal(rule.weights()[0], result["weight_1"].values)
    assert len(data.y_test) == 10 and not (trained / "erbp.nc.ckpt").exists()
    # a second run into the same name keeps both files unless told
    proc = _cli("train", "erbp", "--dataset", "digits", "--n-train", "40", "--n-test", "10",
                "--hidden", "12", "--device", "runtime", *ERBP_TINY, "--quiet", "--keep-state",
                "--out", "erbp.nc", cwd=trained)
    assert "erbp.nc" in _one_line(proc) and "already exists" in proc.stderr


def test_spikes_command_writes_spikes_statistics_and_raster(trained):
    proc = _cli("spikes", "erbp.nc", "--samples", "1,3", "--repeats", "2", "--out", "s.nc",
                "--figure", "raster.png", cwd=trained)
    assert proc.returncode == 0, proc.stderr
    assert "hidden_1:" in proc.stdout and "Fano factor" in proc.stdout
    with xr.open_dataset(trained / "s.nc") as ds:
        ds = ds.load()
    assert ds.sizes["shown"] == 4 and list(ds.shown_sample.values) == [1, 1, 3, 3]
    assert list(ds.shown_repeat.values) == [0, 1, 0, 1]
    t, shown = ds.spike_time.values, ds.spike_shown.values
    start = ds.shown_start.values[shown]
    assert np.all((t >= start) & (t < start + ds.attrs["duration_s"]))
    pops = {name: (a, b) for name, a, b in json.loads(ds.attrs["populations"])}
    a, b = pops["hidden_1"]
    hidden = ds.spike_population.values == "hidden_1"
    assert hidden.any() and np.all((ds.spike_neuron.values[hidden] >= a) & (ds.spike_neuron.values[hidden] < b))
    assert set(ds.population.values) == set(pops) and np.isfinite(float(ds.isi_cv.sel(population="hidden_1")))
    assert (trained / "raster.png").stat().st_size > 10_000
    assert "already exists" in _one_line(_cli("spikes", "erbp.nc", "--out", "s.nc", cwd=trained))


def test_spikes_needs_a_kept_state_a_spiking_rule_and_valid_samples(trained, tmp_path):
    line = _one_line(_cli("spikes", trained / "erbp.nc", "--samples", "10", "--out", tmp_path / "x.nc",
                          cwd=tmp_path))
    assert "samples must be indices into the 10 test samples" in line
    proc = _cli("train", "bp", "--dataset", "digits", "--n-train", "40", "--n-test", "10", "--hidden", "8",
                "--quiet", "--out", "bp.nc", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "bp.state.npz: no final state" in _one_line(_cli("spikes", "bp.nc", "--out", "x.nc", cwd=tmp_path))
    (tmp_path / "bp.nc").unlink()
    proc = _cli("train", "bp", "--dataset", "digits", "--n-train", "40", "--n-test", "10", "--hidden", "8",
                "--quiet", "--keep-state", "--out", "bp.nc", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "bp is not a spiking rule" in _one_line(_cli("spikes", "bp.nc", "--out", "x.nc", cwd=tmp_path))
    assert not (tmp_path / "x.nc").exists()


def _recording(times, neurons, shown, n_shown, samples, repeats, duration=1.0):
    return xr.Dataset(
        {"spike_time": ("spike", np.asarray(times, float)), "spike_neuron": ("spike", np.asarray(neurons)),
         "spike_population": ("spike", np.where(np.asarray(neurons) < 2, "a", "b")),
         "spike_shown": ("spike", np.asarray(shown)),
         "shown_sample": ("shown", np.asarray(samples)), "shown_label": ("shown", np.zeros(n_shown, int)),
         "shown_repeat": ("shown", np.asarray(repeats)),
         "shown_start": ("shown", np.arange(n_shown) * duration)},
        attrs={"rule": "x", "duration_s": duration, "populations": json.dumps([["a", 0, 2], ["b", 2, 3]])})


def test_isi_cv_by_hand():
    """Neuron 0: intervals 0.1, 0.3 (CV 0.1 / 0.2 = 0.5); neuron 1: a clock (CV 0);
    neuron 2 has two spikes only: left out; no interval spans two presentations."""
    times = [0.1, 0.2, 0.5, 0.1, 0.2, 0.3, 0.4, 0.2, 0.6, 1.05, 1.1]
    neurons = [0, 0, 0, 1, 1, 1, 1, 2, 2, 1, 1]
    shown = [0] * 9 + [1, 1]
    cv = spikes.isi_cv(_recording(times, neurons, shown, 2, [0, 1], [0, 0]))
    assert float(cv.cv.sel(population="a")) == pytest.approx(0.25)   # mean of 0.5 and 0
    assert int(cv.n.sel(population="a")) == 2 and np.isnan(float(cv.cv.sel(population="b")))


def test_fano_factor_by_hand():
    """Sample 0 shown 3 times: neuron 0 fires 1, 2, 3 spikes (var 1 / mean 2 = 0.5),
    neuron 1 2, 2, 2 (0); neuron 2 never (left out)."""
    neurons, shown = [], []
    for rep, (n0, n1) in enumerate([(1, 2), (2, 2), (3, 2)]):
        neurons += [0] * n0 + [1] * n1
        shown += [rep] * (n0 + n1)
    times = np.asarray(shown) + 0.5
    fano = spikes.fano_factor(_recording(times, neurons, shown, 3, [0, 0, 0], [0, 1, 2]))
    assert float(fano.fano.sel(population="a")) == pytest.approx(0.25) and int(fano.n.sel(population="a")) == 2
    assert np.isnan(float(fano.fano.sel(population="b")))
    with pytest.raises(Exception, match="repeats >= 2"):
        spikes.fano_factor(_recording([0.5], [0], [0], 1, [0], [0]))


def test_population_rates_in_bins():
    rates = spikes.population_rates(_recording([0.05, 0.06, 0.15], [0, 1, 2], [0, 0, 0], 1, [0], [0]), 100.0)
    # population a (2 neurons): 2 spikes in the first 100 ms bin -> 10 Hz per neuron
    np.testing.assert_allclose(rates.sel(population="a").values[:2], [10.0, 0.0])
    np.testing.assert_allclose(rates.sel(population="b").values[:2], [0.0, 10.0])

"""Combining runs, statistics over seeds, and figures, on synthetic results."""
import json

import numpy as np
import pytest
import xarray as xr

from bioprop.analysis import figures, results, statistics
from bioprop.models import schema
from bioprop.models.errors import ResultError


def _write(tmp_path, rule, seed, test_acc, dataset="digits"):
    ds = schema.make_result(
        rule=rule, dataset=dataset, dataset_subset={}, seed=seed, layer_sizes=(64, 8, 10),
        parameters_json=json.dumps({}), device={"family": "rate"},
        train_accuracy=np.clip(np.asarray(test_acc) + 0.05, 0, 1), test_accuracy=test_acc,
        weights=[np.zeros((8, 64)), np.zeros((10, 8))], wall_clock_seconds=1.0)
    return schema.write_result(ds, tmp_path / f"{rule}-{dataset}-{seed}.nc")


@pytest.fixture
def combined(tmp_path):
    paths = []
    for seed in range(5):
        paths.append(_write(tmp_path, "bp", seed, [0.5, 0.8 + 0.01 * seed]))
        paths.append(_write(tmp_path, "fa", seed, [0.4, 0.7 + 0.012 * seed]))
    paths.append(_write(tmp_path, "dfa", 0, [0.3, 0.5, 0.6]))  # a longer run pads with NaN
    return results.combine_runs(paths)


def test_combine_runs_labels_rule_dataset_seed(combined):
    assert combined["test_accuracy"].dims == ("rule", "dataset", "seed", "epoch")
    assert sorted(combined.rule.values) == ["bp", "dfa", "fa"]
    assert combined.sizes["epoch"] == 3 and combined.sizes["seed"] == 5
    assert np.isnan(combined["test_accuracy"].sel(rule="bp", dataset="digits", seed=0, epoch=3))
    final = results.final_epoch(combined)
    assert final.sel(rule="dfa", dataset="digits", seed=0) == pytest.approx(0.6)
    assert final.sel(rule="bp", dataset="digits", seed=2) == pytest.approx(0.82)


def test_duplicate_runs_are_refused(tmp_path):
    path = _write(tmp_path, "bp", 0, [0.5])
    with pytest.raises(ResultError, match="same"):
        results.combine_runs([path, path])


def test_summary_matches_hand_computation(combined):
    table = statistics.summary(combined)
    bp = 0.8 + 0.01 * np.arange(5)
    cell = table.sel(rule="bp", dataset="digits")
    assert cell["mean"] == pytest.approx(bp.mean())
    assert cell["std"] == pytest.approx(bp.std(ddof=1))
    half = 2.7764451051977987 * bp.std(ddof=1) / np.sqrt(5)  # t_{0.975, 4}
    assert cell["ci_high"] - cell["mean"] == pytest.approx(half)
    assert table.sel(rule="dfa", dataset="digits")["n"] == 1


def test_summary_over_the_last_epochs(combined):
    # each run's mean over its own last k evaluated epochs; runs shorter than k give NaN
    last2 = results.final_epoch(combined, last=2)
    assert last2.sel(rule="dfa", dataset="digits", seed=0) == pytest.approx(0.55)
    assert last2.sel(rule="bp", dataset="digits", seed=3) == pytest.approx((0.5 + 0.83) / 2)
    assert np.isnan(results.final_epoch(combined, last=3).sel(rule="bp", dataset="digits", seed=0))
    table = statistics.summary(combined, last=2)
    assert table.sel(rule="bp", dataset="digits")["mean"] == pytest.approx(
        np.mean((0.5 + 0.8 + 0.01 * np.arange(5)) / 2))
    assert table.attrs["last_epochs"] == 2
    res = statistics.paired_comparison(combined, "bp", "fa", last=2)
    assert res["mean_difference"] == pytest.approx(
        np.mean((0.1 + (0.1 - 0.002 * np.arange(5))) / 2))
    with pytest.raises(ResultError, match="last"):
        results.final_epoch(combined, last=0)


def test_paired_comparison_and_equivalence(combined):
    res = statistics.paired_comparison(combined, "bp", "fa", margin=0.2)
    diff = (0.8 + 0.01 * np.arange(5)) - (0.7 + 0.012 * np.arange(5))
    assert res["mean_difference"] == pytest.approx(diff.mean())
    assert res["p_value"] < 1e-4  # a consistent 0.1 gap over five seeds
    assert res["p_equivalence"] < 0.01  # and it is well inside a 0.2 margin
    tight = statistics.paired_comparison(combined, "bp", "fa", margin=0.05)
    assert tight["p_equivalence"] > 0.5  # but not inside 0.05
    with pytest.raises(ResultError, match="at least two seeds"):
        statistics.paired_comparison(combined, "bp", "dfa")


def test_alignment_figure_keeps_bands_in_range_and_skips_empty_layers(combined):
    rng = np.random.default_rng(0)
    shape = tuple(combined.sizes[d] for d in ("rule", "dataset", "seed", "epoch")) + (2,)
    angles = np.zeros(shape)
    angles[:, :, 0] = 40.0                  # mean 8 degrees over 5 seeds, t-band half-width 22
    dead = np.full(shape, np.nan)
    dead[..., 0] = rng.uniform(0, 0.2, shape[:-1])   # the output layer has no dead fraction
    dims = ("rule", "dataset", "seed", "epoch", "layer")
    data = combined.assign_coords(layer=[1, 2]).assign(
        update_angle=(dims, angles, {"units": "degree"}), dead_fraction=(dims, dead, {"units": "1"}))
    fig = figures.alignment_curves(data)
    assert len(fig.axes) == 2 and "degree" in fig.axes[0].get_ylabel()
    bands = [c for ax in fig.axes for c in ax.collections]
    assert bands and all(p.vertices[:, 1].min() >= 0 for c in bands for p in c.get_paths())
    fig = figures.alignment_curves(data, "dead_fraction")
    assert len(fig.axes) == 1 and "fraction" in fig.axes[0].get_ylabel()


def test_figures_are_written_atomically(combined, tmp_path):
    path = figures.save_figure(figures.learning_curves(combined), tmp_path / "curves.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ResultError, match="already exists"):
        figures.save_figure(figures.learning_curves(combined), path)
    with pytest.raises(KeyError, match="record_alignment"):
        figures.alignment_curves(combined)
    pdf = tmp_path / "curves.pdf"
    with pytest.raises(ResultError, match="already exists"):   # checked before the PDF is written
        figures.save_figure(figures.learning_curves(combined), pdf, path)
    assert not pdf.exists()
    figures.save_figure(figures.learning_curves(combined), pdf, tmp_path / "curves.svg")
    assert pdf.read_bytes()[:5] == b"%PDF-" and b"<svg" in (tmp_path / "curves.svg").read_bytes()[:500]


def _write_spiking(tmp_path, rule, seed, rates_hz, synops, *, final=None):
    """A two-epoch spiking run: populations data, hidden; firing rates (train, test)
    the same every epoch."""
    records = schema.spiking_records(firing_rate_hz=rates_hz, synops_per_sample=synops,
                                     wall_ms_per_sample=[1.0, 1.0], device_kind="runtime")
    epoch_variables = {name: (("epoch",) + dims, np.stack([values] * 2), attrs)
                       for name, (dims, values, attrs) in records.items()}
    ds = schema.make_result(
        rule=rule, dataset="digits", dataset_subset={}, seed=seed, layer_sizes=(64, 8, 10),
        parameters_json=json.dumps({}), device={"family": "spiking"},
        train_accuracy=[0.5, 0.6], test_accuracy=[0.4, 0.5 + 0.1 * seed], epoch_variables=epoch_variables,
        final_variables=final, weights=[np.zeros((8, 64)), np.zeros((10, 8))], wall_clock_seconds=1.0,
        coords=schema.spiking_coordinates(["data", "hidden"]))
    return schema.write_result(ds, tmp_path / f"{rule}-{seed}.nc")


def _bar_heights(ax):
    return [patch.get_height() for patch in ax.patches]


def test_confidence_half_width_is_the_t_interval():
    values = xr.DataArray([1.0, 2.0, 3.0], dims="seed")
    assert float(figures._half_width(values)) == pytest.approx(4.302652729749464 / np.sqrt(3))  # t_{0.975, 2}
    assert np.isnan(float(figures._half_width(values[:1])))


def test_firing_rate_figure_shows_each_spiking_population(tmp_path, combined):
    paths = [_write_spiking(tmp_path, "erbp", seed, [[10.0 + seed, 20.0], [12.0, 0.0]], [100.0, 50.0])
             for seed in range(2)]
    paths += [_write_spiking(tmp_path, "s2m", 0, [[5.0, 7.0], [6.0, 8.0]], [1000.0, 900.0])]
    (tmp_path / "rate").mkdir()
    paths += [_write(tmp_path / "rate", "bp", 0, [0.5, 0.6])]   # rate runs have no firing rates
    fig = figures.firing_rates(results.combine_runs(paths))
    erbp, s2m, work = fig.axes
    assert _bar_heights(erbp) == pytest.approx([10.5, 20.0, 12.0, 0.0])   # train data, hidden; test
    assert _bar_heights(s2m) == pytest.approx([5.0, 7.0, 6.0, 8.0])
    assert _bar_heights(work) == pytest.approx([100.0, 1000.0])           # training sample events
    assert "Hz" in erbp.get_ylabel() and work.get_yscale() == "log"
    with pytest.raises(KeyError, match="no spiking rule"):
        figures.firing_rates(combined)


def test_robustness_figure_shows_quantized_and_pruned_accuracy(tmp_path, combined):
    def final(quantized, pruned):
        return {"quantized_test_accuracy": ((), quantized, {"units": "1", "long_name": "q"}),
                "pruned_test_accuracy": ((), pruned, {"units": "1", "long_name": "p"})}
    paths = [_write_spiking(tmp_path, "s2m", seed, [[1.0, 1.0]] * 2, [1.0, 1.0],
                            final=final(0.3 + 0.1 * seed, 0.2)) for seed in range(2)]
    fig = figures.robustness(results.combine_runs(paths))
    # trained (final-epoch test accuracy), weights rounded, pruned + re-learned
    assert _bar_heights(fig.axes[0]) == pytest.approx([0.55, 0.35, 0.2])
    with pytest.raises(KeyError, match="weight_bits"):
        figures.robustness(combined)


def test_holm_adjustment_matches_hand_computation():
    # sorted 0.01, 0.02, 0.04 of m = 3: 3 * 0.01, max(0.03, 2 * 0.02), max(0.04, 1 * 0.04)
    assert statistics.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert statistics.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])   # capped at 1


def test_comparisons_are_one_family_with_effect_sizes(combined):
    rows = statistics.comparisons(combined, [("bp", "fa"), ("fa", "bp")], margin=0.2)
    diff = (0.8 + 0.01 * np.arange(5)) - (0.7 + 0.012 * np.arange(5))
    assert rows[0]["effect_size_dz"] == pytest.approx(diff.mean() / diff.std(ddof=1))
    assert rows[1]["effect_size_dz"] == pytest.approx(-rows[0]["effect_size_dz"])
    p = rows[0]["p_value"]
    assert rows[0]["p_holm"] == pytest.approx(min(1, 2 * p)) and rows[1]["p_holm"] == pytest.approx(min(1, 2 * p))
    assert rows[0]["p_equivalence_holm"] >= rows[0]["p_equivalence"]
    # the bootstrap interval lies within the seeds' range and holds the mean
    assert diff.min() <= rows[0]["bootstrap_low"] <= diff.mean() <= rows[0]["bootstrap_high"] <= diff.max()
    assert rows[1]["bootstrap_low"] == pytest.approx(-rows[0]["bootstrap_high"])


def test_bootstrap_interval_of_the_mean():
    """Against resampling by hand: the percentile interval of 20,000 resampled means."""
    values = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.5, 0.45])
    low, high = statistics._bootstrap_interval(values, 0.9, resamples=20000)
    means = np.random.default_rng(1).choice(values, (20000, len(values))).mean(axis=1)
    assert low == pytest.approx(np.quantile(means, 0.05), abs=0.01)
    assert high == pytest.approx(np.quantile(means, 0.95), abs=0.01)
    assert statistics._bootstrap_interval(np.full(3, 0.2), 0.95) == (0.2, 0.2)


def _write_sweep_point(tmp_path, label, seed, accuracy, *, synops=None, macs=None, final=None):
    """A one-epoch run labelled ``label`` (e.g. erbp+hidden=10) with its work per sample."""
    variables = {}
    if synops is not None:
        variables.update({name: (("epoch",) + dims, np.asarray(values)[None], attrs) for name, (dims, values, attrs)
                          in schema.spiking_records(firing_rate_hz=[[1.0], [1.0]], synops_per_sample=[synops, 1.0],
                                                    wall_ms_per_sample=[1.0, 1.0], device_kind="runtime").items()})
    if macs is not None:
        (dims, value, attrs), = schema.rate_macs_record((64, macs, 10)).values()
        variables["rate_network_macs_per_sample"] = (("epoch",), [value], attrs)
    ds = schema.make_result(
        rule=label.partition("+")[0], label=label, dataset="digits", dataset_subset={}, seed=seed,
        layer_sizes=(64, 8, 10), parameters_json=json.dumps({}), device={"family": "x"},
        train_accuracy=[accuracy], test_accuracy=[accuracy], epoch_variables=variables, final_variables=final,
        wall_clock_seconds=1.0, coords=schema.spiking_coordinates(["hidden"]) if synops is not None else None)
    return schema.write_result(ds, tmp_path / f"{label}-{seed}.nc")


def test_sweep_figure_plots_accuracy_against_the_swept_value_and_work(tmp_path, combined):
    paths = []
    for seed in range(2):
        for hidden, acc in ((20, 0.6), (10, 0.5)):
            paths.append(_write_sweep_point(tmp_path, f"erbp+hidden={hidden}", seed, acc + 0.1 * seed,
                                            synops=1000.0 * hidden))
            paths.append(_write_sweep_point(tmp_path, f"bp+hidden={hidden}", seed, acc + 0.2, macs=hidden))
        pruned = {"pruned_test_accuracy": ((), 0.3, {"units": "1", "long_name": "p"})}
        paths.append(_write_sweep_point(tmp_path, "s2m+prune_fraction=0.5", seed, 0.5, final=pruned))
        paths.append(_write_sweep_point(tmp_path, "s2m+prune_fraction=0.25", seed, 0.6, final=pruned))
    fig = figures.sweeps(results.combine_runs(paths))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["bp: hidden", "erbp: hidden", "s2m: prune_fraction", "accuracy against work per sample"]

    def points(ax, k=0):
        return ax.containers[k].lines[0].get_xydata()
    np.testing.assert_allclose(points(fig.axes[1]), [[10, 0.55], [20, 0.65]])   # sorted by size
    np.testing.assert_allclose(points(fig.axes[2], 0), [[0.25, 0.6], [0.5, 0.5]])
    np.testing.assert_allclose(points(fig.axes[2], 1), [[0.25, 0.3], [0.5, 0.3]])   # after pruning
    work = fig.axes[3]
    macs = 2 * (64 * np.array([10, 20]) + np.array([10, 20]) * 10)
    np.testing.assert_allclose(points(work, 0), np.c_[macs, [0.7, 0.8]])           # multiply-accumulates
    np.testing.assert_allclose(points(work, 1), [[10000, 0.55], [20000, 0.65]])    # synaptic events
    assert work.get_xscale() == "log"
    with pytest.raises(KeyError, match="no parameter study"):
        figures.sweeps(combined)


def test_lazy_combination_equals_the_eager_one(tmp_path):
    """open_mfdataset keeps the values on disk (dask) and gives the same Dataset."""
    paths = [_write(tmp_path, rule, seed, [0.5, 0.6 + 0.01 * seed]) for rule in ("bp", "fa") for seed in range(3)]
    paths.append(_write(tmp_path, "dfa", 0, [0.3, 0.5, 0.6]))
    eager = results.combine_runs(paths)
    with results.combine_runs(paths, lazy=True) as lazy:
        assert lazy["test_accuracy"].chunks is not None           # not loaded yet
        xr.testing.assert_identical(lazy.load(), eager)
    with pytest.raises(ResultError, match="same"):
        results.combine_runs([paths[0], paths[0]], lazy=True)
    (tmp_path / "broken.nc").write_bytes(b"not netcdf")
    with pytest.raises(ResultError, match="broken.nc"):
        results.combine_runs([paths[0], tmp_path / "broken.nc"], lazy=True)


def test_sparsity_figure_draws_each_population_over_epochs(tmp_path, combined):
    paths = []
    for seed in range(2):
        records = schema.spiking_records(
            firing_rate_hz=[[1.0, 2.0], [1.0, 2.0]], synops_per_sample=[1.0, 1.0], wall_ms_per_sample=[1.0, 1.0],
            device_kind="runtime", sparseness=[[0.1, 0.2], [0.3, 0.4 + 0.1 * seed]],
            active_fraction=[[0.5, 0.5], [0.5, 0.5]])
        epoch_variables = {name: (("epoch",) + dims, np.stack([values, values]), attrs)
                           for name, (dims, values, attrs) in records.items()}
        ds = schema.make_result(
            rule="s2m", dataset="digits", dataset_subset={}, seed=seed, layer_sizes=(64, 8, 10),
            parameters_json=json.dumps({}), device={"family": "spiking"}, train_accuracy=[0.5, 0.6],
            test_accuracy=[0.4, 0.5], epoch_variables=epoch_variables, wall_clock_seconds=1.0,
            coords=schema.spiking_coordinates(["data", "hidden"]))
        paths.append(schema.write_result(ds, tmp_path / f"s2m-{seed}.nc"))
    fig = figures.sparsity(results.combine_runs(paths))
    (ax,) = fig.axes
    data, hidden = (line.get_ydata() for line in ax.get_lines())
    np.testing.assert_allclose(data, [0.3, 0.3])            # test presentation, mean over seeds
    np.testing.assert_allclose(hidden, [0.45, 0.45])
    with pytest.raises(KeyError, match="sparseness not recorded"):
        figures.sparsity(combined)

"""Combining runs, statistics over seeds, and figures, on synthetic results."""
import json

import numpy as np
import pytest

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


def test_figures_are_written_atomically(combined, tmp_path):
    path = figures.save_figure(figures.learning_curves(combined), tmp_path / "curves.png")
    assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ResultError, match="already exists"):
        figures.save_figure(figures.learning_curves(combined), path)
    with pytest.raises(KeyError, match="record_alignment"):
        figures.alignment_curves(combined)

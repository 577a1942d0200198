"""The tuning procedure's selection (workflows/scripts/tune_select.py): peak validation
accuracy, mean over seeds, and grid points whose runs faulted never win."""
import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bioprop.models import schema

SCRIPT = Path(__file__).resolve().parents[1] / "workflows" / "scripts" / "tune_select.py"


def _tune_select():
    spec = importlib.util.spec_from_file_location("tune_select", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path, lr, seed, validation, faults=()):
    ds = schema.make_result(
        rule="fa", label="fa", dataset="digits", dataset_subset={"n_train": 50, "n_val": 20}, seed=seed,
        layer_sizes=(64, 8, 10), parameters_json=json.dumps({"learning_rate": {"value": lr, "unit": "1"}}),
        device={"family": "rate"}, train_accuracy=validation, test_accuracy=validation,
        validation_accuracy=validation, wall_clock_seconds=1.0)
    ds.attrs["faults"] = json.dumps(list(faults))
    directory = tmp_path / f"learning_rate={lr}"
    directory.mkdir(exist_ok=True)
    return schema.write_result(ds, directory / f"seed{seed}.nc")


def test_faulted_grid_points_are_counted_and_never_win(tmp_path):
    tune_select = _tune_select()
    runs = [_run(tmp_path, 0.001, s, [0.5, 0.6 + 0.01 * s]) for s in (0, 1)]
    runs += [_run(tmp_path, 0.01, s, [0.9, 0.1], faults=["epoch 1: weights not finite"]) for s in (0, 1)]
    runs += [_run(tmp_path, 0.0001, s, [0.4, 0.5]) for s in (0, 1)]
    table, winners = tmp_path / "tuning.csv", tmp_path / "tuned.yaml"
    assert tune_select.main([*map(str, runs), "--table", str(table), "--winners", str(winners)]) == 0
    rows = pd.read_csv(table).set_index("setting")
    assert rows.loc["learning_rate=0.01", "faulted"] == 2 and rows.loc["learning_rate=0.001", "faulted"] == 0
    assert rows.loc["learning_rate=0.01", "peak_validation"] == pytest.approx(0.9)   # highest, but faulted
    chosen = yaml.safe_load(winners.read_text())["digits"]["fa"]
    assert chosen["set"] == {"learning_rate": 0.001}
    assert rows.loc["learning_rate=0.001", "peak_validation"] == pytest.approx(0.605)
    # every grid point faulted: one clear line instead of a diverging default
    with pytest.raises(SystemExit, match="every grid point faulted"):
        tune_select.main([*map(str, runs[2:4]), "--table", str(table), "--winners", str(winners)])

"""The Snakemake workflow: config validation before any job, and a tiny real run."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bioprop.analysis.results import combine_runs

SNAKEFILE = Path(__file__).resolve().parents[1] / "workflows" / "Snakefile"


def _snakemake(tmp_path, config, *extra):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--cores", "2",
                           "--configfile", str(path), "--directory", str(tmp_path), *extra],
                          capture_output=True, text=True, timeout=600)


def _config(tmp_path, **changes):
    config = {"results": str(tmp_path / "results"), "datasets": {"digits": {"n_train": 200}},
              "rules": {"bp": {"set": {"learning_rate": 0.01}}, "fa": {},
                        "fa-slow": {"rule": "fa", "set": {"learning_rate": 1e-5}}}, "seeds": [0, 1],
              "hidden": [16], "epochs": 2, "compare": [["fa", "bp"]], "equivalence_margin": 0.05}
    config.update(changes)
    return config


@pytest.mark.parametrize("changes, fragment", [
    ({"rules": {"bp": {"set": {"learning_rate": "5ms"}}}}, "parameter 'learning_rate'"),
    ({"rules": {"erbp": {"set": {"tau_syn": 4}}}}, "parameter 'tau_syn': got 4 without a unit"),
    ({"rules": {"erbp": {"set": {"tau_syn": "4 mV"}}}}, "got '4 mV' (a voltage); expected a time"),
    ({"rules": {"nosuchrule": {}}}, "unknown rule 'nosuchrule'"),
    ({"rules": {"fa-variant": {"rule": "nosuchrule"}}}, "unknown rule 'nosuchrule'"),
    ({"rules": {"fa/slow": {"rule": "fa"}}}, "fa/slow"),
    # a dataset name is a directory under results: an absolute or ../ name would escape it
    ({"datasets": {"/tmp/elsewhere": {"path": "x.npz"}}}, "/tmp/elsewhere"),
    ({"datasets": {"../up": {"path": "x.npz"}}}, "../up"),
    ({"epochs": 0}, "minimum"),
    ({"datasets": {"digits": {"n_tarin": 5}}}, "n_tarin"),
    ({"seeds": [0]}, "at least two seeds"),
    ({"compare": [["fa", "dfa"]]}, "dfa not among rules"),
    ({"summary_variable": "validation_accuracy"}, "needs n_val for datasets digits"),
    ({"rules": {"erbp": {"device": "gpu"}}}, "unknown device kind 'gpu'"),
    ({"rules": {"erbp": {"device": {"kind": "runtime", "thread": 2}}}}, "unknown device setting(s) thread"),
])
def test_bad_config_fails_before_any_job(tmp_path, changes, fragment):
    proc = _snakemake(tmp_path, _config(tmp_path, **changes), "--dry-run")
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("bioprop: config "), proc.stderr
    assert fragment in lines[0]
    assert not (tmp_path / "results").exists()


@pytest.mark.slow
def test_tiny_workflow_produces_runs_summary_and_figure(tmp_path):
    proc = _snakemake(tmp_path, _config(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = tmp_path / "results"
    runs = sorted((results / "runs").rglob("*.nc"))
    assert len(runs) == 6
    combined = combine_runs(runs)
    assert set(combined.rule.values) == {"bp", "fa", "fa-slow"} and list(combined.seed.values) == [0, 1]
    assert set(combined.learning_rule.sel(rule="fa-slow").values.ravel()) == {"fa"}
    def lr(label):
        return {json.loads(p)["learning_rate"]["value"]
                for p in combined.parameters.sel(rule=label).values.ravel()}
    from bioprop.models.rules import get_rule
    fa_default = get_rule("fa").parameters["learning_rate"].default
    assert lr("fa-slow") == {1e-5} and lr("fa") == {fa_default}   # each variant ran with its own setting
    assert (results / "digits" / "learning_curves.png").stat().st_size > 1000
    assert (results / "digits" / "learning_curves.pdf").read_bytes()[:5] == b"%PDF-"
    summary = (results / "digits" / "summary.csv").read_text().splitlines()
    assert summary[0].startswith("rule,dataset,mean") and len(summary) == 4
    comparisons = (results / "digits" / "comparisons.csv").read_text().splitlines()
    assert comparisons[1].startswith("fa,bp,digits,2,")
    assert len(list((results / "benchmarks").rglob("*.tsv"))) == 6


def test_workflow_is_lint_clean_and_its_default_plans_every_rule_family(tmp_path):
    lint = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--lint",
                           "--directory", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert lint.returncode == 0, lint.stdout[-3000:]
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--cores", "2", "--dry-run",
                          "--directory", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    from bioprop.models.rules import get_rule
    default = yaml.safe_load((SNAKEFILE.parent / "config" / "config.yaml").read_text())
    assert {get_rule((s or {}).get("rule", label)).family for label, s in default["rules"].items()} == {
        "rate", "spiking"}
    assert {"rbm", "erbp", "s2m", "spiking-gaitprop"} <= set(default["rules"])
    for figure in ("learning_curves", "alignment", "firing_rates", "robustness"):
        assert f"{figure}.png" in dry.stdout
    assert "mem_mb=4000" in dry.stdout   # the schema's default reached the training jobs
    assert not (tmp_path / "results").exists()


def test_sweep_expands_into_one_run_label_per_value(tmp_path):
    config = _config(tmp_path, rules={"bp": {}, "fa": {"sweep": {"learning_rate": [1e-3, 1e-4]}}},
                     compare=[["fa+learning_rate=0.001", "bp"]])
    proc = _snakemake(tmp_path, config, "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for label, value in (("fa+learning_rate=0.001", "0.001"), ("fa+learning_rate=0.0001", "0.0001")):
        assert f"runs/digits/{label}/seed1.nc" in proc.stdout
        assert "bioprop train fa " in proc.stdout and f"--label {label} " in proc.stdout
        assert f"--set learning_rate={value} " in proc.stdout
    bad = _snakemake(tmp_path, _config(tmp_path, rules={"fa": {"sweep": {"learning_rate": [-1]}}}, compare=[]),
                     "--dry-run")
    assert bad.returncode == 2 and "config rules.fa+learning_rate=-1: " in bad.stdout + bad.stderr


def test_sweep_of_hidden_sizes_sets_the_layers(tmp_path):
    proc = _snakemake(tmp_path, _config(tmp_path, rules={"bp": {"sweep": {"hidden": [8, "8,4"]}}}, compare=[]),
                      "--dry-run", "--printshellcmds")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--label bp+hidden=8 " in proc.stdout and "--label bp+hidden=8-4 " in proc.stdout
    assert "--hidden 8 " in proc.stdout and "--hidden 8,4 " in proc.stdout and "sweeps.png" in proc.stdout
    bad = _snakemake(tmp_path, _config(tmp_path, rules={"bp": {"sweep": {"hidden": ["8,x"]}}}, compare=[]),
                     "--dry-run")
    output = bad.stdout + bad.stderr
    assert bad.returncode == 2 and "config rules.bp.sweep.hidden: '8,x' is not a hidden layer size" in output
    assert "Traceback" not in output and not (tmp_path / "results").exists()


@pytest.mark.slow
def test_killed_run_restarts_without_redoing_finished_jobs_and_parallel_equals_serial(tmp_path):
    import os
    import signal
    import time

    import xarray as xr
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    for where in (serial, parallel):
        where.mkdir()
    config = serial / "config.yaml"
    config.write_text(yaml.safe_dump(_config(serial)))
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--cores", "1",
               "--rerun-incomplete", "--configfile", str(config), "--directory", str(serial)]
    # one job at a time; SIGTERM as soon as the first run is written, mid-way through the rest
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    runs_dir, deadline = serial / "results" / "runs", time.monotonic() + 300
    while not list(runs_dir.rglob("*.nc")) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    first = sorted(runs_dir.rglob("*.nc"))
    assert first and proc.poll() is None, "the workflow ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=120)
    done = {p: p.stat().st_mtime_ns for p in runs_dir.rglob("*.nc")}
    assert len(done) < 6
    restart = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert restart.returncode == 0, restart.stderr[-3000:]
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())     # finished jobs kept
    runs = sorted(runs_dir.rglob("*.nc"))
    assert len(runs) == 6 and not list(runs_dir.rglob("*.ckpt"))
    # the same workflow with two jobs at once gives the same runs
    proc = _snakemake(parallel, _config(parallel))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for run in runs:
        a, b = xr.open_dataset(run), xr.open_dataset(parallel / run.relative_to(serial))
        for name in ("test_accuracy", "train_accuracy", "weight_1", "weight_2"):
            np.testing.assert_array_equal(a[name].values, b[name].values)


def test_early_stopping_table_pairs_runs_with_the_configured_reference(tmp_path):
    config = _config(tmp_path, datasets={"digits": {"n_train": 200, "n_val": 50}},
                     early_stopping_reference="fa")
    proc = _snakemake(tmp_path, config, "early_stopping", "-n", "-p")
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stdout.splitlines() if "tune_report.py" in line]
    assert commands and all("--reference fa " in line for line in commands), proc.stdout[-2000:]

"""The README's main job end to end: the embedded default workflow (every rule
family, spiking rules compiled in cpp_standalone) into a temporary directory,
its report, a second run that has nothing to do, and a deleted result that
re-runs only what depends on it."""
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml

from bioprop.models import schema
from bioprop.models.rules import get_rule

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "workflows" / "Snakefile"
DEFAULT = yaml.safe_load((ROOT / "workflows" / "config" / "config.yaml").read_text())
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _snakemake(directory, *extra):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--profile",
                           str(ROOT / "workflows" / "profiles" / "local"), "--directory", str(directory),
                           *extra], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _job_counts(output: str) -> dict[str, int]:
    """Snakemake's "Job stats" table as {rule: number of jobs}."""
    lines = output.split("Job stats:", 1)[1].splitlines()[3:]
    counts = {}
    for line in lines:
        name, _, count = line.rpartition(" ")
        if name.strip() == "total" or not count.isdigit():
            break
        counts[name.strip()] = int(count)
    return counts


@pytest.mark.slow
@pytest.mark.standalone
def test_default_workflow_end_to_end(tmp_path):
    _snakemake(tmp_path)
    results = tmp_path / DEFAULT["results"]

    runs = sorted((results / "runs").rglob("*.nc"))
    assert len(runs) == len(DEFAULT["datasets"]) * len(DEFAULT["rules"]) * len(DEFAULT["seeds"])
    families = set()
    for path in runs:
        ds = schema.read_result(path)          # raises unless the run follows the schema
        family = get_rule(ds.attrs["rule"]).family
        families.add(family)
        if family == "spiking":   # it spiked, in every population, during training
            assert float(ds["synops_per_sample"].sel(presentation="train").min()) > 0, path
            assert float(ds["firing_rate"].sel(presentation="train").min()) > 0, path
    assert families == {"rate", "spiking"}
    combined = xr.open_dataset(results / "digits" / "combined.nc", engine="h5netcdf")
    assert set(combined.rule.values) == set(DEFAULT["rules"])
    assert len(list((results / "benchmarks").rglob("*.tsv"))) == len(runs)

    figures = sorted(results.rglob("*.png"))
    spiking = [label for label, entry in DEFAULT["rules"].items()
               if get_rule((entry or {}).get("rule", label)).family == "spiking"]
    rasters = {f"{label}_seed{DEFAULT['seeds'][0]}" for label in spiking}
    assert {f.stem for f in figures} == {"learning_curves", "alignment", "silent_units", "firing_rates",
                                         "robustness", "sparsity"} | rasters
    for raster in rasters:     # spikes of the input and of at least one layer above it
        with xr.open_dataset(results / "digits" / "spikes" / f"{raster}.nc", engine="h5netcdf") as spikes:
            assert len(set(spikes.spike_population.values)) >= 2, raster
            assert "fano_factor" in spikes and "isi_cv" in spikes
    for figure in figures:
        assert figure.read_bytes()[:8] == PNG_SIGNATURE and figure.stat().st_size > 10_000, figure
        assert figure.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-", figure   # the same figure as PDF
    table = (results / "summary_table.csv").read_text().splitlines()
    assert len(table) == 1 + len(DEFAULT["rules"])

    report = tmp_path / "report.html"
    _snakemake(tmp_path, "--report", str(report))
    assert report.stat().st_size > 100_000
    html = report.read_text(errors="replace")
    assert all(f"{f.stem}.png" in html for f in figures) and "summary_table.csv" in html

    assert "Nothing to be done" in _snakemake(tmp_path, "--dry-run")

    # A deleted result is made again, with what is made from it; nothing else.
    (results / "digits" / "comparisons.csv").unlink()
    assert _job_counts(_snakemake(tmp_path, "--dry-run")) == {"summary": 1, "summary_table": 1, "all": 1}
    # A deleted run is not remade while its dependents are up to date (Snakemake's
    # rule); named as a target it is retrained alone, and the next run remakes
    # the dataset's combination, tables and figures from it, training nothing.
    deleted = results / "runs" / "digits" / "rbm" / "seed0.nc"
    deleted.unlink()
    kept = {path: path.stat().st_mtime_ns for path in runs if path != deleted}
    target = str(deleted.relative_to(tmp_path))
    assert _job_counts(_snakemake(tmp_path, "--dry-run", target)) == {"train": 1}
    _snakemake(tmp_path, target)
    assert _job_counts(_snakemake(tmp_path, "--dry-run")) == {
        "combine": 1, "summary": 1, "summary_table": 1, "figure_learning_curves": 1, "figure_alignment": 1,
        "figure_silent_units": 1, "figure_firing_rates": 1, "figure_robustness": 1, "figure_sparsity": 1, "all": 1}
    figure_times = {figure: figure.stat().st_mtime_ns for figure in figures if figure.stem not in rasters}
    _snakemake(tmp_path)
    assert {path: path.stat().st_mtime_ns for path in kept} == kept
    assert all(figure.stat().st_mtime_ns > t for figure, t in figure_times.items())

"""The speed table of the `benchmarks` target (workflows/scripts/speed_report.py):
ratios computed from the measurements of spiking_speed.py, NetCDF and markdown."""
import importlib.util
from pathlib import Path

import pytest
import xarray as xr

SCRIPTS = Path(__file__).resolve().parents[1] / "workflows" / "scripts"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ATTRS = {"label": "erbp", "dataset": "fashion-mnist", "machine": "cpu, 2 cores", "python": "3.11",
         "bioprop_version": "0", "brian2_version": "2.9.0", "numpy_version": "2", "hidden": "200",
         "samples": "50,250"}


def _write(tmp_path, measure, ds):
    ds.attrs.update(ATTRS, measure=measure)
    path = tmp_path / f"erbp_{measure}.nc"
    ds.to_netcdf(path)
    return str(path)


def test_speed_table_ratios(tmp_path):
    report = _load("speed_report")
    standalone = xr.Dataset(
        {"profile_ms_per_sample": (("generator", "codeobject"), [[3.0, 2.0, 1.0], [5.0, 2.0, 1.0]]),
         "event_code": ("codeobject", [False, True, True])},
        coords={"generator": ["xoshiro", "mt19937"],
                "codeobject": ["net_update_codeobject", "syn_pre_codeobject", "syn_pre_push_spikes"]})
    for key, value in {"ms_per_sample_xoshiro": 8.0, "ms_per_sample_mt19937": 10.0,
                       "synops_per_sample_xoshiro": 2e6, "slot_ms_xoshiro": 250.0,
                       "compile_s_xoshiro": 9.0}.items():
        standalone[key] = value
    paths = [_write(tmp_path, "standalone", standalone),
             _write(tmp_path, "runtime", xr.Dataset({"ms_per_sample": 80.0})),
             _write(tmp_path, "threads", xr.Dataset({"ms_per_sample": 5.0})),
             _write(tmp_path, "parallel", xr.Dataset({"throughput_ratio": 1.9}))]
    bp = tmp_path / "bp.tsv"
    bp.write_text("batch\tnumpy_s\n10\t7.5\n")
    report.main(paths, str(bp), str(tmp_path / "t.nc"), str(tmp_path / "t.md"))
    table = xr.load_dataset(tmp_path / "t.nc").sel(rule="erbp")
    expected = {"speedup_random": 1.25, "events_per_second": 2.5e8, "real_time_factor": 31.25,
                "event_code_ms": 3.0, "total_over_event_code": 2.0, "epoch_s": 480.0,
                "runtime_over_standalone": 10.0, "threads2_speedup": 1.6, "parallel_throughput": 1.9}
    for key, value in expected.items():
        assert float(table[key]) == pytest.approx(value), key
    text = (tmp_path / "t.md").read_text()
    assert "| `erbp` (200 hidden, samples 50,250) | 8.00 | 10.00 | 1.25 |" in text
    assert "`erbp`, xoshiro: net_update_codeobject 3.00" in text
    assert "`erbp`, mt19937: net_update_codeobject 5.00" in text and "| 10 | 7.5 |" in text
    assert "cpu, 2 cores" in text and "Brian2 2.9.0" in text


def test_event_code_objects():
    speed = _load("spiking_speed")
    assert speed.is_event_code("syn_pre_codeobject") and speed.is_event_code("syn_post_push_spikes")
    assert speed.is_event_code("syn_learn_codeobject")
    assert not any(speed.is_event_code(n) for n in ("net_update_codeobject", "syn_decay_codeobject",
                                                     "net_spike_thresholder_codeobject"))
    assert speed.machine().endswith(" cores")

"""Reliability (issue 15): checkpoints and resume after SIGKILL/SIGTERM, reproducibility
and ``bioprop rerun``, numerical faults, build directories of killed runs."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from bioprop.models import schema
from bioprop.models.checkpoint import checkpoint_path, load
from bioprop.models.datasets import load_dataset
from bioprop.models.device import DeviceConfig
from bioprop.models.rules import available_rules
from bioprop.models.training import FaultWarning, TrainingFault, train

#: bp on digits, slow enough per epoch (online learning) that a kill lands mid-run
BP_RUN = ["train", "bp", "--dataset", "digits", "--n-train", "600", "--n-test", "200", "--epochs", "25",
          "--hidden", "16", "--seed", "3", "--quiet", "--set", "batch_size=1", "--set", "learning_rate=0.001"]
#: a tiny eRBP network on the runtime device: 10 short sample slots per presentation
ERBP_TINY = {"t_sample": "40 ms", "t_settle": "10 ms", "chunk_slots": 10}


def _cli(*args, cwd, **kw):
    return subprocess.run([sys.executable, "-m", "bioprop.analysis.cli", *args], capture_output=True,
                          text=True, timeout=600, cwd=cwd, **kw)


def _same_result(a: xr.Dataset, b: xr.Dataset) -> None:
    """Every variable bit-identical (the weights and the accuracies included)."""
    assert set(a.data_vars) == set(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)
    assert a.attrs["parameters"] == b.attrs["parameters"]


def _digits(n_train=200, n_test=50):
    return load_dataset("digits", n_train=n_train, n_test=n_test, seed=0)


# --------------------------------------------------------------------------- rule state

@pytest.mark.parametrize("name", [n for n, c in available_rules().items() if c.family == "rate"])
def test_rate_rule_state_round_trip_continues_identically(name):
    """A fresh rule loaded with another's state (optimiser moments, generators, the alignment
    probe) trains on exactly as the original does."""
    cls = available_rules()[name]
    data = _digits()
    hidden = (12,) if name in ("rbm", "s2m-discrete") else (12, 10)
    over = {"record_alignment": True} if "record_alignment" in cls.parameters.names() else {}

    def make():
        return cls(n_inputs=64, n_classes=10, hidden=hidden, params=cls.parameters.resolve(over), seed=3)
    original, resumed = make(), make()
    original.train_epoch(data.x_train, data.y_train)
    resumed.load_state(*original.state())
    for rule in (original, resumed):
        rule.train_epoch(data.x_train[::-1], data.y_train[::-1])
    for a, b in zip(original.weights(), resumed.weights()):
        np.testing.assert_array_equal(a, b)
    fresh = make()
    fresh.train_epoch(data.x_train[::-1], data.y_train[::-1])
    assert not np.array_equal(fresh.weights()[0], original.weights()[0])   # the state mattered


@pytest.mark.parametrize("name", [n for n, c in available_rules().items() if c.family == "spiking"])
def test_spiking_rule_state_is_storable(name):
    cls = available_rules()[name]
    rule = cls(n_inputs=16, n_classes=3, hidden=(5,), params=cls.parameters.resolve({}), seed=1,
               device=DeviceConfig(kind="runtime"))
    tree, arrays = rule.state()
    assert "rng" in tree and arrays and "_builds" not in tree


def test_resume_in_process_equals_uninterrupted_bp(tmp_path):
    data = _digits(400, 100)
    kw = dict(hidden=(16,), seed=2, progress=False, overrides={"learning_rate": 0.01})
    full = train("bp", data, epochs=3, **kw)
    ckpt = tmp_path / "bp.nc.ckpt"
    train("bp", data, epochs=1, checkpoint=ckpt, **kw)      # leaves the checkpoint of epoch 1
    assert load(ckpt)[0]["epochs_done"] == 1
    resumed = train("bp", data, epochs=3, checkpoint=ckpt, resume=True, **kw)
    _same_result(full, resumed)
    assert load(ckpt)[0]["epochs_done"] == 3
    # killed after the last checkpoint, before the result was written: nothing left to train
    _same_result(full, train("bp", data, epochs=3, checkpoint=ckpt, resume=True, **kw))
    with pytest.raises(Exception, match="3 epochs done, more than --epochs 2"):
        train("bp", data, epochs=2, checkpoint=ckpt, resume=True, **kw)


@pytest.mark.parametrize("kind", ["runtime", pytest.param("cpp_standalone", marks=[pytest.mark.slow,
                                                                                  pytest.mark.standalone])])
def test_resume_spiking_erbp_equals_uninterrupted(kind, tmp_path):
    """eRBP's weights and the generator of its run seeds come back from the checkpoint."""
    data = _digits(10, 10)
    kw = dict(hidden=(6,), seed=0, progress=False, overrides=ERBP_TINY, device=DeviceConfig(kind=kind))
    full = train("erbp", data, epochs=2, **kw)
    ckpt = tmp_path / "erbp.nc.ckpt"
    train("erbp", data, epochs=1, checkpoint=ckpt, **kw)
    resumed = train("erbp", data, epochs=2, checkpoint=ckpt, resume=True, **kw)
    _same_result(full.drop_vars("wall_ms_per_sample"), resumed.drop_vars("wall_ms_per_sample"))


def test_checkpoint_of_another_run_is_refused(tmp_path):
    data = _digits()
    ckpt = tmp_path / "x.ckpt"
    train("bp", data, epochs=1, hidden=(8,), seed=0, progress=False, checkpoint=ckpt)
    with pytest.raises(Exception, match="seed is 0, this run's is 1"):
        train("bp", data, epochs=2, hidden=(8,), seed=1, progress=False, checkpoint=ckpt, resume=True)
    ckpt.write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="cannot read checkpoint"):
        train("bp", data, epochs=2, hidden=(8,), seed=0, progress=False, checkpoint=ckpt, resume=True)


# --------------------------------------------------------------------------- kills

@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    where = tmp_path_factory.mktemp("full")
    proc = _cli(*BP_RUN, "--out", "full.nc", cwd=where)
    assert proc.returncode == 0, proc.stderr
    assert not checkpoint_path(where / "full.nc").exists()      # removed once the result is safe
    return schema.read_result(where / "full.nc")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_mid_run_leaves_no_result_and_resumes_bit_identically(sig, tmp_path, uninterrupted):
    out, ckpt = tmp_path / "run.nc", tmp_path / "run.nc.ckpt"
    proc = subprocess.Popen([sys.executable, "-m", "bioprop.analysis.cli", *BP_RUN, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 143), err
    if sig == signal.SIGTERM:       # handled: one line, the checkpoint named
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1 and "SIGTERM" in lines[0] and "--resume" in lines[0], err
    done = load(ckpt)[0]["epochs_done"]
    assert 1 <= done < 25
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.nc.ckpt"]   # no result, no temp file
    again = _cli(*BP_RUN, "--out", str(out), cwd=tmp_path)           # not silently started again
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = _cli(*BP_RUN, "--out", str(out), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "(resumed)" in resumed.stdout and not ckpt.exists()
    _same_result(uninterrupted, schema.read_result(out))


# --------------------------------------------------------------------------- reproducibility

# --------------------------------------------------------------------------- early stopping

def _val_digits():
    return load_dataset("digits", n_train=400, n_test=100, n_val=100, seed=0)


def test_patience_stops_at_the_plateau_and_changes_nothing_before_it(tmp_path):
    data = _val_digits()
    kw = dict(hidden=(16,), seed=1, progress=False, overrides={"learning_rate": 0.01})
    stopped = train("bp", data, epochs=60, patience=2, **kw)
    val = stopped["validation_accuracy"].values
    best = int(np.argmax(val))
    assert 0 < stopped.sizes["epoch"] < 60
    # it ends exactly `patience` epochs after the first epoch of its best, which was never exceeded
    assert len(val) == best + 1 + 2 and val[best + 1:].max() <= val[best]
    assert f"at epoch {best + 1}" in stopped.attrs["stopped_early"] and stopped.attrs["patience"] == 2
    # the same training as a run told to stop at that epoch, bit for bit
    _same_result(stopped, train("bp", data, epochs=len(val), **kw))
    # a run killed after its stopping epoch, before writing, resumes to the same result
    ckpt = tmp_path / "bp.nc.ckpt"
    train("bp", data, epochs=len(val), checkpoint=ckpt, **kw)
    _same_result(stopped, train("bp", data, epochs=60, patience=2, checkpoint=ckpt, resume=True, **kw))


def test_patience_reached_at_the_last_epoch_is_not_an_early_stop():
    data = _val_digits()
    kw = dict(hidden=(16,), seed=1, progress=False, overrides={"learning_rate": 0.01})
    n = train("bp", data, epochs=60, patience=2, **kw).sizes["epoch"]
    assert train("bp", data, epochs=n, patience=2, **kw).attrs["stopped_early"] == ""
    assert train("bp", data, epochs=2, **kw).attrs["patience"] == 0


@pytest.mark.parametrize("patience, message", [(0, "patience must be a positive number of epochs"),
                                               (2.5, "patience must be a positive number of epochs"),
                                               (3, "needs validation samples")])
def test_bad_patience_is_one_clear_error(patience, message):
    data = _digits() if patience == 3 else _val_digits()
    with pytest.raises(Exception, match=message):
        train("bp", data, epochs=5, patience=patience, hidden=(16,), progress=False)


def test_rerun_of_an_early_stopped_run_stops_alike(tmp_path):
    source = tmp_path / "stopped.nc"
    proc = _cli("train", "bp", "--dataset", "digits", "--n-train", "400", "--n-test", "100", "--n-val", "100",
                "--hidden", "16", "--epochs", "60", "--patience", "2", "--set", "learning_rate=0.01", "--quiet",
                "--out", str(source), cwd=tmp_path)
    assert proc.returncode == 0 and "stopped early" in proc.stdout, proc.stderr
    proc = _cli("rerun", str(source), "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    original, again = schema.read_result(source), schema.read_result(tmp_path / "stopped.rerun.nc")
    _same_result(original, again)
    assert again.attrs["patience"] == 2 and again.attrs["max_epochs"] == 60
    assert again.attrs["stopped_early"] == original.attrs["stopped_early"] != ""


def test_same_seed_identical_different_seeds_differ():
    data = _digits()
    runs = [train("bp", data, epochs=2, hidden=(16,), seed=s, progress=False) for s in (5, 5, 6)]
    _same_result(runs[0], runs[1])
    assert not np.array_equal(runs[0]["weight_1"].values, runs[2]["weight_1"].values)


def test_rerun_from_provenance_is_bit_identical(tmp_path, uninterrupted):
    source = tmp_path / "source.nc"
    schema.write_result(uninterrupted, source)
    proc = _cli("rerun", str(source), "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    again = schema.read_result(tmp_path / "source.rerun.nc")
    _same_result(uninterrupted, again)
    assert again.attrs["seed"] == 3 and again.sizes["epoch"] == 25
    proc = _cli("rerun", str(source), "--out", str(tmp_path / "source.rerun.nc"), cwd=tmp_path)
    assert proc.returncode == 2 and "already exists" in proc.stderr


def test_extend_trains_on_to_the_run_of_that_length(tmp_path):
    base = ["--dataset", "digits", "--n-train", "300", "--n-test", "60", "--hidden", "16", "--seed", "3",
            "--quiet", "--set", "learning_rate=0.01"]
    assert _cli("train", "bp", *base, "--epochs", "2", "--keep-state", "--out", "short.nc", cwd=tmp_path).returncode == 0
    for epochs in ("4", "5"):
        assert _cli("train", "bp", *base, "--epochs", epochs, "--out", f"direct{epochs}.nc", cwd=tmp_path).returncode == 0
    proc = _cli("extend", "short.nc", "--epochs", "4", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0 and "(resumed)" in proc.stdout, proc.stderr
    assert schema.read_result(tmp_path / "short.nc").sizes["epoch"] == 2       # the source is kept
    _same_result(schema.read_result(tmp_path / "direct4.nc"), schema.read_result(tmp_path / "short.epochs4.nc"))
    # in place, with its state replaced, then once more: the 5-epoch run bit for bit
    for epochs in ("3", "5"):
        proc = _cli("extend", "short.nc", "--epochs", epochs, "--out", "short.nc", "--quiet", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    _same_result(schema.read_result(tmp_path / "direct5.nc"), schema.read_result(tmp_path / "short.nc"))
    assert not (tmp_path / "short.nc.ckpt").exists()


@pytest.mark.parametrize("case, message", [("done", "--epochs must exceed the 2 epoch"),
                                           ("no state", "only runs trained with --keep-state"),
                                           ("stopped", "stopped early")])
def test_extend_refuses_what_it_cannot_do_in_one_line(case, message, tmp_path):
    args = ["train", "bp", "--dataset", "digits", "--n-train", "300", "--n-test", "60", "--hidden", "8",
            "--quiet", "--out", "run.nc", "--set", "learning_rate=0.01"]
    args += {"done": ["--epochs", "2", "--keep-state"], "no state": ["--epochs", "2"],
             "stopped": ["--epochs", "60", "--n-val", "60", "--patience", "1", "--keep-state"]}[case]
    assert _cli(*args, cwd=tmp_path).returncode == 0
    proc = _cli("extend", "run.nc", "--epochs", "2" if case == "done" else "80", cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def _own_npz(path):
    data = _digits(n_train=300, n_test=60)
    np.savez(path, x_train=data.x_train, y_train=data.y_train, x_test=data.x_test, y_test=data.y_test)


def test_rerun_finds_a_relative_dataset_path_from_another_directory(tmp_path):
    """A user's .npz named relative to the training directory is found again from
    elsewhere (by the absolute path the result recorded); a changed file is refused."""
    (tmp_path / "project").mkdir()
    _own_npz(tmp_path / "project" / "mine.npz")
    proc = _cli("train", "bp", "--dataset", "mine.npz", "--hidden", "8", "--epochs", "1",
                "--n-train", "100", "--n-test", "30", "--quiet", "--out", "run.nc",
                cwd=tmp_path / "project")
    assert proc.returncode == 0, proc.stderr
    proc = _cli("rerun", "project/run.nc", "--quiet", "--out", "again.nc", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _same_result(schema.read_result(tmp_path / "project" / "run.nc"),
                 schema.read_result(tmp_path / "again.nc"))
    with np.load(tmp_path / "project" / "mine.npz", allow_pickle=False) as npz:
        data = {name: npz[name] for name in npz.files}
    np.savez(tmp_path / "project" / "mine.npz", **{**data, "x_train": data["x_train"][::-1]})
    proc = _cli("rerun", "project/run.nc", "--quiet", "--out", "changed.nc", cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "mine.npz: MD5" in lines[0] and "differs" in lines[0]
    assert not (tmp_path / "changed.nc").exists()


def test_rerun_reads_parameters_by_their_former_names(tmp_path):
    """Results written when the RBM's init_scale was init_weight_std re-run unchanged."""
    import json
    original = train("rbm", _digits(), epochs=1, hidden=(12,), seed=0, progress=False)
    old = original.copy()
    params = json.loads(old.attrs["parameters"])
    params["init_weight_std"] = params.pop("init_scale")
    old.attrs["parameters"] = json.dumps(params)
    schema.write_result(old, tmp_path / "old.nc")
    proc = _cli("rerun", "old.nc", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _same_result(original, schema.read_result(tmp_path / "old.rerun.nc"))


@pytest.mark.parametrize("content", [None, b"not netcdf"])
def test_rerun_needs_a_result_file(content, tmp_path):
    path = tmp_path / "bad.nc"
    if content is not None:
        path.write_bytes(content)
    proc = _cli("rerun", str(path), cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "bad.nc" in lines[0], proc.stderr


def test_unreadable_checkpoint_is_one_line_exit_2(tmp_path):
    (tmp_path / "run.nc.ckpt").write_bytes(b"truncated")
    proc = _cli(*BP_RUN, "--out", "run.nc", "--resume", cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "cannot read checkpoint" in lines[0], proc.stderr
    assert "run.nc.ckpt" in lines[0] and not (tmp_path / "run.nc").exists()


# --------------------------------------------------------------------------- faults

EXPLODING = ["train", "bp", "--dataset", "digits", "--n-train", "200", "--n-test", "50", "--epochs", "3",
             "--hidden", "8", "--quiet", "--set", "optimizer=sgd", "--set", "learning_rate=1e300"]


def test_nan_weights_stop_training_with_epoch_and_array(tmp_path):
    proc = _cli(*EXPLODING, "--out", "x.nc", cwd=tmp_path)
    assert proc.returncode == 3, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "epoch 1 of bp" in lines[0] and "net.W[0]" in lines[0], proc.stderr
    assert "NaN or infinite" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "x.nc").exists()


def test_on_fault_warn_trains_on_and_records_the_faults(tmp_path):
    proc = _cli(*EXPLODING, "--out", "x.nc", "--on-fault", "warn", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warned = [line for line in proc.stderr.splitlines() if line.startswith("bioprop: warning:")]
    assert len(warned) == 3 and "epoch 3" in warned[-1]
    faults = json.loads(schema.read_result(tmp_path / "x.nc").attrs["faults"])
    assert len(faults) == 3 and "net.W[0]" in faults[0]


def test_silent_spiking_network_is_a_fault():
    """A threshold no neuron reaches: the output population never fires."""
    data = _digits(10, 10)
    kw = dict(hidden=(6,), seed=0, progress=False, device=DeviceConfig(kind="runtime"),
              overrides={**ERBP_TINY, "v_thresh": "1000 V"})
    with pytest.raises(TrainingFault, match="epoch 1 of erbp: population output fired no spike in the "
                                            "training presentation"):
        train("erbp", data, epochs=2, **kw)
    with pytest.warns(FaultWarning, match="population output fired no spike"):
        result = train("erbp", data, epochs=1, on_fault="warn", **kw)
    assert "population output" in json.loads(result.attrs["faults"])[0]


def test_healthy_runs_record_no_faults():
    result = train("bp", _digits(), epochs=1, hidden=(8,), seed=0, progress=False)
    assert json.loads(result.attrs["faults"]) == []


# --------------------------------------------------------------------------- build directories

_HOLD_BUILD = """
import os, sys, time
from bioprop.models.device import _new_build_directory
directory, fd = _new_build_directory()
print(directory, flush=True)
if sys.argv[1] == "die":
    os._exit(0)          # as a killed run: no cleanup, the kernel frees the lock
time.sleep(600)
"""


def _hold_build(how, env):
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_BUILD, how], stdout=subprocess.PIPE, text=True, env=env)
    return proc, proc.stdout.readline().strip()


def test_build_directories_of_killed_runs_are_cleaned_not_those_in_use(tmp_path, monkeypatch):
    from bioprop.models import device
    root = tmp_path / "builds"
    monkeypatch.setenv("BIOPROP_BUILD_DIR", str(root))
    env = {**os.environ, "BIOPROP_BUILD_DIR": str(root)}
    dead_proc, dead = _hold_build("die", env)
    dead_proc.wait()
    live_proc, live = _hold_build("live", env)
    young_proc, young = _hold_build("die", env)
    young_proc.wait()
    try:
        old = time.time() - 2 * device._GRACE_SECONDS
        for path in (dead, live):
            os.utime(path, (old, old))
        removed, kept = device.clean_builds()
        assert removed == [dead] and sorted(kept) == sorted([live, young])  # young: maybe not locked yet
        proc = _cli("clean-builds", cwd=tmp_path, env=env)
        assert proc.returncode == 0 and "removed 0 build directories" in proc.stdout
        assert "2 in use" in proc.stdout
    finally:
        live_proc.kill()
        live_proc.wait()
    removed, _ = device.clean_builds()
    assert removed == [live]              # its process is gone now
    proc = _cli("clean-builds", "--all", cwd=tmp_path, env=env)
    assert proc.returncode == 0 and "removed 1 build directory" in proc.stdout and not os.listdir(root)


def _erbp_argv(seed, out):
    return ["train", "erbp", "--dataset", "digits", "--n-train", "10", "--n-test", "10", "--epochs", "1",
            "--hidden", "6", "--seed", str(seed), "--quiet", "--device", "cpp_standalone",
            *[f"--set={k}={v}" for k, v in ERBP_TINY.items()], "--out", str(out)]


@pytest.mark.slow
@pytest.mark.standalone
def test_four_parallel_standalone_runs_build_apart_and_equal_sequential_runs(tmp_path):
    """Four runs of one architecture started at once: each compiles in its own directory,
    all succeed, the directories are gone afterwards, and the results equal the same
    runs made one after another."""
    root = tmp_path / "builds"
    env = {**os.environ, "BIOPROP_BUILD_DIR": str(root)}
    procs = [subprocess.Popen([sys.executable, "-m", "bioprop.analysis.cli", *_erbp_argv(s, tmp_path / f"p{s}.nc")],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for s in range(4)]
    seen = set()
    while any(p.poll() is None for p in procs):
        if root.is_dir():
            seen.update(os.listdir(root))
        time.sleep(0.1)
    for p in procs:
        assert p.returncode == 0, p.stderr.read()
    assert len(seen) >= 4                       # four directories, none shared
    assert not os.listdir(root)                 # each run removed its own
    for s in range(4):
        proc = _cli(*_erbp_argv(s, tmp_path / f"s{s}.nc"), cwd=tmp_path, env=env)
        assert proc.returncode == 0, proc.stderr
    results = [[schema.read_result(tmp_path / f"{kind}{s}.nc").drop_vars("wall_ms_per_sample")
                for s in range(4)] for kind in "ps"]
    for parallel, sequential in zip(*results):
        _same_result(parallel, sequential)
    assert not np.array_equal(results[0][0]["weight_1"].values, results[0][1]["weight_1"].values)


def test_saturated_population_is_a_fault():
    """Hidden neurons firing once per refractory period (3.9 ms + the 0.1 ms step, 250 Hz):
    saturated; half of that: not.  Error neurons, which have no refractory period, at the
    same 250 Hz: not saturated."""
    from bioprop.models.spiking.presentation import Presentation
    rule = available_rules()["erbp"](n_inputs=16, n_classes=3, hidden=(5,), params=available_rules()[
        "erbp"].parameters.resolve(ERBP_TINY), seed=0, device=DeviceConfig(kind="runtime"))
    steps = rule.schedule.slot_steps(rule._dt())
    per_refractory = steps // 40                 # 0.1 ms steps in 4 ms
    assert rule.max_rate_hz("hidden_1") == pytest.approx(250.0)
    assert rule.max_rate_hz("error") == pytest.approx(10000.0)
    pops = {name: (a, b) for name, a, b in rule.populations}
    counts = np.ones((4, rule.populations[-1][2]), np.int64)
    counts[:, slice(*pops["hidden_1"])] = per_refractory
    counts[:, slice(*pops["error"])] = per_refractory
    rule._train_presentation = Presentation(counts, 0.0)
    assert rule.faults() == [("population hidden_1 saturated in the training presentation "
                              "(250 Hz per neuron, at most 250 Hz)")]
    counts[:, slice(*pops["hidden_1"])] = per_refractory // 2
    assert rule.faults() == []


def test_state_the_walk_cannot_store_is_named_and_training_goes_on(tmp_path, monkeypatch):
    from bioprop.models.checkpoint import CheckpointError, capture
    from bioprop.models.rate.backprop import Backprop
    rule = Backprop(n_inputs=4, n_classes=2, hidden=(3,), params=Backprop.parameters.resolve({}), seed=0)
    rule.callback = print
    with pytest.raises(CheckpointError, match="cannot checkpoint callback: values of type "
                                              "builtin_function_or_method"):
        capture(rule)

    def refuse(self):
        raise CheckpointError("cannot checkpoint callback")
    monkeypatch.setattr(Backprop, "state", refuse)
    ckpt = tmp_path / "x.ckpt"
    with pytest.warns(RuntimeWarning, match="bp cannot be checkpointed .*cannot checkpoint callback"):
        result = train("bp", _digits(), epochs=2, hidden=(8,), seed=0, progress=False, checkpoint=ckpt)
    assert not ckpt.exists() and result.sizes["epoch"] == 2


def test_erbp_results_recorded_with_feedback_scale_rerun_with_the_same_jumps():
    """Before issue 16, eRBP's feedback_scale multiplied both feedback pathways: a result
    that recorded it re-runs with output_feedback = feedback_scale and the hidden factor
    feedback_scale * hidden_feedback_scale (the same dendritic jumps)."""
    from bioprop.models.rules import get_rule
    from bioprop.models.training import provenance
    erbp = get_rule("erbp").parameters
    old = train("bp", _digits(), epochs=1, hidden=(8,), seed=0, progress=False)
    params = json.loads(erbp.provenance(erbp.resolve({})))
    del params["output_feedback"]
    params["feedback_scale"] = {"value": 0.2, "unit": "1"}
    params["hidden_feedback_scale"] = {"value": 0.5, "unit": "1"}
    old.attrs.update(rule="erbp", parameters=json.dumps(params), device=json.dumps({"kind": "runtime"}))
    overrides = provenance(old)["overrides"]
    assert "feedback_scale" not in overrides
    assert overrides["output_feedback"] == 0.2 and overrides["hidden_feedback_scale"] == pytest.approx(0.1)
    resolved = erbp.resolve(overrides)
    assert resolved["output_feedback"] == 0.2 and resolved["hidden_feedback_scale"] == pytest.approx(0.1)

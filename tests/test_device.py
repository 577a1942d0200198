"""The device layer: build once, run many times, on cpp_standalone and runtime.

Standalone compilations are expensive (8-40 s cold, ~1-2 s with a warm ccache), so
one build of a small test network is shared by the module's standalone tests; the
parallel-build test compiles the same network again in two processes.
"""
import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from brian2 import (Network, NeuronGroup, Synapses, defaultclock, mV, ms, network_operation,
                    prefs)
from brian2.devices.device import all_devices, get_device

from bioprop.models.device import CompiledNetwork, DeviceConfig, build, compiler_command
from bioprop.models.errors import DeviceError

TAU_MS = 10.0
DURATION = 20 * ms
N_G = 5


def construct():
    """G: deterministic decay; P: random spikes counted; S: synapses P->H with a plastic flag."""
    G = NeuronGroup(N_G, f"dv/dt = -v / ({TAU_MS}*ms) : 1", method="exact", name="G")
    G.v = 1
    P = NeuronGroup(20, "count : integer", threshold="rand() < 0.1", reset="count += 1", name="P")
    H = NeuronGroup(2, "y : 1", name="H")
    S = Synapses(P, H, "w : 1\nplastic : boolean (shared)",
                 on_pre="y_post += w\nw += 0.5 * int(plastic)", name="S")
    S.connect(i=[0, 1, 2], j=[0, 0, 1])
    S.w = 1
    return Network(G, P, H, S), {"G": G, "P": P, "H": H, "S": S}


def decayed(v0):
    return np.asarray(v0, dtype=float) * np.exp(-float(DURATION / ms) / TAU_MS)


def _mtimes(directory):
    names = ["main", "main.o", "objects.o"]
    return {n: os.stat(os.path.join(directory, n)).st_mtime_ns for n in names}


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    build_dir = tmp_path_factory.mktemp("build")
    cwd = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(cwd)
        net = build(construct, DURATION, DeviceConfig(directory=str(build_dir)))
        with pytest.raises(DeviceError, match="run"):
            net.get("G.v")          # nothing has run yet
    return net, build_dir, cwd, _mtimes(build_dir)


@pytest.fixture(scope="module")
def runtime():
    return build(construct, DURATION, DeviceConfig(kind="runtime"))


# ---------------------------------------------------------------- standalone

@pytest.mark.standalone
def test_build_directory_honoured(standalone):
    net, build_dir, cwd, _ = standalone
    assert net.kind == "cpp_standalone" and net.directory == str(build_dir)
    for name in ("main", "makefile", "main.cpp", "code_objects", "results", "static_arrays"):
        assert (build_dir / name).exists(), name
    assert not (cwd / "output").exists()        # Brian2 pitfall: build() would default to ./output
    assert os.listdir(cwd) == []
    assert net.compile_seconds > 0 and net.build_seconds >= net.compile_seconds
    # the device and preferences are restored after the build
    assert get_device() is all_devices["runtime"]
    assert prefs["devices.cpp_standalone.extra_make_args_unix"] == ["-j"]
    assert prefs["devices.cpp_standalone.openmp_threads"] == 0


@pytest.mark.standalone
def test_two_runs_of_one_build_follow_their_run_args(standalone):
    net, build_dir, _, mtimes = standalone
    runs = net.n_runs
    v_a, v_b = np.arange(N_G, dtype=float), np.linspace(2.0, -1.0, N_G)
    net.run({"G.v": v_a})
    got_a = net.get("G.v")
    assert net.last_run_seconds > 0
    net.run({net.handles["G"].v: v_b})            # VariableView keys work as well
    got_b = net.get(net.handles["G"].v)
    np.testing.assert_allclose(got_a, decayed(v_a), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(got_b, decayed(v_b), rtol=1e-9, atol=1e-15)
    net.run()                                     # no run_args: the built state (v = 1)
    np.testing.assert_allclose(net.get("G.v"), decayed(np.ones(N_G)), rtol=1e-9)
    assert net.n_runs == runs + 3
    assert _mtimes(build_dir) == mtimes           # nothing was recompiled or relinked


@pytest.mark.standalone
def test_a_run_leaves_the_environment_as_it_found_it(standalone, monkeypatch):
    import os
    from brian2 import prefs
    # Brian2 exports its run environment (LD_BIND_NOW=1) into os.environ for good
    assert prefs["devices.cpp_standalone.run_environment_variables"]
    monkeypatch.delenv("LD_BIND_NOW", raising=False)
    before = dict(os.environ)
    standalone[0].run()
    assert dict(os.environ) == before


@pytest.mark.standalone
def test_shared_flag_and_synaptic_weights_as_run_args(standalone):
    net, build_dir, _, mtimes = standalone
    w0 = np.array([1.0, 2.0, 3.0])
    net.run({"S.w": w0, "S.plastic": False}, seed=3)
    np.testing.assert_array_equal(net.get("S.w"), w0)
    net.run({"S.w": w0, "S.plastic": True}, seed=3)
    counts = net.get("P.count")
    assert counts[:3].min() > 0
    np.testing.assert_allclose(net.get("S.w"), w0 + 0.5 * counts[:3])   # pre-synaptic P: 0, 1, 2
    assert _mtimes(build_dir) == mtimes


@pytest.mark.standalone
def test_seeds_reproduce_and_differ_without_recompiling(standalone):
    net, build_dir, _, mtimes = standalone
    net.run(seed=11)
    first = net.get("P.count")
    net.run(seed=12)
    other = net.get("P.count")
    net.run(seed=11)
    again = net.get("P.count")
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert 20 * 200 * 0.1 * 0.5 < first.sum() < 20 * 200 * 0.1 * 1.5   # ~ N * steps * p
    assert _mtimes(build_dir) == mtimes


@pytest.mark.standalone
def test_bad_run_args_are_refused_before_running(standalone):
    net, *_ = standalone
    runs = net.n_runs
    with pytest.raises(DeviceError, match=r"'S\.w'.*expected size 3.*given size 4"):
        net.run({"S.w": np.ones(4)})             # Brian2 would print to stderr and exit 0
    with pytest.raises(DeviceError, match=r"'G\.v'.*expected size 5.*given size 6"):
        net.run({"G.v": np.ones(6)})
    with pytest.raises(DeviceError, match="units"):
        net.run({"G.v": np.ones(N_G) * mV})
    with pytest.raises(DeviceError, match="integer"):
        net.run({"P.count": 0.5})
    with pytest.raises(DeviceError, match="boolean"):
        net.run({"S.plastic": 2})
    with pytest.raises(DeviceError, match="read-only"):
        net.run({"S._synaptic_pre": [0, 1, 2]})
    with pytest.raises(DeviceError, match="unknown name"):
        net.run({"nope.v": 1})
    with pytest.raises(DeviceError, match="subgroup"):
        net.run({net.handles["G"][:2].v: 1})
    with pytest.raises(DeviceError, match="seed"):
        net.run(seed=-1)
    assert net.n_runs == runs


@pytest.mark.standalone
def test_parallel_builds_in_separate_processes(tmp_path):
    here = os.path.dirname(os.path.abspath(__file__))
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np
        sys.path.insert(0, {here!r})
        import test_device as t
        from bioprop.models.device import DeviceConfig, build
        net = build(t.construct, t.DURATION, DeviceConfig(directory=sys.argv[1]))
        net.run({{"G.v": np.full(t.N_G, float(sys.argv[2]))}}, seed=1)
        print(json.dumps(net.get("G.v").tolist()))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / f"b{k}"), str(k + 1)],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    for k, proc in enumerate(procs):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        np.testing.assert_allclose(json.loads(out.strip().splitlines()[-1]),
                                   decayed(np.full(N_G, k + 1.0)), rtol=1e-9)
        assert (tmp_path / f"b{k}" / "main").exists()
    assert not (tmp_path / "output").exists()


@pytest.mark.standalone
def test_runtime_matches_standalone(standalone, runtime):
    net, *_ = standalone
    v0 = np.array([0.5, -1.0, 2.0, 0.0, 3.0])
    w0 = np.array([0.2, 0.4, 0.8])
    for compiled in (net, runtime):
        compiled.run({"G.v": v0, "S.w": w0}, seed=4)
    np.testing.assert_allclose(runtime.get("G.v"), net.get("G.v"), rtol=1e-9)
    np.testing.assert_allclose(runtime.get("G.v"), decayed(v0), rtol=1e-9)
    np.testing.assert_array_equal(runtime.get("S.w"), net.get("S.w"))


# ---------------------------------------------------------------- runtime / no compiler

def test_runtime_runs_restart_from_the_built_state(runtime):
    assert isinstance(runtime, CompiledNetwork) and runtime.kind == "runtime"
    runtime.run({"G.v": np.arange(N_G), "S.plastic": True}, seed=2)
    np.testing.assert_allclose(runtime.get("G.v"), decayed(np.arange(N_G)), rtol=1e-9)
    counts = runtime.get("P.count")
    np.testing.assert_allclose(runtime.get("S.w"), 1 + 0.5 * counts[:3])
    runtime.run(seed=2)                           # restored: v = 1, w = 1, count = 0 at start
    np.testing.assert_allclose(runtime.get("G.v"), decayed(np.ones(N_G)), rtol=1e-9)
    np.testing.assert_array_equal(runtime.get("S.w"), np.ones(3))
    np.testing.assert_array_equal(runtime.get("P.count"), counts)     # same seed, same spikes
    runtime.run(seed=3)
    assert not np.array_equal(runtime.get("P.count"), counts)
    with pytest.raises(DeviceError, match=r"'S\.w'.*expected size 3.*given size 2"):
        runtime.run({"S.w": [1.0, 2.0]})


def _with_network_operation():
    G = NeuronGroup(1, "v : 1", name="G_op")

    @network_operation(dt=1 * ms)
    def poke():
        G.v += 1
    return Network(G, poke), {"G": G}


def test_network_operation_refused_in_standalone_only():
    defaultclock.dt = 0.2 * ms
    try:
        with pytest.raises(DeviceError, match="network_operation"):
            build(_with_network_operation, 5 * ms, DeviceConfig())
        assert get_device() is all_devices["runtime"]
        assert defaultclock.dt == 0.2 * ms      # Brian2's reset_device would overwrite it
        net = build(_with_network_operation, 5 * ms, DeviceConfig(kind="runtime", dt_ms=0.1))
        assert defaultclock.dt == 0.2 * ms
        net.run()
        np.testing.assert_array_equal(net.get("G.v"), [5.0])
    finally:
        defaultclock.dt = 0.1 * ms


def test_construct_may_not_run_or_seed():
    from brian2 import seed

    def runs():
        net, handles = construct()
        net.run(1 * ms)
        return net, handles

    def seeds():
        seed(3)
        return construct()

    for kind in ("cpp_standalone", "runtime"):
        with pytest.raises(DeviceError, match=r"must not call run"):
            build(runs, DURATION, DeviceConfig(kind=kind))
    with pytest.raises(DeviceError, match=r"must not call seed"):
        build(seeds, DURATION, DeviceConfig())
    with pytest.raises(DeviceError, match="must return"):
        build(lambda: Network(), DURATION, DeviceConfig(kind="runtime"))
    with pytest.raises(DeviceError, match="duration"):
        build(construct, 20, DeviceConfig(kind="runtime"))


def test_missing_compiler(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-g++")
    assert compiler_command() is None
    with pytest.raises(DeviceError, match="apt-get install g\\+\\+"):
        build(construct, DURATION, DeviceConfig())
    with pytest.warns(RuntimeWarning, match="falling back to the runtime device"):
        net = build(construct, DURATION, DeviceConfig(fallback=True))
    assert net.kind == "runtime"


def test_config_validation_and_ccache():
    with pytest.raises(DeviceError, match="kind"):
        DeviceConfig(kind="gpu")
    with pytest.raises(DeviceError, match="threads"):
        DeviceConfig(threads=0)
    with pytest.raises(DeviceError, match="make_jobs"):
        DeviceConfig(make_jobs=0)
    import shutil
    cmd = compiler_command()
    if shutil.which("g++"):
        assert cmd.endswith("g++")
        assert cmd.startswith("ccache ") == bool(shutil.which("ccache"))
        assert not compiler_command(use_ccache=False).startswith("ccache")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert vars(DeviceConfig())["kind"] == "cpp_standalone"


def _random_construct():
    """U, Z: 4,000 uniform and normal draws, made once by code that runs in the binary."""
    R = NeuronGroup(4000, "u : 1\nz : 1", name="R")
    R.run_regularly("u = rand()\nz = randn()", dt=DURATION, name="draw")
    return Network(R), {"R": R}


@pytest.mark.standalone
def test_standalone_random_generators(tmp_path):
    """xoshiro (the default) and Brian2's mt19937 both give uniform and normal numbers
    fixed by the seed; they draw different numbers; the profile names the code objects."""
    draws = {}
    for generator in ("xoshiro", "mt19937"):
        net = build(_random_construct, DURATION, DeviceConfig(directory=str(tmp_path / generator),
                                                              random=generator, profile=True))
        with open(tmp_path / generator / "code_objects" / "draw_codeobject.cpp") as f:
            assert ("_bioprop_uniform" in f.read()) == (generator == "xoshiro")
        runs = []
        for seed in (3, 4, 3):
            net.run(seed=seed)
            runs.append((net.get("R.u"), net.get("R.z")))
        np.testing.assert_array_equal(runs[0][0], runs[2][0])
        np.testing.assert_array_equal(runs[0][1], runs[2][1])
        assert not np.array_equal(runs[0][0], runs[1][0])
        u, z = runs[0]
        assert np.all((u >= 0) & (u < 1)) and abs(u.mean() - 0.5) < 0.015 and abs(u.var() - 1 / 12) < 0.005
        counts = np.histogram(u, bins=10, range=(0, 1))[0]
        assert np.all(np.abs(counts - 400) < 80), counts
        assert abs(z.mean()) < 0.05 and abs(z.var() - 1) < 0.08 and abs(np.corrcoef(u, z)[0, 1]) < 0.05
        assert "draw_codeobject" in net.profile() and all(s >= 0 for s in net.profile().values())
        draws[generator] = u
        net.cleanup()
    assert not np.array_equal(draws["xoshiro"], draws["mt19937"])
    with pytest.raises(DeviceError, match="random must be one of xoshiro, mt19937"):
        DeviceConfig(random="pcg")
    unprofiled = build(_random_construct, DURATION, DeviceConfig(kind="runtime"))
    unprofiled.run()
    with pytest.raises(DeviceError, match="no profile: build with DeviceConfig"):
        unprofiled.profile()

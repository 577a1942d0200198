r"""The one place that knows about Brian2 devices: build once, run many times.

A spiking rule describes its network in a *construct* function and hands it to
:func:`build`, which returns a :class:`CompiledNetwork` -- a :class:`StandaloneNetwork`
or a :class:`RuntimeNetwork`, after Brian2's own ``CPPStandaloneDevice`` /
``RuntimeDevice`` split: one common base, one class per target, no kind switches.  That object is then
re-run as often as needed -- one run per epoch, say -- with new values for
state variables and :class:`~brian2.input.timedarray.TimedArray` contents
(``run_args``) and a new random seed.  Nothing is recompiled between runs::

    from brian2 import Hz, Network, NeuronGroup, Synapses, ms
    from bioprop.models import encoding
    from bioprop.models.device import DeviceConfig, build

    def construct():
        stim = encoding.stimulus_timed_array(np.zeros((n_samples, 784)), 100 * ms, 50 * ms)
        inp = encoding.input_group(stim, 100 * ms, 50 * ms, name="inp")
        out = NeuronGroup(10, "dv/dt = -v / (20*ms) : 1\ncount : integer", threshold="v > 1",
                          reset="v = 0\ncount += 1", name="out")
        syn = Synapses(inp, out, "w : 1\nplastic : boolean (shared)", on_pre="v_post += w", name="syn")
        syn.connect()
        return Network(inp, out, syn), {"stimulus": stim, "inp": inp, "out": out, "syn": syn}

    net = build(construct, n_samples * 150 * ms, DeviceConfig())   # compiles once
    w = initial_weights
    for epoch in range(n_epochs):
        net.run({"stimulus": rates_for(order[epoch]) * Hz, "syn.w": w, "syn.plastic": True},
                seed=epoch)
        w = net.get("syn.w")                  # plain NumPy array, SI units
    net.run({"stimulus": test_rates * Hz, "syn.w": w, "syn.plastic": False}, seed=123)
    counts = net.get("out.count")

Devices
-------
``DeviceConfig(kind="cpp_standalone")`` (the default, :class:`StandaloneNetwork`)
generates C++ code, compiles it once with ``make`` and runs the binary for every
:meth:`CompiledNetwork.run`; Brian2 >= 2.6 applies ``run_args`` on the binary's command
line.  ``DeviceConfig(kind="runtime")`` (:class:`RuntimeNetwork`) uses Brian2's runtime
device (Cython or NumPy code generation).  Starting is quick, so small tests use it.  It offers the same interface:
"building" constructs the Network once and stores its state, and each run first
restores that state (and the TimedArray contents) and then assigns the run_args.  Runs
of both kinds therefore always start from the state the construct function built, and
they are independent of each other except through values the caller passes on.

Rules for construct functions
-----------------------------
* ``construct()`` is called with the device already selected and ``defaultclock.dt``
  set to ``config.dt_ms``.  It creates the Brian2 objects and returns
  ``(network, handles)``, where ``handles`` maps names to groups, synapses and
  TimedArrays so that run_args and :meth:`CompiledNetwork.get` can name them
  (``"syn.w"``, ``"stimulus"``).  Brian2 object names work as well.
* It must not call ``run()``: the device layer makes exactly ONE ``run`` per build.
  (In standalone mode every extra ``run`` call generates a full extra copy of the
  simulation code; :func:`build` refuses them.)
* It must not call ``seed()``; pass the seed to :meth:`CompiledNetwork.run` instead.
* ``network_operation`` (Python code run during the simulation) does not exist in
  standalone mode -- Brian2 silently skips it -- so :func:`build` refuses a Network
  containing one there.
* Everything that must change between runs has to be a state variable (e.g. a shared
  ``plastic : boolean (shared)`` flag) or TimedArray content.  The duration, the
  shapes of TimedArrays, constants in equations, ``dt`` and the number of OpenMP
  threads are compiled in.
* Connectivity should not depend on random numbers if synaptic variables are set
  by run_args: the seed changes the random numbers used during initialisation too.

Brian2 2.9 pitfalls handled here
--------------------------------
1. ``set_device(..., build_on_run=False, directory=X)`` ignores ``X`` and a later
   ``device.build()`` writes to ``./output``: the directory is passed to
   ``device.build(directory=...)``.
2. ``seed()`` is compiled into the code.  Instead, start-up code inserted with
   ``device.insert_code("after_start", ...)`` reads ``bioprop_seed.txt`` from the run's
   results directory and seeds every ``brian::_random_generators[i]`` with
   ``seed + i`` (what Brian2's own ``seed()`` does); a new seed needs no recompile.
3. A run_arg file of the wrong size makes the binary print an error on stderr, skip
   the assignment and still exit with status 0.  Sizes, shapes, dtypes and units are
   therefore checked in Python first (:class:`~bioprop.models.errors.DeviceError` names
   the variable and both sizes).  The size of synaptic variables is only known once
   the C++ code has created the synapses; it is obtained by a "probe" run that stops
   right before the network runs (start-up and connection only).
4. ``network_operation`` is refused in standalone mode (see above).
5. One ``run`` per build (see above).
6. ``make -j`` without a number (Brian2's default) is bounded by ``config.make_jobs``.
7. ``ccache`` is used when installed: the makefile compiles with ``$(CXX)``, so
   ``CXX="ccache g++"`` is passed on the ``make`` command line (``CCACHE_BASEDIR`` is
   set to the build directory so that builds in different directories share hits).

Brian2 keeps process-global device state.  Each standalone build gets a *fresh*
``CPPStandaloneDevice`` instance, which is activated only while ``construct`` runs
and the code is generated and compiled; the previous device (and its ``defaultclock.dt``,
which Brian2's ``reset_device`` would otherwise overwrite) is restored afterwards.
Variables remember the device that created them, so a :class:`CompiledNetwork` keeps
working after other builds, and builds of both kinds can alternate in one process.

Costs measured on the development machine (2 cores, shared; test network of 4 small
groups): a cold standalone compile takes 15-25 s of ``make``, a rebuild of the same
code from the ccache 1-2 s; a run of the binary 15-60 ms plus the simulated work.

Parallel use: every build has its own directory (a fresh one unless
``config.directory`` is given), so separate processes never collide; Brian2 guards its
Cython cache with file locks.  The runs of one CompiledNetwork are sequential (the
binary writes its results to ``<directory>/results``); do not share one build
directory between concurrent processes.

Build directories: the fresh ones live under one root, :func:`build_root`
(``$BIOPROP_BUILD_DIR``, default ``~/.cache/bioprop/builds``), and each holds a lock
(``flock``) for as long as its process lives.  A finished run removes its own; a killed
one cannot, so every new build first removes those whose lock is free
(:func:`clean_builds`; ``bioprop clean-builds`` does the same by hand).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .errors import DeviceError

__all__ = ["DeviceConfig", "CompiledNetwork", "StandaloneNetwork", "RuntimeNetwork", "build",
           "build_root", "clean_builds", "compiler_command", "option_name", "KINDS", "RANDOM_GENERATORS",
           "SETTINGS"]

#: the device kinds :class:`DeviceConfig` accepts (the CLI, the workflow config and the
#: docs take them from here)
KINDS = ("cpp_standalone", "runtime")
#: generators behind ``rand()``/``randn()`` in standalone builds (:data:`_FAST_RANDOM_STATE`)
RANDOM_GENERATORS = ("xoshiro", "mt19937")

_SEED_FILE = "bioprop_seed.txt"
_PROBE_FLAG = "bioprop_probe"
_SIZES_FILE = "bioprop_sizes.txt"
_BUILT_STATE = "bioprop_built"
_LOCK_FILE = ".bioprop_lock"
#: a build directory younger than this is never removed by another process: it may be
#: between its creation and its lock
_GRACE_SECONDS = 60.0


#: the user-facing device settings: name -> (type, help).  ``bioprop train`` makes its
#: ``--device``/``--threads``/... options from this table, the workflow takes a rule's
#: ``device:`` mapping through :meth:`DeviceConfig.from_settings`, and the docs list it.
SETTINGS = {
    "kind": (str, "Brian2 device: cpp_standalone (compile once, run the binary; default) or "
                  "runtime (Brian2's Cython/NumPy code generation, quick to start)"),
    "threads": (int, "OpenMP threads of the standalone binary (1 = no OpenMP; compiled in)"),
    "make_jobs": (int, "parallel compile jobs, make -jN"),
    "dt_ms": (float, "simulation time step in ms (compiled in)"),
    "random": (str, "generator of rand()/randn() in standalone builds: xoshiro (xoshiro256+, "
                    "fast) or mt19937 (Brian2's own); compiled in"),
}


def option_name(setting: str) -> str:
    """The command-line option of a device setting (``kind`` -> ``--device``)."""
    return "--device" if setting == "kind" else "--" + setting.replace("_", "-")


@dataclass(frozen=True)
class DeviceConfig:
    """How to simulate a spiking network.

    kind : ``"cpp_standalone"`` (compile once, run the binary for every run; default
        for real runs) or ``"runtime"`` (Brian2's Cython/NumPy code generation; quick
        to start, used by small tests).
    directory : build directory for standalone mode.  ``None`` means a fresh
        directory per build under :func:`build_root`, removed when the build is cleaned
        up or, after a kill, by the next build.  Give different builds different directories.
    threads : OpenMP threads of the standalone binary.  1 (default) compiles without
        OpenMP.  Compiled in: changing it needs a new build.
    make_jobs : bound for ``make -jN`` (Brian2's default ``-j`` is unbounded).
    fallback : if no C++ compiler is found, fall back to the runtime device with a
        warning instead of raising :class:`DeviceError`.
    dt_ms : simulation time step in ms (``defaultclock.dt`` while constructing).
    ccache : use ``ccache`` for standalone compilation when it is installed.
    random : generator of ``rand()``/``randn()`` in standalone builds: ``"xoshiro"``
        (xoshiro256+, :data:`_FAST_RANDOM_STATE`; default) or ``"mt19937"`` (Brian2's own
        Mersenne twister).  A seed fixes a run with either, but they draw different
        numbers.  The runtime device always uses Brian2's (NumPy's) generator.
    profile : record the wall time of every code object (Brian2's ``profile=True``;
        compiled in, costs two clock reads per code object and step); read it with
        :meth:`CompiledNetwork.profile` after a run.
    """

    kind: str = "cpp_standalone"
    directory: str | None = None
    threads: int = 1
    make_jobs: int = 1
    fallback: bool = False
    dt_ms: float = 0.1
    ccache: bool = True
    random: str = "xoshiro"
    profile: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise DeviceError(f"unknown device kind {self.kind!r}; choose one of {', '.join(KINDS)}")
        if self.random not in RANDOM_GENERATORS:
            raise DeviceError(f"device setting random must be one of {', '.join(RANDOM_GENERATORS)}, "
                              f"got {self.random!r}")
        for name in ("threads", "make_jobs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise DeviceError(f"device setting {name} must be an integer >= 1, got {value!r}")
        if isinstance(self.dt_ms, bool) or not (isinstance(self.dt_ms, (int, float)) and 0 < self.dt_ms < 1000):
            raise DeviceError(f"device setting dt_ms must be a positive number of ms, got {self.dt_ms!r}")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "DeviceConfig":
        """A config from user settings (names of :data:`SETTINGS`); unknown names are an error."""
        unknown = sorted(set(settings) - set(SETTINGS))
        if unknown:
            raise DeviceError(f"unknown device setting(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}")
        return cls(**dict(settings))


def compiler_command(use_ccache: bool = True) -> str | None:
    """The C++ compiler command the standalone makefile will use, or ``None`` if absent.

    ``$CXX`` if set, else ``g++``; prefixed with ``ccache`` when ``use_ccache`` and
    ccache is installed (and the command does not already use it).
    """
    cxx = os.environ.get("CXX", "").strip() or "g++"
    parts = shlex.split(cxx)
    real = parts[1] if parts[0].endswith("ccache") and len(parts) > 1 else parts[0]
    if shutil.which(real) is None:
        return None
    if use_ccache and not parts[0].endswith("ccache") and shutil.which("ccache"):
        parts = ["ccache"] + parts
    return " ".join(shlex.quote(p) for p in parts)


# --------------------------------------------------------------------------- build directories

def build_root() -> str:
    """The directory holding the fresh build directories: ``$BIOPROP_BUILD_DIR``, else
    ``$XDG_CACHE_HOME/bioprop/builds`` (``~/.cache/bioprop/builds``)."""
    root = os.environ.get("BIOPROP_BUILD_DIR", "").strip()
    if not root:
        cache = os.environ.get("XDG_CACHE_HOME", "").strip() or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(cache, "bioprop", "builds")
    return os.path.abspath(root)


def _new_build_directory() -> tuple[str, int]:
    """A fresh directory under :func:`build_root` and the descriptor of its held lock."""
    root = build_root()
    try:
        os.makedirs(root, exist_ok=True)
        directory = tempfile.mkdtemp(prefix="build_", dir=root)
    except OSError as err:
        raise DeviceError(f"cannot create a build directory in {root} ({err.strerror}); set "
                          "BIOPROP_BUILD_DIR to a writable directory") from None
    fd = os.open(os.path.join(directory, _LOCK_FILE), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)   # released by the kernel when the process dies, even by SIGKILL
    return directory, fd


def clean_builds(everything: bool = False) -> tuple[list[str], list[str]]:
    """Remove the build directories under :func:`build_root` whose process is gone
    (their lock is free); ``everything`` removes those of live processes too.
    Returns ``(removed, kept)``."""
    root = build_root()
    removed, kept = [], []
    try:
        entries = sorted(os.listdir(root))
    except FileNotFoundError:
        return removed, kept
    now = time.time()
    for name in entries:
        path = os.path.join(root, name)
        if not (name.startswith("build_") and os.path.isdir(path)):
            continue
        if not everything:
            try:
                if now - os.path.getmtime(path) < _GRACE_SECONDS:
                    kept.append(path)
                    continue
                fd = os.open(os.path.join(path, _LOCK_FILE), os.O_RDWR)
            except FileNotFoundError:
                fd = None        # no lock: left by a process killed while creating it
            if fd is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    kept.append(path)
                    continue
                finally:
                    os.close(fd)
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed, kept


# --------------------------------------------------------------------------- helpers

@contextlib.contextmanager
def _brian_prefs(values: Mapping[str, Any]):
    """Set Brian2 preferences for the duration of the block, then restore them."""
    from brian2 import prefs
    old = {name: prefs[name] for name in values}
    try:
        for name, value in values.items():
            prefs[name] = value
        yield
    finally:
        for name, value in old.items():
            prefs[name] = value


#: Brian2's standalone ``rand()`` calls its Mersenne twister twice per number (~6 ns),
#: which dominates networks that draw per neuron and step or per synaptic event (eRBP's
#: noise, blank-out synapses).  With ``DeviceConfig(random="xoshiro")`` a build's
#: ``rand()``/``randn()`` use xoshiro256+ (Blackman & Vigna 2021, ACM TOMS 47:36; top 53
#: bits, as its authors advise for floating point) and Marsaglia's polar method, one
#: generator per thread and code object, seeded at its first use in a run from Brian2's
#: generator of that thread (splitmix64 of 53 drawn bits) -- which the run's seed seeds,
#: so a seed still fixes a run.
_FAST_RANDOM_STATE = """
#ifndef BIOPROP_FAST_RANDOM
#define BIOPROP_FAST_RANDOM
struct _BiopropRandom { uint64_t s[4]; bool seeded; bool has_gauss; double gauss; };
static _BiopropRandom _bioprop_random[%N_STATES%];
static inline uint64_t _bioprop_next(_BiopropRandom &g, const int thread) {
    if (!g.seeded) {
        uint64_t z = (uint64_t)(brian::_random_generators[thread].rand() * 9007199254740992.0);
        for (int k = 0; k < 4; k++) {
            z += 0x9e3779b97f4a7c15ULL;
            uint64_t x = z;
            x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
            x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
            g.s[k] = x ^ (x >> 31);
        }
        g.seeded = true;
    }
    const uint64_t result = g.s[0] + g.s[3];
    const uint64_t t = g.s[1] << 17;
    g.s[2] ^= g.s[0];
    g.s[3] ^= g.s[1];
    g.s[1] ^= g.s[2];
    g.s[0] ^= g.s[3];
    g.s[2] ^= t;
    g.s[3] = (g.s[3] << 45) | (g.s[3] >> 19);
    return result;
}
static inline double _bioprop_uniform(const int thread) {
    return (_bioprop_next(_bioprop_random[thread], thread) >> 11) * 1.1102230246251565e-16;
}
#endif
"""
_FAST_RAND = """
inline double _rand(const int _vectorisation_idx) {
    return _bioprop_uniform(%THREAD%);
}
"""
_FAST_RANDN = """
inline double _randn(const int _vectorisation_idx) {
    const int thread = %THREAD%;
    _BiopropRandom &g = _bioprop_random[thread];
    if (g.has_gauss) {
        g.has_gauss = false;
        return g.gauss;
    }
    double x1, x2, r2;
    do {
        x1 = 2.0 * _bioprop_uniform(thread) - 1.0;
        x2 = 2.0 * _bioprop_uniform(thread) - 1.0;
        r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    const double f = sqrt(-2.0 * log(r2) / r2);
    g.gauss = f * x1;
    g.has_gauss = true;
    return f * x2;
}
"""


def _fast_random_code(function: str) -> dict:
    from brian2 import prefs
    threads = prefs["devices.cpp_standalone.openmp_threads"]
    thread = "0" if threads == 0 else "omp_get_thread_num()"
    body = _FAST_RAND if function == "rand" else _FAST_RANDN
    code = (_FAST_RANDOM_STATE + body).replace("%N_STATES%", str(max(threads, 1)))
    return {"support_code": code.replace("%THREAD%", thread)}


@contextlib.contextmanager
def _fast_random(enabled: bool):
    """While generating a standalone build, ``rand``/``randn`` as :data:`_FAST_RANDOM_STATE`
    describes; Brian2's own implementations are put back afterwards."""
    if not enabled:
        yield
        return
    from brian2.core.functions import DEFAULT_FUNCTIONS
    from brian2.devices.cpp_standalone.codeobject import CPPStandaloneCodeObject
    saved = {}
    try:
        for function in ("rand", "randn"):
            impls = DEFAULT_FUNCTIONS[function].implementations
            saved[function] = impls._implementations.get(CPPStandaloneCodeObject)
            impls.add_dynamic_implementation(
                CPPStandaloneCodeObject, code=lambda owner, f=function: _fast_random_code(f),
                namespace=lambda owner: {}, name="_" + function)
        yield
    finally:
        for function, impl in saved.items():
            impls = DEFAULT_FUNCTIONS[function].implementations
            if impl is None:
                impls._implementations.pop(CPPStandaloneCodeObject, None)
            else:
                impls._implementations[CPPStandaloneCodeObject] = impl


@contextlib.contextmanager
def _environ(values: Mapping[str, str]):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _environ_kept():
    """Undo whatever the block changes in ``os.environ``."""
    old = dict(os.environ)
    try:
        yield
    finally:
        for k in set(os.environ) - set(old):
            del os.environ[k]
        for k, v in old.items():
            if os.environ.get(k) != v:
                os.environ[k] = v


@contextlib.contextmanager
def _active_device(device, dt):
    """Make ``device`` Brian2's active device (with ``defaultclock.dt = dt``) for a block.

    Restores the previous device afterwards, including its ``defaultclock.dt``, which
    Brian2's ``reset_device`` would otherwise overwrite with ``dt``.
    """
    from brian2 import defaultclock
    from brian2.devices.device import get_device, reset_device, set_device
    previous = get_device()
    if previous is device:
        old_dt = defaultclock.dt
        defaultclock.dt = dt
        try:
            yield
        finally:
            defaultclock.dt = old_dt
        return
    previous_dt = previous.defaultclock.dt if previous.defaultclock is not None else None
    set_device(device, build_on_run=False)
    try:
        defaultclock.dt = dt
        yield
    finally:
        reset_device()
        if previous_dt is not None:
            previous.defaultclock.dt = previous_dt


def _all_objects(net):
    from brian2.core.network import _get_all_objects
    return _get_all_objects(net.objects)


def _as_duration(duration):
    from brian2 import Quantity, second
    from brian2.units.fundamentalunits import have_same_dimensions
    if not isinstance(duration, Quantity) or not have_same_dimensions(duration, second) \
            or np.ndim(duration) != 0 or not float(duration) > 0:
        raise DeviceError(f"duration must be a positive Brian2 time quantity (e.g. 100*ms), "
                          f"got {duration!r}")
    return duration


def _call_construct(construct):
    result = construct()
    from brian2 import Network
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], Network)
            and isinstance(result[1], Mapping)):
        raise DeviceError("the construct function must return (brian2.Network, dict of named "
                          f"handles), got {type(result).__name__}")
    net, handles = result
    return net, dict(handles)


# --------------------------------------------------------------------------- network

class CompiledNetwork:
    """A network built once; :meth:`run` re-runs it with new run_args and a new seed.

    The common base of :class:`StandaloneNetwork` and :class:`RuntimeNetwork`: it
    resolves and checks run_args and reads results; the subclasses say how a run
    is made and how the size of a synaptic variable is known before it.

    Attributes
    ----------
    kind : ``"cpp_standalone"`` or ``"runtime"`` (after a fallback: ``"runtime"``).
    directory : build directory (standalone) or ``None`` (runtime).
    network : the Brian2 ``Network``; handles : the dict returned by ``construct``.
    duration : simulated time of every run.
    n_runs : number of completed runs.
    build_seconds : wall time of :func:`build` (construct, code generation, compile).
    compile_seconds : time spent in ``make`` (standalone; ``None`` for runtime).
    last_run_seconds : wall time of the latest :meth:`run` (including the checks).
    """

    kind: str
    directory: str | None = None
    compile_seconds: float | None = None
    #: whether get() can read the built state before the first run
    state_before_run = True

    def __init__(self, network, handles, duration, config):
        self.network = network
        self.handles = handles
        self.duration = duration
        self.config = config
        self.n_runs = 0
        self.build_seconds = None
        self.last_run_seconds = None
        self._objects = {obj.name: obj for obj in _all_objects(network)}

    def __repr__(self):
        where = f", directory={self.directory!r}" if self.directory else ""
        return f"<{type(self).__name__}{where}, duration={self.duration}, runs={self.n_runs}>"

    # ----------------------------------------------------------------- key handling
    def _resolve(self, key):
        """A run_arg/get key -> VariableView or TimedArray of this network."""
        from brian2 import TimedArray
        from brian2.core.variables import VariableView
        if isinstance(key, str):
            name, _, var = key.partition(".")
            obj = self.handles.get(name, self._objects.get(name))
            if obj is None:
                raise DeviceError(f"unknown name {name!r} in {key!r}; known handles: "
                                  f"{', '.join(sorted(self.handles)) or '(none)'}")
            if not var:
                if isinstance(obj, TimedArray):
                    return obj
                raise DeviceError(f"{key!r} names a {type(obj).__name__}; name one of its "
                                  f"variables as '{name}.<variable>'")
            if not hasattr(obj, "variables") or var not in obj.variables:
                raise DeviceError(f"{name!r} has no variable {var!r}")
            # (a monitor's attribute is a plain array; its variable gives the view)
            key = obj.variables[var].get_addressable_value_with_unit(var, obj)
        if isinstance(key, TimedArray):
            return key
        if not isinstance(key, VariableView):
            raise DeviceError("run_args/get keys must be 'group.variable' strings, handle names of "
                              f"TimedArrays, VariableViews (syn.w) or TimedArrays; got {key!r}")
        variable = key.variable
        owner_name = getattr(variable.owner, "name", None)
        if key.group_name != owner_name:
            raise DeviceError(f"'{key.group_name}.{key.name}' is a view on a subgroup; use the "
                              f"whole group '{owner_name}.{key.name}'")
        if owner_name not in self._objects:
            raise DeviceError(f"'{owner_name}.{key.name}' does not belong to this network")
        self._check_owner(key)
        return key

    def _check_owner(self, view) -> None:
        """Raise if ``view`` belongs to another build (standalone only)."""

    def _check_timed_array(self, timed_array) -> None:
        """Raise if ``timed_array`` cannot be set by a run_arg."""

    def _dynamic_size(self, view, seed) -> int:
        """Size of a dynamic (synaptic) variable in the run with this seed."""
        raise NotImplementedError

    def _expected_size(self, view, seed):
        variable = view.variable
        if not getattr(variable, "dynamic", False):
            return int(variable.size)
        return self._dynamic_size(view, seed)

    def _check_run_args(self, run_args, seed):
        """Validate run_args; return ``{VariableView or TimedArray: value}`` ready for Brian2."""
        from brian2 import Quantity, TimedArray
        from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions, get_unit
        checked = {}
        for key, value in dict(run_args or {}).items():
            target = self._resolve(key)
            if isinstance(target, TimedArray):
                label, dim = f"{target.name} (TimedArray)", target.dim
                var_dtype, expected_shape = np.dtype(np.float64), target.values.shape
                self._check_timed_array(target)
            else:
                variable = target.variable
                label, dim = f"'{target.group_name}.{target.name}'", target.dim
                if variable.read_only:
                    raise DeviceError(f"{label} is read-only and cannot be set by run_args")
                var_dtype = np.dtype(variable.dtype)
                expected_shape = (self._expected_size(target, seed),)
            vdim = get_dimensions(value)
            if vdim is not dim and not (vdim == dim):
                want = "a plain number/array" if dim is DIMENSIONLESS else f"a quantity in {get_unit(dim)!r}"
                raise DeviceError(f"{label} needs {want}; got units {get_unit(vdim)!r}")
            raw = np.asarray(value)
            if raw.dtype.kind not in "biuf":
                raise DeviceError(f"{label} needs numbers, got dtype {raw.dtype}")
            if var_dtype.kind == "b" and raw.dtype.kind != "b" and not np.all((raw == 0) | (raw == 1)):
                raise DeviceError(f"{label} is boolean; got values other than 0/1/True/False")
            if var_dtype.kind in "iu" and raw.dtype.kind == "f" and not np.all(np.round(raw) == raw):
                raise DeviceError(f"{label} is an integer variable; got non-integer values")
            if raw.size != 1 and raw.shape != tuple(expected_shape):
                exp = int(np.prod(expected_shape))
                raise DeviceError(f"run_arg {label}: expected size {exp} (shape {tuple(expected_shape)}), "
                                  f"given size {raw.size} (shape {raw.shape})")
            raw = raw.astype(var_dtype)
            checked[target] = raw if dim is DIMENSIONLESS else Quantity(raw, dim=dim)
        return checked

    # ----------------------------------------------------------------- running
    def run(self, run_args: Mapping | None = None, seed: int | None = 0) -> None:
        """Run the built network once for ``self.duration``.

        run_args : ``{key: value}`` with keys ``"handle.variable"``, ``"handle"`` (a
            TimedArray), a VariableView such as ``syn.w`` or a TimedArray.  Values are
            scalars (broadcast) or arrays of the variable's full size (a TimedArray:
            exactly its shape), with the variable's units (Brian2 quantities; plain
            numbers for dimensionless variables).  Variables not given keep the
            values the construct function gave them -- every run starts from the
            built state, not from the end of the previous run.
        seed : seeds all random numbers of the run (initialisation included); the same
            seed gives identical results.  ``None`` draws a random seed.  No recompile.
        """
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                                 or not 0 <= seed < 2 ** 32):
            raise DeviceError(f"seed must be an integer in [0, 2**32) or None, got {seed!r}")
        seed = None if seed is None else int(seed)
        start = time.perf_counter()
        checked = self._check_run_args(run_args, seed)
        self._run(checked, seed)
        self.n_runs += 1
        self.last_run_seconds = time.perf_counter() - start

    # ----------------------------------------------------------------- results
    def get(self, variable) -> np.ndarray:
        """Final values of a state variable after the latest run, as a NumPy array.

        ``variable`` is ``"handle.variable"`` (e.g. ``"syn.w"``, ``"out.count"``, or a
        monitor's recording such as ``"counts.count"``) or a VariableView (``syn.w``) of
        a whole group.  Values are in SI base units (volt,
        second, ...), like Brian2's ``group.v_``; the array is a copy.
        """
        from brian2 import TimedArray
        target = self._resolve(variable)
        if isinstance(target, TimedArray):
            raise DeviceError("get() reads state variables, not TimedArrays")
        if self.n_runs == 0 and not self.state_before_run:
            raise DeviceError("no results yet: call run() before get()")
        try:
            return np.array(target.variable.get_value(), copy=True)
        except (NotImplementedError, OSError) as err:
            raise DeviceError(f"cannot read '{target.group_name}.{target.name}': {err}") from err

    def profile(self) -> dict[str, float]:
        """Wall seconds per code object in the latest run, largest first (needs
        ``DeviceConfig(profile=True)``)."""
        if not self.config.profile:
            raise DeviceError("no profile: build with DeviceConfig(profile=True)")
        if self.n_runs == 0:
            raise DeviceError("no profile yet: call run() first")
        return dict(sorted(self._profile().items(), key=lambda item: -item[1]))

    def _profile(self) -> dict[str, float]:
        return {name: float(seconds) for name, seconds in self.network.profiling_info}

    def cleanup(self) -> None:
        """Release what the build holds (standalone: its directory, if :func:`build` made it)."""



class RuntimeNetwork(CompiledNetwork):
    """Brian2's runtime device: "building" constructs the Network once and stores its
    state; each run restores that state and the TimedArray contents, then applies the
    run_args."""

    kind = "runtime"

    def __init__(self, network, handles, duration, config, dt, runtime_prefs, clock_dts):
        super().__init__(network, handles, duration, config)
        self._dt = dt
        self._runtime_prefs = runtime_prefs  # e.g. codegen.target = numpy without a compiler
        self._clock_dts = clock_dts          # clock -> dt (defaultclock is process-global)
        self._timed_originals = {}           # TimedArray -> values as built

    def _dynamic_size(self, view, seed):
        return len(view.variable.get_value())

    def _run(self, checked, seed):
        from brian2 import TimedArray
        from brian2.devices.device import all_devices
        runtime = all_devices["runtime"]
        net = self.network
        net.restore(_BUILT_STATE)
        for ta, original in self._timed_originals.items():
            ta.values[...] = original
        for target, value in checked.items():
            raw = np.asarray(value)
            if isinstance(target, TimedArray):
                if not target.values.flags.c_contiguous:
                    raise DeviceError(f"TimedArray {target.name!r} values are not C-contiguous; "
                                      "create it from np.ascontiguousarray(...)")
                if target not in self._timed_originals:
                    self._timed_originals[target] = target.values.copy()
                target.values[...] = raw
            else:
                target.variable.set_value(raw)
        old_dts = {clock: clock.dt for clock in self._clock_dts}
        with _brian_prefs(self._runtime_prefs), _active_device(runtime, self._dt):
            for clock, dt in self._clock_dts.items():
                clock.dt = dt
            try:
                runtime.seed(seed)
                net.run(self.duration, profile=self.config.profile)
            finally:
                for clock, dt in old_dts.items():
                    clock.dt = dt

    @classmethod
    def build(cls, construct, duration, config):
        from brian2 import ms, prefs
        from brian2.devices.device import all_devices
        start = time.perf_counter()
        dt = config.dt_ms * ms
        runtime_prefs = {}
        if prefs["codegen.target"] in ("auto", "cython") and compiler_command(False) is None:
            # Cython needs a C++ compiler too; NumPy code generation does not
            runtime_prefs["codegen.target"] = "numpy"
        with _brian_prefs(runtime_prefs), _active_device(all_devices["runtime"], dt):
            net, handles = _call_construct(construct)
            objects = _all_objects(net)
            if float(net.t_) > 0:   # (clocks are shared between runtime networks: use net.t)
                raise DeviceError("the construct function must not call run(); the device layer "
                                  "runs the network (CompiledNetwork.run)")
            net.store(_BUILT_STATE)
            # read the clocks' dt while this build's dt is active (defaultclock is global)
            clock_dts = {obj.clock: obj.clock.dt for obj in objects if hasattr(obj, "clock")}
        compiled = cls(net, handles, duration, config, dt, runtime_prefs, clock_dts)
        compiled.build_seconds = time.perf_counter() - start
        return compiled


def _startup_code(dev, objects):
    """C++ snippets: seeding from the results directory, and the size probe."""
    seed_code = f"""
    {{  // bioprop: seed all random generators from <results_dir>/{_SEED_FILE} if present
        std::ifstream _bioprop_seed_file(brian::results_dir + "{_SEED_FILE}");
        unsigned long _bioprop_seed;
        if (_bioprop_seed_file >> _bioprop_seed)
            for (size_t _i = 0; _i < brian::_random_generators.size(); _i++)
                brian::_random_generators[_i].seed(_bioprop_seed + _i);
    }}"""
    lines = []
    names = {obj.name for obj in objects}
    for var, cname in sorted(dev.dynamic_arrays.items(), key=lambda item: item[1]):
        owner = getattr(var.owner, "name", None)
        if owner in names and not var.read_only:
            lines.append(f'_bioprop_sizes << "{owner}.{var.name} " << {cname}.size() << "\\n";')
    probe_code = f"""
    {{  // bioprop: probe run -- report dynamic array sizes and stop before the network runs
        std::ifstream _bioprop_probe(brian::results_dir + "{_PROBE_FLAG}");
        if (_bioprop_probe.good()) {{
            std::ofstream _bioprop_sizes(brian::results_dir + "{_SIZES_FILE}");
            {chr(10).join(lines)}
            _bioprop_sizes.close();
            return 0;
        }}
    }}"""
    return seed_code, probe_code


def _release_code_objects(dev, objects):
    """Drop the Python code objects of a finished standalone build.

    They are never used again (the binary does the work), and while they live their
    auto-generated names ("G_stateupdater_codeobject") stay taken, so the next build in
    this process would get "..._codeobject_1" and different code (no ccache hits).
    """
    for obj in objects:
        if getattr(obj, "codeobj", None) is not None:
            obj.codeobj = None
        if getattr(obj, "_code_objects", None):
            obj._code_objects = []
    dev.code_objects.clear()
    dev.main_queue = []


class StandaloneNetwork(CompiledNetwork):
    """Brian2's cpp_standalone device: the code is generated and compiled once; each run
    executes the binary with the run_args on its command line and a seed file."""

    kind = "cpp_standalone"
    state_before_run = False

    def __init__(self, network, handles, duration, config, device, directory, lock_fd):
        super().__init__(network, handles, duration, config)
        self.directory = directory
        self._device = device
        self._lock_fd = lock_fd      # held while the build is in use; None: the user's directory
        self._sizes = {}             # seed -> {"owner.var": size}

    def _check_owner(self, view):
        if view.variable.device is not self._device:
            raise DeviceError(f"'{view.group_name}.{view.name}' was created for another build")

    def _check_timed_array(self, timed_array):
        if timed_array not in self._device.timed_arrays:
            raise DeviceError(f"TimedArray {timed_array.name!r} is not used by the network, "
                              "so it cannot be set")

    def _dynamic_size(self, view, seed):
        name = f"{view.group_name}.{view.name}"
        sizes = self._sizes.get(seed)
        if sizes is None or name not in sizes:
            sizes = self._sizes[seed] = self._probe_sizes(seed)
        if name not in sizes:
            raise DeviceError(f"cannot determine the size of '{name}' before running")
        return sizes[name]

    def _probe_sizes(self, seed):
        """Run the binary up to (not including) the network run; return dynamic array sizes."""
        probe_dir = os.path.join(self.directory, "results", "bioprop_probe", "")
        os.makedirs(probe_dir, exist_ok=True)
        self._write_seed(probe_dir, seed)
        open(os.path.join(probe_dir, _PROBE_FLAG), "w").close()
        try:
            proc = subprocess.run([os.path.join(self.directory, "main"), "--results_dir", probe_dir],
                                  cwd=self.directory, capture_output=True, text=True)
            if proc.returncode != 0:
                raise DeviceError(f"probe run of {self.directory} failed: {proc.stderr.strip()[-500:]}")
            sizes = {}
            with open(os.path.join(probe_dir, _SIZES_FILE)) as f:
                for line in f:
                    name, size = line.split()
                    sizes[name] = int(size)
            return sizes
        finally:
            shutil.rmtree(probe_dir, ignore_errors=True)

    def _profile(self):
        # Brian2's reader of the binary's results/profiling_info.txt
        return {name: float(seconds) for name, seconds in
                self._device.network_get_profiling_info(self.network)}

    @staticmethod
    def _write_seed(results_dir, seed):
        path = os.path.join(results_dir, _SEED_FILE)
        if seed is None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        else:
            with open(path, "w") as f:
                f.write(f"{seed}\n")

    def _run(self, checked, seed):
        dev = self._device
        results = os.path.join(self.directory, "results", "")
        os.makedirs(results, exist_ok=True)
        self._write_seed(results, seed)
        try:
            # Brian2 sets its run environment (LD_BIND_NOW=1) in os.environ and leaves it
            # there: every later subprocess of the user's would inherit it (SLURM's daemons
            # then fail to load their plugins)
            with _environ_kept():
                dev.run(self.directory, results_directory="results", with_output=False,
                        run_args=checked)
        except RuntimeError as err:
            raise DeviceError(f"standalone run failed in {self.directory}: {err}") from err
        finally:
            # run_args arrays are written to static_arrays/ once per distinct value;
            # remove them so that many epochs do not fill the disk
            for name in list(dev.run_args_arrays):
                for suffix in ("", ".lock"):
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(os.path.join(self.directory, "static_arrays", name + suffix))

    def cleanup(self) -> None:
        if self._lock_fd is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            os.close(self._lock_fd)
            self._lock_fd = None

    @classmethod
    def build(cls, construct, duration, config, cxx):
        start = time.perf_counter()
        if config.directory is None:
            clean_builds()
            directory, lock_fd = _new_build_directory()
        else:
            directory, lock_fd = os.path.abspath(config.directory), None
            os.makedirs(directory, exist_ok=True)
        try:
            compiled = cls._build_in(construct, duration, config, cxx, directory, lock_fd)
        except BaseException:
            if lock_fd is not None:   # a failed or interrupted build leaves nothing behind
                shutil.rmtree(directory, ignore_errors=True)
                os.close(lock_fd)
            raise
        compiled.build_seconds = time.perf_counter() - start
        return compiled

    @classmethod
    def _build_in(cls, construct, duration, config, cxx, directory, lock_fd):
        import gc
        from brian2 import Network, ms
        from brian2.core.operations import NetworkOperation
        from brian2.devices.cpp_standalone.device import CPPStandaloneDevice
        gc.collect()   # free names of dead Brian objects (see _release_code_objects)
        dev = CPPStandaloneDevice()   # fresh instance: no state shared with other builds
        from brian2 import prefs as brian_prefs
        compile_args = list(brian_prefs["codegen.cpp.extra_compile_args_gcc"])
        prefs = {
            # unrolled loops: ~8 % less wall time for eRBP (speed benchmark, issue 13),
            # bit-identical results
            "codegen.cpp.extra_compile_args_gcc": compile_args + [
                flag for flag in ("-funroll-loops",) if flag not in compile_args],
            # 0 = compile without OpenMP (cheaper than OpenMP with one thread)
            "devices.cpp_standalone.openmp_threads": 0 if config.threads == 1 else int(config.threads),
            "devices.cpp_standalone.extra_make_args_unix": [f"-j{config.make_jobs}",
                                                            f"CXX={shlex.quote(cxx)}"],
        }
        env = {"CCACHE_BASEDIR": directory} if cxx.startswith("ccache") else {}
        with _brian_prefs(prefs), _active_device(dev, config.dt_ms * ms), _fast_random(config.random == "xoshiro"):
            net, handles = _call_construct(construct)
            objects = _all_objects(net)
            ops = [obj.name for obj in objects if isinstance(obj, NetworkOperation)]
            if ops:
                raise DeviceError(f"network_operation {', '.join(ops)} cannot run in cpp_standalone mode "
                                  "(Brian2 would silently skip it); express it in equations/"
                                  "run_regularly, or use DeviceConfig(kind='runtime')")
            queued = {entry[0] for entry in dev.main_queue}
            if "run_network" in queued:
                raise DeviceError("the construct function must not call run(): the device layer makes "
                                  "the single run per build (each extra run would duplicate the code)")
            if "seed" in queued:
                raise DeviceError("the construct function must not call seed(); pass the seed to "
                                  "CompiledNetwork.run(seed=...)")
            # A fixed Network name keeps the generated code identical between builds of one
            # architecture in one process (an auto-named second Network is "network_1",
            # which changes objects.h and defeats ccache); names only need to be unique
            # per device, and every build has its own device.
            net = Network(*net.objects, name="bioprop_network")
            seed_code, probe_code = _startup_code(dev, objects)
            dev.insert_code("after_start", seed_code)
            dev.insert_code("before_network_run", probe_code)
            net.run(duration, profile=config.profile)   # recorded only (build_on_run=False)
            try:
                with _environ(env):
                    # pitfall 1: pass the directory here, not to set_device
                    dev.build(directory=directory, compile=True, run=False, with_output=False)
            except RuntimeError as err:
                raise DeviceError(f"compiling the standalone project in {directory} failed: {err} "
                                  f"(run `make` there to see the compiler output)") from err
            _release_code_objects(dev, objects)
        compiled = cls(net, handles, duration, config, dev, directory, lock_fd)
        compiled.compile_seconds = dev.timers["compile"]["make"]
        return compiled


# --------------------------------------------------------------------------- build

def build(construct: Callable[[], tuple[Any, dict]], duration, config: DeviceConfig | None = None
          ) -> CompiledNetwork:
    """Construct and (for standalone) compile a network once; see the module docstring.

    construct : called without arguments after the device is selected and
        ``defaultclock.dt`` set; returns ``(brian2.Network, {name: handle})``.  Must
        neither call ``run`` nor ``seed``.
    duration : simulated time of every run (a Brian2 time quantity); compiled in.
    config : :class:`DeviceConfig` (default: standalone, fresh temporary directory).

    Raises :class:`DeviceError` for a missing compiler (unless ``config.fallback``), a
    NetworkOperation in standalone mode, a ``run``/``seed`` call inside construct and
    compilation failures.
    """
    config = config or DeviceConfig()
    duration = _as_duration(duration)
    if not callable(construct):
        raise DeviceError("construct must be a function returning (Network, handles)")
    if config.kind == "cpp_standalone":
        cxx = compiler_command(config.ccache)
        missing = [] if cxx else [os.environ.get("CXX", "").strip() or "g++"]
        if shutil.which("make") is None:
            missing.append("make")
        if missing:
            message = (f"no C++ compiler for Brian2's cpp_standalone device ({' and '.join(missing)} "
                       "not found). Install one with `apt-get install g++ make` (Debian/Ubuntu), "
                       "or use the runtime device (DeviceConfig(kind='runtime') / --device runtime)")
            if not config.fallback:
                raise DeviceError(message)
            warnings.warn(message + "; falling back to the runtime device", RuntimeWarning, stacklevel=2)
        else:
            return StandaloneNetwork.build(construct, duration, config, cxx)
    return RuntimeNetwork.build(construct, duration, config)

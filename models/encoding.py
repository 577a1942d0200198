"""Pixel intensities -> spike trains, for whole data sets in ONE simulation run.

Two encodings map an intensity ``x`` in [0, 1] to a firing rate in **Hz**:

* :func:`poisson_rates` -- Poisson rate coding, ``rate = max_rate_hz * x``.
* :func:`escape_noise_rates` -- the exponential escape-noise "data neuron" of eRBP
  (Neftci et al. 2017, Front. Neurosci. 11:324, Table 2, and the authors' Auryn code):
  hazard ``100 Hz * exp((I_in - 0.1) / 0.05)`` of the input current ``I_in = gain * x +
  offset``, a 4 ms absolute refractory period, and pixels equal to 0 silent.  The
  ``encoding`` names the gain and offset (:data:`ESCAPE_ENCODINGS`):

  - ``"auryn"`` (the paper's and the code's ``I_in = 0.5 x - 0.215``): a white pixel
    has a hazard of 100 Hz * exp(3.7) = 4044.7 Hz and, with the refractory period, fires
    at about 238 Hz; pixels below ~0.43 stay under 14 Hz, so gray levels are nearly
    binarised -- suited to MNIST's near-binary digits, the paper's only dataset;
  - ``"gray"`` (ours, ``I_in = 0.15 x + 0.065``): every non-zero pixel stays in the
    sloped part of the hazard (50 Hz at x -> 0, 997 Hz at x = 1, the effective rate
    from ~42 Hz to ~202 Hz), so gray-level images keep their contrast.

  :func:`renewal_rate` gives the mean firing rate of the simulated neuron and
  :func:`escape_input_activity` the inputs of a rate twin (the same rates, or sampled
  spike counts).

Stimulus layout
---------------
A sequence of samples is shown one after another: each *slot* lasts
``t_present + t_rest``; the sample's rates apply during the first ``t_present`` and
the rate is zero during the rest.  :func:`stimulus_timed_array` stores ONE row per slot
(a 2-D ``TimedArray`` of shape ``(n_samples, n_inputs)`` in Hz with ``dt = t_slot``)
and the rest is imposed by an exact integer time-step test in the input group's
equations::

    rate = stimulus(t, i) * int((timestep(t, dt) % n_slot) < n_present) : Hz

so 10,000 samples x 784 pixels are 7.8 M numbers (63 MB), not one row per time step.
In standalone mode the TimedArray's *values* can be replaced by a run_arg of the same
shape (``{"stimulus": new_rates * Hz}``, see :mod:`bioprop.models.device`), so each
epoch presents a new shuffled order without recompiling.  The number of slots, inputs
and the timing are compiled in.  After the last slot the TimedArray keeps its last
row, so the run duration should be ``n_samples * t_slot`` (:func:`stimulus_duration`).

Input neurons inside a rule's network
-------------------------------------
Spiking rules that keep all neurons in one ``NeuronGroup`` (one code object per step
instead of one per population) take their input neurons as equation pieces:

* escape-noise renewal neurons (eRBP's data and label neurons): the hazard is constant
  within a slot, so the spike train is a renewal process with intervals
  ``refractory + Exp(rate)``; each neuron holds its next spike time ``t_next``, drawn at
  each spike (:func:`renewal_reset`) and at each slot start (:func:`renewal_slot_start`,
  memoryless), and spikes when ``t >= t_next`` (:data:`RENEWAL_SPIKE`) -- no random
  number per neuron and step;
* Poisson neurons: :data:`POISSON_SPIKE`, one Bernoulli draw per step;
* clamped currents: a per-slot TimedArray (:func:`slot_timed_array` with a current
  unit) read as ``I_clamp = clamp(t, i)``.

The per-slot values (rates in Hz, currents in amp) come as run_args of one row per slot.

Input groups
------------
:func:`input_group` builds a ``NeuronGroup`` with ``threshold='rand() < rate*dt'``
(one Bernoulli draw per neuron and step, i.e. Poisson spiking for ``rate*dt << 1``;
rates above ``1/dt`` saturate at one spike per step).  ``PoissonGroup(n,
rates='stimulus(t, i) * ...')`` (``kind="poisson_group"``) is no cheaper in standalone
mode: Brian2 generates the same C++ thresholder for both (only the name ``rate`` vs
``rates`` differs), and 30 s of 784 inputs (200 samples of 100 + 50 ms, dt 0.1 ms,
1 thread) ran in 1.5-2.4 s with either (best of 4: 1.48 s vs 1.60 s, a loaded 2-core
machine).  The NeuronGroup is therefore used for both encodings: only it supports the
refractory period of the escape-noise neuron, and it can carry extra variables.
"""
from __future__ import annotations

import numpy as np

from .errors import ParameterError

__all__ = [
    "ESCAPE_RATE0_HZ", "ESCAPE_THRESHOLD", "ESCAPE_WIDTH", "ESCAPE_GAIN", "ESCAPE_OFFSET",
    "ESCAPE_REFRACTORY_MS", "ESCAPE_ENCODINGS", "check_pixels", "poisson_rates",
    "escape_noise_current", "escape_noise_hazard", "escape_noise_rates",
    "escape_noise_effective_rate", "renewal_rate", "escape_input_activity", "encode",
    "stimulus_timed_array", "stimulus_duration",
    "slot_steps", "input_group", "slot_timed_array", "RENEWAL_SPIKE", "POISSON_SPIKE",
    "renewal_reset", "renewal_slot_start",
]

#: escape-noise data neuron of eRBP (Neftci et al. 2017, Table 2)
ESCAPE_RATE0_HZ = 100.0      #: rate at I_in = threshold, Hz
ESCAPE_THRESHOLD = 0.1       #: I_in at which the rate is ESCAPE_RATE0_HZ
ESCAPE_WIDTH = 0.05          #: exponential slope of the escape rate
ESCAPE_GAIN = 0.5            #: I_in = ESCAPE_GAIN * pixel + ESCAPE_OFFSET
ESCAPE_OFFSET = -0.215
ESCAPE_REFRACTORY_MS = 4.0   #: absolute refractory period, ms
#: ``encoding -> (gain, offset)`` of ``I_in = gain * pixel + offset`` (module docstring):
#: "auryn" is Table 2 and the authors' code; "gray" (ours) maps (0, 1] onto hazards of
#: 50-997 Hz, the sloped part of the exponential below the refractory limit
ESCAPE_ENCODINGS = {"auryn": (ESCAPE_GAIN, ESCAPE_OFFSET), "gray": (0.15, 0.065)}


def check_pixels(pixels) -> np.ndarray:
    """Pixels as a float64 array; raise ParameterError unless all are finite and in [0, 1]."""
    x = np.asarray(pixels, dtype=np.float64)
    if x.size and (not np.all(np.isfinite(x)) or x.min() < 0.0 or x.max() > 1.0):
        raise ParameterError(f"pixel intensities must lie in [0, 1]; got range "
                             f"[{np.nanmin(x):.4g}, {np.nanmax(x):.4g}]")
    return x


def poisson_rates(pixels, max_rate_hz: float = 100.0) -> np.ndarray:
    """Poisson rate coding: ``max_rate_hz * pixel``, in Hz (same shape as ``pixels``)."""
    if not max_rate_hz >= 0:
        raise ParameterError(f"max_rate_hz must be >= 0, got {max_rate_hz!r}")
    return check_pixels(pixels) * float(max_rate_hz)


def _escape_encoding(encoding: str) -> tuple[float, float]:
    if encoding not in ESCAPE_ENCODINGS:
        raise ParameterError(f"encoding must be one of {', '.join(map(repr, ESCAPE_ENCODINGS))}; "
                             f"got {encoding!r}")
    return ESCAPE_ENCODINGS[encoding]


def escape_noise_current(pixels, encoding: str = "auryn") -> np.ndarray:
    """Input current ``I_in = gain * pixel + offset`` (dimensionless, as Table 2) of the
    data neurons under ``encoding`` (:data:`ESCAPE_ENCODINGS`)."""
    gain, offset = _escape_encoding(encoding)
    return gain * check_pixels(pixels) + offset


def escape_noise_hazard(current) -> np.ndarray:
    """Hazard rate (Hz) ``100 Hz * exp((I_in - 0.1) / 0.05)`` of an escape-noise neuron
    with input current ``I_in`` (Table 2)."""
    return ESCAPE_RATE0_HZ * np.exp((np.asarray(current, float) - ESCAPE_THRESHOLD) / ESCAPE_WIDTH)


def escape_noise_rates(pixels, encoding: str = "auryn") -> np.ndarray:
    """Hazard rate (Hz) of the eRBP escape-noise data neuron; zero pixels give 0 Hz.

    ``escape_noise_hazard(escape_noise_current(pixel, encoding))`` for pixel > 0, else 0
    (``"auryn"``: ``100 Hz * exp((0.5 * pixel - 0.215 - 0.1) / 0.05)``).  This is the
    instantaneous rate outside the refractory period; the observed firing rate is lower
    (:func:`renewal_rate`).
    """
    x = check_pixels(pixels)
    return np.where(x > 0, escape_noise_hazard(escape_noise_current(x, encoding)), 0.0)


def _dead_time_rate(p_step, refractory_ms: float, dt_ms: float) -> np.ndarray:
    """Mean rate (Hz) of a discrete-time neuron that spikes with probability ``p_step``
    per step outside a dead time of ``n_ref - 1`` steps after each spike
    (``n_ref = refractory/dt``): the mean inter-spike interval is
    ``(n_ref - 1 + 1/p) * dt``, the shortest ``n_ref`` steps."""
    dt = dt_ms * 1e-3
    n_ref = int(round(refractory_ms / dt_ms))
    p = np.asarray(p_step, float)
    with np.errstate(divide="ignore"):
        isi = (max(n_ref - 1, 0) + 1.0 / p) * dt
    return np.where(p > 0, 1.0 / isi, 0.0)


def escape_noise_effective_rate(pixels, dt_ms: float = 0.1,
                                refractory_ms: float = ESCAPE_REFRACTORY_MS,
                                encoding: str = "auryn") -> np.ndarray:
    """Mean firing rate (Hz) of a Bernoulli escape-noise neuron under constant input
    (:func:`input_group` with ``refractory``): it spikes with probability
    ``p = min(rate*dt, 1)`` per step and, after a spike, cannot spike for the next
    ``n_ref - 1`` steps (``n_ref = refractory/dt``)."""
    p = np.minimum(escape_noise_rates(pixels, encoding) * dt_ms * 1e-3, 1.0)
    return _dead_time_rate(p, refractory_ms, dt_ms)


def renewal_rate(hazard, refractory_ms: float = ESCAPE_REFRACTORY_MS,
                 dt_ms: float = 0.1) -> np.ndarray:
    """Mean firing rate (Hz) of the renewal input neuron (:func:`renewal_reset`) at a
    constant hazard (Hz): after a spike the next comes ``refractory - dt`` plus an
    exponential interval later, at the first step at or after it, so the interval in
    steps is ``n_ref - 1`` plus a geometric number with ``p = 1 - exp(-hazard * dt)``
    (as Auryn's ``SRM0Group``: shortest interval ``refractory / dt`` steps)."""
    p = -np.expm1(-np.asarray(hazard, float) * dt_ms * 1e-3)
    return _dead_time_rate(p, refractory_ms, dt_ms)


def escape_input_activity(pixels, encoding: str = "auryn", counts_window_ms: float | None = None,
                          rng: np.random.Generator | None = None) -> np.ndarray:
    """The data neurons' activity as a rate network's input, in units of a white pixel's
    rate: :func:`renewal_rate` of each pixel's hazard divided by that of a white pixel
    (values in [0, 1]).  With ``counts_window_ms`` the activity is sampled: Poisson
    spike counts over that window (``rng`` draws them), divided by the white pixel's
    expected count, so the rate network sees the count noise of one presentation."""
    white = float(renewal_rate(escape_noise_rates(1.0, encoding)))
    activity = renewal_rate(escape_noise_rates(pixels, encoding)) / white
    if counts_window_ms is None:
        return activity
    if rng is None:
        raise ParameterError("escape_input_activity needs rng to sample spike counts")
    expected = white * counts_window_ms * 1e-3
    if not expected > 0:
        raise ParameterError(f"counts_window_ms must be > 0 ms, got {counts_window_ms!r}")
    return rng.poisson(activity * expected) / expected


def encode(pixels, encoding: str = "poisson", max_rate_hz: float = 100.0) -> np.ndarray:
    """Rates in Hz for ``encoding`` ``"poisson"`` (uses ``max_rate_hz``) or ``"escape"``."""
    if encoding == "poisson":
        return poisson_rates(pixels, max_rate_hz)
    if encoding == "escape":
        return escape_noise_rates(pixels)
    raise ParameterError(f"unknown encoding {encoding!r}; choose 'poisson' or 'escape'")


def _ms(value, name):
    """A duration as float ms: accepts Brian2 time quantities or plain numbers (ms)."""
    from brian2 import Quantity, ms, second
    from brian2.units.fundamentalunits import have_same_dimensions
    if isinstance(value, Quantity):
        if not have_same_dimensions(value, second):
            raise ParameterError(f"{name} must be a time, got {value!r}")
        return float(value / ms)
    return float(value)


def slot_steps(t_present, t_rest, dt) -> tuple[int, int]:
    """``(n_present, n_slot)``: presentation and slot length in whole time steps.

    Times are Brian2 quantities or plain numbers in ms.  Raises ParameterError unless
    both are (to 1e-6) whole multiples of ``dt`` and ``t_present > 0``, ``t_rest >= 0``.
    """
    p, r, d = _ms(t_present, "t_present"), _ms(t_rest, "t_rest"), _ms(dt, "dt")
    if not (d > 0 and p > 0 and r >= 0):
        raise ParameterError(f"need dt > 0, t_present > 0, t_rest >= 0; got {d}, {p}, {r} ms")
    n_present, n_rest = round(p / d), round(r / d)
    if abs(n_present * d - p) > 1e-6 * d or abs(n_rest * d - r) > 1e-6 * d:
        raise ParameterError(f"t_present ({p} ms) and t_rest ({r} ms) must be multiples of dt ({d} ms)")
    return int(n_present), int(n_present + n_rest)


def stimulus_timed_array(rates_hz, t_present, t_rest, name: str = "stimulus", dt=None):
    """A 2-D TimedArray (one row per sample slot, values in Hz, ``dt = t_present + t_rest``).

    rates_hz : array ``(n_samples, n_inputs)`` of rates in Hz (e.g. from :func:`encode`),
        or a Brian2 quantity in Hz.
    t_present, t_rest : Brian2 time quantities (or plain numbers in ms), whole
        multiples of the simulation time step ``dt`` (default: ``defaultclock.dt``).
    The gating to zero during ``t_rest`` is done by :func:`input_group`'s equations.
    Brian2 may log "time grids not aligned" for slots such as 150 ms at dt = 0.1 ms
    (no float64 ``x`` has ``x / 1e-4 == 1500`` exactly); it is harmless here: the
    TimedArray lookup rounds with a half-step margin, so row ``k`` is used exactly for
    steps ``k*n_slot ... (k+1)*n_slot - 1`` (checked by the tests).
    In standalone mode replace the values per run with a run_arg of the same shape.
    """
    from brian2 import Hz, TimedArray, defaultclock, second
    from brian2.units.fundamentalunits import DIMENSIONLESS, get_dimensions
    if get_dimensions(rates_hz) not in (DIMENSIONLESS, Hz.dim):
        raise ParameterError(f"rates must be in Hz (or plain numbers meaning Hz), got {rates_hz!r}")
    values = np.ascontiguousarray(np.asarray(rates_hz, dtype=np.float64))
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 1:
        raise ParameterError(f"rates must be a 2-D array (n_samples, n_inputs), got shape {values.shape}")
    if not np.all(np.isfinite(values)) or values.min() < 0:
        raise ParameterError("rates must be finite and >= 0")
    dt = defaultclock.dt if dt is None else dt
    _, n_slot = slot_steps(t_present, t_rest, dt)
    slot = n_slot * (_ms(dt, "dt") * 1e-3)
    return TimedArray(values * Hz, dt=slot * second, name=name)


def stimulus_duration(n_samples: int, t_present, t_rest):
    """Run duration that shows each of ``n_samples`` slots exactly once (Brian2 quantity)."""
    from brian2 import ms
    return int(n_samples) * (_ms(t_present, "t_present") + _ms(t_rest, "t_rest")) * ms


def input_group(stimulus, t_present, t_rest, refractory=None, dt=None, name: str = "inp",
                kind: str = "neurongroup"):
    """Input spike sources driven by ``stimulus`` (from :func:`stimulus_timed_array`).

    One neuron per column of the stimulus.  Neuron ``i`` fires with rate
    ``stimulus(t, i)`` during the first ``t_present`` of every slot and is silent in
    the remaining ``t_rest``.  ``refractory`` (a time, e.g. ``4*ms`` for the
    escape-noise neuron; ``None`` for Poisson inputs) adds an absolute refractory
    period.  ``dt`` defaults to the current ``defaultclock.dt`` (call this inside the
    construct function of :func:`bioprop.models.device.build`).  ``kind="poisson_group"``
    returns the equivalent ``PoissonGroup`` (no refractoriness), kept for comparisons.
    """
    from brian2 import NeuronGroup, PoissonGroup, defaultclock
    from brian2.input.timedarray import TimedArray
    if not isinstance(stimulus, TimedArray) or stimulus.values.ndim != 2:
        raise ParameterError("stimulus must be a 2-D TimedArray from stimulus_timed_array()")
    clock_args = {} if dt is None else {"dt": dt}   # None: share defaultclock
    dt = defaultclock.dt if dt is None else dt
    n_present, n_slot = slot_steps(t_present, t_rest, dt)
    slot_ms = _ms(t_present, "t_present") + _ms(t_rest, "t_rest")
    if abs(float(stimulus.dt) * 1e3 - slot_ms) > 1e-9 * slot_ms:
        raise ParameterError(f"stimulus dt ({float(stimulus.dt) * 1e3} ms) must equal "
                             f"t_present + t_rest ({slot_ms} ms)")
    n = stimulus.values.shape[1]
    gate = f"int((timestep(t, dt) % {n_slot}) < {n_present})"
    namespace = {stimulus.name: stimulus}
    if kind == "poisson_group":
        if refractory is not None:
            raise ParameterError("PoissonGroup has no refractory period; use kind='neurongroup'")
        return PoissonGroup(n, rates=f"{stimulus.name}(t, i) * {gate}", name=name,
                            namespace=namespace, **clock_args)
    if kind != "neurongroup":
        raise ParameterError(f"unknown input group kind {kind!r}")
    eqs = f"rate = {stimulus.name}(t, i) * {gate} : Hz"
    extra = {} if refractory is None else {"refractory": refractory}
    return NeuronGroup(n, eqs, threshold="rand() < rate * dt", name=name, namespace=namespace,
                       **clock_args, **extra)


#: threshold condition of a renewal input neuron (holds ``t_next : second``)
RENEWAL_SPIKE = "t >= t_next"
#: threshold condition of a Poisson input neuron with ``rate : Hz``
POISSON_SPIKE = "rand() < rate * dt"


def renewal_reset(rates: str = "rates", index: str = "i", refractory: str = "data_refractory",
                  gate: str | None = None) -> str:
    """Reset statement of an escape-noise renewal neuron: the next spike comes at the
    first step at or after ``refractory - dt`` plus an exponential interval at the slot's
    hazard ``rates(t, index)`` (a 2-D TimedArray in Hz): the spike's own step counts
    towards the refractory period, so the shortest interval is ``refractory / dt`` steps,
    as in Auryn's ``SRM0Group`` (:func:`renewal_rate`).  ``gate`` (an expression equal to
    1 for input neurons and 0 for the others) lets the statement sit in a group that
    holds other neurons too; the ``1e-30*Hz`` keeps silent inputs (rate 0) silent."""
    draw = (f"t + clip({refractory} - dt, 0*dt, {refractory})"
            f" - log(1 - rand()) / ({rates}(t, {index}) + 1e-30*Hz)")
    if gate is None:
        return f"t_next = {draw}"
    return f"t_next = t_next + {gate} * ({draw} - t_next)"


def renewal_slot_start(rates: str = "rates", index: str = "i") -> str:
    """Statement run at the start of each slot (``run_regularly(dt=t_slot,
    when="start")`` on the input neurons): the new slot's hazard applies at once, and
    the exponential interval is memoryless, so the next spike time is redrawn."""
    return f"t_next = t - log(1 - rand()) / ({rates}(t, {index}) + 1e-30*Hz)"


def slot_timed_array(n_slots: int, n_columns: int, t_slot, unit, name: str):
    """A zero 2-D TimedArray of one row per slot (``dt = t_slot``) in ``unit`` (Hz for
    rates, amp for clamp currents); its values come as run_args of each run."""
    from brian2 import TimedArray
    return TimedArray(np.zeros((int(n_slots), int(n_columns))) * unit, dt=t_slot, name=name)

"""The shared base of every spiking rule: samples in slots, phases within a slot, records.

A spiking rule supplies only its network -- a layout (named populations of one
counting ``NeuronGroup``), equations as module-level strings beside the paper, a
construct function and the run_args of one run -- and derives from
:class:`SlotPresentationRule`, which owns the rest:

* **Sample slots.**  One compiled build presents ``chunk_slots`` samples one after
  another, each in a slot of the schedule's duration; an epoch is a sequence of runs
  of that build, the last chunk padded with blank slots whose counts are dropped.
  Per-slot inputs (input rates, clamp currents) are TimedArray rows passed as run_args;
  weights go in as run_args and are read back after a learning run; every run gets a
  seed from the rule's generator.  Builds are cached per chunk size.
* **Phases within a slot** (:class:`PhaseSchedule`): named phases with durations,
  compiled into the equations as functions of slot time -- eRBP's settle window,
  event-driven CD's burn-in / data / burn-in / reconstruction with g(t) = 0/+1/0/-1,
  GAIT-Prop's free and nudged phases.
* **Spike counts per slot** by population, from a ``StateMonitor`` of the group's
  ``count`` variable once per slot (:func:`slot_counter`).
* **Records** every spiking rule writes (names, dimensions and coordinates owned by
  :mod:`bioprop.models.schema`): firing rate by population, synaptic events per sample
  and wall time per sample, for the training and the test presentation.

Reusable pieces of equations: :func:`stochastic_release` (blank-out synapses) and
:class:`QuantizationGrid` (stochastic rounding of weights to a grid).  Input neurons
(escape-noise renewal, Poisson, clamped currents) live in :mod:`bioprop.models.encoding`.

The shape follows Nengo's generic ``build_learning_rule`` (shared wiring here,
per-rule construction in the rule modules).
"""
from __future__ import annotations

import abc
import re
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .. import schema
from ..errors import ParameterError
from ..rules import EpochResult, LearningRule

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


# --------------------------------------------------------------------------- phases

class PhaseSchedule:
    """Named phases that divide every sample slot, compiled into the equations.

    ``phases`` is a sequence of ``(name, duration)`` with Brian2 time quantities
    (durations may be zero; their sum, the slot duration, must be positive).  In the
    equations, :meth:`expression` gives a value per phase as a function of ``t``::

        schedule = PhaseSchedule([("burn_in", 10*ms), ("data", 40*ms),
                                  ("burn_in_2", 10*ms), ("reconstruction", 40*ms)])
        g = schedule.expression({"data": 1, "reconstruction": -1})   # 0 elsewhere
        # "0.0 + 1.0*int((timestep(t, dt) % slot_steps) >= phase_step_data) + ..."
        NeuronGroup(..., namespace={**schedule.namespace(dt), ...})

    Phase boundaries are whole time steps, compared in integer arithmetic (the step
    within the slot), so every slot switches at exactly the same steps; comparing
    ``t % t_slot`` in floating point instead puts a boundary one step late in some
    slots.  :meth:`phase_index` does the same in NumPy.  Values and boundaries are
    compiled in: a new schedule needs a new build.
    """

    def __init__(self, phases: Sequence[tuple[str, object]]):
        from brian2 import Quantity, second
        from brian2.units.fundamentalunits import have_same_dimensions
        if not phases:
            raise ParameterError("a phase schedule needs at least one phase")
        names, durations = [], []
        for name, duration in phases:
            if not isinstance(name, str) or not _NAME.fullmatch(name) or name in names:
                raise ParameterError(f"phase names must be distinct identifiers; got {name!r}")
            if not (isinstance(duration, Quantity) and have_same_dimensions(duration, second)
                    and np.ndim(duration) == 0 and float(duration) >= 0):
                raise ParameterError(f"phase {name!r}: duration must be a time >= 0 (e.g. 50*ms); "
                                     f"got {duration!r}")
            names.append(name)
            durations.append(duration)
        if float(sum(durations)) <= 0:
            raise ParameterError("a phase schedule needs a positive total duration")
        self.names = tuple(names)
        self.durations = tuple(durations)
        starts, total = [], 0 * second
        for duration in durations:
            starts.append(total)
            total = total + duration
        #: start of each phase within the slot (the first phase starts at 0)
        self.starts = tuple(starts)

    def __repr__(self):
        return "PhaseSchedule(" + ", ".join(f"{n}={d}" for n, d in zip(self.names, self.durations)) + ")"

    def steps(self, dt) -> list[int]:
        """Duration of each phase in whole time steps of ``dt``; ParameterError unless
        every duration is a multiple of ``dt`` (to 1e-6 of a step)."""
        out = []
        for name, duration in zip(self.names, self.durations):
            n = float(duration) / float(dt)
            if abs(n - round(n)) > 1e-6:
                raise ParameterError(f"phase {name!r}: duration {duration} is not a whole number of "
                                     f"time steps (dt = {dt})")
            out.append(int(round(n)))
        return out

    def slot_steps(self, dt) -> int:
        """Time steps per slot."""
        return sum(self.steps(dt))

    def slot_duration(self, dt):
        """Duration of one slot, as a whole number of time steps."""
        from brian2 import second
        return self.slot_steps(dt) * float(dt) * second

    def start_steps(self, dt) -> list[int]:
        """The step within the slot at which each phase starts."""
        return list(np.cumsum([0] + self.steps(dt)[:-1]))

    def namespace(self, dt) -> dict:
        """The names :meth:`expression` uses: ``slot_steps`` and ``phase_step_<name>``."""
        space = {"slot_steps": self.slot_steps(dt)}
        for name, start in zip(self.names[1:], self.start_steps(dt)[1:]):
            space[f"phase_step_{name}"] = int(start)
        return space

    def expression(self, values: Mapping[str, float], default: float = 0.0) -> str:
        """An expression that equals ``values[name]`` during phase ``name`` (``default``
        in phases not named), as a sum of steps at the phase boundaries."""
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ParameterError(f"unknown phase(s) {', '.join(unknown)}; phases: {', '.join(self.names)}")
        per_phase = [float(values.get(name, default)) for name in self.names]
        terms = [repr(per_phase[0])]
        for k, name in enumerate(self.names[1:], start=1):
            jump = per_phase[k] - per_phase[k - 1]
            if jump != 0:
                terms.append(f"{jump!r}*int((timestep(t, dt) % slot_steps) >= phase_step_{name})")
        return " + ".join(terms)

    def index_expression(self) -> str:
        """An expression giving the index of the current phase (0 = first)."""
        return self.expression({name: k for k, name in enumerate(self.names)})

    def phase_index(self, t_seconds, dt) -> np.ndarray:
        """The phase index at simulation times ``t_seconds`` (NumPy, as the network sees it)."""
        step = np.round(np.asarray(t_seconds, float) / float(dt)).astype(np.int64) % self.slot_steps(dt)
        return np.searchsorted(self.start_steps(dt), step, side="right") - 1


# --------------------------------------------------------------------------- synapse pieces

_INCREMENT = re.compile(r"^\s*(?P<target>\w+)\s*(?P<op>\+=|-=)\s*(?P<expr>.+?)\s*$")


def stochastic_release(on_pre: str, p_release: str, *, reliable: Sequence[str] = (),
                       flag: str = "released") -> str:
    """Blank-out synapses (Goldberg et al. 2001; eRBP Sec. 2.3.3; S2M Sec. 2.2).

    Each presynaptic event is transmitted, and learns, with probability
    ``p_release`` (an expression, e.g. ``"p_release"`` or ``"p_rel_post"``): one
    Bernoulli draw per event and synapse, ``flag = int(rand() < p_release)``, multiplies
    every increment ``x += expr`` of ``on_pre``, except increments of the variables
    named in ``reliable`` (e.g. a feedback pathway that always transmits).  Only
    ``+=``/``-=`` statements are allowed, so that "not released" means "no effect".
    """
    lines = [f"{flag} = int(rand() < {p_release})"]
    for line in on_pre.strip().splitlines():
        match = _INCREMENT.match(line)
        if match is None:
            raise ValueError(f"stochastic_release takes increments (x += expr) only; got {line!r}")
        if match["target"] in reliable:
            lines.append(line.strip())
        else:
            lines.append(f"{match['target']} {match['op']} {match['expr']} * {flag}")
    return "\n".join(lines)


@dataclass(frozen=True)
class QuantizationGrid:
    """Limited weight precision: ``levels`` values ``k * delta``, ``k_min <= k <= k_max``,
    zero included, spanning ``[-w_max, w_max)`` (``delta = w_max / (levels // 2)``).

    After every update a weight is rounded stochastically to a neighbouring grid point
    with probabilities that make the rounding unbiased (E[rounded] = w inside the grid;
    Gupta et al. 2015), the limited-precision setting of eRBP's and S2M's robustness
    experiments.  ``w_max`` is a Brian2 quantity (the weight's unit) or a number.
    """

    levels: int
    w_max: object

    def __post_init__(self):
        if isinstance(self.levels, bool) or not isinstance(self.levels, (int, np.integer)) or self.levels < 2:
            raise ParameterError(f"weight_levels must be an integer >= 2 (or 0 = off); got {self.levels!r}")
        if not float(self.w_max) > 0:
            raise ParameterError(f"weight_max must be positive; got {self.w_max!r}")

    @property
    def delta(self):
        return self.w_max / (self.levels // 2)

    @property
    def k_min(self) -> int:
        return -(self.levels // 2)

    @property
    def k_max(self) -> int:
        return (self.levels - 1) // 2

    def nearest(self, w: np.ndarray) -> np.ndarray:
        """``w`` rounded to the nearest grid point; plain numbers in the unit of ``w_max``
        (SI when ``w_max`` is a Brian2 quantity)."""
        delta = float(self.delta)
        return np.clip(np.round(np.asarray(w) / delta), self.k_min, self.k_max) * delta

    def namespace(self) -> dict:
        return {"delta_w": self.delta, "w_lo": self.k_min * self.delta, "w_hi": self.k_max * self.delta}

    @staticmethod
    def rounding(variable: str = "w", when: str = "1") -> str:
        """A statement that rounds ``variable`` stochastically to the grid where the
        condition ``when`` holds (e.g. only where an update happened)."""
        return (f"{variable} = {variable} + int({when}) * "
                f"(clip(floor({variable} / delta_w + rand()) * delta_w, w_lo, w_hi) - {variable})")


# --------------------------------------------------------------------------- counting

def slot_counter(group, t_slot, name: str = "counts"):
    """A monitor of ``group.count`` (an integer incremented on every spike) at the start
    of every slot: successive differences are the spike counts per slot."""
    from brian2 import StateMonitor
    return StateMonitor(group, "count", record=True, dt=t_slot, when="start", name=name)


# --------------------------------------------------------------------------- the base rule

@dataclass
class Presentation:
    """What one presentation of ``n`` samples produced."""

    counts: np.ndarray      #: spike counts per sample, ``(n, n_neurons)``
    wall_seconds: float
    slots_per_sample: int = 1

    @property
    def n(self) -> int:
        return len(self.counts)


class SlotPresentationRule(LearningRule):
    """Base of spiking rules whose network counts spikes in one ``NeuronGroup``.

    A subclass sets, in ``__init__``, ``self.populations`` (``[(name, start, stop)]``
    slices of the counting group), ``self.out_degree`` (expected transmitted synaptic
    events per spike of each neuron) and ``self.schedule`` (its :class:`PhaseSchedule`),
    and implements :meth:`construct`, :meth:`slot_inputs`, :meth:`state_run_args`,
    :meth:`read_state` and :meth:`classify`.  Its parameters include ``chunk_slots``.

    The construct function's network has a group handle ``net`` with an integer
    ``count`` incremented on every spike, and :func:`slot_counter` on it as ``counts``.
    """

    family = "spiking"
    train_eval_limit = 1000
    #: consecutive slots each test sample is shown for (counts are summed over them)
    readout_slots = 1
    #: the population classified from; a rule without one is checked for silence as a whole
    readout_population = "output"
    #: builds, presentations and the network's fixed layout are rebuilt by a resumed rule
    checkpoint_exclude = LearningRule.checkpoint_exclude + (
        "_builds", "_train_presentation", "_test_presentation", "schedule", "layout")
    populations: list[tuple[str, int, int]]
    out_degree: np.ndarray
    schedule: PhaseSchedule

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._builds = {}
        self._train_presentation: Presentation | None = None
        self._test_presentation: Presentation | None = None

    # ------------------------------------------------------------ what a rule supplies
    @abc.abstractmethod
    def construct(self, n_slots: int):
        """The construct function (:func:`bioprop.models.device.build`) for ``n_slots``."""

    @abc.abstractmethod
    def slot_inputs(self, x: np.ndarray, y: np.ndarray, learning: bool) -> dict[str, np.ndarray]:
        """Per-slot inputs: ``{TimedArray handle: (n_samples, n_columns) quantity}``."""

    @abc.abstractmethod
    def state_run_args(self, learning: bool) -> dict:
        """run_args other than the per-slot inputs (weights, the learning flag)."""

    @abc.abstractmethod
    def read_state(self, compiled) -> None:
        """Read the learned state (weights) back after a learning run."""

    @abc.abstractmethod
    def classify(self, counts: np.ndarray) -> np.ndarray:
        """Class labels from the spike counts per test slot ``(n, n_neurons)``."""

    # ------------------------------------------------------------ building
    def device_config(self):
        from ..device import DeviceConfig
        return self.device if self.device is not None else DeviceConfig()

    def _build(self, n_samples):
        """The compiled network for chunks of K slots (standalone: always chunk_slots;
        runtime, where a build is cheap: min(chunk_slots, n_samples) to avoid padding)."""
        from ..device import build
        config = self.device_config()
        k = self.params["chunk_slots"]
        if config.kind == "runtime":
            k = min(k, n_samples)
            if k not in self._builds and self._builds:
                # reuse a larger existing build rather than make a new one when cheap
                larger = [b for b in self._builds if k <= b <= 2 * k]
                if larger:
                    k = min(larger)
        if k not in self._builds:
            from brian2 import ms
            duration = k * self.schedule.slot_duration(config.dt_ms * ms)
            self._builds[k] = build(self.construct(k), duration, config)
        return k, self._builds[k]

    # ------------------------------------------------------------ presenting
    def present(self, x, y, learning: bool, slots_per_sample: int = 1) -> Presentation:
        """Present every row of ``x`` for one slot, in chunks of slots; labels ``y`` are
        used by rules that show them while learning.  ``slots_per_sample`` consecutive
        rows are one sample (the progress bar counts samples)."""
        x, y = np.asarray(x), np.asarray(y)
        n = len(x)
        k, compiled = self._build(n)
        inputs = self.slot_inputs(x, y, learning)
        counts = []
        n_chunks = -(-n // k)
        bar = None
        if n_chunks > 1 and self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=n // slots_per_sample, unit="sample", leave=False, mininterval=10,
                       desc=f"{self.name} {'train' if learning else 'test'}")
        start = time.perf_counter()
        for c in range(n_chunks):
            rows = slice(c * k, min((c + 1) * k, n))
            run_args = {handle: _padded(values[rows], k) for handle, values in inputs.items()}
            run_args.update(self.state_run_args(learning))
            compiled.run(run_args, seed=int(self.rng.integers(2 ** 31)))
            if learning:
                self.read_state(compiled)
            rec = compiled.get("counts.count")
            final = np.asarray(compiled.get("net.count"))
            rec = np.asarray(rec).reshape(-1, final.size)[:k]
            cum = np.concatenate([rec, final[None, :]]).astype(np.int64)
            counts.append(np.diff(cum, axis=0)[:rows.stop - rows.start])
            if bar is not None:
                bar.update(rows.stop // slots_per_sample - bar.n)
        if bar is not None:
            bar.close()
        return Presentation(np.concatenate(counts), time.perf_counter() - start)

    def _records(self, presentation: Presentation):
        """(synaptic events per sample, firing rate per population in Hz, ms per sample,
        sparseness and active fraction per population)."""
        c_net, n = presentation.counts, presentation.n
        synops = float(np.mean(c_net @ self.out_degree)) if n else float("nan")
        seconds = n * presentation.slots_per_sample * float(self.schedule.slot_duration(self._dt()))
        rates = [c_net[:, a:b].sum() / ((b - a) * seconds) if n else np.nan
                 for _name, a, b in self.populations]
        sparse = np.array([schema.population_sparseness(c_net[:, a:b]) for _name, a, b in self.populations])
        return synops, np.array(rates), 1e3 * presentation.wall_seconds / max(n, 1), sparse

    def _dt(self):
        from brian2 import ms
        return self.device_config().dt_ms * ms

    # ------------------------------------------------------------ the rule contract
    def train_epoch(self, x, y):
        # No online predictions: the label drives learning during the presentation
        # being scored, which inflates accuracy.
        self._train_presentation = self.present(x, y, learning=True)
        return EpochResult()

    def present_test(self, x) -> Presentation:
        """Present ``x`` with learning off, each sample for :attr:`readout_slots`
        consecutive slots, counts summed per sample."""
        r = int(self.readout_slots)
        shown = self.present(np.repeat(np.asarray(x), r, axis=0), np.zeros(len(x) * r, int),
                             learning=False, slots_per_sample=r)
        counts = shown.counts.reshape(len(x), r, -1).sum(axis=1)
        return Presentation(counts, shown.wall_seconds, r)

    def record_spikes(self, x, repeats: int = 1, seed: int = 0) -> dict:
        """Every spike of a test presentation of ``x`` (learning off), each sample shown
        ``repeats`` times in a row (its :attr:`readout_slots` each time), for rasters,
        ISI and count statistics.

        Runs a runtime-device copy of the network with a ``SpikeMonitor`` on ``net``
        (a few samples: no compile), so its noise differs from a standalone run's.
        Returns ``times`` (s, from the start of the presentation) and ``neurons``
        (indices into ``net``) of each spike, ``sample`` and ``repeat`` of each
        presentation, its ``start`` time (s) and ``duration`` (s)."""
        from brian2 import SpikeMonitor, ms
        from ..device import DeviceConfig, build
        if int(repeats) < 1:
            raise ParameterError(f"repeats must be a positive integer; got {repeats!r}")
        x = np.asarray(x)
        shown = np.repeat(np.arange(len(x)), int(repeats))
        r = int(self.readout_slots)
        n_slots = len(shown) * r
        construct = self.construct(n_slots)

        def monitored():
            network, handles = construct()
            monitor = SpikeMonitor(handles["net"], name="spike_monitor")
            network.add(monitor)
            return network, {**handles, "spike_monitor": monitor}
        dt_ms = self.device_config().dt_ms
        slot = self.schedule.slot_duration(dt_ms * ms)
        compiled = build(monitored, n_slots * slot, DeviceConfig(kind="runtime", dt_ms=dt_ms))
        try:
            slot_x = np.repeat(x[shown], r, axis=0)
            run_args = dict(self.slot_inputs(slot_x, np.zeros(n_slots, int), learning=False))
            run_args.update(self.state_run_args(False))
            compiled.run(run_args, seed=int(seed))
            times, neurons = compiled.get("spike_monitor.t"), compiled.get("spike_monitor.i")
        finally:
            compiled.cleanup()
        return {"times": times, "neurons": neurons.astype(np.int64), "sample": shown,
                "repeat": np.tile(np.arange(int(repeats)), len(x)),
                "start": np.arange(len(shown)) * r * float(slot), "duration": r * float(slot)}

    def population_counts(self, x) -> dict[str, np.ndarray]:
        """Spike counts per presentation of ``x`` with learning off: population name ->
        array (n_samples, n_neurons), e.g. to decode what a hidden layer represents."""
        counts = self.present_test(x).counts
        return {name: counts[:, a:b] for name, a, b in self.populations}

    def predict(self, x):
        return self.classify(self.present_test(x).counts)

    def evaluate(self, x):
        """Test predictions, and this epoch's records of the training and the test
        presentation (:func:`bioprop.models.schema.spiking_records`)."""
        test = self._test_presentation = self.present_test(x)
        train_rec, test_rec = self._records(self._train_presentation), self._records(test)
        records = schema.spiking_records(
            firing_rate_hz=np.vstack([train_rec[1], test_rec[1]]),
            synops_per_sample=[train_rec[0], test_rec[0]],
            wall_ms_per_sample=[train_rec[2], test_rec[2]],
            device_kind=self.device_config().kind,
            sparseness=[train_rec[3][:, 0], test_rec[3][:, 0]],
            active_fraction=[train_rec[3][:, 1], test_rec[3][:, 1]])
        return self.classify(test.counts), {**records, **self.extra_records()}

    def refractory_s(self, population: str) -> float:
        """Absolute refractory period of the neurons of ``population`` in seconds (none
        unless the rule says otherwise)."""
        return 0.0

    def max_rate_hz(self, population: str) -> float:
        """The highest rate a neuron of ``population`` can fire at, for the saturation
        check of :meth:`faults`: one spike per refractory period plus the step it
        spiked in."""
        return 1.0 / (float(self._dt()) + self.refractory_s(population))

    def faults(self) -> list[str]:
        """The readout population silent for a whole presentation (training or test), or
        a population firing at >= 90% of :meth:`max_rate_hz` on average: a network in
        either state learns nothing."""
        silent_check = ([p for p in self.populations if p[0] == self.readout_population]
                        or [("network", 0, None)])
        out = []
        for label, shown in (("training", self._train_presentation), ("test", self._test_presentation)):
            if shown is None or not shown.n:
                continue
            seconds = shown.n * shown.slots_per_sample * float(self.schedule.slot_duration(self._dt()))
            for name, a, b in silent_check:
                if not shown.counts[:, a:b].any():
                    out.append(f"population {name} fired no spike in the {label} presentation")
            for name, a, b in self.populations:
                rate = shown.counts[:, a:b].sum() / ((b - a) * seconds)
                if rate >= 0.9 * self.max_rate_hz(name):
                    out.append(f"population {name} saturated in the {label} presentation "
                               f"({rate:.0f} Hz per neuron, at most {self.max_rate_hz(name):.0f} Hz)")
        return out

    def extra_records(self) -> dict:
        """Further per-epoch records of the rule (same form as ``EpochResult.variables``)."""
        return {}

    def coordinates(self) -> dict:
        return schema.spiking_coordinates(name for name, *_ in self.populations)

    def close(self):
        for compiled in self._builds.values():
            compiled.cleanup()
        self._builds.clear()


def _padded(values, k):
    """``values`` (a quantity array) with its first axis zero-padded to ``k`` rows
    (blank slots at the end of the last chunk)."""
    from brian2 import Quantity
    from brian2.units.fundamentalunits import get_dimensions
    out = np.zeros((k, *np.shape(values)[1:]))
    out[:len(values)] = np.asarray(values)
    return Quantity(out, dim=get_dimensions(values))

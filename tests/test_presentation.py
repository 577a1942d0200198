"""The shared spiking base on toy networks: phase schedule, blank-out, quantization, slots.

Brian2 runtime device (Cython), so that no standalone build is needed; the same code
runs in standalone through the eRBP reference test.
"""
import numpy as np
import pytest
from scipy import stats

from bioprop.models.errors import ParameterError
from bioprop.models.params import Parameter, ParameterSet
from bioprop.models.spiking.presentation import (PhaseSchedule, QuantizationGrid,
                                                 SlotPresentationRule, slot_counter,
                                                 stochastic_release)

DT_MS = 0.1
#: two-sided 99.9 % normal quantile, for binomial bounds
Z999 = stats.norm.ppf(0.9995)


@pytest.fixture(autouse=True)
def _runtime():
    from brian2 import defaultclock, ms, prefs, start_scope
    prefs.codegen.target = "cython"
    start_scope()
    defaultclock.dt = DT_MS * ms


def _ecd_schedule():
    from brian2 import ms
    return PhaseSchedule([("burn_in", 2 * ms), ("data", 3 * ms), ("burn_in_2", 1 * ms),
                          ("reconstruction", 4 * ms)])


def test_phase_schedule_gives_each_phase_its_value_at_the_right_steps():
    """g(t) of event-driven CD, +1 in the data phase and -1 in the reconstruction phase,
    recorded every step over three 10 ms slots, against the hand-made schedule."""
    from brian2 import NeuronGroup, StateMonitor, ms, run
    schedule = _ecd_schedule()
    g_expr = schedule.expression({"data": 1, "reconstruction": -1})
    group = NeuronGroup(1, "g : 1\nphase : 1", namespace=schedule.namespace(DT_MS * ms))
    group.run_regularly(f"g = {g_expr}\nphase = {schedule.index_expression()}", when="start")
    mon = StateMonitor(group, ["g", "phase"], record=0, when="end")
    run(30 * ms)
    step_in_slot = np.arange(300) % 100
    expected_g = np.select([(step_in_slot >= 20) & (step_in_slot < 50), step_in_slot >= 60],
                           [1.0, -1.0], 0.0)
    expected_phase = np.searchsorted([20, 50, 60], step_in_slot, side="right")
    np.testing.assert_array_equal(mon.g[0], expected_g)
    np.testing.assert_array_equal(mon.phase[0], expected_phase)
    np.testing.assert_array_equal(schedule.phase_index(mon.t_, DT_MS * ms), expected_phase)
    assert schedule.slot_steps(DT_MS * ms) == 100 and schedule.names[1] == "data"


def test_phase_schedule_rejects_bad_phases():
    from brian2 import mV, ms
    with pytest.raises(ParameterError, match="distinct"):
        PhaseSchedule([("a", 1 * ms), ("a", 1 * ms)])
    with pytest.raises(ParameterError, match="phase 'a'.*time"):
        PhaseSchedule([("a", 1 * mV)])
    with pytest.raises(ParameterError, match="positive total"):
        PhaseSchedule([("a", 0 * ms)])
    with pytest.raises(ParameterError, match="unknown phase"):
        _ecd_schedule().expression({"free": 1})


def test_blank_out_transmits_and_learns_a_fraction_p():
    """1,000 synapses, 200 presynaptic spikes each: transmitted events within the
    binomial 99.9 % bound around p; a synapse learns exactly when it transmits; the
    reliable pathway always transmits."""
    from brian2 import NeuronGroup, Synapses, ms, run
    p, n_syn, n_spikes = 0.3, 1000, 200
    pre = NeuronGroup(1, "", threshold="True")
    post = NeuronGroup(n_syn, "x : 1\nfeedback : 1")
    code = stochastic_release("x_post += 1\nw += 1\nfeedback_post += 1", "p_release",
                              reliable=("feedback_post",))
    syn = Synapses(pre, post, "w : 1", on_pre=code, namespace={"p_release": p})
    syn.connect()
    run(n_spikes * DT_MS * ms)
    n = n_syn * n_spikes
    transmitted = post.x[:].sum()
    assert abs(transmitted - n * p) <= Z999 * np.sqrt(n * p * (1 - p))
    np.testing.assert_array_equal(syn.w[:], post.x[:])      # learns iff transmitted
    np.testing.assert_array_equal(post.feedback[:], n_spikes)
    with pytest.raises(ValueError, match="increments"):
        stochastic_release("x_post = 1", "p_release")


def test_quantization_lands_on_the_grid_and_is_unbiased():
    """Stochastic rounding of 20,000 weights at 0.3 steps above a grid point: every
    result is a grid point, the mean error is zero within its 99.9 % bound, and
    weights beyond the grid are clipped to its ends."""
    from brian2 import NeuronGroup, Synapses, ms, nA, run
    grid = QuantizationGrid(16, 0.5 * nA)
    delta = float(grid.delta / nA)
    n = 20000
    w0 = (3 + 0.3) * delta
    pre = NeuronGroup(1, "", threshold="i == 0 and t < 0.5*dt")
    post = NeuronGroup(n + 2, "")
    syn = Synapses(pre, post, "w : amp", on_pre=grid.rounding("w"), namespace=grid.namespace())
    syn.connect()
    syn.w = np.concatenate([np.full(n, w0), [5.0, -5.0]]) * nA
    run(1 * ms)
    w = syn.w[:] / nA
    k = w / delta
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert set(np.round(k[:n]).astype(int)) == {3, 4}
    assert abs(w[:n].mean() - w0) <= Z999 * (delta / 2) / np.sqrt(n)
    assert np.round(k[n]) == grid.k_max and np.round(k[n + 1]) == grid.k_min
    assert (grid.k_min, grid.k_max) == (-8, 7)
    np.testing.assert_allclose(QuantizationGrid(16, 0.5).nearest([0.26 * delta, 100.0]), [0.0, 7 * delta])
    with pytest.raises(ParameterError, match="weight_levels"):
        QuantizationGrid(1, 0.5 * nA)


class _ToyRule(SlotPresentationRule):
    """Poisson inputs whose rates change per slot: sample s drives neuron s's column."""

    name = "toy"
    summary = "toy network of Poisson neurons"
    reference = "none"
    parameters = ParameterSet((Parameter("chunk_slots", 4, "slots per run", kind=int, low=1),))

    def __init__(self, **kwargs):
        from brian2 import ms
        super().__init__(**kwargs)
        self.schedule = PhaseSchedule([("on", 20 * ms)])
        self.populations = [("first", 0, 2), ("second", 2, self.n_inputs)]
        self.out_degree = np.zeros(self.n_inputs)

    def construct(self, n_slots):
        def construct():
            from brian2 import Hz, Network, NeuronGroup, SpikeMonitor, defaultclock
            from bioprop.models import encoding
            t_slot = self.schedule.slot_duration(defaultclock.dt)
            rates = encoding.slot_timed_array(n_slots, self.n_inputs, t_slot, Hz, "rates")
            net = NeuronGroup(self.n_inputs, "rate = rates(t, i) : Hz\ncount : integer",
                              threshold=encoding.POISSON_SPIKE, reset="count += 1", name="net",
                              namespace={"rates": rates})
            spikes = SpikeMonitor(net, name="spikes")
            return (Network(net, slot_counter(net, t_slot), spikes),
                    {"rates": rates, "net": net, "spikes": spikes})
        return construct

    def slot_inputs(self, x, y, learning):
        from brian2 import Hz
        return {"rates": np.asarray(x) * 2000.0 * Hz}

    def state_run_args(self, learning):
        return {}

    def read_state(self, compiled):
        self.last_build = compiled

    def classify(self, counts):
        return np.argmax(counts, axis=1)


def test_slots_present_each_sample_and_counts_add_up():
    """Seven samples in chunks of four slots (the last padded): each slot's counts come
    from its own sample only, and the population counts per slot add up to the spikes
    an independent SpikeMonitor saw in that slot (latest run)."""
    from bioprop.models.device import DeviceConfig
    x = np.eye(5)[[0, 1, 2, 3, 4, 0, 3]]
    rule = _ToyRule(n_inputs=5, n_classes=5, hidden=(), params={"chunk_slots": 4}, seed=0,
                    device=DeviceConfig(kind="runtime"))
    try:
        shown = rule.present(x, np.zeros(7, int), learning=True)
        counts = shown.counts
        assert counts.shape == (7, 5)
        assert np.all(counts[x == 0] == 0) and np.all(counts[x == 1] > 10)
        np.testing.assert_array_equal(rule.classify(counts), [0, 1, 2, 3, 4, 0, 3])
        by_population = rule.population_counts(x)
        total = sum(c.sum(axis=1) for c in by_population.values())
        assert {k: v.shape for k, v in by_population.items()} == {"first": (7, 2), "second": (7, 3)}
        compiled = rule.last_build
        spike_t = compiled.get("spikes.t")
        last_chunk = np.histogram(spike_t, bins=np.arange(5) * 0.02)[0]
        np.testing.assert_array_equal(last_chunk[:3], total[4:])   # the latest run
        assert last_chunk[3] == 0                                   # padding slot is blank
        assert np.all(total > 10)
    finally:
        rule.close()

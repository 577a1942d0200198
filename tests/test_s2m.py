"""The spiking S2M and eCD (models/spiking/s2m*.py): the synapse's event-driven CD
update for hand-made spike patterns, blank-out transmission, the one symmetric
matrix, pruning by rebuilding, weight rounding, and the robustness records.

Learning on data (8x8 digits, above chance) is the rule contract's
(tests/test_rule_contract.py).
"""
import numpy as np
import pytest

from bioprop.models.datasets import load_dataset
from bioprop.models.device import DeviceConfig
from bioprop.models.errors import ParameterError
from bioprop.models.spiking import s2m_network as netmod
from bioprop.models.spiking.s2m import PARAMETERS, EventDrivenCD, SynapticSamplingMachine
from bioprop.models.training import train

#: no decay, no annealing: one pair's update is exactly stdp_step * exp(-lag / tau_stdp)
RELIABLE = {"p_release": "1", "weight_decay": "0", "anneal_samples": "0"}


def _pattern_run(spikes, overrides, w0=0.3, t_end_ms=100.0):
    """Run the S2M synapse between hand-made spike trains, Brian2 runtime.

    Units: 0 = data (visible), 1 = label (visible), 2 = hidden; ``spikes`` lists
    ``(unit, time_ms)``.  The stand-in group has the state the synapse touches, no
    dynamics (``I_syn`` only sums what it receives) and the rule's own reset (bias
    learning).  Returns the final weights (visible 0, 1 -> hidden), the summed synaptic
    input per unit, the biases, and the parameters.
    """
    import brian2 as b2
    p = PARAMETERS.resolve(overrides)
    lay = netmod.Layout(n_inputs=1, n_classes=1, label_units=1, n_hidden=1)
    b2.start_scope()
    b2.defaultclock.dt = 0.1 * b2.ms
    steps = int(round(t_end_ms / 0.1))
    table = np.zeros((steps, lay.n_net))
    for unit, t_ms in spikes:
        table[int(round(t_ms / 0.1)), unit] = 1
    pattern = b2.TimedArray(table, dt=0.1 * b2.ms)
    slots = netmod.schedule(p)
    consts = netmod.namespace(p, slots, b2.defaultclock.dt)
    net = b2.NeuronGroup(lay.n_net, "I_syn : amp\nb : amp\nv : volt\ncount : integer"
                         + netmod.LEARNING_STATE, threshold="pattern(t, i) > 0.5",
                         reset=netmod.NET_RESET, namespace={**consts, "pattern": pattern})
    netmod.add_learning(net, p, slots)
    net.plastic = 1.0
    syn = netmod.make_synapses(net, lay, p, slots, consts)
    syn.w = w0 * b2.nA
    b2.run(t_end_ms * b2.ms)
    stdp_step, bias_step = netmod.learning_steps(p)
    return (np.asarray(syn.w / b2.nA), np.asarray(net.I_syn / b2.nA), np.asarray(net.b / b2.nA),
            float(stdp_step / b2.nA), float(bias_step / b2.nA), p)


# slot of 100 ms: burn-in 0-10, data 10-50, burn-in 50-60, reconstruction 60-100
@pytest.mark.parametrize("t_first, sign", [(20.0, +1), (70.0, -1), (3.0, 0), (52.0, 0)])
@pytest.mark.parametrize("order", ["pre_first", "post_first"])
def test_ecd_update_has_the_phase_sign_and_the_trace_size(t_first, sign, order):
    lag = 2.0
    first, second = (0, 2) if order == "pre_first" else (2, 0)
    w, i_syn, bias, stdp_step, bias_step, p = _pattern_run([(first, t_first), (second, t_first + lag)],
                                                           RELIABLE)
    import brian2 as b2
    expected = sign * stdp_step * np.exp(-lag / float(p["tau_stdp"] / b2.ms))
    np.testing.assert_allclose(w[0] - 0.3, expected, rtol=1e-6, atol=1e-12)
    assert w[1] == pytest.approx(0.3)                     # the label unit never spiked
    # each unit's own spike moves its bias by g * bias_step; the silent label's not at all
    np.testing.assert_allclose(bias[[0, 2]], sign * bias_step, rtol=1e-6, atol=1e-12)
    assert bias[1] == 0


def test_one_matrix_carries_both_directions_through_learning():
    # data phase: pre at 20 ms, post at 22 ms (potentiation), pre again at 30 ms,
    # post again at 40 ms; each spike sends the current value of the same weight
    w, i_syn, _, stdp_step, _, _ = _pattern_run([(0, 20.0), (2, 22.0), (0, 30.0), (2, 40.0)],
                                                RELIABLE)
    w1 = 0.3 + stdp_step * np.exp(-0.5)                  # after the post spike at 22 ms
    w2 = w1 + stdp_step * np.exp(-2.0)                   # pre at 30 ms, trace_h of 8 ms
    # the post spike at 40 ms adds the decayed pre traces 20->40 and 30->40 ms
    w3 = w2 + stdp_step * (np.exp(-5.0) + np.exp(-2.5))
    np.testing.assert_allclose(w[0], w3, rtol=1e-6)
    np.testing.assert_allclose(i_syn[2], 0.3 + w1, rtol=1e-6)    # hidden got w from each pre
    np.testing.assert_allclose(i_syn[0], 0.3 + w2, rtol=1e-6)    # visible got w from each post


def test_blank_out_transmits_and_learns_a_fraction_p_release():
    p_release, n = 0.5, 1000
    # the post never fires, so w stays 1 nA and the hidden unit's summed input counts
    # the transmitted spikes
    spikes = [(0, 0.05 + 5.0 * k) for k in range(n)]
    w, i_syn, *_ = _pattern_run(spikes, {**RELIABLE, "p_release": str(p_release)},
                                w0=1.0, t_end_ms=5.0 * n + 1)
    transmitted = i_syn[2]                      # w stays 1 nA: the post never fires
    bound = 4 * np.sqrt(n * p_release * (1 - p_release))
    assert abs(transmitted - n * p_release) < bound, transmitted


def _rule(cls=SynapticSamplingMachine, hidden=6, **overrides):
    p = cls.parameters.resolve({"t_readout": "100 ms", "chunk_slots": "20", **overrides})
    return cls(n_inputs=64, n_classes=10, hidden=(hidden,), params=p, seed=1,
               device=DeviceConfig(kind="runtime"))


def test_pruning_rebuilds_with_exactly_the_survivors():
    rule = _rule()
    before = rule.w.copy()
    rule.prune(0.75)
    survivors = np.abs(before) >= np.sort(np.abs(before))[int(round(0.75 * before.size))]
    np.testing.assert_array_equal(rule.keep, survivors)
    lay = rule.layout
    assert rule.keep.sum() == before.size - int(round(0.75 * before.size))
    # a pruned build connects only the survivors, in matrix order
    import brian2 as b2
    b2.start_scope()
    network, objects = rule.construct(4)()
    syn = objects["syn"]
    pre, post = lay.synapses()
    np.testing.assert_array_equal(np.asarray(syn.i), pre[rule.keep])
    np.testing.assert_array_equal(np.asarray(syn.j), post[rule.keep])
    # pruning again prunes among the survivors only
    rule.prune(0.5)
    assert rule.keep.sum() == int(round(0.25 * before.size)) - int(round(0.5 * round(0.25 * before.size)))
    assert not np.any(rule.keep & ~survivors)
    assert np.all(rule.matrix().ravel()[~rule.keep] == 0)


def test_quantized_weights_lie_on_the_grid():
    rule = _rule(weight_range="1.5")
    unit = 0.4893e-9
    rule.w = np.linspace(-2, 2, rule.w.size) * unit
    rule.quantize(4)
    levels = np.unique(np.round(rule.w / unit, 9))
    assert len(levels) <= 16 and levels.min() >= -1.5 and levels.max() <= 1.5


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="t_burn_in"):
        _rule(t_burn_in="60 ms")
    with pytest.raises(ParameterError, match="t_readout"):
        _rule(t_readout="150 ms")
    with pytest.raises(ParameterError, match="one hidden layer"):
        SynapticSamplingMachine(n_inputs=64, n_classes=10, hidden=(5, 5),
                                params=PARAMETERS.resolve({}), seed=0, device=None)


@pytest.mark.slow
def test_robustness_records_accuracy_after_rounding_and_pruning():
    data = load_dataset("digits", n_train=60, n_test=30, seed=0)
    result = train("s2m", data, hidden=(12,), epochs=1, seed=0, progress=False,
                   device=DeviceConfig(kind="runtime"),
                   overrides={"t_readout": "100 ms", "weight_bits": "4", "prune_fraction": "0.8",
                              "prune_relearn_samples": "20"})
    for name in ("quantized_test_accuracy", "relearned_test_accuracy",
                 "pruned_test_accuracy_before_relearning", "pruned_test_accuracy"):
        assert result[name].dims == ()
        assert 0.0 <= float(result[name]) <= 1.0
    # the file keeps the trained (unpruned) weights
    assert np.count_nonzero(result["weight_1"].values) == result["weight_1"].size


def test_ecd_has_reliable_synapses_and_noise():
    p = EventDrivenCD.parameters.resolve({})
    assert p["p_release"] == 1.0 and p["noise_sigma"] > 0
    reset, on_pre, on_post = netmod.learning_code(p, netmod.schedule(p))
    assert "rand()" not in on_pre + on_post

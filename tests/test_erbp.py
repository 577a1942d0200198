"""eRBP (Neftci et al. 2017): neuron dynamics, the learning rule, error neurons, training.

Small checks build the network's equations directly with Brian2's runtime device;
end-to-end runs go through the rule and the device layer.
"""
import numpy as np
import pytest

from bioprop.models.rules import get_rule
from bioprop.models.spiking import erbp_network as nm

ERBP = get_rule("erbp")
DT_MS = 0.1


def _tiny(overrides=None, n_inputs=4, hidden=(1,), n_classes=1, n_slots=1, stochastic=False):
    """Runtime Brian2 network of the rule's equations; returns (network, handles, layout, params)."""
    from brian2 import amp, defaultclock, ms, prefs
    prefs.codegen.target = "cython"
    defaultclock.dt = DT_MS * ms
    params = ERBP.parameters.resolve(overrides or {})
    lay = nm.make_layout(n_inputs, n_classes, hidden, float(params["w_error"] / amp),
                         params["output_feedback"], np.random.default_rng(0))
    network, handles = nm.make_construct(lay, params, n_slots, stochastic)()
    return network, handles, lay, params


def _deactivate(network, name):
    from brian2.core.network import _get_all_objects
    for obj in _get_all_objects(network.objects):
        if obj.name == name:
            obj.active = False
            return
    raise KeyError(name)


def test_code_object_count():
    """Five code objects run every step (subgroup update, threshold, reset, push, on_pre)."""
    from brian2.core.network import _get_all_objects
    network, *_ = _tiny()
    every_step = [o.name for o in _get_all_objects(network.objects)
                  if hasattr(o, "clock") and o.clock.name == "defaultclock"
                  and type(o).__name__ in ("StateUpdater", "Thresholder", "Resetter",
                                           "SynapticPathway", "SummedVariableUpdater")
                  or getattr(o, "name", "") == "net_update"]
    assert sorted(every_step) == sorted(["net_update", "net_spike_thresholder",
                                         "net_spike_resetter", "syn_pre"]), every_step


@pytest.mark.parametrize("hold_current", [True, False])
def test_soma_subthreshold_response_matches_analytic(hold_current):
    """Soma response to a current step (I held constant) and to a synaptic current pulse."""
    from brian2 import StateMonitor, mV, ms, nA
    network, h, lay, p = _tiny({"noise_weight": "0 nA"})
    net = h["net"]
    k = lay.layers[0][0]                      # the hidden neuron
    I0 = 0.06                                 # nA: steady state 60 mV < 100 mV threshold
    net.I[k] = I0 * nA
    if hold_current:                          # constant current: exact coupling R (1 - a_soma)
        net.a_syn[k] = 1.0
        net.c_soma[k] = 1 / p["g_soma"] * -np.expm1(-DT_MS * ms / p["tau_soma"])
    mon = StateMonitor(net, ["soma", "I"], record=[k], when="end")
    network.add(mon)
    network.run(20 * ms)
    t = mon.t / ms + DT_MS                    # the update at step n gives V((n+1) dt)
    v = mon.soma[0] / mV
    R_mV_per_nA = float(nA / p["g_soma"] / mV)   # 1 nA * 1 GOhm = 1000 mV
    tau_m, tau_s = float(p["tau_soma"] / ms), float(p["tau_syn"] / ms)
    if hold_current:
        expected = R_mV_per_nA * I0 * (1 - np.exp(-t / tau_m))
    else:
        expected = R_mV_per_nA * I0 * tau_s / (tau_s - tau_m) * (np.exp(-t / tau_s) - np.exp(-t / tau_m))
        np.testing.assert_allclose(mon.I[0] / nA, I0 * np.exp(-t / tau_s), rtol=1e-9)
    np.testing.assert_allclose(v, expected, rtol=1e-9, atol=1e-9)
    assert v.max() < float(p["v_thresh"] / mV)


def _hand_made_run(plastic):
    """Four data neurons, each spiking exactly once, onto one hidden neuron with a fixed
    dendrite U0: spikes at 20 ms (settling window), 100 ms (learns), 150 ms (a 2 nA weight:
    learns, then drives I above b_max) and 150.5 ms (gate closed: no change)."""
    from brian2 import ms, nA
    network, h, lay, p = _tiny({"v_thresh": "1e9 mV"})   # nothing but the inputs spikes
    net, syn = h["net"], h["syn"]
    _deactivate(network, "input_slot_start")         # spike times set by hand instead
    k = lay.layers[0][0]
    U0 = 0.5
    net.a_dend = 1.0
    net.dendrite[k] = U0
    net.t_next[:4] = [20 * ms, 100 * ms, 150 * ms, 150.5 * ms]
    net.plastic = 1.0 if plastic else 0.0
    sl, _ = lay.weight_slices[0]
    w0 = np.array([0.01, -0.02, 2.0, 0.03])
    w_all = syn.w[:] / nA
    w_all[sl] = w0
    syn.w = w_all * nA
    network.run(200 * ms)
    assert list(net.count[:4]) == [1, 1, 1, 1]
    return (syn.w[:] / nA)[sl] - w0, p, U0


def test_weight_update_matches_rule_hand_made_spikes():
    from brian2 import nA
    dw, p, U0 = _hand_made_run(plastic=True)
    step = float(p["learning_rate"] / nA) * U0        # nA, positive dendrite -> potentiation
    np.testing.assert_allclose(dw, [0.0, step, step, 0.0], rtol=1e-9, atol=1e-15)


def test_no_weight_update_when_not_plastic():
    dw, *_ = _hand_made_run(plastic=False)
    np.testing.assert_array_equal(dw, 0.0)


@pytest.mark.parametrize("output_current, label_hazard", [(0.0, None), (0.3, 100.0)])
def test_error_neurons_follow_rectified_difference(output_current, label_hazard):
    """E+ ~ w_E/V_T (label - prediction)+ and E- ~ w_E/V_T (prediction - label)+."""
    from brian2 import Hz, nA, second
    from bioprop.models.encoding import escape_noise_rates
    network, h, lay, p = _tiny({"noise_weight": "0 nA"}, n_inputs=1)
    net = h["net"]
    hazard = escape_noise_rates(1.0) if label_hazard is None else label_hazard
    h["rates"].values[0, :] = [0.0, hazard] * Hz   # label neuron on
    o = lay.output[0]
    net.a_syn[o] = 1.0                       # constant drive of the prediction neuron
    net.I[o] = output_current * nA
    net.plastic = 1.0
    T = 2.0
    network.run(T * second)
    rate = net.count[:] / T
    label, pred = rate[lay.n_inputs], rate[o]
    e_plus, e_minus = rate[lay.err_plus[0]], rate[lay.err_minus[0]]
    gain = float(p["w_error"] / p["g_soma"] / p["v_thresh"])          # 0.9
    assert label > 50
    if output_current == 0.0:
        assert pred == 0
        assert e_plus == pytest.approx(gain * label, rel=0.1)
        assert e_minus == 0
    else:
        assert pred > label + 20
        assert e_minus == pytest.approx(gain * (pred - label), rel=0.35, abs=10)
        # clipping at zero makes E+ fire a little despite a negative difference
        assert e_plus < 0.25 * e_minus


def test_layout_of_two_hidden_layers():
    """Deep networks: every hidden layer gets E+ - E- through its own zero-row-sum G."""
    n_in, n_cls, hidden = 6, 3, (5, 4)
    lay = nm.make_layout(n_in, n_cls, hidden, 0.09e-9, 2.0, np.random.default_rng(1))
    assert [shape for _, shape in lay.weight_slices] == [(5, 6), (4, 5), (3, 4)]
    assert lay.syn_plastic.sum() == 6 * 5 + 5 * 4 + 4 * 3
    assert [name for name, *_ in lay.populations()] == ["data", "label", "hidden_1", "hidden_2",
                                                        "output", "error"]
    ep, em = lay.err_plus[0], lay.err_minus[0]
    for a0, a1 in [*lay.layers[:-1], lay.output]:
        g = np.zeros((2, a1 - a0, n_cls))
        for sign, base in enumerate((ep, em)):
            m = (lay.syn_i >= base) & (lay.syn_i < base + n_cls) & (lay.syn_j >= a0) & (lay.syn_j < a1)
            g[sign, lay.syn_j[m] - a0, lay.syn_i[m] - base] = lay.syn_g[m]
        np.testing.assert_array_equal(g[1], -g[0])
        if (a0, a1) == lay.output:
            np.testing.assert_array_equal(g[0], 2.0 * np.eye(n_cls))
        else:
            np.testing.assert_allclose(g[0].sum(axis=1), 0.0, atol=1e-12)
            # G's rows shifted to zero mean: within twice its bound, not scaled by the output's jump
            assert np.all(np.abs(g[0]) <= 2 * np.sqrt(7.0 / (n_cls + a1 - a0)))
            assert np.count_nonzero(g[0]) == g[0].size
    # ablation: no feedback onto hidden dendrites, the output's unchanged
    ablated = nm.make_layout(n_in, n_cls, hidden, 0.09e-9, 2.0, np.random.default_rng(1),
                             hidden_feedback_scale=0.0)
    def feedback_onto_hidden(layout):
        from_error = layout.syn_i >= layout.err_plus[0]
        return from_error & (layout.syn_j >= layout.layers[0][0]) & (layout.syn_j < layout.output[0])
    assert feedback_onto_hidden(lay).sum() == 2 * n_cls * sum(hidden)
    assert not feedback_onto_hidden(ablated).any()
    rest = ~feedback_onto_hidden(lay)
    for name in ("syn_i", "syn_j", "syn_g", "syn_plastic", "syn_w_fixed"):
        np.testing.assert_array_equal(getattr(ablated, name), getattr(lay, name)[rest])
    # the event code's plasticity test, g == 0, picks exactly the plastic synapses among
    # those whose target is not an error neuron (whose w_step is 0), in every variant
    for layout in (lay, ablated, nm.make_layout(n_in, n_cls, hidden, 0.09e-9, 0.0, np.random.default_rng(1))):
        onto_error = layout.syn_j >= layout.err_plus[0]
        np.testing.assert_array_equal((layout.syn_g == 0) & ~onto_error, layout.syn_plastic)


def test_two_hidden_layers_train_and_report_every_population():
    from bioprop.models.datasets import load_dataset
    from bioprop.models.device import DeviceConfig
    data = load_dataset("digits", n_train=10, n_test=10, seed=0)
    params = ERBP.parameters.resolve({"chunk_slots": 10})
    rule = ERBP(n_inputs=64, n_classes=10, hidden=(12, 8), params=params, seed=0,
                device=DeviceConfig(kind="runtime"))
    try:
        w_before = [w.copy() for w in rule.weights()]
        rule.train_epoch(data.x_train, data.y_train)
        pred, records = rule.evaluate(data.x_test)
        assert [w.shape for w in rule.weights()] == [(12, 64), (8, 12), (10, 8)]
        assert all(np.any(w != w0) for w, w0 in zip(rule.weights(), w_before))
        assert pred.shape == (10,)
        rates = records["firing_rate"][1]
        assert rates.shape == (2, 6) and np.all(rates[:, 2:4] > 0)    # both hidden layers fire
        counts = rule.population_counts(data.x_test[:3])
        assert {k: v.shape for k, v in counts.items()} == {
            "data": (3, 64), "label": (3, 10), "hidden_1": (3, 12), "hidden_2": (3, 8),
            "output": (3, 10), "error": (3, 20)}
        assert counts["label"].sum() == 0 and counts["data"].sum() > 0
    finally:
        rule.close()


def test_quantized_weights_stay_on_grid():
    from bioprop.models.datasets import load_dataset
    from bioprop.models.device import DeviceConfig
    data = load_dataset("digits", n_train=10, n_test=10, seed=0)
    params = ERBP.parameters.resolve({"weight_levels": 64, "weight_max": "0.5 nA", "chunk_slots": 10})
    rule = ERBP(n_inputs=64, n_classes=10, hidden=(20,), params=params, seed=0,
                device=DeviceConfig(kind="runtime"))
    try:
        w_before = [w.copy() for w in rule.weights()]
        rule.train_epoch(data.x_train, data.y_train)
        step = 0.5 / 32                          # 64 levels: k * step, -32 <= k <= 31
        for w, w0 in zip(rule.weights(), w_before):
            grid = w / step
            np.testing.assert_allclose(grid, np.round(grid), atol=1e-6)
            assert grid.min() >= -32 - 1e-9 and grid.max() <= 31 + 1e-9
            assert np.any(w != w0)
    finally:
        rule.close()


def test_input_encoding_and_label_drive():
    """slot_inputs: pixel hazards under input_encoding; the true label's neuron at the
    hazard of label_current while learning (the code's 0.48 as an option), silent at test."""
    from brian2 import Hz
    from bioprop.models import encoding as enc
    x = np.array([[0.0, 0.3, 1.0], [1.0, 0.5, 0.0]])
    y = np.array([1, 0])
    for overrides, encoding, label in (({}, "auryn", 0.285),
                                       ({"input_encoding": "gray", "label_current": 0.48}, "gray", 0.48)):
        params = ERBP.parameters.resolve(overrides)
        rule = ERBP(n_inputs=3, n_classes=2, hidden=(4,), params=params, seed=0)
        rates = rule.slot_inputs(x, y, learning=True)["rates"] / Hz
        np.testing.assert_allclose(rates[:, :3], enc.escape_noise_rates(x, encoding))
        labels = np.zeros((2, 2))
        labels[[0, 1], y] = enc.escape_noise_hazard(label)
        np.testing.assert_allclose(rates[:, 3:5], labels)
        assert np.all(rule.slot_inputs(x, y, learning=False)["rates"][:, 3:5] == 0 * Hz)
    with pytest.raises(Exception, match="input_encoding"):
        ERBP.parameters.resolve({"input_encoding": "binary"})


def _train(name, device, n_train=200, **overrides):
    from bioprop.models.datasets import load_dataset
    from bioprop.models.training import train
    # 200 samples need the larger output jump (test_rule_contract.OVERRIDES)
    overrides = {"output_feedback": 1.0, **overrides}
    data = load_dataset("digits", n_train=n_train, n_test=297, seed=0)
    return train(name, data, hidden=(40,), epochs=1, seed=0, device=device, progress=False,
                 overrides=overrides)


@pytest.mark.slow
@pytest.mark.standalone
def test_end_to_end_standalone_learns_digits():
    """One cpp_standalone build, chunks of 100 slots: accuracy clearly above chance."""
    from bioprop.models.device import DeviceConfig
    result = _train("erbp", DeviceConfig(kind="cpp_standalone"), chunk_slots=100)
    assert result["test_accuracy"].values[-1] > 0.3
    synops = result["synops_per_sample"].values[-1]
    assert np.all(np.isfinite(synops)) and np.all(synops > 0)
    rates = result["firing_rate"].values[-1]
    assert rates.shape == (2, 5) and rates[1, 1] == 0     # labels silent at test
    assert result["rate_network_macs_per_sample"].values[-1] == 2 * (64 * 40 + 40 * 10)
    assert result["weight_1"].attrs["units"] == "nA"


@pytest.mark.slow
def test_stochastic_variant_runs_and_learns():
    from bioprop.models.device import DeviceConfig
    result = _train("erbp-stochastic", DeviceConfig(kind="runtime"))
    assert result["test_accuracy"].values[-1] > 0.2

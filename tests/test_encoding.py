"""Pixel -> spike-train encodings and the one-row-per-sample stimulus TimedArray.

Statistical bounds: spike counts are sums of Bernoulli draws (one per neuron and step),
whose variance is below the Poisson variance (= mean); renewal processes with a
refractory period are more regular still.  Every count is therefore required to lie
within 5 Poisson standard deviations, 5 * sqrt(expected), of its expectation (a
false failure has probability < 1e-6 per check; the seeds are fixed anyway).
"""
import numpy as np
import pytest
from brian2 import Hz, Network, SpikeMonitor, ms

from bioprop.models import encoding as enc
from bioprop.models.device import DeviceConfig, build
from bioprop.models.errors import ParameterError

DT_MS = 0.1


def within_poisson(count, expected, sigmas=5.0):
    count, expected = np.asarray(count, float), np.asarray(expected, float)
    return np.all(np.abs(count - expected) <= sigmas * np.sqrt(np.maximum(expected, 1.0)))


def test_rate_functions_known_values():
    np.testing.assert_allclose(enc.poisson_rates([0.0, 0.25, 1.0], max_rate_hz=80), [0, 20, 80])
    rates = enc.escape_noise_rates([0.0, 0.43, 1.0])
    assert rates[0] == 0.0                                  # zero pixels are silent
    np.testing.assert_allclose(rates[1], 100 * np.exp(-2.0))           # I_in = 0 -> 13.53 Hz
    np.testing.assert_allclose(rates[2], 100 * np.exp((0.285 - 0.1) / 0.05))   # 4044.7 Hz
    np.testing.assert_allclose(rates[2], 4044.730, rtol=1e-6)
    # with 4 ms refractoriness a white pixel fires at 1 / ((39 + 1/p) * dt), p = rate * dt
    p = 4044.730 * 1e-4
    np.testing.assert_allclose(enc.escape_noise_effective_rate(1.0), 1e4 / (39 + 1 / p), rtol=1e-6)
    assert enc.escape_noise_effective_rate(0.0) == 0.0
    np.testing.assert_array_equal(enc.encode([[0.5]], "escape"), enc.escape_noise_rates([[0.5]]))
    for bad in ([-0.1], [1.5], [np.nan]):
        with pytest.raises(ParameterError):
            enc.poisson_rates(bad)
    with pytest.raises(ParameterError):
        enc.encode([0.5], "morse")


def test_slot_layout_and_validation():
    assert enc.slot_steps(100 * ms, 50 * ms, 0.1 * ms) == (1000, 1500)
    assert enc.slot_steps(1.0, 0.0, 0.1) == (10, 10)          # plain numbers are ms
    with pytest.raises(ParameterError, match="multiples"):
        enc.slot_steps(1.05 * ms, 0 * ms, 0.1 * ms)
    ta = enc.stimulus_timed_array(np.zeros((10_000, 784)), 100 * ms, 50 * ms, dt=0.1 * ms)
    assert ta.values.shape == (10_000, 784) and ta.values.nbytes == 10_000 * 784 * 8
    assert float(ta.dt) == pytest.approx(0.15)
    assert float(enc.stimulus_duration(10, 100 * ms, 50 * ms) / ms) == pytest.approx(1500)
    with pytest.raises(ParameterError, match="Hz"):
        enc.stimulus_timed_array(np.zeros((2, 2)) * ms, 1 * ms, 0 * ms)
    with pytest.raises(ParameterError, match="2-D"):
        enc.stimulus_timed_array(np.zeros(3), 1 * ms, 0 * ms)


def _counting_network(rates, t_present, t_rest, refractory=None, record=False):
    def construct():
        ta = enc.stimulus_timed_array(rates, t_present, t_rest)
        group = enc.input_group(ta, t_present, t_rest, refractory=refractory)
        mon = SpikeMonitor(group, record=record, name="mon")
        return Network(group, mon), {"stimulus": ta, "inp": group, "mon": mon}
    return construct


def test_poisson_counts_match_intensities():
    levels = np.repeat([0.0, 0.25, 0.5, 1.0], 100)
    rates = enc.poisson_rates(levels[None, :], max_rate_hz=50.0)
    net = build(_counting_network(rates, 2000 * ms, 0 * ms), 2000 * ms,
                DeviceConfig(kind="runtime", dt_ms=DT_MS))
    net.run(seed=1)
    counts = net.get("mon.count").reshape(4, 100).sum(axis=1)
    expected = 100 * 2.0 * 50.0 * np.array([0.0, 0.25, 0.5, 1.0])    # 0, 2500, 5000, 10000
    assert counts[0] == 0                                            # black pixels silent
    assert within_poisson(counts, expected), (counts, expected)


def test_escape_noise_neuron_rates_and_refractoriness():
    levels = np.repeat([0.0, 0.2, 0.5, 1.0], 50)
    rates = enc.escape_noise_rates(levels)[None, :]
    net = build(_counting_network(rates, 2000 * ms, 0 * ms, refractory=4 * ms, record=True),
                2000 * ms, DeviceConfig(kind="runtime", dt_ms=DT_MS))
    net.run(seed=2)
    counts = net.get("mon.count").reshape(4, 50).sum(axis=1)
    expected = 50 * 2.0 * enc.escape_noise_effective_rate([0.0, 0.2, 0.5, 1.0], dt_ms=DT_MS)
    assert counts[0] == 0
    assert within_poisson(counts, expected), (counts, expected)
    assert 230 < counts[3] / 100 < 250                       # ~241 Hz, far below the 4 kHz hazard
    i, t = net.get("mon.i"), net.get("mon.t")
    steps = np.round(t / (DT_MS * 1e-3)).astype(np.int64)
    isis = np.concatenate([np.diff(steps[i == n]) for n in np.unique(i)])
    assert len(isis) > 1000 and isis.min() >= 40             # 4 ms absolute refractory period


def test_presentation_and_rest_timing():
    """Sample k drives only input k; spikes only in the first t_present of slot k."""
    n, t_present, t_rest = 6, 100 * ms, 50 * ms               # slot 150 ms: not a float multiple
    rates = np.eye(n) * 5000.0                                 # p = 0.5 per step
    n_present, n_slot = enc.slot_steps(t_present, t_rest, DT_MS * ms)
    net = build(_counting_network(rates, t_present, t_rest, record=True),
                enc.stimulus_duration(n, t_present, t_rest), DeviceConfig(kind="runtime", dt_ms=DT_MS))
    net.run(seed=3)
    i, t = net.get("mon.i"), net.get("mon.t")
    steps = np.round(t / (DT_MS * 1e-3)).astype(np.int64)
    assert len(steps) > n * n_present * 0.4
    np.testing.assert_array_equal(i, steps // n_slot)          # the right row for every slot
    assert np.all(steps % n_slot < n_present)                  # nothing during the rest
    # both edges of the presentation window are used
    assert np.any(steps % n_slot == 0) and np.any(steps % n_slot == n_present - 1)


@pytest.mark.parametrize("kind", [pytest.param("cpp_standalone", marks=pytest.mark.standalone),
                                  "runtime"])
def test_stimulus_swapped_by_run_args(kind, tmp_path):
    """One build, new TimedArray contents per run (e.g. a new sample order per epoch)."""
    n_in, n_samples = 100, 4
    t_present, t_rest = 200 * ms, 50 * ms
    built = np.zeros((n_samples, n_in))                       # the build itself is silent
    config = DeviceConfig(kind=kind, directory=str(tmp_path / "build"), dt_ms=DT_MS)
    net = build(_counting_network(built, t_present, t_rest), enc.stimulus_duration(
        n_samples, t_present, t_rest), config)
    rng = np.random.default_rng(0)
    pixels = rng.random((n_samples, n_in))
    totals = []
    for order, max_rate in ((np.arange(n_samples), 20.0), (np.arange(n_samples)[::-1], 80.0)):
        rates = enc.poisson_rates(pixels[order], max_rate_hz=max_rate)
        net.run({"stimulus": rates * Hz}, seed=int(max_rate))
        counts = net.get("mon.count")
        expected = rates.sum(axis=0) * float(t_present / ms) * 1e-3
        assert within_poisson(counts.sum(), expected.sum())
        totals.append(counts.sum())
    assert within_poisson(totals[1], 4 * totals[0], sigmas=6)  # 4x the rate
    net.run(seed=1)                                           # back to the built (silent) stimulus
    assert net.get("mon.count").sum() == 0
    with pytest.raises(Exception, match=r"expected size 400 \(shape \(4, 100\)\)"):
        net.run({"stimulus": np.zeros((5, n_in)) * Hz})
    if kind == "cpp_standalone":
        assert net.n_runs == 3 and net.compile_seconds is not None


def test_escape_encodings_and_twin_activity():
    for name, (gain, offset) in enc.ESCAPE_ENCODINGS.items():
        np.testing.assert_allclose(enc.escape_noise_current([0.0, 1.0], name), [offset, gain + offset])
    np.testing.assert_allclose(enc.escape_noise_current(1.0, "auryn"), 0.285)          # Table 2
    np.testing.assert_allclose(enc.escape_noise_rates([1e-12, 1.0], "gray"),
                               100 * np.exp((np.array([0.065, 0.215]) - 0.1) / 0.05))
    with pytest.raises(ParameterError, match="encoding"):
        enc.escape_noise_rates([0.5], "binary")
    # renewal neuron: n_ref - 1 dead steps plus a geometric wait with p = 1 - exp(-h dt)
    p = -np.expm1(-4044.730 * 1e-4)
    np.testing.assert_allclose(enc.renewal_rate(4044.730), 1e4 / (39 + 1 / p), rtol=1e-6)
    assert 249.9 < enc.renewal_rate(1e9) <= 250.0                         # one spike per 40 steps
    assert enc.renewal_rate(0.0) == 0.0
    activity = enc.escape_input_activity(np.array([0.0, 0.5, 1.0]), "gray")
    np.testing.assert_allclose(activity, enc.renewal_rate(enc.escape_noise_rates([0.0, 0.5, 1.0], "gray"))
                               / enc.renewal_rate(enc.escape_noise_rates(1.0, "gray")))
    with pytest.raises(ParameterError, match="rng"):
        enc.escape_input_activity([0.5], counts_window_ms=200.0)


def test_renewal_neurons_fire_at_renewal_rate():
    """The renewal input neuron of the spiking rules (renewal_reset/renewal_slot_start):
    mean rate renewal_rate(hazard), shortest interval refractory/dt steps as Auryn's
    SRM0Group; the code's label drive (I = 0.48) fires right after each refractory period."""
    from brian2 import NeuronGroup
    hazards = np.repeat([0.0, float(enc.escape_noise_rates(0.5, "gray")), 4044.730,
                         float(enc.escape_noise_hazard(0.48))], 50)
    t_run = 2000 * ms

    def construct():
        rates = enc.slot_timed_array(1, len(hazards), t_run, Hz, "rates")
        rates.values[0, :] = hazards
        group = NeuronGroup(len(hazards), "t_next : second\nref : second (constant)",
                            threshold=enc.RENEWAL_SPIKE, reset=enc.renewal_reset(refractory="ref"),
                            namespace={"rates": rates}, name="inp")
        group.ref = enc.ESCAPE_REFRACTORY_MS * ms
        group.run_regularly(enc.renewal_slot_start(), dt=t_run, when="start")
        mon = SpikeMonitor(group, name="mon")
        return Network(group, mon), {"inp": group, "mon": mon}

    net = build(construct, t_run, DeviceConfig(kind="runtime", dt_ms=DT_MS))
    net.run(seed=5)
    counts = net.get("mon.count").reshape(4, 50).sum(axis=1)
    expected = 50 * 2.0 * enc.renewal_rate(hazards[::50], dt_ms=DT_MS)
    assert counts[0] == 0
    assert within_poisson(counts, expected), (counts, expected)
    assert counts[3] / 100 > 247                                   # the code's label: ~250 Hz
    i, t = net.get("mon.i"), net.get("mon.t")
    steps = np.round(t / (DT_MS * 1e-3)).astype(np.int64)
    isis = np.concatenate([np.diff(steps[i == n]) for n in np.unique(i)])
    assert isis.min() == 40                                         # 4 ms, reached

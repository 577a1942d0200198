"""Rate twins: every spiking rule names a registered rate rule it is judged against,
and eRBP's twin is ``fa`` configured the way eRBP learns (issue 16)."""
import numpy as np
import pytest

from bioprop.models import encoding as enc
from bioprop.models.errors import ParameterError
from bioprop.models.rules import available_rules, get_rule


def make(name, sizes, seed=0, **overrides):
    cls = get_rule(name)
    return cls(n_inputs=sizes[0], n_classes=sizes[-1], hidden=tuple(sizes[1:-1]),
               params=cls.parameters.resolve(overrides, rule=name), seed=seed)


def test_every_spiking_rule_declares_a_registered_rate_twin():
    rules = available_rules()
    spiking = {name: cls for name, cls in rules.items() if cls.family == "spiking"}
    assert spiking
    for name, cls in spiking.items():
        assert cls.rate_twin in rules, (name, cls.rate_twin)
        assert rules[cls.rate_twin].family == "rate"
    assert all(cls.rate_twin is None for cls in rules.values() if cls.family == "rate")
    assert rules["erbp"].rate_twin == "erbp-twin"


def test_erbp_twin_is_fa_run_the_way_erbp_learns():
    """Same weights, bit for bit, as fa with online SGD, MSE and the escape-noise rates."""
    twin = get_rule("erbp-twin").parameters.resolve({})
    assert (twin["batch_size"], twin["optimizer"], twin["loss"], twin["inputs"]) == (
        1, "sgd", "mse", "escape_rates")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (40, 12)) * (rng.uniform(0, 1, (40, 12)) > 0.3)
    y = rng.integers(0, 3, 40)
    a = make("erbp-twin", (12, 8, 3), seed=4)
    b = make("fa", (12, 8, 3), seed=4, batch_size=1, optimizer="sgd", loss="mse",
             inputs="escape_rates", learning_rate=float(twin["learning_rate"]))
    a.train_epoch(x, y)
    b.train_epoch(x, y)
    for wa, wb in zip(a.weights(), b.weights()):
        np.testing.assert_array_equal(wa, wb)
    # ... and not the same as fa on the raw pixels
    c = make("fa", (12, 8, 3), seed=4, batch_size=1, optimizer="sgd", loss="mse",
             learning_rate=float(twin["learning_rate"]))
    c.train_epoch(x, y)
    assert not np.allclose(a.weights()[0], c.weights()[0])


def test_network_inputs_are_the_encodings_activity():
    x = np.array([[0.0, 0.2, 0.43, 1.0]])
    rule = make("erbp-twin", (4, 3, 2))
    seen = rule.network_inputs(x)
    np.testing.assert_allclose(seen, enc.escape_input_activity(x, "auryn"))
    assert seen[0, 0] == 0.0 and seen[0, -1] == pytest.approx(1.0)
    assert seen[0, 1] < 0.01 < seen[0, 2] < 0.1          # auryn nearly binarises gray levels
    gray = make("erbp-twin", (4, 3, 2), escape_encoding="gray").network_inputs(x)
    assert 0.2 < gray[0, 1] < gray[0, 2] < 0.6           # gray keeps the contrast
    pixels = make("fa", (4, 3, 2)).network_inputs(x)
    np.testing.assert_array_equal(pixels, x)


def test_escape_counts_are_fresh_noisy_samples_of_the_rates():
    x = np.full((2000, 3), [0.0, 0.6, 1.0])
    rule = make("erbp-twin", (3, 2, 2), inputs="escape_counts", count_window="200 ms")
    first, second = rule.network_inputs(x), rule.network_inputs(x)
    assert not np.array_equal(first, second)               # new counts per presentation
    assert np.all(first[:, 0] == 0)                        # black pixels stay silent
    expected = enc.escape_input_activity(x[:1], "auryn")[0]
    white_count = float(enc.renewal_rate(enc.escape_noise_rates(1.0))) * 0.2
    np.testing.assert_allclose(first.mean(axis=0), expected, atol=5 / np.sqrt(2000 * white_count))
    # Poisson counts: variance = mean (in units of the white pixel's expected count)
    np.testing.assert_allclose(first[:, 2].var(), 1.0 / white_count, rtol=0.15)
    with pytest.raises(ParameterError, match="inputs"):
        get_rule("erbp-twin").parameters.resolve({"inputs": "spikes"})

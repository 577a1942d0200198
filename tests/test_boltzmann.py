"""Known-value tests of the Boltzmann references ``rbm`` and ``s2m-discrete``
(:mod:`bioprop.models.rate.boltzmann`): the S2M firing probability against
direct simulation of Bernoulli synapses, the CD-1 estimate against its exact
expectation on a network small enough to enumerate, the parameter update, the
free-energy readout against brute force, and learning on 8x8 digits."""
import functools
import itertools

import numpy as np
import pytest

from bioprop.models.datasets import load_dataset
from bioprop.models.errors import ParameterError
from bioprop.models.rate.boltzmann import (DiscreteS2M, RBM, bernoulli_release_drive,
                                           s2m_probability)
from bioprop.models.training import train

#: Berry-Esseen constant for sums of independent, non-identical summands (Shevtsova 2010)
BERRY_ESSEEN = 0.56


def _make(cls, n_inputs=3, n_classes=2, hidden=2, seed=0, **overrides):
    params = cls.parameters.resolve({"label_units_per_class": 1, **overrides})
    return cls(n_inputs=n_inputs, n_classes=n_classes, hidden=(hidden,), params=params, seed=seed)


@pytest.mark.parametrize("p_release", [0.5, 0.3])
def test_s2m_probability_matches_bernoulli_synapses(p_release):
    """P(u > 0) from 20,000 draws of every synapse's release against the erf formula.

    Bound: 4.5 binomial standard errors (two-sided, about 7e-6 per unit) plus the
    Berry-Esseen bound on the normal approximation, C sum E|X_j - EX_j|^3 / s^3 with
    X_j = xi_j w_j, E|X_j - EX_j|^3 = |w_j|^3 p (1-p) (p^2 + (1-p)^2)."""
    rng = np.random.default_rng(1)
    n_inputs, trials = 400, 20_000
    w = rng.uniform(0.5, 1.5, n_inputs) * rng.choice([-1.0, 1.0], n_inputs)
    z = np.ones(n_inputs)
    s = np.sqrt(p_release * (1 - p_release) * np.sum(w ** 2))
    # biases putting the unit's mean drive at -1, -0.3, 0, 0.3, 1 standard deviations
    bias = -p_release * w.sum() + s * np.array([-1.0, -0.3, 0.0, 0.3, 1.0])
    weights = np.tile(w, (len(bias), 1))
    predicted = s2m_probability(z[None], weights, bias, p_release)[0]
    fired = np.zeros(len(bias))
    for start in range(0, trials, 1000):
        fired += (bernoulli_release_drive(np.tile(z, (1000, 1)), weights, bias, p_release, rng)
                  > 0).sum(axis=0)
    measured = fired / trials
    third = np.sum(np.abs(w) ** 3) * p_release * (1 - p_release) * (p_release ** 2 + (1 - p_release) ** 2)
    bound = 4.5 * np.sqrt(predicted * (1 - predicted) / trials) + BERRY_ESSEEN * third / s ** 3
    np.testing.assert_array_less(np.abs(measured - predicted), bound)
    np.testing.assert_allclose(predicted, [0.1587, 0.3821, 0.5, 0.6179, 0.8413], atol=1e-4)


def test_s2m_unit_without_input_follows_its_bias():
    weights = np.ones((3, 2))
    out = s2m_probability(np.zeros((1, 2)), weights, np.array([-0.1, 0.0, 0.1]), 0.5)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 1.0]])


def _exact_cd_expectation(rule, v0):
    """E[dW], E[db_v], E[db_h] of CD-1 from one visible state, by enumerating h0 and v1."""
    n_h, n_v = rule.W.shape
    ph0 = rule.probability(v0[None], rule.W, rule.b_hidden)[0]
    dW, db_v, db_h = np.outer(ph0, v0), v0.copy(), ph0.copy()
    for h0 in itertools.product([0.0, 1.0], repeat=n_h):
        h0 = np.array(h0)
        p_h0 = np.prod(np.where(h0 == 1, ph0, 1 - ph0))
        pv1 = rule.probability(h0[None], rule.W.T, rule.b_visible)[0]
        for v1 in itertools.product([0.0, 1.0], repeat=n_v):
            v1 = np.array(v1)
            p = p_h0 * np.prod(np.where(v1 == 1, pv1, 1 - pv1))
            ph1 = rule.probability(v1[None], rule.W, rule.b_hidden)[0]
            dW -= p * np.outer(ph1, v1)
            db_v -= p * v1
            db_h -= p * ph1
    return dW, db_v, db_h


@pytest.mark.parametrize("cls", [RBM, DiscreteS2M])
def test_cd1_estimate_matches_its_exact_expectation(cls):
    """3 data + 2 label units, 2 hidden units: the batch-mean CD-1 estimate over
    40,000 copies of one sample lies within 5 standard errors (each term is in
    [-1, 1], so s.e. <= 1/sqrt(n)) of the expectation over all h0 and v1."""
    rule = _make(cls, init_scale=1.0)
    rule.b_hidden[:] = [0.5, -0.3]
    rule.b_visible[:] = [0.2, -0.4, 0.1, 0.0, 0.3]
    v0 = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
    n = 40_000
    estimate = rule.cd_gradients(np.tile(v0, (n, 1)))[:3]
    for got, want in zip(estimate, _exact_cd_expectation(rule, v0)):
        np.testing.assert_allclose(got, want, atol=5 / np.sqrt(n))


def test_update_applies_decay_to_weights_only_and_anneals():
    """W += eta_n (dW - decay W), b += eta_n db, eta_n = eta / (1 + n / n0)."""
    rule = _make(RBM, learning_rate=0.5, weight_decay=0.1, anneal_samples=4.0, batch_size=2)
    dW = np.full(rule.W.shape, 2.0)
    db_v, db_h = np.full(rule.n_visible, 1.0), np.full(rule.n_hidden, -1.0)
    rule.cd_gradients = lambda v0: (dW, db_v, db_h, np.zeros((len(v0), rule.n_hidden)))
    w_before = rule.W.copy()
    rule.train_epoch(np.zeros((4, 3)), np.array([0, 1, 0, 1]))
    eta1, eta2 = 0.5, 0.5 / (1 + 2 / 4.0)  # after 0 and after 2 samples
    w_expected = w_before + eta1 * (dW - 0.1 * w_before)
    w_expected = w_expected + eta2 * (dW - 0.1 * w_expected)
    np.testing.assert_allclose(rule.W, w_expected)
    np.testing.assert_allclose(rule.b_visible, (eta1 + eta2) * db_v)
    np.testing.assert_allclose(rule.b_hidden, (eta1 + eta2) * db_h)


def test_free_energy_readout_is_the_exact_class_posterior():
    """score_c - score_0 = log P(l_c | v) - log P(l_0 | v), by summing exp(-E) over all h."""
    rule = _make(RBM, n_inputs=3, n_classes=3, hidden=3, init_scale=1.0,
                 label_units_per_class=2)
    rule.b_visible[:] = np.linspace(-0.5, 0.5, rule.n_visible)
    rule.b_hidden[:] = [0.3, -0.2, 0.1]
    data = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    scores = rule.free_energy_scores(data)
    labels = rule.label_block(np.arange(3))
    for row, d in zip(scores, data):
        log_joint = []
        for l in labels:
            v = np.concatenate([d, l])
            energies = [v @ rule.b_visible + h @ rule.b_hidden + h @ rule.W @ v
                        for h in map(np.array, itertools.product([0.0, 1.0], repeat=3))]
            log_joint.append(np.logaddexp.reduce(energies))
        np.testing.assert_allclose(row - row[0], np.array(log_joint) - log_joint[0])


def test_layout_labels_and_weights():
    rule = _make(RBM, n_inputs=3, n_classes=2, hidden=4, label_units_per_class=3)
    np.testing.assert_array_equal(rule.label_block(np.array([1])), [[0, 0, 0, 1, 1, 1]])
    assert rule.layer_sizes == (3, 4, 6)
    w_data, w_label = rule.weights()
    assert w_data.shape == (4, 3) and w_label.shape == (6, 4)
    np.testing.assert_array_equal(w_label, rule.W[:, 3:].T)


def test_one_hidden_layer_only():
    params = RBM.parameters.resolve()
    with pytest.raises(ParameterError, match="one hidden layer"):
        RBM(n_inputs=3, n_classes=2, hidden=(4, 4), params=params, seed=0)


@functools.lru_cache(maxsize=None)
def _digits():
    return load_dataset("digits", n_train=600, seed=0)


@pytest.mark.parametrize("rule, overrides", [
    ("rbm", {}), ("rbm", {"readout": "gibbs"}),
    ("s2m-discrete", {}),
    ("s2m-discrete", {"synapse_sampling": "bernoulli", "readout_steps": 20})])
def test_learns_digits_well_above_chance(rule, overrides):
    """32 hidden units, 3 epochs of 600 binarised 8x8 digits (chance: 0.1); the
    synapse-by-synapse S2M reads out over fewer steps to stay quick."""
    result = train(rule, _digits(), hidden=(32,), epochs=3, seed=0, overrides=overrides,
                   progress=False)
    assert result["test_accuracy"].values[-1] > 0.5, result["test_accuracy"].values
    assert 0 < result["hidden_activity"].values[-1] < 1

"""Boltzmann-machine references for the spiking S2M and eCD: ``rbm`` and ``s2m-discrete``.

Both rules are one bipartite network trained with contrastive divergence
(CD-1, Hinton 2002, Neural Comput. 14:1771) and differ only in how a unit
turns its input into the probability of being on:

``rbm``           binary stochastic units, ``P(z_i = 1) = sigmoid(sum_j w_ij z_j + b_i)``
                  (Hinton 2010, "A practical guide to training RBMs", UTML TR 2010-003, Sec. 2);
                  the S2M paper's baseline (Neftci et al. 2016, Front. Neurosci. 10:241).
``s2m-discrete``  threshold units ``z_i = H(u_i)`` with Bernoulli synapses,
                  ``u_i = sum_j xi_ij w_ij z_j + b_i``, ``xi_ij ~ Bernoulli(p_release)`` drawn
                  afresh for every synapse and every update (Neftci et al. 2016,
                  discrete-time S2M).  By the central limit theorem
                  ``P(z_i = 1) = 1/2 (1 + erf(mu_i / sqrt(2 sigma_i^2)))`` with
                  ``mu_i = p sum_j w_ij z_j + b_i`` and ``sigma_i^2 = p (1 - p) sum_j w_ij^2 z_j``
                  (:func:`s2m_probability`).

Layout (as in the eCD code, github eneftci/eCD ``parameters_mnist.py`` lines 10-14):
one visible layer of data units followed by ``label_units_per_class`` label units
per class, one hidden layer (``--hidden``, one size), one weight matrix ``W`` of
shape ``(n_hidden, n_visible)`` used in both directions, and biases on both
layers, all learned.

Data are binarised at 0.5 (``input_encoding=binary``), as the eCD code does for
MNIST (``train_mnist.py`` line 21 with ``neusa/experimentLib.py`` ``bound_data``,
lines 46-54), or drawn as binary states with the pixel intensity as probability
at every presentation (``bernoulli``).  Either way every visible state is 0 or 1,
which the S2M variance ``sum_j w_ij^2 z_j`` assumes (``z_j^2 = z_j``).

CD-1 on a batch of B samples (Hinton 2010, Secs. 3.1-3.4): ``v0`` = data with the
true class's label units on; ``h0`` drawn from ``P(h | v0)``; ``v1`` (data and
labels) drawn from ``P(v | h0)``; then ``dW = (P(h|v0)^T v0 - P(h|v1)^T v1) / B``,
``db_h = mean(P(h|v0) - P(h|v1))``, ``db_v = mean(v0 - v1)``, and
``W += eta_n (dW - weight_decay W)``, biases without decay (Hinton 2010, Sec. 10).
Hidden statistics use probabilities (Hinton 2010, Sec. 3.3); the reconstruction
``v1`` is sampled, not replaced by its probabilities as Sec. 3.2 allows, because
the S2M unit is defined for binary inputs and both rules should learn alike.
``eta_n = learning_rate / (1 + n / anneal_samples)`` after n training samples,
the schedule of the eCD code's standard CD (``MNIST_SRM_RATE.py`` line 135,
``learning_rate_decay`` in ``neusa/experimentLib.py`` lines 86-87, n0 = 4000);
``anneal_samples = 0`` keeps eta constant.

Classification clamps the data units and reads the label units:
``readout=free_energy`` (``rbm`` only) takes the class c maximising
``-F(v, l_c) = b_l . l_c + sum_j softplus(b_h,j + (W [v, l_c])_j)`` over the
label configurations ``l_c`` (class c's units on, the others off): the exact
posterior ``P(c | v)`` of the RBM restricted to those configurations, as the eCD
code evaluates its networks (``neusa/funcs.py`` ``classification_free_energy``,
lines 305-316; it adds one label bias per class where we add the class's whole
block).  ``readout=gibbs`` (both rules; the only one for ``s2m-discrete``, whose
stationary distribution has no closed-form free energy) runs ``readout_steps``
alternating updates of the hidden and the label units with the data clamped,
starting with the labels off, and takes the class whose label units have the
largest summed ``P(on)`` over the steps -- classification by sampling, the
discrete counterpart of counting label spikes (eCD code ``accuracy_pre_trained.py``
lines 72-76).  The free-energy readout is Hinton 2010, Sec. 16.
"""
from __future__ import annotations

import abc

import numpy as np
from scipy.special import erf, expit

from ..errors import ParameterError
from ..params import Parameter, ParameterSet
from ..rules import EpochResult, LearningRule, register

BOLTZMANN_PARAMETERS = ParameterSet((
    Parameter("learning_rate", 0.1, "CD step size eta for weights and biases (per batch-mean update)",
              low=0.0, open_low=True,
              source="chosen here so that a few epochs of 8x8 digits suffice; eCD Table 1 "
                     "uses 1e-3 for standard CD on MNIST"),
    Parameter("batch_size", 10, "samples per CD update", kind=int, low=1,
              source="Hinton 2010, Sec. 4 (10 to 100; one per class)"),
    Parameter("weight_decay", 1e-4, "L2 decay of the weights: W += eta (dW - weight_decay W); "
              "biases do not decay", low=0.0,
              source="Hinton 2010, Sec. 10 (1e-2 to 1e-5); issue 10's spiking study "
                     "used about 1e-4"),
    Parameter("anneal_samples", 0.0, "eta_n = learning_rate / (1 + n / anneal_samples) after n "
              "training samples; 0 keeps eta constant", low=0.0,
              source="eCD code MNIST_SRM_RATE.py line 135 (n0 = 4000)"),
    Parameter("label_units_per_class", 4, "label units per class in the visible layer", kind=int,
              low=1, source="eCD code parameters_mnist.py lines 11-14 (40 label units, 10 classes)"),
    Parameter("input_encoding", "binary", "binary: pixels >= 0.5 are on; bernoulli: each pixel "
              "is on with probability equal to its intensity, drawn at every presentation",
              kind=str, choices=("binary", "bernoulli"),
              source="eCD code train_mnist.py line 21 and neusa/experimentLib.py lines 46-54 "
                     "(binarised MNIST)"),
    Parameter("init_scale", 0.1, "initial weights N(0, init_scale^2) (as the S2M's); "
              "biases start at 0", low=0.0, open_low=True,
              source="eCD code neusa/experimentLib.py lines 22-29, common.py line 39"),
    Parameter("readout_steps", 50, "alternating hidden/label updates of the gibbs readout",
              kind=int, low=1, source="chosen here; more steps cost time linearly"),
))

RBM_PARAMETERS = BOLTZMANN_PARAMETERS.extend(
    Parameter("readout", "free_energy", "free_energy: exact class posterior of the RBM; gibbs: "
              "label-unit activity while sampling with the data clamped", kind=str,
              choices=("free_energy", "gibbs"),
              source="Hinton 2010, Sec. 16; eCD code neusa/funcs.py lines 305-316"),
)

S2M_PARAMETERS = BOLTZMANN_PARAMETERS.extend(
    Parameter("p_release", 0.5, "probability that a synapse transmits at each update", low=0.0,
              high=1.0, open_low=True, open_high=True,
              source="Neftci et al. 2016 (S2M), blank-out probability 0.5"),
    Parameter("synapse_sampling", "erf", "erf: draw each unit from its erf firing probability "
              "(central limit of the Bernoulli synapses); bernoulli: draw every synapse's release",
              kind=str, choices=("erf", "bernoulli"),
              source="Neftci et al. 2016, discrete-time S2M (the erf form is the CLT limit)"),
)


def sigmoid_probability(state: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``P(z_i = 1) = sigmoid(sum_j w_ij z_j + b_i)`` for rows of ``state`` (RBM units).

    ``weights`` has shape ``(n_post, n_pre)``."""
    return expit(state @ weights.T + bias)


def s2m_probability(state: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                    p_release: float) -> np.ndarray:
    """Firing probability of S2M threshold units with Bernoulli synapses (Neftci et al. 2016).

    ``P(z_i = 1) = 1/2 (1 + erf(mu_i / sqrt(2 sigma_i^2)))``,
    ``mu_i = p sum_j w_ij z_j + b_i``, ``sigma_i^2 = p (1 - p) sum_j w_ij^2 z_j`` for binary
    rows ``z`` of ``state``; ``weights`` has shape ``(n_post, n_pre)``.  With no active
    input (``sigma_i = 0``) the unit is deterministic: on if ``b_i > 0``.
    """
    mean = p_release * (state @ weights.T) + bias
    var = p_release * (1.0 - p_release) * (state @ (weights * weights).T)
    out = (mean > 0).astype(float)
    noisy = var > 0
    out[noisy] = 0.5 * (1.0 + erf(mean[noisy] / np.sqrt(2.0 * var[noisy])))
    return out


def bernoulli_release_drive(state: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                            p_release: float, rng: np.random.Generator) -> np.ndarray:
    """``u_i = sum_j xi_ij w_ij z_j + b_i`` with one fresh ``xi_ij ~ Bernoulli(p)`` per
    synapse and sample (the S2M unit fires when ``u_i > 0``)."""
    drive = np.empty((len(state), len(weights)))
    rows = max(1, 2 ** 22 // weights.size)  # bound the release masks held at once
    for s in range(0, len(state), rows):
        released = rng.random((len(state[s:s + rows]), *weights.shape)) < p_release
        drive[s:s + rows] = np.einsum("bij,ij,bj->bi", released, weights, state[s:s + rows])
    return drive + bias


class BoltzmannRule(LearningRule):
    """Bipartite Boltzmann machine trained with CD-1; subclasses give the unit's
    firing probability (module docstring)."""

    family = "rate"
    parameters = BOLTZMANN_PARAMETERS
    #: training accuracy after each epoch on at most this many samples (gibbs readout is costly)
    train_eval_limit = 5000
    renamed_parameters = {"init_weight_std": "init_scale"}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if len(self.hidden) != 1:
            raise ParameterError(f"{self.name} has one hidden layer; --hidden takes one size, "
                                 f"e.g. 500; got {','.join(map(str, self.hidden))}")
        p = self.params
        self.n_hidden = self.hidden[0]
        self.n_label_units = self.n_classes * p["label_units_per_class"]
        self.n_visible = self.n_inputs + self.n_label_units
        self.W = self.rng.normal(0.0, p["init_scale"], size=(self.n_hidden, self.n_visible))
        self.b_visible = np.zeros(self.n_visible)
        self.b_hidden = np.zeros(self.n_hidden)
        # readout draws from its own stream, so evaluating never changes what is learned
        self.readout_rng = np.random.default_rng([self.seed, 3])
        self.samples_seen = 0

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.n_inputs, self.n_hidden, self.n_label_units)

    # -- the unit model
    @abc.abstractmethod
    def probability(self, state: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """``P(z_i = 1 | inputs)`` of the units fed by ``weights`` (``(n_post, n_pre)``)."""

    def sample(self, state, weights, bias, rng) -> tuple[np.ndarray, np.ndarray]:
        """Firing probabilities and binary states drawn from them."""
        prob = self.probability(state, weights, bias)
        return prob, (rng.random(prob.shape) < prob).astype(float)

    # -- encoding
    def encode(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Binary data states (``input_encoding``)."""
        x = np.asarray(x, float)
        if self.params["input_encoding"] == "binary":
            return (x >= 0.5).astype(float)
        return (rng.random(x.shape) < x).astype(float)

    def label_block(self, y: np.ndarray) -> np.ndarray:
        """Label units with the units of class ``y`` on, ``(len(y), n_label_units)``."""
        k = self.params["label_units_per_class"]
        out = np.zeros((len(y), self.n_label_units))
        out[np.arange(len(y))[:, None], np.asarray(y)[:, None] * k + np.arange(k)] = 1.0
        return out

    # -- learning
    def cd_gradients(self, v0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """CD-1 estimates ``(dW, db_visible, db_hidden, P(h | v0))`` for visible states ``v0``."""
        ph0, h0 = self.sample(v0, self.W, self.b_hidden, self.rng)
        _, v1 = self.sample(h0, self.W.T, self.b_visible, self.rng)
        ph1 = self.probability(v1, self.W, self.b_hidden)
        n = len(v0)
        dW = (ph0.T @ v0 - ph1.T @ v1) / n
        return dW, (v0 - v1).mean(axis=0), (ph0 - ph1).mean(axis=0), ph0

    def train_epoch(self, x, y) -> EpochResult:
        p = self.params
        y = np.asarray(y)
        hidden_on = 0.0
        for start in range(0, len(x), p["batch_size"]):
            xb, yb = x[start:start + p["batch_size"]], y[start:start + p["batch_size"]]
            v0 = np.concatenate([self.encode(xb, self.rng), self.label_block(yb)], axis=1)
            dW, db_v, db_h, ph0 = self.cd_gradients(v0)
            eta = p["learning_rate"]
            if p["anneal_samples"] > 0:
                eta /= 1.0 + self.samples_seen / p["anneal_samples"]
            self.W += eta * (dW - p["weight_decay"] * self.W)
            self.b_visible += eta * db_v
            self.b_hidden += eta * db_h
            self.samples_seen += len(xb)
            hidden_on += ph0.sum()
        activity = hidden_on / (len(x) * self.n_hidden)
        return EpochResult(variables={"hidden_activity": (
            (), activity, {"units": "1", "long_name": "mean firing probability of the hidden units "
                                                      "with data and labels clamped, over the epoch"})})

    # -- classification
    def class_scores(self, data: np.ndarray) -> np.ndarray:
        """Per-class label activity summed over ``readout_steps`` of sampling with the
        data states ``data`` clamped, ``(len(data), n_classes)``."""
        rng = self.readout_rng
        d = self.n_inputs
        v = np.concatenate([data, np.zeros((len(data), self.n_label_units))], axis=1)
        scores = np.zeros((len(data), self.n_label_units))
        w_label, b_label = self.W[:, d:].T, self.b_visible[d:]
        for _ in range(self.params["readout_steps"]):
            _, h = self.sample(v, self.W, self.b_hidden, rng)
            prob, v[:, d:] = self.sample(h, w_label, b_label, rng)
            # Rao-Blackwellised count: P(on) has the label state's mean and less variance
            scores += prob
        return scores.reshape(len(data), self.n_classes, -1).sum(axis=2)

    def predict(self, x) -> np.ndarray:
        x = np.asarray(x, float)
        out = [self.class_scores(self.encode(x[s:s + 2048], self.readout_rng)).argmax(axis=1)
               for s in range(0, len(x), 2048)]
        return np.concatenate(out) if out else np.empty(0, np.int64)

    def weights(self) -> list[np.ndarray]:
        """Data-to-hidden ``(n_hidden, n_inputs)`` and hidden-to-label
        ``(n_label_units, n_hidden)`` blocks of the one symmetric matrix."""
        return [self.W[:, :self.n_inputs].copy(), self.W[:, self.n_inputs:].T.copy()]


@register
class RBM(BoltzmannRule):
    """Restricted Boltzmann machine with label units, trained with CD-1 (module docstring)."""

    name = "rbm"
    summary = "restricted Boltzmann machine with label units, CD-1 (the S2M paper's baseline)"
    reference = ("Hinton (2002) Neural Comput. 14:1771; Hinton (2010) UTML TR 2010-003; "
                 "baseline of Neftci et al. (2016) Front. Neurosci. 10:241")
    parameters = RBM_PARAMETERS

    def probability(self, state, weights, bias):
        return sigmoid_probability(state, weights, bias)

    def free_energy_scores(self, data: np.ndarray) -> np.ndarray:
        """``-F(v, l_c)`` up to a term shared by all classes, ``(len(data), n_classes)``."""
        d, k = self.n_inputs, self.params["label_units_per_class"]
        drive = data @ self.W[:, :d].T + self.b_hidden
        w_class = self.W[:, d:].reshape(self.n_hidden, self.n_classes, k).sum(axis=2)
        b_class = self.b_visible[d:].reshape(self.n_classes, k).sum(axis=1)
        return np.logaddexp(0.0, drive[:, None, :] + w_class.T[None]).sum(axis=2) + b_class

    def class_scores(self, data):
        if self.params["readout"] == "free_energy":
            return self.free_energy_scores(data)
        return super().class_scores(data)


@register
class DiscreteS2M(BoltzmannRule):
    """Discrete-time synaptic sampling machine: threshold units, Bernoulli synapses,
    CD-1 (module docstring); classified by sampling (gibbs readout), as the spiking
    S2M is."""

    name = "s2m-discrete"
    summary = "discrete-time synaptic sampling machine: threshold units, Bernoulli synapses, CD-1"
    reference = ("Neftci, Pedroni, Joshi, Al-Shedivat & Cauwenberghs (2016) "
                 "Front. Neurosci. 10:241")
    parameters = S2M_PARAMETERS

    def probability(self, state, weights, bias):
        return s2m_probability(state, weights, bias, self.params["p_release"])

    def sample(self, state, weights, bias, rng):
        if self.params["synapse_sampling"] == "erf":
            return super().sample(state, weights, bias, rng)
        drive = bernoulli_release_drive(state, weights, bias, self.params["p_release"], rng)
        return self.probability(state, weights, bias), (drive > 0).astype(float)

"""Feedback alignment and its relatives: the error reaches hidden layers through
feedback matrices other than the transposed forward weights.

``fa``    Lillicrap, Cownden, Tweed & Akerman (2016) Nat. Commun. 7:13276: fixed random
          ``B_l`` replaces ``W_l^T`` in the backward chain,
          ``delta_l = f'(a_l) * B_{l+1} delta_{l+1}``.
``dfa``   Nokland (2016) NeurIPS: each hidden layer receives the output
          error directly, ``delta_l = f'(a_l) * D_l delta_L``, ``D_l`` fixed random.
``bfa``, ``bdfa``  Luo, Fu & Glass (2017) "Bidirectional backpropagation", arXiv:1702.07097,
          Sec. 4: ``fa`` / ``dfa`` whose feedback matrices also learn, each by its own
          objective driven by the label (:class:`BidirectionalFeedbackAlignment`,
          :class:`BidirectionalDirectFeedbackAlignment`).

Matrices are stored as they multiply column-vector errors in the papers: ``B_l``
has the shape of ``W_l^T``, ``(n_{l-1}, n_l)``; ``D_l`` has shape ``(n_l, n_L)``.
:meth:`FeedbackAlignment.set_feedback` replaces them (e.g. ``B_l = W_l^T`` makes
``fa`` compute backprop's update exactly).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..alignment import angle_degrees

from ..params import Parameter
from ..rules import register
from .mlp import (ACTIVATIONS, INITS, RATE_PARAMETERS, RateRule, Updates, init_weights, make_optimizer,
                  tuned_learning_rate)

#: the twin's search (workflows/config/tune_erbp_twin.yaml), the tuning procedure of
#: workflows/rules/tune.smk with the twin's SGD
TWIN_SEARCH = ("validation search (workflows/config/tune_erbp_twin.yaml): Fashion-MNIST, 10,000 "
               "training / 2,000 validation samples of its training set, 784-200-10, 8 epochs, "
               "seed 0; SGD learning_rate in {1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2}; winner 3e-3 "
               "(1e-2 and above diverge)")

FA_PARAMETERS = RATE_PARAMETERS.extend(
    Parameter("feedback_init", "glorot", "distribution of the initial feedback matrices "
              "(same schemes as init, drawn independently)", kind=str, choices=INITS,
              source="Lillicrap et al. 2016 and Nokland 2016 draw them uniformly at random"),
    Parameter("feedback_scale", 1.0, "factor applied to the initial feedback matrices",
              low=0.0, open_low=True),
)


@register
class FeedbackAlignment(RateRule):
    """Feedback alignment (Lillicrap et al. 2016): ``delta_l = f'(a_l) * (B_{l+1} delta_{l+1})``
    with fixed random ``B_{l+1}`` in place of ``W_{l+1}^T``; the weight update is
    backprop's form ``-eta delta_l h_{l-1}^T`` with this ``delta_l``.

    The step size is the tuning procedure's winner (``learning_rate`` source), below
    backprop's: at backprop's step the forward weights of the top layers move
    faster than they can come into alignment with ``B`` (README, rate-rule
    benchmark, for the measured angles)."""

    name = "fa"
    summary = "feedback alignment: fixed random feedback matrices replace W^T"
    reference = "Lillicrap, Cownden, Tweed & Akerman (2016) Nat. Commun. 7:13276"
    parameters = FA_PARAMETERS.extend(replace=(tuned_learning_rate(3e-4),))
    direct = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        rng = np.random.default_rng([self.seed, 2])  # feedback stream, independent of forward init
        self.feedback = [p["feedback_scale"] * init_weights(shape, p["feedback_init"], rng, self.dtype)
                         for shape in self.feedback_shapes()]

    def feedback_shapes(self) -> list[tuple[int, int]]:
        """``B_l`` for l = 2..L: ``(n_{l-1}, n_l)``."""
        s = self.layer_sizes
        return [(s[l - 1], s[l]) for l in range(2, len(s))]

    def set_feedback(self, matrices) -> None:
        """Replace the feedback matrices (shapes as :meth:`feedback_shapes`)."""
        matrices = list(matrices)
        shapes = self.feedback_shapes()
        if [np.shape(m) for m in matrices] != shapes:
            raise ValueError(f"feedback matrices must have shapes {shapes}")
        for dst, src in zip(self.feedback, matrices):
            np.copyto(dst, src)

    def compute_updates(self, x, targets, reuse=False) -> Updates:
        net = self.net
        fw = net.forward(x, reuse=reuse)
        out = net.output_delta(fw, targets, self.loss)
        if self.direct:
            deltas = net.propagate(fw, out, direct=self.feedback, reuse=reuse)
        else:
            deltas = net.propagate(fw, out, feedback=self.feedback, reuse=reuse)
        dW, db = net.weight_gradients(fw, deltas, reuse=reuse)
        return Updates(dW, db, deltas, fw.output, {"forward": fw})

    def backprop_pathways(self) -> list[np.ndarray]:
        """What backprop uses where this rule uses its feedback matrices: ``W_{l+1}^T``."""
        return [w.T for w in self.net.W[1:]]

    def feedback_angles(self) -> np.ndarray:
        angles = [angle_degrees(f, p) for f, p in zip(self.feedback, self.backprop_pathways())]
        return np.array(angles + [np.nan])  # the output layer receives no feedback


def _erbp_like(name, value, source):
    """``fa``'s parameter ``name`` with the twin's default ``value`` and its ``source``."""
    return dataclasses.replace(FA_PARAMETERS[name], default=value, source=source)


@register
class ERBPTwin(FeedbackAlignment):
    """The like-for-like rate twin of eRBP: feedback alignment run the way eRBP learns.

    eRBP (Neftci et al. 2017) is random backpropagation with a fixed random feedback
    matrix, as ``fa``, but it learns online, after every sample, by plain steps
    ``eta * dendrite * pre`` with the dendrite carrying label minus prediction (an MSE
    error on linear outputs), and its input layer sees the escape-noise data neurons'
    spike trains, which silence dark pixels.  So the twin is ``fa`` with batch size 1,
    SGD, the MSE loss and, as input, the data neurons' mean rates in units of a white
    pixel's (``inputs="escape_rates"``; ``escape_counts`` samples their spike counts
    instead).  Its learning rate comes from the tuning procedure; it cannot be eRBP's eta,
    whose units are the dendrite's.  ``fa`` stays the strong reference (Adam, batches,
    cross-entropy, pixels); the paper's claim (eRBP within about one point of GPU random
    BP) is about this like-for-like comparison (README, eRBP).
    """

    name = "erbp-twin"
    summary = "eRBP's rate twin: feedback alignment online (batch 1, SGD, MSE) on the escape-noise rates"
    reference = ("Neftci, Augustine, Paul & Detorakis (2017) Front. Neurosci. 11:324 (its rate "
                 "twin, random BP); Lillicrap et al. (2016) Nat. Commun. 7:13276")
    parameters = FA_PARAMETERS.extend(replace=(
        _erbp_like("batch_size", 1, "eRBP updates after every sample (online)"),
        _erbp_like("optimizer", "sgd", "eRBP's update is a plain step eta * dendrite * pre"),
        _erbp_like("loss", "mse", "eRBP's error neurons carry label minus prediction"),
        _erbp_like("inputs", "escape_rates", "eRBP's input layer is the escape-noise data neurons "
                                             "(Neftci et al. 2017, Table 2)"),
        _erbp_like("learning_rate", 3e-3, TWIN_SEARCH),
    ))


@register
class DirectFeedbackAlignment(FeedbackAlignment):
    """Direct feedback alignment (Nokland 2016): ``delta_l = f'(a_l) * (D_l delta_L)``
    for every hidden layer, ``D_l`` fixed random of shape ``(n_l, n_L)``.  With one
    hidden layer and ``D_1 = W_2^T`` this is backprop."""

    name = "dfa"
    summary = "direct feedback alignment: output error sent to every hidden layer by fixed random matrices"
    reference = "Nokland (2016) Direct feedback alignment provides learning in deep neural networks, NeurIPS 29"
    parameters = FA_PARAMETERS.extend(replace=(tuned_learning_rate(1e-4),))
    direct = True

    def feedback_shapes(self):
        """``D_l`` for l = 1..L-1: ``(n_l, n_L)``."""
        s = self.layer_sizes
        return [(s[l], s[-1]) for l in range(1, len(s) - 1)]

    def backprop_pathways(self):
        """Backprop's linear path from the output to layer l: ``(W_L ... W_{l+1})^T``
        (the nonlinearity derivatives left out, as in Nokland's alignment measure)."""
        paths, product = [], None
        for w in reversed(self.net.W[1:]):
            product = w if product is None else product @ w
            paths.append(product.T)
        return paths[::-1]


class TrainableFeedback:
    """Mixin making the feedback matrices of ``fa``/``dfa`` plastic (Luo, Fu & Glass 2017).

    A subclass provides :meth:`feedback_gradients` (the gradient of its feedback
    objective on one batch) and :meth:`feedback_parameters`; the feedback
    update uses the forward pass of the same batch, taken before the forward
    weights change, and the rule's optimiser at ``feedback_learning_rate``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.feedback_optimizer = make_optimizer(self.params, "feedback_learning_rate")

    def feedback_parameters(self) -> list[np.ndarray]:
        return list(self.feedback)

    def feedback_gradients(self, x, targets, fw) -> list[np.ndarray]:
        raise NotImplementedError

    def compute_updates(self, x, targets, reuse=False) -> Updates:
        upd = super().compute_updates(x, targets, reuse=reuse)
        upd.extra["feedback_grads"] = self.feedback_gradients(x, targets, upd.extra["forward"])
        return upd

    def apply_updates(self, upd) -> None:
        super().apply_updates(upd)
        self.feedback_optimizer.step(self.feedback_parameters(), upd.extra["feedback_grads"])


TRAINABLE_PARAMETERS = FA_PARAMETERS.extend(
    Parameter("feedback_learning_rate", 1e-4, "step size of the optimiser for the feedback weights",
              low=0.0, open_low=True,
              source="Luo et al. 2017's learning rate (1e-4), for the feedback weights too; the authors' "
                     "code (Models/ErrorFeedback.lua) adds 5e-5 times the batch sum instead"),
    replace=(
        Parameter("activation", "tanh", "transfer function of the hidden layers", kind=str,
                  choices=tuple(ACTIVATIONS), source="Luo et al. 2017, experiments (tanh)"),
        tuned_learning_rate(1e-3, paper="Luo et al. 2017 and the authors' README use 1e-4 "
                                       "(README: 300 epochs)"),
        Parameter("batch_size", 128, "samples per update; 1 = per-sample (online) learning",
                  kind=int, low=1, source="Luo et al. 2017, experiments (batch size 128)"),
    ),
)


@register
class BidirectionalFeedbackAlignment(TrainableFeedback, FeedbackAlignment):
    """Bidirectional feedback alignment (BFA; Luo et al. 2017, Sec. 4.1, eqs. 16 and 23-29).

    Forward weights learn as in ``fa`` through the feedback matrices ``B_l``
    (l = 2..L).  The feedback matrices, together with one more matrix ``B_1``
    (shape of ``W_1^T``, used only here) and biases ``c_l``, form a generative
    network driven by the label ``y``: ``g_L = y``, ``g_{l-1} = f(B_l g_l + c_{l-1})``
    for the hidden layers and ``x_hat = B_1 g_1 + c_0`` (linear) at the input.  It
    descends the reconstruction loss ``1/2 ||x_hat - x||^2`` (batch mean) by
    feedback alignment in the generative direction: the forward weights carry
    its errors upwards, ``eps_0 = x_hat - x``, ``eps_l = f'(B_{l+1} g_{l+1} + c_l) *
    (W_l eps_{l-1})``, and ``dB_l = eps_{l-1} g_l^T``, ``dc_{l-1} = eps_{l-1}``.  So each
    weight set is the other's fixed random feedback, and the two align.

    Departures: the reconstruction layer is linear (the paper's equations do not
    fix it; pixels are in [0, 1]); Adam is the optimiser of both sets (the
    authors' code uses RMSprop or SGD).
    """

    name = "bfa"
    summary = "feedback alignment whose feedback weights learn to reconstruct the input from the label"
    reference = "Luo, Fu & Glass (2017) Bidirectional backpropagation, arXiv:1702.07097, Sec. 4.1"
    parameters = TRAINABLE_PARAMETERS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        rng = np.random.default_rng([self.seed, 4])  # stream of the input reconstruction matrix
        n_in, n_1 = self.layer_sizes[:2]
        self.input_feedback = self.params["feedback_scale"] * init_weights(
            (n_in, n_1), self.params["feedback_init"], rng, self.dtype)
        self.feedback_bias = [np.zeros(n, self.dtype) for n in self.layer_sizes[:-1]]

    def generate(self, targets) -> tuple[list, list]:
        """Generative pass from the label: ``g[l]`` for l = 0..L (``g[0] = x_hat``, ``g[L] = y``)
        and the pre-activations ``pre[l]`` (None at the top)."""
        matrices = [self.input_feedback] + self.feedback
        L = self.net.n_layers
        g, pre = [None] * (L + 1), [None] * (L + 1)
        g[L] = targets
        for l in range(L, 0, -1):
            pre[l - 1] = g[l] @ matrices[l - 1].T + self.feedback_bias[l - 1]
            g[l - 1] = pre[l - 1] if l == 1 else self.net.f[l - 1](pre[l - 1])
        return g, pre

    def reconstruction_loss(self, x, targets) -> float:
        """``1/2 ||x_hat - x||^2``, batch mean."""
        return float(0.5 * np.sum((self.generate(targets)[0][0] - x) ** 2) / len(x))

    def feedback_parameters(self):
        return [self.input_feedback] + self.feedback + self.feedback_bias

    def feedback_gradients(self, x, targets, fw):
        g, pre = self.generate(targets)
        eps = (g[0] - x) / len(x)
        grads_b, grads_c = [], []
        for l in range(1, self.net.n_layers + 1):
            grads_b.append(eps.T @ g[l])
            grads_c.append(eps.sum(axis=0))
            if l < self.net.n_layers:
                eps = eps @ self.net.W[l - 1].T
                self.net.f[l].mul_derivative(eps, pre[l], g[l])
        return grads_b + grads_c


@register
class BidirectionalDirectFeedbackAlignment(TrainableFeedback, DirectFeedbackAlignment):
    """Bidirectional direct feedback alignment (BDFA; Luo et al. 2017, eqs. 39-42).

    Forward weights learn as in ``dfa`` through ``D_l`` (shape ``(n_l, n_L)``).  Each
    ``D_l`` projects the label to layer l, ``p_l = D_l y``, and learns to make that
    projection agree with the forward activity: it ascends
    ``log sigmoid(p_l . h_l)`` per sample, i.e. descends the batch mean of
    ``-log sigmoid(y^T D_l^T h_l)``, with gradient
    ``dD_l = -(1 - sigmoid(p_l . h_l)) h_l y^T`` (authors' code,
    ``Models/ErrorFeedback.lua``, ``accGradParameters``).

    Departures: the driving vector is the one-hot label (the authors' code
    also puts 0.25 times the network's output at the other classes); the step
    is the rule's optimiser on the batch mean (the authors' code adds a fixed
    5e-5 times the batch sum).
    """

    name = "bdfa"
    summary = "direct feedback alignment whose feedback weights learn to agree with forward activity"
    reference = "Luo, Fu & Glass (2017) Bidirectional backpropagation, arXiv:1702.07097, eqs. 39-42"
    parameters = TRAINABLE_PARAMETERS

    def feedback_gradients(self, x, targets, fw):
        grads = []
        for l, d in enumerate(self.feedback, start=1):
            h = fw.h[l]
            agreement = np.einsum("bi,bi->b", targets @ d.T, h)
            weight = -(1.0 - 1.0 / (1.0 + np.exp(-agreement))) / len(h)
            grads.append((h * weight[:, None]).T @ targets)
        return grads

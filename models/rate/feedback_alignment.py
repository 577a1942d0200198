"""Feedback alignment and its relatives: the error reaches hidden layers through
feedback matrices other than the transposed forward weights.

``fa``    Lillicrap, Cownden, Tweed & Akerman (2016) Nat. Commun. 7:13276: fixed random
          ``B_l`` replaces ``W_l^T`` in the backward chain,
          ``delta_l = f'(a_l) * B_{l+1} delta_{l+1}``.
``dfa``   Nokland (2016) NeurIPS: each hidden layer receives the output
          error directly, ``delta_l = f'(a_l) * D_l delta_L``, ``D_l`` fixed random.
``bfa``   ``fa`` with trainable ``B_l``;  ``bdfa``: ``dfa`` with trainable ``D_l``
          (Luo, Fu & Glass 2017, arXiv:1702.07097).

Matrices are stored as they multiply column-vector errors in the papers: ``B_l``
has the shape of ``W_l^T``, ``(n_{l-1}, n_l)``; ``D_l`` has shape ``(n_l, n_L)``.
:meth:`FeedbackAlignment.set_feedback` replaces them (e.g. ``B_l = W_l^T`` makes
``fa`` compute backprop's update exactly).
"""
from __future__ import annotations

import numpy as np

from ..alignment import angle_degrees

from ..params import Parameter
from ..rules import register
from .mlp import INITS, RATE_PARAMETERS, RateRule, Updates, init_weights, make_optimizer

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
    backprop's form ``-eta delta_l h_{l-1}^T`` with this ``delta_l``."""

    name = "fa"
    summary = "feedback alignment: fixed random feedback matrices replace W^T"
    reference = "Lillicrap, Cownden, Tweed & Akerman (2016) Nat. Commun. 7:13276"
    parameters = FA_PARAMETERS
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


@register
class DirectFeedbackAlignment(FeedbackAlignment):
    """Direct feedback alignment (Nokland 2016): ``delta_l = f'(a_l) * (D_l delta_L)``
    for every hidden layer, ``D_l`` fixed random of shape ``(n_l, n_L)``.  With one
    hidden layer and ``D_1 = W_2^T`` this is backprop."""

    name = "dfa"
    summary = "direct feedback alignment: output error sent to every hidden layer by fixed random matrices"
    reference = "Nokland (2016) Direct feedback alignment provides learning in deep neural networks, NeurIPS 29"
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

    Luo et al. train the feedback weights "to approximate the forward
    activations"; the equations of the paper could not be consulted while this
    was written, so the update is re-derived from that sentence and stated
    here in full.  Each feedback matrix ``K`` (with a bias ``c`` used only for
    this purpose) predicts the forward activity of the layer it feeds from the
    activity of the layer it reads, ``p = f(K s + c)``, and descends
    ``1/2 ||p - h_dst||^2``::

        eps = f'(K s + c) * (p - h_dst),    dK = eps s^T,    dc = eps

    (batch means).  ``bfa``: ``K = B_l``, ``s = h_l``, ``h_dst = h_{l-1}``;
    ``bdfa``: ``K = D_l``, ``s = h_L``, ``h_dst = h_l``.  The feedback update uses the
    forward pass of the same batch, taken before the forward weights change,
    with the rule's optimiser at ``feedback_learning_rate``.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.feedback_bias = [np.zeros(shape[0], self.dtype) for shape in self.feedback_shapes()]
        self.feedback_optimizer = make_optimizer(self.params, "feedback_learning_rate")

    def feedback_pairs(self, fw):
        """``(source activity, destination layer index)`` for each feedback matrix."""
        raise NotImplementedError

    def compute_updates(self, x, targets, reuse=False) -> Updates:
        upd = super().compute_updates(x, targets, reuse=reuse)
        fw = upd.extra["forward"]
        grads_k, grads_c = [], []
        for k, c, (src, dst) in zip(self.feedback, self.feedback_bias, self.feedback_pairs(fw)):
            pre = src @ k.T + c
            f = self.net.f[dst]
            eps = f(pre) - fw.h[dst]
            eps *= f.derivative(pre, f(pre)) / len(src)
            grads_k.append(eps.T @ src)
            grads_c.append(eps.sum(axis=0))
        upd.extra["feedback_grads"] = grads_k + grads_c
        return upd

    def apply_updates(self, upd) -> None:
        super().apply_updates(upd)
        self.feedback_optimizer.step(self.feedback + self.feedback_bias, upd.extra["feedback_grads"])


TRAINABLE_PARAMETERS = FA_PARAMETERS.extend(
    Parameter("feedback_learning_rate", 1e-3, "step size of the optimiser for the feedback weights",
              low=0.0, open_low=True, source="same as the forward learning rate by default"))


@register
class BidirectionalFeedbackAlignment(TrainableFeedback, FeedbackAlignment):
    """Bidirectional feedback alignment: ``fa`` whose ``B_l`` learn to map ``h_l`` to
    ``h_{l-1}`` (see :class:`TrainableFeedback` for the update)."""

    name = "bfa"
    summary = "feedback alignment with feedback weights trained to predict forward activities"
    reference = "Luo, Fu & Glass (2017) arXiv:1702.07097"
    parameters = TRAINABLE_PARAMETERS

    def feedback_pairs(self, fw):
        return [(fw.h[l], l - 1) for l in range(2, len(fw.h))]


@register
class BidirectionalDirectFeedbackAlignment(TrainableFeedback, DirectFeedbackAlignment):
    """Bidirectional direct feedback alignment: ``dfa`` whose ``D_l`` learn to map the
    output activity ``h_L`` to ``h_l`` (see :class:`TrainableFeedback`)."""

    name = "bdfa"
    summary = "direct feedback alignment with feedback weights trained to predict forward activities"
    reference = "Luo, Fu & Glass (2017) arXiv:1702.07097"
    parameters = TRAINABLE_PARAMETERS

    def feedback_pairs(self, fw):
        return [(fw.h[-1], l) for l in range(1, len(fw.h) - 1)]

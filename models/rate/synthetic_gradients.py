"""Synthetic gradients / decoupled neural interfaces (``dni``, ``cdni``).

Jaderberg et al. (2017) "Decoupled neural interfaces using synthetic gradients",
ICML, Sec. 2-3; Czarnecki et al. (2017) "Understanding synthetic gradients and
decoupled neural interfaces", ICML, Sec. 2.

Every hidden layer l has a gradient model ``M_l`` that predicts the per-sample
gradient of the loss with respect to its activity, ``g_l ~= d ell/d h_l``, from
``h_l`` (``dni``) or from ``h_l`` and the one-hot label ``y`` (``cdni``, Jaderberg
et al. Sec. 3.2).  Layer l then learns from ``delta_l = f'(a_l) * g_l`` at once,
without waiting for the layers above (update unlocking); the output layer learns
from the true output error.  ``M_l`` regresses ``1/2 ||g_l - g*_l||^2`` on

* ``sg_target = bootstrap`` (Jaderberg et al. Sec. 2; Czarnecki et al. Sec. 2):
  ``g*_l = W_{l+1}^T delta_{l+1}`` with the error the layer above actually used
  (the true output error for the top hidden layer, the synthetic one below);
* ``sg_target = true``: the backpropagated gradient ``d ell/d h_l`` (analysis only).

Gradient models are linear, ``g = A u + c``, or have one ReLU hidden layer,
``g = V relu(U u + d) + c`` (``sg_model``), with the output layer (``A`` or ``V``, and
``c``) initialised to zero (Jaderberg et al. Sec. 3: the synthetic gradient starts
at zero).  Czarnecki et al. (Sec. 3) prove that a linear model on a deep
linear network converges to the solution of the regression task.  For
``warmup_batches`` batches only the gradient models and the output layer learn;
the hidden layers do not apply the synthetic gradients yet.
"""
from __future__ import annotations

import numpy as np

from ..params import Parameter
from ..rules import register
from .mlp import RATE_PARAMETERS, RateRule, Updates, init_weights, make_optimizer

DNI_PARAMETERS = RATE_PARAMETERS.extend(
    Parameter("sg_model", "linear", "gradient model: linear, or mlp (one ReLU hidden layer)",
              kind=str, choices=("linear", "mlp"), source="Jaderberg et al. 2017, Sec. 3"),
    Parameter("sg_hidden_units", 256, "units of the gradient model's hidden layer (sg_model=mlp)",
              kind=int, low=1),
    Parameter("sg_learning_rate", 1e-3, "step size of the optimiser for the gradient models",
              low=0.0, open_low=True),
    Parameter("sg_target", "bootstrap", "bootstrap: the error backpropagated from the layer above's "
              "synthetic gradient (Jaderberg et al. Sec. 2); true: the backprop gradient",
              kind=str, choices=("bootstrap", "true")),
    Parameter("warmup_batches", 0, "batches during which the gradient models learn but the hidden "
              "layers do not apply synthetic gradients", kind=int, low=0),
)


class _GradientModel:
    """One layer's synthetic-gradient model (parameters listed in ``params``)."""

    def __init__(self, n_in: int, n_out: int, hidden: int | None, rng, dtype):
        z = np.zeros
        if hidden is None:
            self.params = [z((n_out, n_in), dtype), z(n_out, dtype)]
        else:
            self.params = [init_weights((hidden, n_in), "he", rng, dtype), z(hidden, dtype),
                           z((n_out, hidden), dtype), z(n_out, dtype)]

    def predict(self, u):
        """Prediction and what the gradient needs."""
        if len(self.params) == 2:
            a, c = self.params
            return u @ a.T + c, None
        U, d, V, c = self.params
        r = np.maximum(u @ U.T + d, 0.0)
        return r @ V.T + c, r

    def gradients(self, u, cache, err):
        """Gradient of ``1/2 mean ||g - g*||^2`` given ``err = (g - g*) / B``."""
        if cache is None:
            return [err.T @ u, err.sum(axis=0)]
        U, d, V, c = self.params
        back = (err @ V) * (cache > 0)
        return [back.T @ u, back.sum(axis=0), err.T @ cache, err.sum(axis=0)]


@register
class SyntheticGradients(RateRule):
    """Decoupled neural interfaces with synthetic gradients (module docstring)."""

    name = "dni"
    summary = "synthetic gradients: per-layer gradient models replace the backward pass"
    reference = "Jaderberg et al. (2017) ICML; Czarnecki et al. (2017) ICML"
    parameters = DNI_PARAMETERS
    conditioned = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        hidden = p["sg_hidden_units"] if p["sg_model"] == "mlp" else None
        extra = self.n_classes if self.conditioned else 0
        rng = np.random.default_rng([self.seed, 3])
        self.models = [_GradientModel(n + extra, n, hidden, rng, self.dtype) for n in self.hidden]
        self.sg_optimizer = make_optimizer(p, "sg_learning_rate")
        self.batches_seen = 0

    def model_input(self, h, targets):
        return np.hstack([h, targets]) if self.conditioned else h

    def compute_updates(self, x, targets, reuse=False) -> Updates:
        net = self.net
        fw = net.forward(x, reuse=reuse)
        n_batch, L = len(x), net.n_layers
        deltas = [None] * L
        deltas[-1] = net.output_delta(fw, targets, self.loss)
        inputs, caches, predictions = [], [], []
        for l in range(1, L):
            u = self.model_input(fw.h[l], targets)
            g, cache = self.models[l - 1].predict(u)
            d = g / n_batch                      # per-sample gradient -> batch-mean convention
            net.f[l].mul_derivative(d, fw.a[l], fw.h[l])
            deltas[l - 1] = d
            inputs.append(u), caches.append(cache), predictions.append(g)
        if self.params["sg_target"] == "true":
            chain = net.propagate(fw, deltas[-1])
        else:
            chain = deltas
        sg_grads = []
        for l in range(1, L):
            target = n_batch * (chain[l] @ net.W[l])          # per-sample d ell/d h_l
            err = (predictions[l - 1] - target) / n_batch
            sg_grads += self.models[l - 1].gradients(inputs[l - 1], caches[l - 1], err)
        dW, db = net.weight_gradients(fw, deltas, reuse=reuse)
        return Updates(dW, db, deltas, fw.output, {"sg_grads": sg_grads})

    def apply_updates(self, upd) -> None:
        if self.batches_seen >= self.params["warmup_batches"]:
            super().apply_updates(upd)
        else:
            self.optimizer.step([self.net.W[-1], self.net.b[-1]], [upd.dW[-1], upd.db[-1]])
        self.sg_optimizer.step([p for m in self.models for p in m.params], upd.extra["sg_grads"])
        self.batches_seen += 1


@register
class ConditionedSyntheticGradients(SyntheticGradients):
    """cDNI: gradient models see the layer's activity and the one-hot label
    (Jaderberg et al. 2017, Sec. 3.2; Czarnecki et al. 2017, Sec. 2)."""

    name = "cdni"
    summary = "synthetic gradients conditioned on the label (cDNI)"
    reference = "Jaderberg et al. (2017) ICML, Sec. 3.2; Czarnecki et al. (2017) ICML"
    conditioned = True

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

Gradient models are linear, ``g = A u + c``, or multilayer perceptrons with
``sg_hidden_layers`` ReLU hidden layers of ``sg_hidden_units`` each (``sg_model=mlp``),
e.g. ``g = V relu(U u + d) + c`` for one; hidden layers are He-initialised and the
output layer (``A`` or ``V``, and ``c``) starts at zero (Jaderberg et al. Sec. 3: the
synthetic gradient starts at zero).  Jaderberg et al. also used gradient models
deeper than one hidden layer in their feed-forward experiments (appendix; their
widths and depths per experiment are not copied into the defaults here).  Czarnecki et al. (Sec. 3) prove that a linear model on a deep
linear network converges to the solution of the regression task.  For
``warmup_batches`` batches only the gradient models and the output layer learn;
the hidden layers do not apply the synthetic gradients yet.
"""
from __future__ import annotations

import numpy as np

from ..params import Parameter
from ..rules import register
from .mlp import RATE_PARAMETERS, RateRule, Updates, init_weights, make_optimizer, tuned_learning_rate

DNI_PARAMETERS = RATE_PARAMETERS.extend(
    Parameter("sg_model", "linear", "gradient model: linear, or mlp (sg_hidden_layers ReLU layers)",
              kind=str, choices=("linear", "mlp"), source="Jaderberg et al. 2017, Sec. 3"),
    Parameter("sg_hidden_units", 256, "units of each hidden layer of the gradient model (sg_model=mlp)",
              kind=int, low=1),
    Parameter("sg_hidden_layers", 1, "ReLU hidden layers of the gradient model (sg_model=mlp)",
              kind=int, low=1, source="Jaderberg et al. 2017, appendix: deeper models than one layer"),
    Parameter("sg_learning_rate", 1e-3, "step size of the optimiser for the gradient models",
              low=0.0, open_low=True),
    Parameter("sg_target", "bootstrap", "bootstrap: the error backpropagated from the layer above's "
              "synthetic gradient (Jaderberg et al. Sec. 2); true: the backprop gradient",
              kind=str, choices=("bootstrap", "true")),
    Parameter("warmup_batches", 0, "batches during which the gradient models learn but the hidden "
              "layers do not apply synthetic gradients", kind=int, low=0),
)


class _GradientModel:
    """One layer's synthetic-gradient model: ``len(hidden)`` ReLU layers, then a
    zero-initialised linear output (parameters listed in ``params``, weight then
    bias per layer)."""

    def __init__(self, n_in: int, n_out: int, hidden: tuple[int, ...], rng, dtype):
        sizes = (n_in, *hidden)
        self.params = []
        for m, n in zip(sizes[:-1], sizes[1:]):
            self.params += [init_weights((n, m), "he", rng, dtype), np.zeros(n, dtype)]
        self.params += [np.zeros((n_out, sizes[-1]), dtype), np.zeros(n_out, dtype)]

    def predict(self, u):
        """Prediction and the inputs of every layer (what the gradient needs)."""
        inputs = [u]
        for w, b in zip(self.params[:-2:2], self.params[1:-2:2]):
            inputs.append(np.maximum(inputs[-1] @ w.T + b, 0.0))
        return inputs[-1] @ self.params[-2].T + self.params[-1], inputs

    def gradients(self, inputs, err):
        """Gradient of ``1/2 mean ||g - g*||^2`` given ``err = (g - g*) / B``."""
        grads = []
        for k in range(len(inputs) - 1, -1, -1):
            grads[:0] = [err.T @ inputs[k], err.sum(axis=0)]
            if k:
                err = (err @ self.params[2 * k]) * (inputs[k] > 0)
        return grads


@register
class SyntheticGradients(RateRule):
    """Decoupled neural interfaces with synthetic gradients (module docstring)."""

    name = "dni"
    summary = "synthetic gradients: per-layer gradient models replace the backward pass"
    reference = "Jaderberg et al. (2017) ICML; Czarnecki et al. (2017) ICML"
    parameters = DNI_PARAMETERS.extend(replace=(tuned_learning_rate(1e-4),))
    conditioned = False

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        hidden = (p["sg_hidden_units"],) * p["sg_hidden_layers"] if p["sg_model"] == "mlp" else ()
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
        caches, predictions = [], []
        for l in range(1, L):
            g, cache = self.models[l - 1].predict(self.model_input(fw.h[l], targets))
            d = g / n_batch                      # per-sample gradient -> batch-mean convention
            net.f[l].mul_derivative(d, fw.a[l], fw.h[l])
            deltas[l - 1] = d
            caches.append(cache), predictions.append(g)
        if self.params["sg_target"] == "true":
            chain = net.propagate(fw, deltas[-1])
        else:
            chain = deltas
        sg_grads = []
        for l in range(1, L):
            target = n_batch * (chain[l] @ net.W[l])          # per-sample d ell/d h_l
            err = (predictions[l - 1] - target) / n_batch
            sg_grads += self.models[l - 1].gradients(caches[l - 1], err)
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
    parameters = DNI_PARAMETERS.extend(replace=(tuned_learning_rate(3e-4),))
    conditioned = True

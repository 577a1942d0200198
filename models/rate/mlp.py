"""The one multilayer-perceptron core shared by every rate-based rule.

Conventions (used by every module of :mod:`bioprop.models.rate`):

* samples are rows: a batch is ``(B, n)``; layer ``l`` (1..L) has weights
  ``W[l-1]`` of shape ``(n_l, n_{l-1})`` and bias ``b[l-1]`` of shape ``(n_l,)``;
* forward pass ``a_l = h_{l-1} W_l^T + b_l``, ``h_l = f_l(a_l)``, ``h_0 = x``;
  :class:`Forward` keeps every ``a_l`` and ``h_l``;
* losses are means over the batch of the per-sample loss ``ell``
  (MSE ``ell = 1/2 ||h_L - y||^2``; cross-entropy ``ell = -sum_k y_k log softmax(h_L)_k``);
* an *error signal* ``delta_l`` is (an estimate of) ``dLoss/da_l`` of the batch-mean
  loss, shape ``(B, n_l)``; a *raw update* is (an estimate of) ``dLoss/dW_l``
  before the optimiser, so every rule's raw update can be compared with
  backprop's on the same batch and weights (:meth:`RateRule.alignment`).

A rule derives from :class:`RateRule` and implements
:meth:`RateRule.compute_updates`, which must not change any state (it is also
called on the alignment probe batch); :meth:`RateRule.apply_updates` changes it.
"""
from __future__ import annotations

import abc
import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import blas

from .. import schema
from ..encoding import ESCAPE_ENCODINGS, escape_input_activity
from ..errors import ParameterError
from ..params import Parameter, ParameterSet
from ..rules import EpochResult, LearningRule
from ..alignment import angle_degrees, mean_row_angle

#: slope of the leaky ReLU for negative input (Ahmad et al. 2020, Sec. 4: 0.1)
LEAKY_SLOPE = 0.1


# --------------------------------------------------------------------------- activations
class Activation:
    """Elementwise transfer function ``f`` with derivative and, where it exists, inverse."""

    name = "linear"
    invertible = True

    def __call__(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if out is None:
            return a.copy()
        np.copyto(out, a)
        return out

    def derivative(self, a: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``f'(a)`` (``h = f(a)`` is passed so sigmoid/tanh need no recomputation)."""
        return np.ones_like(a)

    def mul_derivative(self, delta: np.ndarray, a: np.ndarray, h: np.ndarray) -> None:
        """``delta *= f'(a)`` in place."""

    def inverse_step(self, a: np.ndarray, h: np.ndarray, step: np.ndarray) -> np.ndarray:
        """``f^-1(h + step) - a``: the exact pre-activation change that moves ``h`` by
        ``step``, computed without subtracting nearly equal numbers."""
        return step.copy()


class ReLU(Activation):
    name = "relu"
    invertible = False

    def __call__(self, a, out=None):
        return np.maximum(a, 0, out=out)

    def derivative(self, a, h):
        return (a > 0).astype(a.dtype)

    def mul_derivative(self, delta, a, h):
        np.multiply(delta, a > 0, out=delta)

    def inverse_step(self, a, h, step):
        raise ParameterError("relu has no inverse; target propagation needs leaky_relu or linear")


class LeakyReLU(Activation):
    name = "leaky_relu"

    def __call__(self, a, out=None):
        out = np.multiply(a, LEAKY_SLOPE, out=out)
        return np.maximum(a, out, out=out)

    def derivative(self, a, h):
        return np.where(a > 0, 1.0, LEAKY_SLOPE).astype(a.dtype)

    def mul_derivative(self, delta, a, h):
        delta[a <= 0] *= LEAKY_SLOPE

    def inverse_step(self, a, h, step):
        moved = h + step
        same_side = (moved > 0) == (a > 0)
        inverse = np.where(moved > 0, moved, moved / LEAKY_SLOPE)
        return np.where(same_side, step / self.derivative(a, h), inverse - a)


class Tanh(Activation):
    name = "tanh"

    def __call__(self, a, out=None):
        return np.tanh(a, out=out)

    def derivative(self, a, h):
        return 1.0 - h * h

    def mul_derivative(self, delta, a, h):
        delta *= 1.0 - h * h

    def inverse_step(self, a, h, step):
        return np.arctanh(h + step) - a


class Sigmoid(Activation):
    name = "sigmoid"

    def __call__(self, a, out=None):
        out = np.negative(a, out=out)
        np.exp(out, out=out)
        out += 1.0
        return np.reciprocal(out, out=out)

    def derivative(self, a, h):
        return h * (1.0 - h)

    def mul_derivative(self, delta, a, h):
        delta *= h * (1.0 - h)

    def inverse_step(self, a, h, step):
        moved = h + step
        return np.log(moved / (1.0 - moved)) - a


ACTIVATIONS: dict[str, Activation] = {f.name: f for f in (Activation(), ReLU(), LeakyReLU(), Tanh(), Sigmoid())}


# --------------------------------------------------------------------------- losses
LOSSES = ("mse", "cross_entropy")
#: what a rate network's input layer can see (the ``inputs`` parameter)
INPUTS = ("pixels", "escape_rates", "escape_counts")


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def loss_value(h_out: np.ndarray, targets: np.ndarray, loss: str) -> float:
    """Batch-mean loss (module docstring) of outputs ``h_out`` for ``targets``."""
    if loss == "mse":
        return float(0.5 * np.sum((h_out - targets) ** 2) / len(h_out))
    z = h_out - h_out.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-np.sum(targets * log_p) / len(h_out))


def loss_grad_output(h_out: np.ndarray, targets: np.ndarray, loss: str) -> np.ndarray:
    """Per-sample ``d ell / d h_L`` (not divided by the batch size)."""
    if loss == "mse":
        return h_out - targets
    return softmax(h_out) - targets


# --------------------------------------------------------------------------- initialisation
INITS = ("glorot", "he", "orthogonal", "normal")


def init_weights(shape: tuple[int, int], scheme: str, rng: np.random.Generator, dtype) -> np.ndarray:
    """Initial ``(n_out, n_in)`` weights.

    ``glorot``: U(+-sqrt(6/(n_in+n_out))) (Glorot & Bengio 2010); ``he``: N(0, 2/n_in)
    (He et al. 2015); ``orthogonal``: orthonormal rows (or columns, whichever are
    fewer) from the QR decomposition of a Gaussian matrix with the sign of R's
    diagonal fixed, so the draw is Haar distributed (Saxe et al. 2014);
    ``normal``: N(0, 1/n_in).
    """
    n_out, n_in = shape
    if scheme == "glorot":
        limit = np.sqrt(6.0 / (n_in + n_out))
        w = rng.uniform(-limit, limit, size=shape)
    elif scheme == "he":
        w = rng.normal(0.0, np.sqrt(2.0 / n_in), size=shape)
    elif scheme == "normal":
        w = rng.normal(0.0, np.sqrt(1.0 / n_in), size=shape)
    elif scheme == "orthogonal":
        big, small = max(shape), min(shape)
        q, r = np.linalg.qr(rng.normal(size=(big, small)))
        q *= np.sign(np.diag(r))
        w = q if n_out >= n_in else q.T
    else:
        raise ParameterError(f"unknown init scheme {scheme!r}; choose one of {', '.join(INITS)}")
    return np.ascontiguousarray(w, dtype=dtype)


# --------------------------------------------------------------------------- optimisers
def _axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """``y += alpha * x`` in place, one pass, no temporary (BLAS axpy)."""
    f = blas.get_blas_funcs("axpy", (y,))
    f(x.ravel(), y.reshape(-1), a=alpha)


class SGD:
    """Plain gradient descent ``p -= lr * g``."""

    def __init__(self, lr: float):
        self.lr = lr

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for p, g in zip(params, grads):
            _axpy(-self.lr, g, p)


class Adam:
    """Adam (Kingma & Ba 2015, Algorithm 1), state kept per parameter array.

    Arrays are updated in place, so a subset of parameters may be stepped
    (synthetic-gradient warm-up) without disturbing the others' moments."""

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.state: dict[int, list] = {}

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None:
        for p, g in zip(params, grads):
            st = self.state.get(id(p))
            if st is None:
                st = self.state[id(p)] = [0, np.zeros_like(p), np.zeros_like(p), np.empty_like(p)]
            st[0] += 1
            t, m, v, tmp = st
            m *= self.beta1
            _axpy(1.0 - self.beta1, g, m)
            v *= self.beta2
            np.multiply(g, g, out=tmp)
            _axpy(1.0 - self.beta2, tmp, v)
            # bias corrections folded into the step size and epsilon (Algorithm 1, last lines)
            c2 = np.sqrt(1.0 - self.beta2 ** t)
            step = self.lr * c2 / (1.0 - self.beta1 ** t)
            np.sqrt(v, out=tmp)
            tmp += self.eps * c2
            np.divide(m, tmp, out=tmp)
            _axpy(-step, tmp, p)


def make_optimizer(params: dict[str, Any], lr_name: str = "learning_rate"):
    lr = params[lr_name]
    if params["optimizer"] == "sgd":
        return SGD(lr)
    return Adam(lr, params["adam_beta1"], params["adam_beta2"], params["adam_epsilon"])


# --------------------------------------------------------------------------- network
@dataclass
class Forward:
    """Activities of one forward pass: ``a[l]``, ``h[l]`` for l = 0..L (``a[0]`` is None, ``h[0] = x``)."""

    a: list
    h: list

    @property
    def output(self) -> np.ndarray:
        return self.h[-1]


class Network:
    """Weights, biases and the passes every rule shares.

    ``reuse=True`` writes activities into buffers kept per batch size (the
    training path: no allocation per batch); such results are overwritten by
    the next call with the same batch size.
    """

    def __init__(self, sizes: tuple[int, ...], activation: str, output_activation: str,
                 init: str, rng: np.random.Generator, dtype):
        self.sizes = tuple(sizes)
        self.dtype = np.dtype(dtype)
        self.f = [None] + [ACTIVATIONS[activation]] * (len(sizes) - 2) + [ACTIVATIONS[output_activation]]
        self.W = [init_weights((n, m), init, rng, self.dtype) for m, n in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(n, self.dtype) for n in sizes[1:]]
        self._buffers: dict[int, tuple[list, list, list]] = {}
        self._grads = None

    @property
    def n_layers(self) -> int:
        return len(self.W)

    def _buffer(self, batch: int):
        buf = self._buffers.get(batch)
        if buf is None:
            shape = [(batch, n) for n in self.sizes[1:]]
            buf = self._buffers[batch] = ([np.empty(s, self.dtype) for s in shape],
                                          [np.empty(s, self.dtype) for s in shape],
                                          [np.empty(s, self.dtype) for s in shape])
        return buf

    def forward(self, x: np.ndarray, reuse: bool = False) -> Forward:
        a_list, h_list = [None], [x]
        bufs = self._buffer(len(x)) if reuse else None
        for l, (w, b) in enumerate(zip(self.W, self.b), start=1):
            a = np.matmul(h_list[-1], w.T, out=bufs[0][l - 1] if reuse else None)
            a += b
            h = self.f[l](a, out=bufs[1][l - 1] if reuse else None)
            a_list.append(a)
            h_list.append(h)
        return Forward(a_list, h_list)

    def output_delta(self, fw: Forward, targets: np.ndarray, loss: str) -> np.ndarray:
        """``delta_L = f_L'(a_L) * d ell/d h_L / B`` (gradient of the batch-mean loss)."""
        delta = loss_grad_output(fw.output, targets, loss)
        delta *= 1.0 / len(delta)
        self.f[-1].mul_derivative(delta, fw.a[-1], fw.h[-1])
        return delta

    def propagate(self, fw: Forward, delta_out: np.ndarray, feedback: list | None = None,
                  direct: list | None = None, reuse: bool = False) -> list[np.ndarray]:
        """Error signals ``[delta_1, ..., delta_L]`` from the output error.

        ``feedback=None``: backpropagation, ``delta_l = f'(a_l) * delta_{l+1} W_{l+1}``
        (Rumelhart et al. 1986).  ``feedback=[B_2, ..., B_L]`` (``B_l`` shaped like
        ``W_l^T``): the same chain through ``B_l`` instead of ``W_l^T`` (feedback
        alignment).  ``direct=[D_1, ..., D_{L-1}]`` (``D_l`` of shape ``(n_l, n_L)``):
        ``delta_l = f'(a_l) * delta_L D_l^T`` (direct feedback alignment).
        """
        L = self.n_layers
        deltas = [None] * L
        deltas[-1] = delta_out
        bufs = self._buffer(len(delta_out))[2] if reuse else [None] * L
        for l in range(L - 1, 0, -1):  # hidden layer l (1-based) from layer l+1
            if direct is not None:
                d = np.matmul(delta_out, direct[l - 1].T, out=bufs[l - 1])
            else:
                back = self.W[l] if feedback is None else feedback[l - 1].T
                d = np.matmul(deltas[l], back, out=bufs[l - 1])
            self.f[l].mul_derivative(d, fw.a[l], fw.h[l])
            deltas[l - 1] = d
        return deltas

    def weight_gradients(self, fw: Forward, deltas: list, reuse: bool = False):
        """``dLoss/dW_l = delta_l^T h_{l-1}``, ``dLoss/db_l = sum over batch of delta_l``."""
        if reuse and self._grads is None:
            self._grads = [np.empty_like(w) for w in self.W]
        dW = [np.matmul(d.T, h, out=self._grads[i] if reuse else None)
              for i, (d, h) in enumerate(zip(deltas, fw.h[:-1]))]
        db = [d.sum(axis=0) for d in deltas]
        return dW, db


# --------------------------------------------------------------------------- rule base
@dataclass
class Updates:
    """Result of :meth:`RateRule.compute_updates` for one batch.

    ``dW``, ``db``: raw forward updates (estimates of dLoss/dW_l, dLoss/db_l);
    ``errors``: the rule's error signals ``[delta_1..delta_L]`` (estimates of
    dLoss/da_l); ``output``: network output for the batch (online predictions);
    ``extra``: whatever else the rule's :meth:`apply_updates` needs.
    """

    dW: list
    db: list
    errors: list
    output: np.ndarray
    extra: dict = field(default_factory=dict)


def backprop_updates(net: Network, x: np.ndarray, targets: np.ndarray, loss: str,
                     reuse: bool = False) -> Updates:
    """Backpropagation's updates on ``net`` (the reference every alignment uses)."""
    fw = net.forward(x, reuse=reuse)
    deltas = net.propagate(fw, net.output_delta(fw, targets, loss), reuse=reuse)
    dW, db = net.weight_gradients(fw, deltas, reuse=reuse)
    return Updates(dW, db, deltas, fw.output)


RATE_PARAMETERS = ParameterSet((
    Parameter("learning_rate", 1e-3, "step size of the optimiser for the forward weights",
              low=0.0, open_low=True, source="Kingma & Ba 2015 (Adam default)"),
    Parameter("optimizer", "adam", "sgd: p -= lr*g; adam: Kingma & Ba 2015, Algorithm 1",
              kind=str, choices=("sgd", "adam")),
    Parameter("adam_beta1", 0.9, "Adam decay rate of the first moment", low=0.0, high=1.0,
              open_high=True, source="Kingma & Ba 2015"),
    Parameter("adam_beta2", 0.999, "Adam decay rate of the second moment", low=0.0, high=1.0,
              open_high=True, source="Kingma & Ba 2015"),
    Parameter("adam_epsilon", 1e-8, "Adam denominator offset", low=0.0, open_low=True,
              source="Kingma & Ba 2015"),
    Parameter("batch_size", 10, "samples per update; 1 = per-sample (online) learning",
              kind=int, low=1, source="small batches: every rule learns within a few epochs of 8x8 digits"),
    Parameter("loss", "cross_entropy", "mse: 1/2||h_L - y||^2; cross_entropy: softmax of h_L vs one-hot y",
              kind=str, choices=LOSSES),
    Parameter("activation", "relu", "transfer function of the hidden layers",
              kind=str, choices=tuple(ACTIVATIONS)),
    Parameter("output_activation", "linear", "transfer function of the output layer",
              kind=str, choices=tuple(ACTIVATIONS)),
    Parameter("init", "glorot", "initial forward weights (glorot, he, orthogonal, normal)",
              kind=str, choices=INITS),
    Parameter("dtype", "float64", "floating-point type of weights and activities",
              kind=str, choices=("float64", "float32")),
    Parameter("inputs", "pixels", "what the input layer sees: pixels; escape_rates, the mean "
              "rates of eRBP's escape-noise data neurons in units of a white pixel's "
              "(bioprop.models.encoding.escape_input_activity); escape_counts, their Poisson "
              "spike counts over count_window, drawn anew at every presentation",
              kind=str, choices=INPUTS,
              source="ours, for like-for-like rate twins of spiking rules (eRBP: Neftci et al. "
                     "2017, Table 2 encoding)"),
    Parameter("escape_encoding", "auryn", "escape-noise encoding of escape_rates / escape_counts "
              "(bioprop.models.encoding.ESCAPE_ENCODINGS)", kind=str, choices=tuple(ESCAPE_ENCODINGS)),
    Parameter("count_window", 200.0, "window of the escape_counts spike counts (eRBP: the sample's "
              "250 ms less its 50 ms settle time)", "ms", low=0.0, open_low=True),
    Parameter("record_alignment", False, "record update_angle, error_angle, error_sample_angle and feedback_angle "
              "(degrees, versus backprop) and dead_fraction per epoch on a fixed probe batch", kind=bool),
    Parameter("alignment_samples", 256, "training samples in the alignment probe batch",
              kind=int, low=1),
))


#: The tuning procedure (workflows/rules/tune.smk), the same for every rate rule:
#: an Adam learning-rate search, each rule's other defaults fixed, selected on
#: the peak validation accuracy (the test set is never read).
TUNING_SEARCH = ("validation search (workflows/config/tune_rate.yaml): Fashion-MNIST, 10,000 training / "
                 "2,000 validation samples of its training set, 784-256-256-256-10, 8 epochs, seed 0; "
                 "grid learning_rate in {grid}; winner {winner:g}")


def tuned_learning_rate(winner: float, grid=(3e-5, 1e-4, 3e-4, 1e-3), paper: str = "") -> Parameter:
    """The ``learning_rate`` parameter of a rule, its default the winner of
    :data:`TUNING_SEARCH`; ``paper`` names the paper's own value where it gives one."""
    source = TUNING_SEARCH.format(grid="{" + ", ".join(f"{g:g}" for g in grid) + "}", winner=winner)
    return Parameter("learning_rate", winner, "step size of the optimiser for the forward weights",
                     low=0.0, open_low=True, source=source + (f"; {paper}" if paper else ""))


class RateRule(LearningRule):
    """Base of the rate rules: network, optimiser, epoch loop, alignment records."""

    family = "rate"
    parameters = RATE_PARAMETERS

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        self.dtype = np.dtype(p["dtype"])
        self.loss = p["loss"]
        self.batch_size = p["batch_size"]
        self.net = self.build_network()
        self.optimizer = make_optimizer(p)
        self._probe = None

    def build_network(self) -> Network:
        p = self.params
        return Network(self.layer_sizes, p["activation"], p["output_activation"], p["init"],
                       self.rng, self.dtype)

    # -- the two methods a rule provides
    @abc.abstractmethod
    def compute_updates(self, x: np.ndarray, targets: np.ndarray, reuse: bool = False) -> Updates:
        """The rule's raw updates for a batch; changes no state."""

    def apply_updates(self, upd: Updates) -> None:
        """Apply ``upd`` through the optimiser (rules with more state extend this)."""
        self.optimizer.step(self.net.W + self.net.b, upd.dW + upd.db)

    def feedback_angles(self) -> np.ndarray | None:
        """Per weight layer, angle (degrees) between the feedback pathway that
        carries the error to layer l and backprop's (``W_{l+1}^T``); None if the
        rule has no feedback weights."""
        return None

    # -- shared machinery
    def targets(self, y: np.ndarray) -> np.ndarray:
        """One-hot targets in the network's dtype."""
        t = np.zeros((len(y), self.n_classes), self.dtype)
        t[np.arange(len(y)), y] = 1.0
        return t

    def network_inputs(self, x: np.ndarray) -> np.ndarray:
        """What the input layer sees for pixels ``x`` (the ``inputs`` parameter), in the
        network's dtype; ``escape_counts`` draws new counts from the rule's generator."""
        p = self.params
        if p["inputs"] != "pixels":
            from brian2 import ms
            window = float(p["count_window"] / ms) if p["inputs"] == "escape_counts" else None
            x = escape_input_activity(np.clip(x, 0.0, 1.0), p["escape_encoding"], window, self.rng)
        return np.ascontiguousarray(x, dtype=self.dtype)

    def train_epoch(self, x, y) -> EpochResult:
        x = self.network_inputs(x)
        t = self.targets(np.asarray(y))
        if self.params["record_alignment"] and self._probe is None:
            k = min(self.params["alignment_samples"], len(x))
            self._probe = (x[:k].copy(), t[:k].copy())
        predictions = np.empty(len(x), np.int64)
        bs = self.batch_size
        for start in range(0, len(x), bs):
            upd = self.compute_updates(x[start:start + bs], t[start:start + bs], reuse=True)
            predictions[start:start + bs] = upd.output[:, :self.n_classes].argmax(axis=1)
            self.apply_updates(upd)
        variables = self.alignment_variables(*self._probe) if self._probe is not None else {}
        return EpochResult(train_predictions=predictions, variables=variables)

    def predict(self, x) -> np.ndarray:
        x = self.network_inputs(x)
        out = [self.net.forward(x[s:s + 4096]).output[:, :self.n_classes].argmax(axis=1)
               for s in range(0, len(x), 4096)]
        return np.concatenate(out) if out else np.empty(0, np.int64)

    def evaluate(self, x):
        return self.predict(x), schema.rate_macs_record(self.layer_sizes)

    def weights(self) -> list[np.ndarray]:
        return [w.copy() for w in self.net.W]

    def alignment(self, x: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
        """Angles (degrees) per weight layer between this rule and backprop on one batch
        with the current weights: ``update_angle`` (raw weight updates
        :attr:`Updates.dW`, which leave out any regulariser such as the
        orthogonality penalty of ``gaitprop``/``tp``, so only the learning signal is
        compared), ``error_angle`` (error signals flattened over the batch),
        ``error_sample_angle`` (the mean over samples of the per-sample angle,
        :func:`~bioprop.models.alignment.mean_row_angle`) and, where the rule has
        feedback weights, ``feedback_angle``."""
        mine = copy.deepcopy(self.compute_updates(x, targets))
        ref = backprop_updates(self.net, x, targets, self.loss)
        out = {"update_angle": np.array([angle_degrees(a, b) for a, b in zip(mine.dW, ref.dW)]),
               "error_angle": np.array([angle_degrees(a, b) for a, b in zip(mine.errors, ref.errors)]),
               "error_sample_angle": np.array([mean_row_angle(a, b) for a, b in zip(mine.errors, ref.errors)])}
        fb = self.feedback_angles()
        if fb is not None:
            out["feedback_angle"] = np.asarray(fb, float)
        out["dead_fraction"] = self.dead_fraction(x)
        return out

    def dead_fraction(self, x: np.ndarray, tolerance: float = 1e-3) -> np.ndarray:
        """Per weight layer, the fraction of the units it feeds whose activation derivative
        is below ``tolerance`` on every sample of ``x``: they pass no error back and their
        incoming weights do not learn (silent ReLUs, saturated tanh or sigmoid units).
        NaN for the output layer."""
        fw = self.net.forward(x)
        out = np.full(self.net.n_layers, np.nan)
        for l in range(1, self.net.n_layers):
            slope = self.net.f[l].derivative(fw.a[l], fw.h[l])
            out[l - 1] = float(np.mean(np.all(np.abs(slope) < tolerance, axis=0)))
        return out

    # (units, long name) of every alignment variable
    _ALIGNMENT_ATTRS = {
        "update_angle": ("degree", "angle between the rule's and backprop's weight update on the "
                         "probe batch (regularisers such as the orthogonality penalty excluded)"),
        "error_angle": ("degree", "angle between the rule's and backprop's error signals dLoss/da "
                        "on the probe batch, flattened over the batch"),
        "error_sample_angle": ("degree", "mean over the probe batch of the per-sample angle between "
                               "the rule's and backprop's error signals dLoss/da"),
        "feedback_angle": ("degree", "angle between feedback weights and the transposed forward "
                           "weights backprop would use (NaN where a layer receives no feedback)"),
        "dead_fraction": ("1", "fraction of the units a weight layer feeds whose activation derivative "
                          "is below 1e-3 on every probe sample (silent or saturated; NaN for the "
                          "output layer)"),
    }

    def alignment_variables(self, x, targets) -> dict:
        out = {}
        for name, values in self.alignment(x, targets).items():
            units, long_name = self._ALIGNMENT_ATTRS[name]
            out[name] = (("layer",), values, {"units": units, "long_name": long_name})
        return out

"""Target propagation with exact inverses: GAIT-prop and plain TP.

Both rules run on invertible layers and share everything but the target recursion.
With ``t_l`` the target of layer l, ``h_l`` its forward activity and
``g_l(z) = W_l^-1 (f^-1(z) - b_l)`` the exact inverse of layer l:

* output target (both rules): ``t_L = h_L - d ell/d h_L``, i.e. the one-hot label
  for the MSE loss, as in the authors' code (nasiryahm/GAIT-prop, ``run.py``:
  the label is the output target);
* ``tp`` (the baseline of Ahmad et al. 2020, Sec. 3): ``t_{l-1} = g_l(t_l)``,
  error ``e_l = f'(a_l) * (h_l - t_l)``;
* ``gaitprop`` (Ahmad, van Gerven & Ambrogioni 2020, NeurIPS, "GAIT-prop:
  a biologically plausible learning rule derived from backpropagation of error"):
  the incremental, gradient-adjusted target
  ``t_{l-1} = g_l(h_l + gamma_l f'(a_l)^2 * (t_l - h_l))`` and the error rescaled by
  the accumulated increments, ``e_l = (prod_{k>l} gamma_k)^-1 f'(a_l) * (h_l - t_l)``
  (``gamma^-(L-l)`` for a fixed gamma).  To first order in gamma and with
  orthogonal ``W`` (``W^-1 = W^T``) this is exactly backprop's ``delta_l`` (the
  paper's central result; Fig. 1C).  ``adaptive_gamma`` sets, per sample and layer,
  ``gamma_l = gamma sqrt(n_l) / ||t_l - h_l||`` (Dalm, Ahmad, Ambrogioni & van Gerven
  2021, arXiv:2102.11598), which keeps the perturbation at a fixed size.

Both update ``dW_l = -eta e_l h_{l-1}^T`` (batch mean) through the optimiser and add
the gradient of a soft orthogonality penalty on every layer's square matrix ``M``
(``penalty_form``):

* ``off_diagonal`` (default), as the authors wrote it (``inv_net.py``,
  ``SquareInvNet.ortho_gradients``): ``lambda ||offdiag(M^T M)||_F^2``, which asks
  the *columns* of ``M`` to be orthogonal and leaves their norms free (their
  ``weight_matrix`` is our ``M^T``, and they penalise ``weight_matrix
  weight_matrix^T``);
* ``full_identity``: ``lambda ||M M^T - I||_F^2``, which also pins every row norm
  to 1 (not in the authors' code).

``lambda`` multiplies the penalty's gradient, as in the authors' code.  The
penalty's contribution is not part of the rule's raw update
(:attr:`~bioprop.models.rate.mlp.Updates.dW`), so the alignment angles compare the
learning signal alone.  Inverses are recomputed exactly (``numpy.linalg.inv``)
after every update, except the first layer's, which no target passes through.
Where this departs from the authors' code: the optimiser is Adam with bias
correction (theirs, ``InvLayer(adaptive=True)``, is Adam-like without bias
correction and with second-moment decay 0.99).

Implementation notes:

* Numerics: the target *differences* ``t_l - h_l`` are propagated, never the targets,
  through the exact identity ``g_l(h_l + s) - h_{l-1} = W_l^-1 (f^-1(h_l + s) - a_l)``
  with ``f^-1(h+s) - a`` evaluated without cancellation
  (:meth:`~bioprop.models.rate.mlp.Activation.inverse_step`).  The authors needed
  float64 because ``g(h + gamma^k ...) - h`` loses digits; here float32 works too.
* Layers of unequal width.  An invertible layer must be square, so every layer is
  embedded in a square matrix ``M_l`` of size ``m = max(n_l, n_{l-1})``.  A
  *narrowing* layer gets ``n_{l-1} - n_l`` auxiliary output units (rows of ``M_l``
  that feed nothing; their targets are their own activities, so their error is
  zero).  This contains the authors' ``TowerInvNet`` (``inv_net.py``) as the special
  case ``M_l = [[V^T, 0], [0, I]]``: layer l reads only the first ``n_l`` units of
  layer l-1, whose other units pass through unchanged and carry their own
  activity as target -- exactly the tower's auxiliary units
  (``tests/test_gaitprop_authors.py`` checks targets and updates against a
  transcription of the tower).  Starting from a full orthogonal ``M_l`` instead,
  ``W_l = M_l[:n_l, :n_{l-1}]`` sees the whole input (the tower never sees the
  input units beyond ``n_1``).  A *widening* layer (not in the authors' code) reads
  ``n_l - n_{l-1}`` auxiliary input units fixed at zero (columns of ``M_l``; their
  target components are discarded).  With ``M_l`` orthogonal, the block of
  ``M_l^-1`` that carries targets down is exactly ``W_l^T``.  The penalty and the
  initialisation act on ``M_l``.
"""
from __future__ import annotations

import numpy as np

from ..alignment import angle_degrees

from ..errors import ParameterError
from ..params import Parameter
from ..rules import register
from .mlp import (INITS, RATE_PARAMETERS, RateRule, Updates, init_weights, loss_grad_output, Network,
                  tuned_learning_rate)

_INVERTIBLE = ("leaky_relu", "linear")

PENALTY_FORMS = ("off_diagonal", "full_identity")

INVERTIBLE_PARAMETERS = RATE_PARAMETERS.extend(
    Parameter("orthogonal_penalty", 0.1, "lambda of the orthogonality penalty on every layer's "
              "square weight matrix", low=0.0,
              source="authors' README (nasiryahm/GAIT-prop): --orthogonal_reg=0.1 for GAIT-prop"),
    Parameter("penalty_form", "off_diagonal", "off_diagonal: lambda||offdiag(M^T M)||^2 (authors' "
              "inv_net.py); full_identity: lambda||M M^T - I||^2", kind=str, choices=PENALTY_FORMS,
              source="authors' code, SquareInvNet.ortho_gradients"),
    replace=(
        Parameter("activation", "leaky_relu", "transfer function of the hidden layers (must be "
                  "invertible; leaky ReLU with slope 0.1)", kind=str, choices=_INVERTIBLE,
                  source="Ahmad et al. 2020, Sec. 4"),
        Parameter("output_activation", "leaky_relu", "transfer function of the output layer "
                  "(invertible)", kind=str, choices=_INVERTIBLE, source="Ahmad et al. 2020, Sec. 4"),
        Parameter("init", "orthogonal", "initial (square) weight matrices", kind=str, choices=INITS,
                  source="Ahmad et al. 2020, Sec. 4 (orthogonal initialisation)"),
        Parameter("learning_rate", 1e-4, "Adam step size for the forward weights",
                  low=0.0, open_low=True,
                  source="authors' README: --learning_rate=0.0001 for GAIT-prop (and BP)"),
        Parameter("loss", "mse", "mse: 1/2||h_L - y||^2 (the authors' choice); cross_entropy: "
                  "softmax of h_L", kind=str, choices=("mse", "cross_entropy"),
                  source="authors' code: squared error to the one-hot label"),
        Parameter("batch_size", 60, "samples per update; 1 = per-sample", kind=int, low=1,
                  source="authors' code: 1000 batches per 60000-sample epoch"),
    ),
)

TP_PARAMETERS = INVERTIBLE_PARAMETERS.extend(replace=(
    Parameter("learning_rate", 1e-5, "Adam step size for the forward weights", low=0.0, open_low=True,
              source="authors' README: --algorithm=TP --learning_rate=0.00001; kept although the "
                     "validation search (workflows/config/tune_rate.yaml, grid {1e-05, 3e-05, 0.0001, "
                     "0.0003}) picked 0.0003 in its 8 epochs"),
    Parameter("orthogonal_penalty", 1000.0, "lambda of the orthogonality penalty on every layer's "
              "square weight matrix", low=0.0,
              source="authors' README: --algorithm=TP --orthogonal_reg=1000.0"),
))

class InvertibleRule(RateRule):
    """Shared machinery of ``tp`` and ``gaitprop``: square embedded layers (module
    docstring), exact inverses, penalty, target recursion."""

    parameters = INVERTIBLE_PARAMETERS
    incremental = False

    def build_network(self) -> Network:
        p = self.params
        sizes = self.layer_sizes
        net = Network(sizes, p["activation"], p["output_activation"], "glorot", self.rng, self.dtype)
        self.M = [init_weights((max(n, m),) * 2, p["init"], self.rng, self.dtype)
                  for m, n in zip(sizes[:-1], sizes[1:])]
        self.bias = [np.zeros(len(M), self.dtype) for M in self.M]
        net.W = [M[:n, :m] for M, m, n in zip(self.M, sizes[:-1], sizes[1:])]
        net.b = [c[:n] for c, n in zip(self.bias, sizes[1:])]
        self.refresh_inverses()
        self._full_grads = [np.zeros_like(M) for M in self.M] + [np.zeros_like(c) for c in self.bias]
        return net

    def refresh_inverses(self) -> None:
        # targets stop at layer 1, so the first (usually largest) inverse is never read
        self.M_inv = [None] + [np.linalg.inv(M) for M in self.M[1:]]

    def target_pathway(self, l: int) -> np.ndarray:
        """Block of ``M_l^-1`` mapping a change of layer l's pre-activation to a change
        of layer l-1's activity, shape ``(n_{l-1}, n_l)`` (``W_l^T`` if ``M_l`` is orthogonal)."""
        s = self.layer_sizes
        return self.M_inv[l - 1][:s[l - 1], :s[l]]

    def gammas(self, step: np.ndarray) -> np.ndarray:
        """Per-sample increment ``gamma_l`` for the target difference ``step`` (B, n_l)."""
        raise NotImplementedError

    def compute_updates(self, x, targets, reuse=False) -> Updates:
        net = self.net
        fw = net.forward(x, reuse=reuse)
        n_batch, L = len(x), net.n_layers
        diff = -loss_grad_output(fw.output, targets, self.loss)  # t_L - h_L
        scale = np.ones((n_batch, 1), self.dtype)                # 1 / prod of the gammas above
        errors = [None] * L
        for l in range(L, 0, -1):
            f, a, h = net.f[l], fw.a[l], fw.h[l]
            fp = f.derivative(a, h)
            errors[l - 1] = (-scale / n_batch) * fp * diff       # e_l = scale f'(a_l)(h_l - t_l), batch mean
            if l == 1:
                break
            if self.incremental:
                gamma = self.gammas(diff)
                step = gamma * fp * fp * diff
                scale = scale / gamma
            else:
                step = diff
            diff = f.inverse_step(a, h, step) @ self.target_pathway(l).T
        dW, db = net.weight_gradients(fw, errors, reuse=reuse)
        return Updates(dW, db, errors, fw.output)

    def penalty_gradient(self, M: np.ndarray) -> np.ndarray:
        """``d/dM`` of the penalty (module docstring) times lambda: ``4 lambda M O`` with
        ``O = offdiag(M^T M)`` (off_diagonal) or ``4 lambda O M`` with ``O = M M^T - I``
        (full_identity); O is symmetric in both."""
        lam4 = 4.0 * self.params["orthogonal_penalty"]
        if self.params["penalty_form"] == "off_diagonal":
            o = M.T @ M
            o[np.diag_indices_from(o)] = 0.0
            return lam4 * (M @ o)
        o = M @ M.T
        o[np.diag_indices_from(o)] -= 1.0
        return lam4 * (o @ M)

    def apply_updates(self, upd) -> None:
        L = len(self.M)
        grads = self._full_grads
        lam = self.params["orthogonal_penalty"]
        for l, (M, dw, db) in enumerate(zip(self.M, upd.dW, upd.db)):
            g = grads[l]
            if lam > 0:
                g[...] = self.penalty_gradient(M)
                g[:dw.shape[0], :dw.shape[1]] += dw
            else:
                g[:dw.shape[0], :dw.shape[1]] = dw
            grads[L + l][:len(db)] = db
        self.optimizer.step(self.M + self.bias, grads)
        self.refresh_inverses()

    def feedback_angles(self) -> np.ndarray:
        """Angle between the inverse's block that carries targets to layer l and ``W_{l+1}^T``
        (zero exactly when the layer is orthogonal)."""
        L = len(self.M)
        return np.array([angle_degrees(self.target_pathway(l + 1), self.net.W[l].T)
                         for l in range(1, L)] + [np.nan])


@register
class TargetPropagation(InvertibleRule):
    """Target propagation with exact inverses, ``t_{l-1} = g_l(t_l)`` (Bengio 2014,
    arXiv:1407.7906, with the exact inverse; the TP baseline of Ahmad et al. 2020)."""

    name = "tp"
    summary = "target propagation through exact layer inverses"
    reference = "Bengio (2014) arXiv:1407.7906; Ahmad, van Gerven & Ambrogioni (2020) NeurIPS 33"
    parameters = TP_PARAMETERS


GAIT_PARAMETERS = INVERTIBLE_PARAMETERS.extend(
    Parameter("gamma", 1e-3, "size of the incremental target perturbation", low=0.0, open_low=True,
              source="Ahmad et al. 2020, Sec. 4 and authors' code (1e-3)"),
    Parameter("adaptive_gamma", False, "gamma_l = gamma sqrt(n_l)/||t_l - h_l|| per sample "
              "and layer", kind=bool, source="Dalm et al. 2021, arXiv:2102.11598"),
    replace=(tuned_learning_rate(1e-3, paper="authors' README: --learning_rate=0.0001 for GAIT-prop"),),
)


@register
class GaitProp(InvertibleRule):
    """GAIT-prop (Ahmad, van Gerven & Ambrogioni 2020); equations in the module docstring."""

    name = "gaitprop"
    summary = "gradient-adjusted incremental target propagation (exact inverses, orthogonality penalty)"
    reference = ("Ahmad, van Gerven & Ambrogioni (2020) GAIT-prop: A biologically plausible learning "
                 "rule derived from backpropagation of error, NeurIPS 33")
    parameters = GAIT_PARAMETERS
    incremental = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for key in ("activation", "output_activation"):
            if self.params[key] not in _INVERTIBLE:
                raise ParameterError(f"gaitprop needs invertible layers; {key} must be one of {_INVERTIBLE}")

    def gammas(self, step):
        gamma = self.params["gamma"]
        if not self.params["adaptive_gamma"]:
            return np.full((len(step), 1), gamma, self.dtype)
        norm = np.linalg.norm(step, axis=1, keepdims=True)
        safe = np.where(norm > 0, norm, 1.0)
        return np.where(norm > 0, gamma * np.sqrt(step.shape[1]) / safe, gamma).astype(self.dtype)

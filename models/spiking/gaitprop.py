"""Spiking GAIT-Prop in Brian2: targets carried as small perturbations of spiking rates.

Ahmad, van Gerven & Ambrogioni (2020), "GAIT-prop: A biologically plausible learning
rule derived from backpropagation of error", NeurIPS 33 (arXiv:2006.06438), and the
authors' code (nasiryahm/GAIT-prop: ``inv_net.py``, ``inv_layer.py``, ``run.py``,
``utils.py``).  The rate rule is :mod:`bioprop.models.rate.target_propagation`
(``gaitprop``); the network equations are in :mod:`.gaitprop_network`.

Rate GAIT-Prop
--------------
``h_l = f(a_l)``, ``a_l = W_l h_{l-1} + b_l`` with leaky ReLU f (slope 0.1) and exact
inverses ``g_l(z) = W_l^-1 (f^-1(z) - b_l)``.  With ``d_l = t_l - h_l``,
``t_{l-1} = g_l(h_l + gamma f'(a_l)^2 d_l)``, so to first order (exactly for a
piecewise-linear f when no kink is crossed) ``d_{l-1} = gamma W_l^-1 f'(a_l) d_l``;
the error ``e_l = gamma^-(L-l) f'(a_l)(h_l - t_l)`` then obeys
``e_{l-1} = f'(a_{l-1}) W_l^-1 e_l`` -- backprop's delta iff ``W_l^-1 = W_l^T``
(paper Fig. 1C).  Update ``dW_l = -eta e_l h_{l-1}^T`` (``inv_net.py`` L91-92), with an
orthogonality penalty that keeps ``W^-1 ~ W^T`` while W learns.

The spiking network
-------------------
* **Neurons** (invertible rate function, slope known locally).  Perfect integrators,
  threshold 1, subtractive reset, driven at ``drive = r0 + lrelu(u)`` (Hz): for a
  constant input u they fire periodically at exactly ``f(u) = r0 + lrelu(u)``, the
  rate twin's transfer function.  f is invertible, and ``f' = 1`` (u > 0) or the
  leaky slope (u < 0) is known from the neuron's own input; the baseline ``r0`` (a
  bias current) keeps every neuron firing on a sloped branch for ``u > -r0/slope``.
  The baseline carries no signal: a neuron counts its input rates above it,
  ``u = W_l (r_{l-1} - r0) + b_l``, by subtracting the tonic current
  ``ff_base = r0 sum_j w_ij`` (its own afferent weights times the constant r0, set
  with the weights), so that in units of ``rate_scale`` the twin is the authors'
  network.  Not leaky (a leaky IF rate function is neither piecewise linear nor simply
  invertible) and not Poisson (rate noise falls only as T^-1/2).
* **Read-out.** ``(count + v_end - v_start)/T`` is the exact window mean of the drive.
* **Phases per slot** (:func:`.gaitprop_network.schedule`): free settle, free window
  (``r_free``; the feedforward and feedback currents are averaged into ``ff_hold``,
  ``fb_hold``), +beta settle and window (``r_plus``), -beta settle and window
  (``r_minus``), one update step.
* **Nudges.** In both nudged phases every neuron holds its feedforward input at its
  free mean (``u = b - ff_base + ff_hold + n``, GAIT's top-down target computation from the
  forward pass).  Output: ``n_L = +-beta (y - r_L^free)``.  Hidden:
  ``n_l = I_fb - fb_hold`` with feedback ``kappa W_{l+1}^T``, i.e. only the change of
  the rates above.

Derivation (symmetric nudges, s = +-1).  ``Delta r_l = (r_l^+ - r_l^-)/2 = f'_l n_l^+``
exactly for the piecewise-linear f unless a neuron crosses the kink, and the
symmetric difference removes the second-order term for a smooth f.  At the output
``Delta r_L = -beta delta_L`` with backprop's ``delta_L = f'_L (r_L - y)`` of the
loss ``1/2||r_L - y||^2``; below, ``Delta r_l = kappa f'_l W_{l+1}^T Delta r_{l+1}``, so
``Delta r_l = -beta kappa^(L-l) delta_l`` and

    dW_l = Delta r_l (r_{l-1} - r0)^T / (beta kappa^(L-l))  =  -delta_l (r_{l-1} - r0)^T  = dW_l^BP

for any W, given the hold, the symmetric nudges, no kink crossing and read-out noise
small against ``Delta r T``.  f' enters once, through the rate function: a nudge
that enters as a current already carries it (multiplying by f' again is wrong).
Term by term this is GAIT-Prop with ``gamma <-> kappa``, the pre-activation step
``gamma f'_l d_l <-> Delta r_l`` and ``gamma^-(L-l) <-> 1/(beta kappa^(L-l))``
(``err_scale``); GAIT's ``f'^2`` is one f' applied by the forward map and one removed
by ``f^-1``, so a single f' remains.  With transposes as the inverse pathway the
spiking rule equals backprop rather than exact-inverse GAIT-Prop; the two agree
where W is orthogonal (the theorem's regime, which the penalty maintains).

Locality.  ``dw_ij`` is accumulated in the network at the pre neuron's once-per-slot
``learn`` event from the post neuron's ``r_plus``, ``r_minus`` and ``err_scale`` (its
own spike count and membrane at four window boundaries, and a per-layer constant)
and the pre neuron's ``r_free`` less the constant r0; biases from the neuron's own
rate change.  ``ff_base`` is a sum over the neuron's own afferent weights (in a
synapse model, a tonic current ``w r0`` per synapse).  No delta, no label at hidden
units, no other synapse's state.  Adam is elementwise.

Where we depart
---------------
* Output step: the first target step is ``beta (y - r_L)`` (the paper takes the full
  label step and a small gamma below); ``kappa`` plays gamma's role below.
* Targets and inputs are rates: ``y = r0 + rate_scale * onehot``, inputs
  ``r0 + rate_scale * pixel``; the twin is ``r_l = r0 + lrelu(W_l (r_{l-1} - r0) + b_l)``,
  i.e. ``h_l = (r_l - r0)/rate_scale`` obeys the authors' ``h_l = lrelu(W_l h_{l-1} +
  b_l / rate_scale)`` with pixel inputs and the one-hot label as output target
  (``run.py``).  Why the baseline is subtracted: counted as input, the constant
  ``r0`` of every neuron below, projected by W, gives each unit a fixed offset
  larger than its variation across samples; units with a negative offset sit on the
  leaky branch for every sample, learn ``leaky_slope`` times slower, and even exact
  backprop on the twin stays near chance after an epoch of 200 digits.
* Inverse pathway (``inverse``): ``kappa W^T`` by default (weight transport,
  refreshed from W after every update, as the authors refresh ``W^-1`` after every
  update, ``run.py`` L212-213); narrowing layers need no auxiliary units.  Or
  ``kappa M^T`` with M learned (issue 11; the authors' ``--learn_inv``): the delta
  rule ``dM_l = eta_inv a_l (h_{l-1} - M_l^T a_l)^T`` on the reconstruction of the
  free rates above the baseline ``h_{l-1}`` from the layer's free feedforward input
  ``a_l = W_l h_{l-1}``, accumulated per slot in the feedback synapses (pre neuron's
  input, post neuron's rate and reconstruction) and applied between chunks as plain
  SGD in pixel units (the authors reconstruct from ``f^-1(h_l) - b``,
  the same ``a_l``, and step the inverse with their forward optimiser).  Its fixed
  point is the least-squares inverse of W on the data, ``W^T`` where W is orthogonal
  and the data isotropic; elsewhere the update departs from backprop's, and
  ``update_angle`` shows by how much (``feedback_angle``: angle between M and W).
  The summed reconstruction costs a pass over the synapses every step.
* Orthogonality penalty on the smaller Gram matrix ``G`` of each W (``W W^T`` for a
  narrowing layer, ``W^T W`` for a widening one), applied in NumPy between chunks; it
  is the one non-local step.  ``penalty_form``: ``off_diagonal`` (default),
  ``lambda ||offdiag(G)||_F^2``, orthogonal rows (columns) with free norms, the
  authors' form (``inv_net.py`` L52-59 penalise ``offdiag(M^T M)`` of their square
  layer ``M``; we have no square embedding, so the Gram matrix is W's own) and that
  of rate ``gaitprop``; or ``full_identity``, ``lambda ||G - I||_F^2``, which also
  pins every row norm to 1 (not in the authors' code; this rule's default before
  ``penalty_form`` existed, and results that do not record it re-run with it).
* Updates are summed in the network over a chunk of ``chunk_slots`` samples (the
  batch) and applied by Adam (Kingma & Ba 2015, betas 0.9 / 0.999, epsilon 1e-8) in
  NumPy, to the twin's loss in units of one pixel: the weight update divided by
  ``rate_scale^2 chunk_slots``, the bias update by ``rate_scale chunk_slots`` with the
  bias stepped as ``b / rate_scale`` (Adam's step is in its parameter's units, so a
  bias stepped in Hz would learn ``rate_scale`` times slower than the weights).
  ``learning_rate`` is therefore the authors' dimensionless step; they use Adam-like
  updates at 1e-4 for 100 epochs of 60,000 samples, we take 1e-2 for runs of a few
  hundred to thousands of presentations (the rule contract: one epoch of 200).
* The simulation step is the rule's parameter ``dt`` (it replaces the device's
  ``dt_ms``): the phase boundaries and the exact per-step updates are defined on it.
* Classification: the output neuron with most spikes over a test slot, in which
  nothing is nudged (ties go to the lowest index).
* ``update_angle`` (every epoch, per weight layer): angle between the update summed
  in the network over a fixed probe of training samples and rate backprop's update
  on the twin with the same weights, inputs and targets.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from brian2 import Hz, ms

from .. import schema
from ..alignment import angle_degrees
from ..params import Parameter, ParameterSet
from ..rules import register
from . import gaitprop_network as netmod
from .presentation import SlotPresentationRule

PAPER = ("Ahmad, van Gerven & Ambrogioni (2020) GAIT-prop: A biologically plausible learning rule "
         "derived from backpropagation of error. NeurIPS 33 (arXiv:2006.06438)")
CODE = "authors' code nasiryahm/GAIT-prop"
STUDY = "design study for issue 11 done here (32-64 units per layer, Brian2 runtime)"

PENALTY_FORMS = ("off_diagonal", "full_identity")

PARAMETERS = ParameterSet((
    Parameter("t_phase", 500.0, "duration of each nudged phase (settle + window); every "
              "measurement window lasts t_phase - t_settle", "ms", low=0.0, open_low=True,
              source=f"ours, from the {STUDY}: per-layer angles to backprop below 10 degrees "
                     "for every input need 0.5 s"),
    Parameter("t_settle", 100.0, "settling time at the start of each nudged phase, before its "
              "window", "ms", low=0.0, source=f"{STUDY}: 0.2 t_phase, two feedback time constants"),
    Parameter("t_free_settle", 300.0, "settling time of the free phase after the previous "
              "sample, before the free window", "ms", low=0.0,
              source=f"ours, after the {STUDY} (200 ms, 3-4 tau_ff; 20 ms left the output 10-14 Hz "
                     "off): the currents settle in cascade, a tau_ff per layer, and with the baseline "
                     "no longer in the signal the output's free rates of a three-layer network "
                     "needed the longer settle for the angle bound of its test"),
    Parameter("beta", 0.3, "output nudge: +-beta (y - r_free) in the +/- phases", low=0.0,
              open_low=True, source=f"issue 11 feasibility study; {STUDY}"),
    Parameter("kappa", 0.3, "feedback gain: feedback weights kappa W^T (GAIT's gamma)", low=0.0,
              open_low=True, source=f"issue 11 feasibility study; {STUDY} (not a noise lever)"),
    Parameter("tau_ff", 50.0, "time constant of the feedforward current", "ms", low=0.0,
              open_low=True, source=f"issue 11; {STUDY}: at 10 ms the ripple crosses the kink"),
    Parameter("tau_fb", 50.0, "time constant of the feedback current", "ms", low=0.0,
              open_low=True, source=f"issue 11; {STUDY}"),
    Parameter("baseline_rate", 50.0, "baseline rate r0 of the rate function r0 + lrelu(u) (a bias "
              "current keeping neurons on a sloped branch)", "Hz", low=0.0, open_low=True,
              source=f"{STUDY}: 50 Hz (the issue's 20 Hz doubles the bottom layer's angle)"),
    Parameter("rate_scale", 100.0, "rate per unit of pixel (inputs r0 + rate_scale x) and of the "
              "label (targets r0 + rate_scale onehot)", "Hz", low=0.0, open_low=True,
              source=f"{STUDY}: read-out noise scales with the perturbation spikes per window"),
    Parameter("leaky_slope", 0.1, "slope of the leaky ReLU below 0", low=0.0, high=1.0,
              open_low=True, source=f"{PAPER}, Sec. 4; {CODE}, utils.py L12-26"),
    Parameter("dt", 0.5, "simulation time step (replaces the device's dt_ms)", "ms", low=0.0,
              open_low=True, source=f"{STUDY}: 0.5 ms gives the angles of 0.1 ms"),
    Parameter("learning_rate", 1e-2, "Adam step size on the twin's loss in pixel units "
              "(dimensionless; module docstring)", low=0.0,
              source=f"ours: {CODE} README uses 1e-4 for 60,000 samples x 100 epochs; 1e-2 "
                     "learns from one epoch of 200 digits (the rule contract)"),
    Parameter("orthogonal_penalty", 0.1, "lambda of the orthogonality penalty on each W's smaller "
              "Gram matrix (penalty_form)", low=0.0, source=f"{CODE} README (0.1)"),
    Parameter("penalty_form", "off_diagonal", "off_diagonal: lambda ||offdiag(W W^T)||^2, norms "
              "free; full_identity: lambda ||W W^T - I||^2, norms pinned to 1 (W^T W for a widening "
              "layer)", kind=str, choices=PENALTY_FORMS,
              source=f"{CODE}, inv_net.py L52-59 (off-diagonal only), as rate gaitprop"),
    Parameter("chunk_slots", 10, "sample slots per simulation run = samples per update (batch)",
              kind=int, low=1, source="ours: the batch of the rate rules' tiny-data settings "
                                      f"({CODE}: 60)"),
    Parameter("inverse", "transpose", "feedback pathway kappa M^T: transpose = weight transport "
              "(M = W, copied after every update); learned = M learned by a local delta rule on "
              "the reconstruction of the layer below (no weight transport)", kind=str,
              choices=("transpose", "learned"),
              source=f"issue 11; {CODE}, run.py --learn_inv and inv_net.py get_backward_updates"),
    Parameter("inverse_learning_rate", 0.5, "step of the inverse's delta rule (plain SGD on the "
              "reconstruction error in pixel units, dimensionless); used with inverse = learned",
              low=0.0, source="ours: stable below 2 / ||a||^2 in pixel units (LMS, Widrow & Hoff "
                              f"1960); {CODE} steps it with its forward optimiser and step"),
    Parameter("alignment_samples", 8, "training samples of the fixed probe on which "
              "update_angle is measured every epoch (0 = off)", kind=int, low=0, source="ours"),
))

_ADAM = (0.9, 0.999, 1e-8)   # Kingma & Ba 2015


def orthogonal(n_post, n_pre, rng) -> np.ndarray:
    """A random (n_post, n_pre) matrix with orthonormal rows (or columns if n_post > n_pre)."""
    q, r = np.linalg.qr(rng.standard_normal((max(n_post, n_pre), min(n_post, n_pre))))
    q = q * np.sign(np.diag(r))
    return q.T if n_post <= n_pre else q


def lrelu(a, slope):
    return np.where(a > 0, a, slope * a)


def rate_twin(W, b, x_rate, y_rate, r0, slope):
    """Rates ``r_l = r0 + lrelu(W_l (r_{l-1} - r0) + b_l)`` (Hz) of one input and
    backprop's updates ``(-delta_l (r_{l-1} - r0)^T, -delta_l)`` of ``1/2||r_L - y||^2``."""
    r, a = [np.asarray(x_rate, float)], []
    for Wl, bl in zip(W, b):
        a.append(Wl @ (r[-1] - r0) + bl)
        r.append(r0 + lrelu(a[-1], slope))
    delta = np.where(a[-1] > 0, 1.0, slope) * (r[-1] - y_rate)
    dW, db = [None] * len(W), [None] * len(W)
    for l in range(len(W) - 1, -1, -1):
        dW[l], db[l] = -np.outer(delta, r[l] - r0), -delta
        if l:
            delta = np.where(a[l - 1] > 0, 1.0, slope) * (W[l].T @ delta)
    return r, dW, db


def penalty_gradient(W, form: str = "off_diagonal") -> np.ndarray:
    """Gradient of ``||offdiag(G)||_F^2`` (``off_diagonal``) or ``||G - I||_F^2``
    (``full_identity``) for W's smaller Gram matrix G (``W W^T``, or ``W^T W`` for a
    widening layer)."""
    narrowing = W.shape[0] <= W.shape[1]
    o = W @ W.T if narrowing else W.T @ W
    if form == "off_diagonal":
        o[np.diag_indices_from(o)] = 0.0
    else:
        o[np.diag_indices_from(o)] -= 1.0
    return 4.0 * (o @ W if narrowing else W @ o)


@register
class SpikingGAITProp(SlotPresentationRule):
    """GAIT-Prop with regular-spiking integrate-and-fire neurons, symmetric nudges, held
    feedforward input and ``kappa W^T`` feedback (module docstring)."""

    name = "spiking-gaitprop"
    summary = "GAIT-Prop in spikes: symmetric nudges carried down kappa W^T, local rate-change updates"
    reference = PAPER
    parameters = PARAMETERS
    rate_twin = "gaitprop"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        self.schedule = netmod.schedule(p, self._dt())
        self.schedule.steps(self._dt())   # every phase a whole number of steps
        self.layout = netmod.make_layout(self.layer_sizes)
        self.populations = self.layout.populations()
        self.out_degree = netmod.out_degree(self.layout)
        sizes = self.layer_sizes
        self.W = [orthogonal(n_post, n_pre, self.rng) for n_pre, n_post in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(n) for n in sizes[1:]]
        #: feedback matrices shaped like W (feedback kappa M^T; none onto the inputs):
        #: learned ones start orthogonal and independent of W
        self.M = ([None] + [orthogonal(*W.shape, self.rng) for W in self.W[1:]]
                  if p["inverse"] == "learned" else None)
        self._adam = [(np.zeros_like(v), np.zeros_like(v)) for v in self.W + self.b]
        self._steps = 0
        self._probe = None
        self._probing = False
        self.last_update = None   #: (dW, db) of the latest run, summed over its slots

    # ------------------------------------------------------------------ the network
    def device_config(self):
        return dataclasses.replace(super().device_config(), dt_ms=float(self.params["dt"] / ms))

    def construct(self, n_slots):
        return netmod.make_construct(self.layout, self.params, n_slots)

    def input_rates(self, x):
        """``r0 + rate_scale * pixel`` (Hz, plain numbers)."""
        p = self.params
        return float(p["baseline_rate"] / Hz) + float(p["rate_scale"] / Hz) * np.clip(x, 0.0, 1.0)

    def target_rates(self, y):
        """``r0 + rate_scale * onehot(y)`` (Hz, plain numbers)."""
        p = self.params
        t = np.full((len(y), self.n_classes), float(p["baseline_rate"] / Hz))
        t[np.arange(len(y)), np.asarray(y, int)] += float(p["rate_scale"] / Hz)
        return t

    def slot_inputs(self, x, y, learning):
        return {"rates": self.input_rates(x) * Hz, "targets": self.target_rates(y) * Hz,
                "slot_on": np.ones((len(x), 1))}

    def state_run_args(self, learning):
        r0 = float(self.params["baseline_rate"] / Hz)
        bias, base = np.zeros(self.layout.n_net), np.zeros(self.layout.n_net)
        for l, (Wl, bl) in enumerate(zip(self.W, self.b), start=1):
            a, c = self.layout.layer(l)
            bias[a:c] = bl
            base[a:c] = r0 * Wl.sum(axis=1)   # the baseline's share of W_l r_{l-1}
        return {"syn.w": self.layout.synapse_weights(self.W, self.feedback(), float(self.params["kappa"])),
                "net.bias": bias * Hz, "net.ff_base": base * Hz,
                # random phases of the oscillators from the rule's generator: an
                # initialiser string (rand()) would be drawn once, at build time, in runtime
                "net.v": self.rng.uniform(0.0, 1.0, self.layout.n_net),
                "net.plastic": 1.0 if learning else 0.0}

    @classmethod
    def upgrade_parameters(cls, recorded):
        """Results written before ``penalty_form`` existed penalised ``||W W^T - I||^2``."""
        upgraded = super().upgrade_parameters(recorded)
        upgraded.setdefault("penalty_form", {"value": "full_identity", "unit": "1"})
        return upgraded

    def feedback(self) -> list:
        """The feedback matrices M_l shaped like W_l (feedback ``kappa M_l^T``)."""
        return self.W if self.M is None else self.M

    def read_state(self, compiled):
        """The updates summed over the chunk (Hz^2, Hz), applied unless probing; with a
        learned inverse, also the inverse's delta-rule step."""
        dw = compiled.get("syn.dw")
        dW = self.layout.forward_blocks(dw)
        db_all = compiled.get("net.db")
        db = [db_all[slice(*self.layout.layer(l))] for l in range(1, self.layout.n_layers + 1)]
        self.last_update = (dW, db)
        if not self._probing:
            if self.M is not None:
                self._learn_inverse(self.layout.feedback_blocks(dw))
            self._apply(dW, db)

    def _learn_inverse(self, dM):
        """SGD on ``1/2 ||h_{l-1} - M_l^T a_l||^2`` in pixel units: the delta rule summed
        in the network (Hz^2) divided by ``rate_scale^2 chunk_slots``."""
        p = self.params
        step = p["inverse_learning_rate"] / (float(p["rate_scale"] / Hz) ** 2 * int(p["chunk_slots"]))
        self.M = [None if M is None else M + step * d for M, d in zip(self.M, dM)]

    def _apply(self, dW, db):
        """Adam on the twin's loss in units of one pixel (rates / rate_scale): the
        gradient is -update / (rate_scale^2 chunk_slots) for W and -update / (rate_scale
        chunk_slots) for b / rate_scale, plus the orthogonality penalty on W."""
        p = self.params
        scale = float(p["rate_scale"] / Hz)
        k = int(p["chunk_slots"])   # a short last chunk counts as a smaller step
        grads = [-d / (scale ** 2 * k) + p["orthogonal_penalty"] * penalty_gradient(W, p["penalty_form"])
                 for d, W in zip(dW, self.W)] + [-d / (scale * k) for d in db]
        beta1, beta2, eps = _ADAM
        self._steps += 1
        lr = p["learning_rate"] * np.sqrt(1 - beta2 ** self._steps) / (1 - beta1 ** self._steps)
        # Adam's step is in the units of its parameter: b (Hz) steps in pixels, as W does
        params = self.W + [bl / scale for bl in self.b]
        for j, (g, (m, v)) in enumerate(zip(grads, self._adam)):
            m[...] = beta1 * m + (1 - beta1) * g
            v[...] = beta2 * v + (1 - beta2) * g * g
            params[j] = params[j] - lr * m / (np.sqrt(v) + eps)
        L = len(self.W)
        self.W, self.b = params[:L], [bl * scale for bl in params[L:]]

    def classify(self, counts):
        a, b = self.layout.layer(self.layout.n_layers)
        return np.argmax(counts[:, a:b], axis=1)

    # ------------------------------------------------------------------ the rule contract
    def train_epoch(self, x, y):
        k = int(self.params["alignment_samples"])
        if k and self._probe is None:
            self._probe = (np.array(x[:k]), np.array(y[:k]))
        result = super().train_epoch(x, y)
        if self._probe is not None:
            angles = self.update_angles(*self._probe)
            result.variables["update_angle"] = ((schema.LAYER,), angles, {
                "units": "degree", "long_name": "angle between the spiking update summed over the "
                "probe samples and rate backprop's update on the rate twin with the same weights "
                "(orthogonality penalty excluded)"})
        if self.M is not None:
            result.variables["feedback_angle"] = ((schema.LAYER,), self.feedback_angles(), {
                "units": "degree", "long_name": "angle between the learned feedback matrix M_l "
                "(feedback kappa M_l^T) and W_l, the matrix backprop would use (NaN where a layer "
                "receives no feedback)"})
        return result

    def feedback_angles(self) -> np.ndarray:
        """Per weight layer, the angle (degrees) between M_l and W_l (NaN for layer 1)."""
        return np.array([np.nan if M is None else angle_degrees(M, W) for M, W in zip(self.M, self.W)])

    def spiking_update(self, x, y):
        """The update ``(dW, db)`` the network computes for samples ``x`` with labels ``y``,
        summed over them, with the current weights and without applying it (Hz^2, Hz)."""
        self._probing = True
        try:
            total_W = [np.zeros_like(W) for W in self.W]
            total_b = [np.zeros_like(b) for b in self.b]
            k = int(self.params["chunk_slots"])
            for s in range(0, len(x), k):   # one run per chunk: read_state sees each
                self.present(x[s:s + k], y[s:s + k], learning=True)
                for tot, d in zip(total_W + total_b, self.last_update[0] + self.last_update[1]):
                    tot += d
        finally:
            self._probing = False
        return total_W, total_b

    def backprop_update(self, x, y):
        """Rate backprop's update on the twin, summed over ``x`` (Hz^2, Hz)."""
        p = self.params
        r0, slope = float(p["baseline_rate"] / Hz), p["leaky_slope"]
        dW = [np.zeros_like(W) for W in self.W]
        db = [np.zeros_like(b) for b in self.b]
        for xr, yr in zip(self.input_rates(x), self.target_rates(y)):
            _, dWs, dbs = rate_twin(self.W, self.b, xr, yr, r0, slope)
            for tot, d in zip(dW + db, dWs + dbs):
                tot += d
        return dW, db

    def update_angles(self, x, y) -> np.ndarray:
        """Per weight layer, the angle (degrees) between :meth:`spiking_update` and
        :meth:`backprop_update` for ``x``, ``y``."""
        mine, _ = self.spiking_update(x, y)
        ref, _ = self.backprop_update(x, y)
        return np.array([angle_degrees(a, b) for a, b in zip(mine, ref)])

    def weights(self):
        return [W.copy() for W in self.W]

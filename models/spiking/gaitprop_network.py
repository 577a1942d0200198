"""The spiking GAIT-Prop network as Brian2 equations, and its construction.

Equations are module-level strings beside the equations of the rate rule they carry
into spikes (Ahmad, van Gerven & Ambrogioni 2020, NeurIPS 33, "GAIT-prop", Sec. 3 and
Fig. 1; the authors' code nasiryahm/GAIT-prop, ``inv_net.py``); the derivation is in
:mod:`.gaitprop`.  Rates are in Hz, weights dimensionless (a weight ``w`` from a
neuron firing at ``r`` adds ``w r`` to the mean input current).

Names: ``u`` is the input of the rate function (the paper's pre-activation ``a_l``),
``drive = f(u) = r0 + lrelu(u)`` the instantaneous rate; ``I_ff`` the feedforward
current (mean ``W_l r_{l-1}``), ``I_fb`` the feedback current (mean
``kappa W_{l+1}^T r_{l+1}``); ``ff_hold``/``fb_hold`` their means over the free window
(``ff_acc``/``fb_acc`` divided by the window); ``ff_base`` the baseline part of the
forward current, ``r0 sum_j W_lj`` (a neuron's afferent weights times the baseline),
which the neuron subtracts, so that the forward input is ``W_l (r_{l-1} - r0)``;
``r_free``, ``r_plus``, ``r_minus`` the rates measured in the free, +beta and -beta
windows.

Code objects
------------
As in eRBP (:mod:`.erbp_network`), ONE ``NeuronGroup`` ``net`` = [input | hidden_1 |
... | output] and ONE ``Synapses`` ``syn`` (net -> net) holding the forward weights
``W_l`` and the feedback weights ``kappa W_l^T``.  No differential equations: the
updates below are exact per time step (``run_regularly``), the state updater is
removed.  Per step: the window read-out, the neuron update, the threshold and reset,
the ``learn`` event test, and the synaptic pathways.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import encoding
from ..errors import ParameterError
from .presentation import PhaseSchedule, slot_counter

# --------------------------------------------------------------------------- equations

#: all neurons.  ``count`` counts spikes (the base's slot counter); ``err_scale`` is
#: GAIT-Prop's ``gamma^-(L-l)`` in its spiking form ``1/(beta kappa^(L-l))`` (0 for
#: inputs); ``target_col`` is the output unit's column of the target TimedArray.
NET_EQS = """
v : 1
count : integer
I_ff : Hz
I_fb : Hz
ff_acc : 1
fb_acc : 1
z_mark : 1
code_prev : 1
learn_now : 1
r_free : Hz
r_plus : Hz
r_minus : Hz
db : Hz
bias : Hz
ff_base : Hz
err_scale : 1 (constant)
is_inp : 1 (constant)
is_out : 1 (constant)
target_col : integer (constant)
plastic : 1 (shared)
"""

#: read-out at every window boundary (when='start', before the neuron update).  A
#: perfect integrator with threshold 1 and subtractive reset obeys
#: ``N = int drive dt - (v_end - v_start)`` exactly (also in discrete time), so
#: ``(N + v_end - v_start)/T`` = ``(z - z_mark)/t_window`` with ``z = count + v`` is the
#: exact window mean of the drive -- no 1/T quantisation of spike counts.
#: At the ``update`` step (the slot's last) the neuron emits its ``learn`` event and adds
#: its bias update ``err_scale (r_plus - r_minus)/2``.  The free window restarts the
#: integrals of the held currents.
MEASURE = """
code = {phase_index}
edge = int(code != code_prev)
z = count + v
r_free += edge * int(code_prev == {free}) * ((z - z_mark) / t_window - r_free)
r_plus += edge * int(code_prev == {plus}) * ((z - z_mark) / t_window - r_plus)
r_minus += edge * int(code_prev == {minus}) * ((z - z_mark) / t_window - r_minus)
learn_now = edge * int(code == {update}) * plastic * slot_on(t, 0)
db += learn_now * err_scale * 0.5 * (r_plus - r_minus)
ff_acc *= 1 - edge * int(code == {free})
fb_acc *= 1 - edge * int(code == {free})
z_mark += edge * (z - z_mark)
{inverse_readout}
code_prev = code
"""

#: neuron update, one step (when='start', after MEASURE).  Rate twin (paper Sec. 3):
#: ``h_l = f(a_l)``, ``a_l = W_l h_{l-1} + b_l``, f = leaky ReLU (slope 0.1, authors'
#: ``utils.py``) plus the baseline r0 that keeps every neuron on a sloped branch; the
#: input counts rates above the baseline (``- ff_base``), so r0 adds nothing to ``a_l``.
#:   free phase:     u = b - ff_base + I_ff
#:   nudged phases:  u = b - ff_base + ff_hold + nudge   (feedforward input held at its free mean)
#:   output nudge:   sgn beta (y - r_free)       (the first step towards the label target)
#:   hidden nudge:   I_fb - fb_hold              (only the change of kappa W^T r_above)
#: ``sgn`` = +1 / -1 in the +beta / -beta phases; nudges only while learning and in real
#: (not padded) slots.  Input neurons fire at ``rates(t, i)``.  Currents decay exactly
#: (``a_ff = exp(-dt/tau_ff)``); ``ff_acc``/``fb_acc`` integrate them over the free window.
NET_UPDATE = """
nudged = plastic * slot_on(t, 0) * ({nudged})
sgn = {sign}
nudge = is_out * sgn * beta * (targets(t, target_col) - r_free) + (1 - is_out) * (I_fb - fb_acc / t_window)
u = bias - ff_base + I_ff + nudged * (ff_acc / t_window - I_ff + nudge)
drive = is_inp * rates(t, i % n_inp) + (1 - is_inp) * (r0 + slope * u + (1 - slope) * clip(u, 0*Hz, inf*Hz))
v += drive * dt
ff_acc += I_ff * dt * ({in_free})
fb_acc += I_fb * dt * ({in_free})
I_ff *= a_ff
I_fb *= a_fb
"""
NET_THRESHOLD = "v > 1"
NET_RESET = "v -= 1\ncount += 1"
#: the once-per-slot plasticity event (after MEASURE has closed the -beta window)
LEARN_EVENT = "learn_now > 0.5"

SYN_EQS = """
w : 1
is_fb : 1 (constant)
dw : Hz**2
"""
#: a spike adds w c to the current it targets, c = (1 - a)/dt, so that the current's
#: mean is ``w r_pre`` (forward: ``W r``; feedback: ``kappa W^T r``)
SYN_PRE = """
I_ff_post += (1 - is_fb) * w * c_ff
I_fb_post += is_fb * w * c_fb
"""
#: GAIT-Prop's update ``dW_l = -e_l h_{l-1}^T`` (``inv_net.py`` L91-92) in spikes, at the
#: pre neuron's ``learn`` event:
#: dw_ij += err_scale_i (r_plus_i - r_minus_i)/2 (r_free_j - r0)
#: -- the post neuron's rate change and the pre neuron's free rate above the baseline
#: (the part of it that enters ``a_l``), nothing else.
SYN_LEARN = """
dw += (1 - is_fb) * err_scale_post * 0.5 * (r_plus_post - r_minus_post) * (r_free_pre - r0)
"""

# --------------------------------------------------------------------------- learned inverse
#: With ``inverse = "learned"`` (issue 11) the feedback synapse (i in layer l) -> (j in
#: layer l-1) carries ``kappa M_l[i, j]`` with M_l learned, not copied from W_l: M_l^T
#: reconstructs the layer below's free rates above the baseline, ``h_{l-1} = r_{l-1} - r0``,
#: from the layer's free feedforward input ``a_l = W_l h_{l-1}`` -- GAIT's inverse
#: ``g_l`` without the bias (the authors' ``get_backward_updates``, ``inv_net.py``).
#: Extra neuron state: ``a_free`` (free-window mean of ``I_ff - ff_base``, read at the
#: end of the free window) and ``recon`` (``kappa M^T a_free``, summed over the neuron's
#: feedback synapses).
NET_EQS_INVERSE = """
a_free : Hz
recon : Hz
"""
MEASURE_INVERSE = "a_free += edge * int(code_prev == {free}) * (ff_acc / t_window - ff_base - a_free)"
SYN_EQS_INVERSE = """
recon_post = is_fb * w * a_free_pre : Hz (summed)
"""
#: the delta rule (Widrow & Hoff 1960) on the reconstruction error at the post neuron,
#: dw_ij += (h_j - (M^T a)_j) a_i on feedback synapses: the post neuron's free rate and
#: reconstruction, the pre neuron's free input.
SYN_LEARN_INVERSE = """
dw += is_fb * ((r_free_post - r0) - recon_post / kappa) * a_free_pre
"""


def schedule(p: dict, dt) -> PhaseSchedule:
    """One training slot: ``free_settle``, ``free`` (window), ``plus_settle``, ``plus``,
    ``minus_settle``, ``minus`` and the one-step ``update`` (learn event, bias update).
    Every window lasts ``t_phase - t_settle``."""
    if not p["t_settle"] < p["t_phase"]:
        raise ParameterError(f"t_settle must be shorter than t_phase (ms); got t_settle = {p['t_settle']}, "
                             f"t_phase = {p['t_phase']}")
    window = p["t_phase"] - p["t_settle"]
    return PhaseSchedule([("free_settle", p["t_free_settle"]), ("free", window),
                          ("plus_settle", p["t_settle"]), ("plus", window),
                          ("minus_settle", p["t_settle"]), ("minus", window), ("update", dt)])


# --------------------------------------------------------------------------- layout

@dataclass
class Layout:
    """Indices of the populations in ``net`` and of the synapses of ``syn``."""

    sizes: tuple[int, ...]                               # input, hidden..., output
    starts: list[int] = field(default_factory=list)      # first neuron of each layer
    n_net: int = 0
    syn_i: np.ndarray | None = None
    syn_j: np.ndarray | None = None
    syn_fb: np.ndarray | None = None                     # 1 for feedback synapses
    #: per weight layer l = 1..L: slice of its forward synapses (pre-major, so that
    #: ``w[sl].reshape(n_pre, n_post).T`` is W_l) and, for l >= 2, of its feedback ones
    ff_slices: list[slice] = field(default_factory=list)
    fb_slices: list[slice | None] = field(default_factory=list)

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def layer(self, k: int) -> tuple[int, int]:
        """(start, stop) of layer k (0 = input)."""
        return self.starts[k], self.starts[k] + self.sizes[k]

    def populations(self) -> list[tuple[str, int, int]]:
        names = ["input"] + [f"hidden_{k}" for k in range(1, self.n_layers)] + ["output"]
        return [(name, *self.layer(k)) for k, name in enumerate(names)]

    def synapse_weights(self, W: list[np.ndarray], M: list, kappa: float) -> np.ndarray:
        """``syn.w`` from forward weights ``W_l`` (n_post, n_pre) and feedback matrices
        ``M_l`` shaped like ``W_l`` (None for l = 1): W_l forward and ``kappa M_l^T`` as
        the feedback onto layer l-1 (``M_l = W_l``: weight transport)."""
        w = np.zeros(len(self.syn_i))
        for Wl, Ml, ff, fb in zip(W, M, self.ff_slices, self.fb_slices):
            w[ff] = Wl.T.ravel()
            if fb is not None:
                w[fb] = kappa * Ml.ravel()
        return w

    def forward_blocks(self, values: np.ndarray) -> list[np.ndarray]:
        """Per weight layer, the forward synapses' ``values`` as (n_post, n_pre) arrays."""
        return [values[sl].reshape(self.sizes[l], self.sizes[l + 1]).T
                for l, sl in enumerate(self.ff_slices)]

    def feedback_blocks(self, values: np.ndarray) -> list:
        """Per weight layer, the feedback synapses' ``values`` shaped like ``W_l`` (None
        for l = 1, which gets no feedback)."""
        return [None if sl is None else values[sl].reshape(self.sizes[l + 1], self.sizes[l])
                for l, sl in enumerate(self.fb_slices)]


def make_layout(sizes) -> Layout:
    """All-to-all forward synapses layer l-1 -> l, and feedback synapses layer l ->
    layer l-1 for l >= 2 (the input layer gets no feedback: it is never nudged)."""
    lay = Layout(tuple(int(n) for n in sizes))
    lay.starts = list(np.cumsum((0,) + lay.sizes[:-1]))
    lay.n_net = int(sum(lay.sizes))
    pre, post, fb = [], [], []
    offset = 0
    for l in range(1, lay.n_layers + 1):
        (a0, a1), (b0, b1) = lay.layer(l - 1), lay.layer(l)
        n = (a1 - a0) * (b1 - b0)
        pre.append(np.repeat(np.arange(a0, a1), b1 - b0))
        post.append(np.tile(np.arange(b0, b1), a1 - a0))
        fb.append(np.zeros(n))
        lay.ff_slices.append(slice(offset, offset + n))
        offset += n
        if l >= 2:   # feedback, post-major in W_l: synapse (i in layer l) -> (j in layer l-1)
            pre.append(np.repeat(np.arange(b0, b1), a1 - a0))
            post.append(np.tile(np.arange(a0, a1), b1 - b0))
            fb.append(np.ones(n))
            lay.fb_slices.append(slice(offset, offset + n))
            offset += n
        else:
            lay.fb_slices.append(None)
    lay.syn_i = np.concatenate(pre).astype(np.int32)
    lay.syn_j = np.concatenate(post).astype(np.int32)
    lay.syn_fb = np.concatenate(fb)
    return lay


def out_degree(lay: Layout) -> np.ndarray:
    """Synaptic events per spike of each neuron (all synapses are reliable)."""
    return np.bincount(lay.syn_i, minlength=lay.n_net).astype(float)


def err_scales(lay: Layout, beta: float, kappa: float) -> np.ndarray:
    """``1/(beta kappa^(L-l))`` for the neurons of layer l >= 1, 0 for the inputs."""
    out = np.zeros(lay.n_net)
    L = lay.n_layers
    for l in range(1, L + 1):
        a, b = lay.layer(l)
        out[a:b] = 1.0 / (beta * kappa ** (L - l))
    return out


# --------------------------------------------------------------------------- construction

def make_construct(lay: Layout, p: dict, n_slots: int):
    """The ``construct`` function for :func:`bioprop.models.device.build`.

    ``p`` holds the rule's resolved parameters (Brian2 quantities where they have
    units).  Per-slot TimedArrays (run_args): ``rates`` (input rates, Hz), ``targets``
    (label targets of the output units, Hz) and ``slot_on`` (1 for a real sample, 0 for
    a padded slot, which neither nudges nor learns).
    """
    def construct():
        from brian2 import Hz, Network, NeuronGroup, Synapses
        # own clocks at the rule's dt: the runtime device restores defaultclock to the
        # dt it had outside the build (device.py, RuntimeNetwork clock_dts)
        dt = p["dt"]
        slots = schedule(p, dt)
        t_slot = slots.slot_duration(dt)
        n_inp, n_out = lay.sizes[0], lay.sizes[-1]
        rates = encoding.slot_timed_array(n_slots, n_inp, t_slot, Hz, "rates")
        targets = encoding.slot_timed_array(n_slots, n_out, t_slot, Hz, "targets")
        slot_on = encoding.slot_timed_array(n_slots, 1, t_slot, 1, "slot_on")
        a_ff = float(np.exp(-dt / p["tau_ff"]))
        a_fb = float(np.exp(-dt / p["tau_fb"]))
        index = {name: k for k, name in enumerate(slots.names)}
        namespace = {
            "rates": rates, "targets": targets, "slot_on": slot_on, "n_inp": n_inp,
            "t_window": p["t_phase"] - p["t_settle"], "beta": p["beta"], "r0": p["baseline_rate"],
            "slope": p["leaky_slope"], "a_ff": a_ff, "a_fb": a_fb,
            "c_ff": (1 - a_ff) / dt, "c_fb": (1 - a_fb) / dt, **slots.namespace(dt),
        }
        learned = p["inverse"] == "learned"
        measure = MEASURE.format(phase_index=slots.index_expression(), **index,
                                 inverse_readout=MEASURE_INVERSE.format(**index) if learned else "")
        update = NET_UPDATE.format(
            nudged=slots.expression({n: 1 for n in ("plus_settle", "plus", "minus_settle", "minus")}),
            sign=slots.expression({"plus_settle": 1, "plus": 1, "minus_settle": -1, "minus": -1}),
            in_free=slots.expression({"free": 1}))
        net = NeuronGroup(lay.n_net, NET_EQS + (NET_EQS_INVERSE if learned else ""), threshold=NET_THRESHOLD, reset=NET_RESET,
                          events={"learn": LEARN_EVENT}, method="exact", name="net",
                          namespace=namespace, dt=dt)
        net.contained_objects.remove(net.state_updater)   # no ODEs: one code object less per step
        net.run_regularly(measure, when="start", order=0, name="measure")
        net.run_regularly(update, when="start", order=1, name="net_update")
        is_inp = np.zeros(lay.n_net)
        is_inp[:n_inp] = 1
        out0, _ = lay.layer(lay.n_layers)
        is_out = np.zeros(lay.n_net)
        is_out[out0:] = 1
        net.is_inp, net.is_out = is_inp, is_out
        net.target_col = np.clip(np.arange(lay.n_net) - out0, 0, n_out - 1)
        net.err_scale = err_scales(lay, float(p["beta"]), float(p["kappa"]))
        net.code_prev = 0
        net.plastic = 0
        syn = Synapses(net, net, SYN_EQS + (SYN_EQS_INVERSE if learned else ""),
                       on_pre={"pre": SYN_PRE, "learn": SYN_LEARN + (SYN_LEARN_INVERSE if learned else "")},
                       on_event={"pre": "spike", "learn": "learn"}, name="syn", dt=dt,
                       namespace={"c_ff": namespace["c_ff"], "c_fb": namespace["c_fb"],
                                  "r0": namespace["r0"], "kappa": float(p["kappa"])})
        syn.connect(i=lay.syn_i, j=lay.syn_j)
        syn.is_fb = lay.syn_fb
        monitor = slot_counter(net, t_slot)
        network = Network(net, syn, monitor)
        return network, {"rates": rates, "targets": targets, "slot_on": slot_on, "net": net,
                         "syn": syn, "counts": monitor}
    return construct

"""The eRBP network as Brian2 equations, and its construction (one build per architecture).

Equations are module-level strings, each beside the paper equation it implements
(Neftci, Augustine, Paul & Detorakis 2017, Front. Neurosci. 11:324, "Event-driven
random back-propagation", Sec. 2 and Table 2; the authors' Auryn classes ``SIFGroup``,
``LinGroup``, ``SRM0Group``, ``PoissonStimulator`` and ``peRBPConnection``).

Names: the paper's somatic state ``V`` is ``soma``, its dendritic state ``U`` is
``dendrite``, the synaptic current ``I_syn`` is ``I``; weights ``W`` are ``w`` (in A),
fixed random feedback ``G`` (times the dendritic jump) is ``g``.

Code objects
------------
Brian2 standalone pays a fixed cost per code object and time step (~0.6 us), so the
whole network is ONE ``NeuronGroup`` ``net`` and ONE ``Synapses`` ``syn`` (net -> net):

``net`` = [data neurons (one per pixel) | label neurons (one per class) | hidden layers |
output ("prediction") layer | E+ (one per class) | E- (one per class)].
Data and label neurons are escape-noise renewal neurons whose next spike time ``t_next``
is drawn at each spike (no random number per neuron and step); the others never reach
``t_next``.  The two-compartment and error neurons are updated by one ``run_regularly``
on the subgroup after the inputs, with per-neuron constants selecting the dynamics.

Per time step: the subgroup update, the threshold and the reset of ``net``, and the
spike-queue push and ``on_pre`` of ``syn`` -- 5 code objects.  The input slot start
and the ``StateMonitor`` of the spike counters run once per sample slot.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import encoding
from ..errors import ParameterError
from .presentation import PhaseSchedule, QuantizationGrid, slot_counter, stochastic_release

# --------------------------------------------------------------------------- equations

#: all neurons.  Two-compartment neuron (paper eqs. for V, U and I_syn; Auryn ``SIFGroup``):
#:   C dV/dt = -g_V V + I + sigma * Poisson noise     (soma, tau_soma = C/g_V)
#:   C dU/dt = -g_U U + sum_k G_ik (s_k^E+ - s_k^E-)  (dendrite, tau_dendrite)
#:   tau_syn dI/dt = -I + sum_j w_ij s_j               (synaptic current)
#: error neurons (Auryn ``LinGroup``): leak-free integrators V += R w per input spike,
#: clipped at zero, subtractive reset (a_soma = 1, c_soma = R, a_syn = 0: input arriving
#: in I during one step is added to V in the next).  Data and label neurons use only
#: ``t_next`` (soma stays 0).
NET_EQS = """
soma : volt
I : amp
dendrite : 1
w_step : amp
t_next : second
t_ref_end : second
count : integer
a_soma : 1 (constant)
c_soma : ohm (constant)
a_syn : 1 (constant)
a_dend : 1 (constant)
noise_p : 1 (constant)
is_err : 1 (constant)
is_inp : 1 (constant)
p_rel : 1 (constant)
ref : second (constant)
plastic : 1 (shared)
"""
#: exact update over one step dt of the linear equations above (two-compartment and
#: error neurons only):
#:   V <- V a_soma + c_soma I + R sigma [noise kick]   (a_soma = exp(-dt/tau_soma),
#:        c_soma = R tau_syn/(tau_syn - tau_soma) (exp(-dt/tau_syn) - exp(-dt/tau_soma)))
#:   I <- I a_syn, U <- U a_dend; V held at 0 while refractory (Auryn clamps mem to e_rest;
#:   refractoriness is done here, not with Brian2's ``refractory=``, whose bookkeeping
#:   lives in the state updater that this group does without)
#: The noise kick is Bernoulli(1 - exp(-rate dt)) per step (Auryn's PoissonStimulator
#: draws Poisson(rate dt) kicks; they differ when 2 kicks fall in one step, 0.5% of steps).
#: Error neurons are clipped at zero and silenced when plasticity is off (testing).
#: ``w_step`` precomputes the weight change of one presynaptic event (paper's rule
#: dW_ij = eta U_i Theta(I_i) per presynaptic spike, boxcar Theta = [b_min < I < b_max]),
#: zero in the slot's ``settle`` phase (:func:`schedule`) and while not plastic, so that a
#: synaptic event costs one addition and each neuron two comparisons per step.
NET_UPDATE = """
soma = (soma * a_soma + c_soma * I + noise_kick * int(rand() < noise_p)) * int(t > t_ref_end)
soma = (soma - is_err * clip(soma, -inf*volt, 0*volt)) * (1 - is_err * (1 - plastic))
I = I * a_syn
dendrite = dendrite * a_dend
w_step = eta * dendrite * int(I > b_min) * int(I < b_max) * plastic * ({learning_gate})
"""
#: data and label neurons (paper Sec. 2.3.1, Table 2; Auryn ``SRM0Group``): escape-noise
#: renewal neurons (:mod:`bioprop.models.encoding`) with hazard rate = 100 Hz
#: exp((I_in - 0.1)/0.05), I_in = 0.5 pixel - 0.215 (:func:`~bioprop.models.encoding.
#: escape_noise_rates`, from the TimedArray ``rates``), and an absolute refractory period.
NET_THRESHOLD = f"soma > v_thresh or {encoding.RENEWAL_SPIKE}"
#: reset to 0 (two-compartment) or subtract the threshold (error neurons); inputs draw
#: their next spike time (``i % n_inp`` keeps the TimedArray index in range; the result
#: is multiplied by is_inp = 0 for the others)
NET_RESET = f"""
soma = is_err * (soma - v_thresh)
t_ref_end = t + ref - 0.5 * dt
{encoding.renewal_reset(index="i % n_inp", gate="is_inp")}
count += 1
"""
INPUT_SLOT_START = encoding.renewal_slot_start()

SYN_EQS = """
w : amp
g : 1 (constant)
"""
#: forward synapses have g = 0 and learn (w += w_step_post: ONE addition); feedback
#: synapses E -> dendrite have w = 0, g != 0 (:func:`make_layout` makes none with g = 0)
#: and never learn.  Synapses onto error neurons never change either: an error neuron's
#: dendrite, hence its w_step, is 0.  (Testing ``g`` that is loaded anyway is cheaper
#: than a mask read per event: a per-synapse flag or the presynaptic neuron's kind cost
#: 4 % of eRBP's training time.)
SYN_PRE = """
I_post += w
dendrite_post += g
w += w_step_post * int(g == 0)
"""
#: blank-out (eRBP with stochastic synapses, paper Sec. 2.3.3): a plastic synapse
#: transmits, and learns, with probability p_rel_post (1 for error neurons); the feedback
#: pathway onto dendrites is reliable
SYN_PRE_STOCHASTIC = stochastic_release(SYN_PRE, "p_rel_post", reliable=("dendrite_post",))
def schedule(p: dict) -> PhaseSchedule:
    """The slot of one sample: ``settle`` (no learning; authors' code: weights change
    only when clock % 2500 > 500) then ``learn``."""
    if p["t_settle"] > p["t_sample"]:
        raise ParameterError(f"t_settle ({p['t_settle']}) must not exceed t_sample ({p['t_sample']})")
    return PhaseSchedule([("settle", p["t_settle"]), ("learn", p["t_sample"] - p["t_settle"])])


# --------------------------------------------------------------------------- layout

@dataclass
class Layout:
    """Indices of the populations in ``net`` and the synapses of ``syn`` (pre i, post j)."""

    n_inputs: int
    n_classes: int
    hidden: tuple[int, ...]
    n_inp: int = 0                                  # data + label neurons
    layers: list[tuple[int, int]] = field(default_factory=list)   # hidden..., output
    err_plus: tuple[int, int] = (0, 0)
    err_minus: tuple[int, int] = (0, 0)
    n_net: int = 0
    syn_i: np.ndarray | None = None
    syn_j: np.ndarray | None = None
    syn_g: np.ndarray | None = None                 # dendritic jump per error spike
    syn_plastic: np.ndarray | None = None           # bool
    syn_w_fixed: np.ndarray | None = None           # A; 0 for plastic synapses
    #: (slice into syn, (n_post, n_pre)) of the plastic weights of layer k = 1..L,
    #: stored pre-major (pre index varies slowest)
    weight_slices: list[tuple[slice, tuple[int, int]]] = field(default_factory=list)

    @property
    def output(self) -> tuple[int, int]:
        return self.layers[-1]

    def populations(self) -> list[tuple[str, int, int]]:
        """(name, start, stop) of every population."""
        pops = [("data", 0, self.n_inputs), ("label", self.n_inputs, self.n_inp)]
        pops += [(f"hidden_{k}", a, b) for k, (a, b) in enumerate(self.layers[:-1], start=1)]
        return pops + [("output", *self.output), ("error", self.err_plus[0], self.err_minus[1])]


def make_layout(n_inputs, n_classes, hidden, w_error, output_feedback, rng,
                hidden_feedback_scale=1.0) -> Layout:
    """Connectivity of the network.

    Plastic: data -> hidden_1 -> ... -> output, all to all.  Fixed (paper Fig. 1, Table 2):
    label c -> E+_c (+w_error), -> E-_c (-w_error); output c -> E+_c (-w_error), -> E-_c
    (+w_error); E+_c -> output c dendrite (+output_feedback), E-_c (-output_feedback);
    E+_k -> hidden n dendrite (+G_nk), E-_k (-G_nk) with G uniform in
    +-sqrt(7/(n_classes + n_hidden)), each neuron's row shifted to sum to zero, times
    ``hidden_feedback_scale`` (0: only the output layer learns).  A feedback weight is
    the dendritic jump per error spike, as in the authors' code.
    The layout's arrays are plain numbers in SI units (``w_error`` and weights in amp).
    """
    lay = Layout(n_inputs, n_classes, tuple(hidden))
    lay.n_inp = n_inputs + n_classes
    start = lay.n_inp
    for n in (*hidden, n_classes):
        lay.layers.append((start, start + n))
        start += n
    lay.err_plus = (start, start + n_classes)
    lay.err_minus = (start + n_classes, start + 2 * n_classes)
    lay.n_net = start + 2 * n_classes
    ep, em, o0 = lay.err_plus[0], lay.err_minus[0], lay.output[0]
    cls = np.arange(n_classes)
    lab = n_inputs + cls
    parts = []   # (i, j, g, plastic, w_fixed)

    def add(i, j, g=0.0, plastic=False, w=0.0):
        n = len(i)
        parts.append((np.asarray(i), np.asarray(j), np.broadcast_to(g, n), np.full(n, plastic),
                      np.broadcast_to(w, n)))

    offset = 0
    for (a0, a1), (b0, b1) in zip([(0, n_inputs)] + lay.layers[:-1], lay.layers):
        n = (a1 - a0) * (b1 - b0)
        add(np.repeat(np.arange(a0, a1), b1 - b0), np.tile(np.arange(b0, b1), a1 - a0), plastic=True)
        lay.weight_slices.append((slice(offset, offset + n), (b1 - b0, a1 - a0)))
        offset += n
    add(lab, ep + cls, w=w_error)          # label -> E+ (excite)
    add(lab, em + cls, w=-w_error)         # label -> E- (inhibit)
    add(o0 + cls, ep + cls, w=-w_error)    # prediction -> E+ (inhibit)
    add(o0 + cls, em + cls, w=w_error)     # prediction -> E- (excite)
    add(ep + cls, o0 + cls, g=output_feedback)    # E+ -> output dendrite, one to one
    add(em + cls, o0 + cls, g=-output_feedback)
    for a0, a1 in lay.layers[:-1]:         # E -> hidden dendrites through G
        n_h = a1 - a0
        bound = np.sqrt(7.0 / (n_classes + n_h))
        G = rng.uniform(-bound, bound, size=(n_h, n_classes))
        G -= G.mean(axis=1, keepdims=True)
        for sign, base in ((1.0, ep), (-1.0, em)):
            add(np.repeat(base + cls, n_h), np.tile(np.arange(a0, a1), n_classes),
                g=sign * hidden_feedback_scale * G.T.ravel())
    i, j, g, plastic, w = (np.concatenate([p[k] for p in parts]) for k in range(5))
    g = g.astype(float)
    # A synapse that neither learns nor transmits (feedback with g = 0, e.g. the ablation
    # hidden_feedback_scale=0) is not made: then g == 0 marks the plastic synapses in the
    # event code (those onto error neurons have w_step_post = 0).  The plastic ones come
    # first, so weight_slices are unchanged.
    keep = plastic | (w != 0) | (g != 0)
    lay.syn_i, lay.syn_j = i[keep].astype(np.int32), j[keep].astype(np.int32)
    lay.syn_g, lay.syn_plastic, lay.syn_w_fixed = g[keep], plastic[keep], w[keep].astype(float)
    return lay


def out_degree(lay: Layout, p_release: float) -> np.ndarray:
    """Expected number of transmitted synaptic events per spike of each neuron."""
    weight = np.where(lay.syn_plastic, p_release, 1.0)
    return np.bincount(lay.syn_i, weights=weight, minlength=lay.n_net)


# --------------------------------------------------------------------------- construction

def make_construct(lay: Layout, p: dict, n_slots: int, stochastic: bool):
    """The ``construct`` function for :func:`bioprop.models.device.build`.

    ``p`` holds the rule's resolved parameters (Brian2 quantities where they have
    units).  The TimedArray ``rates`` has one row per slot and one column per
    data/label neuron (Hz).
    """
    def construct():
        from brian2 import Hz, Network, NeuronGroup, Synapses, amp, defaultclock, ohm, second, volt
        dt = float(defaultclock.dt / second)
        slots = schedule(p)
        t_slot = slots.slot_duration(defaultclock.dt)
        rates = encoding.slot_timed_array(n_slots, lay.n_inp, t_slot, Hz, "rates")
        tau_syn, tau_soma, tau_dend = (float(p["tau_syn"]), float(p["tau_soma"]),
                                       float(p["tau_dendrite"]))
        R = float(1.0 / p["g_soma"])   # ohm
        a_syn, a_soma = np.exp(-dt / tau_syn), np.exp(-dt / tau_soma)
        c_soma = R * tau_syn / (tau_syn - tau_soma) * (a_syn - a_soma)
        namespace = {
            "rates": rates, "n_inp": lay.n_inp, "data_refractory": p["data_refractory"],
            "eta": p["learning_rate"], "b_min": p["b_min"], "b_max": p["b_max"],
            "noise_kick": R * float(p["noise_weight"] / amp) * volt, "v_thresh": p["v_thresh"],
            **slots.namespace(defaultclock.dt),
        }
        update = NET_UPDATE.format(learning_gate=slots.expression({"learn": 1}))
        net = NeuronGroup(lay.n_net, NET_EQS, threshold=NET_THRESHOLD, reset=NET_RESET,
                          method="exact", name="net", namespace=namespace)
        kind = np.zeros(lay.n_net, int)          # 0 input, 1 two-compartment, 2 error
        kind[lay.n_inp:lay.err_plus[0]] = 1
        kind[lay.err_plus[0]:] = 2
        err, two = kind == 2, kind == 1
        net.is_err = err.astype(float)
        net.is_inp = (kind == 0).astype(float)
        net.a_soma = np.where(err, 1.0, np.where(two, a_soma, 0.0))
        net.c_soma = np.where(err, R, np.where(two, c_soma, 0.0)) * ohm
        net.a_syn = np.where(two, a_syn, 0.0)
        net.a_dend = np.exp(-dt / tau_dend)
        net.noise_p = np.where(two, -np.expm1(-float(p["noise_rate"]) * dt), 0.0)
        net.p_rel = np.where(two, p["p_release"], 1.0)
        net.ref = np.where(two, float(p["refractory"]), 0.0) * second
        # no differential equations: drop the (empty) state updater, a code object per step
        net.contained_objects.remove(net.state_updater)
        net.t_next = 1e9 * second                # never, until the first slot starts
        net.t_ref_end = -1 * second
        net.plastic = 0
        net[lay.n_inp:].run_regularly(update, when="start", name="net_update")
        net[:lay.n_inp].run_regularly(INPUT_SLOT_START, dt=t_slot, when="start",
                                      name="input_slot_start")
        pre = SYN_PRE_STOCHASTIC if stochastic else SYN_PRE
        quant = {}
        if p["weight_levels"] > 0:
            grid = QuantizationGrid(p["weight_levels"], p["weight_max"])
            quant = grid.namespace()
            pre += "\n" + grid.rounding("w", when="w_step_post != 0*delta_w and g == 0")
        syn = Synapses(net, net, SYN_EQS, on_pre=pre, name="syn", namespace=quant)
        syn.connect(i=lay.syn_i, j=lay.syn_j)
        syn.g = lay.syn_g
        syn.w = lay.syn_w_fixed * amp           # plastic weights come as run_args
        monitor = slot_counter(net, t_slot)
        network = Network(net, syn, monitor)
        return network, {"rates": rates, "net": net, "syn": syn, "counts": monitor}
    return construct

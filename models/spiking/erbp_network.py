"""The eRBP network as Brian2 equations, and its construction (one build per architecture).

Equations are module-level strings, each beside the paper equation it implements
(Neftci, Augustine, Paul & Detorakis 2017, Front. Neurosci. 11:324, "Event-driven
random back-propagation", Sec. 2 and Table 2; the authors' Auryn classes ``SIFGroup``,
``LinGroup``, ``SRM0Group``, ``PoissonStimulator`` and ``modulatedVmPlasticConnection``).

Names: the paper's somatic state ``V`` is ``soma``, its dendritic state ``U`` is
``dendrite``, the synaptic current ``I_syn`` is ``I``; weights ``W`` are ``w`` (in A),
fixed random feedback ``G`` (times the dendritic jump) is ``g``.

Populations and code objects
----------------------------
Brian2 standalone pays a fixed cost per code object and time step (~0.6 us), so the
network has only three groups and two synapse objects:

``inp``   data neurons (one per pixel) and label neurons (one per class): escape-noise
          renewal neurons whose next spike time is drawn at each spike (no random
          number per neuron and step).  Code objects per step: threshold, reset.
``net``   every two-compartment neuron -- all hidden layers, the output ("prediction")
          layer -- and the error neurons E+ and E- (2 per class), distinguished by
          per-neuron constants.  One ``run_regularly`` does the exact one-step update
          of all of them; plus threshold and reset: 3 code objects.
``syn_in``  inp -> net: data -> first hidden layer (plastic), label -> E+/E- (fixed).
``syn_net`` net -> net: hidden -> hidden -> output (plastic), output -> E+/E- (fixed),
          E+/E- -> dendrites of output and hidden neurons (fixed feedback).
          Each synapse object costs 2 code objects per step (spike queue push, on_pre).

Per-slot spike counts come from ``StateMonitor``s of the per-neuron ``count`` variables
that sample once per slot (their clock ticks every 250 ms, not every step).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# --------------------------------------------------------------------------- equations

#: data and label neurons (paper Sec. 2.3.1, Table 2; Auryn ``SRM0Group``): escape-noise
#: neurons with hazard rate(t) = 100 Hz exp((I_in - 0.1)/0.05) (I_in = 0.5 pixel - 0.215,
#: from the TimedArray ``rates``) and an absolute refractory period.  With a hazard that is
#: constant within a slot, the spike train is a renewal process with intervals
#: ``refractory + Exp(rate)``: the next spike time is drawn at each spike.
INPUT_EQS = """
t_next : second
count : integer
"""
INPUT_THRESHOLD = "t >= t_next"
INPUT_RESET = """
t_next = t + data_refractory - log(rand()) / (rates(t, i) + 1e-30*Hz)
count += 1
"""
#: at the start of every slot the new sample's rate applies (memoryless hazard: redraw)
INPUT_SLOT_START = "t_next = t - log(rand()) / (rates(t, i) + 1e-30*Hz)"

#: two-compartment neuron (paper eqs. for V, U and I_syn; Auryn ``SIFGroup``):
#:   C dV/dt = -g_V V + I + sigma * Poisson noise     (soma, tau_soma = C/g_V)
#:   C dU/dt = -g_U U + sum_k G_ik (s_k^E+ - s_k^E-)  (dendrite, tau_dendrite)
#:   tau_syn dI/dt = -I + sum_j w_ij s_j               (synaptic current)
#: and error neurons (Auryn ``LinGroup``): leak-free integrators V += R w per input
#: spike, clipped at zero, subtractive reset.  Both live in one group; per-neuron
#: constants select the dynamics (for error neurons a_soma = 1, c_soma = R, a_syn = 0:
#: input arriving in I in one step is added to V in the next).
NET_EQS = """
soma : volt
I : amp
dendrite : 1
w_step : amp
count : integer
a_soma : 1 (constant)
c_soma : ohm (constant)
a_syn : 1 (constant)
a_dend : 1 (constant)
noise_p : 1 (constant)
is_err : 1 (constant)
p_rel : 1 (constant)
ref : second (constant)
plastic : 1 (shared)
"""
#: exact update over one step dt of the linear equations above:
#:   V <- V a_soma + c_soma I + R sigma [Poisson kick]   (a_soma = exp(-dt/tau_soma),
#:        c_soma = R tau_syn/(tau_syn - tau_soma) (exp(-dt/tau_syn) - exp(-dt/tau_soma)))
#:   I <- I a_syn, U <- U a_dend; held at 0 while refractory (Auryn clamps mem to e_rest)
#: The noise is one Bernoulli(rate dt) kick per step (Poisson(rate dt) in Auryn's
#: PoissonStimulator; the two differ by P(2 kicks) = 0.5% per step at 1 kHz, 0.1 ms).
#: Error neurons are clipped at zero and silenced when plasticity is off (testing).
#: ``w_step`` precomputes the whole weight change of one presynaptic event (paper eq. for
#: dW: eta U Theta(I) with the boxcar Theta = [b_min < I < b_max], only after t_settle
#: in each slot and only while plastic), so a synaptic event costs one addition.
NET_UPDATE = """
soma = (soma * a_soma + c_soma * I + noise_kick * int(rand() < noise_p)) * int(not_refractory)
soma = (soma - is_err * clip(soma, -inf*volt, 0*volt)) * (1 - is_err * (1 - plastic))
I = I * a_syn
dendrite = dendrite * a_dend
w_step = eta * dendrite * int(I > b_min) * int(I < b_max) * plastic * int((t % t_slot) >= t_settle)
"""
NET_THRESHOLD = "soma > v_thresh"
#: reset to 0 (two-compartment) or subtract the threshold (error neurons)
NET_RESET = """
soma = is_err * (soma - v_thresh)
count += 1
"""

SYN_IN_EQS = "w : amp"
SYN_NET_EQS = """
w : amp
g : 1 (constant)
fwd : 1 (constant)
"""
#: one addition per synapse: w += w_step_post (w_step_post = eta U Theta(I) from NET_UPDATE, 0 for
#: error neurons, whose dendrite stays 0, so label -> error weights never change)
SYN_IN_PRE = """
I_post += w
w += w_step_post
"""
SYN_NET_PRE = """
I_post += w
dendrite_post += g
w += fwd * w_step_post
"""
#: blank-out (eRBP stochastic synapses, paper Sec. 2.3.3): a plastic synapse transmits,
#: and learns, with probability p_rel (error and feedback pathways are reliable)
SYN_IN_PRE_STOCHASTIC = """
tr = int(rand() < p_rel_post)
I_post += w * tr
w += w_step_post * tr
"""
SYN_NET_PRE_STOCHASTIC = """
tr = 1 - fwd * int(rand() >= p_rel_post)
I_post += w * tr
dendrite_post += g
w += fwd * w_step_post * tr
"""
#: limited precision: after an update the weight is stochastically rounded to a grid of
#: ``weight_levels`` values spanning [-weight_max, weight_max] (unbiased rounding)
QUANTIZE = ("w = w + int(w_step_post != 0*amp) * (clip(floor(w / delta_w + rand()) * delta_w, "
            "-w_max, w_max) - w)")


# --------------------------------------------------------------------------- layout

@dataclass
class Layout:
    """Indices of the populations in ``inp`` and ``net`` and the fixed connectivity."""

    n_inputs: int
    n_classes: int
    hidden: tuple[int, ...]
    #: (start, stop) in ``net`` of each hidden layer, then the output layer
    layers: list[tuple[int, int]] = field(default_factory=list)
    err_plus: tuple[int, int] = (0, 0)
    err_minus: tuple[int, int] = (0, 0)
    n_net: int = 0
    n_inp: int = 0
    syn_in_i: np.ndarray | None = None
    syn_in_j: np.ndarray | None = None
    syn_in_plastic: np.ndarray | None = None   # bool per synapse
    syn_in_w_fixed: np.ndarray | None = None   # weights of fixed synapses (A), 0 for plastic
    syn_net_i: np.ndarray | None = None
    syn_net_j: np.ndarray | None = None
    syn_net_fwd: np.ndarray | None = None
    syn_net_g: np.ndarray | None = None
    syn_net_w_fixed: np.ndarray | None = None
    #: slices of the plastic synapses of weight layer k (1..L) into syn_in / syn_net
    weight_slices: list[tuple[str, slice, tuple[int, int]]] = field(default_factory=list)

    @property
    def output(self) -> tuple[int, int]:
        return self.layers[-1]

    def populations(self) -> list[tuple[str, str, int, int]]:
        """(name, group, start, stop) of every population."""
        pops = [("data", "inp", 0, self.n_inputs),
                ("label", "inp", self.n_inputs, self.n_inputs + self.n_classes)]
        for k, (a, b) in enumerate(self.layers[:-1], start=1):
            pops.append((f"hidden_{k}", "net", a, b))
        pops.append(("output", "net", *self.output))
        pops.append(("error", "net", self.err_plus[0], self.err_minus[1]))
        return pops


def make_layout(n_inputs, n_classes, hidden, w_error, feedback_scale, rng) -> Layout:
    """Connectivity of the network.

    Plastic: data -> hidden_1 -> ... -> output, all to all.  Fixed (paper Fig. 1, Table 2):
    label c -> E+_c (+w_error), -> E-_c (-w_error); output c -> E+_c (-w_error), -> E-_c
    (+w_error); E+_c -> output c dendrite (+1), E-_c (-1); E+_k -> hidden n dendrite
    (+G_nk), E-_k (-G_nk) with G uniform in +-sqrt(7/(n_classes + n_hidden)), each
    neuron's row shifted to sum to zero.  Feedback weights are multiplied by
    ``feedback_scale`` (the dendritic jump per error spike).
    """
    lay = Layout(n_inputs, n_classes, tuple(hidden))
    start = 0
    for n in (*hidden, n_classes):
        lay.layers.append((start, start + n))
        start += n
    lay.err_plus = (start, start + n_classes)
    lay.err_minus = (start + n_classes, start + 2 * n_classes)
    lay.n_net = start + 2 * n_classes
    lay.n_inp = n_inputs + n_classes
    ep, em = lay.err_plus[0], lay.err_minus[0]
    cls = np.arange(n_classes)

    # syn_in: plastic data -> hidden_1 (post-major blocks: pre j varies fastest? no: i-major)
    h1a, h1b = lay.layers[0]
    pre = np.repeat(np.arange(n_inputs), h1b - h1a)
    post = np.tile(np.arange(h1a, h1b), n_inputs)
    lab = n_inputs + cls
    lay.syn_in_i = np.concatenate([pre, lab, lab])
    lay.syn_in_j = np.concatenate([post, ep + cls, em + cls])
    n_pl = pre.size
    lay.syn_in_plastic = np.zeros(lay.syn_in_i.size, bool)
    lay.syn_in_plastic[:n_pl] = True
    lay.syn_in_w_fixed = np.concatenate([np.zeros(n_pl), np.full(n_classes, w_error),
                                         np.full(n_classes, -w_error)])
    lay.weight_slices.append(("syn_in", slice(0, n_pl), (h1b - h1a, n_inputs)))

    # syn_net: plastic layer to layer, then fixed error and feedback synapses
    i_parts, j_parts, fwd, g, wfix = [], [], [], [], []
    offset = 0
    for (a0, a1), (b0, b1) in zip(lay.layers[:-1], lay.layers[1:]):
        pre = np.repeat(np.arange(a0, a1), b1 - b0)
        post = np.tile(np.arange(b0, b1), a1 - a0)
        i_parts.append(pre); j_parts.append(post)
        fwd.append(np.ones(pre.size)); g.append(np.zeros(pre.size)); wfix.append(np.zeros(pre.size))
        lay.weight_slices.append(("syn_net", slice(offset, offset + pre.size), (b1 - b0, a1 - a0)))
        offset += pre.size
    o0 = lay.output[0]
    # output -> error neurons
    i_parts += [o0 + cls, o0 + cls]
    j_parts += [ep + cls, em + cls]
    wfix += [np.full(n_classes, -w_error), np.full(n_classes, w_error)]
    # error -> output dendrites, one to one
    i_parts += [ep + cls, em + cls]
    j_parts += [o0 + cls, o0 + cls]
    g += [np.zeros(2 * n_classes), np.ones(n_classes), -np.ones(n_classes)]
    wfix += [np.zeros(2 * n_classes)]
    fwd += [np.zeros(4 * n_classes)]
    # error -> hidden dendrites through G (one fixed random matrix per hidden layer)
    for a0, a1 in lay.layers[:-1]:
        n_h = a1 - a0
        bound = np.sqrt(7.0 / (n_classes + n_h))
        G = rng.uniform(-bound, bound, size=(n_h, n_classes))
        G -= G.mean(axis=1, keepdims=True)           # each neuron's feedback sums to zero
        for sign, base in ((1.0, ep), (-1.0, em)):
            i_parts.append(np.repeat(base + cls, n_h))
            j_parts.append(np.tile(np.arange(a0, a1), n_classes))
            g.append(sign * G.T.ravel())
            wfix.append(np.zeros(n_h * n_classes))
            fwd.append(np.zeros(n_h * n_classes))
    lay.syn_net_i = np.concatenate(i_parts).astype(np.int32)
    lay.syn_net_j = np.concatenate(j_parts).astype(np.int32)
    lay.syn_net_fwd = np.concatenate(fwd)
    lay.syn_net_g = np.concatenate(g) * feedback_scale
    lay.syn_net_w_fixed = np.concatenate(wfix)
    return lay


def out_degree(lay: Layout, p_release: float) -> tuple[np.ndarray, np.ndarray]:
    """Expected number of transmitted synaptic events per spike, per ``inp`` and ``net`` neuron."""
    def degree(i, j, n, plastic):
        weight = np.where(plastic, p_release, 1.0)
        return np.bincount(i, weights=weight, minlength=n)
    d_in = degree(lay.syn_in_i, lay.syn_in_j, lay.n_inp, lay.syn_in_plastic)
    d_net = degree(lay.syn_net_i, lay.syn_net_j, lay.n_net, lay.syn_net_fwd > 0)
    return d_in, d_net


# --------------------------------------------------------------------------- construction

def make_construct(lay: Layout, p: dict, n_slots: int, stochastic: bool):
    """The ``construct`` function for :func:`bioprop.models.device.build`.

    ``p`` holds the rule's resolved parameters (in their declared units).
    """
    def construct():
        from brian2 import (Hz, Network, NeuronGroup, StateMonitor, Synapses, TimedArray,
                            amp, defaultclock, mV, ms, nA, ohm, second, volt)
        dt = float(defaultclock.dt / second)
        slot = p["t_sample"] * 1e-3
        n_slot_steps = round(slot / dt)
        rates = TimedArray(np.zeros((n_slots, lay.n_inp)) * Hz, dt=n_slot_steps * dt * second,
                           name="rates")
        inp = NeuronGroup(lay.n_inp, INPUT_EQS, threshold=INPUT_THRESHOLD, reset=INPUT_RESET,
                          name="inp", namespace={"rates": rates,
                                                 "data_refractory": p["data_refractory"] * ms})
        inp.t_next = 1e9 * second
        inp.run_regularly(INPUT_SLOT_START, dt=n_slot_steps * dt * second, when="start",
                          name="inp_slot_start")

        tau_syn, tau_soma, tau_dend = (p["tau_syn"] * 1e-3, p["tau_soma"] * 1e-3,
                                       p["tau_dendrite"] * 1e-3)
        R = 1.0 / (p["g_soma"] * 1e-9)   # ohm
        a_syn, a_soma = np.exp(-dt / tau_syn), np.exp(-dt / tau_soma)
        c_soma = R * tau_syn / (tau_syn - tau_soma) * (a_syn - a_soma)
        namespace = {
            "eta": p["eta"] * nA, "b_min": p["b_min"] * nA, "b_max": p["b_max"] * nA,
            "t_slot": n_slot_steps * dt * second, "t_settle": p["t_settle"] * ms,
            "noise_kick": R * p["noise_weight"] * 1e-9 * volt, "v_thresh": p["v_thresh"] * mV,
        }
        net = NeuronGroup(lay.n_net, NET_EQS, threshold=NET_THRESHOLD, reset=NET_RESET,
                          refractory="ref", method="exact", name="net", namespace=namespace)
        err = slice(lay.err_plus[0], lay.err_minus[1])
        is_err = np.zeros(lay.n_net)
        is_err[err] = 1
        net.is_err = is_err
        net.a_soma = np.where(is_err > 0, 1.0, a_soma)
        net.c_soma = np.where(is_err > 0, R, c_soma) * ohm
        net.a_syn = np.where(is_err > 0, 0.0, a_syn)
        net.a_dend = np.exp(-dt / tau_dend)
        noise_p = -np.expm1(-p["noise_rate"] * dt)   # P(at least one Poisson event in dt)
        net.noise_p = np.where(is_err > 0, 0.0, noise_p)
        net.p_rel = np.where(is_err > 0, 1.0, p["p_release"])
        net.ref = np.where(is_err > 0, 0.0, p["refractory"] * 1e-3) * second
        net.plastic = 0
        net.run_regularly(NET_UPDATE, when="start", name="net_update")

        quant = {}
        pre_in, pre_net = SYN_IN_PRE, SYN_NET_PRE
        if stochastic:
            pre_in, pre_net = SYN_IN_PRE_STOCHASTIC, SYN_NET_PRE_STOCHASTIC
        if p["weight_levels"] > 0:
            quant = {"delta_w": 2 * p["weight_max"] * nA / (p["weight_levels"] - 1),
                     "w_max": p["weight_max"] * nA}
            pre_in, pre_net = pre_in + QUANTIZE, pre_net + QUANTIZE
        syn_in = Synapses(inp, net, SYN_IN_EQS, on_pre=pre_in, name="syn_in", namespace=quant)
        syn_in.connect(i=lay.syn_in_i, j=lay.syn_in_j)
        syn_net = Synapses(net, net, SYN_NET_EQS, on_pre=pre_net, name="syn_net", namespace=quant)
        syn_net.connect(i=lay.syn_net_i, j=lay.syn_net_j)
        syn_net.g = lay.syn_net_g
        syn_net.fwd = lay.syn_net_fwd

        mon_dt = n_slot_steps * dt * second
        mon_inp = StateMonitor(inp, "count", record=True, dt=mon_dt, when="start", name="mon_inp")
        mon_net = StateMonitor(net, "count", record=True, dt=mon_dt, when="start", name="mon_net")
        network = Network(inp, net, syn_in, syn_net, mon_inp, mon_net)
        handles = {"rates": rates, "inp": inp, "net": net, "syn_in": syn_in,
                   "syn_net": syn_net, "mon_inp": mon_inp, "mon_net": mon_net}
        return network, handles
    return construct

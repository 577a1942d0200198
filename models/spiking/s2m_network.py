"""Network of the synaptic sampling machine (S2M) and of event-driven CD (eCD) in Brian2.

Neftci, Pedroni, Joshi, Al-Shedivat & Cauwenberghs (2016), "Stochastic synapses enable
efficient brain-inspired learning machines", Front. Neurosci. 10:241; Neftci, Das,
Pedroni, Kreutz-Delgado & Cauwenberghs (2014), "Event-driven contrastive divergence for
spiking neuromorphic systems", Front. Neurosci. 7:272 (Table 1: "eCD-T1" below), and the
eCD authors' code (github eneftci/eCD, Brian 1: ``MNIST_IF_STDP.py``,
``neusa/experimentLib.py``, ``parameters_mnist.py``).

One ``NeuronGroup`` ``net`` = [data units (one per input) | label units
(``label_units_per_class`` per class) | hidden units], leaky integrate-and-fire with
an exponentially decaying synaptic current, and ONE ``Synapses`` ``syn`` from every
visible to every hidden unit holding the symmetric weight matrix once: ``on_pre`` (a
visible spike) drives the hidden side, ``on_post`` (a hidden spike) drives the visible
side (eCD code ``MNIST_IF_STDP.py`` lines 113-133).

Each sample slot is one eCD cycle (:func:`schedule`): burn-in, data (data and labels
clamped, g = +1), burn-in (clamp off), reconstruction (free running, g = -1).  While
testing, the data stay clamped for the whole slot, the labels get no current and run
free, and nothing learns.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import encoding
from ..errors import ParameterError
from .presentation import PhaseSchedule, slot_counter, stochastic_release

# --------------------------------------------------------------------------- equations

#: every unit (eCD code ``neusa/experimentLib.py`` lines 120-124 and 144-147; eCD-T1):
#:   C dv/dt = -g_L v + I_syn + b + I_offset + I_clamp [+ sigma xi]   (v held at 0 while
#:   refractory), tau_syn dI_syn/dt = -I_syn.  ``b`` is the unit's learned bias current;
#:   ``I_clamp`` is the clamp current of the slot (TimedArray ``clamp``, one column per
#:   visible unit), switched on by ``clamp_gate``; ``{noise}`` is ``+ noise_sigma*xi`` for
#:   eCD (additive white noise) and empty for the S2M, whose only noise is its synapses.
#: the learning state of every unit (also of a test's stand-in group): its own STDP
#: trace, and the step's learning gain g(t) * annealing * plastic (:data:`GAIN`)
LEARNING_STATE = """
trace : 1
gain : 1 (shared)
plastic : 1 (shared)
n_seen : 1 (shared)
"""
NET_EQS = """
dv/dt = (-g_leak*v + I_syn + b + i_offset + I_clamp{noise}) / c_mem : volt (unless refractory)
dI_syn/dt = -I_syn / tau_syn : amp
I_clamp = clamp(t, i % n_visible) * is_visible * ({clamp_gate}) : amp
b : amp
is_visible : 1 (constant)
count : integer
""" + LEARNING_STATE
#: reset to 0 (eCD-T1 u_rst = 0); the unit's trace jumps by 1; its own spike moves its
#: bias by gain * bias_step (the deterministic form of the eCD code's Poisson bias
#: neurons, lines 66-111: same expected change per cycle, no extra noise)
NET_RESET = """
v = 0*volt
count += 1
trace += 1
b += gain * bias_step
"""
#: pair-based STDP (eCD-T1 tau_STDP = 4 ms; code ``Afre``/``Afost``): on a visible (pre)
#: spike w += gain * stdp_step * trace_post, on a hidden (post) spike w += gain *
#: stdp_step * trace_pre.  The traces belong to the units, not the synapses (one decay
#: per unit and step instead of two exponentials per event: the events dominate the cost)
SYN_PRE = """
I_syn_post += w
w += gain_post * stdp_step * trace_post
"""
SYN_POST = """
I_syn_pre += w
w += gain_post * stdp_step * trace_pre
"""
#: the traces decay exactly, once per step, before the step's spikes are delivered
TRACE_DECAY = "trace = trace * trace_decay"
#: the gain of this step: g(t) of the phase schedule (+1 data, -1 reconstruction, 0
#: burn-in), the annealing factor eta / (1 + n / anneal_samples) after n training
#: samples (eCD code's CD scripts, ``MNIST_SRM_RATE.py`` line 135; n counts slots
#: across runs), and ``plastic`` (0 while testing)
GAIN = ("gain = plastic * ({g}) / (1.0 + (n_seen + int(timestep(t, dt) / slot_steps))"
        " * inv_anneal_samples)")
#: weight decay once per slot, while learning (the stability fix of issue 10's study:
#: blank-out units depend only on the mean/std ratio of their input, so without decay the
#: weights random-walk upward)
SYN_DECAY = "w = w * (1 - weight_decay * plastic_post)"


def schedule(p: dict) -> PhaseSchedule:
    """One eCD cycle of ``t_cycle``: burn-in, data, burn-in, reconstruction, the two
    halves of equal length, each starting with ``t_burn_in`` (eCD-T1: 2T = 100 ms,
    tau_br = 10 ms)."""
    half = p["t_cycle"] / 2
    if not p["t_burn_in"] < half:
        raise ParameterError(f"t_burn_in ({p['t_burn_in']}) must be shorter than half of "
                             f"t_cycle ({p['t_cycle']})")
    return PhaseSchedule([("burn_in", p["t_burn_in"]), ("data", half - p["t_burn_in"]),
                          ("burn_in_2", p["t_burn_in"]), ("reconstruction", half - p["t_burn_in"])])


# --------------------------------------------------------------------------- layout

@dataclass
class Layout:
    """Indices of the populations in ``net`` and the synapses of ``syn``."""

    n_inputs: int
    n_classes: int
    label_units: int      #: per class
    n_hidden: int

    @property
    def n_labels(self) -> int:
        return self.n_classes * self.label_units

    @property
    def n_visible(self) -> int:
        return self.n_inputs + self.n_labels

    @property
    def n_net(self) -> int:
        return self.n_visible + self.n_hidden

    def populations(self) -> list[tuple[str, int, int]]:
        return [("data", 0, self.n_inputs), ("label", self.n_inputs, self.n_visible),
                ("hidden", self.n_visible, self.n_net)]

    def synapses(self, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(pre, post) indices into ``net`` of the visible -> hidden synapses, visible-major,
        i.e. entry ``v * n_hidden + h`` of the matrix; ``keep`` (bool, that length)
        selects the surviving synapses of a pruned network."""
        pre = np.repeat(np.arange(self.n_visible), self.n_hidden)
        post = self.n_visible + np.tile(np.arange(self.n_hidden), self.n_visible)
        if keep is not None:
            pre, post = pre[keep], post[keep]
        return pre.astype(np.int32), post.astype(np.int32)


def learning_steps(p: dict) -> tuple:
    """``(stdp_step, bias_step)`` in amp from the dimensionless learning rate eta.

    With traces that jump by 1 per spike, one phase of length T at rates nu_i, nu_j
    changes a weight by 2 stdp_step tau_stdp T nu_i nu_j on average, so
    ``stdp_step = eta tau_ref^2 / (2 tau_stdp T p_release) * rbm_unit`` makes one cycle
    change it by ``eta (<v h>_data - <v h>_recon)`` RBM units, with P(on) = nu tau_ref
    (the eCD code's ``deltaA``, ``parameters_mnist.py`` line 45; divided by p_release
    because only transmitted events learn).  A bias moves by ``bias_step = eta tau_ref /
    T * rbm_unit`` per own spike: ``eta (p_data - p_recon)`` per cycle (the code's bias
    neurons learn 4x faster than its weights; we use one rate for both).
    """
    phase = p["t_cycle"] / 2 - p["t_burn_in"]
    eta, tau_ref, unit = p["learning_rate"], p["refractory"], p["rbm_unit"]
    stdp = eta * tau_ref ** 2 / (2 * p["tau_stdp"] * phase * p["p_release"]) * unit
    return stdp, eta * tau_ref / phase * unit


def learning_code(p: dict, slots: PhaseSchedule) -> tuple[str, str, str]:
    """``(gain, on_pre, on_post)``: the per-step gain update of the unit group (g(t) of
    the schedule filled in) and the synapse's pathways; blank-out
    (:func:`~.presentation.stochastic_release`) gates transmission and learning when
    ``p_release < 1``."""
    gain = GAIN.format(g=slots.expression({"data": 1, "reconstruction": -1}))
    on_pre, on_post = SYN_PRE, SYN_POST
    if p["p_release"] < 1:
        on_pre = stochastic_release(on_pre, "p_release")
        on_post = stochastic_release(on_post, "p_release")
    return gain, on_pre, on_post


def add_learning(net, p: dict, slots: PhaseSchedule) -> None:
    """The per-step operations of ``net``'s learning state (:data:`LEARNING_STATE`):
    the gain of the step, then the decay of the traces."""
    gain, _, _ = learning_code(p, slots)
    net.run_regularly(gain, when="start", order=0, name=f"{net.name}_gain")
    net.run_regularly(TRACE_DECAY, when="start", order=1, name=f"{net.name}_trace_decay")


def namespace(p: dict, slots: PhaseSchedule, dt) -> dict:
    """Constants of the equations (Brian2 quantities), at the build's ``dt``."""
    stdp_step, bias_step = learning_steps(p)
    return {
        "g_leak": p["g_leak"], "c_mem": p["c_mem"], "tau_syn": p["tau_syn"],
        "tau_stdp": p["tau_stdp"], "i_offset": p["i_offset"], "v_thresh": p["v_thresh"],
        "noise_sigma": p["noise_sigma"], "p_release": p["p_release"],
        "stdp_step": stdp_step, "bias_step": bias_step, "weight_decay": p["weight_decay"],
        "inv_anneal_samples": 1.0 / p["anneal_samples"] if p["anneal_samples"] else 0.0,
        "trace_decay": float(np.exp(-dt / p["tau_stdp"])), **slots.namespace(dt),
    }


def make_synapses(net, lay: Layout, p: dict, slots: PhaseSchedule, consts: dict,
                  keep: np.ndarray | None = None):
    """The one ``Synapses`` ``syn`` from the visible to the hidden units of ``net`` (any
    group with ``I_syn`` and :data:`LEARNING_STATE`), holding the symmetric matrix, with
    its once-per-slot weight decay; ``keep`` selects the survivors of pruning."""
    from brian2 import Synapses
    _, on_pre, on_post = learning_code(p, slots)
    syn = Synapses(net, net, "w : amp", on_pre=on_pre, on_post=on_post, name="syn",
                   namespace=consts)
    pre, post = lay.synapses(keep)
    syn.connect(i=pre, j=post)
    syn.run_regularly(SYN_DECAY, dt=slots.slot_duration(net.clock.dt), when="start",
                      name="syn_decay")
    return syn


def make_construct(lay: Layout, p: dict, n_slots: int, keep: np.ndarray | None = None):
    """The ``construct`` function for :func:`bioprop.models.device.build`; ``keep`` (bool
    per matrix entry) builds only the synapses that survived pruning.  Additive noise is
    compiled in when ``noise_sigma > 0``."""
    def construct():
        from brian2 import Network, NeuronGroup, amp, defaultclock
        slots = schedule(p)
        t_slot = slots.slot_duration(defaultclock.dt)
        clamp_phase = slots.expression({"burn_in": 1, "data": 1})
        clamp = encoding.slot_timed_array(n_slots, lay.n_visible, t_slot, amp, "clamp")
        consts = namespace(p, slots, defaultclock.dt)
        eqs = NET_EQS.format(noise=" + noise_sigma*xi" if p["noise_sigma"] > 0 else "",
                             clamp_gate=f"{clamp_phase} + (1 - ({clamp_phase})) * (1 - plastic)")
        net = NeuronGroup(lay.n_net, eqs, threshold="v > v_thresh", reset=NET_RESET,
                          refractory=p["refractory"], method="euler", name="net",
                          namespace={**consts, "clamp": clamp, "n_visible": lay.n_visible})
        net.is_visible = (np.arange(lay.n_net) < lay.n_visible).astype(float)
        add_learning(net, p, slots)
        syn = make_synapses(net, lay, p, slots, consts, keep)
        counter = slot_counter(net, t_slot)
        return Network(net, syn, counter), {"clamp": clamp, "net": net, "syn": syn, "counts": counter}
    return construct

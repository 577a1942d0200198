"""Event-driven random back-propagation (eRBP) in Brian2.

Neftci, Augustine, Paul & Detorakis (2017), "Event-driven random back-propagation:
enabling neuromorphic deep learning machines", Front. Neurosci. 11:324,
doi:10.3389/fnins.2017.00324 (parameters: Table 2), and the authors' Auryn code
(``SIFGroup``, ``LinGroup``, ``SRM0Group``, ``peRBPConnection`` of ``exp_rbp_dual.cpp``).

The network (equations and construction: :mod:`.erbp_network`): escape-noise data and
label neurons; hidden and output ("prediction") neurons with a somatic compartment
(paper ``V``, here ``soma``) driven by an exponentially decaying synaptic current
``I`` and a dendritic compartment (paper ``U``, here ``dendrite``) that integrates
error spikes; error neurons E+ and E- per class (leak-free, clipped at zero) that
compare label and prediction spikes.  E+ - E- reaches each output neuron's dendrite
one to one and each hidden neuron's dendrite through a fixed random matrix G.
Each transmitted presynaptic spike changes its weight by ``eta * dendrite_post``
(eta: ``learning_rate``) if ``b_min < I_post < b_max`` (one addition, two comparisons),
except in the first ``t_settle`` of each sample.  E+ is excited by the label, so
``dendrite`` is proportional to label minus prediction and the update reduces the error.

Rules: ``erbp`` (eRBP+, additive Poisson noise into the soma, reliable synapses) and
``erbp-stochastic`` (no noise; blank-out synapses that transmit, and learn, with
probability ``p_release``).  ``weight_levels`` > 0 adds stochastic rounding of weights
after every update (limited precision).

Departures (each also in the parameter's ``source``):

* dendrite time constant 5 ms (authors' code) instead of C/g_U = 0.2 ms (Table 2);
* dendritic jump per error spike: the code adds the feedback weight itself to U (its
  ``DEND`` connections target the state ``dendrite``, ``Connection.cpp``
  ``set_target``; ``Connection.h`` ``transmit`` adds ``gain * w``; ``SIFGroup::evolve``
  then only decays it by dt/tau_dendrite per step), i.e. 0.09 onto the output dendrites
  (``experimentLib.py`` ``Weo = np.eye(nc)*90e-3``) and G onto the hidden ones; ours
  are ``output_feedback`` and ``hidden_feedback_scale`` times G, the code's at the
  defaults;
* as in the code's ``peRBPConnection`` (behind Table 2), a blanked-out synapse neither
  transmits nor learns (its update sits inside the transmission test; only the older
  ``modulatedVmPlasticConnection`` learned on every presynaptic spike);
* the learning gate is evaluated on the postsynaptic current at the start of the time
  step (before that step's synaptic inputs arrive);
* the settle window is the slot's first phase (:class:`~.presentation.PhaseSchedule`):
  learning starts at step ``t_settle / dt`` of every sample (the code's
  ``clock % 2500 > 500`` starts one step later);
* initial weights are not given in Table 2; we draw them uniform in
  +-init_scale * sqrt(6 / (n_pre + n_post)) nA;
* data and label neurons are renewal processes (the next spike drawn at each spike and
  slot start, :func:`~bioprop.models.encoding.renewal_reset`), with the code's shortest
  interval of refractory / dt steps;
* the true label's neuron is driven at ``label_current`` = 0.285, a white pixel's current
  (~238 Hz); the code's 0.48 (~250 Hz) is the ``erbp-auryn`` setting of the study
  config (README);
* ``input_encoding="gray"`` (ours) is an option for gray-level images; the default is the
  paper's;
* classification counts output spikes over the whole test presentation; ties
  (including all zero) go to the lowest class index.

Rate twins: ``erbp-twin`` is the like-for-like comparison (feedback alignment online,
SGD, MSE error, on this encoding's input rates), ``fa`` the strong one (Adam, batches,
cross-entropy, pixels); the measured gaps, and what the escape-noise encoding costs on
gray-level images, are in the README (eRBP sections).

Run pattern (:mod:`.presentation`, shared by every spiking rule): one build per rule
instance (architecture and parameters); each epoch runs it in fixed-size chunks of
``chunk_slots`` sample slots (the last padded with blank samples that are ignored),
weights and the ``plastic`` flag passed as run_args.
"""
from __future__ import annotations

import numpy as np
from brian2 import Hz, amp, nA

from .. import schema
from ..encoding import ESCAPE_ENCODINGS, escape_noise_current, escape_noise_hazard, escape_noise_rates
from ..errors import ParameterError
from ..params import Parameter, ParameterSet
from ..rules import register
from . import erbp_network as netmod
from .presentation import QuantizationGrid, SlotPresentationRule

PAPER = ("Neftci, Augustine, Paul & Detorakis (2017) Event-driven random back-propagation: "
         "enabling neuromorphic deep learning machines. Front. Neurosci. 11:324")
T2 = "Neftci et al. 2017, Table 2"
CODE = "authors' Auryn code (eRBP)"

PARAMETERS = ParameterSet((
    Parameter("t_sample", 250.0, "duration of one sample presentation (train and test)", "ms",
              low=1.0, source=f"{T2} (T_test 250 ms); {CODE}: 2500 steps of 0.1 ms per sample"),
    Parameter("t_settle", 50.0, "no learning in the first t_settle of each sample", "ms", low=0.0,
              source=f"{CODE}: weights change only when clock % 2500 > 500"),
    Parameter("tau_syn", 4.0, "synaptic current time constant", "ms", low=0.0, open_low=True,
              source=T2),
    Parameter("tau_soma", 1.0, "somatic time constant C/g_V", "ms", low=0.0, open_low=True,
              source=f"{T2}: C = 1 pF, g_V = 1 nS"),
    Parameter("g_soma", 1.0, "somatic leak conductance g_V (sets R = 1/g_V)", "nS", low=0.0,
              open_low=True, source=T2),
    Parameter("tau_dendrite", 5.0, "dendritic time constant", "ms", low=0.0, open_low=True,
              source=f"{CODE} (SIFGroup tau_dendrite 5 ms); Table 2's C/g_U would be 0.2 ms"),
    Parameter("output_feedback", 0.09, "dendritic jump of an output neuron per spike of its "
              "error neuron (E+ adds it, E- subtracts it)", low=0.0,
              source=f"{CODE}: experimentLib.py Weo = np.eye(nc)*90e-3, added to the state "
                     "'dendrite' per spike (Connection.h transmit); the 1.0 used before made later "
                     "epochs unstable (README, eRBP on MNIST)"),
    Parameter("hidden_feedback_scale", 1.0, "factor on G, the random feedback onto hidden "
              "dendrites (jump per error spike +-G_nk times this; 0 = ablation: only the output "
              "layer learns)", low=0.0,
              source=f"{CODE}: 1 (G uniform in +-sqrt(7/(n_classes + n_hidden)), zero mean per "
                     "hidden neuron, experimentLib.py); 0 is our control for the hidden layers' share"),
    Parameter("v_thresh", 100.0, "firing threshold of hidden, output and error neurons", "mV",
              low=0.0, open_low=True, source=T2),
    Parameter("refractory", 3.9, "refractory period of hidden and output neurons", "ms",
              low=0.0, source=T2),
    Parameter("data_refractory", 4.0, "refractory period of data and label neurons", "ms",
              low=0.0, source=T2),
    Parameter("input_encoding", "auryn", "pixel -> input current of the escape-noise data "
              "neurons: auryn I_in = 0.5 x - 0.215 (near-binary images), gray I_in = 0.15 x + "
              "0.065 (every non-zero pixel in the hazard's sloped part; bioprop.models.encoding)",
              kind=str, choices=tuple(ESCAPE_ENCODINGS),
              source=f"{T2} and {CODE} (auryn); gray is ours, for gray-level images"),
    Parameter("label_current", float(escape_noise_current(1.0)), "input current I_in of the "
              "true class's label neuron while learning (hazard 100 Hz exp((I_in - 0.1)/0.05))",
              high=1.0,
              source=f"ours: a white pixel's I_in under auryn (0.285, ~238 Hz); the {CODE} "
                     "drives it with (0.98 - 0.5) = 0.48 (experimentLib.create_data_rbp: labels "
                     "0.98, current (label - 0.5) * 1e4 * dt), firing right after each "
                     "refractory period (~250 Hz)"),
    Parameter("noise_weight", 0.05, "Poisson noise weight sigma into the soma (times R)", "nA",
              low=0.0, source=f"{T2} (eRBP+ 50e-3 nA; eRBP stochastic 0)"),
    Parameter("noise_rate", 1000.0, "rate of the somatic Poisson noise", "Hz", low=0.0,
              source=f"{CODE}: PoissonStimulator(neurons, 1000., sigma)"),
    Parameter("w_error", 0.09, "weight of label and prediction spikes onto error neurons", "nA",
              low=0.0, source=f"{T2}: w_E, w_L+- = +-90e-3 nA"),
    Parameter("b_min", -1.15, "lower edge of the boxcar gate on I_post", "nA", source=T2),
    Parameter("b_max", 1.15, "upper edge of the boxcar gate on I_post", "nA", source=T2),
    Parameter("learning_rate", 6e-4, "eta of the paper: dw = eta * dendrite per transmitted "
              "spike", "nA",
              low=0.0, source=f"{T2}: eRBP+ 6e-4 (eRBP stochastic 1e-3)"),
    Parameter("p_release", 1.0, "probability that a plastic synapse transmits (and learns)",
              low=0.0, high=1.0, open_low=True,
              source=f"{T2}: 'blank-out probability' 1.0 for eRBP+, i.e. a transmission "
                     "probability"),
    Parameter("init_scale", 0.3, "initial weights uniform in +-init_scale*sqrt(6/(n_pre+n_post)) nA",
              low=0.0, source="ours: Table 2 leaves the eRBP initial weights blank"),
    Parameter("weight_levels", 0, "limited precision: stochastic rounding to this many weight "
              "levels after every update (0 = off)", kind=int, low=0, source="ours, after the "
              "paper's quantization robustness experiments"),
    Parameter("weight_max", 1.0, "quantization grid: weight_levels multiples of weight_max/(weight_levels//2) in [-weight_max, weight_max)", "nA",
              low=0.0, open_low=True, source="ours"),
    Parameter("chunk_slots", 500, "sample slots per simulation run (compiled in; the last "
              "chunk is padded)", kind=int, low=1, source="ours"),
))


class _ERBPBase(SlotPresentationRule):
    """The eRBP network on the shared slot presentation: layout, initial weights, the
    per-slot input rates, weights as run_args, and classification by output counts."""

    reference = PAPER
    stochastic = False
    rate_twin = "erbp-twin"
    weight_units = "nA"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        if p["weight_levels"] == 1:
            raise ParameterError("weight_levels must be 0 (off) or at least 2")
        self.schedule = netmod.schedule(p)
        self.layout = netmod.make_layout(self.n_inputs, self.n_classes, self.hidden,
                                         float(p["w_error"] / amp), p["output_feedback"], self.rng,
                                         p["hidden_feedback_scale"])
        lay = self.layout
        # initial weights (A), in synapse order
        self.w = lay.syn_w_fixed.copy()
        for sl, (n_post, n_pre) in lay.weight_slices:
            bound = float(p["init_scale"] * np.sqrt(6.0 / (n_pre + n_post)) * nA / amp)
            self.w[sl] = self.rng.uniform(-bound, bound, size=sl.stop - sl.start)
        if p["weight_levels"] > 0:
            grid = QuantizationGrid(p["weight_levels"], float(p["weight_max"] / amp))
            self.w[lay.syn_plastic] = grid.nearest(self.w[lay.syn_plastic])
        self.populations = lay.populations()
        self.out_degree = netmod.out_degree(lay, p["p_release"])

    # ------------------------------------------------------------------ the network
    def construct(self, n_slots):
        return netmod.make_construct(self.layout, self.params, n_slots, self.stochastic)

    def slot_inputs(self, x, y, learning):
        """Input hazards (Hz) of the data and label neurons: escape-noise hazards of the
        pixels under ``input_encoding``, and while learning the true label's neuron at the
        hazard of ``label_current``."""
        n = len(x)
        p = self.params
        rates = np.zeros((n, self.layout.n_inp))
        rates[:, :self.n_inputs] = escape_noise_rates(np.clip(x, 0.0, 1.0), p["input_encoding"])
        if learning:
            label = float(escape_noise_hazard(p["label_current"]))
            rates[np.arange(n), self.n_inputs + np.asarray(y, int)] = label
        return {"rates": rates * Hz}

    def state_run_args(self, learning):
        return {"syn.w": self.w * amp, "net.plastic": 1.0 if learning else 0.0}

    def read_state(self, compiled):
        self.w = compiled.get("syn.w")

    def refractory_s(self, population):
        """Table 2: data and label neurons ``data_refractory``, hidden and output neurons
        ``refractory``; error neurons have none."""
        key = {"data": "data_refractory", "label": "data_refractory", "error": None}.get(
            population, "refractory")
        return float(self.params[key]) if key else 0.0

    renamed_parameters = {"eta": "learning_rate"}

    @classmethod
    def upgrade_parameters(cls, recorded):
        """Results written before ``output_feedback`` recorded ``feedback_scale``, a factor
        on both feedback pathways (output jump ``feedback_scale``, hidden jumps
        ``feedback_scale * hidden_feedback_scale * G``)."""
        upgraded = super().upgrade_parameters(recorded)
        if "feedback_scale" not in upgraded:
            return upgraded
        scale = upgraded.pop("feedback_scale")["value"]
        hidden = upgraded.get("hidden_feedback_scale", {"value": 1.0})["value"]
        upgraded["output_feedback"] = {"value": scale, "unit": "1"}
        upgraded["hidden_feedback_scale"] = {"value": scale * hidden, "unit": "1"}
        return upgraded

    def classify(self, counts):
        o0, o1 = self.layout.output
        return np.argmax(counts[:, o0:o1], axis=1)   # ties -> lowest index

    def extra_records(self):
        return schema.rate_macs_record(self.layer_sizes)

    def weights(self):
        return [(self.w[sl].reshape(n_pre, n_post).T * amp / nA)
                for sl, (n_post, n_pre) in self.layout.weight_slices]


@register
class ERBP(_ERBPBase):
    """eRBP+ (Neftci et al. 2017): additive Poisson noise into the soma, reliable synapses."""

    name = "erbp"
    summary = "event-driven random backpropagation, eRBP+ (two-compartment LIF, Brian2)"
    parameters = PARAMETERS


@register
class ERBPStochastic(_ERBPBase):
    """eRBP with blank-out synapses (paper's stochastic variant): no somatic noise, each
    plastic synapse transmits -- and learns -- with probability ``p_release``."""

    name = "erbp-stochastic"
    summary = "eRBP with blank-out (stochastic) synapses instead of somatic noise"
    stochastic = True
    parameters = PARAMETERS.extend(replace=(
        Parameter("noise_weight", 0.0, "Poisson noise weight sigma into the soma (times R)", "nA",
                  low=0.0, source=f"{T2}: 0 for the stochastic-synapse variant"),
        Parameter("learning_rate", 1e-3, "eta of the paper: dw = eta * dendrite per transmitted "
                  "spike", "nA",
                  low=0.0, source=f"{T2}: 10e-4 for the stochastic-synapse variant"),
        Parameter("p_release", 0.45, "probability that a plastic synapse transmits (and learns)",
                  low=0.0, high=1.0, open_low=True,
                  source=f"{T2}: p = 0.45 (listed as 'blank-out probability'; 1.0 for eRBP+, so "
                         f"read as transmission probability); the {CODE} default prob_syn differs"),
    ))

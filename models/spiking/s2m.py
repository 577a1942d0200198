"""Synaptic sampling machines (S2M) and event-driven contrastive divergence (eCD) in Brian2.

Neftci, Pedroni, Joshi, Al-Shedivat & Cauwenberghs (2016), "Stochastic synapses enable
efficient brain-inspired learning machines", Front. Neurosci. 10:241 (S2M); Neftci, Das,
Pedroni, Kreutz-Delgado & Cauwenberghs (2014), "Event-driven contrastive divergence for
spiking neuromorphic systems", Front. Neurosci. 7:272, Table 1 (eCD), and the eCD
authors' code (github eneftci/eCD).  Network and equations: :mod:`.s2m_network`.

A restricted Boltzmann machine of leaky integrate-and-fire units: visible = data units
plus ``label_units_per_class`` label units per class, one hidden layer, one symmetric
weight matrix and learned biases.  Each training sample is one eCD cycle (the shared
phase schedule): burn-in, data phase (data and label units clamped by currents, g = +1),
burn-in, reconstruction phase (free running, g = -1); pair-based STDP modulated by g(t)
performs contrastive divergence.  Classification by sampling: the data are clamped for
``t_readout`` with the label units free, and the class whose label units fire most wins.

``s2m``  blank-out synapses (each presynaptic spike transmitted, and learning, with
         probability ``p_release``; the only source of noise);
``ecd``  reliable synapses and additive white noise into every unit (eCD-T1 sigma) with
         the offset current that centres the units' sigmoid transfer function.

Inputs: pixels binarised at 0.5 (eCD code ``bound_data``) or used as probabilities
(``input_encoding``), clamped as the current ``logit(p) * rbm_unit`` with p in
[``p_off``, ``p_on``] (eCD code ``clamped_input_transform``: p = 1e-5 / 0.98).  Label
units of the sample's class are clamped on, the others off, in the data half only.

Departures (each also in the parameter's ``source``):

* biases are per-unit learned currents moved on each own spike (expectation of the eCD
  code's 1000 Hz Poisson bias neurons without their noise; one learning rate for weights
  and biases, where the code's bias neurons learn 4x faster);
* traces are not reset between the halves of a cycle (the code zeroes them at 70 ms; the
  10 ms burn-in lets them decay to e^-2.5); they belong to the units, not the synapses
  (the same pair-based rule, except that a pre and a post spike in the same 0.1 ms
  step do not pair), which makes a synaptic event cheap;
* weight decay and learning-rate annealing (not in the eCD STDP code) keep blank-out
  learning stable (issue 10's study); the S2M units get no offset current;
* explicit Euler integration at the device's dt (eCD code: dt 0.05 ms in training);
* test readout: ``t_readout`` of clamped data per sample, counting from its start (the
  code clamps 1 s and averages label rates over the whole window).

Robustness (S2M paper, pruning and precision): ``prune_fraction`` removes that fraction
of the weakest weights after training, rebuilding the connectivity without them (a new
build, not a mask), and re-learns for ``prune_relearn_samples``; ``weight_bits`` rounds
the trained weights to that many bits.  Both record accuracy before and after.
"""
from __future__ import annotations

import numpy as np
from brian2 import amp, nA

from ..errors import ParameterError
from ..params import Parameter, ParameterSet
from ..rules import register
from . import s2m_network as netmod
from .presentation import QuantizationGrid, SlotPresentationRule

S2M = ("Neftci, Pedroni, Joshi, Al-Shedivat & Cauwenberghs (2016) Stochastic synapses enable "
       "efficient brain-inspired learning machines. Front. Neurosci. 10:241")
T1 = "Neftci et al. 2014 (eCD), Table 1"
CODE = "eCD authors' code (github eneftci/eCD)"

PARAMETERS = ParameterSet((
    Parameter("t_cycle", 100.0, "one eCD cycle = one training sample (data half, reconstruction "
              "half)", "ms", low=0.0, open_low=True,
              source=f"{T1}: 2T = 100 ms (the {CODE} uses 140 ms: 35 x t_ref; we take the papers')"),
    Parameter("t_burn_in", 10.0, "burn-in at the start of each half (no learning)", "ms", low=0.0,
              source=f"{T1}: tau_br = 10 ms"),
    Parameter("t_readout", 300.0, "test presentation per sample (data clamped, labels free); a "
              "whole number of cycles", "ms", low=0.0, open_low=True,
              source="ours: issue 10's study needed 200-400 ms on digits; the code clamps 1 s"),
    Parameter("c_mem", 1.0, "membrane capacitance C", "pF", low=0.0, open_low=True, source=T1),
    Parameter("g_leak", 1.0, "leak conductance g_L", "nS", low=0.0, open_low=True, source=T1),
    Parameter("v_thresh", 100.0, "firing threshold (reset to 0)", "mV", low=0.0, open_low=True,
              source=T1),
    Parameter("refractory", 4.0, "refractory period tau_r", "ms", low=0.0, open_low=True, source=T1),
    Parameter("tau_syn", 4.0, "synaptic current time constant", "ms", low=0.0, open_low=True,
              source=T1),
    Parameter("tau_stdp", 4.0, "STDP trace time constant", "ms", low=0.0, open_low=True, source=T1),
    Parameter("rbm_unit", 0.4893, "current of one RBM unit of weight or drive, 1/beta", "nA",
              low=0.0, open_low=True,
              source=f"{T1}: beta = 2.044e9 A^-1 (fitted sigmoid gain; {CODE} parameters_mnist.py "
                     "line 22)"),
    Parameter("learning_rate", 0.032, "CD learning rate eta per sample, in RBM units "
              "(dW = eta (<vh>_data - <vh>_recon) per cycle)", low=0.0,
              source=f"{T1}: eCD eta = 3.2e-2"),
    Parameter("weight_decay", 1e-4, "weight decay per training sample (fraction)", low=0.0,
              high=1.0, source="ours, after issue 10's study (~1e-4 per sample)"),
    Parameter("anneal_samples", 5000, "learning rate eta / (1 + n / anneal_samples) after n "
              "samples (0 = constant)", kind=int, low=0,
              source="issue 10's study (5000); the eCD code's CD scripts use 4000"),
    Parameter("p_release", 0.5, "probability that a synapse transmits (and learns from) a spike",
              low=0.0, high=1.0, open_low=True, source=f"{S2M}: p = 0.5"),
    Parameter("noise_sigma", 0.0, "additive white-noise amplitude sigma into every unit",
              "amp*second**0.5", low=0.0, source=f"{S2M}: none (the synapses are the noise)"),
    Parameter("i_offset", 0.0, "constant current into every unit", "nA",
              source="ours for the S2M: biases are learned from 0"),
    Parameter("label_units_per_class", 4, "label units per class", kind=int, low=1,
              source=f"{T1}: N_c = 40 for 10 classes"),
    Parameter("input_encoding", "binary", "binary: pixels >= 0.5 clamped on, others off; "
              "probability: pixel intensity clipped to [p_off, p_on]", kind=str,
              choices=("binary", "probability"),
              source=f"{CODE}: bound_data(binary=True) in train_mnist.py"),
    Parameter("p_on", 0.98, "clamp probability of an 'on' unit (current logit(p) * rbm_unit)",
              low=0.5, high=1.0, open_high=True, source=f"{CODE}: max_p = 0.98"),
    Parameter("p_off", 1e-5, "clamp probability of an 'off' unit", low=0.0, high=0.5,
              open_low=True, source=f"{CODE}: min_p = 1e-5"),
    Parameter("init_scale", 0.1, "initial weights N(0, init_scale^2) in RBM units", low=0.0,
              source=f"{CODE}: experimentLib.py lines 22-29"),
    Parameter("prune_fraction", 0.0, "after training, remove this fraction of the weakest "
              "weights (rebuilding the connectivity) and re-learn", low=0.0, high=1.0,
              open_high=True, source=f"{S2M}: pruning experiments (50-90 %)"),
    Parameter("prune_relearn_samples", 1000, "training samples presented after pruning",
              kind=int, low=0, source="ours"),
    Parameter("weight_bits", 0, "after training, round weights to this many bits (0 = off)",
              kind=int, low=0, source=f"{S2M}: precision experiments (8/6/4 bits)"),
    Parameter("weight_range", 1.5, "quantization range +-weight_range RBM units", low=0.0,
              open_low=True, source=f"{CODE}: common.py round_to_bits clips at +-1.5"),
    Parameter("chunk_slots", 200, "sample slots per simulation run (compiled in)", kind=int,
              low=1, source="ours"),
))


class _BoltzmannSpiking(SlotPresentationRule):
    """The spiking RBM on the shared slot presentation."""

    weight_units = "nA"
    readout_population = "label"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        if len(self.hidden) != 1:
            raise ParameterError(f"{self.name} has one hidden layer; got --hidden {self.hidden}")
        self.layout = netmod.Layout(self.n_inputs, self.n_classes, p["label_units_per_class"],
                                    self.hidden[0])
        self.schedule = netmod.schedule(p)
        ratio = float(p["t_readout"] / p["t_cycle"])
        if abs(ratio - round(ratio)) > 1e-9:
            raise ParameterError(f"t_readout ({p['t_readout']}) must be a whole number of cycles "
                                 f"(t_cycle {p['t_cycle']})")
        self.readout_slots = int(round(ratio))
        lay = self.layout
        unit = float(p["rbm_unit"] / amp)
        # weights (A), visible-major: entry v * n_hidden + h
        self.w = self.rng.normal(0.0, p["init_scale"], lay.n_visible * lay.n_hidden) * unit
        self.bias = np.zeros(lay.n_net)
        self.keep = None                      # surviving synapses after pruning
        self.populations = lay.populations()
        self.out_degree = p["p_release"] * np.concatenate(
            [np.full(lay.n_visible, lay.n_hidden), np.full(lay.n_hidden, lay.n_visible)])
        self.samples_seen = 0

    @property
    def layer_sizes(self):
        return (self.n_inputs, self.layout.n_hidden, self.layout.n_labels)

    def refractory_s(self, population):
        """Every unit, visible and hidden, has the refractory period tau_r (Table 1)."""
        return float(self.params["refractory"])

    # ------------------------------------------------------------------ the network
    def construct(self, n_slots):
        return netmod.make_construct(self.layout, self.params, n_slots, self.keep)

    def _clamp_probability(self, x):
        p = self.params
        if p["input_encoding"] == "binary":
            return np.where(np.asarray(x) >= 0.5, p["p_on"], p["p_off"])
        return np.clip(x, p["p_off"], p["p_on"])

    def slot_inputs(self, x, y, learning):
        """Clamp currents (A) per slot: logit(p) * rbm_unit for the data units, and while
        learning for the label units (the class's units on, the others off)."""
        p, lay = self.params, self.layout
        unit = float(p["rbm_unit"] / amp)
        prob = np.full((len(x), lay.n_visible), 0.5)          # logit 0: no current
        prob[:, :lay.n_inputs] = self._clamp_probability(x)
        if learning:
            on = np.repeat(np.eye(self.n_classes, dtype=bool)[np.asarray(y, int)], lay.label_units, axis=1)
            prob[:, lay.n_inputs:] = np.where(on, p["p_on"], p["p_off"])
        return {"clamp": np.log(prob / (1 - prob)) * unit * amp}

    def _synaptic_weights(self):
        return self.w if self.keep is None else self.w[self.keep]

    def state_run_args(self, learning):
        return {"syn.w": self._synaptic_weights() * amp, "net.b": self.bias * amp,
                "net.plastic": 1.0 if learning else 0.0, "net.n_seen": float(self.samples_seen)}

    def read_state(self, compiled):
        w = compiled.get("syn.w")
        if self.keep is None:
            self.w = w
        else:
            self.w[self.keep] = w
        self.bias = compiled.get("net.b")

    def classify(self, counts):
        lay = self.layout
        labels = counts[:, lay.n_inputs:lay.n_visible].reshape(len(counts), self.n_classes, lay.label_units)
        return np.argmax(labels.sum(axis=2), axis=1)   # ties -> lowest index

    # ------------------------------------------------------------------ learning
    def train_epoch(self, x, y):
        result = super().train_epoch(x, y)
        self.samples_seen += len(x)
        return result

    def after_training(self, data, accuracy):
        """The S2M paper's robustness experiments on the trained network: test accuracy
        with the weights rounded to ``weight_bits`` (then restored), and after pruning
        ``prune_fraction`` of them, before and after ``prune_relearn_samples`` of
        re-learning (training samples drawn with the rule's seed); and, as the control
        that separates pruning from the extra training, the unpruned network after the
        same re-learning samples (``relearned_test_accuracy``)."""
        p, out = self.params, {}
        if p["weight_bits"]:
            trained = self.w.copy()
            self.quantize(p["weight_bits"])
            out["quantized_test_accuracy"] = ((), accuracy(self.predict(data.x_test), data.y_test), {
                "units": "1", "long_name": f"test accuracy with the weights rounded to "
                                           f"{p['weight_bits']} bits in +-{p['weight_range']} RBM units"})
            self.w = trained
        if p["prune_fraction"]:
            n_relearn = p["prune_relearn_samples"]
            pick = self.rng.integers(0, len(data.y_train), n_relearn)
            if n_relearn:
                # the control: the same re-learning without pruning, from the same state
                trained = (self.w.copy(), self.bias.copy(), self.samples_seen)
                self.train_epoch(data.x_train[pick], data.y_train[pick])
                out["relearned_test_accuracy"] = ((), accuracy(self.predict(data.x_test), data.y_test), {
                    "units": "1", "long_name": f"test accuracy of the unpruned network after the "
                                               f"{n_relearn} re-learning samples of the pruned one"})
                self.w, self.bias, self.samples_seen = trained
            self.prune(p["prune_fraction"])
            what = f"after pruning {p['prune_fraction']:.0%} of the weights"
            out["pruned_test_accuracy_before_relearning"] = (
                (), accuracy(self.predict(data.x_test), data.y_test),
                {"units": "1", "long_name": f"test accuracy {what}, before re-learning"})
            if n_relearn:
                self.train_epoch(data.x_train[pick], data.y_train[pick])
            out["pruned_test_accuracy"] = ((), accuracy(self.predict(data.x_test), data.y_test), {
                "units": "1", "long_name": f"test accuracy {what} and re-learning for "
                                           f"{n_relearn} samples"})
        return out

    def matrix(self) -> np.ndarray:
        """The symmetric weight matrix ``(n_visible, n_hidden)`` in A (pruned entries 0)."""
        w = self.w if self.keep is None else np.where(self.keep, self.w, 0.0)
        return w.reshape(self.layout.n_visible, self.layout.n_hidden)

    def weights(self):
        m = self.matrix() * amp / nA
        return [m[:self.n_inputs].T, m[self.n_inputs:]]

    def prune(self, fraction: float) -> None:
        """Remove the ``fraction`` of surviving synapses with the smallest |w| (ties by
        index); the next presentation uses a new build with only the survivors."""
        alive = np.flatnonzero(self.keep) if self.keep is not None else np.arange(self.w.size)
        n_cut = int(round(fraction * alive.size))
        order = alive[np.argsort(np.abs(self.w[alive]), kind="stable")]
        keep = np.zeros(self.w.size, bool)
        keep[order[n_cut:]] = True
        self.keep = keep
        self.close()                          # the architecture changed: drop old builds

    def quantize(self, bits: int) -> None:
        """Round the weights to the nearest of 2**bits levels in +-weight_range RBM units."""
        unit = float(self.params["rbm_unit"] / amp)
        grid = QuantizationGrid(2 ** bits, self.params["weight_range"] * unit)
        self.w = grid.nearest(self.w)


@register
class SynapticSamplingMachine(_BoltzmannSpiking):
    """Spiking S2M (Neftci et al. 2016): blank-out synapses, no additive noise."""

    name = "s2m"
    summary = "synaptic sampling machine: LIF units, blank-out synapses, event-driven CD (Brian2)"
    reference = S2M
    parameters = PARAMETERS
    rate_twin = "s2m-discrete"


@register
class EventDrivenCD(_BoltzmannSpiking):
    """eCD (Neftci et al. 2014): reliable synapses and additive noise."""

    name = "ecd"
    summary = "event-driven contrastive divergence: noisy LIF units, reliable synapses (Brian2)"
    rate_twin = "rbm"
    reference = ("Neftci, Das, Pedroni, Kreutz-Delgado & Cauwenberghs (2014) Event-driven contrastive "
                 "divergence for spiking neuromorphic systems. Front. Neurosci. 7:272")
    parameters = PARAMETERS.extend(replace=(
        Parameter("p_release", 1.0, "probability that a synapse transmits (and learns from) a spike",
                  low=0.0, high=1.0, open_low=True, source=f"{T1}: reliable synapses"),
        Parameter("noise_sigma", 3e-11, "additive white-noise amplitude sigma into every unit",
                  "amp*second**0.5", low=0.0,
                  source=f"{T1}: sigma = 3e-11 A s^1/2 (the {CODE} uses 4.24e-11)"),
        Parameter("i_offset", -1.743, "constant current into every unit: centres the sigmoid "
                  "transfer function, -(ln gamma + ln tau_r) / beta", "nA",
                  source=f"{T1}: gamma = 8808 Hz, beta = 2.044e9 A^-1, tau_r = 4 ms ({CODE} "
                         "parameters_mnist.py lines 48-50)"),
    ))

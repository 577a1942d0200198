"""Event-driven random back-propagation (eRBP) in Brian2.

Neftci, Augustine, Paul & Detorakis (2017), "Event-driven random back-propagation:
enabling neuromorphic deep learning machines", Front. Neurosci. 11:324,
doi:10.3389/fnins.2017.00324 (parameters: Table 2), and the authors' Auryn code
(``SIFGroup``, ``LinGroup``, ``SRM0Group``, ``modulatedVmPlasticConnection``).

The network (equations and construction: :mod:`.erbp_network`): escape-noise data and
label neurons; hidden and output ("prediction") neurons with a somatic compartment
(paper ``V``, here ``soma``) driven by an exponentially decaying synaptic current
``I`` and a dendritic compartment (paper ``U``, here ``dendrite``) that integrates
error spikes; error neurons E+ and E- per class (leak-free, clipped at zero) that
compare label and prediction spikes.  E+ - E- reaches each output neuron's dendrite
one to one and each hidden neuron's dendrite through a fixed random matrix G.
Each transmitted presynaptic spike changes its weight by
``eta * dendrite_post`` if ``b_min < I_post < b_max`` (one addition, two comparisons),
except in the first ``t_settle`` of each sample.  E+ is excited by the label, so
``dendrite`` is proportional to label minus prediction and the update reduces the error.

Rules: ``erbp`` (eRBP+, additive Poisson noise into the soma, reliable synapses) and
``erbp-stochastic`` (no noise; blank-out synapses that transmit, and learn, with
probability ``p_release``).  ``weight_levels`` > 0 adds stochastic rounding of weights
after every update (limited precision).

Departures (each also in the parameter's ``source``):

* dendrite time constant 5 ms (authors' code) instead of C/g_U = 0.2 ms (Table 2);
* the code adds ``w * dt / tau_U`` per error spike to U (dt = 0.1 ms), a jump of 0.02
  per unit feedback weight; we make the jump a parameter independent of dt
  (``feedback_scale``) with default 1.0, 50 times the code's, so that learning is
  visible within a few hundred samples;
* a blanked-out synapse does not learn (the code learns on every presynaptic spike);
* the learning gate is evaluated on the postsynaptic current at the start of the time
  step (before that step's synaptic inputs arrive);
* initial weights are not given in Table 2; we draw them uniform in
  +-init_scale * sqrt(6 / (n_pre + n_post)) nA;
* classification counts output spikes over the whole test presentation; ties
  (including all zero) go to the lowest class index.

Known gap (measured, README "eRBP gap study"): on Fashion-MNIST eRBP+ with these
defaults is below its rate twin ``fa`` (16 points after one epoch, 8 after three, still
closing).  The escape-noise encoding silences pixels below ~0.5 (a linear readout of
the input rates loses ~7 points against the pixels), and the spiking output layer
learns slowly: after 10,000 samples it classifies 4-8 points below a logistic readout
of its own hidden layer's spike counts, with or without learning in the hidden layer
(``hidden_feedback_scale=0``), and larger steps make it worse.

Run pattern: one build per rule instance (architecture and parameters); each epoch runs
it in fixed-size chunks of ``chunk_slots`` sample slots (the last padded with blank
samples that are ignored), weights and the ``plastic`` flag passed as run_args.
"""
from __future__ import annotations

import time

import numpy as np

from ..params import Parameter, ParameterSet
from ..rules import EpochResult, LearningRule, register
from . import erbp_network as netmod

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
    Parameter("feedback_scale", 1.0, "dendritic jump per error spike per unit feedback weight",
              low=0.0, source=f"ours: the {CODE} adds w*dt/tau_U = 0.02 w per spike with output "
                              "feedback w = 0.09 (jump 0.0018), which learns too slowly for runs of a "
                              "few hundred samples; 1.0 lets 200 digits learn"),
    Parameter("hidden_feedback_scale", 1.0, "extra factor on the feedback onto hidden dendrites "
              "(0 = ablation: only the output layer learns)", low=0.0,
              source="ours: a control for how much the hidden layers' learning contributes"),
    Parameter("v_thresh", 100.0, "firing threshold of hidden, output and error neurons", "mV",
              low=0.0, open_low=True, source=T2),
    Parameter("refractory", 3.9, "refractory period of hidden and output neurons", "ms",
              low=0.0, source=T2),
    Parameter("data_refractory", 4.0, "refractory period of data and label neurons", "ms",
              low=0.0, source=T2),
    Parameter("noise_weight", 0.05, "Poisson noise weight sigma into the soma (times R)", "nA",
              low=0.0, source=f"{T2} (eRBP+ 50e-3 nA; eRBP stochastic 0)"),
    Parameter("noise_rate", 1000.0, "rate of the somatic Poisson noise", "Hz", low=0.0,
              source=f"{CODE}: PoissonStimulator(neurons, 1000., sigma)"),
    Parameter("w_error", 0.09, "weight of label and prediction spikes onto error neurons", "nA",
              low=0.0, source=f"{T2}: w_E, w_L+- = +-90e-3 nA"),
    Parameter("b_min", -1.15, "lower edge of the boxcar gate on I_post", "nA", source=T2),
    Parameter("b_max", 1.15, "upper edge of the boxcar gate on I_post", "nA", source=T2),
    Parameter("eta", 6e-4, "learning rate: dw = eta * dendrite per transmitted spike", "nA",
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


def _escape_rates(pixels):
    from ..encoding import escape_noise_rates
    return escape_noise_rates(pixels)


class _ERBPBase(LearningRule):
    family = "spiking"
    reference = PAPER
    stochastic = False
    train_eval_limit = 1000
    weight_units = "nA"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        p = self.params
        if p["weight_levels"] == 1:
            from ..errors import ParameterError
            raise ParameterError("weight_levels must be 0 (off) or at least 2")
        self.layout = netmod.make_layout(self.n_inputs, self.n_classes, self.hidden,
                                         p["w_error"] * 1e-9, p["feedback_scale"], self.rng,
                                         p["hidden_feedback_scale"])
        lay = self.layout
        # initial weights (A), in synapse order
        self.w = lay.syn_w_fixed.copy()
        for sl, (n_post, n_pre) in lay.weight_slices:
            bound = p["init_scale"] * np.sqrt(6.0 / (n_pre + n_post)) * 1e-9
            self.w[sl] = self.rng.uniform(-bound, bound, size=sl.stop - sl.start)
        if p["weight_levels"] > 0:
            step, k_min, k_max = netmod.quantization_grid(p["weight_levels"], p["weight_max"] * 1e-9)
            plastic = lay.syn_plastic
            self.w[plastic] = np.clip(np.round(self.w[plastic] / step), k_min, k_max) * step
        self.degree = netmod.out_degree(lay, p["p_release"])
        self._builds = {}
        self._train_summary = None    # (synops, rates, ms per sample) of the latest epoch
        sizes = self.layer_sizes
        self.macs = 2 * sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))

    # ------------------------------------------------------------------ building
    def _config(self):
        from ..device import DeviceConfig
        return self.device if self.device is not None else DeviceConfig()

    def _build(self, n_samples):
        """The compiled network for chunks of K slots (standalone: always chunk_slots;
        runtime, where a build is cheap: min(chunk_slots, n_samples) to avoid padding)."""
        from brian2 import ms
        from ..device import build
        config = self._config()
        k = self.params["chunk_slots"]
        if config.kind == "runtime":
            k = min(k, n_samples)
            if k not in self._builds and self._builds:
                # reuse a larger existing build rather than make a new one when cheap
                larger = [b for b in self._builds if b >= k and b <= 2 * k]
                if larger:
                    k = min(larger)
        if k not in self._builds:
            construct = netmod.make_construct(self.layout, self.params, k, self.stochastic)
            self._builds[k] = build(construct, k * self.params["t_sample"] * ms, config)
        return k, self._builds[k]

    # ------------------------------------------------------------------ running
    def _rates(self, x, y, label_on):
        """Input rates (Hz) of ``inp``: escape-noise data rates, labels as white pixels."""
        n = len(x)
        rates = np.zeros((n, self.layout.n_inp))
        rates[:, :self.n_inputs] = _escape_rates(np.clip(x, 0.0, 1.0))
        if label_on:
            rates[np.arange(n), self.n_inputs + np.asarray(y, int)] = float(_escape_rates(1.0))
        return rates

    def _simulate(self, x, y, plastic):
        """Present all samples in chunks; returns per-slot spike counts (n, n_net)."""
        from brian2 import Hz, amp
        n = len(x)
        k, compiled = self._build(n)
        rates = self._rates(x, y, label_on=plastic)
        counts = []
        n_chunks = -(-n // k)
        bar = None
        if n_chunks > 1 and self.progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=n, unit="sample", leave=False, mininterval=10,
                       desc=f"{self.name} {'train' if plastic else 'test'}")
        start = time.perf_counter()
        for c in range(n_chunks):
            part = np.zeros((k, self.layout.n_inp))
            rows = rates[c * k:(c + 1) * k]
            part[:len(rows)] = rows
            run_args = {"rates": np.ascontiguousarray(part) * Hz, "syn.w": self.w * amp,
                        "net.plastic": 1.0 if plastic else 0.0}
            compiled.run(run_args, seed=int(self.rng.integers(2 ** 31)))
            if plastic:
                self.w = compiled.get("syn.w")
            mon = compiled.handles["counts"]
            # a monitor's attribute is a plain array, not a VariableView: make the view
            rec = compiled.get(mon.variables["count"].get_addressable_value("count", mon))
            final = np.asarray(compiled.get("net.count"))
            rec = np.asarray(rec).reshape(-1, final.size)[:k]
            cum = np.concatenate([rec, final[None, :]]).astype(np.int64)
            counts.append(np.diff(cum, axis=0)[:len(rows)])
            if bar is not None:
                bar.update(len(rows))
        if bar is not None:
            bar.close()
        wall = time.perf_counter() - start
        return np.concatenate(counts), wall

    def _present(self, x):
        """Present ``x`` with learning off and label neurons silent: (counts, wall)."""
        x = np.asarray(x)
        return self._simulate(x, np.zeros(len(x), int), plastic=False)

    def _summaries(self, c_net, wall):
        lay = self.layout
        n = len(c_net)
        o0, o1 = lay.output
        predictions = np.argmax(c_net[:, o0:o1], axis=1)   # ties -> lowest index
        synops = float(np.mean(c_net @ self.degree)) if n else float("nan")
        seconds = n * self.params["t_sample"] * 1e-3
        rates = []
        for _name, a, b in lay.populations():
            rates.append(c_net[:, a:b].sum() / ((b - a) * seconds) if n else np.nan)
        return predictions, synops, np.array(rates), 1e3 * wall / max(n, 1)

    # ------------------------------------------------------------------ contract
    def train_epoch(self, x, y):
        # No online predictions: the label drives learning during the presentation
        # being scored, which inflates accuracy (0.99 seen on random inputs).
        c_net, wall = self._simulate(np.asarray(x), np.asarray(y), plastic=True)
        self._train_summary = self._summaries(c_net, wall)[1:]
        return EpochResult()

    def population_counts(self, x) -> dict[str, np.ndarray]:
        """Spike counts per presentation of ``x`` with learning off (labels silent):
        population name (``data``, ``label``, ``hidden_1``..., ``output``, ``error``) ->
        array (n_samples, n_neurons), e.g. to decode what a hidden layer represents."""
        counts, _ = self._present(x)
        return {name: counts[:, a:b] for name, a, b in self.layout.populations()}

    def predict(self, x):
        return self._summaries(*self._present(x))[0]

    def evaluate(self, x):
        """Test predictions, and this epoch's records with index 0 of ``phase`` the
        training presentation and index 1 this test presentation."""
        pred, *test = self._summaries(*self._present(x))
        (syn_tr, rates_tr, ms_tr), (syn_te, rates_te, ms_te) = self._train_summary, test
        pops = ", ".join(name for name, *_ in self.layout.populations())
        phase = "index 0 = training (learning on), 1 = testing (learning off, label neurons silent)"
        return pred, {
            "synops_per_sample": (("phase",), np.array([syn_tr, syn_te]), {
                "units": "1", "long_name": "synaptic events per sample presentation", "phase": phase,
                "note": "transmitted events (expected number for blank-out synapses) of all "
                        "synapses, forward, error and feedback; somatic noise not counted"}),
            "rate_network_macs_per_sample": ((), float(self.macs), {
                "units": "1", "long_name": "multiply-accumulates per sample of the equivalent "
                "rate network, forward and backward: 2 * sum_l n_l n_(l+1)"}),
            "firing_rate": (("phase", "population"), np.vstack([rates_tr, rates_te]), {
                "units": "Hz", "long_name": "mean firing rate by population", "phase": phase,
                "population_names": pops}),
            "wall_ms_per_sample": (("phase",), np.array([ms_tr, ms_te]), {
                "units": "ms", "long_name": "wall-clock time per sample presentation", "phase": phase,
                "device": self._config().kind}),
        }

    def weights(self):
        out = []
        for sl, (n_post, n_pre) in self.layout.weight_slices:
            out.append(self.w[sl].reshape(n_pre, n_post).T * 1e9)   # nA
        return out

    def close(self):
        for compiled in self._builds.values():
            compiled.cleanup()
        self._builds.clear()


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
        Parameter("eta", 1e-3, "learning rate: dw = eta * dendrite per transmitted spike", "nA",
                  low=0.0, source=f"{T2}: 10e-4 for the stochastic-synapse variant"),
        Parameter("p_release", 0.45, "probability that a plastic synapse transmits (and learns)",
                  low=0.0, high=1.0, open_low=True,
                  source=f"{T2}: p = 0.45 (listed as 'blank-out probability'; 1.0 for eRBP+, so "
                         f"read as transmission probability); the {CODE} default prob_syn differs"),
    ))

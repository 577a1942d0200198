"""Rate-based (non-spiking) learning rules in NumPy: the references for the spiking rules.

All rules share one multilayer-perceptron core (:mod:`.mlp`) and differ only in
how the output error reaches the hidden layers:

``bp``                 backpropagation (:mod:`.backprop`)
``fa``, ``dfa``        (direct) feedback alignment with fixed random feedback
``bfa``, ``bdfa``      the same with trainable feedback weights (:mod:`.feedback_alignment`)
``gaitprop``, ``tp``   GAIT-prop and target propagation with exact inverses
                       (:mod:`.target_propagation`)
``dni``, ``cdni``      synthetic gradients / decoupled neural interfaces
                       (:mod:`.synthetic_gradients`)
``rbm``, ``s2m-discrete``  Boltzmann machines trained with CD-1: sigmoid units, or threshold
                       units with Bernoulli synapses (:mod:`.boltzmann`; not MLP-based)

Importing this package registers them (:func:`bioprop.models.rules.register`).
"""
from . import backprop, feedback_alignment, synthetic_gradients, target_propagation  # noqa: F401 (registration)
from . import boltzmann  # noqa: F401 (registration)

"""Spiking learning rules in Brian2 (equation-defined networks, built once per architecture),
all on the shared base :mod:`.presentation` (samples in slots, phases within a slot, records).

``erbp``, ``erbp-stochastic``  event-driven random backpropagation (Neftci et al. 2017),
                               :mod:`.erbp` (rule classes) and :mod:`.erbp_network`
                               (equations and network construction)
``s2m``, ``ecd``               synaptic sampling machine (Neftci et al. 2016) and event-driven
                               contrastive divergence (Neftci et al. 2014), :mod:`.s2m` and
                               :mod:`.s2m_network`
``spiking-gaitprop``           GAIT-Prop in spikes (Ahmad, van Gerven & Ambrogioni 2020),
                               :mod:`.gaitprop` (rule class) and :mod:`.gaitprop_network`
                               (equations and network construction)

Importing this package registers them (:func:`bioprop.models.rules.register`).
"""
from . import erbp, s2m  # noqa: F401 (registration)
from . import gaitprop  # noqa: F401 (registration)

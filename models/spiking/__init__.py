"""Spiking learning rules in Brian2 (equation-defined networks, built once per architecture),
all on the shared base :mod:`.presentation` (samples in slots, phases within a slot, records).

``erbp``, ``erbp-stochastic``  event-driven random backpropagation (Neftci et al. 2017),
                               :mod:`.erbp` (rule classes) and :mod:`.erbp_network`
                               (equations and network construction)
``spiking-gaitprop``           GAIT-Prop with regular-spiking neurons and symmetric nudges
                               (Ahmad et al. 2020), :mod:`.gaitprop` and :mod:`.gaitprop_network`

Importing this package registers them (:func:`bioprop.models.rules.register`).
"""
from . import erbp  # noqa: F401 (registration)
from . import gaitprop  # noqa: F401 (registration)

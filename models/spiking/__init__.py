"""Spiking learning rules in Brian2 (equation-defined networks, built once per architecture),
all on the shared base :mod:`.presentation` (samples in slots, phases within a slot, records).

``erbp``, ``erbp-stochastic``  event-driven random backpropagation (Neftci et al. 2017),
                               :mod:`.erbp` (rule classes) and :mod:`.erbp_network`
                               (equations and network construction)

Importing this package registers them (:func:`bioprop.models.rules.register`).
:mod:`.gaitprop` (spiking GAIT-Prop, Ahmad et al. 2020) is not loaded yet: its updates
match backprop's direction, but it does not yet pass the rule contract (learning on
tiny data), so ``bioprop train`` does not offer it.
"""
from . import erbp  # noqa: F401 (registration)

"""Spiking learning rules in Brian2 (equation-defined networks, built once per architecture).

``erbp``, ``erbp-stochastic``  event-driven random backpropagation (Neftci et al. 2017),
                               :mod:`.erbp` (rule classes) and :mod:`.erbp_network`
                               (equations and network construction)

Importing this package registers them (:func:`bioprop.models.rules.register`).
"""
from . import erbp  # noqa: F401 (registration)

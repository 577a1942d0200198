"""bioprop.models: everything from a dataset to a result file.

Follow one sample along the data flow, one module per arrow:
:mod:`.datasets` -> :mod:`.encoding` -> network (:mod:`.rate`, :mod:`.spiking`)
-> :mod:`.device` -> :mod:`.training` -> :mod:`.schema` (NetCDF).
Rules are found by name in :mod:`.rules`; their parameters (units, ranges,
sources) are described with :mod:`.params`; :mod:`.cli` is the ``bioprop`` command.
"""

"""eRBP gives the same numbers for the same seed, bit for bit, on both devices.

The reference values in ``data/erbp_reference.npz`` were recorded with this module
(``python tests/test_erbp_reference.py``) after the shared spiking base landed; a
refactor that changes any of them changes eRBP's behaviour.  Re-record only for a
deliberate change of the model, and say so in the commit (last: the data and label
neurons' shortest interval made refractory/dt steps, as Auryn's SRM0Group; issue 16).
"""
import sys
from pathlib import Path

import numpy as np
import pytest

REFERENCE = Path(__file__).parent / "data" / "erbp_reference.npz"
# output_feedback 1.0: the default these values were recorded with (before issue 16)
RUNS = {"erbp": {"chunk_slots": 25, "output_feedback": 1.0},
        "erbp-stochastic": {"chunk_slots": 25, "weight_levels": 64, "weight_max": "0.5nA",
                            "output_feedback": 1.0}}
VARIABLES = ("train_accuracy", "test_accuracy", "weight_1", "weight_2", "synops_per_sample",
             "firing_rate")


def _run(rule, kind):
    from bioprop.models.datasets import load_dataset
    from bioprop.models.device import DeviceConfig
    from bioprop.models.training import train
    data = load_dataset("digits", n_train=60, n_test=40, seed=0)
    result = train(rule, data, hidden=(12,), epochs=2, seed=3, device=DeviceConfig(kind=kind),
                   progress=False, overrides=RUNS[rule])
    return {f"{rule}_{kind}__{name}": result[name].values for name in VARIABLES}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["runtime", pytest.param("cpp_standalone", marks=pytest.mark.standalone)])
@pytest.mark.parametrize("rule", list(RUNS))
def test_same_seed_same_numbers(rule, kind):
    reference = np.load(REFERENCE, allow_pickle=False)
    for key, values in _run(rule, kind).items():
        np.testing.assert_array_equal(values, reference[key], err_msg=key)


if __name__ == "__main__":
    values = {}
    for rule in RUNS:
        for kind in ("runtime", "cpp_standalone"):
            values.update(_run(rule, kind))
    np.savez(sys.argv[1] if len(sys.argv) > 1 else REFERENCE, **values)

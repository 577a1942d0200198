"""Parameters: unit conversion, validation and the error messages users see."""
import json

import pytest

from bioprop.models.errors import ParameterError
from bioprop.models.params import Parameter, ParameterSet, parse_assignments

TAU = Parameter("tau_dendrite", 5.0, "dendritic time constant", unit="ms", low=0, open_low=True,
                source="Neftci et al. 2017, authors' code")
ETA = Parameter("eta", 6e-4, "learning rate", low=0)
PARAMS = ParameterSet((TAU, ETA,
                       Parameter("plastic", True, "learning on", kind=bool),
                       Parameter("n_levels", 256, "weight levels", kind=int, low=2),
                       Parameter("loss", "mse", "loss", kind=str, choices=("mse", "xent"))))


@pytest.mark.parametrize("text, expected", [("5ms", 5.0), ("5 ms", 5.0), ("5*ms", 5.0), ("5 * msecond", 5.0),
                                            ("0.005s", 5.0), ("0.005 s", 5.0), ("2500us", 2.5),
                                            ("1e1 ms", 10.0)])
def test_time_values_become_brian2_quantities(text, expected):
    from brian2 import ms
    value = TAU.parse(text)
    assert value.dim is ms.dim and float(value / ms) == pytest.approx(expected)


RATE = Parameter("noise_rate", 1000.0, "noise rate", unit="Hz", low=0)


@pytest.mark.parametrize("text, expected", [("2 kHz", 2000.0), ("1e3/second", 1000.0),
                                            ("0.5 / ms", 500.0), ("3*Hz", 3.0)])
def test_any_brian2_unit_of_the_dimension(text, expected):
    from brian2 import Hz
    assert float(RATE.parse(text) / Hz) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["2 ms", "5 kHz*ms", "3 __import__", "1 Hz**0.5"])
def test_foreign_dimensions_and_non_units_refused(text):
    with pytest.raises(ParameterError, match="noise_rate.*frequency with its unit"):
        RATE.parse(text)


@pytest.mark.parametrize("given", ["5", "0.004", " 5 ", "0", 5, 0.004, 0])
def test_bare_number_for_a_dimensioned_parameter_is_refused(given):
    """As in Brian2: 0.004 is not silently read as 0.004 ms."""
    with pytest.raises(ParameterError) as err:
        TAU.parse(given)
    message = str(err.value)
    assert message.startswith("parameter 'tau_dendrite': got")
    assert "without a unit" in message and "time with its unit" in message and "5*ms" in message
    assert "\n" not in message


@pytest.mark.parametrize("given, dimension", [("5*mV", "a voltage"), ("5 nA", "a current"),
                                              ("2 kHz*ms", "dimensionless")])
def test_wrong_dimension_names_both_dimensions(given, dimension):
    with pytest.raises(ParameterError) as err:
        TAU.parse(given)
    assert f"got {given!r} ({dimension}); expected a time with its unit" in str(err.value)


def test_dimensionless_parameters_take_bare_numbers_and_refuse_units():
    assert ETA.parse("1e-3") == 1e-3 and ETA.parse(0.002) == 0.002
    with pytest.raises(ParameterError, match=r"'eta': got '1e-3 ms' \(a time\); expected a number"):
        ETA.parse("1e-3 ms")


def test_defaults_declared_in_code_are_in_the_declared_unit():
    from brian2 import ms
    assert TAU.default_value() == 5.0 * ms
    assert PARAMS.defaults()["tau_dendrite"] == 5.0 * ms


def test_quantities_from_scripts_are_checked():
    from brian2 import mV, ms, second
    assert float(TAU.parse(0.02 * second) / ms) == pytest.approx(20.0)
    with pytest.raises(ParameterError, match="tau_dendrite"):
        TAU.parse(5 * mV)


@pytest.mark.parametrize("text", ["5mV", "5 Hz", "five", "-1ms", "0 ms", "5 parsecs", "nan", "nan ms"])
def test_bad_time_values_name_parameter_and_expected_form(text):
    with pytest.raises(ParameterError) as err:
        TAU.parse(text)
    message = str(err.value)
    assert "tau_dendrite" in message and "time with its unit, e.g. 5*ms" in message and "(0, inf] ms" in message


def test_kinds_are_parsed_and_checked():
    assert PARAMS["plastic"].parse("off") is False
    assert PARAMS["n_levels"].parse("16") == 16
    with pytest.raises(ParameterError, match="integer"):
        PARAMS["n_levels"].parse("16.5")
    with pytest.raises(ParameterError, match="one of mse, xent"):
        PARAMS["loss"].parse("hinge")
    with pytest.raises(ParameterError):
        PARAMS["plastic"].parse("maybe")
    with pytest.raises(ParameterError):
        ETA.validate(True)  # a bool is not a number here


def test_resolve_rejects_unknown_names_listing_known_ones():
    with pytest.raises(ParameterError, match="unknown parameter 'etta'.*known parameters: tau_dendrite, eta"):
        PARAMS.resolve({"etta": "1"}, rule="erbp")
    values = PARAMS.resolve({"eta": "1e-3", "tau_dendrite": "0.01 s"})
    from brian2 import ms
    assert values["eta"] == 1e-3 and float(values["tau_dendrite"] / ms) == pytest.approx(10.0)
    assert values["plastic"] is True  # untouched defaults kept


def test_provenance_is_json_with_units():
    values = PARAMS.resolve({})
    prov = json.loads(PARAMS.provenance(values))
    assert prov["tau_dendrite"] == {"value": 5.0, "unit": "ms"}
    assert prov["plastic"]["value"] is True


def test_extend_replaces_defaults_without_copying_the_set():
    derived = PARAMS.extend(Parameter("p_release", 0.65, "transmission probability", low=0, high=1),
                            replace=[Parameter("eta", 1e-3, "learning rate", low=0)])
    assert derived.names() == PARAMS.names() + ["p_release"]
    assert derived["eta"].default == 1e-3 and PARAMS["eta"].default == 6e-4


def test_invalid_default_is_a_programming_error():
    with pytest.raises(ParameterError):
        Parameter("x", -1.0, "doc", low=0)


def test_parse_assignments():
    assert parse_assignments(["eta=1e-3", " tau = 5 ms "]) == {"eta": "1e-3", "tau": "5 ms"}
    with pytest.raises(ParameterError, match="name=value"):
        parse_assignments(["eta"])

"""Parameters that know their unit, default, allowed range and source.

Every learning rule declares one :class:`ParameterSet`.  That single
description drives ``bioprop params RULE``, the validation of
``--set name=value`` and of workflow configs, and the provenance attributes of
every result, so nothing about a parameter is written twice.

Units are Brian2's (:mod:`brian2.units`): a parameter declares a unit by its
Brian2 name (``"ms"``, ``"nA"``, ``"Hz"``; ``"1"`` for dimensionless), a user may
write the value in any Brian2 unit of the same dimension (``5ms``, ``5*ms``,
``0.005 s``, ``5000 us``), and :meth:`ParameterSet.resolve` hands dimensioned
values to the network code as Brian2 quantities (``5. * msecond``), so that no
module converts units by hand.  As in Brian2, a dimensioned value needs its
unit: a bare number (``tau_syn=0.004``) is an error, not silently read in the
declared unit; dimensionless parameters take bare numbers.  Only the defaults
declared in code are plain numbers in the declared unit.  Provenance stores
every value as a plain number in its declared unit.
"""
from __future__ import annotations

import ast
import functools
import json
import math
import operator
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import ParameterError

_NUMBER_UNIT = re.compile(
    r"^\s*(?P<number>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*\*?\s*(?P<unit>.*?)\s*$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_OPERATORS = {ast.Mult: operator.mul, ast.Div: operator.truediv, ast.Pow: operator.pow}


@functools.lru_cache(maxsize=1)
def _unit_names() -> dict:
    """Brian2's unit names (``second``, ``msecond``, ``ms``) and display symbols (``s``)."""
    from brian2.core.namespace import DEFAULT_UNITS
    return {**{str(unit): unit for unit in DEFAULT_UNITS.values()}, **DEFAULT_UNITS}


def brian_unit(name: str):
    """The Brian2 unit called ``name``, or a product of units such as ``amp*second**0.5``
    (``"1"`` is dimensionless); KeyError if it is not one."""
    from brian2 import Quantity
    if name == "1":
        return Quantity(1.0)
    if name in _unit_names():
        return _unit_names()[name]
    try:
        return _unit_expression(name)
    except ValueError:
        raise KeyError(name) from None


def _unit_expression(text: str):
    """Evaluate a unit expression such as ``ms``, ``mV/ms`` or ``metre**2`` with
    Brian2's units only (no arbitrary code); ValueError if it is not one."""
    def value(node):
        if isinstance(node, ast.Name):
            return _unit_names()[node.id]
        if isinstance(node, ast.Constant) and node.value == 1:
            return 1
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            if isinstance(node.op, ast.Pow):
                # whole and half powers: noise amplitudes are in A s^1/2
                if not (isinstance(node.right, ast.Constant) and (isinstance(node.right.value, int) or node.right.value in (0.5, -0.5))):
                    raise ValueError(text)
                return value(node.left) ** node.right.value
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise ValueError(text)
    try:
        return value(ast.parse(text, mode="eval").body)
    except (SyntaxError, KeyError, TypeError) as err:
        raise ValueError(text) from err


def _dimension_word(unit) -> str:
    """A name for the dimension of ``unit`` in messages ("time", "current", ...)."""
    from brian2 import amp, farad, hertz, ohm, second, siemens, volt
    for word, base in (("time", second), ("voltage", volt), ("current", amp),
                       ("conductance", siemens), ("capacitance", farad),
                       ("frequency", hertz), ("resistance", ohm)):
        if unit.dim is base.dim:
            return word
    return f"quantity of dimension {unit.dim}"


@dataclass(frozen=True)
class Parameter:
    """One parameter of a learning rule.

    ``kind`` is one of ``float``, ``int``, ``bool``, ``str``; ``low``/``high``
    bound numeric values (inclusive unless ``open_low``/``open_high``);
    ``choices`` restricts strings; ``source`` says where the default comes
    from (paper, table, equation) or why the package departs from it.
    """

    name: str
    default: Any
    doc: str
    unit: str = "1"
    kind: type = float
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: tuple[str, ...] | None = None
    source: str = ""

    def __post_init__(self):
        try:
            brian_unit(self.unit)
        except KeyError:
            raise ValueError(f"parameter {self.name}: {self.unit!r} is not a Brian2 unit") from None
        if self.kind not in (float, int, bool, str):
            raise ValueError(f"parameter {self.name}: kind must be float, int, bool or str")
        self.validate(self.default_value())

    @property
    def dimensioned(self) -> bool:
        return self.unit != "1"

    @property
    def dimension(self) -> str:
        return _dimension_word(brian_unit(self.unit)) if self.dimensioned else "dimensionless"

    def default_value(self) -> Any:
        """The declared default, as a Brian2 quantity if the parameter has a unit."""
        return self.default * brian_unit(self.unit) if self.dimensioned else self.default

    def expected(self) -> str:
        """Human-readable description of the accepted values."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "one of " + ", ".join(self.choices) if self.choices else "a string"
        what = "an integer" if self.kind is int else "a number"
        if self.dimensioned:  # any Brian2 unit of the dimension is accepted
            what = f"a {self.dimension} with its unit, e.g. 5*{self.unit}"
        lo = "(" if self.open_low else "["
        hi = ")" if self.open_high else "]"
        if self.low is not None or self.high is not None:
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            what += (", in" if self.dimensioned else " in") + f" {lo}{low}, {high}{hi}"
            what += f" {self.unit}" if self.dimensioned else ""
        return what

    def _fail(self, given, problem: str = "") -> ParameterError:
        unit = f" {self.unit}" if self.dimensioned else ""
        return ParameterError(
            f"parameter {self.name!r}: got {given!r}{problem}; expected {self.expected()}"
            f" (default {self.default!r}{unit})")

    def parse(self, text: Any) -> Any:
        """Convert a user value (a string from the command line, a number or Brian2
        quantity from a config file or script) to this parameter's kind, validate
        it, and return it as :meth:`validate` does."""
        if not isinstance(text, str):
            return self.validate(text)
        raw = text.strip()
        if self.kind is bool:
            if raw.lower() in _TRUE:
                return True
            if raw.lower() in _FALSE:
                return False
            raise self._fail(text)
        if self.kind is str:
            return self.validate(raw)
        match = _NUMBER_UNIT.match(raw)
        if not match:
            raise self._fail(text)
        number = float(match["number"])
        if not match["unit"]:
            if self.dimensioned:
                raise self._fail(text, " without a unit")
            return self.validate(number, given=text)
        unit_text = match["unit"]
        try:
            unit = _unit_expression("1" + unit_text if unit_text.startswith("/") else unit_text)
        except ValueError:
            raise self._fail(text) from None
        from brian2 import Quantity
        return self.validate(Quantity(number * unit), given=text)

    def magnitude(self, value: Any, given: Any = None) -> Any:
        """``value`` as a plain number in the declared unit.  A dimensioned parameter
        needs a Brian2 quantity of its dimension: a bare number is refused, as in
        Brian2, rather than guessed to be in the declared unit."""
        from brian2 import Quantity
        from brian2.units.fundamentalunits import have_same_dimensions
        shown = value if given is None else given
        if not isinstance(value, Quantity):
            if self.dimensioned:
                raise self._fail(shown, " without a unit")
            return value
        if value.ndim != 0:
            raise self._fail(shown)
        declared = brian_unit(self.unit)
        if not have_same_dimensions(value, declared):
            what = "dimensionless" if value.is_dimensionless else f"a {_dimension_word(value)}"
            raise self._fail(shown, f" ({what})")
        return float(value / declared)

    def validate(self, value: Any, given: Any = None) -> Any:
        """Check ``value``; return it as a Brian2 quantity for dimensioned parameters
        and as a plain ``bool``/``int``/``float``/``str`` otherwise.  Raises
        :class:`ParameterError` naming the parameter, ``given`` (what the user
        wrote, default ``value``) and the expected form."""
        shown = value if given is None else given
        value = self.magnitude(value, given)
        if self.kind is bool:
            if not isinstance(value, bool):
                raise self._fail(shown)
            return value
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise self._fail(shown)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(shown)
        if self.kind is int:
            if not float(value).is_integer():
                raise self._fail(shown)
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise self._fail(shown)
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            raise self._fail(shown)
        if self.high is not None and (value > self.high or (self.open_high and value == self.high)):
            raise self._fail(shown)
        return value * brian_unit(self.unit) if self.dimensioned else value

    def describe(self) -> dict:
        """JSON-able description (used for provenance and documentation)."""
        return {"unit": self.unit, "default": self.default, "expected": self.expected(),
                "doc": self.doc, "source": self.source}


@dataclass(frozen=True)
class ParameterSet:
    """An ordered, named collection of :class:`Parameter`."""

    parameters: tuple[Parameter, ...] = field(default_factory=tuple)

    def __post_init__(self):
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate parameter names in {names}")

    def __iter__(self):
        return iter(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(p.name == name for p in self.parameters)

    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def defaults(self) -> dict[str, Any]:
        """Every default, validated (Brian2 quantities for dimensioned parameters)."""
        return {p.name: p.validate(p.default_value()) for p in self.parameters}

    def extend(self, *extra: Parameter, replace: Iterable[Parameter] = ()) -> "ParameterSet":
        """A new set with ``extra`` appended and same-named ``replace`` swapped in
        (how a rule derived from another one changes a default)."""
        swaps = {p.name: p for p in replace}
        unknown = set(swaps) - set(self.names())
        if unknown:
            raise ValueError(f"cannot replace unknown parameters {sorted(unknown)}")
        return ParameterSet(tuple(swaps.get(p.name, p) for p in self.parameters) + tuple(extra))

    def resolve(self, overrides: Mapping[str, Any] | None = None, *, rule: str = "") -> dict[str, Any]:
        """Defaults updated with validated ``overrides``.

        Unknown names raise :class:`ParameterError` listing the known ones."""
        values = self.defaults()
        for name, given in (overrides or {}).items():
            if name not in self:
                where = f" of rule {rule!r}" if rule else ""
                raise ParameterError(
                    f"unknown parameter {name!r}{where}; known parameters: "
                    + ", ".join(self.names()))
            values[name] = self[name].parse(given)
        return values

    def provenance(self, values: Mapping[str, Any]) -> str:
        """JSON string of ``{name: {"value": v, "unit": u}}`` (NetCDF attributes
        cannot hold dicts or bools, so parameters are stored as JSON)."""
        return json.dumps({p.name: {"value": p.magnitude(values[p.name]), "unit": p.unit}
                           for p in self.parameters}, sort_keys=False)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """Split ``["eta=1e-3", "tau=5ms"]`` into ``{"eta": "1e-3", "tau": "5ms"}``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ParameterError(f"--set expects name=value (e.g. learning_rate=1e-3 or tau_syn=5ms); got {item!r}")
        out[name.strip()] = value.strip()
    return out

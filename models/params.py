"""Parameters that know their unit, default, allowed range and source.

Every learning rule declares one :class:`ParameterSet`.  That single
description drives ``bioprop params RULE``, the validation of
``--set name=value`` and of workflow configs, and the provenance attributes of
every result, so nothing about a parameter is written twice.

Values are held as plain numbers *in the parameter's declared unit* (a time
declared in ``ms`` is the float ``5.0`` for 5 ms).  A user may write the value
in any unit of the same dimension (``5ms``, ``0.005 s``, ``5*ms``) or as a bare
number, which is read in the declared unit.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .errors import ParameterError

#: unit symbol -> (dimension, factor to the SI unit of that dimension)
UNITS: dict[str, tuple[str, float]] = {
    "1": ("dimensionless", 1.0),
    "s": ("time", 1.0), "ms": ("time", 1e-3), "us": ("time", 1e-6),
    "V": ("voltage", 1.0), "mV": ("voltage", 1e-3), "uV": ("voltage", 1e-6),
    "A": ("current", 1.0), "mA": ("current", 1e-3), "uA": ("current", 1e-6),
    "nA": ("current", 1e-9), "pA": ("current", 1e-12),
    "S": ("conductance", 1.0), "mS": ("conductance", 1e-3),
    "uS": ("conductance", 1e-6), "nS": ("conductance", 1e-9),
    "F": ("capacitance", 1.0), "nF": ("capacitance", 1e-9),
    "pF": ("capacitance", 1e-12),
    "Hz": ("frequency", 1.0), "kHz": ("frequency", 1e3),
}

_NUMBER_UNIT = re.compile(
    r"^\s*(?P<number>[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*\*?\s*(?P<unit>[A-Za-z]*)\s*$")
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


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
        if self.unit not in UNITS:
            raise ValueError(f"parameter {self.name}: unknown unit {self.unit!r}")
        if self.kind not in (float, int, bool, str):
            raise ValueError(f"parameter {self.name}: kind must be float, int, bool or str")
        self.validate(self.default)

    @property
    def dimension(self) -> str:
        return UNITS[self.unit][0]

    def expected(self) -> str:
        """Human-readable description of the accepted values."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "one of " + ", ".join(self.choices) if self.choices else "a string"
        what = "an integer" if self.kind is int else "a number"
        if self.unit != "1":
            others = sorted(u for u, (d, _) in UNITS.items() if d == self.dimension)
            what = f"a {self.dimension} in {self.unit} (or {', '.join(others)})"
        lo = "(" if self.open_low else "["
        hi = ")" if self.open_high else "]"
        if self.low is not None or self.high is not None:
            low = "-inf" if self.low is None else f"{self.low:g}"
            high = "inf" if self.high is None else f"{self.high:g}"
            what += f" in {lo}{low}, {high}{hi}"
        return what

    def _fail(self, given) -> ParameterError:
        unit = "" if self.unit == "1" else f" {self.unit}"
        return ParameterError(
            f"parameter {self.name!r}: got {given!r}; expected {self.expected()}"
            f" (default {self.default!r}{unit})")

    def parse(self, text: Any) -> Any:
        """Convert a user value (string from the command line, or a Python
        value from a config file) to this parameter's kind and unit, and
        validate it."""
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
        value = float(match["number"])
        unit = match["unit"]
        if unit:
            if unit not in UNITS or UNITS[unit][0] != self.dimension:
                raise self._fail(text)
            value = value * UNITS[unit][1] / UNITS[self.unit][1]
        if self.kind is int:
            if not float(value).is_integer():
                raise self._fail(text)
            value = int(value)
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """Return ``value`` if acceptable, else raise :class:`ParameterError`."""
        if self.kind is bool:
            if not isinstance(value, bool):
                raise self._fail(value)
            return value
        if self.kind is str:
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise self._fail(value)
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(value)
        if self.kind is int:
            if not float(value).is_integer():
                raise self._fail(value)
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise self._fail(value)
        if self.low is not None and (value < self.low or (self.open_low and value == self.low)):
            raise self._fail(value)
        if self.high is not None and (value > self.high or (self.open_high and value == self.high)):
            raise self._fail(value)
        return value

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
        return {p.name: p.default for p in self.parameters}

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
        return json.dumps({p.name: {"value": values[p.name], "unit": p.unit}
                           for p in self.parameters}, sort_keys=False)


def parse_assignments(items: Iterable[str]) -> dict[str, str]:
    """Split ``["eta=1e-3", "tau=5ms"]`` into ``{"eta": "1e-3", "tau": "5ms"}``."""
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ParameterError(f"--set expects name=value (e.g. eta=1e-3 or tau=5ms); got {item!r}")
        out[name.strip()] = value.strip()
    return out

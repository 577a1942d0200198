"""The one registry of learning rules, and the contract every rule follows.

A rule is a class deriving from :class:`LearningRule`, registered with
:func:`register`.  Rate and spiking rules share the contract, so the training
loop (:mod:`bioprop.models.training`), the command line and the workflows treat
them alike, and one shared test module checks every registered rule.

The subpackages :mod:`bioprop.models.rate` and :mod:`bioprop.models.spiking`
import their rule modules on import; the registry imports both on first use.
"""
from __future__ import annotations

import abc
import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from .errors import ParameterError
from .params import ParameterSet

_RULE_PACKAGES = ("bioprop.models.rate", "bioprop.models.spiking")
_REGISTRY: dict[str, type["LearningRule"]] = {}


@dataclass
class EpochResult:
    """What one training epoch hands back to the training loop.

    ``train_predictions`` are the labels the network produced for the training
    samples *while* they were presented (online accuracy), in the order given;
    ``None`` lets the loop evaluate the training set after the epoch instead.
    ``variables`` holds extra per-epoch records, ``name -> (dims, values,
    attrs)`` with dims excluding ``epoch`` (e.g. firing rates by population).
    """

    train_predictions: np.ndarray | None = None
    variables: dict[str, tuple[tuple[str, ...], Any, dict]] = field(default_factory=dict)


class LearningRule(abc.ABC):
    """Base class of every learning rule.

    Class attributes: ``name`` (registry key, used on the command line),
    ``family`` (``"rate"`` or ``"spiking"``), ``summary`` (one line),
    ``reference`` (the paper it implements) and ``parameters``.

    Parameters
    ----------
    n_inputs, n_classes : sizes of the input and output layers.
    hidden : sizes of the hidden layers, input side first.
    params : parameter values as returned by ``parameters.resolve``.
    seed : seeds every random choice the rule makes (initial weights, noise).
    device : simulation device settings for spiking rules
        (:class:`bioprop.models.device.DeviceConfig`); rate rules ignore it.
    """

    name: ClassVar[str]
    family: ClassVar[str]
    summary: ClassVar[str]
    reference: ClassVar[str]
    parameters: ClassVar[ParameterSet]
    #: training accuracy is measured with learning off on at most this many
    #: training samples (None = all); spiking rules pay a simulation per sample
    train_eval_limit: ClassVar[int | None] = None
    #: units of the arrays returned by :meth:`weights` (written to the result file)
    weight_units: ClassVar[str] = "1"
    #: attributes that are configuration or resources, not learned state: left out of
    #: :meth:`state` (a resumed rule is constructed with the same configuration)
    checkpoint_exclude: ClassVar[tuple[str, ...]] = ("params", "device", "progress")

    #: the rate rule this spiking rule is judged against like for like (None for rate rules)
    rate_twin: ClassVar[str | None] = None

    #: old name -> today's name of parameters renamed since results were first written
    renamed_parameters: ClassVar[dict[str, str]] = {}

    @classmethod
    def upgrade_parameters(cls, recorded: dict) -> dict:
        """Parameters a result recorded (name -> {"value", "unit"}) in today's names and
        meanings, for rerunning it: renames from :attr:`renamed_parameters`; a rule whose
        parameters changed meaning extends this."""
        return {cls.renamed_parameters.get(name, name): entry
                for name, entry in recorded.items()}

    def __init__(self, *, n_inputs: int, n_classes: int, hidden: tuple[int, ...],
                 params: dict[str, Any], seed: int, device=None):
        self.n_inputs = int(n_inputs)
        self.n_classes = int(n_classes)
        self.hidden = tuple(int(h) for h in hidden)
        self.params = dict(params)
        self.seed = int(seed)
        self.device = device
        self.rng = np.random.default_rng(seed)
        #: show progress within an epoch (set by the training loop)
        self.progress = False

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.n_inputs, *self.hidden, self.n_classes)

    @abc.abstractmethod
    def train_epoch(self, x: np.ndarray, y: np.ndarray) -> EpochResult:
        """Present every sample of ``x`` (already shuffled) once, learning."""

    @abc.abstractmethod
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class labels for ``x`` with learning switched off."""

    def evaluate(self, x: np.ndarray) -> tuple[np.ndarray, dict]:
        """Class labels for the test set ``x`` and per-epoch records of that
        presentation (same form as ``EpochResult.variables``); called once per
        epoch, after :meth:`train_epoch`."""
        return self.predict(x), {}

    def after_training(self, data, accuracy) -> dict:
        """Experiments on the trained network, run once after the last epoch (e.g. the
        S2M's pruning and weight rounding): ``{name: (dims, values, attrs)}`` variables
        without the epoch dimension; ``accuracy(predicted, labels)`` is the loop's own
        measure.  Called after :meth:`weights` is read, so the result file keeps the
        trained weights."""
        return {}

    def coordinates(self) -> dict[str, tuple[Any, dict]]:
        """Coordinates of the dimensions of the records (``dim -> (values, attrs)``),
        e.g. the population names of a spiking network."""
        return {}

    def weights(self) -> list[np.ndarray]:
        """Forward weights, one ``(n_post, n_pre)`` array per layer."""
        return []

    def state(self) -> tuple[dict, dict]:
        """The learned state for a checkpoint: ``(tree, arrays)``, every attribute but
        :attr:`checkpoint_exclude` (weights, optimiser moments, random generators,
        counters; :func:`bioprop.models.checkpoint.capture`).  A rule holding values the
        walk cannot store overrides this or excludes them."""
        from .checkpoint import capture
        return capture(self, self.checkpoint_exclude)

    def load_state(self, tree: dict, arrays: dict) -> None:
        """Continue from :meth:`state` of a rule constructed with the same configuration."""
        from .checkpoint import restore
        restore(self, tree, arrays)

    def faults(self) -> list[str]:
        """Problems that make further training meaningless, checked after every epoch
        beside the non-finite values of :meth:`state` (spiking rules: silent or
        saturated populations)."""
        return []

    def close(self) -> None:
        """Release resources (build directories, processes)."""


def register(cls: type[LearningRule]) -> type[LearningRule]:
    """Class decorator adding a rule to the registry under ``cls.name``."""
    for attr in ("name", "family", "summary", "reference", "parameters"):
        if not hasattr(cls, attr):
            raise TypeError(f"{cls.__name__} must define class attribute {attr!r}")
    if cls.family not in ("rate", "spiking"):
        raise TypeError(f"{cls.__name__}.family must be 'rate' or 'spiking'")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise TypeError(f"rule name {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    for package in _RULE_PACKAGES:
        importlib.import_module(package)


def available_rules() -> dict[str, type[LearningRule]]:
    """Every registered rule, by name, sorted."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_rule(name: str) -> type[LearningRule]:
    """The rule class registered as ``name``; a clear error otherwise."""
    rules = available_rules()
    if name not in rules:
        raise ParameterError(f"unknown rule {name!r}; available rules: {', '.join(rules) or 'none'}")
    return rules[name]

"""Checkpoints: what a killed training run needs to continue to the result an
uninterrupted run gives.

A checkpoint holds the rule's state (:meth:`LearningRule.state`: every array,
random generator and number the rule keeps, optimiser moments included), the
training loop's shuffle generator and the per-epoch records so far.  It is one
``.npz`` file: arrays under their attribute path (``net.W[0]``), everything else
-- the structure, generator states, numbers -- as one JSON document in the same
file.  Nothing is pickled, so a checkpoint is read with ``allow_pickle=False``.

The state of a rule is captured generically by walking its attributes
(:func:`capture`), and restored *into a freshly constructed rule* (:func:`restore`):
arrays are copied in place where the fresh rule holds one of the same shape and
dtype, so views (``tp``'s layers are blocks of square matrices) and objects keyed
by array identity (Adam's moments) stay valid; a dict keyed by array identity is
stored by the path of its arrays and re-keyed on restore.  An attribute of a type
the walk does not know is an error naming it, rather than a checkpoint that
silently misses state.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import BiopropError
from .files import atomic_output

FORMAT = "bioprop-checkpoint-1"
_META = "__meta__"


class CheckpointError(BiopropError):
    """A checkpoint cannot be made, read, or does not belong to this run."""


def checkpoint_path(out: str | os.PathLike) -> Path:
    """Where the checkpoint of output ``out`` lives: ``OUT.ckpt`` beside it."""
    out = Path(out)
    return out.with_name(out.name + ".ckpt")


def state_path(out: str | os.PathLike) -> Path:
    """Where the final state of result ``out`` is kept (``--keep-state``): ``OUT.state.npz``
    beside it (``run.nc`` -> ``run.state.npz``)."""
    out = Path(out)
    return out.with_name(out.stem + ".state.npz")


# --------------------------------------------------------------------------- encoding

def _walk_arrays(value, path, found) -> None:
    """``path -> array`` of every array reachable from ``value`` through lists, tuples,
    dicts and this package's objects; other values are passed over."""
    if isinstance(value, np.ndarray):
        found.setdefault(path, value)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk_arrays(item, f"{path}[{i}]", found)
    elif isinstance(value, dict):
        for key, item in value.items():
            _walk_arrays(item, f"{path}[{key!r}]", found)
    elif _is_state_object(value):
        for name, item in vars(value).items():
            _walk_arrays(item, f"{path}.{name}", found)


def arrays_of(obj, exclude=()) -> dict[str, np.ndarray]:
    """Every array ``obj``'s attributes (less ``exclude``) refer to, by path, not copied
    (the training loop checks them for NaN and inf)."""
    found: dict[str, np.ndarray] = {}
    for name, value in vars(obj).items():
        if name not in exclude:
            _walk_arrays(value, name, found)
    return found


def _array_ids(obj, names) -> dict[int, str]:
    """``id(array) -> path`` over the attributes ``names`` (the first path of an array wins)."""
    ids: dict[int, str] = {}
    for path, array in arrays_of(obj, set(vars(obj)) - set(names)).items():
        ids.setdefault(id(array), path)
    return ids


def _is_state_object(value) -> bool:
    """Plain objects of this package (networks, optimisers) are walked into."""
    return type(value).__module__.startswith("bioprop.") and hasattr(value, "__dict__")


def _encode(value, path: str, arrays: dict, ids: dict):
    if value is None or isinstance(value, (bool, int, float, str)):
        return {"v": value}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"v": value.item(), "np": value.dtype.str}
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise CheckpointError(f"cannot checkpoint {path}: arrays of dtype {value.dtype} are not supported")
        arrays[path] = np.array(value, copy=True)
        node = {"a": path}
        dim = getattr(value, "dim", None)   # a Brian2 quantity keeps its dimension
        if dim is not None and not getattr(value, "is_dimensionless", True):
            node["dim"] = [float(d) for d in dim._dims]
        return node
    if isinstance(value, np.random.Generator):
        return {"g": value.bit_generator.state}
    if isinstance(value, np.dtype):
        return {"dt": value.str}
    if isinstance(value, list):
        return {"l": [_encode(v, f"{path}[{i}]", arrays, ids) for i, v in enumerate(value)]}
    if isinstance(value, tuple):
        return {"t": [_encode(v, f"{path}[{i}]", arrays, ids) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value):
            return {"d": {k: _encode(v, f"{path}[{k!r}]", arrays, ids) for k, v in value.items()}}
        if value and all(isinstance(k, int) and k in ids for k in value):
            # keyed by the identity of arrays (Adam's moments): key by their path instead
            return {"i": {ids[k]: _encode(v, f"{path}[{ids[k]}]", arrays, ids) for k, v in value.items()}}
        if all(isinstance(k, int) and not isinstance(k, bool) for k in value):
            return {"n": [[k, _encode(v, f"{path}[{k}]", arrays, ids)] for k, v in value.items()]}
    elif _is_state_object(value):
        return {"o": {name: _encode(v, f"{path}.{name}", arrays, ids) for name, v in vars(value).items()}}
    raise CheckpointError(f"cannot checkpoint {path}: values of type {type(value).__name__} are not "
                          "supported (the rule must exclude it or override state())")


def capture(obj, exclude=()) -> tuple[dict, dict]:
    """``(tree, arrays)``: the JSON-able structure of ``obj``'s attributes (less ``exclude``)
    and the arrays it refers to by path."""
    attrs = {name: value for name, value in vars(obj).items() if name not in exclude}
    ids = _array_ids(obj, attrs)
    arrays: dict[str, np.ndarray] = {}
    tree = {name: _encode(value, name, arrays, ids) for name, value in attrs.items()}
    return tree, arrays


# --------------------------------------------------------------------------- decoding

class _Decoder:
    def __init__(self, arrays):
        self.arrays = arrays
        self.identity_keyed: list[tuple[dict, dict, str]] = []

    def __call__(self, node, current, path):
        """The restored value; ``current`` (the fresh rule's value) is reused where possible."""
        if "v" in node:
            value = np.dtype(node["np"]).type(node["v"]) if "np" in node else node["v"]
            # an equal value is kept, so constants of frozen objects are not reassigned
            return current if type(current) is type(value) and current == value else value
        if "a" in node:
            saved = self.arrays[node["a"]]
            if isinstance(current, np.ndarray) and current.shape == saved.shape and current.dtype == saved.dtype:
                np.asarray(current)[...] = saved       # in place: views and identities stay valid
                return current
            if "dim" in node:
                from brian2 import Quantity
                from brian2.units.fundamentalunits import get_or_create_dimension
                return Quantity(saved, dim=get_or_create_dimension(node["dim"]))
            return saved
        if "dt" in node:
            return current if current == np.dtype(node["dt"]) else np.dtype(node["dt"])
        if "g" in node:
            state = node["g"]
            if not isinstance(current, np.random.Generator):
                current = np.random.Generator(getattr(np.random, state["bit_generator"])())
            current.bit_generator.state = state
            return current
        if "l" in node or "t" in node:
            items = node.get("l", node.get("t"))
            same = isinstance(current, (list, tuple)) and len(current) == len(items)
            values = [self(n, current[i] if same else None, f"{path}[{i}]") for i, n in enumerate(items)]
            if "t" in node:
                return tuple(values)
            if isinstance(current, list) and same:
                current[:] = values
                return current
            return values
        if "d" in node:
            fresh = current if isinstance(current, dict) else {}
            out = {k: self(n, fresh.get(k), f"{path}[{k!r}]") for k, n in node["d"].items()}
            fresh.clear()
            fresh.update(out)
            return fresh
        if "n" in node:
            fresh = current if isinstance(current, dict) else {}
            out = {int(k): self(n, fresh.get(int(k)), f"{path}[{k}]") for k, n in node["n"]}
            fresh.clear()
            fresh.update(out)
            return fresh
        if "i" in node:
            fresh = current if isinstance(current, dict) else {}
            self.identity_keyed.append((fresh, node["i"], path))
            return fresh
        if "o" in node:
            if current is None or not _is_state_object(current):
                raise CheckpointError(f"checkpoint does not fit this rule: {path} is "
                                      f"{type(current).__name__}, the checkpoint holds an object")
            for name, n in node["o"].items():
                old = getattr(current, name, None)
                new = self(n, old, f"{path}.{name}")
                if new is not old:
                    setattr(current, name, new)
            return current
        raise CheckpointError(f"checkpoint entry {path} is malformed")


def restore(obj, tree: dict, arrays: dict) -> None:
    """Put the state captured by :func:`capture` into ``obj`` (a freshly constructed
    object of the same class and sizes)."""
    decode = _Decoder(arrays)
    for name, node in tree.items():
        old = getattr(obj, name, None)
        new = decode(node, old, name)
        if new is not old:
            setattr(obj, name, new)
    if decode.identity_keyed:
        ids = _array_ids(obj, tree)
        by_path = {path: key for key, path in ids.items()}
        for fresh, entries, path in decode.identity_keyed:
            fresh.clear()
            for array_path, n in entries.items():
                if array_path not in by_path:
                    raise CheckpointError(f"checkpoint does not fit this rule: {path} refers to "
                                          f"{array_path}, which the rule does not have")
                fresh[by_path[array_path]] = decode(n, None, f"{path}[{array_path}]")


# --------------------------------------------------------------------------- files

def save(path: str | os.PathLike, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    """Write one checkpoint atomically (a kill while writing keeps the previous one)."""
    path = Path(path)
    document = json.dumps({"format": FORMAT, **meta})
    # a file object: np.savez would append .npz to a name
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays, **{_META: np.frombuffer(document.encode(), np.uint8)})


def load(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """``(meta, arrays)`` of a checkpoint written by :func:`save`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = json.loads(arrays.pop(_META).tobytes().decode())
    except (OSError, ValueError, KeyError, EOFError) as err:
        raise CheckpointError(f"cannot read checkpoint {path} ({err}); delete it to start again") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a bioprop checkpoint ({FORMAT}); delete it to start again")
    return meta, arrays

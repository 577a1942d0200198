"""Datasets: find, verify and load image classification data as float arrays.

Registered names (``data/datasets.json`` holds URLs, checksums and where each
checksum comes from):

- ``mnist``: LeCun, Bottou, Bengio & Haffner (1998), Gradient-based learning
  applied to document recognition, Proc. IEEE 86(11):2278-2324.
- ``fashion-mnist``: Xiao, Rasul & Vollgraf (2017), Fashion-MNIST: a novel image
  dataset for benchmarking machine learning algorithms, arXiv:1708.07747.
- ``kmnist``: Clanuwat et al. (2018), Deep learning for classical Japanese
  literature, arXiv:1812.01718.
- ``digits``: scikit-learn's 8x8 ``load_digits`` (UCI optical digits); the last
  297 of its 1797 samples are the test set.

Anything else is read as a path: a directory of IDX files named like MNIST's
(``.gz`` or uncompressed), or an ``.npz`` with ``x_train, y_train, x_test,
y_test``.

The IDX files of a registered dataset are looked for in the one directory the
user named, ``data_dir`` (``--data-dir``) or else ``$BIOPROP_DATA_DIR``: a named
directory that does not exist, or does not hold the dataset, is an error, never
a reason to use another copy.  Without one, they are searched, in order, in the
system locations of the registry (Debian's ``dataset-fashion-mnist`` installs to
``/usr/share/datasets/fashion-mnist``) and pooch's user cache, and only then
downloaded into the cache, unless ``download=False`` or ``BIOPROP_OFFLINE=1``.
Each directory may hold the files directly or in a ``<name>/`` subdirectory.
Every file found, or downloaded, is checked against its checksum before use.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import DatasetError

ENV_DATA_DIR = "BIOPROP_DATA_DIR"
ENV_OFFLINE = "BIOPROP_OFFLINE"
IDX_ROLES = ("train_images", "train_labels", "test_images", "test_labels")
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
DIGITS_N_TEST = 297

# IDX type codes (LeCun's MNIST page), all big-endian.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"

# (path, size, mtime_ns) -> md5 of a file that passed its checksum.
_verified: dict[tuple[str, int, int], str] = {}


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: flattened float32 images in [0, 1] and int64 labels.

    ``x_val``/``y_val`` are carved out of the training set (never the test
    set) and may have 0 rows.  ``subset`` is a JSON-able record of what was
    selected and from which files, for result provenance.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    image_shape: tuple[int, ...]
    n_classes: int
    subset: dict


@dataclass(frozen=True)
class FileStatus:
    """Outcome of checking one file: ``status`` is "ok", "missing" or "checksum-mismatch"."""

    file: str
    status: str
    path: str | None
    searched: tuple[str, ...]
    expected_md5: str | None = None
    got_md5: str | None = None


@lru_cache(maxsize=1)
def _registry() -> dict:
    text = importlib.resources.files("bioprop.data").joinpath("datasets.json").read_text("utf-8")
    return json.loads(text)["datasets"]


def _spec(name: str) -> dict:
    registry = _registry()
    if name not in registry:
        raise DatasetError(f"unknown dataset {name!r}; registered: {', '.join(registry)} "
                           "(or give the path of a directory of IDX files or of an .npz file)")
    return registry[name]


# ---------------------------------------------------------------- IDX format

def _parse_idx(raw: bytes, source: str) -> np.ndarray:
    """Decode an IDX file (LeCun et al. 1998), gzip-compressed or raw.

    Layout: two zero bytes, a type code, the number of dimensions, one
    big-endian uint32 per dimension, then the data in C order.
    """
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DatasetError(f"{source}: corrupt gzip data ({exc})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise DatasetError(f"{source}: not an IDX file (bad magic number {raw[:4].hex() or 'empty'}; "
                           "expected 0000 followed by a type code and the number of dimensions)")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{source}: IDX header truncated ({len(raw)} bytes, {ndim} dimensions need {header})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetError(f"{source}: IDX size mismatch: header says shape {shape} "
                           f"({expected} bytes), file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape)


# ------------------------------------------------------- finding and checking

def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _cache_dir(name: str) -> Path:
    import pooch
    return Path(pooch.os_cache("bioprop")) / name


def _named_dir(data_dir) -> tuple[Path, str] | None:
    """The data directory the user named (``data_dir``, else ``$BIOPROP_DATA_DIR``) and
    how it was named, or None; DatasetError if it is not an existing directory."""
    if data_dir is not None:
        root, how = data_dir, "--data-dir (data_dir)"
    elif os.environ.get(ENV_DATA_DIR):
        root, how = os.environ[ENV_DATA_DIR], f"${ENV_DATA_DIR}"
    else:
        return None
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise DatasetError(f"data directory {os.fspath(root)} given by {how} {what}; "
                           "name an existing directory holding the dataset's files")
    return path, how


def _search_dirs(name: str, spec: dict, named: tuple[Path, str] | None) -> list[Path]:
    """Directories to look in, in order of precedence (``named`` from :func:`_named_dir`)."""
    if named is not None:  # a directory the user named is the only place looked in
        return [named[0], named[0] / name]
    return [*(Path(d) for d in spec.get("system_dirs", [])), _cache_dir(name)]


def _candidates(file_name: str) -> tuple[str, ...]:
    # Accept the official .gz name and the gunzipped name.
    return (file_name, file_name[:-3]) if file_name.endswith(".gz") else (file_name,)


def _find(file_name: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for candidate in _candidates(file_name):
            path = d / candidate
            if path.is_file():
                return path
    return None


def _verify_file(path: Path, entry: dict) -> tuple[bytes, str, bool]:
    """Read ``path``; return (bytes, md5, whether it matches the registry entry).

    A file matches if its md5 is the official download's, or if its
    decompressed content has the recorded SHA-256 (repackaged or gunzipped
    copies such as Debian's).
    """
    raw = path.read_bytes()
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return raw, _verified[key], True
    md5 = hashlib.md5(raw).hexdigest()
    ok = md5 == entry["md5"]
    if not ok and entry.get("content_sha256"):
        try:
            content = gzip.decompress(raw) if raw[:2] == _GZIP_MAGIC else raw
        except (OSError, EOFError, zlib.error):
            content = b""
        ok = hashlib.sha256(content).hexdigest() == entry["content_sha256"]
    if ok:
        _verified[key] = md5
    return raw, md5, ok


def _mismatch(dataset: str, path: Path, entry: dict, md5: str) -> DatasetError:
    also = (f" (or SHA-256 {entry['content_sha256']} of its decompressed content)"
            if entry.get("content_sha256") else "")
    return DatasetError(f"{dataset}: checksum mismatch for {path}: expected md5 {entry['md5']}{also}, "
                        f"got md5 {md5}; the file is damaged or not the official release and is not used: "
                        "delete or replace it")


def _download(name: str, spec: dict, entry: dict) -> tuple[Path | None, str]:
    """Fetch one file into the cache with pooch; (path, "") or (None, why it failed)."""
    import pooch
    reasons = []
    for base in spec["urls"]:
        url = base + entry["name"]
        try:
            path = pooch.retrieve(url, known_hash=f"md5:{entry['md5']}", fname=entry["name"],
                                  path=_cache_dir(name), progressbar=False)
            return Path(path), ""
        except Exception as exc:  # requests, OSError and pooch's ValueError all signal a failed fetch
            detail = " ".join(str(exc).split())
            reasons.append(f"{url}: {type(exc).__name__}: {detail[:160]}")
    return None, "; ".join(reasons)


def _missing_error(name: str, spec: dict, missing: list[str], dirs: list[Path], why: str) -> DatasetError:
    how = [f"pass --data-dir DIR (data_dir=DIR) or set {ENV_DATA_DIR}=DIR, where DIR holds the files "
           f"or a {name}/ subdirectory with them"]
    if spec.get("install_hint"):
        how.append(f"or run `{spec['install_hint']}`")
    how.append(f"or download them from {spec['urls'][0]} into {_cache_dir(name)}")
    return DatasetError(f"{name}: file(s) not found: {', '.join(missing)}; searched "
                        f"{', '.join(map(str, dirs))}; {why}. To provide them, " + ", ".join(how))


def _registered_idx(name: str, spec: dict, data_dir, download: bool):
    """Find (downloading if allowed), checksum and parse the IDX files of a registered dataset."""
    named = _named_dir(data_dir)
    dirs = _search_dirs(name, spec, named)
    found = {role: _find(spec["files"][role]["name"], dirs) for role in IDX_ROLES}
    missing = [role for role in IDX_ROLES if found[role] is None]
    if missing and named is not None:
        absent = ", ".join(spec["files"][role]["name"] for role in missing)
        raise DatasetError(f"{name}: data directory {named[0]} given by {named[1]} does not hold the "
                           f"dataset: {absent} not found in {named[0]} or {named[0] / name}; put the "
                           f"files there, or name no directory to use the system copy or the cache")
    if missing:
        if not download:
            why = "downloading is disabled (download=False)"
        elif _truthy(os.environ.get(ENV_OFFLINE)):
            why = f"downloading is disabled ({ENV_OFFLINE}={os.environ[ENV_OFFLINE]})"
        else:
            why = ""
            for role in missing:
                found[role], reason = _download(name, spec, spec["files"][role])
                if found[role] is None:
                    why = f"download failed ({reason})"
                    break  # the rest would fail the same way; don't wait for their timeouts
        still = [spec["files"][role]["name"] for role in IDX_ROLES if found[role] is None]
        if still:
            raise _missing_error(name, spec, still, dirs, why)
    raws, sources = {}, []
    for role in IDX_ROLES:
        entry, path = spec["files"][role], found[role]
        raws[role], md5, ok = _verify_file(path, entry)
        if not ok:
            raise _mismatch(name, path, entry, md5)
        sources.append({"file": entry["name"], "path": str(path), "md5": md5})
    return raws, found, sources


def _custom_idx(directory: Path):
    """Read a user's directory of MNIST-style IDX files (no checksums to compare with)."""
    found = {role: _find(IDX_NAMES[role], [directory]) for role in IDX_ROLES}
    missing = [IDX_NAMES[role] for role in IDX_ROLES if found[role] is None]
    if missing:
        raise DatasetError(f"{directory}: not an IDX dataset directory: missing {', '.join(missing)} "
                           "(gzip-compressed, or uncompressed without the .gz)")
    raws = {role: found[role].read_bytes() for role in IDX_ROLES}
    # absolute, so that ``bioprop rerun`` finds the files from any working directory
    sources = [{"file": found[role].name, "path": str(found[role].resolve()),
                "md5": hashlib.md5(raws[role]).hexdigest()}
               for role in IDX_ROLES]
    return raws, found, sources


def _parse_idx_set(raws: dict, paths: dict):
    arrays = {}
    for split in ("train", "test"):
        for kind, key in (("images", "x"), ("labels", "y")):
            role = f"{split}_{kind}"
            arrays[f"{key}_{split}"] = _parse_idx(raws[role], str(paths[role]))
    return arrays


# ------------------------------------------------------------- other sources

def _load_npz(path: Path):
    required = ("x_train", "y_train", "x_test", "y_test")
    # Checked first: np.load reads anything that is not a zip as a pickle, and its
    # refusal would advise unpickling an untrusted file.
    if not zipfile.is_zipfile(path):
        raise DatasetError(f"{path}: not a complete .npz archive (truncated, or not a zip file); "
                           f"expected numpy.savez output holding {', '.join(required)}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            absent = [k for k in required if k not in archive.files]
            if absent:
                raise DatasetError(f"{path}: .npz lacks {', '.join(absent)} (needs {', '.join(required)}; "
                                   f"has {', '.join(archive.files) or 'nothing'})")
            arrays = {k: archive[k] for k in required}
            shape_hint = tuple(int(d) for d in archive["image_shape"]) if "image_shape" in archive.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise DatasetError(f"{path}: cannot read as .npz ({exc})") from None
    return arrays, shape_hint, [{"file": path.name, "path": str(path.resolve()), "md5": _md5_of(path)}]


def _md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _digits_path() -> Path:
    return Path(str(importlib.resources.files("sklearn.datasets.data").joinpath("digits.csv.gz")))


def _load_digits():
    """scikit-learn's copy of the UCI 8x8 digits; pixels 0..16 scaled to [0, 1], last 297 as test."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    x = (bunch.images / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    cut = len(y) - DIGITS_N_TEST
    arrays = {"x_train": x[:cut], "y_train": y[:cut], "x_test": x[cut:], "y_test": y[cut:]}
    return arrays, [{"file": "sklearn.datasets.load_digits", "path": str(_digits_path()),
                     "md5": _md5_of(_digits_path())}]


# ----------------------------------------------------------------- validation

def _image_shape(x: np.ndarray, source: str, hint: tuple[int, ...] | None) -> tuple[int, ...]:
    if x.ndim not in (2, 3, 4) or len(x) == 0 or 0 in x.shape:
        raise DatasetError(f"{source}: expected a non-empty image array of shape (n, h, w), (n, h*w) or "
                           f"(n, h, w, c); got {x.shape}")
    if x.ndim > 2:
        return tuple(x.shape[1:])
    n_features = x.shape[1]
    if hint is not None:
        if int(np.prod(hint)) != n_features:
            raise DatasetError(f"{source}: image_shape {hint} does not hold {n_features} features")
        return hint
    side = int(round(n_features ** 0.5))
    return (side, side) if side * side == n_features else (n_features,)


def _check_pixels(x: np.ndarray, source: str) -> None:
    if x.dtype == np.uint8:
        return
    if np.issubdtype(x.dtype, np.integer):
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DatasetError(f"{source}: integer pixels must be 0..255 (they are scaled by 1/255); "
                               f"got range {lo}..{hi}")
    elif np.issubdtype(x.dtype, np.floating):
        if not np.isfinite(x).all():
            raise DatasetError(f"{source}: images contain NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DatasetError(f"{source}: float pixels must already be scaled to [0, 1]; "
                               f"got range [{lo:g}, {hi:g}] (store uint8 0..255 to have them scaled)")
    else:
        raise DatasetError(f"{source}: images must be uint8 (0..255) or float (in [0, 1]); got dtype {x.dtype}")


def _check_labels(y: np.ndarray, n: int, which: str, source: str) -> None:
    if y.ndim != 1:
        raise DatasetError(f"{source}: y_{which} must be 1-D (n,); got shape {y.shape}")
    if len(y) != n:
        raise DatasetError(f"{source}: x_{which} has {n} samples but y_{which} has {len(y)} labels")
    if not np.issubdtype(y.dtype, np.integer):
        raise DatasetError(f"{source}: y_{which} must hold integer class labels 0..K-1; got dtype {y.dtype}")
    if y.min() < 0:
        raise DatasetError(f"{source}: y_{which} has negative labels (min {y.min()}); expected 0..K-1")


def _validate(arrays: dict, source: str, shape_hint=None) -> tuple[tuple[int, ...], int]:
    """Check a split's arrays; return (image_shape, n_classes)."""
    shapes = {which: _image_shape(arrays[f"x_{which}"], f"{source} x_{which}", shape_hint)
              for which in ("train", "test")}
    if shapes["train"] != shapes["test"]:
        raise DatasetError(f"{source}: train images are {shapes['train']} but test images are {shapes['test']}")
    for which in ("train", "test"):
        _check_pixels(arrays[f"x_{which}"], f"{source} x_{which}")
        _check_labels(arrays[f"y_{which}"], len(arrays[f"x_{which}"]), which, source)
    present = np.unique(arrays["y_train"])
    n_classes = int(max(present[-1], arrays["y_test"].max())) + 1
    if len(present) < 2:
        raise DatasetError(f"{source}: the training labels hold {len(present)} class; at least 2 are needed")
    absent = sorted(set(range(n_classes)) - set(present.tolist()))
    if absent:
        raise DatasetError(f"{source}: labels must be 0..K-1 with every class in the training set; "
                           f"classes {absent[:10]} of 0..{n_classes - 1} never occur in y_train")
    return shapes["train"], n_classes


def _check_params(n_train, n_test, n_val, seed) -> None:
    def is_int(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool)

    for param, value in (("n_train", n_train), ("n_test", n_test)):
        if value is not None and not (is_int(value) and value >= 1):
            raise DatasetError(f"{param} must be a positive integer number of samples, or None for all; "
                               f"got {value!r}")
    fraction = isinstance(n_val, (float, np.floating)) and 0.0 <= n_val < 1.0
    if not (fraction or (is_int(n_val) and n_val >= 0)):
        raise DatasetError(f"n_val must be a sample count >= 0 or a fraction of the training set in [0, 1); "
                           f"got {n_val!r}")
    if not (is_int(seed) and seed >= 0):
        raise DatasetError(f"seed must be a non-negative integer; got {seed!r}")


# ------------------------------------------------------------------ selection

def _select(name: str, n_avail: int, n_avail_test: int, n_train, n_test, n_val, seed: int):
    """Seeded index sets: train and validation from the training set, test from the test set.

    One permutation of the training set gives its first ``n_train`` samples to
    training and its last ``n_val`` to validation, so each depends only on
    (seed, its own size) and the two never overlap.
    """
    if isinstance(n_val, (float, np.floating)):
        count = int(round(float(n_val) * n_avail))
        if n_val > 0 and count == 0:
            raise DatasetError(f"n_val={n_val} is less than one of the {n_avail} training samples of {name}")
        n_val = count
    n_val = int(n_val)
    if n_train is None:
        n_train = n_avail - n_val
        if n_train < 1:
            raise DatasetError(f"n_val={n_val} leaves no training samples ({name} has {n_avail})")
    if n_train + n_val > n_avail:
        raise DatasetError(f"n_train + n_val = {n_train} + {n_val} exceeds the {n_avail} training samples of "
                           f"{name}; lower n_train or n_val")
    if n_test is not None and n_test > n_avail_test:
        raise DatasetError(f"n_test={n_test} exceeds the {n_avail_test} test samples of {name}")
    order = np.random.default_rng([seed, 0]).permutation(n_avail)
    train = np.sort(order[:n_train])
    val = np.sort(order[n_avail - n_val:]) if n_val else np.empty(0, dtype=np.int64)
    if n_test is None:
        test = np.arange(n_avail_test)
    else:
        test = np.sort(np.random.default_rng([seed, 1]).permutation(n_avail_test)[:n_test])
    return train, val, test


def _features(x: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Rows ``index`` of ``x`` as float32 (n, n_features) in [0, 1]."""
    rows = x[index].reshape(len(index), int(np.prod(x.shape[1:])))
    if np.issubdtype(rows.dtype, np.integer):
        return rows.astype(np.float32) / np.float32(255)
    return rows.astype(np.float32, copy=False)


# ------------------------------------------------------------------ public API

def load_dataset(name_or_path, *, data_dir=None, n_train=None, n_test=None, n_val=0, seed=0,
                 download=True) -> Dataset:
    """Load a registered dataset or a user's IDX directory / ``.npz`` file.

    ``n_train`` and ``n_test`` pick seeded random subsets (None: all);
    ``n_val`` (a count or a fraction of the training set) is held out of the
    training set, disjoint from the ``n_train`` training samples.  The same
    seed always selects the same samples.

    An ``.npz`` needs ``x_train, y_train, x_test, y_test``; images may be
    (n, h, w), (n, h*w) or (n, h, w, c), uint8 0..255 (scaled to [0, 1]) or
    float already in [0, 1]; an optional ``image_shape`` array names the shape
    of flat images (otherwise square if possible).  Labels are integers 0..K-1.
    A registered name wins over a directory of the same name: write
    ``./mnist`` for the directory.
    """
    _check_params(n_train, n_test, n_val, seed)
    if data_dir is not None:
        _named_dir(data_dir)  # a directory the user named must exist, whatever the dataset
    name = os.fspath(name_or_path)
    shape_hint = None
    if name in _registry():
        spec = _registry()[name]
        if spec["format"] == "idx":
            raws, paths, sources = _registered_idx(name, spec, data_dir, download)
            arrays = _parse_idx_set(raws, paths)
        else:
            arrays, sources = _load_digits()
    else:
        path = Path(name).expanduser()
        if path.is_dir():
            raws, paths, sources = _custom_idx(path)
            arrays = _parse_idx_set(raws, paths)
        elif path.is_file() and path.suffix == ".npz":
            arrays, shape_hint, sources = _load_npz(path)
        elif path.exists():
            raise DatasetError(f"{name}: a dataset path must be a directory of IDX files or an .npz file")
        else:
            raise DatasetError(f"{name!r} is neither a registered dataset ({', '.join(_registry())}) "
                               "nor an existing directory of IDX files or .npz file")
    image_shape, n_classes = _validate(arrays, name, shape_hint)
    n_avail, n_avail_test = len(arrays["y_train"]), len(arrays["y_test"])
    train, val, test = _select(name, n_avail, n_avail_test, n_train, n_test, n_val, seed)
    x, y = arrays["x_train"], arrays["y_train"]
    subset = {
        "dataset": name, "seed": int(seed),
        "n_train": len(train), "n_val": len(val), "n_test": len(test),
        "n_train_available": n_avail, "n_test_available": n_avail_test,
        "selection": "numpy default_rng([seed, 0]) permutes the training set: first n_train samples train, "
                     "last n_val validate; default_rng([seed, 1]) picks the test subset; file order kept",
        "sources": sources,
    }
    return Dataset(
        name=name,
        x_train=_features(x, train), y_train=y[train].astype(np.int64),
        x_val=_features(x, val), y_val=y[val].astype(np.int64),
        x_test=_features(arrays["x_test"], test), y_test=arrays["y_test"][test].astype(np.int64),
        image_shape=image_shape, n_classes=n_classes, subset=subset,
    )


def original_location(name: str, sources: list[dict]) -> str:
    """Where the data of a result are found again (for ``bioprop rerun``): a registered
    dataset by its name; a user's ``.npz`` file or IDX directory by the absolute path the
    result's ``sources`` recorded, since the run may have named it relative to another
    working directory; as named if that path is gone."""
    paths = [Path(s["path"]) for s in sources if "path" in s]
    if name in _registry() or not paths or not all(p.is_absolute() for p in paths):
        return name
    place = paths[0] if len(paths) == 1 and paths[0].suffix == ".npz" else paths[0].parent
    return str(place) if place.exists() else name


def check_same_files(expected: list[dict], found: list[dict]) -> None:
    """Refuse data whose files differ (by MD5) from ``expected``, the ``sources`` of the
    data a result was trained on."""
    have = {s["file"]: s["md5"] for s in found}
    for source in expected:
        md5 = have.get(source["file"])
        if md5 is not None and md5 != source["md5"]:
            raise DatasetError(f"{source['file']}: MD5 {md5} differs from {source['md5']}, the file "
                               f"the result was trained on (then at {source.get('path', '?')})")


def list_datasets() -> list[dict]:
    """Registered datasets with their sizes and the directory they were found in (None if not all present).

    Looks for files only; checksums are checked by :func:`verify_dataset`.
    """
    rows = []
    for name, spec in _registry().items():
        if spec["format"] == "idx":
            dirs = _search_dirs(name, spec, _named_dir(None))
            paths = [_find(spec["files"][role]["name"], dirs) for role in IDX_ROLES]
            found = None if None in paths else ", ".join(dict.fromkeys(str(p.parent) for p in paths))
        else:
            found = str(_digits_path()) if _digits_path().is_file() else None
        rows.append({"name": name, "description": spec["description"], "reference": spec["reference"],
                     "n_train": spec["n_train"], "n_test": spec["n_test"],
                     "image_shape": tuple(spec["image_shape"]), "n_classes": spec["n_classes"], "found": found})
    return rows


def verify_dataset(name: str, data_dir=None) -> list[FileStatus]:
    """Check each file of a registered dataset: present, and matching its checksum.  Never downloads."""
    spec = _spec(name)
    if spec["format"] != "idx":
        path = _digits_path()
        return [FileStatus(file=path.name, status="ok" if path.is_file() else "missing",
                           path=str(path) if path.is_file() else None, searched=(str(path),))]
    dirs = _search_dirs(name, spec, _named_dir(data_dir))
    searched = tuple(map(str, dirs))
    statuses = []
    for role in IDX_ROLES:
        entry = spec["files"][role]
        path = _find(entry["name"], dirs)
        if path is None:
            statuses.append(FileStatus(entry["name"], "missing", None, searched, entry["md5"]))
            continue
        _, md5, ok = _verify_file(path, entry)
        statuses.append(FileStatus(entry["name"], "ok" if ok else "checksum-mismatch", str(path), searched,
                                   entry["md5"], md5))
    return statuses

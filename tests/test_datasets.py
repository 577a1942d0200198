"""Tests for bioprop.models.datasets: finding, checksumming, parsing and subsetting.

No test needs the network or the MNIST/KMNIST training files: IDX files are
written here, and the real data used (shared/data/mnist test files, Debian's
Fashion-MNIST) is skipped when absent.
"""

import gzip
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from bioprop.models import datasets
from bioprop.models.datasets import load_dataset, list_datasets, verify_dataset
from bioprop.models.errors import DatasetError

SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

needs_fashion = pytest.mark.skipif(not (DEBIAN_FASHION / IDX_FILES[0]).is_file(),
                                   reason=f"Fashion-MNIST not installed at {DEBIAN_FASHION} "
                                          "(apt-get install dataset-fashion-mnist)")
needs_mnist_test = pytest.mark.skipif(not (SHARED_MNIST / IDX_FILES[2]).is_file(),
                                      reason=f"MNIST test files not found in {SHARED_MNIST}")


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 IDX file: 0x0000, type 0x08, ndim, big-endian dims, data; gzip if *.gz."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def small_idx_dir(directory: Path, n_train=20, n_test=7, shape=(6, 4), n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    x_train = rng.integers(0, 256, (n_train, *shape), dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, *shape), dtype=np.uint8)
    y_train = np.arange(n_train) % n_classes
    y_test = np.arange(n_test) % n_classes
    write_idx(directory / "train-images-idx3-ubyte.gz", x_train)
    write_idx(directory / "train-labels-idx1-ubyte.gz", y_train)
    # Test files uncompressed: both forms must be accepted.
    write_idx(directory / "t10k-images-idx3-ubyte", x_test)
    write_idx(directory / "t10k-labels-idx1-ubyte", y_test)
    return x_train, y_train, x_test, y_test


def indexed_npz(path: Path, n_train=500, n_test=100) -> Path:
    """Float images whose first pixel encodes the sample: train i -> i/1000, test j -> 0.5 + j/1000."""
    x_train = np.zeros((n_train, 3, 3))
    x_train[:, 0, 0] = np.arange(n_train) / 1000
    x_test = np.zeros((n_test, 3, 3))
    x_test[:, 0, 0] = 0.5 + np.arange(n_test) / 1000
    np.savez(path, x_train=x_train, y_train=np.arange(n_train) % 4,
             x_test=x_test, y_test=np.arange(n_test) % 4)
    return path


def ids(x: np.ndarray) -> set[int]:
    return set(np.rint(x[:, 0].astype(np.float64) * 1000).astype(int).tolist())


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No network, no user cache, no BIOPROP_DATA_DIR from the caller's shell."""
    monkeypatch.setenv("BIOPROP_OFFLINE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.delenv("BIOPROP_DATA_DIR", raising=False)


# ------------------------------------------------------------ checksums

def test_corrupted_copy_is_rejected_not_replaced_by_system_copy(tmp_path):
    """A wrong file in data_dir raises, even though a good copy exists further down the search."""
    own = tmp_path / "own"
    own.mkdir()
    for name in IDX_FILES:
        write_idx(own / name, np.arange(12, dtype=np.uint8).reshape(3, 2, 2) if "images" in name
                  else np.arange(3, dtype=np.uint8))
    with pytest.raises(DatasetError, match="checksum") as err:
        load_dataset("mnist", data_dir=own)
    message = str(err.value)
    assert str(own / "train-images-idx3-ubyte.gz") in message
    assert "f68b3c2dcbeaaa9fbdd348bbdeb94873" in message  # expected md5
    assert datasets._md5_of(own / "train-images-idx3-ubyte.gz") in message  # got md5
    statuses = verify_dataset("mnist", data_dir=own)
    assert [s.status for s in statuses] == ["checksum-mismatch"] * 4


@needs_fashion
def test_repacked_file_with_altered_content_is_rejected(tmp_path):
    """Debian's recompressed files pass by content hash; one changed label must not."""
    raw = bytearray(gzip.decompress((DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    raw[8] = (raw[8] + 1) % 10  # first test label
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    for name in IDX_FILES[:3]:  # a named directory is the only place looked in: give it the rest
        (tmp_path / name).symlink_to(DEBIAN_FASHION / name)
    statuses = {s.file: s for s in verify_dataset("fashion-mnist", data_dir=tmp_path)}
    assert statuses["t10k-labels-idx1-ubyte.gz"].status == "checksum-mismatch"
    assert statuses["t10k-labels-idx1-ubyte.gz"].path == str(tmp_path / "t10k-labels-idx1-ubyte.gz")
    assert statuses["t10k-images-idx3-ubyte.gz"].status == "ok"
    with pytest.raises(DatasetError, match="checksum mismatch for .*t10k-labels"):
        load_dataset("fashion-mnist", data_dir=tmp_path, n_train=10, n_test=10)


# ------------------------------------------------------------ missing files

def test_missing_files_error_lists_every_place_searched(tmp_path, monkeypatch):
    system = tmp_path / "system" / "fashion-mnist"
    monkeypatch.setitem(datasets._registry()["fashion-mnist"], "system_dirs", [str(system)])
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist")
    message = str(err.value)
    places = [system, tmp_path / "xdg-cache" / "bioprop" / "fashion-mnist"]
    for place in places:
        assert str(place) in message
    for name in IDX_FILES:
        assert name in message
    for hint in ("fashion-mnist", "BIOPROP_OFFLINE=1", "--data-dir", "BIOPROP_DATA_DIR",
                 "apt-get install dataset-fashion-mnist"):
        assert hint in message
    assert "\n" not in message  # the CLI prints it as one line

    statuses = verify_dataset("fashion-mnist")
    assert [s.status for s in statuses] == ["missing"] * 4
    assert statuses[0].searched == tuple(map(str, places))


@pytest.mark.parametrize("how", ["data_dir", "env"])
def test_named_data_dir_that_does_not_exist_is_an_error(tmp_path, monkeypatch, how):
    """Issue 15: --data-dir /no/such/dir trained on the system copy; now it names the directory."""
    missing = tmp_path / "no" / "such" / "dir"
    if how == "env":
        monkeypatch.setenv("BIOPROP_DATA_DIR", str(missing))
    kwargs = {"data_dir": missing} if how == "data_dir" else {}
    given_by = "--data-dir" if how == "data_dir" else "$BIOPROP_DATA_DIR"
    for call in (lambda: load_dataset("fashion-mnist", n_train=10, n_test=10, **kwargs),
                 lambda: verify_dataset("fashion-mnist", **kwargs)):
        with pytest.raises(DatasetError) as err:
            call()
        message = str(err.value)
        assert f"data directory {missing} given by {given_by}" in message and "does not exist" in message
        assert str(DEBIAN_FASHION) not in message and "\n" not in message


def test_data_dir_that_is_a_file_is_an_error(tmp_path):
    afile = tmp_path / "file"
    afile.write_text("")
    with pytest.raises(DatasetError, match=f"data directory {afile} given by --data-dir .* is not a directory"):
        load_dataset("digits", data_dir=afile)


@pytest.mark.parametrize("how", ["data_dir", "env"])
def test_named_data_dir_without_the_dataset_is_an_error(tmp_path, monkeypatch, how):
    """An existing directory that lacks the files is not a reason to use another copy."""
    system = tmp_path / "system"
    small_idx_dir(system)  # a copy further down the old search order (checksums aside)
    monkeypatch.setitem(datasets._registry()["fashion-mnist"], "system_dirs", [str(system)])
    named = tmp_path / "named"
    (named / "fashion-mnist").mkdir(parents=True)
    write_idx(named / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz", np.zeros(3))
    if how == "env":
        monkeypatch.setenv("BIOPROP_DATA_DIR", str(named))
    kwargs = {"data_dir": named} if how == "data_dir" else {}
    with pytest.raises(DatasetError) as err:
        load_dataset("fashion-mnist", **kwargs)
    message = str(err.value)
    assert message.startswith(f"fashion-mnist: data directory {named} given by ")
    assert "does not hold the dataset" in message and IDX_FILES[0] in message
    assert IDX_FILES[3] not in message  # the label file is there (its checksum is checked later)
    assert str(system) not in message and "\n" not in message
    statuses = verify_dataset("fashion-mnist", **kwargs)
    assert statuses[0].searched == (str(named), str(named / "fashion-mnist"))


def test_data_dir_wins_over_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BIOPROP_DATA_DIR", str(tmp_path / "env-missing"))
    (tmp_path / "named").mkdir()
    statuses = verify_dataset("kmnist", data_dir=tmp_path / "named")
    assert statuses[0].searched == (str(tmp_path / "named"), str(tmp_path / "named" / "kmnist"))


def test_download_disabled_by_argument(monkeypatch):
    monkeypatch.delenv("BIOPROP_OFFLINE")
    with pytest.raises(DatasetError, match=r"kmnist: .*download=False"):
        load_dataset("kmnist", download=False)


def test_failed_download_is_reported_with_its_url(monkeypatch):
    import pooch
    monkeypatch.delenv("BIOPROP_OFFLINE")
    calls = []

    def unreachable(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash))
        raise ConnectionError("no route to host")

    monkeypatch.setattr(pooch, "retrieve", unreachable)
    with pytest.raises(DatasetError, match="download failed") as err:
        load_dataset("kmnist")
    assert ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/train-images-idx3-ubyte.gz",
            "md5:bdb82020997e1d708af4cf47b453dcf7") in calls
    assert "no route to host" in str(err.value)


def test_downloaded_file_is_checked_before_use(monkeypatch, tmp_path):
    """Even if the downloader hands back a wrong file, its checksum is checked before it is read."""
    import pooch
    monkeypatch.delenv("BIOPROP_OFFLINE")

    def tampered(url, known_hash, fname, path, progressbar):
        Path(path).mkdir(parents=True, exist_ok=True)
        write_idx(Path(path) / fname, np.zeros((3, 2, 2)) if "images" in fname else np.zeros(3))
        return str(Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", tampered)
    with pytest.raises(DatasetError, match="kmnist: checksum mismatch for .*train-images-idx3-ubyte.gz"):
        load_dataset("kmnist")


def test_verify_never_downloads(monkeypatch):
    import pooch
    monkeypatch.delenv("BIOPROP_OFFLINE")
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: pytest.fail("verify_dataset downloaded"))
    assert {s.status for s in verify_dataset("kmnist")} == {"missing"}


# ------------------------------------------------------------ user datasets

def test_custom_idx_directory(tmp_path):
    x_train, y_train, x_test, y_test = small_idx_dir(tmp_path / "mine")
    data = load_dataset(str(tmp_path / "mine"))
    assert data.name == str(tmp_path / "mine")
    assert data.image_shape == (6, 4) and data.n_classes == 3
    assert data.x_train.dtype == np.float32 and data.y_train.dtype == np.int64
    np.testing.assert_allclose(data.x_train, x_train.reshape(20, 24) / 255, rtol=1e-6)
    np.testing.assert_array_equal(data.y_test, y_test)
    assert data.x_test.shape == (7, 24) and data.x_val.shape == (0, 24)
    assert len(data.subset["sources"]) == 4


def test_malformed_idx_files(tmp_path):
    small_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x08\x03\x00\x01" + b"\0" * 8)
    with pytest.raises(DatasetError, match="not an IDX file.*magic"):
        load_dataset(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(7, np.uint8))
    raw = gzip.decompress((tmp_path / "train-images-idx3-ubyte.gz").read_bytes())
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw[:-5]))
    with pytest.raises(DatasetError, match="size mismatch"):
        load_dataset(tmp_path)
    (tmp_path / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="missing train-images-idx3-ubyte.gz"):
        load_dataset(tmp_path)


def test_custom_npz_5x7_three_classes(tmp_path):
    rng = np.random.default_rng(3)
    x_train = rng.integers(0, 256, (30, 5, 7), dtype=np.uint8)
    np.savez(tmp_path / "d.npz", x_train=x_train, y_train=np.arange(30) % 3,
             x_test=rng.integers(0, 256, (9, 5, 7), dtype=np.uint8), y_test=np.arange(9) % 3)
    data = load_dataset(tmp_path / "d.npz", n_val=6)
    assert data.image_shape == (5, 7) and data.n_classes == 3
    assert data.x_train.shape == (24, 35) and data.x_val.shape == (6, 35) and data.x_test.shape == (9, 35)
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert data.subset["n_train_available"] == 30 and data.subset["n_val"] == 6


def test_npz_flat_and_channel_layouts(tmp_path):
    flat = np.full((4, 35), 0.5, dtype=np.float32)
    np.savez(tmp_path / "flat.npz", x_train=flat, y_train=[0, 1, 0, 1], x_test=flat[:2], y_test=[1, 0],
             image_shape=[5, 7])
    assert load_dataset(tmp_path / "flat.npz").image_shape == (5, 7)
    np.savez(tmp_path / "square.npz", x_train=np.zeros((4, 16)), y_train=[0, 1, 0, 1],
             x_test=np.zeros((2, 16)), y_test=[1, 0])
    assert load_dataset(tmp_path / "square.npz").image_shape == (4, 4)
    np.savez(tmp_path / "rgb.npz", x_train=np.zeros((4, 2, 3, 3), np.uint8), y_train=[0, 1, 2, 1],
             x_test=np.zeros((2, 2, 3, 3), np.uint8), y_test=[1, 0])
    data = load_dataset(tmp_path / "rgb.npz")
    assert data.image_shape == (2, 3, 3) and data.x_train.shape == (4, 18)


@pytest.mark.parametrize("change, match", [
    ({"x_train": np.full((4, 2, 2), 2.0)}, r"scaled to \[0, 1\]"),
    ({"y_train": np.array([0.0, 1.0, 0.0, 1.0])}, "integer class labels"),
    ({"y_train": np.array([0, 1, 0])}, "4 samples but y_train has 3"),
    ({"y_train": np.array([1, 1, 1, 1]), "y_test": np.array([1, 1])}, "at least 2"),
    ({"y_train": np.array([0, 2, 0, 2])}, r"classes \[1\]"),
    ({"y_test": np.array([0, -1])}, "negative"),
    ({"x_test": np.zeros((2, 3, 3), np.uint8)}, "train images are"),
    ({"x_train": np.full((4, 2, 2), 300)}, "0..255"),
])
def test_npz_validation_errors(tmp_path, change, match):
    arrays = {"x_train": np.zeros((4, 2, 2), np.uint8), "y_train": np.array([0, 1, 0, 1]),
              "x_test": np.zeros((2, 2, 2), np.uint8), "y_test": np.array([1, 0]), **change}
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DatasetError, match=match):
        load_dataset(tmp_path / "bad.npz")


def test_npz_missing_arrays_and_unknown_names(tmp_path):
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 2, 2)))
    with pytest.raises(DatasetError, match="lacks y_train, x_test, y_test"):
        load_dataset(tmp_path / "partial.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="not a complete .npz archive") as err:
        load_dataset(tmp_path / "junk.npz")
    assert "pickle" not in str(err.value)  # numpy's own refusal advises unpickling it
    with pytest.raises(DatasetError, match="neither a registered dataset"):
        load_dataset("mnsit")


# ------------------------------------------------------------ subsets

def test_subsets_reproducible_and_seed_dependent():
    a = load_dataset("digits", n_train=100, n_test=50, seed=1)
    b = load_dataset("digits", n_train=100, n_test=50, seed=1)
    c = load_dataset("digits", n_train=100, n_test=50, seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.x_test, c.x_test)
    assert a.subset["n_train"] == 100 and a.subset["n_test"] == 50 and a.subset["seed"] == 1


def test_validation_split_disjoint_and_from_training_set(tmp_path):
    path = indexed_npz(tmp_path / "ix.npz")
    data = load_dataset(path, n_train=300, n_val=0.1, seed=5)
    train, val, test = ids(data.x_train), ids(data.x_val), ids(data.x_test)
    assert len(train) == 300 and len(val) == 50 and len(test) == 100
    assert not train & val
    assert val <= set(range(500))  # training samples only
    assert not val & test
    # The training subset does not depend on n_val.
    np.testing.assert_array_equal(load_dataset(path, n_train=300, seed=5).x_train, data.x_train)
    # n_train omitted: everything not held out trains.
    rest = load_dataset(path, n_val=100, seed=5)
    assert len(rest.y_train) == 400 and not ids(rest.x_train) & ids(rest.x_val)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_train": 0}, "n_train must be a positive integer"),
    ({"n_train": -5}, "n_train must be a positive integer"),
    ({"n_train": 2.5}, "n_train must be a positive integer"),
    ({"n_train": True}, "n_train must be a positive integer"),
    ({"n_train": "100"}, "n_train must be a positive integer"),
    ({"n_train": 1501}, r"n_train \+ n_val = 1501 \+ 0 exceeds the 1500"),
    ({"n_train": 1400, "n_val": 101}, r"n_train \+ n_val = 1400 \+ 101 exceeds"),
    ({"n_test": 0}, "n_test must be a positive integer"),
    ({"n_test": 298}, "n_test=298 exceeds the 297"),
    ({"n_val": -1}, "n_val must be a sample count"),
    ({"n_val": 1.5}, "n_val must be a sample count"),
    ({"n_val": 1500}, "n_val=1500 leaves no training samples"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_bad_subset_parameters(kwargs, match):
    with pytest.raises(DatasetError, match=match):
        load_dataset("digits", **kwargs)


# ------------------------------------------------------------ registered data

def test_digits():
    data = load_dataset("digits")
    assert data.n_classes == 10 and data.image_shape == (8, 8)
    assert data.x_train.shape == (1500, 64) and data.x_test.shape == (297, 64)
    assert data.x_train.dtype == np.float32
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert set(np.unique(data.y_train)) == set(range(10))


def test_list_datasets():
    rows = {row["name"]: row for row in list_datasets()}
    assert set(rows) == {"mnist", "kmnist", "fashion-mnist", "digits"}
    assert rows["mnist"]["n_train"] == 60000 and rows["mnist"]["image_shape"] == (28, 28)
    assert rows["digits"]["found"] is not None
    assert rows["kmnist"]["found"] is None


@needs_fashion
def test_fashion_mnist_verify_and_load():
    assert [s.status for s in verify_dataset("fashion-mnist")] == ["ok"] * 4
    data = load_dataset("fashion-mnist", n_train=200, n_test=100, n_val=50)
    assert data.x_train.shape == (200, 784) and data.x_val.shape == (50, 784)
    assert data.n_classes == 10 and data.image_shape == (28, 28)
    assert 0.0 <= data.x_test.min() and data.x_test.max() <= 1.0


@needs_mnist_test
def test_mnist_verify_against_shared_test_files():
    statuses = {s.file: s.status for s in verify_dataset("mnist", data_dir=SHARED_MNIST)}
    assert statuses == {"train-images-idx3-ubyte.gz": "missing", "train-labels-idx1-ubyte.gz": "missing",
                        "t10k-images-idx3-ubyte.gz": "ok", "t10k-labels-idx1-ubyte.gz": "ok"}


@needs_mnist_test
def test_env_data_dir_with_dataset_subdirectory(monkeypatch, tmp_path):
    shutil.copytree(SHARED_MNIST, tmp_path / "mnist")
    monkeypatch.setenv("BIOPROP_DATA_DIR", str(tmp_path))
    statuses = verify_dataset("mnist")
    assert [s.status for s in statuses[2:]] == ["ok", "ok"]
    assert statuses[2].path == str(tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz")

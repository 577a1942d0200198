"""Bad input, clear errors (issue 15): each malformed input to ``bioprop`` is answered
with exit status 2 and one message line that names the parameter or file and what it
accepts; no traceback, no file written, and nothing trained first.

Most cases run the CLI's ``main(argv)`` in this process (an unexpected exception
would fail the test with its traceback); a few run the console entry point in a
subprocess to see its real stderr.
"""
import gzip
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bioprop.analysis.cli import main

SNAKEFILE = Path(__file__).resolve().parents[1] / "workflows" / "Snakefile"


def _idx(array) -> bytes:
    array = np.ascontiguousarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _idx_dir(root: Path, **replace) -> Path:
    """A small MNIST-layout IDX directory (60 train, 20 test 4x4 images, 3 classes),
    with the raw bytes of some files replaced (``name=bytes``, None removes it)."""
    rng = np.random.default_rng(0)
    directory = root / "idx"
    directory.mkdir()
    files = {"train-images-idx3-ubyte.gz": gzip.compress(_idx(rng.integers(0, 256, (60, 4, 4)))),
             "train-labels-idx1-ubyte.gz": gzip.compress(_idx(np.arange(60) % 3)),
             "t10k-images-idx3-ubyte.gz": gzip.compress(_idx(rng.integers(0, 256, (20, 4, 4)))),
             "t10k-labels-idx1-ubyte.gz": gzip.compress(_idx(np.arange(20) % 3))}
    for name, raw in {**files, **replace}.items():
        if raw is not None:
            (directory / name).write_bytes(raw)
    return directory


def _npz(root: Path, name="data.npz", **arrays) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 4, 4), dtype=np.uint8)
    y = np.arange(60) % 3
    content = {"x_train": x[:40], "y_train": y[:40], "x_test": x[40:], "y_test": y[40:], **arrays}
    path = root / name
    np.savez(path, **{k: v for k, v in content.items() if v is not None})
    return path


def _raw_file(root: Path, name: str, raw: bytes) -> Path:
    (root / name).write_bytes(raw)
    return root / name


def _made_dir(path: Path) -> Path:
    path.mkdir()
    return path


def _truncated_npz(root: Path) -> Path:
    raw = _npz(root, "whole.npz").read_bytes()
    return _raw_file(root, "cut.npz", raw[:len(raw) // 2])


def _train(*extra, rule="bp", dataset="digits"):
    """argv of a quick `bioprop train` (rate rule, tiny subset) that is valid without ``extra``."""
    return ["train", rule, "--dataset", str(dataset), "--n-train", "60", "--n-test", "20",
            "--hidden", "8", "--quiet", *map(str, extra)]


# (id, argv built from tmp_path d, fragments the one message line must hold, {d} standing
# for tmp_path: what is wrong, with the parameter or file, and what is accepted)
CASES = [
    # unknown names
    ("unknown-rule", lambda d: _train(rule="nosuchrule"), ["unknown rule 'nosuchrule'", "available rules: bdfa"]),
    ("unknown-dataset", lambda d: _train(dataset="nosuchdata"),
     ["'nosuchdata' is neither a registered dataset", "fashion-mnist", ".npz file"]),
    ("unknown-parameter", lambda d: _train("--set", "lerning_rate=1e-3"),
     ["unknown parameter 'lerning_rate' of rule 'bp'", "known parameters: learning_rate"]),
    ("set-without-value", lambda d: _train("--set", "learning_rate"), ["--set expects name=value", "learning_rate"]),
    ("params-unknown-rule", lambda d: ["params", "nosuchrule"], ["unknown rule 'nosuchrule'", "available rules"]),
    # units, as in Brian2
    ("bare-time", lambda d: _train("--set", "tau_syn=0.004", rule="erbp"),
     ["'tau_syn': got '0.004' without a unit", "time with its unit, e.g. 5*ms", "(default 4.0 ms)"]),
    ("wrong-dimension", lambda d: _train("--set", "tau_syn=5*mV", rule="erbp"),
     ["'tau_syn': got '5*mV' (a voltage)", "expected a time with its unit"]),
    ("bare-rate", lambda d: _train("--set", "noise_rate=1000", rule="erbp"),
     ["'noise_rate': got '1000' without a unit", "frequency with its unit, e.g. 5*Hz"]),
    ("bare-current", lambda d: _train("--set", "learning_rate=6e-4", rule="erbp"),
     ["'learning_rate': got '6e-4' without a unit", "current with its unit, e.g. 5*nA"]),
    ("unknown-unit", lambda d: _train("--set", "tau_syn=5 parsecs", rule="erbp"),
     ["'tau_syn': got '5 parsecs'", "time with its unit"]),
    ("unit-on-dimensionless", lambda d: _train("--set", "learning_rate=1e-3 ms"),
     ["'learning_rate': got '1e-3 ms' (a time)", "expected a number in (0, inf]"]),
    # durations and rates: zero, negative, inconsistent
    ("zero-duration", lambda d: _train("--set", "t_sample=0ms", rule="erbp"),
     ["'t_sample': got '0ms'", "in [1, inf] ms"]),
    ("negative-time-constant", lambda d: _train("--set", "tau_syn=-4ms", rule="erbp"),
     ["'tau_syn': got '-4ms'", "in (0, inf] ms"]),
    ("negative-noise-rate", lambda d: _train("--set", "noise_rate=-5Hz", rule="erbp"),
     ["'noise_rate': got '-5Hz'", "in [0, inf] Hz"]),
    ("settle-longer-than-sample", lambda d: _train("--set", "t_settle=300ms", "--device", "runtime", rule="erbp"),
     ["t_settle (300. ms) must not exceed t_sample (250. ms)"]),
    ("zero-learning-rate", lambda d: _train("--set", "learning_rate=0"),
     ["'learning_rate': got '0'", "a number in (0, inf]"]),
    ("negative-learning-rate", lambda d: _train("--set", "learning_rate=-1e-3"),
     ["'learning_rate': got '-1e-3'", "a number in (0, inf]"]),
    # probabilities outside [0, 1]
    ("probability-above-one", lambda d: _train("--set", "p_release=1.5", rule="erbp-stochastic"),
     ["'p_release': got '1.5'", "a number in (0, 1]"]),
    ("probability-negative", lambda d: _train("--set", "p_release=-0.1", rule="erbp"),
     ["'p_release': got '-0.1'", "a number in (0, 1]"]),
    ("probability-one-where-open", lambda d: _train("--set", "p_release=1", rule="s2m-discrete"),
     ["'p_release': got '1'", "a number in (0, 1)"]),
    # counts: epochs, seeds, samples, sizes
    ("epochs-fraction", lambda d: _train("--epochs", "1.5"), ["argument --epochs", "expected a positive integer; got '1.5'"]),
    ("epochs-negative", lambda d: _train("--epochs", "-1"), ["argument --epochs", "expected a positive integer; got '-1'"]),
    ("epochs-zero", lambda d: _train("--epochs", "0"), ["argument --epochs", "expected a positive integer; got '0'"]),
    ("seed-negative", lambda d: _train("--seed", "-1"), ["argument --seed", "non-negative integer seed; got '-1'"]),
    ("seed-fraction", lambda d: _train("--seed", "0.5"), ["argument --seed", "non-negative integer seed; got '0.5'"]),
    ("n-train-negative", lambda d: _train("--n-train", "-5"), ["argument --n-train", "positive integer; got '-5'"]),
    ("n-train-fraction", lambda d: _train("--n-train", "2.5"), ["argument --n-train", "positive integer; got '2.5'"]),
    ("n-test-zero", lambda d: _train("--n-test", "0"), ["argument --n-test", "positive integer; got '0'"]),
    ("n-val-negative", lambda d: _train("--n-val", "-1"), ["argument --n-val", "a sample count", "a fraction in (0, 1)"]),
    ("n-val-fraction-above-one", lambda d: _train("--n-val", "1.5"), ["argument --n-val", "a fraction in (0, 1)"]),
    ("batch-size-fraction", lambda d: _train("--set", "batch_size=2.5"), ["'batch_size': got '2.5'", "an integer in [1, inf]"]),
    ("hidden-fraction", lambda d: _train("--hidden", "16.5"), ["argument --hidden", "positive layer sizes", "'16.5'"]),
    ("hidden-negative", lambda d: _train("--hidden", "-4"), ["argument --hidden", "positive layer sizes", "'-4'"]),
    ("hidden-zero", lambda d: _train("--hidden", "16,0"), ["argument --hidden", "positive layer sizes", "'16,0'"]),
    ("hidden-forbidden-by-rule", lambda d: _train("--hidden", "8,8", rule="rbm"),
     ["rbm has one hidden layer", "--hidden takes one size"]),
    ("threads-zero", lambda d: _train("--threads", "0", rule="erbp"), ["argument --threads", "positive integer"]),
    ("unknown-device", lambda d: _train("--device", "gpu", rule="erbp"),
     ["argument --device: invalid choice: 'gpu'", "cpp_standalone"]),
    # more samples than the dataset has
    ("n-train-above-dataset", lambda d: _train("--n-train", "5000"),
     ["n_train + n_val = 5000 + 0 exceeds the 1500 training samples of digits"]),
    ("n-test-above-dataset", lambda d: _train("--n-test", "1000"), ["n_test=1000 exceeds the 297 test samples of digits"]),
    ("n-val-above-dataset", lambda d: _train("--n-train", "1400", "--n-val", "200"),
     ["n_train + n_val = 1400 + 200 exceeds the 1500 training samples"]),
    # data locations and dataset files
    ("data-dir-missing", lambda d: _train("--data-dir", d / "no" / "such" / "dir", dataset="fashion-mnist"),
     ["data directory {d}/no/such/dir given by --data-dir", "does not exist"]),
    ("data-dir-without-dataset", lambda d: _train("--data-dir", d, dataset="fashion-mnist"),
     ["data directory {d} given by --data-dir", "does not hold the dataset", "train-images-idx3-ubyte.gz"]),
    ("dataset-path-missing", lambda d: _train(dataset=d / "nothing.npz"),
     ["{d}/nothing.npz", "neither a registered dataset", "existing directory of IDX files or .npz file"]),
    ("idx-not-idx", lambda d: _train(dataset=_idx_dir(d, **{"train-images-idx3-ubyte.gz": b"hello, not an IDX file"})),
     ["idx/train-images-idx3-ubyte.gz: not an IDX file", "expected 0000 followed by a type code"]),
    ("idx-corrupt-gzip", lambda d: _train(dataset=_idx_dir(d, **{"t10k-labels-idx1-ubyte.gz": b"\x1f\x8b" + os.urandom(64)})),
     ["t10k-labels-idx1-ubyte.gz: corrupt gzip data"]),
    ("idx-truncated", lambda d: _train(dataset=_idx_dir(d, **{"train-images-idx3-ubyte.gz": _idx(np.zeros((60, 4, 4)))[:500]})),
     ["train-images-idx3-ubyte.gz: IDX size mismatch", "header says shape (60, 4, 4)", "file has 500 bytes"]),
    ("idx-wrong-shape", lambda d: _train(dataset=_idx_dir(d, **{"train-labels-idx1-ubyte.gz": _idx(np.arange(59) % 3)})),
     ["x_train has 60 samples but y_train has 59 labels"]),
    ("idx-file-missing", lambda d: _train(dataset=_idx_dir(d, **{"t10k-labels-idx1-ubyte.gz": None})),
     ["not an IDX dataset directory: missing t10k-labels-idx1-ubyte.gz"]),
    ("npz-not-zip", lambda d: _train(dataset=_raw_file(d, "junk.npz", os.urandom(300))),
     ["junk.npz: not a complete .npz archive", "x_train, y_train, x_test, y_test"]),
    ("npz-truncated", lambda d: _train(dataset=_truncated_npz(d)), ["cut.npz: not a complete .npz archive"]),
    ("npz-pickled-objects", lambda d: _train(dataset=_npz(d, x_train=np.array([{"a": 1}] * 40, dtype=object))),
     ["data.npz: cannot read as .npz", "allow_pickle=False"]),
    ("npz-labels-2d", lambda d: _train(dataset=_npz(d, y_train=(np.arange(40) % 3)[:, None])),
     ["y_train must be 1-D (n,); got shape (40, 1)"]),
    ("npz-array-missing", lambda d: _train(dataset=_npz(d, y_test=None)), [".npz lacks y_test", "needs x_train"]),
    ("npz-pixels-out-of-range", lambda d: _train(dataset=_npz(d, x_train=np.full((40, 16), 3.0))),
     ["float pixels must already be scaled to [0, 1]", "got range [3, 3]"]),
    # outputs
    ("out-not-netcdf", lambda d: _train("--out", d / "result.txt"), ["--out must name a NetCDF file ending in .nc"]),
    ("out-dir-missing", lambda d: _train("--out", d / "no" / "such" / "r.nc"),
     ["output directory {d}/no/such does not exist", "create it first"]),
    ("out-dir-is-a-file", lambda d: _train("--out", _raw_file(d, "afile", b"") / "r.nc"),
     ["output directory {d}/afile is not a directory"]),
    ("out-is-a-directory", lambda d: _train("--out", _made_dir(d / "dir.nc")),
     ["output {d}/dir.nc is a directory"]),
    ("label-with-slash", lambda d: _train("--label", "bp/fast"),
     ["label must start with a letter or digit", "letters, digits and . _ + = -", "got 'bp/fast'"]),
]


def _files(root: Path) -> dict:
    return {p: p.stat().st_mtime_ns for p in root.rglob("*")}


def _fails_cleanly(argv, fragments, capsys, root: Path, before=None):
    """Run ``main(argv)``: exit status 2, one stderr line holding every fragment, no
    output, no file written under ``root`` since ``before``."""
    before = _files(root) if before is None else before
    try:
        status = main(argv)
    except SystemExit as exit_info:  # argparse's errors
        status = exit_info.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("bioprop"), err
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    assert out == ""
    assert _files(root) == before, "a file was written"


@pytest.mark.parametrize("argv_of, fragments", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_is_one_line_exit_2(argv_of, fragments, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BIOPROP_DATA_DIR", raising=False)
    argv = argv_of(tmp_path)
    if argv[0] == "train" and "--out" not in argv:
        argv += ["--out", str(tmp_path / "result.nc")]
    _fails_cleanly(argv, [f.format(d=tmp_path) for f in fragments], capsys, tmp_path)


def test_env_data_dir_that_does_not_exist(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BIOPROP_DATA_DIR", str(tmp_path / "gone"))
    _fails_cleanly(_train("--out", tmp_path / "r.nc", dataset="fashion-mnist"),
                   [f"data directory {tmp_path / 'gone'} given by $BIOPROP_DATA_DIR does not exist"],
                   capsys, tmp_path)


def test_existing_output_is_kept_without_overwrite(tmp_path, capsys):
    out = tmp_path / "result.nc"
    out.write_bytes(b"an earlier result")
    _fails_cleanly(_train("--out", out), [f"output {out} already exists", "pass --overwrite"], capsys, tmp_path)
    assert out.read_bytes() == b"an earlier result"


def test_missing_compiler_for_cpp_standalone(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    _fails_cleanly(_train("--out", tmp_path / "r.nc", rule="erbp"),
                   ["no C++ compiler for Brian2's cpp_standalone device", "no-such-g++ not found",
                    "--device runtime"], capsys, tmp_path)


@pytest.fixture
def read_only_dir(tmp_path):
    """A directory no one may create files in.  Permission bits do not bind root, so
    as root the directory is made immutable (chattr +i) instead; skipped if neither works."""
    directory = tmp_path / "read-only"
    directory.mkdir()
    directory.chmod(0o555)

    def writable():
        try:
            (directory / "probe").touch()
        except OSError:
            return False
        (directory / "probe").unlink()
        return True

    immutable = False
    if writable() and shutil.which("chattr"):
        immutable = subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode == 0
    try:
        if writable():
            pytest.skip("cannot make a read-only directory here (root without chattr +i)")
        yield directory
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
        directory.chmod(0o755)


def test_output_in_read_only_directory(read_only_dir, tmp_path, capsys):
    _fails_cleanly(_train("--out", read_only_dir / "r.nc"),
                   [f"output directory {read_only_dir} is not writable", "name a writable directory"],
                   capsys, tmp_path)


@pytest.mark.parametrize("argv", [
    _train("--set", "tau_syn=4", rule="erbp"),
    ["train", "bp", "--dataset", "digits", "--epochs", "-1", "--out", "x.nc"],
    ["train", "bp", "--dataset", "/no/such/data.npz", "--out", "x.nc"],
])
def test_console_entry_point_prints_no_traceback(argv, tmp_path):
    if "--out" not in argv:
        argv = [*argv, "--out", "x.nc"]
    proc = subprocess.run([sys.executable, "-m", "bioprop.analysis.cli", *argv], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("changes, message", [
    ({"datasets": {"digits": {"n_train": -5}}},
     "config datasets.digits.n_train: -5 is less than the minimum of 1 (training samples (seeded subset))"),
    ({"seeds": [0, -1]}, "config seeds.1: -1 is less than the minimum of 0"),
    ({"hidden": [16.5]}, "config hidden.0: 16.5 is not of type 'integer'"),
    ({"epochs": "two"}, "config epochs: 'two' is not of type 'integer'"),
    ({"rules": {"bp": {"set": {"learning_rate": [1, 2]}}}},
     "config rules.bp.set.learning_rate: [1, 2] is not of type 'string', 'number', 'boolean'"),
])
def test_workflow_config_failing_the_schema(changes, message, tmp_path):
    """A config error is one line naming the key, what is wrong and what it accepts,
    exit status 2 as from the command line, before any job."""
    config = {"results": str(tmp_path / "results"), "datasets": {"digits": {"n_train": 60}},
              "rules": {"bp": {}}, "seeds": [0], "hidden": [8], "epochs": 1, **changes}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--cores", "1",
                           "--configfile", str(tmp_path / "config.yaml"), "--directory", str(tmp_path),
                           "--dry-run"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [f"bioprop: {message}"], proc.stderr
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output and not (tmp_path / "results").exists()


# ---------------------------------------------------------------- safe loading

REPO = Path(__file__).resolve().parents[1]


def _sources():
    for folder in ("models", "analysis", "workflows", "tests"):
        for path in sorted((REPO / folder).rglob("*")):
            if path.suffix in (".py", ".smk") or path.name == "Snakefile":
                yield path, path.read_text(encoding="utf-8")


def test_no_unsafe_loaders_in_the_sources():
    """No pickle from files (np.load with allow_pickle=False), YAML only through safe_load."""
    import re
    offences = []
    for path, text in _sources():
        if path == Path(__file__).resolve():
            continue
        for match in re.finditer(r"np\.load\(([^)]*)\)", text):
            if "allow_pickle=False" not in match.group(1):
                offences.append(f"{path.relative_to(REPO)}: {match.group(0)}")
        for unsafe in ("yaml.load(", "yaml.unsafe_load(", "pickle.load", "yaml.Loader", "FullLoader"):
            if unsafe in text:
                offences.append(f"{path.relative_to(REPO)}: {unsafe}")
    assert not offences

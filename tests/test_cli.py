"""The command line: help everywhere, and one clear line with exit 2 for user errors."""
import subprocess
import sys

import pytest

from bioprop.models import schema
from bioprop.analysis.cli import build_parser, main
from conftest import FASHION_SYSTEM, SHARED_MNIST


def _run(*args):
    """Run the real console entry point in a subprocess (to see tracebacks)."""
    return subprocess.run([sys.executable, "-m", "bioprop.analysis.cli", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("argv", [[], ["datasets"], ["datasets", "list"], ["datasets", "verify"],
                                  ["rules"], ["params"], ["train"]])
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*argv, "--help"])
    assert exit_info.value.code == 0
    assert "usage: bioprop" in capsys.readouterr().out


@pytest.mark.parametrize("args, fragment", [
    (["train", "nosuchrule", "--dataset", "digits", "--out", "x.nc"], "unknown rule 'nosuchrule'"),
    (["train", "bp", "--dataset", "digits", "--out", "x.nc", "--set", "nosuch=1"], "unknown parameter 'nosuch'"),
    (["train", "bp", "--dataset", "digits", "--out", "x.nc", "--set", "learning_rate=5ms"], "parameter 'learning_rate'"),
    (["train", "bp", "--dataset", "digits", "--out", "x.nc", "--set", "learning_rate=-1"], "parameter 'learning_rate'"),
    (["train", "bp", "--dataset", "digits", "--out", "x.txt"], "--out must name a NetCDF file"),
    (["train", "bp", "--dataset", "/no/such/dataset.npz", "--out", "x.nc"], "/no/such/dataset.npz"),
    (["params", "nosuchrule"], "unknown rule"),
])
def test_user_errors_are_one_line_exit_2(args, fragment, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "bioprop.analysis.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], proc.stderr
    assert not (tmp_path / "x.nc").exists()


def test_argument_errors_exit_2(capsys):
    for argv in (["train", "bp", "--dataset", "digits", "--out", "x.nc", "--hidden", "0,5"],
                 ["train", "bp", "--dataset", "digits", "--out", "x.nc", "--epochs", "-1"],
                 ["train", "bp", "--dataset", "digits", "--out", "x.nc", "--device", "gpu"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
    assert "hidden" in capsys.readouterr().err


def test_train_writes_result_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "bp.nc"
    argv = ["train", "bp", "--dataset", "digits", "--n-train", "300", "--n-test", "100", "--epochs", "2",
            "--hidden", "16", "--seed", "4", "--quiet", "--set", "learning_rate=0.05", "--out", str(out)]
    assert main(argv) == 0
    result = schema.read_result(out)
    assert result.sizes["epoch"] == 2 and result.attrs["seed"] == 4
    assert schema.json_attr(result, "parameters")["learning_rate"]["value"] == 0.05
    assert schema.json_attr(result, "dataset_subset")["n_train"] == 300
    before = out.read_bytes()
    assert main(argv) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_rules_and_params_list(capsys):
    assert main(["rules"]) == 0
    assert "bp" in capsys.readouterr().out
    assert main(["params", "bp"]) == 0
    assert "learning_rate" in capsys.readouterr().out


def test_params_show_unit_default_range_and_source(capsys):
    from bioprop.models.rules import available_rules
    for name, cls in available_rules().items():
        assert main(["params", name]) == 0
        lines = capsys.readouterr().out.splitlines()
        for p in cls.parameters:
            unit = f" {p.unit}" if p.dimensioned else ""
            head = lines.index(f"{p.name} = {p.default!r}{unit}    ({p.expected()})")
            if p.source:
                rest = lines[head + 1:]
                block = rest[:next((i for i, line in enumerate(rest) if not line.startswith("    ")), len(rest))]
                assert f"    source: {p.source}" in block, (name, p.name)
    main(["params", "erbp"])
    assert "tau_syn = 4.0 ms    (a time with its unit, e.g. 5*ms, in (0, inf] ms)" in capsys.readouterr().out


@pytest.mark.skipif(not SHARED_MNIST.is_dir(), reason="shared MNIST test files not present")
def test_verify_mnist_reports_test_files_ok_and_train_files_absent():
    proc = _run("datasets", "verify", "mnist", "--data-dir", str(SHARED_MNIST))
    assert proc.returncode == 0, proc.stderr
    ok = [line for line in proc.stdout.splitlines() if line.startswith("ok")]
    missing = [line for line in proc.stdout.splitlines() if line.startswith("missing")]
    assert {line.split()[1] for line in ok} == {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}
    assert {line.split()[1] for line in missing} == {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"}


@pytest.mark.skipif(not FASHION_SYSTEM.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_verify_fashion_mnist_from_debian_package():
    proc = _run("datasets", "verify", "fashion-mnist")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "4 of 4 files present and verified" in proc.stdout

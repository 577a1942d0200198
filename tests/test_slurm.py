"""The workflow through a real SLURM cluster (workflows/profiles/slurm): a
single-node cluster on this machine (munged, slurmctld, slurmd; Debian's
slurm-wlm and munge), started by the test and stopped after it, runs a small
workflow whose results must equal a local run's."""
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from bioprop.models import schema

ROOT = Path(__file__).resolve().parents[1]
SNAKEFILE = ROOT / "workflows" / "Snakefile"
DAEMONS = ("munged", "slurmctld", "slurmd")
# Debian's path: the executor plugin's jobs call srun inside the allocation,
# which finds no other configuration (SLURM_CONF does not reach them).
CONF = Path("/etc/slurm/slurm.conf")
SLURM_CONF = """\
ClusterName=bioprop-test
SlurmctldHost={host}
SlurmctldPort=6917
SlurmdPort=6918
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation={spool}/ctld
SlurmdSpoolDir={spool}/d
SlurmctldPidFile={spool}/slurmctld.pid
SlurmdPidFile={spool}/slurmd.pid
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName={host} CPUs={cpus} RealMemory={memory_mb} State=UNKNOWN
PartitionName=compute Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _unavailable() -> str | None:
    """Why a single-node cluster cannot be started here, or None."""
    if os.geteuid() != 0:
        return "starting slurmctld and slurmd needs root"
    missing = [d for d in DAEMONS + ("sbatch", "squeue") if shutil.which(d) is None]
    if missing:
        return f"{', '.join(missing)} not installed (apt-get install slurm-wlm munge)"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "the Snakemake SLURM executor plugin is not installed (pip install -e '.[slurm]')"
    if subprocess.run(["pgrep", "-x", "slurmctld"], capture_output=True).returncode == 0:
        return "a slurmctld already runs on this machine; the test starts and stops its own"
    if CONF.exists():
        return f"{CONF} exists; the test writes its own and does not replace a site's"
    return None


def _wait(command, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout
        time.sleep(1)
    raise RuntimeError(f"{what} did not come up within {timeout} s: {proc.stderr.strip()}")


@pytest.fixture
def slurm_cluster(tmp_path_factory):
    """A single-node cluster, run by this fixture's daemons for one test."""
    reason = _unavailable()
    if reason:
        pytest.skip(f"no SLURM cluster: {reason}")
    spool = tmp_path_factory.mktemp("slurm")
    for sub in ("ctld", "d"):
        (spool / sub).mkdir()
    memory_mb = int(int(Path("/proc/meminfo").read_text().split()[1]) / 1024 * 0.8)
    host = socket.gethostname().split(".")[0]
    started = []
    try:
        CONF.write_text(SLURM_CONF.format(host=host, spool=spool, cpus=os.cpu_count(), memory_mb=memory_mb))
        munge_ok = subprocess.run(["munge", "-n"], capture_output=True).returncode == 0
        if not munge_ok:   # munged refuses to run as root: its own user, its own run directory
            Path("/run/munge").mkdir(exist_ok=True)
            shutil.chown("/run/munge", "munge", "munge")
            started.append(subprocess.Popen(["runuser", "-u", "munge", "--", "munged", "-F"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait(["munge", "-n"], "munged")
        for daemon in ("slurmctld", "slurmd"):
            started.append(subprocess.Popen([daemon, "-D"], stdout=subprocess.DEVNULL,
                                            stderr=open(spool / f"{daemon}.log", "w")))
        try:
            _wait(["sinfo", "-h", "-t", "idle", "-o", "%N"], "the idle node")
        except RuntimeError as err:
            # a daemon that cannot start here (seen once: its plugins failed to load) means
            # no cluster on this machine, not a fault of the workflow
            fatal = [line for daemon in ("slurmctld", "slurmd")
                     for line in (spool / f"{daemon}.log").read_text().splitlines() if "fatal" in line]
            pytest.skip(f"no SLURM cluster: {err}; {'; '.join(fatal) or 'no fatal line in the daemon logs'}")
        yield
    finally:
        for proc in reversed(started):   # only the daemons this fixture started, by their process
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        CONF.unlink(missing_ok=True)


def _workflow(directory, *extra):
    config = {"results": "results", "datasets": {"digits": {"n_train": 200, "n_test": 100}},
              "rules": {"bp": {"set": {"learning_rate": 0.01}}, "fa": {}}, "seeds": [0, 1],
              "hidden": [16], "epochs": 2, "compare": [["fa", "bp"]], "mem_mb": 1000}
    directory.mkdir()
    (directory / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile",
                           str(directory / "config.yaml"), "--directory", str(directory), *extra],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return directory / "results"


@pytest.mark.slow
def test_slurm_profile_runs_the_workflow_as_a_local_run_does(slurm_cluster, tmp_path):
    # squeue for job status: this cluster has no accounting database (see the profile)
    cluster = _workflow(tmp_path / "slurm", "--profile", str(ROOT / "workflows" / "profiles" / "slurm"),
                        "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5",
                        "--slurm-keep-successful-logs")
    local = _workflow(tmp_path / "local", "--cores", "2")
    slurm_logs = list((tmp_path / "slurm" / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert len([log for log in slurm_logs if "rule_train" in str(log)]) == 4   # each run was a SLURM job
    runs = sorted(p.relative_to(local) for p in (local / "runs").rglob("*.nc"))
    assert len(runs) == 4 and runs == sorted(p.relative_to(cluster) for p in (cluster / "runs").rglob("*.nc"))
    for run in runs:
        a, b = schema.read_result(local / run), schema.read_result(cluster / run)
        for name in ("test_accuracy", "train_accuracy", "weight_1", "weight_2"):
            np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=f"{run} {name}")
    for table in ("digits/summary.csv", "digits/comparisons.csv"):
        assert (cluster / table).read_text() == (local / table).read_text()

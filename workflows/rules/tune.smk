# Tuning procedure (issue 12), the same for every rule, bp included: a grid
# search over rule parameters (learning rate; optimiser where it matters) on a
# validation split held out of the training set.  The test set is never read:
# each grid point is a training run whose validation accuracy after every
# epoch is kept; the winner of a rule is the grid point with the highest peak
# validation accuracy (max over epochs = early stopping on validation), mean
# over seeds.  Runs are the checkpoints: an interrupted search resumes.
#   snakemake tune -s workflows/Snakefile --profile workflows/profiles/local \
#             --configfile workflows/config/tune_rate.yaml
import itertools


def _tune_settings(label):
    """Grid points of one run label: {setting name: {parameter: value}}."""
    tune = config.get("tune") or {}
    grid = ((config["rules"][label] or {}).get("tune") or tune.get("grid") or {})
    names = sorted(grid)
    points = {}
    for values in itertools.product(*(grid[n] for n in names)):
        point = dict(zip(names, values))
        points["+".join(f"{n}={v}" for n, v in point.items()) or "defaults"] = point
    return points


TUNE_SETTINGS = {label: _tune_settings(label) for label in RULES}

for _label, _points in TUNE_SETTINGS.items():
    for _point in _points.values():
        try:
            get_rule(RULE_OF[_label]).parameters.resolve(
                {**((config["rules"][_label] or {}).get("set") or {}), **_point}, rule=RULE_OF[_label])
        except BiopropError as err:
            raise WorkflowError(f"config tune grid of {_label}: {err}")
if config.get("tune") is not None or any((s or {}).get("tune") for s in config["rules"].values()):
    _no_val = [name for name, data in config["datasets"].items() if not (data or {}).get("n_val")]
    if _no_val:
        raise WorkflowError(f"config tune: the search selects on validation data; give n_val for "
                            f"datasets {', '.join(_no_val)}")


rule tune_train:
    output:
        RESULTS / "tune" / "{dataset}" / "{rule}" / "{setting}" / "seed{seed}.nc",
    log:
        RESULTS / "logs" / "tune" / "{dataset}" / "{rule}" / "{setting}" / "seed{seed}.log",
    benchmark:
        RESULTS / "benchmarks" / "tune" / "{dataset}" / "{rule}" / "{setting}" / "seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
        setting=r"[^/]+",
    params:
        rule=lambda wildcards: RULE_OF[wildcards.rule],
        args=train_arguments,
        point=lambda wildcards: shlex.join(
            f"--set={name}={value}" for name, value in TUNE_SETTINGS[wildcards.rule][wildcards.setting].items()),
    threads: 1
    resources:
        mem_mb=config.get("mem_mb", 4000),
        runtime=config.get("runtime_min", 60),
    shell:
        "OMP_NUM_THREADS={threads} bioprop train {params.rule} {params.args} {params.point} "
        "--quiet --out {output} > {log} 2>&1"


rule tune_select:
    input:
        lambda wildcards: [RESULTS / "tune" / wildcards.dataset / label / setting / f"seed{seed}.nc"
                           for label in RULES for setting in TUNE_SETTINGS[label] for seed in SEEDS],
    output:
        table=RESULTS / "{dataset}" / "tuning.csv",
        winners=RESULTS / "{dataset}" / "tuned.yaml",
    shell:
        "python {workflow.basedir}/scripts/tune_select.py {input} --table {output.table} "
        "--winners {output.winners}"


rule tune:
    input:
        expand(RESULTS / "{dataset}" / "tuned.yaml", dataset=DATASETS),


# Benchmarks with tuned defaults report each run at its early-stopping epoch
# (peak validation accuracy), e.g. workflows/config/benchmark_rate.yaml:
#   snakemake early_stopping -s workflows/Snakefile --profile workflows/profiles/local \
#             --configfile workflows/config/benchmark_rate.yaml
rule early_stopping_table:
    input:
        expand(RESULTS / "runs" / "{{dataset}}" / "{rule}" / "seed{seed}.nc", rule=RULES, seed=SEEDS),
    output:
        RESULTS / "{dataset}" / "early_stopping.csv",
    shell:
        "python {workflow.basedir}/scripts/tune_report.py {input} --reference bp --out {output}"


rule early_stopping:
    input:
        expand(RESULTS / "{dataset}" / "early_stopping.csv", dataset=DATASETS),


# MNIST's test set split 8,000 / 2,000 as a user's own dataset (.npz), for the
# benchmark on data that is not a registered name (benchmark_rate_mnist.yaml);
# build it first: snakemake results/benchmark_rate_mnist/mnist_test_split.npz ...
rule mnist_test_split:
    input:
        images=Path(config.get("mnist_test_dir", "/work/shared/data/mnist")) / "t10k-images-idx3-ubyte.gz",
        labels=Path(config.get("mnist_test_dir", "/work/shared/data/mnist")) / "t10k-labels-idx1-ubyte.gz",
    output:
        "{prefix}/mnist_test_split.npz",
    run:
        import gzip
        import numpy as np

        images = np.frombuffer(gzip.open(input.images).read(), np.uint8, offset=16).reshape(-1, 28, 28)
        labels = np.frombuffer(gzip.open(input.labels).read(), np.uint8, offset=8).astype(np.int64)
        order = np.random.default_rng(0).permutation(len(labels))
        train, test = order[:8000], order[8000:]
        np.savez_compressed(output[0], x_train=images[train], y_train=labels[train],
                            x_test=images[test], y_test=labels[test])

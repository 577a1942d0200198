# Tuning procedure (issue 12), the same for every rule, bp included: a grid
# search over rule parameters (learning rate; optimiser where it matters) on a
# validation split held out of the training set.  The test set is never read:
# each grid point is a training run whose validation accuracy after every
# epoch is kept; the winner of a rule is the grid point with the highest peak
# validation accuracy (max over epochs = early stopping on validation), mean
# over seeds, among the points whose runs did not fault (a diverging run trains
# on under --on-fault warn, so the grid completes, and cannot win).  Runs are the checkpoints: an interrupted search resumes.
#   snakemake tune -s workflows/Snakefile --profile workflows/profiles/local \
#             --configfile workflows/config/tune_rate.yaml
rule tune_train:
    input:
        data=lambda wildcards: dataset_input(wildcards.dataset),
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
    threads: job_threads
    resources:
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "OMP_NUM_THREADS={threads} bioprop train {params.rule} {params.args} {params.point} "
        "--quiet --resume --on-fault warn --out {output} > {log} 2>&1"


rule tune_select:
    input:
        lambda wildcards: [RESULTS / "tune" / wildcards.dataset / label / setting / f"seed{seed}.nc"
                           for label in RULES for setting in TUNE_SETTINGS[label] for seed in SEEDS],
    output:
        table=RESULTS / "{dataset}" / "tuning.csv",
        winners=RESULTS / "{dataset}" / "tuned.yaml",
    log:
        RESULTS / "logs" / "{dataset}" / "tune_select.log",
    params:
        script=SCRIPTS / "tune_select.py",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "python {params.script} {input} --table {output.table} --winners {output.winners} > {log} 2>&1"


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
    log:
        RESULTS / "logs" / "{dataset}" / "early_stopping.log",
    params:
        script=SCRIPTS / "tune_report.py",
        reference=config["early_stopping_reference"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "python {params.script} {input} --reference {params.reference} --out {output} > {log} 2>&1"


rule early_stopping:
    input:
        expand(RESULTS / "{dataset}" / "early_stopping.csv", dataset=DATASETS),


# MNIST's test set split 8,000 / 2,000 as a user's own dataset (.npz), for the
# benchmark on data that is not a registered name (benchmark_rate_mnist.yaml);
# the runs that read it depend on it (their dataset's path)
rule mnist_test_split:
    input:
        images=Path(config["mnist_test_dir"]) / "t10k-images-idx3-ubyte.gz",
        labels=Path(config["mnist_test_dir"]) / "t10k-labels-idx1-ubyte.gz",
    output:
        "{prefix}/mnist_test_split.npz",
    log:
        "{prefix}/logs/mnist_test_split.log",
    conda:
        "../envs/bioprop.yaml"
    script:
        "../scripts/mnist_test_split.py"

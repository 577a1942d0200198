rule train:
    input:
        data=lambda wildcards: dataset_input(wildcards.dataset),
    output:
        result=RESULTS / "runs" / "{dataset}" / "{rule}" / "seed{seed}.nc",
    log:
        RESULTS / "logs" / "{dataset}" / "{rule}" / "seed{seed}.log",
    benchmark:
        RESULTS / "benchmarks" / "{dataset}" / "{rule}" / "seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
        rule=label_pattern("rate"),
    params:
        rule=lambda wildcards: RULE_OF[wildcards.rule],
        args=train_arguments,
    threads: job_threads
    resources:
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"],
    conda:
        "../envs/bioprop.yaml"
    # --resume: a job killed mid-run continues from its last epoch's checkpoint
    shell:
        "OMP_NUM_THREADS={threads} bioprop train {params.rule} {params.args} "
        "--resume --out {output.result} > {log} 2>&1"


# a spiking run also keeps its trained state, for its spike raster (rule spikes)
use rule train as train_spiking with:
    output:
        result=RESULTS / "runs" / "{dataset}" / "{rule}" / "seed{seed}.nc",
        state=RESULTS / "runs" / "{dataset}" / "{rule}" / "seed{seed}.state.npz",
    wildcard_constraints:
        seed=r"\d+",
        rule=label_pattern("spiking"),
    params:
        rule=lambda wildcards: RULE_OF[wildcards.rule],
        args=lambda wildcards, threads: train_arguments(wildcards, threads) + " --keep-state",

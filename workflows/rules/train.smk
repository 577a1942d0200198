rule train:
    output:
        RESULTS / "runs" / "{dataset}" / "{rule}" / "seed{seed}.nc",
    log:
        RESULTS / "logs" / "{dataset}" / "{rule}" / "seed{seed}.log",
    benchmark:
        RESULTS / "benchmarks" / "{dataset}" / "{rule}" / "seed{seed}.tsv"
    wildcard_constraints:
        seed=r"\d+",
    params:
        rule=lambda wildcards: RULE_OF[wildcards.rule],
        args=train_arguments,
    threads: 1
    resources:
        mem_mb=config.get("mem_mb", 4000),
        runtime=config.get("runtime_min", 60),
    shell:
        "OMP_NUM_THREADS={threads} bioprop train {params.rule} {params.args} "
        "--out {output} > {log} 2>&1"

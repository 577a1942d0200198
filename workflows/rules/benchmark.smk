# Speed benchmark (issue 4): NumPy backprop vs PyTorch CPU, one epoch of
# 784-500-10 on the training set, in one process per setting.
#   snakemake speed_benchmark -s workflows/Snakefile --cores 1 --configfile workflows/config/benchmark_rate.yaml
SPEED_SETTINGS = [(10, "sgd"), (32, "adam"), (100, "adam")]


rule bp_speed:
    output:
        RESULTS / "speed" / "bp_batch{batch}_{optimizer}_{dtype}.tsv",
    log:
        RESULTS / "logs" / "speed" / "bp_batch{batch}_{optimizer}_{dtype}.log",
    benchmark:
        RESULTS / "benchmarks" / "speed" / "bp_batch{batch}_{optimizer}_{dtype}.tsv"
    params:
        script=SCRIPTS / "bp_speed.py",
    threads: 1
    resources:
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python {params.script} "
        "--batch-size {wildcards.batch} --optimizer {wildcards.optimizer} --dtype {wildcards.dtype} "
        "--out {output} > {log} 2>&1"


rule speed_benchmark:
    input:
        [RESULTS / "speed" / f"bp_batch{b}_{o}_{d}.tsv" for b, o in SPEED_SETTINGS for d in ("float32", "float64")],
    output:
        RESULTS / "speed" / "bp_speed.tsv",
    log:
        RESULTS / "logs" / "speed" / "bp_speed.log",
    conda:
        "../envs/bioprop.yaml"
    script:
        "../scripts/speed_table.py"


# Speed benchmark of the spiking rules (issue 13): for every spiking run label of the
# config, on its first dataset, the measurements of scripts/spiking_speed.py, joined by
# scripts/speed_report.py with the bp/PyTorch table above.
#   snakemake benchmarks -s workflows/Snakefile --cores 1 --configfile workflows/config/benchmark_speed.yaml
rule spiking_speed:
    input:
        data=dataset_input(DATASETS[0]),
    output:
        RESULTS / "speed" / "{rule}_{measure}.nc",
    log:
        RESULTS / "logs" / "speed" / "{rule}_{measure}.log",
    benchmark:
        RESULTS / "benchmarks" / "speed" / "{rule}_{measure}.tsv"
    wildcard_constraints:
        measure="|".join(SPEED_MEASURES),
    params:
        script=SCRIPTS / "spiking_speed.py",
        args=speed_arguments,
    # two OpenMP threads, or two runs at once, need both cores to themselves
    threads: lambda wildcards: 2 if wildcards.measure in ("threads", "parallel") else 1
    resources:
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "OMP_NUM_THREADS=1 python {params.script} {params.args} --out {output} > {log} 2>&1"


rule benchmarks:
    input:
        runs=[RESULTS / "speed" / f"{label}_{measure}.nc" for label in SPEED_LABELS for measure in SPEED_MEASURES],
        bp=RESULTS / "speed" / "bp_speed.tsv",
    output:
        nc=RESULTS / "speed" / "benchmarks.nc",
        md=RESULTS / "speed" / "benchmarks.md",
    log:
        RESULTS / "logs" / "speed" / "benchmarks.log",
    conda:
        "../envs/bioprop.yaml"
    script:
        "../scripts/speed_report.py"

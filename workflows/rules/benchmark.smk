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

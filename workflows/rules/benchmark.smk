# Speed benchmark (issue 4): NumPy backprop vs PyTorch CPU, one epoch of
# 784-500-10 on the training set, in one process per setting.
#   snakemake speed_benchmark -s workflows/Snakefile --cores 1 --configfile workflows/config/benchmark_rate.yaml
SPEED_SETTINGS = [(10, "sgd"), (32, "adam"), (100, "adam")]


rule bp_speed:
    output:
        RESULTS / "speed" / "bp_batch{batch}_{optimizer}_{dtype}.tsv",
    log:
        RESULTS / "logs" / "speed" / "bp_batch{batch}_{optimizer}_{dtype}.log",
    threads: 1
    shell:
        "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 python {workflow.basedir}/scripts/bp_speed.py "
        "--batch-size {wildcards.batch} --optimizer {wildcards.optimizer} --dtype {wildcards.dtype} "
        "--out {output} > {log} 2>&1"


rule speed_benchmark:
    input:
        [RESULTS / "speed" / f"bp_batch{b}_{o}_{d}.tsv" for b, o in SPEED_SETTINGS for d in ("float32", "float64")],
    output:
        RESULTS / "speed" / "bp_speed.tsv",
    run:
        lines = [Path(f).read_text().splitlines() for f in input]
        Path(output[0]).write_text("\n".join([lines[0][0]] + [l[1] for l in lines]) + "\n")

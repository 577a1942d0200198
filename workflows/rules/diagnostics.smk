# Diagnostics behind numbers quoted in the README, as targets.
# eRBP gap study (README, "eRBP gap study"): logistic readouts of the hidden
# layer after one epoch of erbp on Fashion-MNIST (the script's defaults), as
# trained and with only the output layer learning:
#   snakemake erbp_hidden_readouts -s workflows/Snakefile --profile workflows/profiles/local \
#             --configfile workflows/config/study_erbp_gap.yaml
ERBP_READOUT_VARIANTS = {"paper-defaults": [], "hidden_feedback_scale=0": ["--set", "hidden_feedback_scale=0"]}


rule erbp_hidden_readout:
    output:
        RESULTS / "diagnostics" / "erbp_hidden_readout" / "{variant}.json",
    log:
        RESULTS / "logs" / "diagnostics" / "erbp_hidden_readout" / "{variant}.log",
    benchmark:
        RESULTS / "benchmarks" / "diagnostics" / "erbp_hidden_readout" / "{variant}.tsv"
    wildcard_constraints:
        variant="|".join(map(re.escape, ERBP_READOUT_VARIANTS)),
    params:
        script=SCRIPTS / "erbp_hidden_readout.py",
        args=lambda wildcards: shlex.join(ERBP_READOUT_VARIANTS[wildcards.variant]),
    threads: 1
    resources:
        mem_mb=config["mem_mb"],
        runtime=config["runtime_min"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "OMP_NUM_THREADS=1 python {params.script} {params.args} --out {output} > {log} 2>&1"


rule erbp_hidden_readouts:
    input:
        expand(RESULTS / "diagnostics" / "erbp_hidden_readout" / "{variant}.json", variant=ERBP_READOUT_VARIANTS),

# Runs of one dataset -> combined NetCDF -> summary, comparisons, figures; every
# figure and table is marked for the Snakemake report (captions in ../report/).
rule combine:
    input:
        expand(RESULTS / "runs" / "{{dataset}}" / "{rule}" / "seed{seed}.nc", rule=RULES, seed=SEEDS),
    output:
        RESULTS / "{dataset}" / "combined.nc",
    log:
        RESULTS / "logs" / "{dataset}" / "combine.log",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop combine {input} --out {output} > {log} 2>&1"


rule summary:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        table=report(RESULTS / "{dataset}" / "summary.csv", caption="../report/summary.rst",
                     category="Tables", subcategory="{dataset}", labels={"table": "final accuracy"}),
        comparisons=report(RESULTS / "{dataset}" / "comparisons.csv", caption="../report/comparisons.rst",
                           category="Tables", subcategory="{dataset}", labels={"table": "paired comparisons"}),
    log:
        RESULTS / "logs" / "{dataset}" / "summary.log",
    params:
        compare=compare_arguments(),
        variable=config["summary_variable"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop summary {input} --variable {params.variable} {params.compare} --out {output.table} "
        "--comparisons-out {output.comparisons} > {log} 2>&1"


rule summary_table:
    input:
        expand(RESULTS / "{dataset}" / "summary.csv", dataset=DATASETS),
    output:
        report(RESULTS / "summary_table.csv", caption="../report/summary_table.rst",
               category="Tables", labels={"table": "every rule on every dataset"}),
    log:
        RESULTS / "logs" / "summary_table.log",
    conda:
        "../envs/bioprop.yaml"
    script:
        "../scripts/summary_table.py"


rule figure_learning_curves:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        png=report(RESULTS / "{dataset}" / "learning_curves.png", caption="../report/learning_curves.rst",
                   category="Accuracy", subcategory="{dataset}", labels={"figure": "learning curves"}),
        pdf=RESULTS / "{dataset}" / "learning_curves.pdf",
    log:
        RESULTS / "logs" / "{dataset}" / "learning_curves.log",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop figure learning-curves {input} --out {output.png} --out {output.pdf} > {log} 2>&1"


rule figure_alignment:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        png=report(RESULTS / "{dataset}" / "alignment.png", caption="../report/alignment.rst",
                   category="Alignment to backprop", subcategory="{dataset}", labels={"figure": "update angle"}),
        pdf=RESULTS / "{dataset}" / "alignment.pdf",
    log:
        RESULTS / "logs" / "{dataset}" / "alignment.log",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop figure alignment {input} --out {output.png} --out {output.pdf} > {log} 2>&1"


rule figure_firing_rates:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        png=report(RESULTS / "{dataset}" / "firing_rates.png", caption="../report/firing_rates.rst",
                   category="Spiking activity", subcategory="{dataset}", labels={"figure": "firing rates"}),
        pdf=RESULTS / "{dataset}" / "firing_rates.pdf",
    log:
        RESULTS / "logs" / "{dataset}" / "firing_rates.log",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop figure firing-rates {input} --out {output.png} --out {output.pdf} > {log} 2>&1"


rule figure_robustness:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        png=report(RESULTS / "{dataset}" / "robustness.png", caption="../report/robustness.rst",
                   category="Robustness", subcategory="{dataset}", labels={"figure": "quantization and pruning"}),
        pdf=RESULTS / "{dataset}" / "robustness.pdf",
    log:
        RESULTS / "logs" / "{dataset}" / "robustness.log",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop figure robustness {input} --out {output.png} --out {output.pdf} > {log} 2>&1"


rule figure_sweeps:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        png=report(RESULTS / "{dataset}" / "sweeps.png", caption="../report/sweeps.rst",
                   category="Parameter studies", subcategory="{dataset}", labels={"figure": "sweeps"}),
        pdf=RESULTS / "{dataset}" / "sweeps.pdf",
    log:
        RESULTS / "logs" / "{dataset}" / "sweeps.log",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop figure sweeps {input} --out {output.png} --out {output.pdf} > {log} 2>&1"


rule figure_sparsity:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        png=report(RESULTS / "{dataset}" / "sparsity.png", caption="../report/sparsity.rst",
                   category="Spiking activity", subcategory="{dataset}", labels={"figure": "sparsity"}),
        pdf=RESULTS / "{dataset}" / "sparsity.pdf",
    log:
        RESULTS / "logs" / "{dataset}" / "sparsity.log",
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop figure sparsity {input} --out {output.png} --out {output.pdf} > {log} 2>&1"


rule spikes:
    input:
        result=RESULTS / "runs" / "{dataset}" / "{rule}" / "seed{seed}.nc",
        state=RESULTS / "runs" / "{dataset}" / "{rule}" / "seed{seed}.state.npz",
    output:
        nc=RESULTS / "{dataset}" / "spikes" / "{rule}_seed{seed}.nc",
        png=report(RESULTS / "{dataset}" / "spikes" / "{rule}_seed{seed}.png", caption="../report/spikes.rst",
                   category="Spiking activity", subcategory="{dataset}",
                   labels={"figure": "spike raster", "rule": "{rule}"}),
        pdf=RESULTS / "{dataset}" / "spikes" / "{rule}_seed{seed}.pdf",
    log:
        RESULTS / "logs" / "{dataset}" / "spikes" / "{rule}_seed{seed}.log",
    wildcard_constraints:
        seed=r"\d+",
    params:
        samples=",".join(map(str, config["spikes"]["samples"])),
        repeats=config["spikes"]["repeats"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop spikes {input.result} --samples {params.samples} --repeats {params.repeats} "
        "--out {output.nc} --figure {output.png} --figure {output.pdf} > {log} 2>&1"

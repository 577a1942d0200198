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
        last=config["summary_last_epochs"],
    conda:
        "../envs/bioprop.yaml"
    shell:
        "bioprop summary {input} --variable {params.variable} --last-epochs {params.last} "
        "{params.compare} --out {output.table} "
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


# One figure rule per kind (`bioprop figure KIND`), each with its own caption in
# ../report/ and its place in the report; the loop variable is frozen in params.
FIGURE_REPORT = {
    "learning-curves": ("Accuracy", "learning curves"),
    "alignment": ("Alignment to backprop", "update angle"),
    "silent-units": ("Alignment to backprop", "silent units"),
    "firing-rates": ("Spiking activity", "firing rates"),
    "robustness": ("Robustness", "quantization and pruning"),
    "sweeps": ("Parameter studies", "sweeps"),
    "sparsity": ("Spiking activity", "sparsity"),
}

for kind, (category, label) in FIGURE_REPORT.items():
    stem = kind.replace("-", "_")

    rule:
        name:
            f"figure_{stem}"
        input:
            RESULTS / "{dataset}" / "combined.nc",
        output:
            png=report(RESULTS / "{dataset}" / f"{stem}.png", caption=f"../report/{stem}.rst",
                       category=category, subcategory="{dataset}", labels={"figure": label}),
            pdf=RESULTS / "{dataset}" / f"{stem}.pdf",
        log:
            RESULTS / "logs" / "{dataset}" / f"{stem}.log",
        params:
            kind=kind,
        conda:
            "../envs/bioprop.yaml"
        shell:
            "bioprop figure {params.kind} {input} --out {output.png} --out {output.pdf} > {log} 2>&1"


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

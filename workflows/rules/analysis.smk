def _compare_arguments():
    pairs = [f"--compare {a},{b}" for a, b in config.get("compare", [])]
    margin = config.get("equivalence_margin")
    return " ".join(pairs) + (f" --margin {margin}" if pairs and margin is not None else "")


rule combine:
    input:
        expand(RESULTS / "runs" / "{{dataset}}" / "{rule}" / "seed{seed}.nc", rule=RULES, seed=SEEDS),
    output:
        RESULTS / "{dataset}" / "combined.nc",
    shell:
        "bioprop combine {input} --out {output}"


rule summary:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        table=RESULTS / "{dataset}" / "summary.csv",
        comparisons=RESULTS / "{dataset}" / "comparisons.csv",
    params:
        compare=_compare_arguments(),
        variable=config.get("summary_variable", "test_accuracy"),
    shell:
        "bioprop summary {input} --variable {params.variable} {params.compare} --out {output.table} "
        "--comparisons-out {output.comparisons}"


rule learning_curves:
    input:
        RESULTS / "{dataset}" / "combined.nc",
    output:
        RESULTS / "{dataset}" / "learning_curves.png",
    shell:
        "bioprop figure learning-curves {input} --out {output}"

"""Every rule on every dataset in one table (rule summary_table): one row per run
label, one column per dataset, each cell the mean over seeds of each run's
summary value (final epoch, or mean of its last K) with its t-interval, from
the per-dataset summary.csv files of `bioprop summary`."""
import pandas as pd

from bioprop.models.files import atomic_output

summaries = pd.concat([pd.read_csv(path) for path in snakemake.input])  # noqa: F821 (set by script:)
summaries["cell"] = [f"{m:.3f} [{lo:.3f}, {hi:.3f}] (n={n:.0f})"
                     for m, lo, hi, n in zip(summaries["mean"], summaries.ci_low, summaries.ci_high, summaries.n)]
table = summaries.pivot(index="rule", columns="dataset", values="cell")
table.columns = [f"{dataset}: {summaries['variable'].iloc[0]} mean [95% CI]" for dataset in table.columns]
with atomic_output(snakemake.output[0]) as tmp:  # noqa: F821
    table.to_csv(tmp)

"""Join the per-setting speed TSVs of bp_speed.py into one table (rule speed_benchmark):
the header of the first file, then the data row of each."""
from pathlib import Path

rows = [Path(f).read_text().splitlines() for f in snakemake.input]  # noqa: F821 (set by script:)
Path(snakemake.output[0]).write_text("\n".join([rows[0][0]] + [r[1] for r in rows]) + "\n")  # noqa: F821

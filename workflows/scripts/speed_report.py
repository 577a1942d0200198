"""The speed table of rule ``benchmarks`` (issue 13): one row per spiking rule from the
measurements of spiking_speed.py, as NetCDF and markdown, with the machine, the
versions and the ratios; the rate rules' NumPy vs PyTorch table (bp_speed.py) below.

Ratios: ``speed-up`` = mt19937 / xoshiro marginal time (the device's two random
generators, same build otherwise); ``x real time`` = simulated slot / wall time per
sample; ``total / event code`` = the profiled time per sample over the part spent in
synaptic event code (1 = event-bound); ``runtime / standalone``; ``2 threads`` = one
thread's time over two OpenMP threads'; ``parallel`` = throughput of two independent
runs at once over one run alone (2 = perfect).  ``epoch`` = 60,000 samples at the
marginal time, against ``compile`` (one compilation per architecture).
"""

from pathlib import Path

import numpy as np
import xarray as xr

from bioprop.models.files import atomic_output

COLUMNS = [
    ("ms_per_sample_xoshiro", "ms/sample", "{:.2f}"),
    ("ms_per_sample_mt19937", "ms/sample (mt19937)", "{:.2f}"),
    ("speedup_random", "speed-up", "{:.2f}"),
    ("synops_per_sample", "events/sample", "{:.3g}"),
    ("events_per_second", "events/s", "{:.3g}"),
    ("real_time_factor", "x real time", "{:.1f}"),
    ("event_code_ms", "event code ms/sample", "{:.2f}"),
    ("total_over_event_code", "total / event code", "{:.2f}"),
    ("compile_s", "compile s", "{:.1f}"),
    ("epoch_s", "epoch s", "{:.0f}"),
    ("runtime_ms_per_sample", "runtime ms/sample", "{:.1f}"),
    ("runtime_over_standalone", "runtime / standalone", "{:.1f}"),
    ("threads2_speedup", "2 threads", "{:.2f}"),
    ("parallel_throughput", "parallel", "{:.2f}"),
]


def row(files: dict[str, xr.Dataset]) -> dict[str, float]:
    s, r, t, p = (files.get(m) for m in ("standalone", "runtime", "threads", "parallel"))
    fast = float(s["ms_per_sample_xoshiro"])
    prof = s["profile_ms_per_sample"].sel(generator="xoshiro")
    event = prof.where(s["event_code"], 0).sum().item()
    total = prof.sum().item()
    out = {
        "ms_per_sample_xoshiro": fast,
        "ms_per_sample_mt19937": float(s["ms_per_sample_mt19937"]),
        "speedup_random": float(s["ms_per_sample_mt19937"]) / fast,
        "synops_per_sample": float(s["synops_per_sample_xoshiro"]),
        "events_per_second": 1e3 * float(s["synops_per_sample_xoshiro"]) / fast,
        "real_time_factor": float(s["slot_ms_xoshiro"]) / fast,
        "event_code_ms": event,
        "total_over_event_code": total / event if event else np.nan,
        "compile_s": float(s["compile_s_xoshiro"]),
        "epoch_s": 60_000 * fast / 1e3,
        "runtime_ms_per_sample": float(r["ms_per_sample"]) if r is not None else np.nan,
        "threads2_speedup": fast / float(t["ms_per_sample"]) if t is not None else np.nan,
        "parallel_throughput": float(p["throughput_ratio"]) if p is not None else np.nan,
    }
    out["runtime_over_standalone"] = out["runtime_ms_per_sample"] / fast
    return out


def markdown(table: xr.Dataset, profiles: dict, bp_table: str) -> str:
    attrs = table.attrs
    header = ["rule"] + [title for _, title, _ in COLUMNS]
    lines = [f"Spiking rules on {attrs['dataset']} (machine: {attrs['machine']}; Python "
             f"{attrs['python']}, Brian2 {attrs['brian2_version']}, NumPy {attrs['numpy_version']}, "
             f"bioprop {attrs['bioprop_version']}); marginal wall time per training sample "
             f"from two chunk sizes, median of repeats.", "",
             "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for label in table["rule"].values:
        cells = [f"`{label}` ({table['hidden'].sel(rule=label).item()} hidden, samples "
                 f"{table['samples'].sel(rule=label).item()})"]
        for key, _, fmt in COLUMNS:
            value = float(table[key].sel(rule=label))
            cells.append("" if np.isnan(value) else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Where the time goes (profiled run, ms per sample per code object, with each "
              "random generator):", ""]
    for (label, generator), prof in profiles.items():
        lines.append(f"* `{label}`, {generator}: " + ", ".join(f"{name} {ms:.2f}" for name, ms in prof))
    if bp_table:
        lines += ["", "Rate rule `bp` (NumPy) against PyTorch CPU, one epoch (bp_speed.py):", "",
                  bp_table]
    return "\n".join(lines) + "\n"


def bp_markdown(path: str) -> str:
    rows = [line.split("\t") for line in Path(path).read_text().splitlines() if line.strip()]
    if not rows:
        return ""
    return "\n".join(["| " + " | ".join(r) + " |" for r in rows[:1]] + ["|" + " --- |" * len(rows[0])]
                     + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def main(inputs: list[str], bp_tsv: str | None, out_nc: str, out_md: str) -> None:
    by_rule: dict[str, dict[str, xr.Dataset]] = {}
    for path in inputs:
        ds = xr.load_dataset(path)
        by_rule.setdefault(ds.attrs["label"], {})[ds.attrs["measure"]] = ds
    labels = sorted(by_rule)
    rows = [row(by_rule[label]) for label in labels]
    table = xr.Dataset({key: ("rule", [r[key] for r in rows]) for key, _, _ in COLUMNS},
                       coords={"rule": labels})
    for key in ("hidden", "samples"):
        table[key] = ("rule", [by_rule[label]["standalone"].attrs[key] for label in labels])
    first = by_rule[labels[0]]["standalone"].attrs
    table.attrs.update({k: first[k] for k in ("dataset", "machine", "python", "bioprop_version",
                                              "brian2_version", "numpy_version")})
    profiles = {}
    for label in labels:
        prof = by_rule[label]["standalone"]["profile_ms_per_sample"]
        for generator in prof["generator"].values:
            row_ = prof.sel(generator=generator)
            profiles[label, str(generator)] = [(str(n), float(v)) for n, v in
                                              zip(row_["codeobject"].values, row_.values)]
    text = markdown(table, profiles, bp_markdown(bp_tsv) if bp_tsv else "")
    with atomic_output(out_nc) as tmp:
        table.to_netcdf(tmp)
    with atomic_output(out_md) as tmp:
        tmp.write_text(text)


if __name__ == "__main__":
    import sys
    smk = snakemake  # noqa: F821 (set by Snakemake's script:)
    with open(smk.log[0], "w") as log:
        sys.stderr = log
        main(list(smk.input.runs), smk.input.bp, smk.output.nc, smk.output.md)

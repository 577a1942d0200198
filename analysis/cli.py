"""The ``bioprop`` command: the model commands of :mod:`bioprop.models.cli` plus the
analyses of combined results (combine, summary, figure) and of a trained network's
spikes (spikes)."""
from __future__ import annotations

import argparse
import sys

from bioprop.models import cli as model_cli
from bioprop.models import schema
from bioprop.models.errors import ParameterError
from bioprop.models.files import atomic_output

from . import figures, statistics
from .results import combine_runs


def cmd_combine(args) -> int:
    # lazily: each run is read from disk while the combined file is written
    with combine_runs(args.runs, lazy=True) as combined:
        schema.write_combined(combined, args.out, overwrite=args.overwrite)
    print(f"combined {len(args.runs)} runs ({', '.join(map(str, combined.rule.values))}) into {args.out}")
    return 0


def cmd_summary(args) -> int:
    import csv

    combined = schema.read_combined(args.combined)
    table = statistics.summary(combined, args.variable, confidence=args.confidence,
                               last=args.last_epochs).to_dataframe().reset_index()
    table["variable"] = args.variable       # the CSV says which accuracy it summarises
    table["last_epochs"] = args.last_epochs
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    pairs = [pair.partition(",")[::2] for pair in args.compare or []]
    rows = [{**res, "variable": args.variable, "last_epochs": args.last_epochs}
            for res in statistics.comparisons(combined, pairs, variable=args.variable, margin=args.margin,
                                              confidence=args.confidence, last=args.last_epochs)]
    for res in rows:
        line = (f"{res['rule_a']} - {res['rule_b']} on {res['dataset']}: {res['mean_difference']:+.4f} "
                f"[{res['ci_low']:+.4f}, {res['ci_high']:+.4f}] (bootstrap "
                f"[{res['bootstrap_low']:+.4f}, {res['bootstrap_high']:+.4f}]), d_z {res['effect_size_dz']:+.2f}, "
                f"paired t p={res['p_value']:.3g} (Holm {res['p_holm']:.3g})")
        if args.margin is not None:
            line += f", equivalence within {args.margin:g}: p={res['p_equivalence']:.3g}"
        print(line)
    if args.out:
        with atomic_output(args.out, overwrite=args.overwrite) as tmp:
            table.to_csv(tmp, index=False)
    if args.comparisons_out:
        with atomic_output(args.comparisons_out, overwrite=args.overwrite) as tmp, open(tmp, "w", newline="") as fh:
            fields = ["rule_a", "rule_b", "dataset", "n_seeds", "mean_difference", "ci_low", "ci_high",
                      "bootstrap_low", "bootstrap_high",
                      "effect_size_dz", "p_value", "p_holm", "margin", "p_equivalence", "p_equivalence_holm",
                      "variable", "last_epochs"]
            writer = csv.DictWriter(fh, fieldnames=fields, restval="")
            writer.writeheader()
            writer.writerows(rows)
    return 0


#: kind -> figure function (the workflow's figure rules name these kinds)
FIGURES = {"learning-curves": figures.learning_curves, "alignment": figures.alignment_curves,
           "silent-units": figures.silent_units,
           "firing-rates": figures.firing_rates, "robustness": figures.robustness,
           "sweeps": figures.sweeps, "sparsity": figures.sparsity}


def cmd_figure(args) -> int:
    combined = schema.read_combined(args.combined)
    draw = FIGURES[args.kind]
    try:
        fig = draw(combined)
    except KeyError as err:
        raise ParameterError(str(err).strip("'\"")) from None
    figures.save_figure(fig, *args.out, overwrite=args.overwrite)
    print(f"wrote {', '.join(args.out)}")
    return 0


def cmd_spikes(args) -> int:
    from bioprop.models.files import check_output
    from . import spikes
    if not args.out.endswith(".nc"):
        raise ParameterError(f"--out must name a NetCDF file ending in .nc; got {args.out!r}")
    outs = [args.out, *(args.figure or [])]
    for path in outs:
        check_output(path, overwrite=args.overwrite)     # before the run, not after
    recording = spikes.record(args.result, args.samples, args.repeats, data_dir=args.data_dir,
                              seed=args.seed)
    cv = spikes.isi_cv(recording)
    recording["isi_cv"], recording["isi_cv_n"] = cv.cv, cv.n.rename("isi_cv_n")
    if args.repeats > 1:
        fano = spikes.fano_factor(recording)
        recording["fano_factor"], recording["fano_factor_n"] = fano.fano, fano.n
    with atomic_output(args.out, overwrite=args.overwrite) as tmp:
        recording.to_netcdf(tmp, engine=schema.ENGINE)
    if args.figure:
        figures.save_figure(figures.spike_raster(recording), *args.figure, overwrite=args.overwrite)
    rates = recording.spike_population.to_series().value_counts()
    seconds = recording.sizes["shown"] * recording.attrs["duration_s"]
    for name, a, b in spikes._populations(recording):
        line = (f"{name}: {rates.get(name, 0) / ((b - a) * seconds):.1f} Hz per neuron, ISI CV "
                f"{float(recording.isi_cv.sel(population=name)):.2f}")
        if "fano_factor" in recording:
            line += f", Fano factor {float(recording.fano_factor.sel(population=name)):.2f}"
        print(line)
    print(f"wrote {', '.join(map(str, outs))}")
    return 0


def _samples(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise argparse.ArgumentTypeError(f"expected test sample indices, e.g. 0,1,2; got {text!r}")
    return values


def build_parser():
    parser, sub = model_cli.build_parser()
    combine = sub.add_parser("combine", help="combine result files along rule, dataset and seed",
                             description="Combine result files into one NetCDF along rule, dataset and seed.")
    combine.add_argument("runs", nargs="+", help="result files written by `bioprop train`")
    combine.add_argument("--out", required=True, help="combined file to write (.nc)")
    combine.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    combine.set_defaults(func=cmd_combine)

    summary = sub.add_parser("summary", help="final accuracy over seeds, with paired comparisons",
                             description="Mean, s.d. and t-interval over seeds of a variable at the final "
                                         "epoch; paired t-tests and equivalence tests between rules.")
    summary.add_argument("combined", help="file written by `bioprop combine`")
    summary.add_argument("--variable", default="test_accuracy", help="per-epoch variable (default test_accuracy)")
    summary.add_argument("--confidence", type=float, default=0.95, help="confidence level of intervals")
    summary.add_argument("--last-epochs", type=model_cli._positive_int, default=1, metavar="K",
                         help="summarise each run by the mean of its last K epochs (default 1: the "
                              "final epoch; the eRBP paper reports the mean of the last 5)")
    summary.add_argument("--compare", action="append", metavar="RULE_A,RULE_B",
                         help="paired comparison of two rules by seed (repeatable)")
    summary.add_argument("--margin", type=float,
                         help="equivalence margin for --compare, in the variable's units (e.g. 0.01 = 1 point)")
    summary.add_argument("--out", help="write the summary table as CSV")
    summary.add_argument("--comparisons-out", help="write the comparisons as CSV")
    summary.add_argument("--overwrite", action="store_true", help="replace existing output files")
    summary.set_defaults(func=cmd_summary)

    figure = sub.add_parser("figure", help="draw a figure from combined results",
                            description="Draw learning curves, alignment-to-backprop curves, firing rates, parameter sweeps "
                                        "of spiking rules, or robustness to quantization and pruning.")
    figure.add_argument("kind", choices=tuple(FIGURES), help="which figure")
    figure.add_argument("combined", help="file written by `bioprop combine`")
    figure.add_argument("--out", required=True, action="append",
                        help="image file to write (.png, .pdf, .svg); repeat for several formats")
    figure.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    figure.set_defaults(func=cmd_figure)

    spk = sub.add_parser("spikes", help="spike raster, rates, ISI CV and Fano factor of a trained network",
                         description="Re-run a spiking result's trained network (its OUT.state.npz, kept "
                                     "by `bioprop train --keep-state`) on chosen test samples with a "
                                     "spike monitor on; write the spikes with ISI CV and Fano factor by "
                                     "population (NetCDF) and a raster with population rates.")
    spk.add_argument("result", help="result file of a spiking rule trained with --keep-state (.nc)")
    spk.add_argument("--samples", type=_samples, default=[0, 1, 2],
                     help="indices into the result's test subset (default 0,1,2)")
    spk.add_argument("--repeats", type=model_cli._positive_int, default=1,
                     help="presentations of each sample, with fresh noise (>= 2 for the Fano factor)")
    spk.add_argument("--seed", type=model_cli._seed, default=0, help="seed of the recording's noise")
    spk.add_argument("--data-dir", help="directory holding the dataset's files")
    spk.add_argument("--out", required=True, help="spike file to write (.nc)")
    spk.add_argument("--figure", action="append", help="raster image to write (.png, .pdf); repeatable")
    spk.add_argument("--overwrite", action="store_true", help="replace existing output files")
    spk.set_defaults(func=cmd_spikes)
    return parser


def main(argv=None) -> int:
    return model_cli.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

"""One speed measurement of a spiking rule's training presentation (issue 13; rule
spiking_speed in workflows/rules/benchmark.smk), written as a small NetCDF.

Every time is a *marginal* wall time per training sample: the binary's run time for
two chunk sizes (``--samples short,long``, one run of one chunk each, median over
``--repeats``), their difference divided by the difference in samples, so that
process start-up, loading the run_args and compilation cancel.  Measures:

* ``standalone``: cpp_standalone, one thread, with each random generator of the device
  (``xoshiro``, the default, and Brian2's ``mt19937``); build and compile seconds; and a
  profile (one more build with Brian2's profiling) of the long run: seconds per code
  object (with each generator), of which the synaptic event code (``syn*`` pre/post/learn code and their
  spike-queue pushes) is the event-bound part.
* ``runtime``: Brian2's runtime device (Cython code generation), same model and samples.
* ``threads``: cpp_standalone with two OpenMP threads.
* ``parallel``: two builds of the same network run at the same time (one per core)
  against one alone: the throughput ratio of the pair.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import platform

import numpy as np
import xarray as xr

from brian2 import ms

from bioprop.models import schema
from bioprop.models.datasets import load_dataset
from bioprop.models.device import DeviceConfig
from bioprop.models.files import atomic_output
from bioprop.models.params import parse_assignments
from bioprop.models.rules import get_rule

MEASURES = ("standalone", "runtime", "threads", "parallel")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rule", required=True)
    ap.add_argument("--label", required=True)
    ap.add_argument("--measure", required=True, choices=MEASURES)
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--data-dir")
    ap.add_argument("--hidden", required=True, help="hidden layer sizes, e.g. 200")
    ap.add_argument("--samples", required=True, help="the two chunk sizes, e.g. 50,250")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    args.samples = tuple(int(s) for s in args.samples.split(","))
    if len(args.samples) != 2 or not 0 < args.samples[0] < args.samples[1]:
        ap.error(f"--samples: two increasing chunk sizes, e.g. 50,250; got {args.samples}")
    if args.repeats < 1:
        ap.error("--repeats: an integer >= 1")
    args.hidden = tuple(int(h) for h in args.hidden.split(","))
    return args


class Bench:
    """Builds of one rule for chunks of ``k`` samples, timed on the first ``k`` samples."""

    def __init__(self, args):
        self.args = args
        self.cls = get_rule(args.rule)
        self.data = load_dataset(args.dataset, data_dir=args.data_dir, n_train=args.samples[1],
                                 n_test=1, seed=0)
        self.overrides = parse_assignments(args.set)

    def rule(self, k, device):
        params = self.cls.parameters.resolve({**self.overrides, "chunk_slots": k}, rule=self.args.rule)
        rule = self.cls(n_inputs=self.data.x_train.shape[1], n_classes=self.data.n_classes,
                        hidden=self.args.hidden, params=params, seed=0, device=device)
        rule._build(k)
        return rule

    def run_once(self, rule, k):
        """Seconds of the binary (or runtime run) for one chunk of k training samples."""
        shown = rule.present(self.data.x_train[:k], self.data.y_train[:k], learning=True)
        return rule._builds[k].last_run_seconds, shown

    def marginal(self, device) -> dict:
        """Marginal ms per sample, run seconds, build and compile seconds, events per sample."""
        out, runs = {}, {}
        for k in self.args.samples:
            rule = self.rule(k, device)
            compiled = rule._builds[k]
            times = []
            for _ in range(self.args.repeats):
                seconds, shown = self.run_once(rule, k)
                times.append(seconds)
            runs[k] = float(np.median(times))
            out["build_s"], out["compile_s"] = compiled.build_seconds, compiled.compile_seconds
            out["synops_per_sample"] = rule._records(shown)[0]
            out["slot_ms"] = float(rule.schedule.slot_duration(rule._dt()) / ms)
            rule.close()
        (k0, k1) = self.args.samples
        out["ms_per_sample"] = 1e3 * (runs[k1] - runs[k0]) / (k1 - k0)
        out["run_s_long"] = runs[k1]
        return out

    def profile(self, generator) -> dict[str, float]:
        k = self.args.samples[1]
        rule = self.rule(k, DeviceConfig(profile=True, random=generator))
        self.run_once(rule, k)
        info = rule._builds[k].profile()
        rule.close()
        return {name: 1e3 * seconds / k for name, seconds in info.items()}

    def parallel(self) -> dict:
        """Median wall seconds of one long run alone and of two runs at the same time, each
        in its own process (Brian2's standalone run changes the working directory, so two
        runs cannot share a process)."""
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(2)
        with ctx.Pool(2, initializer=_keep_barrier, initargs=(barrier,)) as pool:
            times = pool.map(_parallel_worker, [(self.args, 0), (self.args, 1)])
        one = float(np.median(times[0]["alone"]))
        two = float(np.median(np.maximum(times[0]["pair"], times[1]["pair"])))
        return {"alone_s": one, "pair_s": two, "throughput_ratio": 2 * one / two}


_BARRIER = None


def _keep_barrier(barrier):
    global _BARRIER
    _BARRIER = barrier


def _parallel_worker(job) -> dict[str, list[float]]:
    """Build; worker 0 runs alone while worker 1 waits; then both run together."""
    args, worker = job
    bench = Bench(args)
    k = args.samples[1]
    rule = bench.rule(k, DeviceConfig())
    out = {"alone": [], "pair": []}
    _BARRIER.wait()
    if worker == 0:
        out["alone"] = [bench.run_once(rule, k)[0] for _ in range(args.repeats)]
    _BARRIER.wait()
    for _ in range(args.repeats):
        _BARRIER.wait()
        out["pair"].append(bench.run_once(rule, k)[0])
    rule.close()
    return out


def machine() -> str:
    """The CPU model and the number of cores."""
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")),
                         platform.machine())
    except OSError:
        model = platform.processor() or platform.machine()
    return f"{model}, {os.cpu_count()} cores"


def is_event_code(name: str) -> bool:
    """Synaptic event code objects: a Synapses pathway's code and its spike-queue push."""
    return name.startswith("syn") and any(p in name for p in ("_pre", "_post", "_learn"))


def measure(args) -> xr.Dataset:
    bench = Bench(args)
    attrs = {"rule": args.rule, "label": args.label, "measure": args.measure,
             "dataset": args.dataset, "hidden": ",".join(map(str, args.hidden)),
             "samples": ",".join(map(str, args.samples)), "repeats": args.repeats,
             "parameters": " ".join(args.set), "machine": machine(),
             "python": platform.python_version(), **schema.package_versions()}
    data = {}
    if args.measure == "standalone":
        generators = ("xoshiro", "mt19937")
        for generator in generators:
            for key, value in bench.marginal(DeviceConfig(random=generator)).items():
                data[f"{key}_{generator}"] = value
        profiles = [bench.profile(generator) for generator in generators]
        names = list(profiles[0])   # (the same code objects; largest first with xoshiro)
        ds = xr.Dataset({"profile_ms_per_sample": (("generator", "codeobject"),
                                                   [[prof.get(n, 0.0) for n in names] for prof in profiles]),
                         "event_code": ("codeobject", [is_event_code(n) for n in names])},
                        coords={"generator": list(generators), "codeobject": names})
    else:
        if args.measure == "runtime":
            data = bench.marginal(DeviceConfig(kind="runtime"))
        elif args.measure == "threads":
            data = bench.marginal(DeviceConfig(threads=2, make_jobs=2))
        else:
            data = bench.parallel()
        ds = xr.Dataset()
    for key, value in data.items():
        ds[key] = float("nan") if value is None else float(value)
    ds.attrs.update(attrs)
    return ds


def main(argv=None):
    args = parse_args(argv)
    ds = measure(args)
    with atomic_output(args.out) as tmp:
        ds.to_netcdf(tmp)


if __name__ == "__main__":
    main()

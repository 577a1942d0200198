# The config, checked before any job starts: first against the JSON schema
# (which also fills in its defaults), then every rule name, parameter, unit and
# range against bioprop's registry.  Helpers of the rule files live here too.
import itertools
import re
import shlex
import sys
from pathlib import Path

import jsonschema
import yaml
from snakemake.utils import validate

from bioprop.models.device import DeviceConfig, option_name
from bioprop.models.errors import BiopropError
from bioprop.models.rules import get_rule

SCHEMA = Path(workflow.basedir) / "schemas" / "config.schema.yaml"
SCRIPTS = Path(workflow.basedir) / "scripts"


def config_error(message):
    """Stop on a bad config with one line on stderr and exit status 2, as the
    ``bioprop`` command does for bad input (a WorkflowError would exit 1 and print
    where in this file it was raised)."""
    print(f"bioprop: {message}", file=sys.stderr)
    sys.exit(2)


def schema_problem(config, schema_path):
    """The first schema violation as one line naming the key and what it accepts, or
    None (Snakemake's own validate prints the whole sub-schema)."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is None:
        return None
    where = ".".join(map(str, error.absolute_path)) or "(top level)"
    accepts = error.schema.get("description") if isinstance(error.schema, dict) else None
    return f"config {where}: {error.message} ({accepts})" if accepts else f"config {where}: {error.message}"


_problem = schema_problem(config, SCHEMA)
if _problem:
    config_error(_problem)
validate(config, str(SCHEMA))  # passes (checked above); sets the schema's defaults


def hidden_sizes(value):
    """Hidden layer sizes from a sweep value (``200`` or ``"200,200"``), or None."""
    try:
        sizes = [int(part) for part in str(value).split(",")]
    except ValueError:
        return None
    return sizes if sizes and min(sizes) >= 1 and not isinstance(value, (bool, float)) else None


def expand_sweeps(rules):
    """The config's run labels with every ``sweep:`` expanded: a label with sweep
    {name: [a, b]} becomes the labels LABEL+name=a and LABEL+name=b, each running
    the label's registered learning rule with that value set (for several names, the
    product of their lists).  The name ``hidden`` sweeps the hidden layer sizes
    (``200`` or ``"200,200"``; label LABEL+hidden=200-200).  Returns the labels and
    the problems found (one line each)."""
    expanded, problems = {}, []
    for label, settings in rules.items():
        sweep = (settings or {}).get("sweep")
        if not sweep:
            expanded[label] = settings
            continue
        names = sorted(sweep)
        for values in itertools.product(*(sweep[name] for name in names)):
            point = dict(zip(names, values))
            # a label holds no spaces or unit operators: "5 ms" -> 5ms, "200,200" -> 200-200
            suffix = "+".join(f"{name}={re.sub(r'[^A-Za-z0-9._-]', '', str(value).replace(',', '-'))}"
                              for name, value in point.items())
            entry = {**{k: v for k, v in settings.items() if k != "sweep"},
                     "rule": settings.get("rule", label)}
            if "hidden" in point:
                entry["hidden"] = hidden_sizes(point.pop("hidden"))
                if entry["hidden"] is None:
                    problems.append(f"config rules.{label}.sweep.hidden: {values[names.index('hidden')]!r} "
                                    "is not a hidden layer size (a positive integer, or sizes input side "
                                    "first as a string, e.g. '200,200')")
            entry["set"] = {**(settings.get("set") or {}), **point}
            expanded[f"{label}+{suffix}"] = entry
    return expanded, problems


config["rules"], _problems = expand_sweeps(config["rules"])
if _problems:
    config_error(_problems[0])

RESULTS = Path(config["results"])
DATASETS = list(config["datasets"])
RULES = list(config["rules"])   # run labels: rule names or named variants
SEEDS = [int(s) for s in config["seeds"]]
#: label -> registered rule
RULE_OF = {label: (settings or {}).get("rule", label) for label, settings in config["rules"].items()}



def device_settings(rule_config):
    """A rule's ``device:`` (a kind or a mapping of settings) as a settings mapping."""
    device = (rule_config or {}).get("device", {})
    return {"kind": device} if isinstance(device, str) else dict(device)


for _label, _rule_config in config["rules"].items():
    _rule = RULE_OF[_label]
    try:
        get_rule(_rule).parameters.resolve((_rule_config or {}).get("set", {}), rule=_rule)
        DeviceConfig.from_settings(device_settings(_rule_config))
    except BiopropError as err:
        config_error(f"config rules.{_label}: {err}")

for _a, _b in config["compare"]:
    _absent = [label for label in (_a, _b) if label not in RULES]
    if _absent:
        config_error(f"config compare [{_a}, {_b}]: {', '.join(_absent)} not among rules ({', '.join(RULES)})")
if config["compare"] and len(SEEDS) < 2:
    config_error("config compare: paired comparisons need at least two seeds; "
                        f"seeds is {SEEDS}")
if config["summary_variable"] == "validation_accuracy":
    _no_val = [name for name, data in config["datasets"].items() if not (data or {}).get("n_val")]
    if _no_val:
        config_error(f"config summary_variable validation_accuracy needs n_val for datasets {', '.join(_no_val)}")


def job_threads(wildcards):
    """Cores of one training job: a spiking rule's device ``threads`` (OpenMP threads
    of its standalone binary), else 1 (one BLAS thread per job is fastest)."""
    return int(device_settings(config["rules"][wildcards.rule]).get("threads", 1))


def dataset_input(dataset):
    """A dataset's file or IDX directory as a job input, so that a workflow builds a
    dataset it makes itself (rule mnist_test_split) before the runs that read it; a
    registered name (no ``path``) is fetched by the loader."""
    path = (config["datasets"][dataset] or {}).get("path")
    return [path] if path else []


def train_arguments(wildcards, threads):
    """Command-line arguments of `bioprop train` for one run, from the config; a
    spiking build compiles with as many make jobs as the job has cores."""
    data = config["datasets"][wildcards.dataset] or {}
    rule_config = config["rules"][wildcards.rule] or {}
    args = ["--dataset", data.get("path", wildcards.dataset),
            "--epochs", rule_config.get("epochs", config["epochs"]),
            "--hidden", ",".join(map(str, rule_config.get("hidden", config["hidden"]))),
            "--seed", wildcards.seed, "--label", wildcards.rule]
    patience = rule_config.get("patience", config.get("patience"))
    if patience is not None:
        args += ["--patience", patience]
    for key in ("n_train", "n_test", "n_val", "data_dir"):
        if data.get(key) is not None:
            args += [f"--{key.replace('_', '-')}", data[key]]
    device = device_settings(rule_config)
    if get_rule(RULE_OF[wildcards.rule]).family == "spiking":
        device.setdefault("make_jobs", threads)
    for name, value in device.items():
        args += [option_name(name), value]
    for name, value in (rule_config.get("set") or {}).items():
        args += ["--set", f"{name}={value}"]
    return shlex.join(map(str, args))


def compare_arguments():
    """`bioprop summary` options of the config's comparisons."""
    pairs = [f"--compare {a},{b}" for a, b in config["compare"]]
    margin = config.get("equivalence_margin")
    if pairs and margin is not None:
        pairs.append(f"--margin {margin}")
    return " ".join(pairs)


def tune_settings(label):
    """Grid points of one run label (tune.smk): {setting name: {parameter: value}}."""
    tune = config.get("tune") or {}
    grid = ((config["rules"][label] or {}).get("tune") or tune.get("grid") or {})
    names = sorted(grid)
    points = {}
    for values in itertools.product(*(grid[n] for n in names)):
        point = dict(zip(names, values))
        points["+".join(f"{n}={v}" for n, v in point.items()) or "defaults"] = point
    return points


TUNE_SETTINGS = {label: tune_settings(label) for label in RULES}

for _label, _points in TUNE_SETTINGS.items():
    for _point in _points.values():
        try:
            get_rule(RULE_OF[_label]).parameters.resolve(
                {**((config["rules"][_label] or {}).get("set") or {}), **_point}, rule=RULE_OF[_label])
        except BiopropError as err:
            config_error(f"config tune grid of {_label}: {err}")
if config.get("tune") is not None or any((s or {}).get("tune") for s in config["rules"].values()):
    _no_val = [name for name, data in config["datasets"].items() if not (data or {}).get("n_val")]
    if _no_val:
        config_error(f"config tune: the search selects on validation data; give n_val for "
                            f"datasets {', '.join(_no_val)}")


def resolved_parameters(label):
    return get_rule(RULE_OF[label]).parameters.resolve(
        (config["rules"][label] or {}).get("set") or {}, rule=RULE_OF[label])


def records_alignment(label):
    """Whether runs of ``label`` record ``update_angle``: rate rules when asked
    (record_alignment), spiking GAIT-Prop unless its probe is off (alignment_samples 0)."""
    params = resolved_parameters(label)
    if "record_alignment" in params:
        return bool(params["record_alignment"])
    return params.get("alignment_samples", 0) > 0


def labels_of(family):
    """The run labels whose registered rule is of ``family`` (rate or spiking)."""
    return [label for label in RULES if get_rule(RULE_OF[label]).family == family]


SPIKE_LABELS = labels_of("spiking")

#: the figures (kinds of `bioprop figure`) that the config's runs have data for
FIGURES = [kind for kind, wanted in {
    "learning-curves": True,
    "alignment": any(records_alignment(label) for label in RULES),
    "silent-units": any(records_alignment(label) for label in labels_of("rate")),
    "firing-rates": bool(SPIKE_LABELS),
    "robustness": any(resolved_parameters(label).get(name, 0) > 0 for label in RULES
                      for name in ("weight_bits", "prune_fraction")),
    "sweeps": any("+" in label for label in RULES),
    "sparsity": bool(SPIKE_LABELS),
}.items() if wanted]


def label_pattern(family):
    """A regular expression matching exactly the run labels of rule family ``family``
    (one that matches nothing where there are none)."""
    return "|".join(map(re.escape, labels_of(family))) or "(?!)"


# The speed benchmark of the spiking rules (rules spiking_speed, benchmarks in
# benchmark.smk): its measures, the spiking run labels it times, their options.
SPEED_MEASURES = ["standalone", "runtime", "threads", "parallel"]
SPEED_LABELS = SPIKE_LABELS


def speed_arguments(wildcards):
    """spiking_speed.py options of one (label, measure) from the config."""
    speed = config["speed"]
    dataset = DATASETS[0]
    data = config["datasets"][dataset] or {}
    rule_config = config["rules"][wildcards.rule] or {}
    samples = speed["runtime_samples"] if wildcards.measure == "runtime" else speed["samples"]
    args = ["--rule", RULE_OF[wildcards.rule], "--label", wildcards.rule, "--measure", wildcards.measure,
            "--dataset", data.get("path", dataset),
            "--hidden", ",".join(map(str, rule_config.get("hidden", config["hidden"]))),
            "--samples", ",".join(map(str, samples)), "--repeats", speed["repeats"]]
    if data.get("data_dir"):
        args += ["--data-dir", data["data_dir"]]
    for name, value in (rule_config.get("set") or {}).items():
        args += ["--set", f"{name}={value}"]
    return shlex.join(map(str, args))

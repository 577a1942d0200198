# Config checks that go beyond the JSON schema: every rule name, parameter,
# unit and range is checked against bioprop's registry before any job starts.
import shlex

from snakemake.exceptions import WorkflowError

from bioprop.models.device import DeviceConfig, option_name
from bioprop.models.errors import BiopropError
from bioprop.models.rules import get_rule

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
        raise WorkflowError(f"config rules.{_label}: {err}")

for _a, _b in config.get("compare", []):
    _absent = [label for label in (_a, _b) if label not in RULES]
    if _absent:
        raise WorkflowError(f"config compare [{_a}, {_b}]: {', '.join(_absent)} not among rules ({', '.join(RULES)})")
if config.get("compare") and len(SEEDS) < 2:
    raise WorkflowError("config compare: paired comparisons need at least two seeds; "
                        f"seeds is {SEEDS}")
if config.get("summary_variable") == "validation_accuracy":
    _no_val = [name for name, data in config["datasets"].items() if not (data or {}).get("n_val")]
    if _no_val:
        raise WorkflowError(f"config summary_variable validation_accuracy needs n_val for datasets {', '.join(_no_val)}")


def train_arguments(wildcards):
    """Command-line arguments of `bioprop train` for one run, from the config."""
    data = config["datasets"][wildcards.dataset] or {}
    rule_config = config["rules"][wildcards.rule] or {}
    args = ["--dataset", data.get("path", wildcards.dataset),
            "--epochs", rule_config.get("epochs", config["epochs"]),
            "--hidden", ",".join(map(str, rule_config.get("hidden", config["hidden"]))),
            "--seed", wildcards.seed, "--label", wildcards.rule]
    for key in ("n_train", "n_test", "n_val", "data_dir"):
        if data.get(key) is not None:
            args += ["--" + key.replace("_", "-"), data[key]]
    for name, value in device_settings(rule_config).items():
        args += [option_name(name), value]
    for name, value in (rule_config.get("set") or {}).items():
        args += ["--set", f"{name}={value}"]
    return shlex.join(map(str, args))

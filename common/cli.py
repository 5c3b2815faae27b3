"""What the entry scripts check on the command line before anything runs: an experiment name that
exists (else the paper's experiments are listed), override values of the type the config holds
(`trainer.max_epochs=abc` is one line, not a traceback after setup), and `+key=value` additions
that nothing reads (a warning). Only the entry scripts use this module; runs never import it."""
from __future__ import annotations

import warnings
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.utils import get_class
from omegaconf import DictConfig, ListConfig, OmegaConf

from common import CONFIG_DIR
from common.datamodule import ReproDataModule
from common.errors import ConfigError

EXPERIMENTS = CONFIG_DIR / "experiment"


class UnreadKeyWarning(UserWarning):
    """A `+key=value` added a key that no config of the run defines and no constructor receives."""


def paper_experiments(paper: str) -> list[str]:
    return sorted(f"{paper}/{path.stem}" for path in (EXPERIMENTS / paper).glob("*.yaml"))


def check_experiment_argument(argv: list[str]) -> None:
    """`experiment=<paper>/<name>` must name a file under configs/experiment; else list the choices."""
    for arg in argv:
        key, _, value = arg.lstrip("+~").partition("=")
        if key != "experiment" or not value or value == "null":
            continue
        if (EXPERIMENTS / f"{value}.yaml").is_file():
            continue
        paper = value.split("/", 1)[0]
        if (EXPERIMENTS / paper).is_dir():
            raise ConfigError(f"experiment={value} does not exist; {paper}'s experiments: "
                              f"{', '.join(paper_experiments(paper))}")
        papers = sorted(path.name for path in EXPERIMENTS.iterdir() if path.is_dir())
        raise ConfigError(f"experiment={value}: give experiment=<paper>/<name> with <paper> one of {papers} "
                          f"(each has <paper>/tiny)")


def _parse(overrides: list[str]) -> list[Override]:
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except Exception:  # a grammar error: hydra reports it itself when it composes
        return []


def _is_group(key: str) -> bool:
    return (CONFIG_DIR / key.replace(".", "/")).is_dir() or key.startswith("hydra")


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _expected_type(default) -> str | None:
    if isinstance(default, bool):
        return "true or false"
    if _is_number(default):
        return "a number"
    return None


def _accepts(default, value) -> bool:
    if value is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if _is_number(default):
        return _is_number(value)
    return True


def _default_of(cfg: DictConfig, key: str):
    try:
        return OmegaConf.select(cfg, key, throw_on_missing=False)
    except Exception:  # an interpolation that cannot resolve in the bare config: nothing to compare
        return None


def _read_by_a_constructor(cfg: DictConfig, key: str) -> bool:
    """Whether a new key lands in a node whose `_target_` receives it (or the trainer's arguments)."""
    parent = key.rpartition(".")[0]
    if not parent:
        return False
    if parent.split(".")[0] == "trainer":
        return True
    node = _default_of(cfg, parent)
    return isinstance(node, DictConfig) and "_target_" in node


def check_override_values(baseline: DictConfig, overrides: list[str]) -> None:
    """Each `key=value` of `overrides` against the value `baseline` holds for `key`: a number stays a
    number and a flag a flag (ConfigError naming the key otherwise); a `+key=value` that nothing reads
    warns. `baseline` is the config composed with the group choices only (experiment=, trainer=, ...)."""
    for override in _parse(overrides):
        key = override.key_or_group
        if override.is_sweep_override() or _is_group(key) or override.type == OverrideType.DEL:
            continue
        value = override.value()
        default = _default_of(baseline, key)
        if isinstance(default, DictConfig | ListConfig):
            continue
        if override.type == OverrideType.ADD and default is None:
            if not _read_by_a_constructor(baseline, key):
                warnings.warn(f"+{key}={override.get_value_element_as_str()}: no config of this run has '{key}' "
                              "and nothing reads it (it is only saved in the run's config)", UnreadKeyWarning,
                              stacklevel=2)
            continue
        if not _accepts(default, value):
            raise ConfigError(f"{key}={override.get_value_element_as_str()}: expected {_expected_type(default)} "
                              f"(the config holds {default!r})")


def group_overrides(overrides: list[str]) -> list[str]:
    """The overrides that choose config files (experiment=, trainer=, +debug=, ...), in order."""
    parsed = _parse(overrides)
    if len(parsed) != len(overrides):
        return list(overrides)
    return [text for text, override in zip(overrides, parsed, strict=True) if _is_group(override.key_or_group)]


def check_command_line(config_name: str, overrides: list[str], compose) -> None:
    """Check a Hydra command line: `compose(config_name, group_overrides)` builds the baseline."""
    check_override_values(compose(config_name, group_overrides(overrides)), overrides)


def is_wandb_login_error(err: BaseException) -> bool:
    text = str(err).lower()
    return type(err).__module__.startswith("wandb") and ("api key" in text or "api_key" in text or "login" in text)


WANDB_LOGIN_HINT = ("logger=wandb needs a wandb login: run `wandb login` (or set WANDB_API_KEY), or log offline "
                    "with logger=wandb logger.offline=true and `wandb sync` the run later")



def check_run_overrides(paper: str, overrides: list[str], compose) -> None:
    """reproduce's `overrides=[...]` reach every training run of the paper: check their values against each
    of the paper's experiments that they compose with."""
    groups = group_overrides(overrides)
    for experiment in paper_experiments(paper):
        try:
            baseline = compose("train", [f"experiment={experiment}", *groups])
        except Exception:  # an override that this experiment does not take; the run that uses it will say so
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnreadKeyWarning)
            check_override_values(baseline, overrides)


def check_whole_folder(cfg: DictConfig) -> None:
    """`evaluate.py whole_folder=DIR`: DIR is a folder and the experiment's data module can score one (it
    overrides `build_whole`); said in terms of the argument the user gave, before the run starts."""
    folder = cfg.get("whole_folder")
    if not folder:
        return
    if not Path(str(folder)).expanduser().is_dir():
        raise ConfigError(f"whole_folder={folder} is not a folder: give the folder of files to score")
    target = cfg.data.get("_target_")
    data_class = get_class(target) if target else None
    if data_class is not None and getattr(data_class, "build_whole", None) in (None, ReproDataModule.build_whole):
        raise ConfigError(f"whole_folder={folder}: this experiment's data ({data_class.__name__}) cannot be scored as "
                          "a folder of files; leave whole_folder out to score the experiment's own test set")

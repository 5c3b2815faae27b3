"""python scripts/predict.py paper=<paper> input=FILE ckpt_path=CHECKPOINT [key=value ...]

Runs a trained model of a paper on the user's own files. A paper's `predict.py` declares its keys
and the type of each value (`ARGUMENTS = {name: str | int | float | bool}`, of which `REQUIRED` must
be given), may check their values further (`check_arguments(args)`) and runs on them
(`predict(args) -> exit code`). With `--check`, only checks the arguments (the
README test's dry mode).
"""
import importlib
import sys

import _entry
from omegaconf import DictConfig, OmegaConf

from common import PROJECT_ROOT
from common.errors import ConfigError


def papers_with_predictor() -> list[str]:
    return sorted(path.parent.name for path in (PROJECT_ROOT / "papers").glob("*/predict.py"))


TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false"}


def typed_value(key: str, value, expected: type):
    """`value` as `expected` (a path or name stays text); a value of another type names its key."""
    if value is None or expected is str:
        return None if value is None else str(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if expected is bool and isinstance(value, bool):
        return value
    if expected is float and number:
        return float(value)
    if expected is int and number and float(value).is_integer():
        return int(value)
    raise ConfigError(f"{key}={value}: expected {TYPE_NAMES[expected]}")


def parse_arguments(predictor, argv: list[str]) -> DictConfig:
    """The key=value arguments of a paper's predictor; names an unknown or missing key."""
    args = OmegaConf.from_cli(list(argv))
    unknown = set(args) - set(predictor.ARGUMENTS)
    if unknown:
        raise ConfigError(f"unknown arguments {sorted(unknown)}; known: {sorted(predictor.ARGUMENTS)}")
    missing = [key for key in predictor.REQUIRED if not args.get(key)]
    if missing:
        raise ConfigError(f"give {' and '.join(f'{key}=...' for key in missing)} (keys: {sorted(predictor.ARGUMENTS)})")
    for key in args:
        args[key] = typed_value(key, args[key], predictor.ARGUMENTS[key])
    if hasattr(predictor, "check_arguments"):
        predictor.check_arguments(args)
    return args


@_entry.exit_cleanly
def main(argv: list[str]) -> int:
    papers = [arg.split("=", 1)[1] for arg in argv if arg.startswith("paper=")]
    available = papers_with_predictor()
    if len(papers) != 1 or papers[0] not in available:
        given = papers[0] if len(papers) == 1 else "missing" if not papers else "given twice"
        raise ConfigError(f"paper={given}: give paper=<name>, one of the papers with a predictor: {available}")
    predictor = importlib.import_module(f"papers.{papers[0]}.predict")
    arguments = [arg for arg in argv if not arg.startswith("paper=") and arg != "--check"]
    args = parse_arguments(predictor, arguments)
    if "--check" in argv:
        return 0
    return predictor.predict(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Shared by the entry scripts: the command line is checked before anything runs, and input errors
print one clear line and exit 2."""
from __future__ import annotations

import functools
import logging
import sys
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import cli  # noqa: E402
from common.errors import ReproError  # noqa: E402


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def exit_cleanly_on_input_errors(main):
    """Wraps a Hydra task function: checks the overrides' values against the composed config, then runs
    `main`; a ReproError or a missing wandb login ends in one line and exit code 2."""
    @functools.wraps(main)
    def wrapper(cfg, *args, **kwargs):
        try:
            _check_hydra_command_line()
            _log_lightning_to_the_run_file()
            return main(cfg, *args, **kwargs)
        except ReproError as err:
            _fail(str(err))
        except Exception as err:
            if cli.is_wandb_login_error(err):
                _fail(cli.WANDB_LOGIN_HINT)
            raise

    return wrapper


def _check_hydra_command_line() -> None:
    from hydra.core.hydra_config import HydraConfig

    from common import run

    if not HydraConfig.initialized():
        return
    hydra_cfg = HydraConfig.get()
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        warnings.simplefilter("always", cli.UnreadKeyWarning)
        cli.check_command_line(hydra_cfg.job.config_name, list(hydra_cfg.overrides.task), run.compose)


# Lightning's loggers print to the terminal through their own handlers and do not propagate to the root
# logger, whose file handler Hydra points at <run dir>/<task>.log.
LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning_fabric")
METRICS_LOGGER = "run.metrics"


def _run_files() -> list[logging.Handler]:
    return [handler for handler in logging.getLogger().handlers if isinstance(handler, logging.FileHandler)]


def _log_lightning_to_the_run_file() -> None:
    for name in (*LIGHTNING_LOGGERS, METRICS_LOGGER):
        logger = logging.getLogger(name)
        for handler in _run_files():
            if handler not in logger.handlers:
                logger.addHandler(handler)
    logging.getLogger(METRICS_LOGGER).propagate = False  # printed once below, not again by the console handler


def print_metrics(metrics: dict[str, float]) -> None:
    """The final metrics, on the terminal and in the run's log file."""
    for key in sorted(metrics):
        line = f"{key}: {metrics[key]:.6g}"
        print(line)
        logging.getLogger(METRICS_LOGGER).info(line)


def main_with_checked_arguments(main) -> None:
    """Run a Hydra entry point after checking the experiment name it was given (Hydra's own message for
    a missing experiment file does not list the choices)."""
    try:
        cli.check_experiment_argument(sys.argv[1:])
    except ReproError as err:
        _fail(str(err))
    main()


def exit_cleanly(main):
    """For entry points that are not Hydra apps (predict): a ReproError is one line and exit code 2."""
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except ReproError as err:
            _fail(str(err))

    return wrapper

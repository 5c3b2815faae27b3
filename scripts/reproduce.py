"""python scripts/reproduce.py paper=<paper> scale=full|tiny [overrides=[...]] [switch_off=<variant>]

`switch_off=<variant>` runs one of the paper's `mechanism_off` variants (configs/paper/<paper>.yaml)
into results/<paper>/<scale>/mechanism_off/<variant>/. It is taken off the command line before
Hydra sees it: it selects a variant, it is no setting of the paper's config.
"""
import sys

import _entry
import hydra

from common import CONFIG_DIR
from common.orchestrator import reproduce

SWITCH_OFF = "switch_off="


def _take_switch_off(argv: list[str]) -> str | None:
    chosen = [arg for arg in argv if arg.startswith(SWITCH_OFF)]
    for arg in chosen:
        argv.remove(arg)
    return chosen[-1].removeprefix(SWITCH_OFF) if chosen else None


variant: str | None = None


@hydra.main(config_path=str(CONFIG_DIR), config_name="reproduce", version_base="1.3")
@_entry.exit_cleanly_on_input_errors
def main(cfg):
    sys.exit(reproduce(cfg, switch_off=variant))


if __name__ == "__main__":
    variant = _take_switch_off(sys.argv)
    _entry.main_with_checked_arguments(main)

"""python scripts/reproduce.py paper=<paper> scale=full|tiny [overrides=[...]]"""
import sys

import _entry
import hydra

from common import CONFIG_DIR
from common.orchestrator import reproduce


@hydra.main(config_path=str(CONFIG_DIR), config_name="reproduce", version_base="1.3")
@_entry.exit_cleanly_on_input_errors
def main(cfg):
    sys.exit(reproduce(cfg))


if __name__ == "__main__":
    _entry.main_with_checked_arguments(main)

"""Shared by the entry scripts: input errors print one clear line and exit 2."""
from __future__ import annotations

import functools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import ReproError  # noqa: E402


def exit_cleanly_on_input_errors(main):
    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except ReproError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)

    return wrapper

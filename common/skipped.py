"""The one warning a folder reader gives for the files it passed over: a folder run goes on past bad
files and names them (the first few, and how many more)."""
from __future__ import annotations

import warnings
from collections.abc import Sequence


def warn_skipped(problems: Sequence[str], limit: int = 5) -> None:
    """Warn once, `N file(s) skipped: <problem>; ...; and K more`, when `problems` is not empty."""
    if not problems:
        return
    shown = "; ".join(problems[:limit]) + (f"; and {len(problems) - limit} more" if len(problems) > limit else "")
    warnings.warn(f"{len(problems)} file(s) skipped: {shown}", stacklevel=3)

"""End to end: `scripts/reproduce.py paper=gin scale=tiny` as a user runs it (slow: minutes)."""
import pytest

from tests.conftest import reproduce_tiny


@pytest.mark.slow
def test_tiny_reproduction_passes_every_claim(tmp_path):
    summary, _ = reproduce_tiny("gin", tmp_path, overrides=["logger=none"])
    for figure in ("artificial_spectrum.png", "artificial_recovery.png", "digits_spectrum.png",
                   "digits_traversals.png"):
        assert (tmp_path / figure).is_file()
    assert summary is not None

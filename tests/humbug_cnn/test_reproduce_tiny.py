"""End to end: `make reproduce-humbug_cnn SCALE=tiny` trains, scores, draws and passes its claims."""
import pytest

from tests.conftest import reproduce_tiny


@pytest.mark.slow
def test_reproduce_humbug_cnn_tiny(tmp_path):
    reproduce_tiny("humbug_cnn", tmp_path / "results", [f"paths.data_dir={tmp_path / 'data'}"])
    for figure in ("spectrograms.png", "roc.png", "long_recording.png"):
        assert (tmp_path / "results" / figure).stat().st_size > 10_000
    assert "split by recording" in (tmp_path / "results" / "report.md").read_text()

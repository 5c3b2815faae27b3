"""End to end: `make reproduce-ecg_unet SCALE=tiny` trains, scores, draws and passes its claims."""
from tests.conftest import reproduce_tiny


def test_reproduce_ecg_unet_tiny(tmp_path):
    reproduce_tiny("ecg_unet", tmp_path)
    assert (tmp_path / "ecg_strip.png").stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "NeuroKit2 dwt" in report and "| QRS onset | UNet |" in report

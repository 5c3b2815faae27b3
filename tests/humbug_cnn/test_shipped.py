"""The network that ships in papers/humbug_cnn/pretrained/: small, and it gives its card's test
metrics on the test recordings of the shared Culex excerpt that it never heard in training."""
import json

import pytest
import pytorch_lightning as pl

from common import PROJECT_ROOT
from papers.humbug_cnn.data import HumbugDataModule
from papers.humbug_cnn.predict import PRETRAINED, SHIPPED, load_detector
from tests.shared_data import SHARED_DATA

CARD = PRETRAINED / f"{SHIPPED}.json"


def test_the_shipped_network_is_small_and_its_card_says_where_it_came_from():
    assert (PRETRAINED / f"{SHIPPED}.pt").stat().st_size < 5_000_000
    card = json.loads(CARD.read_text())
    assert card["data"]["split"] == "recording" and card["commit"] and card["manifest_digest"]
    assert card["test_metrics"]["test/roc_auc"] > 0.7
    assert not any(str(value).startswith("/") for value in card["data"].values())


def test_the_shipped_network_reproduces_its_cards_test_metrics():
    card = json.loads(CARD.read_text())
    root = (PROJECT_ROOT / card["data"]["root"]).resolve()
    if not root.is_dir():
        pytest.skip(f"real data excerpt not found: {root}")
    assert root == (SHARED_DATA / "humbug" / "zooniverse_culex").resolve()
    data = {**card["data"], "root": str(root), "cache_dir": None, "feature_device": "cpu"}
    datamodule = HumbugDataModule(**{key: value for key, value in data.items() if key != "_target_"})
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(load_detector(), datamodule=datamodule, verbose=False)
    measured = {key: float(value) for key, value in trainer.callback_metrics.items()}
    for key, expected in card["test_metrics"].items():
        if key in measured:
            assert measured[key] == pytest.approx(expected, abs=1e-4), key
    assert {"test/roc_auc", "test/balanced_accuracy"} <= set(measured)

"""The DAAE that ships in papers/skin_lesion_aae/pretrained/ and the predictor around it: small, its
card says where it came from, it gives its classifier's test metrics on the shared HAM10000 split, and
bad input is named."""
import json
import subprocess
import sys

import numpy as np
import pytest

from common import PROJECT_ROOT
from common.errors import ConfigError, DataError
from papers.skin_lesion_aae.metrics import binary_metrics
from papers.skin_lesion_aae.predict import (
    PRETRAINED,
    SHIPPED,
    check_arguments,
    classifier_path,
    images_in,
    load_predictor,
    score,
)
from tests.shared_data import SHARED_DATA

HAM = SHARED_DATA / "ham10000"


def test_the_shipped_network_is_small_and_its_cards_say_where_it_came_from():
    assert (PRETRAINED / f"{SHIPPED}.pt").stat().st_size < 5_000_000
    card = json.loads((PRETRAINED / f"{SHIPPED}.json").read_text())
    assert card["model"]["adversarial"] and card["model"]["sigma"] > 0 and card["commit"] and card["manifest_digest"]
    assert not any(str(value).startswith("/") for value in card["data"].values())
    params = json.loads(classifier_path().read_text())
    assert len(params["svm_coef"]) == card["model"]["nz"] and params["test_metrics"]["auc"] > 0.7


def test_a_few_real_images_are_scored_and_a_bad_one_is_named(tmp_path):
    if not (HAM / "images").is_dir():
        pytest.skip(f"real data excerpt not found: {HAM}")
    for name in sorted(p.name for p in (HAM / "images").glob("*.jpg"))[:3]:
        (tmp_path / name).write_bytes((HAM / "images" / name).read_bytes())
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    model, classifier = load_predictor()
    scored, skipped = score(images_in(tmp_path), model, classifier)
    assert len(scored) == 3 and len(skipped) == 1 and "broken.jpg" in skipped[0]
    assert all(0 < p < 1 for _, p in scored)
    with pytest.raises(DataError, match="no such image"):
        images_in(tmp_path / "missing")
    with pytest.raises(ConfigError, match="threshold"):
        check_arguments({"input": str(tmp_path), "threshold": 1.5})


def test_the_command_line_writes_one_row_per_image(tmp_path):
    if not (HAM / "images").is_dir():
        pytest.skip(f"real data excerpt not found: {HAM}")
    image = sorted((HAM / "images").glob("*.jpg"))[0]
    out = tmp_path / "p.csv"
    result = subprocess.run([sys.executable, "scripts/predict.py", "paper=skin_lesion_aae", f"input={image}", f"output={out}"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = out.read_text().splitlines()
    assert lines[0] == "image,p_malignant,call" and len(lines) == 2 and lines[1].split(",")[2] in ("benign", "malignant")
    assert out.with_suffix(".png").stat().st_size > 5_000  # the contact sheet beside the CSV
    assert "sensitivity 0.95 on the training images" in result.stderr


@pytest.mark.slow
def test_the_shipped_predictor_reproduces_its_test_metrics():
    """The card's split of the shared excerpt: the classifier's recorded test metrics, to 1e-6."""
    from papers.skin_lesion_aae.data import LesionDataModule

    card = json.loads((PRETRAINED / f"{SHIPPED}.json").read_text())
    root = (PROJECT_ROOT / card["data"]["root"]).resolve()
    if not root.is_dir():
        pytest.skip(f"real data excerpt not found: {root}")
    datamodule = LesionDataModule(**{**{k: v for k, v in card["data"].items() if k != "_target_"}, "root": str(root)})
    datamodule.setup("test")
    model, classifier = load_predictor()
    x_test, y_test = datamodule.test_set.tensors()
    measured = binary_metrics(y_test.numpy(), classifier.probability(model.encode(x_test).numpy()), classifier.threshold)
    for key, expected in classifier.test_metrics.items():
        assert measured[key] == pytest.approx(expected, abs=1e-6), key
    scores = classifier.probability(model.encode(x_test).numpy())
    at_sensitivity = binary_metrics(y_test.numpy(), scores, classifier.threshold_at_sensitivity)
    for key, expected in classifier.test_metrics_at_sensitivity.items():
        assert at_sensitivity[key] == pytest.approx(expected, abs=1e-6), key
    x_train, y_train = datamodule.train_set.tensors()
    train_malignant = classifier.probability(model.encode(x_train).numpy())[y_train.numpy() == 1]
    assert (train_malignant >= classifier.threshold_at_sensitivity).mean() >= 0.95
    assert np.isfinite(measured["auc"])

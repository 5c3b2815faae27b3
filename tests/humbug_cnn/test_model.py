"""The network's shape and size, the Keras-style weighted loss, MC dropout, and a broken
(untrained) network failing the tiny claims."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from common.claims import NOT_REPRODUCED, check_claims, claims_path, load_claims
from common.errors import ConfigError
from papers.humbug_cnn.audio import FeatureSpec, extract_features
from papers.humbug_cnn.data import HumbugDataModule
from papers.humbug_cnn.metrics import binary_scores, confusion_rates, summarise_splits
from papers.humbug_cnn.model import MosquitoCNN, MosquitoDetector
from papers.humbug_cnn.synthetic import generate_recordings


def test_paper_network_size():
    net = MosquitoCNN(128, 11)
    # conv1 32*(9+1) + conv2 64*(32*9+1) + dense (64*30*1)*128+128 + out 128*2+2
    assert sum(p.numel() for p in net.parameters()) == 320 + 18_496 + 245_888 + 258
    assert net(torch.zeros(3, 1, 128, 11)).shape == (3, 2)
    with pytest.raises(ValueError, match=r"\(batch, 1, 128, 11\)"):
        net(torch.zeros(3, 1, 128, 20))
    with pytest.raises(ConfigError, match="too small"):
        MosquitoCNN(128, 5)


def test_loss_is_class_weighted_mean_over_the_batch():
    model = MosquitoDetector()
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1])
    per_clip = F.cross_entropy(logits, labels, reduction="none")
    expected = (per_clip[0] * 1 + per_clip[1] * 10 + per_clip[2] * 10) / 3
    assert model.loss(logits, labels).item() == pytest.approx(expected.item())


def test_normalisation_buffers_travel_with_the_weights():
    model = MosquitoDetector()
    model.set_normalisation(-40.0, 12.0)
    clone = MosquitoDetector()
    clone.load_state_dict(model.state_dict())
    assert clone.feature_mean.item() == -40.0 and clone.feature_std.item() == 12.0
    with pytest.raises(ValueError):
        model.set_normalisation(0.0, 0.0)


def test_mc_dropout_spreads_and_plain_eval_is_deterministic():
    torch.manual_seed(0)
    model = MosquitoDetector(dropout=0.5)
    x = torch.randn(8, 1, 128, 11) * 10 - 40
    p1, s1 = model.predict_proba(x, 0)
    p2, _ = model.predict_proba(x, 0)
    assert torch.equal(p1, p2) and torch.all(s1 == 0)
    _, spread = model.predict_proba(x, 16)
    assert torch.all(spread > 0)
    assert model.training  # the mode it was in is restored


def test_scores_by_hand():
    labels = np.array([0, 0, 0, 1, 1])
    probability = np.array([0.1, 0.6, 0.2, 0.9, 0.4])
    scores = binary_scores(labels, probability)
    assert scores["accuracy"] == pytest.approx(3 / 5)
    assert scores["noise_rate"] == pytest.approx(2 / 3) and scores["mosquito_rate"] == pytest.approx(1 / 2)
    # pairs (mosquito, noise) ranked right: 0.9 beats all 3, 0.4 beats 0.1 and 0.2 -> 5/6
    assert scores["roc_auc"] == pytest.approx(5 / 6)
    np.testing.assert_allclose(confusion_rates(labels, probability >= 0.5), [[2 / 3, 1 / 3], [1 / 2, 1 / 2]])
    summary = summarise_splits([{"accuracy": 0.8}, {"accuracy": 0.9}], "splits/")
    assert summary["splits/accuracy_mean"] == pytest.approx(0.85) and summary["splits/accuracy_std"] == pytest.approx(0.05)


def test_untrained_network_fails_the_tiny_claims():
    torch.manual_seed(0)
    generated = generate_recordings(40, seed=1, snr_db=(-5.0, 5.0))
    features = extract_features(generated.clips, FeatureSpec())
    model = MosquitoDetector()
    model.set_normalisation(float(features.mean()), float(features.std()))
    probability, _ = model.predict_proba(features, 0)
    scores = binary_scores(generated.labels, probability.detach().numpy())
    metrics = {f"test/{k}": v for k, v in scores.items()}
    verdicts = {v.claim.id: v.status for v in check_claims(load_claims(claims_path("humbug_cnn")), metrics, "tiny")}
    assert verdicts["tiny_roc_auc"] == NOT_REPRODUCED
    assert NOT_REPRODUCED in (verdicts["tiny_accuracy"], verdicts["tiny_mosquito_found"])


def test_normalisation_comes_with_training_batches_not_from_the_data_module():
    datamodule = HumbugDataModule(source="synthetic", cache_dir=None, synthetic={"count": 8}, feature_device="cpu",
                                  batch_size=4)
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    train_features = datamodule.features[datamodule.train_index]
    assert batch["feature_mean"][0].item() == pytest.approx(float(train_features.mean()))
    assert batch["feature_std"][0].item() == pytest.approx(float(train_features.std()))
    model = MosquitoDetector()
    model.adopt_normalisation(batch)
    assert model.feature_mean.item() == pytest.approx(float(train_features.mean()))
    # A test batch (here: of other data) leaves a trained model's normalisation as it was.
    model.adopt_normalisation({"features": batch["features"], "label": batch["label"]})
    assert model.feature_std.item() == pytest.approx(float(train_features.std()))
    assert datamodule.val_dataloader() == []

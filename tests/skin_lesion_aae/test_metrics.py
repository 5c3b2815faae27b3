"""Classifier metrics on hand-made cases, the code classifier, labelled subsets, prior match."""
import numpy as np
import pytest

from common.errors import ConfigError
from papers.skin_lesion_aae.metrics import (
    binary_metrics,
    energy_distance,
    fit_code_classifier,
    prior_energy,
    prior_match,
    reconstruction_ratio,
    select_labelled,
    specificity_at_sensitivity,
)


def test_hand_made_case():
    labels = np.array([0, 0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.6])
    m = binary_metrics(labels, scores, threshold=0.5)
    # positives 0.9, 0.6 beat negatives: 0.9 > all 4, 0.6 > 3 of 4 -> AUC 7/8
    assert m["auc"] == pytest.approx(7 / 8)
    # called malignant: 0.8, 0.9, 0.6 -> TP 2, FP 1, TN 3
    assert m["sensitivity"] == 1.0 and m["specificity"] == 0.75
    assert m["accuracy"] == pytest.approx(5 / 6) and m["balanced_accuracy"] == pytest.approx(0.875)
    # sensitivity >= 0.9 needs both positives, i.e. threshold <= 0.6: the negative at 0.8 is called -> 3/4
    assert m["spec_at_sens90"] == 0.75 and m["spec_at_sens95"] == 0.75


def test_specificity_at_sensitivity_edges():
    labels = np.array([0] * 10 + [1] * 10)
    perfect = np.r_[np.zeros(10), np.ones(10)]
    assert specificity_at_sensitivity(labels, perfect, 0.95) == 1.0
    assert binary_metrics(labels, perfect)["auc"] == 1.0
    assert binary_metrics(labels, 1 - perfect)["auc"] == 0.0
    # 19 of 20 cases ordered; one positive at the very bottom: sensitivity 0.95 reachable only with all called
    scores = np.r_[np.arange(10) / 20, np.arange(9) / 20 + 0.6, -1.0]
    assert specificity_at_sensitivity(labels, scores, 0.9) == 1.0
    assert specificity_at_sensitivity(labels, scores, 0.95) == 0.0
    constant = np.full(20, 0.3)
    assert binary_metrics(labels, constant)["auc"] == 0.5
    assert np.isnan(binary_metrics(np.zeros(4, int), np.arange(4.0))["auc"])


def test_bad_inputs():
    with pytest.raises(ValueError):
        binary_metrics(np.array([0, 2]), np.array([0.1, 0.2]))
    with pytest.raises(ValueError):
        binary_metrics(np.array([0, 1]), np.array([0.1]))


@pytest.mark.parametrize("kind", ["svm", "logistic"])
def test_code_classifier_separates_and_is_calibrated(kind):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(int)
    z = rng.normal(size=(400, 5)) + 1.5 * y[:, None] * np.array([1, 0, 0, 0, 0])
    clf = fit_code_classifier(z[:200], y[:200], kind=kind)
    p = clf.predict_proba(z[200:])[:, 1]
    assert binary_metrics(y[200:], p, clf.threshold)["auc"] > 0.8
    assert abs(p.mean() - y[200:].mean()) < 0.1  # probabilities near the base rate on average
    assert clf.threshold == pytest.approx(y[:200].mean())


def test_code_classifier_with_few_labels_and_one_class():
    z = np.random.default_rng(0).normal(size=(5, 3))
    clf = fit_code_classifier(z, np.array([0, 0, 0, 1, 1]), kind="svm")
    assert clf.predict_proba(z).shape == (5, 2)
    with pytest.raises(ConfigError, match="both classes"):
        fit_code_classifier(z, np.zeros(5, int))


def test_select_labelled_is_stratified_seeded_and_keeps_both_classes():
    labels = np.array([0] * 900 + [1] * 100)
    chosen = select_labelled(labels, 0.1, seed=0)
    assert np.bincount(labels[chosen]).tolist() == [90, 10]
    assert np.array_equal(chosen, select_labelled(labels, 0.1, seed=0))
    assert not np.array_equal(chosen, select_labelled(labels, 0.1, seed=1))
    assert np.bincount(labels[select_labelled(labels, 0.001, seed=0)]).tolist() == [2, 2]
    assert len(select_labelled(labels, 1.0, seed=0)) == 1000
    with pytest.raises(ConfigError):
        select_labelled(labels, 0.0, seed=0)


def test_prior_match():
    rng = np.random.default_rng(0)
    assert prior_match(rng.normal(size=(20000, 4)))["prior_gap"] < 0.03
    far = prior_match(3 + 0.1 * rng.normal(size=(20000, 4)))
    assert far["code_mean_abs"] == pytest.approx(3, abs=0.01) and far["code_sd_gap"] == pytest.approx(0.9, abs=0.01)


def test_energy_distance_hand_case():
    # the origin against {-1, +1}: 2 E|X - Y| = 2, E|X - X'| = 0, E|Y - Y'| = (0 + 2 + 2 + 0) / 4 = 1
    assert energy_distance(np.zeros((1, 1)), np.array([[-1.0], [1.0]])) == pytest.approx(1.0)
    x = np.random.default_rng(0).normal(size=(30, 3))
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert energy_distance(x, x + 2) > 1.0
    with pytest.raises(ValueError, match="energy_distance"):
        energy_distance(x, x[:, :2])


def test_prior_energy_tells_prior_codes_from_collapsed_and_shifted_ones():
    rng = np.random.default_rng(0)
    matched = prior_energy(rng.normal(size=(400, 16)))
    assert matched["prior_energy_ratio"] < 0.05 and matched["prior_energy_p"] > 0.05
    assert matched["code_sd"] == pytest.approx(1.0, abs=0.05)
    # an encoder collapsed to the origin (the best constant code) scores exactly 1, any spread 0
    collapsed = prior_energy(np.zeros((400, 16)))
    assert collapsed["prior_energy_ratio"] == pytest.approx(1.0) and collapsed["code_sd"] == 0.0
    assert collapsed["prior_energy_p"] == pytest.approx(1 / 200)  # no relabelling is as far apart
    # a constant elsewhere is farther; a shrunken cloud lies between
    assert prior_energy(np.full((400, 16), 0.5))["prior_energy_ratio"] > 1.0
    assert 0.1 < prior_energy(0.3 * rng.normal(size=(400, 16)))["prior_energy_ratio"] < 1.0
    assert prior_energy(np.zeros((400, 16)), seed=3) == prior_energy(np.zeros((400, 16)), seed=3)


def test_reconstruction_ratio():
    rng = np.random.default_rng(0)
    images = rng.random((10, 3, 4, 4))
    mean = images.mean(0)
    assert reconstruction_ratio(images, images, mean) == 0.0
    # one image for every input: the mean image itself scores 1, any other constant more
    assert reconstruction_ratio(np.broadcast_to(mean, images.shape), images, mean) == pytest.approx(1.0)
    assert reconstruction_ratio(np.broadcast_to(images[0], images.shape), images, mean) > 1.0
    with pytest.raises(ValueError, match="shapes"):
        reconstruction_ratio(images[:5], images, mean)

import numpy as np
import pytest

from papers.ecg_unet.delineation import (
    IGNORE,
    NONE,
    QRS,
    BoundaryScore,
    DelineationScorer,
    P,
    T,
    Wave,
    boundary_points,
    labels_from_waves,
    match_points,
    waves_from_labels,
)


def test_labels_round_trip_through_waves():
    waves = [Wave(P, 10, 19), Wave(QRS, 30, 39), Wave(T, 50, 69)]
    labels = labels_from_waves(waves, 100, span=None)
    assert labels[10] == P and labels[19] == P and labels[20] == NONE and labels[9] == NONE
    assert waves_from_labels(labels) == waves


def test_labels_outside_annotated_span_are_ignored():
    labels = labels_from_waves([Wave(QRS, 30, 39)], 100, span=(25, 60))
    assert (labels[:25] == IGNORE).all() and (labels[61:] == IGNORE).all()
    assert labels[25] == NONE and labels[60] == NONE


def test_short_runs_and_runs_at_the_edges_are_dropped():
    labels = np.zeros(100, dtype=int)
    labels[0:5] = QRS  # touches the start: true onset unseen
    labels[20:23] = P  # 3 samples: shorter than min length 5
    labels[40:60] = T
    labels[95:] = QRS  # touches the end
    assert waves_from_labels(labels, min_samples={P: 5, QRS: 5, T: 5}) == [Wave(T, 40, 59)]


def test_match_points_hand_made_case():
    truth = np.array([100, 300, 500])
    detected = np.array([104, 290, 700, 301])
    tp, fn, fp, errors = match_points(truth, detected, tolerance=20)
    # 100<-104 (+4), 300<-301 (+1, closer than 290), 500 unmatched; 290 and 700 are false positives.
    assert (tp, fn, fp) == (2, 1, 2)
    assert sorted(errors) == [1, 4]


def test_match_points_tolerance_is_inclusive():
    assert match_points(np.array([100]), np.array([175]), tolerance=75)[:3] == (1, 0, 0)
    assert match_points(np.array([100]), np.array([176]), tolerance=75)[:3] == (0, 1, 1)


def test_unmatched_detections_outside_the_annotated_span_are_not_scored():
    truth = np.array([1000, 1500])
    detected = np.array([200, 1002, 1499, 4800])
    assert match_points(truth, detected, tolerance=75, span=(900, 1600))[:3] == (2, 0, 0)
    assert match_points(truth, detected, tolerance=75, span=None)[:3] == (2, 0, 2)


def test_boundary_score_statistics():
    score = BoundaryScore()
    score.add(tp=3, fn=1, fp=0, errors=[5, -5, 0])
    score.add(tp=1, fn=0, fp=1, errors=[10])
    summary = score.summary(sampling_rate=500)
    assert summary["se"] == pytest.approx(4 / 5)
    assert summary["ppv"] == pytest.approx(4 / 5)
    assert summary["f1"] == pytest.approx(0.8)
    errors_ms = np.array([5, -5, 0, 10]) * 2.0
    assert summary["mean_err_ms"] == pytest.approx(errors_ms.mean())
    assert summary["std_err_ms"] == pytest.approx(errors_ms.std())


def test_scorer_on_perfect_and_shifted_delineation():
    truth = [Wave(P, 100, 150), Wave(QRS, 200, 240), Wave(T, 320, 420)]
    scorer = DelineationScorer(sampling_rate=500, tolerance_ms=150)
    assert scorer.tolerance == 75
    scorer.add(truth, [Wave(w.kind, w.onset + 5, w.offset + 5) for w in truth], span=(100, 420))
    metrics = scorer.metrics()
    for name in ("p", "qrs", "t"):
        for boundary in ("onset", "offset"):
            assert metrics[f"{name}_{boundary}_f1"] == 1.0
            assert metrics[f"{name}_{boundary}_mean_err_ms"] == pytest.approx(10.0)


def test_missing_wave_lowers_sensitivity_not_ppv():
    truth = [Wave(QRS, 200, 240), Wave(QRS, 700, 740)]
    scorer = DelineationScorer(sampling_rate=500)
    scorer.add(truth, [Wave(QRS, 200, 240)], span=(200, 740))
    metrics = scorer.metrics()
    assert metrics["qrs_onset_se"] == 0.5 and metrics["qrs_onset_ppv"] == 1.0


def test_boundary_points_sorted_per_kind():
    points = boundary_points([Wave(T, 50, 60), Wave(T, 10, 20), Wave(P, 0, 5)])
    assert points["t_onset"].tolist() == [10, 50] and points["t_offset"].tolist() == [20, 60]
    assert points["qrs_onset"].size == 0


def test_short_gaps_inside_one_wave_are_closed():
    labels = np.zeros(100, dtype=int)
    labels[20:30] = T
    labels[33:45] = T  # a 3-sample gap splits one T wave in two
    labels[50:60] = QRS
    labels[65:70] = P  # different classes: the gap stays
    assert waves_from_labels(labels, max_gap=3) == [Wave(T, 20, 44), Wave(QRS, 50, 59), Wave(P, 65, 69)]
    assert waves_from_labels(labels, max_gap=2)[:2] == [Wave(T, 20, 29), Wave(T, 33, 44)]
    assert waves_from_labels(labels) == waves_from_labels(labels, max_gap=0)

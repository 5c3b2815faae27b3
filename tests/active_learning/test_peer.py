"""scikit-activeml beside ours: given the same fitted forest it picks a point with our top score."""
import numpy as np
import pytest

from papers.active_learning.data import load
from papers.active_learning.data_manager import make_manager
from papers.active_learning.models import ForestManager
from papers.active_learning.peer import _query_input, _wrapped, run_peer
from papers.active_learning.scorers import least_confidence

pytest.importorskip("skactiveml")


def _manager(seed=0):
    x, y = load("breast_cancer")
    return make_manager(x, y, {"train": 300, "val": 100, "test": 169}, "random", np.random.default_rng(seed), 10)


def test_wrapped_forest_is_our_forest():
    manager = _manager()
    ours = ForestManager()
    lab = manager.labelled_array
    ours.fit(manager.x[lab], manager.y[lab], None, None, seed=3)
    clf = _wrapped(ours, 3)
    x_all, y_all, cand = _query_input(manager)
    clf.fit(x_all, y_all)
    np.testing.assert_array_equal(clf.predict_proba(x_all[cand]), ours.predict_proba(x_all[cand]))
    from skactiveml.pool._uncertainty_sampling import uncertainty_scores

    # their least-confident utility is 1 - max p; ours rescales it by K / (K - 1) = 2
    np.testing.assert_allclose(2 * uncertainty_scores(clf.predict_proba(x_all[cand])),
                               least_confidence(ours.predict(x_all[cand]).probs))


def test_peer_agrees_up_to_ties():
    out = run_peer(_manager(), ForestManager(), 8, 0, "ours")
    assert out["same_score"] == 1.0 and len(out["scores"]) == 8
    theirs = run_peer(_manager(), ForestManager(), 8, 0, "peer")
    assert len(theirs["scores"]) == 8 and theirs["round_seconds"] > 0

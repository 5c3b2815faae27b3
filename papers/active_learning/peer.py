"""The peer: scikit-activeml's uncertainty sampling (`skactiveml.pool.UncertaintySampling`) on the same
task and model as ours (breast cancer, a 10-tree random forest without bootstrap, least confidence).

1. Same model, same pool: at every round of our least-confidence loop, the forest we trained is
   wrapped as scikit-activeml's classifier and it picks one point; we count how often its pick is
   ours, and how often its pick has our top score (the forest's probabilities are multiples of 1/10,
   so many points tie and each library breaks ties its own way: ours by position, theirs at random).
2. Its own loop: scikit-activeml chooses every query; its curve beside ours over the same seeds.
3. The wall time of one round (fit + score + choose) in each.
"""
from __future__ import annotations

import time

import numpy as np

from papers.active_learning.analysis import auc
from papers.active_learning.data_manager import DataManager
from papers.active_learning.models import ForestManager
from papers.active_learning.scorers import least_confidence

MISSING = -1


def _wrapped(model: ForestManager, seed: int):
    from skactiveml.classifier import SklearnClassifier
    from sklearn.ensemble import RandomForestClassifier

    return SklearnClassifier(RandomForestClassifier(n_estimators=model.n_estimators, bootstrap=model.bootstrap,
                                                    random_state=seed, n_jobs=1),
                             classes=list(range(model.classes)), missing_label=MISSING)


def _query_input(manager: DataManager) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X of labelled + pool, y with the pool's labels missing, candidate positions of the pool)."""
    lab, pool = manager.labelled_array, manager.unlabelled_array
    x = manager.x[np.concatenate([lab, pool])]
    y = np.concatenate([manager.y[lab], np.full(len(pool), MISSING)])
    return x, y, np.arange(len(lab), len(lab) + len(pool))


def run_peer(manager: DataManager, model: ForestManager, rounds: int | None, seed: int, mode: str) -> dict:
    """mode='ours': our top-1 least confidence queries; the peer only answers what it would pick given
    our fitted forest. mode='peer': the peer picks every query. Returns the curve and timings."""
    from skactiveml.pool import UncertaintySampling

    peer = UncertaintySampling(method="least_confident", missing_label=MISSING, random_state=seed)
    scores, agree_index, agree_score, times = [], [], [], []
    r = 0
    while True:
        lab = manager.labelled_array
        fit_seed = seed * 1000 + r
        started = time.perf_counter()
        if mode == "ours":
            model.fit(manager.x[lab], manager.y[lab], None, None, fit_seed)
        scores_now = model.score(manager.x[manager.test], manager.y[manager.test]) if mode == "ours" else None
        if mode == "peer":
            clf = _wrapped(model, fit_seed)
            x_all, y_all, cand = _query_input(manager)
            clf.fit(x_all, y_all)
            model.forest = clf.estimator_  # the same fitted forest scores the test set
            scores_now = model.score(manager.x[manager.test], manager.y[manager.test])
        scores.append(scores_now)
        if (rounds is not None and r + 1 >= rounds) or not manager.unlabelled:
            times.append(time.perf_counter() - started)
            break
        pool = manager.unlabelled_array
        if mode == "ours":
            ours = least_confidence(model.predict(manager.x[pool]).probs)
            pick = int(np.argsort(-ours, kind="stable")[0])
            times.append(time.perf_counter() - started)
            clf = _wrapped(model, fit_seed)
            x_all, y_all, cand = _query_input(manager)
            clf.fit(x_all, y_all)
            theirs = int(peer.query(x_all, y_all, clf, fit_clf=False, candidates=cand)[0]) - len(manager.labelled)
            agree_index.append(theirs == pick)
            agree_score.append(bool(np.isclose(ours[theirs], ours.max())))
        else:
            theirs = int(peer.query(x_all, y_all, clf, fit_clf=False, candidates=cand)[0]) - len(manager.labelled)
            pick = theirs
            times.append(time.perf_counter() - started)
        manager.update([pool[pick]])
        r += 1
    out = {"scores": np.asarray(scores), "auc": auc(scores), "round_seconds": float(np.mean(times))}
    if mode == "ours":
        out["same_index"] = float(np.mean(agree_index))
        out["same_score"] = float(np.mean(agree_score))
    return out

"""Ship a trained DAAE with the repository, so `scripts/predict.py paper=skin_lesion_aae` works right
after install:

    python -m papers.skin_lesion_aae.pretrained RUN_DIR

RUN_DIR is the DAAE run of `make reproduce-skin_lesion_aae SCALE=cpu` to ship
(results/skin_lesion_aae/cpu/runs/<id>; the one shipped is seed 0). Writes `pretrained/ham_cpu_daae.pt`
and its card `ham_cpu_daae.json` (common/shipped.py), and `ham_cpu_daae_classifier.json`: the
standardisation, linear SVM and Platt curve of `metrics.fit_code_classifier` fitted on the codes of
every training image of the run's split (labels the autoencoder never saw), with their metrics on
the run's test images; and the operating point of the stated sensitivity: the highest threshold that
still calls SENSITIVITY of the training set's malignant images malignant, with the test sensitivity
and specificity it gives.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from common.experiment import load_trained_run
from common.shipped import export_run
from papers.skin_lesion_aae.metrics import binary_metrics, fit_code_classifier
from papers.skin_lesion_aae.predict import PRETRAINED, SENSITIVITY, SHIPPED, classifier_path

TRAINED_BY = "make reproduce-skin_lesion_aae SCALE=cpu (scripts/reproduce.py paper=skin_lesion_aae scale=cpu)"


def export(run_dir: str | Path, destination: Path = PRETRAINED) -> Path:
    weights = export_run(run_dir, destination, SHIPPED, TRAINED_BY)
    datamodule, model = load_trained_run(run_dir)
    x_train, y_train = datamodule.train_set.tensors()
    x_test, y_test = datamodule.test_set.tensors()
    classifier = fit_code_classifier(model.encode(x_train).numpy(), y_train.numpy(), kind="svm", seed=0)
    svm, platt = classifier.model.svm, classifier.model.platt
    scores = classifier.predict_proba(model.encode(x_test).numpy())[:, 1]
    train_malignant = classifier.predict_proba(model.encode(x_train).numpy())[:, 1][y_train.numpy() == 1]
    # the (1 - SENSITIVITY) quantile of the malignant training images' p, taken as one of those p values
    at_sensitivity = float(np.sort(train_malignant)[int(np.floor((1 - SENSITIVITY) * len(train_malignant)))])
    params = {
        "scaler_mean": classifier.scaler.mean_.tolist(), "scaler_scale": classifier.scaler.scale_.tolist(),
        "svm_coef": svm.coef_[0].tolist(), "svm_intercept": float(svm.intercept_[0]),
        "platt_coef": float(platt.coef_[0, 0]), "platt_intercept": float(platt.intercept_[0]),
        "threshold": classifier.threshold, "fitted_on": f"codes of all {len(y_train)} training images of the run's split",
        "test_metrics": binary_metrics(y_test.numpy(), scores, classifier.threshold),
        "sensitivity_target": SENSITIVITY, "threshold_at_sensitivity": at_sensitivity,
        "test_metrics_at_sensitivity": binary_metrics(y_test.numpy(), scores, at_sensitivity),
    }
    classifier_path(destination).write_text(json.dumps(params, indent=1, sort_keys=True) + "\n")
    return weights


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(f"wrote {export(sys.argv[1])}")

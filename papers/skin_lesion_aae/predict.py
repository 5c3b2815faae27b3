"""p(malignant) for dermoscopy images: the DAAE's encoder and a linear classifier on its codes.

    python scripts/predict.py paper=skin_lesion_aae input=IMAGE_OR_FOLDER [output=CSV] [threshold=P]

The network that ships in `papers/skin_lesion_aae/pretrained/` (its card `ham_cpu_daae.json` says
how it was trained: the `cpu` scale's DAAE, seed 0, on the shared HAM10000 excerpt at 64x64) encodes
each image (central square crop, resized as in training); the classifier (`ham_cpu_daae_classifier.json`:
standardisation, linear SVM, Platt curve, fitted on the codes of every training image of that split,
with its test metrics) turns the code into p(malignant). An image is called malignant when p is at or
above `threshold` (default: the training set's base rate, as in the reproduction). `input=` is one
image or a folder of them (jpg, jpeg, png, searched recursively); an unreadable image is named and
left out. One CSV row per image (path, p_malignant, call) on stdout, or in `output=`.
This is a research model trained on a 9,025-image excerpt at a reduced budget (test ROC-AUC in its
card), not a medical device.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

from common.errors import ConfigError, DataError
from common.shipped import load_shipped, read_card
from papers.skin_lesion_aae.data import IMAGE_SUFFIXES, load_image

PRETRAINED = Path(__file__).resolve().parent / "pretrained"
SHIPPED = "ham_cpu_daae"
HOW_TO_SHIP = "python -m papers.skin_lesion_aae.pretrained RUN_DIR writes them from a cpu-scale DAAE run"
ARGUMENTS = {"input": str, "output": str, "threshold": float}
REQUIRED = ("input",)


def check_arguments(args) -> None:
    threshold = args.get("threshold")
    if threshold is not None and not 0 < threshold < 1:
        raise ConfigError(f"threshold={threshold}: give a probability in (0, 1)")


class CodeClassifier:
    """The shipped linear classifier on codes, from its JSON parameters (no pickled objects)."""

    def __init__(self, params: dict):
        self.mean = np.asarray(params["scaler_mean"], dtype=np.float64)
        self.scale = np.asarray(params["scaler_scale"], dtype=np.float64)
        self.weights = np.asarray(params["svm_coef"], dtype=np.float64)
        self.bias = float(params["svm_intercept"])
        self.platt_slope, self.platt_intercept = float(params["platt_coef"]), float(params["platt_intercept"])
        self.threshold = float(params["threshold"])
        self.test_metrics = params.get("test_metrics", {})

    def probability(self, codes: np.ndarray) -> np.ndarray:
        decision = ((np.asarray(codes, dtype=np.float64) - self.mean) / self.scale) @ self.weights + self.bias
        return 1 / (1 + np.exp(-(self.platt_slope * decision + self.platt_intercept)))


def classifier_path(folder: Path = PRETRAINED) -> Path:
    return folder / f"{SHIPPED}_classifier.json"


def load_predictor(folder: Path = PRETRAINED):
    """(the DAAE in eval mode, its classifier on codes)."""
    model = load_shipped(folder, SHIPPED, HOW_TO_SHIP)
    path = classifier_path(folder)
    if not path.is_file():
        raise ConfigError(f"{path} is missing: {HOW_TO_SHIP}")
    return model, CodeClassifier(json.loads(path.read_text()))


def images_in(path: str | Path) -> list[Path]:
    path = Path(path)
    if not path.exists():
        raise DataError(f"input={path}: no such image or folder")
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise DataError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
    return found


@torch.no_grad()
def score(paths: list[Path], model, classifier: CodeClassifier) -> tuple[list[tuple[Path, float]], list[str]]:
    """[(path, p_malignant)] for every readable image, and a message for each one left out."""
    size = model.encoder.image_size
    rows, skipped, images = [], [], []
    for path in paths:
        try:
            images.append(load_image(path, size))
            rows.append(path)
        except DataError as err:
            skipped.append(f"{err}; left out")
    if not images:
        return [], skipped
    x = torch.from_numpy(np.stack(images)).float() / 255.0
    codes = model.encode(x).numpy()
    return list(zip(rows, classifier.probability(codes).tolist(), strict=True)), skipped


def predict(args) -> int:
    model, classifier = load_predictor()
    card = read_card(PRETRAINED, SHIPPED, HOW_TO_SHIP)
    threshold = classifier.threshold if args.get("threshold") is None else float(args.threshold)
    scored, skipped = score(images_in(args.input), model, classifier)
    for message in skipped:
        print(message, file=sys.stderr)
    print(f"{card.get('experiment')} seed {card.get('seed')}; classifier test ROC-AUC "
          f"{classifier.test_metrics.get('auc', float('nan')):.3f}; threshold {threshold:.3f}", file=sys.stderr)
    handle = open(args.output, "w", newline="") if args.get("output") else sys.stdout
    try:
        writer = csv.writer(handle)
        writer.writerow(["image", "p_malignant", "call"])
        for path, p in scored:
            writer.writerow([str(path), f"{p:.4f}", "malignant" if p >= threshold else "benign"])
    finally:
        if handle is not sys.stdout:
            handle.close()
    return 0 if scored else 1

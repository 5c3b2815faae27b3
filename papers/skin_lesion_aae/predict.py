"""p(malignant) for dermoscopy images: the DAAE's encoder and a linear classifier on its codes.

    python scripts/predict.py paper=skin_lesion_aae input=IMAGE_OR_FOLDER [output=CSV] [sheet=PNG] [threshold=P]

The network that ships in `papers/skin_lesion_aae/pretrained/` (its card `ham_cpu_daae.json` says
how it was trained: the `cpu` scale's DAAE, seed 0, on the shared HAM10000 excerpt at 64x64) encodes
each image (central square crop, resized as in training); the classifier (`ham_cpu_daae_classifier.json`:
standardisation, linear SVM, Platt curve, fitted on the codes of every training image of that split,
with its test metrics) turns the code into p(malignant). An image is called malignant when p is at or
above `threshold`; by default the threshold of the stated sensitivity (SENSITIVITY of the training
set's malignant images called malignant; the card gives the test sensitivity and specificity it
gives), since a missed melanoma costs more than a second look. `input=` is one image or a folder of
them (jpg, jpeg, png, searched recursively); an unreadable image is named and left out. One CSV row
per image (path, p_malignant, call) on stdout, or in `output=`; a contact sheet of the images sorted
by p_malignant (the first SHEET_IMAGES) in `sheet=`, by default beside `output=` as a PNG.
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
ARGUMENTS = {"input": str, "output": str, "sheet": str, "threshold": float}
# The sensitivity the default decision is set for (training images), and the contact sheet's size.
SENSITIVITY = 0.95
SHEET_IMAGES = 64
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
        self.threshold_at_sensitivity = float(params["threshold_at_sensitivity"])
        self.test_metrics_at_sensitivity = params["test_metrics_at_sensitivity"]

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


def contact_sheet(scored: list[tuple[Path, float]], threshold: float, path: Path, size: int) -> Path:
    """The images (the SHEET_IMAGES most likely malignant) as a grid sorted by p_malignant, each with
    its p; a red frame marks those called malignant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = sorted(scored, key=lambda row: -row[1])[:SHEET_IMAGES]
    columns = min(8, len(shown))
    rows = -(-len(shown) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.3 * columns, 1.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image_path, p) in zip(axes.flat, shown, strict=False):
        ax.imshow(load_image(image_path, size).transpose(1, 2, 0))
        malignant = p >= threshold
        ax.set_title(f"{p:.2f} {image_path.stem[:12]}", fontsize=6, color="red" if malignant else "black")
        if malignant:
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor("red")
                spine.set_linewidth(2)
    figure.suptitle(f"sorted by p_malignant (red: called malignant, p >= {threshold:.3f})", fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def predict(args) -> int:
    model, classifier = load_predictor()
    card = read_card(PRETRAINED, SHIPPED, HOW_TO_SHIP)
    if args.get("threshold") is None:
        threshold = classifier.threshold_at_sensitivity
        at = classifier.test_metrics_at_sensitivity
        rule = (f"threshold {threshold:.3f}: sensitivity {SENSITIVITY:g} on the training images (test: sensitivity "
                f"{at['sensitivity']:.3f}, specificity {at['specificity']:.3f})")
    else:
        threshold = float(args.threshold)
        rule = f"threshold {threshold:.3f} (given)"
    scored, skipped = score(images_in(args.input), model, classifier)
    for message in skipped:
        print(message, file=sys.stderr)
    print(f"{card.get('experiment')} seed {card.get('seed')}; classifier test ROC-AUC "
          f"{classifier.test_metrics.get('auc', float('nan')):.3f}; {rule}", file=sys.stderr)
    sheet = args.get("sheet") or (str(Path(args.output).with_suffix(".png")) if args.get("output") else None)
    if sheet and scored:
        print(f"contact sheet: {contact_sheet(scored, threshold, Path(sheet), model.encoder.image_size)}", file=sys.stderr)
    if args.get("output"):
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
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

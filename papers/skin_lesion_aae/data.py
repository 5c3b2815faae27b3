"""Skin lesion images: HAM10000 (real, an `images/` folder + `HAM10000_metadata.csv`) and a
seeded generator of lesion-like images for the tiny scale.

Labels: 1 = malignant = melanoma (mel), basal cell carcinoma (bcc), actinic keratosis /
intraepithelial carcinoma (akiec); 0 = benign = melanocytic nevus (nv), benign keratosis (bkl),
dermatofibroma (df), vascular lesion (vasc). The paper used the ISIC archive's own benign/malignant
field; in HAM10000 these three diagnoses are the ones ISIC files as malignant (akiec as a
precursor / in-situ carcinoma), so the mapping matches up to that borderline class.

Splits are by lesion (HAM10000 has several images of one lesion), stratified by label, seeded by
`split_seed`. The autoencoders train on every training image without its label (the unlabelled
pool); the labelled set is a stratified `label_fraction` of the training images (`label_seed`).
"""
from __future__ import annotations

import csv
import hashlib
import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from common.data import cache_dir
from common.datamodule import ReproDataModule
from common.errors import ConfigError, DataError, DataUnavailableError
from common.fingerprint import files_fingerprint
from papers.skin_lesion_aae.metrics import select_labelled

log = logging.getLogger(__name__)

MALIGNANT = ("mel", "bcc", "akiec")
BENIGN = ("nv", "bkl", "df", "vasc")
METADATA = "HAM10000_metadata.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
HAM_SOURCE = (
    "HAM10000 is distributed by the Harvard Dataverse (doi:10.7910/DVN/DBW86T) and the ISIC archive "
    "after accepting its licence (CC BY-NC 4.0), so it is not downloaded automatically"
)


# ---------------------------------------------------------------------------- generated lesions


def generate_lesions(n: int, image_size: int = 32, malignant_fraction: float = 0.3, seed: int = 0,
                     overlap: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3, s, s) uint8 images and 0/1 labels of blob-shaped lesions on skin.

    Malignant lesions have, on average, a more irregular and asymmetric border (larger radial
    Fourier terms) and more colour variegation (dark / blue-grey / reddish patches); benign ones are
    rounder and evenly brown. `overlap` in [0, 1] makes the two classes' feature ranges overlap (0:
    separable by eye) so that classifiers are scored on a task that is not trivially easy. Size,
    position, skin tone, lighting and noise vary independently of the class.
    """
    if n < 1 or image_size < 8:
        raise ConfigError(f"need n >= 1 and image_size >= 8, got n={n}, image_size={image_size}")
    if not 0 < malignant_fraction < 1 or not 0 <= overlap <= 1:
        raise ConfigError(f"malignant_fraction must be in (0, 1) and overlap in [0, 1], got {malignant_fraction}, {overlap}")
    rng = np.random.default_rng([int(seed), 7_919])
    labels = (rng.random(n) < malignant_fraction).astype(np.int64)
    s = image_size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float64) / (s - 1) * 2 - 1  # [-1, 1]
    images = np.empty((n, 3, s, s), dtype=np.uint8)
    for i in range(n):
        m = labels[i]
        # class "severity" in [0, 1]: benign low, malignant high, ranges overlapping by `overlap`
        low, high = (0.0, 0.5 + 0.5 * overlap) if m == 0 else (0.5 - 0.5 * overlap, 1.0)
        irregular, variegated = rng.uniform(low, high, size=2)
        skin = np.array([0.86, 0.68, 0.58]) * rng.uniform(0.92, 1.05) + rng.normal(0, 0.015, 3)
        shade = 1 + 0.04 * (rng.normal() * xx + rng.normal() * yy)
        img = skin[:, None, None] * shade[None]
        cx, cy = rng.normal(0, 0.06, 2)
        radius = rng.uniform(0.4, 0.6)
        theta = np.arctan2(yy - cy, xx - cx)
        dist = np.hypot(xx - cx, yy - cy)
        border = np.ones_like(theta)
        for k in range(1, 6):
            amplitude = (0.02 + 0.35 * irregular) / k * rng.uniform(0.5, 1.0)
            border += amplitude * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
        edge = 0.04 + 0.04 * rng.random()
        mask = 1 / (1 + np.exp(-(radius * border - dist) / edge))
        light = np.array([0.62, 0.42, 0.30]) * rng.uniform(0.9, 1.1)
        brown = (1 - variegated) * light + variegated * np.array([0.24, 0.19, 0.27])  # darker, blue-grey
        lesion = np.broadcast_to(brown[:, None, None], (3, s, s)).copy()
        lesion *= 1 - 0.15 * (dist / radius).clip(0, 1)[None]  # darker centre-to-rim gradient
        if variegated > 0:
            palette = np.array([[0.22, 0.13, 0.10], [0.35, 0.38, 0.50], [0.65, 0.30, 0.28]])
            for colour in palette[rng.permutation(3)[: 1 + int(2 * variegated + 0.5)]]:
                field = sum(rng.normal() * np.cos(f * (xx * np.cos(a) + yy * np.sin(a)) + rng.uniform(0, 6.3))
                            for f, a in zip(rng.uniform(2, 6, 3), rng.uniform(0, np.pi, 3), strict=True))
                patch = 1 / (1 + np.exp(-(field - 1.0 + 1.5 * variegated) * 3)) * variegated
                lesion = lesion * (1 - patch[None]) + colour[:, None, None] * patch[None]
        img = img * (1 - mask[None]) + lesion * mask[None]
        img += rng.normal(0, 0.02, img.shape)
        images[i] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return images, labels


# ---------------------------------------------------------------------------- HAM10000


def label_of(dx: str) -> int | None:
    dx = dx.strip().lower()
    if dx in MALIGNANT:
        return 1
    if dx in BENIGN:
        return 0
    return None


def read_metadata(root: Path) -> tuple[list[dict], list[str]]:
    """Rows of HAM10000_metadata.csv whose image exists and whose dx is known, plus a message for
    every row left out (unknown dx label, missing image)."""
    path = Path(root) / METADATA
    if not path.is_file():
        raise DataError(f"Missing data file: {path} (data.root must hold {METADATA} and images/)")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"lesion_id", "image_id", "dx"} - set(reader.fieldnames or ())
        if missing:
            raise DataError(f"{path} lacks the columns {sorted(missing)} (found {reader.fieldnames})")
        raw = list(reader)
    images_dir = Path(root) / "images"
    if not images_dir.is_dir():
        raise DataError(f"Missing image folder: {images_dir}")
    present = {p.stem: p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES}
    rows, skipped = [], []
    for line, row in enumerate(raw, start=2):
        label = label_of(row["dx"] or "")
        if label is None:
            skipped.append(f"{path}:{line}: unknown dx label {row['dx']!r} (known: {', '.join(MALIGNANT + BENIGN)}); row skipped")
            continue
        image = present.get(row["image_id"])
        if image is None:
            skipped.append(f"{path}:{line}: image {row['image_id']} not found in {images_dir}; row skipped")
            continue
        rows.append({"lesion_id": row["lesion_id"], "image_id": row["image_id"], "dx": row["dx"].strip().lower(),
                     "label": label, "path": image})
    return rows, skipped


def load_image(path: Path, image_size: int) -> np.ndarray:
    """(3, s, s) uint8: the central square crop of the image, resized."""
    try:
        with Image.open(path) as img:
            img.draft("RGB", (image_size * 2, image_size * 2))  # JPEG: decode at reduced scale
            img = img.convert("RGB")
            w, h = img.size
            side = min(w, h)
            box = ((w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side)
            img = img.resize((image_size, image_size), Image.BILINEAR, box=box)
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"unreadable image {path}: {err}") from err


def load_ham10000(root: str | Path, image_size: int, cache: Path | None = None, max_lesions: int | None = None,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    """(images uint8 (n, 3, s, s), labels, lesion ids, dx, messages about what was left out)."""
    root = Path(root).expanduser()
    rows, skipped = read_metadata(root)
    if max_lesions is not None:
        lesions = sorted({r["lesion_id"] for r in rows})
        keep = set(np.random.default_rng([seed, 31]).permutation(lesions)[:max_lesions])
        rows = [r for r in rows if r["lesion_id"] in keep]
    # keyed on what is read: each image's size and modification time, so a restored or replaced image is read again
    files = files_fingerprint(r["path"] for r in rows)
    key = hashlib.sha1(f"{root.resolve()}|{image_size}|{'|'.join(r['image_id'] for r in rows)}|{files}".encode()
                       ).hexdigest()[:16]
    cached = None if cache is None else cache / f"ham10000_{image_size}px_{key}.npz"
    if cached is not None and cached.is_file():
        stored = np.load(cached)
        keep_ids = set(stored["image_ids"].tolist())
        messages = skipped + [str(m) for m in stored["messages"]]
        rows = [r for r in rows if r["image_id"] in keep_ids]
        images = stored["images"]
    else:
        images, good, messages = [], [], list(skipped)
        for row in rows:
            try:
                images.append(load_image(row["path"], image_size))
                good.append(row)
            except DataError as err:
                messages.append(f"{err}; image skipped")
        rows = good
        if not rows:
            raise DataError(f"no usable images in {root} ({len(messages)} rows skipped)")
        images = np.stack(images)
        if cached is not None:
            np.savez(cached, images=images, image_ids=np.array([r["image_id"] for r in rows]),
                     messages=np.array(messages[len(skipped):], dtype=str))
    for message in messages:
        log.warning(message)
    labels = np.array([r["label"] for r in rows], dtype=np.int64)
    lesions = np.array([r["lesion_id"] for r in rows])
    return images, labels, lesions, [r["dx"] for r in rows], messages


# ---------------------------------------------------------------------------- splits and sets


def split_by_group(groups: np.ndarray, labels: np.ndarray, val_fraction: float, test_fraction: float,
                   seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Item indices of (train, val, test): every group (lesion) lies in exactly one part, and each
    label's groups are split in the given proportions."""
    rng = np.random.default_rng([int(seed), 4_242])
    group_names, group_index = np.unique(groups, return_inverse=True)
    group_label = np.zeros(len(group_names), dtype=np.int64)
    group_label[group_index] = labels
    part = np.zeros(len(group_names), dtype=np.int64)  # 0 train, 1 val, 2 test
    for value in np.unique(group_label):
        members = rng.permutation(np.flatnonzero(group_label == value))
        n_test = int(round(test_fraction * len(members)))
        n_val = int(round(val_fraction * len(members)))
        part[members[:n_test]] = 2
        part[members[n_test:n_test + n_val]] = 1
    item_part = part[group_index]
    return tuple(np.flatnonzero(item_part == k) for k in range(3))


class LesionImages(Dataset):
    """Items {"image": float (3, s, s) in [0, 1], "label": 0/1}; accepts (index, seed) pairs from
    EpochSeededSampler."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, item):
        index = item[0] if isinstance(item, tuple) else item
        return {"image": self.images[index].float() / 255.0, "label": self.labels[index]}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images.float() / 255.0, self.labels


class LesionDataModule(ReproDataModule):
    """Train / val / test sets of lesion images, split by lesion.

    On `common.datamodule.ReproDataModule` (batch size, fractions and seed checks; the training
    loader seeded by (seed, epoch); evaluation loaders in order). `train_on`: `pool` (every
    training image; the autoencoders ignore the labels) or `labelled` (the stratified
    `label_fraction` of them, for the supervised baseline). With `test_with_train`, the test loaders
    are [labelled training images, test images] so a model can fit a classifier on the first and
    score it on the second. An empty validation set gives no validation loader.
    """

    def __init__(
        self,
        source: str = "synthetic",
        root: str | None = None,
        data_dir: str = "~/.cache/paper-repro",
        image_size: int = 64,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int = 0,
        split_seed: int = 0,
        val_fraction: float = 0.1,
        test_fraction: float = 0.2,
        train_on: str = "pool",
        label_fraction: float = 1.0,
        label_seed: int = 0,
        min_per_class: int = 2,
        test_with_train: bool = True,
        cache: bool = True,
        max_lesions: int | None = None,
        synthetic: dict | None = None,
    ):
        if source not in ("synthetic", "ham10000"):
            raise ConfigError(f"data.source must be 'synthetic' or 'ham10000', got {source!r}")
        if train_on not in ("pool", "labelled"):
            raise ConfigError(f"data.train_on must be 'pool' or 'labelled', got {train_on!r}")
        if not 0 < label_fraction <= 1:
            raise ConfigError(f"data.label_fraction must be in (0, 1], got {label_fraction}")
        if image_size < 16 or image_size % 16:
            raise ConfigError(f"data.image_size must be a multiple of 16, got {image_size}")
        if min_per_class < 1:
            raise ConfigError(f"data.min_per_class must be >= 1, got {min_per_class}")
        super().__init__(batch_size=batch_size, seed=seed, split_seed=split_seed, val_fraction=val_fraction,
                         test_fraction=test_fraction, root=root, data_dir=data_dir, num_workers=num_workers)
        self.source, self.image_size = source, image_size
        self.train_on, self.label_fraction, self.label_seed = train_on, label_fraction, label_seed
        self.min_per_class, self.test_with_train = min_per_class, test_with_train
        self.cache, self.max_lesions = cache, max_lesions
        self.synthetic = dict(synthetic or {})
        self.messages: list[str] = []

    def _load(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self.source == "synthetic":
            known = {"n_images", "malignant_fraction", "overlap"}
            if set(self.synthetic) - known:
                raise ConfigError(f"data.synthetic has unknown keys {sorted(set(self.synthetic) - known)}; known: {sorted(known)}")
            images, labels = generate_lesions(
                int(self.synthetic.get("n_images", 1000)), self.image_size,
                float(self.synthetic.get("malignant_fraction", 0.3)), seed=self.split_seed,
                overlap=float(self.synthetic.get("overlap", 0.35)),
            )
            self.dx = ["malignant" if v else "benign" for v in labels]
            return images, labels, np.arange(len(labels))
        if self.root is None:
            raise DataUnavailableError(
                f"{HAM_SOURCE}. Download it, put HAM10000_metadata.csv and the images (merged into one "
                "images/ folder) in a folder DIR and pass data.root=DIR."
            )
        cache = cache_dir(self.data_dir, "ham10000") if self.cache else None
        images, labels, lesions, self.dx, self.messages = load_ham10000(
            self.root, self.image_size, cache, self.max_lesions, seed=self.split_seed)
        return images, labels, lesions

    def build(self) -> tuple[LesionImages, LesionImages, LesionImages]:
        images, labels, groups = self._load()
        self.groups = groups
        train, val, test = split_by_group(groups, labels, self.val_fraction, self.test_fraction, self.split_seed)
        if len(np.unique(labels[train])) < 2 or len(np.unique(labels[test])) < 2:
            raise DataError(f"the training and test images must hold both classes (train {len(train)}, test {len(test)} images)")
        labelled = train[select_labelled(labels[train], self.label_fraction, self.label_seed, self.min_per_class)]
        self.indices = {"train": train, "val": val, "test": test, "labelled": labelled}
        self.labelled_set = LesionImages(images[labelled], labels[labelled])
        return (LesionImages(images[train], labels[train]), LesionImages(images[val], labels[val]),
                LesionImages(images[test], labels[test]))

    def train_dataset(self) -> LesionImages:
        return self.train_set if self.train_on == "pool" else self.labelled_set

    def val_datasets(self) -> LesionImages | list:
        return self.val_set if len(self.val_set) else []

    def test_datasets(self) -> LesionImages | list[LesionImages]:
        return [self.labelled_set, self.test_set] if self.test_with_train else self.test_set

"""Generated lesions, the split by lesion, and the HAM10000 loader on the shared real excerpt."""
import csv
import logging
import shutil

import numpy as np
import pytest

from common.errors import ConfigError, DataError, DataUnavailableError
from papers.skin_lesion_aae.data import (
    METADATA,
    LesionDataModule,
    generate_lesions,
    label_of,
    load_ham10000,
    split_by_group,
)


def test_generated_lesions_are_seeded_and_labelled():
    a, ya = generate_lesions(40, 32, seed=1)
    b, yb = generate_lesions(40, 32, seed=1)
    c, _ = generate_lesions(40, 32, seed=2)
    assert a.shape == (40, 3, 32, 32) and a.dtype == np.uint8
    assert np.array_equal(a, b) and np.array_equal(ya, yb) and not np.array_equal(a, c)
    assert 0 < ya.mean() < 1
    # malignant lesions are darker on average (more variegation: dark and blue-grey colours)
    x, y = generate_lesions(300, 32, seed=0)
    centre = x[:, :, 12:20, 12:20].mean((1, 2, 3))
    assert centre[y == 1].mean() < centre[y == 0].mean() - 3


def test_split_by_group_keeps_lesions_together_and_is_stratified():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 300, size=1000)
    labels = (groups % 5 == 0).astype(int)
    train, val, test = split_by_group(groups, labels, 0.1, 0.2, seed=0)
    assert len(train) + len(val) + len(test) == 1000
    sets = [set(groups[part]) for part in (train, val, test)]
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    assert abs(labels[test].mean() - labels.mean()) < 0.05
    assert [list(p) for p in split_by_group(groups, labels, 0.1, 0.2, 0)] == [list(p) for p in (train, val, test)]


def test_dx_mapping():
    assert [label_of(d) for d in ("mel", "bcc", "akiec", "nv", "bkl", "df", "vasc", "MEL ")] == [1, 1, 1, 0, 0, 0, 0, 1]
    assert label_of("scc") is None


def test_datamodule_on_generated_lesions():
    dm = LesionDataModule(image_size=32, batch_size=8, label_fraction=0.1, synthetic={"n_images": 120})
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (8, 3, 32, 32) and 0 <= batch["image"].min() and batch["image"].max() <= 1
    labelled, test = dm.test_dataloader()
    assert len(labelled.dataset) < len(dm.train_set) and len(test.dataset) == len(dm.test_set)
    assert set(dm.indices["labelled"]) <= set(dm.indices["train"])
    with pytest.raises(ConfigError, match="label_fraction"):
        LesionDataModule(label_fraction=0)
    with pytest.raises(ConfigError, match="synthetic has unknown"):
        LesionDataModule(image_size=32, synthetic={"n": 3}).setup()
    with pytest.raises(DataUnavailableError, match="data.root"):
        LesionDataModule(source="ham10000", image_size=32).setup()


def _excerpt_copy(ham10000_excerpt, tmp_path, n_rows=80):
    """The first rows of the real metadata with their real images, plus three bad rows."""
    with open(ham10000_excerpt / METADATA, newline="") as handle:
        rows = list(csv.DictReader(handle))
    picked = rows[:n_rows] + [r for r in rows if r["dx"] in ("mel", "bcc", "akiec")][:n_rows // 2]
    (tmp_path / "images").mkdir(parents=True)
    for row in picked:
        shutil.copy(ham10000_excerpt / "images" / f"{row['image_id']}.jpg", tmp_path / "images")
    bad = [
        {**picked[0], "image_id": "ISIC_missing", "lesion_id": "HAM_x1"},  # no image file
        {**picked[1], "image_id": "ISIC_broken", "lesion_id": "HAM_x2"},  # unreadable image
        {**picked[2], "image_id": picked[2]["image_id"], "dx": "scc", "lesion_id": "HAM_x3"},  # unknown dx
    ]
    (tmp_path / "images" / "ISIC_broken.jpg").write_bytes(b"not a jpeg")
    with open(tmp_path / METADATA, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(picked + bad)
    return tmp_path, len(picked)


def lesion_images(root):
    return [path.stem for path in sorted((root / "images").glob("ISIC_00*.jpg"))]


def test_ham10000_loader_on_real_images_names_bad_rows_and_keeps_the_rest(ham10000_excerpt, tmp_path, caplog):
    root, n_good = _excerpt_copy(ham10000_excerpt, tmp_path / "ham")
    with caplog.at_level(logging.WARNING):
        images, labels, lesions, dx, messages = load_ham10000(root, 32, cache=tmp_path)
    assert images.shape == (n_good, 3, 32, 32) and len(labels) == n_good
    assert {"mel", "nv"} <= set(dx) and labels.sum() == sum(d in ("mel", "bcc", "akiec") for d in dx)
    text = "\n".join(messages)
    assert "ISIC_missing not found" in text and "unreadable image" in text and "ISIC_broken" in text
    assert "unknown dx label 'scc'" in text and caplog.text.count("skipped") >= 3
    assert images.std() > 10  # real pictures, not blanks
    # the cache gives the same arrays and the same messages
    again = load_ham10000(root, 32, cache=tmp_path)
    assert np.array_equal(again[0], images) and again[4] == messages
    # a repaired image is read again (the cache is keyed on each image's size and modification time)
    shutil.copy(ham10000_excerpt / "images" / f"{next(iter(lesion_images(root)))}.jpg", root / "images" / "ISIC_broken.jpg")
    repaired = load_ham10000(root, 32, cache=tmp_path)
    assert len(repaired[0]) == n_good + 1 and "ISIC_broken" not in "\n".join(repaired[4])
    assert len(list(tmp_path.glob("ham10000_32px_*.npz"))) == 2


def test_ham10000_datamodule_splits_by_lesion(ham10000_excerpt, tmp_path):
    root, _ = _excerpt_copy(ham10000_excerpt, tmp_path / "ham", n_rows=120)
    dm = LesionDataModule(source="ham10000", root=str(root), data_dir=str(tmp_path / "cache"), image_size=32,
                          label_fraction=0.25, val_fraction=0.1, test_fraction=0.25)
    dm.setup()
    parts = [set(dm.groups[dm.indices[k]]) for k in ("train", "val", "test")]
    assert not (parts[0] & parts[2] or parts[0] & parts[1] or parts[1] & parts[2])
    assert len(dm.messages) == 3


def test_ham10000_missing_files_are_named(tmp_path):
    with pytest.raises(DataError, match="HAM10000_metadata.csv"):
        load_ham10000(tmp_path, 32)
    (tmp_path / METADATA).write_text("lesion_id,image_id\nA,B\n")
    with pytest.raises(DataError, match="lacks the columns"):
        load_ham10000(tmp_path, 32)

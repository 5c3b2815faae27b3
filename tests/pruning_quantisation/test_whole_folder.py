"""`scripts/evaluate.py whole_folder=DIR` for this paper: a trained classifier scores a user's image
folder (one sub-folder per class, images of any size), skipping and naming the files it cannot read."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from common import cli, run
from common.errors import DataError
from papers.pruning_quantisation.data import CIFAR10_CLASSES, ImageDataModule, normalise


def _user_folder(root, source_test):
    """cat/: three real test images (one enlarged to 64x64, as a phone photo would not be 32x32), a
    broken file and a note; truck/: two real test images."""
    for name, count in (("cat", 3), ("truck", 2)):
        (root / name).mkdir(parents=True)
        for path in sorted((source_test / name).glob("*.jpg"))[:count]:
            shutil.copy(path, root / name / path.name)
    first_cat = sorted((root / "cat").glob("*.jpg"))[0]
    with Image.open(first_cat) as image:
        image.resize((64, 64), Image.BILINEAR).save(root / "cat" / "large.png")
    (root / "cat" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "cat" / "notes.txt").write_text("taken on 3 May")
    return root


def test_a_folder_is_read_with_labels_from_its_class_folders(cifar10_images_excerpt, tmp_path):
    folder = _user_folder(tmp_path / "mine", cifar10_images_excerpt / "test")
    datamodule = ImageDataModule(source="cifar10", root=str(folder), test_fraction=None, batch_size=4)
    with pytest.warns(UserWarning, match=r"2 file\(s\) skipped: .*broken\.jpg: not a readable image.*notes\.txt"):
        datamodule.test_on_whole_folder()
    images, labels = datamodule.test_set.images, datamodule.test_set.labels
    assert labels.tolist() == [CIFAR10_CLASSES.index("cat")] * 4 + [CIFAR10_CLASSES.index("truck")] * 2
    assert images.shape == (6, 3, 32, 32) and images.dtype == torch.uint8
    # a 32x32 file is read pixel for pixel; the 64x64 one is resized to the model's 32x32
    first_truck = sorted((folder / "truck").glob("*.jpg"))[0]
    assert torch.equal(images[4], torch.from_numpy(np.array(Image.open(first_truck).convert("RGB"))).permute(2, 0, 1))


def test_digit_sources_read_folders_named_by_label_in_grey(tmp_path):
    for label in ("3", "7"):
        (tmp_path / label).mkdir()
        Image.new("RGB", (20, 20), (200, 100, 0)).save(tmp_path / label / "a.png")
    datamodule = ImageDataModule(source="digits", root=str(tmp_path), image_size=16, batch_size=2)
    datamodule.test_on_whole_folder()
    assert datamodule.test_set.labels.tolist() == [3, 7]
    assert datamodule.test_set.images.shape == (2, 1, 16, 16)


def test_foreign_folders_and_folders_without_images_are_named(tmp_path):
    (tmp_path / "kitten").mkdir()
    with pytest.raises(DataError, match=r"not classes of data.source=cifar10: \['kitten'\]"):
        ImageDataModule(source="cifar10", root=str(tmp_path), test_fraction=None).test_on_whole_folder()
    (tmp_path / "kitten").rmdir()
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "broken.jpg").write_bytes(b"")
    with pytest.warns(UserWarning, match="broken.jpg"), pytest.raises(DataError, match="holds no readable image"):
        ImageDataModule(source="cifar10", root=str(tmp_path), test_fraction=None).test_on_whole_folder()


def test_evaluate_scores_a_trained_checkpoint_on_a_folder(cifar10_images_excerpt, tmp_path):
    train_cfg = run.compose("train", [
        "experiment=pruning_quantisation/cifar10", f"data.root={cifar10_images_excerpt}", "data.per_class_limit=4",
        "data.num_workers=0", "model.network=shufflenet", "trainer.max_epochs=1", "logger=none",
        "trainer.enable_progress_bar=false", f"paths.output_dir={tmp_path / 'run'}",
    ])
    run.train(train_cfg)
    folder = _user_folder(tmp_path / "mine", cifar10_images_excerpt / "test")
    cfg = run.compose("evaluate", [
        "experiment=pruning_quantisation/cifar10", "data.num_workers=0", "model.network=shufflenet", "logger=none",
        "trainer.enable_progress_bar=false", f"ckpt_path={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}",
        f"whole_folder={folder}", f"paths.output_dir={tmp_path / 'eval'}",
    ])
    cli.check_whole_folder(cfg)
    with pytest.warns(UserWarning, match="broken.jpg"):
        metrics = run.evaluate(cfg)
    # the same accuracy by hand: the checkpoint's predictions on the six readable images
    datamodule = ImageDataModule(source="cifar10", root=str(folder), test_fraction=None, batch_size=6)
    with pytest.warns(UserWarning):
        datamodule.test_on_whole_folder()
    model = run.load_model(cfg.model, cfg.ckpt_path)
    with torch.no_grad():
        predicted = model(normalise(datamodule.test_set.images)).argmax(1)
    assert metrics["test/acc"] == pytest.approx((predicted == datamodule.test_set.labels).float().mean().item())

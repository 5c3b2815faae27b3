"""common.readers: IDX files (every type, gzipped or not, bad input named), the MNIST-family locator
(each layout, each family name), and the ImageFolder reader (order, labels, subset, bad input)."""
import gzip

import numpy as np
import pytest

from common.errors import ConfigError, DataError
from common.readers import (
    find_idx_file,
    find_idx_files,
    idx_file_names,
    list_image_folder,
    read_idx,
    read_idx_pair,
    read_image_folder,
    read_rgb_images,
)
from tests.test_reader_characterisation import idx_bytes


def _write(path, array, packed: bool):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if packed else data)
    return path


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("packed", [True, False])
def test_read_idx_every_type_gzipped_or_not(tmp_path, dtype, packed):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    path = _write(tmp_path / ("a.idx.gz" if packed else "a.idx"), array, packed)
    out = read_idx(path)
    assert out.shape == (2, 3, 4) and out.dtype == np.dtype(dtype)
    assert np.array_equal(out, array)


def _bad(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize(("name", "content", "message"), [
    ("short.idx", b"\x00\x00", "shorter than the 4-byte magic"),
    ("magic.idx", b"\x01\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc", "bad magic number 01000801"),
    ("type.idx", b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc", "bad magic number"),
    ("header.idx", b"\x00\x00\x08\x03" + (3).to_bytes(4, "big"), "truncated: its header says 3 dimensions"),
    ("body.idx", b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "truncated: header says shape"),
    ("long.idx", b"\x00\x00\x08\x01" + (2).to_bytes(4, "big") + b"abc", "longer than its header says"),
    ("body.idx.gz", gzip.compress(b"\x00\x00\x0b\x01" + (2).to_bytes(4, "big") + b"abc"), "truncated"),
    ("corrupt.idx.gz", b"\x1f\x8b not gzip at all", "could not read the IDX file"),
    ("cut.idx.gz", gzip.compress(b"\x00\x00\x08\x01" + (200).to_bytes(4, "big") + bytes(200))[:30],
     "could not read the IDX file"),
])
def test_bad_idx_files_are_named(tmp_path, name, content, message):
    path = _bad(tmp_path, name, content)
    with pytest.raises(DataError, match=message) as caught:
        read_idx(path)
    assert str(path) in str(caught.value)


def test_missing_idx_file_is_named(tmp_path):
    with pytest.raises(DataError, match="IDX file not found: .*missing.gz"):
        read_idx(tmp_path / "missing.gz")


def test_idx_file_names_of_each_family():
    assert idx_file_names("mnist", "test") == ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    assert idx_file_names("mnist", "t10k") == idx_file_names("mnist", "test")
    assert idx_file_names("fashion_mnist", "train") == ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    assert idx_file_names("emnist_digits", "test") == ("emnist-digits-test-images-idx3-ubyte",
                                                       "emnist-digits-test-labels-idx1-ubyte")
    with pytest.raises(ConfigError, match="kmnist"):
        idx_file_names("kmnist", "test")
    with pytest.raises(ConfigError, match="emnist_<split>"):
        idx_file_names("emnist_cursive", "test")
    with pytest.raises(ConfigError, match="'train' or 'test'"):
        idx_file_names("mnist", "val")


def _family(root, dataset, layout):
    """Write a dataset's test pair (7 images of 4x4) in one layout: gz in root, unpacked in root, or
    torchvision's <Name>/raw (gz or unpacked)."""
    images = np.arange(7 * 16, dtype=np.uint8).reshape(7, 4, 4)
    labels = np.arange(7, dtype=np.uint8)
    folder = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}.get(dataset, "EMNIST")
    where = root / folder / "raw" if layout.startswith("raw") else root
    packed = layout in ("gz", "raw_gz")
    for name, array in zip(idx_file_names(dataset, "test"), (images, labels), strict=True):
        _write(where / (name + (".gz" if packed else "")), array, packed)
    return images, labels


@pytest.mark.parametrize("dataset", ["mnist", "fashion_mnist", "emnist_digits"])
@pytest.mark.parametrize("layout", ["gz", "unpacked", "raw_gz", "raw"])
def test_each_layout_is_found_and_read_alike(tmp_path, dataset, layout):
    images, labels = _family(tmp_path, dataset, layout)
    found = find_idx_files(tmp_path, dataset, "test")
    assert all(p.is_file() and p.is_relative_to(tmp_path) for p in found)
    assert ("raw" in found[0].parts) == layout.startswith("raw")
    read_images, read_labels = read_idx_pair(tmp_path, dataset, "test")
    assert np.array_equal(read_images, images) and np.array_equal(read_labels, labels)


def test_locator_prefers_the_root_and_gz(tmp_path):
    _family(tmp_path, "mnist", "raw")
    _family(tmp_path, "mnist", "unpacked")
    assert find_idx_file(tmp_path, "mnist", "t10k-labels-idx1-ubyte") == tmp_path / "t10k-labels-idx1-ubyte"
    _family(tmp_path, "mnist", "gz")
    assert find_idx_file(tmp_path, "mnist", "t10k-labels-idx1-ubyte") == tmp_path / "t10k-labels-idx1-ubyte.gz"


def test_missing_family_file_names_the_file_and_the_places(tmp_path):
    with pytest.raises(DataError, match=r"Missing FashionMNIST file train-images-idx3-ubyte.gz: not found in") as caught:
        find_idx_files(tmp_path, "fashion_mnist", "train")
    assert "FashionMNIST/raw/train-images-idx3-ubyte" in str(caught.value)
    _family(tmp_path, "mnist", "gz")
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros(3, np.uint8))))
    with pytest.raises(DataError, match="do not match"):
        read_idx_pair(tmp_path, "mnist", "test")


# ---------------------------------------------------------------------------- image folders


def _image(path, colour, size=32):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), colour).save(path)


def _folder(root, classes=("b_cat", "a_dog", "c_eel"), per_class=3):
    for c, name in enumerate(classes):
        for i in reversed(range(per_class)):  # written out of order: the listing sorts
            _image(root / name / f"{i:02d}.png", (40 * c, 10 * i, 7))
    (root / "a_dog" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    return root


def test_listing_sorts_classes_and_files(tmp_path):
    root = _folder(tmp_path / "f")
    listing = list_image_folder(root)
    assert listing.classes == ("a_dog", "b_cat", "c_eel")
    assert [p.relative_to(root).as_posix() for p in listing.files[:3]] == ["a_dog/00.png", "a_dog/01.png", "a_dog/02.png"]
    assert listing.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] and listing.labels.dtype == np.int64
    given = list_image_folder(root, classes=("c_eel", "b_cat", "a_dog"), per_class_limit=2)
    assert given.labels.tolist() == [0, 0, 1, 1, 2, 2]
    assert [p.name for p in given.files] == ["00.png", "01.png"] * 3 and given.files[0].parent.name == "c_eel"


def test_reader_pixels_labels_and_subset(tmp_path):
    from PIL import Image

    root = _folder(tmp_path / "f")
    data = read_image_folder(root)
    assert data.images.shape == (9, 32, 32, 3) and data.images.dtype == np.uint8
    assert np.array_equal(data.images[4], np.asarray(Image.open(root / "b_cat" / "01.png").convert("RGB")))
    picked = read_image_folder(root, subset=lambda n: [n - 1, 0, 4])
    assert picked.labels.tolist() == [2, 0, 1] and [p.name for p in picked.files] == ["02.png", "00.png", "01.png"]
    assert np.array_equal(picked.images, data.images[[8, 0, 4]])


def test_image_folder_bad_input_is_named(tmp_path):
    with pytest.raises(DataError, match="image folder not found"):
        list_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class folders"):
        list_image_folder(tmp_path / "empty")
    root = _folder(tmp_path / "f")
    with pytest.raises(DataError, match="not classes of .*'c_eel'"):
        list_image_folder(root, classes=("a_dog", "b_cat"))
    with pytest.raises(DataError, match="class folder .*f/zebra is missing"):
        list_image_folder(root, classes=("a_dog", "b_cat", "c_eel", "zebra"))
    (root / "d_fox").mkdir()
    with pytest.raises(DataError, match="class folder .*d_fox is missing or holds no"):
        list_image_folder(root)
    (root / "d_fox").rmdir()
    (root / "b_cat" / "01.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="could not read image .*b_cat/01.png"):
        read_image_folder(root)
    _image(root / "b_cat" / "01.png", (0, 0, 0), size=16)
    with pytest.raises(DataError, match="01.png is 16x16, expected a 32x32 image"):
        read_rgb_images([root / "b_cat" / "01.png"])
    assert read_rgb_images([root / "b_cat" / "01.png"], size=16).shape == (1, 16, 16, 3)

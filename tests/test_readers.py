"""Readers for torchvision and Hugging Face datasets, on fixtures written in each library's own format.

The MNIST and Oxford-IIIT Pet fixtures are files in the layouts torchvision's own classes read with
download=False; the Hugging Face fixtures are written by `datasets.save_to_disk`. Only the one test of a
failed download replaces torchvision's download function, so that it is fast and never really downloads.
"""

from __future__ import annotations

import struct
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zap.data import ArrayDataset, DataError, from_hf_disk, from_torchvision
from zap.data.images import pil_to_array

datasets = pytest.importorskip("datasets")
torchvision = pytest.importorskip("torchvision")

N_CLASSES = 10


# ---------------------------------------------------------------------------------------------- fixtures


def _idx_images(images: np.ndarray) -> bytes:
    """The idx3-ubyte format: magic 2051, count, rows, cols (big-endian int32), then uint8 pixels."""
    n, rows, cols = images.shape
    return struct.pack(">4i", 2051, n, rows, cols) + images.astype(np.uint8).tobytes()


def _idx_labels(labels: np.ndarray) -> bytes:
    """The idx1-ubyte format: magic 2049, count, then one uint8 label per image."""
    return struct.pack(">2i", 2049, len(labels)) + labels.astype(np.uint8).tobytes()


def _digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 images whose brightness encodes their label, so a mix-up of images and labels shows."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % N_CLASSES
    rng.shuffle(labels)
    images = rng.integers(0, 20, size=(n, 28, 28)) + (labels * 20)[:, None, None]
    return images.astype(np.uint8), labels


def _write_mnist_like(root: Path, folder: str, n_train: int = 40, n_test: int = 20) -> dict[str, np.ndarray]:
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    x_train, y_train = _digits(n_train, seed=1)
    x_test, y_test = _digits(n_test, seed=2)
    (raw / "train-images-idx3-ubyte").write_bytes(_idx_images(x_train))
    (raw / "train-labels-idx1-ubyte").write_bytes(_idx_labels(y_train))
    (raw / "t10k-images-idx3-ubyte").write_bytes(_idx_images(x_test))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(_idx_labels(y_test))
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


@pytest.fixture
def mnist_root(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    return tmp_path, _write_mnist_like(tmp_path, "MNIST")


def _write_pets(root: Path, sizes: list[tuple[int, int]] | None = None) -> Path:
    """Oxford-IIIT Pet's layout: images/<breed>_<n>.jpg and annotations/{trainval,test}.txt."""
    base = root / "oxford-iiit-pet"
    (base / "images").mkdir(parents=True)
    (base / "annotations").mkdir()
    breeds = [("Abyssinian", 1), ("beagle", 2), ("Bengal", 1)]
    sizes = sizes or [(24, 20)] * 12
    lines = []
    for i, size in enumerate(sizes):
        label, (breed, species) = i % len(breeds), breeds[i % len(breeds)]
        image_id = f"{breed}_{i}"
        colour = (40 + 60 * label, 100, 200 - 50 * label)
        Image.new("RGB", size, colour).save(base / "images" / f"{image_id}.jpg", quality=95)
        lines.append(f"{image_id} {label + 1} {species} 1")
    (base / "annotations" / "trainval.txt").write_text("\n".join(lines) + "\n")
    (base / "annotations" / "test.txt").write_text("\n".join(lines[:6]) + "\n")
    return root


def _pictures(n: int, size: tuple[int, int] = (12, 10), mode: str = "RGB") -> list[Image.Image]:
    rng = np.random.default_rng(n)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return [Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode) for _ in range(n)]


def _hf_dataset(images: list[Image.Image], labels: list[int], names: list[str], **extra: object):
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=names)}
    data: dict[str, list] = {"image": images, "label": labels}
    for column, (values, feature) in extra.items():
        data[column], features[column] = values, feature
    return datasets.Dataset.from_dict(data, features=datasets.Features(features))


@pytest.fixture
def hf_saved(tmp_path: Path) -> tuple[Path, list[Image.Image], list[int]]:
    images, labels = _pictures(8), [0, 1, 2, 0, 1, 2, 2, 1]
    path = tmp_path / "hf"
    _hf_dataset(images, labels, ["cat", "dog", "owl"]).save_to_disk(str(path))
    return path, images, labels


# ------------------------------------------------------------------------------------------- torchvision


def test_mnist_train_matches_torchvision(mnist_root) -> None:
    root, arrays = mnist_root
    dataset = from_torchvision("MNIST", root)
    assert isinstance(dataset, ArrayDataset)
    assert dataset.images.shape == (40, 28, 28, 1) and dataset.images.dtype == np.uint8
    np.testing.assert_array_equal(dataset.images[..., 0], arrays["x_train"])
    np.testing.assert_array_equal(dataset.labels, arrays["y_train"])
    reference = torchvision.datasets.MNIST(str(root), train=True)
    assert dataset.class_names == reference.classes
    for i in (0, 17, 39):
        image, target = reference[i]
        np.testing.assert_array_equal(dataset.images[i], pil_to_array(image))
        assert dataset.labels[i] == target


def test_mnist_test_split_and_case_insensitive_name(mnist_root) -> None:
    root, arrays = mnist_root
    dataset = from_torchvision("mnist", root, train=False)
    np.testing.assert_array_equal(dataset.images[..., 0], arrays["x_test"])
    np.testing.assert_array_equal(dataset.labels, arrays["y_test"])
    assert dataset.name == "MNIST-test"


def test_max_images_is_a_seeded_sample_of_real_rows(mnist_root) -> None:
    root, arrays = mnist_root
    first = from_torchvision("MNIST", root, max_images=30)
    again = from_torchvision("MNIST", root, max_images=30)
    assert len(first) == 30
    np.testing.assert_array_equal(first.images, again.images)
    rows = {arrays["x_train"][i].tobytes(): arrays["y_train"][i] for i in range(40)}
    assert all(rows[img[..., 0].tobytes()] == label for img, label in zip(first.images, first.labels, strict=True))
    with pytest.raises(DataError, match="max_images"):
        from_torchvision("MNIST", root, max_images=0)


def test_fashion_mnist_brings_its_class_names(tmp_path: Path) -> None:
    _write_mnist_like(tmp_path, "FashionMNIST")
    dataset = from_torchvision("FashionMNIST", tmp_path)
    assert dataset.class_names[0] == "T-shirt/top" and len(dataset.class_names) == 10


def test_split_datasets_find_their_training_split(tmp_path: Path) -> None:
    """Oxford-IIIT Pet takes split='trainval'/'test', not train=: 'train' is refused, 'trainval' read."""
    root = _write_pets(tmp_path)
    dataset = from_torchvision("OxfordIIITPet", root)
    reference = torchvision.datasets.OxfordIIITPet(str(root), split="trainval")
    assert dataset.images.shape == (12, 20, 24, 3)
    assert dataset.class_names == reference.classes == ["Abyssinian", "Beagle", "Bengal"]
    np.testing.assert_array_equal(dataset.labels, [i % 3 for i in range(12)])
    np.testing.assert_array_equal(dataset.images[4], pil_to_array(reference[4][0]))
    assert len(from_torchvision("OxfordIIITPet", root, train=False)) == 6


def test_mixed_sizes_name_the_fix(tmp_path: Path) -> None:
    root = _write_pets(tmp_path, sizes=[(24, 20)] * 11 + [(30, 30)])
    with pytest.raises(DataError, match=r"2 different sizes.*image folder"):
        from_torchvision("OxfordIIITPet", root)


def test_fake_data_needs_no_root(tmp_path: Path) -> None:
    dataset = from_torchvision("FakeData", tmp_path / "unused", max_images=100)
    assert dataset.images.shape == (100, 224, 224, 3)
    assert dataset.class_names == [str(k) for k in range(10)]
    assert not (tmp_path / "unused").exists()


def test_unknown_torchvision_name(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"torchvision has no dataset named 'MNSIT'.*Did you mean MNIST"):
        from_torchvision("MNSIT", tmp_path)
    with pytest.raises(DataError, match="no dataset named 'utils'"):
        from_torchvision("utils", tmp_path)


def test_missing_files_without_download(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"not in .*from_torchvision\(\.\.\., download=True\)") as info:
        from_torchvision("MNIST", tmp_path)
    assert "download=True" in str(info.value) and str(tmp_path) in str(info.value)


def test_failed_download_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: each mirror's download raises URLError, as urllib does offline."""
    calls = []

    def offline(url: str, *args: object, **kwargs: object) -> None:
        calls.append(url)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", offline)
    with pytest.raises(DataError, match=r"downloading torchvision's MNIST into .* failed") as info:
        from_torchvision("MNIST", tmp_path, download=True)
    message = str(info.value)
    assert str(tmp_path) in message and "machine with internet" in message and "copy" in message
    assert calls, "torchvision's own download path should have been taken"


def test_download_true_with_files_present_reads_them(mnist_root, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("files are present: nothing should be downloaded")

    monkeypatch.setattr(torchvision.datasets.mnist, "download_and_extract_archive", no_network)
    root, _ = mnist_root
    assert len(from_torchvision("MNIST", root, download=True)) == 40


# ------------------------------------------------------------------------------------------ Hugging Face


def test_hf_dataset_reads_images_labels_and_names(hf_saved) -> None:
    path, images, labels = hf_saved
    dataset = from_hf_disk(path)
    assert dataset.class_names == ["cat", "dog", "owl"]
    assert dataset.images.shape == (8, 10, 12, 3)
    np.testing.assert_array_equal(dataset.labels, labels)
    for i in range(8):
        np.testing.assert_array_equal(dataset.images[i], np.asarray(images[i]))


def test_hf_dataset_dict_defaults_to_train_and_takes_split(tmp_path: Path) -> None:
    names = ["a", "b"]
    train = _hf_dataset(_pictures(6, mode="L"), [0, 1, 0, 1, 0, 1], names)
    test = _hf_dataset(_pictures(4, mode="L"), [1, 0, 1, 0], names)
    path = tmp_path / "dd"
    datasets.DatasetDict({"train": train, "test": test}).save_to_disk(str(path))
    assert from_hf_disk(path).images.shape == (6, 10, 12, 1)
    chosen = from_hf_disk(path, split="test")
    np.testing.assert_array_equal(chosen.labels, [1, 0, 1, 0])
    assert chosen.name == "dd-test"
    with pytest.raises(DataError, match=r"no split 'validation'.*test, train"):
        from_hf_disk(path, split="validation")


def test_hf_dataset_dict_without_train_lists_splits(tmp_path: Path) -> None:
    part = _hf_dataset(_pictures(4), [0, 1, 0, 1], ["a", "b"])
    path = tmp_path / "dd"
    datasets.DatasetDict({"dev": part, "holdout": part}).save_to_disk(str(path))
    with pytest.raises(DataError, match=r"no 'train' split.*split=.*dev, holdout"):
        from_hf_disk(path)


def test_hf_columns_ambiguous_or_missing(tmp_path: Path) -> None:
    images = _pictures(4)
    two_images = _hf_dataset(images, [0, 1, 0, 1], ["a", "b"], thumb=(images, datasets.Image()))
    two_images.save_to_disk(str(tmp_path / "two"))
    with pytest.raises(DataError, match=r"2 image columns \(image, thumb\).*image_column="):
        from_hf_disk(tmp_path / "two")
    assert len(from_hf_disk(tmp_path / "two", image_column="thumb")) == 4

    features = datasets.Features({"image": datasets.Image(), "label": datasets.Value("int64")})
    datasets.Dataset.from_dict({"image": images, "label": [0, 1, 0, 1]}, features=features).save_to_disk(
        str(tmp_path / "plain")
    )
    with pytest.raises(DataError, match=r"no ClassLabel column.*label_column=.*label \(Value\)"):
        from_hf_disk(tmp_path / "plain")
    plain = from_hf_disk(tmp_path / "plain", label_column="label")
    assert plain.class_names == ["0", "1"]
    with pytest.raises(DataError, match="no column 'lable'"):
        from_hf_disk(tmp_path / "plain", label_column="lable")


def test_hf_string_labels_and_max_images(tmp_path: Path) -> None:
    features = datasets.Features({"image": datasets.Image(), "kind": datasets.Value("string")})
    kinds = ["owl", "cat"] * 10
    datasets.Dataset.from_dict({"image": _pictures(20), "kind": kinds}, features=features).save_to_disk(
        str(tmp_path / "s")
    )
    dataset = from_hf_disk(tmp_path / "s", label_column="kind", max_images=12)
    assert len(dataset) == 12 and dataset.class_names == ["cat", "owl"]


def test_hf_mixed_sizes_and_unlabelled_split(tmp_path: Path) -> None:
    images = _pictures(3) + _pictures(3, size=(16, 16))
    _hf_dataset(images, [0, 1, 0, 1, 0, 1], ["a", "b"]).save_to_disk(str(tmp_path / "mixed"))
    with pytest.raises(DataError, match=r"different sizes.*image folder"):
        from_hf_disk(tmp_path / "mixed")
    _hf_dataset(_pictures(4), [-1, -1, -1, -1], ["a", "b"]).save_to_disk(str(tmp_path / "unlabelled"))
    with pytest.raises(DataError, match="no label"):
        from_hf_disk(tmp_path / "unlabelled")


def test_hf_missing_or_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        from_hf_disk(tmp_path / "nowhere")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hello")
    with pytest.raises(DataError, match="not a Hugging Face dataset saved with save_to_disk"):
        from_hf_disk(tmp_path / "junk")


def test_hf_without_datasets_installed(hf_saved, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # what `import datasets` sees when not installed
    with pytest.raises(DataError, match="pip install datasets"):
        from_hf_disk(hf_saved[0])

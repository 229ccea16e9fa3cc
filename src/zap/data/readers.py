"""Readers for standard dataset sources: torchvision's dataset classes and Hugging Face datasets on disk.

Both end in an in-memory ArrayDataset, so everything downstream (splitting, training, reports) treats a
downloaded benchmark exactly like a user's own arrays. Every failure the libraries can raise here (files
missing, no network, a wrong split or column) becomes a DataError that says what to do, never a traceback
from inside torchvision or `datasets`.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from zap.data.dataset import ArrayDataset
from zap.data.errors import DataError
from zap.data.images import pil_to_array, to_channels
from zap.data.loaders import from_arrays, images_from_array

TRAIN_SPLITS = ("train", "trainval", "train-standard")
TEST_SPLITS = ("test", "val", "valid")
SAMPLE_SEED = 0
# torchvision datasets that unpickle a file no checksum vouches for (LSUN: a key cache in the working folder);
# loading data one was given must never run code. CIFAR also unpickles, but only after an MD5 check.
UNPICKLING_TORCHVISION = frozenset({"LSUN", "LSUNClass"})
MIXED_SIZES_FIX = (
    "Resize the images to one size, or save them as an image folder (one sub-folder per class), "
    "which zap reads with mixed sizes."
)


# ------------------------------------------------------------------------------------------------ shared


def _sample_indices(n: int, max_images: int | None) -> np.ndarray:
    """The first-N images of a class-sorted dataset may be one class; a seeded sample keeps the mix."""
    if max_images is not None and max_images < 1:
        raise DataError(f"max_images must be a positive number of images, got {max_images}")
    if max_images is None or max_images >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(SAMPLE_SEED).choice(n, size=max_images, replace=False))


def _image_array(value: Any, where: str) -> np.ndarray:
    """One image as a library hands it over (PIL image, array or tensor) -> uint8 (H, W, C)."""
    if isinstance(value, Image.Image):
        return pil_to_array(value)
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray) and value.ndim in (2, 3):
        return images_from_array(value[None])[0]
    raise DataError(f"{where} is a {type(value).__name__}, not an image; zap reads PIL images, arrays or tensors")


def _stack(images: list[np.ndarray], name: str, fix: str) -> np.ndarray:
    """Gray images among colour ones are widened (as for folders); sizes must agree to form one array."""
    sizes = sorted({img.shape[:2] for img in images})
    if len(sizes) > 1:
        shown = ", ".join(f"{h}x{w}" for h, w in sizes[:5])
        raise DataError(
            f"{name} holds images of {len(sizes)} different sizes ({shown}{', ...' if len(sizes) > 5 else ''}); "
            f"an in-memory dataset needs one size. {fix}"
        )
    channels = max(img.shape[-1] for img in images)
    return np.stack([to_channels(img, channels) for img in images])


def _check_labels_present(labels: np.ndarray, name: str) -> None:
    """Test splits of public datasets often carry -1 for 'no label'; say so instead of 'out of range'."""
    if labels.size and np.any(labels < 0):
        count = int(np.sum(labels < 0))
        raise DataError(
            f"{name}: {count} of {labels.size} images have no label (-1); this split is unlabelled. "
            "Use a labelled split (usually 'train') for training and evaluation."
        )


# ------------------------------------------------------------------------------------------- torchvision


def _torchvision_class(name: str) -> type:
    """Look the dataset class up by name; a case-insensitive match ('mnist') is accepted when unique."""
    import torch.utils.data
    import torchvision.datasets

    known = sorted(
        n
        for n in getattr(torchvision.datasets, "__all__", dir(torchvision.datasets))
        if inspect.isclass(getattr(torchvision.datasets, n, None))
        and issubclass(getattr(torchvision.datasets, n), torch.utils.data.Dataset)
    )
    exact = [n for n in known if n == name] or [n for n in known if n.lower() == name.lower()]
    if len(exact) == 1 and exact[0] in UNPICKLING_TORCHVISION:
        raise DataError(
            f"zap does not read torchvision's {exact[0]}: it unpickles an unchecked cache file, and loading data "
            "must never run code; export its images to an image folder (one sub-folder per class) instead"
        )
    if len(exact) == 1:
        return getattr(torchvision.datasets, exact[0])
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise DataError(f"torchvision has no dataset named {name!r}.{hint} Known datasets: {', '.join(known)}")


def _constructor_kwargs(cls: type, root: Path, train: bool, download: bool) -> list[dict[str, Any]]:
    """Arguments to try, in order: datasets take train=, or split= with one of a few usual names."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    base: dict[str, Any] = {}
    if "root" in params:
        base["root"] = str(root)
    if "download" in params or open_kwargs:
        base["download"] = download
    if "train" in params:
        return [{**base, "train": train}]
    if "split" in params:
        return [{**base, "split": split} for split in (TRAIN_SPLITS if train else TEST_SPLITS)]
    return [base]


def _download_failed(name: str, root: Path, exc: BaseException) -> DataError:
    return DataError(
        f"downloading torchvision's {name} into {root} failed ({type(exc).__name__}: {exc}). Check the "
        f"internet connection, or download it on a machine with internet (e.g. torchvision.datasets.{name}"
        f"(root, download=True)) and copy the whole {root} folder here, then read it with download=False."
    )


def _missing_data(name: str, root: Path, exc: BaseException) -> DataError:
    return DataError(
        f"torchvision's {name} is not in {root} ({exc}). Call from_torchvision(..., download=True) on a "
        f"machine with internet to fetch it into {root}, or copy a downloaded {root} folder here."
    )


def _build_torchvision(cls: type, name: str, root: Path, train: bool, download: bool) -> Any:
    """Construct the dataset, turning every library failure into a DataError that says what to do."""
    attempts = _constructor_kwargs(cls, root, train, download)
    for i, kwargs in enumerate(attempts):
        try:
            return cls(**kwargs)
        except ImportError as exc:
            raise DataError(
                f"torchvision's {name} needs the package {exc.name or exc}; install it with pip and run again"
            ) from exc
        except ValueError as exc:
            if "split" in kwargs and i + 1 < len(attempts):
                continue  # this dataset names its training/test split differently: try the next name
            tried = f"split={', '.join(a['split'] for a in attempts)}" if "split" in kwargs else str(kwargs)
            raise DataError(
                f"torchvision could not open {name} with {tried} ({exc}); load it in Python with the "
                "arguments it needs and pass its arrays to zap.data.from_arrays"
            ) from exc
        except (OSError, RuntimeError) as exc:  # URLError is an OSError; MNIST wraps failed mirrors in one
            raise (_download_failed if download else _missing_data)(name, root, exc) from exc
        except Exception as exc:
            raise DataError(
                f"torchvision could not open {name} in {root} ({type(exc).__name__}: {exc}); "
                "load it in Python and pass its arrays to zap.data.from_arrays"
            ) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")


def _as_numpy(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        return np.asarray(value)
    except (TypeError, ValueError):
        return None


def _stored_arrays(dataset: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """MNIST, CIFAR, SVHN, STL10 keep every image in one uint8 array: read it whole instead of one
    PIL image at a time. Anything less regular goes through __getitem__."""
    data = _as_numpy(getattr(dataset, "data", None))
    targets = _as_numpy(getattr(dataset, "targets", getattr(dataset, "labels", None)))
    n = len(dataset)
    if data is None or targets is None or data.dtype != np.uint8 or data.ndim not in (3, 4):
        return None
    if len(data) != n or targets.ndim != 1 or len(targets) != n or not np.issubdtype(targets.dtype, np.integer):
        return None
    return data, targets


def _integer_target(target: Any, where: str) -> int:
    if hasattr(target, "item"):
        target = target.item()
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return int(target)
    raise DataError(
        f"{where} has target {target!r} ({type(target).__name__}), not a class index; zap reads "
        "classification datasets whose targets are integers"
    )


def _read_items(dataset: Any, indices: Iterable[int], name: str) -> tuple[list[np.ndarray], list[int]]:
    images, labels = [], []
    for i in indices:
        where = f"image #{i} of {name}"
        try:
            image, target = dataset[int(i)][:2]
        except Exception as exc:
            raise DataError(f"torchvision failed to read {where} ({type(exc).__name__}: {exc})") from exc
        images.append(_image_array(image, where))
        labels.append(_integer_target(target, where))
    return images, labels


def _class_names(dataset: Any, labels: np.ndarray) -> list[str] | None:
    """`.classes` when it names every label, else None (from_arrays then uses "0".."K-1")."""
    classes = getattr(dataset, "classes", None)
    if isinstance(classes, (list, tuple)) and classes and len(classes) > int(labels.max(initial=-1)):
        return [str(c) for c in classes]
    return None


def from_torchvision(
    name: str,
    root: str | Path,
    *,
    train: bool = True,
    download: bool = False,
    max_images: int | None = None,
) -> ArrayDataset:
    """A torchvision dataset by class name ("MNIST", "CIFAR10", "SVHN", ...), read into memory.

    `train` picks the training or test part (train= or split= as the class takes it). With
    download=False the files must already be in `root`, so runs on offline machines never touch the
    network. `max_images` keeps a seeded random sample, not the first N, since some datasets are sorted.
    """
    cls = _torchvision_class(name)
    name = cls.__name__
    root = Path(root)
    dataset = _build_torchvision(cls, name, root, train, download)
    title = f"{name}-{'train' if train else 'test'}"
    indices = _sample_indices(len(dataset), max_images)
    if len(indices) == 0:
        raise DataError(f"torchvision's {name} in {root} holds no images")
    stored = _stored_arrays(dataset)
    if stored is not None:
        x, y = stored[0][indices], stored[1][indices]
    else:
        images, labels = _read_items(dataset, indices, title)
        x = _stack(images, title, MIXED_SIZES_FIX)
        y = np.asarray(labels, dtype=np.int64)
    _check_labels_present(np.asarray(y), title)
    return from_arrays(x, y, class_names=_class_names(dataset, np.asarray(y)), name=title)


# ------------------------------------------------------------------------------------------ Hugging Face


def _import_datasets() -> Any:
    try:
        import datasets
    except ImportError as exc:
        raise DataError(
            "reading Hugging Face datasets needs the 'datasets' package: pip install datasets "
            "(or pip install 'zap[hub]')"
        ) from exc
    return datasets


def _load_saved(datasets: Any, path: Path) -> Any:
    if not path.exists():
        raise DataError(f"Hugging Face dataset folder {path} does not exist; give the folder save_to_disk wrote")
    try:
        return datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataError(
            f"{path} is not a Hugging Face dataset saved with save_to_disk ({exc}). Save it with "
            "dataset.save_to_disk(path), or for image files use an image folder (one sub-folder per class)."
        ) from exc


def _pick_split(datasets: Any, loaded: Any, split: str | None, path: Path) -> tuple[Any, str]:
    """A DatasetDict needs a split ('train' when not given and present); a single Dataset is its own."""
    if isinstance(loaded, datasets.DatasetDict):
        splits = sorted(loaded)
        chosen = split if split is not None else ("train" if "train" in loaded else None)
        if chosen is None or chosen not in loaded:
            what = f"has no split {split!r}" if split is not None else "has no 'train' split"
            raise DataError(f"{path} {what}; choose one of its splits with split=: {', '.join(splits)}")
        return loaded[chosen], chosen
    saved = getattr(loaded, "split", None)
    if split is not None and saved is not None and str(saved) != split:
        raise DataError(
            f"{path} holds only the {str(saved)!r} split, not {split!r}; drop split= or save the "
            f"{split!r} split too (a DatasetDict saved with save_to_disk keeps every split)"
        )
    return loaded, str(saved) if saved is not None else ""


def _describe_columns(features: Any) -> str:
    return ", ".join(f"{col} ({type(feat).__name__})" for col, feat in features.items())


def _pick_column(features: Any, given: str | None, kind: type, role: str, param: str, path: Path) -> str:
    """The column named by the user, or the only column of the right feature type."""
    if given is not None:
        if given not in features:
            raise DataError(f"{path} has no column {given!r}; its columns are {_describe_columns(features)}")
        return given
    matches = [col for col, feat in features.items() if isinstance(feat, kind)]
    if len(matches) == 1:
        return matches[0]
    problem = f"{len(matches)} {role} columns ({', '.join(matches)})" if matches else f"no {role} column"
    raise DataError(
        f"{path} has {problem}: name the one to use with {param}=. Its columns are {_describe_columns(features)}"
    )


def _hf_images(datasets: Any, table: Any, column: str, name: str) -> np.ndarray:
    feature = table.features[column]
    if not isinstance(feature, datasets.Image):
        raise DataError(
            f"column {column!r} of {name} is {type(feature).__name__}, not an Image column; "
            f"pass image_column= with one of: {_describe_columns(table.features)}"
        )
    if not feature.decode:
        table = table.cast_column(column, datasets.Image(decode=True))
    images = []
    for i, img in enumerate(list(table[column])):
        if img is None:
            raise DataError(f"image #{i} of {name} is empty (None); drop that row or fill it in")
        images.append(pil_to_array(img))
    return _stack(images, name, MIXED_SIZES_FIX)


def _hf_labels(datasets: Any, table: Any, column: str, name: str) -> tuple[np.ndarray, list[str] | None]:
    """ClassLabel columns bring their names; plain integer labels get "0".."K-1"; strings are sorted."""
    feature = table.features[column]
    values = list(table[column])
    if isinstance(feature, datasets.ClassLabel):
        return np.asarray(values, dtype=np.int64), [str(n) for n in feature.names]
    if any(v is None for v in values):
        raise DataError(f"column {column!r} of {name} has empty labels; every image needs one")
    if all(isinstance(v, str) for v in values):
        names = sorted(set(values))
        index = {n: k for k, n in enumerate(names)}
        return np.asarray([index[v] for v in values], dtype=np.int64), names
    return np.asarray(values), None


def from_hf_disk(
    path: str | Path,
    *,
    split: str | None = None,
    image_column: str | None = None,
    label_column: str | None = None,
    max_images: int | None = None,
) -> ArrayDataset:
    """A Hugging Face dataset written by `save_to_disk` (Dataset or DatasetDict), read into memory.

    Reading from disk instead of the Hub keeps runs reproducible and offline-safe: fetch once with
    `datasets.load_dataset(...).save_to_disk(path)`, then point zap at `path`. The image column (feature
    Image) and label column (feature ClassLabel, whose names become class names) are found by type.
    """
    datasets = _import_datasets()
    path = Path(path)
    table, chosen = _pick_split(datasets, _load_saved(datasets, path), split, path)
    name = f"{path.name}-{chosen}" if chosen else path.name
    image_col = _pick_column(table.features, image_column, datasets.Image, "image", "image_column", path)
    label_col = _pick_column(table.features, label_column, datasets.ClassLabel, "ClassLabel", "label_column", path)
    indices = _sample_indices(len(table), max_images)
    if len(indices) == 0:
        raise DataError(f"{name} ({path}) holds no images")
    if len(indices) < len(table):
        table = table.select(indices.tolist())
    labels, class_names = _hf_labels(datasets, table, label_col, name)
    _check_labels_present(labels, name)
    images = _hf_images(datasets, table, image_col, name)
    return from_arrays(images, labels, class_names=class_names, name=name)

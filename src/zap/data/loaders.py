"""Turn what a user points at (a folder, an .npz, arrays, a bundled name) into a validated dataset.

All validation happens here, before any training, so bad input fails fast with a message that names
the file, class or array at fault and how to fix it, instead of a traceback from inside torch or PIL.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np

from zap.data.dataset import ArrayDataset, FolderDataset, ImageDataset, ImageHeader, read_header
from zap.data.errors import DataError

OnCorrupt = Literal["fail", "skip"]
IGNORED_FILES = frozenset({"thumbs.db", "desktop.ini"})
MAX_LISTED_FILES = 20

BUNDLED: dict[str, Callable[[], ImageDataset]] = {}


def bundled(name: str) -> Callable[[Callable[[], ImageDataset]], Callable[[], ImageDataset]]:
    """Register a dataset that loads by name with no files from the user."""

    def register(factory: Callable[[], ImageDataset]) -> Callable[[], ImageDataset]:
        BUNDLED[name] = factory
        return factory

    return register


@bundled("digits")
def load_digits_dataset() -> ImageDataset:
    """scikit-learn's 1797 real handwritten digits, 8x8 gray with 17 levels, scaled to 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    return ArrayDataset(images, digits.target, [str(d) for d in range(10)], name="digits")


def load_dataset(
    source: str | Path | ImageDataset | tuple[np.ndarray, np.ndarray],
    *,
    on_corrupt: OnCorrupt = "fail",
    class_names: list[str] | None = None,
) -> ImageDataset:
    """Load a labelled dataset from a bundled name, an ImageFolder tree, an .npz file or (x, y) arrays."""
    if isinstance(source, ImageDataset):
        return source
    if isinstance(source, tuple):
        if len(source) != 2:
            raise DataError("in-memory data must be a pair (x, y) of images and labels")
        return from_arrays(source[0], source[1], class_names=class_names)
    if isinstance(source, str) and source in BUNDLED:
        return BUNDLED[source]()
    path = Path(source)
    if not path.exists():
        known = ", ".join(sorted(BUNDLED))
        raise DataError(
            f"data source {str(source)!r} does not exist: give an image folder (one sub-folder per "
            f"class), an .npz file with arrays 'x' and 'y', or a bundled dataset name ({known})"
        )
    if path.is_dir():
        return from_folder(path, on_corrupt=on_corrupt)
    if path.suffix.lower() == ".npz":
        return from_npz(path)
    raise DataError(
        f"{path} is a file but not an .npz archive: point at an image folder (one sub-folder per class) "
        "or an .npz file with arrays 'x' (images) and 'y' (integer labels)"
    )


# ----------------------------------------------------------------------------------------------- folders


def _is_candidate_file(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.name.lower() not in IGNORED_FILES


def _list_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _is_candidate_file(p))


def _read_headers(files: list[Path]) -> tuple[list[Path], list[ImageHeader], list[tuple[Path, str]]]:
    good, headers, bad = [], [], []
    for path in files:
        try:
            headers.append(read_header(path))
            good.append(path)
        except Exception as exc:  # PIL raises many types for garbage; all mean "not a usable image"
            bad.append((path, type(exc).__name__))
    return good, headers, bad


def _handle_bad_files(bad: list[tuple[Path, str]], on_corrupt: OnCorrupt, where: str) -> None:
    """Unreadable files fail with their list, or are skipped with a count and a warning."""
    if not bad:
        return
    if on_corrupt == "fail":
        listed = "\n".join(f"  {p} ({why})" for p, why in bad[:MAX_LISTED_FILES])
        more = f"\n  ... and {len(bad) - MAX_LISTED_FILES} more" if len(bad) > MAX_LISTED_FILES else ""
        raise DataError(
            f"{len(bad)} file(s) in {where} are not readable images:\n{listed}{more}\n"
            "Remove or replace them, or pass on_corrupt='skip' (CLI: --on-corrupt skip) to leave them out."
        )
    warnings.warn(f"skipped {len(bad)} unreadable file(s) in {where}, e.g. {bad[0][0]}", UserWarning, stacklevel=3)


def from_folder(root: str | Path, on_corrupt: OnCorrupt = "fail") -> FolderDataset:
    """An ImageFolder tree: each sub-folder of `root` is a class, holding that class's images."""
    root = Path(root)
    if on_corrupt not in ("fail", "skip"):
        raise DataError(f"on_corrupt must be 'fail' or 'skip', got {on_corrupt!r}")
    class_dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not class_dirs:
        loose = [p for p in root.iterdir() if _is_candidate_file(p)]
        hint = " (it holds loose files: move each class's images into a sub-folder named after it)" if loose else ""
        raise DataError(f"{root} has no class sub-folders{hint}; expected {root}/<class>/<image files>")
    paths: list[Path] = []
    labels: list[int] = []
    headers: list[ImageHeader] = []
    bad: list[tuple[Path, str]] = []
    for label, class_dir in enumerate(class_dirs):
        files, class_headers, class_bad = _read_headers(_list_files(class_dir))
        paths += files
        headers += class_headers
        labels += [label] * len(files)
        bad += class_bad
    _handle_bad_files(bad, on_corrupt, str(root))
    dataset = FolderDataset(paths, np.asarray(labels), [d.name for d in class_dirs], headers, name=root.name)
    check_labelled(dataset, where=str(root))
    return dataset


def unlabelled_folder(root: str | Path, on_corrupt: OnCorrupt = "fail") -> FolderDataset:
    """Images to predict: every image file under `root` (recursively), labels -1."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"image path {root} does not exist")
    files = [root] if root.is_file() else _list_files(root)
    if not files:
        raise DataError(f"{root} holds no files: put the images to predict in it")
    paths, headers, bad = _read_headers(files)
    _handle_bad_files(bad, on_corrupt, str(root))
    if not paths:
        raise DataError(f"{root} holds no readable images")
    return FolderDataset(paths, np.full(len(paths), -1), [], headers, name=root.name)


# ------------------------------------------------------------------------------------------------ arrays


def from_npz(path: str | Path) -> ArrayDataset:
    """An .npz with 'x' (images) and 'y' (integer labels), optionally 'class_names'."""
    path = Path(path)
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"cannot read {path} as an .npz archive ({exc}); write it with numpy.savez") from exc
    with archive:
        missing = [key for key in ("x", "y") if key not in archive.files]
        if missing:
            raise DataError(
                f"{path} has no array {' or '.join(repr(m) for m in missing)} (it has {archive.files}); "
                "save the images as 'x' and the integer labels as 'y'"
            )
        names = [str(n) for n in archive["class_names"]] if "class_names" in archive.files else None
        return from_arrays(archive["x"], archive["y"], class_names=names, name=path.stem)


def _as_nhwc(x: np.ndarray) -> np.ndarray:
    if x.ndim == 3:
        return x[..., None]
    if x.ndim != 4:
        raise DataError(
            f"images must be an array of shape (N, H, W), (N, H, W, C) or (N, C, H, W); got shape {x.shape}"
        )
    if x.shape[-1] in (1, 3, 4):
        return x
    if x.shape[1] in (1, 3, 4):
        return np.moveaxis(x, 1, -1)
    raise DataError(f"images of shape {x.shape} have no channel axis of size 1, 3 or 4")


def _as_uint8(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.number)):
        raise DataError(f"images must be numeric (uint8 0..255 or float), got dtype {x.dtype}")
    values = x.astype(np.float64)
    if not np.all(np.isfinite(values)):
        bad = int(np.argwhere(~np.isfinite(values).reshape(len(values), -1).all(axis=1))[0, 0])
        raise DataError(f"images contain NaN or inf values (first at image #{bad}); clean or drop them")
    if values.min() < 0:
        raise DataError("images contain negative values: give uint8 pixels 0..255 or floats in [0, 1]")
    scale = 255.0 if values.max() <= 1.0 and np.issubdtype(x.dtype, np.floating) else 1.0
    if values.max() * scale > 255:
        scale = 255.0 / values.max()
    return np.clip(np.rint(values * scale), 0, 255).astype(np.uint8)


def _integer_labels(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise DataError(f"labels must be a 1-D array of class indices, got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.number) or y.dtype == bool:
        raise DataError(
            f"labels must be integers 0..K-1, got dtype {y.dtype} (e.g. {y[:3].tolist()}); "
            "map class names to indices and pass the names as class_names"
        )
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)):
            raise DataError("labels contain NaN or inf; every image needs an integer class index")
        if not np.all(y == np.round(y)):
            bad = y[y != np.round(y)][:3].tolist()
            raise DataError(f"labels must be whole numbers 0..K-1, found non-integer values such as {bad}")
    return y.astype(np.int64)


def images_from_array(x: np.ndarray) -> np.ndarray:
    """Any accepted image array -> uint8 (N, H, W, C), C in {1, 3}; RGBA is composited over white."""
    images = _as_uint8(_as_nhwc(np.asarray(x)))
    if images.shape[-1] == 4:
        alpha = images[..., 3:].astype(np.float64) / 255.0
        images = np.rint(images[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return images


def from_arrays(
    x: np.ndarray, y: np.ndarray, class_names: list[str] | None = None, name: str = "arrays"
) -> ArrayDataset:
    """Images (N, H, W[, C]) as uint8 0..255 or floats in [0, 1], integer labels 0..K-1."""
    x = np.asarray(x)
    labels = _integer_labels(y)
    if len(x) != len(labels):
        raise DataError(f"{len(x)} images but {len(labels)} labels: x and y must have the same length")
    images = images_from_array(x)
    n_classes = len(class_names) if class_names is not None else int(labels.max(initial=-1)) + 1
    out_of_range = labels[(labels < 0) | (labels >= n_classes)]
    if out_of_range.size:
        raise DataError(
            f"labels out of range: found {sorted(set(out_of_range.tolist()))[:5]} but classes are "
            f"0..{n_classes - 1}; labels must index class_names"
        )
    names = class_names if class_names is not None else [str(k) for k in range(n_classes)]
    dataset = ArrayDataset(images, labels, names, name=name)
    check_labelled(dataset, where=name)
    return dataset


def check_labelled(dataset: ImageDataset, where: str) -> None:
    """A classification dataset needs >= 2 classes, each with >= 2 images (one to train, one to test)."""
    if len(dataset) == 0:
        raise DataError(f"{where} holds no images")
    counts = np.bincount(dataset.labels, minlength=dataset.n_classes)
    if dataset.n_classes < 2:
        raise DataError(f"{where} has a single class ({dataset.class_names}); classification needs >= 2")
    thin = [(dataset.class_names[k], int(c)) for k, c in enumerate(counts) if c < 2]
    if thin:
        listed = ", ".join(f"{name!r} ({c} image{'s' if c != 1 else ''})" for name, c in thin[:10])
        raise DataError(
            f"{where}: every class needs at least 2 images (one for training, one for testing); "
            f"too few in {listed}. Add images or remove those classes."
        )

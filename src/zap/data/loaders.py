"""Turn what a user points at (a folder, an .npz, arrays, a bundled name) into a validated dataset.

All validation happens here, before any training, so bad input fails fast with a message that names
the file, class or array at fault and how to fix it, instead of a traceback from inside torch or PIL.
"""

from __future__ import annotations

import errno
import os
import stat
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from zap.data.dataset import (
    ArrayDataset,
    FolderDataset,
    ImageDataset,
    ImageHeader,
    UnreadableImage,
    file_kind,
    read_header,
)
from zap.data.errors import DataError
from zap.data.images import too_many_pixels

OnCorrupt = Literal["fail", "skip"]
IGNORED_FILES = frozenset({"thumbs.db", "desktop.ini"})
MAX_LISTED_FILES = 20
BUNDLED_PREFIX = "bundled:"
RUN_MARKERS = ("summary.json", "model/model.json")  # what every `zap fit --out` folder holds
DATA_FORMS = ("point at an image folder (one sub-folder per class) or an .npz file with arrays 'x' (images) "
              "and 'y' (integer labels)")

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
    follow_links: bool = False,
) -> ImageDataset:
    """Load a labelled dataset from an ImageFolder tree, an .npz file, (x, y) arrays or a bundled name.

    What exists on disk wins: a folder called `digits` next to the user is their data, not the bundled
    digits, which `bundled:digits` names explicitly (a plain bundled name still works where no such path
    exists). A silent swap of a user's data for a demo set would train on the wrong images.
    """
    check_on_corrupt(on_corrupt)
    if class_names is not None and not isinstance(source, tuple):  # folders name their classes themselves
        raise DataError("class_names names the classes of (x, y) arrays; a folder's sub-folders, an .npz's or a "
                        "dataset's own names are its classes: drop class_names, or pass the arrays")
    if isinstance(source, ImageDataset):
        return source
    if isinstance(source, tuple):
        if len(source) != 2:
            raise DataError("in-memory data must be a pair (x, y) of images and labels")
        return from_arrays(source[0], source[1], class_names=class_names)
    if not isinstance(source, str | os.PathLike):
        raise DataError(f"data must be a folder or .npz path, a bundled name, an (x, y) pair of arrays or a "
                        f"dataset, got a {type(source).__name__}")
    if isinstance(source, str) and source.startswith(BUNDLED_PREFIX):
        return _bundled(source[len(BUNDLED_PREFIX):])
    path = Path(source)
    if path.exists():
        try:
            return _load_path(path, on_corrupt, follow_links)
        except DataError as exc:
            if isinstance(source, str) and source in BUNDLED:
                raise DataError(f"{exc}\n({source} exists here, so it is read instead of the bundled dataset of "
                                f"that name; write {BUNDLED_PREFIX}{source} for the bundled one)") from exc
            raise
    if isinstance(source, str) and source in BUNDLED:
        return BUNDLED[source]()
    known = ", ".join(sorted(BUNDLED))
    raise DataError(
        f"data source {str(source)!r} does not exist: give an image folder (one sub-folder per "
        f"class), an .npz file with arrays 'x' and 'y', or a bundled dataset name ({known})"
    )


def _bundled(name: str) -> ImageDataset:
    if name not in BUNDLED:
        raise DataError(f"no bundled dataset {name!r}; the bundled ones are {', '.join(sorted(BUNDLED))}")
    return BUNDLED[name]()


def _load_path(path: Path, on_corrupt: OnCorrupt, follow_links: bool) -> ImageDataset:
    mode = path.stat().st_mode
    if stat.S_ISDIR(mode):
        return from_folder(path, on_corrupt=on_corrupt, follow_links=follow_links)
    if not stat.S_ISREG(mode):
        raise DataError(f"{path} is {file_kind(mode)}, not a file or folder zap can read: {DATA_FORMS}")
    if path.suffix.lower() == ".npz":
        return from_npz(path)
    raise DataError(f"{path} is a file but not an .npz archive: {DATA_FORMS}")


def check_on_corrupt(on_corrupt: str) -> None:
    if on_corrupt not in ("fail", "skip"):
        raise DataError(f"on_corrupt must be 'fail' or 'skip', got {on_corrupt!r}")


def check_out_not_inside(data: str | Path, out: str | Path) -> None:
    """Refuse an output folder inside an image-folder dataset, before a run writes anything.

    The run's folder would become a class (or its learning_curve.png an image) the next time that data
    is read; from_folder skips run folders, but a run half-written or renamed is no longer recognisable.
    """
    if not Path(data).is_dir():
        return  # an .npz file or a bundled name: nothing can end up inside it
    data_real, out_real = Path(data).resolve(), Path(out).resolve()
    if out_real == data_real or out_real.is_relative_to(data_real):
        raise DataError(
            f"the output folder {out} (--out) is inside the data folder {data}: the next run on that data would "
            f"read the run's files as a class of images. Choose an --out outside {data}."
        )


# ----------------------------------------------------------------------------------------------- folders


@dataclass
class _Walk:
    """One scan of a folder tree: the files found, entries that are not usable, skipped run folders, and
    every folder entered (by resolved path), which is how a link back to one of them is caught."""

    root: Path
    follow_links: bool
    real_root: Path = field(init=False)
    files: list[Path] = field(default_factory=list)
    bad: list[tuple[Path, str]] = field(default_factory=list)
    runs: list[Path] = field(default_factory=list)
    entered: dict[Path, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.real_root = self.root.resolve()
        self.entered[self.real_root] = self.root


def _visible(folder: Path) -> list[Path]:
    """A folder's entries, sorted, minus hidden ones (a leading '.') and OS clutter (Thumbs.db, ...)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as exc:
        raise DataError(f"cannot list the folder {folder} ({exc.strerror or exc}); check its permissions") from exc
    return [folder / name for name in names if not name.startswith(".") and name.lower() not in IGNORED_FILES]


def _target(entry: Path, walk: _Walk) -> Path | None:
    """Where an entry leads: itself, or a link's resolved target. A broken or circular link is recorded as
    a bad file (None); a link out of the data folder is refused unless the caller follows such links."""
    if not entry.is_symlink():
        return entry
    try:
        real = entry.resolve(strict=True)
    except FileNotFoundError:
        walk.bad.append((entry, f"a link to {os.readlink(entry)}, which does not exist"))
        return None
    except (OSError, RuntimeError) as exc:  # Python 3.11 reports links that lead to each other as RuntimeError
        looped = isinstance(exc, RuntimeError) or getattr(exc, "errno", None) == errno.ELOOP
        walk.bad.append((entry, "a link that leads in a circle" if looped else f"a link that cannot be followed "
                         f"({getattr(exc, 'strerror', None) or exc})"))
        return None
    if not walk.follow_links and not real.is_relative_to(walk.real_root):
        raise DataError(
            f"{entry} is a symbolic link to {real}, outside the data folder {walk.root}; zap does not follow "
            "links out of the folder it reads. Copy those files into the folder (cp -rL copies what links "
            "point at), or, in Python, pass follow_links=True."
        )
    return real


def is_run_folder(folder: Path) -> bool:
    """A zap run's output folder (`zap fit --out`), recognised by the files every run writes."""
    return any((folder / marker).is_file() for marker in RUN_MARKERS)


def _claim(folder: Path, real: Path, walk: _Walk) -> bool:
    """Mark a folder as read, or say why not: a run folder is skipped (False), one reached twice refused."""
    if is_run_folder(real):
        walk.runs.append(folder)
        return False
    real = real.resolve()
    if real in walk.entered:
        raise _revisit_error(folder, real, walk.entered[real])
    walk.entered[real] = folder
    return True


def _revisit_error(folder: Path, real: Path, first: Path) -> DataError:
    if folder.parent.resolve().is_relative_to(real):
        return DataError(
            f"{folder} is a link to {first}, which contains the link itself: a loop that would read every image "
            f"in {first} again (as an extra class at the top level). Delete the link {folder}."
        )
    link, other = (first, folder) if first.is_symlink() and not folder.is_symlink() else (folder, first)
    return DataError(
        f"{link} leads to the same folder as {other} ({real}): its images would be read twice, under two "
        f"classes at the top level. Delete the link {link}, or copy the files if both classes need them."
    )


def _walk_folder(folder: Path, walk: _Walk) -> None:
    for entry in _visible(folder):
        real = _target(entry, walk)
        if real is None:
            continue
        if real.is_dir():
            if _claim(entry, real, walk):
                _walk_folder(entry, walk)
            continue
        mode = real.stat().st_mode
        if stat.S_ISREG(mode):
            walk.files.append(entry)
        else:
            walk.bad.append((entry, f"not a regular file but {file_kind(mode)}"))


def _read_headers(files: list[Path]) -> tuple[list[Path], list[ImageHeader], list[tuple[Path, str]]]:
    good, headers, bad = [], [], []
    for path in files:
        try:
            headers.append(read_header(path))
            good.append(path)
        except UnreadableImage as exc:
            bad.append((path, exc.reason))
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
    warnings.warn(f"skipped {len(bad)} unreadable file(s) in {where}, e.g. {bad[0][0]} ({bad[0][1]})",
                  UserWarning, stacklevel=3)


def _warn_runs(walk: _Walk) -> None:
    if walk.runs:
        warnings.warn(f"ignored {len(walk.runs)} zap run folder(s) inside {walk.root}, e.g. {walk.runs[0]}: "
                      "a run's output is not data; move it out of the data folder", UserWarning, stacklevel=3)


def _check_folder(root: Path) -> None:
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; expected {root}/<class>/<image files>")
    if is_run_folder(root):
        raise DataError(f"{root} is a zap run folder (it holds {' or '.join(RUN_MARKERS)}), not a data folder; "
                        "point at the folder that holds one sub-folder per class")


def from_folder(root: str | Path, on_corrupt: OnCorrupt = "fail", *, follow_links: bool = False) -> FolderDataset:
    """An ImageFolder tree: each sub-folder of `root` is a class, holding its images at any depth.

    Ignored at every level: hidden files and folders (a name starting with '.': .DS_Store, ._x.jpg,
    .thumbs/), Thumbs.db and desktop.ini, and zap run folders (with summary.json or model/model.json,
    an --out once written into the data), which would otherwise become a class. Symbolic links are
    followed while they stay inside `root`; one leading out of it is refused unless follow_links=True
    (data silently read from elsewhere), and one leading back to a folder already read (`c -> .`) is
    always refused, since it would read the same images again as another class.
    """
    root = Path(root)
    check_on_corrupt(on_corrupt)
    _check_folder(root)
    walk = _Walk(root, follow_links)
    class_dirs = _class_folders(walk)
    paths: list[Path] = []
    labels: list[int] = []
    headers: list[ImageHeader] = []
    unreadable: list[tuple[Path, str]] = []
    for label, class_dir in enumerate(class_dirs):
        start = len(walk.files)
        _walk_folder(class_dir, walk)
        files, class_headers, class_bad = _read_headers(walk.files[start:])
        paths += files
        headers += class_headers
        labels += [label] * len(files)
        unreadable += class_bad
    _handle_bad_files(walk.bad + unreadable, on_corrupt, str(root))
    _warn_runs(walk)
    dataset = FolderDataset(paths, np.asarray(labels), [d.name for d in class_dirs], headers, name=root.name)
    check_labelled(dataset, where=str(root))
    return dataset


def _class_folders(walk: _Walk) -> list[Path]:
    """The sub-folders of the root, links followed as anywhere; loose files and broken links at the top
    are not classes."""
    class_dirs = []
    for entry in _visible(walk.root):
        real = _target(entry, walk) if entry.is_dir() else None
        if real is not None and _claim(entry, real, walk):
            class_dirs.append(entry)
    if not class_dirs:
        loose = [p for p in _visible(walk.root) if p.is_file()]
        hint = " (it holds loose files: move each class's images into a sub-folder named after it)" if loose else ""
        raise DataError(f"{walk.root} has no class sub-folders{hint}; expected {walk.root}/<class>/<image files>")
    return class_dirs


def as_images(x: Any, on_corrupt: OnCorrupt = "fail") -> ImageDataset:
    """Images to predict: a folder or file path, a list of paths, a dataset, or an array (N, H, W[, C]); what
    every predict of zap's estimator and of a loaded model takes."""
    if isinstance(x, ImageDataset):
        return x
    if isinstance(x, str | Path):
        return unlabelled_folder(x, on_corrupt=on_corrupt)
    if isinstance(x, Sequence) and x and isinstance(x[0], str | Path):
        paths = [Path(p) for p in x]
        return FolderDataset(paths, np.full(len(paths), -1), [], [read_header(p) for p in paths], "images")
    images = images_from_array(x)
    return ArrayDataset(images, np.full(len(images), -1), [], name="images")


def unlabelled_folder(root: str | Path, on_corrupt: OnCorrupt = "fail", *, follow_links: bool = False) -> FolderDataset:
    """Images to predict: one image file, or every image file under a folder (recursively), labels -1.

    A folder is read as from_folder reads one: hidden entries and run folders ignored, links followed
    only within it.
    """
    root = Path(root)
    check_on_corrupt(on_corrupt)
    if not root.exists():
        raise DataError(f"image path {root} does not exist")
    walk = _Walk(root, follow_links)
    if root.is_dir():
        _walk_folder(root, walk)
    else:
        walk.files.append(root)  # read_header refuses a FIFO or device by its mode
    if not walk.files and not walk.bad:
        raise DataError(f"{root} holds no files: put the images to predict in it")
    paths, headers, bad = _read_headers(walk.files)
    _handle_bad_files(walk.bad + bad, on_corrupt, str(root))
    _warn_runs(walk)
    if not paths:
        raise DataError(f"{root} holds no readable images")
    return FolderDataset(paths, np.full(len(paths), -1), [], headers, name=root.name)


# ------------------------------------------------------------------------------------------------ arrays


def from_npz(path: str | Path) -> ArrayDataset:
    """An .npz with 'x' (images) and 'y' (integer labels), optionally 'class_names'.

    Read with allow_pickle=False: an array of Python objects is refused rather than unpickled, since
    unpickling a file one was given can run any code.
    """
    path = Path(path)
    mode = path.stat().st_mode if path.exists() else None
    if mode is None or not stat.S_ISREG(mode):
        what = "does not exist" if mode is None else f"is {file_kind(mode)}"
        raise DataError(f"{path} {what}, not an .npz file; write the arrays with numpy.savez(path, x=..., y=...)")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise DataError(f"cannot read {path} as an .npz archive ({exc}); write it with numpy.savez") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array (an .npy file), not an .npz archive of 'x' and 'y'; "
                        "write it with numpy.savez(path, x=images, y=labels)")
    with archive:
        missing = [key for key in ("x", "y") if key not in archive.files]
        if missing:
            raise DataError(
                f"{path} has no array {' or '.join(repr(m) for m in missing)} (it has {archive.files}); "
                "save the images as 'x' and the integer labels as 'y'"
            )
        x, y = _npz_array(archive, "x", path), _npz_array(archive, "y", path)
        names = _npz_array(archive, "class_names", path) if "class_names" in archive.files else None
    if names is not None and names.ndim != 1:
        raise DataError(f"{path}: 'class_names' must be a 1-D array of names, got shape {names.shape}")
    class_names = None if names is None else [str(n) for n in names]
    return from_arrays(x, y, class_names=class_names, name=path.stem)


def _npz_array(archive: np.lib.npyio.NpzFile, key: str, path: Path) -> np.ndarray:
    try:
        return archive[key]
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DataError(
                f"{path}: array {key!r} holds Python objects (dtype object), which zap does not unpickle, "
                "since loading a file must never run code; save plain arrays: uint8 or float images as 'x', "
                "integer labels as 'y', strings as 'class_names'"
            ) from exc
        raise DataError(f"{path}: array {key!r} cannot be read ({exc}); write it again with numpy.savez") from exc
    except Exception as exc:  # a damaged member: zipfile, zlib and EOF errors
        raise DataError(f"{path}: array {key!r} is damaged ({type(exc).__name__}: {exc}); write it again") from exc


def _as_array(values: object, what: str) -> np.ndarray:
    try:
        return np.asarray(values)
    except (ValueError, TypeError) as exc:  # ragged nested lists
        raise DataError(f"the {what} do not form one array ({exc}); give equal-size images and one label each") from exc


def _as_nhwc(x: np.ndarray) -> np.ndarray:
    # grey images 1, 3 or 4 px wide, narrower than they are tall and than their count: far likelier one H x W x C
    if x.ndim == 3 and x.shape[-1] in (1, 3, 4) and x.shape[-1] < min(x.shape[:2]):
        raise DataError(f"an array of shape {x.shape} reads as {x.shape[0]} grey images {x.shape[-1]} px wide; "
                        "if it is one image with channels last, add a batch axis (x[None])")
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


def _check_extent(x: np.ndarray) -> None:
    """No images, or images with no pixels or too many, are refused before any arithmetic on them."""
    if x.shape[0] == 0:
        raise DataError("the image array is empty (0 images); give at least one image per array row")
    height, width = x.shape[1:3]
    if height == 0 or width == 0:
        raise DataError(f"images of shape {x.shape[1:]} have no pixels; each image needs height and width >= 1")
    oversize = too_many_pixels(int(width), int(height))
    if oversize:
        raise DataError(f"images are {oversize}")


def _as_uint8(x: np.ndarray) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind not in "iuf":  # bool, complex, strings, objects: no pixel convention to apply
        raise DataError(f"images must be numeric (uint8 0..255 or float), got dtype {x.dtype}")
    values = x.astype(np.float64)
    if not np.all(np.isfinite(values)):
        bad = int(np.argwhere(~np.isfinite(values).reshape(len(values), -1).all(axis=1))[0, 0])
        raise DataError(f"images contain NaN or inf values (first at image #{bad}); clean or drop them")
    if values.min() < 0:
        raise DataError("images contain negative values: give uint8 pixels 0..255 or floats in [0, 1]")
    # One convention per dtype, never scaled by the array's own maximum: an image must become the same pixels
    # whether it is predicted alone or beside a brighter one. 16-bit as PIL's 16-bit modes are read (/ 257).
    if x.dtype == np.uint16:
        return np.rint(values / 257.0).astype(np.uint8)
    peak = float(values.max())
    if x.dtype.kind == "f" and peak <= 1.0:
        return np.rint(values * 255.0).astype(np.uint8)
    if peak > 255:
        raise DataError(f"pixel values go up to {peak:g}: zap reads {x.dtype} images as 0..255 (floats whose largest "
                        f"value is at most 1 as 0..1, uint16 as 0..65535); scale them first, e.g. x * 255 / {peak:g}, "
                        "with the same factor for every image")
    return np.rint(values).astype(np.uint8)


def _integer_labels(y: object) -> np.ndarray:
    y = _as_array(y, "labels")
    if y.ndim != 1:
        raise DataError(f"labels must be a 1-D array of class indices, got shape {y.shape}")
    if y.dtype.kind not in "iuf":
        raise DataError(
            f"labels must be integers 0..K-1, got dtype {y.dtype} (e.g. {y[:3].tolist()}); "
            "map class names to indices and pass the names as class_names"
        )
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise DataError("labels contain NaN or inf; every image needs an integer class index")
        if not np.all(y == np.round(y)):
            bad = y[y != np.round(y)][:3].tolist()
            raise DataError(f"labels must be whole numbers 0..K-1, found non-integer values such as {bad}")
        if y.size and np.abs(y).max() >= 2**62:
            raise DataError(f"labels must be class indices 0..K-1, found {np.abs(y).max():g}")
    return y.astype(np.int64)


def images_from_array(x: object) -> np.ndarray:
    """Any accepted image array -> uint8 (N, H, W, C), C in {1, 3}; RGBA is composited over white."""
    images = _as_nhwc(_as_array(x, "images"))
    _check_extent(images)
    images = _as_uint8(images)
    if images.shape[-1] == 4:
        alpha = images[..., 3:].astype(np.float64) / 255.0
        images = np.rint(images[..., :3] * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return images


def _names(class_names: list[str] | None, labels: np.ndarray) -> list[str]:
    """The given class names (unique), or "0".."K-1" from labels that leave no class without images."""
    if class_names is not None:
        names = [str(n) for n in class_names]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise DataError(f"class_names repeat {repeated[:5]}; each class needs its own name")
        return names
    n_classes = int(labels.max(initial=-1)) + 1
    if n_classes > len(labels):
        raise DataError(
            f"labels run up to {n_classes - 1} but there are only {len(labels)} images, so some of the "
            f"classes 0..{n_classes - 1} have none; number the classes 0..K-1 without gaps"
        )
    return [str(k) for k in range(n_classes)]


def from_arrays(
    x: np.ndarray, y: np.ndarray, class_names: list[str] | None = None, name: str = "arrays"
) -> ArrayDataset:
    """Images (N, H, W[, C]) as uint8 0..255 or floats in [0, 1], integer labels 0..K-1."""
    labels = _integer_labels(y)
    images = images_from_array(x)
    if len(images) != len(labels):
        raise DataError(f"{len(images)} images but {len(labels)} labels: x and y must have the same length")
    names = _names(class_names, labels)
    out_of_range = labels[(labels < 0) | (labels >= len(names))]
    if out_of_range.size:
        raise DataError(
            f"labels out of range: found {sorted(set(out_of_range.tolist()))[:5]} but classes are "
            f"0..{len(names) - 1}; labels must index class_names"
        )
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

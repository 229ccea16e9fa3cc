"""Image datasets: one small interface over in-memory arrays and image folders on disk.

A dataset is an indexable set of images with integer labels and class names. Folders keep only file
paths and header facts (size, mode) in memory and decode an image when it is asked for, so a large
folder streams from disk; arrays hold their pixels. Subsets are views, never copies.
"""

from __future__ import annotations

import stat
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from zap.data.errors import DataError
from zap.data.images import mode_channels, pil_to_array, too_many_pixels


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header says, read without decoding its pixels."""

    height: int
    width: int
    channels: int


class ImageDataset(ABC):
    """Labelled images; `labels[i]` indexes `class_names`, or is -1 for unlabelled images."""

    name: str
    class_names: list[str]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def is_labelled(self) -> bool:
        return bool(len(self.labels)) and bool(np.all(self.labels >= 0))

    @abstractmethod
    def load(self, index: int) -> np.ndarray:
        """Decoded image `index` as uint8 (H, W, C), C in {1, 3}."""

    def load_scaled(self, index: int, min_side: int) -> np.ndarray:
        """Image `index` for a caller that scales it down to `min_side` next: storage that can decode at a
        reduced scale (JPEG files) may return any size whose sides are both at least `min_side`. By default
        the whole image, so a dataset class written for `load` alone keeps working."""
        return self.load(index)

    @abstractmethod
    def header(self, index: int) -> ImageHeader:
        """Height, width and channels of image `index`, as cheaply as the storage allows."""

    @property
    @abstractmethod
    def n_channels(self) -> int:
        """3 if any image is colour, else 1: gray images are widened when mixed with colour ones."""

    def describe(self, index: int) -> str:
        """How an error message names image `index` (a file path where there is one)."""
        return f"image #{index} of {self.name}"

    def subset(self, indices: Sequence[int] | np.ndarray) -> SubsetDataset:
        return SubsetDataset(self, np.asarray(indices, dtype=np.int64))


class ArrayDataset(ImageDataset):
    """Images held in memory as uint8 (N, H, W, C)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: list[str], name: str = "arrays"):
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names)
        self.name = name

    def load(self, index: int) -> np.ndarray:
        return self.images[index]

    def header(self, index: int) -> ImageHeader:
        h, w, c = self.images.shape[1:]
        return ImageHeader(int(h), int(w), int(c))

    @property
    def n_channels(self) -> int:
        return int(self.images.shape[-1])


class FolderDataset(ImageDataset):
    """Image files on disk, decoded on demand; headers were read once when the folder was scanned."""

    def __init__(
        self,
        paths: list[Path],
        labels: np.ndarray,
        class_names: list[str],
        headers: list[ImageHeader],
        name: str = "folder",
    ):
        self.paths = paths
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names)
        self.headers = headers
        self.name = name
        self._channels = max((h.channels for h in headers), default=3)

    def load(self, index: int) -> np.ndarray:
        return self._decode(index, None)

    def load_scaled(self, index: int, min_side: int) -> np.ndarray:
        return self._decode(index, min_side)

    def _decode(self, index: int, min_side: int | None) -> np.ndarray:
        path = self.paths[index]
        try:
            with Image.open(path) as img:
                oversize = too_many_pixels(*img.size)
                if not oversize:
                    if min_side:  # a JPEG decodes at 1/2, 1/4 or 1/8 scale: a 12-megapixel photo 10x faster
                        img.draft(None, (min_side, min_side))
                    img.load()
                    return pil_to_array(img)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise DataError(
                f"cannot decode image {path}: {exc}. The file is corrupt or truncated; "
                "replace or delete it and run again."
            ) from exc
        raise UnreadableImage(path, oversize)

    def header(self, index: int) -> ImageHeader:
        return self.headers[index]

    def describe(self, index: int) -> str:
        return str(self.paths[index])

    @property
    def n_channels(self) -> int:
        return self._channels


class SubsetDataset(ImageDataset):
    """A view of some images of another dataset (train or test split, a class subset, ...)."""

    def __init__(self, base: ImageDataset, indices: np.ndarray):
        self.base = base.base if isinstance(base, SubsetDataset) else base
        self.indices = base.indices[indices] if isinstance(base, SubsetDataset) else indices
        self.labels = self.base.labels[self.indices]
        self.class_names = self.base.class_names
        self.name = self.base.name

    def load(self, index: int) -> np.ndarray:
        return self.base.load(int(self.indices[index]))

    def load_scaled(self, index: int, min_side: int) -> np.ndarray:
        return self.base.load_scaled(int(self.indices[index]), min_side)

    def header(self, index: int) -> ImageHeader:
        return self.base.header(int(self.indices[index]))

    def describe(self, index: int) -> str:
        return self.base.describe(int(self.indices[index]))

    @property
    def n_channels(self) -> int:
        return self.base.n_channels

    @property
    def paths(self) -> list[Path]:
        base_paths = getattr(self.base, "paths", None)
        if base_paths is None:
            raise AttributeError(f"{self.name} is not backed by files")
        return [base_paths[i] for i in self.indices]


class UnreadableImage(DataError):
    """One file that is not a usable image; `reason` says why, for a list of such files."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"{path} is not a usable image: {reason}. Replace or delete it and run again.")
        self.path = path
        self.reason = reason


def read_header(path: Path) -> ImageHeader:
    """Size and channels of an image file, after checking that every byte of it is there.

    Checking only the header would let a truncated file through the scan and fail mid-training (or be
    missed by on_corrupt="skip"), so the data is read now: PNG by its chunk checksums, JPEG by a reduced-
    size decode (it still reads the whole stream), other formats by a full decode. The size is checked
    against MAX_IMAGE_PIXELS before any pixel is decoded. Raises UnreadableImage.
    """
    path = Path(path)
    _check_regular_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own, lower limit follows
            with Image.open(path) as img:
                width, height = img.size
                channels = mode_channels(img.mode)
                oversize = too_many_pixels(width, height)
                if oversize:
                    raise UnreadableImage(path, oversize)
                _read_all_data(img)
    except UnreadableImage:
        raise
    except Image.DecompressionBombError as exc:
        raise UnreadableImage(path, f"it declares an enormous canvas ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImage(path, "not an image format PIL can read") from exc
    except Exception as exc:  # PIL raises many types for damaged data; all mean "not a usable image"
        raise UnreadableImage(path, f"damaged or truncated ({type(exc).__name__}: {exc})") from exc
    return ImageHeader(int(height), int(width), channels)


def _check_regular_file(path: Path) -> None:
    """A FIFO, socket or device would block or stream forever when opened: refuse it by its mode first."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise UnreadableImage(path, "it does not exist (a broken link?)") from exc
    except OSError as exc:
        raise UnreadableImage(path, f"it cannot be read ({exc.strerror or exc})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableImage(path, f"it is not a regular file but {file_kind(info.st_mode)}")
    if info.st_size == 0:
        raise UnreadableImage(path, "it is empty (0 bytes)")


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words, for messages."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((word for test, word in kinds if test(mode)), "not a regular file")


def _read_all_data(img: Image.Image) -> None:
    if img.format == "PNG":
        img.verify()  # reads every chunk to IEND and checks its CRC, without inflating the pixels
        return
    if img.format == "JPEG":
        img.draft(img.mode, (max(1, img.width // 8), max(1, img.height // 8)))  # 1/8-scale DCT decode
    img.load()

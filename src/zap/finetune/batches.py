"""Pixels for training and prediction: decode once, resize to the input size, keep as uint8.

Decoding happens in the calling thread (it counts on the run's clock, as in AutoDL), lazily: an image
is decoded the first time a batch needs it and cached if the whole set fits the memory cap, so a short
run never decodes images it never reaches, and a large folder streams from disk.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from zap.data.dataset import ImageDataset
from zap.data.images import resize_square, to_channels

DEFAULT_CACHE_BYTES = 2 * 1024**3
BASE = 16
MAX_UPSCALE = 8


def input_size(resolution: int, max_size: int) -> int:
    """Side of the square network input: the native size upscaled up to 8x, to a multiple of 16, capped."""
    wanted = BASE * math.ceil(max(resolution, 1) * MAX_UPSCALE / BASE)
    return int(max(BASE, min(max_size, wanted)))


def _nbytes(dataset: ImageDataset, size: int, channels: int) -> int:
    return len(dataset) * channels * size * size


class _Pixels:
    """uint8 (C, S, S) tensors of a dataset's images at one input size, held once decoded if the whole set
    fits `max_bytes` (`enabled`; else each use decodes again)."""

    def __init__(self, dataset: ImageDataset, size: int, channels: int, max_bytes: int):
        self.dataset, self.size, self.channels = dataset, size, channels
        self.nbytes = _nbytes(dataset, size, channels)
        self.enabled = self.nbytes <= max_bytes
        shape = (len(dataset), channels, size, size)
        self._store = torch.empty(shape if self.enabled else (0,), dtype=torch.uint8)
        self._filled = np.zeros(len(dataset) if self.enabled else 0, dtype=bool)

    def decode(self, index: int) -> torch.Tensor:
        array = resize_square(to_channels(self.dataset.load_scaled(index, self.size), self.channels), self.size)
        return torch.tensor(array.transpose(2, 0, 1))  # a copy: decoded arrays may be read-only

    def fill(self, index: int) -> None:
        if not self._filled[index]:
            self._store[index] = self.decode(index)
            self._filled[index] = True

    def take(self, indices: np.ndarray) -> torch.Tensor:
        return self._store[torch.from_numpy(indices)]  # a copy: no caller can write into the held pixels


class PixelStore:
    """Decoded pixels shared by the runs of one process over the same image sets: refine's candidates and
    tune's trials then decode a folder of photos once per input size, not once per run. Sets are keyed by
    object (the store keeps them alive, so an id is never reused), and the store holds at most `max_bytes`
    in all, for as long as it lives; a set past that is left to its run's own cache. Not thread-safe: one
    store per thread of runs."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES):
        self.max_bytes = max_bytes
        self._sets: dict[tuple[int, int, int], _Pixels] = {}

    @property
    def nbytes(self) -> int:
        return sum(p.nbytes for p in self._sets.values())

    def pixels(self, dataset: ImageDataset, size: int, channels: int) -> _Pixels | None:
        key = (id(dataset), size, channels)
        if key not in self._sets:
            if _nbytes(dataset, size, channels) > self.max_bytes - self.nbytes:
                return None
            self._sets[key] = _Pixels(dataset, size, channels, self.max_bytes)
        return self._sets[key]


class PixelCache:
    """One run's view of a dataset's pixels at its input size: its own, or a `PixelStore`'s shared ones.

    The reference clock charges a run for each image the first time that run uses it (every time, where the
    run's cache is off), whoever decoded it. So on the reference and step clocks sharing changes no run's
    steps or numbers; on the wall and CPU clocks the run that decodes an image first pays for it."""

    def __init__(
        self, dataset: ImageDataset, size: int, max_bytes: int = DEFAULT_CACHE_BYTES, channels: int | None = None,
        store: PixelStore | None = None,
    ):
        self.dataset, self.size = dataset, size
        self.channels = channels or dataset.n_channels
        fits = _nbytes(dataset, size, self.channels) <= max_bytes  # a run whose own cache is off never shares
        shared = store.pixels(dataset, size, self.channels) if store is not None and fits else None
        self._pixels = shared or _Pixels(dataset, size, self.channels, max_bytes)
        self.enabled = self._pixels.enabled
        self._used = np.zeros(len(dataset) if self.enabled else 0, dtype=bool)
        self._decoded = 0

    def pop_decoded(self) -> int:
        """Images decoded for this run since the last call: what the reference clock charges for decoding."""
        count, self._decoded = self._decoded, 0
        return count

    def batch(self, indices: np.ndarray | list[int]) -> torch.Tensor:
        """Each image is counted just before it is decoded, so a decode that fails leaves the count where it
        got to (an index twice in one batch, not yet used, counts twice)."""
        indices = np.asarray(indices, dtype=np.int64)
        if not self.enabled:
            decoded = []
            for i in indices:
                self._decoded += 1
                decoded.append(self._pixels.decode(int(i)))
            return torch.stack(decoded)
        for i in indices[~self._used[indices]]:
            self._decoded += 1
            self._pixels.fill(int(i))
            self._used[i] = True
        return self._pixels.take(indices)


class CachedImages(Dataset):
    """A torch Dataset over a PixelCache that hands out whole batches (no per-item Python collate)."""

    def __init__(self, cache: PixelCache, labels: np.ndarray, subset: np.ndarray):
        self.cache, self.subset = cache, np.asarray(subset, dtype=np.int64)
        self.labels = torch.as_tensor(np.asarray(labels)[self.subset], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.subset)

    def __getitem__(self, i: int):
        return self.__getitems__([i])

    def __getitems__(self, items: list[int]):
        positions = np.asarray(items, dtype=np.int64)
        return self.cache.batch(self.subset[positions]), self.labels[torch.from_numpy(positions)]


def _identity(batch):
    return batch


def train_loader(images: CachedImages, batch_size: int, seed: int) -> DataLoader:
    """Shuffled batches in the calling thread; drop_last only when there is more than one batch."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        images,
        batch_size=batch_size,
        shuffle=True,
        generator=generator,
        num_workers=0,
        collate_fn=_identity,
        drop_last=len(images) > batch_size,
    )


def endless(loader: DataLoader):
    while True:
        yield from loader


class InputTransform:
    """uint8 batch -> normalized float batch for the backbone, with optional training augmentation."""

    def __init__(self, mean, std, device: torch.device, augmentation: str = "none", seed: int = 0):
        self.mean = torch.tensor(mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=device).view(1, 3, 1, 1)
        self.device, self.augmentation = device, augmentation
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, x: torch.Tensor, train: bool = False) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float().div_(255.0)
        if train and self.augmentation != "none":
            x = self._augment(x)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        pad = max(1, h // 8)
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="replicate")
        offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=self.generator)  # CPU RNG: device-independent
        out = torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])
        if self.augmentation == "crop_flip":
            flip = (torch.rand(n, generator=self.generator) < 0.5).to(out.device)
            out = torch.where(flip.view(n, 1, 1, 1), out.flip(-1), out)
        return out

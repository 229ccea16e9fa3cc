"""Decoding a folder of photos into network inputs: the full image against JPEG's reduced-scale decode.

A user's photos are often megapixels while no pipeline takes an input above 128 px, and on the wall clock
every image's decoding is part of the budget. `FolderDataset.load_scaled(i, min_side)` asks PIL for a reduced
decode (JPEG's DCT scaling: 1/2, 1/4 or 1/8) that keeps both sides at least the input side. This script
writes the bundled photos (`src/zap/assets/*.jpg`) as JPEGs of several sizes into a temporary folder and
times, per size and input side, an image through `PixelCache` (decode, resize) both ways, alternating them
so machine load hits both alike. The ratio is the figure to read; the mean absolute difference of the
inputs (grey levels, 0-255) says what the faster decode changes.

    python benchmarks/decode_speed.py --megapixels 0.3 3 12 --sides 64 128 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from common import ASSETS, photo_at
from zap.data import load_dataset
from zap.data.images import resize_square, to_channels
from zap.finetune.batches import PixelCache


def write_photos(folder: Path, megapixels: float) -> Path:
    """Each bundled photo at `megapixels` (4:3), one class folder per photo, as JPEGs of quality 90."""
    root = folder / f"{megapixels:g}mp"
    for source in sorted(ASSETS.glob("*.jpg")):
        (root / source.stem).mkdir(parents=True, exist_ok=True)
        with Image.open(source) as img:
            photo = photo_at(img, megapixels)
        photo.save(root / source.stem / "photo.jpg", quality=90)  # and its mirror: a class needs two images
        photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(root / source.stem / "mirror.jpg", quality=90)
    return root


def full_decode(dataset, index: int, side: int) -> np.ndarray:
    """What `PixelCache` did before the reduced decode: the whole image, then the resize."""
    return resize_square(to_channels(dataset.load(index), dataset.n_channels), side)


def time_once(decode) -> float:
    start = time.perf_counter()
    decode()
    return time.perf_counter() - start


def measure(root: Path, side: int, repeats: int) -> dict:
    dataset = load_dataset(root)
    full_s, reduced_s, differences = [], [], []
    for _ in range(repeats):
        for index in range(len(dataset)):
            full_s.append(time_once(lambda i=index: full_decode(dataset, i, side)))
            reduced_s.append(time_once(lambda i=index: PixelCache(dataset, side, max_bytes=0).batch([i])))
    for index in range(len(dataset)):
        fast = PixelCache(dataset, side, max_bytes=0).batch([index])[0].numpy().transpose(1, 2, 0)
        differences.append(np.abs(fast.astype(float) - full_decode(dataset, index, side)).mean())
    full, reduced = statistics.median(full_s), statistics.median(reduced_s)
    return {"full_ms": 1000 * full, "reduced_ms": 1000 * reduced, "ratio": full / reduced,
            "mean_abs_difference": float(np.mean(differences))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", nargs="+", type=float, default=[0.3, 3.0, 12.0])
    parser.add_argument("--sides", nargs="+", type=int, default=[64, 128])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'megapixels':>10} {'side':>5} {'full ms':>8} {'reduced ms':>10} {'ratio':>6} {'|diff|':>7}")
    with tempfile.TemporaryDirectory() as folder:
        for megapixels in args.megapixels:
            root = write_photos(Path(folder), megapixels)
            for side in args.sides:
                row = measure(root, side, args.repeats)
                print(f"{megapixels:10g} {side:5d} {row['full_ms']:8.1f} {row['reduced_ms']:10.1f} "
                      f"{row['ratio']:6.1f} {row['mean_abs_difference']:7.2f}")


if __name__ == "__main__":
    main()

"""Runs that share decoded pixels (`PixelStore`, as refine's candidates and tune's trials do) against runs that
decode their own, on a folder of large photos.

Each repetition makes two short runs of one pipeline with their own pixels, then two sharing a store; the
second shared run finds every image it needs decoded. Step budgets, so every run does the same work and
only decoding differs. The ratio of the second runs is the figure to read.

    python benchmarks/pixel_store.py --megapixels 12 --images 300 --steps 4 --repeats 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from photo_budget import write_folder
from zap.data import SplitSettings, load_dataset, train_test_split
from zap.finetune import Budget, run
from zap.finetune.batches import PixelStore

CONFIG = {"architecture": "mobilenetv2", "log2_max_size": 6, "batch_size": 32, "first_simple_model": False}


def two_runs(split, steps: int, store: PixelStore | None) -> list[float]:
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        run(split.train, split.test, CONFIG, Budget(steps, "steps"), seed=0, threads=1, pixels=store)
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    rows = {"own": [], "shared": []}
    with tempfile.TemporaryDirectory() as tmp:
        split = train_test_split(load_dataset(write_folder(Path(tmp), args.megapixels, args.images)), SplitSettings())
        for _ in range(args.repeats):
            rows["own"].append(two_runs(split, args.steps, None))
            rows["shared"].append(two_runs(split, args.steps, PixelStore()))
    print(f"{args.images} photos of {args.megapixels:g} MP, MobileNetV2 at 64 px, {args.steps} steps, 1 thread")
    print("| pixels | first run, s | second run, s |\n|---|---:|---:|")
    for mode, pairs in rows.items():
        print(f"| {mode} | {statistics.fmean(p[0] for p in pairs):.1f} | {statistics.fmean(p[1] for p in pairs):.1f} |")
    ratio = statistics.fmean(p[1] for p in rows["shared"]) / statistics.fmean(p[1] for p in rows["own"])
    print(f"second run, shared / own: {ratio:.2f}")


if __name__ == "__main__":
    main()

"""How many reference seconds a wall-clock run on camera photos really gets, against what selection was told.

`zap fit --budget S` on the wall clock converts S to reference seconds (`budget_ref_s`), and selection ranks
for that. The device probe times training steps on images already in memory; the run also decodes the
user's files, and the reference clock prices a decode as one small image. This script writes two folders
of the same pictures (the bundled photos, cropped and mirrored): one as large JPEGs (`--megapixels`), one
as small ones that decode at about the table's price. It fits each with a fixed pipeline on the wall clock
and compares three figures in reference seconds:

- gross: S × the probe's `ref_per_wall`, the conversion before decoding was probed;
- net: `budget_ref_s`, S less decoding beyond its price (`clock_calibration.decode`), then converted;
- achieved: what the run's operations cost on the reference clock (`elapsed.ref_s`).

The ratios to `achieved` are the figures to read; the small folder shows how far the probe's one
architecture at one size is from the pipeline's pace, whatever the files.

    python benchmarks/photo_budget.py --megapixels 12 --images 200 --budget 30 --repeats 2
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from PIL import Image

from common import ASSETS, photo_at
from zap import ZAP
from zap.utils import atomic_write_json

DISTINCT = 8  # distinct pictures a class; the rest are copies, which decode alike


def write_folder(root: Path, megapixels: float, n_images: int) -> Path:
    """`n_images` JPEGs (quality 90, 4:3) split over one class per bundled photo."""
    sources = sorted(ASSETS.glob("*.jpg"))
    per_class = max(2, n_images // len(sources))
    for source in sources:
        folder = root / source.stem
        folder.mkdir(parents=True)
        with Image.open(source) as img:
            picture = img.convert("RGB")
        w, h = picture.size
        for i in range(min(DISTINCT, per_class)):  # crops of 80 to 94 % of the photo, every other one mirrored
            share = 0.8 + 0.02 * i
            box = (int(w * (1 - share) / 2), int(h * (1 - share) / 2), int(w * (1 + share) / 2),
                   int(h * (1 + share) / 2))
            variant = photo_at(picture.crop(box), megapixels)
            if i % 2:
                variant = variant.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            variant.save(folder / f"p{i:03d}.jpg", quality=90)
        for i in range(DISTINCT, per_class):
            shutil.copy(folder / f"p{i % DISTINCT:03d}.jpg", folder / f"p{i:03d}.jpg")
    return root


def fit_once(folder: Path, budget: float, config: str, seed: int) -> dict:
    model = ZAP(budget=budget, clock="wall", config=config, threads=1, seed=seed, progress=False).fit(folder)
    summary = model.summary()
    calibration = summary["clock_calibration"]
    return {"gross_ref_s": budget * calibration["ref_per_wall"], "net_ref_s": summary["budget_ref_s"],
            "achieved_ref_s": summary["elapsed"]["ref_s"], "extra_decode_wall_s": calibration["decode"]["extra_wall_s"],
            "decode_ms": 1000 * calibration["decode"]["wall_per_image"], "images": calibration["decode"]["images"]}


def print_table(rows: list[dict], sizes: list[float]) -> None:
    print("| megapixels | decode ms | extra decode wall-s | gross ref-s | net ref-s | achieved ref-s "
          "| gross / achieved | net / achieved |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for mp in sizes:
        mine = [r for r in rows if r["megapixels"] == mp]
        mean = {key: statistics.fmean(r[key] for r in mine) for key in mine[0] if key not in ("megapixels", "seed")}
        gross = [r["gross_ref_s"] / r["achieved_ref_s"] for r in mine]
        net = [r["net_ref_s"] / r["achieved_ref_s"] for r in mine]
        print(f"| {mp:g} | {mean['decode_ms']:.1f} | {mean['extra_decode_wall_s']:.1f} | {mean['gross_ref_s']:.1f} "
              f"| {mean['net_ref_s']:.1f} | {mean['achieved_ref_s']:.1f} | {min(gross):.2f}–{max(gross):.2f} "
              f"| {min(net):.2f}–{max(net):.2f} |")


def print_share_left(rows: list[dict], small_mp: float, large_mp: float) -> None:
    """The share of the budget left to train on the large photos, measured against predicted, per seed.
    Measured: the large folder's achieved/gross over the small folder's, fitted right after it, which cancels
    what the probe misses for both (the pipeline's pace against the probe's, the load between probe and run).
    Predicted: the conversion's net/gross for the large folder."""
    print("\n| seed | share left, measured | share left, predicted |\n|---:|---:|---:|")
    for seed in sorted({r["seed"] for r in rows}):
        small, large = (next(r for r in rows if r["seed"] == seed and r["megapixels"] == mp)
                        for mp in (small_mp, large_mp))
        measured = (large["achieved_ref_s"] / large["gross_ref_s"]) / (small["achieved_ref_s"] / small["gross_ref_s"])
        print(f"| {seed} | {measured:.2f} | {large['net_ref_s'] / large['gross_ref_s']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megapixels", type=float, default=12.0)
    parser.add_argument("--small-megapixels", type=float, default=0.05)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--budget", type=float, default=30.0, help="wall seconds per fit")
    parser.add_argument("--config", default="recommended")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    if not 0 < args.small_megapixels < args.megapixels:
        parser.error("--small-megapixels must be positive and below --megapixels: the small folder is the control")
    sizes = [args.small_megapixels, args.megapixels]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folders = {mp: write_folder(Path(tmp) / f"{mp:g}mp", mp, args.images) for mp in sizes}
        for seed in range(args.repeats):  # the two folders alternate, so machine load hits both alike
            for mp, folder in folders.items():
                rows.append({"megapixels": mp, "seed": seed} | fit_once(folder, args.budget, args.config, seed))
    print(f"{args.images} images, {args.budget:g} wall-s, config {args.config}, 1 thread")
    print_table(rows, sizes)
    print_share_left(rows, *sizes)
    if args.json:
        atomic_write_json(args.json, {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()

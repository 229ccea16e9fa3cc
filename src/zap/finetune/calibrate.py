"""Measure the reference clock's cost table, and convert a user's wall-clock budget to reference seconds.

`calibrate()` times the runner's own operations (a training step through `_Run.train_step`, a prediction
pass through `_Run.predict`, decoding through `PixelCache`, the quick models through `quick.fit`) on a
grid, on one thread, and fits the `CostTable` that prices them. Run it once, on an idle reference machine:

    python -m zap.finetune.calibrate --out src/zap/finetune/ref_costs.json

`probe()` is the short device calibration behind `zap fit`'s wall clock: it times a few steps and a
prediction pass on the user's device and threads, and returns how many reference seconds one wall
second buys there.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from zap.data.dataset import ArrayDataset, ImageDataset
from zap.finetune import quick
from zap.finetune.batches import PixelCache
from zap.finetune.clock import Budget, Stopwatch
from zap.finetune.refclock import CostTable
from zap.finetune.runner import _Run, resolve_device
from zap.finetune.threads import fewer_threads_note, torch_threads
from zap.pipelines import get_config, largest_input_side
from zap.pipelines.zoo import ZOO, import_model_code
from zap.utils import atomic_write_json, cpu_model

SIZES = (32, 64, 128)
FREEZES = (0.0, 0.25, 0.5)
BATCHES = (16, 48)  # a wide lever for the per-image slope
QUICK_GRID = ((60, 2), (60, 10), (150, 2), (150, 10), (150, 40), (500, 2), (500, 10), (500, 40), (500, 150),
              (1500, 10), (1500, 150), (1500, 450))
N_CLASSES = 10
SOURCE_RESOLUTION = 32


def _probe_state(architecture: str, size: int, freeze: float, batch: int, n_images: int, device: str = "cpu",
                 seed: int = 0, pretrained: bool = True) -> tuple[_Run, PixelCache]:
    """A runner state for `architecture` at input side `size`, on random images, with a filled cache
    (`pretrained=False` skips loading weights, which changes no compute)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n_images, SOURCE_RESOLUTION, SOURCE_RESOLUTION, 3), dtype=np.uint8)
    labels = np.arange(n_images) % N_CLASSES
    data = ArrayDataset(images, labels, [str(c) for c in range(N_CLASSES)], name="calibration")
    config = dict(get_config("recommended")) | {
        "architecture": architecture, "freeze_portion": freeze, "batch_size": batch,
        "log2_max_size": int(math.log2(size)), "first_simple_model": False}
    state = _Run(data, None, config, Budget(1e9, "steps"), seed=seed, device=resolve_device(device), extra=None,
                 progress=False, stopwatch=Stopwatch(Budget(1e9, "steps")), costs=None)
    state.build(pretrained)
    cache = PixelCache(data, state.size)
    cache.batch(np.arange(n_images))
    return state, cache


def _timed(operation: Callable[[], object], min_seconds: float, min_repeats: int,
           timer: Callable[[], float]) -> float:
    """Seconds per call of `operation`, after one warm-up call, over at least `min_repeats` calls."""
    operation()
    count, start = 0, timer()
    while count < min_repeats or timer() - start < min_seconds:
        operation()
        count += 1
    return (timer() - start) / count


def measure_step(architecture: str, size: int, freeze: float, batch: int, min_seconds: float = 1.0) -> float:
    state, cache = _probe_state(architecture, size, freeze, batch, batch)
    x, y = cache.batch(np.arange(batch)), torch.as_tensor(np.arange(batch) % N_CLASSES)
    return _timed(lambda: state.train_step(x, y), min_seconds, 2, time.thread_time)


def measure_predict(architecture: str, size: int, n_images: int = 256, min_seconds: float = 1.0) -> float:
    state, cache = _probe_state(architecture, size, 0.0, 32, n_images)
    return _timed(lambda: state.predict(cache, np.arange(n_images)), min_seconds, 1, time.thread_time) / n_images


def measure_decode(size: int, n_images: int = 256) -> float:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, SOURCE_RESOLUTION, SOURCE_RESOLUTION, 3), dtype=np.uint8)
    data = ArrayDataset(images, np.arange(n_images) % 2, ["a", "b"], name="decode")
    start = time.thread_time()
    for _ in range(3):
        PixelCache(data, size).batch(np.arange(n_images))
    return (time.thread_time() - start) / (3 * n_images)


def measure_quick(name: str, n_samples: int, n_classes: int) -> tuple[float, float]:
    """Seconds to fit `name` on that many thumbnails, and seconds per predicted image."""
    rng = np.random.default_rng(0)
    labels = np.arange(n_samples) % n_classes
    centers = rng.random((n_classes, 3 * quick.THUMBNAIL**2))
    x = np.clip(centers[labels] + 0.15 * rng.standard_normal(centers[labels].shape), 0, 1)
    start = time.thread_time()
    model, _ = quick.fit(name, x, labels, 0)
    fit_s = time.thread_time() - start
    pixels = torch.as_tensor(rng.integers(0, 256, (300, 3, 64, 64), dtype=np.uint8))
    start = time.thread_time()
    quick.predict_proba(model, quick.thumbnails(pixels), n_classes)
    return fit_s, (time.thread_time() - start) / 300


def _fit_step_row(costs: dict[int, float]) -> list[float]:
    """(seconds per step, seconds per image) from the costs of two batch sizes."""
    (b0, c0), (b1, c1) = sorted(costs.items())
    per_image = (c1 - c0) / (b1 - b0)
    return [max(0.0, c0 - b0 * per_image), max(per_image, c1 / b1 / 2)]


@dataclass
class Calibration:
    architectures: Sequence[str] = tuple(ZOO)
    sizes: Sequence[int] = SIZES
    freezes: Sequence[float] = FREEZES
    batches: Sequence[int] = BATCHES
    quick_names: Sequence[str] = ("SVC", "NuSVC", "RF", "LR")
    min_seconds: float = 1.0

    def run(self, say: Callable[[str], None] = print) -> CostTable:
        measurements: list[dict] = []
        with torch_threads(1):
            step = {a: _monotone_steps([[_fit_step_row(self._steps(a, s, f, measurements, say)) for s in self.sizes]
                                        for f in self.freezes]) for a in self.architectures}
            predict = {a: np.maximum.accumulate([self._one(measurements, say, "predict", measure_predict,
                                                           architecture=a, size=s, min_seconds=self.min_seconds)
                                                 for s in self.sizes]).tolist() for a in self.architectures}
            decode = _fit_decode({s: self._one(measurements, say, "decode", measure_decode, size=s)
                                  for s in self.sizes})
            quick_fit, quick_predict = self._quick(measurements, say)
        return CostTable(sizes=tuple(self.sizes), freezes=tuple(self.freezes), step=step, predict=predict,
                         decode=decode, quick_fit=quick_fit, quick_predict=quick_predict, machine=machine(),
                         measurements=tuple(measurements))

    def _steps(self, architecture, size, freeze, measurements, say) -> dict[int, float]:
        return {b: self._one(measurements, say, "step", measure_step, architecture=architecture, size=size,
                             freeze=freeze, batch=b, min_seconds=self.min_seconds) for b in self.batches}

    def _quick(self, measurements, say) -> tuple[dict, dict]:
        fits, predicts = {}, {}
        for name in self.quick_names:
            rows = []
            for n, k in QUICK_GRID:
                fit_s, predict_s = measure_quick(name, n, k)
                measurements.append({"op": "quick", "name": name, "n_samples": n, "n_classes": k,
                                     "seconds": fit_s, "predict_per_image": predict_s})
                rows.append((n, k, fit_s, predict_s))
                say(f"quick {name} n={n} k={k}: {fit_s:.4f} s")
            design = np.array([[1.0, math.log(n), math.log(k)] for n, k, _, _ in rows])
            target = np.log([max(r[2], 1e-5) for r in rows])
            fits[name] = np.linalg.lstsq(design, target, rcond=None)[0].round(5).tolist()
            predicts[name] = float(np.median([r[3] for r in rows]))
        return fits, predicts

    @staticmethod
    def _one(measurements, say, op: str, measure: Callable[..., float], **point) -> float:
        seconds = measure(**point)
        entry = {"op": op, **{k: v for k, v in point.items() if k != "min_seconds"}, "seconds": seconds}
        measurements.append(entry)
        say(" ".join(f"{k}={v}" for k, v in entry.items() if k != "seconds") + f": {seconds:.5f} s")
        return seconds


def _monotone_steps(rows: list[list[list[float]]]) -> list[list[list[float]]]:
    """Measurement noise removed where physics fixes the order: a step costs no less at a larger input,
    and no more with more of the backbone frozen (frozen layers skip their backward pass). Each of the two
    prices (per step, per image) is made non-decreasing along the sizes, then non-increasing along the
    frozen shares; the raw measurements stay in the table."""
    prices = np.array(rows)  # [freeze][size][per step, per image]
    prices = np.maximum.accumulate(prices, axis=1)
    prices = np.minimum.accumulate(prices, axis=0)
    return prices.tolist()


def _fit_decode(per_size: dict[int, float]) -> tuple[float, float]:
    """(seconds per image, seconds per output pixel) by least squares over the measured sizes."""
    design = np.array([[1.0, s * s] for s in per_size])
    coef = np.linalg.lstsq(design, np.array(list(per_size.values())), rcond=None)[0]
    return float(max(coef[0], 0.0)), float(max(coef[1], 0.0))


def machine() -> dict:
    """Where a calibration was measured."""
    return {"cpu": cpu_model(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "threads": 1, "timer": "thread_time",
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "loadavg_1m_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


# ------------------------------------------------------------------------- the user's device, in seconds
PROBE_ARCHITECTURE, PROBE_SIZE, PROBE_BATCH, PROBE_WARMUP = "mobilenetv2", 32, 32, 2
PROBE_SECONDS = 2.0  # the whole wall-clock conversion: the probe's steps, and decoding where files are given


@dataclass(frozen=True)
class DeviceSpeed:
    """How many reference seconds one wall second buys on this device with these threads."""

    ref_per_wall: float
    seconds: float
    device: str
    threads: int
    steps: int
    import_seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"ref_per_wall": round(self.ref_per_wall, 4), "seconds": round(self.seconds, 3),
                "import_s": round(self.import_seconds, 3),
                "device": self.device, "threads": self.threads, "steps": self.steps,
                "probe": f"{PROBE_ARCHITECTURE} at {PROBE_SIZE} px, batch {PROBE_BATCH}"}


def probe(table: CostTable, threads: int, device: str = "cpu", max_seconds: float = PROBE_SECONDS) -> DeviceSpeed:
    """Time the runner's own training steps and a prediction pass on this device for at most about
    `max_seconds` (model building included), and price them on the reference clock. On a busy machine every
    step is slower, so the probe times fewer of them (one at least) instead of taking longer: it starts a step
    only where that step should end inside 85 % of `max_seconds`, leaving room for the prediction pass.
    Importing the model code comes first and is reported apart (`import_seconds`): the fit would pay it
    anyway, and on a loaded machine it alone can take longer than the whole probe may."""
    importing = time.perf_counter()
    import_model_code(PROBE_ARCHITECTURE)
    started = time.perf_counter()
    with torch_threads(threads):
        state, cache = _probe_state(PROBE_ARCHITECTURE, PROBE_SIZE, 0.0, PROBE_BATCH, PROBE_BATCH, device,
                                    pretrained=False)
        x, y = cache.batch(np.arange(PROBE_BATCH)), torch.as_tensor(np.arange(PROBE_BATCH) % N_CLASSES)
        for _ in range(PROBE_WARMUP):  # the first steps allocate and are slower: not counted
            state.train_step(x, y)
            if time.perf_counter() - started > 0.3 * max_seconds:
                break
        _synchronize(state.device)
        wall, ref, steps = 0.0, 0.0, 0
        while steps == 0 or time.perf_counter() - started + wall / steps < 0.85 * max_seconds:
            start = time.perf_counter()
            state.train_step(x, y)
            _synchronize(state.device)
            wall += time.perf_counter() - start
            ref += table.step_cost(PROBE_ARCHITECTURE, PROBE_SIZE, PROBE_BATCH, 0.0)
            steps += 1
        start = time.perf_counter()
        state.predict(cache, np.arange(PROBE_BATCH))
        wall += time.perf_counter() - start
        ref += table.predict_cost(PROBE_ARCHITECTURE, PROBE_SIZE, PROBE_BATCH)
    return DeviceSpeed(ref / wall, time.perf_counter() - started, str(state.device), threads, steps,
                       started - importing)


# ------------------------------------------------------------------- the user's files, beyond the table
DECODE_PROBE_SIDE = 64  # the middle of the candidates' input sides (32 to 128 px)
DECODE_PROBE_IMAGES = 8
DECODE_PROBE_SECONDS = 0.4  # taken from PROBE_SECONDS, so that the whole conversion stays inside them
MIN_USABLE_SHARE = 0.05  # a budget that decoding alone would use up still selects, for a very short run
DECODING_NOTE_SHARE = 0.1  # decoding beyond its price that takes this share of the budget is worth a note
LARGE_FILE_DECODE_S = 0.005  # a decode this slow is the file's size, not the device


@dataclass(frozen=True)
class DecodeOverhead:
    """What decoding the user's files costs on the wall clock beyond the reference clock's price for it.

    The reference clock charges every decode one price for the input side, measured on small images. A
    folder of camera photos costs far more to decode (tens of ms each even at a reduced scale), and on the
    wall clock the run pays that out of the user's budget; the device probe, which times training steps on
    images already in memory, does not see it. `images` is how many one run should decode: every image it
    predicts, and the training images it reaches at the cheapest training pace (an upper estimate for one
    run; refine's candidates share what they decode, `batches.PixelStore`)."""

    wall_per_image: float
    priced_per_image: float
    images: int
    sampled: int
    seconds: float
    budget_wall: float

    @property
    def extra_wall_s(self) -> float:
        """Wall seconds the run spends decoding that the reference clock does not count."""
        return max(self.wall_per_image - self.priced_per_image, 0.0) * self.images

    @property
    def usable_wall_s(self) -> float:
        return max(self.budget_wall - self.extra_wall_s, MIN_USABLE_SHARE * self.budget_wall)

    def to_dict(self) -> dict:
        return {"wall_per_image": round(self.wall_per_image, 6), "priced_per_image": round(self.priced_per_image, 6),
                "images": self.images, "extra_wall_s": round(self.extra_wall_s, 3),
                "usable_wall_s": round(self.usable_wall_s, 3), "sampled": self.sampled, "side": DECODE_PROBE_SIDE,
                "seconds": round(self.seconds, 3)}


def decoding_note(calibration: dict | None, budget: float) -> str | None:
    """What to tell a user whose files take a noticeable part of the wall budget to decode (None otherwise):
    the run ranks pipelines for less time than was asked, and where the files are large the fix is theirs."""
    decode = (calibration or {}).get("decode")
    if not decode or decode["extra_wall_s"] < DECODING_NOTE_SHARE * budget:
        return None
    floor = " (the floor: decoding alone would use the budget up)" if (
        decode["usable_wall_s"] <= MIN_USABLE_SHARE * budget + 1e-6) else ""
    note = (f"decoding about {decode['images']} of your images ({1000 * decode['wall_per_image']:.2g} ms each) "
            f"costs about {decode['extra_wall_s']:.0f} of the {budget:g} wall-s beyond what the reference clock "
            f"counts, so pipelines are ranked for the {decode['usable_wall_s']:.0f} s left{floor}")
    if decode["wall_per_image"] >= LARGE_FILE_DECODE_S:
        note += f"; no pipeline uses more than {largest_input_side()} px a side, so smaller files leave more time"
    return note


def run_notes(threads_choice: dict | None, calibration: dict | None, budget: float) -> list[str]:
    """The notes about a run's time that fit prints before training, the `--quiet` path prints after it and
    the report shows: fewer threads than cores, and a budget that decoding the user's files takes a part of.
    One list, so the three places never say different things."""
    return [note for note in (fewer_threads_note(threads_choice), decoding_note(calibration, budget)) if note]


def expected_decodes(n_train: int, n_predicted: int, wall_per_image: float, train_wall_per_image: float,
                     budget_wall: float) -> int:
    """Images a run decodes within `budget_wall`: all it predicts (the first prediction decodes them), and
    the training images its batches reach in what is left, one decode and one training pass each."""
    left = max(budget_wall - wall_per_image * n_predicted, 0.0)
    reached = left / max(wall_per_image + train_wall_per_image, 1e-9)
    return n_predicted + int(min(n_train, reached))


def _spread_picks(lengths: Sequence[int], n: int) -> list[tuple[int, int]]:
    """Up to `n` (dataset, index) pairs spread evenly over the datasets laid end to end."""
    total = sum(lengths)
    if total == 0:
        return []
    ends = np.cumsum(lengths)
    flat = np.unique(np.linspace(0, total - 1, min(n, total)).astype(int))
    which = np.searchsorted(ends, flat, side="right")
    return [(int(d), int(f - (ends[d] - lengths[d]))) for d, f in zip(which, flat, strict=True)]


def probe_decoding(train: ImageDataset, predicted: Sequence[ImageDataset], table: CostTable,
                   speed: DeviceSpeed, budget_wall: float,
                   max_seconds: float = DECODE_PROBE_SECONDS) -> DecodeOverhead:
    """Time the runner's own decoding (`PixelCache`, so a JPEG decodes at a reduced scale as in the run) on up
    to 8 images spread over the data, and set it against the table's price in this device's wall seconds. As
    the probe does, a decode starts only where it should end inside `max_seconds` (one at least). The mean,
    not the median: a few huge files in a folder of small ones are what the run pays for. Nothing is warmed
    up: the first read of a file is what the run pays too."""
    datasets = [train, *predicted]
    started, times = time.perf_counter(), []
    for d, index in _spread_picks([len(x) for x in datasets], DECODE_PROBE_IMAGES):
        if times and time.perf_counter() - started + float(np.mean(times)) > max_seconds:
            break
        start = time.perf_counter()
        PixelCache(datasets[d], DECODE_PROBE_SIDE, max_bytes=0).batch([index])
        times.append(time.perf_counter() - start)
    if not times or speed.ref_per_wall <= 0:  # nothing to decode, or a table that prices nothing
        return DecodeOverhead(0.0, 0.0, 0, len(times), time.perf_counter() - started, budget_wall)
    wall_per_image = float(np.mean(times))
    priced = table.decode_cost(DECODE_PROBE_SIDE, 1) / speed.ref_per_wall
    train_pace = table.step_cost(PROBE_ARCHITECTURE, PROBE_SIZE, PROBE_BATCH, 0.0) / PROBE_BATCH / speed.ref_per_wall
    images = expected_decodes(len(train), sum(len(x) for x in predicted), wall_per_image, train_pace, budget_wall)
    return DecodeOverhead(wall_per_image, priced, images, len(times), time.perf_counter() - started, budget_wall)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="where to write the cost table (JSON)")
    parser.add_argument("--architectures", nargs="+", default=list(ZOO), choices=list(ZOO))
    parser.add_argument("--min-seconds", type=float, default=2.0, help="timing per measured point")
    args = parser.parse_args(argv)
    table = Calibration(architectures=args.architectures, min_seconds=args.min_seconds).run()
    atomic_write_json(args.out, table.to_dict())
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

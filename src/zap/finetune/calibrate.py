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
import contextlib
import json
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from zap.data.dataset import ArrayDataset
from zap.finetune import quick
from zap.finetune.batches import PixelCache
from zap.finetune.clock import Budget, Stopwatch
from zap.finetune.refclock import CostTable
from zap.finetune.runner import _Run, resolve_device
from zap.finetune.threads import torch_threads
from zap.pipelines import get_config
from zap.pipelines.zoo import ZOO, import_model_code

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
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cpu": model or platform.processor(), "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "torch": torch.__version__, "threads": 1, "timer": "thread_time",
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "loadavg_1m_at_start": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}


# ------------------------------------------------------------------------- the user's device, in seconds
PROBE_ARCHITECTURE, PROBE_SIZE, PROBE_BATCH, PROBE_WARMUP = "mobilenetv2", 32, 32, 2


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


def probe(table: CostTable, threads: int, device: str = "cpu", max_seconds: float = 2.0) -> DeviceSpeed:
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
    Path(args.out).write_text(json.dumps(table.to_dict(), indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

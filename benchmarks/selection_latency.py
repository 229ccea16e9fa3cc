"""Selection latency: time from meta-features to a decision, after the selector is loaded (target <= 50 ms).

Times the shipped selectors (artifacts/selectors/, or $ZAP_SELECTORS, or --selectors FOLDER): the figure
is about what users load. Without them it stops and says how to train them (`zap meta-train`).

    python benchmarks/selection_latency.py --repeats 200
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from zap.metafeatures import MetaFeatures
from zap.selectors import load_selector
from zap.selectors.trained import TRAINABLE, selector_input, selector_path, selectors_dir

TARGET_MS = 50.0


def trained_folder(folder: str | None) -> Path:
    """The folder of trained selectors to time; stops with the fix when it holds none."""
    path = Path(folder) if folder else selectors_dir()
    if not any(selector_path(n, path).exists() for n in TRAINABLE):
        raise SystemExit(f"no trained selectors in {path}: train them with `zap meta-train --out {path}` (or name "
                         "a folder that has them with --selectors)")
    return path


def time_decisions(path: Path, repeats: int) -> tuple[float, list[float]]:
    """Load time, then per decision the time to build the row `zap fit` builds (`selector_input`: on a
    selector trained on budget levels, with the log budget, drawn between its lowest and highest level) and
    rank it."""
    start = time.perf_counter()
    loaded = load_selector(path)
    load_ms = 1000 * (time.perf_counter() - start)
    levels = loaded.context.get("levels") or [None]
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(repeats):
        meta = MetaFeatures(int(rng.choice([1, 3])), int(rng.integers(2, 100)), int(rng.integers(50, 20000)),
                            int(rng.choice([16, 32, 64, 128])))
        budget = None if levels[0] is None else float(rng.uniform(min(levels), max(levels)))
        start = time.perf_counter()
        _ = loaded.selector.rank(selector_input(loaded.context, meta, budget)[0])[0].best
        samples.append(1000 * (time.perf_counter() - start))
    return load_ms, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--selectors", help="folder of trained selectors (default: the shipped ones)")
    args = parser.parse_args()
    folder = trained_folder(args.selectors)
    print(f"selectors from {folder}\n")
    print(f"{'selector':18s} {'load ms':>8s} {'median ms':>10s} {'p95 ms':>8s} {'max ms':>8s} {'p95/target':>11s}")
    for name in (n for n in TRAINABLE if selector_path(n, folder).exists()):
        load_ms, samples = time_decisions(selector_path(name, folder), args.repeats)
        p95 = float(np.percentile(samples, 95))
        print(f"{name:18s} {load_ms:8.1f} {statistics.median(samples):10.2f} {p95:8.2f} {max(samples):8.2f} "
              f"{p95 / TARGET_MS:11.3f}")
    print(f"\ntarget: decision <= {TARGET_MS:g} ms (ratio <= 1)")


if __name__ == "__main__":
    main()

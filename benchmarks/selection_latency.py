"""Selection latency: time from meta-features to a decision, after the selector is loaded (target <= 50 ms).

Uses the shipped selectors in artifacts/selectors/ when they exist; otherwise (or with --synthetic) it
meta-trains them first on a synthetic artifact of the same shape as v1 (88 datasets x 34 candidates),
so the figure is about the selector's own cost, not about where its training data came from.

    python benchmarks/selection_latency.py --repeats 200
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from zap.metafeatures import MetaFeatures
from zap.selectors import load_selector
from zap.selectors.trained import TRAINABLE, selector_path, selectors_dir

TARGET_MS = 50.0


def trained_folder(synthetic: bool, as_trials: int) -> Path:
    shipped = selectors_dir()
    if not synthetic and all(selector_path(n, shipped).exists() for n in ("zap-hpo", "zap-as")):
        return shipped
    from zap.selectors.synthetic import write_synthetic_artifact
    from zap.selectors.trained import meta_train

    folder = Path(tempfile.mkdtemp(prefix="zap-latency-"))
    write_synthetic_artifact(folder / "md.json.gz", n_groups=22, per_group=4, n_pipelines=34, seed=0)
    meta_train(folder / "md.json.gz", out=folder, as_trials=as_trials)
    return folder


def time_decisions(path: Path, repeats: int) -> tuple[float, list[float]]:
    start = time.perf_counter()
    selector = load_selector(path).selector
    load_ms = 1000 * (time.perf_counter() - start)
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(repeats):
        meta = MetaFeatures(int(rng.choice([1, 3])), int(rng.integers(2, 100)), int(rng.integers(50, 20000)),
                            int(rng.choice([16, 32, 64, 128])))
        start = time.perf_counter()
        _ = selector.rank(meta.vector()[None, :])[0].best
        samples.append(1000 * (time.perf_counter() - start))
    return load_ms, samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--synthetic", action="store_true", help="train on a synthetic artifact even if shipped")
    parser.add_argument("--as-trials", type=int, default=50)
    args = parser.parse_args()
    folder = trained_folder(args.synthetic, args.as_trials)
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

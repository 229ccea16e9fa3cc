"""How much do the four meta-features say about which pipeline wins? A reference for the selectors.

A k-nearest-neighbour selector (no training, no hyperparameters beyond k) picks, for each held-out
dataset, the pipeline with the best mean ALC over the k training datasets closest in z-scored log
meta-features. Leaving one core out, as `zap benchmark` does, its gap closed over Single-best says how
much a selector can get from the meta-features by similarity alone; `--shuffle` repeats it with the
meta-features permuted across datasets, which is what "no information" looks like. Cores are the unit
(a core's variants are averaged first). Pure numpy: seconds.

    python benchmarks/metafeature_knn.py artifacts/metadataset/v1.json.gz --k 1 3 5 8 12 20
    python benchmarks/metafeature_knn.py artifacts/metadataset/v2.json.gz --budget 60
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from zap.benchmark.loco import held_out_mask, outer_folds
from zap.benchmark.stats import core_means, gap_closed, markdown_table
from zap.metadataset.problem import SelectionProblem
from zap.selectors import SingleBest


def knn_picks(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, k: int) -> np.ndarray:
    """Per test row, the column with the best mean over its k nearest training rows (NaN cells skipped)."""
    mean, std = x_train.mean(axis=0), x_train.std(axis=0)
    std = np.where(std == 0, 1.0, std)
    a, b = (x_train - mean) / std, (x_test - mean) / std
    distance = ((b[:, None, :] - a[None, :, :]) ** 2).sum(axis=2)
    nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column none of the k neighbours measured
        scores = np.nanmean(y_train[nearest], axis=1)
    return np.nanargmax(np.where(np.isnan(scores), -np.inf, scores), axis=1)


def loco_scores(problem: SelectionProblem, x: np.ndarray, k: int | None) -> np.ndarray:
    """Per scored dataset (every candidate measured), the score of the pick on the problem's objective
    (k=None: Single-best of the training cores); NaN for the other datasets."""
    scored = problem.complete_rows()
    out = np.full(problem.n_datasets, np.nan)
    for core in outer_folds(problem, "loco"):
        test = held_out_mask(problem, "loco", core) & scored
        train = ~held_out_mask(problem, "loco", core) & problem.measured_rows()
        if k is None:
            picks = np.full(test.sum(), SingleBest().fit(x[train], problem.encodings, problem.perf[train],
                                                         problem.cores[train]).select(x[:1])[0])
        else:
            picks = knn_picks(x[train], problem.perf[train], x[test], k)
        out[test] = problem.perf[test][np.arange(test.sum()), picks]
    return out


def per_core(values: np.ndarray, problem: SelectionProblem) -> np.ndarray:
    scored = problem.complete_rows()
    return core_means(values[scored], problem.cores[scored])[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3, 5, 8, 12, 20])
    parser.add_argument("--shuffle", type=int, default=20, help="permutations of the meta-features (0: none)")
    parser.add_argument("--budget", type=float, default=None, help="the budget level (default: the lowest)")
    args = parser.parse_args()
    problem = SelectionProblem.load(args.artifact, args.budget)
    x = np.log1p(problem.meta_features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no cell: not scored anyway
        oracle = per_core(np.nanmax(problem.alc, axis=1), problem)
    single = per_core(loco_scores(problem, x, None), problem)
    rng = np.random.default_rng(0)
    rows = []
    for k in args.k:
        alc = per_core(loco_scores(problem, x, k), problem)
        shuffled = [per_core(loco_scores(problem, x[rng.permutation(len(x))], k), problem).mean()
                    for _ in range(args.shuffle)]
        gap = gap_closed(single.mean(), oracle.mean(), alc.mean())
        null = gap_closed(single.mean(), oracle.mean(), float(np.mean(shuffled))) if shuffled else None
        rows.append([f"kNN, k={k}", alc.mean(), gap, float((alc > single + 1e-12).mean()), null])
    print(f"{problem.complete_rows().sum()} scored datasets, {len(oracle)} cores; Oracle {oracle.mean():.3f}, "
          f"Single-best {single.mean():.3f}")
    print(markdown_table(["selector", "ALC", "gap closed", "beats SB", f"gap closed, shuffled x{args.shuffle}"],
                         rows))


if __name__ == "__main__":
    main()

"""Which rule should carry a level's candidates up to the next budget level? Judged by the Oracle-Single-best
gap they leave on cores that did not choose them.

`scripts/v2_candidates.py` carries the best of a level to the next one. Two rules are set side by side:
the best mean rank per core (`best_by_core_rank`, generalists) and Auto-sklearn 2.0's greedy portfolio
(`greedy_portfolio`, which adds the candidate that most raises the portfolio's best ALC per dataset). Each
repetition splits the cores in two halves at random, chooses `k` candidates on one half (among the
level's distinct candidates, as the script does) and measures on the other half the gap between the
chosen set's Oracle and its Single-best (core means; a core's variants averaged first). A rule that
overfits the half it chose on shows it there. Pure numpy: seconds.

    python benchmarks/level_portfolio.py artifacts/metadataset/v2.json.gz --budget 20 --k 6 8 10
"""

from __future__ import annotations

import argparse

import numpy as np

from zap.benchmark.stats import markdown_table
from zap.metadataset.levels import best_by_core_rank, distinct_candidates, greedy_portfolio
from zap.metadataset.problem import SelectionProblem

RULES = {"mean rank": best_by_core_rank, "greedy portfolio": greedy_portfolio}


def set_gap(problem: SelectionProblem, ids: list[str], rows: np.ndarray) -> float:
    """Oracle minus Single-best of the candidates `ids` over `rows`, both as means over cores."""
    alc = problem.alc[rows][:, [problem.candidate_ids.index(i) for i in ids]]
    cores = problem.cores[rows]
    per_core = np.array([alc[cores == c].mean(axis=0) for c in sorted(set(cores.tolist()))])
    oracle = np.mean([alc[cores == c].max(axis=1).mean() for c in sorted(set(cores.tolist()))])
    return float(oracle - per_core.mean(axis=0).max())


def split_gaps(problem: SelectionProblem, k: int, repetitions: int, seed: int) -> dict[str, np.ndarray]:
    """Per rule, the held-out half's gap in each repetition (the same splits for every rule)."""
    complete = problem.complete_rows()
    cores = sorted(set(problem.cores[complete].tolist()))
    among = distinct_candidates(problem)
    rng = np.random.default_rng(seed)
    gaps: dict[str, list[float]] = {name: [] for name in RULES}
    for _ in range(repetitions):
        chosen = np.isin(problem.cores, rng.choice(cores, len(cores) // 2, replace=False))
        half = problem.subset(chosen)
        for name, rule in RULES.items():
            gaps[name].append(set_gap(problem, rule(half, k, among=among), complete & ~chosen))
    return {name: np.array(values) for name, values in gaps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact")
    parser.add_argument("--budget", type=float, default=None, help="the level (default: the lowest)")
    parser.add_argument("--k", type=int, nargs="+", default=[6, 8, 10])
    parser.add_argument("--repetitions", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    problem = SelectionProblem.load(args.artifact, args.budget)
    complete = problem.complete_rows()
    print(f"{complete.sum()} complete datasets over {len(set(problem.cores[complete].tolist()))} cores; all "
          f"{len(problem.candidate_ids)} candidates: gap {set_gap(problem, problem.candidate_ids, complete):.4f}")
    rows = []
    for k in args.k:
        gaps = split_gaps(problem, k, args.repetitions, args.seed)
        base, other = gaps["mean rank"], gaps["greedy portfolio"]
        diff = other - base
        rows.append([k, f"{base.mean():.4f}", f"{other.mean():.4f}", f"{diff.mean():+.4f}",
                     f"{diff.std(ddof=1):.4f}", f"{(diff > 0).mean():.0%}"])
    print(markdown_table(["k", "gap, mean rank", "gap, greedy", "greedy - rank", "std over splits",
                          "splits greedy ahead"], rows))
    print(f"\n{args.repetitions} random halvings of the cores (seed {args.seed}); the halves overlap between "
          "repetitions, so the std over splits, not a standard error, is the noise to read the difference by")


if __name__ == "__main__":
    main()

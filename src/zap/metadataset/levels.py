"""Choosing a budget level's candidates: what is distinct at the level below, what wins there, and the
regions a level should also cover.

Each level of a multi-level plan is a dense matrix over its own candidates, so every candidate costs a
full column of runs: a level keeps what the measurements say is different (near copies at the noise
floor count once), what wins, and what the HPO at that budget found.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from zap.metadataset.diversity import NEAR_COPY_FALLBACK_STD, near_copies, noise_floor, representatives, sampled_only
from zap.metadataset.problem import SelectionProblem
from zap.pipelines import as_dict
from zap.pipelines.space import with_overrides


def distinct_candidates(problem: SelectionProblem) -> list[str]:
    """The candidates that stand for themselves once near copies at the noise floor are dropped, best mean
    ALC first, over the datasets where every candidate was measured."""
    rows = problem.complete_rows()
    first = problem.alc if problem.alc_first is None else problem.alc_first
    first = first[rows]
    repeat = None if problem.alc_repeat is None else problem.alc_repeat[rows]
    ids = [d for d, keep in zip(problem.dataset_ids, rows, strict=True) if keep]
    noise = noise_floor(first, sampled_only(repeat, ids, problem.candidate_ids))
    run_std = noise["run_std"] if noise else NEAR_COPY_FALLBACK_STD
    rep = representatives(first, problem.candidate_ids, near_copies(first, problem.candidate_ids, run_std))
    order = np.argsort(-first.mean(axis=0), kind="stable")
    return [problem.candidate_ids[j] for j in order if rep[problem.candidate_ids[j]] == problem.candidate_ids[j]]


def best_by_core_rank(problem: SelectionProblem, k: int, among: Sequence[str] | None = None) -> list[str]:
    """The `k` candidates with the best mean rank per core (ranks within each dataset, averaged over a core's
    datasets, then over cores), so that no core with many variants decides alone."""
    rows = problem.complete_rows()
    columns = [problem.candidate_ids.index(c) for c in (among or problem.candidate_ids)]
    alc = problem.alc[rows][:, columns]
    ranks = (-alc).argsort(axis=1).argsort(axis=1).astype(float)
    cores = problem.cores[rows]
    per_core = np.array([ranks[cores == c].mean(axis=0) for c in sorted(set(cores.tolist()))])
    order = np.argsort(per_core.mean(axis=0), kind="stable")
    return [problem.candidate_ids[columns[j]] for j in order[:k]]


def carried(ranked: list[str], present: set[str], k: int, level_size: int) -> list[str]:
    """The first `k` of `ranked`, and more of them while the level (`present` and those carried) is smaller
    than `level_size`: a carried candidate that is already there (a named one, an HPO pick) adds nothing."""
    chosen = ranked[:k]
    for candidate in ranked[k:]:
        if len(present | set(chosen)) >= level_size:
            break
        chosen.append(candidate)
    return chosen


def greedy_portfolio(problem: SelectionProblem, k: int, among: Sequence[str] | None = None) -> list[str]:
    """`k` candidates chosen as Auto-sklearn 2.0 builds its portfolio: the best on average first, then each
    time the one that most raises the mean, over cores, of the portfolio's best ALC per dataset (a core's
    variants averaged first). Unlike the best mean ranks it takes the specialists that win where the
    generalists do not, which is what an Oracle-Single-best gap at the next level is made of."""
    rows = problem.complete_rows()
    columns = [problem.candidate_ids.index(c) for c in (among or problem.candidate_ids)]
    alc = problem.alc[rows][:, columns]
    cores = problem.cores[rows]
    per_core = np.array([(cores == c).sum() for c in cores], dtype=float)
    weight = 1.0 / (per_core * len(set(cores.tolist())))
    chosen: list[int] = []
    best = np.full(len(alc), -np.inf)
    for _ in range(min(k, len(columns))):
        value = np.array([-np.inf if j in chosen else weight @ np.maximum(best, alc[:, j])
                          for j in range(len(columns))])
        chosen.append(int(np.argmax(value)))
        best = np.maximum(best, alc[:, chosen[-1]])
    return [problem.candidate_ids[columns[j]] for j in chosen]


def variant(config: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A candidate with some hyperparameters changed (see `zap.pipelines.space.with_overrides`)."""
    return as_dict(with_overrides(config, **overrides))

"""Is the cost matrix worth learning from? Winners, candidate correlation, Oracle vs Single-best against
the noise floor, and the two figures (heatmap, winners histogram) that show it.

A matrix where one pipeline wins nearly everywhere, or where the Oracle's lead over Single-best is
within the seed-to-seed noise, leaves nothing for a selector to learn; these numbers say which it is.
Rows with a missing cell (a build in progress) are left out; every figure names how many rows
it used.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from zap.finetune import quick
from zap.metadataset.build import NOISE_SAMPLE_SHARE, in_sample
from zap.utils import atomic_path

# Two candidates are near copies when their ALCs differ, in root mean square over the datasets, by no
# more than two runs of one candidate with different seeds do (sqrt(2) x the noise floor's per-run std):
# nothing in the matrix then tells them apart. Squares, not absolute values, so that two candidates which
# agree on most datasets but differ widely on a few (exactly what a selector exploits) are not copies.
# Until a second seed exists the per-run std below, about what the pilots measured, stands in.
NEAR_COPY_FALLBACK_STD = 0.03


def winners(alc: np.ndarray) -> np.ndarray:
    return np.nanargmax(alc, axis=1)


def candidate_correlation(alc: np.ndarray, within_datasets: bool = False) -> np.ndarray:
    """Spearman rank correlation between candidates over the datasets (columns with no variance: NaN).
    Over raw ALC it is high for any two candidates, because a dataset's difficulty moves all of them
    alike; `within_datasets` first subtracts each dataset's mean, so it measures whether two candidates
    are strong and weak on the same datasets *relative to the others*, the part a selector can use."""
    if alc.shape[0] < 3:
        return np.full((alc.shape[1], alc.shape[1]), np.nan)
    if within_datasets:
        alc = alc - alc.mean(axis=1, keepdims=True)
    rho = spearmanr(alc, axis=0, nan_policy="omit").statistic
    return np.atleast_2d(rho)


def _off_diagonal_summary(rho: np.ndarray) -> dict[str, float | None]:
    off = rho[~np.eye(len(rho), dtype=bool)]
    off = off[~np.isnan(off)]
    if not off.size:
        return {"mean": None, "median": None, "max": None}
    return {"mean": float(off.mean()), "median": float(np.median(off)), "max": float(off.max())}


def near_copies(alc: np.ndarray, ids: list[str], run_std: float) -> list[tuple[str, str, float]]:
    """Pairs whose RMS ALC difference over the datasets is within what seed noise alone gives, closest first."""
    threshold = np.sqrt(2) * run_std
    pairs = [(ids[i], ids[j], float(np.sqrt(np.mean((alc[:, i] - alc[:, j]) ** 2))))
             for i in range(alc.shape[1]) for j in range(i + 1, alc.shape[1])]
    return sorted((p for p in pairs if p[2] <= threshold), key=lambda p: p[2])


def representatives(alc: np.ndarray, ids: list[str], copies: list[tuple[str, str, float]]) -> dict[str, str]:
    """Each candidate -> the candidate that stands for it once near copies are dropped: from the best mean
    ALC down, a candidate stands for itself unless it is a near copy of one already standing (then that
    one; no chaining: a copy of a dropped candidate can stand)."""
    copy_of = {frozenset((a, b)) for a, b, _ in copies}
    standing: list[str] = []
    rep: dict[str, str] = {}
    for j in np.argsort(-alc.mean(axis=0), kind="stable"):
        rep[ids[j]] = next((k for k in standing if frozenset((ids[j], k)) in copy_of), ids[j])
        if rep[ids[j]] == ids[j]:
            standing.append(ids[j])
    return rep


def noise_floor(alc: np.ndarray, repeat: np.ndarray | None) -> dict[str, Any] | None:
    """Seed-to-seed spread of ALC on the cells measured twice (give it unselected cells): mean |difference|
    and the per-run standard deviation (std of the differences / sqrt 2)."""
    if repeat is None:
        return None
    both = ~np.isnan(alc) & ~np.isnan(repeat)
    if both.sum() < 2:
        return None
    diff = alc[both] - repeat[both]
    return {"cells": int(both.sum()), "mean_abs_diff": float(np.abs(diff).mean()),
            "run_std": float(diff.std(ddof=1) / np.sqrt(2)), "max_abs_diff": float(np.abs(diff).max())}


def sampled_only(repeat: np.ndarray | None, dataset_ids: list[str], candidate_ids: list[str],
                 share: float = NOISE_SAMPLE_SHARE) -> np.ndarray | None:
    """The second seed's cells of the build's random sample only. Cells run again because they were a
    dataset's best (`--extra-seed-top`) were chosen for a high first seed, so their difference carries
    the winner's curse, not just noise."""
    if repeat is None:
        return None
    mask = np.array([[in_sample(d, p, share) for p in candidate_ids] for d in dataset_ids], dtype=bool)
    return np.where(mask.reshape(repeat.shape), repeat, np.nan)


def winners_curse(first: np.ndarray, repeat: np.ndarray | None) -> dict[str, Any] | None:
    """How far the first seed's best cell per dataset falls on the second seed, over the datasets where
    it was run again: the part of the Oracle's lead that is selection on noise, not pipeline quality."""
    if repeat is None:
        return None
    rows = np.arange(len(first))
    pick = np.nanargmax(first, axis=1)
    again = repeat[rows, pick]
    has = ~np.isnan(again)
    if not has.any():
        return None
    return {"datasets": int(has.sum()), "oracle_pick_seed0": float(first[rows, pick][has].mean()),
            "oracle_pick_seed1": float(again[has].mean())}


def rerun_oracle(first: np.ndarray, repeat: np.ndarray | None, single: int,
                 run_std: float | None) -> dict[str, Any] | None:
    """The Oracle as the paper re-ran it: each dataset's best cell by the first seed, scored on the second,
    against Single-best (column `single`) on the same datasets, also on the second seed where it ran again
    (where Single-best was the first seed's best, its first seed carries the same winner's luck). Its lead
    is what a perfect selector can still gain once the first seed's luck is gone; `lead_over_run_std` sets
    it against one run's noise."""
    curse = winners_curse(first, repeat)
    if curse is None:
        return None
    rows = np.arange(len(first))
    again = repeat[rows, np.nanargmax(first, axis=1)]
    has = ~np.isnan(again)
    best = np.where(np.isnan(repeat[:, single]), first[:, single], repeat[:, single])[has]
    lead = float((again[has] - best).mean())
    return {"datasets": curse["datasets"], "alc": curse["oracle_pick_seed1"], "single_best_alc": float(best.mean()),
            "lead": lead, "lead_over_run_std": lead / run_std if run_std else None}


def final_nauc_gap(nauc: np.ndarray, alc_oracle_pick: np.ndarray) -> dict[str, float]:
    """Final NAUC (the model a user keeps): its own Oracle and Single-best, and what the ALC Oracle's picks
    end with. The two objectives disagree when the last figure sits far below the first."""
    single = int(np.argmax(nauc.mean(axis=0)))
    oracle, best = nauc.max(axis=1).mean(), nauc[:, single].mean()
    return {"oracle": float(oracle), "single_best": float(best), "oracle_minus_single_best": float(oracle - best),
            "alc_oracle_picks": float(nauc[np.arange(len(nauc)), alc_oracle_pick].mean())}


def per_core(values: np.ndarray, cores: np.ndarray) -> np.ndarray:
    return np.array([values[cores == c].mean() for c in sorted(set(cores.tolist()))])


def diversity_report(problem) -> dict[str, Any]:
    """The numbers of the pilot check on the rows where every candidate was measured."""
    rows = problem.complete_rows()
    alc, cores = problem.alc[rows], problem.cores[rows]
    if not rows.any():
        return {"n_datasets": 0, "note": "no dataset has every candidate measured yet"}
    win = winners(alc)
    single = int(np.argmax(alc.mean(axis=0)))
    oracle, best = alc.max(axis=1), alc[:, single]
    repeat = None if problem.alc_repeat is None else problem.alc_repeat[rows]
    first = alc if problem.alc_first is None else problem.alc_first[rows]
    ids = [d for d, keep in zip(problem.dataset_ids, rows, strict=True) if keep]
    noise = noise_floor(first, sampled_only(repeat, ids, problem.candidate_ids))
    run_std = noise["run_std"] if noise else NEAR_COPY_FALLBACK_STD
    # on the first seed alone, so that every cell carries one run's noise, as the threshold assumes
    copies = near_copies(first, problem.candidate_ids, run_std)
    rep = representatives(first, problem.candidate_ids, copies)
    return {
        "n_datasets": int(rows.sum()), "n_cores": len(set(cores.tolist())), "n_candidates": alc.shape[1],
        "distinct_winners": len(set(win.tolist())),
        # winners that are near copies of each other count once
        "distinct_winners_without_copies": len({rep[problem.candidate_ids[w]] for w in win}),
        "winner_counts": {problem.candidate_ids[k]: v for k, v in Counter(win.tolist()).most_common()},
        "single_best": problem.candidate_ids[single],
        "single_best_wins": int((win == single).sum()),
        "oracle_alc": float(oracle.mean()), "single_best_alc": float(best.mean()),
        "oracle_minus_single_best": float((oracle - best).mean()),
        "oracle_minus_single_best_per_core": float((per_core(oracle, cores) - per_core(best, cores)).mean()),
        "random_alc": float(alc.mean()),
        "rank_correlation": _off_diagonal_summary(candidate_correlation(alc)),
        "rank_correlation_within_datasets": _off_diagonal_summary(candidate_correlation(alc, within_datasets=True)),
        "near_copy_rms_threshold": float(np.sqrt(2) * run_std),
        "near_copies": copies,
        "distinct_candidates": len(set(rep.values())),
        "noise_floor": noise,
        "winners_curse": winners_curse(first, repeat),
        "rerun_oracle": rerun_oracle(first, repeat, single, noise["run_std"] if noise else None),
        "final_nauc": final_nauc_gap(problem.nauc[rows], alc.argmax(axis=1)),
        "zero_alc_cells": int((alc == 0).sum()),  # failed inside the task, or never above chance
    }


def plot_heatmap(problem, path: str | Path) -> Path:
    """Datasets (grouped by core) x candidates (ordered by mean ALC), like the paper's cost-matrix figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = problem.complete_rows()
    alc, cores = problem.alc[rows], problem.cores[rows]
    row_order = np.lexsort((-np.nanmax(alc, axis=1), cores))
    col_order = np.argsort(-alc.mean(axis=0))
    fig = Figure(figsize=(max(6, 0.22 * alc.shape[1] + 2), max(4, 0.12 * alc.shape[0] + 1.5)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(alc[np.ix_(row_order, col_order)], aspect="auto", cmap="viridis", vmin=0,
                      vmax=max(0.01, float(np.nanmax(alc))), interpolation="nearest")
    ax.set_xlabel(f"candidate pipelines ({alc.shape[1]}, best mean ALC left)")
    ax.set_ylabel(f"datasets ({alc.shape[0]}, grouped by core)")
    labels = cores[row_order]
    ticks = [i for i in range(len(labels)) if i == 0 or labels[i] != labels[i - 1]]
    ax.set_yticks(ticks, [labels[i] for i in ticks], fontsize=6)
    ax.set_xticks([])
    fig.colorbar(image, ax=ax, label="ALC")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(path)


def plot_winners(problem, path: str | Path) -> Path:
    """How many datasets each candidate wins (only candidates that win at least one)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = problem.complete_rows()
    counts = Counter(winners(problem.alc[rows]).tolist()).most_common()
    fig = Figure(figsize=(max(5, 0.35 * len(counts) + 2), 3.5))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.bar(range(len(counts)), [c for _, c in counts], color="#4477aa")
    ax.set_xticks(range(len(counts)), [problem.candidate_ids[k][:6] for k, _ in counts], rotation=60, fontsize=7)
    ax.set_ylabel("datasets won")
    ax.set_title(f"per-dataset winners: {len(counts)} distinct over {int(rows.sum())} datasets", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(path)


def level_report(payload: dict, budget: float) -> tuple[Any, dict[str, Any]]:
    """One budget level of an artifact: its selection problem and its full report (the share of cells the
    CNN answered included)."""
    from zap.metadataset.artifact import level_view
    from zap.metadataset.problem import SelectionProblem

    view = level_view(payload, budget)
    problem = SelectionProblem.from_artifact(view)
    return problem, diversity_report(problem) | {"answered_by": answered_by_share(view)}


def answered_by_share(payload: dict) -> dict[str, Any]:
    """How often the CNN's prediction stood at T rather than the quick model's: if the CNN rarely gets
    past the quick model within the budget, the matrix mostly ranks quick models. The key of the quick
    model's count is its stored value (`quick.ANSWERED_BY`)."""
    cells = [p.get("answered_by") for p in payload["matrices"][str(payload["seeds"][0])]["provenance"].values()]
    known = [c for c in cells if c is not None]
    if not known:
        return {"cells": 0}
    counts = Counter(known)
    return {"cells": len(known), "cnn": counts["cnn"], quick.ANSWERED_BY: counts[quick.ANSWERED_BY],
            "cnn_share": counts["cnn"] / len(known)}

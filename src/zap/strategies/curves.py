"""Partial learning curves as features, and the rows a curve predictor learns from.

A stored curve (`artifact` cells) is the list of predictions a run released, as [time on the level's
clock, NAUC] pairs: a run releases a prediction only when it validates better than the one standing,
so the curve is a best-so-far staircase. A live run seen by `refine` is the same staircase of
validation NAUC, which is why the same features describe both.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zap.metadataset.artifact import budgets_of, level_view
from zap.metadataset.problem import SelectionProblem, with_budget

Points = Sequence[Sequence[float]]  # [(time, score), ...], times ascending

# Budget fractions at which stored curves are cut into training rows: where refine looks (it looks
# early, in slices of a few per cent of the budget, and rarely past half of it).
CUT_FRACTIONS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
CURVE_FEATURES = ("fraction", "seen", "last", "best", "first_at", "n_points", "recent_gain")
TARGETS = ("alc", "final")


def seen_until(points: Points, t: float) -> list[tuple[float, float]]:
    return [(float(p[0]), float(p[1])) for p in points if p[0] <= t]


def curve_features(points: Points, t: float, budget: float) -> np.ndarray:
    """What a curve shows at local time `t` of a run whose schedules span `budget`: how far in, whether it has
    answered, the last and best score, when it first answered, how many answers, and the last gain."""
    seen = seen_until(points, t)
    fraction = min(1.0, t / budget)
    if not seen:
        return np.array([fraction, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    scores = [s for _, s in seen]
    gain = scores[-1] - scores[-2] if len(scores) > 1 else 0.0
    return np.array([fraction, 1.0, scores[-1], max(scores), seen[0][0] / budget, math.log1p(len(seen)), gain])


@dataclass
class CurveRows:
    """Training rows: static features (meta-features, log budget, pipeline encoding), curve features, the
    targets (the cell's ALC and final NAUC) and each row's core, for grouped validation."""

    x: np.ndarray
    y: np.ndarray
    cores: np.ndarray


def static_features(meta_features: np.ndarray, budget: float, encoding: np.ndarray) -> np.ndarray:
    return np.concatenate([with_budget(meta_features, budget)[0], np.asarray(encoding, float)])


def curve_rows(payload: dict, budget: float | None = None, datasets: np.ndarray | None = None,
               cuts: Sequence[float] = CUT_FRACTIONS) -> CurveRows:
    """Every stored curve of one level (every seed), cut at `cuts` of the level's budget; `datasets` is a
    boolean mask of the datasets to use (LOCO leaves a core out)."""
    view = level_view(payload, budget)
    problem = SelectionProblem.from_artifact(payload, budget)
    level_budget = float(problem.budget)
    keep = np.ones(problem.n_datasets, bool) if datasets is None else np.asarray(datasets, bool)
    xs, ys, cores = [], [], []
    for seed in view["seeds"]:
        matrices = view["matrices"][str(seed)]
        for key, points in matrices["curves"].items():
            i, j = (int(v) for v in key.split(","))
            targets = (matrices["alc"][i][j], matrices["final_nauc"][i][j])
            if not keep[i] or None in targets:
                continue
            static = static_features(problem.meta_features[i], level_budget, problem.encodings[j])
            for cut in cuts:
                xs.append(np.concatenate([static, curve_features(points, cut * level_budget, level_budget)]))
                ys.append(targets)
                cores.append(problem.cores[i])
    if not xs:
        return CurveRows(np.zeros((0, 0)), np.zeros((0, len(TARGETS))), np.array([]))
    return CurveRows(np.array(xs), np.array(ys, float), np.array(cores))


def all_level_rows(payload: dict) -> CurveRows:
    """The rows of every budget level together: the budget is a feature, so one predictor serves all."""
    parts = [curve_rows(payload, budget) for budget in budgets_of(payload)]
    parts = [p for p in parts if len(p.x)]
    if not parts:
        return CurveRows(np.zeros((0, 0)), np.zeros((0, len(TARGETS))), np.array([]))
    return CurveRows(np.concatenate([p.x for p in parts]), np.concatenate([p.y for p in parts]),
                     np.concatenate([p.cores for p in parts]))

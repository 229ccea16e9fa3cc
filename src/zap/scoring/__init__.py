"""AutoDL scoring: per-prediction NAUC and the anytime ALC of a learning curve.

This is the only place that turns predictions into scores and learning curves into ALC, so the
meta-dataset, the benchmark and `zap fit` can never disagree about what a number means.
The formulas follow the AutoDL challenge scoring program (v20191219); see docs/scoring.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from zap.errors import ConfigError
from zap.scoring.curve import COLUMNS, LearningCurve

__all__ = [
    "CHALLENGE_T",
    "CHALLENGE_T0",
    "COLUMNS",
    "AlcSpec",
    "LearningCurve",
    "accuracy",
    "alc",
    "auc_per_class",
    "curve_alc",
    "default_t0",
    "nauc",
    "time_transform",
]

CHALLENGE_T = 1200.0
CHALLENGE_T0 = 60.0


def default_t0(budget: float) -> float:
    """t0 = T/20 keeps the challenge's shape (60 s of 1200 s) for any budget."""
    return budget / 20.0


@dataclass(frozen=True)
class AlcSpec:
    """The constants of the ALC time axis. `AlcSpec.challenge()` gives t0=60, T=1200."""

    budget: float
    t0: float | None = None

    def __post_init__(self) -> None:
        if not np.isfinite(self.budget) or self.budget <= 0:
            raise ConfigError(f"ALC budget T must be a positive number of seconds, got {self.budget!r}")
        if self.t0 is not None and (not np.isfinite(self.t0) or self.t0 <= 0):
            raise ConfigError(f"ALC t0 must be positive, got {self.t0!r}")

    @property
    def resolved_t0(self) -> float:
        return default_t0(self.budget) if self.t0 is None else float(self.t0)

    @classmethod
    def challenge(cls) -> AlcSpec:
        return cls(budget=CHALLENGE_T, t0=CHALLENGE_T0)


def _one_hot(y_true: np.ndarray, n_classes: int) -> np.ndarray:
    y_true = np.asarray(y_true)
    if y_true.ndim == 2:
        return y_true.astype(float)
    out = np.zeros((len(y_true), n_classes))
    out[np.arange(len(y_true)), y_true.astype(int)] = 1.0
    return out


def auc_per_class(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """ROC AUC of each class column from average ranks (Mann-Whitney); NaN where a column is degenerate.

    `y_true` is either integer labels (n,) or a one-hot/multi-label matrix (n, C).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must be an (n, C) matrix, got shape {scores.shape}")
    solution = _one_hot(y_true, scores.shape[1])
    if solution.shape != scores.shape:
        raise ValueError(f"solution shape {solution.shape} does not match scores shape {scores.shape}")
    aucs = np.full(scores.shape[1], np.nan)
    for k in range(scores.shape[1]):
        positives = solution[:, k] > 0.5
        n_pos = int(positives.sum())
        n_neg = len(positives) - n_pos
        if n_pos == 0 or n_neg == 0:
            continue
        ranks = rankdata(scores[:, k], method="average")
        aucs[k] = (ranks[positives].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return aucs


def nauc(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Normalized AUC = 2*mean_k(AUC_k) - 1 over the non-degenerate class columns (0 if none)."""
    aucs = auc_per_class(y_true, scores)
    valid = aucs[~np.isnan(aucs)]
    if valid.size == 0:
        return 0.0
    return float(2.0 * valid.mean() - 1.0)


def accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Top-1 accuracy of the argmax of each prediction row."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(y_true)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if len(labels) == 0:
        return 0.0
    return float((scores.argmax(axis=1) == labels).mean())


def time_transform(t: np.ndarray | float, spec: AlcSpec) -> np.ndarray:
    """t~(t) = log(1 + t/t0) / log(1 + T/t0): maps [0, T] onto [0, 1], stretching the early part."""
    t0 = spec.resolved_t0
    return np.log1p(np.asarray(t, dtype=float) / t0) / np.log1p(spec.budget / t0)


def alc(
    times: Sequence[float] | np.ndarray,
    scores: Sequence[float] | np.ndarray,
    budget: float | AlcSpec,
    t0: float | None = None,
) -> float:
    """Area under the anytime learning curve, AutoDL style.

    Predictions at `times` (seconds since the clock started) with `scores` (NAUC). Points after T are
    ignored; (0, 0) is prepended; each score holds until the next prediction (post step) and the last
    one is held to T. A run stopped early at b < T is thereby integrated to T with its last score held.
    """
    spec = budget if isinstance(budget, AlcSpec) else AlcSpec(float(budget), t0)
    times_arr = np.asarray(times, dtype=float).reshape(-1)
    scores_arr = np.asarray(scores, dtype=float).reshape(-1)
    if times_arr.shape != scores_arr.shape:
        raise ValueError(f"{times_arr.size} times but {scores_arr.size} scores: one score per prediction")
    if np.any(~np.isfinite(times_arr)) or np.any(times_arr < 0):
        raise ValueError("prediction times must be finite and non-negative")
    if np.any(np.diff(times_arr) < 0):
        raise ValueError("prediction times must be non-decreasing")
    keep = times_arr <= spec.budget
    times_arr, scores_arr = times_arr[keep], np.nan_to_num(scores_arr[keep], nan=0.0)
    if times_arr.size == 0:
        return 0.0
    x = np.concatenate([[0.0], time_transform(times_arr, spec), [1.0]])
    y = np.concatenate([[0.0], scores_arr, [scores_arr[-1]]])
    return float(np.sum(np.diff(x) * y[:-1]))


def curve_alc(curve: LearningCurve, clock: str, budget: float | AlcSpec, t0: float | None = None) -> float:
    """ALC of a learning curve on the given clock ("wall", "cpu" or "steps")."""
    return alc(curve.times(clock), curve.column("nauc"), budget, t0)


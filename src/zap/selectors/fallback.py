"""Knowing when not to deviate: fall back to Single-best where a selector has no grounds to pick otherwise.

Auto-sklearn 2.0's policy selector keeps its default where no training dataset resembles the new one. Here
the rule falls back to Single-best (of the budget level) when (a) the meta-features lie outside the range
the selector was trained on, or (b) the pick's predicted margin over Single-best is within the noise
floor. The margin is estimated without the selector's own scores (a ranking loss gives no performance
units): the mean of each of the two pipelines over the k nearest training datasets, the kNN reference's
estimate, in the objective's units; the noise floor is the per-run noise of one cell, the standard
deviation of (seed 0 - seed 1) over the cells measured twice, divided by sqrt(2).

The rule is plain data (JSON), written beside the selectors by `zap meta-train` (`fallback.json`,
`fallback--final.json`), so loading it runs no code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zap.errors import ArtifactError
from zap.metadataset.problem import Levels, SelectionProblem, check_objective
from zap.resources import selectors_dir
from zap.selectors.baselines import nearest_rows
from zap.selectors.levels import nearest_level
from zap.utils import atomic_write_json

FALLBACK_SCHEMA = 1
NEIGHBOURS = 5


@dataclass
class Decision:
    fall_back: bool
    reason: str
    margin: float | None = None  # kNN-estimated pick - Single-best, in the objective's units

    def to_dict(self) -> dict:
        return {"fell_back": self.fall_back, "reason": self.reason,
                "margin": None if self.margin is None else round(self.margin, 5)}


@dataclass
class LevelRule:
    """The rule at one budget level: its training rows, Single-best and noise floor."""

    candidate_ids: list[str]
    meta_features: np.ndarray  # training rows
    perf: np.ndarray  # training rows x candidates (NaN: not measured)
    single_best: str
    noise_std: float | None
    k: int = NEIGHBOURS

    @classmethod
    def of(cls, problem: SelectionProblem, rows: np.ndarray | None = None, columns: np.ndarray | None = None,
           k: int = NEIGHBOURS) -> LevelRule:
        """The rule from some datasets (`rows`, a mask; default: every measured one) and candidates
        (`columns`, indices; default: all), as a benchmark fold sees them."""
        rows = problem.measured_rows() if rows is None else np.asarray(rows)
        columns = np.arange(len(problem.candidate_ids)) if columns is None else np.asarray(columns)
        perf = problem.perf[np.ix_(np.flatnonzero(rows) if rows.dtype == bool else rows, columns)]
        means = np.array([col[np.isfinite(col)].mean() if np.isfinite(col).any() else -np.inf for col in perf.T])
        ids = [problem.candidate_ids[j] for j in columns]
        return cls(ids, problem.meta_features[rows], perf, ids[int(np.argmax(means))],
                   noise_std(problem, rows, columns), k)

    def decide(self, x: np.ndarray, pick: str) -> Decision:
        x = np.asarray(x, float).ravel()
        low, high = self.meta_features.min(axis=0), self.meta_features.max(axis=0)
        if pick == self.single_best:
            return Decision(False, "the pick is Single-best")
        if ((x < low) | (x > high)).any():
            return Decision(True, "the meta-features lie outside the range the selector was trained on")
        margin = self.knn_estimate(x, pick) - self.knn_estimate(x, self.single_best)
        if self.noise_std is None:
            return Decision(False, "no noise floor is known (no cell measured twice)", margin)
        if not math.isfinite(margin) or margin <= self.noise_std:
            return Decision(True, f"the pick's estimated margin over Single-best ({margin:+.4f}) is within the noise "
                                  f"floor ({self.noise_std:.4f})", margin)
        return Decision(False, f"the pick's estimated margin over Single-best ({margin:+.4f}) exceeds the noise "
                               f"floor ({self.noise_std:.4f})", margin)

    def knn_estimate(self, x: np.ndarray, candidate: str) -> float:
        """The candidate's mean over the k nearest training datasets (standardized meta-features)."""
        nearest = nearest_rows(self.meta_features, x, self.k)[0]
        values = self.perf[nearest, self.candidate_ids.index(candidate)]
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else math.nan

    def to_dict(self) -> dict:
        return {"candidate_ids": self.candidate_ids, "meta_features": self.meta_features.tolist(),
                "perf": [[None if math.isnan(v) else float(v) for v in row] for row in self.perf],
                "single_best": self.single_best, "noise_std": self.noise_std, "k": self.k}

    @classmethod
    def from_dict(cls, values: dict) -> LevelRule:
        perf = np.array([[np.nan if v is None else v for v in row] for row in values["perf"]], dtype=float)
        return cls(list(values["candidate_ids"]), np.array(values["meta_features"], float), perf,
                   values["single_best"], values["noise_std"], int(values["k"]))


def noise_std(problem: SelectionProblem, rows: np.ndarray | None = None,
              columns: np.ndarray | None = None) -> float | None:
    """Per-run noise of one cell: std of (first seed - second seed) over the cells measured twice, / sqrt(2)."""
    first, repeat = problem.perf_first, problem.perf_repeat
    if first is None or repeat is None:
        return None
    diff = first - repeat
    if rows is not None:
        diff = diff[rows]
    if columns is not None:
        diff = diff[:, columns]
    diff = diff[np.isfinite(diff)]
    return float(diff.std() / math.sqrt(2)) if diff.size > 1 else None


def fallback_path(folder: str | Path | None = None, objective: str = "alc") -> Path:
    suffix = "" if check_objective(objective) == "alc" else f"--{objective}"
    return Path(folder or selectors_dir()) / f"fallback{suffix}.json"


def write_fallback(levels: Levels, path: Path, protocol_hash: str) -> Path:
    payload = {"schema": FALLBACK_SCHEMA, "protocol_hash": protocol_hash, "objective": levels.lowest.objective,
               "levels": {f"{b:g}": LevelRule.of(p).to_dict() for b, p in levels}}
    atomic_write_json(path, payload)
    return path


def load_fallback(path: Path, expect_protocol: str | None = None) -> dict[float, LevelRule]:
    """The rule per budget level; plain JSON. `expect_protocol`: the protocol hash of the selector the rule
    is used with. `zap meta-train` writes a folder's files one by one, so a run stopped half way (or files
    copied from two trainings) leaves a rule from one meta-dataset beside a selector from another: refused
    by name, never mixed."""
    try:
        payload = json.loads(Path(path).read_text())
        if payload.get("schema") != FALLBACK_SCHEMA:
            raise ValueError(f"schema {payload.get('schema')!r}, this zap reads {FALLBACK_SCHEMA}")
        rules = {float(b): LevelRule.from_dict(v) for b, v in payload["levels"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:  # any damaged shape
        raise ArtifactError(f"{path} is not a zap fallback rule ({exc}); write it again with "
                            "`zap meta-train`") from None
    if expect_protocol is not None and payload.get("protocol_hash") != expect_protocol:
        raise ArtifactError(
            f"{path} was trained on the meta-dataset of protocol {payload.get('protocol_hash')!r}, the selector "
            f"beside it on protocol {expect_protocol!r}: a `zap meta-train` into {Path(path).parent} stopped half "
            "way, or the files come from two trainings. Run `zap meta-train ARTIFACT --out "
            f"{Path(path).parent}` again")
    return rules


def level_for(rules: dict[float, LevelRule], budget_ref: float | None) -> LevelRule:
    """The rule of the level nearest the budget on a log scale (the lowest when the budget is unknown)."""
    return rules[nearest_level(list(rules), budget_ref)]

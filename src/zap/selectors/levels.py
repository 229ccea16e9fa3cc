"""Selectors on a multi-level meta-dataset: every one takes the log budget as its last meta-feature.

A budget-aware selector (ZAP-HPO) learns from it directly. Any other selector is wrapped in `PerLevel`:
one copy per budget level, each fitted on its level's rows and candidates, and a dataset is ranked by
the copy of the level nearest its budget on the log scale. Both see the same arrays
(`zap.metadataset.problem.Levels.stacked`), so meta-training, saving and suggesting treat them alike.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from zap.selectors.base import Selector, SelectorError

if TYPE_CHECKING:
    from zap.selectors.store import StateReader

BUDGET_AWARE = ("zap-hpo",)  # registry classes' names that learn from the budget feature themselves


def nearest_level(budgets: list[float], budget_ref: float | None) -> float:
    """The level nearest a budget in reference seconds on the log scale (the lowest when it is unknown):
    the level whose candidates and rules a suggestion at that budget uses, as `PerLevel` does."""
    ordered = sorted(float(b) for b in budgets)
    if budget_ref is None or budget_ref <= 0:
        return ordered[0]
    return min(ordered, key=lambda b: abs(math.log(b / budget_ref)))


class PerLevel(Selector):
    """One `selector` (a registry name, with `settings`) per budget level, found as the distinct values
    of the last meta-feature column (the log budget); a level's candidates are the columns its rows
    measured. Scores of candidates outside the chosen level are -inf: they were never compared there."""

    name = "per-level"

    def __init__(self, selector: str = "single-best", settings: dict[str, Any] | None = None):
        self.selector = selector
        self.settings = dict(settings or {})

    def _check_settings(self) -> None:
        if not (isinstance(self.selector, str) and isinstance(self.settings, dict)
                and all(isinstance(key, str) for key in self.settings)):
            raise SelectorError(f"PerLevel takes a selector's name and a dict of its settings, got "
                                f"{self.selector!r} and {self.settings!r}")

    def _fit(self, x: np.ndarray, enc: np.ndarray, y: np.ndarray, groups: np.ndarray) -> None:
        from zap.selectors.registry import create_selector

        self.log_budgets_ = np.unique(x[:, -1])
        self.columns_, self.children_ = [], []
        for level in self.log_budgets_:
            rows = x[:, -1] == level
            columns = np.flatnonzero(~np.isnan(y[rows]).all(axis=0))
            if len(columns) == 0:
                raise SelectorError(f"the level of budget {np.exp(level):g} has no measured cell")
            child = create_selector(self.selector, **self.settings)
            child.fit(x[rows, :-1], enc[columns], y[rows][:, columns], groups[rows])
            self.columns_.append(columns)
            self.children_.append(child)

    def level_of(self, log_budget: np.ndarray) -> np.ndarray:
        """The index of the level nearest each log budget."""
        return np.abs(np.asarray(log_budget)[:, None] - self.log_budgets_[None, :]).argmin(axis=1)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        out = np.full((len(x), len(self.encodings_)), -np.inf)
        nearest = self.level_of(x[:, -1])
        for i, (child, columns) in enumerate(zip(self.children_, self.columns_, strict=True)):
            rows = nearest == i
            if rows.any():
                out[np.ix_(rows, columns)] = child.scores(x[rows, :-1])
        return out

    def _state(self) -> dict[str, Any]:
        return {"log_budgets": self.log_budgets_,
                "levels": [{"columns": columns, "selector": child}
                           for columns, child in zip(self.columns_, self.children_, strict=True)]}

    def _from_state(self, state: StateReader) -> None:
        self.log_budgets_ = state.array("log_budgets", (None,))
        self.columns_, self.children_ = [], []
        for level in state.children("levels", len(self.log_budgets_)):
            columns, child = level.indices("columns", None, len(self.encodings_)), level.selector("selector")
            if (child.n_features_, len(child.encodings_)) != (self.n_features_ - 1, len(columns)):
                raise level.error("selector", f"takes {child.n_features_} meta-features and {len(child.encodings_)} "
                                              f"candidates, expected {self.n_features_ - 1} and {len(columns)}")
            self.columns_.append(columns)
            self.children_.append(child)


def level_selector(name: str, **settings: Any) -> Selector:
    """The selector `name` for a multi-level meta-dataset: itself when it learns from the budget feature,
    else wrapped in `PerLevel`."""
    from zap.selectors.registry import create_selector, get_entry

    if get_entry(name).cls.name in BUDGET_AWARE:
        return create_selector(name, **settings)
    return PerLevel(name, settings)

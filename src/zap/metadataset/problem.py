"""A meta-dataset artifact as the arrays selectors learn from, plus what the benchmark scores picks with.

It lives beside `artifact.load` so that selectors (meta-training) and the benchmark both build on the
meta-dataset without importing each other."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from zap.errors import ConfigError
from zap.metadataset.artifact import budgets_of, check_shape, level_view, load
from zap.metafeatures import MetaFeatures
from zap.utils import number_text

# What a selector optimizes: the anytime ALC (the AutoDL metric, rewards answering early) or the final
# NAUC (the accuracy of the model a user keeps). The meta-dataset stores both for every cell.
OBJECTIVES = ("alc", "final")
BUDGET_FEATURE = "log_budget_ref_s"  # the extra meta-feature of a budget-aware selector


def _matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _seed_mean(per_seed: list[np.ndarray]) -> np.ndarray:
    """Per cell, the mean over the seeds that measured it; NaN where the first seed did not."""
    stacked = np.stack(per_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: missing, kept NaN below
        mean = np.nanmean(stacked, axis=0)
    return np.where(np.isnan(per_seed[0]), np.nan, mean)


def check_objective(objective: str) -> str:
    if objective not in OBJECTIVES:
        raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}: 'alc' rewards "
                          "answering early (the AutoDL metric), 'final' the accuracy of the model you keep")
    return objective


@dataclass
class SelectionProblem:
    """Datasets x candidates. `alc`/`nauc` are per cell the mean over the seeds that measured it (a cell
    the first seed lacks is missing); `perf` is the one of them the `objective` names, what selectors
    learn from and picks are ranked by. `*_first` is the first seed alone and `*_repeat` the second
    (NaN where not run again): their difference on the cells measured twice is the noise floor, and
    the best cell by the first seed scored on the second is the re-run Oracle."""

    dataset_ids: list[str]
    cores: np.ndarray
    domains: np.ndarray
    meta_features: np.ndarray
    candidate_ids: list[str]
    encodings: np.ndarray
    alc: np.ndarray
    nauc: np.ndarray
    alc_repeat: np.ndarray | None = None
    alc_first: np.ndarray | None = None
    named: dict[str, int] = field(default_factory=dict)  # "autodl-default" -> column
    hpo_cores: list[set[str]] = field(default_factory=list)  # per candidate, the cores it was tuned on
    protocol_hash: str = ""
    nauc_first: np.ndarray | None = None
    nauc_repeat: np.ndarray | None = None
    objective: str = "alc"
    budget: float | None = None  # the level's budget in the artifact's clock (None: not known)

    @property
    def n_datasets(self) -> int:
        return len(self.dataset_ids)

    @property
    def perf(self) -> np.ndarray:
        return self.alc if self.objective == "alc" else self.nauc

    @property
    def perf_first(self) -> np.ndarray | None:
        return self.alc_first if self.objective == "alc" else self.nauc_first

    @property
    def perf_repeat(self) -> np.ndarray | None:
        return self.alc_repeat if self.objective == "alc" else self.nauc_repeat

    def for_objective(self, objective: str) -> SelectionProblem:
        return replace(self, objective=check_objective(objective))

    @classmethod
    def from_artifact(cls, payload: dict, budget: float | None = None, objective: str = "alc") -> SelectionProblem:
        """The problem at one budget level of the artifact (`budget` None: its lowest)."""
        check_objective(objective)
        check_shape(payload, "the payload given")
        payload = level_view(payload, budget)
        datasets, candidates = payload["datasets"], payload["candidates"]
        core_of = {d["id"]: d["core"] for d in datasets}
        matrices = [payload["matrices"][str(s)] for s in payload["seeds"]]
        alc_first = _matrix(matrices[0]["alc"])
        repeat = _matrix(matrices[1]["alc"]) if len(matrices) > 1 else None
        nauc_repeat = _matrix(matrices[1]["final_nauc"]) if len(matrices) > 1 else None
        return cls(
            dataset_ids=[d["id"] for d in datasets],
            cores=np.array([d["core"] for d in datasets]),
            domains=np.array([d["domain"] for d in datasets]),
            meta_features=np.array([MetaFeatures.from_dict(d["meta_features"]).vector() for d in datasets]),
            candidate_ids=[c["id"] for c in candidates],
            encodings=np.array([c["encoding"] for c in candidates], dtype=float),
            alc=_seed_mean([_matrix(m["alc"]) for m in matrices]),
            nauc=_seed_mean([_matrix(m["final_nauc"]) for m in matrices]),
            alc_repeat=repeat,
            alc_first=alc_first,
            named={c["name"]: j for j, c in enumerate(candidates) if c.get("name")},
            hpo_cores=[{core_of.get(s, s.split("--")[0]) for s in c.get("hpo_sources", [])} for c in candidates],
            protocol_hash=payload["protocol_hash"],
            nauc_first=_matrix(matrices[0]["final_nauc"]),
            nauc_repeat=nauc_repeat,
            objective=objective,
            budget=float(payload["protocol"]["budget"]),
        )

    @classmethod
    def load(cls, path: str | Path, budget: float | None = None, objective: str = "alc") -> SelectionProblem:
        return cls.from_artifact(load(Path(path)), budget, objective)

    def measured_rows(self) -> np.ndarray:
        """Datasets with at least one measured candidate: enough to learn from (NaN = missing)."""
        return ~np.isnan(self.perf).all(axis=1)

    def complete_rows(self) -> np.ndarray:
        """Datasets with every candidate measured: only these can be scored fairly, since a pick, the
        Oracle and Single-best must all be read from the same row."""
        return ~np.isnan(self.perf).any(axis=1)

    @property
    def complete(self) -> bool:
        return bool(self.complete_rows().all())

    def coverage_note(self) -> str | None:
        """For a partial matrix (a build in progress), which can be benchmarked as a pilot: what it covers,
        said plainly; None when every cell is measured."""
        if self.complete:
            return None
        rows = self.complete_rows()
        return (f"this artifact is incomplete: {int(rows.sum())} of {self.n_datasets} datasets "
                f"({len(set(self.cores[rows].tolist()))} of {len(set(self.cores.tolist()))} cores) have every "
                "candidate measured. Only those are held out and scored; training uses every measured cell. "
                "Treat the result as a pilot, not as the meta-dataset's benchmark.")

    def subset(self, rows: np.ndarray) -> SelectionProblem:
        """The same problem restricted to some datasets (a boolean mask or indices)."""
        idx = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)

        def take(matrix: np.ndarray | None) -> np.ndarray | None:
            return None if matrix is None else matrix[idx]

        return replace(self, dataset_ids=[self.dataset_ids[i] for i in idx], cores=self.cores[idx],
                       domains=self.domains[idx], meta_features=self.meta_features[idx], alc=self.alc[idx],
                       nauc=self.nauc[idx], alc_repeat=take(self.alc_repeat), alc_first=take(self.alc_first),
                       nauc_first=take(self.nauc_first), nauc_repeat=take(self.nauc_repeat))


@dataclass
class Levels:
    """The budget levels of an artifact, each a SelectionProblem over its own candidates (v1: one level).

    `stacked` is what a budget-aware selector learns from: one row per (dataset, level) with the log of
    the level's budget as an extra meta-feature, over the union of the levels' candidates (NaN where a
    candidate is not in a row's level), so one model scores any candidate at any budget."""

    problems: dict[float, SelectionProblem]

    @classmethod
    def from_artifact(cls, payload: dict, objective: str = "alc") -> Levels:
        return cls({b: SelectionProblem.from_artifact(payload, b, objective) for b in budgets_of(payload)})

    @classmethod
    def load(cls, path: str | Path, objective: str = "alc") -> Levels:
        return cls.from_artifact(load(Path(path)), objective)

    @property
    def budgets(self) -> list[float]:
        return sorted(self.problems)

    def only(self, budgets: Iterable[float]) -> Levels:
        """Some of the levels, by budget; a budget that is not a level is refused, naming those there are."""
        wanted = sorted({float(b) for b in budgets})
        if not wanted:
            raise ConfigError("no budget level asked for; this artifact has "
                              f"{', '.join(f'{b:g}' for b in self.budgets)}")
        unknown = [b for b in wanted if b not in self.problems]
        if unknown:
            raise ConfigError(f"budget level(s) {', '.join(number_text(b) for b in unknown)} are not levels of this "
                              f"artifact; it has {', '.join(f'{b:g}' for b in self.budgets)}")
        return Levels({b: self.problems[b] for b in wanted})

    def scorable(self) -> tuple[Levels, list[float]]:
        """The levels with at least one dataset measured on every candidate, and the budgets left out: a
        level of a build in progress with no such dataset has nothing to hold out and score."""
        return self._where(SelectionProblem.complete_rows)

    def measured(self) -> tuple[Levels, list[float]]:
        """The levels with at least one measured dataset, and the budgets left out: what selectors can be
        trained on while later levels are still being built."""
        return self._where(SelectionProblem.measured_rows)

    def _where(self, rows: Callable[[SelectionProblem], np.ndarray]) -> tuple[Levels, list[float]]:
        kept = {b: p for b, p in self if rows(p).any()}
        return Levels(kept), [b for b in self.budgets if b not in kept]

    @property
    def lowest(self) -> SelectionProblem:
        return self.problems[self.budgets[0]]

    def __iter__(self) -> Iterator[tuple[float, SelectionProblem]]:
        return ((b, self.problems[b]) for b in self.budgets)

    def __len__(self) -> int:
        return len(self.problems)

    def candidate_ids(self) -> list[str]:
        """Every level's candidates, each once, in the order they first appear from the lowest level up."""
        return list(dict.fromkeys(c for _, p in self for c in p.candidate_ids))

    def encodings(self) -> np.ndarray:
        by_id = {c: p.encodings[j] for _, p in self for j, c in enumerate(p.candidate_ids)}
        return np.array([by_id[c] for c in self.candidate_ids()])

    def stacked(self, rows: dict[float, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(meta-features with the log budget appended, performance over the union of candidates, cores),
        one row per dataset and level; `rows` restricts each level to some datasets (boolean masks)."""
        ids = self.candidate_ids()
        column = {c: j for j, c in enumerate(ids)}
        xs, ys, groups = [], [], []
        for budget, problem in self:
            keep = np.ones(problem.n_datasets, bool) if rows is None else rows[budget]
            y = np.full((int(keep.sum()), len(ids)), np.nan)
            y[:, [column[c] for c in problem.candidate_ids]] = problem.perf[keep]
            xs.append(with_budget(problem.meta_features[keep], budget))
            ys.append(y)
            groups.append(problem.cores[keep])
        return np.concatenate(xs), np.concatenate(ys), np.concatenate(groups)


def with_budget(meta_features: np.ndarray, budget: float) -> np.ndarray:
    """Meta-features with the budget-aware selectors' extra column, the log of the budget in reference
    seconds (log: what a budget buys grows slowly with it, and 20 -> 60 matters as much as 40 -> 120)."""
    x = np.atleast_2d(np.asarray(meta_features, dtype=float))
    return np.column_stack([x, np.full(len(x), np.log(float(budget)))])

"""A meta-dataset artifact as the arrays selectors learn from, plus what the benchmark scores picks with.

It lives beside `artifact.load` so that selectors (meta-training) and the benchmark both build on the
meta-dataset without importing each other."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from zap.metadataset.artifact import level_view, load
from zap.metafeatures import MetaFeatures


def _matrix(rows: list[list[float | None]]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _seed_mean(per_seed: list[np.ndarray]) -> np.ndarray:
    """Per cell, the mean over the seeds that measured it; NaN where the first seed did not."""
    stacked = np.stack(per_seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells: missing, kept NaN below
        mean = np.nanmean(stacked, axis=0)
    return np.where(np.isnan(per_seed[0]), np.nan, mean)


@dataclass
class SelectionProblem:
    """Datasets x candidates. `alc`/`nauc` are what selectors learn from and picks are scored with: per
    cell the mean over the seeds that measured it (a cell the first seed lacks is missing). `alc_first`
    is the first seed alone and `alc_repeat` the second (NaN where not run again): their difference on
    the cells measured twice is the noise floor."""

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

    @property
    def n_datasets(self) -> int:
        return len(self.dataset_ids)

    @classmethod
    def from_artifact(cls, payload: dict, budget: float | None = None) -> SelectionProblem:
        """The problem at one budget level of the artifact (`budget` None: its lowest)."""
        payload = level_view(payload, budget)
        datasets, candidates = payload["datasets"], payload["candidates"]
        core_of = {d["id"]: d["core"] for d in datasets}
        matrices = [payload["matrices"][str(s)] for s in payload["seeds"]]
        alc_first = _matrix(matrices[0]["alc"])
        repeat = _matrix(matrices[1]["alc"]) if len(matrices) > 1 else None
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
        )

    @classmethod
    def load(cls, path: str | Path, budget: float | None = None) -> SelectionProblem:
        return cls.from_artifact(load(Path(path)), budget)

    def measured_rows(self) -> np.ndarray:
        """Datasets with at least one measured candidate: enough to learn from (NaN = missing)."""
        return ~np.isnan(self.alc).all(axis=1)

    def complete_rows(self) -> np.ndarray:
        """Datasets with every candidate measured: only these can be scored fairly, since a pick, the
        Oracle and Single-best must all be read from the same row."""
        return ~np.isnan(self.alc).any(axis=1)

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
        return SelectionProblem(
            [self.dataset_ids[i] for i in idx], self.cores[idx], self.domains[idx], self.meta_features[idx],
            self.candidate_ids, self.encodings, self.alc[idx], self.nauc[idx],
            None if self.alc_repeat is None else self.alc_repeat[idx], None if self.alc_first is None else
            self.alc_first[idx], self.named, self.hpo_cores, self.protocol_hash)


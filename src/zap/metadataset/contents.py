"""What an artifact must hold inside its outer keys before any reader indexes into it.

`zap.metadataset.artifact.load` checks the outer shape (schema, required keys); this checks the contents the
readers rely on: the budget axis, the seeds, the datasets and their meta-features, each level's candidates,
and every matrix cell. A file with the right keys and a string in a cell, a ragged row, an unknown candidate
or an infinite ALC used to fail deep inside a selector, or worse, to report an Oracle of `inf`; now it is
refused when it is read, with the place named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Real
from typing import Any

MEASURES = ("alc", "final_nauc")


class ContentsError(ValueError):
    """A place in the artifact and what is wrong there; `load` adds the file's path."""


def check_contents(payload: dict[str, Any], levels_schema: int) -> None:
    datasets = _datasets(payload.get("datasets"))
    candidate_ids = _candidate_ids(payload.get("candidates"))
    seeds = _seeds(payload.get("seeds"))
    if payload["schema"] != levels_schema:
        _matrices(payload.get("matrices"), "matrices", len(datasets), len(payload["candidates"]), seeds)
        return
    budgets = payload.get("budgets")
    if not (isinstance(budgets, list) and budgets and all(_positive(b) for b in budgets)):
        raise ContentsError(f"budgets must be a non-empty list of positive seconds, got {str(budgets)[:80]}")
    levels = payload.get("levels")
    if not isinstance(levels, dict):
        raise ContentsError(f"levels must be an object keyed by budget, got {type(levels).__name__}")
    for budget in budgets:
        key = f"{float(budget):g}"
        level = levels.get(key)
        if not isinstance(level, dict):
            raise ContentsError(f"budget {key} is listed in budgets but levels has no level {key}")
        ids = level.get("candidates")
        if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
            raise ContentsError(f"levels.{key}.candidates must be a list of candidate ids")
        unknown = sorted(set(ids) - candidate_ids)
        if unknown:
            raise ContentsError(f"levels.{key}.candidates names {unknown[:3]}, which are not among the candidates")
        _matrices(level.get("matrices"), f"levels.{key}.matrices", len(datasets), len(ids), seeds)


def _datasets(datasets: Any) -> list[dict]:
    if not (isinstance(datasets, list) and datasets):
        raise ContentsError("datasets must be a non-empty list")
    for n, dataset in enumerate(datasets):
        features = dataset.get("meta_features") if isinstance(dataset, dict) else None
        if not (isinstance(dataset, dict) and isinstance(dataset.get("id"), str) and isinstance(features, dict)):
            raise ContentsError(f"datasets[{n}] must be an object with an id and meta_features")
        bad = [name for name, value in features.items() if not _finite(value)]
        if bad:
            raise ContentsError(f"datasets[{n}] ({dataset['id']}): meta-feature(s) {bad} are not finite numbers")
    return datasets


def _candidate_ids(candidates: Any) -> set[str]:
    if not (isinstance(candidates, list) and candidates
            and all(isinstance(c, dict) and isinstance(c.get("id"), str) for c in candidates)):
        raise ContentsError("candidates must be a non-empty list of objects with an id")
    return {c["id"] for c in candidates}


def _seeds(seeds: Any) -> list[str]:
    if not (isinstance(seeds, list) and seeds
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ContentsError(f"seeds must be a non-empty list of whole numbers >= 0, got {str(seeds)[:80]}")
    return [str(s) for s in seeds]


def _matrices(matrices: Any, where: str, n_datasets: int, n_candidates: int, seeds: Sequence[str]) -> None:
    if not isinstance(matrices, dict):
        raise ContentsError(f"{where} must be an object keyed by seed")
    for seed in seeds:
        per_seed = matrices.get(seed)
        if not isinstance(per_seed, dict):
            raise ContentsError(f"{where} has no matrices for seed {seed}, which seeds lists")
        for measure in MEASURES:
            _matrix(per_seed.get(measure), f"{where}.{seed}.{measure}", n_datasets, n_candidates)


def _matrix(rows: Any, where: str, n_datasets: int, n_candidates: int) -> None:
    """datasets × candidates; a cell is a finite number or null (not measured)."""
    if not (isinstance(rows, list) and len(rows) == n_datasets):
        raise ContentsError(f"{where} must hold one row per dataset ({n_datasets})")
    for n, row in enumerate(rows):
        if not (isinstance(row, list) and len(row) == n_candidates):
            raise ContentsError(f"{where}[{n}] must hold one cell per candidate ({n_candidates})")
        for m, cell in enumerate(row):
            if cell is not None and not (_finite(cell) or (isinstance(cell, float) and math.isnan(cell))):
                raise ContentsError(f"{where}[{n}][{m}] is {cell!r}: a cell must be a finite number or null")


def _finite(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any) -> bool:
    return _finite(value) and value > 0

"""The compact meta-dataset artifact that selectors learn from (artifacts/metadataset/*.json.gz).

It carries a schema version, the protocol and its hash, the datasets with their meta-features and
groups (core, domain), the candidates with their configurations and encodings, the ALC and final
NAUC matrices (datasets x candidates, null where missing) for every seed, and per-cell provenance.
Loading checks the schema; a selector checks the protocol hash it was trained on.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from zap.metadataset.plan import NAMED_CANDIDATES, Plan
from zap.metadataset.store import TaskKey
from zap.pipelines import encode, encoding_names, get_config, pipeline_id
from zap.scoring import COLUMNS

ARTIFACT_SCHEMA = 1


def _meta_features(spec) -> dict:
    """The four ZAP features of a variant, from its spec alone (no images needed)."""
    return {"n_channels": spec.channels, "n_classes": len(spec.classes), "n_train": spec.n_train,
            "resolution": spec.resolution}


def export(plan: Plan, path: Path, seeds: tuple[int, ...] = (0,)) -> dict:
    """Write the artifact of `plan` at the protocol's budget; returns what `info` reports."""
    store, protocol = plan.store, plan.protocol
    datasets, candidates = list(protocol.datasets), plan.candidates
    matrices = {}
    for seed in seeds:
        alc = np.full((len(datasets), len(candidates)), np.nan)
        nauc = np.full_like(alc, np.nan)
        provenance, curves = {}, {}
        for i, d in enumerate(datasets):
            for j, c in enumerate(candidates):
                record = store.records.get(TaskKey(d.name, c["pipeline_id"], float(protocol.budget), protocol.clock,
                                                   seed))
                if record is not None:
                    alc[i, j] = record["alc"]
                    nauc[i, j] = final_nauc_within(record, protocol.clock, protocol.budget)
                    provenance[f"{i},{j}"] = record["provenance"] | {
                        "status": record["status"], "steps": record["elapsed"]["steps"],
                        "answered_by": answered_by(record, protocol.clock, protocol.budget)}
                    curves[f"{i},{j}"] = _curve(record, protocol.clock)
        matrices[str(seed)] = {"alc": _nullable(alc), "final_nauc": _nullable(nauc), "provenance": provenance,
                               "curves": curves}
    names, sources = named_ids(), hpo_sources(plan.folder / "hpo")
    payload = {
        "schema": ARTIFACT_SCHEMA, "protocol_hash": protocol.spec_hash(), "protocol": protocol.describe(),
        "datasets": [{"id": d.name, "core": d.core, "domain": d.domain, "meta_features": _meta_features(d)}
                     for d in datasets],
        "candidates": [{"id": c["pipeline_id"], "config": c["config"], "origin": c["origin"],
                        "name": names.get(c["pipeline_id"]), "hpo_sources": sources.get(c["pipeline_id"], []),
                        "encoding": encode(c["config"]).tolist()} for c in candidates],
        "encoding_names": encoding_names(), "seeds": list(seeds), "matrices": matrices,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle, separators=(",", ":"))
    return info(payload)


def final_nauc_within(record: dict, clock: str, budget: float) -> float:
    """NAUC of the last prediction made inside T (0 for a failed run or none inside T): the same rule
    as ALC, whether or not the runner that made the record still predicted after T (before 2026-11-28
    it ran a last pass past T, which ALC ignored but its own final_nauc reported)."""
    if record["status"] != "ok":
        return 0.0
    curve = _curve(record, clock)
    inside = [score for t, score in curve if t <= budget]
    return float(inside[-1]) if inside else 0.0


def _time_column(clock: str) -> int:
    """Where a record's curve row keeps the protocol clock's time."""
    return COLUMNS.index(f"{clock}_s" if clock != "steps" else "steps")


def answered_by(record: dict, clock: str, budget: float) -> str | None:
    """Which model's prediction stood at T: "cnn", "simple_model" (the CNN never validated better than
    the quick first model), or None (no prediction inside T). A prediction made before the first
    optimizer step is the simple model's."""
    time_column = _time_column(clock)
    inside = [row for row in record.get("curve", []) if row[time_column] <= budget]
    if not inside:
        return None
    return "cnn" if inside[-1][COLUMNS.index("steps")] > 0 else "simple_model"


def _curve(record: dict, clock: str) -> list[list[float]]:
    """A cell's learning curve as [time on the protocol clock, NAUC] pairs: what a gray-box selector
    (refining the zero-shot top-k from partial curves, Quick-Tune style) learns from."""
    time_column = _time_column(clock)
    nauc_column = COLUMNS.index("nauc")
    return [[round(row[time_column], 3), round(row[nauc_column], 5)] for row in record.get("curve", [])]


def named_ids() -> dict[str, str]:
    """Pipeline id -> name of the named pipelines (`autodl-default`, `recommended`), the baselines' columns."""
    return {pipeline_id(get_config(name)): name for name in NAMED_CANDIDATES}


def hpo_sources(folder: Path) -> dict[str, list[str]]:
    """Pipeline id -> the datasets whose HPO run evaluated it, so the benchmark can drop the candidates
    that were tuned on a held-out core."""
    sources: dict[str, list[str]] = {}
    for path in sorted(Path(folder).glob("*.json")):
        run = json.loads(path.read_text())
        for pid in dict.fromkeys(t["pipeline_id"] for t in run["trials"]):
            sources.setdefault(pid, []).append(run["dataset"])
    return sources


def _nullable(matrix: np.ndarray) -> list[list[float | None]]:
    return [[None if np.isnan(v) else round(float(v), 6) for v in row] for row in matrix]


def load(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"meta-dataset artifact {path} does not exist: give the path of one, or write it "
                                "from the committed records with `zap metadataset export --out PATH`")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            payload = json.load(handle)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a meta-dataset artifact (gzipped JSON from `zap metadataset export`): "
                         f"{error}") from None
    if payload.get("schema") != ARTIFACT_SCHEMA:
        raise ValueError(f"{path} has artifact schema {payload.get('schema')}, this zap reads {ARTIFACT_SCHEMA}; "
                         "re-export it with `zap metadataset export`")
    return payload


def info(payload: dict) -> dict:
    first = payload["matrices"][str(payload["seeds"][0])]["alc"]
    missing = sum(v is None for row in first for v in row)
    return {
        "n_datasets": len(payload["datasets"]), "n_cores": len({d["core"] for d in payload["datasets"]}),
        "n_domains": len({d["domain"] for d in payload["datasets"]}), "n_candidates": len(payload["candidates"]),
        "n_missing": missing, "complete": missing == 0, "budget_s": payload["protocol"]["budget"],
        "clock": payload["protocol"]["clock"], "t0": payload["protocol"]["t0"], "seeds": payload["seeds"],
        "protocol_hash": payload["protocol_hash"], "schema": payload["schema"],
    }

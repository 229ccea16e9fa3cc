"""The compact meta-dataset artifact that selectors learn from (artifacts/metadataset/*.json.gz).

It carries a schema version, the protocol and its hash, the datasets with their meta-features and
groups (core, domain), the candidates with their configurations and encodings, the ALC and final
NAUC matrices (datasets x candidates, null where missing) for every seed, and per-cell provenance.
On the reference clock it also carries the cost table that defines a reference second, with the
calibration measurements and the machine they came from (`cost_table`), so that the artifact alone says
what its budgets mean, whatever table a later zap ships.
Schema 1 (v1) has one budget. Schema 2 has a budget axis: `levels` maps each budget to its protocol,
its own candidates and its matrices; `level_view` turns one level into the schema-1 shape that the
selectors and the benchmark read. Loading checks the schema; a selector checks the protocol hash it
was trained on.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from zap.errors import ArtifactError
from zap.finetune import quick
from zap.finetune.refclock import CostTable, CostTableError, default_cost_table, load_cost_table
from zap.metadataset.contents import ContentsError, check_contents
from zap.metadataset.plan import COST_TABLE_FILE, NAMED_CANDIDATES, Plan, plan_cost_table
from zap.metadataset.store import TaskKey
from zap.pipelines import encode, encoding_names, get_config, pipeline_id
from zap.scoring import COLUMNS
from zap.scoring.curve import CLOCK_COLUMN
from zap.utils import atomic_path, number_text, stable_hash

ARTIFACT_SCHEMA = 1  # one budget level
LEVELS_SCHEMA = 2  # a budget axis: one candidate set and matrix per level
SCHEMAS = (ARTIFACT_SCHEMA, LEVELS_SCHEMA)
_SHARED_KEYS = ("protocol", "protocol_hash", "candidates", "datasets", "encoding_names", "seeds")
REQUIRED_KEYS = {ARTIFACT_SCHEMA: (*_SHARED_KEYS, "matrices"), LEVELS_SCHEMA: (*_SHARED_KEYS, "budgets", "levels")}
# v1 unpacks to about 1 MB and v2's level 20 to 2 MB; a file that unpacks to far more is not an artifact (and
# a small gzip can unpack to gigabytes)
MAX_ARTIFACT_CHARS = 500 * 10**6


def _meta_features(spec) -> dict:
    """The four ZAP features of a variant, from its spec alone (no images needed)."""
    return {"n_channels": spec.channels, "n_classes": len(spec.classes), "n_train": spec.n_train,
            "resolution": spec.resolution}


def export(plan: Plan, path: Path, seeds: tuple[int, ...] = (0,)) -> dict:
    """Write the artifact of `plan` (schema 1 for a one-level plan, 2 with its budget levels); returns what
    `info` reports."""
    store = plan.store
    built = sorted({key.seed for key in store.records})
    unbuilt = [seed for seed in seeds if seed not in built]
    if unbuilt:
        raise ArtifactError(f"no cell of {plan.folder} was built with seed(s) {unbuilt} (it has {built}): export "
                            "the seeds it has, or build the others first")
    datasets = list(plan.protocol.datasets)
    names = named_ids()
    shared = {"datasets": [{"id": d.name, "core": d.core, "domain": d.domain, "meta_features": _meta_features(d)}
                           for d in datasets],
              "encoding_names": encoding_names(), "seeds": list(seeds)}
    if not plan.multilevel:
        sources = hpo_sources(plan.hpo_folder(plan.levels[0]))
        payload = {"schema": ARTIFACT_SCHEMA, "protocol_hash": plan.protocol.spec_hash(),
                   "protocol": plan.protocol.describe(),
                   "candidates": [_candidate(c, names, sources) for c in plan.candidates]} | shared | {
                   "matrices": _matrices(store, plan.protocol, datasets, plan.candidates, seeds)}
    else:
        sources: dict[str, list[str]] = {}
        for budget in plan.levels:
            for pid, found in hpo_sources(plan.hpo_folder(budget)).items():
                sources.setdefault(pid, []).extend(f"{name}@{budget:g}" for name in found)
        payload = {"schema": LEVELS_SCHEMA, "budgets": list(plan.levels), "protocol": plan.protocol.describe(),
                   "protocol_hash": plan.spec_hash(),
                   "candidates": [_candidate(c, names, sources) | {"levels": c.get("levels", list(plan.levels))}
                                  for c in plan.candidates]} | shared | {
                   "levels": {f"{b:g}": _level(store, plan, b, datasets, seeds) for b in plan.levels}}
    if plan_cost_table(plan) is not None:  # checked against the protocol's hash first
        payload["cost_table"] = load_cost_table(plan.folder / COST_TABLE_FILE).to_dict()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle, separators=(",", ":"))
    return info(payload)


def _candidate(c: dict, names: dict[str, str], sources: dict[str, list[str]]) -> dict:
    return {"id": c["pipeline_id"], "config": c["config"], "origin": c["origin"], "name": names.get(c["pipeline_id"]),
            "hpo_sources": sources.get(c["pipeline_id"], []), "encoding": encode(c["config"]).tolist()}


def _level(store, plan: Plan, budget: float, datasets: list, seeds: tuple[int, ...]) -> dict:
    protocol, candidates = plan.level(budget), plan.candidates_at(budget)
    return {"protocol": {k: v for k, v in protocol.describe().items() if k != "datasets"},
            "protocol_hash": protocol.spec_hash(), "candidates": [c["pipeline_id"] for c in candidates],
            "matrices": _matrices(store, protocol, datasets, candidates, seeds)}


def _matrices(store, protocol, datasets: list, candidates: list[dict], seeds: tuple[int, ...]) -> dict:
    """Per seed: the ALC and final-NAUC matrices, and each measured cell's provenance and curve."""
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
                        "status": record["status"], "steps": (record.get("elapsed") or {}).get("steps", 0),
                        "answered_by": answered_by(record, protocol.clock, protocol.budget),
                        **run_facts(record, protocol.clock)}
                    curves[f"{i},{j}"] = _curve(record, protocol.clock)
        matrices[str(seed)] = {"alc": _nullable(alc), "final_nauc": _nullable(nauc), "provenance": provenance,
                               "curves": curves}
    return matrices


def check_shape(payload: object, where: str) -> None:
    """The outer shape of an artifact's payload (an object of a known schema with its keys): what `load` checks
    first, and what a library caller's payload is checked for where it is read without `load`."""
    if not isinstance(payload, dict):
        raise ArtifactError(f"{where} is not a meta-dataset artifact: it is a {type(payload).__name__}, not a JSON "
                            "object; read the file `zap metadataset export` wrote with zap.metadataset.artifact.load")
    if payload.get("schema") not in SCHEMAS:
        raise ArtifactError(f"{where} has artifact schema {payload.get('schema')!r}, this zap reads "
                            f"{list(SCHEMAS)}; re-export it with `zap metadataset export`")
    lacking = [key for key in REQUIRED_KEYS[payload["schema"]] if key not in payload]
    if lacking:
        raise ArtifactError(f"{where} is not a complete meta-dataset artifact: it lacks {lacking}; re-export it "
                            "with `zap metadataset export`")
    if not (isinstance(payload["seeds"], list) and payload["seeds"]):
        raise ArtifactError(f"{where} is not a usable meta-dataset artifact: seeds must be a non-empty list; "
                            "re-export it with `zap metadataset export`")


def level_view(payload: dict, budget: float | None = None) -> dict:
    """One budget level of an artifact in the schema-1 shape (its protocol, its candidates, its matrices);
    a schema-1 artifact is its own only level. `budget` None: the lowest level."""
    if payload["schema"] == ARTIFACT_SCHEMA:
        if budget is not None and float(budget) != float(payload["protocol"]["budget"]):
            raise ArtifactError(f"this artifact has one budget level, {payload['protocol']['budget']:g} s, "
                                f"not {number_text(float(budget))}")
        return payload
    wanted = float(budget if budget is not None else payload["budgets"][0])
    key = next((k for k in payload["levels"] if float(k) == wanted), None)
    if key is None:
        raise ArtifactError(f"this artifact has budget levels {payload['budgets']}, not {number_text(wanted)}; "
                            "choose one of them with --budget")
    level = payload["levels"][key]
    by_id = {c["id"]: c for c in payload["candidates"]}
    return {"schema": ARTIFACT_SCHEMA, "protocol": level["protocol"] | {"datasets": payload["protocol"]["datasets"]},
            "protocol_hash": level["protocol_hash"], "datasets": payload["datasets"],
            "candidates": [by_id[i] for i in level["candidates"]], "encoding_names": payload["encoding_names"],
            "seeds": payload["seeds"], "matrices": level["matrices"]} | (
            {"cost_table": payload["cost_table"]} if "cost_table" in payload else {})


def cost_table_of(payload: dict) -> CostTable | None:
    """The cost table that defines the reference seconds of an artifact (or of one level's view): the one
    its export embedded, else the one this zap ships where that is the table the cells were measured with
    (an export from before tables were embedded keeps only its hash). None on another clock, or where the
    table is not known. An embedded table that is not the protocol's is an error: the file was altered."""
    protocol = payload["protocol"]
    if protocol.get("clock") != "ref":
        return None
    embedded = payload.get("cost_table")
    if embedded is None:
        table = default_cost_table()
        return table if table is not None and stable_hash(table.identity()) == protocol.get("cost_table") else None
    try:
        table = CostTable.from_dict(embedded)
        identity = stable_hash(table.identity())
    except (CostTableError, AttributeError, KeyError, TypeError, ValueError) as error:
        raise ArtifactError(f"the artifact's cost table is not a zap cost table ({type(error).__name__}: "
                            f"{str(error)[:200]}); re-export it with `zap metadataset export`") from None
    if identity != protocol.get("cost_table"):
        raise ArtifactError(f"the artifact's cost table ({identity}) is not the one its protocol was measured with "
                            f"({protocol.get('cost_table')}): the file was altered; re-export it with "
                            "`zap metadataset export`")
    return table


def level_hash(payload: dict, budget: float | None = None) -> str:
    """A short name for what one level holds (its datasets, candidates and every stored cell and curve):
    results computed from a level are keyed by it, so a re-export with more cells is told apart from the
    one they came from (the protocol hash stays the same as a build fills in)."""
    view = level_view(payload, budget)
    # an export names its datasets in the protocol; a hand-made payload (tests, ASlib-like) only in `datasets`
    names = ([d["name"] for d in view["protocol"]["datasets"]] if "datasets" in view["protocol"]
             else [d["id"] for d in payload["datasets"]])
    return stable_hash({"datasets": names,
                        "candidates": [c["id"] for c in view["candidates"]], "matrices": view["matrices"]})


def content_hash(payload: dict) -> str:
    """`level_hash` over every level: what selectors trained on the whole artifact are keyed by."""
    return stable_hash([level_hash(payload, budget) for budget in budgets_of(payload)])


def budgets_of(payload: dict) -> list[float]:
    """The budget levels an artifact holds."""
    if payload["schema"] == ARTIFACT_SCHEMA:
        return [float(payload["protocol"]["budget"])]
    return [float(b) for b in payload["budgets"]]


def measured_budgets(payload: dict) -> list[float]:
    """The levels holding at least one measured cell: an export made while later levels are still being
    built (v2 ships with 20 and 60 before 120 exists) lists levels that hold none."""
    first_seed = str(payload["seeds"][0])
    return [b for b in budgets_of(payload)
            if any(v is not None for row in level_view(payload, b)["matrices"][first_seed]["alc"] for v in row)]


def final_nauc_within(record: dict, clock: str, budget: float) -> float:
    """NAUC of the last prediction made inside T (0 for a failed run or none inside T): the same rule
    as ALC, whether or not the runner that made the record still predicted after T (an early runner ran a
    last pass past T, which ALC ignored but its own final_nauc reported; docs/metadataset.md)."""
    if record["status"] != "ok":
        return 0.0
    curve = _curve(record, clock)
    inside = [score for t, score in curve if t <= budget]
    return float(inside[-1]) if inside else 0.0


def _time_column(clock: str) -> int:
    """Where a record's curve row keeps the protocol clock's time."""
    return COLUMNS.index(f"{clock}_s" if clock != "steps" else "steps")


def run_facts(record: dict, clock: str) -> dict:
    """What replay prices a paused run's first operations with (`zap.strategies.replay.arm_pricing`): where the
    run ended on the protocol clock (`end`; with the steps, a step's mean cost) and whether a quick model's
    prediction came before any step (`quick_first`; a configured quick model need not answer first)."""
    curve = record.get("curve") or []
    elapsed = record.get("elapsed") or {}  # a task that failed before its run started has none
    return {"end": round(float(elapsed.get(CLOCK_COLUMN[clock], 0.0)), 4),
            "quick_first": bool(curve) and curve[0][COLUMNS.index("steps")] == 0}


def answered_by(record: dict, clock: str, budget: float) -> str | None:
    """Which model's prediction stood at T: "cnn", `quick.ANSWERED_BY` (the CNN never validated better
    than the quick model), or None (no prediction inside T). A prediction made before the first
    optimizer step is the quick model's."""
    time_column = _time_column(clock)
    inside = [row for row in record.get("curve", []) if row[time_column] <= budget]
    if not inside:
        return None
    return "cnn" if inside[-1][COLUMNS.index("steps")] > 0 else quick.ANSWERED_BY


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
    if path.is_dir():
        raise ArtifactError(f"{path} is a folder; give the artifact file (.json.gz) a `zap metadataset export` wrote")
    if not path.is_file():
        raise ArtifactError(f"meta-dataset artifact {path} does not exist: give the path of one, or write it "
                            "from the committed records with `zap metadataset export --out PATH`")
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            text = handle.read(MAX_ARTIFACT_CHARS + 1)
        if len(text) > MAX_ARTIFACT_CHARS:
            raise ArtifactError(f"{path} unpacks to more than {MAX_ARTIFACT_CHARS // 10**6} MB, far more than a "
                                "meta-dataset artifact holds; it is not one")
        payload = json.loads(text)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ArtifactError(f"{path} is not a meta-dataset artifact (gzipped JSON from `zap metadataset export`): "
                            f"{type(error).__name__}: {str(error)[:200]}") from None
    check_shape(payload, str(path))
    try:
        check_contents(payload, LEVELS_SCHEMA)
    except ContentsError as error:
        raise ArtifactError(f"{path} is not a usable meta-dataset artifact: {error}; re-export it with "
                            "`zap metadataset export`") from None
    if "cost_table" in payload:
        try:
            cost_table_of(payload)
        except ArtifactError as error:
            raise ArtifactError(f"{path}: {error}") from None
    return payload


def _missing(view: dict) -> int:
    first = view["matrices"][str(view["seeds"][0])]["alc"]
    return sum(v is None for row in first for v in row)


def info(payload: dict) -> dict:
    """What an artifact holds; with budget levels, also per level (`levels`: candidates, cells planned,
    measured and missing at the first seed); on the reference clock, its cost table (`cost_table`: hash,
    whether the artifact carries it, and the machine it was calibrated on)."""
    views = {f"{b:g}": level_view(payload, b) for b in budgets_of(payload)}
    missing = sum(_missing(v) for v in views.values())
    summary = {
        "n_datasets": len(payload["datasets"]), "n_cores": len({d["core"] for d in payload["datasets"]}),
        "n_domains": len({d["domain"] for d in payload["datasets"]}), "n_candidates": len(payload["candidates"]),
        "n_missing": missing, "complete": missing == 0, "budget_s": payload["protocol"]["budget"],
        "clock": payload["protocol"]["clock"], "t0": payload["protocol"]["t0"], "seeds": payload["seeds"],
        "protocol_hash": payload["protocol_hash"], "schema": payload["schema"],
    }
    if payload["schema"] == LEVELS_SCHEMA:
        planned = {k: len(payload["datasets"]) * len(v["candidates"]) for k, v in views.items()}
        summary |= {"budgets": budgets_of(payload), "budget_s": None, "t0": None, "levels": {
            k: {"n_candidates": len(v["candidates"]), "n_planned": planned[k], "n_cells": planned[k] - _missing(v),
                "n_missing": _missing(v), "complete": _missing(v) == 0, "protocol_hash": v["protocol_hash"]}
            for k, v in views.items()}}
    if payload["protocol"].get("clock") == "ref":
        table = cost_table_of(payload)
        summary["cost_table"] = {"hash": payload["protocol"].get("cost_table"), "embedded": "cost_table" in payload,
                                 "machine": table.machine if table is not None else None}
    return summary

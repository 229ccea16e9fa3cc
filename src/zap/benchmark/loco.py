"""Leave-one-core-out (and leave-one-domain-out) evaluation of selectors on a meta-dataset.

An outer fold holds out every variant of one core (or every core of one domain); the selectors are
meta-trained on the rest and pick for each held-out dataset; a pick is scored with the stored matrix.
One fold is one pure task (problem, held-out group) -> result, run on the Dask engine; each finished
fold is written to its own JSON file first, so an interrupted benchmark resumes with the folds it lacks.
ZAP-AS tunes its configuration once per outer fold; each repetition refits it with another seed.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zap.errors import ConfigError
from zap.metadataset.problem import SelectionProblem
from zap.selectors import Selector
from zap.selectors.registry import create_selector
from zap.utils import atomic_write_json

MAIN_METHODS = ("zap-hpo", "zap-as", "single-best", "random", "default", "recommended", "oracle")
ABLATIONS = ("zap-hpo-vote", "zap-hpo-regression", "zap-hpo-keep75", "zap-hpo-keep50", "zap-hpo-keep25")
NAMED_COLUMNS = {"default": "autodl-default", "recommended": "recommended"}


@dataclass(frozen=True)
class Settings:
    """What a benchmark run depends on; part of every fold file's name check."""

    protocol: str = "loco"  # loco | lodo
    repetitions: int = 3
    methods: tuple[str, ...] = MAIN_METHODS
    ablations: tuple[str, ...] = ABLATIONS
    drop_own_candidates: bool = False  # drop candidates tuned on the held-out core(s)
    as_trials: int = 50  # SMAC trials to tune ZAP-AS, once per outer fold
    hpo_epochs: int = 80  # cap on ZAP-HPO's epochs
    seed: int = 0
    # reuse ZAP-AS's configuration tuned in this protocol's fold of the same group (e.g. "loco" for
    # loco-dropown) instead of tuning again. That tuning saw only the training cores' cells, but over the
    # full pool, which holds the candidates tuned on the held-out core: a weak, indirect trace of that
    # core in ZAP-AS's own hyperparameters (never in its training data), accepted to save a SMAC run
    as_from: str | None = None

    def tag(self) -> str:
        own = "-dropown" if self.drop_own_candidates else ""
        return f"{self.protocol}{own}"


def outer_folds(problem: SelectionProblem, protocol: str) -> list[str]:
    """The held-out groups: every core (loco) or every domain (lodo) that has a completely measured
    dataset to score (all of them, once the meta-dataset is complete)."""
    if protocol not in ("loco", "lodo"):
        raise ConfigError(f"protocol must be 'loco' or 'lodo', got {protocol!r}")
    labels = problem.cores if protocol == "loco" else problem.domains
    return sorted(set(labels[problem.complete_rows()].tolist()))


def held_out_mask(problem: SelectionProblem, protocol: str, group: str) -> np.ndarray:
    return (problem.cores if protocol == "loco" else problem.domains) == group


def candidate_pool(problem: SelectionProblem, test: np.ndarray, drop_own: bool) -> np.ndarray:
    """Candidate columns a fold may pick from: all, or (drop_own) all but those whose HPO ran on a
    held-out core; the named baselines' columns always stay."""
    if not drop_own:
        return np.arange(len(problem.candidate_ids))
    held = set(problem.cores[test].tolist())
    named = set(problem.named.values())
    return np.array([j for j, cores in enumerate(problem.hpo_cores) if j in named or not cores & held])


def make_selector(method: str, settings: Settings, repetition: int, as_config: dict | None = None) -> Selector:
    """The registered selector a method name stands for; ZAP-AS takes the fold's tuned configuration."""
    return create_selector(method, seed=settings.seed + 1000 * repetition, max_epochs=settings.hpo_epochs,
                           config=as_config, tune=False)


def _scores_of_picks(matrix: np.ndarray | None, picks: np.ndarray) -> list[float | None]:
    if matrix is None:
        return [None] * len(picks)
    values = matrix[np.arange(len(picks)), picks]
    return [None if np.isnan(v) else float(v) for v in values]


def _expected(matrix: np.ndarray) -> list[float | None]:
    """Random selection scored by its expectation: the mean over the pool's measured cells."""
    with np.errstate(invalid="ignore"):
        means = np.nanmean(matrix, axis=1)
    return [None if np.isnan(v) else float(v) for v in means]


def _result(problem: SelectionProblem, rows: np.ndarray, pool: np.ndarray, picks: np.ndarray | None) -> dict:
    alc, nauc = problem.alc[np.ix_(rows, pool)], problem.nauc[np.ix_(rows, pool)]
    repeat = None if problem.alc_repeat is None else problem.alc_repeat[np.ix_(rows, pool)]
    first = None if problem.alc_first is None else problem.alc_first[np.ix_(rows, pool)]
    if picks is None:
        return {"picks": None, "alc": _expected(alc), "nauc": _expected(nauc), "alc_seed0": None, "alc_repeat": None}
    return {"picks": [problem.candidate_ids[pool[p]] for p in picks], "alc": _scores_of_picks(alc, picks),
            "nauc": _scores_of_picks(nauc, picks), "alc_seed0": _scores_of_picks(first, picks),
            "alc_repeat": _scores_of_picks(repeat, picks)}


def _fixed_pick(problem: SelectionProblem, pool: np.ndarray, method: str, n: int) -> np.ndarray | None:
    name = NAMED_COLUMNS[method]
    if name not in problem.named or problem.named[name] not in pool:
        return None
    return np.full(n, int(np.flatnonzero(pool == problem.named[name])[0]))


def _tune_zap_as(train: SelectionProblem, pool: np.ndarray, settings: Settings) -> tuple[dict, dict]:
    from zap.selectors.zap_as import ZapAS

    tuned = ZapAS(tune=True, n_trials=settings.as_trials, seed=settings.seed)
    tuned.fit(train.meta_features, train.encodings[pool], train.alc[:, pool], train.cores)
    return dict(tuned.config_), dict(tuned.tuning_)


def run_fold(problem: SelectionProblem, settings: Settings, group: str, as_config: dict | None = None) -> dict:
    """Meta-train on everything but `group`, pick for its datasets; every method, every repetition.
    ZAP-AS is tuned here unless `as_config` (a configuration tuned on the same training cores) is given."""
    start = time.perf_counter()
    test = held_out_mask(problem, settings.protocol, group)
    pool = candidate_pool(problem, test, settings.drop_own_candidates)
    # training datasets: those with a measured cell among the pool's columns (a row measured only in
    # dropped columns has nothing to teach this fold)
    train = problem.subset(~test & ~np.isnan(problem.alc[:, pool]).all(axis=1))
    rows = np.flatnonzero(test & problem.complete_rows())
    x_test = problem.meta_features[rows]
    methods: dict[str, list[dict]] = {}
    timings: dict[str, float] = {}
    tuning = {"reused_from": settings.as_from} if as_config is not None else None
    if "zap-as" in settings.methods and as_config is None:
        t = time.perf_counter()
        as_config, tuning = _tune_zap_as(train, pool, settings)
        timings["zap-as-tuning"] = time.perf_counter() - t
    fitted: dict[tuple[str, int], Selector] = {}
    for method in (*settings.methods, *settings.ablations):
        reps = 1 if method in settings.ablations or method in ("oracle", "random", "default", "recommended",
                                                                "single-best") else settings.repetitions
        t = time.perf_counter()
        methods[method] = [_method_result(problem, train, pool, rows, x_test, method, settings, r, as_config,
                                          fitted) for r in range(reps)]
        timings[method] = time.perf_counter() - t
    return {"group": group, "tag": settings.tag(), "datasets": [problem.dataset_ids[i] for i in rows],
            "cores": problem.cores[rows].tolist(), "pool_size": len(pool), "methods": methods,
            "zap_as_config": as_config, "zap_as_tuning": tuning, "seconds": time.perf_counter() - start,
            "timings": timings}


def _method_result(problem, train, pool, rows, x_test, method, settings, rep, as_config, fitted) -> dict:
    if method == "random":
        return _result(problem, rows, pool, None)
    if method == "oracle":
        alc = problem.alc[np.ix_(rows, pool)]
        return _result(problem, rows, pool, np.nanargmax(np.where(np.isnan(alc), -np.inf, alc), axis=1))
    if method in NAMED_COLUMNS:
        picks = _fixed_pick(problem, pool, method, len(rows))
        return _result(problem, rows, pool, picks) if picks is not None else {"missing": NAMED_COLUMNS[method]}
    if method == "zap-hpo-vote" and ("zap-hpo", rep) in fitted:
        # the vote ablation differs only in how the fold models' scores combine: reuse the trained models
        selector = copy.copy(fitted["zap-hpo", rep])
        selector.ensemble = "vote"
    else:
        selector = make_selector(method, settings, rep, as_config)
        selector.fit(train.meta_features, train.encodings[pool], train.alc[:, pool], train.cores)
    fitted[method, rep] = selector
    return _result(problem, rows, pool, selector.select(x_test))


# ------------------------------------------------------------------------------------------ driver


def fold_path(folder: Path, settings: Settings | str, group: str) -> Path:
    """Where a fold's result lives: by its settings, or by a protocol tag such as "loco"."""
    tag = settings if isinstance(settings, str) else settings.tag()
    return Path(folder) / "folds" / f"{tag}--{group}.json"


def run_benchmark(problem: SelectionProblem, settings: Settings, folder: Path, client=None,
                  progress: Callable[[str], None] | None = None, groups: Sequence[str] | None = None) -> list[dict]:
    """Every outer fold (or those of `groups`) not yet on disk, on the Dask client if given (else here)."""
    folder = Path(folder)
    (folder / "folds").mkdir(parents=True, exist_ok=True)
    groups = list(groups) if groups is not None else outer_folds(problem, settings.protocol)
    todo = [g for g in groups if not _valid_fold_file(fold_path(folder, settings, g), settings)]
    tuned = {g: _tuned_elsewhere(folder, settings, g) for g in todo}
    if client is None:
        for group in todo:
            _write_fold(folder, settings, run_fold(problem, settings, group, tuned[group]), progress)
    else:
        from dask.distributed import as_completed

        futures = [client.submit(run_fold, problem, settings, g, tuned[g], pure=False) for g in todo]
        for future in as_completed(futures):
            _write_fold(folder, settings, future.result(), progress)
    return [json.loads(fold_path(folder, settings, g).read_text()) for g in groups]


def tuned_as_config(folder: Path, tag: str, group: str, settings: Settings | None = None) -> dict | None:
    """ZAP-AS's configuration tuned in the `tag` fold of `group` (its training cores exclude `group`), if
    that fold is on disk and (given `settings`) was tuned with the same seed and number of SMAC trials;
    reusing it saves a SMAC run per fold."""
    path = fold_path(folder, tag, group)
    if not path.exists():
        return None
    fold = json.loads(path.read_text())
    tuned_with = fold.get("settings", {})
    if settings is not None and (tuned_with.get("seed"), tuned_with.get("as_trials")) != (settings.seed,
                                                                                          settings.as_trials):
        return None
    return fold.get("zap_as_config")


def _tuned_elsewhere(folder: Path, settings: Settings, group: str) -> dict | None:
    if settings.as_from is None or "zap-as" not in settings.methods:
        return None
    return tuned_as_config(folder, settings.as_from, group, settings)


def _settings_record(settings: Settings) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}


def _valid_fold_file(path: Path, settings: Settings) -> bool:
    """A fold on disk counts only if it was computed with these settings (else it is recomputed)."""
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text()).get("settings") == _settings_record(settings)
    except json.JSONDecodeError:
        return False


def _write_fold(folder: Path, settings: Settings, result: dict, progress) -> None:
    result["settings"] = _settings_record(settings)
    path = fold_path(folder, settings, result["group"])
    atomic_write_json(path, result)
    if progress:
        progress(f"{settings.tag()} fold {result['group']}: {len(result['datasets'])} datasets, "
                 f"{result['seconds']:.0f} s")


def collect(folds: Sequence[dict], key: str = "alc") -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """Fold results -> dataset ids, their cores, and per method a [n_reps x n_datasets] array of `key`."""
    datasets = [d for f in folds for d in f["datasets"]]
    cores = [c for f in folds for c in f["cores"]]
    methods = list(dict.fromkeys(m for f in folds for m in f["methods"]))
    table: dict[str, np.ndarray] = {}
    for method in methods:
        reps = max(len(f["methods"].get(method, [])) for f in folds)
        values = np.full((reps, len(datasets)), np.nan)
        offset = 0
        for f in folds:
            for r, result in enumerate(f["methods"].get(method, [])):
                if result.get(key) is not None:
                    values[r, offset:offset + len(f["datasets"])] = [np.nan if v is None else v for v in result[key]]
            offset += len(f["datasets"])
        if not np.isnan(values).all():
            table[method] = values
    return datasets, cores, table

"""Leave-one-core-out (and leave-one-domain-out) evaluation of selectors on a meta-dataset.

An outer fold holds out every variant of one core (or every core of one domain); the selectors are
meta-trained on the rest and pick for each held-out dataset at every budget level; a pick is scored
with the stored matrix, by the objective the fold was run for (ALC or final NAUC).
One fold is one pure task (levels, held-out group) -> result, run on the Dask engine; each finished
fold is written to its own JSON file first, so an interrupted benchmark resumes with the folds it lacks.

Per level, ZAP-AS tunes its configuration once per outer fold (each repetition refits it with another
seed) and every other selector is fitted on that level's training rows. ZAP-HPO is budget-aware on a
multi-level artifact: one model per fold and repetition learns from every level's rows with the log
budget as a feature (`Levels.stacked`) and ranks each level's candidates at its budget, and so do its
ablations; `zap-hpo-oblivious` learns from the lowest level alone and is used at every level.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zap.errors import ConfigError
from zap.metadataset.problem import Levels, SelectionProblem, check_objective, with_budget
from zap.selectors import Selector
from zap.selectors.fallback import LevelRule
from zap.selectors.registry import create_selector
from zap.utils import atomic_write_json

MAIN_METHODS = ("zap-hpo", "zap-as", "autofolio-default", "knn", "single-best", "random", "autodl-default",
                "recommended", "oracle")
ABLATIONS = ("zap-hpo-vote", "zap-hpo-regression", "zap-hpo-listwise", "zap-hpo-keep75", "zap-hpo-keep50",
             "zap-hpo-keep25", "zap-hpo-oblivious", "zap-hpo-fallback", "autofolio-default-budget")
# ZAP-HPO's pick, or Single-best's where a held-out dataset's meta-features lie outside the training rows'
# range (Auto-sklearn 2.0's policy: do not deviate from the default where no training dataset is alike);
# built from the two methods' picks, so it costs no training
FALLBACK = "zap-hpo-fallback"
NAMED_COLUMNS = ("autodl-default", "recommended")  # the named candidates, scored where the level measured them
FIXED = ("oracle", "random", "autodl-default", "recommended", "single-best", "knn", "autofolio-default")  # one rep.
# method keys renamed since fold files and summaries were written, read under today's name: the issue names the
# AutoDL default `autodl-default`, which folds before 2026-11-30 called `default`
RENAMED_METHODS = {"default": "autodl-default"}


def current_names(methods: dict[str, Any]) -> dict[str, Any]:
    """A {method: ...} mapping read from disk, with renamed methods under today's name."""
    return {RENAMED_METHODS.get(m, m): v for m, v in methods.items()}
# trained across levels on a multi-level artifact: ZAP-HPO with the budget feature, and its ablations the
# same way, so each ablation changes one thing; `zap-hpo-oblivious` is ZAP-HPO trained on the lowest level
# alone without the budget feature (meaningless on one level, where every method is fitted per level)
OBLIVIOUS = "zap-hpo-oblivious"
# AutoFolio's default trained across levels with the budget as a feature, to set beside `autofolio-default`
# (one copy per level): which of the two ways ZAP-AS should take the budget (issue 19, item 1)
AS_BUDGET = "autofolio-default-budget"
ACROSS_ONLY = {OBLIVIOUS: "zap-hpo", AS_BUDGET: "autofolio-default"}  # ablation -> the selector it fits
ACROSS_LEVELS = ("zap-hpo", *(a for a in ABLATIONS if a not in (*ACROSS_ONLY, FALLBACK)), *ACROSS_ONLY)
RERUN_ORACLE = "oracle-rerun"  # the best cell by the first seed, scored on the second (as the paper re-ran)


# 2: `autofolio-default` is AutoFolio's default again; version 1 gave it the fold's tuned ZAP-AS configuration,
# so it always equalled `zap-as`
FOLD_VERSION = 2


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
    objective: str = "alc"  # what selectors learn and picks are scored by: "alc" or "final" (NAUC)
    # reuse ZAP-AS's configuration tuned in this protocol's fold of the same group (e.g. "loco" for
    # loco-dropown) instead of tuning again. That tuning saw only the training cores' cells, but over the
    # full pool, which holds the candidates tuned on the held-out core: a weak, indirect trace of that
    # core in ZAP-AS's own hyperparameters (never in its training data), accepted to save a SMAC run
    as_from: str | None = None
    # 0: ZAP-AS is tuned once per outer fold, on that fold's training cores. N > 0: the protocol's groups are
    # dealt into N blocks (`tuning_block`) and tuned once per block, on the training cores of none of the
    # block's groups; each fold of the block uses that tuning. Its configuration never saw the held-out
    # group, as before, and learned from a few groups fewer; the SMAC runs, most of a fold's cost, drop to N
    as_tunings: int = 0
    # what the folds were computed from: a hash over the benchmarked levels' contents (`level_hash`), so that
    # a re-export with more cells, or a run over other `--levels`, never reuses folds that do not match it
    data: str = ""
    # what a fold computes; bumped when a method's meaning changed, so folds computed before are made again
    version: int = FOLD_VERSION

    def tag(self) -> str:
        own = "-dropown" if self.drop_own_candidates else ""
        return f"{self.protocol}{own}"


def level_key(budget: float | None) -> str:
    """A level's key in fold files and the benchmark JSON: its budget as written ("20"), "0" if unknown."""
    return f"{float(budget or 0):g}"


def as_levels(problem: SelectionProblem | Levels, objective: str) -> Levels:
    """Levels for `objective` from either a multi-level problem or a single one (one level)."""
    check_objective(objective)
    if isinstance(problem, SelectionProblem):
        problem = Levels({float(problem.budget or 0): problem})
    return Levels({b: p.for_objective(objective) for b, p in problem})


def outer_folds(problem: SelectionProblem | Levels, protocol: str) -> list[str]:
    """The held-out groups: every core (loco) or every domain (lodo) that has a completely measured
    dataset to score at some level (all of them, once the meta-dataset is complete)."""
    if protocol not in ("loco", "lodo"):
        raise ConfigError(f"protocol must be 'loco' or 'lodo', got {protocol!r}")
    problems = [p for _, p in problem] if isinstance(problem, Levels) else [problem]
    groups = set()
    for p in problems:
        labels = p.cores if protocol == "loco" else p.domains
        groups |= set(labels[p.complete_rows()].tolist())
    return sorted(groups)


def held_out_mask(problem: SelectionProblem, protocol: str, group: str | Sequence[str]) -> np.ndarray:
    labels = problem.cores if protocol == "loco" else problem.domains
    return np.isin(labels, [group] if isinstance(group, str) else list(group))


def tuning_block(groups: Sequence[str], group: str, n_blocks: int) -> list[str]:
    """The groups tuned together with `group` when the sorted groups are dealt round-robin into `n_blocks`
    blocks (0: `group` alone). Dealing spreads a block over domains, since cores sort by domain name."""
    ordered = sorted(groups)
    if n_blocks <= 0 or n_blocks >= len(ordered):
        return [group]
    at = ordered.index(group) % n_blocks
    return ordered[at::n_blocks]


def candidate_pool(problem: SelectionProblem, test: np.ndarray, drop_own: bool) -> np.ndarray:
    """Candidate columns a fold may pick from: all, or (drop_own) all but those whose HPO ran on a
    held-out core; the named baselines' columns always stay."""
    if not drop_own:
        return np.arange(len(problem.candidate_ids))
    held = set(problem.cores[test].tolist())
    named = set(problem.named.values())
    return np.array([j for j, cores in enumerate(problem.hpo_cores) if j in named or not cores & held])


def make_selector(method: str, settings: Settings, repetition: int, as_config: dict | None = None) -> Selector:
    """The registered selector a method name stands for; only `zap-as` takes the fold's tuned configuration
    (`autofolio-default` is defined by its untuned one, and the registry refuses to change it)."""
    tuned = {"config": as_config, "tune": False} if method == "zap-as" else {}
    return create_selector(method, seed=settings.seed + 1000 * repetition, max_epochs=settings.hpo_epochs, **tuned)


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


def _cells(problem: SelectionProblem, rows: np.ndarray, pool: np.ndarray) -> dict[str, np.ndarray | None]:
    """The held-out rows' cells of the pool: each measure, on the seed mean, the first and the second seed."""
    def take(matrix: np.ndarray | None) -> np.ndarray | None:
        return None if matrix is None else matrix[np.ix_(rows, pool)]

    return {"score": take(problem.perf), "alc": take(problem.alc), "nauc": take(problem.nauc),
            "score_seed0": take(problem.perf_first), "score_repeat": take(problem.perf_repeat),
            "alc_seed0": take(problem.alc_first), "alc_repeat": take(problem.alc_repeat)}


def _result(problem: SelectionProblem, rows: np.ndarray, pool: np.ndarray, picks: np.ndarray | None) -> dict:
    cells = _cells(problem, rows, pool)
    if picks is None:
        return {"picks": None, "score": _expected(cells["score"]), "alc": _expected(cells["alc"]),
                "nauc": _expected(cells["nauc"]), "alc_seed0": None, "alc_repeat": None}
    return {"picks": [problem.candidate_ids[pool[p]] for p in picks]} | {
        key: _scores_of_picks(matrix, picks) for key, matrix in cells.items()}


def _rerun_oracle(problem: SelectionProblem, rows: np.ndarray, pool: np.ndarray) -> dict | None:
    """The best cell by the first seed, scored on the second seed (None without a second seed): what an
    Oracle achieves when run again, the paper's yardstick, since the in-matrix Oracle also picks noise."""
    if problem.perf_repeat is None or problem.perf_first is None:
        return None
    first = problem.perf_first[np.ix_(rows, pool)]
    picks = np.argmax(np.where(np.isnan(first), -np.inf, first), axis=1)
    repeats = {"score": problem.perf_repeat, "alc": problem.alc_repeat, "nauc": problem.nauc_repeat}
    return {"picks": [problem.candidate_ids[pool[p]] for p in picks]} | {
        key: _scores_of_picks(matrix[np.ix_(rows, pool)], picks) for key, matrix in repeats.items()}


def _fixed_pick(problem: SelectionProblem, pool: np.ndarray, method: str, n: int) -> np.ndarray | None:
    if method not in problem.named or problem.named[method] not in pool:
        return None
    return np.full(n, int(np.flatnonzero(pool == problem.named[method])[0]))


# part of a stored tuning's key (`_tuned_zap_as`): bump it when ZAP-AS's tuning, its space or its scoring changes
AS_TUNING_VERSION = 1


def _tuned_zap_as(train: SelectionProblem, pool: np.ndarray, settings: Settings,
                  cache: str | None) -> tuple[dict, dict]:
    """ZAP-AS tuned on a fold's training rows, read from `cache` when the same tuning was stored there: the
    key is everything the tuning sees (the training rows' meta-features, cores and cells over the pool, the
    pool's encodings), its trials, seed and `AS_TUNING_VERSION`. A benchmark re-run after another level was
    added, or with other repetitions or ablations, then tunes only what changed: the SMAC runs are most of a
    fold's cost (245 of v1's 374 s per LOCO fold)."""
    path = None if cache is None else Path(cache) / f"{_tuning_key(train, pool, settings)}.json"
    if path is not None and path.exists():
        stored = json.loads(path.read_text())
        return stored["config"], stored["tuning"] | {"stored": path.name}
    config, tuning = _tune_zap_as(train, pool, settings)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"config": config, "tuning": tuning})
    return config, tuning


def _tuning_key(train: SelectionProblem, pool: np.ndarray, settings: Settings) -> str:
    digest = hashlib.sha256()
    for array in (train.meta_features, train.encodings[pool], train.perf[:, pool]):
        array = np.ascontiguousarray(array, dtype=np.float64)
        digest.update(repr(array.shape).encode() + array.tobytes())
    digest.update(json.dumps([train.cores.tolist(), settings.as_trials, settings.seed, AS_TUNING_VERSION]).encode())
    return digest.hexdigest()[:24]


def _tune_zap_as(train: SelectionProblem, pool: np.ndarray, settings: Settings) -> tuple[dict, dict]:
    from zap.selectors.zap_as import ZapAS

    tuned = ZapAS(tune=True, n_trials=settings.as_trials, seed=settings.seed)
    tuned.fit(train.meta_features, train.encodings[pool], train.perf[:, pool], train.cores)
    return dict(tuned.config_), dict(tuned.tuning_)


@dataclass
class _Fold:
    """One level's view of an outer fold: the candidates it may pick from, its training rows, and the
    held-out datasets it scores (those with every candidate measured)."""

    problem: SelectionProblem
    pool: np.ndarray
    train: SelectionProblem
    train_mask: np.ndarray
    rows: np.ndarray
    tuning_block: list[str]  # the groups none of whose datasets ZAP-AS's tuning sees (this fold's, at least)

    @classmethod
    def of(cls, problem: SelectionProblem, settings: Settings, group: str, block: list[str] | None = None) -> _Fold:
        test = held_out_mask(problem, settings.protocol, group)
        pool = candidate_pool(problem, test, settings.drop_own_candidates)
        # training datasets: those with a measured cell among the pool's columns (a row measured only in
        # dropped columns has nothing to teach this fold)
        train_mask = ~test & ~np.isnan(problem.perf[:, pool]).all(axis=1)
        rows = np.flatnonzero(test & problem.complete_rows())
        return cls(problem, pool, problem.subset(train_mask), train_mask, rows, block or [group])

    def tuning_rows(self, settings: Settings) -> SelectionProblem:
        """What ZAP-AS is tuned on: the training rows less the rest of the tuning block."""
        if len(self.tuning_block) == 1:
            return self.train
        keep = self.train_mask & ~held_out_mask(self.problem, settings.protocol, self.tuning_block)
        return self.problem.subset(keep)


def run_fold(problem: SelectionProblem | Levels, settings: Settings, group: str,
             as_config: dict | None = None, tuning_cache: str | None = None) -> dict:
    """Meta-train on everything but `group`, pick for its datasets at every level; every method, every
    repetition. ZAP-AS is tuned here unless `as_config` ({level key: configuration} tuned on the same
    training cores; a bare configuration for a one-level problem) is given; a tuning stored in
    `tuning_cache` for exactly the same training data is read back."""
    start = time.perf_counter()
    levels = as_levels(problem, settings.objective)
    block = tuning_block(outer_folds(levels, settings.protocol), group, settings.as_tunings)
    folds = {b: _Fold.of(p, settings, group, block) for b, p in levels}
    across = _fit_across_levels(levels, folds, settings)
    configs = as_config if as_config is None or len(levels) > 1 or level_key(levels.budgets[0]) in as_config else {
        level_key(levels.budgets[0]): as_config}
    out = {}
    for budget, fold in folds.items():
        given = None if configs is None else configs.get(level_key(budget))
        out[level_key(budget)] = _level_result(fold, budget, settings, given, across, tuning_cache)
    return {"group": group, "tag": settings.tag(), "objective": settings.objective, "levels": out,
            "seconds": time.perf_counter() - start}


def _fit_across_levels(levels: Levels, folds: dict[float, _Fold], settings: Settings) -> dict:
    """(method, repetition) -> (fitted selector, its candidate ids, whether it takes the budget feature)
    for the selectors trained across levels; none on a one-level problem (ZAP-HPO then trains per level)."""
    wanted = [m for m in ACROSS_LEVELS if m in (*settings.methods, *settings.ablations)]
    if len(levels) < 2 or not wanted:
        return {}
    ids = levels.candidate_ids()
    allowed = sorted({ids.index(c) for b, f in folds.items() for c in np.asarray(f.problem.candidate_ids)[f.pool]})
    columns = [ids[j] for j in allowed]
    fitted = {}
    for method in wanted:
        aware = method != OBLIVIOUS
        reps = settings.repetitions if method in settings.methods else 1
        for rep in range(reps):
            if method == "zap-hpo-vote" and ("zap-hpo", rep) in fitted:
                # the vote ablation differs only in how the fold models' scores combine: reuse the models
                selector = copy.copy(fitted["zap-hpo", rep][0])
                selector.ensemble = "vote"
            else:
                selector = _fit_on_levels(levels, folds, method, settings, rep, allowed, aware)
            fitted[method, rep] = (selector, columns, aware)
    return fitted


def _fit_on_levels(levels: Levels, folds: dict[float, _Fold], method: str, settings: Settings, rep: int,
                   allowed: list[int], aware: bool) -> Selector:
    """A selector fitted on every level's training rows with the budget feature, or (not `aware`) on the
    lowest level's alone without it."""
    rows = {b: f.train_mask if (aware or b == levels.budgets[0]) else np.zeros_like(f.train_mask)
            for b, f in folds.items()}
    x, y, groups = levels.stacked(rows)
    selector = make_selector(ACROSS_ONLY.get(method, method), settings, rep)
    return selector.fit(x if aware else x[:, :-1], levels.encodings()[allowed], y[:, allowed], groups)


def _level_result(fold: _Fold, budget: float, settings: Settings, as_config: dict | None, across: dict,
                  tuning_cache: str | None = None) -> dict:
    problem, rows = fold.problem, fold.rows
    x_test = problem.meta_features[rows]
    methods: dict[str, list[dict]] = {}
    timings: dict[str, float] = {}
    tuning = {"reused_from": settings.as_from} if as_config is not None else None
    if "zap-as" in settings.methods and as_config is None:
        t = time.perf_counter()
        as_config, tuning = _tuned_zap_as(fold.tuning_rows(settings), fold.pool, settings, tuning_cache)
        tuning = tuning | {"tuned_without": fold.tuning_block}
        timings["zap-as-tuning"] = time.perf_counter() - t
    fitted: dict[tuple[str, int], Selector] = {}
    for method in (*settings.methods, *settings.ablations):
        if (method in ACROSS_ONLY and not across) or method == FALLBACK:
            continue  # the across-level ablations mean nothing on one level; the fallback is made below
        reps = 1 if method in settings.ablations or method in FIXED else settings.repetitions
        t = time.perf_counter()
        methods[method] = [_method_result(fold, x_test, budget, method, settings, r, as_config, fitted, across)
                           for r in range(reps)]
        timings[method] = time.perf_counter() - t
    if FALLBACK in settings.ablations and {"zap-hpo", "single-best"} <= set(methods):
        methods[FALLBACK] = [_with_fallback(fold, methods["zap-hpo"][0], methods["single-best"][0])]
    rerun = _rerun_oracle(problem, rows, fold.pool)
    if rerun is not None and "oracle" in settings.methods:
        methods[RERUN_ORACLE] = [rerun]
    return {"datasets": [problem.dataset_ids[i] for i in rows], "cores": problem.cores[rows].tolist(),
            "pool_size": len(fold.pool), "methods": methods, "zap_as_config": as_config, "zap_as_tuning": tuning,
            "timings": timings}


def _with_fallback(fold: _Fold, picked: dict, single_best: dict) -> dict:
    """ZAP-HPO's picks, with Single-best's wherever the fallback rule `zap fit` applies
    (`zap.selectors.fallback`: meta-features outside the training rows' range, or a kNN-estimated margin
    within the noise floor) says the pick has no grounds; the rule is built from the fold's training rows
    over its pool. `fell_back` says where."""
    problem = fold.problem
    rule = LevelRule.of(problem, fold.train_mask, fold.pool)
    back = [rule.decide(problem.meta_features[i], p).fall_back for i, p in zip(fold.rows, picked["picks"],
                                                                             strict=True)]
    ids = [b if fall else p for fall, p, b in zip(back, picked["picks"], single_best["picks"], strict=True)]
    position = {problem.candidate_ids[j]: k for k, j in enumerate(fold.pool)}
    result = _result(problem, fold.rows, fold.pool, np.array([position[i] for i in ids], dtype=int))
    return result | {"fell_back": back}


def _method_result(fold: _Fold, x_test, budget, method, settings, rep, as_config, fitted, across) -> dict:
    problem, train, pool, rows = fold.problem, fold.train, fold.pool, fold.rows
    if method == "random":
        return _result(problem, rows, pool, None)
    if method == "oracle":
        perf = problem.perf[np.ix_(rows, pool)]
        return _result(problem, rows, pool, np.nanargmax(np.where(np.isnan(perf), -np.inf, perf), axis=1))
    if method in NAMED_COLUMNS:
        picks = _fixed_pick(problem, pool, method, len(rows))
        return _result(problem, rows, pool, picks) if picks is not None else {"missing": method}
    if (method, rep) in across:
        return _result(problem, rows, pool, _pick_across(across[method, rep], fold, x_test, budget))
    if method == "zap-hpo-vote" and ("zap-hpo", rep) in fitted:
        # the vote ablation differs only in how the fold models' scores combine: reuse the trained models
        selector = copy.copy(fitted["zap-hpo", rep])
        selector.ensemble = "vote"
    else:
        selector = make_selector(method, settings, rep, as_config)
        selector.fit(train.meta_features, train.encodings[pool], train.perf[:, pool], train.cores)
    fitted[method, rep] = selector
    return _result(problem, rows, pool, selector.select(x_test))


def _pick_across(entry: tuple[Selector, list[str], bool], fold: _Fold, x_test: np.ndarray, budget: float) -> np.ndarray:
    """A selector trained across levels picks among this level's pool, scored at this level's budget."""
    selector, ids, aware = entry
    x = with_budget(x_test, budget) if aware else x_test
    column = {c: j for j, c in enumerate(ids)}
    pool_columns = [column[fold.problem.candidate_ids[j]] for j in fold.pool]
    return np.argmax(selector.scores(x)[:, pool_columns], axis=1)


# ------------------------------------------------------------------------------------------ driver


def fold_path(folder: Path, settings: Settings | str, group: str, objective: str | None = None) -> Path:
    """Where a fold's result lives: by its settings, or by a protocol tag such as "loco" and an objective."""
    tag = settings if isinstance(settings, str) else settings.tag()
    objective = objective or (settings.objective if isinstance(settings, Settings) else "alc")
    return Path(folder) / "folds" / f"{tag}--{objective}--{group}.json"


def run_benchmark(problem: SelectionProblem | Levels, settings: Settings, folder: Path, client=None,
                  progress: Callable[[str], None] | None = None, groups: Sequence[str] | None = None) -> list[dict]:
    """Every outer fold (or those of `groups`) not yet on disk, on the Dask client if given (else here)."""
    folder = Path(folder)
    (folder / "folds").mkdir(parents=True, exist_ok=True)
    check_tuning_blocks(problem, settings)
    groups = list(groups) if groups is not None else outer_folds(problem, settings.protocol)
    todo = [g for g in groups if not _valid_fold_file(fold_path(folder, settings, g), settings)]
    tuned = {g: _tuned_elsewhere(folder, settings, g) for g in todo}
    cache = str(folder / "as-tuning")
    if client is None:
        for group in todo:
            _write_fold(folder, settings, run_fold(problem, settings, group, tuned[group], cache), progress)
    else:
        from dask.distributed import as_completed

        first, waiting = _block_leaders(problem, settings, todo, tuned)
        submit = functools.partial(client.submit, run_fold, problem, settings, tuning_cache=cache, pure=False)
        running = as_completed([submit(group=g, as_config=tuned[g]) for g in first])
        for future in running:
            result = future.result()
            _write_fold(folder, settings, result, progress)
            for group in waiting.pop(result["group"], []):  # the block's tuning is stored now: read, not redone
                running.add(submit(group=group, as_config=tuned[group]))
    return [json.loads(fold_path(folder, settings, g).read_text()) for g in groups]


def _block_leaders(problem: SelectionProblem | Levels, settings: Settings, todo: list[str],
                   tuned: dict[str, dict | None]) -> tuple[list[str], dict[str, list[str]]]:
    """The folds to start at once, and those to start after a given one ends: with tuning blocks, one fold
    per block tunes ZAP-AS and stores the tuning, and the rest of its block wait for it, since folds started
    together would each tune it again."""
    if settings.as_tunings == 0 or "zap-as" not in settings.methods or settings.drop_own_candidates:
        return todo, {}  # dropping its own candidates, each fold tunes over its own pool: nothing to wait for
    everyone = outer_folds(problem, settings.protocol)
    first, waiting, leaders = [], {}, {}
    for group in todo:
        block = tuple(tuning_block(everyone, group, settings.as_tunings))
        if tuned[group] is not None:  # configured from an earlier protocol's fold: it tunes nothing
            first.append(group)
        elif block in leaders:
            waiting.setdefault(leaders[block], []).append(group)
        else:
            leaders[block] = group
            first.append(group)
    return first, waiting


def check_as_tunings(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0 or n == 1:
        raise ConfigError(f"--as-tunings {n}: give 0 (a tuning per fold) or 2 or more blocks (1 would hold every "
                          "group out of the tuning)")


def check_tuning_blocks(problem: SelectionProblem | Levels, settings: Settings) -> None:
    """Refuse tuning blocks that leave ZAP-AS's inner cross-validation fewer than 2 groups to learn from,
    before any fold runs."""
    check_as_tunings(settings.as_tunings)
    if settings.as_tunings == 0 or "zap-as" not in settings.methods:
        return
    groups = outer_folds(problem, settings.protocol)
    largest = max(len(tuning_block(groups, g, settings.as_tunings)) for g in groups)
    if len(groups) - largest < 2:
        raise ConfigError(f"--as-tunings {settings.as_tunings}: a block of {largest} of the {len(groups)} "
                          f"{settings.protocol} groups leaves fewer than 2 to tune ZAP-AS on; give more blocks or 0")


def tuned_as_config(folder: Path, tag: str, group: str, settings: Settings | None = None) -> dict | None:
    """ZAP-AS's configurations ({level key: configuration}) tuned in the `tag` fold of `group` (its training
    cores exclude `group`), if that fold is on disk and (given `settings`) was tuned with the same
    objective, seed and number of SMAC trials on the same data; reusing them saves a SMAC run per fold and
    level."""
    objective = settings.objective if settings is not None else "alc"
    path = fold_path(folder, tag, group, objective)
    if not path.exists():
        return None
    fold = json.loads(path.read_text())
    tuned_with = fold.get("settings", {})
    if settings is not None and (tuned_with.get("seed"), tuned_with.get("as_trials"), tuned_with.get("data", "")) != (
            settings.seed, settings.as_trials, settings.data):  # same tuning, on the same artifact's content
        return None
    configs = {key: level.get("zap_as_config") for key, level in fold.get("levels", {}).items()}
    return configs if configs and all(configs.values()) else None


def _tuned_elsewhere(folder: Path, settings: Settings, group: str) -> dict | None:
    if settings.as_from is None or "zap-as" not in settings.methods:
        return None
    return tuned_as_config(folder, settings.as_from, group, settings)


def _settings_record(settings: Settings) -> dict:
    record = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}
    if record["as_tunings"] == 0:  # added later; its default is what folds computed before it did
        del record["as_tunings"]
    return record


def _valid_fold_file(path: Path, settings: Settings) -> bool:
    """A fold on disk counts only if it was computed with these settings (else it is recomputed)."""
    if not path.exists():
        return False
    try:
        saved = json.loads(path.read_text()).get("settings")
    except json.JSONDecodeError:
        return False
    if isinstance(saved, dict) and isinstance(saved.get("methods"), list):  # a renamed method is the same method
        saved = saved | {"methods": [RENAMED_METHODS.get(m, m) for m in saved["methods"]]}
    return saved == _settings_record(settings)


def _write_fold(folder: Path, settings: Settings, result: dict, progress) -> None:
    result["settings"] = _settings_record(settings)
    path = fold_path(folder, settings, result["group"])
    atomic_write_json(path, result)
    if progress:
        n = sum(len(level["datasets"]) for level in result["levels"].values())
        progress(f"{settings.tag()} {settings.objective} fold {result['group']}: {n} held-out cells over "
                 f"{len(result['levels'])} level(s), {result['seconds']:.0f} s")


def level_keys(folds: Sequence[dict]) -> list[str]:
    """The budget levels the folds cover, lowest first."""
    return sorted({key for f in folds for key in f["levels"]}, key=float)


def level_folds(folds: Sequence[dict], key: str) -> list[dict]:
    """One level of every fold, as a flat fold ({group, datasets, cores, methods, ...}) that `collect`,
    the report and the re-runs read."""
    return [{"group": f["group"], "tag": f.get("tag"), "objective": f.get("objective")} | f["levels"][key]
            | {"methods": current_names(f["levels"][key]["methods"])} for f in folds if key in f["levels"]]


def collect(folds: Sequence[dict], key: str = "alc") -> tuple[list[str], list[str], dict[str, np.ndarray]]:
    """Flat (one-level) fold results -> dataset ids, their cores, and per method a [n_reps x n_datasets]
    array of `key`."""
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

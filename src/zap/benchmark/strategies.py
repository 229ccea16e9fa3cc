"""Strategies judged by replay under leave-one-core-out: zero-shot, refine, a raced portfolio.

Per held-out core, the zero-shot selector and the curve predictor are meta-trained on the other cores
only (and the candidates tuned on the held-out core leave the pool, as in `loco`); then every strategy
replays the held-out datasets' stored curves from the same ranked top-k with the same validation noise.
Differences are paired per core (the core is the unit, as everywhere in zap's benchmarks).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from zap.benchmark.loco import candidate_pool
from zap.benchmark.stats import bootstrap_ci, core_means, wilcoxon_p
from zap.metadataset.problem import SelectionProblem
from zap.selectors import create_selector
from zap.strategies.curves import curve_rows
from zap.strategies.policy import RefineSettings
from zap.strategies.predictor import CurvePredictor
from zap.strategies.replay import VALIDATION_NOISE, replay, replay_cases

BOOTSTRAP = 2000


@dataclass(frozen=True)
class ReplayStudy:
    """What to replay: the level, the selector that ranks, the refine settings to try (`grid`), the seed of
    the stored curves and of the validation noise."""

    budget: float | None = None
    selector: str = "zap-hpo"
    grid: tuple[RefineSettings, ...] = (RefineSettings(),)
    seed: int = 0
    validation_noise: float = VALIDATION_NOISE
    predictor_epochs: int = 60


def run_replay_study(payload: dict, study: ReplayStudy, cores: Sequence[str] | None = None,
                     progress=None) -> list[dict]:
    """One row per (held-out dataset, settings, strategy): its ALC and final NAUC on the replayed curves;
    `cores`: hold out only these (a study run core by core can resume)."""
    problem = SelectionProblem.from_artifact(payload, study.budget)
    cases = {c.row: c for c in replay_cases(payload, study.budget, study.seed)}
    k_max = max(s.k for s in study.grid)
    rows = []
    for core in sorted(set(problem.cores.tolist()) if cores is None else cores):
        start = time.perf_counter()
        test = problem.cores == core
        objectives = sorted({s.objective for s in study.grid})
        rankers, predictors, pool = fit_fold(payload, problem, study, ~test, objectives)
        for i in np.flatnonzero(test):
            if i not in cases:
                continue
            tops = {o: [int(pool[j]) for j, _ in rankers[o].rank(problem.meta_features[i:i + 1])[0].top(k_max)]
                    for o in objectives}
            drawn = np.random.default_rng([study.seed, int(i)]).permutation(pool)[:k_max].tolist()
            for settings in study.grid:
                columns = tops[settings.objective]  # the ranker trained for the settings' objective
                results = replay(cases[i], columns, settings, predictors, study.seed, study.validation_noise,
                                 random_columns=[int(j) for j in drawn])
                rows.extend({"dataset": problem.dataset_ids[i], "core": core, "settings": _label(settings),
                             "objective": settings.objective, "strategy": name} | r for name, r in results.items())
        if progress is not None:
            progress(f"{core}: {time.perf_counter() - start:.0f} s")
    return rows


def fit_fold(payload: dict, problem: SelectionProblem, study: ReplayStudy, train: np.ndarray,
             objectives: Sequence[str] = ("alc",)):
    """The fold's rankers (one per objective) and curve predictor, all from the training datasets only, and
    the candidate pool the rankers rank (the candidates tuned on a held-out core leave it)."""
    pool = candidate_pool(problem, ~train, drop_own=True)
    rankers = {}
    for objective in objectives:
        perf = problem.for_objective(objective).perf
        rankers[objective] = create_selector(study.selector, seed=study.seed).fit(
            problem.meta_features[train], problem.encodings[pool], perf[np.ix_(train, pool)], problem.cores[train])
    data = curve_rows(payload, study.budget, datasets=train)
    predictor = CurvePredictor(epochs=study.predictor_epochs, seed=study.seed).fit(data.x, data.y)
    return rankers, predictor, pool


def _label(settings: RefineSettings) -> str:
    return (f"k={settings.k} slice={settings.slice_share:g} look={settings.look_share:g} "
            f"gain={settings.min_gain:g}")


def summarize(rows: Sequence[dict], baseline: str = "zero-shot", seed: int = 0) -> list[dict]:
    """Per (settings, objective, strategy): the mean over cores of ALC, final NAUC and the share looked, and
    the paired core-level difference from `baseline` on the objective's measure, with a bootstrap 95 %
    interval over cores and the Wilcoxon p."""
    out = []
    keys = sorted({(r["settings"], r["objective"], r["strategy"]) for r in rows})
    for settings, objective, strategy in keys:
        mine = _by_dataset(rows, settings, objective, strategy)
        base = _by_dataset(rows, settings, objective, baseline)
        datasets = sorted(set(mine) & set(base))
        cores = [mine[d]["core"] for d in datasets]
        measure = "alc" if objective == "alc" else "final"
        entry = {"settings": settings, "objective": objective, "strategy": strategy, "n_datasets": len(datasets)}
        for key in ("alc", "final", "looked"):
            entry[key] = float(np.mean(core_means(np.array([mine[d][key] for d in datasets]), cores)[1]))
        _, diff = core_means(np.array([mine[d][measure] - base[d][measure] for d in datasets]), cores)
        entry |= {"diff": float(diff.mean()), "diff_ci": bootstrap_ci(diff, seed, BOOTSTRAP),
                  "wins": float(np.mean(diff > 0)), "losses": float(np.mean(diff < 0)), "wilcoxon_p": wilcoxon_p(diff)}
        out.append(entry)
    return out


def nested(rows: Sequence[dict], strategy: str = "refine", baseline: str = "zero-shot") -> list[dict]:
    """`strategy` with its settings chosen without the held-out core: for each core, the settings whose mean
    core-level gain over `baseline` is highest on the other cores. What a grid's best row would be worth
    out of sample (the best row itself is chosen on the cores it is scored on)."""
    out = []
    for objective in sorted({r["objective"] for r in rows}):
        mine = [r for r in rows if r["objective"] == objective]
        gains = _core_gains(mine, strategy, baseline, "alc" if objective == "alc" else "final")
        for core in sorted({r["core"] for r in mine}):
            chosen = max(gains, key=lambda s, held=core: np.mean([g for c, g in gains[s].items() if c != held]))
            out.extend(r | {"settings": "nested", "chosen": chosen} for r in mine
                       if r["core"] == core and r["settings"] == chosen and r["strategy"] in (strategy, baseline))
    return out


def _core_gains(rows: Sequence[dict], strategy: str, baseline: str, measure: str) -> dict[str, dict[str, float]]:
    """settings -> core -> mean over the core's datasets of (strategy - baseline) on `measure`."""
    base = {(r["settings"], r["dataset"]): r[measure] for r in rows if r["strategy"] == baseline}
    per: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r["strategy"] == strategy:
            per.setdefault(r["settings"], {}).setdefault(r["core"], []).append(
                r[measure] - base[(r["settings"], r["dataset"])])
    return {s: {c: float(np.mean(v)) for c, v in cores.items()} for s, cores in per.items()}


def _by_dataset(rows: Sequence[dict], settings: str, objective: str, strategy: str) -> dict[str, dict]:
    return {r["dataset"]: r for r in rows
            if r["settings"] == settings and r["objective"] == objective and r["strategy"] == strategy}



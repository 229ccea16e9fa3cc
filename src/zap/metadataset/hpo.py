"""Per-dataset multi-fidelity HPO with SMAC3 (MultiFidelityFacade + Hyperband) on the Dask engine.

Fidelity is the run's budget on the protocol's clock (from `min_budget` up to T); the objective is
-ALC over the full T, a shorter run keeping its last score to T (docs/scoring.md), handed to SMAC
as the cost 1 - ALC (same ranking, and positive as cost encoders prefer). Every trial is
also a record in the plan's `hpo/records` store (learning curve included). A finished run writes
`hpo/<dataset>.json` with its trials ranked; a run that was interrupted is simply run again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from zap.data.augment import VariantSpec
from zap.errors import ConfigError
from zap.finetune.refclock import CostTable
from zap.metadataset.plan import plan_cost_table
from zap.metadataset.protocol import Protocol
from zap.metadataset.store import Store
from zap.metadataset.task import Task, run_task
from zap.pipelines import as_dict, pipeline_id, search_space
from zap.utils import atomic_write_json, name_seed

if TYPE_CHECKING:
    from zap.engine import EngineSpec
    from zap.metadataset.plan import Plan

DEFAULT_TRIALS = 40
MIN_BUDGET_SHARE = 0.25
ETA = 2


_STORES: dict[str, Store] = {}


def _store(folder: str) -> Store:
    """One store (one shard) per worker process and folder: trials append without reading back each time."""
    if folder not in _STORES:
        _STORES[folder] = Store(folder)
    return _STORES[folder]


@dataclass
class Objective:
    """SMAC's target function: picklable, so Dask workers can run it; returns cost = 1 - ALC(T)."""

    dataset: VariantSpec
    protocol: Protocol
    cache: str | None = None
    records: str | None = None  # where every trial's record (with its learning curve) is appended
    costs: CostTable | None = None  # on the ref clock: the plan's cost table

    def __call__(self, config, seed: int = 0, budget: float | None = None) -> float:
        record = self.record(dict(config), seed, budget or self.protocol.budget)
        if self.records:
            _store(self.records).add(record)
        return 1.0 - float(record["alc"])

    def record(self, config: dict, seed: int, budget: float) -> dict:
        task = Task(self.dataset, config, float(budget), self.protocol.clock, seed, self.protocol.budget,
                    self.protocol.t0, self.protocol.threads, self.costs)
        return run_task(task, self.cache)


@dataclass
class HPOResult:
    dataset: str
    trials: list[dict]  # {"pipeline_id", "config", "budget", "alc"}, best first among full-budget trials
    seconds: float

    def best(self) -> tuple[float, float]:
        """The highest budget any trial reached and the best ALC at it (NaN without trials)."""
        top = max((t["budget"] for t in self.trials), default=0.0)
        return top, max((t["alc"] for t in self.trials if t["budget"] == top), default=float("nan"))



def run_hpo(dataset: VariantSpec, protocol: Protocol, folder: Path, n_trials: int = DEFAULT_TRIALS,
            seed: int = 0, client=None, cache: str | None = None, costs: CostTable | None = None) -> HPOResult:
    """One SMAC run on one dataset; the ranked trials are written to `folder/<dataset>.json`."""
    from smac import MultiFidelityFacade, Scenario
    from smac.runhistory import StatusType
    from smac.runhistory.encoder import RunHistoryEncoder

    start = time.perf_counter()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scenario = Scenario(
        search_space(), name=dataset.name, output_directory=folder / "smac3", deterministic=True,
        n_trials=n_trials, min_budget=protocol.budget * MIN_BUDGET_SHARE, max_budget=protocol.budget, seed=seed,
        n_workers=1 if client is None else max(1, len(client.scheduler_info()["workers"])),
    )
    intensifier = MultiFidelityFacade.get_intensifier(scenario, eta=ETA, incumbent_selection="highest_budget")
    objective = Objective(dataset, protocol, cache, str(folder / "records"), costs)

    def target(config, seed: int = 0, budget: float | None = None) -> float:  # SMAC reads a function's code
        return objective(config, seed, budget)

    # The facade's default log-scaled cost encoder produced NaN targets for its random forest when a
    # budget level held few trials (SMAC 2.4.1); the plain encoder has no such edge case.
    encoder = RunHistoryEncoder(scenario)
    smac = MultiFidelityFacade(scenario, target, intensifier=intensifier, runhistory_encoder=encoder,
                               overwrite=True, dask_client=client, logging_level=40)
    smac.optimize()
    trials = []
    for key, value in smac.runhistory.items():
        if value.status != StatusType.SUCCESS:  # trials cancelled when the run ends, or crashed
            continue
        config = as_dict(smac.runhistory.get_config(key.config_id))
        trials.append({"pipeline_id": pipeline_id(config), "config": config, "budget": float(key.budget),
                       "alc": 1.0 - float(value.cost), "status": str(value.status)})
    trials.sort(key=lambda t: (-t["budget"], -t["alc"]))
    result = HPOResult(dataset.name, trials, time.perf_counter() - start)
    atomic_write_json(folder / f"{dataset.name}.json",
                      {"dataset": dataset.name, "n_trials": n_trials, "seed": seed, "seconds": result.seconds,
                       "protocol_hash": protocol.spec_hash(), "trials": trials})
    return result


def load_hpo(path: Path) -> HPOResult:
    data = json.loads(Path(path).read_text())
    return HPOResult(data["dataset"], data["trials"], data["seconds"])


def dataset_seed(dataset: VariantSpec) -> int:
    """SMAC's seed for one dataset: distinct per dataset, so runs do not share one initial design and
    find the same incumbent (docs/metadataset.md, "HPO")."""
    return name_seed(dataset.name)


def hpo_datasets(datasets: list[VariantSpec]) -> list[VariantSpec]:
    """The datasets HPO runs on: the first variant of every core."""
    first: dict[str, VariantSpec] = {}
    for d in datasets:
        first.setdefault(d.core, d)
    return list(first.values())


def _ranked_configs(trials: list[dict]) -> list[dict]:
    """One entry per configuration, its trial at the highest budget it reached, best ALC first.

    ALC is over the full T with the last score held, so a trial stopped at a lower fidelity scores a
    lower bound of what it would reach at T: trials of different budgets compare fairly, and a
    configuration Hyperband never promoted (another bracket's) is not ranked below a worse one that was.
    """
    highest: dict[str, dict] = {}
    for trial in trials:
        known = highest.get(trial["pipeline_id"])
        if known is None or trial["budget"] > known["budget"]:
            highest[trial["pipeline_id"]] = trial
    return sorted(highest.values(), key=lambda t: (-t["alc"], -t["budget"]))


def select_candidates(results: list[HPOResult], min_count: int = 32) -> list[dict]:
    """Round-robin over runs: every run's best configuration, then every run's second best, ...
    (distinct pipeline ids only) until at least `min_count` are chosen."""
    ranked = [_ranked_configs(r.trials) for r in results]
    chosen: dict[str, dict] = {}
    depth = 0
    while len(chosen) < min_count and any(depth < len(r) for r in ranked):
        for run in ranked:
            if depth < len(run) and len(chosen) < min_count:
                chosen.setdefault(run[depth]["pipeline_id"], run[depth]["config"])
        depth += 1
    return list(chosen.values())


@dataclass
class PlanHPO:
    """What `tune_plan` did: the runs made now, the finished runs in all, and the candidates they added."""

    ran: list[HPOResult]
    n_runs: int
    added: int
    n_candidates: int


def pending_datasets(plan: Plan, budget: float | None = None, cores: list[str] | None = None) -> list[VariantSpec]:
    """The datasets HPO runs on (of `cores`, or of every core) that have no finished run at that budget level
    in the plan's `hpo/` folder yet."""
    folder = plan.hpo_folder(budget or plan.levels[0])
    chosen = hpo_datasets(list(plan.protocol.datasets))
    if cores:
        unknown = set(cores) - {d.core for d in chosen}
        if unknown:
            raise ConfigError(f"the plan has no cores {sorted(unknown)}; its cores are "
                              f"{sorted(d.core for d in chosen)}")
        chosen = [d for d in chosen if d.core in cores]
    return [d for d in chosen if not (folder / f"{d.name}.json").exists()]


def tune_plan(plan: Plan, engine: EngineSpec | None = None, n_trials: int = DEFAULT_TRIALS,
              min_candidates: int = 32, cache: str | None = None,
              progress: Callable[[str], None] | None = None, budget: float | None = None,
              cores: list[str] | None = None) -> PlanHPO:
    """SMAC at one budget level (default: the lowest) on every pending dataset (each with its own seed), on a
    Dask client started only when there is one, then that level's candidates refreshed from every finished
    run at it."""
    budget = float(budget or plan.levels[0])
    protocol = plan.level(budget)
    folder = plan.hpo_folder(budget)
    todo = pending_datasets(plan, budget, cores)
    ran = []
    if todo:
        from zap.engine import make_client

        with make_client(engine) as client:
            for i, dataset in enumerate(todo, 1):
                result = run_hpo(dataset, protocol, folder, n_trials=n_trials, client=client, cache=cache,
                                 seed=dataset_seed(dataset), costs=plan_cost_table(plan))
                ran.append(result)
                if progress:
                    top, best = result.best()
                    progress(f"[{i}/{len(todo)}] {dataset.name}: {len(result.trials)} trials, best ALC {best:.3f} "
                             f"at {top:g} {plan.protocol.clock}-s, {result.seconds:.0f} s")
    results = [load_hpo(p) for p in sorted(folder.glob("*.json"))]
    added = plan.add_candidates(select_candidates(results, min_candidates), f"hpo@{budget:g}" if plan.multilevel
                                else "hpo", levels=(budget,))
    return PlanHPO(ran, len(results), added, len(plan.candidates))

"""Computing the missing cells of the cost matrix on the Dask engine, kill-safe.

Only tasks whose key is not in the store are submitted; each finished record is appended (and
fsynced) before it counts as done, so a killed builder or worker loses no finished result, and a
rerun computes only what is missing. A worker lost mid-task is not a result: Dask reschedules the
task on another worker. At most `2 x workers` tasks are in flight, so a kill wastes little work.
"""

from __future__ import annotations

import statistics
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from zap.data.augment import VariantSpec
from zap.errors import ConfigError
from zap.metadataset.artifact import final_nauc_within
from zap.metadataset.plan import plan_cost_table
from zap.metadataset.protocol import Protocol
from zap.metadataset.store import Store, TaskKey
from zap.metadataset.task import Task, run_task
from zap.utils import cpu_model

if TYPE_CHECKING:
    from zap.metadataset.plan import Plan

IN_FLIGHT_PER_WORKER = 2
# Before any cell is done, a cell is guessed to cost its budget plus this share: loading, the quick
# model and the last prediction come on top of the budgeted training.
UNMEASURED_CELL_COST = 1.3
MIN_CELLS_FOR_PACE = 5  # cells measured on this CPU before its own pace replaces the store-wide one


def key_of(task: Task) -> TaskKey:
    return TaskKey(task.dataset.name, task.pipeline_id, float(task.budget), task.clock, task.seed)


def breadth_first(datasets: Iterable[VariantSpec]) -> list[VariantSpec]:
    """Datasets ordered variant by variant across cores (every core's first variant, then every core's
    second, ...), so that any prefix of a build is a balanced pilot over all cores."""
    datasets = list(datasets)
    core_rank = {core: i for i, core in enumerate(dict.fromkeys(d.core for d in datasets))}
    seen: dict[str, int] = {}
    position = []
    for d in datasets:
        position.append((seen.get(d.core, 0), core_rank[d.core]))
        seen[d.core] = seen.get(d.core, 0) + 1
    return [d for _, d in sorted(zip(position, datasets, strict=True), key=lambda pair: pair[0])]


def matrix_tasks(protocol: Protocol, pipelines: Iterable[dict], seeds: Iterable[int] = (0,),
                 datasets: Iterable[VariantSpec] | None = None) -> list[Task]:
    """Every (dataset, pipeline, seed) cell at the protocol's full budget, seed by seed, and within a seed
    breadth-first over cores (a dataset's cells stay together so a worker reuses its loaded core)."""
    pipelines = list(pipelines)
    ordered = breadth_first(datasets or protocol.datasets)
    return [Task(d, p, protocol.budget, protocol.clock, s, protocol.budget, protocol.t0, protocol.threads)
            for s in seeds for d in ordered for p in pipelines]


NOISE_SAMPLE_SHARE = 0.1  # the build's default share of cells run again with the next seed


def in_sample(dataset: str, pipeline_id: str, share: float, salt: str = "noise-floor") -> bool:
    """Whether a cell belongs to the fixed pseudo-random share chosen by a hash of (dataset, pipeline)."""
    return zlib.crc32(f"{salt}|{dataset}|{pipeline_id}".encode()) < int(share * 2**32)


def sample_cells(tasks: list[Task], share: float, salt: str = "noise-floor") -> list[Task]:
    """A fixed pseudo-random share of cells: the same cells on every machine and every rerun, independent
    of the candidate list's order or length."""
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"the extra-seed share must be in (0, 1], got {share}")
    return [t for t in tasks if in_sample(t.dataset.name, t.pipeline_id, share, salt)]


EXTRA_SEED_BY = ("alc", "final")  # what "a dataset's best cells" are ranked by: ALC, or final NAUC within T


def top_cells(protocol: Protocol, pipelines: Iterable[dict], store: Store, seed: int, k: int,
              by: Iterable[str] = ("alc",)) -> list[Task]:
    """The next seed of each dataset's `k` best cells at `seed` by each measure of `by` (their union), for the
    datasets whose `seed` row is complete. These cells decide the Oracle and most picks; measured once, the
    best of a dataset's noisy cells sits above its pipeline's true value (the winner's curse), so a second
    seed there is where extra compute buys the most honesty. The final-NAUC Oracle picks other cells than the
    ALC one: without `final` in `by` its re-run (best by seed 0, scored on seed 1) rests on few datasets."""
    if k < 1:
        raise ConfigError(f"k (cells per dataset) must be at least 1, got {k}")
    by = tuple(by)
    unknown = [m for m in by if m not in EXTRA_SEED_BY]
    if unknown or not by:
        raise ConfigError(f"best cells are ranked by {' or '.join(EXTRA_SEED_BY)}, got {list(by)}")
    by_dataset: dict[str, list[Task]] = {}
    for task in matrix_tasks(protocol, pipelines, (seed + 1,)):
        by_dataset.setdefault(task.dataset.name, []).append(task)
    chosen = []
    for tasks in by_dataset.values():
        stored = [store.records.get(replace(key_of(t), seed=seed)) for t in tasks]
        if all(r is not None for r in stored):
            best = {i for measure in by for i in _best(stored, measure, protocol, k)}
            chosen += [tasks[i] for i in sorted(best)]
    return chosen


def _best(stored: list[dict], measure: str, protocol: Protocol, k: int) -> list[int]:
    def value(record: dict) -> float:
        return record["alc"] if measure == "alc" else final_nauc_within(record, protocol.clock, protocol.budget)

    return sorted(range(len(stored)), key=lambda i: -value(stored[i]))[:k]


def protocol_tasks(protocol: Protocol, pipelines: Iterable[dict], seeds: Iterable[int] = (0,),
                   extra_seed_share: float = 0.0, extra_seed_top: int = 0, store: Store | None = None,
                   extra_seed_by: Iterable[str] = ("alc",)) -> list[Task]:
    """The full matrix for each of `seeds`, then the next seed on a fixed share of its cells (measuring
    the noise floor) and, with `extra_seed_top` and the `store`, on each complete dataset's best cells;
    the extra cells come last, so the complete matrix is done first. No key appears twice."""
    seeds, pipelines = list(seeds), list(pipelines)
    tasks = matrix_tasks(protocol, pipelines, seeds)
    if extra_seed_share > 0:
        tasks += sample_cells(matrix_tasks(protocol, pipelines, (max(seeds) + 1,)), extra_seed_share)
    if extra_seed_top > 0:
        if store is None:
            raise ConfigError("extra_seed_top needs the store, whose results say which cells are best")
        tasks += top_cells(protocol, pipelines, store, max(seeds), extra_seed_top, extra_seed_by)
    return list({key_of(t): t for t in tasks}.values())


@dataclass
class BuildReport:
    submitted: int
    written: int
    failed_inside: int
    lost: int
    seconds: float


def _worker_count(client) -> int:
    return max(1, len(client.scheduler_info().get("workers", {})))


def build(tasks: list[Task], store: Store, client, cache: str | None = None, progress: bool = True) -> BuildReport:
    """Run every task of `tasks` that the store lacks; append each record as it arrives."""
    from dask.distributed import as_completed

    start = time.perf_counter()
    todo = {key_of(t): t for t in tasks}
    todo = {k: t for k, t in todo.items() if k not in store}
    queue = list(todo.values())
    limit = IN_FLIGHT_PER_WORKER * _worker_count(client)
    written = failed = lost = 0
    bar = tqdm(total=len(queue), unit="task", disable=not progress, smoothing=0.05)
    running = as_completed([client.submit(run_task, t, cache, pure=False) for t in queue[:limit]])
    queue = queue[limit:]
    for future in running:
        try:
            record = future.result()
        except Exception as exc:  # e.g. KilledWorker after repeated losses: not a result, retried next run
            bar.write(f"task lost ({type(exc).__name__}: {exc}); it stays missing and is retried on the next build")
            lost += 1
            continue
        finally:
            if queue:
                running.add(client.submit(run_task, queue.pop(0), cache, pure=False))
        written += store.add(record)
        failed += record["status"] != "ok"
        bar.update(1)
        bar.set_postfix_str(f"last ALC {record['alc']:.3f} ({record['dataset']})", refresh=False)
    bar.close()
    return BuildReport(len(todo), written, failed, lost, time.perf_counter() - start)


def plan_tasks(plan: Plan, store: Store, seeds: Iterable[int] = (0,), extra_seed_share: float = 0.0,
               extra_seed_top: int = 0, budgets: Iterable[float] | None = None, cores: Iterable[str] | None = None,
               device: str = "cpu", extra_seed_by: Iterable[str] = ("alc",)) -> list[Task]:
    """`protocol_tasks` of a plan at each of its budget levels (or of `budgets`), lowest first: each level's
    protocol, its own candidates, and the plan's store. `cores` keeps only their cells (a machine that holds
    only some cores' data); `device` is where the cells compute, which does not change what they compute."""
    if device != "cpu" and plan.protocol.clock not in ("ref", "steps"):
        raise ConfigError(f"cells on a {device} device only match the plan's on the ref or steps clock, and this "
                          f"plan measures {plan.protocol.clock} time; build it with --device cpu")
    seeds, costs = list(seeds), plan_cost_table(plan)
    keep = _known_cores(plan, cores)
    return [replace(task, costs=costs, device=device) for budget in (budgets or plan.levels)
            for task in protocol_tasks(plan.level(budget), plan.pipelines(budget), seeds, extra_seed_share,
                                       extra_seed_top, store, extra_seed_by)
            if keep is None or task.dataset.core in keep]


def _known_cores(plan: Plan, cores: Iterable[str] | None) -> set[str] | None:
    if cores is None:
        return None
    known = {d.core for d in plan.protocol.datasets}
    unknown = sorted(set(cores) - known)
    if unknown:
        raise ConfigError(f"the plan has no cores {unknown}; its cores are {sorted(known)}")
    return set(cores)


def cost_per_budget_second(records: list[dict], at_least: int = 1) -> float | None:
    """Worker seconds a cell took per second of its budget, averaged over `records` (None below `at_least`
    of them). On the ref clock a budget is a fixed amount of compute, so this is the machine's speed: a slower
    host of the same generic name takes longer for the very same cells (docs/metadataset.md)."""
    if not records or len(records) < at_least:
        return None
    return statistics.mean(r["provenance"]["seconds"] / r["budget"] for r in records)


def build_status(plan: Plan, seeds: Iterable[int] = (0,), extra_seed_share: float = 0.0,
                 extra_seed_top: int = 0, budgets: Iterable[float] | None = None,
                 extra_seed_by: Iterable[str] = ("alc",)) -> dict[str, Any]:
    """Where a build stands: cells done and missing, core-hours spent and left (each missing cell at its
    budget times the mean cost per budget-second of the done cells; `core_hours_left_here` at the pace of the
    cells this CPU made, once it made enough), and the load beside the build."""
    store = plan.store
    budgets = list(budgets or plan.levels)
    keys = [key_of(t) for t in plan_tasks(plan, store, seeds, extra_seed_share, extra_seed_top, budgets,
                                          extra_seed_by=extra_seed_by)]
    done = [store.records[k] for k in keys if k in store]
    budget_left = sum(k.budget for k in keys if k not in store)
    left = budget_left * (cost_per_budget_second(done) or UNMEASURED_CELL_COST) / 3600
    here = cpu_model()
    pace_here = cost_per_budget_second([r for r in done if r["provenance"].get("cpu") == here], MIN_CELLS_FOR_PACE)
    loads = [r["provenance"]["loadavg_1m"] for r in done if r["provenance"].get("loadavg_1m") is not None]
    return {"done": len(done), "total": len(keys), "missing": len(keys) - len(done),
            "failed_inside": sum(r["status"] != "ok" for r in done), "core_hours_left": round(left, 2),
            "core_hours_left_here": None if pace_here is None else round(budget_left * pace_here / 3600, 2),
            "cpu": here,
            "core_hours_spent": round(sum(r["provenance"]["seconds"] for r in done) / 3600, 2),
            "loadavg_1m_median": round(statistics.median(loads), 2) if loads else None,
            "loadavg_1m_p90": round(statistics.quantiles(loads, n=10)[-1], 2) if len(loads) > 1 else None,
            "n_datasets": len(plan.protocol.datasets), "n_candidates": len(plan.candidates),
            "budgets": budgets, "candidates_per_level": {f"{b:g}": len(plan.candidates_at(b)) for b in budgets},
            "protocol_hash": plan.spec_hash(), "other_runner_records": store.skipped}

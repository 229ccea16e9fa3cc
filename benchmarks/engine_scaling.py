"""Engine scaling: the same batch of real fine-tuning tasks (fixed step budget) run directly in this
process, on a 1-worker and on a 2-worker Dask LocalCluster, each result appended to a Store.

Prints the speed-up of 2 workers over 1 (target >= 1.8 on 2 cores) and the per-task overhead of the
engine and store over running the task function directly (target <= 2 %). Wall-clock needs an idle
machine; the task threads' own CPU seconds are printed beside it, which separates a slower task
(more CPU-s inside the task) from the engine's own cost (wall time outside the tasks).

The batch is one pipeline (`--pipeline`, default `recommended`) on the core's variants and seeds, so
every task costs about the same: with a mix (`--pipeline mixed`, both named pipelines) one long task
dispatched late bounds the makespan, and the ratio measures the mix, not the engine. The bound that
greedy dispatch in submission order allows with the measured task times is printed beside it.

    python benchmarks/engine_scaling.py --tasks 8 --steps 40
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from zap.engine import EngineSpec, make_client
from zap.metadataset import Store, build, matrix_tasks, read_records, run_task
from zap.metadataset.plan import create_plan
from zap.pipelines import get_config, pipeline_id


def direct(tasks, cache) -> tuple[float, float]:
    """Wall seconds for the batch and the tasks' summed thread CPU seconds."""
    start = time.perf_counter()
    cpu = sum(run_task(task, cache)["elapsed"]["cpu_s"] for task in tasks)
    return time.perf_counter() - start, cpu


def engine(tasks, cache, workers: int, folder: Path, warmup) -> tuple[float, float]:
    with make_client(EngineSpec(workers=workers)) as client:
        # every worker runs one real task in its executor thread before the clock starts, as the direct
        # run did in this process: the benchmark measures the engine, not a cold start
        workers = list(client.scheduler_info()["workers"])
        client.gather([client.submit(run_task, warmup, cache, workers=[w], pure=False) for w in workers])
        start = time.perf_counter()
        build(tasks, Store(folder), client, cache=cache, progress=False)
        wall = time.perf_counter() - start
    return wall, sum(r["elapsed"]["cpu_s"] for r in read_records(folder))


def one_walls(folder: Path) -> list[float]:
    """The tasks' wall seconds on one worker, in the order they ran."""
    return [r["elapsed"]["wall_s"] for r in read_records(folder)]


def greedy_makespan(durations: list[float], workers: int) -> float:
    """Makespan of dispatching tasks in order, each to the first worker that is free."""
    free = [0.0] * workers
    for duration in durations:
        free[free.index(min(free))] += duration
    return max(free)


def batch(plan, n_tasks: int, pipeline: str) -> list:
    """`n_tasks` tasks of one named pipeline over the variants and seeds, or both named ones (`mixed`)."""
    if pipeline == "mixed":
        return matrix_tasks(plan.protocol, plan.pipelines())[:n_tasks]
    wanted = pipeline_id(get_config(pipeline))
    chosen = [p for p in plan.pipelines() if pipeline_id(p) == wanted]
    n_variants = len(plan.protocol.datasets)
    return matrix_tasks(plan.protocol, chosen, seeds=range(-(-n_tasks // n_variants)))[:n_tasks]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=8, help="tasks per batch (an even number)")
    parser.add_argument("--steps", type=int, default=40, help="step budget of each task")
    parser.add_argument("--core", default="digits-opencv")
    parser.add_argument("--pipeline", default="recommended", choices=["recommended", "autodl-default", "mixed"],
                        help="the batch's pipeline; mixed = both named pipelines on each variant")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp())
    plan = create_plan(work / "plan", n_variants=args.tasks // 2, budget=args.steps, clock="steps", cores=[args.core])
    tasks = batch(plan, args.tasks, args.pipeline)
    warmup = tasks[0]
    run_task(warmup, None)  # warm caches (core build, weights) out of the measurement
    (t_direct, c_direct) = direct(tasks, None)
    (t_one, c_one) = engine(tasks, None, 1, work / "one", warmup)
    (t_two, c_two) = engine(tasks, None, 2, work / "two", warmup)
    n = len(tasks)
    print(f"{n} tasks of {args.steps} steps on {args.core} variants, pipeline {args.pipeline}")
    print(f"{'mode':22s} {'seconds':>8s} {'per task':>9s} {'task CPU-s':>11s} {'per task':>9s}")
    for name, t, c in (("direct (no engine)", t_direct, c_direct), ("dask, 1 worker", t_one, c_one),
                       ("dask, 2 workers", t_two, c_two)):
        print(f"{name:22s} {t:8.1f} {t / n:9.2f} {c:11.1f} {c / n:9.2f}")
    bound = t_one / greedy_makespan(one_walls(work / "one"), 2)
    print(f"speed-up 2 vs 1 worker: {t_one / t_two:.2f} (target >= 1.8); greedy dispatch of these task times "
          f"allows {bound:.2f}")
    print(f"engine + store overhead per task, 1 worker vs direct: {100 * (t_one - t_direct) / t_direct:+.1f} % "
          "(target <= 2 %)")
    print(f"  of which inside the tasks (their CPU-s, 1 worker vs direct): {100 * (c_one - c_direct) / t_direct:+.1f} %"
          f"; outside them: {100 * ((t_one - c_one) - (t_direct - c_direct)) / t_direct:+.1f} %")

if __name__ == "__main__":
    main()

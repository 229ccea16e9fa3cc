"""CPU seconds of the same fine-tuning task in a plain process and in a Dask worker, with and without the
malloc trim threshold that Dask's nanny sets by default (MALLOC_TRIM_THRESHOLD_=65536), and in a worker
with Dask's statistical profiler on (its default; zap's engine turns it off).

Why it matters: the meta-dataset's budget is the task thread's CPU time, so anything that makes a step
cost more CPU in a worker than in `zap fit` (a plain process) shifts the whole matrix away from the
user's regime. Prints CPU-s per task for each setting and the ratio to the plain process.

    python benchmarks/worker_allocator.py --steps 40 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from zap.pipelines import pipeline_id


def make_task(steps: int, candidate: str | None = None):
    """The second cell of a tiny plan on digits, or (`candidate`) that v1 candidate on the first v1
    dataset of digits-opencv, both on a step budget."""
    from zap.metadataset import Task, matrix_tasks
    from zap.metadataset.plan import create_plan, load_plan
    from zap.resources import plan_dir

    if candidate is None:
        plan = create_plan(Path(tempfile.mkdtemp()) / "plan", n_variants=2, budget=steps, clock="steps",
                           cores=["digits-opencv"])
        return matrix_tasks(plan.protocol, plan.pipelines())[1]
    plan = load_plan(plan_dir("v1"))  # the candidates are v1's
    pipeline = next((p for p in plan.pipelines() if pipeline_id(p) == candidate), None)
    if pipeline is None:
        raise SystemExit(f"no v1 candidate {candidate!r}; see metadataset/v1/candidates.json")
    dataset = next(d for d in plan.protocol.datasets if d.core == "digits-opencv")
    return Task(dataset, pipeline, steps, "steps", 0, steps)


def plain(steps: int, repeats: int, in_thread: bool = False, candidate: str | None = None) -> list[float]:
    """In this process's main thread, or (`in_thread`) in one long-lived second thread, as a worker's
    executor runs tasks: glibc gives that thread its own malloc arena, which the main thread never uses."""
    from concurrent.futures import ThreadPoolExecutor

    from zap.metadataset import run_task

    task = make_task(steps, candidate)
    if not in_thread:
        run_task(task, None)  # warm
        return [run_task(task, None)["elapsed"]["cpu_s"] for _ in range(repeats)]
    with ThreadPoolExecutor(1) as pool:
        pool.submit(run_task, task, None).result()  # warm
        return [pool.submit(run_task, task, None).result()["elapsed"]["cpu_s"] for _ in range(repeats)]


def in_worker(steps: int, repeats: int, profiler: bool = False, candidate: str | None = None) -> list[float]:
    """A 1-worker LocalCluster from `zap.engine`; the worker inherits this process's environment, so the
    "-trim" modes (run with MALLOC_TRIM_THRESHOLD_=65536) reproduce what Dask's nanny does by default, and
    "worker-profiler" turns Dask's statistical profiler back on (zap switches it off)."""
    import zap.engine
    from zap.engine import EngineSpec, make_client
    from zap.metadataset import run_task

    if profiler:
        zap.engine.NO_PROFILER = {}

    task = make_task(steps, candidate)
    with make_client(EngineSpec(workers=1)) as client:
        client.submit(run_task, task, None, pure=False).result()  # warm the executor thread
        return [client.submit(run_task, task, None, pure=False).result()["elapsed"]["cpu_s"]
                for _ in range(repeats)]


MODES = ("plain", "plain-trim", "plain-thread", "plain-thread-arena1", "worker", "worker-arena1", "worker-trim",
         "worker-profiler")
MODE_ENV = {"-trim": {"MALLOC_TRIM_THRESHOLD_": "65536"}, "-arena1": {"MALLOC_ARENA_MAX": "1"}}


def child(mode: str, steps: int, repeats: int, candidate: str | None) -> list[float]:
    env = os.environ | next((v for suffix, v in MODE_ENV.items() if mode.endswith(suffix)), {})
    extra = ["--candidate", candidate] if candidate else []
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--steps", str(steps), "--repeats",
                          str(repeats), *extra], env=env, capture_output=True, text=True, check=True).stdout
    return [float(v) for v in out.strip().splitlines()[-1].split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--modes", nargs="+", choices=MODES, help="only these settings (default all)")
    parser.add_argument("--candidate", help="a v1 candidate's pipeline id (default: a tiny plan's pipeline)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        values = (plain(args.steps, args.repeats, args.child.startswith("plain-thread"), args.candidate)
                  if args.child.startswith("plain")
                  else in_worker(args.steps, args.repeats, args.child == "worker-profiler", args.candidate))
        print(" ".join(f"{v:.3f}" for v in values))
        return
    modes = args.modes or MODES
    results = {mode: child(mode, args.steps, args.repeats, args.candidate) for mode in modes}
    base = statistics.median(results["plain"]) if "plain" in results else 1.0
    print(f"{'setting':16s} {'CPU-s per task (each repeat)':36s} {'median':>7s} {'vs plain':>9s}")
    for mode, values in results.items():
        shown = " ".join(f"{v:5.1f}" for v in values)
        print(f"{mode:16s} {shown:36s} {statistics.median(values):7.1f} {statistics.median(values) / base:9.2f}")


if __name__ == "__main__":
    main()

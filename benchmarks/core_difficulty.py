"""How hard is each core dataset for the `recommended` pipeline? (issue: no core solved or hopeless)

Each core with its own held-out test images (at most 300), native resolution. Default regime: 20 CPU-s
on one thread, `--jobs` processes side by side (meta-dataset v1's regime); `--clock wall --budget 60
--threads 2 --jobs 1` gives the 60 s wall-clock table on both cores; `--clock ref --budget 60` is
meta-dataset v2's regime (needs the reference cost table, src/zap/finetune/ref_costs.json). `--only`
measures some cores, new ones say.

    python benchmarks/core_difficulty.py --clock cpu --budget 20 --jobs 2 --json runs/difficulty_cpu20.json
    python benchmarks/core_difficulty.py --clock ref --budget 60 --jobs 1 --only clipart-food stamps-plants
"""

from __future__ import annotations

import argparse
import math

from common import measure_all, save_rows


def measure(task: tuple[str, str, float, int, str | None]) -> dict:
    name, clock, budget, threads, cache = task
    from zap.data.augment import materialize, whole_core
    from zap.data.core import load_core
    from zap.finetune import Budget, run
    from zap.pipelines import get_config

    core = load_core(name, cache)
    split = materialize(core, whole_core(core))
    result = run(split.train, split.test, dict(get_config("recommended")), Budget(budget, clock), threads=threads)
    return {"core": name, "domain": core.spec.domain, "n_classes": core.dataset.n_classes,
            "n_train": len(split.train), "n_test": len(split.test), "chance": 1 / core.dataset.n_classes,
            "accuracy": result.accuracy, "alc": result.alc, "final_nauc": result.final_nauc,
            "steps": result.elapsed["steps"], "cpu_s": result.elapsed["cpu_s"],
            "ref_s": None if math.isnan(result.elapsed["ref_s"]) else result.elapsed["ref_s"]}


def main() -> None:
    from zap.data.core import CORES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clock", default="cpu", choices=["cpu", "wall", "ref"])
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="+", metavar="CORE", help="these cores only (default: every core)")
    parser.add_argument("--cache")
    parser.add_argument("--json")
    args = parser.parse_args()
    tasks = [(n, args.clock, args.budget, args.threads, args.cache) for n in args.only or CORES]
    rows = measure_all(measure, tasks, args.jobs)
    print(f"recommended pipeline, {args.budget:g} {args.clock}-s, {args.threads} thread(s), {args.jobs} job(s)")
    print(f"{'core':18s} {'domain':12s} {'classes':>7s} {'n_train':>7s} {'chance':>6s} {'acc':>6s} {'ALC':>6s} "
          f"{'steps':>5s}  verdict")
    for r in rows:
        verdict = "ok" if r["chance"] + 0.2 <= r["accuracy"] < 0.99 else (
            "TOO HARD" if r["accuracy"] < r["chance"] + 0.2 else "SOLVED")
        print(f"{r['core']:18s} {r['domain']:12s} {r['n_classes']:7d} {r['n_train']:7d} {r['chance']:6.3f} "
              f"{r['accuracy']:6.3f} {r['alc']:6.3f} {r['steps']:5d}  {verdict}")
    save_rows(rows, args.json)


if __name__ == "__main__":
    main()

"""`zap tune` warm-started with the zero-shot top-k against plain SMAC3 (its own random initial design).

For each held-out core (leave-one-core-out: ZAP-HPO is meta-trained on the other cores of the meta-dataset
artifact, so the top-k never saw the dataset), one variant of it (the last, not the one HPO ran on) is
tuned twice per seed on the reference clock, so the figures do not depend on the machine's load:
`init` = the LOCO top-k (passed as the initial design) and `init` = SMAC's default. Reported: the
incumbent's final NAUC and accuracy on the variant's test split, the search's ALC over S on that split (the
incumbent-so-far's predictions as an anytime curve), the incumbent-so-far's test NAUC after each trial,
and the ratios zero-shot / default.

    nice -n 10 python benchmarks/tune_warmstart.py --cores chars-greek emoji-group textures \\
        --budget 20 --seeds 0 1 --json docs/data/tune_warmstart.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from zap.data.augment import VariantSpec, materialize
from zap.data.core import load_core
from zap.finetune import Budget
from zap.metadataset.artifact import load
from zap.metadataset.problem import SelectionProblem
from zap.metafeatures import compute
from zap.pipelines import as_pipelines_see
from zap.selectors import create_selector
from zap.strategies.tune import inner_split, tune
from zap.utils import atomic_write_json

INITS = ("zero-shot", "default")
CHECKPOINTS = (1, 3, 5, 9, 13)  # trials after which the incumbent-so-far is tabulated (and the last)


def loco_selector(problem: SelectionProblem, core: str):
    """ZAP-HPO meta-trained on every core but `core`."""
    rows = (problem.cores != core) & problem.measured_rows()
    selector = create_selector("zap-hpo", seed=0)
    selector.fit(problem.meta_features[rows], problem.encodings, problem.alc[rows], problem.cores[rows])
    return selector


def top_k(selector, problem: SelectionProblem, configs: dict[str, dict], fit, k: int) -> list[dict]:
    """The selector's top-k for the data the trials fit on (as `tune` ranks them)."""
    ranking = selector.rank(as_pipelines_see(compute(fit)).vector()[None, :])[0]
    return [configs[problem.candidate_ids[i]] for i, _ in ranking.top(k)]


def so_far(trials: list[dict]) -> list[float]:
    """The incumbent's test NAUC after each trial (NaN before the first incumbent)."""
    return [trials[t["incumbent"]]["test_final_nauc"] if t["incumbent"] is not None else float("nan")
            for t in trials]


def measure(split, init, core: str, name: str, seed: int, args) -> dict:
    start = time.perf_counter()
    result = tune(split.train, split.test, Budget(args.budget, "ref"), init=init, k=args.k, seed=seed, threads=1,
                  device="cpu", trial_budget=args.trial_budget)
    summary = result.summary()
    return {"core": core, "dataset": name, "init": "default" if init == "default" else "zero-shot", "seed": seed,
            "alc": summary["alc"], "final_nauc": summary["final_nauc"], "accuracy": summary["accuracy"],
            "incumbent": summary["tune"]["incumbent"]["n"], "pipeline_id": summary["pipeline_id"],
            "n_trials": len(result.trials), "n_skipped": len(result.skipped), "spent": result.spent,
            "skipped": [{key: t[key] for key in ("pipeline_id", "origin", "budget", "first_answer_s")}
                        for t in result.skipped],
            "wall_s": time.perf_counter() - start,
            "so_far": so_far(result.trials),
            "trials": [{key: t.get(key) for key in ("pipeline_id", "origin", "budget", "score", "seconds",
                                                     "test_final_nauc")} for t in result.trials]}


def mean(values) -> float:
    values = [v for v in values if not np.isnan(v)]
    return statistics.mean(values) if values else float("nan")


def print_table(runs: list[dict]) -> None:
    datasets = list(dict.fromkeys(r["dataset"] for r in runs))
    print(f"\n{'dataset':26s} {'init':10s} {'search ALC':>10s} {'final NAUC':>10s} {'accuracy':>9s} {'trials':>6s} "
          f"{'skipped':>7s} {'spent':>6s}")
    for name in datasets:
        for init in INITS:
            chosen = [r for r in runs if r["dataset"] == name and r["init"] == init]
            if chosen:
                print(f"{name:26s} {init:10s} {mean([r['alc'] for r in chosen]):10.3f} "
                      f"{mean([r['final_nauc'] for r in chosen]):10.3f} {mean([r['accuracy'] for r in chosen]):9.3f} "
                      f"{mean([r['n_trials'] for r in chosen]):6.1f} "
                      f"{mean([r.get('n_skipped', 0) for r in chosen]):7.1f} "
                      f"{mean([r['spent'] for r in chosen]):6.1f}")
    for metric in ("alc", "final_nauc"):
        ratios = [mean([r[metric] for r in runs if r["dataset"] == d and r["init"] == "zero-shot"])
                  / mean([r[metric] for r in runs if r["dataset"] == d and r["init"] == "default"]) for d in datasets]
        print(f"ratio zero-shot / default, {metric:10s}: " + "  ".join(f"{x:.3f}" for x in ratios)
              + f"   mean {mean(ratios):.3f}")
    print("\nincumbent-so-far's test NAUC after trial n (mean over datasets and seeds):")
    print(f"{'init':10s} " + " ".join(f"{'n=' + str(n):>7s}" for n in (*CHECKPOINTS, 'last')))
    for init in INITS:
        chosen = [r["so_far"] for r in runs if r["init"] == init]
        cells = [mean([s[min(n, len(s)) - 1] for s in chosen]) for n in CHECKPOINTS] + [mean([s[-1] for s in chosen])]
        print(f"{init:10s} " + " ".join(f"{c:7.3f}" for c in cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--cores", nargs="+", required=True, help="held-out cores (their last variant each)")
    parser.add_argument("--budget", type=float, default=20.0, help="S, reference seconds per search")
    parser.add_argument("--trial-budget", type=float, help="T (default S / 4)")
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--json", help="write every search here after each one; a rerun resumes from it")
    args = parser.parse_args()
    payload = load(Path(args.artifact))
    problem = SelectionProblem.from_artifact(payload)
    specs = {d["name"]: d for d in payload["protocol"]["datasets"]}
    configs = {c["id"]: c["config"] for c in payload["candidates"]}
    runs = json.loads(Path(args.json).read_text())["runs"] if args.json and Path(args.json).exists() else []
    for core in args.cores:
        name = problem.dataset_ids[int(np.flatnonzero(problem.cores == core)[-1])]
        spec = VariantSpec.from_dict(specs[name])
        split = materialize(load_core(spec.core), spec)
        selector = None
        for seed, init in [(seed, init) for seed in args.seeds for init in INITS]:
            if any((r["dataset"], r["init"], r["seed"]) == (name, init, seed) for r in runs):
                continue
            if init == "zero-shot":
                selector = selector or loco_selector(problem, core)
                init = top_k(selector, problem, configs, inner_split(split.train, seed).train, args.k)
            runs.append(measure(split, init, core, name, seed, args))
            keep(runs, args)
    print_table(runs)


def keep(runs: list[dict], args) -> None:
    """The `--json` file rewritten after each search (a rerun resumes from it), and a line about the search."""
    if args.json:
        atomic_write_json(args.json, {"budget": args.budget, "clock": "ref", "k": args.k,
                                      "trial_budget": args.trial_budget, "runs": runs})
    r = runs[-1]
    print(f"{r['dataset']:26s} {r['init']:10s} seed {r['seed']}: search ALC {r['alc']:.3f}, final NAUC "
          f"{r['final_nauc']:.3f}, {r['n_trials']} trials, {r['wall_s']:.0f} s", flush=True)


if __name__ == "__main__":
    main()

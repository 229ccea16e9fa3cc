"""Refine against zero-shot in real runs on held-out cores: the replay study's check on real fine-tuning.

For each held-out core (its last variant in the artifact, not the one HPO ran on) and seed, the ranker and
the curve predictor are meta-trained without the core (`zap.benchmark.strategies.fit_fold`, as in the
replay study) at the artifact's level nearest each budget (a multi-level artifact such as v2: that level's
candidates, matrix and curves; v1: its only level). Then zero-shot (the top pick for the whole budget) and
refine (the top-k under the given settings) are run for real on the core's data, on the level's clock with
its cost table and one thread. On the reference clock a run computes the same whatever else the machine
runs, so the study can run beside a build. Every run is appended to `--json` as it ends; a rerun resumes.

    python benchmarks/refine_fit.py --cores digits-opencv chars-greek emoji-group textures --budgets 20 60 \\
        --json docs/data/refine_fit_v1.json
    python benchmarks/refine_fit.py --artifact artifacts/metadataset/v2.json.gz --budgets 20 60 --seeds 0 1 \\
        --cores chars-greek clipart-food digits-opencv emoji-group photo-patches stamps-animals \\
        --json docs/data/refine_fit_v2.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from zap.benchmark.stats import bootstrap_ci, wilcoxon_p
from zap.benchmark.strategies import ReplayStudy, fit_fold
from zap.data.augment import VariantSpec, materialize
from zap.data.core import load_core
from zap.finetune import Budget, run
from zap.metadataset.artifact import cost_table_of, level_view, load, measured_budgets
from zap.metadataset.problem import SelectionProblem
from zap.metafeatures import MetaFeatures
from zap.selectors.levels import nearest_level
from zap.strategies.live import live_predict, refine_fit
from zap.strategies.policy import RefineSettings
from zap.utils import atomic_write_json


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--cores", nargs="+", required=True)
    parser.add_argument("--budgets", type=float, nargs="+", default=[20.0, 60.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="each seed is a repetition: the meta-training's seed and the runs' seed")
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--slice", type=float, default=RefineSettings.slice_share)
    parser.add_argument("--look", type=float, default=RefineSettings.look_share)
    parser.add_argument("--gain", type=float, default=RefineSettings.min_gain)
    parser.add_argument("--name", default="refine", help="the strategy's name in --json (a second settings run "
                                                         "beside the first; zero-shot runs once per budget)")
    parser.add_argument("--objective", default="alc")
    parser.add_argument("--json", type=Path, required=True)
    return parser.parse_args()


def by_level(payload: dict, budgets: list[float]) -> dict[float, list[float]]:
    """The budgets grouped by the measured level nearest each on the log scale (v1: its only level)."""
    levels = measured_budgets(payload)
    grouped: dict[float, list[float]] = {}
    for budget in budgets:
        grouped.setdefault(nearest_level(levels, budget), []).append(budget)
    return grouped


def meta_train(payload: dict, problem: SelectionProblem, level: float, core: str, seed: int, args) -> tuple:
    """The held-out core's top-k at `level` and the curve predictor, both trained without the core."""
    rankers, predictor, pool = fit_fold(payload, problem, ReplayStudy(budget=level, seed=seed),
                                        problem.cores != core, (args.objective,))
    row = int(np.flatnonzero(problem.cores == core)[-1])
    ranking = rankers[args.objective].rank(problem.meta_features[row:row + 1])[0]
    return [problem.candidate_ids[int(pool[j])] for j, _ in ranking.top(args.k)], predictor


def run_both(split, candidates: list[dict], budget: Budget, settings: RefineSettings, factory, seed: int, costs,
             with_zero_shot: bool, name: str = "refine") -> list[tuple[str, object, dict]]:
    """Zero-shot (unless it is stored) and refine on the same data, seed and clock."""
    done = []
    if with_zero_shot:
        done.append(("zero-shot", run(split.train, split.test, candidates[0]["config"], budget, seed=seed,
                                      threads=1, device="cpu", costs=costs), {}))
    refined = refine_fit(split.train, split.test, candidates, budget, settings, factory, seed=seed, threads=1,
                         device="cpu", costs=costs)
    print(f"  {budget.amount:g} {budget.clock}-s: {name} ALC {refined.result.alc:.3f} final "
          f"{refined.result.final_nauc:.3f} ({refined.trace.reason}; committed #{refined.trace.committed})", flush=True)
    return [*done, (name, refined.result, {"refine": refined.summary()})]


def stored_runs(path: Path, artifact: str) -> list[dict]:
    """The runs a previous call stored in `path`, which must have come from the same artifact: the resume key
    has no artifact in it, so rows from two would mix unseen."""
    if not path.exists():
        return []
    stored = json.loads(path.read_text())
    if Path(stored["artifact"]).resolve() != Path(artifact).resolve():
        raise SystemExit(f"{path} holds runs on {stored['artifact']}, not {artifact}: give another --json")
    return stored["runs"]


def main() -> None:
    args = parse_args()
    payload = load(Path(args.artifact))
    specs = {d["name"]: d for d in payload["protocol"]["datasets"]}
    runs = stored_runs(args.json, args.artifact)
    settings = RefineSettings(k=args.k, slice_share=args.slice, look_share=args.look, min_gain=args.gain,
                              objective=args.objective)

    def measured(name: str, strategy: str, budget: float, seed: int) -> bool:  # v1's file has no seeds: 0
        return any(r["dataset"] == name and r["budget"] == budget and r["strategy"] == strategy
                   and r.get("seed", 0) == seed for r in runs)

    for level, budgets in by_level(payload, args.budgets).items():
        view = level_view(payload, level)
        problem = SelectionProblem.from_artifact(payload, level)
        clock, costs = view["protocol"]["clock"], cost_table_of(view)
        if clock == "ref" and costs is None:
            print(f"note: level {level:g} was measured with cost table {view['protocol'].get('cost_table')}, which "
                  "the artifact does not carry and this zap does not ship: runs are priced with the shipped table")
        config_of = {c["id"]: c["config"] for c in view["candidates"]}
        for core, seed in itertools.product(args.cores, args.seeds):
            row = int(np.flatnonzero(problem.cores == core)[-1])
            name = problem.dataset_ids[row]
            if all(measured(name, args.name, b, seed) for b in budgets):
                continue
            start = time.perf_counter()
            ids, predictor = meta_train(payload, problem, level, core, seed, args)
            spec = VariantSpec.from_dict(specs[name])
            split = materialize(load_core(spec.core), spec)
            meta = MetaFeatures.from_dict(payload["datasets"][row]["meta_features"])
            print(f"{core} seed {seed} at level {level:g}: meta-trained in {time.perf_counter() - start:.0f} s; "
                  f"top-{args.k} {ids}", flush=True)
            for budget in budgets:
                if measured(name, args.name, budget, seed):  # a run stopped between two budgets
                    continue

                def factory(configs, budget=budget, predictor=predictor, meta=meta):
                    return live_predict(predictor, meta, budget, configs, budget, args.objective)

                done = run_both(split, [{"pipeline_id": i, "config": config_of[i]} for i in ids],
                                Budget(budget, clock), settings, factory, seed, costs,
                                not measured(name, "zero-shot", budget, seed), args.name)
                runs.extend({"dataset": name, "core": core, "budget": budget, "level": level, "clock": clock,
                             "seed": seed, "strategy": strategy,
                             "alc": result.alc, "final_nauc": result.final_nauc, "accuracy": result.accuracy,
                             "candidates": ids, "settings": settings.to_dict()} | extra
                            for strategy, result, extra in done)
                atomic_write_json(args.json, {"artifact": args.artifact, "k": args.k, "objective": args.objective,
                                              "runs": runs})
    print_table(runs)


def print_table(runs: list[dict]) -> None:
    """Each strategy against zero-shot per budget and measure, paired on the same dataset and seed; a dataset's
    seeds are averaged first, so the unit of the interval and the Wilcoxon p is the held-out core."""
    print(f"\n{'budget':>6} {'strategy':14} {'measure':10} {'zero-shot':>9} {'it':>7} {'diff':>7} "
          f"{'95 % CI':>17} {'ahead':>6} {'p':>6}")
    for budget in sorted({r["budget"] for r in runs}):
        for strategy in sorted({r["strategy"] for r in runs} - {"zero-shot"}):
            for measure in ("alc", "final_nauc"):
                pairs: dict[tuple, dict] = {}
                for r in runs:
                    if r["budget"] == budget and r["strategy"] in ("zero-shot", strategy):
                        pairs.setdefault((r["dataset"], r.get("seed", 0)), {})[r["strategy"]] = r[measure]
                per_dataset: dict[str, list[tuple[float, float]]] = {}
                for (dataset, _), pair in pairs.items():
                    if len(pair) == 2:
                        per_dataset.setdefault(dataset, []).append((pair["zero-shot"], pair[strategy]))
                if not per_dataset:
                    continue
                means = np.array([np.mean(v, axis=0) for v in per_dataset.values()])
                zero, it = means[:, 0], means[:, 1]
                diff = it - zero
                low, high = bootstrap_ci(diff, 0, 2000)
                p = wilcoxon_p(diff)
                print(f"{budget:6g} {strategy:14} {measure:10} {zero.mean():9.3f} {it.mean():7.3f} {diff.mean():+7.3f} "
                      f"[{low:+.3f}, {high:+.3f}] {int((diff > 0).sum())}/{len(diff):<4} "
                      f"{'-' if p is None else f'{p:.2f}':>6}")

if __name__ == "__main__":
    main()

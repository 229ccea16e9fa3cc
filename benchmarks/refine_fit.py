"""Refine against zero-shot in real runs on held-out cores: the replay study's check on real fine-tuning.

For each held-out core (its last variant in the artifact, not the one HPO ran on), the ranker and the
curve predictor are meta-trained without the core (`zap.benchmark.strategies.fit_fold`, as in the replay
study); then zero-shot (the pick for the whole budget) and refine (the top-k under the given settings) are
run for real on the core's data at each budget, on the artifact's clock with one thread, and both are
also replayed from the stored curves where the budget is the artifact's level. Every run is appended to
`--json` as it ends; a rerun resumes.

    python benchmarks/refine_fit.py --cores digits-opencv chars-greek emoji-group textures --budgets 20 60 \\
        --json docs/data/refine_fit_v1.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from zap.benchmark.stats import wilcoxon_p
from zap.benchmark.strategies import ReplayStudy, fit_fold
from zap.data.augment import VariantSpec, materialize
from zap.data.core import load_core
from zap.finetune import Budget, run
from zap.metadataset.artifact import load
from zap.metadataset.problem import SelectionProblem
from zap.metafeatures import MetaFeatures
from zap.strategies.live import live_predict, refine_fit
from zap.strategies.policy import RefineSettings
from zap.utils import atomic_write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--cores", nargs="+", required=True)
    parser.add_argument("--budgets", type=float, nargs="+", default=[20.0, 60.0])
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--slice", type=float, default=RefineSettings.slice_share)
    parser.add_argument("--look", type=float, default=RefineSettings.look_share)
    parser.add_argument("--gain", type=float, default=RefineSettings.min_gain)
    parser.add_argument("--name", default="refine", help="the strategy's name in --json (a second settings run "
                                                         "beside the first; zero-shot runs once per budget)")
    parser.add_argument("--objective", default="alc")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    payload = load(Path(args.artifact))
    problem = SelectionProblem.from_artifact(payload)
    clock = payload["protocol"]["clock"]
    specs = {d["name"]: d for d in payload["protocol"]["datasets"]}
    config_of = {c["id"]: c["config"] for c in payload["candidates"]}
    runs = json.loads(args.json.read_text())["runs"] if args.json.exists() else []
    settings = RefineSettings(k=args.k, slice_share=args.slice, look_share=args.look, min_gain=args.gain,
                              objective=args.objective)
    for core in args.cores:
        row = int(np.flatnonzero(problem.cores == core)[-1])
        name = problem.dataset_ids[row]
        def measured(strategy: str, budget: float, name: str = name) -> bool:
            return any(r["dataset"] == name and r["budget"] == budget and r["strategy"] == strategy for r in runs)

        if all(measured(args.name, b) for b in args.budgets):
            continue
        start = time.perf_counter()
        rankers, predictor, pool = fit_fold(payload, problem, ReplayStudy(seed=args.seed), problem.cores != core,
                                            (args.objective,))
        ranking = rankers[args.objective].rank(problem.meta_features[row:row + 1])[0]
        ids = [problem.candidate_ids[int(pool[j])] for j, _ in ranking.top(args.k)]
        candidates = [{"pipeline_id": i, "config": config_of[i]} for i in ids]
        spec = VariantSpec.from_dict(specs[name])
        split = materialize(load_core(spec.core), spec)
        meta = MetaFeatures.from_dict(payload["datasets"][row]["meta_features"])
        print(f"{core}: meta-trained in {time.perf_counter() - start:.0f} s; top-{args.k} {ids}", flush=True)
        for budget in args.budgets:
            def factory(configs, budget=budget, predictor=predictor, meta=meta):
                return live_predict(predictor, meta, budget, configs, budget, args.objective)

            done = []
            if not measured("zero-shot", budget):
                done.append(("zero-shot", run(split.train, split.test, candidates[0]["config"], Budget(budget, clock),
                                              seed=args.seed, threads=1, device="cpu"), {}))
            refined = refine_fit(split.train, split.test, candidates, Budget(budget, clock), settings, factory,
                                 seed=args.seed, threads=1, device="cpu")
            done.append((args.name, refined.result, {"refine": refined.summary()}))
            for strategy, result, extra in done:
                runs.append({"dataset": name, "core": core, "budget": budget, "strategy": strategy,
                             "alc": result.alc, "final_nauc": result.final_nauc, "accuracy": result.accuracy,
                             "candidates": ids, "settings": settings.to_dict()} | extra)
            atomic_write_json(args.json, {"artifact": args.artifact, "clock": clock, "k": args.k,
                                          "objective": args.objective, "runs": runs})
            print(f"  {budget:g} {clock}-s: {args.name} ALC {refined.result.alc:.3f} final "
                  f"{refined.result.final_nauc:.3f} ({refined.trace.reason}; committed #{refined.trace.committed})",
                  flush=True)
    print_table(runs)


def print_table(runs: list[dict]) -> None:
    """Each strategy against zero-shot, paired over datasets, per budget and measure."""
    print(f"\n{'budget':>6} {'strategy':14} {'measure':10} {'zero-shot':>9} {'it':>7} {'diff':>7} "
          f"{'ahead':>6} {'p':>6}")
    for budget in sorted({r["budget"] for r in runs}):
        for strategy in sorted({r["strategy"] for r in runs} - {"zero-shot"}):
            for measure in ("alc", "final_nauc"):
                pairs = {}
                for r in runs:
                    if r["budget"] == budget and r["strategy"] in ("zero-shot", strategy):
                        pairs.setdefault(r["dataset"], {})[r["strategy"]] = r[measure]
                both = [p for p in pairs.values() if len(p) == 2]
                if not both:
                    continue
                zero, it = np.array([p["zero-shot"] for p in both]), np.array([p[strategy] for p in both])
                diff = it - zero
                p = wilcoxon_p(diff)
                print(f"{budget:6g} {strategy:14} {measure:10} {zero.mean():9.3f} {it.mean():7.3f} {diff.mean():+7.3f} "
                      f"{int((diff > 0).sum())}/{len(diff):<4} {'-' if p is None else f'{p:.2f}':>6}")


if __name__ == "__main__":
    main()

"""Zero-shot selection in the user's regime: real fine-tuning at a wall-clock budget on held-out datasets.

For each held-out core (leave-one-core-out), the selectors are meta-trained on the other cores of the
meta-dataset artifact; each picks a pipeline for one variant of the held-out core from its meta-features
alone; the pick is then fine-tuned for real, at `--budget` wall-clock seconds on `--threads` threads (as
`zap fit` does), against `recommended` and `autodl-default`, for several seeds. Run it on an idle
machine: wall-clock budgets measured under other load are noise.

    python benchmarks/zero_shot_fit.py --cores digits-opencv chars-greek emoji-group icons-adwaita shapes \\
        --budget 60 --seeds 0 1 2 --json docs/data/zero_shot_fit.json
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np

from zap.benchmark.loco import tuned_as_config
from zap.benchmark.stats import wilcoxon_p
from zap.data.augment import VariantSpec, materialize
from zap.data.core import load_core
from zap.finetune import Budget, quick, run
from zap.metadataset.artifact import load
from zap.metadataset.problem import SelectionProblem
from zap.pipelines import get_config, pipeline_id
from zap.selectors import create_selector
from zap.utils import atomic_write_json


def pick(problem: SelectionProblem, core: str, dataset: int, selector: str, seed: int,
         as_config: dict | None = None) -> int:
    train = (problem.cores != core) & problem.measured_rows()
    # only ZAP-AS takes a stored configuration (or tunes); the registry refuses to change another name's own
    tuned = {"config": as_config, "tune": as_config is None} if selector == "zap-as" else {}
    model = create_selector(selector, seed=seed, **tuned)
    model.fit(problem.meta_features[train], problem.encodings, problem.alc[train], problem.cores[train])
    return int(model.select(problem.meta_features[dataset][None, :])[0])


def load_runs(path: str | None) -> list[dict]:
    """Runs already measured by an interrupted invocation (the `--json` file is rewritten after each run)."""
    if path and Path(path).exists():
        return json.loads(Path(path).read_text())["runs"]
    return []


def save_runs(path: str | None, budget: float, threads: int, runs: list[dict]) -> None:
    if path:
        atomic_write_json(path, {"budget": budget, "threads": threads, "runs": runs})


def measure(runs: list[dict], name: str, method: str, config: dict, seed: int, split, args) -> dict:
    """One real run, unless this dataset, pipeline and seed already ran (an earlier invocation, or another
    method that picked the same pipeline): the same run then counts for both."""
    pid = pipeline_id(config)
    done = next((r for r in runs if (r["dataset"], r["pipeline_id"], r["seed"]) == (name, pid, seed)), None)
    if done is None:
        result = run(split.train, split.test, config, Budget(args.budget, "wall"), seed=seed,
                     threads=args.threads, device="cpu")
        done = {"dataset": name, "pipeline_id": pid, "seed": seed, "alc": result.alc, "accuracy": result.accuracy,
                "status": result.status, "steps": result.elapsed["steps"],
                "answered_by": "cnn" if result.quick_model is None else quick.ANSWERED_BY}
    return done | {"method": method}


def print_table(runs: list[dict]) -> None:
    methods = list(dict.fromkeys(r["method"] for r in runs))
    datasets = list(dict.fromkeys(r["dataset"] for r in runs))
    print(f"\n{'dataset':28s} " + " ".join(f"{m:>15s}" for m in methods))
    means = {m: [] for m in methods}
    for name in datasets:
        cells = []
        for method in methods:
            alcs = [r["alc"] for r in runs if r["dataset"] == name and r["method"] == method]
            means[method].append(statistics.mean(alcs))
            cells.append(f"{statistics.mean(alcs):.3f}±{statistics.pstdev(alcs):.3f}")
        print(f"{name:28s} " + " ".join(f"{c:>15s}" for c in cells))
    print(f"{'mean over datasets':28s} " + " ".join(f"{statistics.mean(v):15.3f}" for v in means.values()))
    best = {m: sum(v[i] >= max(w[i] for w in means.values()) for i in range(len(datasets)))
            for m, v in means.items()}
    print(f"{'datasets won (ties count)':28s} " + " ".join(f"{best[m]:15d}" for m in methods))
    print_paired(means, reference="recommended")


def print_paired(means: dict[str, list[float]], reference: str) -> None:
    """Each method against `reference`, paired over datasets (the unit: a dataset's seeds are averaged
    first): mean difference, datasets where it is ahead, and the Wilcoxon signed-rank p-value."""
    if reference not in means:
        return
    print(f"\npaired over datasets against {reference}:")
    for method, values in means.items():
        if method == reference:
            continue
        diff = np.asarray(values) - np.asarray(means[reference])
        p = wilcoxon_p(diff)
        print(f"  {method:15s} mean diff {diff.mean():+.3f}   ahead on {int((diff > 0).sum())}/{len(diff)}   "
              f"Wilcoxon p {'–' if p is None else f'{p:.2f}'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--cores", nargs="+", required=True, help="held-out cores (one variant each)")
    parser.add_argument("--selectors", nargs="+", default=["zap-hpo", "zap-as"])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", help="write every run here after each one; a rerun resumes from it")
    parser.add_argument("--benchmark-out", default="runs/benchmark",
                        help="`zap benchmark --out` folder whose loco folds' tuned ZAP-AS configurations are reused")
    args = parser.parse_args()
    payload = load(Path(args.artifact))
    problem = SelectionProblem.from_artifact(payload)
    specs = {d["name"]: d for d in payload["protocol"]["datasets"]}
    config_of = {c["id"]: c["config"] for c in payload["candidates"]}
    runs = load_runs(args.json)
    for core in args.cores:
        dataset = int(np.flatnonzero(problem.cores == core)[-1])  # the last variant: not the one HPO ran on
        name = problem.dataset_ids[dataset]
        spec = VariantSpec.from_dict(specs[name])
        split = materialize(load_core(spec.core), spec)
        as_config = tuned_as_config(args.benchmark_out, "loco", core) if args.benchmark_out else None
        configs = {s: config_of[problem.candidate_ids[pick(problem, core, dataset, s, 0, as_config)]]
                   for s in args.selectors}
        configs |= {name: dict(get_config(name)) for name in ("recommended", "autodl-default")}
        for method, config in configs.items():
            for seed in args.seeds:
                if any((r["dataset"], r["method"], r["seed"]) == (name, method, seed) for r in runs):
                    continue
                runs.append(measure(runs, name, method, config, seed, split, args))
                save_runs(args.json, args.budget, args.threads, runs)
                r = runs[-1]
                print(f"{name:28s} {method:15s} seed {seed}: ALC {r['alc']:.3f} acc {r['accuracy']:.3f} "
                      f"({r['pipeline_id']})", flush=True)
    print_table(runs)


if __name__ == "__main__":
    main()

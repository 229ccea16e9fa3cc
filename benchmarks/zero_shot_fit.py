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

from zap.benchmark.problem import SelectionProblem
from zap.data.augment import VariantSpec, materialize
from zap.data.core import load_core
from zap.finetune import Budget, run
from zap.metadataset.artifact import load
from zap.pipelines import get_config
from zap.selectors import SingleBest, ZapAS, ZapHPO


def pick(problem: SelectionProblem, core: str, dataset: int, selector: str, seed: int) -> int:
    train = (problem.cores != core) & problem.measured_rows()
    model = {"zap-hpo": lambda: ZapHPO(seed=seed), "zap-as": lambda: ZapAS(tune=True, n_trials=50, seed=seed),
             "single-best": SingleBest}[selector]()
    model.fit(problem.meta_features[train], problem.encodings, problem.alc[train], problem.cores[train])
    return int(model.select(problem.meta_features[dataset][None, :])[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--artifact", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--cores", nargs="+", required=True, help="held-out cores (one variant each)")
    parser.add_argument("--selectors", nargs="+", default=["zap-hpo", "zap-as"])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    payload = load(Path(args.artifact))
    problem = SelectionProblem.from_artifact(payload)
    specs = {d["name"]: d for d in payload["protocol"]["datasets"]}
    runs = []
    for core in args.cores:
        dataset = int(np.flatnonzero(problem.cores == core)[-1])  # the last variant: not the one HPO ran on
        name = problem.dataset_ids[dataset]
        spec = VariantSpec.from_dict(specs[name])
        split = materialize(load_core(spec.core), spec)
        methods = {s: problem.candidate_ids[pick(problem, core, dataset, s, 0)] for s in args.selectors}
        config_of = {c["id"]: c["config"] for c in payload["candidates"]}
        configs = {m: config_of[pid] for m, pid in methods.items()}
        configs |= {name: dict(get_config(name)) for name in ("recommended", "autodl-default")}
        for method, config in configs.items():
            for seed in args.seeds:
                result = run(split.train, split.test, config, Budget(args.budget, "wall"), seed=seed,
                             threads=args.threads, device="cpu")
                runs.append({"dataset": name, "method": method, "pipeline_id": result.pipeline_id, "seed": seed,
                             "alc": result.alc, "accuracy": result.accuracy, "status": result.status})
                print(f"{name:28s} {method:15s} seed {seed}: ALC {result.alc:.3f} acc {result.accuracy:.3f}",
                      flush=True)
    print(f"\n{'dataset':28s} " + " ".join(f"{m:>15s}" for m in dict.fromkeys(r["method"] for r in runs)))
    for name in dict.fromkeys(r["dataset"] for r in runs):
        cells = []
        for method in dict.fromkeys(r["method"] for r in runs):
            alcs = [r["alc"] for r in runs if r["dataset"] == name and r["method"] == method]
            cells.append(f"{statistics.mean(alcs):.3f}±{statistics.pstdev(alcs):.3f}")
        print(f"{name:28s} " + " ".join(f"{c:>15s}" for c in cells))
    if args.json:
        Path(args.json).write_text(json.dumps({"budget": args.budget, "threads": args.threads, "runs": runs},
                                              indent=1) + "\n")


if __name__ == "__main__":
    main()

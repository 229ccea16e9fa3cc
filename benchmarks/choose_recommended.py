"""Measure a few hand-picked candidate pipelines to choose the `recommended` named configuration.

Runs each candidate on the bundled digits with the given budget and clock, several seeds, one
torch thread per process, and prints mean ALC / final accuracy. `recommended.json` records the pick.

    python benchmarks/choose_recommended.py --clock cpu --budget 20 --seeds 0 1 --jobs 2
"""

from __future__ import annotations

import argparse

import numpy as np

from common import measure_all, save_rows

CANDIDATES: dict[str, dict] = {
    "mnv2-adam-32-cosine": dict(architecture="mobilenetv2", optimizer="Adam", lr=1e-3, log2_max_size=5,
                                scheduler="cosine", warmup_multiplier=1.0, augmentation="crop"),
    "mnv2-adam-64-cosine": dict(architecture="mobilenetv2", optimizer="Adam", lr=1e-3, log2_max_size=6,
                                scheduler="cosine", warmup_multiplier=1.0, augmentation="crop"),
    "mnv2-adamw-32-3e-3": dict(architecture="mobilenetv2", optimizer="AdamW", lr=3e-3, wd=1e-3,
                               log2_max_size=5, scheduler="cosine", warmup_multiplier=1.0, augmentation="crop"),
    "mnv2-sgd-32-0.01": dict(architecture="mobilenetv2", optimizer="SGD", lr=0.01, log2_max_size=5,
                             scheduler="cosine", warmup_multiplier=1.0, augmentation="crop"),
    "lite0-adam-32-cosine": dict(architecture="efficientnet_lite0", optimizer="Adam", lr=1e-3, log2_max_size=5,
                                 scheduler="cosine", warmup_multiplier=1.0, augmentation="crop"),
    "mnv2-adam-32-simple-lr": dict(architecture="mobilenetv2", optimizer="Adam", lr=1e-3, log2_max_size=5,
                                   scheduler="cosine", warmup_multiplier=1.0, augmentation="crop",
                                   first_simple_model=True, simple_model="LR"),
    "mnv2-adamw-32-simple-lr": dict(architecture="mobilenetv2", optimizer="AdamW", lr=3e-3, wd=1e-3,
                                    log2_max_size=5, scheduler="cosine", warmup_multiplier=1.0,
                                    augmentation="crop", first_simple_model=True, simple_model="LR"),
    "recommended": {},
    "autodl-default": {},
}
EVAL_KNOBS = dict(eval_first_frac=0.02, eval_gap_step_frac=0.02, eval_gap_max_frac=0.1, steps_per_epoch=20,
                  warm_up_epoch=3)


def measure(args: tuple[str, str, float, int, str]) -> dict:
    name, clock, budget, seed, data = args
    from zap.data import load_dataset, train_test_split
    from zap.finetune import Budget, run
    from zap.pipelines import get_config

    split = train_test_split(load_dataset(data))
    named = name in ("autodl-default", "recommended")
    config = dict(get_config(name)) if named else EVAL_KNOBS | CANDIDATES[name]
    result = run(split.train, split.test, config, Budget(budget, clock), seed=seed, threads=1)
    return {"name": name, "seed": seed, "alc": result.alc, "accuracy": result.accuracy,
            "steps": result.elapsed["steps"], "elapsed": result.elapsed[f"{clock}_s"] if clock != "steps" else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clock", default="cpu", choices=["cpu", "wall"])
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--data", default="digits")
    parser.add_argument("--only", nargs="+", help="measure only these candidates")
    parser.add_argument("--json", help="write all measurements here")
    args = parser.parse_args()
    names = args.only or list(CANDIDATES)
    tasks = [(n, args.clock, args.budget, s, args.data) for n in names for s in args.seeds]
    rows = measure_all(measure, tasks, args.jobs)
    print(f"{'candidate':28s} {'ALC':>7s} {'acc':>7s} {'steps':>6s}   ({args.clock} budget {args.budget:g} s, "
          f"seeds {args.seeds}, data {args.data})")
    for name in names:
        mine = [r for r in rows if r["name"] == name]
        print(f"{name:28s} {np.mean([r['alc'] for r in mine]):7.3f} {np.mean([r['accuracy'] for r in mine]):7.3f}"
              f" {np.mean([r['steps'] for r in mine]):6.0f}")
    save_rows(rows, args.json)


if __name__ == "__main__":
    main()

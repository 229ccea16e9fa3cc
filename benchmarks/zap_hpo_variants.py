"""ZAP-HPO design choices, compared under leave-one-core-out on a meta-dataset artifact.

Each variant is ZapHPO with some options changed. Every variant is fitted once per held-out group and
seed, in this process on one thread. Single-best is learned on the same training cores. Figures are
per core: a core's variants are averaged first, as in `zap benchmark`. Seeds average out the
MLP's own noise, which is as large as some of the differences between variants.

    python benchmarks/zap_hpo_variants.py artifacts/metadataset/v1.json.gz --seeds 0 1 2 \\
        --variant paper --variant log:meta_transform=log --variant prior1:prior=1.0
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from zap.benchmark.loco import held_out_mask, outer_folds
from zap.benchmark.stats import core_means, gap_closed, markdown_table
from zap.metadataset.problem import SelectionProblem
from zap.selectors import SingleBest
from zap.selectors.zap_hpo import ZapHPO

DEFAULT_VARIANTS = ("paper", "log:meta_transform=log", "delta:pair_weight=delta", "prior1:prior=1.0",
                    "regret:select_by=regret", "log-delta-prior1:meta_transform=log,pair_weight=delta,prior=1.0")


def parse_variant(text: str) -> tuple[str, dict]:
    """'name:key=value,key=value' -> (name, options); values are read as numbers where they are."""
    name, _, spec = text.partition(":")
    options = {}
    for item in filter(None, spec.split(",")):
        key, _, value = item.partition("=")
        try:
            options[key] = float(value) if "." in value or "e" in value else int(value)
        except ValueError:
            options[key] = value
    return name, options


def picks_alc(problem: SelectionProblem, selector, train: SelectionProblem, rows: np.ndarray) -> np.ndarray:
    selector.fit(train.meta_features, train.encodings, train.alc, train.cores)
    picks = selector.select(problem.meta_features[rows])
    return problem.alc[rows, picks]


def evaluate(problem: SelectionProblem, protocol: str, variants: dict[str, dict], seeds: list[int],
             epochs: int) -> tuple[np.ndarray, dict[str, np.ndarray], dict[str, float]]:
    """Per dataset (held out once): ALC of Oracle, Single-best and every variant (mean over seeds)."""
    complete = problem.complete_rows()
    rows_all: list[int] = []
    results: dict[str, list] = {"oracle": [], "single-best": [], **{v: [] for v in variants}}
    seconds = dict.fromkeys(variants, 0.0)
    for group in outer_folds(problem, protocol):
        test = held_out_mask(problem, protocol, group)
        train, rows = problem.subset(~test & problem.measured_rows()), np.flatnonzero(test & complete)
        rows_all.extend(rows)
        results["oracle"].extend(np.nanmax(problem.alc[rows], axis=1))
        results["single-best"].extend(picks_alc(problem, SingleBest(), train, rows))
        for name, options in variants.items():
            start = time.perf_counter()
            per_seed = [picks_alc(problem, ZapHPO(seed=s, max_epochs=epochs, **options), train, rows) for s in seeds]
            seconds[name] += time.perf_counter() - start
            results[name].extend(np.mean(per_seed, axis=0))
    return np.array(rows_all), {k: np.array(v) for k, v in results.items()}, seconds


def table(problem: SelectionProblem, rows: np.ndarray, results: dict[str, np.ndarray], seconds: dict) -> str:
    cores = problem.cores[rows].tolist()
    names = core_means(results["oracle"], cores)[0]
    per_core = {k: core_means(v, cores)[1] for k, v in results.items()}
    oracle, best = per_core["oracle"].mean(), per_core["single-best"].mean()
    lines = []
    for name, values in per_core.items():
        gap = gap_closed(best, oracle, values.mean())
        beats = float((values > per_core["single-best"] + 1e-9).mean())
        worst = names[int(np.argmin(values - per_core["oracle"]))]
        lines.append([name, values.mean(), gap, beats, worst, seconds.get(name, 0.0)])
    return markdown_table(["method", "ALC (cores)", "gap closed", "beats SB", "worst core vs oracle", "fit s"], lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact")
    parser.add_argument("--protocol", default="loco", choices=["loco", "lodo"])
    parser.add_argument("--variant", action="append", help="name:key=value,... (default: a built-in set)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, default=80)
    args = parser.parse_args()
    variants = dict(parse_variant(v) for v in (args.variant or DEFAULT_VARIANTS))
    problem = SelectionProblem.load(args.artifact)
    rows, results, seconds = evaluate(problem, args.protocol, variants, args.seeds, args.epochs)
    print(f"{args.protocol}: {len(rows)} complete datasets over {len(set(problem.cores[rows]))} cores, "
          f"seeds {args.seeds}")
    print(table(problem, rows, results, seconds))


if __name__ == "__main__":
    main()

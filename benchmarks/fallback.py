"""With and without the fallback to Single-best (`zap.selectors.fallback`), from a benchmark's fold files.

The rule needs no retraining: it reads the fold's picks (ZAP-HPO's, every repetition, and Single-best's)
and the artifact, rebuilds the rule from each fold's training datasets only, and scores the resulting
picks on the held-out datasets. Variants: plain ZAP-HPO, the range criterion alone, the margin criterion
alone, and both (the rule `zap fit` applies). Per variant: the mean over cores (repetitions averaged),
the gap closed between Single-best (0) and the Oracle (1) on those core means, how often it fell back, and
the paired core-level difference from plain ZAP-HPO with a bootstrap 95 % interval and the Wilcoxon p.

    python benchmarks/fallback.py --folds docs/data/benchmark_v1/folds --json docs/data/fallback_v1.json
    python benchmarks/fallback.py --artifact artifacts/metadataset/v2.json.gz --folds docs/data/benchmark_v2/folds \
        --objective alc --level 60

Fold files of both layouts are read: v1's one-level `PROTOCOL--CORE.json`, and the budget-level
`PROTOCOL--OBJECTIVE--CORE.json` that `zap benchmark` writes now (`--level`: which level; default the lowest).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from zap.benchmark.loco import level_folds, level_keys
from zap.benchmark.stats import bootstrap_ci, core_means, gap_closed, wilcoxon_p
from zap.metadataset.problem import SelectionProblem
from zap.selectors.fallback import LevelRule
from zap.utils import atomic_write_json

VARIANTS = ("zap-hpo", "range only", "margin only", "fallback (both)")


def decide(rule: LevelRule, x: np.ndarray, pick: str, variant: str) -> bool:
    if variant == "zap-hpo" or pick == rule.single_best:
        return False
    decision = rule.decide(x, pick)
    outside = "outside the range" in decision.reason
    return {"range only": outside, "margin only": decision.fall_back and not outside,
            "fallback (both)": decision.fall_back}[variant]


def read_folds(folder: Path, protocol: str, objective: str, level: float | None) -> tuple[list[dict], float | None]:
    """One level's flat folds (each with its datasets, cores and methods) and that level's budget; v1's
    one-level folds are flat already and hold the ALC objective only."""
    paths = sorted(folder.glob(f"{protocol}--{objective}--*.json"))
    if not paths:  # v1's layout: one level, one objective
        if objective != "alc" or level is not None:
            raise SystemExit(f"{folder} holds no {protocol}--{objective}--*.json fold files (v1's one-level folds "
                             "have the alc objective and no --level)")
        flat = [json.loads(p.read_text()) for p in sorted(folder.glob(f"{protocol}--*.json"))]
        return [f for f in flat if "levels" not in f], None  # another objective's level folds are not v1's
    raw = [json.loads(p.read_text()) for p in paths]
    keys = level_keys(raw)
    key = keys[0] if level is None else f"{level:g}"
    if key not in keys:
        raise SystemExit(f"the folds in {folder} hold levels {', '.join(keys)} s, not {key}")
    return level_folds(raw, key), float(key)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--folds", type=Path, default=Path("docs/data/benchmark_v1/folds"))
    parser.add_argument("--protocol", default="loco")
    parser.add_argument("--objective", default="alc")
    parser.add_argument("--level", type=float, help="the budget level of budget-level folds (default: the lowest)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    folds, level = read_folds(args.folds, args.protocol, args.objective, args.level)
    problem = SelectionProblem.load(args.artifact, budget=level, objective=args.objective)
    index = {d: i for i, d in enumerate(problem.dataset_ids)}
    column = {c: j for j, c in enumerate(problem.candidate_ids)}
    scores = {v: [] for v in (*VARIANTS, "single-best", "oracle")}
    fell = {v: 0 for v in VARIANTS}
    datasets, n_picks = [], 0
    for fold in folds:
        methods = fold["methods"]
        train = ~np.isin(problem.cores, fold["cores"] if "cores" in fold else [fold["group"]])
        rule = LevelRule.of(problem, train & problem.measured_rows())
        for n, name in enumerate(fold["datasets"]):
            i = index[name]
            datasets.append(i)
            for variant in VARIANTS:
                picks = [rep["picks"][n] for rep in methods["zap-hpo"]]
                chosen = []
                for pick in picks:
                    back = decide(rule, problem.meta_features[i], pick, variant)
                    fell[variant] += back
                    chosen.append(rule.single_best if back else pick)
                scores[variant].append(np.mean([problem.perf[i, column[c]] for c in chosen]))
            n_picks += len(methods["zap-hpo"])
            scores["single-best"].append(problem.perf[i, column[rule.single_best]])
            scores["oracle"].append(np.nanmax(problem.perf[i]))
    cores = problem.cores[datasets]
    means = {v: core_means(np.array(s), cores)[1] for v, s in scores.items()}
    sb, oracle = means["single-best"].mean(), means["oracle"].mean()
    rows = []
    for variant in VARIANTS:
        diff = means[variant] - means["zap-hpo"]
        rows.append({"variant": variant, "score": float(means[variant].mean()),
                     "gap_closed": gap_closed(sb, oracle, float(means[variant].mean())),
                     "beats_single_best": float(np.mean(means[variant] > means["single-best"])),
                     "fell_back": fell[variant] / n_picks, "diff_vs_zap_hpo": float(diff.mean()),
                     "diff_ci": bootstrap_ci(diff),
                     "wilcoxon_p": wilcoxon_p(diff)})
    print(f"{args.protocol}, {args.objective}: Single-best {sb:.4f}, Oracle {oracle:.4f}, {len(means['oracle'])} cores")
    print(f"{'variant':17} {'score':>7} {'gap':>6} {'>SB':>5} {'fell back':>9} {'diff':>8} {'95% CI':>19} {'p':>6}")
    for r in rows:
        gap = "-" if r["gap_closed"] is None else f"{r['gap_closed']:.3f}"
        p = "-" if r["wilcoxon_p"] is None else f"{r['wilcoxon_p']:.3f}"
        print(f"{r['variant']:17} {r['score']:7.4f} {gap:>6} {r['beats_single_best']:5.2f} {r['fell_back']:9.2f} "
              f"{r['diff_vs_zap_hpo']:+8.4f} [{r['diff_ci'][0]:+.4f},{r['diff_ci'][1]:+.4f}] {p:>6}")
    if args.json:
        atomic_write_json(args.json, {"artifact": args.artifact, "folds": str(args.folds), "protocol": args.protocol,
                                      "objective": args.objective, "single_best": sb, "oracle": oracle, "rows": rows})


if __name__ == "__main__":
    main()

"""A multi-level plan's levels compared from its records while it is still being built.

v1's matrix mostly measured which quick sklearn model answered first (65 % of its cells at 20 CPU-s).
This prints, for each level of a multi-level plan, the share of first-seed cells whose standing
prediction at T came from the CNN; for every (dataset, pipeline) measured at two levels, how much ALC
and final NAUC the longer budget adds; and whether the two levels rank the shared candidates alike,
which is what decides how much a budget-aware selector can gain over one that ignores the budget; and
the in-sample Oracle-Single-best gap of each level on the datasets every level holds complete, which is
what any selector can close. It reads the records only (no export needed).

    python benchmarks/level_interim.py --plan metadataset/v2 [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter, defaultdict
from itertools import combinations
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from zap.errors import ArtifactError
from zap.finetune import quick
from zap.metadataset.artifact import answered_by
from zap.metadataset.plan import Plan, load_plan
from zap.utils import atomic_write_json


def cells_by_level(plan: Plan, seed: int) -> dict[float, dict[tuple[str, str], dict]]:
    """Each measured cell of the plan's runner (its store keeps only those), by budget level."""
    levels: dict[float, dict[tuple[str, str], dict]] = {}
    for key, record in plan.store.records.items():
        if record.get("status") == "ok" and key.seed == seed:
            levels.setdefault(key.budget, {})[key.dataset, key.pipeline] = record
    return levels


def answered_share(cells: dict, budget: float) -> dict:
    counts = Counter(str(answered_by(record, record["clock"], budget)) for record in cells.values())
    return {"cells": len(cells), **counts, "cnn_share": counts["cnn"] / max(1, len(cells))}


def gain(low: dict, high: dict) -> dict | None:
    """Median change from the lower level to the higher on the cells both hold."""
    shared = [key for key in high if key in low]
    if not shared:
        return None
    return {"cells": len(shared), **{f"median_{measure}_gain": statistics.median(
        high[key][measure] - low[key][measure] for key in shared) for measure in ("alc", "final_nauc")}}


def rank_agreement(low: dict, high: dict, measure: str, min_shared: int = 6) -> dict | None:
    """Per dataset with at least `min_shared` candidates at both levels: Spearman's rho between the levels,
    whether the lower level's best is the higher level's best, and what picking it costs at the higher."""
    shared = defaultdict(list)
    for dataset, pipeline in high:
        if (dataset, pipeline) in low:
            shared[dataset].append(pipeline)
    rhos, same, regrets = [], 0, []
    for dataset, pipelines in sorted(shared.items()):
        if len(pipelines) < min_shared:
            continue
        at_low = np.array([low[dataset, p][measure] for p in pipelines])
        at_high = np.array([high[dataset, p][measure] for p in pipelines])
        rhos.append(float(spearmanr(at_low, at_high).statistic))
        same += int(np.argmax(at_low) == np.argmax(at_high))
        regrets.append(float(at_high.max() - at_high[np.argmax(at_low)]))
    if not rhos:
        return None
    return {"datasets": len(rhos), "median_rho": float(np.median(rhos)), "same_best": same,
            "mean_regret": float(np.mean(regrets))}


def oracle_gap(levels: dict[float, dict], candidates: dict[float, list[str]], measure: str) -> dict | None:
    """Per level that holds records, the mean Oracle, the Single-best (chosen on these same datasets, so
    in-sample) and their gap, over the datasets whose cells are all measured at every such level."""
    candidates = {budget: ids for budget, ids in candidates.items() if levels.get(budget)}
    complete = None
    for budget, ids in candidates.items():
        measured = {d for d in {d for d, _ in levels[budget]}
                    if all((d, p) in levels[budget] for p in ids)}
        complete = measured if complete is None else complete & measured
    if not complete:
        return None
    datasets = sorted(complete)
    rows = {}
    for budget, ids in candidates.items():
        scores = np.array([[levels[budget][d, p][measure] for p in ids] for d in datasets])
        oracle, single_best = scores.max(axis=1).mean(), scores.mean(axis=0).max()
        rows[f"{budget:g}"] = {"candidates": len(ids), "oracle": float(oracle), "single_best": float(single_best),
                               "gap": float(oracle - single_best)}
    return {"datasets": len(datasets), "levels": rows}


def level_candidates(plan: Plan) -> dict[float, list[str]]:
    return {budget: [c["pipeline_id"] for c in plan.candidates_at(budget)] for budget in plan.levels}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, required=True, help="a plan folder (holds records/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    try:
        plan = load_plan(args.plan)
    except ArtifactError as error:
        parser.error(str(error))
    levels = cells_by_level(plan, args.seed)
    report = {"answered_by": {f"{b:g}": answered_share(cells, b) for b, cells in sorted(levels.items())},
              "gain": {f"{lo:g}->{hi:g}": gain(levels[lo], levels[hi])
                       for lo, hi in combinations(sorted(levels), 2)},
              "rank_agreement": {f"{lo:g}->{hi:g}": {m: rank_agreement(levels[lo], levels[hi], m)
                                                     for m in ("alc", "final_nauc")}
                                 for lo, hi in combinations(sorted(levels), 2)},
              "oracle_gap": {m: oracle_gap(levels, level_candidates(plan), m) for m in ("alc", "final_nauc")}}
    print("| level | cells | CNN answers | quick model answers | none |\n|---:|---:|---:|---:|---:|")
    for level, row in report["answered_by"].items():
        quick_answers, no_answer = row.get(quick.ANSWERED_BY, 0), row.get("None", 0)
        print(f"| {level} | {row['cells']} | {row['cnn_share']:.2f} | {quick_answers} | {no_answer} |")
    for pair, row in report["gain"].items():
        if row:
            print(f"{pair}: {row['cells']} shared cells, median ALC gain {row['median_alc_gain']:+.3f}, "
                  f"median final NAUC gain {row['median_final_nauc_gain']:+.3f}")
    for pair, measures in report["rank_agreement"].items():
        for measure, row in measures.items():
            if row:
                print(f"{pair} {measure}: over {row['datasets']} datasets, median Spearman rho "
                      f"{row['median_rho']:.2f}; the same best on {row['same_best']}; the lower level's best "
                      f"costs {row['mean_regret']:.3f} at the higher")
    for measure, row in report["oracle_gap"].items():
        if row:
            print(f"{measure}, over the {row['datasets']} datasets complete at every level: " + "; ".join(
                f"{level} ref-s ({r['candidates']} candidates) Oracle {r['oracle']:.3f}, Single-best "
                f"{r['single_best']:.3f}, gap {r['gap']:.3f}" for level, r in row["levels"].items()))
    if args.json:
        atomic_write_json(args.json, report)


if __name__ == "__main__":
    main()

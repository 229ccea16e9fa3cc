"""The candidates of meta-dataset v2's budget levels, chosen from what the measurements say (idempotent).

    python scripts/v2_candidates.py level20 --plan metadataset/v2
    python scripts/v2_candidates.py level60 --plan metadataset/v2     # once 75 % of level 20 is measured
    python scripts/v2_candidates.py level120 --plan metadataset/v2    # once 75 % of level 60 is measured

- level 20: v1's distinct candidates (near copies at v1's noise floor counted once), the best of them
  without their quick model (v1 lacked CNN-only candidates: in 65 % of v1's cells the quick model
  answered), two with 128-px inputs; the HPO at 20 reference-s on the cores v1 lacked adds its picks
  (`zap metadataset hpo --budget 20 --cores ...`).
- level 60 and 120: the best of the level below by mean rank per core, plus the HPO at that budget.
Prints each level's candidate count.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path

from zap.metadataset.artifact import export, load
from zap.metadataset.levels import best_by_core_rank, carried, distinct_candidates, variant
from zap.metadataset.plan import load_plan
from zap.metadataset.problem import SelectionProblem
from zap.resources import metadataset_artifact
from zap.utils import atomic_write_json

NO_QUICK = 6  # the best distinct v1 candidates that also run without their quick model
LARGE_INPUT = 2  # ... of which also run at 128 px
# architecture x input size cells that no CNN-only candidate covered once level 20's first candidates were
# measured (docs/metadataset.md, "Level-20 gap fill"): the fastest network at the largest input, and v1's
# single-best network at the smallest; each a variant of that architecture's best CNN-only candidate
GAP_FILL = (("mobilenetv2", 7), ("efficientnet_lite0", 5))
FROM_BELOW = {60.0: 8, 120.0: 2}  # the best of the level below that carry over (120: docs/metadataset.md, "Level 120")
LEVEL_SIZE = {60.0: 12, 120.0: 6}  # the minimum number of candidates per level: the carry-over tops up to it
MIN_COMPLETE = 0.75  # share of the level below's datasets measured on every candidate before it carries over
DROPPED = {  # cores that fail v2's calibration rule (docs/datasets.md, "The rule on the reference clock")
    "icons-tango": "recommended reaches 0.305 at 60 ref-s, below chance + 0.2 = 0.325 "
                   "(docs/data/difficulty_v2_ref60.json)",
}


def level20(plan, v1_artifact: Path) -> None:
    v1 = SelectionProblem.load(v1_artifact)
    configs = {c["id"]: c["config"] for c in load(v1_artifact)["candidates"]}
    distinct = distinct_candidates(v1)
    plan.add_candidates([configs[i] for i in distinct], "v1-distinct", levels=(20.0,))
    best = best_by_core_rank(v1, NO_QUICK, among=distinct)
    cnn_only = [variant(configs[i], first_simple_model=False) for i in best]
    plan.add_candidates(cnn_only, "v1-no-quick", levels=(20.0,))
    plan.add_candidates([variant(c, log2_max_size=7) for c in cnn_only[:LARGE_INPUT]], "v1-large-input",
                        levels=(20.0,))
    plan.add_candidates(gap_fill(cnn_only), "v2-gap-fill", levels=(20.0,))


def gap_fill(cnn_only: list[dict]) -> list[dict]:
    """Near copies clustered among the quick-model EfficientNets; CNN-only candidates were the distinct ones,
    so the empty architecture x size cells are filled with CNN-only pipelines (best first in `cnn_only`)."""
    fills = []
    for architecture, log2_size in GAP_FILL:
        best = next((c for c in cnn_only if c["architecture"] == architecture), None)
        if best is None:
            raise SystemExit(f"no CNN-only candidate uses {architecture}: GAP_FILL has nothing to vary")
        fills.append(variant(best, log2_max_size=log2_size))
    return fills


def from_below(plan, budget: float, scratch: Path) -> None:
    """The best of the level below carry over, chosen once: the choice is recorded in the plan folder
    (`carried-<budget>.json`), and later runs keep it even as the level below fills further. The level
    below need not be complete, only measured on every candidate for `MIN_COMPLETE` of its datasets over
    every core, so that the next level can start while the last cells of this one are built."""
    below = max(b for b in plan.levels if b < budget)
    record = Path(plan.folder) / f"carried-{budget:g}.json"
    if record.exists():
        print(f"level {budget:g}'s carry-over from level {below:g} was chosen before ({record}): kept")
        return
    export(plan, scratch, seeds=(0, 1))  # the second seed's sample gives the noise floor near copies need
    problem = SelectionProblem.load(scratch, below)
    rows = problem.complete_rows()
    covered, cores = set(problem.cores[rows].tolist()), set(problem.cores.tolist())
    if rows.mean() < MIN_COMPLETE or covered != cores:
        raise SystemExit(f"level {below:g} has every candidate measured on {rows.sum()} of {len(rows)} datasets over "
                         f"{len(covered)} of {len(cores)} cores; the carry-over needs {MIN_COMPLETE:.0%} of them over "
                         "every core: build more of it first")
    configs = {c["pipeline_id"]: c["config"] for c in plan.candidates}
    ranked = best_by_core_rank(problem, len(problem.candidate_ids), among=distinct_candidates(problem))
    best = carried(ranked, {c["pipeline_id"] for c in plan.candidates_at(budget)}, FROM_BELOW[budget],
                   LEVEL_SIZE[budget])
    plan.add_candidates([configs[i] for i in best], f"best-of-{below:g}", levels=(budget,))
    atomic_write_json(record, {"level": budget, "from_level": below, "chosen": best,
                               "rule": "best mean rank per core among the distinct candidates",
                               "complete_datasets": int(rows.sum()), "n_datasets": len(rows),
                               "chosen_at": datetime.now(UTC).isoformat(timespec="seconds")})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("level", choices=["drop", "level20", "level60", "level120"],
                        help="drop: take the cores that fail the calibration rule out of the plan")
    parser.add_argument("--plan", default="metadataset/v2")
    parser.add_argument("--v1", default=str(metadataset_artifact("v1")),
                        help="the v1 artifact (level 20's source)")
    args = parser.parse_args()
    plan = load_plan(Path(args.plan))
    if args.level == "drop":
        present = {d.core for d in plan.protocol.datasets}
        removed = plan.drop_cores({core: why for core, why in DROPPED.items() if core in present})
        print(f"{removed} datasets dropped; {len(plan.protocol.datasets)} in the plan")
    elif args.level == "level20":
        level20(plan, Path(args.v1))
    else:
        from_below(plan, float(args.level.removeprefix("level")), Path(args.plan) / "scratch.json.gz")
    for budget in plan.levels:
        print(f"level {budget:g}: {len(plan.candidates_at(budget))} candidates")


if __name__ == "__main__":
    main()

"""Which model answers at T, per budget level, from a plan's records while it is still being built.

v1's matrix mostly measured which quick sklearn model answered first (65 % of its cells at 20 CPU-s).
This prints, for each level of a multi-level plan, the share of first-seed cells whose standing
prediction at T came from the CNN, and, for every (dataset, pipeline) measured at two levels, how
much ALC and final NAUC the longer budget adds. It reads the records only (no export needed).

    python benchmarks/answered_by_levels.py --plan metadataset/v2 [--json FILE]
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from itertools import combinations
from pathlib import Path

from zap.finetune import quick
from zap.finetune.runner import RUNNER_VERSION
from zap.metadataset.artifact import answered_by
from zap.metadataset.store import read_records
from zap.utils import atomic_write_json


def cells_by_level(plan: Path, seed: int) -> dict[float, dict[tuple[str, str], dict]]:
    """The first complete record of each cell of the current runner, by budget level."""
    levels: dict[float, dict[tuple[str, str], dict]] = {}
    for record in read_records(plan / "records"):
        if (record.get("status") != "ok" or record.get("seed") != seed
                or record.get("provenance", {}).get("runner", 1) != RUNNER_VERSION):
            continue
        levels.setdefault(float(record["budget"]), {}).setdefault((record["dataset"], record["pipeline_id"]), record)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, required=True, help="a plan folder (holds records/)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args()
    if not (args.plan / "records").is_dir():
        parser.error(f"{args.plan} holds no records/ folder; give a plan folder such as metadataset/v2")
    levels = cells_by_level(args.plan, args.seed)
    report = {"answered_by": {f"{b:g}": answered_share(cells, b) for b, cells in sorted(levels.items())},
              "gain": {f"{lo:g}->{hi:g}": gain(levels[lo], levels[hi])
                       for lo, hi in combinations(sorted(levels), 2)}}
    print("| level | cells | CNN answers | quick model answers | none |\n|---:|---:|---:|---:|---:|")
    for level, row in report["answered_by"].items():
        quick_answers, no_answer = row.get(quick.ANSWERED_BY, 0), row.get("None", 0)
        print(f"| {level} | {row['cells']} | {row['cnn_share']:.2f} | {quick_answers} | {no_answer} |")
    for pair, row in report["gain"].items():
        if row:
            print(f"{pair}: {row['cells']} shared cells, median ALC gain {row['median_alc_gain']:+.3f}, "
                  f"median final NAUC gain {row['median_final_nauc_gain']:+.3f}")
    if args.json:
        atomic_write_json(args.json, report)


if __name__ == "__main__":
    main()

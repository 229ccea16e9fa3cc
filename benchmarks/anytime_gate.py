"""How often the anytime gate releases a model that is worse on the test split, by validation holdout size.

A run predicts the test split only when its validation NAUC beat the best so far by `VALID_IMPROVEMENT`
(the AutoDL winner's rule; `zap.finetune.runner`), so each new point of a stored curve is a release the
gate let through. Where the holdout is a few images, the validation NAUC is noisy and the gate lets
through models that score worse on test; the last release is the model a user keeps. This script reads
the build's records (no training) and counts, per budget level and holdout size, the releases whose test
NAUC fell below the one they replaced.

Only curves whose test NAUC stayed below `--below` are counted by default: once validation reaches the
pipeline's `skip_valid_score_threshold` a run releases without validating, by design, and those
releases say nothing about the gate. The holdout size is estimated from the plan's `n_train` and class
count as `zap.data.split.stratified_holdout` takes it from balanced classes (about `cv_valid_ratio` of
each class, at least one, at most `max_valid_count` in all).

    python benchmarks/anytime_gate.py --plan metadataset/v2 --json docs/data/anytime_gate_v2.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zap.finetune.runner import RUNNER_VERSION
from zap.metadataset.store import read_records
from zap.utils import atomic_write_json

BINS = (1, 20, 50, 100, 200)  # holdout images: [1, 20), [20, 50), ..., [200, inf)
NAUC = 3  # a curve point is (wall_s, cpu_s, steps, nauc, accuracy, ref_s)


def holdout_size(config: dict, n_train: int, n_classes: int) -> int:
    """The validation holdout a run takes, for classes of equal size (`stratified_holdout`'s rule)."""
    per_class = n_train / n_classes
    each = min(max(1, round(float(config["cv_valid_ratio"]) * per_class)), max(1, int(per_class) - 1))
    return min(int(config["max_valid_count"]), each * n_classes)


def cell_releases(record: dict, below: float) -> np.ndarray | None:
    """The test-NAUC change at each release after the first, or None where the curve says nothing about
    the gate (fewer than two points, or it reached `below`, past which runs may release unvalidated)."""
    naucs = np.array([point[NAUC] for point in record["curve"]], dtype=float)
    if len(naucs) < 2 or naucs.max() >= below:
        return None
    return np.diff(naucs)


def bin_label(size: int) -> str:
    lower = max(b for b in BINS if b <= size)
    upper = [b for b in BINS if b > lower]
    return f"[{lower}, {upper[0]})" if upper else f"[{lower}, inf)"


@dataclass(frozen=True)
class Cell:
    budget: float
    dataset: str
    holdout: int
    per_class: float
    changes: np.ndarray  # the test-NAUC change at each release after the first


def gate_cells(records, classes: dict[str, int], seed: int = 0, below: float = 0.8,
               runner: int = RUNNER_VERSION) -> list[Cell]:
    """The cells that say something about the gate. Only `runner`'s count: another runner's gate may
    differ."""
    cells = []
    for record in records:
        if (record.get("seed") != seed or record.get("status") != "ok" or record["dataset"] not in classes
                or record.get("provenance", {}).get("runner") != runner):
            continue
        changes = cell_releases(record, below)
        if changes is None:
            continue
        n_classes = classes[record["dataset"]]
        size = holdout_size(record["pipeline"], int(record["n_train"]), n_classes)
        cells.append(Cell(float(record["budget"]), record["dataset"], size, size / n_classes, changes))
    return cells


def worse_share(cells: list[Cell]) -> float:
    changes = np.concatenate([c.changes for c in cells])
    return float(np.mean(changes < 0))


def gate_table(cells: list[Cell]) -> dict:
    """Per budget level and holdout bin: cells, releases, the share of releases worse on test, the mean
    test-NAUC lost by those, and the mean holdout images per class."""
    groups: dict[tuple[float, str], list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[(cell.budget, bin_label(cell.holdout))].append(cell)
    table: dict[str, dict] = {}
    for (budget, label), group in sorted(groups.items(), key=lambda kv: (kv[0][0], _lower(kv[0][1]))):
        changes = np.concatenate([c.changes for c in group])
        worse = changes[changes < 0]
        table.setdefault(f"{budget:g}", {})[label] = {
            "cells": len(group), "releases": len(changes), "worse_share": worse_share(group),
            "mean_loss_when_worse": float(-worse.mean()) if len(worse) else 0.0,
            "holdout_per_class": float(np.mean([c.per_class for c in group]))}
    return table


def within_datasets(cells: list[Cell], seed: int = 0, resamples: int = 2000) -> dict:
    """The same comparison inside each dataset, which the bins do not make (small holdouts come mostly from
    small datasets): its cells below and above the dataset's median holdout per class, the difference of
    their worse shares averaged over datasets, with a bootstrap 95 % interval over datasets."""
    by_level: dict[float, dict[str, list[Cell]]] = defaultdict(lambda: defaultdict(list))
    for cell in cells:
        by_level[cell.budget][cell.dataset].append(cell)
    result = {}
    for budget, datasets in sorted(by_level.items()):
        rows = []
        for group in datasets.values():
            median = np.median([c.per_class for c in group])
            small = [c for c in group if c.per_class < median]
            large = [c for c in group if c.per_class > median]
            if small and large:
                rows.append((worse_share(small) - worse_share(large), np.mean([c.per_class for c in small]),
                             np.mean([c.per_class for c in large])))
        if not rows:
            continue
        diffs = np.array([r[0] for r in rows])
        rng = np.random.default_rng(seed)
        means = [rng.choice(diffs, len(diffs)).mean() for _ in range(resamples)]
        result[f"{budget:g}"] = {
            "datasets": len(rows), "diff": float(diffs.mean()),
            "diff_ci": [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))],
            "small_per_class": float(np.mean([r[1] for r in rows])),
            "large_per_class": float(np.mean([r[2] for r in rows]))}
    return result


def _lower(label: str) -> int:
    return int(label[1:].split(",")[0])


def dataset_classes(plan: Path) -> dict[str, int]:
    return {d["name"]: len(d["classes"]) for d in json.loads((plan / "datasets.json").read_text())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", type=Path, default=Path("metadataset/v2"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--below", type=float, default=0.8,
                        help="count only curves whose test NAUC stayed below this (1.01: every curve)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cells = gate_cells(read_records(args.plan / "records"), dataset_classes(args.plan), args.seed, args.below)
    table, within = gate_table(cells), within_datasets(cells, args.seed)
    print(f"{'level':>5} {'holdout':>11} {'cells':>6} {'releases':>8} {'worse':>6} {'loss':>6} {'per class':>9}")
    for budget, bins in table.items():
        for label, row in bins.items():
            print(f"{budget:>5} {label:>11} {row['cells']:6d} {row['releases']:8d} {row['worse_share']:6.2f} "
                  f"{row['mean_loss_when_worse']:6.3f} {row['holdout_per_class']:9.1f}")
    for budget, row in within.items():
        print(f"level {budget}, inside each of {row['datasets']} datasets: worse share below the median holdout "
              f"({row['small_per_class']:.1f} a class) minus above it ({row['large_per_class']:.1f}): "
              f"{row['diff']:+.3f} [{row['diff_ci'][0]:+.3f}, {row['diff_ci'][1]:+.3f}]")
    if args.json:
        atomic_write_json(args.json, {"plan": str(args.plan), "seed": args.seed, "below": args.below,
                                      "levels": table, "within_datasets": within})


if __name__ == "__main__":
    main()

"""Which meta-dataset cells ran without their quick model's prediction, and what that cost in ALC.

A pipeline with `first_simple_model` and an SVC or NuSVC quick model calibrates it with 3-fold
cross-validation on a seeded sample of 500 training images. On datasets with many classes runner 2's
sample often held a class fewer than 3 times; the fit then failed, and the run's first answer waited
for the CNN, so the cell's ALC collapsed (docs/selectors.md, "Results on v1"). Whether a cell is hit
depends only on the labels, the pipeline's validation holdout and the seed, so this script finds the
hit cells without training: it replays the runner's own split (`fit_valid_split`) and sample
(`quick.random_sample`, runner 2's).

    python benchmarks/quick_model_failures.py artifacts/metadataset/v1.json.gz \\
        --json docs/data/quick_model_failures.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from zap.data.augment import VariantSpec, materialize
from zap.data.core import load_core
from zap.finetune import quick
from zap.finetune.runner import fit_valid_split
from zap.metadataset.artifact import load


def failure(config: dict, labels: np.ndarray, n_classes: int, seed: int) -> str | None:
    """Why this pipeline's quick model fails on these training labels at this seed (None: it fits)."""
    if not config.get("first_simple_model", True):
        return None
    fit_idx, _ = fit_valid_split(labels, n_classes, config, seed)
    return quick.calibration_failure(config["simple_model"], labels[quick.random_sample(fit_idx, seed)])


def hit_cells(payload: dict) -> list[dict]:
    """Every measured (dataset, candidate, seed) cell of the artifact whose quick model failed, with its ALC."""
    specs = {d["name"]: d for d in payload["protocol"]["datasets"]}
    dataset_ids = [d["id"] for d in payload["datasets"]]
    rows = []
    for i, name in enumerate(dataset_ids):
        spec = VariantSpec.from_dict(specs[name])
        train = materialize(load_core(spec.core), spec).train
        for j, candidate in enumerate(payload["candidates"]):
            for seed in payload["seeds"]:
                stored = payload["matrices"][str(seed)]["alc"][i][j]
                why = failure(candidate["config"], train.labels, train.n_classes, seed) if stored is not None else None
                if why:
                    rows.append({"dataset": name, "candidate": candidate["id"], "seed": seed, "why": why,
                                 "n_classes": train.n_classes, "alc": stored})
    return rows


def report(payload: dict, rows: list[dict]) -> str:
    """Counts, and the stored ALC of hit cells against the same cells on a seed that was not hit."""
    seed0 = payload["seeds"][0]
    n_cells = len(payload["datasets"]) * len(payload["candidates"])
    first = [r for r in rows if r["seed"] == seed0]
    hit = {(r["dataset"], r["candidate"], r["seed"]) for r in rows}
    alc = {s: payload["matrices"][str(s)]["alc"] for s in payload["seeds"]}
    dataset_ids = [d["id"] for d in payload["datasets"]]
    candidate_ids = [c["id"] for c in payload["candidates"]]
    pairs = []
    for r in rows:
        i, j = dataset_ids.index(r["dataset"]), candidate_ids.index(r["candidate"])
        for other in payload["seeds"]:
            if (r["dataset"], r["candidate"], other) not in hit and alc[other][i][j] is not None:
                pairs.append((r["alc"], alc[other][i][j]))
    lines = [f"seed {seed0}: {len(first)} of {n_cells} cells hit, on "
             f"{len({r['dataset'] for r in first})} datasets and {len({r['candidate'] for r in first})} candidates",
             f"all seeds: {len(rows)} measured cells hit; datasets: {sorted({r['dataset'] for r in rows})}"]
    if pairs:
        hit_alc, ok_alc = np.asarray(pairs, dtype=float).T
        lines.append(f"{len(pairs)} hit cells also measured on a seed that was not hit: mean ALC {hit_alc.mean():.3f} "
                     f"when hit, {ok_alc.mean():.3f} when not")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifact", nargs="?", default="artifacts/metadataset/v1.json.gz")
    parser.add_argument("--json", help="write the hit cells here")
    args = parser.parse_args()
    payload = load(Path(args.artifact))
    rows = hit_cells(payload)
    if args.json:
        Path(args.json).write_text(json.dumps({"artifact": args.artifact, "cells": rows}, indent=1) + "\n")
    print(report(payload, rows))


if __name__ == "__main__":
    main()

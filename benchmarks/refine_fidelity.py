"""Is replay faithful? The same refine run done for real and replayed from the meta-dataset's stored curves.

For datasets of a reference-clock plan (meta-dataset v2) whose candidates all have a stored seed-0 cell at
the level's budget, take k candidates (the pick is the candidate with the median stored ALC, then the best
and the worst: so that refine has a reason to move), run `refine` for real on the plan's own data split,
seed and cost table, and replay it from the stored records with the same predictor. Pausing is exact on
the reference clock (tests/test_refine.py shows it on one run); what replay approximates is the validation
score a live run decides with (replay: the stored test NAUC plus noise). The table: committed candidate,
ALC and final NAUC, real against replay (noise 0 and the default 0.02; and, noise 0, with a step priced at
the run's mean step, as replay does off the reference clock), and each candidate's first look and time
(the JSON has every slice too). `--replay-only` reads the real runs back from `--json` and replays again.

    python benchmarks/refine_fidelity.py --plan metadataset/v2 --budget 20 --datasets 4 \\
        --json docs/data/refine_fidelity.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from zap.data.augment import materialize
from zap.data.core import load_core
from zap.finetune import Budget
from zap.finetune.pricing import first_step_price, fit_images_at_least
from zap.metadataset.artifact import run_facts
from zap.metadataset.plan import load_plan, plan_cost_table
from zap.metadataset.store import TaskKey
from zap.metafeatures import MetaFeatures
from zap.scoring import COLUMNS, alc
from zap.strategies.live import live_predict, refine_fit
from zap.strategies.policy import RefineSettings, refine
from zap.strategies.predictor import CurvePredictor, predictor_path
from zap.strategies.replay import ReplayArm, arm_pricing
from zap.utils import atomic_write_json

REF, NAUC = COLUMNS.index("ref_s"), COLUMNS.index("nauc")


def stored_rows(plan, budget: float, n: int):
    """The first `n` datasets with every candidate of the level stored for seed 0, with those records."""
    protocol, candidates = plan.level(budget), plan.candidates_at(budget)
    records = plan.store.records
    for spec in protocol.datasets:
        found = [records.get(TaskKey(spec.name, c["pipeline_id"], float(budget), protocol.clock, 0))
                 for c in candidates]
        if all(r is not None and r["status"] == "ok" for r in found):
            yield spec, candidates, found
            n -= 1
            if n == 0:
                return


def chosen_columns(found: list[dict], k: int) -> list[int]:
    order = list(np.argsort([r["alc"] for r in found]))
    median, best, worst = order[len(order) // 2], order[-1], order[0]
    return [median, best, worst, *[j for j in order[::-1] if j not in (median, best, worst)]][:k]


def replay_arm(rank: int, record: dict, noise: np.ndarray, budget: float, first_step: float | None) -> ReplayArm:
    """A record played back on the reference clock, priced by the helper the LOCO study uses on the artifact."""
    provenance = {"status": record["status"], "steps": record["elapsed"]["steps"], **run_facts(record, "ref")}
    quick_first, step = arm_pricing(provenance, budget, bool(record["pipeline"].get("first_simple_model")),
                                    first_step)
    return ReplayArm(rank, record["pipeline_id"], [(row[REF], row[NAUC]) for row in record["curve"]], noise,
                     quick_first=quick_first, step=step)


def replayed(found: list[dict], columns: list[int], budget: float, settings, predict, noise: float, t0: float,
             first_steps: list[float | None]):
    rng = np.random.default_rng(0)
    arms = [replay_arm(rank, found[j], rng.normal(0.0, noise, len(found[j]["curve"])), budget, first_steps[j])
            for rank, j in enumerate(columns)]
    trace = refine(arms, budget, settings, predict)
    times, scores = trace.curve()
    return {"committed": trace.committed, "alc": float(alc(np.array(times), np.array(scores), budget, t0)),
            "final": trace.final_score(), "time": trace.time_per_arm(), "reason": trace.reason,
            "slices": trace.slices}


def real_refine(split, chosen: list[dict], args, settings, factory, costs, t0: float) -> dict:
    real = refine_fit(split.train, split.test, chosen, Budget(args.budget, "ref"), settings, factory, seed=0,
                      threads=1, device="cpu", costs=costs)
    times, scores = real.trace.curve()
    return {"committed": real.trace.committed, "alc": float(alc(np.array(times), np.array(scores), args.budget, t0)),
            "final": real.trace.final_score(), "time": real.trace.time_per_arm(), "reason": real.trace.reason,
            "slices": real.trace.slices}


def stored_real_runs(args) -> dict[str, dict]:
    """The rows of an earlier run, by dataset, where it ran with these settings."""
    earlier = json.loads(args.json.read_text())
    settings = {"plan": args.plan, "budget": args.budget, "k": args.k}
    if {key: earlier.get(key) for key in settings} != settings:
        raise SystemExit(f"{args.json} holds a run with other settings ({ {k: earlier.get(k) for k in settings} }); "
                         "run without --replay-only, or give its settings")
    return {row["dataset"]: row for row in earlier["rows"]}


def first_looks(run: dict) -> list[float]:
    """Each candidate's first slice, in the order of their ranks: how long its first operations took."""
    looks: dict[int, float] = {}
    for piece in run["slices"]:
        looks.setdefault(int(piece["arm"]), piece["local_end"] - piece["local_start"])
    return [looks[arm] for arm in sorted(looks)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plan", default="metadataset/v2")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--datasets", type=int, default=4)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--replay-only", action="store_true", help="reuse the real runs stored in --json")
    args = parser.parse_args()
    if args.replay_only and not (args.json and args.json.is_file()):
        parser.error("--replay-only reads the real runs from --json FILE: give an existing file")
    stored = stored_real_runs(args) if args.replay_only else {}
    plan = load_plan(Path(args.plan))
    costs = plan_cost_table(plan)
    protocol = plan.level(args.budget)
    t0 = protocol.t0 or args.budget / 20
    predictor, _ = CurvePredictor.load(predictor_path())
    settings = RefineSettings(k=args.k)
    rows = []
    for spec, candidates, found in stored_rows(plan, args.budget, args.datasets):
        start = time.perf_counter()
        columns = chosen_columns(found, args.k)
        split = None if spec.name in stored else materialize(load_core(spec.core), spec)
        meta = MetaFeatures.from_dict({"n_channels": spec.channels, "n_classes": len(spec.classes),
                                       "n_train": spec.n_train, "resolution": spec.resolution})
        chosen = [{"pipeline_id": candidates[j]["pipeline_id"], "config": candidates[j]["config"]} for j in columns]

        def factory(configs, meta=meta):
            return live_predict(predictor, meta, args.budget, configs, args.budget, settings.objective)

        if spec.name in stored and stored[spec.name]["candidates"] != [found[j]["pipeline_id"] for j in columns]:
            raise SystemExit(f"{spec.name}: the stored real run raced other candidates than the records now choose "
                             "(the build added cells since); run without --replay-only")
        row = {"dataset": spec.name, "candidates": [found[j]["pipeline_id"] for j in columns],
               "stored_alc": [found[j]["alc"] for j in columns],
               "real": stored[spec.name]["real"] if spec.name in stored else real_refine(
                   split, chosen, args, settings, factory, costs, t0),
               "seconds": 0.0}
        # as the LOCO study prices a step on a reference-clock artifact (`zap.strategies.replay.replay_cases`)
        first_steps = [first_step_price(c["config"], spec.resolution,
                                        fit_images_at_least(c["config"], spec.n_train, len(spec.classes)), costs)
                       for c in candidates]
        for noise in (0.0, 0.02):
            row[f"replay_noise_{noise:g}"] = replayed(found, columns, args.budget, settings, factory(
                [c["config"] for c in chosen]), noise, t0, first_steps)
        row["replay_mean_step"] = replayed(found, columns, args.budget, settings, factory(
            [c["config"] for c in chosen]), 0.0, t0, [None] * len(candidates))
        row["seconds"] = stored[spec.name]["seconds"] if spec.name in stored else round(time.perf_counter() - start, 1)
        rows.append(row)
        print(json.dumps({k: row[k] for k in ("dataset", "real", "replay_noise_0", "replay_noise_0.02")}))
    print(f"{'dataset':24} {'commit r/0/.02/mean':>19} {'ALC real':>8} {'replay0':>8} {'.02':>8} {'mean':>8} "
          f"{'final real':>10} {'replay0':>8} {'.02':>8} {'mean':>8}")
    for row in rows:
        runs = [row[key] for key in ("real", "replay_noise_0", "replay_noise_0.02", "replay_mean_step")]
        print(f"{row['dataset']:24} {'/'.join(str(r['committed']) for r in runs):>19} "
              + " ".join(f"{r['alc']:8.4f}" for r in runs) + f" {runs[0]['final']:10.4f} "
              + " ".join(f"{r['final']:8.4f}" for r in runs[1:]))
    print("\nfirst look per candidate (ref-s): real | replay | replay at the mean step")
    for row in rows:
        looks = [first_looks(row[key]) for key in ("real", "replay_noise_0", "replay_mean_step")]
        print(f"{row['dataset']:24} " + " | ".join(", ".join(f"{v:.2f}" for v in look) for look in looks))
    if args.json:
        atomic_write_json(args.json, {"plan": args.plan, "budget": args.budget, "k": args.k, "rows": rows})


if __name__ == "__main__":
    main()

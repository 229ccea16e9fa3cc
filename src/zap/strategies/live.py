"""`refine` on real fine-tuning runs: each candidate is a `ResumableRun` advanced slice by slice.

The global answer is assembled here: a candidate's prediction replaces the one standing when it validates
better (`policy.Trace`), and it is timed on the global clock, the sum of the time every candidate used.
The result is a `RunResult` like `run`'s, whose curve, anytime predictions and model are the global
answer's, so everything downstream of a zero-shot fit (the predictor, the run folder, the report) takes it
unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from zap.data.dataset import ImageDataset
from zap.finetune.batches import PixelStore
from zap.finetune.clock import Budget
from zap.finetune.runner import Prediction, ResumableRun, RunResult, ctrl_c_raises
from zap.metafeatures import MetaFeatures
from zap.pipelines.space import as_pipelines_see, encode
from zap.scoring import LearningCurve, curve_alc
from zap.strategies.curves import curve_features, static_features
from zap.strategies.policy import Arm, Predict, RefineSettings, Release, Trace, refine
from zap.strategies.predictor import CurvePredictor


@dataclass
class LiveArm:
    """A candidate being fine-tuned for real, paused between slices."""

    rank: int
    name: str
    run: ResumableRun
    local_t: float = 0.0
    _seen: list[tuple[float, float]] = field(default_factory=list)
    released: list[Release] = field(default_factory=list)

    def advance(self, until: float) -> list[Release]:
        released = [Release(r["t"], _decision(r["valid"]), r["test"], r["index"]) for r in self.run.advance(until)]
        self.released.extend(released)
        self._seen.extend((r.local_t, r.decision) for r in released)
        self.local_t = self.run.elapsed
        return released

    def seen(self) -> list[tuple[float, float]]:
        return list(self._seen)


def _decision(valid: float) -> float:
    """A prediction made without a validation holdout (a class with one image) competes as 0: it is released
    only while nothing better is standing."""
    return 0.0 if valid is None or math.isnan(valid) else float(valid)


def live_predict(predictor: CurvePredictor, meta: MetaFeatures, budget_ref: float, configs: Sequence[Mapping],
                 budget: float, objective: str) -> Predict:
    """The predictor on live arms: the partial curve is read on the run's clock as a share of its budget (the
    features are fractions), and the budget feature is the user's budget in reference seconds."""
    target = predictor.target_index(objective)
    seen = as_pipelines_see(meta).vector()
    statics = [static_features(seen, budget_ref, encode(c)) for c in configs]

    def predict(arm: Arm) -> tuple[float, float]:
        x = np.concatenate([statics[arm.rank], curve_features(arm.seen(), arm.local_t, budget)])
        mean, std = predictor.predict(x)
        return float(mean[0, target]), float(std[0, target])

    return predict


@dataclass
class RefineRun:
    """What `refine_fit` returns: the global answer as a `RunResult`, and what refine did."""

    result: RunResult
    trace: Trace
    candidates: list[dict[str, Any]]
    interrupted: bool = False
    arms: list[LiveArm] = field(default_factory=list)

    def curves(self) -> dict[str, list[list[float]]]:
        """Every touched candidate's own predictions on the global clock: [t, validation NAUC, test NAUC]."""
        out = {}
        for arm in self.arms:
            spans = [s for s in self.trace.slices if s["arm"] == arm.rank]
            points = []
            for r in arm.released:
                span = next((s for s in spans if s["local_start"] < r.local_t <= s["local_end"] + 1e-9), None)
                if span is not None:
                    points.append([round(span["global_start"] + r.local_t - span["local_start"], 4), r.decision,
                                   r.score])
            if spans:
                out[str(arm.rank)] = points
        return out

    def summary(self) -> dict[str, Any]:
        """The `refine` entry of summary.json: the candidates touched, the time each got, why it committed."""
        spent = self.trace.time_per_arm()
        touched = [c | {"time": round(spent.get(c["rank"], 0.0), 4)} for c in self.candidates if c["rank"] in spent]
        return {"candidates": touched, "committed": self.trace.committed, "reason": self.trace.reason,
                "decisions": self.trace.decisions, "slices": self.trace.slices,
                "answers": self.trace.to_dict()["answers"], "curves": self.curves(), "interrupted": self.interrupted}


def refine_fit(train: ImageDataset, test: ImageDataset | None, candidates: Sequence[dict[str, Any]],
               budget: Budget, settings: RefineSettings, predict_factory, *, seed: int = 0, threads: int = 1,
               device: str = "cpu", extra: ImageDataset | None = None, costs=None,
               on_prediction: Callable[[LearningCurve], None] | None = None) -> RefineRun:
    """Fine-tune the top-k `candidates` ({"rank", "name", "config", ...}, best first) under `refine`.

    Every candidate's model is built before the clock starts (as `run` does). `predict_factory(configs)`
    makes the policy's predictor for these candidates. Ctrl-C stops where it is and keeps the answer standing.
    `on_prediction(curve)` gets the global answer's curve each time it changes (a progress file, say)."""
    chosen = list(candidates[: settings.k])
    pixels = PixelStore()  # the candidates at one input size decode the images once between them
    runs = [ResumableRun(train, test, c["config"], budget, seed=seed, threads=threads, device=device, extra=extra,
                         costs=costs, pixels=pixels) for c in chosen]
    arms = [LiveArm(i, c.get("name") or c.get("pipeline_id", f"candidate {i}"), r)
            for i, (c, r) in enumerate(zip(chosen, runs, strict=True))]
    predict = predict_factory([c["config"] for c in chosen])
    trace = Trace(budget.amount, on_commit=lambda arm, end: runs[arm.rank].end_at(end))
    if on_prediction is not None and test is not None:
        progress = LearningCurve()

        def answered(at: float, rank: int, index: int) -> None:
            add_answer(progress, runs[rank].state.curve.rows[index], at, budget)
            on_prediction(progress)

        trace.on_answer = answered
    interrupted = False
    try:
        with ctrl_c_raises():
            refine(arms, budget.amount, settings, predict, trace)
    except KeyboardInterrupt:
        interrupted = True
    result = global_result(trace, runs, budget, test is not None)
    described = [{k: v for k, v in c.items() if k not in ("config", "rank")}
                 | {"rank": i, "selector_rank": c.get("rank")} for i, c in enumerate(chosen)]
    return RefineRun(result, trace, described, interrupted, arms)


def global_result(trace: Trace, runs: Sequence[ResumableRun], budget: Budget, scored: bool) -> RunResult:
    """The run holding the answer at the end, re-timed on the global clock: its model and config, the global
    curve, and every anytime prediction that was the answer when it was made."""
    holder = trace.points[-1][2] if trace.points else 0
    results = [r.result() for r in runs]
    base = results[holder]
    curve = LearningCurve()
    extra: list[Prediction] = []
    for at, arm, index in trace.released:
        row = results[arm].curve.rows[index] if scored else None
        if row is not None:
            add_answer(curve, row, at, budget)
        if index < len(results[arm].extra_predictions):
            extra.append(replace(results[arm].extra_predictions[index], wall_s=at, cpu_s=at, ref_s=at))
    score = curve_alc(curve, budget.clock, budget.amount) if scored else 0.0
    return replace(base, curve=curve, alc=score, extra_predictions=extra, budget=budget,
                   elapsed=total_elapsed(results, holder, budget, trace.elapsed))


def total_elapsed(results: Sequence[RunResult], holder: int, budget: Budget, spent: float) -> dict[str, Any]:
    """What the whole run spent on every clock: the candidates' own clocks summed (each stood still while
    another trained), with the budget's clock as the policy counted it (`spent`). `steps` are the kept
    model's own (the answer's holder: what a refit trains for), `candidate_steps` all candidates' together.
    Each clock once reported the policy's global time, so a refine run on the reference clock claimed as many
    wall seconds as reference seconds."""
    def total(key: str) -> float | None:
        values = [r.elapsed.get(key) for r in results]
        return None if any(v is None for v in values) else float(sum(values))

    return {"wall_s": total("wall_s"), "cpu_s": total("cpu_s"), "steps": results[holder].elapsed["steps"],
            "candidate_steps": int(total("steps") or 0), "ref_s": total("ref_s")} | {f"{budget.clock}_s": spent}


def add_answer(curve: LearningCurve, row: dict[str, float], at: float, budget: Budget) -> None:
    """One of a candidate's predictions as a row of the global curve: the global time is on the budget's clock;
    the other clocks are the candidates' own, not summed, so they are left out (NaN)."""
    times = {f"{c}_s": (at if c == budget.clock else math.nan) for c in ("wall", "cpu", "ref")}
    steps = round(at) if budget.clock == "steps" else row["steps"]
    curve.add(times["wall_s"], times["cpu_s"], steps, row["nauc"], row["accuracy"], times["ref_s"])

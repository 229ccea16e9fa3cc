"""Replay: run the policies on the meta-dataset's stored curves instead of training.

A slice of a candidate costs exactly its stored time, and what it shows is the stored curve up to there.
This is exact, not an approximation, for a live arm whose schedules keep spanning the whole budget (what
`zap.strategies.live` does): a run's learning-rate and prediction schedules are functions of its own
clock's fraction of its budget, so pausing it changes nothing it computes, and on the reference clock
with the same seed a resumed run makes the same steps as the stored one. What replay cannot know is the
validation score a live run decides with: it stands in the stored test NAUC plus Gaussian noise of
`validation_noise` (a validation holdout is a few hundred images: a NAUC standard error of about 0.02).

A live run cannot pause inside an operation, so a slice that ends inside one lasts until the operation ends,
and the policy's clock (its look budget too) is charged all of it; nor does it start a prediction pass that
would end past the slice. Replay does the same for a run's first operations (`ReplayArm.pause_point`), which
can outlast a slice or the whole look budget. A step is priced exactly where the artifact is on the reference
clock and its cost table is known (`zap.metadataset.artifact.cost_table_of`: the one it carries, or the one this
zap ships; `zap.finetune.pricing.first_step_price`: the step and its batch's decoding), and at the run's mean
step otherwise. Not modelled: the later slices of a live run end up to a
step early (a pass waits for the next slice) or late (a step ends past it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from zap.finetune.pricing import first_step_price, fit_images_at_least
from zap.metadataset.artifact import cost_table_of, level_view
from zap.metadataset.problem import SelectionProblem
from zap.metafeatures import MetaFeatures
from zap.scoring import alc
from zap.strategies.curves import curve_features, static_features
from zap.strategies.policy import Arm, Predict, RefineSettings, Release, Trace, race, refine, zero_shot
from zap.strategies.predictor import CurvePredictor

VALIDATION_NOISE = 0.02
# What replay computes from the same curves; bumped when that changes, so that stored replay results made
# otherwise are recomputed, never mixed in. 2: first slices end where a live run's do (`pause_point`).
# 3: on a reference-clock artifact a step is priced from the cost table, not at the run's mean step.
REPLAY_VERSION = 3


@dataclass
class ReplayArm:
    """A stored curve played back: `advance` reveals the points up to the new local time."""

    rank: int
    name: str
    points: list[tuple[float, float]]
    noise: np.ndarray  # one validation-noise draw per stored point
    quick_first: bool = False  # the first point is a quick model's, made before any optimizer step
    step: float = 0.0  # what one optimizer step costs on the arm's clock (`mean_step`; 0: unknown)
    local_t: float = 0.0
    _seen: list[tuple[float, float]] = field(default_factory=list)

    def pause_point(self, until: float) -> float:
        """Where a live run's slice asked to end at `until` ends, as far as the curve and `step` tell. Its first
        operation (data, and the quick model's fit and prediction or the first optimizer step) cannot be cut;
        after a quick model's prediction comes the first step, also uncut; a CNN's first pass, due after its
        first step, waits for the next slice if it would end past this one, and opens it with a step after."""
        if not self.points:
            return until
        first = self.points[0][0]
        ready = first if self.quick_first or self.step <= 0 else min(first, self.step)  # the first operation's end
        if self.local_t < ready and until < first:
            return ready
        if self.local_t <= ready < until < first + self.step:
            return first + self.step
        return until

    def advance(self, until: float) -> list[Release]:
        until = self.pause_point(until)
        released = [Release(t, s + float(self.noise[i]), s, i) for i, (t, s) in enumerate(self.points)
                    if self.local_t < t <= until]
        self._seen.extend((r.local_t, r.decision) for r in released)
        self.local_t = until
        return released

    def seen(self) -> list[tuple[float, float]]:
        return list(self._seen)


def mean_step(end: float, steps: int) -> float:
    """A run's mean optimizer step, its passes and data included: a record keeps no step's own time. High
    where passes are frequent, and `end` is the budget where the run's own end is not stored."""
    return end / steps if steps > 0 else 0.0


@dataclass
class ReplayCase:
    """One dataset of one level, ready to replay: its budget and ALC t0, and every candidate's curve."""

    problem: SelectionProblem
    row: int
    curves: dict[int, list[tuple[float, float]]]  # candidate column -> stored (time, NAUC) points
    t0: float
    quick_first: dict[int, bool] = field(default_factory=dict)  # candidate column -> `ReplayArm.quick_first`
    steps: dict[int, float] = field(default_factory=dict)  # candidate column -> `ReplayArm.step`

    @property
    def budget(self) -> float:
        return float(self.problem.budget)

    def arms(self, columns: Sequence[int], rng: np.random.Generator, validation_noise: float) -> list[ReplayArm]:
        return [ReplayArm(rank, self.problem.candidate_ids[j], self.curves[j],
                          rng.normal(0.0, validation_noise, len(self.curves[j])),
                          quick_first=self.quick_first.get(j, False), step=self.steps.get(j, 0.0))
                for rank, j in enumerate(columns)]

    def score(self, trace: Trace) -> dict[str, float]:
        times, scores = trace.curve()
        value = alc(np.array(times), np.array(scores), self.budget, self.t0) if times else 0.0
        return {"alc": float(value), "final": trace.final_score()}


def replay_cases(payload: dict, budget: float | None = None, seed: int = 0) -> list[ReplayCase]:
    """Every dataset of a level whose candidates all have a stored curve for `seed`."""
    view = level_view(payload, budget)
    problem = SelectionProblem.from_artifact(payload, budget)
    matrices = view["matrices"][str(seed)]
    t0 = float(view["protocol"].get("t0") or problem.budget / 20)
    configured = [bool(c["config"].get("first_simple_model")) for c in view["candidates"]]
    table = cost_table_of(view)
    cases = []
    for i in range(problem.n_datasets):
        keys = {j: f"{i},{j}" for j in range(len(problem.candidate_ids))}
        if not all(key in matrices["curves"] for key in keys.values()):
            continue
        curves = {j: [(float(t), float(s)) for t, s in matrices["curves"][key]] for j, key in keys.items()}
        meta = MetaFeatures.from_dict(view["datasets"][i]["meta_features"])
        steps = {j: first_step_price(c["config"], meta.resolution,
                                     fit_images_at_least(c["config"], meta.n_train, meta.n_classes), table)
                 if table else None for j, c in enumerate(view["candidates"])}
        pricing = {j: arm_pricing(matrices["provenance"].get(key, {}), problem.budget, configured[j], steps[j])
                   for j, key in keys.items()}
        cases.append(ReplayCase(problem, i, curves, t0, {j: q for j, (q, _) in pricing.items()},
                                {j: step for j, (_, step) in pricing.items()}))
    return cases


def arm_pricing(provenance: dict, budget: float, configured_quick: bool,
                first_step: float | None = None) -> tuple[bool, float]:
    """(`ReplayArm.quick_first`, `ReplayArm.step`) of a stored cell, from its exported provenance
    (`zap.metadataset.artifact.run_facts`) and, where the cost table prices it, its `first_step`. Artifacts
    exported before those facts were kept (v1) lack them: the budget stands in for the run's end and the
    configuration's quick-model flag for what answered first. A run that failed stopped early: its steps say
    nothing of a step's cost."""
    quick = bool(provenance.get("quick_first", configured_quick))
    if provenance.get("status") != "ok":
        return quick, 0.0
    if first_step is not None:
        return quick, first_step
    return quick, mean_step(float(provenance.get("end", budget)), int(provenance.get("steps") or 0))


def predictor_for(case: ReplayCase, columns: Sequence[int], predictor: CurvePredictor, objective: str) -> Predict:
    """The policy's view of the predictor: an arm's (mean, std) of the objective from its partial curve."""
    target = predictor.target_index(objective)
    statics = {rank: static_features(case.problem.meta_features[case.row], case.budget, case.problem.encodings[j])
               for rank, j in enumerate(columns)}

    def predict(arm: Arm) -> tuple[float, float]:
        x = np.concatenate([statics[arm.rank], curve_features(arm.seen(), arm.local_t, case.budget)])
        mean, std = predictor.predict(x)
        return float(mean[0, target]), float(std[0, target])

    return predict


Strategy = Callable[[list[Arm], float], Trace]


def strategies(settings: RefineSettings, predict: Predict | None) -> dict[str, Strategy]:
    """The strategies replay compares, by name; `refine` only where there is a predictor."""
    named: dict[str, Strategy] = {"zero-shot": zero_shot, "race": lambda arms, b: race(arms, b, settings)}
    if predict is not None:
        named["refine"] = lambda arms, b: refine(arms, b, settings, predict)
    return named


def replay(case: ReplayCase, columns: Sequence[int], settings: RefineSettings, predictor: CurvePredictor | None,
           seed: int = 0, validation_noise: float = VALIDATION_NOISE,
           random_columns: Sequence[int] | None = None) -> dict[str, dict]:
    """Every strategy on one dataset, from the same ranked candidates and the same validation noise;
    `random_columns` adds `race-random`: the race over candidates drawn at random from the pool, a plain
    multi-fidelity search's start, against the race over the zero-shot top-k (a warm-started one)."""
    predict = predictor_for(case, columns, predictor, settings.objective) if predictor is not None else None
    results = {}
    for name, strategy in strategies(settings, predict).items():
        rng = np.random.default_rng(seed)  # the same noise for every strategy: paired comparisons
        trace = strategy(case.arms(columns, rng, validation_noise), case.budget)
        results[name] = case.score(trace) | {"committed": trace.committed, "reason": trace.reason,
                                             "looked": _looked(trace)}
    if random_columns is not None:
        trace = race(case.arms(random_columns, np.random.default_rng(seed), validation_noise), case.budget, settings)
        results["race-random"] = case.score(trace) | {"committed": trace.committed, "reason": trace.reason,
                                                      "looked": _looked(trace)}
    best = max(columns[: settings.k], key=lambda j: _measure(case, j, settings.objective))
    results["best-of-k"] = {"alc": _measure(case, best, "alc"), "final": _measure(case, best, "final"),
                            "committed": list(columns).index(best), "reason": "hindsight", "looked": 0.0}
    return results


def _measure(case: ReplayCase, column: int, objective: str) -> float:
    """The candidate's own full-budget measure on this seed's curve (the hindsight reference)."""
    points = case.curves[column]
    inside = [(t, s) for t, s in points if t <= case.budget]
    if objective == "final":
        return inside[-1][1] if inside else 0.0
    return float(alc(np.array([t for t, _ in inside]), np.array([s for _, s in inside]), case.budget, case.t0)
                 ) if inside else 0.0


def _looked(trace: Trace) -> float:
    """Share of the budget spent on candidates other than the one committed to."""
    spent = trace.time_per_arm()
    other = sum(v for k, v in spent.items() if k != trace.committed)
    return other / trace.budget if trace.budget > 0 and not math.isnan(other) else 0.0

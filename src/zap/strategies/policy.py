"""How `refine` spends a budget over several candidates: look in slices, then commit.

The policies work on `Arm`s, runs that can be paused and resumed (freeze-thaw: never restarted). An arm
is a live fine-tuning run (`zap.strategies.live`) or a stored curve being replayed
(`zap.strategies.replay`); the policy cannot tell them apart, which is what makes replay a faithful
judge of the allocation logic. The global clock is the sum of the time the arms used: one arm runs at a
time. Every prediction an arm releases is offered to the global (anytime) answer, which takes it only
when it validates better than the answer standing (an arm's own releases are improvements already, so
the arm holding the answer replaces it freely): looking never makes the answer worse, only later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from zap.errors import ConfigError
from zap.metadataset.problem import check_objective

RELEASE_MARGIN = 1e-3  # as the runner's VALID_IMPROVEMENT: a tie does not replace the answer standing


@dataclass(frozen=True)
class RefineSettings:
    """k candidates; each look is `slice_share` of the budget; at most `look_share` of it goes to looking;
    commit when no candidate's expected gain on the objective reaches `min_gain`."""

    k: int = 3
    slice_share: float = 0.03  # the replay study's choice on v1, with look_share and min_gain (docs/refine.md)
    look_share: float = 0.15
    min_gain: float = 0.01
    objective: str = "alc"

    def __post_init__(self) -> None:
        if not (isinstance(self.k, int) and 1 <= self.k <= 20):
            raise ConfigError(f"refine k must be a whole number in [1, 20], got {self.k!r}")
        for name in ("slice_share", "look_share"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 1):
                raise ConfigError(f"refine {name} must be in (0, 1], got {value!r}")
        if not (isinstance(self.min_gain, int | float) and self.min_gain >= 0):
            raise ConfigError(f"refine min_gain must be >= 0, got {self.min_gain!r}")
        check_objective(self.objective)

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "slice_share": self.slice_share, "look_share": self.look_share,
                "min_gain": self.min_gain, "objective": self.objective}


# What `refine` does at each budget, declared once, per objective: (lowest budget in reference seconds, k).
# Below an objective's first entry it looks at one candidate, i.e. it is zero-shot. The values are the
# nested choice of the replay study on v2's levels 20 and 60 (docs/refine.md): the smallest k of the grid on
# nearly every held-out core, for both objectives. Level 120 may add a band.
REFINE_K_BY_BUDGET: dict[str, tuple[tuple[float, int], ...]] = {"alc": ((0.0, 2),), "final": ((0.0, 2),)}


def settings_for_budget(budget_ref: float, objective: str = "alc", k: int | None = None) -> RefineSettings:
    """The refine settings the rule gives for a budget in reference seconds; `k` overrides the rule's."""
    if k is None:
        k = 1
        for lowest, value in REFINE_K_BY_BUDGET[check_objective(objective)]:
            if budget_ref >= lowest:
                k = value
    return RefineSettings(k=k, objective=objective)


@dataclass
class Release:
    """A prediction an arm made: when (its own clock), its validation score (what decisions use) and its test
    score (NaN where the labels are unknown, as for a user's extra images)."""

    local_t: float
    decision: float
    score: float
    index: int = -1  # which of the arm's predictions (its anytime outputs are kept in this order)


class Arm(Protocol):
    rank: int  # the candidate's place in the zero-shot ranking (0: the pick)
    name: str
    local_t: float  # time this arm has used, on the budget's clock

    def advance(self, until: float) -> list[Release]:
        """Run until the arm's own clock reads `until` (or it ends; or later, where an operation that cannot be
        cut ends later: `local_t` says, and the trace charges it); the predictions it released meanwhile."""

    def seen(self) -> list[tuple[float, float]]:
        """(local time, validation score) of every prediction released so far: the partial curve."""


Predict = Callable[[Arm], tuple[float, float]]  # an arm's predicted objective measure: (mean, std)


def expected_improvement(mean: float, std: float, incumbent: float) -> float:
    if std <= 0:
        return max(0.0, mean - incumbent)
    z = (mean - incumbent) / std
    cdf, pdf = 0.5 * math.erfc(-z / math.sqrt(2)), math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return (mean - incumbent) * cdf + std * pdf


@dataclass
class Trace:
    """What a policy did: the global answer over time, every slice, every decision, and the commit."""

    budget: float
    elapsed: float = 0.0
    points: list[tuple[float, float, int]] = field(default_factory=list)  # (global t, test score, arm rank)
    slices: list[dict[str, Any]] = field(default_factory=list)
    decisions: list[dict[str, Any]] = field(default_factory=list)
    committed: int | None = None
    reason: str = ""
    released: list[tuple[float, int, int]] = field(default_factory=list)  # (global t, arm rank, its index)
    on_commit: Callable[[Arm, float], None] | None = None  # told the committed arm and where it must end
    on_answer: Callable[[float, int, int], None] | None = None  # told (global t, arm rank, index) of a new answer
    _standing: float = -math.inf  # the validation score of the answer standing
    _holder: int | None = None  # the arm that made it: its own runner already released only improvements

    def run(self, arm: Arm, until_local: float) -> None:
        """Advance `arm` to its local time `until_local`, or less where the global budget ends first."""
        until_local = min(until_local, arm.local_t + max(0.0, self.budget - self.elapsed))
        start_global, start_local = self.elapsed, arm.local_t
        if until_local <= start_local:
            return
        for release in arm.advance(until_local):
            at = start_global + release.local_t - start_local
            if at <= self.budget and (arm.rank == self._holder or release.decision > self._standing + RELEASE_MARGIN):
                self._standing, self._holder = release.decision, arm.rank
                self.points.append((at, release.score, arm.rank))
                self.released.append((at, arm.rank, release.index))
                if self.on_answer is not None:
                    self.on_answer(at, arm.rank, release.index)
        self.elapsed = start_global + arm.local_t - start_local
        self.slices.append({"arm": arm.rank, "name": arm.name, "global_start": round(start_global, 4),
                            "local_start": round(start_local, 4), "local_end": round(arm.local_t, 4)})

    def commit(self, arm: Arm, reason: str) -> None:
        self.committed, self.reason = arm.rank, reason
        end = arm.local_t + self.budget - self.elapsed
        if self.on_commit is not None:
            self.on_commit(arm, end)
        self.run(arm, end)

    def time_per_arm(self) -> dict[int, float]:
        spent: dict[int, float] = {}
        for s in self.slices:
            spent[s["arm"]] = spent.get(s["arm"], 0.0) + s["local_end"] - s["local_start"]
        return spent

    def curve(self) -> tuple[list[float], list[float]]:
        return [t for t, _, _ in self.points], [s for _, s, _ in self.points]

    def final_score(self) -> float:
        return self.points[-1][1] if self.points else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"committed": self.committed, "reason": self.reason, "elapsed": round(self.elapsed, 4),
                "time_per_candidate": {str(k): round(v, 4) for k, v in self.time_per_arm().items()},
                "slices": self.slices, "decisions": self.decisions,
                "answers": [{"t": round(t, 4), "score": s, "candidate": a} for t, s, a in self.points]}


def zero_shot(arms: list[Arm], budget: float, trace: Trace | None = None) -> Trace:
    """The pick alone, for the whole budget: what `refine` must beat, and what it is with k = 1."""
    trace = trace or Trace(budget)
    trace.commit(arms[0], "zero-shot: the first-ranked candidate takes the whole budget")
    return trace


def refine(arms: list[Arm], budget: float, settings: RefineSettings, predict: Predict,
           trace: Trace | None = None) -> Trace:
    """Look at the top-k in slices, advancing the candidate with the largest expected improvement over the
    predicted best, until looking has used its share or no candidate is expected to gain enough; then the
    predicted best takes the rest. The pick runs first, so the first answer comes as early as zero-shot's.
    `trace`: the caller's, so that what happened survives an interruption."""
    arms = arms[: settings.k]
    trace = trace or Trace(budget)
    step, cap = settings.slice_share * budget, settings.look_share * budget
    if len(arms) == 1:
        trace.commit(arms[0], "one candidate: nothing to compare")
        return trace
    for arm in arms:  # one look at each, the pick first
        if trace.elapsed + step > cap:
            break
        trace.run(arm, arm.local_t + step)
    while True:
        predictions = [predict(arm) for arm in arms]
        best = max(range(len(arms)), key=lambda i: predictions[i][0])
        gains = [expected_improvement(m, s, predictions[best][0]) if i != best else -math.inf
                 for i, (m, s) in enumerate(predictions)]
        chosen = max(range(len(arms)), key=lambda i: gains[i])
        trace.decisions.append({"at": round(trace.elapsed, 4), "best": arms[best].rank,
                                "mean": [round(m, 5) for m, _ in predictions],
                                "std": [round(s, 5) for _, s in predictions],
                                "gain": [round(g, 5) if math.isfinite(g) else None for g in gains]})
        if trace.elapsed + step > cap:
            reason = f"the look budget ({settings.look_share:.0%} of the budget) was spent"
        elif gains[chosen] < settings.min_gain:
            reason = f"no other candidate's expected gain reached {settings.min_gain:g}"
        else:
            trace.run(arms[chosen], arms[chosen].local_t + step)
            continue
        trace.commit(arms[best], reason)
        return trace


def race(arms: list[Arm], budget: float, settings: RefineSettings, trace: Trace | None = None) -> Trace:
    """A portfolio raced by successive halving: every candidate gets a slice, the better half by validation
    goes on with twice the slice, until one is left or looking has used its share; the leader takes the rest.
    No predictor: the reference that `refine` must beat to show its predictor is worth having."""
    alive = list(arms[: settings.k])
    trace = trace or Trace(budget)
    step, cap = settings.slice_share * budget, settings.look_share * budget
    rung = 0
    while len(alive) > 1:
        target = step * (2 ** rung)
        if any(trace.elapsed + max(0.0, target - a.local_t) > cap for a in alive):
            break
        for arm in alive:
            trace.run(arm, target)
        alive.sort(key=lambda a: (-_last_decision(a), a.rank))
        alive = alive[: max(1, len(alive) // 2)]
        rung += 1
    leader = max(alive, key=lambda a: (_last_decision(a), -a.rank))
    trace.commit(leader, "one candidate left" if len(alive) == 1 else "the look budget was spent")
    return trace


def _last_decision(arm: Arm) -> float:
    seen = arm.seen()
    return seen[-1][1] if seen else -math.inf

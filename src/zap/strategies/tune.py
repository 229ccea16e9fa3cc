"""`zap tune`: SMAC3 multi-fidelity HPO on the user's own dataset, its initial design the zero-shot top-k.

Where `zap fit` spends the whole budget S on the selector's one pick, `tune` spends it on trials: SMAC3's
MultiFidelityFacade with Hyperband (eta 3) over the pipeline search space, the fidelity being a trial's own
run budget on the user's clock, from T / 9 up to T (default T = S / 4). Its initial design is the selector's
top-k (`init="zero-shot"`) instead of SMAC's own random one (`init="default"`), so the first Hyperband
bracket starts from the pipelines the meta-dataset found best for data like this.

What keeps it honest:

- **The outer test split never picks anything.** `train` is split again (stratified, 20 %, by `seed`) into
  the part a trial fits on and an inner validation set; a trial's cost is 1 - ALC (or 1 - final NAUC) on that
  inner set. The outer `test` is only predicted, by each new incumbent's own model after its trial, and
  only its labels score what was chosen.
- **The incumbent is a model that was trained, not a promise.** No retraining: the incumbent is the trial with
  the lowest cost at any fidelity (its ALC is over T with its last score held, so a short trial scores a lower
  bound of what it would reach and trials compare fairly, as in `zap.metadataset.hpo`), and its fitted model
  is what predicts `test` and `extra`.
- **The budget is the user's.** The loop is SMAC's ask/tell, so zap decides when to stop: once the trials'
  summed time on the clock reaches S (on the wall clock: the real time since the start, SMAC's overhead
  and model building included, as a wall-clock user means it). A trial SMAC asks for beyond what is left runs
  on what is left (`truncated`); less than the smallest fidelity left ends the search. The total can pass S
  only by the runner's own overrun of the last trial. `n_trials` bounds the trials as a backstop.
- **A trial that cannot answer in its budget is not run.** The runner never abandons a run's first prediction,
  so a pipeline whose first answer (its quick model, or its first prediction pass) costs more than the trial's
  budget would overrun it. Its price is known before it runs (`zap.finetune.pricing`, a lower bound on the
  reference clock's cost table), and once an incumbent stands such a trial is skipped and told to SMAC as
  scoring 0. A trial that runs is scored the same way: only the answers it made within its own budget count,
  so one that answers late scores 0 too, and a short trial's score stays a lower bound of what it would reach.
"""

from __future__ import annotations

import math
import numbers
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from zap.data.dataset import ImageDataset
from zap.data.split import DEFAULT_MAX_TEST, MAX_SEED, DataSplit, SplitSettings, train_test_split
from zap.errors import ConfigError
from zap.finetune import Budget, RunResult, run
from zap.finetune.batches import PixelStore
from zap.finetune.clock import check_budget
from zap.finetune.predictor import Predictor
from zap.finetune.pricing import PRICE_MARGIN, cannot_answer, first_answer_price
from zap.finetune.refit import RefitError, refit
from zap.metadataset.problem import check_objective
from zap.metafeatures import compute as compute_metafeatures
from zap.pipelines import as_dict, get_config, pipeline_id, search_space
from zap.pipelines.named import named_configs
from zap.pipelines.space import complete
from zap.scoring import LearningCurve, accuracy, curve_alc, nauc
from zap.selectors.trained import DEFAULT_SELECTOR, TRAINABLE, selector_path, suggest
from zap.utils import check_range

INITS = ("zero-shot", "default")
ETA = 3  # Hyperband's reduction factor: fidelities T/9, T/3, T; the first bracket starts 9 configurations
LEVELS = 3  # fidelity levels, so the smallest is T / ETA**(LEVELS - 1)
TRIAL_SHARE = 0.25  # default T = S / 4: the largest trial takes a quarter of the budget
MIN_TRIAL = {"wall": 3.0, "cpu": 3.0, "ref": 3.0, "steps": 9.0}  # the smallest default T, where S allows it
INNER_VALID = 0.2  # share of `train` held out to score the trials
MAX_K = 50
DEFAULT_K = 5  # zero-shot configurations in the initial design
# A skipped trial costs no time, so on the reference clock a trial budget too small for any first answer would
# let SMAC propose skips until its trial cap (tens of thousands): the search ends after this many in a row.
MAX_SKIPS_IN_A_ROW = 25
OBJECTIVE_KEY = {"alc": "alc", "final": "final_nauc"}  # the inner-validation score each objective ranks by
BACKSTOP_FACTOR = 4  # the loop's own cap: 4 x the trials the budget holds at the smallest fidelity
NO_ROOM_ASKS = 8  # consecutive asks that cannot answer in what is left before the search ends "no room"


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number in [{low}, {high}], got {value!r}")


def check_settings(budget: float, clock: str, init: Any, k: Any, objective: str, selector: str,
                   trial_budget: float | None) -> None:
    """Every setting `tune` itself owns, before any data is read; `zap tune` calls it with the checks it shares
    with `zap fit` (threads, split, device)."""
    check_budget(budget, clock)
    if isinstance(init, str):
        if init not in INITS:
            raise ConfigError(f"init must be one of {list(INITS)} or a list of pipeline configurations, got {init!r}")
    elif not (isinstance(init, Sequence) and init and all(isinstance(c, Mapping) for c in init)):
        raise ConfigError(f"init must be one of {list(INITS)} or a non-empty list of pipeline configurations")
    _whole("k", k, 1, MAX_K)
    check_objective(objective)
    if selector not in TRAINABLE:
        raise ConfigError(f"selector must be one of {list(TRAINABLE)}, got {selector!r}")
    if trial_budget is not None:
        try:
            check_budget(trial_budget, clock)
        except ConfigError as exc:  # its message names the budget; this is the trial budget
            raise ConfigError(f"--trial-budget: {exc}".replace("budget must", "the trial budget must")) from None
        if trial_budget > budget:
            raise ConfigError(f"trial_budget ({trial_budget:g}) must not exceed the budget ({budget:g}): one trial "
                              "cannot run longer than the whole search")


def default_trial_budget(budget: Budget) -> float:
    """T = S / 4, but at least a few seconds (nine steps), and never more than S."""
    return min(budget.amount, max(budget.amount * TRIAL_SHARE, MIN_TRIAL[budget.clock]))


def inner_split(train: ImageDataset, seed: int) -> DataSplit:
    """What the trials fit on (`.train`) and what scores them (`.test`): a stratified 20 % of `train`, by seed."""
    return train_test_split(train, SplitSettings(INNER_VALID, DEFAULT_MAX_TEST, seed))


# ------------------------------------------------------------------------------------------ initial design


@dataclass
class InitialDesign:
    """The configurations SMAC starts from, and how they were found (for the summary)."""

    configs: list[dict[str, Any]]
    source: str  # "selector", "named" (no trained selector), "given", or "smac" (SMAC's random design)
    ranks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "configs": self.ranks, "notes": self.notes}


def valid_configs(candidates: Sequence[Mapping[str, Any]], k: int) -> tuple[list[dict[str, Any]], list[str]]:
    """The first `k` distinct candidates that are valid pipelines of this zap's space. One that is not (an
    architecture since removed from the zoo, a value outside a range that has since narrowed) is dropped, with
    a note, not clipped: a clipped configuration is a pipeline nobody measured, so its rank says nothing."""
    chosen: dict[str, dict[str, Any]] = {}
    notes = []
    for values in candidates:
        try:
            config = as_dict(complete(values))
        except ConfigError as exc:
            notes.append(f"dropped a suggested pipeline that is not valid in this zap's search space: {exc}")
            continue
        chosen.setdefault(pipeline_id(config), config)
        if len(chosen) == k:
            break
    return list(chosen.values()), notes


def zero_shot_design(fit: ImageDataset, k: int, selector: str, budget: Budget, trial_budget: float,
                     objective: str, threads: int, device: str, budget_ref: float | None) -> InitialDesign:
    """The trained selector's top-k for the data the trials fit on, ranked for a trial's budget T; without a
    trained selector, the named pipelines, with a note saying so."""
    path = selector_path(selector, objective=objective)
    if not path.exists():
        names = named_configs()[:k]
        note = (f"no trained '{selector}' selector at {path} (train one with `zap meta-train`, or set $ZAP_HOME); "
                f"the initial design is the named pipelines {names} instead")
        configs, notes = valid_configs([as_dict(get_config(n)) for n in names], k)
        ranks = [{"rank": i + 1, "pipeline_id": pipeline_id(c), "name": n} for i, (n, c) in
                 enumerate(zip(names, configs, strict=False))]
        return InitialDesign(configs, "named", ranks, [note, *notes])
    trial_ref = trial_budget * budget_ref / budget.amount if budget_ref is not None else None
    result = suggest(compute_metafeatures(fit), selector, k=k + 5, budget=trial_budget, clock=budget.clock,
                     threads=threads, device=device, objective=objective, budget_ref=trial_ref)
    configs, notes = valid_configs([s.config for s in result.suggestions], k)
    kept = {pipeline_id(c) for c in configs}
    ranks = [{"rank": s.rank, "pipeline_id": s.pipeline_id, "name": s.name, "score": s.score}
             for s in result.suggestions if s.pipeline_id in kept]
    return InitialDesign(configs, "selector", ranks, result.warnings + notes)


def given_design(configs: Sequence[Mapping[str, Any]], k: int) -> InitialDesign:
    """Configurations the caller chose (a benchmark's leave-one-core-out top-k, say); invalid ones fail."""
    chosen = [as_dict(complete(c)) for c in configs][:k]
    return InitialDesign(chosen, "given", [{"rank": i + 1, "pipeline_id": pipeline_id(c)}
                                           for i, c in enumerate(chosen)])


# ------------------------------------------------------------------------------------------------- SMAC


def _smac(design: InitialDesign, trial_budget: float, n_trials: int, seed: int, folder: str):
    """SMAC's MultiFidelityFacade with Hyperband, set up for ask/tell (zap runs the trials and stops the loop).

    The zero-shot configurations are the whole initial design (`n_configs=0`), so they are the first configurations
    SMAC hands out; SMAC appends `additional_configs` after its own random ones otherwise."""
    from ConfigSpace import Configuration
    from smac import MultiFidelityFacade, Scenario
    from smac.runhistory.encoder import RunHistoryEncoder

    space = search_space()  # a fresh copy: the facade reseeds it
    scenario = Scenario(space, name="tune", output_directory=folder, deterministic=True, n_trials=n_trials,
                        min_budget=trial_budget / ETA ** (LEVELS - 1), max_budget=trial_budget, seed=seed)
    if design.source == "smac":
        initial = MultiFidelityFacade.get_initial_design(scenario)
    else:
        additional = [Configuration(space, values=dict(complete(c))) for c in design.configs]
        initial = MultiFidelityFacade.get_initial_design(scenario, n_configs=0, additional_configs=additional)
    intensifier = MultiFidelityFacade.get_intensifier(scenario, eta=ETA)
    # the facade's log-scaled cost encoder gives NaN targets on thin budget levels (zap.metadataset.hpo)
    with warnings.catch_warnings():  # SMAC 2.4.1 describes its initial design with a deprecated ConfigSpace call
        warnings.simplefilter("ignore", DeprecationWarning)
        return MultiFidelityFacade(scenario, _never_called, initial_design=initial, intensifier=intensifier,
                                   runhistory_encoder=RunHistoryEncoder(scenario), overwrite=True, logging_level=40)


def _never_called(config, seed: int = 0, budget: float | None = None) -> float:
    """The facade wants a target function; with ask/tell, zap runs the trials itself."""
    raise AssertionError("tune runs its trials through ask/tell")


def _ask(smac):
    with warnings.catch_warnings():  # numpy's empty-slice warnings from SMAC's model on thin budget levels
        warnings.simplefilter("ignore", RuntimeWarning)
        return smac.ask()


# ------------------------------------------------------------------------------------------------ trials


@dataclass
class AnswerPrices:
    """What a trial's first answer costs at the least on the search's clock, asked before the trial runs."""

    fit: ImageDataset
    n_valid: int
    seed: int
    per_ref: float | None  # the search clock's seconds per reference second; None where nothing is priced
    resolution: int | None = None  # the fit images' median side, read once

    @classmethod
    def for_search(cls, fit: ImageDataset, valid: ImageDataset, seed: int, budget: Budget,
                   budget_ref: float | None) -> AnswerPrices:
        """On the ref clock a price is in the budget's own units; on the wall and CPU clocks it is converted by
        the caller's `budget_ref` (S in reference seconds): without it, nothing on the wall clock (no probe ran)
        and one for one on the CPU clock; a budget of steps prices nothing (answers cost no steps)."""
        per_ref = budget.amount / budget_ref if budget_ref else None
        per_ref = {"ref": 1.0, "steps": None, "cpu": per_ref or 1.0}.get(budget.clock, per_ref)
        return cls(fit, len(valid), seed, per_ref)

    def seconds(self, config: Mapping[str, Any]) -> float | None:
        if self.per_ref is None:
            return None
        if self.resolution is None:
            self.resolution = compute_metafeatures(self.fit).resolution
        price = first_answer_price(self.fit, self.n_valid, config, seed=self.seed, resolution=self.resolution)
        return None if price is None else price * self.per_ref


def clock_seconds(result: RunResult, clock: str) -> float:
    return float(result.elapsed["steps" if clock == "steps" else f"{clock}_s"])


@dataclass
class Outer:
    """The outer test split, scored only by the incumbents' own models, after their trials."""

    test: ImageDataset | None

    def score(self, predictor: Predictor) -> dict[str, float]:
        if self.test is None or len(self.test) == 0:
            return {}
        probabilities = predictor.predict_proba(self.test)
        return {"test_final_nauc": nauc(self.test.labels, probabilities),
                "test_accuracy": accuracy(self.test.labels, probabilities)}


@dataclass
class TuneResult:
    """What `tune` did: every trial (in the order run), the incumbent's trial, its fitted model and run, and
    the search's own anytime curve on the outer test (a point each time the incumbent changed)."""

    budget: Budget
    trial_budget: float
    init: str
    k: int
    objective: str
    design: InitialDesign
    trials: list[dict[str, Any]]
    incumbent: int | None  # index into `trials`
    result: RunResult | None  # the incumbent trial's run (its curve is on the inner validation set)
    predictor: Predictor | None
    curve: LearningCurve  # the incumbent-so-far on the outer test, against the search's time on every clock
    spent: float  # the search's time on the budget's clock
    wall_s: float
    status: str  # "ok", "interrupted"
    extra_probabilities: np.ndarray | None = None
    refit: dict[str, Any] | None = None  # `refit_incumbent`'s record: status, steps, images
    skipped: list[dict[str, Any]] = field(default_factory=list)  # trials not run: no answer in their budget
    passed: list[dict[str, Any]] = field(default_factory=list)  # asks not run: no answer in what was left
    ended: str = ""  # why the search stopped (`_Search.ended`)

    @property
    def best(self) -> dict[str, Any] | None:
        return self.trials[self.incumbent] if self.incumbent is not None else None

    @property
    def alc(self) -> float:
        """ALC of the search as an anytime method over S on the outer test: at each moment, what the
        incumbent-so-far's model predicts (as `zap fit`'s ALC is of its run's predictions)."""
        return curve_alc(self.curve, self.budget.clock, self.budget.amount) if len(self.curve) else 0.0

    def summary(self) -> dict[str, Any]:
        best = self.best or {}
        return {
            "strategy": "tune", "status": self.status, "objective": self.objective,
            "alc": self.alc, "final_nauc": best.get("test_final_nauc"), "accuracy": best.get("test_accuracy"),
            "pipeline": best.get("config"), "pipeline_id": best.get("pipeline_id"),
            "answered_by": self.predictor.answered_by if self.predictor is not None else None,
            "budget_s": self.budget.amount, "clock": self.budget.clock,
            "refit": bool(self.refit and self.refit["status"] == "ok"),
            "tune": {"refit": self.refit, "init": self.init, "k": self.k, "trial_budget": self.trial_budget,
                     "fidelities": fidelities(self.trial_budget), "eta": ETA,
                     "initial_design": self.design.to_dict(), "trials": self.trials, "incumbent": best or None,
                     "seconds": self.spent, "wall_s": self.wall_s, "n_trials": len(self.trials),
                     "ended": self.ended, "skipped": self.skipped, "n_skipped": len(self.skipped),
                     "passed": self.passed, "n_passed": len(self.passed),
                     "price_margin": PRICE_MARGIN.get(self.budget.clock)},
        }


def fidelities(trial_budget: float) -> list[float]:
    return [trial_budget / ETA ** i for i in reversed(range(LEVELS))]


def planned_trials(budget: Budget, trial_budget: float, k: int) -> int:
    """SMAC's `n_trials`: the trials S holds at the smallest fidelity (36 at the default T). SMAC sizes its
    default initial design from it (a quarter: 9, Hyperband's first bracket), so it must be the search's real
    scale, not a loose cap; at least k, which SMAC requires of an initial design."""
    return max(k, math.ceil(budget.amount / fidelities(trial_budget)[0]))


class _Search:
    """The ask/tell loop's state: time spent, trials, the incumbent and the search's curve."""

    def __init__(self, budget: Budget, trial_budget: float, objective: str, outer: Outer, zero_shot: set[str],
                 progress: Callable[[dict[str, Any]], None] | None, prices: AnswerPrices | None = None):
        self.budget, self.trial_budget, self.objective, self.outer = budget, trial_budget, objective, outer
        self.zero_shot, self.progress, self.prices = zero_shot, progress, prices
        self.skipped: list[dict[str, Any]] = []
        self.passed: list[dict[str, Any]] = []
        self.ended = ""  # why the loop stopped: "budget", "no room", "trial cap", "skip cap" or "interrupted"
        self.start = time.perf_counter()
        self.totals = {"wall_s": 0.0, "cpu_s": 0.0, "steps": 0.0, "ref_s": 0.0}
        self.trials: list[dict[str, Any]] = []
        self.incumbent: int | None = None
        self.result: RunResult | None = None
        self.predictor: Predictor | None = None
        self.curve = LearningCurve()

    @property
    def spent(self) -> float:
        if self.budget.clock == "wall":
            return time.perf_counter() - self.start
        return self.totals["steps" if self.budget.clock == "steps" else f"{self.budget.clock}_s"]

    def next_budget(self, asked: float) -> float | None:
        """The trial's budget: what SMAC asked, cut to what is left; None once less than the smallest fidelity
        is left. The first trial always runs (SMAC asks for the smallest fidelity first, and T <= S)."""
        left, smallest = self.budget.amount - self.spent, fidelities(self.trial_budget)[0]
        if self.budget.clock == "steps":  # whole steps
            left, smallest, asked = math.floor(left), max(1, math.floor(smallest)), max(1, round(asked))
        if not self.trials:
            return asked
        if left < smallest * (1 - 1e-9):
            return None
        return min(asked, left)

    def verdict(self, config: dict[str, Any], origin: str, asked: float, amount: float) -> str:
        """"run"; "skip" (recorded) for a trial whose first answer is priced past its budget; "no room" where it
        is priced past only what is left, not past the budget SMAC asked for (telling SMAC it scores nothing
        would be false). Only once an incumbent stands: the search's first answer always comes, as a run's does."""
        if self.incumbent is None or self.prices is None:
            return "run"
        price, clock = self.prices.seconds(config), self.budget.clock  # both on the search's clock
        if not cannot_answer(price, amount, clock):
            return "run"
        if not cannot_answer(price, asked, clock):
            return "no room"
        skipped = {"n_skipped": len(self.skipped), "pipeline_id": pipeline_id(config), "origin": origin,
                   "budget": amount, "asked_budget": asked, "first_answer_s": price, "skipped": True, "config": config}
        self.skipped.append(skipped)
        if self.progress:
            self.progress(skipped)
        return "skip"

    def pass_over(self, config: dict[str, Any], origin: str, asked: float, amount: float) -> bool:
        """Leave an ask that cannot answer in what is left untold (SMAC keeps it as running, which is true
        enough: it never ran), so that the next ask can bring a cheaper trial, a quick-model pipeline for one.
        False once `NO_ROOM_ASKS` asks in a row were passed over: the search ends there."""
        self.passed.append({"pipeline_id": pipeline_id(config), "origin": origin, "budget": amount,
                            "asked_budget": asked, "first_answer_s": self.prices.seconds(config),
                            "after_trial": len(self.trials)})
        in_a_row = [p for p in self.passed if p["after_trial"] == len(self.trials)]
        return len(in_a_row) < NO_ROOM_ASKS

    def record(self, config: dict[str, Any], origin: str, asked: float, amount: float, result: RunResult) -> dict:
        for name in self.totals:
            value = result.elapsed[name]
            self.totals[name] += 0.0 if name == "ref_s" and math.isnan(value) else float(value)
        # only what it answered within its own budget counts (a first answer is never abandoned, so it can come
        # late), scored over the largest trial budget T with the last score held: short trials are lower bounds
        shown = result.curve.until(self.budget.clock, amount)
        trial = {"n": len(self.trials), "pipeline_id": pipeline_id(config), "origin": origin, "budget": amount,
                 "asked_budget": asked, "truncated": amount < asked,
                 "in_time": len(shown), "late": len(result.curve) - len(shown),  # predictions, counted or not
                 "valid_alc": curve_alc(shown, self.budget.clock, self.trial_budget) if len(shown) else 0.0,
                 "valid_final_nauc": shown.final_nauc, "seconds": clock_seconds(result, self.budget.clock),
                 "elapsed": result.elapsed, "status": result.status, "config": config}
        # the score SMAC minimizes 1 - of; none for a trial Ctrl-C cut short (it can neither win nor be told)
        trial["score"] = None if result.status == "interrupted" else trial[f"valid_{OBJECTIVE_KEY[self.objective]}"]
        self.trials.append(trial)
        if trial["score"] is not None and self._better(trial):
            self._promote(trial, result)
        trial["incumbent"] = self.incumbent
        if self.progress:
            self.progress(trial)
        return trial

    def _better(self, trial: dict[str, Any]) -> bool:
        """A lower cost wins; on a tie, the longer trial (its model trained more)."""
        if self.incumbent is None:
            return True
        best = self.trials[self.incumbent]
        return (trial["score"], trial["budget"]) > (best["score"], best["budget"])  # earlier wins full ties

    def _promote(self, trial: dict[str, Any], result: RunResult) -> None:
        """The new incumbent: its model scores the outer test once, and the search's curve gains a point at
        this moment of the search."""
        self.incumbent, self.result, self.predictor = trial["n"], result, Predictor.from_result(result)
        trial.update(self.outer.score(self.predictor))
        if "test_final_nauc" in trial:
            wall = time.perf_counter() - self.start
            self.curve.add(wall, self.totals["cpu_s"], int(self.totals["steps"]), trial["test_final_nauc"],
                           trial["test_accuracy"], self.totals["ref_s"])


def origin_of(config) -> str:
    """Where SMAC's configuration came from, in short: its random initial design, a random draw (before its
    model has data, or interleaved), or its model (the acquisition function's maximizer)."""
    origin = str(config.origin or "").lower()
    if origin.startswith("initial design"):
        return "initial design"
    return "model" if origin.startswith("acquisition") else "random"


def _search(smac, search: _Search, n_trials: int, seed: int, threads: int, device: str,
            data: tuple[ImageDataset, ImageDataset], interruptible: bool) -> str:
    """Ask, run, tell, until the budget is spent; "interrupted" when Ctrl-C stopped it."""
    from smac.runhistory import TrialValue

    fit, valid = data
    pixels = PixelStore()  # every trial trains on the same images: a trial at an input size seen before decodes none
    skips_in_a_row = 0
    try:
        while len(search.trials) < n_trials and len(search.skipped) < n_trials:
            info = _ask(smac)
            amount = search.next_budget(float(info.budget))
            if amount is None:
                search.ended = "budget"
                return "ok"
            config = as_dict(info.config)
            origin = "zero-shot" if pipeline_id(config) in search.zero_shot else origin_of(info.config)
            verdict = search.verdict(config, origin, float(info.budget), amount)
            if verdict == "no room":  # what is left is too little for this trial's first answer: ask again
                if search.pass_over(config, origin, float(info.budget), amount):
                    continue
                search.ended = "no room"
                return "ok"
            if verdict == "skip":  # it could not answer by its budget: it scores 0, as a late trial does
                smac.tell(info, TrialValue(cost=1.0, time=0.0), save=False)
                skips_in_a_row += 1
                if skips_in_a_row >= MAX_SKIPS_IN_A_ROW:
                    break
                continue
            skips_in_a_row = 0
            result = run(fit, valid, config, Budget(amount, search.budget.clock), seed=seed, threads=threads,
                         device=device, interruptible=interruptible, pixels=pixels)
            trial = search.record(config, origin, float(info.budget), amount, result)
            if result.status == "interrupted":
                search.ended = "interrupted"
                return "interrupted"
            smac.tell(info, TrialValue(cost=1.0 - trial["score"], time=trial["seconds"]), save=False)
    except KeyboardInterrupt:
        search.ended = "interrupted"
        return "interrupted"
    search.ended = "trial cap" if len(search.trials) >= n_trials else "skip cap"
    return "ok"


def tune(train: ImageDataset, test: ImageDataset | None, budget: Budget, *,
         init: str | Sequence[Mapping[str, Any]] = "zero-shot", k: int = DEFAULT_K, selector: str = DEFAULT_SELECTOR,
         objective: str = "alc", seed: int = 0, threads: int = 1, device: str = "cpu",
         trial_budget: float | None = None, extra: ImageDataset | None = None, budget_ref: float | None = None,
         progress: Callable[[dict[str, Any]], None] | None = None, interruptible: bool = False) -> TuneResult:
    """SMAC3 multi-fidelity HPO of the pipeline on `train` within `budget`, starting from the zero-shot top-k.

    `init`: "zero-shot" (the selector's top-k, or the named pipelines without a trained selector), "default"
    (SMAC's own random initial design) or a list of configurations. `budget_ref`: the budget S in reference
    seconds where the caller knows it (the selector ranks for a trial's budget in those units). `test` is the
    outer test split, scored only by incumbents; `extra` images are predicted by the final incumbent.
    `progress(record)` is called after every trial, with its record, and for every trial skipped for its price,
    with a record that has `"skipped": True` (and no score)."""
    if not isinstance(budget, Budget):
        raise ConfigError(f"budget must be a zap.Budget(amount, clock), got {budget!r}")
    check_settings(budget.amount, budget.clock, init, k, objective, selector, trial_budget)
    check_range("seed", seed, 0, MAX_SEED, integer=True)
    check_range("threads", threads, 1, integer=True)
    seed, threads = int(seed), int(threads)
    trial_budget = float(trial_budget or default_trial_budget(budget))
    inner = inner_split(train, seed)
    design = _design(init, k, selector, inner.train, budget, trial_budget, objective, threads, device, budget_ref)
    n_trials = planned_trials(budget, trial_budget, k)
    search = _Search(budget, trial_budget, objective, Outer(test), {pipeline_id(c) for c in design.configs},
                     progress, AnswerPrices.for_search(inner.train, inner.test, seed, budget, budget_ref))
    with tempfile.TemporaryDirectory(prefix="zap-tune-") as folder:
        smac = _smac(design, trial_budget, n_trials, seed, folder)
        status = _search(smac, search, BACKSTOP_FACTOR * n_trials, seed, threads, device, (inner.train, inner.test),
                         interruptible)
    extra_probabilities = search.predictor.predict_proba(extra) if extra is not None and search.predictor else None
    return TuneResult(budget, trial_budget, init if isinstance(init, str) else "given", k, objective, design,
                      search.trials, search.incumbent, search.result, search.predictor, search.curve, search.spent,
                      time.perf_counter() - search.start, status, extra_probabilities, skipped=search.skipped,
                      passed=search.passed, ended=search.ended)


def refit_incumbent(result: TuneResult, data: ImageDataset, extra: ImageDataset | None = None, *, seed: int = 0,
                    threads: int = 1, device: str = "cpu", progress: bool = False) -> TuneResult:
    """The search's result with the incumbent's pipeline retrained on `data` (all labelled images, as
    `zap fit --refit`): for the optimizer steps its trial made, or its quick model fitted again where that
    answered (`zap.finetune.refit`). The incumbent's test scores stay those of its own trial's model, the model
    that earned them; the extra images are predicted again by the refitted model. Ctrl-C keeps the incumbent's
    model with status "interrupted"; a refit that makes no usable model keeps it too (`refit.status` "failed")."""
    if result.result is None or result.status != "ok":
        return result
    try:
        predictor, steps = refit(data, result.result, result.best["config"], seed=seed, threads=threads,
                                 device=device, progress=progress)
        extra_probabilities = predictor.predict_proba(extra) if extra is not None else None
    except KeyboardInterrupt:
        return replace(result, status="interrupted", refit={"status": "interrupted"})
    except RefitError as exc:
        return replace(result, refit={"status": "failed", "error": str(exc)})
    return replace(result, predictor=predictor, extra_probabilities=extra_probabilities,
                   refit={"status": "ok", "steps": steps, "n_images": len(data)})


def _design(init: str | Sequence[Mapping[str, Any]], k: int, selector: str, fit: ImageDataset, budget: Budget,
            trial_budget: float, objective: str, threads: int, device: str, budget_ref: float | None
            ) -> InitialDesign:
    if not isinstance(init, str):
        return given_design(init, k)
    if init == "default":
        return InitialDesign([], "smac")
    return zero_shot_design(fit, k, selector, budget, trial_budget, objective, threads, device, budget_ref)

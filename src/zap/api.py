"""The Python face of `zap fit` / `zap predict`: a small estimator, scikit-learn style."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from zap.data import DataSplit, ImageDataset, SplitSettings, as_images, load_dataset, train_test_split
from zap.data.loaders import OnCorrupt
from zap.errors import ConfigError, NotFittedError
from zap.finetune import Budget, RunResult, run
from zap.finetune.calibrate import (
    DECODE_PROBE_SECONDS,
    PROBE_SECONDS,
    probe,
    probe_decoding,
    run_notes,
)
from zap.finetune.clock import check_budget
from zap.finetune.predictor import Predictor
from zap.finetune.refclock import default_cost_table
from zap.finetune.refit import RefitError, refit
from zap.finetune.runner import resolve_device
from zap.finetune.threads import ThreadChoice, choose_threads, every_core, usable_cores
from zap.metadataset.problem import check_objective
from zap.metafeatures import MetaFeatures
from zap.metafeatures import compute as compute_metafeatures
from zap.pipelines import as_dict, get_config
from zap.pipelines.space import complete
from zap.scoring import LearningCurve
from zap.selectors.trained import TRAINABLE, priced_out_warning, selection_lines
from zap.strategies.defaults import AUTO, default_for
from zap.utils import check_choice, check_range

DEFAULT_CONFIG = "recommended"  # used when no selector is shipped (or `selector=None`)
TOP_K = 5  # zero-shot suggestions kept in `selection_["top_k"]`, the first of them the pick
STRATEGIES = ("zero-shot", "refine")
CHOICES_OR_AUTO = (*STRATEGIES, AUTO)
MAX_THREADS = 1024
ON_CORRUPT = ("fail", "skip")


def check_threads(threads: Any, clock: str) -> None:
    """None (zap chooses) or a whole number of torch threads; exactly one on the thread-CPU clock."""
    if threads is None:
        return
    check_range("threads", threads, 1, MAX_THREADS, integer=True)
    if clock == "cpu" and threads != 1:
        raise ConfigError(f"the 'cpu' clock counts this thread's CPU time only: run it with threads=1, got {threads}")


def check_split(test_ratio: Any, max_test: Any, seed: Any) -> None:
    """How the labelled test split is held out: a share in (0, 1), a cap of at least one image, a seed
    (`SplitSettings` checks them)."""
    SplitSettings(test_ratio, max_test, seed)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_threads(threads: int | None, clock: str) -> tuple[int, dict[str, Any] | None]:
    """The torch threads of a run, and how zap chose them where the run names none (None where it does).
    On the wall clock, one per core that other work leaves free (`zap.finetune.threads.choose_threads`): on a
    busy machine, a thread that shares its core holds the others back. On the ref and steps clocks every core,
    whatever the load: the thread count changes a run's floating-point sums, and those runs promise the same
    numbers for the same seed. One on the cpu clock, which counts one thread. `zap fit`, `zap tune`,
    `zap suggest` and `zap predict` share this, so that a wall budget converts to reference seconds alike."""
    if threads is not None:
        return int(threads), None  # numpy's ints too: torch takes only int
    if clock == "cpu":
        choice = ThreadChoice(1, usable_cores(), None, "the cpu clock counts one thread's CPU time")
    else:
        choice = choose_threads() if clock == "wall" else every_core()
    return choice.threads, choice.to_dict()


def budget_in_reference_seconds(budget: float, clock: str, threads: int = 1, device: str = "cpu",
                                train: ImageDataset | None = None, predicted: Sequence[ImageDataset] = (),
                                ) -> tuple[float | None, dict[str, Any] | None]:
    """The budget in the meta-dataset's units, which is what selection compares, and how it was found: as
    given on the `ref` clock, one thread's CPU seconds counted as reference seconds on the `cpu` clock,
    and on the wall clock through a short probe of this device and thread count (none for a step budget).
    Given the run's `train` images and those it will `predict`, the wall-clock conversion also times decoding
    a few of them: what that costs beyond the reference clock's price (large photos) is taken off the budget
    before converting (`clock_calibration.decode`), since the run pays it in wall seconds. Selection, the
    default rule and the first-answer check all see that net budget."""
    if clock == "ref":
        return float(budget), None
    if clock == "cpu":
        return float(budget), {"method": "one thread's CPU second counted as one reference second"}
    if clock != "wall":
        return None, None
    table = default_cost_table()
    if table is None:
        return None, {"method": "none: this zap ships no cost table"}
    if train is None:
        speed = probe(table, threads, device)
        return float(budget) * speed.ref_per_wall, speed.to_dict() | {"method": "device probe"}
    speed = probe(table, threads, device, max_seconds=PROBE_SECONDS - DECODE_PROBE_SECONDS)
    decoding = probe_decoding(train, predicted, table, speed, float(budget))
    return decoding.usable_wall_s * speed.ref_per_wall, speed.to_dict() | {"method": "device probe",
                                                                          "decode": decoding.to_dict()}


class ZAP:
    """Fit the pipeline to a labelled dataset within a time budget, then predict new images.

    >>> model = ZAP(budget=60).fit("digits")          # doctest: +SKIP
    >>> model.summary()["accuracy"]                    # doctest: +SKIP
    """

    def __init__(
        self,
        budget: float = 60.0,
        config: str | Path | dict | None = None,
        selector: str | None = AUTO,
        clock: str = "wall",
        device: str = "auto",
        threads: int | None = None,
        seed: int = 0,
        test_ratio: float = 0.2,
        max_test: int = 1000,
        on_corrupt: OnCorrupt = "fail",
        progress: bool = False,
        objective: str = "alc",
        strategy: str = AUTO,
        refine_k: int | None = None,
        fallback: bool = True,
    ):
        self.budget = budget
        self.config = config
        self.selector = selector
        self.clock = clock
        self.device = device
        self.threads = threads
        self.seed = seed
        self.test_ratio = test_ratio
        self.max_test = max_test
        self.on_corrupt = on_corrupt
        self.progress = progress
        self.objective = objective
        self.strategy = strategy
        self.refine_k = refine_k
        self.fallback = fallback

    def _check_params(self) -> None:
        """Every setting, before any data is read: a mistake fails in a second with a message naming the
        argument, the value and what it takes, not after the data scan and the selection. `__init__` only
        stores the settings (scikit-learn style), so this runs at the start of `fit`, and `zap fit` calls it
        before it touches the data or the output folder."""
        check_budget(self.budget, self.clock)
        check_threads(self.threads, self.clock)
        check_split(self.test_ratio, self.max_test, self.seed)
        check_choice("on_corrupt", self.on_corrupt, ON_CORRUPT)
        check_objective(self.objective)
        check_choice("strategy", self.strategy, CHOICES_OR_AUTO)
        for name in ("fallback", "progress"):  # 1 == True would pass a plain membership test
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.strategy == "refine" and self.config is not None:
            raise ConfigError("strategy 'refine' races a selector's top candidates, but config fixes the pipeline; "
                              "drop config (--config) or use strategy 'zero-shot'")
        if self.strategy == "refine" and self.selector is None:
            raise ConfigError("strategy 'refine' races a selector's top candidates, but selector is None (the "
                              f"default pipeline); give a selector ({AUTO!r} or one of {list(TRAINABLE)}) or use "
                              "strategy 'zero-shot'")
        if self.refine_k is not None:
            check_range("refine_k", self.refine_k, 1, TOP_K, integer=True)
            if self.strategy != "refine":
                raise ConfigError("refine_k (--refine-k) sets how many candidates strategy 'refine' races; "
                                  "add strategy 'refine' (--strategy refine) or drop it")
        resolve_device(self.device)  # an unknown device, or CUDA asked for where torch sees none
        if self.selector is not None:
            check_choice("selector", self.selector, (*TRAINABLE, AUTO))
        if self.config is not None and self.selector not in (None, AUTO):
            raise ConfigError(f"config fixes the pipeline, so selector {self.selector!r} would choose nothing: drop "
                              "one of them")
        if not isinstance(self.config, str | Path | dict | None):
            raise ConfigError(f"config must be a pipeline name, a JSON file or a dict, got {self.config!r}")
        if isinstance(self.config, str) and not self.config.strip():
            raise ConfigError("config (--config) is empty: give a pipeline name (`zap zoo list`), a JSON file, or "
                              "leave it out to let zap select")
        self._fixed_config(self.selector)  # a named pipeline, file or dict with a bad value fails here

    def _threads(self) -> int:
        """The threads `fit` chose (once: a machine's load moves, a run's threads do not)."""
        return self.threads_

    def _config(self, n_predicted: int) -> dict[str, Any]:
        """A fixed `config` wins; otherwise the zero-shot pick of `selector` from the meta-features, among the
        suggestions that can answer within the budget when predicting `n_predicted` images a pass."""
        fixed = self._fixed_config(self.selector_)
        return fixed if fixed is not None else self._zero_shot(n_predicted)

    def _fixed_config(self, selector: str | None) -> dict[str, Any] | None:
        """The pipeline `config` fixes (or the default one when there is no selector); None: the selector picks."""
        if isinstance(self.config, dict):
            return as_dict(complete(self.config))
        if self.config is not None or selector is None:
            return as_dict(get_config(self.config or DEFAULT_CONFIG))
        return None

    def _zero_shot(self, n_predicted: int) -> dict[str, Any]:
        from zap.selectors.trained import selector_path, suggest

        path = selector_path(self.selector_, objective=self.objective)
        if not path.exists():
            self.selection_ = {"selector": self.selector_, "fallback": DEFAULT_CONFIG,
                               "warnings": [f"no trained '{self.selector_}' selector at {path} (train one with "
                                            "`zap meta-train`, or set $ZAP_HOME to a folder that holds "
                                            f"artifacts/selectors/); used the '{DEFAULT_CONFIG}' pipeline instead"]}
            return as_dict(get_config(DEFAULT_CONFIG))
        device = "cpu" if self.device == "auto" and not _cuda() else self.device
        result = suggest(self.meta_features_, self.selector_, k=TOP_K, budget=self.budget, clock=self.clock,
                         threads=self._threads(), device=device, objective=self.objective,
                         budget_ref=self.budget_ref_, fallback=bool(self.fallback))
        top_k = [{"rank": s.rank, "pipeline_id": s.pipeline_id, "name": s.name, "score": s.score}
                 for s in result.suggestions]
        answering, priced_out = self._within_budget(result.suggestions, n_predicted)
        pick = answering[0]
        self.candidates_ = [c | {"config": as_dict(complete(s.config))}
                            for c, s in zip(top_k, result.suggestions, strict=True) if s in answering]
        warnings = list(result.warnings)
        if priced_out:
            none_answers = len(priced_out) == len(result.suggestions)
            warnings.append(priced_out_warning(priced_out, none_answers, self.budget_ref_))
        self.selection_ = {"selector": self.selector_, "pipeline_id": pick.pipeline_id, "name": pick.name,
                           "score": pick.score, "top_k": top_k, "warnings": warnings, "priced_out": priced_out,
                           "trained_on": result.trained_on, "fallback": result.fallback}
        return as_dict(complete(pick.config))

    def _within_budget(self, suggestions: list, n_predicted: int) -> tuple[list, list[dict[str, Any]]]:
        """The suggestions whose first answer can come within the budget, in rank order, and a record of those
        priced past it (`zap.finetune.pricing`): a pick that answers only after the budget scores nothing. Where
        every one is priced past it, all of them, so that the run still answers, late."""
        from zap.finetune.pricing import cannot_answer, first_answer_price

        answering, priced_out = [], []
        for s in suggestions:
            price = first_answer_price(self.split_.train, n_predicted, s.config, seed=self.seed_,
                                       resolution=self.meta_features_.resolution)
            if cannot_answer(price, self.budget_ref_, self.clock):
                priced_out.append({"pipeline_id": s.pipeline_id, "rank": s.rank, "first_answer_ref_s": price})
            else:
                answering.append(s)
        return (answering, priced_out) if answering else (list(suggestions), priced_out)

    def fit(self, data: Any, extra: Any | None = None,
            on_prediction: Callable[[LearningCurve], None] | None = None) -> ZAP:
        """Split `data`, fine-tune the pipeline on its train part within the budget; `extra` images get
        anytime predictions too (they are unlabelled test images, as in AutoDL).

        Ctrl-C during training stops it and `fit` returns what the run had, with `result_.status`
        "interrupted"; `on_prediction(curve)` is called after each prediction (a progress file, say)."""
        self._check_params()
        if on_prediction is not None and not callable(on_prediction):
            raise ConfigError(f"on_prediction must be a function of the learning curve, or None, got {on_prediction!r}")
        self._forget_fit()  # a fit that fails half way leaves an unfitted estimator, never a mix of two fits
        self.seed_ = int(self.seed)  # numpy's ints too: torch's generators and JSON take only int
        extra_images = as_images(extra, self.on_corrupt) if extra is not None else None  # a bad path fails first
        dataset = load_dataset(data, on_corrupt=self.on_corrupt)
        self.split_: DataSplit = train_test_split(
            dataset, SplitSettings(self.test_ratio, int(self.max_test), self.seed_)
        )
        self.meta_features_: MetaFeatures = compute_metafeatures(self.split_.train)
        self.threads_, self.threads_choice_ = resolve_threads(self.threads, self.clock)
        self.budget_ref_, self.clock_calibration_ = self._budget_in_reference_seconds(extra_images)
        self._follow_default_rule()
        self.candidates_: list[dict[str, Any]] = []  # a previous fit's are not this one's
        self.selection_: dict[str, Any] = {"selector": "fixed", "config": self._config_source()}
        n_predicted = len(self.split_.test) + (len(extra_images) if extra_images is not None else 0)
        self.pipeline_ = self._config(n_predicted)
        notes = run_notes(self.threads_choice_, self.clock_calibration_, self.budget)
        lines = [f"note: {note}" for note in notes] + selection_lines(self.selection_)
        if self.progress and lines:  # before training: the whole run is what it chose
            print("\n".join(lines), file=sys.stderr, flush=True)
        self.data_ = dataset  # what a refit trains on: all of it, and nothing the caller did not give
        self.refit_status_: str | None = None
        self.refit_steps_: int | None = None
        self.refit_error_: str | None = None
        self.refit_extra_probabilities_: np.ndarray | None = None
        self.refine_: dict[str, Any] | None = None
        if self.strategy_ == "refine":
            self.result_ = self._refine(extra_images, on_prediction)
        else:
            self.result_: RunResult = run(
                self.split_.train, self.split_.test, self.pipeline_, Budget(self.budget, self.clock),
                seed=self.seed_, threads=self._threads(), device=self.device, extra=extra_images,
                progress=self.progress, interruptible=True, on_prediction=on_prediction,
            )
        self.extra_ = extra_images
        self.predictor_ = Predictor.from_result(self.result_)
        self.classes_ = np.asarray(self.result_.class_names)
        return self

    def _refine(self, extra: ImageDataset | None,
                on_prediction: Callable[[LearningCurve], None] | None = None) -> RunResult:
        """The top-k raced with the curve predictor (`zap.strategies`); zero-shot, with the reason in
        `refine_["fallback"]`, where there is nothing to race or no predictor to race with."""
        from zap.strategies.live import live_predict, refine_fit
        from zap.strategies.policy import settings_for_budget
        from zap.strategies.predictor import CurvePredictor, predictor_path

        budget = Budget(self.budget, self.clock)
        candidates = self.candidates_  # set by fit: this fit's, or none
        path = predictor_path()
        priced_out = len(self.selection_.get("priced_out") or [])
        few = ("the selector gave fewer than 2 candidates" if not priced_out else
               f"fewer than 2 of the selector's candidates can answer within the budget ({priced_out} passed over)")
        reason = (few if len(candidates) < 2 else
                  None if path.is_file() else f"no curve predictor at {path} (train one with `zap meta-train "
                                               "--refine`)")
        if reason is None:
            predictor, context = CurvePredictor.load(path)
            budget_ref = self.budget_ref_ or float(min(context.get("levels") or [self.budget]))
            settings = settings_for_budget(budget_ref, self.objective,
                                           None if self.refine_k is None else int(self.refine_k))
            if settings.k > 1:
                def factory(configs):
                    return live_predict(predictor, self.meta_features_, budget_ref, configs, self.budget,
                                        self.objective)

                outcome = refine_fit(self.split_.train, self.split_.test, candidates, budget, settings, factory,
                                     seed=self.seed_, threads=self._threads(), device=self.device, extra=extra,
                                     on_prediction=on_prediction)
                self.refine_ = outcome.summary() | {"settings": settings.to_dict()}
                self.pipeline_ = outcome.result.config
                if outcome.interrupted:
                    return replace(outcome.result, status="interrupted",
                                   error=f"interrupted (Ctrl-C) after {outcome.trace.elapsed:.3g} {self.clock}-s "
                                         "of refine")
                return outcome.result
            reason = f"at {budget_ref:.0f} reference-s the refine rule looks at one candidate only (k = 1)"
        self.refine_ = {"fallback": "zero-shot", "reason": reason}
        self.selection_.setdefault("warnings", []).append(f"refine ran as zero-shot: {reason}")
        return run(self.split_.train, self.split_.test, self.pipeline_, budget, seed=self.seed_,
                   threads=self._threads(), device=self.device, extra=extra, progress=self.progress,
                   interruptible=True, on_prediction=on_prediction)

    def _follow_default_rule(self) -> None:
        """`strategy_` and `selector_`: the user's, or where they said "auto", the rule's for this budget
        (`zap.strategies.defaults`); `default_` is the rule's band, None where the rule decided nothing."""
        self.strategy_, self.selector_, self.default_ = self.strategy, self.selector, None
        self.default_applied_: list[str] = []
        if self.config is not None:  # a fixed pipeline: nothing to select, nothing to race
            self.selector_ = None if self.selector == AUTO else self.selector
            self.strategy_ = "zero-shot" if self.strategy == AUTO else self.strategy
            return
        if AUTO not in (self.strategy, self.selector):
            return
        self.default_ = default_for(self.budget_ref_, self.objective)
        self.default_applied_ = [name for name in ("strategy", "selector") if getattr(self, name) == AUTO]
        if self.selector == AUTO:
            self.selector_ = self.default_.selector
        if self.strategy == AUTO:
            self.strategy_ = self.default_.strategy if self.selector_ is not None else "zero-shot"
        if self.strategy_ == "refine" and self.selector_ is None:
            raise ConfigError(f"strategy 'refine' races a selector's top candidates, but at {self.budget_ref_:.0f} "
                              "reference-s the default rule names no selector (it runs `recommended`); pass a "
                              "selector (--selector zap-hpo) or leave the strategy to auto")

    def _budget_in_reference_seconds(self, extra: ImageDataset | None) -> tuple[float | None, dict[str, Any] | None]:
        device = self.device if self.device != "auto" else ("cuda" if _cuda() else "cpu")
        predicted = [d for d in (self.split_.test, extra) if d is not None]
        return budget_in_reference_seconds(self.budget, self.clock, self._threads(), device,
                                           train=self.split_.train, predicted=predicted)

    def _forget_fit(self) -> None:
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("_")]:
            delattr(self, name)

    def _check_fitted(self) -> None:
        """Before fit (or after a fit that failed) there is no model: say so, not an AttributeError."""
        if not hasattr(self, "predictor_"):
            raise NotFittedError("this ZAP estimator is not fitted (or its last fit failed): call fit(data) first")

    def refit(self) -> ZAP:
        """Retrain on all labelled data (the dataset `fit` was given, train and test): the CNN for the steps
        the run made, or the quick model when its answer stood (the CNN never validated better;
        `zap.finetune.refit`). The extra images are predicted again by the refitted model, so its predictions
        are the saved model's. Ctrl-C keeps the model standing (`refit_status_` "interrupted", and the
        summary's status with it); a refit that makes no usable model keeps it too (`refit_status_`
        "failed", `refit_error_` says why)."""
        self._check_fitted()
        try:
            predictor, steps = refit(self.data_, self.result_, self.pipeline_, seed=self.seed_,
                                     threads=self._threads(), device=self.device, progress=self.progress)
            extra = predictor.predict_proba(self.extra_) if self.extra_ is not None else None
        except KeyboardInterrupt:
            self.refit_status_ = "interrupted"
            return self
        except RefitError as exc:
            self.refit_status_, self.refit_error_ = "failed", str(exc)
            return self
        self.predictor_, self.refit_steps_, self.refit_extra_probabilities_ = predictor, steps, extra
        self.refit_status_ = "ok"
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        self._check_fitted()
        return self.predictor_.predict_proba(as_images(x, self.on_corrupt))

    def predict(self, x: Any) -> np.ndarray:
        self._check_fitted()
        return self.classes_[self.predict_proba(x).argmax(axis=1)]

    def summary(self) -> dict[str, Any]:
        self._check_fitted()
        r = self.result_
        return {
            "pipeline": r.config,
            "pipeline_id": r.pipeline_id,
            "meta_features": self.meta_features_.to_dict(),
            "alc": r.alc,
            "final_nauc": r.final_nauc,
            "accuracy": r.accuracy,
            "elapsed_s": r.elapsed[f"{self.clock}_s"] if self.clock != "steps" else r.elapsed["wall_s"],
            "budget_s": self.budget,
            "clock": self.clock,
            "budget_ref_s": self.budget_ref_,
            "clock_calibration": self.clock_calibration_,
            "elapsed": r.elapsed,
            "status": self.status(),
            "error": self._error(),
            "refit_status": self.refit_status_,  # None: no refit asked; "ok", "interrupted" or "failed"
            "refit_error": self.refit_error_,
            "n_predictions": len(r.curve),
            "answered_by": self.predictor_.answered_by,  # "cnn", or quick.ANSWERED_BY if the CNN never beat it
            "input_size": r.input_size,
            "threads": self._threads(),
            "threads_choice": self.threads_choice_,  # None where the run named its threads
            "selector": self.selection_["selector"],
            "selection": self.selection_,
            "config_source": self._config_source(),
            "seed": self.seed_,
            "objective": self.objective,
            "strategy": self.strategy_,
            "default_rule": None if self.default_ is None else self.default_.to_dict() | {
                "applied": self.default_applied_},
            "refine": self.refine_,
        }

    def status(self) -> str:
        """How the fit ended: "ok"; "late" (every prediction ended after the budget: ALC 0); "diverged";
        "interrupted" (Ctrl-C, in training or in the refit). `zap fit` adds "incomplete", the mark of a run
        folder still being written (see `zap.report.RunFolder`)."""
        self._check_fitted()
        if self.result_.status != "ok":
            return self.result_.status
        if self.refit_status_ == "interrupted":
            return "interrupted"
        return "late" if self.result_.late else "ok"

    def _error(self) -> str | None:
        """What went wrong, for the summary: the run's error, or why a late or cut-short refit is not "ok"."""
        status = self.status()
        if status == "late":
            first = self.result_.curve.times(self.clock)[0] if len(self.result_.curve) else math.nan
            return (f"the first prediction ended at {first:.3g} {self.clock}-s, after the budget of {self.budget:g}, "
                    "and none came earlier, so ALC counts none: making a prediction takes longer than the budget; "
                    "raise the budget, or give fewer or smaller images")
        if status == "interrupted" and self.result_.status == "ok":
            kept = "the run's, not refit on all data" if self.refit_steps_ is None else "an earlier refit's"
            return f"the refit was interrupted (Ctrl-C): the model is {kept}"
        return self.result_.error

    def _config_source(self) -> str:
        if isinstance(self.config, dict):
            return "dict"
        if self.config is None and self.selector_ is not None:
            return f"selector:{self.selector_}"
        return str(self.config or DEFAULT_CONFIG)

    def save(self, folder: str | Path) -> Path:
        """The model folder `zap predict` and `Predictor.load` read."""
        self._check_fitted()
        return self.predictor_.save(folder)

"""The budgeted fine-tuning run with anytime predictions: the AutoDL protocol on one dataset.

`run` builds the backbone (before the clock starts: AutoDL's initialization phase), then, on the
budget's clock, decodes data, trains and predicts the test split on a schedule that starts early and
spaces out. A prediction pass is measured, and the last one is started so it ends inside the budget.
A run started with `interruptible=True` (what `zap fit` does) stops at Ctrl-C and returns what it made so
far with status "interrupted"; the meta-dataset's runs leave Ctrl-C to abort them, so that no cut-short
run is ever stored as a result.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from zap.data.dataset import ImageDataset
from zap.data.split import MAX_SEED, stratified_holdout
from zap.errors import ConfigError
from zap.finetune import quick
from zap.finetune.batches import CachedImages, InputTransform, PixelCache, PixelStore, endless, input_size, train_loader
from zap.finetune.clock import Budget, Stopwatch
from zap.finetune.refclock import CostTable, RunCosts, default_cost_table, run_costs
from zap.finetune.schedules import EvalSchedule, LearningRate
from zap.finetune.threads import torch_threads
from zap.metafeatures import compute as compute_metafeatures
from zap.pipelines.space import as_dict, complete, pipeline_id
from zap.pipelines.zoo import create_model, normalization
from zap.scoring import LearningCurve, accuracy, curve_alc, nauc
from zap.utils import check_range

PREDICT_BATCH = 256


class PredictionTooLate(Exception):
    """A prediction pass that cannot end inside the budget."""
VALID_IMPROVEMENT = 1e-3  # AutoDL winner's threshold_valid_score_diff
# What the runner's anytime rule is; part of the meta-dataset protocol, since a change moves every ALC.
# 1: the CNN's first validated prediction always replaced the quick model's (the reference).
# 2: it replaces it only once the CNN validates better than the quick model did (the anytime guard).
# 3: the quick model learns from a class-balanced sample and never fails for lack of images of a class
#    (see quick.fit); every operation is priced on the reference clock.
RUNNER_VERSION = 3
RESERVE_SAFETY = 1.15


@dataclass
class Prediction:
    """One anytime prediction of the extra (unlabelled) images, with when it was made."""

    wall_s: float
    cpu_s: float
    steps: int
    probabilities: np.ndarray
    ref_s: float = math.nan


@dataclass
class RunResult:
    """Everything a run produced; `alc` is on the budget's own clock.

    `status` is "ok", "diverged" (the loss became NaN or infinite; `error` says at which step) or
    "interrupted" (Ctrl-C in an interruptible run; `error` says how far it got). A run whose every
    prediction ended after the budget is still "ok" here, as the meta-dataset records it (its ALC is 0
    all the same): `late` says so, and `zap.ZAP.summary` reports it as status "late".
    """

    curve: LearningCurve
    model: nn.Module
    config: dict[str, Any]
    pipeline_id: str
    budget: Budget
    alc: float
    status: str
    error: str | None
    elapsed: dict[str, float]
    input_size: int
    class_names: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    n_channels: int
    test_probabilities: np.ndarray | None = None
    extra_predictions: list[Prediction] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    quick_model: Any = None  # the fitted quick model, when its predictions were the last ones released

    @property
    def final_nauc(self) -> float:
        return self.curve.final_nauc

    @property
    def accuracy(self) -> float:
        return self.curve.final_accuracy

    @property
    def late(self) -> bool:
        """Every prediction ended after the budget, so ALC counts none. The first pass is never abandoned (a
        user always gets a prediction), so one slow pass (a huge image, a tiny budget) can end past T.
        Never on a step budget, where predictions cost no steps."""
        if self.budget.clock == "steps":
            return False
        key = f"{self.budget.clock}_s"
        times = [event[key] for event in self.events if event["event"] == "prediction"]
        return bool(times) and min(times) > self.budget.amount


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no CUDA GPU; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu or cuda")
    return torch.device(device)


def head_parameters(model: nn.Module) -> list[nn.Parameter]:
    head = model.get_classifier() if hasattr(model, "get_classifier") else model.classifier
    return list(head.parameters())


def freeze_backbone(model: nn.Module, portion: float) -> None:
    """Freeze the first `portion` of the backbone's parameter tensors (input side); the head stays free."""
    head = {id(p) for p in head_parameters(model)}
    backbone = [p for p in model.parameters() if id(p) not in head]
    for p in backbone[: round(portion * len(backbone))]:
        p.requires_grad_(False)


def make_optimizer(model: nn.Module, cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg["optimizer"] == "SGD":
        return torch.optim.SGD(params, lr=cfg["lr"], momentum=cfg["momentum"], nesterov=bool(cfg["nesterov"]),
                               weight_decay=cfg["wd"])
    optimizer = torch.optim.Adam if cfg["optimizer"] == "Adam" else torch.optim.AdamW
    return optimizer(params, lr=cfg["lr"], weight_decay=cfg["wd"], amsgrad=bool(cfg["amsgrad"]))


def fit_valid_split(labels: np.ndarray, n_classes: int, cfg: Mapping[str, Any], seed: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The pipeline's validation holdout (none if a class has a single image) and the rest to fit on."""
    valid_idx = np.empty(0, dtype=np.int64)
    if np.all(np.bincount(labels, minlength=n_classes) >= 2):
        valid_idx = stratified_holdout(labels, float(cfg["cv_valid_ratio"]), int(cfg["max_valid_count"]), seed + 1)
    fit_mask = np.ones(len(labels), dtype=bool)
    fit_mask[valid_idx] = False
    return np.flatnonzero(fit_mask), valid_idx


class _Run:
    """The state of one run; `run()` below is its only entry point."""

    def __init__(self, train, test, cfg, budget, *, seed, device, extra, progress, stopwatch, costs,
                 on_prediction=None, amp: bool | None = None, hold_out: bool = True, pixels: PixelStore | None = None):
        self.cfg, self.budget, self.seed, self.device = cfg, budget, seed, device
        self.pixels = pixels
        self.hold_out = hold_out
        self.on_prediction: Callable[[LearningCurve], None] | None = on_prediction
        self.train, self.test, self.extra = train, test, extra
        self.stopwatch = stopwatch
        self.n_classes = train.n_classes
        resolution = compute_metafeatures(train).resolution
        self.size = input_size(resolution, 2 ** int(cfg["log2_max_size"]))
        self.mean, self.std = normalization(cfg["architecture"])
        self.costs: RunCosts | None = run_costs(costs, cfg, self.size)
        if budget.clock == "ref" and self.costs is None:
            raise ConfigError(f"no reference-clock cost table prices architecture {cfg['architecture']!r}; "
                             "use --clock wall or cpu")
        self.curve = LearningCurve()
        self.extra_predictions: list[Prediction] = []
        self.events: list[dict[str, Any]] = []
        self.test_probabilities: np.ndarray | None = None
        self.best_valid = -math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.quick_model: Any = None  # set while the quick model's prediction is the one standing
        self.skip_validation = False
        self.full_eval_cost = 0.0
        self.step_cost = 0.0
        self.status, self.error = "ok", None
        self.progress = progress
        if amp and device.type != "cuda":
            raise ConfigError("mixed precision (amp=True) needs a CUDA device; leave amp unset on the CPU")
        self.amp = device.type == "cuda" if amp is None else amp
        # freeze-thaw (ResumableRun): where the run ends and where it next pauses, on its own clock; the
        # schedules still span the whole budget, so a paused run computes what an unpaused one does
        self.stop_at = budget.amount
        self.pause_at = math.inf
        self.slice_start = 0.0  # where the current slice began on the run's clock
        self.paused = False
        self.pending: tuple[torch.Tensor, torch.Tensor] | None = None  # the batch fetched when it paused
        self.epoch_losses: list[float] = []

    # ------------------------------------------------------------------------------------------ setup
    def build(self, pretrained: bool = True) -> None:
        """The model, optimizer and schedules; `pretrained=False` only where compute is timed, not learned."""
        torch.manual_seed(self.seed)
        self.model = create_model(self.cfg["architecture"], self.n_classes, pretrained=pretrained).to(self.device)
        freeze_backbone(self.model, float(self.cfg["freeze_portion"]))
        self.optimizer = make_optimizer(self.model, self.cfg)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.transform = InputTransform(self.mean, self.std, self.device, self.cfg["augmentation"], self.seed)
        self.lr = LearningRate(
            lr=self.cfg["lr"], min_lr=self.cfg["min_lr"], multiplier=float(self.cfg["warmup_multiplier"]),
            warmup_epochs=int(self.cfg["warm_up_epoch"]), steps_per_epoch=int(self.cfg["steps_per_epoch"]),
            scheduler=self.cfg["scheduler"],
        )
        self.schedule = EvalSchedule(
            self.cfg["eval_first_frac"], self.cfg["eval_gap_step_frac"], self.cfg["eval_gap_max_frac"]
        )

    def prepare_data(self) -> None:
        """Carve validation out of train (per the pipeline) and set up lazy pixel caches."""
        labels = self.train.labels
        if self.hold_out:
            self.fit_idx, self.valid_idx = fit_valid_split(labels, self.n_classes, self.cfg, self.seed)
        else:
            self.fit_idx, self.valid_idx = np.arange(len(labels)), np.empty(0, dtype=np.int64)
        self.train_cache = PixelCache(self.train, self.size, store=self.pixels)
        images = CachedImages(self.train_cache, labels, self.fit_idx)
        self.loader = train_loader(images, int(self.cfg["batch_size"]), self.seed)
        self.batches = endless(self.loader)
        # every split is seen with train's channels: a grey test folder for an RGB training set (or the reverse)
        # is what a user has, and the quick model's flat pixels must be as wide as the ones it was fitted on
        channels = self.train_cache.channels
        self.test_cache = (PixelCache(self.test, self.size, channels=channels, store=self.pixels)
                           if self.test is not None else None)
        self.extra_cache = (PixelCache(self.extra, self.size, channels=channels, store=self.pixels)
                            if self.extra is not None else None)

    # ---------------------------------------------------------------------------------------- predict
    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()

    def out_of_time(self) -> bool:
        """The budget is spent on a time clock: a prediction finished from now on would not count
        (ALC ignores predictions after T, as AutoDL did), so starting or finishing one is waste."""
        return self.budget.clock != "steps" and self.remaining() <= 0

    def remaining(self) -> float:
        """What is left until the run ends: its budget, or an earlier end `refine` set (`stop_at`)."""
        return self.stop_at - self.stopwatch.elapsed()

    @torch.no_grad()
    def predict(self, cache: PixelCache, indices: np.ndarray, abandon_late: bool = False) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        outputs = []
        for start in range(0, len(indices), PREDICT_BATCH):
            if abandon_late and self.out_of_time():
                self.model.train(was_training)
                raise PredictionTooLate
            chunk = indices[start:start + PREDICT_BATCH]
            x = self.transform(cache.batch(chunk))
            with self._autocast():
                outputs.append(self.model(x).float().softmax(dim=1).cpu())
            self.charge(cache, "predict", len(chunk))
        self.model.train(was_training)
        if not outputs:
            return np.zeros((0, self.n_classes))
        return np.nan_to_num(torch.cat(outputs).numpy(), nan=1.0 / self.n_classes)  # a diverged model

    def charge(self, cache: PixelCache | None, operation: str, *size: Any) -> None:
        """Advance the reference clock by the price of `operation` (a `RunCosts` method) at this size, plus
        the images it made `cache` decode."""
        decoded = cache.pop_decoded() if cache is not None else 0
        if self.costs is not None:
            self.stopwatch.charge(getattr(self.costs, operation)(*size) + self.costs.decode(decoded))

    def ref_time(self) -> float:
        return self.stopwatch.ref if self.costs is not None else math.nan

    def record(self, test_probs: np.ndarray | None, extra_probs: np.ndarray | None, source: str) -> None:
        sw = self.stopwatch
        wall, cpu, steps, ref = sw.wall, sw.cpu, sw.steps, self.ref_time()
        if test_probs is not None:
            score, acc = nauc(self.test.labels, test_probs), accuracy(self.test.labels, test_probs)
            self.curve.add(wall, cpu, steps, score, acc, ref)
            self.test_probabilities = test_probs
            self.bar_postfix(score, acc)
        if extra_probs is not None:
            self.extra_predictions.append(Prediction(wall, cpu, steps, extra_probs, ref))
        self.events.append({"event": "prediction", "source": source, "wall_s": wall, "cpu_s": cpu,
                            "steps": steps, "ref_s": ref})
        if self.on_prediction is not None:
            self.on_prediction(self.curve)

    def predict_outputs(self, abandon_late: bool = False) -> tuple[np.ndarray | None, np.ndarray | None]:
        test_probs = (self.predict(self.test_cache, np.arange(len(self.test)), abandon_late)
                      if self.test_cache else None)
        extra_probs = (self.predict(self.extra_cache, np.arange(len(self.extra)), abandon_late)
                       if self.extra_cache else None)
        return test_probs, extra_probs

    def evaluate(self, force: bool = False) -> None:
        """Validate; predict the test set only if validation improved (or once past the threshold).
        A pass still running when the budget runs out is abandoned, unless it would be the first
        prediction of the run (a user always gets one)."""
        try:
            self._evaluate(force, abandon_late=bool(len(self.curve)))
        except PredictionTooLate:
            self.events.append({"event": "prediction_abandoned", "steps": self.stopwatch.steps,
                                "reason": "the budget ran out during the pass; it would not count"})

    def _evaluate(self, force: bool, abandon_late: bool) -> None:
        start = self.stopwatch.elapsed()
        if len(self.valid_idx) and not self.skip_validation:
            valid_probs = self.predict(self.train_cache, self.valid_idx, abandon_late)
            score = nauc(self.train.labels[self.valid_idx], valid_probs)
            improved = score > self.best_valid + VALID_IMPROVEMENT
            if not improved and not (force and not len(self.curve)):
                self.events.append({"event": "skipped_prediction", "valid_nauc": score,
                                    "steps": self.stopwatch.steps})
                return
            self.best_valid = max(self.best_valid, score)
            self.skip_validation = score >= float(self.cfg["skip_valid_score_threshold"])
        state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        test_probs, extra_probs = self.predict_outputs(abandon_late)
        # only a model whose prediction counted; kept before the prediction is recorded, so that a run
        # stopped by Ctrl-C never shows a prediction whose model it did not keep
        self.best_state, self.quick_model = state, None
        self.record(test_probs, extra_probs, "cnn")
        self.events[-1]["valid_nauc"] = self.best_valid
        self.full_eval_cost = max(self.full_eval_cost, self.stopwatch.elapsed() - start)

    def quick_model_prediction(self) -> None:
        """The quick model's prediction, the run's first. Its validation score is the bar the CNN must clear
        before its predictions replace this one (the anytime guard, RUNNER_VERSION 2): early CNN predictions
        are often far worse, and releasing them anyway rewarded CNNs that barely trained (docs/metadataset.md,
        "The anytime guard", has the measurements)."""
        labels = self.train.labels
        take = quick.training_sample(self.fit_idx, labels, self.seed)
        try:
            model, fitted = quick.fit(self.cfg["simple_model"], quick.thumbnails(self.train_cache.batch(take)),
                                       labels[take], self.seed)
        except (ValueError, np.linalg.LinAlgError) as exc:  # even the fallback failed (a single class)
            self.events.append({"event": "quick_model_failed", "error": str(exc)})
            return
        finally:  # priced as the model asked for, also when logistic regression stood in (it costs less)
            self.charge(self.train_cache, "quick_fit", self.cfg["simple_model"], len(take),
                        len(np.unique(labels[take])))
        if fitted != self.cfg["simple_model"]:
            self.events.append({"event": "quick_model_fallback", "fitted": fitted})

        def probabilities(cache: PixelCache | None, indices: np.ndarray | None = None) -> np.ndarray | None:
            if cache is None:
                return None
            pixels = cache.batch(np.arange(len(cache.dataset)) if indices is None else indices)
            self.charge(cache, "quick_predict", fitted, len(pixels))
            return quick.predict_proba(model, quick.thumbnails(pixels), self.n_classes)

        test_probs, extra_probs = probabilities(self.test_cache), probabilities(self.extra_cache)
        self.quick_model = model  # before the record, as in `_evaluate`
        self.record(test_probs, extra_probs, quick.ANSWERED_BY)
        if len(self.valid_idx):
            score = nauc(self.train.labels[self.valid_idx], probabilities(self.train_cache, self.valid_idx))
            self.best_valid = score
            self.events[-1]["valid_nauc"] = score

    # ------------------------------------------------------------------------------------------ train
    def train_and_predict(self, anytime: bool) -> None:
        """Everything on the budget's clock: data, the quick model's first prediction, training with anytime
        predictions, and a final prediction unless it would land after the budget."""
        self.begin()
        self.train_loop(anytime and self.outputs)
        self.finish()

    def begin(self) -> None:
        """Data and the quick model's first prediction: the start of the clocked part."""
        self.outputs = self.test is not None or self.extra is not None
        self.prepare_data()
        if self.cfg.get("first_simple_model") and self.outputs:
            self.quick_model_prediction()

    def finish(self) -> None:
        """The final prediction, unless it would land after the budget."""
        late = len(self.curve) and self.out_of_time()  # a final pass now would not count
        if self.outputs and (self.status == "ok" or not len(self.curve)) and not late:
            self.evaluate(force=True)

    def interrupted(self) -> None:
        """Ctrl-C: stop where the run is and keep what it made (the model of the last counted prediction, the
        curve, the anytime predictions); a pass cut short records nothing."""
        sw = self.stopwatch
        self.status = "interrupted"
        self.error = f"interrupted (Ctrl-C) after {sw.steps} steps and {len(self.curve)} prediction(s)"
        self.events.append({"event": "interrupted", "wall_s": sw.wall, "cpu_s": sw.cpu, "steps": sw.steps,
                            "ref_s": self.ref_time()})

    def reserve(self) -> float:
        """Budget to keep for the final prediction pass and the step that may run before it."""
        if self.budget.clock == "steps":
            return 0.0  # predictions cost no steps
        return RESERVE_SAFETY * self.full_eval_cost + 2.0 * self.step_cost

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> float:
        lr = self.lr.at(self.stopwatch.steps, self.stopwatch.fraction())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.transform(x, train=True), y.to(self.device)
        with self._autocast():
            loss = nn.functional.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return float(loss.detach())

    def pass_crosses_pause(self) -> bool:
        """Freeze-thaw only: a prediction pass due now would end past the slice (a pass cannot be cut), and the
        slice has already done something, so it pauses first and the pass opens the next slice. Priced on the
        reference clock; on the others, by the longest pass so far (the first pass is never deferred)."""
        sw = self.stopwatch
        if math.isinf(self.pause_at) or sw.elapsed() <= self.slice_start:
            return False
        return sw.elapsed() + self.pass_cost() > self.pause_at

    def pass_cost(self) -> float:
        if self.budget.clock == "ref" and self.costs is not None:
            n = len(self.valid_idx) + sum(len(d) for d in (self.test, self.extra) if d is not None)
            return self.costs.predict(n)
        return self.full_eval_cost

    def batch_stream(self):
        """The training batches, the one fetched when the run last paused first."""
        while True:
            if self.pending is not None:
                batch, self.pending = self.pending, None
                yield batch
            else:
                yield next(self.batches)

    def train_loop(self, anytime: bool) -> None:
        """Train until the run ends or (freeze-thaw) its clock reaches `pause_at`; then `paused` says which."""
        sw = self.stopwatch
        self.paused = False
        self.model.train()
        mark = sw.elapsed()
        for x, y in self.batch_stream():  # fetching a batch decodes its new images: part of the step cost
            if sw.elapsed() >= self.pause_at:
                self.pending, self.paused = (x, y), True
                return
            if self.remaining() <= self.reserve():
                break
            if anytime and sw.steps > 0 and self.schedule.due(sw.fraction()):  # an untrained head: no use
                if self.pass_crosses_pause():  # the pass goes first in the next slice: nothing computed changes
                    self.pending, self.paused = (x, y), True
                    return
                self.evaluate()
                self.schedule.advance(sw.fraction())
                if self.remaining() <= self.reserve():
                    break
                mark = sw.elapsed()
            loss = self.train_step(x, y)
            sw.steps += 1
            self.charge(self.train_cache, "step", len(y))
            if not math.isfinite(loss):
                self.status, self.error = "diverged", f"loss became {loss} at step {sw.steps}"
                break
            cost, mark = sw.elapsed() - mark, sw.elapsed()
            self.step_cost = cost if self.step_cost == 0 else 0.9 * self.step_cost + 0.1 * cost
            self.epoch_losses.append(loss)
            if sw.steps % self.lr.steps_per_epoch == 0:
                self.lr.end_of_epoch(float(np.mean(self.epoch_losses)))
                self.epoch_losses = []
            self.bar_update()

    # ---------------------------------------------------------------------------------------- display
    def open_bar(self) -> None:
        unit = "step" if self.budget.clock == "steps" else f"{self.budget.clock}-s"
        self.bar = tqdm(total=self.budget.amount, unit=unit, disable=not self.progress, leave=False,
                        bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} {postfix}")

    def bar_update(self) -> None:
        if self.progress and self.stopwatch.steps % 5 == 0:
            self.bar.n = min(self.budget.amount, self.stopwatch.elapsed())
            self.bar.refresh()

    def bar_postfix(self, score: float, acc: float) -> None:
        self.bar.set_postfix_str(f"nauc {score:.3f} acc {acc:.3f}", refresh=False)


@contextmanager
def ctrl_c_raises():
    """Python's own Ctrl-C (KeyboardInterrupt) while the block runs, whatever handler a library installed
    (dask-jobqueue, imported, makes SIGINT exit the process); restored afterwards. Only the main thread
    can set handlers: elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run(
    train: ImageDataset,
    test: ImageDataset | None,
    config: Mapping[str, Any],
    budget: Budget,
    *,
    seed: int = 0,
    threads: int = 1,
    device: str = "auto",
    extra: ImageDataset | None = None,
    anytime: bool = True,
    progress: bool = False,
    alc_t0: float | None = None,
    wall_fn: Callable[[], float] = time.perf_counter,
    cpu_fn: Callable[[], float] = time.thread_time,
    costs: CostTable | None = None,
    interruptible: bool = False,
    on_prediction: Callable[[LearningCurve], None] | None = None,
    amp: bool | None = None,
    hold_out: bool = True,
    pixels: PixelStore | None = None,
) -> RunResult:
    """Fine-tune `config` on `train` within `budget`, predicting `test` (and `extra`) anytime.

    `threads` torch threads (must be 1 on the "cpu" clock, which counts only the calling thread).
    With a step or reference budget and a fixed seed the run is deterministic on the CPU. `costs` prices
    operations on the reference clock (default: the shipped table). `interruptible`: Ctrl-C once the clock
    runs ends the run with status "interrupted" instead of raising (before, while the model is built, it
    still raises). `on_prediction(curve)` is called after each prediction, on the clock (keep it short: a
    progress file, say). `amp`: float16 autocast on a GPU (default: on where the device is CUDA); the
    meta-dataset turns it off so that a GPU computes what the CPU does, up to rounding. `hold_out=False` fits
    on every training image and validates nothing (a refit, whose length is already decided). `pixels`: decoded
    images shared with other runs of this process over the same datasets (`PixelStore`).
    """
    _check_run(train, test, extra, config, budget, seed, threads, on_prediction)
    cfg = as_dict(complete(config))
    seed, threads = int(seed), int(threads)  # numpy's ints too: torch takes only int
    state = _Run(train, test, cfg, budget, seed=seed, device=resolve_device(device), extra=extra,
                 progress=progress, stopwatch=Stopwatch(budget, wall_fn, cpu_fn),
                 costs=costs if costs is not None else default_cost_table(), on_prediction=on_prediction, amp=amp,
                 hold_out=hold_out, pixels=pixels)
    stops = (KeyboardInterrupt,) if interruptible else ()  # an empty tuple catches nothing
    with torch_threads(threads):
        state.build()
        state.stopwatch.start()  # the clock starts after the model is built and its weights loaded
        state.open_bar()
        try:
            with ctrl_c_raises() if interruptible else nullcontext():
                state.train_and_predict(anytime)
        except stops:
            state.interrupted()
        finally:
            state.bar.close()
        if state.best_state is not None:
            state.model.load_state_dict(state.best_state)
    return _result(state, alc_t0)


def _check_run(train: Any, test: Any, extra: Any, config: Any, budget: Any, seed: Any, threads: Any,
               on_prediction: Any) -> None:
    """`run` is a library entry point: what it is given is checked by name before a model is built."""
    if not isinstance(train, ImageDataset):
        raise ConfigError(f"train must be a dataset (zap.load_dataset gives one), got a {type(train).__name__}")
    for name, images in (("test", test), ("extra", extra)):
        if images is not None and not isinstance(images, ImageDataset):
            raise ConfigError(f"{name} must be a dataset or None, got a {type(images).__name__}")
    if test is not None and len(test) and (test.labels.min() < 0 or test.labels.max() >= train.n_classes):
        raise ConfigError(f"test's labels must be classes of train (0..{train.n_classes - 1}); unlabelled images go "
                          "in extra")
    if not isinstance(config, Mapping):
        raise ConfigError(f"config must be a pipeline configuration (a dict; zap.pipelines.get_config(name) gives "
                          f"a named one), got {config!r}")
    if not isinstance(budget, Budget):
        raise ConfigError(f"budget must be a zap.Budget(amount, clock), got {budget!r}")
    check_range("seed", seed, 0, MAX_SEED, integer=True)
    check_range("threads", threads, 1, integer=True)
    if budget.clock == "cpu" and threads != 1:
        raise ConfigError("the 'cpu' clock counts this thread's CPU time only: run it with threads=1")
    if on_prediction is not None and not callable(on_prediction):
        raise ConfigError(f"on_prediction must be a function of the learning curve, or None, got {on_prediction!r}")


def _result(state: _Run, alc_t0: float | None) -> RunResult:
    sw, budget, train = state.stopwatch, state.budget, state.train
    score = curve_alc(state.curve, budget.clock, budget.amount, alc_t0) if state.test is not None else 0.0
    return RunResult(
        curve=state.curve, model=state.model.cpu().eval(), config=state.cfg, pipeline_id=pipeline_id(state.cfg),
        budget=budget, alc=score, status=state.status, error=state.error,
        elapsed={"wall_s": sw.wall, "cpu_s": sw.cpu, "steps": sw.steps, "ref_s": state.ref_time()},
        input_size=state.size,
        class_names=list(train.class_names), mean=tuple(state.mean), std=tuple(state.std),
        n_channels=train.n_channels, test_probabilities=state.test_probabilities,
        extra_predictions=state.extra_predictions, events=state.events, quick_model=state.quick_model,
    )


class ResumableRun:
    """A run that trains in slices and can be set aside between them (freeze-thaw), for `refine`.

    Everything is as in `run` (model built before the clock starts, the same schedules over the whole
    budget) except that `advance(until)` trains only until the run's own clock reads `until`, and
    `end_at(t)` makes the run end at `t` with its final prediction, as if its budget ended there. The wall
    and CPU clocks stop while it is set aside; its torch random state is its own, so the runs trained in
    between change nothing it computes: on the reference clock, paused or not, the same seed makes the
    same steps and the same predictions.
    """

    def __init__(self, train: ImageDataset, test: ImageDataset | None, config: Mapping[str, Any], budget: Budget,
                 *, seed: int = 0, threads: int = 1, device: str = "auto", extra: ImageDataset | None = None,
                 costs: CostTable | None = None, wall_fn: Callable[[], float] = time.perf_counter,
                 cpu_fn: Callable[[], float] = time.thread_time, pixels: PixelStore | None = None):
        if budget.clock == "cpu" and threads != 1:
            raise ConfigError("the 'cpu' clock counts this thread's CPU time only: run it with threads=1")
        self.threads = threads
        self.state = _Run(train, test, as_dict(complete(config)), budget, seed=seed, device=resolve_device(device),
                          extra=extra, progress=False, stopwatch=Stopwatch(budget, wall_fn, cpu_fn),
                          costs=costs if costs is not None else default_cost_table(), pixels=pixels)
        with torch_threads(threads):
            self.state.build()
        self._rng = torch.get_rng_state()
        self.state.stopwatch.start()
        self.state.stopwatch.pause()
        self.state.open_bar()
        self.started = self.finished = False
        self._seen_events = 0

    @property
    def elapsed(self) -> float:
        return self.state.stopwatch.elapsed()

    def end_at(self, stop_at: float) -> None:
        self.state.stop_at = min(self.state.budget.amount, stop_at)

    def advance(self, until: float) -> list[dict[str, Any]]:
        """Train until the run's clock reads `until` or the run ends; the predictions made meanwhile, each as
        {"t": its time on the run's clock, "valid": the validation NAUC that released it, "test": test NAUC}."""
        state = self.state
        if self.finished:
            return []
        outer = torch.get_rng_state()
        torch.set_rng_state(self._rng)
        state.pause_at = until
        state.slice_start = state.stopwatch.elapsed()
        state.stopwatch.resume()
        try:
            with torch_threads(self.threads):
                if not self.started:
                    self.started = True
                    state.begin()
                state.train_loop(state.outputs)
                if not state.paused:
                    self.finished = True
                    state.finish()
        finally:
            state.stopwatch.pause()
            self._rng = torch.get_rng_state()
            torch.set_rng_state(outer)
        return self._new_releases()

    def _new_releases(self) -> list[dict[str, Any]]:
        state, releases = self.state, []
        clock = state.budget.clock
        predictions = [e for e in state.events if e["event"] == "prediction"]
        for index, event in enumerate(predictions[self._seen_events:], start=self._seen_events):
            t = float(event["steps"]) if clock == "steps" else float(event[f"{clock}_s"])
            test = state.curve.column("nauc")[index] if state.test is not None else math.nan
            releases.append({"t": t, "valid": event.get("valid_nauc", math.nan), "test": float(test), "index": index})
        self._seen_events = len(predictions)
        return releases

    def result(self, alc_t0: float | None = None) -> RunResult:
        """The run as `run` returns it (the model of its last counted prediction)."""
        self.state.bar.close()
        if self.state.best_state is not None:
            self.state.model.load_state_dict(self.state.best_state)
        return _result(self.state, alc_t0)

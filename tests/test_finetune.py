"""The budgeted runner: determinism under a step budget, budget logic under an injected clock, failures."""

import json
import pickle
import warnings

import numpy as np
import pytest
import torch

from conftest import FAST_CONFIG
from zap.data import SplitSettings, load_dataset, train_test_split
from zap.errors import ArtifactError, ConfigError
from zap.finetune import Budget, resolve_device, run
from zap.finetune.batches import input_size
from zap.finetune.schedules import EvalSchedule, LearningRate


@pytest.fixture
def split(arrays):
    x, y = arrays
    return train_test_split(load_dataset((x, y)), SplitSettings(0.3, 100, 0))


def test_step_budget_runs_are_deterministic(split):
    a = run(split.train, split.test, FAST_CONFIG, Budget(6, "steps"), seed=1)
    b = run(split.train, split.test, FAST_CONFIG, Budget(6, "steps"), seed=1)
    assert a.elapsed["steps"] == 6 and a.status == "ok"
    assert [r["nauc"] for r in a.curve.rows] == [r["nauc"] for r in b.curve.rows]
    assert [r["steps"] for r in a.curve.rows] == [r["steps"] for r in b.curve.rows]
    for pa, pb in zip(a.model.state_dict().values(), b.model.state_dict().values(), strict=True):
        assert torch.equal(pa, pb)
    c = run(split.train, split.test, FAST_CONFIG, Budget(6, "steps"), seed=2)
    assert any(not torch.equal(pa, pc) for pa, pc in zip(a.model.state_dict().values(),
                                                         c.model.state_dict().values(), strict=True))


class TickingClock:
    """A fake clock: every read advances time by `tick` seconds, whatever the machine is doing."""

    def __init__(self, tick: float):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def test_budget_logic_with_an_injected_clock(split):
    clock = TickingClock(0.02)
    result = run(split.train, split.test, FAST_CONFIG, Budget(3.0, "wall"), wall_fn=clock)
    times = result.curve.times("wall")
    assert result.elapsed["wall_s"] <= 3.0 * 1.05  # ends within +5 % of the budget
    assert len(times) >= 2 and times[0] <= 0.25 * 3.0  # first prediction early
    assert np.all(np.diff(times) > 0)
    assert result.alc > 0


def test_cpu_clock_needs_one_thread(split):
    with pytest.raises(ValueError, match="threads=1"):
        run(split.train, split.test, FAST_CONFIG, Budget(5, "cpu"), threads=2)


def test_cpu_clock_run_records_all_three_clocks(split):
    result = run(split.train, split.test, FAST_CONFIG, Budget(4.0, "cpu"))
    assert result.elapsed["cpu_s"] <= 4.0 * 1.05 and result.elapsed["wall_s"] > 0
    row = result.curve.rows[-1]
    assert set(row) == {"wall_s", "cpu_s", "steps", "nauc", "accuracy", "ref_s"}


def test_quick_model_gives_the_first_prediction_before_any_step(split):
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    result = run(split.train, split.test, config, Budget(4, "steps"))
    first = result.curve.rows[0]
    assert first["steps"] == 0 and first["nauc"] > 0.5  # stripes are easy for a linear model
    assert result.events[0]["source"] == "simple_model"  # quick.ANSWERED_BY: the value v1 stores


def test_a_cnn_prediction_replaces_the_quick_model_only_if_it_validates_better(split, monkeypatch, tmp_path):
    from zap.finetune.predictor import Predictor, convert_legacy_folder
    from zap.finetune.runner import _Run

    real_predict = _Run.predict

    def untrained_cnn(self, cache, indices, abandon_late=False):  # what a CNN after one step looks like
        real_predict(self, cache, indices, abandon_late)
        return np.full((len(indices), self.n_classes), 1.0 / self.n_classes)

    monkeypatch.setattr(_Run, "predict", untrained_cnn)
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    result = run(split.train, split.test, config, Budget(8, "steps"))
    quick_valid = result.events[0]["valid_nauc"]
    skipped = [e for e in result.events if e["event"] == "skipped_prediction"]
    assert quick_valid > 0.5 and skipped and all(e["valid_nauc"] < quick_valid for e in skipped)
    assert len(result.curve) == 1 and result.curve.rows[0]["steps"] == 0  # the quick model's answer stands
    assert result.quick_model is not None
    monkeypatch.setattr(_Run, "predict", real_predict)
    folder = Predictor.from_result(result).save(tmp_path / "model")
    loaded = Predictor.load(folder)
    assert loaded.answered_by == "simple_model" and (folder / "quick_model.skops").is_file()
    np.testing.assert_allclose(loaded.predict_proba(split.test), result.test_probabilities, atol=1e-6)
    # A folder as older zaps saved it (schema 1, `answers_with`, a pickled simple_model.pkl) is refused, and,
    # converted on trust, must answer with its quick model; if the old names were not read, the untrained
    # CNN would answer instead.
    meta = json.loads((folder / "model.json").read_text())
    meta["answers_with"], meta["schema_version"] = meta.pop("answered_by"), 1
    del meta["files"]
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "quick_model.skops").unlink()
    (folder / "simple_model.pkl").write_bytes(pickle.dumps(result.quick_model))
    with pytest.raises(ArtifactError, match="simple_model.pkl is a pickled quick model"):
        Predictor.load(folder)
    old = Predictor.load(convert_legacy_folder(folder, trust_pickle=True))
    assert old.answered_by == "simple_model"
    np.testing.assert_allclose(old.predict_proba(split.test), result.test_probabilities, atol=1e-6)


def test_refit_trains_the_cnn_for_the_runs_steps_on_every_image(arrays, monkeypatch):
    """Catches a refit that trains for another length, on part of the data (a validation share held out for
    nothing), or that keeps NaN weights from a diverged training."""
    from dataclasses import replace

    import zap.finetune.refit as refit_module
    import zap.finetune.runner as runner_module
    from zap.finetune.predictor import Predictor
    from zap.finetune.refit import RefitError, refit

    data = load_dataset(arrays)
    split = train_test_split(data, SplitSettings(0.3, 100, 0))
    result = run(split.train, split.test, FAST_CONFIG, Budget(6, "steps"), seed=0)
    assert result.quick_model is None and result.elapsed["steps"] == 6
    fitted_on = []
    real_images = runner_module.CachedImages
    monkeypatch.setattr(runner_module, "CachedImages",
                        lambda cache, labels, idx: fitted_on.append(len(idx)) or real_images(cache, labels, idx))
    predictor, steps = refit(data, result, result.config, seed=0)
    assert steps == 6 and fitted_on == [len(data)]  # every image, none held out
    assert not np.allclose(predictor.predict_proba(data), Predictor.from_result(result).predict_proba(data), atol=1e-4)
    diverged = lambda *args, **kwargs: replace(result, status="diverged", error="loss is nan")  # noqa: E731
    monkeypatch.setattr(refit_module, "run", diverged)
    with pytest.raises(RefitError, match="diverged: loss is nan"):
        refit(data, result, result.config, seed=0)


def test_refit_refits_the_quick_model_when_its_answer_stood(arrays, monkeypatch):
    from zap import ZAP
    from zap.finetune.runner import _Run

    def untrained_cnn(self, cache, indices, abandon_late=False):
        return np.full((len(indices), self.n_classes), 1.0 / self.n_classes)

    monkeypatch.setattr(_Run, "predict", untrained_cnn)
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    model = ZAP(budget=6, clock="steps", config=config, test_ratio=0.3, max_test=100).fit(arrays)
    first = model.predictor_.quick_model
    assert first is not None and model.summary()["answered_by"] == "simple_model"
    model.refit()
    assert model.predictor_.quick_model is not first and model.refit_steps_ == 0
    assert len(model.predictor_.quick_model.coef_) == 3  # refit on all labelled images, all classes
    assert (model.predict(arrays[0]) == arrays[1].astype(str)).mean() > 0.9


@pytest.mark.parametrize("failure, status", [("ctrl-c", "interrupted"), ("diverged", "failed")])
def test_a_refit_that_does_not_finish_keeps_the_runs_model_and_predictions(arrays, monkeypatch, failure, status):
    """`zap fit --refit` interrupted or diverged: the saved model, its extra predictions (test_predictions.csv)
    and the summary stay the run's, and the summary says what happened to the refit."""
    from dataclasses import replace

    import zap.finetune.refit as refit_module
    from zap import ZAP

    def failing(*args, **kwargs):
        if failure == "ctrl-c":
            raise KeyboardInterrupt
        return replace(model.result_, status="diverged", error="loss is nan")

    model = ZAP(budget=6, clock="steps", config=FAST_CONFIG, test_ratio=0.3, max_test=100)
    model.fit(arrays, extra=arrays[0][:4])
    run_predictor = model.predictor_
    monkeypatch.setattr(refit_module, "run", failing)
    model.refit()
    assert model.predictor_ is run_predictor and model.refit_extra_probabilities_ is None
    summary = model.summary()
    assert summary["refit_status"] == status
    assert summary["status"] == ("interrupted" if failure == "ctrl-c" else "ok")
    assert (summary["refit_error"] or "").endswith("loss is nan") == (failure == "diverged")
    if failure == "ctrl-c":
        assert summary["error"] == "the refit was interrupted (Ctrl-C): the model is the run's, not refit on all data"


def test_a_cnn_that_validates_better_takes_over_and_answers(split, tmp_path, monkeypatch):
    from zap.finetune import quick
    from zap.finetune.predictor import Predictor

    def useless(model, x, n_classes):  # a quick model no better than chance
        return np.full((len(x), n_classes), 1.0 / n_classes)

    monkeypatch.setattr(quick, "predict_proba", useless)
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    result = run(split.train, split.test, config, Budget(12, "steps"))
    released = [e for e in result.events if e["event"] == "prediction" and e["source"] == "cnn"]
    assert result.events[0]["valid_nauc"] == 0 and released and result.quick_model is None
    predictor = Predictor.from_result(result)
    assert predictor.answered_by == "cnn"
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "simple_model.pkl").write_bytes(b"stale")  # an older fit into the same folder
    predictor.save(tmp_path / "model")
    assert not [p.name for p in (tmp_path / "model").glob("*.pkl")]


@pytest.mark.parametrize("name", ["SVC", "NuSVC", "RF"])
def test_every_quick_model_runs(split, name):
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": name}
    result = run(split.train, split.test, config, Budget(1, "steps"))
    assert result.curve.rows[0]["steps"] == 0


def test_divergence_is_reported_not_raised(split, monkeypatch):
    real = torch.nn.functional.cross_entropy
    calls = {"n": 0}

    def nan_after_two(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] > 2 else loss

    monkeypatch.setattr(torch.nn.functional, "cross_entropy", nan_after_two)
    result = run(split.train, split.test, FAST_CONFIG, Budget(10, "steps"))
    assert result.status == "diverged" and "step 3" in result.error
    assert len(result.curve) >= 1  # predictions made before the failure are kept


def test_extra_images_get_anytime_predictions(split, arrays):
    extra = load_dataset(arrays).subset(np.arange(5))
    result = run(split.train, split.test, FAST_CONFIG, Budget(4, "steps"), extra=extra)
    assert result.extra_predictions and result.extra_predictions[-1].probabilities.shape == (5, 3)


def test_tiny_dataset_without_validation_set():
    x = np.stack([np.full((8, 8), 40 * k, np.uint8) for k in range(3) for _ in range(2)])
    split = train_test_split(load_dataset((x, np.repeat(np.arange(3), 2))))
    result = run(split.train, split.test, FAST_CONFIG, Budget(2, "steps"))
    assert result.status == "ok" and len(result.curve) >= 1


def test_input_size_rule():
    assert input_size(8, 32) == 32 and input_size(8, 128) == 64 and input_size(300, 64) == 64
    assert input_size(3, 128) == 32


def test_learning_rate_warmup_cosine_and_plateau():
    lr = LearningRate(1e-3, 1e-6, 2.0, warmup_epochs=2, steps_per_epoch=10, scheduler="cosine")
    assert lr.at(0, 0.0) == pytest.approx(1e-3)
    assert lr.at(10, 0.1) == pytest.approx(1.5e-3)
    assert lr.at(20, 0.2) == pytest.approx(2e-3)
    assert lr.at(100, 1.0) == pytest.approx(1e-6)
    plateau = LearningRate(1e-3, 1e-6, 1.0, warmup_epochs=0, steps_per_epoch=10, scheduler="plateau")
    for loss in (1.0, 1.0, 1.0):
        plateau.end_of_epoch(loss)
    assert plateau.at(50, 0.5) == pytest.approx(5e-4)


def test_eval_schedule_gaps_grow_to_the_cap():
    schedule, times = EvalSchedule(0.01, 0.02, 0.05), []
    progress = 0.0
    while progress < 0.3:
        if schedule.due(progress):
            times.append(round(progress, 3))
            schedule.advance(progress)
        progress += 0.001
    gaps = np.diff(times)
    assert times[0] == pytest.approx(0.01) and gaps[0] < gaps[1] and gaps.max() <= 0.051


def test_device_resolution():
    assert resolve_device("auto").type in ("cpu", "cuda")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_mixed_precision_run(split):
    result = run(split.train, split.test, FAST_CONFIG, Budget(6, "steps"), device="cuda")
    assert result.status == "ok" and len(result.curve) >= 1


def test_predictions_that_cannot_end_inside_the_budget_are_not_made(split):
    # every clock read costs 0.3 s, so the budget of 2 s is spent before a CNN pass could end inside it:
    # no pass is started or finished after T (none would count); the quick model's early one stays
    config = dict(FAST_CONFIG) | {"first_simple_model": True, "simple_model": "LR"}
    for budget in (2.0, 3.0, 4.0):
        result = run(split.train, split.test, config, Budget(budget, "wall"), wall_fn=TickingClock(0.3))
        times = result.curve.times("wall")
        assert len(times) >= 1 and all(t <= budget for t in times), (budget, times)
        assert result.alc > 0
    # without any prediction yet, the run still makes one, late or not: a user always gets predictions
    bare = run(split.train, split.test, dict(FAST_CONFIG) | {"first_simple_model": False}, Budget(0.5, "wall"),
               wall_fn=TickingClock(0.3))
    assert len(bare.curve) >= 1 and bare.test_probabilities is not None


@pytest.mark.parametrize("name", ["SVC", "NuSVC"])
def test_calibration_failure_predicts_the_quick_models_own_refusal(name):
    """The rule the v1 diagnostic replays (benchmarks/quick_model_failures.py) must match sklearn's own
    refusal of a calibrated SVC on a sample with a class seen fewer than 3 times."""
    from zap.finetune import quick

    rng = np.random.default_rng(0)
    x = rng.random((40, 8))
    rare = np.array([0] * 19 + [1] * 19 + [2] * 2)
    assert quick.calibration_failure(name, rare) is not None
    with pytest.raises(ValueError):
        quick.make_quick_model(name, 0).fit(x, rare)
    enough = np.array([0] * 18 + [1] * 19 + [2] * 3)
    assert quick.calibration_failure(name, enough) is None
    assert quick.make_quick_model(name, 0).fit(x, enough).predict_proba(x).shape == (40, 3)
    assert quick.calibration_failure("RF", rare) is None


def few_shot(n_classes: int, per_class: list[int]):
    """Many classes, few images each (counts cycle through `per_class`), as in emoji-id or chars-ethiopic."""
    from conftest import pattern

    counts = [per_class[c % len(per_class)] for c in range(n_classes)]
    x = np.stack([pattern(c, i) for c in range(n_classes) for i in range(counts[c])])
    y = np.repeat(np.arange(n_classes), counts)
    return x, y


@pytest.mark.parametrize("name", ["SVC", "NuSVC", "RF", "LR"])
@pytest.mark.parametrize("per_class", [[5], [2], [2, 3, 7]])
def test_every_quick_model_gives_the_first_prediction_on_many_class_few_shot_data(name, per_class):
    """Runner 2 lost the quick model's prediction when its random 500-image sample held a class fewer than
    3 times (80 v1 cells); runner 3 never does, whatever the model and however rare the classes."""
    x, y = few_shot(180, per_class)
    data = train_test_split(load_dataset((x, y)), SplitSettings(0.2, 200, 0))
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": name}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)  # few-shot by design
        result = run(data.train, data.test, config, Budget(1, "steps"), seed=2)
    assert not [e for e in result.events if e["event"] == "quick_model_failed"]
    first = result.curve.rows[0]
    assert first["steps"] == 0 and first["nauc"] > 0.2  # a real answer, not chance


def test_the_quick_models_sample_keeps_every_class_three_times_where_it_can():
    from zap.finetune import quick

    _, y = few_shot(200, [4, 9])  # 1300 images, 200 classes: runner 2's random 500 missed classes
    take = quick.training_sample(np.arange(len(y)), y, seed=0)
    counts = np.bincount(y[take], minlength=200)
    assert len(take) <= quick.sample_cap(200) and counts.min() >= 3
    assert counts.max() - counts.min() <= 1  # balanced: no class gets more than its share
    rare = np.bincount(y[quick.random_sample(np.arange(len(y)), 0)], minlength=200)
    assert rare.min() < 3  # what runner 2 drew on the same data


def test_mixed_precision_is_refused_on_the_cpu(split):
    with pytest.raises(ConfigError, match="amp=True.*CUDA"):
        run(split.train, split.test, FAST_CONFIG, Budget(2, "steps"), device="cpu", amp=True)


class CountingImages:
    """Wraps a dataset and counts the images decoded from it, as a folder's reads would be."""

    def __init__(self, dataset):
        self.dataset, self.decoded = dataset, 0
        self.n_channels, self.labels, self.n_classes = dataset.n_channels, dataset.labels, dataset.n_classes

    def __len__(self):
        return len(self.dataset)

    def load_scaled(self, index, min_side):
        self.decoded += 1
        return self.dataset.load_scaled(index, min_side)


def test_runs_sharing_a_pixel_store_decode_each_image_once_and_compute_the_same(split, monkeypatch):
    """refine's candidates and tune's trials share decoded pixels: a second run at the same input size decodes
    nothing, yet each run still charges its own first use of every image on the reference clock, so its
    steps, times and predictions are those of a run on its own."""
    from zap.data.dataset import SubsetDataset
    from zap.finetune.batches import PixelStore

    decoded, load_scaled = [], SubsetDataset.load_scaled
    monkeypatch.setattr(SubsetDataset, "load_scaled", lambda self, i, s: decoded.append(i) or load_scaled(self, i, s))

    def decodes_of(**kwargs):
        before = len(decoded)
        result = run(split.train, split.test, FAST_CONFIG, Budget(3, "ref"), seed=1, **kwargs)
        return result, len(decoded) - before

    def on_the_ref_clock(result):  # what a seed fixes; wall and CPU seconds are the machine's
        return [(r["steps"], r["ref_s"], r["nauc"], r["accuracy"]) for r in result.curve.rows], result.elapsed["ref_s"]

    store = PixelStore()
    (alone, n_alone), (first, n_first), (second, n_second) = decodes_of(), decodes_of(pixels=store), \
        decodes_of(pixels=store)
    assert n_alone == n_first > 0 and n_second == 0
    assert on_the_ref_clock(first) == on_the_ref_clock(second) == on_the_ref_clock(alone)
    channels = split.train.n_channels
    assert store.nbytes == (len(split.train) + len(split.test)) * channels * 32 * 32  # two sets at 32 px, once


def test_a_pixel_cache_charges_each_runs_first_use_whoever_decoded(split):
    from zap.finetune.batches import PixelCache, PixelStore

    counted, store = CountingImages(split.train), PixelStore()
    own = PixelCache(counted, 32)
    own.batch([0, 1, 2])
    assert counted.decoded == 3 and own.pop_decoded() == 3
    view = PixelCache(counted, 32, store=store)
    view.batch([0, 1]), view.batch([1, 2])  # a new set to the store: decoded once, charged at first use
    assert counted.decoded == 6 and view.pop_decoded() == 3
    other = PixelCache(counted, 32, store=store)  # another run's view: nothing decoded, every first use charged
    other.batch([0, 1, 2, 2])
    assert counted.decoded == 6 and other.pop_decoded() == 4  # an index twice in a batch: as a private cache
    off = PixelCache(counted, 32, max_bytes=0, store=store)  # a run whose own cache is off never shares
    off.batch([0, 0])
    assert not off.enabled and counted.decoded == 8 and off.pop_decoded() == 2
    tiny = PixelStore(max_bytes=10)  # too small to hold the set: each run keeps its own pixels
    assert tiny.pixels(counted, 32, counted.n_channels) is None and tiny.nbytes == 0
    assert PixelCache(counted, 32, store=tiny).enabled

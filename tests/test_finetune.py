"""The budgeted runner: determinism under a step budget, budget logic under an injected clock, failures."""

import numpy as np
import pytest
import torch

from conftest import FAST_CONFIG
from zap.data import SplitSettings, load_dataset, train_test_split
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
    assert set(row) == {"wall_s", "cpu_s", "steps", "nauc", "accuracy"}


def test_simple_model_gives_the_first_prediction_before_any_step(split):
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    result = run(split.train, split.test, config, Budget(4, "steps"))
    first = result.curve.rows[0]
    assert first["steps"] == 0 and first["nauc"] > 0.5  # stripes are easy for a linear model
    assert result.events[0]["source"] == "simple_model"


def test_a_cnn_prediction_replaces_the_simple_model_only_if_it_validates_better(split, monkeypatch, tmp_path):
    from zap.finetune.predictor import Predictor
    from zap.finetune.runner import _Run

    real_predict = _Run.predict

    def untrained_cnn(self, cache, indices, abandon_late=False):  # what a CNN after one step looks like
        real_predict(self, cache, indices, abandon_late)
        return np.full((len(indices), self.n_classes), 1.0 / self.n_classes)

    monkeypatch.setattr(_Run, "predict", untrained_cnn)
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    result = run(split.train, split.test, config, Budget(8, "steps"))
    simple_valid = result.events[0]["valid_nauc"]
    skipped = [e for e in result.events if e["event"] == "skipped_prediction"]
    assert simple_valid > 0.5 and skipped and all(e["valid_nauc"] < simple_valid for e in skipped)
    assert len(result.curve) == 1 and result.curve.rows[0]["steps"] == 0  # the simple model's answer stands
    assert result.simple_model is not None
    monkeypatch.setattr(_Run, "predict", real_predict)
    loaded = Predictor.load(Predictor.from_result(result).save(tmp_path / "model"))
    assert loaded.answers_with == "simple_model"
    np.testing.assert_allclose(loaded.predict_proba(split.test), result.test_probabilities, atol=1e-6)


def test_refit_refits_the_simple_model_when_its_answer_stood(arrays, monkeypatch):
    from zap import ZAP
    from zap.finetune.runner import _Run

    def untrained_cnn(self, cache, indices, abandon_late=False):
        return np.full((len(indices), self.n_classes), 1.0 / self.n_classes)

    monkeypatch.setattr(_Run, "predict", untrained_cnn)
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    model = ZAP(budget=6, clock="steps", config=config, test_ratio=0.3, max_test=100).fit(arrays)
    first = model.predictor_.simple_model
    assert first is not None and model.summary()["answers_with"] == "simple_model"
    model.refit()
    assert model.predictor_.simple_model is not first and model.refit_steps_ == 0
    assert len(model.predictor_.simple_model.coef_) == 3  # refit on all labelled images, all classes
    assert (model.predict(arrays[0]) == arrays[1].astype(str)).mean() > 0.9


def test_a_cnn_that_validates_better_takes_over_and_answers(split, tmp_path, monkeypatch):
    from zap.finetune import simple
    from zap.finetune.predictor import Predictor

    def useless(model, x, n_classes):  # a simple model no better than chance
        return np.full((len(x), n_classes), 1.0 / n_classes)

    monkeypatch.setattr(simple, "predict_proba", useless)
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
    result = run(split.train, split.test, config, Budget(12, "steps"))
    released = [e for e in result.events if e["event"] == "prediction" and e["source"] == "cnn"]
    assert result.events[0]["valid_nauc"] == 0 and released and result.simple_model is None
    predictor = Predictor.from_result(result)
    assert predictor.answers_with == "cnn"
    predictor.save(tmp_path / "model")
    assert not (tmp_path / "model" / "simple_model.pkl").exists()


@pytest.mark.parametrize("name", ["SVC", "NuSVC", "RF"])
def test_every_simple_model_runs(split, name):
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
    # no pass is started or finished after T (none would count); the simple model's early one stays
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
    """The rule the meta-dataset diagnostic replays (benchmarks/simple_model_failures.py) must match sklearn."""
    from zap.finetune import simple

    rng = np.random.default_rng(0)
    x = rng.random((40, 8))
    rare = np.array([0] * 19 + [1] * 19 + [2] * 2)
    assert simple.calibration_failure(name, rare) is not None
    with pytest.raises(ValueError):
        simple.fit(name, x, rare, seed=0)
    enough = np.array([0] * 18 + [1] * 19 + [2] * 3)
    assert simple.calibration_failure(name, enough) is None
    assert simple.fit(name, x, enough, seed=0).predict_proba(x).shape == (40, 3)
    assert simple.calibration_failure("RF", rare) is None

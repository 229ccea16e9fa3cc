"""The `ZAP` estimator's state: no model before fit, never a mix of two fits, and every split seen with the
training images' channels (the quick model's flat pixels must be as wide as those it was fitted on)."""

import json

import numpy as np
import pytest

from conftest import FAST_CONFIG, write_folder
from zap import ZAP, Budget, run
from zap.errors import NotFittedError

QUICK_FIRST = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}  # a prediction right away


def estimator(**settings) -> ZAP:
    return ZAP(**({"budget": 2, "clock": "steps", "config": dict(QUICK_FIRST), "threads": 1} | settings))


@pytest.mark.parametrize("call", ["predict", "predict_proba", "summary", "status", "refit", "save"])
def test_an_unfitted_estimator_says_call_fit_first(call, tmp_path):
    args = {"predict": (np.zeros((1, 8, 8), np.uint8),), "predict_proba": (np.zeros((1, 8, 8), np.uint8),),
            "save": (tmp_path / "model",)}.get(call, ())
    with pytest.raises(NotFittedError, match=r"not fitted .*call fit\(data\) first"):
        getattr(ZAP(), call)(*args)
    assert not (tmp_path / "model").exists()


def test_a_failed_second_fit_leaves_no_model_of_the_first(tmp_path):
    first = write_folder(tmp_path / "first", n_classes=2)
    model = estimator().fit(str(first))
    assert model.summary()["status"] == "ok"

    def broken(curve):
        raise RuntimeError("the caller's progress file is gone")

    with pytest.raises(RuntimeError, match="progress file"):
        model.fit(str(write_folder(tmp_path / "second", n_classes=3)), on_prediction=broken)
    with pytest.raises(NotFittedError):
        model.summary()
    with pytest.raises(NotFittedError):
        model.save(tmp_path / "model")


@pytest.mark.parametrize(("train_mode", "extra_mode"), [("L", "RGB"), ("RGB", "L")])
def test_extra_images_with_other_channels_are_predicted_with_the_training_ones(tmp_path, train_mode, extra_mode):
    """A grey training set with colour test images (or the reverse) is what users have; before, the quick
    model refused the extra images' wider (or narrower) pixels a few seconds into the run."""
    train = write_folder(tmp_path / "train", n_classes=2, mode=train_mode)
    extra = write_folder(tmp_path / "extra", n_classes=2, per_class=3, mode=extra_mode)
    model = estimator().fit(str(train), extra=sorted(str(p) for p in extra.rglob("*.png")))
    assert model.summary()["status"] == "ok" and model.summary()["answered_by"] != "cnn"
    assert model.result_.extra_predictions[-1].probabilities.shape == (6, 2)


def test_numpy_integers_are_settings_and_the_summary_stays_json(tmp_path):
    model = estimator(seed=np.int64(3), threads=np.int32(1), max_test=np.int64(5))
    model.fit(str(write_folder(tmp_path / "data", n_classes=2)))
    summary = json.loads(json.dumps(model.summary()))
    assert summary["seed"] == 3 and summary["threads"] == 1


# ------------------------------------------------------------------------------ the library's entry points
def _tiny():
    from zap.data import from_arrays

    x = np.random.default_rng(0).integers(0, 255, (12, 8, 8), dtype=np.uint8)
    return from_arrays(x, np.arange(12) % 2)


def _five_classes():
    from zap.data import from_arrays

    return from_arrays(np.zeros((10, 8, 8), np.uint8), np.arange(10) % 5)


STEP = Budget(1, "steps")


@pytest.mark.parametrize(("args", "settings", "message"), [
    ((_tiny, None, "recommended", STEP), {}, "config must be a pipeline configuration"),
    ((_tiny, None, QUICK_FIRST, 5), {}, r"budget must be a zap.Budget"),
    ((lambda: np.zeros((4, 8, 8)), None, QUICK_FIRST, STEP), {}, "train must be a dataset"),
    ((_tiny, None, QUICK_FIRST, STEP), {"seed": 2.5}, "seed must lie in"),
    ((_tiny, None, QUICK_FIRST, STEP), {"threads": "2"}, "threads must lie in"),
    ((_tiny, _five_classes, QUICK_FIRST, STEP), {}, "test's labels must be classes of train"),
    ((_tiny, None, QUICK_FIRST, STEP), {"on_prediction": "log.txt"}, "on_prediction must be a function"),
])
def test_run_checks_what_it_is_given_by_name(args, settings, message):
    from zap.errors import ConfigError

    train, test, config, budget = args
    with pytest.raises(ConfigError, match=message):
        run(train(), test() if test else None, dict(config) if isinstance(config, dict) else config, budget,
            **settings)


@pytest.mark.parametrize(("settings", "message"), [
    ({"seed": -1}, "seed must lie in"), ({"seed": 2.5}, "seed must lie in"), ({"max_test": 2.0}, "max_test"),
    ({"max_test": "10"}, "max_test"), ({"test_ratio": "0.2"}, "test_ratio"),
])
def test_split_settings_check_themselves(settings, message):
    from zap.data import SplitSettings
    from zap.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        SplitSettings(**settings)


def test_split_and_load_name_what_they_were_given_instead(tmp_path):
    from zap.data import DataError, SplitSettings, load_dataset, train_test_split
    from zap.errors import ConfigError

    with pytest.raises(ConfigError, match="splits a dataset .* got a ndarray"):
        train_test_split(np.zeros((4, 8, 8)))
    with pytest.raises(ConfigError, match="settings must be a SplitSettings"):
        train_test_split(_tiny(), (0.2, 10, 0))
    assert train_test_split(_tiny(), SplitSettings(0.25, np.int64(3), np.int64(1))).settings.max_test == 3
    for source in (None, 123, [1, 2], {"x": 1}):
        with pytest.raises(DataError, match=f"got a {type(source).__name__}"):
            load_dataset(source)
    with pytest.raises(DataError, match="class_names names the classes of"):
        load_dataset(str(write_folder(tmp_path / "data", n_classes=2)), class_names=["a", "b"])


@pytest.mark.parametrize("amount", ["5", None, True, [5]])
def test_a_budget_is_a_number(amount):
    from zap.errors import ConfigError

    with pytest.raises(ConfigError, match="the budget must be a positive finite number"):
        Budget(amount)


@pytest.mark.parametrize(("payload", "message"), [
    ({}, r"has artifact schema None"), ("artifacts/metadataset/v1.json.gz", "it is a str, not a JSON object"),
    ("seeds", "seeds must be a non-empty list"),
])
def test_a_selection_problem_names_a_payload_it_cannot_read(payload, message):
    """Before, `{}` was a KeyError, a path string a TypeError and empty seeds an IndexError."""
    from synthetic import synthetic_levels_artifact
    from zap.errors import ArtifactError
    from zap.metadataset.problem import SelectionProblem

    if payload == "seeds":
        payload = synthetic_levels_artifact() | {"seeds": []}
    with pytest.raises(ArtifactError, match=message):
        SelectionProblem.from_artifact(payload)


@pytest.mark.parametrize(("args", "message"), [
    ((np.zeros((4, 8, 8)),), "computed on a dataset"), ((None, -1), "seed must lie in"),
    ((None, 0, 0), "max_headers must lie in"), ((None, 0, 2.5), "max_headers must lie in"),
])
def test_metafeatures_name_what_they_cannot_use(args, message):
    from zap.errors import ConfigError
    from zap.metafeatures import compute

    train = args[0] if args[0] is not None else _tiny()
    with pytest.raises(ConfigError, match=message):
        compute(train, *args[1:])

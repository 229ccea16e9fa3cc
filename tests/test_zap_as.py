"""ZAP-AS: every selector type ranks, learns structure, tunes with SMAC, keeps groups apart, round-trips."""

from __future__ import annotations

import numpy as np
import pytest

from synthetic import make_problem
from zap.selectors.base import load_selector
from zap.selectors.baselines import SingleBest
from zap.selectors.zap_as import (
    PAIRWISE_OPPONENTS,
    PAIRWISE_ROWS,
    RF_TYPES,
    SELECTOR_TYPES,
    PairwiseModel,
    ZapAS,
    inner_loss,
    inner_splits,
    normalized_regret,
    pair_sample,
    resolve_config,
    scale_rows,
    zap_as_space,
)


def fit_on(problem, config, **kwargs):
    return ZapAS(config, tune=False, **kwargs).fit(problem.meta_features, problem.encodings, problem.performance,
                                                   problem.groups)


def assert_full_ranking(selector, x, n_pipelines):
    for ranking in selector.rank(x):
        assert sorted(ranking.order.tolist()) == list(range(n_pipelines))
        assert np.all(np.diff(ranking.scores) <= 0)
        assert np.isfinite(ranking.scores).all()


@pytest.mark.parametrize("kind", SELECTOR_TYPES)
@pytest.mark.parametrize("missing", [0.0, 0.2])
def test_every_type_ranks_all_pipelines(kind, missing):
    p = make_problem(n_groups=5, per_group=4, n_pipelines=7, missing=missing, seed=3)
    selector = fit_on(p, {"selector": kind})
    assert selector.config_["selector"] == kind and selector.tuning_ is None
    assert_full_ranking(selector, p.meta_features, 7)


@pytest.mark.parametrize("kind", SELECTOR_TYPES)
def test_minimize_picks_the_same(kind):
    p = make_problem(n_groups=5, per_group=4, n_pipelines=7, missing=0.2, seed=4)
    up = fit_on(p, {"selector": kind})
    down = ZapAS({"selector": kind}, tune=False).fit(p.meta_features, p.encodings, -p.performance, p.groups,
                                                     maximize=False)
    assert np.array_equal(up.select(p.meta_features), down.select(p.meta_features))


def test_a_configuration_tuned_with_the_retired_imputer_still_resolves():
    """The committed benchmark folds hold ZAP-AS configurations tuned when the space still had `imputer`
    (`--as-from` reuses them); rejecting the name would make those folds unreplayable."""
    space = zap_as_space(4)
    tuned = {"imputer": "mean", "selector": "regression-joint", "scaler": True, "pca": False}
    assert resolve_config(tuned, space) == resolve_config({k: v for k, v in tuned.items() if k != "imputer"}, space)
    assert "imputer" not in space


@pytest.mark.parametrize("kind", ["regression-per", "classifier"])
@pytest.mark.parametrize("seed", [5, 6, 7])
def test_untuned_beats_single_best_on_held_out_groups(kind, seed):
    """On these problems the best pipeline changes a lot with data size and class count (Oracle minus
    Single-best is 0.15-0.3 ALC); the default model recovers most of that gap on unseen groups."""
    p = make_problem(n_groups=20, per_group=5, n_pipelines=10, seed=seed)
    test = np.isin(p.groups, [f"core{g}" for g in range(0, 20, 3)])
    train = ~test

    def held_out_mean(selector):
        selector.fit(p.meta_features[train], p.encodings, p.performance[train], p.groups[train])
        pick = selector.select(p.meta_features[test])
        return p.performance[test][np.arange(test.sum()), pick].mean()

    assert held_out_mean(ZapAS({"selector": kind}, tune=False)) > held_out_mean(SingleBest()) + 0.05


def test_tuning_records_and_never_loses_to_the_default():
    p = make_problem(n_groups=6, per_group=4, n_pipelines=6, seed=1)
    selector = ZapAS(tune=True, n_trials=6, inner_folds=3).fit(p.meta_features, p.encodings, p.performance,
                                                              p.groups)
    tuning = selector.tuning_
    assert tuning["n_trials"] == 6 and 1 <= tuning["n_evaluated"] <= 6 and tuning["seconds"] > 0
    assert tuning["best_loss"] <= tuning["default_loss"]
    again = inner_loss(selector.config_, p.meta_features, p.encodings, p.performance, p.groups, n_folds=3)
    # the tuned configuration replaces the start (AutoFolio's default) only on a clear inner-CV gain
    assert again == pytest.approx(tuning["default_loss"] if tuning["kept_start"] else tuning["best_loss"])
    assert tuning["kept_start"] == (selector.config_ == resolve_config(None, zap_as_space(4)))
    default = resolve_config(None, zap_as_space(4))
    assert inner_loss(default, p.meta_features, p.encodings, p.performance, p.groups, 3) == pytest.approx(
        tuning["default_loss"])
    assert_full_ranking(selector, p.meta_features, 6)


@pytest.mark.parametrize("n_folds", [2, 3, 5, 10])
def test_inner_splits_never_share_a_group(n_folds):
    groups = np.array([f"g{i % 7}" for i in range(40)])[np.random.default_rng(0).permutation(40)]
    splits = inner_splits(groups, n_folds)
    assert len(splits) == min(n_folds, 7)
    seen = []
    for train, valid in splits:
        assert not set(groups[train]) & set(groups[valid])
        assert len(train) + len(valid) == len(groups)
        seen.extend(valid.tolist())
    assert sorted(seen) == list(range(len(groups)))  # every row validated exactly once


@pytest.mark.parametrize("kind", SELECTOR_TYPES)
@pytest.mark.parametrize("preprocessing", [{"scaler": True, "pca": False}, {"scaler": False, "pca": True}])
def test_save_load_round_trip(kind, preprocessing, tmp_path):
    """Every selector type, scaled or reduced by PCA, with missing cells, loads back scoring exactly as saved
    (the skops allow-list was read off these files: catches a type it lacks)."""
    p = make_problem(n_groups=5, per_group=4, n_pipelines=6, missing=0.2, seed=2)
    selector = fit_on(p, {"selector": kind, "rf_bootstrap": False, **preprocessing} if kind in RF_TYPES else
                      {"selector": kind, **preprocessing})
    path = selector.save(tmp_path / "zap-as.zsel", context={"n_candidates": 6})
    loaded = load_selector(path, expect_hash=selector.spec_hash_)
    assert loaded.context == {"n_candidates": 6} and loaded.selector.config_ == selector.config_
    assert np.array_equal(loaded.selector.scores(p.meta_features), selector.scores(p.meta_features))


def test_a_tuned_selector_round_trips_with_its_tuning_record(tmp_path):
    p = make_problem(n_groups=5, per_group=4, n_pipelines=6, seed=2)
    selector = ZapAS(n_trials=3, inner_folds=2).fit(p.meta_features, p.encodings, p.performance, p.groups)
    loaded = load_selector(selector.save(tmp_path / "zap-as.zsel")).selector
    assert loaded.tuning_ == selector.tuning_ and loaded.tuning_["n_trials"] == 3
    assert np.array_equal(loaded.scores(p.meta_features), selector.scores(p.meta_features))


def test_config_resolution():
    """Catches defaults not filled in, an inactive child kept (a clustering config carrying forest
    settings would hash differently from the same model), and bad names or values passing silently."""
    space = zap_as_space(4)
    config = resolve_config({"selector": "clustering", "rf_n_estimators": 50}, space)
    assert config["clustering_k"] == 5 and not any(k.startswith("rf_") for k in config)
    assert "pca_n_components" in resolve_config({"pca": True}, space)
    assert "pca_n_components" not in resolve_config({"pca_n_components": 3}, space)  # pca is off by default
    assert "rf_criterion" not in resolve_config({"selector": "regression-per"}, space)
    with pytest.raises(ValueError, match="unknown"):
        resolve_config({"no_such": 1}, space)
    with pytest.raises(ValueError, match="outside"):
        resolve_config({"rf_n_estimators": 5000}, space)


def test_every_config_smac_can_propose_resolves_to_itself():
    """SMAC proposes configurations from the space; if resolving one added, dropped or changed a value,
    the model fitted after tuning would not be the configuration whose inner-CV loss was measured."""
    space = zap_as_space(6, seed=1)
    for sampled in space.sample_configuration(200):
        values = dict(sampled)
        assert resolve_config(values, space) == values


def test_helpers():
    y = np.array([[1.0, 3.0, np.nan], [2.0, 2.0, 2.0]])
    assert np.allclose(scale_rows(y), [[0.0, 1.0, np.nan], [0.5, 0.5, 0.5]], equal_nan=True)
    scores = np.array([[0.0, 0.0, 9.0], [1.0, 0.0, 0.0]])  # row 0's top score is on a missing cell
    assert np.allclose(normalized_regret(scores, y), [1.0, 0.0])
    d, i, j = pair_sample(np.array([[1.0, np.nan, 2.0], [1.0, 2.0, 3.0]]), 100, np.random.default_rng(0))
    assert len(d) == 2 + 6 and np.all(i != j)
    d, i, j = pair_sample(np.random.default_rng(1).random((30, 20)), 50, np.random.default_rng(0))
    assert len(d) == 50 and np.all(i != j)


def test_fast_forest_prediction_equals_sklearn():
    from sklearn.ensemble import RandomForestRegressor

    from zap.selectors.zap_as import forest_predict

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), rng.normal(size=60)
    forest = RandomForestRegressor(n_estimators=12, random_state=0).fit(x, y)
    assert np.allclose(forest_predict(forest, x[:7]), forest.predict(x[:7]))


def test_the_tuning_surrogate_is_smacs_default_forest_on_one_thread(tmp_path):
    from smac import HyperparameterOptimizationFacade, Scenario

    from zap.selectors.zap_as import single_thread_surrogate, zap_as_space

    scenario = Scenario(zap_as_space(4), output_directory=tmp_path, deterministic=True, n_trials=5, seed=3)
    ours, smacs = single_thread_surrogate(scenario), HyperparameterOptimizationFacade.get_model(scenario)
    assert ours._rf_opts["n_jobs"] == 1
    assert {**ours._rf_opts, "n_jobs": None} == {**smacs._rf_opts, "n_jobs": None}
    assert ours._log_y == smacs._log_y


def test_a_tuned_configuration_must_beat_the_start_clearly_to_replace_it():
    from zap.selectors.zap_as import AUTOFOLIO_DEFAULT, clear_gain

    assert resolve_config(None, zap_as_space(4))["selector"] == AUTOFOLIO_DEFAULT["selector"] == "pairwise"
    groups = np.repeat([f"core{i}" for i in range(10)], 3)
    start = np.random.default_rng(0).random(30)
    assert clear_gain(start, start - 0.1, groups, min_gain=0.02)[0]  # lower regret on every core
    assert not clear_gain(start, start - 0.01, groups, min_gain=0.02)[0]  # consistent, but too small
    noisy = start - 0.03 + np.random.default_rng(1).normal(0, 0.3, 30)  # a mean gain inside the noise
    leave, p = clear_gain(start, noisy, groups, min_gain=0.0)
    assert not leave and p is not None and p >= 0.05
    assert not clear_gain(start, start + 0.1, groups, min_gain=0.02)[0]  # worse: never


def test_pairwise_scores_many_datasets_at_once_as_it_would_one_at_a_time():
    """Scoring batches datasets into one forest call (`PAIRWISE_ROWS` at a time) over sampled opponents
    (`PAIRWISE_OPPONENTS` of more pipelines, some of them the pipeline itself): the same scores, to the bit, as
    a dataset scored alone, for more datasets than a batch and more pipelines than opponents."""
    rng = np.random.default_rng(3)
    n_pipelines, n_datasets = PAIRWISE_OPPONENTS + 6, PAIRWISE_ROWS * 2 + 5
    x, enc = rng.normal(size=(n_datasets, 3)), rng.normal(size=(n_pipelines, 4))
    y = rng.random((n_datasets, n_pipelines))
    config = resolve_config({"selector": "pairwise"}, zap_as_space(3))
    model = PairwiseModel(config, seed=0, max_pairs=3000).fit(x, enc, y)
    assert np.isin(np.arange(n_pipelines), model.opponents_).sum() == PAIRWISE_OPPONENTS  # some self-pairs
    together = model.scores(x)
    alone = np.concatenate([model.scores(x[i:i + 1]) for i in range(n_datasets)])
    assert together.shape == (n_datasets, n_pipelines) and np.array_equal(together, alone)
    # one dataset by hand: the mean win probability against every opponent but itself
    i, j = np.repeat(np.arange(n_pipelines), PAIRWISE_OPPONENTS), np.tile(model.opponents_, n_pipelines)
    feats = np.hstack([np.tile(x[0], (len(i), 1)), enc[i], enc[j]])
    p_win = model.rf_.predict_proba(feats)[:, list(model.rf_.classes_).index(True)].reshape(n_pipelines, -1)
    own = (i == j).reshape(n_pipelines, -1)
    expected = np.where(own, 0.0, p_win).sum(axis=1) / (~own).sum(axis=1) + model.tie_
    assert np.allclose(together[0], expected, rtol=0, atol=1e-12)

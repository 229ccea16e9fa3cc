"""Selectors: the shared interface, ZAP-HPO's sampling, loss and folds, baselines, save/load."""

import numpy as np
import pytest

from synthetic import make_problem
from zap.selectors import (
    FixedPipeline,
    RandomSelector,
    SelectorError,
    SingleBest,
    Standardizer,
    load_selector,
    one_hot_encodings,
)
from zap.selectors.zap_hpo import (
    ListTargets,
    PairSampler,
    Rows,
    ZapHPO,
    group_folds,
    regret_of_pick,
    true_rank_of_pick,
    zscore_rows,
)


@pytest.fixture(scope="module")
def problem():
    return make_problem(n_groups=10, per_group=4, n_pipelines=12, seed=3)


def test_pairs_never_cross_datasets_and_are_strictly_ordered():
    rng = np.random.default_rng(0)
    y = rng.random((6, 9)).round(1)  # rounding makes ties, which must count as neither better nor worse
    y[rng.random(y.shape) < 0.3] = np.nan
    rows = Rows.of(y, np.arange(6))
    sampler = PairSampler(rows)
    for _ in range(20):
        worse, better = sampler.draw(rng)
        assert (rows.dataset[worse] == rows.dataset).all() and (rows.dataset[better] == rows.dataset).all()
        assert ((rows.y[worse] < rows.y) | (worse == np.arange(len(rows.y)))).all()
        assert ((rows.y[better] > rows.y) | (better == np.arange(len(rows.y)))).all()
    # an anchor with better partners always gets one (never itself), and the draw covers all of them
    best_of = {d: np.nanmax(y[d]) for d in range(6)}
    anchor = next(i for i in range(len(rows.y)) if rows.y[i] < best_of[rows.dataset[i]])
    seen = {int(sampler.draw(rng)[1][anchor]) for _ in range(300)}
    expected = {i for i in range(len(rows.y)) if rows.dataset[i] == rows.dataset[anchor] and rows.y[i] > rows.y[anchor]}
    assert seen == expected


def test_group_folds_never_split_a_group(problem):
    folds = group_folds(problem.groups, 5, seed=1)
    assert np.logical_or.reduce(folds).all() and sum(f.sum() for f in folds) == len(problem.groups)
    for mask in folds:
        assert not set(problem.groups[mask]) & set(problem.groups[~mask])


def test_true_rank_of_pick_skips_missing_cells():
    y = np.array([[0.1, 0.5, np.nan, 0.3], [0.9, 0.2, 0.2, 0.1]])
    scores = np.array([[0.0, 1.0, 9.0, 0.5], [0.0, 1.0, 0.0, 0.0]])
    assert true_rank_of_pick(scores, y).tolist() == [0.0, 1.0]
    assert np.allclose(regret_of_pick(scores, y), [0.0, 0.7])  # the second pick lost 0.9 - 0.2


def test_zap_hpo_beats_single_best_on_held_out_groups(problem):
    test = np.isin(problem.groups, np.unique(problem.groups)[:3])
    args = (problem.encodings, problem.performance[~test], problem.groups[~test])
    hpo = ZapHPO(max_epochs=40, seed=0).fit(problem.meta_features[~test], *args)
    best = SingleBest().fit(problem.meta_features[~test], *args)
    y = problem.performance[test]
    picked = y[np.arange(len(y)), hpo.select(problem.meta_features[test])].mean()
    single = y[np.arange(len(y)), best.select(problem.meta_features[test])].mean()
    assert picked > single and len(hpo.models_) == 5
    assert all(h["epochs"] <= 40 and h["best_epoch"] >= 1 for h in hpo.history_)


def test_scores_are_finite_and_minimizing_flips_the_pick(problem):
    """`rank` sorts whatever scores come out, so its order is a permutation by construction; what can fail is
    a NaN score (argsort puts it last without a word) and `maximize=False` not turning the target around."""
    x, enc, y, g = problem.meta_features, problem.encodings, problem.performance, problem.groups
    for loss in ("bpr", "regression", "listwise"):
        up = ZapHPO(loss=loss, max_epochs=5, n_folds=2, seed=1).fit(x, enc, y, g)
        down = ZapHPO(loss=loss, max_epochs=5, n_folds=2, seed=1).fit(x, enc, -y, g, maximize=False)
        assert np.isfinite(up.scores(x)).all() and up.scores(x).shape == (len(x), len(enc))
        assert (up.select(x) == down.select(x)).all()


def test_listwise_targets_sum_to_one_per_dataset_and_favour_the_best():
    y = np.array([[0.1, 0.5, np.nan, 0.3], [0.2, 0.2, 0.2, np.nan]])
    rows = Rows.of(y, np.arange(2))
    sharp, flat = ListTargets.of(rows, 0.25), ListTargets.of(rows, 4.0)
    for targets in (sharp, flat):
        assert [float(targets.probability[g].sum()) for g in targets.groups] == pytest.approx([1.0, 1.0])
        assert np.allclose(targets.probability[targets.groups[1]], 1 / 3)  # all equal: uniform, no NaN
    first = sharp.groups[0]
    best = first[np.argmax(rows.y[first])]
    assert sharp.probability[best] > flat.probability[best] > 1 / 3


def test_listwise_loss_learns_a_planted_order(problem):
    """The same held-out check as the pairwise loss: a loss that trained on nothing (a sign error, targets
    misaligned with rows) picks no better than Single-best here."""
    test = np.isin(problem.groups, np.unique(problem.groups)[:3])
    args = (problem.encodings, problem.performance[~test], problem.groups[~test])
    listwise = ZapHPO(loss="listwise", max_epochs=40, seed=0).fit(problem.meta_features[~test], *args)
    best = SingleBest().fit(problem.meta_features[~test], *args)
    y = problem.performance[test]
    picked = y[np.arange(len(y)), listwise.select(problem.meta_features[test])].mean()
    assert picked > y[np.arange(len(y)), best.select(problem.meta_features[test])].mean()


def test_a_seed_ensemble_pools_every_member_and_its_first_member_is_the_plain_model(problem):
    x, enc, y, g = problem.meta_features, problem.encodings, problem.performance, problem.groups
    plain = ZapHPO(loss="regression", max_epochs=4, n_folds=2, seed=7).fit(x, enc, y, g)
    pooled = ZapHPO(loss="regression", max_epochs=4, n_folds=2, seed=7, n_seeds=3).fit(x, enc, y, g)
    assert len(pooled.models_) == 6 and len(pooled.history_) == 6
    assert np.allclose(pooled.fold_scores(x)[:2], plain.fold_scores(x))  # member 0 is the n_seeds=1 model
    assert not np.allclose(pooled.fold_scores(x)[2:4], plain.fold_scores(x))  # others differ: other seeds
    assert np.allclose(pooled.scores(x), np.mean([zscore_rows(s) for s in pooled.fold_scores(x)], axis=0))
    for bad in (0, 1.5, "2"):
        with pytest.raises(SelectorError, match="n_seeds"):
            ZapHPO(n_seeds=bad, max_epochs=1).fit(x, enc, y, g)
    with pytest.raises(SelectorError, match="list_temperature"):
        ZapHPO(loss="listwise", list_temperature=0, max_epochs=1).fit(x, enc, y, g)


def test_sparse_ablation_keeps_every_dataset(problem):
    hpo = ZapHPO(keep=0.25, max_epochs=3, n_folds=2, seed=2)
    kept = hpo._sparsified(problem.performance, np.random.default_rng(0))
    measured = ~np.isnan(kept)
    assert measured.any(axis=1).all() and 0.15 < measured.mean() < 0.4
    with pytest.raises(SelectorError, match="keep"):
        ZapHPO(keep=0).fit(problem.meta_features, problem.encodings, problem.performance, problem.groups)


def test_vote_ensemble_picks_a_fold_models_top_choice(problem):
    x = problem.meta_features
    hpo = ZapHPO(ensemble="vote", max_epochs=5, n_folds=3, seed=4).fit(x, problem.encodings, problem.performance,
                                                                      problem.groups)
    tops = hpo.fold_scores(x[:5]).argmax(axis=2)  # [folds x datasets]
    assert all(pick in tops[:, i] for i, pick in enumerate(hpo.select(x[:5])))


def test_save_load_round_trip_and_hash_check(problem, tmp_path):
    x, enc, y, g = problem.meta_features, problem.encodings, problem.performance, problem.groups
    hpo = ZapHPO(max_epochs=3, n_folds=2).fit(x, enc, y, g)
    path = hpo.save(tmp_path / "hpo.pkl.gz", {"note": "test"})
    loaded = load_selector(path, expect_hash=hpo.spec_hash_)
    assert np.allclose(loaded.selector.scores(x), hpo.scores(x)) and loaded.context == {"note": "test"}
    with pytest.raises(SelectorError, match="specification"):
        load_selector(path, expect_hash="0" * 16)
    with pytest.raises(SelectorError, match="meta-train"):
        load_selector(tmp_path / "missing.pkl.gz")


def test_inputs_are_checked_with_clear_errors(problem):
    x, enc, y, g = problem.meta_features, problem.encodings, problem.performance, problem.groups
    with pytest.raises(SelectorError, match="performance has shape"):
        SingleBest().fit(x, enc, y[:, :-1], g)
    with pytest.raises(SelectorError, match="single group"):
        SingleBest().fit(x, enc, y, np.zeros(len(x)))
    with pytest.raises(SelectorError, match="not fitted"):
        ZapHPO().rank(x)
    bad = y.copy()
    bad[0] = np.nan
    with pytest.raises(SelectorError, match="no performance"):
        SingleBest().fit(x, enc, bad, g)
    with pytest.raises(SelectorError, match="3 meta-features"):
        SingleBest().fit(x, enc, y, g).rank(x[:, :3])


def test_baselines(problem):
    x, y, g = problem.meta_features, problem.performance, problem.groups
    enc = one_hot_encodings(y.shape[1])
    best = SingleBest().fit(x, enc, y, g)
    assert (best.select(x) == np.nanmean(y, axis=0).argmax()).all()
    assert (FixedPipeline(3).fit(x, enc, y, g).select(x) == 3).all()
    a, b = RandomSelector(seed=1).fit(x, enc, y, g), RandomSelector(seed=1).fit(x, enc, y, g)
    assert (a.select(x) == b.select(x)).all() and len(set(a.select(x).tolist())) > 1


def test_standardizer_leaves_binary_columns():
    x = np.array([[0.0, 1.0, 5.0], [1.0, 1.0, 7.0], [0.0, 1.0, 9.0]])
    z = Standardizer().fit(x).transform(x)
    assert (z[:, :2] == x[:, :2]).all() and abs(z[:, 2].mean()) < 1e-12 and abs(z[:, 2].std() - 1) < 1e-12


def test_regime_warnings_name_what_is_far_from_the_meta_dataset():
    from zap.metafeatures import MetaFeatures
    from zap.selectors.trained import regime_warnings

    context = {"meta_feature_range": {"min": [1, 2, 50, 16], "max": [3, 100, 12000, 128]},
               "protocol": {"budget": 20.0, "clock": "cpu", "threads": 1}, "complete": True}
    inside = MetaFeatures(3, 10, 500, 32)
    assert regime_warnings(context, inside, budget=60, clock="wall", threads=2) == []
    far = regime_warnings(context, MetaFeatures(3, 10, 50000, 32), budget=3600, clock="wall", threads=8,
                          device="cuda")
    assert any("n_train = 50000" in w for w in far) and any("1440.0x" in w for w in far)
    assert any("cuda" in w for w in far) and len(far) == 3
    partial = regime_warnings(context | {"complete": False, "n_datasets": 20, "n_cores": 5}, inside)
    assert partial == ["this selector was trained on an incomplete meta-dataset (20 datasets, 5 cores)"]


def test_a_strong_single_best_prior_turns_zap_hpo_into_single_best(problem):
    x, enc, y, g = problem.meta_features, problem.encodings, problem.performance, problem.groups
    plain = ZapHPO(max_epochs=5, n_folds=2, seed=5).fit(x, enc, y, g)
    pulled = ZapHPO(max_epochs=5, n_folds=2, seed=5, prior=1e6).fit(x, enc, y, g)
    best = SingleBest().fit(x, enc, y, g).select(x)
    assert (pulled.select(x) == best).all() and not (plain.select(x) == best).all()
    missing = y.copy()
    missing[:, 0] = np.nan  # a never-measured pipeline sits at the bottom of the prior, not NaN
    assert np.isfinite(ZapHPO._single_best_prior(missing)).all()


def test_weighted_pairs_log_meta_features_and_regret_selection_train_and_are_checked(problem):
    x, enc, y, g = problem.meta_features, problem.encodings, problem.performance, problem.groups
    hpo = ZapHPO(pair_weight="delta", meta_transform="log", select_by="regret", max_epochs=5, n_folds=2,
                 seed=6).fit(x, enc, y, g)
    assert np.isfinite(hpo.scores(x)).all() and all("valid_regret" in h for h in hpo.history_)
    grid = hpo._inputs(np.array([[3.0, 9.0]]), np.zeros((1, 1)), np.array([0]), np.array([0]))
    assert np.allclose(grid[0, :2], np.log1p([3.0, 9.0]))
    for option in ({"pair_weight": "rank"}, {"meta_transform": "sqrt"}, {"select_by": "ndcg"}):
        with pytest.raises(SelectorError, match=next(iter(option))):
            ZapHPO(max_epochs=1, **option).fit(x, enc, y, g)


def test_registry_names_build_the_variant_they_name():
    """Catches a name that builds the wrong variant (its keywords lost, or a caller's setting dropped): the
    benchmark would then compare one selector with itself under two names."""
    from zap.selectors import SELECTORS, ZapAS, create_selector

    assert create_selector("zap-hpo-keep50", max_epochs=3).get_params() == ZapHPO(keep=0.5, max_epochs=3).get_params()
    assert create_selector("zap-hpo-regression").loss == "regression"
    assert create_selector("zap-hpo-vote", ensemble="zscore").ensemble == "zscore"  # a caller's setting wins
    as_ = create_selector("zap-as", seed=4, n_trials=7, max_epochs=3)  # max_epochs is ZAP-HPO's: left out
    assert isinstance(as_, ZapAS) and (as_.seed, as_.n_trials, as_.tune) == (4, 7, True)
    assert isinstance(create_selector("single-best", seed=1, n_trials=3), SingleBest)
    from zap.selectors.baselines import NearestDatasets

    assert {type(create_selector(name)) for name in SELECTORS} == {ZapHPO, ZapAS, SingleBest, RandomSelector,
                                                                   NearestDatasets}
    autofolio = create_selector("autofolio-default", n_trials=7)
    assert (autofolio.config, autofolio.tune) == ({"selector": "pairwise"}, False)
    with pytest.raises(SelectorError, match="max_epoch"):  # a typo is no setting any selector takes
        create_selector("zap-hpo", max_epoch=3)
    with pytest.raises(SelectorError, match="unknown selector 'zap-hop'"):
        create_selector("zap-hop")


def test_shipped_selectors_are_what_the_registry_builds():
    """Catches the registry drifting from what `zap meta-train` shipped: retraining would then ship another
    selector (another spec hash) under the same name."""
    from pathlib import Path

    from zap.selectors import create_selector
    from zap.selectors.registry import SHIPPED
    from zap.selectors.trained import TRAINABLE

    assert TRAINABLE == SHIPPED == ("zap-hpo", "zap-as", "single-best", "zap-hpo-regression")
    shipped = Path(__file__).resolve().parents[1] / "artifacts" / "selectors"
    for name in SHIPPED:
        path = shipped / f"{name}.pkl.gz"
        if path.exists():
            assert load_selector(path).selector.get_params() == create_selector(name).get_params(), name


def test_spec_hash_is_pinned():
    """Saved selectors carry this hash and are checked against it on load: a change of its canonical JSON
    would make every shipped selector look foreign."""
    from zap.selectors.base import spec_hash

    assert spec_hash({"a": np.arange(3) / 7, "b": [1, "x"], "c": {"z": 1.5}}) == "846cc1b7d4d87ce0"

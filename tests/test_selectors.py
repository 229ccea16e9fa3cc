"""Selectors: the shared interface, ZAP-HPO's sampling, loss and folds, baselines, save/load."""

import copy
import gzip
import io
import json
import os
import pickle
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression

from synthetic import make_problem
from zap.selectors import (
    FixedPipeline,
    RandomSelector,
    Selector,
    SelectorError,
    SingleBest,
    Standardizer,
    ZapAS,
    load_selector,
    one_hot_encodings,
)
from zap.selectors.baselines import NearestDatasets
from zap.selectors.levels import PerLevel
from zap.selectors.store import _subclasses, convert_legacy_selector
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
    path = hpo.save(tmp_path / "hpo.zsel", {"note": "test"})
    loaded = load_selector(path, expect_hash=hpo.spec_hash_)
    assert np.array_equal(loaded.selector.scores(x), hpo.scores(x)) and loaded.context == {"note": "test"}
    with pytest.raises(SelectorError, match="specification"):
        load_selector(path, expect_hash="0" * 16)
    with pytest.raises(SelectorError, match="meta-train"):
        load_selector(tmp_path / "missing.zsel")


# ------------------------------------------------------------------------------------------ saved files
# A saved selector is data only (zap.selectors.store, docs/security.md): these tests plant code where a
# crafted file would hide it and check that loading refuses the file with nothing run.

ROUND_TRIPS = {
    "zap-hpo, two seeds": lambda: ZapHPO(max_epochs=3, n_folds=2, n_seeds=2),
    "zap-hpo, listwise, vote, log features, prior": lambda: ZapHPO(
        loss="listwise", ensemble="vote", meta_transform="log", prior=0.5, hidden_layers=2, max_epochs=2, n_folds=3),
    "zap-hpo, encodings only": lambda: ZapHPO(use_meta_features=False, hidden_layers=1, max_epochs=2, n_folds=2),
    "single-best": SingleBest,
    "random": lambda: RandomSelector(seed=4),
    "fixed": lambda: FixedPipeline(3, "recommended"),
    "knn": lambda: NearestDatasets(k=3),
    "per-level knn": lambda: PerLevel("knn"),
    "per-level zap-as": lambda: PerLevel("autofolio-default"),
}


def with_budget(x: np.ndarray) -> np.ndarray:
    """Two budget levels as the last meta-feature, as a multi-level meta-dataset gives them (`PerLevel`)."""
    return np.column_stack([x, np.log(np.where(np.arange(len(x)) % 2, 20.0, 60.0))])


@pytest.mark.parametrize("make", ROUND_TRIPS.values(), ids=ROUND_TRIPS)
def test_every_selector_loads_back_scoring_exactly_as_saved(make, problem, tmp_path):
    selector = make()
    x = with_budget(problem.meta_features) if isinstance(selector, PerLevel) else problem.meta_features
    selector.fit(x, problem.encodings, problem.performance, problem.groups)
    loaded = load_selector(selector.save(tmp_path / "s.zsel", {"ids": ["a", "b"]}), expect_hash=selector.spec_hash_)
    assert type(loaded.selector) is type(selector) and loaded.selector.get_params() == selector.get_params()
    assert np.array_equal(loaded.selector.scores(x), selector.scores(x)) and loaded.context == {"ids": ["a", "b"]}


def test_every_selector_class_of_zap_says_what_it_saves():
    """Catches a new selector class that `save` would refuse (it has no `_state`) or `load` could not rebuild."""
    import zap.selectors.levels
    import zap.selectors.registry  # noqa: F401  (imports every selector module)

    classes = {cls.__name__: cls for cls in _subclasses(Selector) if cls.__module__.startswith("zap.")}
    assert {"ZapHPO", "ZapAS", "SingleBest", "RandomSelector", "FixedPipeline", "NearestDatasets", "PerLevel"} <= set(
        classes)
    assert [name for name, cls in classes.items() if not {"_state", "_from_state"} <= set(vars(cls))] == []


@pytest.fixture(scope="module")
def small(problem) -> dict[str, Selector]:
    """A fitted selector of each kind whose file the tests below damage: small, so each test is fast."""
    args = problem.meta_features, problem.encodings, problem.performance, problem.groups
    return {"single-best": SingleBest().fit(*args),
            "zap-hpo": ZapHPO(hidden_layers=1, hidden_units=4, max_epochs=1, n_folds=2).fit(*args),
            "zap-as": ZapAS({"selector": "classifier", "rf_n_estimators": 10}, tune=False).fit(*args),
            "knn": NearestDatasets(k=3).fit(*args)}


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "code_ran"


def archive(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as opened:
        return {name: opened.read(name) for name in opened.namelist()}


def tamper(path: Path, meta=None, arrays=None, entries: dict[str, bytes] | None = None) -> Path:
    """Rewrite the saved selector at `path`: `meta(selector_json)` and `arrays(arrays, selector_json)` change
    its JSON and arrays in place; `entries` replace whole entries."""
    parts = archive(path)
    selector_json = json.loads(parts["selector.json"])
    if meta:
        meta(selector_json)
    if arrays:
        with np.load(io.BytesIO(parts["arrays.npz"])) as npz:
            values = dict(npz)
        arrays(values, selector_json)
        buffer = io.BytesIO()
        np.savez(buffer, **values)
        parts["arrays.npz"] = buffer.getvalue()
    parts["selector.json"] = json.dumps(selector_json).encode()
    parts |= entries or {}
    with zipfile.ZipFile(path, "w") as rewritten:
        for name, data in parts.items():
            rewritten.writestr(name, data)
    return path


def saved(small, name: str, tmp_path: Path) -> Path:
    return small[name].save(tmp_path / f"{name}.zsel")


def refused(path: Path, *phrases: str) -> str:
    with pytest.raises(SelectorError) as caught:
        load_selector(path)
    message = str(caught.value)
    assert all(phrase in message for phrase in (str(path), "zap meta-train", *phrases)), message
    return message


def planted_pickle(marker: Path) -> bytes:
    """A pickle, written by hand, that calls `open(marker, "w")` when it is loaded: code a crafted file hides."""
    return b"cbuiltins\nopen\n(V" + str(marker).encode() + b"\nVw\ntR."


def npy_of_objects(payload: bytes) -> bytes:
    """An `.npy` entry of dtype object whose objects are the pickle `payload` (what `np.save` would write)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|O", "fortran_order": False, "shape": (1,)})
    return buffer.getvalue() + payload


@pytest.mark.parametrize("where", ["selector.json", "an array", "the whole file", "an old selector's name"])
def test_a_planted_pickle_is_refused_unrun(where, small, tmp_path, marker):
    bomb = planted_pickle(marker)
    pickle.loads(bomb).close()  # the bomb works when unpickled...
    assert marker.is_file()
    marker.unlink()
    path = saved(small, "single-best", tmp_path)
    if where == "selector.json":
        refused(tamper(path, entries={"selector.json": bomb}), "not a readable saved selector")
    if where == "an array":
        npz = io.BytesIO()
        with zipfile.ZipFile(npz, "w") as arrays:
            arrays.writestr("a1.npy", npy_of_objects(bomb))
        np.load(io.BytesIO(npz.getvalue()), allow_pickle=True)["a1"].close()  # the bomb's open file
        assert marker.is_file()  # ...and so does the array
        marker.unlink()
        refused(tamper(path, entries={"arrays.npz": npz.getvalue()}), "not a readable saved selector", "allow_pickle")
    if where == "the whole file":
        path.write_bytes(gzip.compress(bomb))  # an old selector was a gzipped pickle
        refused(path, "pickled by a zap before selector schema 2", "convert_legacy_selector")
    if where == "an old selector's name":
        path.unlink()
        legacy = path.with_name("single-best.pkl.gz")
        legacy.write_bytes(gzip.compress(bomb))
        assert str(legacy) in refused(path, "pickled by a zap before selector schema 2")
    assert not marker.exists()  # ...and zap never ran it


def test_an_old_pickled_selector_converts_only_on_trust(problem, small, tmp_path, marker):
    old = tmp_path / "single-best.pkl.gz"
    old.write_bytes(gzip.compress(planted_pickle(marker)))
    with pytest.raises(SelectorError, match="trust_pickle=True"):
        convert_legacy_selector(old)
    assert not marker.exists()
    selector = small["single-best"]
    payload = {"schema": 1, "selector": selector.name, "spec_hash": selector.spec_hash_, "context": {"a": 1},
               "state": selector}  # as zaps before selector schema 2 saved a selector
    old.write_bytes(gzip.compress(pickle.dumps(payload)))
    converted = convert_legacy_selector(old, trust_pickle=True)  # a file the user wrote and trusts
    assert converted == tmp_path / "single-best.zsel"
    loaded = load_selector(converted)
    x = problem.meta_features
    assert loaded.context == {"a": 1} and np.array_equal(loaded.selector.scores(x), selector.scores(x))


def test_an_old_per_level_selector_converts_with_its_childrens_new_settings_at_their_defaults(problem, tmp_path):
    x = with_budget(problem.meta_features)
    selector = PerLevel("knn").fit(x, problem.encodings, problem.performance, problem.groups)
    expected = selector.scores(x)
    for child in selector.children_:  # as if `k` were a setting NearestDatasets gained after the pickle
        del child.k
    payload = {"schema": 1, "selector": selector.name, "spec_hash": selector.spec_hash_, "state": selector}
    old = tmp_path / "per-level.pkl.gz"
    old.write_bytes(gzip.compress(pickle.dumps(payload)))
    loaded = load_selector(convert_legacy_selector(old, trust_pickle=True)).selector
    assert [child.k for child in loaded.children_] == [5, 5]  # the default
    assert np.array_equal(loaded.scores(x), expected)  # the children were fitted with the default


class Trap:
    """Runs code when skops rebuilds it (skops calls `__setstate__`): creates the file it names."""

    def __init__(self, path: Path):
        self.where = str(path)

    def __setstate__(self, state: dict) -> None:
        Path(state["where"]).touch()


def forest_entry(path: Path) -> str:
    key = json.loads(archive(path)["selector.json"])["fitted"]["state"]["model"]["model"]["forest"]["$estimator"]
    return f"estimators/{key}.skops"


def skops_schema(data: bytes) -> dict:
    return json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))


def with_schema(data: bytes, schema: dict) -> bytes:
    """A skops file's bytes with another schema."""
    with zipfile.ZipFile(io.BytesIO(data)) as opened:
        parts = {name: opened.read(name) for name in opened.namelist()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as rewritten:
        for name, item in parts.items():
            rewritten.writestr(name, json.dumps(schema) if name == "schema.json" else item)
    return out.getvalue()


def with_node(forest, field: str, value: int):
    """The forest with its first tree's root node's `field` set to `value` (the tree's arrays as a file holds them)."""
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    state["nodes"] = state["nodes"].copy()
    state["nodes"][field][0] = value
    tree.__setstate__(state)
    return forest


CRAFTED_TREES = {"a tree that loops back to its root": ("left_child", 0, "children lie outside it or before"),
                 "a split on a feature the input lacks": ("feature", 99, "splits on features outside the 4")}


@pytest.mark.parametrize("change", ["an object that runs code", "os.system", "a type skops trusts by default",
                                    "a calling node kind", "an allowed type in the wrong place", *CRAFTED_TREES])
def test_an_estimator_naming_anything_zap_does_not_need_is_refused_unbuilt(change, small, tmp_path, marker):
    path = saved(small, "zap-as", tmp_path)
    entry = forest_entry(path)
    forest = copy.deepcopy(small["zap-as"].model_.model_.rf_)
    if change == "an object that runs code":
        forest.extra_ = Trap(marker)  # hidden inside a real forest: the root type is fine
        data = skops.io.dumps(forest)
        skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data))  # the trap works when trusted...
        assert marker.is_file()
        marker.unlink()
        expected = f"{Trap.__module__}.Trap"
    if change == "os.system":
        data = skops.io.dumps(forest)
        schema = skops_schema(data)
        schema["content"]["content"]["n_jobs"] = skops_schema(skops.io.dumps(os.system))
        data = with_schema(data, schema)
        assert skops.io.loads(data, trusted=skops.io.get_untrusted_types(data=data)).n_jobs is os.system
        expected = f"{os.system.__module__}.system"
    if change == "a type skops trusts by default":  # skops would build it; zap's selectors never hold it
        forest.extra_ = LogisticRegression()
        data, expected = skops.io.dumps(forest), "sklearn.linear_model._logistic.LogisticRegression"
    if change == "a calling node kind":  # a crafted schema: an allowed type, rebuilt by calling it
        schema = skops_schema(skops.io.dumps(forest))
        schema["content"]["content"]["estimator"]["__loader__"] = "ReduceNode"
        data, expected = with_schema(skops.io.dumps(forest), schema), "node kind ReduceNode"
    if change == "an allowed type in the wrong place":
        data = archive(path)["estimators/e0.skops"]  # the preprocessing pipeline
        expected = "is a sklearn.pipeline.Pipeline, expected sklearn.ensemble._forest.RandomForestClassifier"
    if change in CRAFTED_TREES:  # allowed types only, but arrays scikit-learn would walk out of bounds
        field, value, expected = CRAFTED_TREES[change]
        data = skops.io.dumps(with_node(forest, field, value))
    message = refused(tamper(path, entries={entry: data}), expected)
    if change not in ("an allowed type in the wrong place", *CRAFTED_TREES):
        assert "may be malicious: nothing was built from it" in message
    assert not marker.exists()  # ...and zap never built it


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "no arrays", "JSON of a list"])
def test_a_damaged_file_is_refused_by_name(damage, small, tmp_path):
    path = saved(small, "zap-hpo", tmp_path)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    if damage == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    if damage == "empty":
        path.write_bytes(b"")
    if damage == "no arrays":
        parts = archive(path)
        with zipfile.ZipFile(path, "w") as rewritten:
            rewritten.writestr("selector.json", parts["selector.json"])
    if damage == "JSON of a list":
        tamper(path, entries={"selector.json": b"[1, 2]"})
    refused(path, "is not a readable saved selector", "damaged")


def first_weight(meta: dict) -> str:
    return meta["fitted"]["state"]["members"][0]["weights"]["0.weight"]["$array"]


def reshaped(key_of, change):
    def arrays(values: dict, meta: dict) -> None:
        key = key_of(meta)
        values[key] = change(values[key])
    return arrays


TAMPERED = {  # what is changed -> (selector, how, what the refusal says)
    "a mean of another length": ("single-best", {"arrays": reshaped(
        lambda m: m["fitted"]["state"]["mean"]["$array"], lambda a: a[:5])},
        "fitted.state.mean has shape (5,), expected (12,)"),
    "weights of another shape": ("zap-hpo", {"arrays": reshaped(first_weight, lambda a: a.T)},
                                 "fitted.state.members[0].weights.0.weight has shape"),
    "integer weights": ("zap-hpo", {"arrays": reshaped(first_weight, lambda a: a.astype(int))},
                        "0.weight has dtype int64, expected kind 'f'"),
    "one-dimensional encodings": ("single-best", {"arrays": reshaped(
        lambda m: m["fitted"]["encodings"]["$array"], np.ravel)}, "fitted.encodings has shape"),
    "a missing value": ("zap-as", {"meta": lambda m: m["fitted"]["state"]["model"]["model"].pop("tie")},
                        "fitted.state.model.model.tie is missing"),
    "a value of another type": ("zap-hpo", {"meta": lambda m: m["fitted"].update(n_features="4")},
                                "fitted.n_features is a str, expected int"),
    "an array where an estimator belongs": ("zap-as", {"meta": lambda m: m["fitted"]["state"]["model"].update(
        preprocessing={"$array": "a0"})}, "fitted.state.model.preprocessing is not an estimator of the file"),
    "changed settings": ("single-best", {"meta": lambda m: m["fitted"].update(maximize=False)},
                         "the file was changed"),
    "settings the class does not take": ("single-best", {"meta": lambda m: m["fitted"]["params"].update(k=3)},
                                         "are not settings SingleBest takes"),
    "a class zap does not have": ("single-best", {"meta": lambda m: m["fitted"].__setitem__(
        "class", "evil.module.Thing")}, "names evil.module.Thing, not a selector class this program has"),
    "another schema": ("single-best", {"meta": lambda m: m.update(schema=1)},
                       "has selector schema 1, this zap reads 2"),
    "an incomplete ZAP-AS configuration": ("zap-as", {"meta": lambda m: m["fitted"]["state"]["config"].pop("scaler")},
                                           "fitted.state.config is not a complete ZAP-AS configuration"),
    "candidates that are no dicts": ("single-best", {"meta": lambda m: m["context"].update(candidates=[1, 2])},
                                     "context.candidates is not a list of candidates"),
    "a kNN with no training row": ("knn", {"arrays": reshaped(lambda m: m["fitted"]["state"]["x"]["$array"],
                                                              lambda a: a[:0])}, "fitted.state.x holds 0 training"),
}


@pytest.mark.parametrize("change", TAMPERED.values(), ids=TAMPERED)
def test_values_of_the_wrong_type_or_shape_are_refused_with_their_place(change, small, tmp_path):
    name, how, expected = change
    refused(tamper(saved(small, name, tmp_path), **how), expected)
    assert "evil" not in sys.modules  # a class the file names is looked up, never imported


# A crafted file may hold any settings, with the spec hash they give: how its estimators run, how large a network
# they ask for, values a class refuses. Loading never aborts, never sizes memory by them, never tracebacks.


def estimator_entry(path: Path, *keys: str) -> str:
    node = json.loads(archive(path)["selector.json"])["fitted"]["state"]
    for key in keys:
        node = node[key]
    return f"estimators/{node['$estimator']}.skops"


def test_how_an_estimator_runs_is_zaps_choice_never_the_files(problem, small, tmp_path):
    """skops restores every attribute: a k-means with -1 threads aborted the process in `predict` (libgomp
    allocating for 2**64 - 1 threads), a forest with n_jobs=-1 takes every core, a pipeline's memory caches to a
    folder. Loading sets zap's own values, checked here before anything predicts."""
    x, args = problem.meta_features, (problem.meta_features, problem.encodings, problem.performance, problem.groups)
    clustering = ZapAS({"selector": "clustering"}, tune=False).fit(*args)
    path = clustering.save(tmp_path / "clustering.zsel")
    kmeans, pre = copy.deepcopy(clustering.model_.model_.kmeans_), copy.deepcopy(clustering.model_.pre_)
    kmeans._n_threads, kmeans.verbose, pre.memory, pre.verbose = -1, 3, str(tmp_path / "cache"), True
    tamper(path, entries={estimator_entry(path, "model", "model", "kmeans"): skops.io.dumps(kmeans),
                          estimator_entry(path, "model", "preprocessing"): skops.io.dumps(pre)})
    loaded = load_selector(path).selector
    assert (loaded.model_.model_.kmeans_._n_threads, loaded.model_.model_.kmeans_.verbose) == (1, 0)
    assert (loaded.model_.pre_.memory, loaded.model_.pre_.verbose) == (None, 0)
    assert np.array_equal(loaded.scores(x), clustering.scores(x))
    path = saved(small, "zap-as", tmp_path)
    forest = copy.deepcopy(small["zap-as"].model_.model_.rf_)
    forest.n_jobs, forest.verbose = -1, 2
    loaded = load_selector(tamper(path, entries={forest_entry(path): skops.io.dumps(forest)})).selector
    assert (loaded.model_.model_.rf_.n_jobs, loaded.model_.model_.rf_.verbose) == (1, 0)
    assert np.array_equal(loaded.scores(x), small["zap-as"].scores(x)) and not (tmp_path / "cache").exists()


def rehashed(small, name: str, **params) -> dict:
    """`tamper`'s meta change that gives the saved `name` these settings and the spec hash they give."""
    selector = copy.copy(small[name])
    vars(selector).update(params)
    spec = selector.spec_hash_for(selector.encodings_)

    def meta(m: dict) -> None:
        m["fitted"]["params"].update(params)
        m["fitted"]["spec_hash"] = m["spec_hash"] = spec
    return {"meta": meta}


CRAFTED_SETTINGS = {  # settings -> (selector, settings, what the refusal says)
    "a network far too large to build": ("zap-hpo", {"hidden_units": 40000, "hidden_layers": 10},
                                         "hidden_units must be a whole number in [1, 4096], got 40000"),
    "a network larger than its weights": ("zap-hpo", {"hidden_units": 4000},
                                          "members[0].weights.0.weight has shape (4, "),
    "no thread to score on": ("zap-hpo", {"threads": 0}, "threads must be a whole number in [1, 256], got 0"),
    "an option ZAP-HPO lacks": ("zap-hpo", {"ensemble": "median"}, "ensemble must be one of ('zscore', 'vote')"),
    "a ZAP-AS configuration that is no dict": ("zap-as", {"config": "ab"},
                                               "fitted.params are not settings ZapAS takes (ValueError"),
    "a fractional number of neighbours": ("knn", {"k": 2.5}, "k must be a whole number in [1, 1000000], got 2.5"),
}


@pytest.mark.parametrize("change", CRAFTED_SETTINGS.values(), ids=CRAFTED_SETTINGS)
def test_settings_a_selector_cannot_use_are_refused_before_its_state_is_built(change, small, tmp_path, monkeypatch):
    """ZAP-HPO's network is built only from weights already checked against the settings' shapes: a 5 KB file
    with hidden_units=40000 would otherwise allocate its network first (gigabytes) and check after."""
    def no_network(*_):
        raise AssertionError("a network was built before its weights were checked")

    monkeypatch.setattr(ZapHPO, "_restored_network", no_network)
    name, params, expected = change
    refused(tamper(saved(small, name, tmp_path), **rehashed(small, name, **params)), expected)


def declaring(data: bytes, name: str, size: int) -> bytes:
    """The zip `data` whose central directory says its member `name` unpacks to `size` bytes, the size zipfile
    trusts: a zip bomb's claim, without the bomb's gigabytes."""
    at = 0
    while (at := data.find(b"PK\x01\x02", at + 1)) >= 0:
        length = int.from_bytes(data[at + 28:at + 30], "little")
        if data[at + 46:at + 46 + length] == name.encode():
            return data[:at + 24] + size.to_bytes(4, "little") + data[at + 28:]
    raise AssertionError(name)


@pytest.mark.parametrize("bomb", ["an entry of the file", "an array inside arrays.npz", "entries adding up"])
def test_a_file_that_unpacks_to_more_than_a_selector_holds_is_refused_unpacked(bomb, small, tmp_path):
    path = saved(small, "zap-as", tmp_path)
    if bomb == "an entry of the file":
        path.write_bytes(declaring(path.read_bytes(), "selector.json", 2**31))
    if bomb == "an array inside arrays.npz":
        npz = archive(path)["arrays.npz"]
        tamper(path, entries={"arrays.npz": declaring(npz, zipfile.ZipFile(io.BytesIO(npz)).namelist()[0], 2**31)})
    if bomb == "entries adding up":  # each below the limit of one entry
        for name in ("selector.json", "arrays.npz", "estimators/e0.skops"):
            path.write_bytes(declaring(path.read_bytes(), name, 200 * 2**20))
    refused(path, "unpacks to more than a saved selector may hold", "may be a zip bomb")


def test_an_array_declaring_more_data_than_it_holds_is_refused_before_numpy_allocates_it(small, tmp_path,
                                                                                        monkeypatch):
    path = saved(small, "zap-hpo", tmp_path)
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)})
    npz = io.BytesIO()
    with zipfile.ZipFile(npz, "w") as arrays:  # 8 TiB claimed, 8 bytes held
        arrays.writestr("a0.npy", buffer.getvalue() + np.zeros(1).tobytes())
    tamper(path, entries={"arrays.npz": npz.getvalue()})
    monkeypatch.setattr(np.lib.format, "read_array", lambda *_, **__: pytest.fail("numpy read the array"))
    refused(path, "not a readable saved selector", "declares shape (1099511627776,)", "its member holds 136")


SUGGEST_CONTEXTS = {"no n_cores": (lambda c: c.pop("n_cores"), "n_cores is missing or not of type int"),
                    "a trained_at that is a number": (lambda c: c.update(trained_at=5),
                                                      "trained_at is missing or not of type str"),
                    "a meta-feature range of 3": (lambda c: c["meta_feature_range"].update(min=[0, 0, 0]),
                                                  "meta_feature_range has no min and max of 4 numbers")}


@pytest.mark.parametrize("change", SUGGEST_CONTEXTS.values(), ids=SUGGEST_CONTEXTS)
def test_suggest_refuses_a_selector_whose_context_it_cannot_read(change, tmp_path):
    from zap.metafeatures import MetaFeatures
    from zap.resources import selectors_dir
    from zap.selectors.trained import suggest

    path = Path(shutil.copy(selectors_dir() / "single-best.zsel", tmp_path))
    meta = MetaFeatures(n_channels=3, n_classes=10, n_train=5000, resolution=32)
    assert suggest(meta, "single-best", folder=tmp_path, fallback=False).suggestions  # the shipped file is fine
    how, expected = change
    tamper(path, meta=lambda m: how(m["context"]))
    with pytest.raises(SelectorError, match="holds a context `suggest` cannot use") as caught:
        suggest(meta, "single-best", folder=tmp_path, fallback=False)
    assert all(phrase in str(caught.value) for phrase in (str(path), expected, "zap meta-train"))


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
    assert create_selector("zap-hpo-vote", ensemble="vote").ensemble == "vote"  # restating a keyword is fine
    with pytest.raises(SelectorError, match="'zap-hpo-vote' is defined by ensemble='vote'.*use 'zap-hpo'"):
        create_selector("zap-hpo-vote", ensemble="zscore")
    as_ = create_selector("zap-as", seed=4, n_trials=7, max_epochs=3)  # max_epochs is ZAP-HPO's: left out
    assert isinstance(as_, ZapAS) and (as_.seed, as_.n_trials, as_.tune) == (4, 7, True)
    assert isinstance(create_selector("single-best", seed=1, n_trials=3), SingleBest)
    from zap.selectors.baselines import NearestDatasets

    assert {type(create_selector(name)) for name in SELECTORS} == {ZapHPO, ZapAS, SingleBest, RandomSelector,
                                                                   NearestDatasets}
    autofolio = create_selector("autofolio-default", n_trials=7)
    assert (autofolio.config, autofolio.tune) == ({"selector": "pairwise"}, False)
    with pytest.raises(SelectorError, match="'autofolio-default' is defined by config=.*use 'zap-as'"):
        create_selector("autofolio-default", config={"selector": "regression"}, tune=False)
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
    from zap.selectors.levels import PerLevel

    shipped = Path(__file__).resolve().parents[1] / "artifacts" / "selectors"
    for name in SHIPPED:
        path = shipped / f"{name}.zsel"
        if not path.exists():
            continue
        selector = load_selector(path).selector
        if isinstance(selector, PerLevel):  # trained on a multi-level meta-dataset: one child per level
            assert selector.selector == name and len(selector.children_) >= 2, name
            for child in selector.children_:
                assert child.get_params() == create_selector(name, **selector.settings).get_params(), name
        else:
            assert selector.get_params() == create_selector(name).get_params(), name


def test_spec_hash_is_pinned():
    """Saved selectors carry this hash and are checked against it on load: a change of its canonical JSON
    would make every shipped selector look foreign."""
    from zap.selectors.base import spec_hash

    assert spec_hash({"a": np.arange(3) / 7, "b": [1, "x"], "c": {"z": 1.5}}) == "846cc1b7d4d87ce0"

"""The fallback to Single-best: the rule on hand-made rows with known answers, the rule file, and its use in
`suggest` and `zap fit`."""

import json
import math

import numpy as np
import pytest

from zap.errors import ArtifactError
from zap.metadataset.problem import SelectionProblem
from zap.selectors.fallback import LevelRule, level_for, load_fallback, noise_std


def problem(perf, repeat=None, meta=None):
    perf = np.asarray(perf, float)
    n, m = perf.shape
    meta = np.asarray(meta if meta is not None else [[1, 2 + i, 100 * (i + 1), 32] for i in range(n)], float)
    return SelectionProblem(
        dataset_ids=[f"d{i}" for i in range(n)], cores=np.array([f"c{i}" for i in range(n)]),
        domains=np.array(["x"] * n), meta_features=meta, candidate_ids=[f"p{j}" for j in range(m)],
        encodings=np.eye(m), alc=perf, nauc=perf, alc_first=perf, alc_repeat=repeat)


# 6 datasets; p0 is best on average (Single-best); p1 wins clearly on the large datasets (rows 3-5)
PERF = [[0.80, 0.40, 0.1], [0.80, 0.45, 0.1], [0.80, 0.50, 0.1],
        [0.60, 0.90, 0.1], [0.60, 0.90, 0.1], [0.60, 0.91, 0.1]]


def test_noise_floor_is_the_per_run_std_of_repeated_cells():
    repeat = np.array(PERF) + np.array([[0.02, -0.02, np.nan]] * 6)
    # differences are +-0.02 (mean 0): their std is 0.02, one run's noise is 0.02 / sqrt(2)
    assert noise_std(problem(PERF, repeat)) == pytest.approx(0.02 / math.sqrt(2))
    assert noise_std(problem(PERF)) is None


def test_the_rule_keeps_a_pick_that_clearly_beats_single_best_and_drops_one_that_does_not():
    rule = LevelRule.of(problem(PERF, np.array(PERF) + 0.01 * np.array([[1, -1, 1]] * 6)), k=3)
    assert rule.single_best == "p0"
    large = [1, 6, 500, 32]  # nearest to rows 3-5: p1 leads p0 by ~0.30 there
    kept = rule.decide(np.array(large, float), "p1")
    assert not kept.fall_back and kept.margin == pytest.approx((0.90 + 0.90 + 0.91) / 3 - 0.60)
    small = [1, 3, 200, 32]  # nearest to rows 0-2: p1 trails
    assert rule.decide(np.array(small, float), "p1").fall_back
    assert not rule.decide(np.array(small, float), "p0").fall_back  # the pick is Single-best already
    outside = rule.decide(np.array([3, 6, 500, 32], float), "p1")  # 3 channels: never seen
    assert outside.fall_back and "outside the range" in outside.reason


def test_a_margin_inside_the_noise_floor_falls_back():
    perf = np.array(PERF)
    perf[3:, 1] = 0.62  # p1 leads p0 by 0.02 on the large datasets only
    repeat = perf + 0.1 * np.array([[1, -1, 0]] * 6)  # a noise floor of 0.1 / sqrt(2) ~ 0.07 > 0.02
    rule = LevelRule.of(problem(perf, repeat), k=3)
    decision = rule.decide(np.array([1, 6, 500, 32], float), "p1")
    assert decision.fall_back and decision.margin == pytest.approx(0.02) and "within the noise" in decision.reason


def test_the_rule_round_trips_as_json_and_refuses_other_files(tmp_path):
    from zap.metadataset.problem import Levels
    from zap.selectors.fallback import write_fallback

    levels = Levels({20.0: problem(PERF), 60.0: problem(np.array(PERF)[:, ::-1])})
    path = write_fallback(levels, tmp_path / "fallback.json", "hash")
    rules = load_fallback(path)
    assert sorted(rules) == [20.0, 60.0] and rules[20.0].single_best == "p0" and rules[60.0].single_best == "p2"
    assert level_for(rules, 45.0).single_best == "p2" and level_for(rules, 30.0).single_best == "p0"
    assert level_for(rules, None).single_best == "p0"
    (tmp_path / "bad.json").write_text(json.dumps({"schema": 9}))
    with pytest.raises(ArtifactError, match="not a zap fallback rule"):
        load_fallback(tmp_path / "bad.json")
    assert sorted(load_fallback(path, expect_protocol="hash")) == [20.0, 60.0]
    # a meta-train stopped half way: the rule of one meta-dataset beside a selector of another (a helper's sweep)
    with pytest.raises(ArtifactError, match=r"protocol 'hash', the selector beside it on protocol 'other'.*again"):
        load_fallback(path, expect_protocol="other")


@pytest.mark.parametrize("levels", [5, [1, 2], {"20": 5}, {"20": []}, {"x": {}}])
def test_a_damaged_fallback_rule_is_named(tmp_path, levels):
    """The right schema with a wrong shape (found by a sweep: `"levels": 5` raised an AttributeError)."""
    from zap.selectors.fallback import FALLBACK_SCHEMA

    path = tmp_path / "fallback.json"
    path.write_text(json.dumps({"schema": FALLBACK_SCHEMA, "levels": levels}))
    with pytest.raises(ArtifactError, match="not a zap fallback rule"):
        load_fallback(path)


def _shipped_datasets() -> list[dict]:
    from zap.metadataset.artifact import load
    from zap.resources import metadataset_artifact

    return load(metadataset_artifact())["datasets"]


@pytest.mark.parametrize(("request_", "message"), [
    ({"budget_ref": -5}, r"budget_ref must lie in \(0, inf\), got -5"),
    ({"budget_ref": math.nan}, "budget_ref must lie in"),
    ({"budget_ref": math.inf}, "budget_ref must lie in"),
    ({"clock": "bogus"}, "clock must be one of"),
    ({"budget": -10}, "budget must be a positive finite number"),
    ({"threads": -1}, "threads must lie in"),
    ({"device": "tpu"}, "device must be 'cpu'"),
    ({"fallback": "no"}, "fallback must be True or False"),
    ({"k": 2.0}, r"k must lie in \[1, inf\) and be a whole number"),
])
def test_suggest_refuses_a_request_that_means_nothing_before_reading_a_file(request_, message, tmp_path):
    """Before, a negative or NaN budget_ref was fed to the model as log(-5) and a ranking came back."""
    from zap.errors import ConfigError
    from zap.metafeatures import MetaFeatures
    from zap.selectors.trained import suggest

    meta = MetaFeatures(n_channels=3, n_classes=4, n_train=100, resolution=32)
    with pytest.raises(ConfigError, match=message):
        suggest(meta, "zap-hpo", folder=tmp_path / "no-selectors", **request_)


def test_suggest_takes_numpy_integers_for_k():
    from zap.metafeatures import MetaFeatures
    from zap.selectors.trained import suggest

    meta = MetaFeatures.from_dict(_shipped_datasets()[0]["meta_features"])
    assert len(suggest(meta, "single-best", k=np.int64(3), budget_ref=20).suggestions) == 3


def test_suggest_puts_single_best_first_where_the_pick_has_no_grounds():
    """The shipped selectors: a dataset of the shipped meta-dataset whose ZAP-HPO pick is not Single-best, shown
    with 8-pixel images (outside the meta-dataset's 16-128 px), makes the rule fall back; without it the
    selector's own order stands."""
    from zap.metafeatures import MetaFeatures
    from zap.selectors.trained import suggest

    for dataset in _shipped_datasets():
        meta = MetaFeatures.from_dict(dataset["meta_features"] | {"resolution": 8})
        without = suggest(meta, "zap-hpo", k=3, budget=20, clock="ref", budget_ref=20, fallback=False)
        with_rule = suggest(meta, "zap-hpo", k=3, budget=20, clock="ref", budget_ref=20)
        if with_rule.fallback["pick"] != with_rule.fallback["single_best"]:
            break
    else:
        pytest.fail("no shipped dataset whose ZAP-HPO pick at 20 ref-s is not Single-best")
    assert with_rule.fallback["fell_back"] and "outside the range" in with_rule.fallback["reason"]
    assert with_rule.suggestions[0].pipeline_id == with_rule.fallback["single_best"]
    assert without.suggestions[0].pipeline_id == with_rule.fallback["pick"]
    assert without.fallback == {"fell_back": False, "reason": "the fallback is off"}
    assert [s.rank for s in with_rule.suggestions] == [1, 2, 3]


def _kept_pick(datasets: list[dict], folder, selector: str, budget_ref: float):
    """The meta-features of the first dataset whose pick at `budget_ref` the rule keeps and is not Single-best."""
    from zap.metafeatures import MetaFeatures
    from zap.selectors.trained import suggest

    for dataset in datasets:
        meta = MetaFeatures.from_dict(dataset["meta_features"])
        near = suggest(meta, selector, k=3, folder=folder, budget=budget_ref, clock="ref", threads=32,
                       budget_ref=budget_ref)
        if not near.fallback["fell_back"] and near.fallback["pick"] != near.fallback["single_best"]:
            return meta, near
    pytest.fail(f"no dataset whose {selector} pick the rule keeps at {budget_ref} ref-s")


def test_a_multi_level_selector_falls_back_on_a_budget_outside_its_levels():
    """Issue 19 item 5 for the shipped selectors (trained on levels 20 and 60 ref-s): at 1200 reference seconds,
    past twice the highest level, Single-best comes first and both the reason and a note say so; at 60 the
    pick stands unless the rule's own criteria say otherwise; a budget of steps is ranked at the lowest level."""
    from zap.selectors.trained import suggest

    meta, near = _kept_pick(_shipped_datasets(), None, "zap-hpo", 60)
    assert not any("outside the meta-dataset's levels" in w for w in near.warnings)
    far = suggest(meta, "zap-hpo", k=3, budget=600, clock="wall", threads=2, budget_ref=1200)
    assert far.fallback["fell_back"] and far.fallback["reason"] == \
        "the budget lies outside the levels the selector was trained on"
    assert far.suggestions[0].pipeline_id == far.fallback["single_best"]
    assert any("1200 reference seconds, lies outside the meta-dataset's levels" in w for w in far.warnings)
    steps = suggest(meta, "zap-hpo", k=3, budget=5000, clock="steps", threads=1, budget_ref=None)
    assert "budget" not in steps.fallback["reason"]
    assert "no budget in reference seconds (none given, or one of steps); ranked for the lowest level, 20 ref-s" \
        in steps.warnings


@pytest.mark.slow
def test_a_one_level_selector_falls_back_on_a_budget_far_from_its_own(tmp_path):
    """Issue 19 item 5 for a selector trained on v1 (one budget: 20 CPU-s on 1 thread; about 30 s to train):
    where the budget in reference seconds is 60 times that, Single-best comes first and the reason says so; at
    3 times (about the default 60 wall-s on 2 threads here) the pick stands unless the rule's own criteria say
    otherwise. The threads are in the reference seconds already, so 32 of them change nothing; a budget of
    steps is no time. They only warned before."""
    from conftest import V1_ARTIFACT
    from zap.cli import main
    from zap.metadataset.artifact import load
    from zap.selectors.trained import suggest

    assert main(["meta-train", str(V1_ARTIFACT), "--selectors", "zap-hpo-regression", "--objective", "alc",
                 "--out", str(tmp_path)]) == 0
    meta, near = _kept_pick(load(V1_ARTIFACT)["datasets"], tmp_path, "zap-hpo-regression", 60)
    assert not any("that compute" in w for w in near.warnings)
    far = suggest(meta, "zap-hpo-regression", k=3, folder=tmp_path, budget=600, clock="wall", threads=2,
                  budget_ref=1200)
    assert far.fallback["fell_back"] and "far from the one budget" in far.fallback["reason"]
    assert far.suggestions[0].pipeline_id == far.fallback["single_best"] != near.suggestions[0].pipeline_id
    assert any("about 1200 reference seconds, is 60.0x that compute" in w for w in far.warnings)
    steps = suggest(meta, "zap-hpo-regression", k=3, folder=tmp_path, budget=5000, clock="steps", threads=1,
                    budget_ref=None)
    assert not steps.fallback["fell_back"] and not any("that compute" in w for w in steps.warnings)


def test_the_fallback_study_reads_both_fold_layouts(tmp_path):
    """`benchmarks/fallback.py` reads v1's one-level fold files and the budget-level ones `zap benchmark`
    writes now (one level of them, the lowest unless named), and says which levels there are otherwise."""
    from conftest import benchmark_script

    flat = {"group": "a", "datasets": ["a-1"], "cores": ["a"], "methods": {"zap-hpo": [{"picks": ["p"]}]}}
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "loco--a.json").write_text(json.dumps(flat))
    level = {k: v for k, v in flat.items() if k != "group"}
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "loco--alc--a.json").write_text(json.dumps(
        {"group": "a", "levels": {"20": level, "60": level | {"datasets": ["a-2"]}}}))
    with benchmark_script("fallback") as study:
        assert study.read_folds(tmp_path / "v1", "loco", "alc", None) == ([flat], None)
        folds, budget = study.read_folds(tmp_path / "v2", "loco", "alc", 60.0)
        assert budget == 60.0 and folds[0]["datasets"] == ["a-2"] and folds[0]["methods"] == flat["methods"]
        assert study.read_folds(tmp_path / "v2", "loco", "alc", None)[1] == 20.0
        with pytest.raises(SystemExit, match="hold levels 20, 60 s, not 120"):
            study.read_folds(tmp_path / "v2", "loco", "alc", 120.0)
        with pytest.raises(SystemExit, match="no loco--final--"):
            study.read_folds(tmp_path / "v1", "loco", "final", None)


def test_images_larger_than_any_pipeline_input_are_ranked_as_at_that_input():
    """Photos of a few hundred pixels lie above v1's 16-128 px, but no pipeline takes an input above 128 px:
    each scales them down as it scales a 128-px dataset down, so they are ranked, and the fallback rule
    decides, as for 128 px (with a note), never by a range the pipelines cannot tell apart."""
    from zap.data import augment
    from zap.finetune.batches import input_size
    from zap.metafeatures import MetaFeatures
    from zap.pipelines import DIMENSIONS, as_pipelines_see, largest_input_side
    from zap.selectors.trained import suggest

    sides = next(d for d in DIMENSIONS if d.name == "log2_max_size").bounds
    for log2 in range(int(sides[0]), int(sides[1]) + 1):  # what the runner feeds the network, every setting
        assert input_size(409, 2 ** log2) == input_size(largest_input_side(), 2 ** log2) <= largest_input_side()
    photos = MetaFeatures(n_channels=3, n_classes=10, n_train=1000, resolution=409)
    seen = as_pipelines_see(photos)
    assert (seen.resolution, seen.n_train) == (largest_input_side(), 1000) and photos.resolution == 409
    assert as_pipelines_see(MetaFeatures(1, 4, 100, 8)).resolution == 8  # small images are upscaled: not the same

    large, at_input = suggest(photos, "zap-hpo", k=3), suggest(seen, "zap-hpo", k=3)
    assert [s.pipeline_id for s in large.suggestions] == [s.pipeline_id for s in at_input.suggestions]
    assert large.fallback == at_input.fallback and "outside the range" not in large.fallback["reason"]
    assert large.fallback["reason"] == at_input.fallback["reason"]
    assert largest_input_side() == augment.MAX_RES  # the meta-dataset's largest images: the cap loses nothing
    assert large.meta_features.resolution == 409
    assert any("resolution = 409 px is above the largest input" in w for w in large.warnings)
    assert not any("resolution" in w for w in at_input.warnings)

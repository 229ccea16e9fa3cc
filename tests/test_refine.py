"""`refine`: pause-and-resume runs, the allocation policy on hand-made curves, replay, and the predictor."""

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import FAST_CONFIG, V1_ARTIFACT, benchmark_script, injected_table
from zap.data import SplitSettings, load_dataset, train_test_split
from zap.errors import ArtifactError, ConfigError
from zap.finetune import Budget, run
from zap.finetune.clock import Stopwatch
from zap.finetune.runner import ResumableRun
from zap.strategies.curves import curve_features
from zap.strategies.policy import RefineSettings, Release, Trace, expected_improvement, race, refine, zero_shot
from zap.strategies.predictor import CurvePredictor
from zap.strategies.replay import ReplayArm


@pytest.fixture
def split(arrays):
    x, y = arrays
    return train_test_split(load_dataset((x, y)), SplitSettings(0.3, 100, 0))


# ------------------------------------------------------------------------------------- freeze-thaw runs
def test_stopwatch_pause_sets_the_time_aside():
    now = {"t": 0.0}
    sw = Stopwatch(Budget(10, "wall"), wall_fn=lambda: now["t"], cpu_fn=lambda: now["t"])
    now["t"] = 2.0
    sw.pause()
    now["t"] = 7.0  # another run trains meanwhile
    assert sw.wall == 2.0
    sw.resume()
    now["t"] = 8.0
    assert sw.wall == sw.cpu == 3.0


def test_a_run_advanced_in_slices_between_other_runs_computes_what_one_run_does(split):
    """The replay's premise: pausing changes nothing a run computes (reference clock, same seed), even with
    another run trained between its slices (its own torch random state)."""
    config = FAST_CONFIG | {"first_simple_model": True, "simple_model": "SVC"}
    table, budget = injected_table(), Budget(4.0, "ref")
    whole = run(split.train, split.test, config, budget, seed=0, costs=table)
    sliced = ResumableRun(split.train, split.test, config, budget, seed=0, costs=table)
    other = ResumableRun(split.train, split.test, FAST_CONFIG | {"lr": 0.01}, budget, seed=1, costs=table)
    releases = []
    for until in (0.3, 1.1, 1.7, 2.9, 4.0):
        releases += sliced.advance(until)
        other.advance(until)
        torch.rand(3)  # and the global random state moved
    assert sliced.finished
    result = sliced.result()
    assert result.elapsed["steps"] == whole.elapsed["steps"] > 3
    assert [r["nauc"] for r in result.curve.rows] == [r["nauc"] for r in whole.curve.rows]
    assert [r["ref_s"] for r in result.curve.rows] == [r["ref_s"] for r in whole.curve.rows]
    assert result.alc == whole.alc
    assert [r["test"] for r in releases] == [r["nauc"] for r in whole.curve.rows]
    assert all(r["valid"] <= b["valid"] for r, b in itertools.pairwise(releases))  # released on improvement


def test_end_at_ends_a_run_early_with_its_final_prediction(split):
    table = injected_table()
    resumable = ResumableRun(split.train, split.test, FAST_CONFIG, Budget(4.0, "ref"), seed=0, costs=table)
    resumable.advance(1.0)
    resumable.end_at(2.0)
    resumable.advance(10.0)
    assert resumable.finished
    assert 1.5 < resumable.elapsed <= 2.0 + 1e-9
    assert resumable.result().curve.rows  # it answered


# ------------------------------------------------------------------------------- policy, hand-made curves
def arm(rank, points, noise=0.0):
    return ReplayArm(rank, f"c{rank}", [(float(t), float(s)) for t, s in points], np.full(len(points), noise))


def knowing(finals):
    """A predictor that knows each arm's final score (std 0.01): the policy alone is under test."""
    return lambda a: (finals[a.rank], 0.01)


# Budget 10. The pick (rank 0) answers early and stalls at 0.5; rank 1 is slow but reaches 0.9; rank 2 is poor.
PICK = [(0.2, 0.3), (1.0, 0.5)]
SLOW_WINNER = [(0.4, 0.2), (3.0, 0.7), (5.0, 0.8), (8.0, 0.9)]
POOR = [(0.3, 0.1), (4.0, 0.2)]


def test_refine_looks_once_at_each_then_commits_to_the_predicted_best():
    trace = refine([arm(0, PICK), arm(1, SLOW_WINNER), arm(2, POOR)], 10.0,
                   RefineSettings(k=3, slice_share=0.05, look_share=0.3), knowing([0.5, 0.9, 0.2]))
    assert trace.committed == 1
    assert "gain" in trace.reason
    # one slice of 0.5 on each, then rank 1 has the rest: 10 - 1.5 = 8.5 of its own clock, so its 0.9 at
    # 8.0 counts: the best allocation here (no extra looks, the winner gets everything else)
    assert trace.time_per_arm() == pytest.approx({0: 0.5, 1: 9.0, 2: 0.5})
    assert trace.final_score() == 0.9
    assert trace.elapsed == pytest.approx(10.0)
    # the pick answered first, as early as zero-shot would
    assert trace.points[0] == (pytest.approx(0.2), 0.3, 0)


def test_refine_keeps_the_pick_when_it_is_predicted_best_and_gives_it_everything_else():
    trace = refine([arm(0, SLOW_WINNER), arm(1, PICK), arm(2, POOR)], 10.0,
                   RefineSettings(k=3, slice_share=0.05), knowing([0.9, 0.5, 0.2]))
    assert trace.committed == 0 and trace.time_per_arm()[0] == pytest.approx(9.0)
    assert trace.final_score() == 0.9  # its 0.9 at 8.0 still fits in its 9.0


def test_with_k_1_refine_is_zero_shot():
    a = refine([arm(0, SLOW_WINNER), arm(1, PICK)], 10.0, RefineSettings(k=1), knowing([0.0, 1.0]))
    b = zero_shot([arm(0, SLOW_WINNER), arm(1, PICK)], 10.0)
    assert a.points == b.points and a.committed == b.committed == 0


def test_uncertain_candidates_get_more_looks_until_the_look_budget_is_spent():
    unsure = lambda a: [(0.5, 0.01), (0.49, 0.3), (0.48, 0.3)][a.rank]  # noqa: E731
    trace = refine([arm(0, PICK), arm(1, SLOW_WINNER), arm(2, POOR)], 10.0,
                   RefineSettings(k=3, slice_share=0.05, look_share=0.3, min_gain=0.001), unsure)
    assert "look budget" in trace.reason
    assert sum(v for k, v in trace.time_per_arm().items() if k != trace.committed) <= 3.0 + 1e-9


def test_looking_never_replaces_a_better_answer_with_a_worse_one():
    trace = refine([arm(0, SLOW_WINNER), arm(1, POOR), arm(2, PICK)], 10.0,
                   RefineSettings(k=3, slice_share=0.1, min_gain=0.0, look_share=0.5),
                   knowing([0.9, 0.2, 0.5]))
    holders = [a for _, _, a in trace.points]
    scores = [s for _, s, _ in trace.points]
    assert scores == sorted(scores)  # without noise, decision = score: the answer only improves
    assert 1 not in holders[holders.index(0):] if 0 in holders else True


def test_race_halves_by_validation_and_commits_the_leader():
    trace = race([arm(0, PICK), arm(1, SLOW_WINNER), arm(2, POOR), arm(3, POOR)], 10.0,
                 RefineSettings(k=4, slice_share=0.05, look_share=0.5))
    # rung 0: 0.5 each -> PICK 0.3 leads, SLOW 0.2, POORs 0.1; rung 1 at 1.0: PICK 0.5 vs SLOW 0.2 -> PICK
    assert trace.committed == 0
    assert trace.time_per_arm()[2] == pytest.approx(0.5)


def test_expected_improvement_is_positive_and_grows_with_uncertainty():
    assert expected_improvement(0.5, 0.0, 0.6) == 0.0
    assert 0 < expected_improvement(0.5, 0.05, 0.6) < expected_improvement(0.5, 0.2, 0.6)
    assert expected_improvement(0.7, 1e-9, 0.6) == pytest.approx(0.1)


def test_refine_settings_refuse_nonsense():
    for bad in ({"k": 0}, {"k": 2.5}, {"slice_share": 0}, {"look_share": 1.5}, {"min_gain": -1},
                {"objective": "speed"}):
        with pytest.raises(ConfigError):
            RefineSettings(**bad)


def test_a_release_after_the_budget_does_not_count():
    trace = Trace(1.0)
    late = arm(0, [(0.5, 0.4), (2.0, 0.9)])
    trace.run(late, 5.0)
    assert trace.points == [(0.5, 0.4, 0)] and trace.elapsed == pytest.approx(1.0)
    assert isinstance(Release(0.1, 0.2, 0.3).index, int)


def test_a_first_operation_longer_than_the_look_budget_is_charged_in_full_and_ends_the_looking():
    """A live run cannot pause inside its first operation (the quick model's fit, a first step at a large input
    size): where that outlasts the look budget, the pick's first look spends it and nothing else is looked at.
    Replay charges the same: the look is not the 0.5 planned but, with no step cost known, everything up to
    the first point."""
    slow_start = [(4.0, 0.5), (9.0, 0.6)]  # the first point comes after 4.0 > the look budget's 3.0
    trace = refine([arm(0, slow_start), arm(1, SLOW_WINNER), arm(2, POOR)], 10.0,
                   RefineSettings(k=3, slice_share=0.05, look_share=0.3), knowing([0.6, 0.5, 0.2]))
    assert trace.slices[0]["local_end"] == pytest.approx(4.0)
    assert [d["at"] for d in trace.decisions] == [pytest.approx(4.0)]
    assert "look budget" in trace.reason and trace.committed == 0
    assert trace.time_per_arm() == pytest.approx({0: 10.0})  # never looked at the others
    assert trace.points == [(pytest.approx(4.0), 0.5, 0), (pytest.approx(9.0), 0.6, 0)]


def test_a_replayed_slice_ends_where_a_live_one_would_around_the_first_operations():
    quick = ReplayArm(0, "q", [(0.2, 0.5), (5.0, 0.7)], np.zeros(2), quick_first=True, step=3.5)
    assert [r.local_t for r in quick.advance(0.1)] == [0.2] and quick.local_t == 0.2  # the quick model
    assert quick.advance(0.3) == [] and quick.local_t == pytest.approx(3.7)  # then the first step
    quick.advance(4.0)
    assert quick.local_t == 4.0  # the later steps are not modelled
    # a CNN: data and its first step end at 0.3; the pass after it (to 1.5) would cross the slice's end at 0.6,
    # so it waits for the next slice, which it opens, with the step after it
    cnn = ReplayArm(0, "c", [(1.5, 0.3), (3.0, 0.4)], np.zeros(2), step=0.3)
    assert cnn.advance(0.6) == [] and cnn.local_t == pytest.approx(0.3)
    assert [r.local_t for r in cnn.advance(0.9)] == [1.5] and cnn.local_t == pytest.approx(1.8)
    slow = ReplayArm(0, "s", [(4.0, 0.3)], np.zeros(1), step=3.5)  # a first step longer than the slice
    assert slow.advance(0.6) == [] and slow.local_t == pytest.approx(3.5)
    unpriced = arm(0, [(1.5, 0.3), (3.0, 0.4)])  # no step cost known: the first point's time is the first operation
    assert [r.local_t for r in unpriced.advance(0.5)] == [1.5] and unpriced.local_t == 1.5
    assert unpriced.advance(2.0) == [] and unpriced.local_t == 2.0
    assert arm(0, []).advance(0.5) == []


# ------------------------------------------------------------------------------------------- predictor
def test_curve_features_read_a_staircase():
    f = curve_features([(1.0, 0.4), (3.0, 0.6)], 4.0, 10.0)
    assert f.tolist() == pytest.approx([0.4, 1.0, 0.6, 0.6, 0.1, math.log1p(2), 0.2])
    assert curve_features([(5.0, 0.4)], 4.0, 10.0)[1] == 0.0  # not answered yet


def test_predictor_learns_a_relation_and_round_trips_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3))
    y = np.column_stack([x[:, 0] * 0.3 + 0.5, x[:, 1] * 0.2 + 0.4])
    model = CurvePredictor(n_members=3, epochs=60, seed=0).fit(x, y)
    mean, std = model.predict(x[:50])
    assert np.corrcoef(mean[:, 0], y[:50, 0])[0, 1] > 0.9 and (std > 0).all()
    path = model.save(tmp_path / "p.pt", {"trained_on": "test"})
    loaded, context = CurvePredictor.load(path)
    assert context == {"trained_on": "test"}
    assert np.allclose(loaded.predict(x[:5])[0], mean[:5])
    with pytest.raises(ConfigError, match="takes 3 features"):
        model.predict(np.zeros((1, 4)))


def test_predictor_files_that_would_run_code_or_are_damaged_are_refused(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("ran",))

    bad = tmp_path / "bad.pt"
    torch.save({"meta": "{}", "x": Boom()}, bad, pickle_module=pickle)
    with pytest.raises(ArtifactError, match="not a zap curve predictor"):
        CurvePredictor.load(bad)
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ArtifactError, match="not a zap curve predictor"):
        CurvePredictor.load(tmp_path / "junk.pt")
    with pytest.raises(ArtifactError, match="meta-train"):
        CurvePredictor.load(tmp_path / "missing.pt")


def _tampered(saved: Path, out: Path, change) -> Path:
    state = torch.load(saved, weights_only=True)
    meta = json.loads(state["meta"])
    change(meta, state)
    state["meta"] = json.dumps(meta)
    torch.save(state, out)
    return out


@pytest.mark.parametrize(("change", "message"), [
    (lambda meta, state: meta.pop("params"), "params must hold exactly"),
    (lambda meta, state: meta["params"].update(extra=1), "params must hold exactly"),
    (lambda meta, state: meta["params"].update(hidden=40_000), r"params.hidden is 40000, expected .*\[1, 4096\]"),
    (lambda meta, state: meta["params"].update(hidden=8), r"members\[0\] does not hold the weights of a 3-8-2"),
    (lambda meta, state: meta.update(n_in="x"), r"n_in is 'x'"),
    (lambda meta, state: meta.pop("context"), "context is missing"),
    (lambda meta, state: state.update(x_std=torch.zeros(3)), "x_std holds a spread <= 0"),
    (lambda meta, state: state.update(x_mean=torch.zeros(5)), "x_mean is not 3 finite numbers"),
    (lambda meta, state: state.update(members=[]), "members must be a list of 1 to n_members"),
])
def test_a_tampered_predictor_is_refused_before_any_network_is_built(tmp_path, change, message):
    """Only tensors and JSON can be in the file (no code runs), but their values are the file's: every setting
    is bounded and every array checked against the network its settings describe, as for selectors."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    saved = CurvePredictor(n_members=2, hidden=16, epochs=2, seed=0).fit(x, y).save(tmp_path / "p.pt", {})
    with pytest.raises(ArtifactError, match=rf"not a usable zap curve predictor: {message}"):
        CurvePredictor.load(_tampered(saved, tmp_path / "t.pt", change))


# ------------------------------------------------------------------------------------------------- replay
def test_replaying_the_pick_alone_gives_the_stored_cell(v1_payload):
    """Replay's accounting: zero-shot on a stored curve is that cell's own ALC and final NAUC (up to the
    artifact's rounding of the curve)."""
    from zap.strategies.replay import replay_cases

    cases = replay_cases(v1_payload)
    assert len(cases) == 88
    for case in cases[::9]:
        problem = case.problem
        for j in (0, 7, 20):
            trace = zero_shot(case.arms([j], np.random.default_rng(0), 0.05), case.budget)
            scored = case.score(trace)
            assert scored["alc"] == pytest.approx(problem.alc_first[case.row, j], abs=2e-3)
            assert scored["final"] == pytest.approx(problem.nauc_first[case.row, j], abs=1e-4)


def test_replay_prices_a_cell_from_its_exported_run_facts_or_else_from_the_budget_and_config():
    from zap.metadataset.artifact import run_facts
    from zap.strategies.replay import arm_pricing

    # a quick model configured, but the CNN answered first (the first row made after 3 steps); the run ended at 18
    record = {"status": "ok", "elapsed": {"wall_s": 30.0, "cpu_s": 25.0, "ref_s": 18.0, "steps": 36},
              "curve": [[2.0, 1.8, 3, 0.4, 0.5, 1.5], [19.0, 17.0, 36, 0.6, 0.7, 17.5]]}
    facts = run_facts(record, "ref")
    assert facts == {"end": 18.0, "quick_first": False} and run_facts(record, "cpu")["end"] == 25.0
    provenance = {"status": "ok", "steps": 36} | facts
    assert arm_pricing(provenance, 20.0, configured_quick=True) == (False, pytest.approx(0.5))
    older = {"status": "ok", "steps": 40}  # an artifact exported before the facts were kept (v1)
    assert arm_pricing(older, 20.0, configured_quick=True) == (True, pytest.approx(0.5))
    assert arm_pricing({"status": "failed", "steps": 3}, 20.0, configured_quick=False) == (False, 0.0)
    # a task that failed before its run started (out of memory, say) keeps no clock and no curve
    assert run_facts({"status": "out_of_memory", "curve": []}, "ref") == {"end": 0.0, "quick_first": False}


def test_replay_prices_a_step_from_the_cost_table_on_a_reference_clock_artifact(v1_payload):
    """Where the artifact was measured on the reference clock with a known cost table (the one it carries, or
    the one this zap ships), a replayed arm's step is what that table charges (the step and its batch's
    decoding), not the run's mean step, which counts its prediction passes too; on another clock or with an
    unknown table, the mean step stands."""
    import copy
    from dataclasses import replace

    from zap.finetune.pricing import first_step_price, fit_images_at_least
    from zap.finetune.refclock import default_cost_table
    from zap.metafeatures import MetaFeatures
    from zap.strategies.replay import replay_cases
    from zap.utils import stable_hash

    table = default_cost_table()
    on_ref = copy.deepcopy(v1_payload)
    on_ref["protocol"] |= {"clock": "ref", "cost_table": stable_hash(table.identity())}
    other = copy.deepcopy(on_ref)
    other["protocol"]["cost_table"] = "another table"
    carried_table = replace(table, step={a: [[[2 * fixed, 3 * image] for fixed, image in row] for row in rows]
                                         for a, rows in table.step.items()})
    carried = copy.deepcopy(on_ref)  # an artifact that carries its own table, not the one this zap ships
    carried["protocol"]["cost_table"] = stable_hash(carried_table.identity())
    carried["cost_table"] = carried_table.to_dict()
    plain, priced, unknown, own = (replay_cases(p)[:3] for p in (v1_payload, on_ref, other, carried))
    for mean_case, case, unknown_case, own_case in zip(plain, priced, unknown, own, strict=True):
        meta = MetaFeatures.from_dict(v1_payload["datasets"][case.row]["meta_features"])
        for j in (0, 7, 20):
            config = v1_payload["candidates"][j]["config"]
            n_fit = fit_images_at_least(config, meta.n_train, meta.n_classes)
            assert case.steps[j] == pytest.approx(first_step_price(config, meta.resolution, n_fit, table))
            assert own_case.steps[j] == pytest.approx(first_step_price(config, meta.resolution, n_fit, carried_table))
            assert unknown_case.steps[j] == mean_case.steps[j] != case.steps[j] != own_case.steps[j]


@pytest.fixture(scope="module")
def v1_payload():
    """v1 by its path, not the home's shipped meta-dataset: these tests hold v1's own figures."""
    from zap.metadataset.artifact import load

    return load(V1_ARTIFACT)


# ---------------------------------------------------------------------------------------- zap fit, refine
def test_refine_refuses_a_fixed_pipeline_before_reading_data():
    from zap.api import ZAP

    with pytest.raises(ConfigError, match="refine"):
        ZAP(budget=5, config="recommended", strategy="refine").fit("/nonexistent")
    with pytest.raises(ConfigError, match="strategy"):
        ZAP(budget=5, strategy="look-around").fit("/nonexistent")
    with pytest.raises(ConfigError, match="refine_k"):
        ZAP(budget=5, refine_k=2).fit("/nonexistent")
    with pytest.raises(ConfigError, match="refine_k"):
        ZAP(budget=5, strategy="refine", refine_k=9).fit("/nonexistent")


def test_refine_fit_races_the_top_k_and_says_what_it_did(arrays):
    from zap.api import ZAP

    seen = []
    model = ZAP(budget=6.0, clock="ref", strategy="refine", refine_k=3, threads=1).fit(
        arrays, on_prediction=lambda curve: seen.append(len(curve)))
    summary = model.summary()
    assert seen == list(range(1, len(model.result_.curve) + 1))  # the progress hook saw every answer
    assert summary["strategy"] == "refine" and summary["status"] == "ok"
    refine_entry = summary["refine"]
    assert refine_entry["settings"]["k"] == 3 and refine_entry["reason"]
    touched = refine_entry["candidates"]
    assert len(touched) >= 2 and touched[0]["rank"] == 0  # the pick ran first
    assert sum(c["time"] for c in touched) == pytest.approx(summary["elapsed"]["ref_s"], abs=1e-3)
    assert summary["elapsed"]["ref_s"] <= 6.0 + 1e-9
    assert summary["pipeline_id"] in {c["pipeline_id"] for c in touched}
    times = model.result_.curve.times("ref")
    assert list(times) == sorted(times) and times[-1] <= 6.0
    assert model.predict(arrays[0][:4]).shape == (4,)


def test_a_refine_run_reports_what_all_its_candidates_spent_on_every_clock():
    """`summary.json`'s `elapsed` for a refine run: each clock summed over the candidates (each stood still
    while another trained), and the budget's own clock as the policy counted it; `steps` stay the kept
    model's (a refit trains for them) beside `candidate_steps`. It once copied the policy's reference time
    into `wall_s` and `cpu_s` (a 5-minute run on a busy machine read 59.9 wall-s)."""
    from types import SimpleNamespace

    from zap.finetune import Budget
    from zap.strategies.live import total_elapsed

    runs = [SimpleNamespace(elapsed={"wall_s": 10.0, "cpu_s": 8.0, "steps": 3, "ref_s": 1.5}),
            SimpleNamespace(elapsed={"wall_s": 200.0, "cpu_s": 150.0, "steps": 40, "ref_s": 58.0})]
    assert total_elapsed(runs, 0, Budget(60.0, "ref"), 59.9) == {"wall_s": 210.0, "cpu_s": 158.0, "steps": 3,
                                                                  "candidate_steps": 43, "ref_s": 59.9}
    on_wall = total_elapsed(runs, 1, Budget(300.0, "wall"), 209.0)
    assert on_wall["wall_s"] == 209.0 and on_wall["ref_s"] == 59.5 and on_wall["steps"] == 40
    runs[0].elapsed["ref_s"] = None  # an architecture the cost table does not price: no reference time
    assert total_elapsed(runs, 1, Budget(300.0, "wall"), 209.0)["ref_s"] is None


def test_refine_runs_as_zero_shot_where_the_rule_gives_one_candidate(arrays, monkeypatch):
    from zap.api import ZAP
    from zap.strategies import policy

    # a rule that never looks below 1000 s
    monkeypatch.setattr(policy, "REFINE_K_BY_BUDGET", {"alc": ((1000.0, 3),), "final": ((1000.0, 5),)})
    model = ZAP(budget=2.0, clock="ref", strategy="refine", threads=1).fit(arrays)
    summary = model.summary()
    assert summary["refine"]["fallback"] == "zero-shot" and "k = 1" in summary["refine"]["reason"]
    assert summary["pipeline_id"] == summary["selection"]["pipeline_id"]  # the pick, alone
    assert any("refine ran as zero-shot" in w for w in summary["selection"]["warnings"])


def overshoots(split, table, config, budget, slice_len):
    """Each slice's overshoot past its end, and the finished run's curve."""
    sliced = ResumableRun(split.train, split.test, config, budget, seed=0, costs=table)
    until, over = 0.0, []
    while not sliced.finished:
        until += slice_len
        sliced.advance(until)
        if not sliced.finished:
            over.append(sliced.elapsed - until)
    return over, [r["nauc"] for r in sliced.result().curve.rows]


def test_a_slice_pauses_before_a_prediction_pass_it_could_not_finish(split, monkeypatch):
    """A pass cannot be cut: where one would end past the slice, the run pauses before it (on the reference
    clock the pass is priced exactly) and the pass opens the next slice, so a slice overshoots by at most a
    step, and the run still computes what one run does. Without the pause it overshoots by up to a pass."""
    from dataclasses import replace

    from conftest import PRICED_ARCHS
    from zap.finetune.runner import _Run

    table = replace(injected_table(step_image=0.002, step_fixed=0.01),
                    predict={a: [0.05, 0.2] for a in PRICED_ARCHS})  # a pass: 0.15 (validation) to 0.6 ref-s
    budget = Budget(4.0, "ref")
    config = FAST_CONFIG | {"eval_first_frac": 0.05, "eval_gap_step_frac": 0.001, "eval_gap_max_frac": 0.05}
    whole = [r["nauc"] for r in run(split.train, split.test, config, budget, seed=0, costs=table).curve.rows]
    step = table.step_cost("mobilenetv2", 32, 16, 0.0) + table.decode_cost(32, 16)
    over, curve = overshoots(split, table, config, budget, 0.5)
    assert max(over) <= step + 1e-9 and curve == whole
    monkeypatch.setattr(_Run, "pass_crosses_pause", lambda self: False)
    over, curve = overshoots(split, table, config, budget, 0.5)
    assert max(over) > 2 * step and curve == whole


def test_refines_candidates_share_one_pixel_store(arrays, monkeypatch):
    """The candidates train on the same images, so they decode them once between them (`PixelStore`)."""
    from zap.api import ZAP
    from zap.strategies import live

    stores, real = [], live.ResumableRun
    monkeypatch.setattr(live, "ResumableRun", lambda *a, **kw: stores.append(kw.get("pixels")) or real(*a, **kw))
    ZAP(budget=3.0, clock="ref", strategy="refine", refine_k=2, threads=1).fit(arrays)
    assert len(stores) == 2 and stores[0] is not None and stores[0] is stores[1]


def test_the_real_run_study_resumes_only_from_runs_on_the_same_artifact(tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(V1_ARTIFACT.parents[2])  # the stored name is relative to the checkout, as the script runs

    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"artifact": "artifacts/metadataset/v1.json.gz", "runs": [{"dataset": "a"}]}))
    with benchmark_script("refine_fit") as study:
        assert study.stored_runs(tmp_path / "none.json", "x.json.gz") == []
        assert study.stored_runs(path, str(V1_ARTIFACT)) == [{"dataset": "a"}]  # the same file, another spelling
        with pytest.raises(SystemExit, match="holds runs on artifacts/metadataset/v1.json.gz, not other.json.gz"):
            study.stored_runs(path, "other.json.gz")


def test_the_real_run_study_ranks_each_budget_at_its_nearest_level_and_pairs_per_core(capsys):
    from synthetic import synthetic_artifact, synthetic_levels_artifact

    with benchmark_script("refine_fit") as study:
        # on the log scale 30 and 40 lie either side of sqrt(20 * 60) = 34.6 (on a linear one both go to 20)
        assert study.by_level(synthetic_levels_artifact(), [10, 20, 30, 40, 60, 600]) == {20.0: [10, 20, 30],
                                                                                          60.0: [40, 60, 600]}
        assert study.by_level(synthetic_artifact(), [20, 60]) == {20.0: [20, 60]}  # one level: it serves all
        row = {"budget": 60, "core": "c"}
        runs = [row | {"dataset": "a", "seed": 0, "strategy": "zero-shot", "alc": 0.5, "final_nauc": 0.8},
                row | {"dataset": "a", "seed": 0, "strategy": "refine", "alc": 0.6, "final_nauc": 0.8},
                row | {"dataset": "a", "seed": 1, "strategy": "zero-shot", "alc": 0.5, "final_nauc": 0.8},
                row | {"dataset": "a", "seed": 1, "strategy": "refine", "alc": 0.4, "final_nauc": 0.9},
                row | {"dataset": "b", "strategy": "zero-shot", "alc": 0.3, "final_nauc": 0.7},  # v1: no seed
                row | {"dataset": "b", "strategy": "refine", "alc": 0.5, "final_nauc": 0.7}]
        study.print_table(runs)
    lines = {tuple(line.split()[:3]): line.split() for line in capsys.readouterr().out.splitlines()[2:]}
    alc = lines[("60", "refine", "alc")]
    # a's two seeds average to a tie (+0.1, -0.1), b gains +0.2: 2 datasets, the mean gain 0.1, 1 of 2 ahead
    assert alc[3:6] == ["0.400", "0.500", "+0.100"] and alc[-2] == "1/2"
    assert lines[("60", "refine", "final_nauc")][5] == "+0.025"

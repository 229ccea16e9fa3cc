"""benchmarks/user_regime.py's plan and paired table, without running zap fit: the pairing is what the
default rule will be read from, so a core counted twice or a reference run shared wrongly must fail here."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import benchmark_script


@pytest.fixture(scope="module")
def ur():
    with benchmark_script("user_regime") as module:
        yield module


def test_recommended_runs_once_per_core_budget_and_seed(ur):
    plan = list(ur.planned(["a", "b"], [30.0], ["alc", "final"], [0, 1]))
    assert len(plan) == 2 * 2 * (1 + 2 * 2)
    assert sum(m == "recommended" for *_, m in plan) == 4 and {o for _, _, o, _, m in plan if m == "recommended"} == {
        "any"}
    assert len(set(plan)) == len(plan)


def test_the_table_pairs_by_core_with_seeds_averaged_and_shares_recommended_across_objectives(ur):
    runs = []
    values = {("a", "zap"): [0.6, 0.8], ("a", "single-best"): [0.5, 0.5], ("a", "recommended"): [0.4, 0.6],
              ("b", "zap"): [0.3, 0.3], ("b", "single-best"): [0.4, 0.4], ("b", "recommended"): [0.2, 0.2]}
    for (core, method), per_seed in values.items():
        for seed, alc in enumerate(per_seed):
            objective = "any" if method == "recommended" else "alc"
            runs.append({"level": "x", "threads": 2, "core": core,
                         "budget": 30.0, "objective": objective, "seed": seed, "method": method,
                         "alc": alc, "accuracy": 1 - alc})
    runs.append({"level": "x", "threads": 2, "core": "c",
                 "budget": 30.0, "objective": "alc", "seed": 0, "method": "zap", "alc": 0.9,
                 "accuracy": 0.1})  # a core with no reference runs: left out of every pair
    (row,) = ur.paired_table(runs)
    assert (row["budget"], row["objective"], row["n_cores"]) == (30.0, "alc", 2)
    assert row["zap_alc"] == pytest.approx(np.mean([0.7, 0.3]))  # each core's seeds first, then the cores
    assert row["vs_recommended_alc"]["diff"] == pytest.approx(np.mean([0.7 - 0.5, 0.3 - 0.2]))
    assert row["vs_single-best_alc"]["diff"] == pytest.approx(np.mean([0.7 - 0.5, 0.3 - 0.4]))
    assert row["vs_single-best_alc"]["ahead"] == 1
    assert row["vs_recommended_accuracy"]["diff"] == pytest.approx(-row["vs_recommended_alc"]["diff"])


def _zap_run(pick: str, single_best: str | None, status: str = "ok") -> dict:
    return {"level": "x", "threads": 2, "core": "a", "budget": 30.0, "objective": "final", "seed": 1,
            "method": "zap", "status": status, "pipeline_id": pick, "single_best_pick": single_best,
            "alc": 0.5, "accuracy": 0.7, "fallback": True, "process_s": 40.0}


def test_single_best_reuses_zaps_run_only_when_zap_picked_its_pipeline(ur):
    wanted = ("x", 2, "a", 30.0, "final", 1, "single-best")
    shared = ur.shared_run([_zap_run("p1", "p1")], wanted)
    assert shared["method"] == "single-best" and shared["shared_from"] == "zap"
    assert ur.key_of(shared) == wanted
    assert (shared["alc"], shared["accuracy"], shared["process_s"]) == (0.5, 0.7, 0.0)
    assert "single_best_pick" not in shared
    assert ur.shared_run([_zap_run("p1", "p2")], wanted) is None  # zap deviated: single-best must run
    assert ur.shared_run([_zap_run("p1", None)], wanted) is None  # no pick to compare with
    assert ur.shared_run([_zap_run("p1", "p1", status="failed")], wanted) is None
    assert ur.shared_run([_zap_run("p1", "p1")], (*wanted[:4], "alc", 1, "single-best")) is None  # other objective
    assert ur.shared_run([_zap_run("p1", "p1")], (*wanted[:6], "recommended")) is None


def test_a_shared_pair_differs_by_zero_and_is_counted(ur):
    zap = _zap_run("p1", "p1")
    shared = ur.shared_run([zap], ("x", 2, "a", 30.0, "final", 1, "single-best"))
    recommended = {**zap, "method": "recommended", "objective": "any", "alc": 0.4, "accuracy": 0.9}
    (row,) = ur.paired_table([zap, shared, recommended])
    assert row["vs_single-best_alc"]["diff"] == 0.0 and row["single_best_runs_shared"] == 1


def test_single_best_pick_reads_the_held_out_selector_and_never_stops_the_study(ur, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from zap.metafeatures import MetaFeatures
    from zap.resources import selectors_dir
    from zap.selectors.trained import suggest

    meta = MetaFeatures(n_channels=3, n_classes=10, n_train=5000, resolution=32)
    model = SimpleNamespace(meta_features_=meta, budget_ref_=None)
    monkeypatch.setenv("ZAP_SELECTORS", str(selectors_dir()))
    expected = suggest(meta, "single-best", k=1, folder=selectors_dir(), fallback=False).suggestions[0].pipeline_id
    assert ur.single_best_pick(model, "alc") == expected
    monkeypatch.setenv("ZAP_SELECTORS", str(tmp_path))  # no selector there: the run is simply not shared
    assert ur.single_best_pick(model, "alc") is None


def test_prepare_makes_every_cores_data_and_selectors_and_runs_nothing(ur, tmp_path, monkeypatch):
    from synthetic import write_synthetic_artifact

    payload = write_synthetic_artifact(tmp_path / "a.json.gz")
    cores = sorted({str(d["core"]) for d in payload["datasets"]})[:2]
    made = []
    monkeypatch.setattr(ur, "held_out_data", lambda payload, problem, core, folder: made.append(("data", core)))
    monkeypatch.setattr(ur, "held_out_selectors", lambda artifact, core, folder: made.append(("selectors", core)))
    monkeypatch.setattr(ur, "one_run", lambda *a: pytest.fail("--prepare must not run zap fit"))
    monkeypatch.setattr("sys.argv", ["user_regime.py", "--artifact", str(tmp_path / "a.json.gz"), "--work",
                                     str(tmp_path / "work"), "--cores", *cores, "--json", str(tmp_path / "r.json"),
                                     "--prepare"])
    ur.main()
    assert made == [(kind, core) for core in cores for kind in ("data", "selectors")]
    assert not (tmp_path / "r.json").exists()


def test_a_resume_on_another_cpu_redoes_only_the_unfinished_comparison_it_left(ur):
    def run(core, seed, objective, method, cpu):
        return {"level": "L", "threads": 2, "core": core, "budget": 30.0, "seed": seed, "objective": objective,
                "method": method, "cpu": cpu}

    full = [run("a", 0, "any", "recommended", "fast")] + [run("a", 0, o, m, "fast") for o in ("alc", "final")
                                                           for m in ("zap", "single-best")]
    half = [run("a", 1, "any", "recommended", "fast"), run("a", 1, "alc", "zap", "slow"),
            run("a", 1, "alc", "single-best", "fast")]
    redo = ur.runs_to_redo(full + half, "slow", ["alc", "final"])
    assert redo == [half[0], half[2]]  # the finished comparison stays; this CPU's own run of the other stays
    assert ur.runs_to_redo(full + half, "fast", ["alc", "final"]) == [half[1]]
    assert ur.runs_to_redo(half[:1], "slow", ["alc"]) == half[:1]  # one objective: a group of 3 runs
    legacy = [{k: v for k, v in r.items() if k != "cpu"} for r in half]
    assert len(ur.runs_to_redo(legacy, "fast", ["alc", "final"])) == 3  # no CPU recorded: not known to match

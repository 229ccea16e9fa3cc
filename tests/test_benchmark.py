"""The leave-one-core-out benchmark, meta-training, `zap suggest` and zero-shot `zap fit`, end to end on a
small synthetic meta-dataset artifact (real candidate configurations, synthetic performance)."""

import gzip
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from synthetic import write_synthetic_artifact
from zap.benchmark.loco import Settings, candidate_pool, held_out_mask, outer_folds, run_benchmark, run_fold
from zap.cli import main
from zap.metadataset.problem import SelectionProblem
from zap.selectors.base import SelectorError


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    path = tmp_path_factory.mktemp("md") / "synthetic.json.gz"
    write_synthetic_artifact(path, n_groups=6, per_group=3, n_pipelines=8, seed=0)
    return path


@pytest.fixture(scope="module")
def problem(artifact):
    return SelectionProblem.load(artifact)


def test_cells_measured_twice_are_scored_by_their_seed_mean(artifact, problem):
    from zap.metadataset.artifact import load

    matrices = load(artifact)["matrices"]
    first = np.array(matrices["0"]["alc"], dtype=float)
    repeat = np.array([[np.nan if v is None else v for v in row] for row in matrices["1"]["alc"]])
    twice = ~np.isnan(repeat)
    assert twice.any() and (~twice).any()
    assert np.allclose(problem.alc[twice], (first[twice] + repeat[twice]) / 2)
    assert np.allclose(problem.alc[~twice], first[~twice]) and np.allclose(problem.alc_first, first)
    missing = problem.subset(np.arange(3))
    missing.alc_first[0, 0] = np.nan  # a cell the first seed lacks is missing even if another seed has it
    from zap.metadataset.problem import _seed_mean

    assert np.isnan(_seed_mean([missing.alc_first, np.ones_like(missing.alc_first)])[0, 0])


def reference_points(problem: SelectionProblem, held_out: list[str]) -> dict[str, float]:
    """What leave-one-core-out must report for the methods that need no learning, worked out from the matrix
    here rather than through the selectors or `stats`: per held-out core the mean over its datasets of the
    row's best cell (Oracle), of the column best on the other cores (Single-best), of every cell (Random), of
    a named column; then the mean over the cores."""
    alc = problem.alc
    per_core: dict[str, list[float]] = {"oracle": [], "single-best": [], "random": [], "autodl-default": [],
                                        "recommended": []}
    for core in held_out:
        test = problem.cores == core
        best_elsewhere = int(np.nanmean(alc[~test], axis=0).argmax())
        per_core["oracle"].append(alc[test].max(axis=1).mean())
        per_core["single-best"].append(alc[test, best_elsewhere].mean())
        per_core["random"].append(alc[test].mean())
        per_core["autodl-default"].append(alc[test, problem.named["autodl-default"]].mean())
        per_core["recommended"].append(alc[test, problem.named["recommended"]].mean())
    return {method: float(np.mean(values)) for method, values in per_core.items()}


def test_tuning_blocks_deal_the_groups_round_robin_and_a_fold_is_always_in_its_own():
    from zap.benchmark.loco import tuning_block

    groups = [f"g{i}" for i in range(10)]
    blocks = {tuple(tuning_block(groups, g, 4)) for g in groups}
    assert sorted(g for block in blocks for g in block) == groups  # each group in exactly one block
    assert tuning_block(groups, "g5", 4) == ["g1", "g5", "g9"] and len(blocks) == 4
    assert all(tuning_block(groups, g, n) == [g] for g in groups for n in (0, 10, 12))  # one per fold


def test_zap_as_tuned_once_per_block_never_sees_the_blocks_groups(problem, tmp_path, monkeypatch):
    """With `as_tunings=2` the 6 cores make 2 blocks of 3: ZAP-AS is tuned twice, each time on the training
    rows of none of its block's cores, and every fold of a block uses that block's tuning; the held-out core
    is never among what its configuration learned from, and the folds' results say which cores were left out."""
    import zap.benchmark.loco as loco
    from zap.benchmark.report import as_tuning, tables
    from zap.benchmark.report import summary as summarize

    seen = []
    original = loco._tune_zap_as

    def recording_tune(train, pool, settings):
        seen.append(sorted(set(train.cores.tolist())))
        return original(train, pool, settings)

    monkeypatch.setattr(loco, "_tune_zap_as", recording_tune)
    settings = Settings(repetitions=1, methods=("zap-as", "single-best", "oracle"), ablations=(), as_trials=3,
                        as_tunings=2)
    folds = run_benchmark(problem, settings, tmp_path)
    cores = outer_folds(problem, "loco")
    assert len(seen) == 2 and all(len(trained) == len(cores) - 3 for trained in seen)
    for fold in folds:
        level = fold["levels"]["20"]
        left_out = level["zap_as_tuning"]["tuned_without"]
        assert fold["group"] in left_out and len(left_out) == 3
        assert sorted(set(cores) - set(left_out)) in seen
        twin = next(f for f in folds if f["group"] != fold["group"] and f["group"] in left_out)
        assert twin["levels"]["20"]["zap_as_config"] == level["zap_as_config"]
    assert len(list((tmp_path / "as-tuning").glob("*.json"))) == 2
    assert loco._valid_fold_file(loco.fold_path(tmp_path, settings, "core1"), settings)
    assert not loco._valid_fold_file(loco.fold_path(tmp_path, settings, "core1"), replace(settings, as_tunings=0))
    flat = loco.level_folds(folds, "20")
    ended = as_tuning(flat)
    assert ended["tunings"] == 2 and 0 <= ended["left_default"] <= 2
    assert ended["kept_inner_regret"] <= ended["default_inner_regret"]  # the default is kept unless beaten
    assert f"left AutoFolio's default in {ended['left_default']} of 2 tunings" in tables(summarize(flat), flat)
    # a reduced run forms the blocks from every group, not from those it scores
    alone = run_benchmark(problem, settings, tmp_path / "reduced", groups=["core1"])[0]["levels"]["20"]
    assert alone["zap_as_tuning"]["tuned_without"] == ["core1", "core3", "core5"]


def test_on_dask_one_fold_per_block_tunes_and_the_rest_of_the_block_waits_for_it(problem):
    """Folds started together would each tune their block again: the first of each block starts, the others
    start once it has stored the tuning. A fold configured from an earlier protocol tunes nothing and waits
    for no one."""
    from zap.benchmark.loco import _block_leaders

    settings = Settings(methods=("zap-as", "single-best", "oracle"), ablations=(), as_tunings=2)
    todo = ["core1", "core2", "core3", "core4", "core5"]
    first, waiting = _block_leaders(problem, settings, todo, dict.fromkeys(todo))
    assert first == ["core1", "core2"] and waiting == {"core1": ["core3", "core5"], "core2": ["core4"]}
    first, waiting = _block_leaders(problem, settings, todo, dict.fromkeys(todo) | {"core1": {"20": {}}})
    assert first == ["core1", "core2", "core3"] and waiting == {"core2": ["core4"], "core3": ["core5"]}
    assert _block_leaders(problem, replace(settings, as_tunings=0), todo, dict.fromkeys(todo)) == (todo, {})


def test_as_tuning_counts_each_tuning_once_however_many_folds_share_it():
    from zap.benchmark.report import as_tuning

    def fold(group, seconds, kept, **extra):
        tuning = {"kept_start": kept, "default_loss": 0.2, "best_loss": 0.1, "seconds": seconds,
                  "tuned_without": ["a", "b"]} | extra
        return {"group": group, "zap_as_tuning": tuning}

    # a and b share one tuning (b read it back); c and d have the same block but their own pools, so their own
    folds = [fold("a", 5.0, False), fold("b", 5.0, False, stored="x.json"), fold("c", 6.0, True),
             fold("d", 7.0, False), {"group": "e", "zap_as_tuning": {"reused_from": "loco"}}]
    assert as_tuning(folds) == {"tunings": 3, "left_default": 2, "default_inner_regret": pytest.approx(0.2),
                                "kept_inner_regret": pytest.approx(0.4 / 3)}
    assert as_tuning(folds[-1:]) is None


def test_a_dask_run_with_tuning_blocks_tunes_each_block_once(problem, tmp_path, monkeypatch):
    """On a real Dask cluster (threads, so that the count below sees every tuning) with a worker per fold."""
    from dask.distributed import Client, LocalCluster

    import zap.benchmark.loco as loco

    tuned, original = [], loco._tune_zap_as
    monkeypatch.setattr(loco, "_tune_zap_as", lambda train, pool, settings: (tuned.append(1),
                                                                               original(train, pool, settings))[1])
    settings = Settings(repetitions=1, methods=("zap-as", "single-best", "oracle"), ablations=(), as_trials=3,
                        as_tunings=2)
    with LocalCluster(n_workers=6, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        folds = run_benchmark(problem, settings, tmp_path, client=client)
    assert len(tuned) == 2 and len(folds) == 6
    assert len({json.dumps(f["levels"]["20"]["zap_as_config"], sort_keys=True) for f in folds}) <= 2


def test_tuning_blocks_that_leave_fewer_than_two_groups_to_tune_on_are_refused_before_any_fold(artifact, problem,
                                                                                              tmp_path, capsys):
    from zap.errors import ConfigError

    lodo = Settings(protocol="lodo", methods=("zap-as", "single-best", "oracle"), ablations=(), as_tunings=2)
    with pytest.raises(ConfigError, match="a block of 2 of the 3 lodo groups leaves fewer than 2"):
        run_benchmark(problem, lodo, tmp_path)
    assert not list((tmp_path / "folds").glob("*.json"))
    # through the CLI, a protocol run second is refused before the first one's folds run
    assert main(["benchmark", str(artifact), "--protocol", "loco", "lodo", "--as-tunings", "2", "--out",
                 str(tmp_path / "cli"), "--workers", "0", "--methods", "zap-as"]) == 2
    assert "a block of 2 of the 3 lodo groups" in capsys.readouterr().err
    assert not list((tmp_path / "cli" / "folds").glob("*.json"))
    run_benchmark(problem, replace(lodo, methods=("single-best", "oracle")), tmp_path / "no-zap-as")  # no tuning


def test_outer_folds_hold_out_whole_cores_and_domains(problem):
    for protocol, labels in (("loco", problem.cores), ("lodo", problem.domains)):
        groups = outer_folds(problem, protocol)
        assert sorted(set(labels.tolist())) == groups
        for group in groups:
            test = held_out_mask(problem, protocol, group)
            assert not set(problem.cores[test]) & set(problem.cores[~test])  # no core on both sides


def test_a_fold_never_trains_on_its_held_out_core(problem, monkeypatch):
    from zap.selectors import SingleBest, ZapHPO

    seen = []
    for cls in (ZapHPO, SingleBest):
        original = cls._fit

        def recording_fit(self, x, enc, y, groups, _original=original):
            seen.append(set(np.asarray(groups).tolist()))
            return _original(self, x, enc, y, groups)

        monkeypatch.setattr(cls, "_fit", recording_fit)
    settings = Settings(repetitions=1, methods=("zap-hpo", "single-best", "oracle"), ablations=(), hpo_epochs=2)
    result = run_fold(problem, settings, "core2")
    assert len(seen) == 2 and all("core2" not in groups for groups in seen)
    level = result["levels"]["20"]
    assert set(level["cores"]) == {"core2"} and len(level["methods"]["zap-hpo"][0]["alc"]) == 3


def test_the_vote_ablation_reuses_zap_hpos_models_and_equals_a_vote_fit(problem, monkeypatch):
    from zap.selectors import ZapHPO

    settings = Settings(repetitions=1, methods=("zap-hpo", "oracle"), ablations=("zap-hpo-vote",), hpo_epochs=3)
    fits = []
    original = ZapHPO._fit
    monkeypatch.setattr(ZapHPO, "_fit", lambda self, *a: fits.append(self.ensemble) or original(self, *a))
    result = run_fold(problem, settings, "core2")
    assert fits == ["zscore"]  # one training serves both ensembles
    test = held_out_mask(problem, "loco", "core2")
    train = problem.subset(~test)
    alone = ZapHPO(ensemble="vote", seed=0, max_epochs=3).fit(train.meta_features, train.encodings, train.alc,
                                                              train.cores)
    picks = [problem.candidate_ids[j] for j in alone.select(problem.meta_features[test])]
    assert result["levels"]["20"]["methods"]["zap-hpo-vote"][0]["picks"] == picks


def test_dropping_own_candidates_keeps_named_columns(problem):
    test = held_out_mask(problem, "loco", "core2")
    pool = candidate_pool(problem, test, drop_own=True)
    assert set(problem.named.values()) <= set(pool.tolist())
    assert all("core2" not in problem.hpo_cores[j] for j in pool if j not in problem.named.values())
    assert len(pool) < len(problem.candidate_ids)


def test_benchmark_cli_writes_the_json_and_resumes(artifact, problem, tmp_path, capsys):
    out, report = tmp_path / "bench", tmp_path / "loco.json"
    args = ["benchmark", str(artifact), "--json", str(report), "--out", str(out), "--protocol", "loco",
            "--repetitions", "2",
            "--as-trials", "3", "--hpo-epochs", "3", "--max-folds", "3", "--workers", "0"]
    assert main(args) == 0
    both = json.loads(report.read_text())
    assert set(both) == {"alc", "final"} and set(both["alc"]) == set(both["final"]) == {"20"}
    result = both["alc"]["20"]
    for method in ("zap-hpo", "zap-as", "autofolio-default", "knn", "single-best", "random", "autodl-default",
                   "recommended", "oracle", "oracle-rerun"):
        assert {"score", "alc", "nauc", "rank", "gap_closed", "gap_closed_rerun", "beats_single_best"} <= set(
            result[method]), method
        assert result[method]["score"] == result[method]["alc"]  # the ALC objective's score is the ALC
        assert both["final"]["20"][method]["score"] == both["final"]["20"][method]["nauc"]
    # the reference points recomputed from the matrix: catches an Oracle, Random or named column scored on
    # the wrong cells (the first seed alone, another column, the wrong datasets) and a Single-best that is
    # not the best mean column over the training cores
    expected = reference_points(problem, ["core0", "core1", "core2"])  # --max-folds 3: the first 3 cores
    for method, value in expected.items():
        assert result[method]["alc"] == pytest.approx(value), method
    sb, oracle = expected["single-best"], expected["oracle"]
    assert result["zap-hpo"]["gap_closed"] == pytest.approx((result["zap-hpo"]["alc"] - sb) / (oracle - sb))
    assert "zap-hpo-keep25" in result and (out / "loco-alc-20-cd.png").exists()
    assert {"zap-hpo-oblivious", "autofolio-default-budget"}.isdisjoint(result)  # one level: no budget to learn
    assert "Per core" in (out / "report.md").read_text()
    stamps = {p.name: p.stat().st_mtime for p in (out / "folds").glob("*.json")}
    assert len(stamps) == 6  # 3 folds x 2 objectives
    assert main(args) == 0  # every fold on disk: nothing is recomputed
    assert stamps == {p.name: p.stat().st_mtime for p in (out / "folds").glob("*.json")}


def test_benchmark_cli_runs_only_the_methods_asked_for_plus_the_reference_points(artifact, tmp_path):
    report = tmp_path / "loco.json"
    assert main(["benchmark", str(artifact), "--json", str(report), "--out", str(tmp_path / "b"), "--protocol",
                 "loco", "--repetitions", "1", "--methods", "zap-hpo", "--hpo-epochs", "2", "--max-folds", "2",
                 "--workers", "0", "--no-ablations", "--objective", "final"]) == 0
    assert set(json.loads(report.read_text())) == {"final"}
    assert set(json.loads(report.read_text())["final"]["20"]) == {"zap-hpo", "single-best", "oracle", "oracle-rerun"}


def test_meta_train_suggest_and_zero_shot_fit(artifact, tmp_path, capsys, monkeypatch):
    selectors = tmp_path / "selectors"
    assert main(["meta-train", str(artifact), "--selectors", "zap-hpo", "single-best", "zap-hpo-regression",
                 "--out", str(selectors)]) == 0
    monkeypatch.setenv("ZAP_SELECTORS", str(selectors))
    from zap.selectors.base import load_selector

    assert load_selector(selectors / "zap-hpo-regression.zsel").selector.loss == "regression"
    capsys.readouterr()
    assert main(["suggest", "digits", "--k", "3", "--json", "--budget", "60", "--threads", "2"]) == 0
    suggested = json.loads(capsys.readouterr().out)
    assert len(suggested["suggestions"]) == 3 and suggested["meta_features"]["n_classes"] == 10
    assert suggested["trained_on"]["protocol"]["clock"] == "cpu"
    scores = [s["score"] for s in suggested["suggestions"]]
    assert scores == sorted(scores, reverse=True)  # catches suggestions re-ordered (by id, say) after ranking
    assert main(["suggest", "digits", "--selector", "single-best"]) == 0
    assert "meta-features: n_channels=1" in capsys.readouterr().out
    assert main(["suggest", "digits", "--selector", "zap-hpo-regression", "--k", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["selector"] == "zap-hpo-regression"
    out = tmp_path / "fit"
    assert main(["fit", "digits", "--budget", "3", "--clock", "cpu", "--out", str(out), "--quiet"]) in (0, 3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["selector"] == "zap-hpo" and summary["selection"]["pipeline_id"] == summary["pipeline_id"]
    assert summary["pipeline_id"] == suggested["suggestions"][0]["pipeline_id"]
    fixed = tmp_path / "fixed"
    assert main(["fit", "digits", "--budget", "3", "--clock", "cpu", "--config", "recommended", "--out", str(fixed),
                 "--quiet"]) == 0
    assert json.loads((fixed / "summary.json").read_text())["selector"] == "fixed"


def test_meta_train_can_leave_cores_out_and_refuses_unknown_ones(artifact, problem, tmp_path, capsys):
    """How a held-out study meta-trains: the selectors and the fallback rule never see the excluded cores."""
    from zap.selectors.base import load_selector

    out = tmp_path / "held-out"
    assert main(["meta-train", str(artifact), "--selectors", "single-best", "--objective", "alc", "--out", str(out),
                 "--exclude-cores", "core0", "core1"]) == 0
    context = load_selector(out / "single-best.zsel").context
    kept = ~np.isin(problem.cores, ["core0", "core1"])
    assert context["excluded_cores"] == ["core0", "core1"] and context["n_datasets"] == int(kept.sum())
    best = problem.candidate_ids[int(problem.alc[kept].mean(axis=0).argmax())]
    assert load_selector(out / "single-best.zsel").selector.rank(problem.meta_features[:1])[0].top(1)[0][0] == \
        problem.candidate_ids.index(best)  # Single-best of the kept cores, not of all
    capsys.readouterr()
    assert main(["meta-train", str(artifact), "--selectors", "single-best", "--out", str(out),
                 "--exclude-cores", "core99"]) == 2
    assert "no core core99 in this meta-dataset" in capsys.readouterr().err
    assert main(["meta-train", str(artifact), "--refine", "--exclude-cores", "core0", "--out", str(out)]) == 2
    assert "train it in a separate `zap meta-train --refine`" in capsys.readouterr().err
    cores = sorted(set(problem.cores.tolist()))
    assert main(["meta-train", str(artifact), "--selectors", "single-best", "--out", str(tmp_path / "none"),
                 "--exclude-cores", *cores[1:]]) == 2  # checked before anything is written
    assert "need at least 2 to train on" in capsys.readouterr().err and not (tmp_path / "none").exists()
    assert main(["meta-train", str(artifact), "--exclude-cores", "core0"]) == 2  # never over the shipped ones
    assert "give them a folder of their own with --out DIR" in capsys.readouterr().err


def test_fit_default_follows_the_rule_on_the_zero_shot_study():
    """`zap fit`'s default rule, at the study's budget (60 wall-s on 2 threads, 60-80 reference-s here), picks
    ZAP-HPO unless a method beats it significantly in the user-regime study (docs/data/zero_shot_fit.json,
    held-out cores); a lead inside the noise moves nothing."""
    from zap.benchmark.stats import default_by_rule
    from zap.strategies.defaults import default_for

    study = json.loads((Path(__file__).parents[1] / "docs/data/zero_shot_fit.json").read_text())["runs"]
    datasets = sorted({r["dataset"] for r in study})
    assert len(datasets) >= 5

    def per_dataset(method: str) -> np.ndarray:
        return np.array([np.mean([r["alc"] for r in study if r["dataset"] == d and r["method"] == method])
                         for d in datasets])

    scores = {m: per_dataset(m) for m in ("zap-hpo", "zap-as", "recommended")}
    chosen = default_by_rule(scores, incumbent="zap-hpo")
    assert all(default_for(ref_s, "alc").selector == chosen for ref_s in (60.0, 80.0))


def test_the_default_rule_moves_only_on_a_significant_paired_lead():
    from zap.benchmark.stats import default_by_rule

    rng = np.random.default_rng(0)
    base = rng.random(12)
    assert default_by_rule({"a": base, "b": base + rng.normal(0.01, 0.05, 12)}, "a") == "a"  # noise
    assert default_by_rule({"a": base, "b": base + 0.05 + rng.normal(0, 0.01, 12)}, "a") == "b"
    assert default_by_rule({"a": base, "b": base - 0.05}, "a") == "a"  # significantly worse: stays


def test_fit_without_a_trained_selector_says_so_and_uses_recommended(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZAP_SELECTORS", str(tmp_path / "none"))
    out = tmp_path / "fit"
    assert main(["fit", "digits", "--budget", "2", "--clock", "cpu", "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["selection"]["fallback"] == "recommended" and "meta-train" in capsys.readouterr().err


def test_a_partial_artifact_is_benchmarked_on_its_complete_rows_only(tmp_path, capsys):
    import gzip

    from synthetic import synthetic_artifact

    payload = synthetic_artifact(n_groups=4, per_group=3, n_pipelines=6, seed=1)
    first = payload["matrices"][str(payload["seeds"][0])]
    core_of = [d["core"] for d in payload["datasets"]]
    for i, core in enumerate(core_of):
        for key in ("alc", "final_nauc"):
            if core == "core3":  # a core the build has not reached: nothing to score
                first[key][i] = [None] * len(first[key][i])
            elif core == "core1" and i % 3 == 0:  # one dataset half built
                first[key][i][1::2] = [None] * len(first[key][i][1::2])
    path = tmp_path / "partial.json.gz"
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    out = tmp_path / "bench"
    assert main(["benchmark", str(path), "--out", str(out), "--protocol", "loco", "--repetitions", "1",
                 "--as-trials", "3", "--hpo-epochs", "2", "--no-ablations", "--workers", "0", "--objective",
                 "alc"]) == 0
    assert "incomplete: 8 of 12 datasets (3 of 4 cores)" in capsys.readouterr().err
    folds = {p.stem.split("--")[2]: json.loads(p.read_text()) for p in (out / "folds").glob("*.json")}
    assert sorted(folds) == ["core0", "core1", "core2"] and len(folds["core1"]["levels"]["20"]["datasets"]) == 2
    result = json.loads((out / "loco.json").read_text())["alc"]["20"]
    assert result["_complete_artifact"] is False and result["_scored_datasets"] == 8
    assert all(np.isfinite(result[m]["alc"]) for m in ("zap-hpo", "zap-as", "single-best", "oracle"))


def test_protocol_settings_reuse_tuning_only_from_an_earlier_protocol():
    """Catches the driver reusing ZAP-AS's tuning from a fold that has not run yet (it would tune afresh
    silently, or read a stale file) and ablations leaking into protocols they were not designed for."""
    from zap.benchmark.driver import BenchmarkOptions, protocol_settings

    options = BenchmarkOptions(repetitions=3)
    loco = protocol_settings(options, "loco", [])
    dropown = protocol_settings(options, "loco-dropown", ["loco", "lodo"])
    assert loco.ablations and loco.repetitions == 3 and loco.as_from is None
    assert (dropown.protocol, dropown.drop_own_candidates, dropown.as_from) == ("loco", True, "loco")
    assert dropown.repetitions == 1 and not dropown.ablations
    assert protocol_settings(options, "loco-dropown", ["lodo"]).as_from is None
    assert not protocol_settings(options, "lodo", []).ablations
    only_as = BenchmarkOptions(methods=("zap-as",))
    assert protocol_settings(only_as, "loco", []).methods == ("zap-as", "single-best", "oracle")
    assert not protocol_settings(only_as, "loco", []).ablations  # ZAP-HPO's ablations need ZAP-HPO


def test_benchmark_resumes_folds_only_with_the_same_settings(problem, tmp_path):
    first = Settings(repetitions=1, methods=("single-best", "oracle"), ablations=())
    run_benchmark(problem, first, tmp_path, groups=["core0"])
    other = Settings(repetitions=1, methods=("single-best", "random", "oracle"), ablations=())
    folds = run_benchmark(problem, other, tmp_path, groups=["core0"])
    assert "random" in folds[0]["levels"]["20"]["methods"]



def test_dropown_folds_reuse_the_loco_folds_tuned_zap_as_configuration(problem, tmp_path, monkeypatch):
    import zap.benchmark.loco as loco

    tuned_in = []
    original = loco._tune_zap_as

    def recording_tune(train, pool, settings):
        tuned_in.append(settings.tag())
        return original(train, pool, settings)

    monkeypatch.setattr(loco, "_tune_zap_as", recording_tune)
    common = dict(repetitions=1, methods=("zap-as", "single-best", "oracle"), ablations=(), as_trials=3)
    with_own = run_benchmark(problem, Settings(**common), tmp_path, groups=["core1"])[0]
    without = run_benchmark(problem, Settings(**common, drop_own_candidates=True, as_from="loco"), tmp_path,
                            groups=["core1"])[0]
    assert tuned_in == ["loco"]  # tuned once, for the fold with its own candidates
    with_own, without = with_own["levels"]["20"], without["levels"]["20"]
    assert without["zap_as_config"] == with_own["zap_as_config"]
    assert without["zap_as_tuning"] == {"reused_from": "loco"} and without["pool_size"] < with_own["pool_size"]
    alone = run_benchmark(problem, Settings(**common, drop_own_candidates=True, as_from="loco"), tmp_path / "new",
                          groups=["core1"])[0]  # no loco fold on disk: it tunes for itself
    assert tuned_in == ["loco", "loco-dropown"] and alone["levels"]["20"]["zap_as_tuning"]["n_trials"] == 3
    other = dict(common, as_trials=4)  # a loco fold tuned with other settings is not reused
    run_benchmark(problem, Settings(**other, drop_own_candidates=True, as_from="loco"), tmp_path / "other",
                  groups=["core1"])
    assert tuned_in == ["loco", "loco-dropown", "loco-dropown"]


def test_zap_as_tunings_are_stored_and_read_back_only_for_the_same_training_data(problem, tmp_path, monkeypatch):
    """A re-run whose folds are recomputed (another level added, other repetitions) tunes ZAP-AS only where
    what it learns from changed."""
    import zap.benchmark.loco as loco

    tuned = []
    original = loco._tune_zap_as

    def recording_tune(train, pool, settings):
        tuned.append(settings.repetitions)
        return original(train, pool, settings)

    monkeypatch.setattr(loco, "_tune_zap_as", recording_tune)
    common = dict(methods=("zap-as", "single-best", "oracle"), ablations=(), as_trials=3)
    first = run_benchmark(problem, Settings(repetitions=1, **common), tmp_path, groups=["core1"])[0]
    again = run_benchmark(problem, Settings(repetitions=2, **common), tmp_path, groups=["core1"])[0]
    assert tuned == [1]  # the fold was recomputed (other settings), its tuning read back
    first, again = first["levels"]["20"], again["levels"]["20"]
    assert again["zap_as_config"] == first["zap_as_config"] and "stored" in again["zap_as_tuning"]
    changed = replace(problem, alc=np.where(np.isnan(problem.alc), np.nan, problem.alc * 0.9))
    run_benchmark(changed, Settings(repetitions=3, **common), tmp_path, groups=["core1"])
    run_benchmark(problem, Settings(repetitions=3, as_trials=4, methods=common["methods"], ablations=()), tmp_path,
                  groups=["core1"])
    assert tuned == [1, 3, 3]  # other cells, other trials: tuned again


def test_a_training_row_measured_only_in_dropped_columns_is_left_out(problem):
    test = held_out_mask(problem, "loco", "core2")
    pool = candidate_pool(problem, test, drop_own=True)
    dropped = np.setdiff1d(np.arange(len(problem.candidate_ids)), pool)
    sparse = problem.subset(np.arange(problem.n_datasets))
    row = int(np.flatnonzero(~test)[0])
    sparse.alc[row] = np.nan
    sparse.alc[row, dropped[0]] = 0.5  # measured, but only in a column this fold drops
    result = run_fold(sparse, Settings(repetitions=1, methods=("single-best", "oracle"), ablations=(),
                                       drop_own_candidates=True), "core2")
    assert result["levels"]["20"]["methods"]["single-best"][0]["picks"]


def test_diversity_report_and_figures(artifact, problem, tmp_path, capsys):
    assert main(["metadataset", "diversity", str(artifact), "--out", str(tmp_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["budgets"]) == 1 and list(out["levels"]) == [f"{out['budgets'][0]:g}"]  # one level, same shape
    report = out["levels"][f"{out['budgets'][0]:g}"]
    # recomputed from the seed-mean matrix: catches the report reading the first seed alone or the wrong axis
    alc, ids = problem.alc, problem.candidate_ids
    single = int(alc.mean(axis=0).argmax())
    assert report["n_datasets"] == 18 and report["single_best"] == ids[single]
    assert report["oracle_alc"] == pytest.approx(alc.max(axis=1).mean())
    assert report["single_best_alc"] == pytest.approx(alc[:, single].mean())
    assert report["random_alc"] == pytest.approx(alc.mean())
    winners = [ids[j] for j in alc.argmax(axis=1)]
    assert report["winner_counts"] == {i: winners.count(i) for i in set(winners)}
    assert report["distinct_winners"] == len(set(winners))
    assert report["noise_floor"]["cells"] > 0 and 0 < report["noise_floor"]["run_std"] < 0.1
    curse = report["winners_curse"]  # the synthetic second seed is the first plus noise of std 0.02
    assert 0 < curse["datasets"] <= 18 and abs(curse["oracle_pick_seed1"] - curse["oracle_pick_seed0"]) < 0.1
    # the re-run Oracle: the first seed's best cell scored on the second, against Single-best on those datasets
    first, repeat = problem.alc_first, problem.alc_repeat
    again = repeat[np.arange(len(first)), np.nanargmax(first, axis=1)]
    has = ~np.isnan(again)
    rerun = report["rerun_oracle"]
    single_again = np.where(np.isnan(repeat[:, single]), first[:, single], repeat[:, single])
    assert rerun["lead"] == pytest.approx((again[has] - single_again[has]).mean())
    assert rerun["lead_over_run_std"] == pytest.approx(rerun["lead"] / report["noise_floor"]["run_std"])
    nauc = problem.nauc
    final = report["final_nauc"]
    assert final["oracle"] == pytest.approx(nauc.max(axis=1).mean())
    assert final["alc_oracle_picks"] == pytest.approx(nauc[np.arange(len(nauc)), alc.argmax(axis=1)].mean())
    assert final["oracle_minus_single_best"] == pytest.approx(nauc.max(axis=1).mean()
                                                              - nauc[:, nauc.mean(axis=0).argmax()].mean())
    for name in ("cost_matrix.png", "winners.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_near_copies_are_candidates_closer_than_the_noise_floor():
    from zap.metadataset.diversity import candidate_correlation, near_copies, representatives

    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0.2, 0.8, size=(40, 1))
    own = rng.normal(0, 0.05, size=(40, 3))
    copy = own[:, :1] + rng.normal(0, 0.01, size=(40, 1))  # column 0 again, within seed noise
    rare = own[:, :1] + np.where(np.arange(40)[:, None] < 4, 0.2, 0.0)  # column 0 but far ahead on 4 datasets
    alc = difficulty + np.column_stack([own, copy, rare])
    ids = ["a", "b", "c", "a-copy", "a-rare"]
    copies = near_copies(alc, ids, run_std=0.01)
    assert [(x, y) for x, y, _ in copies] == [("a", "a-copy")]  # mean |d| of a-rare is 0.02, but not a copy
    rep = representatives(alc, ids, copies)
    assert rep["a"] == rep["a-copy"] and len(set(rep.values())) == 4
    chained = [("a", "b", 0.0), ("b", "c", 0.0)]  # b stands for a, so c stands for itself
    assert representatives(np.array([[3.0, 2.0, 1.0]]), ["a", "b", "c"], chained) == {"a": "a", "b": "a", "c": "c"}
    raw, within = candidate_correlation(alc), candidate_correlation(alc, within_datasets=True)
    assert raw[0, 1] > 0.6  # difficulty alone makes any two candidates look alike over raw ALC
    assert within[0, 1] < 0 < 0.9 < within[0, 3]  # relative to the row mean, only the copy moves with it


V1_ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "metadataset" / "v1.json.gz"


@pytest.mark.slow
@pytest.mark.skipif(not V1_ARTIFACT.exists(), reason="no exported v1 artifact in this checkout")
def test_reduced_benchmark_on_the_shipped_artifact_runs_on_dask(tmp_path):
    report = tmp_path / "loco.json"
    assert main(["benchmark", str(V1_ARTIFACT), "--json", str(report), "--out", str(tmp_path / "out"), "--protocol",
                 "loco", "--max-folds", "2", "--repetitions", "1", "--as-trials", "5", "--hpo-epochs", "10",
                 "--no-ablations", "--workers", "2", "--rerun-picks", "1", "--objective", "alc"]) == 0
    result = json.loads(report.read_text())["alc"]["20"]
    problem = SelectionProblem.load(V1_ARTIFACT)
    expected = reference_points(problem, outer_folds(problem, "loco")[:2])  # --max-folds 2
    for method in ("oracle", "single-best", "random"):  # on Dask workers, the same numbers as by hand
        assert result[method]["alc"] == pytest.approx(expected[method]), method
    assert len(list((tmp_path / "out" / "folds").glob("loco--*.json"))) == 2
    rerun = json.loads((tmp_path / "out" / "rerun-picks.json").read_text())
    assert rerun["n"] == 2 and all(-1 <= r["rerun_alc"] <= 1 for r in rerun["rows"])


def test_the_winners_curse_is_the_first_seeds_best_cell_measured_again():
    from zap.metadataset.diversity import winners_curse

    first = np.array([[0.5, 0.9, 0.1], [0.3, 0.2, 0.4], [0.6, 0.7, 0.8]])
    repeat = np.array([[np.nan, 0.7, np.nan], [np.nan, np.nan, np.nan], [0.6, np.nan, 0.6]])
    assert winners_curse(first, repeat) == pytest.approx(
        {"datasets": 2, "oracle_pick_seed0": 0.85, "oracle_pick_seed1": 0.65})
    assert winners_curse(first, None) is None and winners_curse(first, np.full_like(first, np.nan)) is None


def test_budget_aware_benchmark_on_a_multi_level_artifact(tmp_path, monkeypatch):
    """Every level is scored over its own candidates; ZAP-HPO learns once across levels with the budget
    as a feature, and its budget-oblivious ablation from the lowest level alone."""
    from synthetic import synthetic_levels_artifact
    from zap.benchmark.loco import run_fold
    from zap.metadataset.problem import Levels

    levels = Levels.from_artifact(synthetic_levels_artifact())
    assert levels.budgets == [20.0, 60.0] and len(levels.candidate_ids()) == 8
    x, y, _ = levels.stacked()
    assert x.shape == (36, 5) and np.allclose(np.exp(x[18:, -1]), 60) and np.isnan(y[18:, 6:]).all()
    settings = Settings(repetitions=1, methods=("zap-hpo", "single-best", "oracle"),
                        ablations=("zap-hpo-vote", "zap-hpo-oblivious", "autofolio-default-budget"), hpo_epochs=3)
    from zap.selectors import ZapAS, ZapHPO

    inputs, as_inputs = [], []
    original, original_as = ZapHPO._fit, ZapAS._fit
    monkeypatch.setattr(ZapHPO, "_fit", lambda self, x, *a: inputs.append(x.shape) or original(self, x, *a))
    monkeypatch.setattr(ZapAS, "_fit", lambda self, x, *a: as_inputs.append(x.shape) or original_as(self, x, *a))
    result = run_fold(levels, settings, "core1")
    # once across both levels with the budget feature (zap-hpo, whose models the vote reuses), once on the
    # lowest level without it (oblivious): 15 training rows per level, 4 meta-features + the budget
    assert inputs == [(30, 5), (15, 4)]
    assert as_inputs == [(30, 5)]  # AutoFolio's default with the budget feature, across both levels
    assert set(result["levels"]) == {"20", "60"}
    high = result["levels"]["60"]
    assert high["pool_size"] == 6 and {"zap-hpo", "zap-hpo-vote", "zap-hpo-oblivious", "autofolio-default-budget",
                                       "oracle-rerun"} <= set(high["methods"])
    allowed = set(levels.problems[60.0].candidate_ids)
    for method in ("zap-hpo", "zap-hpo-vote", "zap-hpo-oblivious", "autofolio-default-budget"):
        assert set(high["methods"][method][0]["picks"]) <= allowed  # never a candidate the level lacks
    # the single-best of a level is that level's best mean column over the training cores
    problem = levels.problems[60.0]
    train = problem.cores != "core1"
    best = problem.candidate_ids[int(np.nanmean(problem.alc[train], axis=0).argmax())]
    assert set(high["methods"]["single-best"][0]["picks"]) == {best}


def test_meta_train_leaves_out_a_level_with_no_measured_cell(tmp_path, capsys):
    """An export made while level 120 is still unbuilt (v2 ships with 20 and 60 first): the selectors train
    on the measured levels, say which were left out, and a suggestion at 120 or far past it ranks (with a
    note) instead of failing inside the fallback rule on an empty level."""
    from synthetic import synthetic_levels_artifact
    from zap.metadataset.artifact import measured_budgets
    from zap.metafeatures import MetaFeatures
    from zap.selectors.base import load_selector
    from zap.selectors.trained import meta_train, suggest

    payload = synthetic_levels_artifact(budgets=(20.0, 60.0, 120.0))
    for matrices in payload["levels"]["120"]["matrices"].values():
        matrices["alc"] = matrices["final_nauc"] = [[None] * len(row) for row in matrices["alc"]]
    assert measured_budgets(payload) == [20.0, 60.0]
    path = tmp_path / "partial.json.gz"
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    report = meta_train(path, ("zap-hpo", "single-best"), tmp_path / "sel")
    assert report["levels"] == {"trained": [20.0, 60.0], "unmeasured": [120.0]}
    assert main(["meta-train", str(path), "--selectors", "single-best", "--out", str(tmp_path / "cli")]) == 0
    assert "level(s) 120 hold no measured cell and were left out; trained on 20, 60 ref-s" in capsys.readouterr().out
    single = load_selector(tmp_path / "sel" / "single-best.zsel")
    assert single.context["levels"] == [20.0, 60.0] and single.context["unmeasured_levels"] == [120.0]
    meta = MetaFeatures.from_dict({"n_channels": 3, "n_classes": 10, "n_train": 500, "resolution": 32})
    for name in ("single-best", "zap-hpo"):
        assert suggest(meta, name, k=3, folder=tmp_path / "sel", budget_ref=120.0).suggestions
        far = suggest(meta, name, k=3, folder=tmp_path / "sel", budget_ref=1000.0)
        assert far.suggestions and any("outside the meta-dataset's levels (20, 60" in w for w in far.warnings)
    for matrices in payload["levels"]["20"]["matrices"].values():
        matrices["alc"] = matrices["final_nauc"] = [[None] * len(row) for row in matrices["alc"]]
    for matrices in payload["levels"]["60"]["matrices"].values():
        matrices["alc"] = matrices["final_nauc"] = [[None] * len(row) for row in matrices["alc"]]
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    with pytest.raises(SelectorError, match="no measured cell"):
        meta_train(path, ("single-best",), tmp_path / "none")


def test_meta_train_on_budget_levels_ranks_for_the_budget_and_the_objective(tmp_path):
    """On a multi-level artifact ZAP-HPO learns the budget as a feature and other selectors one copy per
    level; a suggestion at a level's budget ranks only that level's candidates first (PerLevel) and the
    budget moves ZAP-HPO's ranking; each objective has its own file."""
    from synthetic import synthetic_levels_artifact
    from zap.metafeatures import MetaFeatures
    from zap.selectors.base import load_selector
    from zap.selectors.levels import PerLevel
    from zap.selectors.trained import meta_train, selector_path, suggest

    path = tmp_path / "levels.json.gz"
    path.write_bytes(gzip.compress(json.dumps(synthetic_levels_artifact()).encode()))
    for objective in ("alc", "final"):
        meta_train(path, ("zap-hpo", "single-best"), tmp_path / "sel", objective=objective)
    assert selector_path("zap-hpo", tmp_path / "sel", "final").name == "zap-hpo--final.zsel"
    single = load_selector(tmp_path / "sel" / "single-best.zsel")
    assert isinstance(single.selector, PerLevel) and single.context["levels"] == [20.0, 60.0]
    meta = MetaFeatures.from_dict({"n_channels": 3, "n_classes": 10, "n_train": 500, "resolution": 32})
    at_60 = suggest(meta, "single-best", k=8, folder=tmp_path / "sel", budget_ref=60.0)
    level_60 = {c["id"] for c in single.context["candidates"] if 60.0 in c["levels"]}
    assert {s.pipeline_id for s in at_60.suggestions[:6]} == level_60  # the level's own candidates first
    ranks = [[s.pipeline_id for s in suggest(meta, "zap-hpo", k=8, folder=tmp_path / "sel", budget_ref=b,
                                             fallback=False).suggestions] for b in (20.0, 60.0)]
    assert ranks[0] != ranks[1]  # the budget is an input
    # ZAP-HPO scores every candidate, but offers at a budget only the candidates measured at its nearest level,
    # the ones the benchmark judged it on and the fallback rule can check: inside the training range the rule
    # once failed on a level-20-only pick at 60 ref-s
    assert len(ranks[0]) == 8 and set(ranks[1]) == level_60
    for dataset in synthetic_levels_artifact()["datasets"]:
        inside = MetaFeatures.from_dict(dataset["meta_features"])
        for budget in (45.0, 60.0, 90.0):
            result = suggest(inside, "zap-hpo", k=8, folder=tmp_path / "sel", budget_ref=budget)
            assert {s.pipeline_id for s in result.suggestions} == level_60 and "reason" in result.fallback
    far = suggest(meta, "zap-hpo", folder=tmp_path / "sel", budget_ref=2000.0)
    assert any("outside the meta-dataset's levels" in w for w in far.warnings)
    if far.fallback["pick"] != far.fallback["single_best"]:  # a budget the selector never saw: Single-best
        assert far.fallback["fell_back"] and "outside the levels" in far.fallback["reason"]
    final = suggest(meta, "zap-hpo", folder=tmp_path / "sel", objective="final", budget_ref=60.0)
    assert final.trained_on["objective"] == "final"


def test_the_fallback_takes_single_best_exactly_where_the_meta_features_are_unseen(problem):
    """Where a held-out dataset lies outside the training rows' meta-feature range the fallback's pick is
    Single-best's; elsewhere it is ZAP-HPO's, at no extra training."""
    odd = problem.subset(np.arange(problem.n_datasets))
    held = np.flatnonzero(odd.cores == "core2")
    inside = np.flatnonzero(odd.cores != "core2")[0]
    odd.meta_features[held[1:]] = odd.meta_features[inside]  # like a training dataset
    odd.meta_features[held[0], 3] = odd.meta_features[:, 3].max() * 4  # an unseen resolution
    settings = Settings(repetitions=1, methods=("zap-hpo", "single-best", "oracle"), ablations=("zap-hpo-fallback",),
                        hpo_epochs=2)
    level = run_fold(odd, settings, "core2")["levels"]["20"]["methods"]
    fallback, hpo, best = (level[m][0]["picks"] for m in ("zap-hpo-fallback", "zap-hpo", "single-best"))
    fell = level["zap-hpo-fallback"][0]["fell_back"]
    assert fell[0] or hpo[0] == best[0]  # the unseen resolution: always Single-best
    # elsewhere exactly where the rule built from the fold's training rows says so (its margin criterion)
    from zap.selectors.fallback import LevelRule

    rule = LevelRule.of(odd, odd.cores != "core2")
    assert fell[1:] == [rule.decide(odd.meta_features[i], p).fall_back for i, p in zip(held[1:], hpo[1:], strict=True)]
    assert fallback == [b if f else h for f, h, b in zip(fell, hpo, best, strict=True)]


def test_a_level_with_no_complete_dataset_is_left_out_and_an_artifact_with_none_is_refused(tmp_path, capsys):
    """A v2 build measures the lowest level first: the higher levels have nothing to hold out yet. The
    benchmark scores what it can and says so; where nothing can be scored it says how to get there."""
    import gzip

    from synthetic import synthetic_levels_artifact

    payload = synthetic_levels_artifact()
    for matrix in payload["levels"]["60"]["matrices"].values():
        matrix["alc"] = matrix["final_nauc"] = [[None] * len(row) for row in matrix["alc"]]
    path = tmp_path / "levels.json.gz"
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    args = ["--protocol", "loco", "--repetitions", "1", "--methods", "knn", "--no-ablations", "--workers", "0",
            "--objective", "alc", "--max-folds", "1"]
    assert main(["benchmark", str(path), "--out", str(tmp_path / "b"), *args]) == 0
    assert "budget level(s) 60 s have no dataset measured on every candidate" in capsys.readouterr().err
    assert list(json.loads((tmp_path / "b" / "loco.json").read_text())["alc"]) == ["20"]
    assert main(["metadataset", "diversity", str(path), "--json"]) == 0  # every level reported, the empty one too
    report = json.loads(capsys.readouterr().out)
    assert report["budgets"] == [20, 60] and report["levels"]["20"]["n_datasets"] == 18
    assert report["levels"]["60"]["n_datasets"] == 0 and "no dataset" in report["levels"]["60"]["note"]
    for matrix in payload["levels"]["20"]["matrices"].values():
        matrix["alc"] = matrix["final_nauc"] = [[None] * len(row) for row in matrix["alc"]]
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    assert main(["benchmark", str(path), "--out", str(tmp_path / "c"), *args]) == 2
    assert "no budget level of this artifact has a dataset measured on every candidate" in capsys.readouterr().err


def test_levels_option_benchmarks_only_the_levels_asked_for(tmp_path, capsys):
    """The reduced level-20 run happens while level 60 is built: level 60's first complete datasets must not
    slip into it. A budget that is not a level is refused before any fold runs, naming the levels there are."""
    import gzip

    from synthetic import synthetic_levels_artifact

    path = tmp_path / "levels.json.gz"
    path.write_bytes(gzip.compress(json.dumps(synthetic_levels_artifact()).encode()))
    args = ["--protocol", "loco", "--repetitions", "1", "--methods", "knn", "--no-ablations", "--workers", "0",
            "--objective", "alc", "--max-folds", "1"]
    assert main(["benchmark", str(path), "--out", str(tmp_path / "b"), "--levels", "20", *args]) == 0
    assert list(json.loads((tmp_path / "b" / "loco.json").read_text())["alc"]) == ["20"]
    assert main(["benchmark", str(path), "--out", str(tmp_path / "c"), "--levels", "45", *args]) == 2
    assert "budget level(s) 45 are not levels of this artifact; it has 20, 60" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    # the same folder again over every level: level 20's folds were fitted without level 60 and are not reused
    fold = next((tmp_path / "b" / "folds").glob("*.json"))
    only_20 = json.loads(fold.read_text())["settings"]["data"]
    assert main(["benchmark", str(path), "--out", str(tmp_path / "b"), *args]) == 0
    assert list(json.loads((tmp_path / "b" / "loco.json").read_text())["alc"]) == ["20", "60"]
    both = json.loads(fold.read_text())["settings"]["data"]
    assert both != only_20
    payload = synthetic_levels_artifact()  # a re-export with one cell more (here: one cell changed)
    payload["levels"]["60"]["matrices"]["0"]["alc"][0][0] += 0.01
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    assert main(["benchmark", str(path), "--out", str(tmp_path / "b"), *args]) == 0
    assert json.loads(fold.read_text())["settings"]["data"] not in (only_20, both)


def test_folds_option_scores_the_named_groups_and_refuses_unknown_ones_before_any_work(tmp_path, capsys):
    from synthetic import synthetic_levels_artifact

    path = tmp_path / "levels.json.gz"
    payload = synthetic_levels_artifact()
    path.write_bytes(gzip.compress(json.dumps(payload).encode()))
    cores = sorted({d["core"] for d in payload["datasets"]})
    args = ["--protocol", "loco", "--repetitions", "1", "--methods", "knn", "--no-ablations", "--workers", "0",
            "--objective", "alc", "--rerun-picks", "0"]
    assert main(["benchmark", str(path), "--out", str(tmp_path / "b"), "--folds", cores[-1], cores[1], *args]) == 0
    assert sorted(p.name for p in (tmp_path / "b" / "folds").glob("*.json")) == [
        f"loco--alc--{cores[1]}.json", f"loco--alc--{cores[-1]}.json"]
    assert main(["benchmark", str(path), "--out", str(tmp_path / "c"), "--folds", "nope", "--protocol", "loco",
                 "lodo", *args[2:]]) == 2
    assert "--folds nope: not among the loco folds' cores" in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_level_hash_tells_a_re_export_with_more_cells_apart():
    """Stored study results are keyed by it: the protocol hash stays the same while a build fills cells in."""
    import copy

    from synthetic import synthetic_levels_artifact
    from zap.metadataset.artifact import content_hash, level_hash

    payload = synthetic_levels_artifact()
    more = copy.deepcopy(payload)
    first = more["levels"]["60"]["matrices"][str(more["seeds"][0])]
    first["alc"][0][0] = 0.123  # one cell measured differently at 60 s
    assert level_hash(payload, 20) == level_hash(more, 20) == level_hash(copy.deepcopy(payload), 20)
    assert level_hash(payload, 60) != level_hash(more, 60) and content_hash(payload) != content_hash(more)
    assert more["levels"]["60"]["protocol_hash"] == payload["levels"]["60"]["protocol_hash"]


def _fold(core: str, scores: dict[str, float]) -> dict:
    return {"datasets": [f"{core}-d"], "cores": [core],
            "methods": {m: [{"score": [v], "alc": [v], "nauc": [v]}] for m, v in scores.items()}}


@pytest.mark.parametrize("rerun_ahead", [True, False])
def test_gap_closed_against_the_rerun_oracle_is_empty_where_that_oracle_trails_single_best(rerun_ahead):
    from zap.benchmark.report import summary, tables

    rerun = 0.70 if rerun_ahead else 0.55
    folds = [_fold(c, {"zap-hpo": 0.58 + i / 100, "single-best": 0.60, "oracle": 0.80, "oracle-rerun": rerun})
             for i, c in enumerate(["a", "b", "c"])]
    result = summary(folds)
    worse = result["zap-hpo"]["score"] - result["single-best"]["score"]
    assert worse < 0 and result["zap-hpo"]["gap_closed"] < 0
    if rerun_ahead:
        assert result["zap-hpo"]["gap_closed_rerun"] == pytest.approx(worse / (0.70 - 0.60))
        assert "no re-run gap" not in tables(result, folds)
    else:  # a ratio over the negative gap would read as +0.2 for a method worse than Single-best
        assert result["zap-hpo"]["gap_closed_rerun"] is None
        assert "re-run Oracle (0.550) does not beat Single-best (0.600)" in tables(result, folds)


def test_only_zap_as_takes_the_folds_tuned_configuration():
    from zap.benchmark.loco import Settings, make_selector
    from zap.selectors.zap_as import AUTOFOLIO_DEFAULT

    tuned = {"selector": "classifier", "pca": True, "pca_n_components": 1}
    settings = Settings()
    zap_as = make_selector("zap-as", settings, 0, tuned)
    assert (zap_as.config, zap_as.tune) == (tuned, False)
    reference = make_selector("autofolio-default", settings, 0, tuned)  # the reference stays AutoFolio's default
    assert (reference.config, reference.tune) == (AUTOFOLIO_DEFAULT, False)
    assert make_selector("autofolio-default", settings, 1).config == AUTOFOLIO_DEFAULT


def test_folds_of_an_earlier_fold_version_are_computed_again(tmp_path):
    from zap.benchmark.loco import FOLD_VERSION, Settings, _settings_record, _valid_fold_file

    settings = Settings()
    path = tmp_path / "fold.json"
    path.write_text(json.dumps({"settings": _settings_record(settings)}))
    assert _valid_fold_file(path, settings)
    older = {k: v for k, v in _settings_record(settings).items() if k != "version"}  # written before versions
    path.write_text(json.dumps({"settings": older}))
    assert FOLD_VERSION >= 2 and not _valid_fold_file(path, settings)


def test_gap_closed_against_the_rerun_oracle_compares_on_the_datasets_it_was_rerun_on():
    """Where only some picks of the Oracle have a second seed, every method is set against it on those
    datasets alone: here Single-best is as good as the re-run Oracle where it was re-run (gap 0.1 there) and
    ZAP-HPO closes half of that, whatever the datasets without a second seed hold."""
    from zap.benchmark.report import summary

    def fold(core: str, hpo: list[float], rerun: list[float]) -> dict:
        rows = {"zap-hpo": hpo, "single-best": [0.60, 0.20], "oracle": [0.80, 0.90], "oracle-rerun": rerun}
        return {"datasets": [f"{core}-1", f"{core}-2"], "cores": [core, core],
                "methods": {m: [{"score": v, "alc": v, "nauc": v}] for m, v in rows.items()}}

    folds = [fold(c, [0.65, 0.90], [0.70, np.nan]) for c in ("a", "b")]
    result = summary(folds)
    assert result["oracle-rerun"]["score"] == pytest.approx(0.70)  # its own datasets
    assert result["single-best"]["score"] == pytest.approx(0.40)  # all datasets
    assert result["zap-hpo"]["gap_closed_rerun"] == pytest.approx(0.5)  # (0.65 - 0.60) / (0.70 - 0.60)


def test_a_home_with_budget_level_selectors_suggests_and_fits_end_to_end(tmp_path, monkeypatch, capsys):
    """v2's shape from the command line: a home whose meta-dataset has budget levels and whose selectors were
    meta-trained on it. `zap suggest` and `zap fit` rank for the budget in reference seconds, among the
    candidates of the level nearest it, with the fallback decided, and `summary.json` says so."""
    from synthetic import synthetic_levels_artifact
    from zap import resources
    from zap.selectors.trained import meta_train

    home = tmp_path / "home"
    payload = synthetic_levels_artifact(budgets=(2.0, 6.0))
    artifact = home / resources.ARTIFACT
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(gzip.compress(json.dumps(payload).encode()))
    meta_train(artifact, ("zap-hpo", "single-best"), home / resources.SELECTORS)
    monkeypatch.setenv(resources.HOME_VARIABLE, str(home))
    monkeypatch.delenv(resources.SELECTORS_VARIABLE, raising=False)
    at_6 = set(payload["levels"]["6"]["candidates"])
    capsys.readouterr()
    assert main(["suggest", "digits", "--budget", "6", "--clock", "ref", "--k", "8", "--json"]) == 0
    suggested = json.loads(capsys.readouterr().out)
    assert {s["pipeline_id"] for s in suggested["suggestions"]} == at_6 and "reason" in suggested["fallback"]
    out = tmp_path / "run"
    assert main(["fit", "digits", "--budget", "6", "--clock", "ref", "--selector", "zap-hpo", "--strategy",
                 "zero-shot", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget_ref_s"] == 6.0 and summary["selection"]["pipeline_id"] in at_6
    assert summary["selection"]["fallback"]["reason"] and summary["objective"] == "alc"


def test_a_fold_saved_under_a_method_s_old_name_is_still_valid(tmp_path):
    """Renaming `default` to `autodl-default` must not make every stored fold be computed again; a fold saved
    with other methods still is."""
    from zap.benchmark.loco import Settings, _settings_record, _valid_fold_file

    settings = Settings()
    record = _settings_record(settings)
    old = record | {"methods": ["default" if m == "autodl-default" else m for m in record["methods"]]}
    assert old != record
    (tmp_path / "old.json").write_text(json.dumps({"settings": old}))
    assert _valid_fold_file(tmp_path / "old.json", settings)
    (tmp_path / "other.json").write_text(json.dumps({"settings": old | {"methods": ["zap-hpo"]}}))
    assert not _valid_fold_file(tmp_path / "other.json", settings)

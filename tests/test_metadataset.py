"""The meta-dataset machinery: store, protocol hash, tasks, and builds on a real 2-worker LocalCluster,
including a worker killed mid-task and a builder killed with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from conftest import V1_PLAN
from zap.errors import ConfigError
from zap.metadataset import Store, Task, TaskKey, build, key_of, load_plan, matrix_tasks, read_records, run_task
from zap.metadataset.plan import create_plan
from zap.metadataset.protocol import Protocol


def record(dataset="d", pipeline="p", seed=0, alc=0.5):
    return {"dataset": dataset, "pipeline_id": pipeline, "budget": 20.0, "clock": "cpu", "seed": seed, "alc": alc}


def test_store_is_append_only_and_idempotent(tmp_path):
    store = Store(tmp_path)
    assert store.add(record()) and not store.add(record(alc=0.9))
    assert store.add(record(seed=1))
    with open(store.shard, "a") as handle:
        handle.write('{"dataset": "torn", "pipel')  # a builder killed mid-line
    again = Store(tmp_path)
    assert len(again) == 2 and again.records[TaskKey("d", "p", 20.0, "cpu", 0)]["alc"] == 0.5
    assert again.add(record(dataset="e")) and len(list(read_records(tmp_path))) == 3


def test_a_store_for_one_runner_version_ignores_records_of_another(tmp_path):
    old, new = record(alc=0.9) | {"provenance": {}}, record(seed=1) | {"provenance": {"runner": 2}}
    (tmp_path / "a.jsonl").write_text(json.dumps(old) + "\n" + json.dumps(new) + "\n")
    assert len(Store(tmp_path)) == 2
    current = Store(tmp_path, runner=2)
    assert list(current.records) == [TaskKey("d", "p", 20.0, "cpu", 1)] and current.skipped == 1
    assert current.add(record(alc=0.5) | {"provenance": {"runner": 2}})  # the old cell is computed again


def test_duplicate_keys_across_shards_count_once(tmp_path):
    for name in ("a.jsonl", "b.jsonl"):
        (tmp_path / name).write_text(json.dumps(record()) + "\n")
    assert len(Store(tmp_path)) == 1


@pytest.fixture(scope="module")
def tiny_plan(tmp_path_factory):
    """2 variants of the sklearn digits x the 2 named pipelines, 3-step budgets: 4 quick cells."""
    cache = str(tmp_path_factory.mktemp("cache"))
    folder = tmp_path_factory.mktemp("plan")
    create_plan(folder, n_variants=2, budget=3, clock="steps", cores=["digits-sklearn"], cache=cache)
    return folder, cache


def test_protocol_hash_covers_protocol_not_candidates(tiny_plan):
    folder, _ = tiny_plan
    plan = load_plan(folder)
    before = plan.protocol.spec_hash()
    plan.add_candidates([{"optimizer": "Adam", "lr": 1e-3, "architecture": "efficientnet_lite0"}], "test")
    assert load_plan(folder).protocol.spec_hash() == before and len(load_plan(folder).candidates) == 3
    plan.candidates.pop()
    (folder / "candidates.json").write_text(json.dumps(plan.candidates))
    assert Protocol(budget=4, clock="steps", datasets=plan.protocol.datasets).spec_hash() != before
    assert Protocol(budget=3, clock="steps", datasets=plan.protocol.datasets[:1]).spec_hash() != before


def test_run_task_records_the_curve_and_failures(tiny_plan):
    folder, cache = tiny_plan
    plan = load_plan(folder)
    task = matrix_tasks(plan.protocol, plan.pipelines()[1:])[0]
    result = run_task(task, cache)
    assert result["status"] == "ok" and result["curve"] and 0 < result["alc"] <= 1
    assert result["n_test"] <= 300 and result["provenance"]["threads"] == 1
    bad = Task(task.dataset, {"architecture": "no-such-net"}, 3, "steps", 0, 3)
    failed = run_task(bad, cache)
    assert failed["status"] == "failed" and failed["alc"] == 0.0 and "no-such-net" in failed["error"]


@pytest.fixture(scope="module")
def client():
    from zap.engine import EngineSpec, make_client

    with make_client(EngineSpec(workers=2)) as c:
        yield c


def test_local_workers_run_without_dask_malloc_trim_threshold_or_profiler(client):
    env = client.run(lambda: {k: v for k, v in __import__("os").environ.items() if k.startswith("MALLOC_")})
    assert env and all(not values for values in env.values())
    profiling = client.run(lambda: __import__("dask").config.get("distributed.worker.profile.enabled"))
    assert profiling and not any(profiling.values())
    assert all(v == {"OMP_NUM_THREADS": "1"} for v in client.run(
        lambda: {"OMP_NUM_THREADS": __import__("os").environ.get("OMP_NUM_THREADS")}).values())


def test_build_on_two_workers_then_rerun_computes_nothing(tiny_plan, client, tmp_path):
    folder, cache = tiny_plan
    plan = load_plan(folder)
    tasks = matrix_tasks(plan.protocol, plan.pipelines())
    store = Store(tmp_path / "records")
    report = build(tasks, store, client, cache=cache, progress=False)
    assert report.written == len(tasks) == 4 and len(store) == 4
    assert build(tasks, Store(tmp_path / "records"), client, cache=cache, progress=False).submitted == 0


@pytest.mark.slow
def test_a_worker_killed_mid_task_still_completes_the_build(tiny_plan, client, tmp_path):
    folder, cache = tiny_plan
    plan = load_plan(folder)
    tasks = matrix_tasks(plan.protocol, plan.pipelines(), seeds=(7, 8))
    store = Store(tmp_path / "records")
    reports = []
    builder = threading.Thread(target=lambda: reports.append(build(tasks, store, client, cache, progress=False)))
    builder.start()
    deadline = time.time() + 60
    while time.time() < deadline and not any(client.processing().values()):
        time.sleep(0.1)
    busy = next(w for w, running in client.processing().items() if running)
    pid = client.run(os.getpid, workers=[busy])[busy]
    os.kill(pid, signal.SIGKILL)  # the nanny restarts it; the scheduler reschedules its task
    builder.join(timeout=300)
    assert not builder.is_alive()
    assert {key_of(t) for t in tasks} <= set(Store(tmp_path / "records").records)


@pytest.mark.slow
def test_a_builder_killed_with_sigkill_resumes_without_duplicates(tiny_plan, tmp_path):
    folder, cache = tiny_plan
    plan_folder = tmp_path / "plan"
    plan_folder.mkdir()
    for name in ("plan.json", "datasets.json", "candidates.json"):
        (plan_folder / name).write_text((folder / name).read_text())
    command = [sys.executable, "-m", "zap.cli", "metadataset", "build", "--plan", str(plan_folder), "--workers",
               "2", "--cache", cache, "--quiet", "--seeds", "0", "1",
               "--extra-seed-share", "0"]
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = plan_folder / "records"
    deadline = time.time() + 180
    while time.time() < deadline and len(list(read_records(records))) < 2:
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the builder and its workers, mid-build
    first.wait()
    partial = len(list(read_records(records)))
    assert 2 <= partial < 8
    subprocess.run(command, check=True, timeout=300, capture_output=True)
    keys = Counter(TaskKey.of(r) for r in read_records(records))
    assert len(keys) == 8 and set(keys.values()) == {1}


def test_smac_hpo_on_a_tiny_dataset_ranks_trials_and_stores_them(tiny_plan, tmp_path):
    from zap.metadataset.hpo import load_hpo, run_hpo

    folder, cache = tiny_plan
    plan = load_plan(folder)
    result = run_hpo(plan.protocol.datasets[0], plan.protocol, tmp_path, n_trials=6, cache=cache)
    assert result.trials and {t["budget"] for t in result.trials} <= {0.75, 1.5, 3.0}
    top = [t for t in result.trials if t["budget"] == result.trials[0]["budget"]]
    assert top == sorted(top, key=lambda t: -t["alc"])
    assert load_hpo(tmp_path / f"{plan.protocol.datasets[0].name}.json").trials == result.trials
    stored = list(read_records(tmp_path / "records"))
    assert len(stored) >= len(result.trials) and all(r["curve"] for r in stored if r["status"] == "ok")


def test_candidates_round_robin_over_runs():
    from zap.metadataset.hpo import HPOResult, select_candidates

    def trial(pid, alc, budget=20.0):
        return {"pipeline_id": pid, "config": {"id": pid}, "budget": budget, "alc": alc}

    # a configuration counts by its highest-budget trial: "y" fell from 0.95 at 5 s to 0.5 at 20 s, and
    # "early", stopped at 10 s (another bracket), still beats it as a lower bound of its ALC at T
    runs = [HPOResult("a", [trial("x", 0.9), trial("y", 0.5), trial("y", 0.95, 5.0), trial("early", 0.6, 10.0)],
                      1.0),
            HPOResult("b", [trial("x", 0.7), trial("z", 0.6)], 1.0)]
    assert [c["id"] for c in select_candidates(runs, 3)] == ["x", "early", "z"]
    assert [c["id"] for c in select_candidates(runs, 4)] == ["x", "early", "z", "y"]
    assert [c["id"] for c in select_candidates(runs, 1)] == ["x"]


def test_slurm_job_script_runs_single_thread_workers():
    from zap.engine import EngineSpec, slurm_cluster

    cluster = slurm_cluster(EngineSpec(cluster="slurm", slurm_queue="cpu", slurm_memory="6GB"))
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p cpu" in script and "--nthreads 1" in script and "export OMP_NUM_THREADS=1" in script
    assert "#SBATCH --mem=" in script and "distributed.cli.dask_worker" in script
    assert "export MALLOC_MMAP_THRESHOLD_=33554432" in script
    assert "export DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=False" in script


def test_export_and_info_report_missing_cells(tiny_plan, tmp_path, capsys):
    from zap.cli import main
    from zap.metadataset.artifact import export, load

    folder, cache = tiny_plan
    plan = load_plan(folder)
    task = matrix_tasks(plan.protocol, plan.pipelines())[0]
    plan.store.add(run_task(task, cache))
    summary = export(plan, tmp_path / "md.json.gz")
    assert summary["n_datasets"] == 2 and summary["n_candidates"] == 2 and summary["n_missing"] == 3
    payload = load(tmp_path / "md.json.gz")
    assert payload["protocol_hash"] == plan.protocol.spec_hash()
    assert len(payload["candidates"][0]["encoding"]) == len(payload["encoding_names"])
    (cell, curve), = payload["matrices"]["0"]["curves"].items()  # the one measured cell, with its curve
    assert cell == "0,0" and curve and all(len(point) == 2 for point in curve)
    assert [t for t, _ in curve] == sorted(t for t, _ in curve)
    assert main(["metadataset", "info", str(tmp_path / "md.json.gz"), "--json"]) == 0
    reported = json.loads(capsys.readouterr().out)
    assert reported["n_missing"] == 3 and reported["clock"] == "steps" and reported["budget_s"] == 3


def test_picks_are_rerun_for_real_beside_their_stored_alc(tiny_plan, tmp_path, monkeypatch):
    import zap.benchmark.rerun as rerun
    from zap.metadataset.artifact import export, load

    folder, cache = tiny_plan
    plan = load_plan(folder)
    for task in matrix_tasks(plan.protocol, plan.pipelines()):
        plan.store.add(run_task(task, cache))
    export(plan, tmp_path / "md.json.gz")
    payload = load(tmp_path / "md.json.gz")
    datasets, ids = [d["id"] for d in payload["datasets"]], [c["id"] for c in payload["candidates"]]
    stored = payload["matrices"]["0"]["alc"]
    fold = {"group": "digits-sklearn", "datasets": datasets, "methods": {"zap-hpo": [
        {"picks": [ids[1], ids[0]], "alc": [stored[0][1], stored[1][0]], "alc_repeat": [None, None]}]}}
    result = rerun.rerun_picks(payload, [fold], tmp_path / "rerun", methods=("zap-hpo",), n=1, cache=cache)
    (row,) = result["rows"]  # the fold's last dataset, the pick made for it
    assert row["dataset"] == datasets[1] and row["pipeline_id"] == ids[0] and row["stored_alc"] == stored[1][0]
    assert 0 < row["rerun_alc"] <= 1 and row["diff"] == pytest.approx(row["rerun_alc"] - row["stored_alc"])
    (record,) = read_records(tmp_path / "rerun")
    assert record["seed"] == rerun.RERUN_SEED and record["dataset"] == datasets[1]
    monkeypatch.setattr(rerun, "run_task", lambda *a: pytest.fail("a stored re-run was computed again"))
    assert rerun.rerun_picks(payload, [fold], tmp_path / "rerun", methods=("zap-hpo",), n=1)["rows"] == [row]
    assert "| zap-hpo |" in rerun.rerun_table(result)


def test_answered_by_names_the_model_whose_prediction_stood_at_t():
    from zap.metadataset.artifact import answered_by

    simple_then_cnn = {"curve": [[0.3, 0.2, 0, 0.9, 0.9], [9.0, 8.0, 40, 0.95, 0.95], [25.0, 21.0, 90, 0.97, 0.97]]}
    assert answered_by(simple_then_cnn, "cpu", 20.0) == "cnn"
    assert answered_by(simple_then_cnn, "cpu", 5.0) == "simple_model"  # the CNN's first came after T
    assert answered_by({"curve": [[25.0, 21.0, 90, 0.97, 0.97]]}, "cpu", 20.0) is None


def test_each_dataset_gets_its_own_smac_seed(tiny_plan):
    from zap.metadataset.hpo import dataset_seed

    folder, _ = tiny_plan
    seeds = {dataset_seed(d) for d in load_plan(folder).protocol.datasets}
    assert len(seeds) == 2 and all(0 <= s < 2**31 for s in seeds)


def _spec(core, index):
    from zap.data.augment import VariantSpec

    return VariantSpec(core=core, domain="d", index=index, seed=0, classes=(0, 1), n_train=10, resolution=16,
                       channels=1, max_test=10)


def test_builds_go_breadth_first_over_cores_and_extra_seeds_come_last():
    from zap.metadataset import protocol_tasks

    datasets = tuple(_spec(core, i) for core in ("a", "b", "c") for i in range(2))
    protocol = Protocol(budget=3, clock="steps", datasets=datasets)
    pipelines = [{"lr": lr} for lr in (1e-3, 1e-2, 1e-1, 1.0)]
    tasks = protocol_tasks(protocol, pipelines, seeds=(0,), extra_seed_share=0.5)
    first = [t for t in tasks if t.seed == 0]
    assert len(first) == 24 and tasks[:24] == first  # the whole matrix before any extra seed
    order = list(dict.fromkeys((t.dataset.core, t.dataset.index) for t in first))
    assert order == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1)]
    extra = tasks[24:]
    assert extra and all(t.seed == 1 for t in extra) and len(extra) < 24


def test_extra_seed_cells_are_a_stable_share_independent_of_candidate_order():
    from zap.metadataset import sample_cells

    datasets = tuple(_spec(f"core{i}", 0) for i in range(40))
    protocol = Protocol(budget=3, clock="steps", datasets=datasets)
    pipelines = [{"lr": 10.0 ** -k} for k in range(1, 11)]
    tasks = matrix_tasks(protocol, pipelines)
    chosen = {key_of(t) for t in sample_cells(tasks, 0.1)}
    again = {key_of(t) for t in sample_cells(matrix_tasks(protocol, pipelines[::-1]), 0.1)}
    assert chosen == again and 20 <= len(chosen) <= 60  # 400 cells, 10 % expected
    with pytest.raises(ValueError, match="share"):
        sample_cells(tasks, 0.0)


def test_extra_seeds_on_each_complete_datasets_best_cells(tmp_path):
    from zap.metadataset import protocol_tasks
    from zap.metadataset.build import top_cells

    datasets = tuple(_spec(core, 0) for core in ("a", "b"))
    protocol = Protocol(budget=3, clock="steps", datasets=datasets)
    pipelines = [{"lr": lr} for lr in (1e-3, 1e-2, 1e-1)]
    store = Store(tmp_path)
    first = matrix_tasks(protocol, pipelines)
    for task, alc in zip(first[:3], (0.2, 0.9, 0.5), strict=True):  # dataset a complete, b not measured
        key = key_of(task)
        store.add({"dataset": key.dataset, "pipeline_id": key.pipeline, "budget": key.budget, "clock": key.clock,
                   "seed": 0, "alc": alc})
    chosen = top_cells(protocol, pipelines, store, seed=0, k=2)
    assert [(t.dataset.name, t.pipeline_id, t.seed) for t in chosen] == [
        (first[i].dataset.name, first[i].pipeline_id, 1) for i in (1, 2)]
    both = protocol_tasks(protocol, pipelines, extra_seed_share=1.0, extra_seed_top=2, store=store)
    assert len(both) == len({key_of(t) for t in both}) == 12  # the top cells were already in the share
    with pytest.raises(ValueError, match="store"):
        protocol_tasks(protocol, pipelines, extra_seed_top=1)


def test_extra_seeds_on_the_best_cells_by_final_nauc_too(tmp_path):
    """The final-NAUC Oracle picks other cells than the ALC one: ranked by both, each dataset's best cells by
    either measure get their second seed, so both Oracles can be re-run."""
    from zap.metadataset.build import top_cells

    protocol = Protocol(budget=3, clock="steps", datasets=(_spec("a", 0),))
    pipelines = [{"lr": lr} for lr in (1e-3, 1e-2, 1e-1)]
    store = Store(tmp_path)
    first = matrix_tasks(protocol, pipelines)
    # (ALC, NAUC of the last prediction within T = 3 steps): the early answer wins ALC, the late one the end
    for task, alc, final in zip(first, (0.9, 0.3, 0.5), (0.4, 0.95, 0.6), strict=True):
        key = key_of(task)
        store.add({"dataset": key.dataset, "pipeline_id": key.pipeline, "budget": key.budget, "clock": key.clock,
                   "seed": 0, "alc": alc, "status": "ok", "curve": [[0.0, 0.0, 3, final, final, 0.0]]})

    def pipelines_of(by):
        ids = [t.pipeline_id for t in first]
        return [ids.index(t.pipeline_id) for t in top_cells(protocol, pipelines, store, 0, 1, by)]

    assert pipelines_of(("alc",)) == [0] and pipelines_of(("final",)) == [1]
    assert pipelines_of(("alc", "final")) == [0, 1]
    with pytest.raises(ValueError, match="ranked by alc or final"):
        top_cells(protocol, pipelines, store, 0, 1, ("accuracy",))


def test_v1_hashes_are_what_the_stored_records_and_artifact_carry():
    """Catches a change of the canonical JSON behind `stable_hash` (separators, key order, digits): it would
    give every v1 candidate a new pipeline id and the artifact a new protocol hash, orphaning all records."""
    from zap.metadataset.artifact import load
    from zap.pipelines import pipeline_id
    from zap.utils import stable_hash

    candidates = json.loads((V1_PLAN / "candidates.json").read_text())
    assert [pipeline_id(c["config"]) for c in candidates] == [c["pipeline_id"] for c in candidates]
    artifact = Path(__file__).resolve().parents[1] / "artifacts" / "metadataset" / "v1.json.gz"
    if artifact.exists():
        payload = load(artifact)
        assert stable_hash(payload["protocol"]) == payload["protocol_hash"]


def test_v1_variants_are_drawn_again_with_seed_rule_1(tiny_plan):
    """Catches a change to how variants are drawn that would leave v1's stored specs irreproducible."""
    from zap.data.augment import VariantSpec, draw_variants
    from zap.data.core import load_core

    _, cache = tiny_plan
    stored = [VariantSpec.from_dict(d) for d in json.loads((V1_PLAN / "datasets.json").read_text())
              if d["core"] == "digits-sklearn"]
    assert len(stored) == 4
    assert draw_variants(load_core("digits-sklearn", cache), 4, 0, max_test=300, seed_rule=1) == stored


def test_anagram_cores_draw_alike_only_under_v1s_seed_rule(tiny_plan):
    """The new rule's reason: rule 1 summed character codes, so two cores whose names are anagrams drew
    the same variants; rule 2 must tell them apart."""
    from dataclasses import replace

    from zap.data.augment import SEED_RULE, draw_variants
    from zap.data.core import load_core
    from zap.data.core.store import Core

    core = load_core("digits-sklearn", tiny_plan[1])
    anagram = Core(replace(core.spec, name="sklearn-digits"), core.dataset, core.test)

    def draws(c, rule):
        return [(s.classes, s.n_train, s.resolution) for s in draw_variants(c, 4, 0, seed_rule=rule)]

    assert draws(core, 1) == draws(anagram, 1)
    assert draws(core, SEED_RULE) != draws(anagram, SEED_RULE)
    with pytest.raises(ValueError, match="seed rule"):
        draw_variants(core, 1, 0, seed_rule=9)


def test_name_seeds_are_pinned():
    """SMAC's per-dataset seeds come from the dataset's name; a change of that rule would re-seed every
    HPO run and break the resumption of a half-done `zap metadataset hpo`."""
    from zap.metadataset.hpo import dataset_seed

    assert dataset_seed(_spec("digits-sklearn", 0)) == 1_686_703_953


def test_status_and_export_json_report_the_cells(tiny_plan, tmp_path, capsys):
    """Catches `--json` accepted and ignored (export once did so) and a status that miscounts the cells."""
    from zap.cli import main

    _, cache = tiny_plan
    plan = create_plan(tmp_path / "plan", n_variants=2, budget=3, clock="steps", cores=["digits-sklearn"],
                       cache=cache)
    status = ["metadataset", "status", "--plan", str(plan.folder), "--extra-seed-share", "0", "--json"]
    assert main(status) == 0
    counts = json.loads(capsys.readouterr().out)
    assert (counts["done"], counts["total"], counts["missing"]) == (0, 4, 4)
    plan.store.add(run_task(matrix_tasks(plan.protocol, plan.pipelines())[0], cache))
    assert main(status) == 0
    assert json.loads(capsys.readouterr().out)["done"] == 1
    out = tmp_path / "md.json.gz"
    assert main(["metadataset", "export", "--plan", str(plan.folder), "--out", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_missing"] == 3
    with pytest.raises(SystemExit):  # HPO seeds each run from its dataset's name: no --seeds to ignore
        main(["metadataset", "hpo", "--plan", str(plan.folder), "--seeds", "1"])


def test_tune_plan_runs_only_pending_datasets_and_adds_their_best(tiny_plan, tmp_path, monkeypatch):
    """Catches HPO run again on a dataset that has its finished run (hours of SMAC wasted on a resumed
    `zap metadataset hpo`) and finished runs that never reach the candidate list."""
    import contextlib

    import zap.engine
    from zap.metadataset import hpo

    _, cache = tiny_plan
    plan = create_plan(tmp_path / "plan", n_variants=2, budget=3, clock="steps", cores=["digits-sklearn"],
                       cache=cache)
    ran = []

    def fake_run_hpo(dataset, protocol, folder, n_trials, client, cache, seed, costs=None):
        ran.append((dataset.name, seed))
        trials = [{"pipeline_id": "x", "config": {"architecture": "mobilenetv2", "lr": 0.01}, "budget": 3.0,
                   "alc": 0.8}]
        hpo.atomic_write_json(folder / f"{dataset.name}.json",
                              {"dataset": dataset.name, "seconds": 1.0, "trials": trials})
        return hpo.HPOResult(dataset.name, trials, 1.0)

    monkeypatch.setattr(hpo, "run_hpo", fake_run_hpo)
    monkeypatch.setattr(zap.engine, "make_client", lambda spec: contextlib.nullcontext())
    said = []
    first = hpo.tune_plan(plan, progress=said.append)
    assert ran == [("digits-sklearn--s0v0", hpo.dataset_seed(plan.protocol.datasets[0]))]
    assert (first.n_runs, first.added, first.n_candidates) == (1, 1, 3) and "best ALC 0.800" in said[0]
    again = hpo.tune_plan(plan)
    assert len(ran) == 1 and (again.ran, again.added, again.n_candidates) == ([], 0, 3)


def test_a_multilevel_ref_plan_builds_each_level_over_its_own_candidates(tmp_path):
    """v2's shape: budget levels on the ref clock, each a dense matrix over its own candidates, exported as
    schema 2 and read back one level at a time in the shape the selectors learn from."""
    from conftest import injected_table
    from zap.metadataset.artifact import level_view, load
    from zap.metadataset.build import build_status, plan_tasks
    from zap.metadataset.plan import load_plan
    from zap.metadataset.problem import SelectionProblem
    from zap.pipelines import get_config
    from zap.scoring import COLUMNS

    cache = str(tmp_path / "cache")
    plan = create_plan(tmp_path / "v2", n_variants=2, clock="ref", budgets=(3.0, 1.5), cores=["digits-sklearn"],
                       cache=cache, cost_table=replace(injected_table(), machine={"cpu": "test machine"}))
    assert plan.levels == (1.5, 3.0) and plan.protocol.budget == 1.5
    quick = dict(get_config("recommended")) | {"lr": 0.01, "log2_max_size": 5}
    assert plan.add_candidates([quick], "test", levels=(3.0,)) == 1
    plan = load_plan(tmp_path / "v2")  # everything it needs is on disk
    assert [len(plan.candidates_at(b)) for b in plan.levels] == [2, 3]
    assert plan.level(3.0).alc_spec.resolved_t0 == 3.0 / 20 and plan.level(1.5).spec_hash() != plan.level(3).spec_hash()
    tasks = plan_tasks(plan, plan.store)
    assert len(tasks) == 2 * 2 + 2 * 3 and all(t.costs is not None and t.clock == "ref" for t in tasks)
    store = plan.store
    for task in tasks:
        store.add(run_task(task, cache))
    status = build_status(plan)
    assert status["missing"] == 0 and status["candidates_per_level"] == {"1.5": 2, "3": 3}
    from zap.metadataset.artifact import export

    summary = export(plan, tmp_path / "v2.json.gz")
    assert summary["schema"] == 2 and summary["budgets"] == [1.5, 3.0] and summary["n_missing"] == 0
    assert summary["levels"]["3"] == {"n_candidates": 3, "n_planned": 6, "n_cells": 6, "n_missing": 0,
                                      "complete": True, "protocol_hash": plan.level(3.0).spec_hash()}
    payload = load(tmp_path / "v2.json.gz")
    high = SelectionProblem.from_artifact(payload, 3.0)
    assert high.alc.shape == (2, 3) and not np.isnan(high.alc).any()
    assert SelectionProblem.from_artifact(payload).alc.shape == (2, 2)  # the lowest level by default
    curves = level_view(payload, 3.0)["matrices"]["0"]["curves"]
    assert max(t for curve in curves.values() for t, _ in curve) <= 3.0 * 1.05  # ref-s on the time axis
    # each cell's run end on the ref clock and what answered first travel with it (replay prices with them)
    provenance = level_view(payload, 3.0)["matrices"]["0"]["provenance"]
    assert len(provenance) == 6
    for key, facts in provenance.items():
        i, j = (int(k) for k in key.split(","))
        stored = store.records[TaskKey(high.dataset_ids[i], high.candidate_ids[j], 3.0, "ref", 0)]
        assert facts["end"] == pytest.approx(stored["elapsed"]["ref_s"], abs=1e-4)
        assert facts["quick_first"] == (stored["curve"][0][COLUMNS.index("steps")] == 0)
    with pytest.raises(ValueError, match="budget levels"):
        level_view(payload, 60)
    # a budget that rounds to a level's name is not that level, and the refusal does not round it either
    with pytest.raises(ValueError, match=r"not 3\.0000001;"):
        level_view(payload, 3.0000001)
    with pytest.raises(ValueError, match=r"not 3\.0000001$"):
        plan.level(3.0000001)
    _the_artifact_carries_its_cost_table(payload, tmp_path, machine={"cpu": "test machine"})


def _the_artifact_carries_its_cost_table(payload: dict, tmp_path, machine: dict) -> None:
    """The artifact alone says what its reference second is: the plan's cost table, with the machine it was
    calibrated on, travels in it; picks re-run at a level use that level's budget and that table, even where
    this zap ships another; an altered table is refused at load, naming the file."""
    import copy
    import gzip

    from conftest import injected_table
    from zap.benchmark.rerun import rerun_tasks
    from zap.errors import ArtifactError
    from zap.finetune.refclock import default_cost_table
    from zap.metadataset.artifact import cost_table_of, info, level_view, load
    from zap.utils import stable_hash

    table = cost_table_of(payload)
    assert table == replace(injected_table(), machine=machine)
    assert stable_hash(table.identity()) != stable_hash(default_cost_table().identity())  # not the shipped one
    assert cost_table_of(level_view(payload, 3.0)) == table
    assert info(payload)["cost_table"] == {"hash": payload["protocol"]["cost_table"], "embedded": True,
                                           "machine": machine}
    datasets, ids = [d["id"] for d in payload["datasets"]], level_view(payload, 3.0)["candidates"]
    chosen = [{"dataset": datasets[1], "pipeline_id": ids[2]["id"]}]
    (task,) = rerun_tasks(payload, chosen, budget=3.0)
    assert (task.budget, task.alc_budget, task.clock, task.seed) == (3.0, 3.0, "ref", 2) and task.costs == table
    chosen = [{"dataset": datasets[1], "pipeline_id": ids[0]["id"]}]
    assert rerun_tasks(payload, chosen)[0].budget == 1.5  # the lowest level by default
    unknown = {k: v for k, v in payload.items() if k != "cost_table"}  # an export older than embedding
    assert cost_table_of(unknown) is None
    with pytest.raises(ArtifactError, match="does not carry and this zap does not ship"):
        rerun_tasks(unknown, chosen)
    altered = copy.deepcopy(payload)
    altered["cost_table"]["decode"] = [1.0, 0.0]
    path = tmp_path / "altered.json.gz"
    with gzip.open(path, "wt") as handle:
        json.dump(altered, handle)
    with pytest.raises(ArtifactError, match=r"altered\.json\.gz.*not the one its protocol was measured with"):
        load(path)
    altered["cost_table"] = {"schema": 1, "sizes": "32"}
    with pytest.raises(ArtifactError, match="not a zap cost table"):
        cost_table_of(altered)


def test_a_plan_measured_by_another_runner_refuses_new_cells(tmp_path):
    """v1 was measured with runner 2: building it with runner 3 would mix protocols in one matrix."""
    from zap.errors import ArtifactError
    from zap.metadataset.plan import load_plan

    v1 = load_plan(V1_PLAN)
    assert v1.protocol.runner == 2 and len(v1.store) > 3000  # its records stay readable
    with pytest.raises(ArtifactError, match="runner 2"):
        v1.check_runner()


def test_plan_tasks_keep_only_the_named_cores_and_say_where_they_compute(tiny_plan):
    """A machine that holds only some cores' data builds only theirs; the device is not part of a cell's key,
    so a GPU's cells fill the same matrix."""
    from zap.metadataset.build import plan_tasks

    folder, _ = tiny_plan
    plan = load_plan(folder)
    every = plan_tasks(plan, plan.store)
    on_gpu = plan_tasks(plan, plan.store, cores=["digits-sklearn"], device="cuda")
    assert every and [key_of(t) for t in on_gpu] == [key_of(t) for t in every]
    assert {t.device for t in every} == {"cpu"} and {t.device for t in on_gpu} == {"cuda"}
    assert plan_tasks(plan, plan.store, cores=[]) == []
    with pytest.raises(ConfigError, match=r"no cores \['emoji-id'\].*digits-sklearn"):
        plan_tasks(plan, plan.store, cores=["emoji-id"])


def test_gpu_cells_are_refused_on_a_clock_that_times_the_machine(tmp_path):
    """Only on the ref (or steps) clock does another device make the same steps; on the CPU clock its cells
    would mix another machine's speed into the matrix."""
    from zap.metadataset.build import plan_tasks

    cache = str(tmp_path / "cache")
    plan = create_plan(tmp_path / "cpu", n_variants=1, budget=3, clock="cpu", cores=["digits-sklearn"], cache=cache)
    assert plan_tasks(plan, plan.store, device="cpu")
    with pytest.raises(ConfigError, match="ref or steps clock.*--device cpu"):
        plan_tasks(plan, plan.store, device="cuda")


def test_exact_float32_turns_tensorfloat32_off_on_cuda_only_and_restores_it():
    import torch

    from zap.metadataset.task import exact_float32

    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    with exact_float32("cuda"):
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
    torch.backends.cudnn.allow_tf32 = True
    try:
        with exact_float32("cpu"):
            assert torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32 = before[0]


def test_provenance_names_the_device():
    from zap.metadataset.task import provenance

    assert provenance(1)["device"] == "cpu" and "gpu" not in provenance(1)


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_build_on_cuda_without_a_gpu_is_refused_before_any_work(tiny_plan, capsys):
    from zap.cli import main

    folder, _ = tiny_plan
    assert main(["metadataset", "build", "--plan", str(folder), "--device", "cuda"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err



def test_a_gpu_in_trouble_loses_the_task_instead_of_storing_a_failed_cell(tiny_plan):
    """Out of GPU memory (the workers share it) or no GPU at all is the machine's problem at that moment:
    the task must raise, so the build retries it, and never store ALC 0 for the pipeline."""
    import torch

    from zap.metadataset.task import _device_trouble

    assert _device_trouble(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert _device_trouble(RuntimeError("CUDA error: an illegal memory access was encountered"))
    assert not _device_trouble(ValueError("lr must be positive")) and not _device_trouble(RuntimeError("NaN loss"))
    if not torch.cuda.is_available():
        folder, cache = tiny_plan
        plan = load_plan(folder)
        task = matrix_tasks(plan.protocol, plan.pipelines())[0]
        with pytest.raises(ConfigError, match="CUDA"):
            run_task(Task(**{**task.__dict__, "device": "cuda"}), cache)


def test_an_artifact_of_the_wrong_shape_is_refused_by_name(tmp_path):
    import gzip
    import re

    from zap.cli import main
    from zap.errors import ArtifactError
    from zap.metadataset.artifact import load

    cases = {"list.json.gz": "[1, 2, 3]", "null.json.gz": "null", "keys.json.gz": '{"schema": 1}',
             "levels.json.gz": '{"schema": 2, "protocol": {}}', "deep.json.gz": "[" * 200_000}
    messages = {"list.json.gz": "it is a list, not a JSON object", "null.json.gz": "it is a NoneType, not",
                "keys.json.gz": "lacks ['protocol'", "levels.json.gz": "'budgets', 'levels']",
                "deep.json.gz": "RecursionError"}
    for name, text in cases.items():
        with gzip.open(tmp_path / name, "wt") as handle:
            handle.write(text)
        with pytest.raises(ArtifactError, match=re.escape(messages[name])):
            load(tmp_path / name)
    assert main(["metadataset", "info", str(tmp_path)]) == 2  # a folder


def test_a_damaged_plan_is_refused_by_name(tmp_path):
    from zap.errors import ArtifactError
    from zap.metadataset.artifact import export

    plan = tmp_path / "plan"
    plan.mkdir()
    for name in ("plan.json", "datasets.json", "candidates.json"):
        (plan / name).write_text((V1_PLAN / name).read_text())
    assert load_plan(plan).candidates
    with pytest.raises(ArtifactError, match=r"no cell of .* was built with seed\(s\) \[0\]"):
        export(load_plan(plan), tmp_path / "a.json.gz")  # a plan whose build never started
    assert not (tmp_path / "a.json.gz").exists()
    for name, text in (("candidates.json", '{"a": 1}'), ("datasets.json", "[{}]"), ("plan.json", "{}"),
                       ("plan.json", "not json")):
        (plan / name).write_text(text)
        with pytest.raises(ArtifactError, match="is a damaged meta-dataset plan"):
            load_plan(plan)


def test_the_pace_of_a_slower_cpu_is_its_own_cells_not_the_store_wide_mean():
    from zap.metadataset.build import cost_per_budget_second

    def cell(seconds: float, cpu: str | None) -> dict:
        return {"budget": 20.0, "provenance": {"seconds": seconds} | ({"cpu": cpu} if cpu else {})}

    fast = [cell(20.0, None) for _ in range(50)]  # records from before the CPU was recorded
    slow = [cell(60.0, "slow") for _ in range(5)]
    assert cost_per_budget_second(fast + slow) == pytest.approx((50 * 1.0 + 5 * 3.0) / 55)
    assert cost_per_budget_second(slow, at_least=5) == pytest.approx(3.0)
    assert cost_per_budget_second(slow[:4], at_least=5) is None and cost_per_budget_second([]) is None


def _mutate(payload: dict, change: str) -> None:
    level = payload["levels"]["20"]["matrices"]["0"]
    if change == "budgets":
        payload["budgets"] = "abc"
    elif change == "seeds":
        payload["seeds"] = []
    elif change == "unknown candidate":
        payload["levels"]["20"]["candidates"][0] = "no-such-id"
    elif change == "string cell":
        level["alc"][0][0] = "0.5"
    elif change == "ragged row":
        level["alc"][1] = level["alc"][1][:-1]
    elif change == "missing row":
        level["final_nauc"] = level["final_nauc"][:-1]
    elif change == "meta-feature":
        payload["datasets"][0]["meta_features"]["n_classes"] = "four"
    elif change == "no datasets":
        payload["datasets"] = []
    elif change == "infinite ALC":
        level["alc"][0][0] = float("inf")
    elif change == "missing level":
        del payload["levels"]["60"]


@pytest.mark.parametrize(("change", "place"), [
    ("budgets", "budgets must be"), ("seeds", "seeds must be"), ("unknown candidate", "levels.20.candidates names"),
    ("string cell", "levels.20.matrices.0.alc[0][0] is '0.5'"), ("ragged row", "levels.20.matrices.0.alc[1]"),
    ("missing row", "levels.20.matrices.0.final_nauc must hold one row per dataset"),
    ("meta-feature", "meta-feature(s) ['n_classes']"), ("no datasets", "datasets must be a non-empty list"),
    ("infinite ALC", "alc[0][0] is inf"), ("missing level", "levels has no level 60"),
])
def test_an_artifact_with_bad_contents_is_refused_where_it_is_read(tmp_path, change, place):
    """The right outer keys with bad contents (found by a sweep, 2026-12-03): each once failed deep inside a
    reader, was accepted (an infinite ALC made the Oracle `inf`), or counted -192 cells."""
    import gzip

    from synthetic import synthetic_levels_artifact
    from zap.errors import ArtifactError
    from zap.metadataset.artifact import load

    payload = synthetic_levels_artifact()
    path = tmp_path / "good.json.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle)
    assert load(path)["budgets"] == [20.0, 60.0]  # the unchanged artifact loads
    _mutate(payload, change)
    bad = tmp_path / "bad.json.gz"
    with gzip.open(bad, "wt", encoding="utf-8") as handle:
        json.dump(payload, handle)
    with pytest.raises(ArtifactError, match="is not a usable meta-dataset artifact") as refused:
        load(bad)
    assert place in str(refused.value)

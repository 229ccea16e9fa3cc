"""`zap tune`: SMAC3 multi-fidelity HPO warm-started with the zero-shot top-k (`zap.strategies.tune`).

Real SMAC, real pretrained models, tiny data (3 classes of 16 px stripes) and budgets of a few reference
seconds or steps, on which a run is deterministic: the same search twice makes the same trials."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import FAST_CONFIG, pattern, write_folder
from zap.cli import main
from zap.data import SplitSettings, train_test_split
from zap.data.dataset import ArrayDataset
from zap.errors import ConfigError
from zap.finetune import Budget, run
from zap.metafeatures import compute
from zap.pipelines import as_dict, complete, get_config, named_configs, pipeline_id
from zap.selectors.trained import suggest
from zap.strategies.tune import (
    AnswerPrices,
    default_trial_budget,
    fidelities,
    inner_split,
    refit_incumbent,
    tune,
    valid_configs,
)

# two fast pipelines the caller chose: the initial design of the searches below (no selector involved). Their
# quick model answers within the smallest fidelity (1/9 ref-s); a CNN's first step and pass do not fit in it
QUICK = FAST_CONFIG | {"first_simple_model": True, "simple_model": "LR"}
GIVEN = [QUICK, QUICK | {"lr": 3e-3, "batch_size": 24}]
S = 1.5  # reference seconds for the whole search; trials of 1/9, 1/3 and 1 reference second (T = 1)


def dataset(n_classes: int = 3, per_class: int = 12) -> ArrayDataset:
    x = np.stack([pattern(label, i) for label in range(n_classes) for i in range(per_class)])[..., None]
    return ArrayDataset(x, np.repeat(np.arange(n_classes), per_class), [f"c{i}" for i in range(n_classes)])


def scrambled(test) -> ArrayDataset:
    """The same test images with their labels permuted: a model's test score changes, nothing else may."""
    images = np.stack([test.load(i) for i in range(len(test))])
    labels = np.random.default_rng(0).permutation(test.labels)
    while np.array_equal(labels, test.labels):
        labels = np.roll(labels, 1)
    return ArrayDataset(images, labels, list(test.class_names))


@pytest.fixture(scope="module")
def searches():
    """One search with the real test split and one with its labels scrambled, otherwise identical."""
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    run = {"init": GIVEN, "k": 2, "seed": 0, "trial_budget": 1.0}
    return (tune(split.train, split.test, Budget(S, "ref"), **run),
            tune(split.train, scrambled(split.test), Budget(S, "ref"), **run))


def test_the_given_initial_design_runs_first(searches):
    result, _ = searches
    first = [t["pipeline_id"] for t in result.trials[:len(GIVEN)]]
    assert first == [pipeline_id(complete(c)) for c in GIVEN]
    assert {t["origin"] for t in result.trials[:len(GIVEN)]} == {"zero-shot"}
    assert result.design.source == "given"
    assert len(result.trials) > len(GIVEN)  # SMAC's own configurations follow
    for trial in result.trials:  # Hyperband's fidelities, or what was left for the last trial
        assert any(trial["budget"] == pytest.approx(f) for f in fidelities(1.0)) or trial["truncated"]


def test_the_test_split_never_picks_anything(searches):
    """Scrambling the test labels changes what the incumbent scores on the test split and nothing else: the
    same trials, the same validation scores, the same incumbent."""
    real, scrambled_run = searches
    keys = ("pipeline_id", "budget", "score", "incumbent")
    assert [[t[k] for k in keys] for t in real.trials] == [[t[k] for k in keys] for t in scrambled_run.trials]
    assert real.incumbent == scrambled_run.incumbent
    assert real.best["test_final_nauc"] != scrambled_run.best["test_final_nauc"]


def test_the_budget_is_kept(searches):
    """The trials' reference seconds add up to the search's, stop short of S by less than the smallest fidelity
    (the budget was used), and pass S by at most the last trial's own overrun of its budget."""
    result, _ = searches
    seconds = [t["seconds"] for t in result.trials]
    assert sum(seconds) == pytest.approx(result.spent)
    last = result.trials[-1]
    assert result.spent <= S + max(0.0, last["seconds"] - last["budget"])
    assert S - result.spent < fidelities(1.0)[0] or result.ended == "no room"
    assert all(t["budget"] <= t["asked_budget"] for t in result.trials)


def test_every_trial_is_recorded_and_the_incumbent_is_the_best(searches):
    result, _ = searches
    for trial in result.trials:
        assert {"config", "pipeline_id", "budget", "score", "seconds", "origin", "status"} <= set(trial)
        assert trial["pipeline_id"] == pipeline_id(trial["config"])
    best = max(result.trials, key=lambda t: t["score"])
    assert result.best["score"] == best["score"]
    assert result.predictor.pipeline_id == result.best["pipeline_id"]
    summary = result.summary()
    assert summary["strategy"] == "tune" and summary["status"] == "ok"
    assert {"init", "k", "trials", "incumbent", "seconds"} <= set(summary["tune"])
    assert summary["final_nauc"] == result.best["test_final_nauc"] and 0 <= summary["accuracy"] <= 1
    assert 0 < summary["alc"] <= 1
    json.dumps(summary)  # plain JSON


# EfficientNet-Lite2 at 128 px without the quick model: its first step and prediction pass cost about 1.3 ref-s
# here, more than the smallest fidelity (1/9 ref-s)
SLOW = FAST_CONFIG | {"architecture": "efficientnet_lite2", "log2_max_size": 7, "first_simple_model": False}


def test_a_trial_that_cannot_answer_in_its_budget_is_skipped_not_run(monkeypatch):
    """Once an incumbent stands, a trial whose first answer is priced past its budget is not run: it is recorded
    as skipped and told to SMAC as scoring 0, and no trial that ran had a first answer priced past its own
    budget. Before, it ran and its first pass overran the budget (the runner never abandons a first answer)."""
    from smac import MultiFidelityFacade

    told = []
    real_tell = MultiFidelityFacade.tell

    def tell(self, info, value, save=True):  # the real SMAC, with what it is told written down
        told.append((pipeline_id(as_dict(info.config)), info.budget, value.cost))
        return real_tell(self, info, value, save=save)

    monkeypatch.setattr(MultiFidelityFacade, "tell", tell)
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(S, "ref"), init=[QUICK, SLOW], k=2, seed=0, trial_budget=1.0)
    inner = inner_split(split.train, 0)
    prices = AnswerPrices.for_search(inner.train, inner.test, 0, Budget(S, "ref"), None)
    slow = pipeline_id(complete(SLOW))
    assert result.trials[0]["pipeline_id"] == pipeline_id(complete(QUICK))
    assert slow not in [t["pipeline_id"] for t in result.trials]
    skipped = {s["pipeline_id"]: s for s in result.skipped}
    assert skipped[slow]["budget"] == pytest.approx(fidelities(1.0)[0])
    assert skipped[slow]["first_answer_s"] == pytest.approx(prices.seconds(SLOW)) and prices.seconds(SLOW) > 1
    assert (slow, pytest.approx(fidelities(1.0)[0]), 1.0) in told
    assert len(told) == len(result.trials) + len(result.skipped)  # every trial, run or not, was told
    assert all(prices.seconds(t["config"]) <= t["budget"] for t in result.trials[1:])
    summary = result.summary()["tune"]
    assert summary["n_skipped"] == len(result.skipped) >= 1 and summary["price_margin"] == 1.0
    assert summary["ended"] in ("budget", "no room")
    assert S - result.spent < fidelities(1.0)[0] or summary["ended"] == "no room"


def test_an_ask_with_no_room_left_is_passed_over_and_the_search_asks_again(monkeypatch):
    """Where what is left is too little for an ask's first answer (though not for the budget SMAC asked), the
    search passes over it, untold, and asks again: a cheaper pipeline may still fit. Before, the first such
    ask ended the search with budget unspent. Here the first two asks after the first trial are made to find
    no room: the search goes on, and SMAC is told of every trial run or skipped, never of those two."""
    from smac import MultiFidelityFacade

    from zap.strategies import tune as tuning

    real, calls, told = tuning._Search.verdict, [], []
    real_tell = MultiFidelityFacade.tell

    def verdict(self, config, origin, asked, amount):
        calls.append(1)
        return "no room" if len(calls) in (2, 3) else real(self, config, origin, asked, amount)

    def tell(self, info, value, save=True):
        told.append(pipeline_id(as_dict(info.config)))
        return real_tell(self, info, value, save=save)

    monkeypatch.setattr(tuning._Search, "verdict", verdict)
    monkeypatch.setattr(MultiFidelityFacade, "tell", tell)
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(S, "ref"), init=GIVEN, k=2, seed=0, trial_budget=1.0)
    assert [p["after_trial"] for p in result.passed] == [1, 1]
    assert len(result.trials) > 1 and result.ended != "no room"
    assert len(told) == len(result.trials) + len(result.skipped)  # a passed-over ask is never told
    summary = result.summary()["tune"]
    assert summary["n_passed"] == 2 and summary["passed"][0]["first_answer_s"] > 0


def test_a_search_ends_after_eight_asks_in_a_row_with_no_room(monkeypatch):
    from zap.strategies import tune as tuning

    real = tuning._Search.verdict
    monkeypatch.setattr(tuning._Search, "verdict", lambda self, config, origin, asked, amount: (
        "no room" if self.trials else real(self, config, origin, asked, amount)))
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(S, "ref"), init=GIVEN, k=2, seed=0, trial_budget=1.0)
    assert len(result.trials) == 1 and len(result.passed) == tuning.NO_ROOM_ASKS and result.ended == "no room"


def test_a_search_ends_after_a_run_of_skips(monkeypatch):
    """A skip costs no time: on the reference clock with a trial budget too small for any first answer, SMAC
    would propose skips up to its trial cap (27 000 for `--budget 3 --trial-budget 0.001`, found by a sweep).
    After the first trial every ask is made a skip here: the search ends at the run's cap."""
    from zap.strategies import tune as tuning

    real = tuning._Search.verdict

    def verdict(self, config, origin, asked, amount):
        if not self.trials:
            return real(self, config, origin, asked, amount)
        self.skipped.append({"pipeline_id": pipeline_id(config)})
        return "skip"

    monkeypatch.setattr(tuning._Search, "verdict", verdict)
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(S, "ref"), init=GIVEN, k=2, seed=0, trial_budget=1.0)
    assert len(result.trials) == 1 and len(result.skipped) == tuning.MAX_SKIPS_IN_A_ROW
    assert result.ended == "skip cap"


def test_the_first_trial_runs_however_slow_and_a_late_answer_scores_zero():
    """The search's first answer always comes, so a slow first trial runs; its answer comes after its budget, so
    it scores 0 (as a skipped trial does), and the first trial that answers in time takes over."""
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(S, "ref"), init=[SLOW, QUICK], k=2, seed=0, trial_budget=1.0)
    first = result.trials[0]
    assert first["pipeline_id"] == pipeline_id(complete(SLOW)) and first["late"] >= 1 and first["in_time"] == 0
    assert first["seconds"] > first["budget"] and first["score"] == 0.0 == first["valid_final_nauc"]
    assert result.best["score"] > 0 and result.best["n"] > 0 and not result.best["late"]


def test_the_price_rule_on_each_clock():
    """Run what is priced within the budget (within twice it on the wall clock, whose conversion is rough),
    skip what is priced past it, and stop where only what is left, not the budget asked, is too little."""
    from zap.strategies.tune import Outer, _Search

    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    inner = inner_split(split.train, 0)
    price_ref = AnswerPrices.for_search(inner.train, inner.test, 0, Budget(10, "ref"), None).seconds(SLOW)

    def verdict(clock: str, amount: float, asked: float, incumbent: int | None = 0) -> str:
        budget = Budget(10, clock)
        prices = AnswerPrices.for_search(inner.train, inner.test, 0, budget, 10.0)  # 1 clock-s per ref-s
        search = _Search(budget, 1.0, "alc", Outer(None), set(), None, prices)
        search.incumbent = incumbent
        return search.verdict(SLOW, "model", asked, amount)

    assert verdict("ref", 1.01 * price_ref, 1.01 * price_ref) == "run"
    assert verdict("ref", 0.99 * price_ref, 0.99 * price_ref) == "skip"
    assert verdict("ref", 0.99 * price_ref, 1.01 * price_ref) == "no room"
    assert verdict("ref", 0.99 * price_ref, 0.99 * price_ref, incumbent=None) == "run"  # the first answer
    assert verdict("wall", 0.6 * price_ref, 0.6 * price_ref) == "run"
    assert verdict("wall", 0.49 * price_ref, 0.49 * price_ref) == "skip"
    assert verdict("cpu", 0.6 * price_ref, 0.6 * price_ref) == "run"
    assert verdict("cpu", 0.49 * price_ref, 0.49 * price_ref) == "skip"
    assert verdict("steps", 1, 1) == "run"  # answers cost no steps


def test_answers_are_priced_on_the_searchs_own_clock():
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    inner = inner_split(split.train, 0)
    on = {clock: AnswerPrices.for_search(inner.train, inner.test, 0, Budget(10, clock), ref)
          for clock, ref in (("ref", None), ("wall", 25.0), ("steps", None), ("cpu", None))}
    assert on["wall"].seconds(SLOW) == pytest.approx(on["ref"].seconds(SLOW) * 10 / 25.0)
    assert on["cpu"].seconds(SLOW) == pytest.approx(on["ref"].seconds(SLOW))  # one for one, as `zap fit` takes it
    assert on["steps"].seconds(SLOW) is None  # predictions cost no steps
    assert AnswerPrices.for_search(inner.train, inner.test, 0, Budget(10, "wall"), None).seconds(SLOW) is None


def test_refit_retrains_the_incumbent_on_all_the_data_and_keeps_its_scores(searches, monkeypatch):
    """Catches a refit that trains something else (another pipeline, another length, part of the data) or that
    rewrites the test scores, which belong to the model that earned them."""
    import zap.finetune.refit as refit_module

    result, _ = searches
    calls = []

    def recording(train, test, config, budget, **kwargs):
        calls.append((len(train), test, config, budget, kwargs["hold_out"]))
        return run(train, test, config, budget, **kwargs)

    monkeypatch.setattr(refit_module, "run", recording)
    full = dataset(per_class=14)
    refitted = refit_incumbent(result, full, extra=full, seed=0)
    if result.result.quick_model is not None:  # its quick model answered: that is what is fitted again
        assert calls == [] and refitted.refit == {"status": "ok", "steps": 0, "n_images": 42}
        assert refitted.predictor.quick_model is not result.predictor.quick_model
    else:
        trial_steps = int(result.result.elapsed["steps"])
        assert calls == [(42, None, result.best["config"], Budget(trial_steps, "steps"), False)]
        assert refitted.refit == {"status": "ok", "steps": trial_steps, "n_images": 42}
    assert refitted.predictor.pipeline_id == result.predictor.pipeline_id
    assert refitted.summary()["refit"] is True and result.summary()["refit"] is False
    for key in ("final_nauc", "accuracy", "alc", "pipeline_id", "status"):
        assert refitted.summary()[key] == result.summary()[key]
    np.testing.assert_allclose(refitted.extra_probabilities, refitted.predictor.predict_proba(full), atol=1e-6)
    assert not np.allclose(refitted.extra_probabilities, result.predictor.predict_proba(full), atol=1e-4)


@pytest.mark.parametrize("failure, status", [("diverged", "ok"), ("ctrl-c", "interrupted")])
def test_a_refit_that_fails_keeps_the_incumbents_model(searches, monkeypatch, failure, status):
    """A diverged refit (NaN weights) or a Ctrl-C must not replace the incumbent's model, nor lose the search."""
    from dataclasses import replace

    import zap.finetune.refit as refit_module

    result, _ = searches

    def failing(train, test, config, budget, **kwargs):
        if failure == "ctrl-c":
            raise KeyboardInterrupt
        return replace(run(train, test, config, Budget(1, "steps"), **kwargs), status="diverged", error="loss is nan")

    def failing_quick(*args, **kwargs):
        raise KeyboardInterrupt if failure == "ctrl-c" else ValueError("one class has no samples")

    monkeypatch.setattr(refit_module, "run", failing)  # the incumbent's CNN, or
    monkeypatch.setattr(refit_module.quick, "fit_on_images", failing_quick)  # its quick model
    kept = refit_incumbent(result, dataset(), seed=0)
    assert kept.predictor is result.predictor and kept.status == status and kept.summary()["refit"] is False
    if failure == "diverged":
        why = "could not be fitted" if result.result.quick_model is not None else "diverged: loss is nan"
        assert kept.refit["status"] == "failed" and why in kept.refit["error"]
    else:
        assert kept.refit == {"status": "interrupted"}


def test_refit_without_out_is_refused_before_the_data_is_read(tmp_path, capsys):
    assert main(["tune", str(tmp_path / "no-such-data"), "--budget", "10", "--refit"]) == 2
    assert "--refit retrains the incumbent to save it" in capsys.readouterr().err


def test_the_zero_shot_design_is_the_selectors_top_k():
    """With the home's trained selector, the first k trials are its top-k for the data the trials fit on."""
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(3, "steps"), k=3, trial_budget=3, seed=0)
    expected = suggest(compute(inner_split(split.train, 0).train), "zap-hpo", k=3).suggestions
    assert result.design.source == "selector"
    assert [t["pipeline_id"] for t in result.trials] == [s.pipeline_id for s in expected]
    assert [t["budget"] for t in result.trials] == [1, 1, 1]


def test_without_a_trained_selector_the_named_pipelines_start(monkeypatch, tmp_path):
    monkeypatch.setenv("ZAP_SELECTORS", str(tmp_path / "none"))
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    result = tune(split.train, split.test, Budget(2, "steps"), k=5, trial_budget=2, seed=0)
    names = named_configs()
    assert result.design.source == "named" and "no trained 'zap-hpo' selector" in result.design.notes[0]
    assert [t["pipeline_id"] for t in result.trials] == [pipeline_id(get_config(n)) for n in names][:2]


def test_suggestions_outside_the_space_are_dropped_not_clipped():
    good = as_dict(get_config("recommended"))
    configs, notes = valid_configs([good | {"lr": 5.0}, good | {"architecture": "resnet999"}, good, good], k=2)
    assert configs == [good]  # the valid one, once
    assert len(notes) == 2 and all("dropped" in n for n in notes)


@pytest.mark.parametrize("settings, message", [
    ({"init": "warm"}, "init must be one of"),
    ({"init": []}, "init must be one of"),
    ({"k": 0}, "k must be a whole number"),
    ({"k": 2.5}, "k must be a whole number"),
    ({"objective": "loss"}, "objective"),
    ({"trial_budget": 20.0}, "must not exceed the budget"),
    ({"selector": "nope"}, "selector must be one of"),
    ({"seed": -1}, "seed must lie in"),
    ({"threads": 0}, "threads must lie in"),
])
def test_bad_settings_fail_before_any_work(settings, message):
    with pytest.raises(ConfigError, match=message):
        tune(None, None, Budget(10, "ref"), **settings)  # no data: a check that came later would crash


@pytest.mark.parametrize("args, message", [
    (["--budget", "-1"], "budget must be"),
    (["--budget", "10", "--k", "0"], "k must be"),
    (["--budget", "10", "--trial-budget", "11"], "must not exceed"),
    (["--budget", "2", "--clock", "ref", "--trial-budget", "-1"], "--trial-budget: the trial budget must be"),
    (["--budget", "10", "--clock", "cpu", "--threads", "2"], "threads=1"),
    (["--budget", "10", "--test-ratio", "1.5"], "test_ratio"),
    (["--budget", "10", "--init", "default", "--k", "3"], "--k chooses the zero-shot initial design"),
    (["--budget", "10", "--init", "default", "--k", "3", "--selector", "zap-as"], "--k and --selector choose"),
])
def test_bad_cli_arguments_fail_before_the_data_is_read(args, message, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["tune", str(tmp_path / "no-such-data"), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("run.partial-*"))


def test_the_default_trial_budget():
    assert default_trial_budget(Budget(60, "wall")) == 15
    assert default_trial_budget(Budget(8, "ref")) == 3  # at least a few seconds
    assert default_trial_budget(Budget(2, "ref")) == 2  # never more than the whole budget


@pytest.mark.slow
def test_cli_end_to_end(tmp_path, capsys):
    """`zap tune` writes a run folder `zap predict` reads, with every trial in summary.json."""
    data = write_folder(tmp_path / "data", n_classes=3, per_class=10)
    unlabelled = write_folder(tmp_path / "unlabelled", n_classes=1, per_class=3) / "class_0"
    out = tmp_path / "run"
    code = main(["tune", str(data), "--budget", "6", "--clock", "ref", "--k", "2", "--threads", "1",
                 "--test", str(unlabelled), "--out", str(out), "--refit"])
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["strategy"] == "tune" and summary["status"] == "ok" and summary["tune"]["k"] == 2
    assert summary["threads"] == 1 and summary["threads_choice"] is None  # named, so not chosen
    assert summary["tune"]["trials"][0]["origin"] == "zero-shot"
    assert summary["tune"]["seconds"] <= 6 + max(t["seconds"] - t["budget"] for t in summary["tune"]["trials"])
    assert summary["pipeline_id"] == summary["tune"]["incumbent"]["pipeline_id"]
    assert (out / "learning_curve.csv").is_file() and (out / "test_predictions.csv").is_file()
    report = (out / "report.html").read_text()
    assert summary["pipeline_id"] in report and report.count("<tr") > len(summary["tune"]["trials"])
    predictions = tmp_path / "predictions.csv"
    assert main(["predict", str(out), str(unlabelled), "--out", str(predictions), "--quiet"]) == 0
    assert len(predictions.read_text().splitlines()) == 4
    # --refit: the saved model is the incumbent retrained on all 30 images, and test_predictions.csv is its
    assert summary["refit"] is True and summary["tune"]["refit"]["n_images"] == 30
    assert "retrained on all 30" in report
    saved = [line.split(",") for line in (out / "test_predictions.csv").read_text().splitlines()[1:]]
    again = [line.split(",") for line in predictions.read_text().splitlines()[1:]]
    np.testing.assert_allclose([[float(p) for p in r[2:]] for r in saved], [[float(p) for p in r[2:]] for r in again],
                               rtol=0, atol=1e-5)
    assert "trials in" in capsys.readouterr().out
    assert Path(out / "model" / "model.json").is_file()


def test_the_trials_of_a_search_share_one_pixel_store(monkeypatch):
    """Every trial trains on the same images, so they decode them once between them (`PixelStore`)."""
    from zap.strategies import tune as tune_module

    stores, real_run = [], tune_module.run
    monkeypatch.setattr(tune_module, "run", lambda *a, **kw: stores.append(kw.get("pixels")) or real_run(*a, **kw))
    split = train_test_split(dataset(), SplitSettings(0.2, 100, 0))
    tune(split.train, split.test, Budget(S, "ref"), init=GIVEN, k=2, seed=0, trial_budget=1.0)
    assert len(stores) >= 2 and stores[0] is not None and all(s is stores[0] for s in stores)

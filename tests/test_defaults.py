"""The default rule of `zap fit`: well formed, followed by `ZAP`, recorded in the summary, shown in the README."""

import re
from pathlib import Path

import pytest

from zap.api import ZAP
from zap.errors import ConfigError
from zap.selectors.trained import TRAINABLE
from zap.strategies import defaults
from zap.strategies.defaults import AUTO, DEFAULT_BY_BUDGET, STRATEGIES, Default, default_for, default_rule_table

README = Path(__file__).resolve().parents[1] / "README.md"
THREE_BANDS = {
    "alc": (Default(0.0, "zero-shot", None, "small budgets: recommended"),
            Default(50.0, "zero-shot", "zap-as", "middle"),
            Default(200.0, "refine", "zap-hpo", "large budgets: look at the top-k")),
    "final": (Default(0.0, "zero-shot", "zap-hpo", "one band"),),
}


@pytest.mark.parametrize("objective", sorted(DEFAULT_BY_BUDGET))
def test_every_objective_has_bands_from_zero_upwards_with_known_choices(objective):
    bands = DEFAULT_BY_BUDGET[objective]
    assert bands and bands[0].lowest_ref_s == 0.0
    assert [b.lowest_ref_s for b in bands] == sorted({b.lowest_ref_s for b in bands})  # ascending, no repeats
    for band in bands:
        assert band.strategy in STRATEGIES and (band.selector is None or band.selector in TRAINABLE)
        assert band.evidence.strip()
        assert not (band.strategy == "refine" and band.selector is None)  # nothing to race without a selector


def test_the_band_holding_the_budget_is_chosen(monkeypatch):
    monkeypatch.setattr(defaults, "DEFAULT_BY_BUDGET", THREE_BANDS)
    assert default_for(10.0).selector is None
    assert default_for(50.0).selector == "zap-as" and default_for(199.9).selector == "zap-as"
    assert default_for(1e4).strategy == "refine"
    assert default_for(None).lowest_ref_s == 0.0  # a step budget: the lowest band
    assert default_for(1e4, "final").selector == "zap-hpo"
    for bad in (0, -3, float("nan"), "60"):
        with pytest.raises(ConfigError, match="reference seconds"):
            default_for(bad)
    with pytest.raises(ConfigError, match="objective"):
        default_for(60.0, "accuracy")


def _resolved(model: ZAP, budget_ref: float | None) -> ZAP:
    model._check_params()
    model.budget_ref_ = budget_ref
    model._follow_default_rule()
    return model


def test_zap_follows_the_rule_where_left_to_auto_and_the_user_elsewhere(monkeypatch):
    monkeypatch.setattr(defaults, "DEFAULT_BY_BUDGET", THREE_BANDS)
    small = _resolved(ZAP(budget=10, clock="ref"), 10.0)
    assert (small.strategy_, small.selector_) == ("zero-shot", None) and small.default_.lowest_ref_s == 0.0
    assert small._config(n_predicted=0), "no selector: the recommended pipeline, fixed"
    large = _resolved(ZAP(budget=600, clock="ref"), 600.0)
    assert (large.strategy_, large.selector_) == ("refine", "zap-hpo")
    mine = _resolved(ZAP(budget=600, clock="ref", selector="zap-as", strategy="zero-shot"), 600.0)
    assert (mine.strategy_, mine.selector_, mine.default_) == ("zero-shot", "zap-as", None)
    half = _resolved(ZAP(budget=600, clock="ref", selector="single-best"), 600.0)  # the rule sets the strategy only
    assert (half.strategy_, half.selector_, half.default_applied_) == ("refine", "single-best", ["strategy"])
    fixed = _resolved(ZAP(budget=600, clock="ref", config="autodl-default"), 600.0)
    assert (fixed.strategy_, fixed.selector_, fixed.default_) == ("zero-shot", None, None)


def test_a_small_budget_band_without_a_selector_never_races(monkeypatch):
    monkeypatch.setattr(defaults, "DEFAULT_BY_BUDGET", {
        "alc": (Default(0.0, "zero-shot", None, "x"), Default(100.0, "refine", "zap-hpo", "y")),
        "final": (Default(0.0, "zero-shot", None, "x"),)})
    model = _resolved(ZAP(budget=30, clock="ref", selector=AUTO, strategy=AUTO), 30.0)
    assert (model.strategy_, model.selector_) == ("zero-shot", None)
    with pytest.raises(ConfigError, match="names no selector.*--selector zap-hpo"):
        _resolved(ZAP(budget=30, clock="ref", strategy="refine"), 30.0)


def test_the_summary_records_the_band_that_applied(arrays):
    model = ZAP(budget=2.0, clock="ref", threads=1).fit(arrays)
    summary = model.summary()
    band = default_for(summary["budget_ref_s"], "alc")
    assert summary["default_rule"] == band.to_dict() | {"applied": ["strategy", "selector"]}
    assert summary["strategy"] == band.strategy and summary["selector"] == (band.selector or "fixed")
    chosen = ZAP(budget=2.0, clock="ref", threads=1, selector="single-best", strategy="zero-shot").fit(arrays)
    assert chosen.summary()["default_rule"] is None


def test_the_readme_shows_the_rule_as_declared():
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- default-rule-table[^>]*-->\n(.*?)\n<!-- /default-rule-table -->", text, re.S)
    assert found, "README.md lost its default-rule table markers"
    assert found.group(1).strip() == default_rule_table(), (
        "README.md's default-rule table is stale: paste zap.strategies.defaults.default_rule_table() between "
        "the markers")

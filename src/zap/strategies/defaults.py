"""What `zap fit` does when the user leaves the strategy and the selector to zap: one rule, declared once.

The rule maps the budget (in reference seconds, the meta-dataset's unit, so that the same rule holds on
every machine) and the objective to a strategy and a selector. Each band carries the evidence that set
it, and `summary.json` records the band that applied (`default_rule`), so a user can see why a run did
what it did. A band's selector may be None: then no selection, the `recommended` pipeline, which is what
the rule should say wherever zero-shot selection has not been shown to beat it at that budget.

The bands are data; `tests/test_defaults.py` checks that they are well formed and that `ZAP` follows
them, and the README's table is generated from them (`default_rule_table`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from zap.errors import ConfigError
from zap.metadataset.problem import check_objective

AUTO = "auto"
STRATEGIES = ("zero-shot", "refine")


@dataclass(frozen=True)
class Default:
    """A band of the rule: from `lowest_ref_s` reference seconds up to the next band's."""

    lowest_ref_s: float
    strategy: str
    selector: str | None  # None: the `recommended` pipeline, no selection
    evidence: str

    def to_dict(self) -> dict:
        return {"lowest_ref_s": self.lowest_ref_s, "strategy": self.strategy, "selector": self.selector,
                "evidence": self.evidence}


_PROVISIONAL = ("provisional: the selectors train on v2's levels 20 and 60, but no band is measured in the user's "
                "regime on v2 yet; on v1 (one level, 20 CPU-s) LOCO gave ZAP-HPO 0.10 of the Oracle-Single-best gap "
                "and in the user's regime (60 wall-s, 2 threads, 12 held-out cores) zero-shot tied `recommended` "
                "(+0.007 ALC, p 0.91), docs/selectors.md; the user-regime study on v2 (benchmarks/user_regime.py) "
                "sets the bands")

DEFAULT_BY_BUDGET: dict[str, tuple[Default, ...]] = {
    "alc": (Default(0.0, "zero-shot", "zap-hpo", _PROVISIONAL),),
    "final": (Default(0.0, "zero-shot", "zap-hpo", _PROVISIONAL),),
}


def default_for(budget_ref_s: float | None, objective: str = "alc") -> Default:
    """The band that holds `budget_ref_s` (None, a budget in optimizer steps: the lowest band)."""
    bands = DEFAULT_BY_BUDGET[check_objective(objective)]
    if budget_ref_s is None:
        return bands[0]
    if not (isinstance(budget_ref_s, int | float) and math.isfinite(budget_ref_s) and budget_ref_s > 0):
        raise ConfigError(f"the budget in reference seconds must be a positive number, got {budget_ref_s!r}")
    chosen = bands[0]
    for band in bands:
        if budget_ref_s >= band.lowest_ref_s:
            chosen = band
    return chosen


def default_rule_table() -> str:
    """The rule as the README's Markdown table."""
    lines = ["| objective | budget (reference s) | strategy | pipeline |", "|---|---|---|---|"]
    for objective, bands in DEFAULT_BY_BUDGET.items():
        for band, following in zip(bands, [*bands[1:], None], strict=True):
            span = f"≥ {band.lowest_ref_s:g}" if following is None else \
                f"{band.lowest_ref_s:g} to {following.lowest_ref_s:g}"
            pipeline = f"`{band.selector}`'s pick" if band.selector else "`recommended`"
            lines.append(f"| {objective} | {span} | {band.strategy} | {pipeline} |")
    return "\n".join(lines)

"""Selectors trained on a meta-dataset and shipped in `artifacts/selectors/`, and zero-shot suggestions.

`meta_train` fits each selector on every dataset of a meta-dataset artifact, for one objective (ALC or
final NAUC), and saves it with a context that makes it usable on its own: the candidates' ids, names
and configurations, the protocol it was trained under (budget, clock, threads; on a multi-level
artifact its budget levels) and the range of meta-features it has seen. On a multi-level artifact every
selector takes the log budget in reference seconds as its last meta-feature (`zap.selectors.levels`).
`suggest` turns a user's meta-features and budget into the top-k candidates and says when the user's
setting lies far from the one the meta-dataset measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zap.metadataset.problem import BUDGET_FEATURE, Levels, check_objective, with_budget
from zap.metafeatures import FEATURE_NAMES, MetaFeatures
from zap.pipelines import as_pipelines_see
from zap.resources import SELECTORS, home, metadataset_artifact, selectors_dir
from zap.selectors.base import SelectorError, load_selector
from zap.selectors.fallback import fallback_path, level_for, load_fallback, write_fallback
from zap.selectors.levels import level_selector, nearest_level
from zap.selectors.registry import SHIPPED, create_selector
from zap.selectors.store import SUFFIX
from zap.utils import check_choice, check_range

TRAINABLE = SHIPPED  # the registry's shipped selectors: what `zap meta-train` trains by default
# What `zap fit`, `zap suggest` and `zap.ZAP` use unless told otherwise, by a rule
# (`zap.benchmark.stats.default_by_rule`): ZAP-HPO, the paper's method, unless the zero-shot ZAP-AS or the
# fixed `recommended` pipeline beats it significantly (paired Wilcoxon p < 0.05, higher mean) in the study
# in the user's regime (benchmarks/zero_shot_fit.py -> docs/data/zero_shot_fit.json: real fits at a
# wall-clock budget on held-out cores). docs/selectors.md, "Users", has the figures;
# tests/test_benchmark.py applies the rule to the study's file.
DEFAULT_SELECTOR = "zap-hpo"
# What `suggest` reads from a saved selector's context (`training_context` writes it), with its type: a file
# may hold any context (`zap.selectors.store` checks only its candidates), so `suggest` checks these first.
SUGGEST_CONTEXT = {"protocol": dict, "n_datasets": int, "n_cores": int, "complete": bool, "protocol_hash": str,
                   "trained_at": str, "meta_feature_range": dict, "candidates": list}


def selector_path(name: str, folder: str | Path | None = None, objective: str = "alc") -> Path:
    """Where the selector trained for `objective` lives: `NAME.zsel` for ALC, `NAME--final.zsel` for the
    final NAUC (`zap.selectors.store`'s format)."""
    suffix = "" if check_objective(objective) == "alc" else f"--{objective}"
    return Path(folder or selectors_dir()) / f"{name}{suffix}{SUFFIX}"


def home_protocol_hash(selectors: str | Path) -> str | None:
    """The protocol hash the selectors in folder `selectors` must have been trained under: that of the
    home's meta-dataset artifact when they are the home's own selectors. None when there is nothing to
    hold them to: selectors in a folder of one's own were trained on whatever artifact their owner chose."""
    from zap.metadataset.artifact import load

    artifact = metadataset_artifact()
    if Path(selectors).resolve() != (home() / SELECTORS).resolve() or not artifact.is_file():
        return None
    return load(artifact)["protocol_hash"]


def training_context(payload: dict, levels: Levels) -> dict[str, Any]:
    """What a saved selector needs at suggestion time, taken from the meta-dataset artifact: on a
    multi-level artifact the candidates of every level (with their levels) and the levels' budgets."""
    protocol, lowest = payload["protocol"], levels.lowest
    x = lowest.meta_features[lowest.measured_rows()]
    multilevel = len(levels) > 1
    by_id = {c["id"]: c for c in payload["candidates"]}
    ids = levels.candidate_ids() if multilevel else [c["id"] for c in payload["candidates"]]
    return {
        "protocol_hash": payload["protocol_hash"],
        "protocol": {k: protocol[k] for k in ("budget", "clock", "threads", "t0") if k in protocol},
        "objective": lowest.objective,
        "budget_feature": multilevel,
        "levels": levels.budgets,
        "meta_features": list(FEATURE_NAMES) + ([BUDGET_FEATURE] if multilevel else []),
        "meta_feature_range": {"min": x.min(axis=0).tolist(), "max": x.max(axis=0).tolist()},
        "n_datasets": len(x),
        "n_cores": len(set(lowest.cores[lowest.measured_rows()].tolist())),
        "complete": all(p.complete for _, p in levels),
        "candidates": [{"id": i, "name": by_id[i].get("name"), "config": by_id[i]["config"],
                        "levels": by_id[i].get("levels", levels.budgets)} for i in ids],
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def meta_train(artifact: str | Path, names: tuple[str, ...] = TRAINABLE, out: str | Path | None = None,
               seed: int = 0, as_trials: int = 50, objective: str = "alc",
               exclude_cores: tuple[str, ...] = ()) -> dict[str, dict]:
    """Fit each named selector for `objective` on all datasets of the meta-dataset artifact (every level
    of a multi-level one that holds measured cells) but those of `exclude_cores`, and save it; returns per
    selector its path, spec hash and training seconds, and under "levels" the levels trained on and those
    left out for holding no cell (a suggestion at their budgets is then an extrapolation, and says so).
    Excluding cores is how a selector is judged on data it never saw: the user-regime study meta-trains
    one folder per held-out core this way."""
    from zap.metadataset.artifact import load

    payload = load(Path(artifact))
    levels, unmeasured = Levels.from_artifact(payload, check_objective(objective)).measured()
    if not len(levels):
        raise SelectorError(f"{artifact} holds no measured cell to train on: export it again once its build "
                            "has measured some")
    levels = without_cores(levels, exclude_cores)
    context = training_context(payload, levels) | {"excluded_cores": sorted(exclude_cores),
                                                   "unmeasured_levels": unmeasured}
    x, y, groups, encodings = _training_arrays(levels)
    report = {"fallback": {"path": str(write_fallback(levels, fallback_path(out, objective), payload["protocol_hash"])),
                           "spec_hash": "-", "seconds": 0.0},
              "levels": {"trained": levels.budgets, "unmeasured": unmeasured}}
    for name in names:
        start = time.perf_counter()
        make = level_selector if len(levels) > 1 else create_selector
        selector = make(name, seed=seed, n_trials=as_trials)
        selector.fit(x, encodings, y, groups)
        path = selector.save(selector_path(name, out, objective), context | {"selector": name})
        report[name] = {"path": str(path), "spec_hash": selector.spec_hash_,
                        "seconds": round(time.perf_counter() - start, 2)}
    return report


def without_cores(levels: Levels, cores: tuple[str, ...]) -> Levels:
    """Every level without the datasets of `cores`; an unknown core, or none left, is an error."""
    if not cores:
        return levels
    known = set(levels.lowest.cores.tolist())
    unknown = sorted(set(cores) - known)
    if unknown:
        raise SelectorError(f"no core {', '.join(unknown)} in this meta-dataset; its cores: {', '.join(sorted(known))}")
    if len(known - set(cores)) < 2:
        raise SelectorError(f"excluding {', '.join(sorted(cores))} leaves {len(known - set(cores))} core(s); the "
                            "selectors validate on held-out cores and need at least 2 to train on")
    return Levels({b: p.subset(~np.isin(p.cores, cores)) for b, p in levels})


def _training_arrays(levels: Levels) -> tuple[np.ndarray, ...]:
    """(meta-features, performance, groups, encodings) of every measured row: one level as it is, several
    stacked with the log budget as the last meta-feature."""
    if len(levels) > 1:
        x, y, groups = levels.stacked()
        encodings = levels.encodings()
    else:
        problem = levels.lowest
        x, y, groups, encodings = problem.meta_features, problem.perf, problem.cores, problem.encodings
    rows = ~np.isnan(y).all(axis=1)
    return x[rows], y[rows], groups[rows], encodings


@dataclass
class Suggestion:
    rank: int
    pipeline_id: str
    score: float
    config: dict[str, Any]
    name: str | None = None


@dataclass
class SuggestResult:
    selector: str
    meta_features: MetaFeatures
    suggestions: list[Suggestion]
    warnings: list[str] = field(default_factory=list)
    trained_on: dict[str, Any] = field(default_factory=dict)
    fallback: dict[str, Any] | None = None  # whether the pick fell back to Single-best, and why

    def to_dict(self) -> dict[str, Any]:
        return {"selector": self.selector, "meta_features": self.meta_features.to_dict(),
                "suggestions": [vars(s) for s in self.suggestions], "warnings": self.warnings,
                "trained_on": self.trained_on, "fallback": self.fallback}


# a one-level selector's pick stands for budgets whose compute (seconds x threads) is within this factor of its
# protocol's; beyond, it is said, and the fallback puts Single-best first
REGIME_RATIO = (0.25, 20.0)


def _compute_ratio(context: dict, budget: float | None, threads: int | None, clock: str = "wall",
                   budget_ref: float | None = None) -> float | None:
    """A one-level selector's view of the user's budget: its compute as a multiple of the protocol's, from the
    budget in reference seconds where it is known (one reference second is about one thread's CPU second, so
    threads and device are in it already), else from seconds x threads. None for a selector trained on budget
    levels (it ranks for the budget itself), without a budget, or for a budget of steps, which is no time."""
    if budget is None or context.get("budget_feature") or clock == "steps":
        return None
    protocol = context["protocol"]
    reference = protocol["budget"] * protocol.get("threads", 1)
    return (budget_ref if budget_ref is not None else budget * (threads or 1)) / reference


def _outside_regime(ratio: float | None) -> bool:
    return ratio is not None and not REGIME_RATIO[0] <= ratio <= REGIME_RATIO[1]


def regime_warnings(context: dict, meta: MetaFeatures, budget: float | None = None, clock: str = "wall",
                    threads: int | None = None, device: str = "cpu", budget_ref: float | None = None) -> list[str]:
    """Plain statements of where the user's setting lies outside what the meta-dataset measured."""
    warnings = []
    low, high = context["meta_feature_range"]["min"], context["meta_feature_range"]["max"]
    seen = as_pipelines_see(meta).vector()  # compared as the selector sees it, named as the user's data has it
    for name, value, shown, lo, hi in zip(FEATURE_NAMES, seen, meta.vector(), low, high, strict=True):
        if value < lo or value > hi:
            warnings.append(f"{name} = {shown:g} lies outside the meta-dataset's range [{lo:g}, {hi:g}]; "
                            "the pick is an extrapolation")
    protocol = context["protocol"]
    # a selector trained on budget levels ranks for the budget itself (`selector_input` notes extrapolation)
    ratio = _compute_ratio(context, budget, threads, clock, budget_ref)
    if _outside_regime(ratio):
        in_ref = f", about {budget_ref:.0f} reference seconds," if budget_ref is not None and clock != "ref" else ""
        warnings.append(f"the meta-dataset ranked pipelines at {protocol['budget']:g} {protocol['clock']}-s on "
                        f"{protocol.get('threads', 1)} thread(s); your {budget:g} {clock}-s on {threads or 1} "
                        f"thread(s){in_ref} is {ratio:.1f}x that compute, so the ranking may not carry over")
    if device not in ("cpu", "auto"):
        warnings.append(f"the meta-dataset was measured on CPU; on {device} the fast-but-small pipelines it "
                        "favours lose their edge, so the ranking may not carry over")
    if not context.get("complete", True):
        warnings.append(f"this selector was trained on an incomplete meta-dataset ({context['n_datasets']} "
                        f"datasets, {context['n_cores']} cores)")
    return warnings


def scaled_down_note(meta: MetaFeatures, seen: MetaFeatures) -> list[str]:
    if seen.resolution == meta.resolution:
        return []
    return [f"resolution = {meta.resolution} px is above the largest input any pipeline takes ({seen.resolution} "
            f"px), so the images are scaled down to it and the pipelines are ranked as for {seen.resolution} px"]


def suggest(meta: MetaFeatures, selector: str = "zap-hpo", k: int = 5, folder: str | Path | None = None,
            budget: float | None = None, clock: str = "wall", threads: int | None = None,
            device: str = "cpu", objective: str = "alc", budget_ref: float | None = None,
            fallback: bool = True) -> SuggestResult:
    """The top-k candidates for a dataset with these meta-features, from a shipped selector trained for
    `objective`. A selector trained on budget levels ranks for `budget_ref`, the budget in reference
    seconds (None: its lowest level, with a note). With `fallback`, Single-best of the budget's level comes
    first where the selector has no grounds to deviate from it (`zap.selectors.fallback`). Images larger
    than any pipeline's input are ranked as at that input (`as_pipelines_see`), with a note."""
    from zap.pipelines import encode

    _check_request(k, budget, clock, threads, device, budget_ref, fallback)
    k = int(k)
    path = selector_path(selector, folder, objective)  # checked against this zap's encoding and the home's
    loaded = load_selector(path, encode=encode, expect_protocol=home_protocol_hash(path.parent))
    context = loaded.context
    _check_context(path, context, loaded.selector.n_features_)
    seen = as_pipelines_see(meta)
    x, budget_notes = selector_input(context, seen, budget_ref)
    ranking = loaded.selector.rank(x)[0]
    candidates = context["candidates"]
    order = _at_level(ranking.top(len(candidates)), candidates, context, budget_ref)
    outside = (any("outside the meta-dataset's levels" in n for n in budget_notes) if context.get("budget_feature")
               else _outside_regime(_compute_ratio(context, budget, threads, clock, budget_ref)))
    decision = _fallback(path.parent, objective, seen, candidates[order[0][0]]["id"], budget_ref, context, outside,
                         fallback)
    if decision and decision["fell_back"]:
        first = next(n for n, (j, _) in enumerate(order) if candidates[j]["id"] == decision["single_best"])
        order = [order[first], *order[:first], *order[first + 1:]]
    suggestions = [Suggestion(i + 1, candidates[j]["id"], score, candidates[j]["config"], candidates[j].get("name"))
                   for i, (j, score) in enumerate(order[:k])]
    trained_on = {key: context[key] for key in ("protocol", "n_datasets", "n_cores", "complete", "protocol_hash",
                                                "trained_at")}
    notes = (scaled_down_note(meta, seen) + budget_notes
             + regime_warnings(context, meta, budget, clock, threads, device, budget_ref))
    return SuggestResult(selector, meta, suggestions, notes, trained_on | {"objective": context.get("objective", "alc"),
                                                                           "levels": context.get("levels")}, decision)


def _check_request(k: Any, budget: Any, clock: Any, threads: Any, device: Any, budget_ref: Any, fallback: Any) -> None:
    """What `suggest` is asked, before any file is read: each of these changes the ranking or its notes, so a
    value that means nothing (a negative budget, an unknown clock) must not rank quietly."""
    from zap.errors import ConfigError
    from zap.finetune.clock import CLOCKS, check_budget

    check_range("k", k, 1, integer=True)
    check_choice("clock", clock, CLOCKS)
    if budget is not None:
        check_budget(budget, clock)
    if budget_ref is not None:
        check_range("budget_ref", budget_ref, 0, low_open=True)
    if threads is not None:
        check_range("threads", threads, 1, integer=True)
    if not isinstance(fallback, bool):
        raise ConfigError(f"fallback must be True or False, got {fallback!r}")
    if not (isinstance(device, str) and device.split(":")[0] in ("cpu", "cuda", "mps", "auto")):
        raise ConfigError(f"device must be 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto', got {device!r}")


def _at_level(order: list[tuple[int, float]], candidates: list[dict], context: dict[str, Any],
              budget_ref: float | None) -> list[tuple[int, float]]:
    """On a selector trained on budget levels, only the candidates measured at the level nearest the budget,
    in the selector's order. ZAP-HPO scores every candidate at any budget, but the benchmark judges it among
    each level's own candidates, and the fallback rule can estimate a margin only from a level's cells: a
    candidate never measured near the budget is neither vouched for nor checkable, so it is not offered."""
    if not context.get("budget_feature"):
        return order
    level = nearest_level(context["levels"], budget_ref)
    return [(j, score) for j, score in order if level in {float(b) for b in candidates[j].get("levels", [level])}]


def _check_context(path: Path, context: dict[str, Any], n_features: int) -> None:
    """A SelectorError naming the file unless its context holds what `suggest` reads, of the right types."""
    problems = [f"{key} is missing or not of type {kind.__name__}" for key, kind in SUGGEST_CONTEXT.items()
                if not isinstance(context.get(key), kind) or (kind is int and isinstance(context.get(key), bool))]
    if not problems:
        problems = _context_values(context, n_features)
    if problems:
        raise SelectorError(f"{path} holds a context `suggest` cannot use ({'; '.join(problems)}): it is damaged or "
                            "was not written by `zap meta-train`; retrain it with `zap meta-train`")


def _context_values(context: dict[str, Any], n_features: int) -> list[str]:
    """What is wrong with the values of a context whose keys have the right types."""
    protocol, bounds, levels = context["protocol"], context["meta_feature_range"], context.get("levels")
    multilevel = context.get("budget_feature", False)
    problems = []
    if not (_positive(protocol.get("budget")) and isinstance(protocol.get("clock"), str)
            and _positive(protocol.get("threads", 1))):
        problems.append("protocol has no positive budget, clock and threads")
    if not all(isinstance(bounds.get(side), list) and len(bounds[side]) == len(FEATURE_NAMES)
               and all(_number(v) for v in bounds[side]) for side in ("min", "max")):
        problems.append(f"meta_feature_range has no min and max of {len(FEATURE_NAMES)} numbers each")
    if not isinstance(multilevel, bool) or n_features != len(FEATURE_NAMES) + multilevel:
        problems.append(f"budget_feature is {multilevel!r}, but the selector takes {n_features} meta-features")
    if multilevel and not (isinstance(levels, list) and levels and all(_positive(b) for b in levels)
                           and levels == sorted(levels)):
        problems.append("levels is not a rising list of positive budgets")
    if not isinstance(context.get("objective", "alc"), str):
        problems.append("objective is not of type str")
    return problems


def _number(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, float) and np.isfinite(value))


def _positive(value: Any) -> bool:
    return _number(value) and value > 0


def _fallback(folder: Path, objective: str, meta: MetaFeatures, pick: str, budget_ref: float | None, context: dict,
              budget_outside: bool, enabled: bool) -> dict[str, Any] | None:
    """The fallback decision for the selector's pick: the rule beside the selector, at the budget's level;
    Single-best where the budget lies outside what the selector was trained on (`budget_outside`: past its
    levels on a multi-level selector, past `REGIME_RATIO` of its one budget's compute on a one-level one)."""
    if not enabled:
        return {"fell_back": False, "reason": "the fallback is off"}
    path = fallback_path(folder, objective)
    if not path.is_file():
        return {"fell_back": False, "reason": f"no fallback rule at {path} (`zap meta-train` writes it)"}
    rule = level_for(load_fallback(path, expect_protocol=context["protocol_hash"]), budget_ref)
    known = {c["id"] for c in context["candidates"]}
    if rule.single_best not in known:
        return {"fell_back": False, "reason": "the fallback rule's Single-best is not among this selector's candidates"}
    decision = rule.decide(meta.vector(), pick)
    if budget_outside and pick != rule.single_best:
        decision.fall_back, decision.reason = True, (
            "the budget lies outside the levels the selector was trained on" if context.get("budget_feature") else
            "the budget is far from the one budget the selector was trained on (see the note on its compute)")
    return decision.to_dict() | {"single_best": rule.single_best, "pick": pick}


def selector_input(context: dict, meta: MetaFeatures, budget_ref: float | None) -> tuple[np.ndarray, list[str]]:
    """The selector's input row: the meta-features, and on a selector trained on budget levels the log
    budget in reference seconds; with a note when that budget is not known or lies outside the levels."""
    x = meta.vector()[None, :]
    if not context.get("budget_feature"):
        return x, []
    levels = context["levels"]
    if budget_ref is None:
        return with_budget(x, levels[0]), [f"no budget in reference seconds (none given, or one of steps); "
                                           f"ranked for the lowest level, {levels[0]:g} ref-s"]
    notes = []
    if not levels[0] / 2 <= budget_ref <= levels[-1] * 2:
        notes.append(f"your budget, {budget_ref:.0f} reference seconds, lies outside the meta-dataset's levels "
                     f"({', '.join(f'{b:g}' for b in levels)} ref-s); the ranking is an extrapolation")
    return with_budget(x, budget_ref), notes


def selection_lines(selection: dict[str, Any]) -> list[str]:
    """What a person watching a run should know about its pipeline: the zero-shot pick, and every reason
    to doubt it (meta-features outside the meta-dataset, a budget or device far from its regime)."""
    lines = [f"note: {warning}" for warning in selection.get("warnings", [])]
    if "pipeline_id" in selection:
        name = f" ({selection['name']})" if selection.get("name") else ""
        fallback = selection.get("fallback") or {}
        ranked = selection.get("top_k") or [{"pipeline_id": selection["pipeline_id"]}]
        if ranked[0]["pipeline_id"] != selection["pipeline_id"]:  # the first suggestions cannot answer in time
            rank = next(t["rank"] for t in ranked if t["pipeline_id"] == selection["pipeline_id"])
            after = (f" (Single-best came first instead of {selection['selector']}'s pick {fallback['pick']}: "
                     f"{fallback['reason']})" if fallback.get("fell_back") else "")
            lines.append(f"pipeline {selection['pipeline_id']}{name}, {selection['selector']}'s suggestion {rank}: "
                         f"the best-ranked whose first answer can come within the budget{after}")
        elif fallback.get("fell_back"):
            lines.append(f"Single-best, pipeline {selection['pipeline_id']}{name}, instead of "
                         f"{selection['selector']}'s pick {fallback['pick']}: {fallback['reason']}")
        else:
            lines.append(f"{selection['selector']} picked pipeline {selection['pipeline_id']}{name} zero-shot from "
                         "the meta-features")
    return lines


def priced_out_warning(priced_out: list[dict[str, Any]], none_answers: bool, budget_ref: float) -> str:
    """The note `zap fit` gives when selection passed over suggestions for their first answer's price."""
    if none_answers:
        return (f"every suggestion's first answer is priced past the budget ({budget_ref:.1f} reference-s): the "
                "run will most likely answer only after it, which scores an ALC of 0; give a larger budget")
    first = priced_out[0]
    return (f"passed over {len(priced_out)} suggestion(s) whose first answer cannot come within the budget (the "
            f"best-ranked, {first['pipeline_id']}, is priced at {first['first_answer_ref_s']:.1f} reference-s "
            f"against {budget_ref:.1f})")

"""Selectors trained on a meta-dataset and shipped in `artifacts/selectors/`, and zero-shot suggestions.

`meta_train` fits each selector on every dataset of a meta-dataset artifact and saves it with a
context that makes it usable on its own: the candidates' ids, names and configurations, the protocol
it was trained under (budget, clock, threads) and the range of meta-features it has seen. `suggest`
turns a user's meta-features into the top-k candidates and says when the user's setting lies far from
the one the meta-dataset measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from zap.metafeatures import FEATURE_NAMES, MetaFeatures
from zap.resources import home_protocol_hash, selectors_dir
from zap.selectors.base import load_selector
from zap.selectors.registry import SHIPPED, create_selector

TRAINABLE = SHIPPED  # the registry's shipped selectors: what `zap meta-train` trains by default
# What `zap fit`, `zap suggest` and `zap.ZAP` use unless told otherwise, by a rule
# (`zap.benchmark.stats.default_by_rule`): ZAP-HPO, the paper's method, unless the zero-shot ZAP-AS or the
# fixed `recommended` pipeline beats it significantly (paired Wilcoxon p < 0.05, higher mean) in the study
# in the user's regime (benchmarks/zero_shot_fit.py -> docs/data/zero_shot_fit.json: real fits at a
# wall-clock budget on held-out cores). docs/selectors.md, "Users", has the figures;
# tests/test_benchmark.py applies the rule to the study's file.
DEFAULT_SELECTOR = "zap-hpo"


def selector_path(name: str, folder: str | Path | None = None) -> Path:
    return Path(folder or selectors_dir()) / f"{name}.pkl.gz"


def training_context(payload: dict, problem) -> dict[str, Any]:
    """What a saved selector needs at suggestion time, taken from the meta-dataset artifact."""
    protocol = payload["protocol"]
    x = problem.meta_features[problem.measured_rows()]
    return {
        "protocol_hash": payload["protocol_hash"],
        "protocol": {k: protocol[k] for k in ("budget", "clock", "threads", "t0") if k in protocol},
        "meta_features": list(FEATURE_NAMES),
        "meta_feature_range": {"min": x.min(axis=0).tolist(), "max": x.max(axis=0).tolist()},
        "n_datasets": len(x),
        "n_cores": len(set(problem.cores[problem.measured_rows()].tolist())),
        "complete": bool(not np.isnan(problem.alc).any()),
        "candidates": [{"id": c["id"], "name": c.get("name"), "config": c["config"]} for c in payload["candidates"]],
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def meta_train(artifact: str | Path, names: tuple[str, ...] = TRAINABLE, out: str | Path | None = None,
               seed: int = 0, as_trials: int = 50) -> dict[str, dict]:
    """Fit each named selector on all datasets of the meta-dataset artifact and save it; returns per
    selector its path, spec hash and training seconds."""
    from zap.metadataset.artifact import load
    from zap.metadataset.problem import SelectionProblem

    payload = load(Path(artifact))
    problem = SelectionProblem.from_artifact(payload)
    rows = problem.measured_rows()
    context = training_context(payload, problem)
    report = {}
    for name in names:
        start = time.perf_counter()
        selector = create_selector(name, seed=seed, n_trials=as_trials)
        selector.fit(problem.meta_features[rows], problem.encodings, problem.alc[rows], problem.cores[rows])
        path = selector.save(selector_path(name, out), context | {"selector": name})
        report[name] = {"path": str(path), "spec_hash": selector.spec_hash_,
                        "seconds": round(time.perf_counter() - start, 2)}
    return report


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

    def to_dict(self) -> dict[str, Any]:
        return {"selector": self.selector, "meta_features": self.meta_features.to_dict(),
                "suggestions": [vars(s) for s in self.suggestions], "warnings": self.warnings,
                "trained_on": self.trained_on}


def regime_warnings(context: dict, meta: MetaFeatures, budget: float | None = None, clock: str = "wall",
                    threads: int | None = None, device: str = "cpu") -> list[str]:
    """Plain statements of where the user's setting lies outside what the meta-dataset measured."""
    warnings = []
    low, high = context["meta_feature_range"]["min"], context["meta_feature_range"]["max"]
    for name, value, lo, hi in zip(FEATURE_NAMES, meta.vector(), low, high, strict=True):
        if value < lo or value > hi:
            warnings.append(f"{name} = {value:g} lies outside the meta-dataset's range [{lo:g}, {hi:g}]; "
                            "the pick is an extrapolation")
    protocol = context["protocol"]
    compute = (budget or 0) * (threads or 1)
    reference = protocol["budget"] * protocol.get("threads", 1)
    if budget is not None and not 0.25 * reference <= compute <= 20 * reference:
        warnings.append(f"the meta-dataset ranked pipelines at {protocol['budget']:g} {protocol['clock']}-s on "
                        f"{protocol.get('threads', 1)} thread(s); your {budget:g} {clock}-s on {threads or 1} "
                        f"thread(s) is {compute / reference:.1f}x that compute, so the ranking may not carry over")
    if device not in ("cpu", "auto"):
        warnings.append(f"the meta-dataset was measured on CPU; on {device} the fast-but-small pipelines it "
                        "favours lose their edge, so the ranking may not carry over")
    if not context.get("complete", True):
        warnings.append(f"this selector was trained on an incomplete meta-dataset ({context['n_datasets']} "
                        f"datasets, {context['n_cores']} cores)")
    return warnings


def suggest(meta: MetaFeatures, selector: str = "zap-hpo", k: int = 5, folder: str | Path | None = None,
            budget: float | None = None, clock: str = "wall", threads: int | None = None,
            device: str = "cpu") -> SuggestResult:
    """The top-k candidates for a dataset with these meta-features, from a shipped selector."""
    from zap.pipelines import encode

    path = selector_path(selector, folder)  # checked against this zap's encoding and the home's meta-dataset
    loaded = load_selector(path, encode=encode, expect_protocol=home_protocol_hash(path.parent))
    context = loaded.context
    ranking = loaded.selector.rank(meta.vector()[None, :])[0]
    candidates = context["candidates"]
    suggestions = [Suggestion(i + 1, candidates[j]["id"], score, candidates[j]["config"], candidates[j].get("name"))
                   for i, (j, score) in enumerate(ranking.top(max(1, k)))]
    trained_on = {key: context[key] for key in ("protocol", "n_datasets", "n_cores", "complete", "protocol_hash",
                                                "trained_at")}
    return SuggestResult(selector, meta, suggestions, regime_warnings(context, meta, budget, clock, threads, device),
                         trained_on)

"""From one level's fold results (`loco.level_folds`) to what `zap benchmark` reports: the summary JSON,
markdown tables, the per-core table, a critical-difference plot, and the picks re-scored on the cells
measured with a second seed. `score` is the objective's own measure (ALC, or final NAUC)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zap.benchmark import stats
from zap.benchmark.loco import RERUN_ORACLE, collect

RANKED = ("zap-hpo", "zap-as", "autofolio-default", "knn", "single-best", "random", "autodl-default", "recommended")
REFERENCES = ("oracle", RERUN_ORACLE)  # not ranked: they read the held-out rows
JSON_KEYS = ("score", "alc", "nauc", "rank", "gap_closed", "gap_closed_rerun", "beats_single_best")


def summary(folds: Sequence[dict], main: Sequence[str] = RANKED) -> dict[str, dict[str, Any]]:
    """Per method: mean score, ALC and final NAUC over cores, mean rank among `main`, gap closed against
    the in-matrix Oracle and against the re-run one, share of cores beating Single-best, Wilcoxon p
    against it, and a 95 % interval over repetitions."""
    _, cores, score = collect(folds, _score_key(folds))
    _, _, alc = collect(folds, "alc")
    _, _, nauc = collect(folds, "nauc")
    main = [m for m in main if m in score]
    out = stats.summarize(score, nauc, cores, main)
    on_rerun, rerun_gap = _rerun_pair(score, cores)
    for method, record in out.items():
        record["score"] = record["alc"]
        record["score_ci"] = record.pop("alc_ci")
        record["alc"] = stats.mean_over_cores(alc[method], cores) if method in alc else None
        record["gap_closed_rerun"] = (None if rerun_gap is None or method not in on_rerun else
                                      stats.gap_closed(rerun_gap[0], rerun_gap[1], on_rerun[method]))
    ablations = [m for m in score if m not in main and m not in REFERENCES]
    for group in _ablation_groups(ablations):
        for method, rank in stats.mean_ranks(score, cores, ["zap-hpo", *group]).items():
            if method != "zap-hpo":
                out[method]["rank_vs_zap_hpo"] = rank
    return out


def rerun_oracle_gap(result: dict[str, dict[str, Any]], key: str = "score") -> tuple[float, float] | None:
    """(Single-best, re-run Oracle) where the re-run Oracle scores above Single-best; None otherwise. When
    the Oracle's picks, trained again, end below Single-best (the winner's curse can exceed the gap on a
    noisy objective) there is no gap to close, and a ratio over a negative gap would flip every method's
    sign: a method worse than Single-best would read as closing part of it."""
    rerun = result.get(RERUN_ORACLE, {}).get(key)
    sb = result.get("single-best", {}).get(key)
    if rerun is None or sb is None or not rerun > sb:
        return None
    return sb, rerun


def _score_key(folds: Sequence[dict]) -> str:
    """`score` where the run had objectives, else `alc` (folds from before objectives)."""
    return "score" if any("score" in r for f in folds for results in f["methods"].values() for r in results) else "alc"


def _rerun_pair(score: dict[str, np.ndarray], cores: Sequence[str]) -> tuple[dict[str, float],
                                                                          tuple[float, float] | None]:
    """Every method's mean on the datasets the Oracle's pick was re-run on, and there (Single-best, re-run
    Oracle) where the re-run Oracle leads; the gap closed against it and the report's note both use these."""
    on_rerun = _on_rerun_datasets(score, cores)
    return on_rerun, rerun_oracle_gap({m: {"score": v} for m, v in on_rerun.items()})


def _on_rerun_datasets(score: dict[str, np.ndarray], cores: Sequence[str]) -> dict[str, float]:
    """Per method its mean score over cores on the datasets where the re-run Oracle has a score (its pick has
    a second seed). The gap closed against the re-run Oracle compares every method with it on those datasets
    alone: a re-run Oracle over a dozen datasets set against a Single-best over all of them would measure the
    datasets, not the methods. Empty without a re-run Oracle."""
    if RERUN_ORACLE not in score:
        return {}
    has = ~np.isnan(score[RERUN_ORACLE]).all(axis=0)
    return {m: stats.mean_over_cores(np.where(has[None, :], v, np.nan), cores) for m, v in score.items()}


def _ablation_groups(ablations: list[str]) -> list[list[str]]:
    return [[a] for a in ablations]


def json_view(result: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One level of the `--json FILE` shape: {method: {score, alc, nauc, rank, gap_closed, gap_closed_rerun,
    beats_single_best}} (+ the score's interval and the Wilcoxon p)."""
    return {m: {k: v.get(k) for k in JSON_KEYS} | {k: v[k] for k in ("score_ci", "wilcoxon_p") if k in v}
            for m, v in result.items()}


def noise_floor(folds: Sequence[dict]) -> dict[str, Any]:
    """Picks re-scored on the second-seed cells where they exist: per method the mean |score(seed 0) −
    score(seed 1)| of its picks and the mean seed-1 score (ALC for folds that predate objectives)."""
    new = any("score_seed0" in r for f in folds for results in f["methods"].values() for r in results)
    _, _, alc = collect(folds, "score_seed0" if new else "alc_seed0")
    _, _, repeat = collect(folds, "score_repeat" if new else "alc_repeat")
    per_method = {}
    for method, values in repeat.items():
        if method not in alc:
            continue
        first = alc[method][: values.shape[0]]
        both = ~np.isnan(values) & ~np.isnan(first)
        if both.any():
            per_method[method] = {"cells": int(both.sum()), "alc_seed0": float(first[both].mean()),
                                  "alc_seed1": float(values[both].mean()),
                                  "mean_abs_diff": float(np.abs(first[both] - values[both]).mean())}
    return per_method


def as_tuning(folds: Sequence[dict]) -> dict[str, Any] | None:
    """How ZAP-AS's tunings of one level ended: how many there were (one per fold, or per block of folds),
    in how many the tuned configuration left AutoFolio's default (only on a clear inner-CV gain), and the
    mean inner-CV regret of the default and of what was kept. None where no fold tuned (all reused)."""
    tunings = {}
    for fold in folds:
        tuning = fold.get("zap_as_tuning") or {}
        if "kept_start" in tuning:  # one entry per tuning: a block's folds share it, unless their pools differ
            tunings[json.dumps({k: v for k, v in tuning.items() if k != "stored"}, sort_keys=True)] = tuning
    if not tunings:
        return None
    kept = [t["default_loss"] if t["kept_start"] else t["best_loss"] for t in tunings.values()]
    return {"tunings": len(tunings), "left_default": sum(not t["kept_start"] for t in tunings.values()),
            "default_inner_regret": float(np.mean([t["default_loss"] for t in tunings.values()])),
            "kept_inner_regret": float(np.mean(kept))}


def tables(result: dict[str, dict[str, Any]], folds: Sequence[dict], main: Sequence[str] = RANKED) -> str:
    """Markdown: the method table (main methods, then oracle, then ablations) and the per-core table."""
    order = [m for m in (*main, *REFERENCES) if m in result] + [m for m in result if m not in (*main, *REFERENCES)]
    rows = [[m, v["score"], _ci(v.get("score_ci")), v["alc"], v["nauc"], v.get("rank") or v.get("rank_vs_zap_hpo"),
             v["gap_closed"], v.get("gap_closed_rerun"), v["beats_single_best"], v.get("wilcoxon_p")] for m, v in
            ((m, result[m]) for m in order)]
    text = stats.markdown_table(["method", "score", "95% CI", "ALC", "final NAUC", "rank*", "gap closed",
                                 "gap closed (re-run Oracle)", "beats SB", "Wilcoxon p"], rows)
    _, cores, alc = collect(folds, "score")
    shown = [m for m in (*main, *REFERENCES) if m in alc]
    names, table = stats.per_core_table(alc, cores, shown)
    per_core = stats.markdown_table(["core", *shown], [[n, *row] for n, row in zip(names, table, strict=True)])
    note = ("*rank: mean rank per core among the main methods; for an ablation, its rank against zap-hpo alone "
            "(1 = better on every core).")
    tuned = as_tuning(folds)
    if tuned:
        note += (f"\n\nZAP-AS's tuning left AutoFolio's default in {tuned['left_default']} of {tuned['tunings']} "
                 f"tunings (only on a clear inner cross-validation gain); mean inner regret "
                 f"{tuned['default_inner_regret']:.3f} for the default, {tuned['kept_inner_regret']:.3f} for what "
                 "was kept.")
    _, cores, score = collect(folds, _score_key(folds))
    on_rerun, gap = _rerun_pair(score, cores)
    if RERUN_ORACLE in on_rerun and "single-best" in on_rerun and gap is None:
        note += (f"\n\nThe re-run Oracle ({on_rerun[RERUN_ORACLE]:.3f}) does not beat Single-best "
                 f"({on_rerun['single-best']:.3f}) on the datasets it was re-run on: the Oracle's lead is the "
                 "first seed's luck, there is no re-run gap to close, and gap closed (re-run Oracle) is left empty.")
    return f"{text}\n\n{note}\n\nPer core (score, variants averaged, repetitions averaged):\n\n{per_core}\n"


def _ci(ci: list[float] | None) -> str:
    return "–" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def cd_plot(folds: Sequence[dict], path: Path, main: Sequence[str] = RANKED, title: str = "") -> Path:
    _, cores, alc = collect(folds, "score")
    methods = [m for m in main if m in alc]
    ranks = stats.mean_ranks(alc, cores, methods)
    cd = stats.critical_difference(ranks, n_blocks=len(set(cores)))
    return stats.plot_critical_difference(ranks, cd, path, title)

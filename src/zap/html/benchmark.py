"""The report of a `zap benchmark` run: per protocol, objective and budget level the method table, each
method's score against Single-best and the Oracle, the critical-difference plot, the per-core table and
the seed noise; then the picks fine-tuned again. It reads what the run wrote into its `--out` folder
(`<protocol>.json`, the CD plots, `folds/`, `rerun-picks.json`), so it also renders a finished run again
later, in either layout: one objective at one budget (`<tag>.json` = {method: ...}, as the shipped v1
benchmark has it) or objectives x budget levels (`<tag>.json` = {objective: {level: {method: ...}}})."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zap.benchmark import stats
from zap.benchmark.driver import PROTOCOLS
from zap.benchmark.loco import collect, current_names, level_folds
from zap.benchmark.report import RANKED
from zap.errors import ConfigError
from zap.html.page import cards, fmt, image, notes, page, png_uri, pyplot_uri, section, table, write_page
from zap.utils import plain_text_plots

HEADLINE = ("zap-hpo", "zap-as", "single-best", "oracle")
COLOURS = {"single-best": "#e07b00", "oracle": "#2e8b57", "oracle-rerun": "#7fbf9a"}  # reference points
OBJECTIVE_NAMES = {"alc": "ALC", "final": "final NAUC"}


@dataclass
class Block:
    """One objective at one budget level of one protocol: what one part of the report shows."""

    title: str
    name: str  # file stem of its CD plot, and the section's anchor
    objective: str
    summary: dict[str, Any]  # {method: {...}} plus `_`-keys (noise floor, scored datasets, ...)
    folds: list[dict]  # flat (one level) fold results

    @property
    def view(self) -> dict[str, dict[str, Any]]:
        return current_names({m: v for m, v in self.summary.items() if not m.startswith("_")})


def write_benchmark_report(out: Path, result=None) -> Path:
    """`out/report.html` for the benchmark whose files are in `out`. `result` (the `BenchmarkResult` of
    `zap.benchmark.run_protocols`) names the folds of this run; without it, the folds on disk are read."""
    out = Path(out)
    tags = [t for t in PROTOCOLS if (out / f"{t}.json").is_file()]
    if not tags:
        raise ConfigError(f"{out} holds no benchmark summary (<protocol>.json): give the --out folder of a "
                          "`zap benchmark` run")
    folds = {run.settings.tag(): run.folds for run in result.runs} if result is not None else {}
    body = []
    for tag in tags:
        summary = json.loads((out / f"{tag}.json").read_text())
        cost = summary.get("_cost_core_hours")
        footer = f'<p class="muted">{tag}, every part: {fmt(cost)} core-hours</p>' if cost is not None else ""
        body += [_block(out, block, footer) for block in blocks(out, tag, summary, folds.get(tag))]
    subtitle = f"{out} · protocols {', '.join(tags)}"
    return write_page(out, page("zap benchmark report", subtitle, [*body, _rerun(out)]))


def blocks(out: Path, tag: str, summary: dict[str, Any], run_folds=None) -> list[Block]:
    """The parts of one protocol's summary, with their folds (`run_folds`: this run's {objective: folds})."""
    if any(isinstance(v, dict) and "nauc" in v for k, v in summary.items() if not k.startswith("_")):
        return [Block(tag, tag, "alc", summary, _on_disk(out, f"{tag}--*.json"))]  # one objective, one level
    found = []
    for objective, levels in summary.items():
        if objective.startswith("_"):
            continue
        folds = (run_folds or {}).get(objective) or _on_disk(out, f"{tag}--{objective}--*.json")
        for level, level_summary in levels.items():
            title = f"{tag}: {OBJECTIVE_NAMES.get(objective, objective)} at {level} s"
            found.append(Block(title, f"{tag}-{objective}-{level}", objective, level_summary, _flat(folds, level)))
    return found


def _on_disk(out: Path, pattern: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "folds").glob(pattern))]


def _flat(folds: list[dict], level: str) -> list[dict]:
    if not folds or "levels" not in folds[0]:  # a one-level fold file from before budget levels
        return [f | {"methods": current_names(f["methods"])} for f in folds]
    return level_folds(folds, level)


def _score(record: dict[str, Any]) -> float | None:
    """The objective's score of a method: `score` where the run had objectives, else its ALC."""
    return record.get("score", record.get("alc"))


def _interval(record: dict[str, Any]) -> list[float] | None:
    return record.get("score_ci") or record.get("alc_ci")


def _block(out: Path, block: Block, footer: str = "") -> str:
    view, summary = block.view, block.summary
    measure = OBJECTIVE_NAMES.get(block.objective, block.objective)
    body = cards([(f"{m} ({measure})", fmt(_score(view[m])), "good" if m == "oracle" else "") for m in HEADLINE
                  if m in view] + [("gap closed by zap-hpo", fmt(view.get("zap-hpo", {}).get("gap_closed")), ""),
                                   ("scored datasets", str(summary.get("_scored_datasets", "–")), "")])
    if summary.get("_complete_artifact") is False:
        body += notes(["the artifact was incomplete: a pilot, scored on its complete rows only"])
    body += image(pyplot_uri(_score_figure(view, block.title, measure)), f"{block.title}: score per method")
    body += _method_table(view)
    cd = out / f"{block.name}-cd.png"
    if cd.is_file():
        body += "<h3>Mean rank per core (critical difference)</h3>" + image(png_uri(cd.read_bytes()), "CD plot")
    if block.folds:
        body += _per_core(block.folds, measure)
    noise = current_names(summary.get("_noise_floor") or {})
    if noise:
        body += "<h3>Picks on the cells measured with a second seed</h3>" + table(
            ["method", "cells", "seed 0", "seed 1", "mean |difference|"],
            [[m, v.get("cells"), v.get("alc_seed0"), v.get("alc_seed1"), v.get("mean_abs_diff")]
             for m, v in noise.items()])
    return section(block.title, body + footer, block.name)


def _method_table(view: dict[str, dict[str, Any]]) -> str:
    rows = []
    for method, v in view.items():
        ci = _interval(v)
        rows.append([method, _score(v), "–" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]", v.get("alc"), v.get("nauc"),
                     v.get("rank"), v.get("gap_closed"), v.get("gap_closed_rerun"), v.get("beats_single_best"),
                     v.get("wilcoxon_p")])
    headers = ["method", "score", "95% CI", "ALC", "final NAUC", "rank", "gap closed", "gap closed (re-run Oracle)",
               "beats SB", "Wilcoxon p"]
    kept = [j for j in range(len(headers)) if any(row[j] is not None for row in rows)]  # not in this run's layout
    return table([headers[j] for j in kept], [[row[j] for j in kept] for row in rows],
                 lambda i: rows[i][0] == "zap-hpo")


@plain_text_plots
def _score_figure(view: dict[str, dict[str, Any]], title: str, measure: str):
    """Mean score per method with its interval over repetitions, against Single-best and the Oracle."""
    import matplotlib.pyplot as plt

    methods = [m for m in view if _score(view[m]) is not None]
    score = np.array([_score(view[m]) for m in methods], dtype=float)
    ci = np.array([_interval(view[m]) or [s, s] for m, s in zip(methods, score, strict=True)], dtype=float)
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(methods) + 1.6))
    y = np.arange(len(methods))
    ax.barh(y, score, color=[COLOURS.get(m, "#3b7dd8" if m in RANKED else "#9bb8de") for m in methods])
    ax.errorbar(score, y, xerr=np.abs(ci.T - score), fmt="none", ecolor="#1d2733", capsize=3)
    for name in ("single-best", "oracle"):
        if name in methods:
            value = _score(view[name])
            ax.axvline(value, color=COLOURS[name], linestyle="--", label=f"{name} {value:.3f}")
    ax.set_yticks(y, methods, fontsize=9)
    ax.invert_yaxis()
    low = max(0.0, float(np.nanmin(ci)) - 0.05) if len(ci) else 0.0
    high = min(1.0, float(np.nanmax(ci)) + 0.05) if len(ci) else 1.0
    ax.set(xlabel=f"mean {measure} over the held-out datasets", xlim=(low, high),
           title=f"{title}: mean per method (whiskers: 95 % interval over repetitions)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    return fig


def _per_core(folds: list[dict], measure: str) -> str:
    key = "score" if any("score" in r for f in folds for results in f["methods"].values() for r in results) else "alc"
    _, cores, score = collect(folds, key)
    shown = [m for m in (*RANKED, "oracle") if m in score]
    names, values = stats.per_core_table(score, cores, shown)
    rows = [[name, *row] for name, row in zip(names, values.tolist(), strict=True)]
    return f"<h3>Per core ({measure}, variants and repetitions averaged)</h3>" + table(["core", *shown], rows)


def _rerun(out: Path) -> str:
    path = out / "rerun-picks.json"
    if not path.is_file():
        return ""
    rerun = json.loads(path.read_text())
    rows = [[f"{r['budget']:g}" if r.get("budget") is not None else None, r["dataset"], r["method"],
             r["pipeline_id"], r["stored_alc"], r.get("stored_alc_repeat"), r["rerun_alc"], r["diff"]]
            for r in rerun["rows"]]
    text = (f'<p class="muted">{rerun["n"]} picks fine-tuned again with a new seed: mean difference '
            f'{fmt(rerun["mean_diff"])}, mean |difference| {fmt(rerun["mean_abs_diff"])}</p>')
    return section("Picks re-run (stored vs fresh ALC)", text + table(
        ["budget (s)", "dataset", "method", "pipeline", "stored ALC", "stored, 2nd seed", "re-run ALC", "difference"],
        rows), "rerun")

"""The report of one `zap tune`: what the search found, where it started, every trial in the order it ran,
and where the budget went. It reads the summary `zap tune` writes and the search's curve, so that the page
and `summary.json` can never disagree on a number; it needs no model and no data, so a finished run folder
can be reported again from its files alone (`zap tune` writes it beside the model)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from zap.errors import ConfigError
from zap.finetune import Budget
from zap.html.fit import SHOWN_CONFIG
from zap.html.page import (
    cards,
    check_out,
    esc,
    figure_uri,
    fmt,
    image,
    notes,
    page,
    pyplot_uri,
    section,
    table,
    write_page,
)
from zap.scoring import LearningCurve
from zap.utils import plain_text_plots

ORIGIN_MARKERS = {"zero-shot": ("o", "#2e8b57"), "initial design": ("s", "#3b7dd8"), "random": ("^", "#e0a800"),
                  "model": ("D", "#c0392b")}


def write_tune_report(out: Path, summary: dict[str, Any], curve: LearningCurve) -> Path:
    """`out/report.html` for a `zap tune` run; `summary` is what it writes to summary.json, `curve` the search's
    incumbent-so-far on the test split (learning_curve.csv)."""
    if summary.get("strategy") != "tune" or not isinstance(summary.get("tune"), dict):
        raise ConfigError("write_tune_report needs the summary of a `zap tune` run (\"strategy\": \"tune\")")
    out = check_out(out)
    search = summary["tune"]
    body = [_key_numbers(summary), _design(search), _trials_figure(summary), _search_curve(summary, curve),
            _trials(summary), _incumbent(summary), _time(summary)]
    subtitle = (f"data {summary.get('data', '–')} · init {search['init']} · k {search['k']} · "
                f"objective {summary['objective']} · seed {summary.get('seed')}")
    return write_page(out, page("zap tune report", subtitle, body))


def _key_numbers(summary: dict[str, Any]) -> str:
    search, ok = summary["tune"], summary["status"] == "ok"
    best = search.get("incumbent") or {}
    clock = summary["clock"]
    searched = ok or (search.get("refit") or {}).get("status") == "interrupted"  # the search itself ended well
    items = [("search ALC", fmt(summary["alc"]), "good" if searched else "bad"),
             ("final NAUC", fmt(summary.get("final_nauc")), ""), ("accuracy", fmt(summary.get("accuracy")), ""),
             ("budget", f"{summary['budget_s']:g} {clock}-s", ""), ("spent", f"{search['seconds']:.1f} {clock}-s", ""),
             ("trials", str(search["n_trials"]), ""), ("incumbent", f"trial {best.get('n', '–')}", ""),
             ("status", summary["status"], "good" if ok else "bad")]
    text = ('<p class="muted">final NAUC and accuracy are the incumbent\'s own model on the test split; the search '
            "ALC is the incumbent-so-far's test NAUC against the search's time, what a user stopping the search at "
            "any moment would have had. No trial was chosen on the test split: trials are scored on an inner "
            "validation split of the training data.</p>")
    refit = search.get("refit") or {}
    if refit.get("status") == "ok":
        how = f"for {refit['steps']} optimizer steps" if refit["steps"] else "(its quick model, fitted again)"
        text += notes([f"--refit: the saved model is the incumbent's pipeline retrained on all {refit['n_images']} "
                       f"labelled images {how}; the scores above are its trial's model's, before the refit"])
    elif refit.get("status") == "interrupted":
        text += notes(["--refit was interrupted (Ctrl-C): the saved model is the incumbent trial's own"])
    elif refit.get("status") == "failed":
        text += notes([f"--refit made no usable model, so the saved model is the incumbent trial's own: "
                       f"{refit['error']}"])
    return section("Result", cards(items) + text, "result")


def _design(search: dict[str, Any]) -> str:
    design = search["initial_design"]
    source = {"selector": "the trained selector's top-k for this data, ranked for one trial's budget",
              "named": "the named pipelines (no trained selector was found)",
              "given": "configurations the caller gave", "smac": "SMAC's own random initial design"}
    text = f"<p>{esc(source.get(design['source'], design['source']))}.</p>"
    rows = [[c.get("rank"), c.get("pipeline_id"), c.get("name") or "–", c.get("score")] for c in design["configs"]]
    if rows:
        text += table(["rank", "pipeline", "name", "selector score"], rows)
    return section("Initial design", text + notes(design.get("notes", [])), "design")


def _ends(trials: list[dict[str, Any]]) -> list[float]:
    """Each trial's end on the search's own clock: the trials' summed time (SMAC's overhead left out)."""
    total, ends = 0.0, []
    for trial in trials:
        total += float(trial["seconds"])
        ends.append(total)
    return ends


@plain_text_plots
def _trials_figure(summary: dict[str, Any]) -> str:
    trials, objective, clock = summary["tune"]["trials"], summary["objective"], summary["clock"]
    scored = [(end, t) for end, t in zip(_ends(trials), trials, strict=True) if t["score"] is not None]
    if not scored:
        return section("Trials", notes(["no trial finished with a score"]), "trials-figure")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    largest = max(t["budget"] for _, t in scored)
    for origin, (marker, colour) in ORIGIN_MARKERS.items():
        points = [(end, t["score"], t["budget"]) for end, t in scored if t["origin"] == origin]
        if points:
            ends, scores, budgets = zip(*points, strict=True)
            ax.scatter(ends, scores, s=[20 + 80 * b / largest for b in budgets], marker=marker, c=colour,
                       label=origin, alpha=0.8)
    best, line = float("-inf"), []
    for end, trial in scored:
        best = max(best, trial["score"])
        line.append((end, best))
    ax.step(*zip(*line, strict=True), where="post", color="black", lw=1, label="best so far")
    ax.set(xlabel=f"trials' summed time ({clock} s)", ylabel=f"inner validation {objective}",
           title="every trial (marker size: the trial's budget)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return section("Trials", image(pyplot_uri(fig), "trials"), "trials-figure")


def _search_curve(summary: dict[str, Any], curve: LearningCurve) -> str:
    from zap.report import plot_curve

    if not len(curve):
        return section("Search curve", notes(["no incumbent was scored on a test split"]), "curve")
    budget = Budget(float(summary["budget_s"]), summary["clock"])
    uri = figure_uri(lambda path: plot_curve(curve, budget, path, f"incumbent so far, search ALC {summary['alc']:.3f}"))
    caption = ('<p class="muted">test NAUC of the incumbent so far, a point each time it changed, on the '
               "search's clock (log axis); the shaded area is the search ALC</p>")
    return section("Search curve", image(uri, "search curve") + caption, "curve")


def _trials(summary: dict[str, Any]) -> str:
    search, clock = summary["tune"], summary["clock"]
    best = (search.get("incumbent") or {}).get("n")
    rows = []
    for end, trial in zip(_ends(search["trials"]), search["trials"], strict=True):
        config = trial["config"]
        budget = f"{trial['budget']:.3g}" + (f" (asked {trial['asked_budget']:.3g})" if trial.get("truncated") else "")
        rows.append([trial["n"], trial["origin"], trial["pipeline_id"], config.get("architecture"),
                     2 ** int(config.get("log2_max_size", 0)), budget, trial["seconds"], end,
                     trial.get("valid_alc"), trial.get("valid_final_nauc"), trial["status"],
                     trial.get("incumbent"), trial.get("test_final_nauc")])
    headers = ["#", "origin", "pipeline", "architecture", "px", f"budget {clock}-s", f"ran {clock}-s",
               f"ended at {clock}-s", "valid ALC", "valid final NAUC", "status", "incumbent after", "test NAUC"]
    text = (f'<p class="muted">the incumbent\'s row is highlighted; test NAUC is shown for the trials that became '
            f"the incumbent (only those models ever saw the test split). Scores are {esc(summary['objective'])} on "
            "the inner validation split, ALC over the largest trial budget with the last score held.</p>")
    return section("Every trial", text + table(headers, rows, lambda i: rows[i][0] == best), "trials")


def _incumbent(summary: dict[str, Any]) -> str:
    config = summary.get("pipeline") or {}
    if not config:
        return ""
    rows = [[name, config.get(name)] for name in SHOWN_CONFIG if name in config]
    rest = ", ".join(f"{k}={v}" for k, v in sorted(config.items()) if k not in SHOWN_CONFIG)
    text = f"<p>pipeline <code>{esc(summary['pipeline_id'])}</code></p>" + table(["setting", "value"], rows)
    return section("Incumbent pipeline", text + f'<p class="muted">{esc(rest)}</p>', "incumbent")


def _time(summary: dict[str, Any]) -> str:
    search, clock = summary["tune"], summary["clock"]
    by_origin: dict[str, list[float]] = defaultdict(list)
    by_budget: dict[float, list[float]] = defaultdict(list)
    for trial in search["trials"]:
        by_origin[trial["origin"]].append(float(trial["seconds"]))
        by_budget[round(float(trial["asked_budget"]), 6)].append(float(trial["seconds"]))
    total = sum(sum(v) for v in by_origin.values()) or 1.0
    rows = [[origin, len(v), sum(v), sum(v) / total] for origin, v in by_origin.items()]
    fidelity_rows = [[f"{b:.3g}", len(v), sum(v), sum(v) / total] for b, v in sorted(by_budget.items())]
    text = (table(["origin", "trials", f"{clock}-s", "share"], rows) + "<h3>By fidelity (budget asked)</h3>" +
            table(["budget", "trials", f"{clock}-s", "share"], fidelity_rows))
    skipped = search.get("skipped") or []
    if skipped:
        text += (f"<h3>Skipped: no answer possible within their budget ({len(skipped)})</h3>" +
                 table(["pipeline", "origin", f"budget ({clock}-s)", f"first answer priced at ({clock}-s)"],
                       [[t["pipeline_id"], t["origin"], t["budget"], t["first_answer_s"]] for t in skipped]) +
                 '<p class="muted">not run: the reference clock\'s prices put the trial\'s first prediction past '
                 f"{_times(search.get('price_margin'))}its budget, so it was told to SMAC as scoring 0, as a trial "
                 "that runs scores when it answers only after its budget</p>")
    passed = search.get("passed") or []
    if passed:
        text += (f"<h3>Passed over: no room left for their first answer ({len(passed)})</h3>" +
                 table(["pipeline", "origin", f"left ({clock}-s)", f"first answer priced at ({clock}-s)",
                        "after trial"],
                       [[t["pipeline_id"], t["origin"], t["budget"], t["first_answer_s"], t["after_trial"]]
                        for t in passed]) +
                 '<p class="muted">not run and not told to SMAC: what was left of the search\'s budget was too '
                 "little for the trial's first prediction, so the search asked for another</p>")
    overhead = search["seconds"] - sum(sum(v) for v in by_origin.values())
    if clock == "wall":
        text += f'<p class="muted">SMAC and model building outside the trials: {overhead:.1f} s of wall time</p>'
    return section("Where the budget went", text, "time")


def _times(margin: float | None) -> str:
    return f"{margin:g} times " if margin and margin != 1 else ""

"""The report of one `zap fit`: what it scored, which pipeline ran and why, where the errors are, and where
the time went. It reads a fitted `zap.api.ZAP` (its split, run result and selection) and the summary that
`zap fit` writes, so that the page and `summary.json` can never disagree on a number."""

from __future__ import annotations

import io
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from zap.errors import ConfigError
from zap.finetune.calibrate import run_notes
from zap.finetune.threads import fewer_threads_note
from zap.html.page import (
    Raw,
    cards,
    check_out,
    esc,
    figure_uri,
    fmt,
    image,
    notes,
    page,
    png_uri,
    pyplot_uri,
    section,
    table,
    write_page,
)
from zap.pipelines import as_pipelines_see
from zap.selectors.trained import selection_lines
from zap.utils import plain_text_plots

MAX_MISCLASSIFIED = 24
NEAREST_K = 5
THUMBNAIL = 80
HARDEST = 10  # classes listed by recall, worst first
ANNOTATED_CLASSES = 30  # above this many classes the confusion matrix shows colour only
SHOWN_CONFIG = ("architecture", "optimizer", "lr", "batch_size", "log2_max_size", "freeze_portion", "augmentation",
                "scheduler", "first_simple_model", "simple_model")


def write_fit_report(out: Path, estimator, summary: dict[str, Any], artifact: Path | None = None) -> Path:
    """`out/report.html` for a fitted estimator; `summary` is what `zap fit` writes to summary.json.
    `artifact` is the meta-dataset whose nearest datasets explain the pick (default: the home's)."""
    if not hasattr(estimator, "result_"):
        raise ConfigError("write_fit_report needs a fitted zap.ZAP: call .fit(data) first")
    out = check_out(out)
    name = estimator.split_.train.name
    body = [_key_numbers(summary), _selection(summary), _nearest(estimator, summary, artifact),
            _meta_features(summary), _curve(estimator, name), _refine(estimator, summary), _confusion(estimator),
            _misclassified(estimator), _time(estimator, summary)]
    subtitle = f"data {summary.get('data', name)} · pipeline {summary['pipeline_id']} · seed {summary.get('seed')}"
    return write_page(out, page(f"zap fit report: {name}", subtitle, body))


def _key_numbers(summary: dict[str, Any]) -> str:
    ok = summary["status"] == "ok"
    budget = f"{summary['budget_s']:g} {summary['clock']}-s"
    items = [("ALC", fmt(summary["alc"]), "good" if ok else "bad"), ("final NAUC", fmt(summary["final_nauc"]), ""),
             ("accuracy", fmt(summary["accuracy"]), ""), ("budget", budget, ""),
             ("elapsed", f"{summary['elapsed_s']:.1f} s", ""), ("status", summary["status"], "good" if ok else "bad"),
             ("answered by", summary.get("answered_by") or "–", ""), ("predictions", str(summary["n_predictions"]), "")]
    error = notes([f"error: {summary['error']}"]) if summary.get("error") else ""
    return section("Result", cards(items) + error, "result")


def _top_k(selection: dict[str, Any]) -> list[dict[str, Any]]:
    """The selector's ranking when it kept one, else its single pick."""
    if selection.get("top_k"):
        return list(selection["top_k"])
    if "pipeline_id" in selection:
        return [{"rank": 1, "pipeline_id": selection["pipeline_id"], "name": selection.get("name"),
                 "score": selection.get("score")}]
    return []


def _selection(summary: dict[str, Any]) -> str:
    selection, chosen = summary.get("selection", {}), summary["pipeline_id"]
    selector = selection.get("selector", "fixed")
    if selector == "fixed":
        why = f"<p>A fixed pipeline ran: <code>{esc(selection.get('config', summary.get('config_source')))}</code>; " \
              "no zero-shot selection.</p>"
    elif "pipeline_id" in selection:  # the last line says what ran and why, as `zap fit` printed it
        why = f"<p>{esc(selection_lines(selection)[-1])}.</p>"
    else:
        why = f"<p>The <b>{esc(selector)}</b> selector could not pick.</p>"
    if isinstance(selection.get("fallback"), str):  # no trained selector: a named pipeline ran
        why += notes([f"fallback: ran the '{selection['fallback']}' pipeline instead"])
    why += notes(selection.get("warnings", []))
    rule = summary.get("default_rule")
    if rule:
        applied = " and ".join(rule.get("applied", ["strategy", "selector"]))
        what = f"{rule['strategy']} with {rule['selector']}" if rule["selector"] else "the recommended pipeline"
        why += (f'<p class="muted">the default rule chose the {esc(applied)} (left to auto): its band from '
                f'{rule["lowest_ref_s"]:g} reference-s ({esc(summary.get("objective", "alc"))}) says {esc(what)}; '
                f'{esc(rule["evidence"])}</p>')
    trained = selection.get("trained_on")
    if trained:
        protocol, levels = trained.get("protocol", {}), trained.get("levels") or []
        # a multi-level selector's protocol budget is only its lowest level's: its levels say what it learned from
        budgets = " and ".join(f"{b:g}" for b in levels) if len(levels) > 1 else protocol.get("budget")
        why += (f'<p class="muted">selector trained on {trained.get("n_datasets")} datasets of '
                f'{trained.get("n_cores")} cores, measured at {esc(budgets)} '
                f'{esc(protocol.get("clock"))}-s (meta-dataset {esc(trained.get("protocol_hash"))})</p>')
    ranking = _top_k(selection)
    if ranking:
        priced = {p["pipeline_id"]: p["first_answer_ref_s"] for p in selection.get("priced_out") or []}
        rows = [[r["rank"], r["pipeline_id"], r.get("name") or "", r.get("score"),
                 f"{priced[r['pipeline_id']]:.2f}" if r["pipeline_id"] in priced else ""] for r in ranking]
        why += "<h3>Top candidates (predicted score)</h3>" + table(
            ["rank", "pipeline", "name", "predicted score", "passed over: first answer priced at (ref-s)"], rows,
            lambda i: ranking[i]["pipeline_id"] == chosen)
    config = summary["pipeline"]
    rows = [[key, f"{config[key]:.4g}" if isinstance(config[key], float) else config[key]]
            for key in SHOWN_CONFIG if key in config]
    why += "<h3>The pipeline that ran</h3>" + table(["hyperparameter", "value"], rows)
    return section("Chosen pipeline and why", why, "selection")


def nearest_datasets(meta_vector: np.ndarray, payload: dict, pipeline_id: str | None = None,
                     k: int = NEAREST_K, budget: float | None = None) -> list[dict[str, Any]]:
    """The `k` datasets of a meta-dataset closest to these meta-features: log-scaled (sizes spread over
    orders of magnitude) and standardized with the meta-dataset's own mean and std, as a selector sees
    them. Each with its best candidate and, if `pipeline_id` is a candidate, that pipeline's ALC and rank,
    at the budget level `budget` (None: the lowest)."""
    from zap.metadataset.problem import SelectionProblem
    from zap.selectors.base import Standardizer

    problem = SelectionProblem.from_artifact(payload, budget)
    x = np.log1p(problem.meta_features)
    scaler = Standardizer().fit(x)
    distance = np.linalg.norm(scaler.transform(x) - scaler.transform(np.log1p(meta_vector)[None, :]), axis=1)
    column = problem.candidate_ids.index(pipeline_id) if pipeline_id in problem.candidate_ids else None
    rows = []
    for i in np.argsort(distance, kind="stable")[:k]:
        alc = problem.alc[i]
        best = int(np.nanargmax(alc)) if not np.isnan(alc).all() else None
        row = {"dataset": problem.dataset_ids[i], "core": str(problem.cores[i]), "domain": str(problem.domains[i]),
               "meta_features": problem.meta_features[i].astype(int).tolist(), "distance": float(distance[i]),
               "best_pipeline": None if best is None else problem.candidate_ids[best],
               "best_alc": None if best is None else float(alc[best]), "chosen_alc": None, "chosen_rank": None}
        if column is not None and not np.isnan(alc[column]):
            row["chosen_alc"] = float(alc[column])
            row["chosen_rank"] = int((alc > alc[column]).sum()) + 1
        rows.append(row)
    return rows


def report_level(payload: dict, budget_ref: float | None) -> float | None:
    """The budget level the report compares the run with: of a multi-level artifact, the measured level
    nearest the run's budget in reference seconds on a log scale (the lowest when that is unknown); None
    for a one-level artifact."""
    from zap.metadataset.artifact import budgets_of, measured_budgets

    if len(budgets_of(payload)) == 1:
        return None
    levels = measured_budgets(payload)  # reads every level's matrix: only for a multi-level artifact
    if not levels:
        return None
    if not budget_ref or budget_ref <= 0:
        return levels[0]
    return min(levels, key=lambda b: abs(math.log(b / budget_ref)))


def _nearest(estimator, summary: dict[str, Any], artifact: Path | None) -> str:
    from zap.metadataset.artifact import level_view, load
    from zap.resources import metadataset_artifact

    path = Path(artifact) if artifact is not None else metadataset_artifact()
    if not path.is_file():
        return section("Nearest meta-training datasets", notes([f"no meta-dataset artifact at {path}"]), "nearest")
    payload = load(path)
    level = report_level(payload, summary.get("budget_ref_s"))
    meta = estimator.meta_features_
    seen = as_pipelines_see(meta)
    rows = nearest_datasets(seen.vector(), payload, summary["pipeline_id"], budget=level)
    n_candidates = len(level_view(payload, level)["candidates"])
    at = "" if level is None else f" of its {level:g} ref-s level, the one nearest this run's budget"
    scaled = ("" if seen.resolution == meta.resolution else
              f"; this data's resolution counted as {seen.resolution} px, the largest input any pipeline takes")
    body = (f'<p class="muted">the {len(rows)} datasets of {esc(path.name)} closest in meta-feature space '
            "(channels, classes, training images, resolution; log-scaled and standardized) and how the chosen "
            f"pipeline did on them, ranked among the {n_candidates} candidates{esc(at)}{esc(scaled)}</p>")
    body += table(["dataset", "core", "domain", "channels", "classes", "train", "resolution", "distance",
                   "best pipeline", "best ALC", "chosen ALC", "chosen rank"],
                  [[r["dataset"], r["core"], r["domain"], *r["meta_features"], r["distance"], r["best_pipeline"],
                    r["best_alc"], r["chosen_alc"], r["chosen_rank"]] for r in rows])
    return section("Nearest meta-training datasets", body, "nearest")


def _meta_features(summary: dict[str, Any]) -> str:
    rows = [[key, value] for key, value in summary["meta_features"].items()]
    return section("Meta-features (train split)", table(["meta-feature", "value"], rows), "meta-features")


def _curve(estimator, name: str) -> str:
    from zap.report import plot_curve

    result = estimator.result_
    uri = figure_uri(lambda path: plot_curve(result.curve, result.budget, path,
                                             f"{name}: ALC {result.alc:.3f}, pipeline {result.pipeline_id}"))
    caption = ('<p class="muted">NAUC of each anytime prediction on the log time axis; the shaded area is the '
               "ALC</p>")
    return section("Learning curve", image(uri, "learning curve") + caption, "curve")


def _refine(estimator, summary: dict[str, Any]) -> str:
    """What `--strategy refine` did: the candidates it looked at, the time each got, and why it committed."""
    from zap.report import plot_refine

    refine = summary.get("refine")
    if not refine:
        return ""
    if "fallback" in refine:
        return section("Refine", notes([f"refine ran as zero-shot: {refine['reason']}"]), "refine")
    rows = [[c["rank"], c.get("name") or c.get("pipeline_id"), c.get("score"), c["time"]]
            for c in refine["candidates"]]
    uri = figure_uri(lambda path: plot_refine(refine, estimator.result_.budget, path, "refine"))
    text = (f"<p>Committed to candidate #{esc(refine['committed'])}: {esc(refine['reason'])}. Each candidate's "
            "own predictions on the clock of the whole run; the black line is the answer standing.</p>")
    return section("Refine", text + table(["candidate", "pipeline", "selector score", "time"], rows) +
                   image(uri, "refine"), "refine")


def _test_predictions(estimator) -> tuple[np.ndarray, np.ndarray] | None:
    probabilities = estimator.result_.test_probabilities
    if probabilities is None or not len(probabilities):
        return None
    return estimator.split_.test.labels, probabilities.argmax(axis=1)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts, rows the true class and columns the predicted one."""
    return np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _confusion(estimator) -> str:
    found = _test_predictions(estimator)
    if found is None:
        return section("Confusion matrix", notes(["the run made no test prediction"]), "confusion")
    classes = list(estimator.result_.class_names)
    matrix = confusion_matrix(*found, len(classes))
    uri = pyplot_uri(_confusion_figure(matrix, classes))
    text = f'<p class="muted">the last released prediction of the {int(matrix.sum())} test images</p>'
    return section("Confusion matrix (test split)", image(uri, "confusion matrix") + text + _hardest(matrix, classes),
                   "confusion")


def _hardest(matrix: np.ndarray, classes: list[str]) -> str:
    """The classes recalled worst, each with the class it is most often taken for."""
    totals = matrix.sum(axis=1)
    recall = np.divide(np.diag(matrix), totals, out=np.full(len(classes), np.nan), where=totals > 0)
    confused = matrix - np.diag(np.diag(matrix))
    rows = [[classes[i], int(totals[i]), float(recall[i]),
             classes[int(confused[i].argmax())] if confused[i].any() else "–"]
            for i in np.argsort(recall, kind="stable")[:HARDEST] if totals[i] > 0]
    return "<h3>Hardest classes</h3>" + table(["class", "test images", "recall", "most often taken for"], rows)


@plain_text_plots
def _confusion_figure(matrix: np.ndarray, classes: list[str]):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    n = len(classes)
    side = min(9.0, max(4.0, 0.35 * n + 2))
    fig, ax = plt.subplots(figsize=(side + 1, side))
    shown = ax.imshow(matrix, cmap="Blues", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="images", ticks=MaxNLocator(integer=True))
    if n <= ANNOTATED_CLASSES:
        labels = [c[:12] for c in classes]
        long = max(len(label) for label in labels) > 3
        ax.set_xticks(range(n), labels, rotation=60 if long else 0, ha="right" if long else "center", fontsize=8)
        ax.set_yticks(range(n), labels, fontsize=8)
        limit = matrix.max() / 2
        for (i, j), count in np.ndenumerate(matrix):
            if count:
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                        color="white" if count > limit else "black")
    ax.set(xlabel="predicted class", ylabel="true class")
    return fig


def _thumbnail(pixels: np.ndarray) -> str:
    from PIL import Image

    img = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    img.thumbnail((THUMBNAIL, THUMBNAIL))  # shrinks only: the page scales small images up, pixelated
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return png_uri(buffer.getvalue())


def _misclassified(estimator) -> str:
    found = _test_predictions(estimator)
    if found is None:
        return ""
    labels, predicted = found
    wrong = np.flatnonzero(labels != predicted)
    test, classes = estimator.split_.test, estimator.result_.class_names
    figures = []
    for i in wrong[:MAX_MISCLASSIFIED]:
        image = _thumbnail(test.load_scaled(int(i), THUMBNAIL))
        figures.append(f'<figure title="{esc(test.describe(int(i)))}"><img src="{image}" '
                       f'alt="misclassified image"><figcaption>true <b>{esc(classes[labels[i]])}</b><br>'
                       f"predicted <b>{esc(classes[predicted[i]])}</b></figcaption></figure>")
    shown = f", the first {len(figures)} shown" if len(wrong) > len(figures) else ""
    text = f'<p class="muted">{len(wrong)} of {len(labels)} test images misclassified{shown}</p>'
    return section("Misclassified test images", text + f'<div class="grid">{"".join(figures)}</div>', "misclassified")


def _bar(share: float) -> Raw:
    return Raw(f'<span class="bar"><span style="width:{min(100.0, 100 * share):.0f}%"></span></span> '
               f"{100 * share:.0f} %")


def _time(estimator, summary: dict[str, Any]) -> str:
    elapsed, clock = summary["elapsed"], summary["clock"]
    budgets = {clock: float(summary["budget_s"])}
    if summary.get("budget_ref_s") is not None:
        budgets.setdefault("ref", float(summary["budget_ref_s"]))
    units = {"wall": ("wall_s", "seconds"), "cpu": ("cpu_s", "CPU seconds of this thread"),
             "ref": ("ref_s", "reference seconds (a fixed amount of compute)"), "steps": ("steps", "training steps")}
    rows = []
    for name, (key, unit) in units.items():
        budget = budgets.get(name)
        used = elapsed.get(key)
        share = _bar(used / budget) if budget and used is not None and math.isfinite(used) else ""
        rows.append([name + (" (the budget's clock)" if name == clock else ""), unit, elapsed.get(key), budget, share])
    body = table(["clock", "unit", "used", "budget", "of the budget"], rows, lambda i: rows[i][0].startswith(clock))
    events = Counter(e["event"].replace("_", " ") for e in estimator.result_.events)
    body += "<p class=\"muted\">" + esc(", ".join(f"{n} × {event}" for event, n in events.items())) + \
        f" · {esc(_run_notes(summary))} · input {summary.get('input_size')} px</p>"
    predictions = [e for e in estimator.result_.events if e["event"] == "prediction"]
    if predictions:
        body += "<h3>Anytime predictions</h3>" + table(
            ["#", "by", "wall s", "cpu s", "ref s", "steps", "validation NAUC"],
            [[n, e["source"], e["wall_s"], e["cpu_s"], e["ref_s"], e["steps"], e.get("valid_nauc")]
             for n, e in enumerate(predictions)])
    return section("Time", body, "time")


def _run_notes(summary: dict[str, Any]) -> str:
    """The run's threads and why fewer than the cores, and the budget decoding took: the first questions about
    a slow run."""
    notes = run_notes(summary.get("threads_choice"), summary.get("clock_calibration"), float(summary["budget_s"]))
    if fewer_threads_note(summary.get("threads_choice")) is None:
        notes.insert(0, f"{summary.get('threads')} thread(s)")
    return " · ".join(notes)

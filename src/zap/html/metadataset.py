"""The report of a meta-dataset artifact (`zap metadataset report`): what it holds and, per budget level, whether
its cost matrix is worth learning from: the heatmap, the winners, Oracle vs Single-best vs Random, and the
noise floor those gaps must clear. The numbers and figures are `zap.metadataset.diversity`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zap.html.page import cards, check_out, esc, figure_uri, fmt, image, notes, page, section, table, write_page

MAX_WINNERS = 15


def write_metadataset_report(artifact_path: Path, out: Path) -> Path:
    """`out/report.html` for the artifact at `artifact_path` (a damaged or missing file: ArtifactError)."""
    from zap.metadataset.artifact import budgets_of, info, load

    artifact_path, out = Path(artifact_path), check_out(out)
    payload = load(artifact_path)
    summary = info(payload)
    body = [_holdings(summary)] + [_level(payload, budget) for budget in budgets_of(payload)]
    subtitle = f"{artifact_path} · protocol {summary['protocol_hash']}"
    return write_page(out, page(f"zap meta-dataset report: {artifact_path.name}", subtitle, body))


def _holdings(summary: dict[str, Any]) -> str:
    items = [("datasets", str(summary["n_datasets"]), ""), ("cores", str(summary["n_cores"]), ""),
             ("domains", str(summary["n_domains"]), ""), ("candidates", str(summary["n_candidates"]), ""),
             ("missing cells", str(summary["n_missing"]), "good" if summary["complete"] else "bad")]
    budgets = summary.get("budgets") or [summary["budget_s"]]
    rows = [["budget levels", ", ".join(f"{b:g}" for b in budgets)], ["clock", summary["clock"]],
            ["t0", summary["t0"]], ["seeds", ", ".join(str(s) for s in summary["seeds"])],
            ["schema", summary["schema"]], ["protocol hash", summary["protocol_hash"]]]
    return section("What it holds", cards(items) + table(["", ""], rows), "holdings")


def _level(payload: dict, budget: float) -> str:
    from zap.metadataset.artifact import level_view
    from zap.metadataset.diversity import level_report, plot_heatmap, plot_winners

    view = level_view(payload, budget)
    problem, report = level_report(payload, budget)
    title = f"Budget {budget:g} {view['protocol']['clock']}-s"
    if not report["n_datasets"]:
        return section(title, notes([report["note"]]), f"level-{budget:g}")
    names = {c["id"]: c.get("name") for c in view["candidates"]}
    body = _headline(report) + (f'<p class="muted">over the {report["n_datasets"]} datasets of '
                                f'{report["n_cores"]} cores with every candidate measured</p>')
    body += "<h3>Cost matrix (ALC)</h3>" + image(figure_uri(lambda p: plot_heatmap(problem, p)), "cost matrix")
    body += "<h3>Winners</h3>" + image(figure_uri(lambda p: plot_winners(problem, p)), "winners")
    winners = list(report["winner_counts"].items())
    rows = [[pid, names.get(pid) or "", n, "single best" if pid == report["single_best"] else ""]
            for pid, n in winners[:MAX_WINNERS]]
    more = f" (the {MAX_WINNERS} that win most)" if len(winners) > MAX_WINNERS else ""
    body += f"<p class=\"muted\">datasets won per candidate{esc(more)}</p>" + table(
        ["candidate", "name", "datasets won", "note"], rows, lambda i: rows[i][3] != "")
    body += "<h3>Noise floor</h3>" + _noise(report, report["answered_by"])
    return section(title, body, f"level-{budget:g}")


def _headline(report: dict[str, Any]) -> str:
    noise = report.get("noise_floor") or {}
    return cards([("Oracle ALC", fmt(report["oracle_alc"]), "good"),
                  ("Single-best ALC", fmt(report["single_best_alc"]), ""),
                  ("Random ALC", fmt(report["random_alc"]), ""),
                  ("Oracle − Single-best", fmt(report["oracle_minus_single_best"]), ""),
                  ("distinct winners", f"{report['distinct_winners']} ({report['distinct_winners_without_copies']})",
                   ""),
                  ("noise, per-run std", fmt(noise.get("run_std")), "")])


def _noise(report: dict[str, Any], answered: dict[str, Any]) -> str:
    noise, curse = report.get("noise_floor"), report.get("winners_curse")
    rows: list[list[Any]] = []
    if noise:
        rows += [["cells measured with two seeds (random sample)", noise["cells"]],
                 ["per-run std of ALC", noise["run_std"]], ["mean |seed difference|", noise["mean_abs_diff"]],
                 ["max |seed difference|", noise["max_abs_diff"]]]
    else:
        rows.append(["second seed", "none measured: no noise floor"])
    if curse:
        rows += [["winner's curse: datasets whose best cell ran again", curse["datasets"]],
                 ["best cell, first seed", curse["oracle_pick_seed0"]],
                 ["best cell, second seed", curse["oracle_pick_seed1"]]]
    rerun = report.get("rerun_oracle")
    if rerun:
        rows += [["re-run Oracle minus Single-best (same datasets)", rerun["lead"]],
                 ["that lead in per-run stds", rerun["lead_over_run_std"]]]
    final = report["final_nauc"]
    rows += [["final NAUC: Oracle minus Single-best", final["oracle_minus_single_best"]],
             ["final NAUC of the ALC Oracle's picks (its own Oracle)",
              f"{fmt(final['alc_oracle_picks'])} ({fmt(final['oracle'])})"]]
    rows += [["near copies (RMS ALC difference within noise)", len(report["near_copies"])],
             ["near-copy RMS threshold", report["near_copy_rms_threshold"]],
             ["distinct candidates without copies", report["distinct_candidates"]],
             ["rank correlation between candidates, within datasets (mean)",
              report["rank_correlation_within_datasets"]["mean"]],
             ["cells with ALC 0", report["zero_alc_cells"]]]
    if answered.get("cells"):
        rows.append(["share of cells the CNN answered (not the quick model)", answered["cnn_share"]])
    return table(["", ""], rows)

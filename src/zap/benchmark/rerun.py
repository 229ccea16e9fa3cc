"""Picks re-run for real: is a selector's stored score what it gets when its pick is fine-tuned again?

The benchmark scores a pick by reading the stored matrix. Here a few held-out datasets' picks are
fine-tuned once more, at every budget level, under that level's own protocol (same budget, clock, cost
table and task function as the matrix) with a seed the matrix did not use, and the fresh ALC is set
beside the stored one. The spread says how much of a selector's measured lead could be the luck of one
stored run; compare it with the noise floor of the second-seed cells. Runs go through a `Store`, so an
interrupted re-run resumes and a finished one is not computed again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from zap.data.augment import VariantSpec
from zap.errors import ArtifactError
from zap.metadataset.artifact import cost_table_of, level_view
from zap.metadataset.build import key_of
from zap.metadataset.store import Store
from zap.metadataset.task import Task, run_task
from zap.utils import atomic_write_json

RERUN_SEED = 2  # the matrix uses seed 0 (and 1 for its noise-floor cells)


def spread_groups(groups: Sequence[str], n: int) -> list[str]:
    """`n` of the held-out groups, evenly spaced over their sorted list (deterministic)."""
    ordered = sorted(groups)
    if n >= len(ordered):
        return ordered
    return [ordered[int(i)] for i in np.linspace(0, len(ordered) - 1, n).round()]


def picks_to_rerun(folds: Sequence[dict], methods: Sequence[str], n: int) -> list[dict]:
    """For `n` spread-out folds, the last held-out dataset (not the variant HPO ran on) and each method's
    first-repetition pick for it."""
    by_group = {f["group"]: f for f in folds}
    chosen = []
    for group in spread_groups(list(by_group), n):
        fold = by_group[group]
        if not fold["datasets"]:
            continue
        index = len(fold["datasets"]) - 1
        for method in methods:
            results = fold["methods"].get(method) or []
            if results and results[0].get("picks"):
                chosen.append({"group": group, "dataset": fold["datasets"][index], "method": method,
                               "pipeline_id": results[0]["picks"][index], "stored_alc": results[0]["alc"][index],
                               "stored_alc_repeat": (results[0].get("alc_repeat") or [None] * (index + 1))[index]})
    return chosen


def rerun_tasks(payload: dict, chosen: Sequence[dict], seed: int = RERUN_SEED,
                budget: float | None = None) -> list[Task]:
    """The picks' runs under the protocol of the level they were scored at (`budget`; None: the lowest),
    priced on the reference clock by the cost table that level was measured with."""
    view = level_view(payload, budget)
    protocol, costs = view["protocol"], cost_table_of(view)
    if protocol["clock"] == "ref" and costs is None:
        raise ArtifactError(f"the artifact was measured with cost table {protocol.get('cost_table')}, which it does "
                            "not carry and this zap does not ship: its picks cannot be re-run under the same "
                            "protocol; re-export it with `zap metadataset export`, or pass --rerun-picks 0")
    specs = {d["name"]: VariantSpec.from_dict(d) for d in protocol["datasets"]}
    configs = {c["id"]: c["config"] for c in payload["candidates"]}
    missing = sorted({c["dataset"] for c in chosen} - set(specs))
    if missing:
        raise ArtifactError(f"the artifact's protocol has no dataset spec for {', '.join(missing)}; re-running picks "
                         "needs an artifact written by `zap metadataset export`")
    return [Task(specs[c["dataset"]], configs[c["pipeline_id"]], protocol["budget"], protocol["clock"], seed,
                 protocol["budget"], protocol.get("t0"), protocol.get("threads", 1), costs=costs) for c in chosen]


def rerun_picks(payload: dict, folds: Sequence[dict], folder: Path, methods: Sequence[str] = ("zap-hpo", "zap-as"),
                n: int = 5, seed: int = RERUN_SEED, client=None, cache: str | None = None,
                budget: float | None = None) -> dict[str, Any]:
    """Fine-tune the picks made at one budget level (`folds`: that level's flat folds; `budget` None: the
    lowest) again (on `client` if given) and compare with the stored ALC."""
    chosen = picks_to_rerun(folds, methods, n)
    tasks = rerun_tasks(payload, chosen, seed, budget)
    store = Store(Path(folder))
    todo = [t for t in dict(zip(map(key_of, tasks), tasks, strict=True)).values() if key_of(t) not in store]
    if client is not None:
        from zap.metadataset.build import build

        build(todo, store, client, cache=cache, progress=False)
    else:
        for task in todo:
            store.add(run_task(task, cache))
    rows = []
    for pick, task in zip(chosen, tasks, strict=True):
        record = store.records.get(key_of(task))
        rerun = None if record is None else float(record["alc"])
        diff = None if rerun is None or pick["stored_alc"] is None else rerun - pick["stored_alc"]
        rows.append(pick | {"budget": float(task.budget), "rerun_alc": rerun, "rerun_seed": seed, "diff": diff})
    return {"rows": rows} | _differences(rows)


def _differences(rows: Sequence[dict]) -> dict[str, Any]:
    diffs = np.array([r["diff"] for r in rows if r["diff"] is not None], dtype=float)
    return {"n": len(diffs), "mean_diff": float(diffs.mean()) if len(diffs) else None,
            "mean_abs_diff": float(np.abs(diffs).mean()) if len(diffs) else None}


def rerun_table(result: dict[str, Any]) -> str:
    lines = ["| budget (s) | dataset | method | pick | stored ALC (seed 0) | re-run ALC | difference |",
             "|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        values = [f"{r[k]:.3f}" if r[k] is not None else "–" for k in ("stored_alc", "rerun_alc", "diff")]
        budget = f"{r['budget']:g}" if r.get("budget") is not None else "–"
        lines.append(f"| {budget} | {r['dataset']} | {r['method']} | {r['pipeline_id']} | " + " | ".join(values) + " |")
    for key, level in result.get("levels", {}).items():
        if level["n"]:
            lines.append(f"\nAt {key} s: mean difference {level['mean_diff']:+.3f}, mean |difference| "
                         f"{level['mean_abs_diff']:.3f} over {level['n']} re-runs.")
    if result["n"]:
        lines.append(f"\nMean difference {result['mean_diff']:+.3f}, mean |difference| {result['mean_abs_diff']:.3f} "
                     f"over {result['n']} re-runs (seed {result['rows'][0]['rerun_seed']}).")
    return "\n".join(lines)


def rerun_section(payload: dict, folds: Mapping[str, Sequence[dict]], out: Path, n: int, client=None,
                  progress: Callable[[str], None] | None = None) -> str:
    """The benchmark report's section on re-run picks at every budget level (`folds`: each level's flat
    folds, by its key), written in full to `out/rerun-picks.json`: every row with its level's `budget`,
    the differences over all rows, and per level (`levels`). A synthetic artifact has no datasets to
    fine-tune on, and says so."""
    if payload["protocol"].get("synthetic"):
        return "## Picks re-run\n\nSkipped: a synthetic artifact has no datasets to fine-tune on.\n"
    rows, levels = [], {}
    for key, level_folds in folds.items():
        if progress:
            progress(f"re-running picks at {key} s on {n} held-out datasets ...")
        result = rerun_picks(payload, level_folds, Path(out) / "rerun", n=n, client=client, budget=float(key))
        rows.extend(result["rows"])
        levels[key] = _differences(result["rows"])
    result = {"rows": rows} | _differences(rows) | {"levels": levels}
    atomic_write_json(Path(out) / "rerun-picks.json", result)
    return f"## Picks re-run (stored vs fresh ALC)\n\n{rerun_table(result)}\n"

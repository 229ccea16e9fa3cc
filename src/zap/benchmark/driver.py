"""`zap benchmark` as a library call: every protocol's folds, its summary file and plots, and the report,
for each objective (ALC, final NAUC) and each budget level of the artifact.

Protocols run in the order given, each through `loco.run_benchmark` (resumable fold by fold). A
`-dropown` protocol holds out a core without the candidates tuned on it: one repetition, no
ablations, and ZAP-AS configured as in the same core's fold of the protocol without the suffix when
that one ran earlier in the call (instead of a SMAC run of its own). The first protocol's picks can
be fine-tuned again (`rerun.rerun_section`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zap.benchmark import report
from zap.benchmark.loco import (
    ABLATIONS,
    MAIN_METHODS,
    Settings,
    check_tuning_blocks,
    level_folds,
    level_keys,
    outer_folds,
    run_benchmark,
)
from zap.benchmark.rerun import rerun_section
from zap.errors import ConfigError
from zap.metadataset.artifact import level_hash
from zap.metadataset.problem import OBJECTIVES, Levels, check_objective
from zap.utils import atomic_path, atomic_write_json, stable_hash

PROTOCOLS = ("loco", "lodo", "loco-dropown")
REFERENCE_POINTS = ("single-best", "oracle")  # every run has them: the scale of the gap closed


@dataclass(frozen=True)
class BenchmarkOptions:
    """What `zap benchmark` runs beyond the artifact: protocols, methods, and the effort per fold."""

    protocols: tuple[str, ...] = PROTOCOLS
    methods: tuple[str, ...] | None = None  # main methods to run (None: all); reference points always
    repetitions: int = 3
    as_trials: int = 50  # SMAC trials tuning ZAP-AS, once per outer fold
    as_tunings: int = 0  # 0: ZAP-AS tuned once per outer fold; N: once per block of folds, N blocks (Settings)
    hpo_epochs: int = 80
    ablations: bool = True  # ZAP-HPO's ablations, in the loco protocol
    max_folds: int | None = None  # only the first N outer folds: a reduced run
    rerun_picks: int = 5  # held-out datasets whose picks are fine-tuned again; 0: none
    seed: int = 0
    objectives: tuple[str, ...] = OBJECTIVES
    levels: tuple[float, ...] | None = None  # only these budget levels (None: every level with a complete dataset)
    folds: tuple[str, ...] | None = None  # only these held-out groups (cores; domains for lodo), before max_folds


@dataclass
class ProtocolRun:
    """One protocol's folds per objective and what was made of them: the summary (`<tag>.json`) and the
    report section."""

    settings: Settings  # the first objective's
    folds: dict[str, list[dict]]  # {objective: folds}
    view: dict[str, dict[str, dict[str, dict[str, Any]]]]  # {objective: {level: {method: {score, ...}}}}
    section: str


@dataclass
class BenchmarkResult:
    runs: list[ProtocolRun]
    report: str  # report.md's text


def methods_to_run(asked: Sequence[str] | None) -> tuple[str, ...]:
    """The main methods to run, in their usual order, with the reference points always among them."""
    wanted = set(asked or MAIN_METHODS) | set(REFERENCE_POINTS)
    return tuple(m for m in MAIN_METHODS if m in wanted)


def protocol_settings(options: BenchmarkOptions, protocol: str, earlier: Sequence[str],
                      objective: str = "alc", data: str = "") -> Settings:
    """The fold settings of `protocol` for `objective`, given the protocols run before it in the same call."""
    base = protocol.removesuffix("-dropown")
    drop_own = base != protocol
    methods = methods_to_run(options.methods)
    with_ablations = options.ablations and protocol == "loco" and "zap-hpo" in methods
    return Settings(protocol=base, methods=methods, ablations=ABLATIONS if with_ablations else (),
                    repetitions=1 if drop_own else options.repetitions, as_trials=options.as_trials,
                    as_tunings=options.as_tunings,
                    drop_own_candidates=drop_own, hpo_epochs=options.hpo_epochs, seed=options.seed,
                    objective=objective, as_from=base if drop_own and base in earlier else None, data=data)


def fold_groups(levels: Levels, protocol: str, folds: Sequence[str] | None = None,
                max_folds: int | None = None) -> list[str]:
    """The held-out groups a run scores: every outer fold, or those named in `folds` (in their sorted order),
    then the first `max_folds` of them. A name that is no group of `protocol` is refused, with those there are."""
    groups = outer_folds(levels, protocol.removesuffix("-dropown"))
    if folds is not None:
        unknown = sorted(set(folds) - set(groups))
        if unknown:
            kind = "domains" if protocol == "lodo" else "cores"
            raise ConfigError(f"--folds {' '.join(unknown)}: not among the {protocol} folds' {kind} with a dataset "
                              f"measured on every candidate: {', '.join(groups)}")
        groups = [g for g in groups if g in set(folds)]
    return groups[:max_folds] if max_folds else groups


def run_protocol(levels: Levels, settings: Settings, out: Path, groups: Sequence[str] | None = None,
                 client=None, progress: Callable[[str], None] | None = None) -> tuple[list[dict], dict, dict, str]:
    """One protocol's folds for one objective (those on disk are reused; `groups`: only these), a
    critical-difference plot per level, and per level the JSON view, what the summary file adds to it,
    and the report section."""
    folds = run_benchmark(levels, settings, out, client=client, progress=progress, groups=groups)
    views, extras, sections = {}, {}, []
    for key in level_keys(folds):
        flat = level_folds(folds, key)
        result = report.summary(flat)
        views[key] = report.json_view(result)
        extras[key] = {"_noise_floor": report.noise_floor(flat),
                       "_complete_artifact": levels.problems[float(key)].complete,
                       "_scored_datasets": sum(len(f["datasets"]) for f in flat),
                       "_zap_as_tuning": report.as_tuning(flat)}
        name = f"{settings.tag()}-{settings.objective}-{key}"
        report.cd_plot(flat, out / f"{name}-cd.png", title=f"{name}: mean rank per core")
        sections.append(f"### {settings.objective} at {key} s\n\n{report.tables(result, flat)}")
    return folds, views, extras, "\n".join(sections)


def _chosen(levels: Levels, budgets: tuple[float, ...] | None) -> Levels:
    """The levels asked for: a reduced run on one level while the next is still being built must not take
    in that level's first complete datasets."""
    return levels if budgets is None else levels.only(budgets)


def _scorable(levels: Levels, progress: Callable[[str], None] | None, chosen: bool = False) -> Levels:
    kept, left_out = levels.scorable()
    if not len(kept):
        which = (f"none of the budget levels asked for ({', '.join(f'{b:g}' for b in levels.budgets)})" if chosen
                 else "no budget level of this artifact")
        raise ConfigError(f"{which} has a dataset measured on every candidate yet: nothing can be held out and "
                          "scored; build more cells (`zap metadataset build`) first")
    if left_out and progress:
        progress(f"note: budget level(s) {', '.join(f'{b:g}' for b in left_out)} s have no dataset measured on "
                 "every candidate yet and are left out of this benchmark")
    return kept


def run_protocols(payload: dict, out: str | Path, options: BenchmarkOptions = BenchmarkOptions(), client=None,
                  progress: Callable[[str], None] | None = None) -> BenchmarkResult:
    """The benchmark of a meta-dataset artifact's payload (`zap.metadataset.artifact.load`) into `out`:
    fold files, a summary (`<tag>.json`: {objective: {level: {method: ...}}}) and plots per protocol, the
    re-run picks and `report.md`. `progress` hears what a person watching should know, a partial
    artifact's coverage first."""
    out = Path(out)
    for objective in options.objectives:
        check_objective(objective)
    levels = {objective: _scorable(_chosen(Levels.from_artifact(payload, objective), options.levels),
                                   progress if i == 0 else None, chosen=options.levels is not None)
              for i, objective in enumerate(options.objectives)}
    data = stable_hash([level_hash(payload, budget) for budget in next(iter(levels.values())).budgets])
    groups = {protocol: fold_groups(next(iter(levels.values())), protocol, options.folds, options.max_folds)
              for protocol in options.protocols}  # checked before any fold runs
    for i, protocol in enumerate(options.protocols):  # so are the tuning blocks of every protocol
        check_tuning_blocks(levels[options.objectives[0]], protocol_settings(options, protocol, options.protocols[:i]))
    note = next(iter(levels.values())).lowest.coverage_note()
    if note and progress:
        progress(f"note: {note}")
    runs: list[ProtocolRun] = []
    for i, protocol in enumerate(options.protocols):
        folds, views, summary, sections = {}, {}, {}, []
        for objective in options.objectives:
            settings = protocol_settings(options, protocol, options.protocols[:i], objective, data)
            folds[objective], views[objective], extras, text = run_protocol(levels[objective], settings, out,
                                                                            groups[protocol], client, progress)
            summary[objective] = {key: views[objective][key] | extras[key] for key in views[objective]}
            sections.append(text)
        seconds = sum(f["seconds"] for fs in folds.values() for f in fs)
        atomic_write_json(out / f"{settings.tag()}.json", summary | {"_cost_core_hours": round(seconds / 3600, 3)})
        n_folds = len(next(iter(folds.values())))
        header = f"## {settings.tag()} ({n_folds} folds, {settings.repetitions} repetitions)\n\n"
        first = protocol_settings(options, protocol, options.protocols[:i], options.objectives[0], data)
        runs.append(ProtocolRun(first, folds, views, header + "\n".join(sections)))
    sections = [run.section for run in runs]
    if options.rerun_picks and runs:
        first = runs[0].folds[options.objectives[0]]
        by_level = {key: level_folds(first, key) for key in level_keys(first)}
        sections.append(rerun_section(payload, by_level, out, options.rerun_picks, client, progress))
    text = "\n".join(sections)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(text)
    return BenchmarkResult(runs, text)

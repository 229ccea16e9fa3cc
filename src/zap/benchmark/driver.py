"""`zap benchmark` as a library call: every protocol's folds, its summary file and plot, and the report.

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
from zap.benchmark.loco import ABLATIONS, MAIN_METHODS, Settings, outer_folds, run_benchmark
from zap.benchmark.rerun import rerun_section
from zap.metadataset.problem import SelectionProblem
from zap.utils import atomic_write_json

PROTOCOLS = ("loco", "lodo", "loco-dropown")
REFERENCE_POINTS = ("single-best", "oracle")  # every run has them: the scale of the gap closed


@dataclass(frozen=True)
class BenchmarkOptions:
    """What `zap benchmark` runs beyond the artifact: protocols, methods, and the effort per fold."""

    protocols: tuple[str, ...] = PROTOCOLS
    methods: tuple[str, ...] | None = None  # main methods to run (None: all); reference points always
    repetitions: int = 3
    as_trials: int = 50  # SMAC trials tuning ZAP-AS, once per outer fold
    hpo_epochs: int = 80
    ablations: bool = True  # ZAP-HPO's ablations, in the loco protocol
    max_folds: int | None = None  # only the first N outer folds: a reduced run
    rerun_picks: int = 5  # held-out datasets whose picks are fine-tuned again; 0: none
    seed: int = 0


@dataclass
class ProtocolRun:
    """One protocol's folds and what was made of them: the summary (`<tag>.json`) and the report section."""

    settings: Settings
    folds: list[dict]
    view: dict[str, dict[str, Any]]  # {method: {alc, nauc, rank, gap_closed, beats_single_best, ...}}
    section: str


@dataclass
class BenchmarkResult:
    runs: list[ProtocolRun]
    report: str  # report.md's text


def methods_to_run(asked: Sequence[str] | None) -> tuple[str, ...]:
    """The main methods to run, in their usual order, with the reference points always among them."""
    wanted = set(asked or MAIN_METHODS) | set(REFERENCE_POINTS)
    return tuple(m for m in MAIN_METHODS if m in wanted)


def protocol_settings(options: BenchmarkOptions, protocol: str, earlier: Sequence[str]) -> Settings:
    """The fold settings of `protocol`, given the protocols run before it in the same call."""
    base = protocol.removesuffix("-dropown")
    drop_own = base != protocol
    methods = methods_to_run(options.methods)
    with_ablations = options.ablations and protocol == "loco" and "zap-hpo" in methods
    return Settings(protocol=base, methods=methods, ablations=ABLATIONS if with_ablations else (),
                    repetitions=1 if drop_own else options.repetitions, as_trials=options.as_trials,
                    drop_own_candidates=drop_own, hpo_epochs=options.hpo_epochs, seed=options.seed,
                    as_from=base if drop_own and base in earlier else None)


def run_protocol(problem: SelectionProblem, settings: Settings, out: Path, max_folds: int | None = None,
                 client=None, progress: Callable[[str], None] | None = None) -> ProtocolRun:
    """One protocol's folds (those on disk are reused), `<tag>.json`, `<tag>-cd.png` and its report section."""
    groups = outer_folds(problem, settings.protocol)[:max_folds] if max_folds else None
    folds = run_benchmark(problem, settings, out, client=client, progress=progress, groups=groups)
    result = report.summary(folds)
    view = report.json_view(result)
    tag = settings.tag()
    atomic_write_json(out / f"{tag}.json", view | {
        "_noise_floor": report.noise_floor(folds), "_complete_artifact": problem.complete,
        "_scored_datasets": sum(len(f["datasets"]) for f in folds),
        "_cost_core_hours": round(sum(f["seconds"] for f in folds) / 3600, 3)})
    report.cd_plot(folds, out / f"{tag}-cd.png", title=f"{tag}: mean rank per core")
    section = (f"## {tag} ({len(folds)} folds, {settings.repetitions} repetitions)\n\n"
               f"{report.tables(result, folds)}")
    return ProtocolRun(settings, folds, view, section)


def run_protocols(payload: dict, out: str | Path, options: BenchmarkOptions = BenchmarkOptions(), client=None,
                  progress: Callable[[str], None] | None = None) -> BenchmarkResult:
    """The benchmark of a meta-dataset artifact's payload (`zap.metadataset.artifact.load`) into `out`:
    fold files, a summary and plot per protocol, the re-run picks and `report.md`. `progress` hears what
    a person watching should know, a partial artifact's coverage first."""
    out = Path(out)
    problem = SelectionProblem.from_artifact(payload)
    note = problem.coverage_note()
    if note and progress:
        progress(f"note: {note}")
    runs: list[ProtocolRun] = []
    for i, protocol in enumerate(options.protocols):
        settings = protocol_settings(options, protocol, options.protocols[:i])
        runs.append(run_protocol(problem, settings, out, options.max_folds, client, progress))
    sections = [run.section for run in runs]
    if options.rerun_picks and runs:
        sections.append(rerun_section(payload, runs[0].folds, out, options.rerun_picks, client, progress))
    text = "\n".join(sections)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(text)
    return BenchmarkResult(runs, text)

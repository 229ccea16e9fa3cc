"""A meta-dataset plan on disk: protocol, dataset specs, candidate pipelines and the record shards.

    metadataset/v2/plan.json        protocol settings (budget levels, clock, runner, threads, test cap, t0)
    metadataset/v2/cost_table.json  on the ref clock: the cost table that defines a reference second
    metadataset/v2/datasets.json    variant specs (rebuilt on any machine from the core registry)
    metadataset/v2/candidates.json  candidate pipelines: id, configuration, origin, budget levels
    metadataset/v2/records/*.jsonl  the results of every level, append-only

A plan has one or more budget levels (v1: 20 CPU-s; v2: 20, 60 and 120 reference-s); each level is a
dense matrix over its own candidates. Everything here is committed, so a fresh machine resumes a build
with `zap metadataset build`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from zap.data.augment import SEED_RULE, VariantSpec, draw_variants
from zap.data.core import CORES, load_core
from zap.errors import ArtifactError, ConfigError
from zap.finetune.refclock import CostTable, load_cost_table
from zap.finetune.runner import RUNNER_VERSION
from zap.metadataset.protocol import Protocol
from zap.metadataset.store import Store
from zap.pipelines import as_dict, get_config, pipeline_id
from zap.resources import plan_dir
from zap.utils import atomic_write_json, number_text, stable_hash

HOME_PLAN = plan_dir()  # the shipped meta-dataset's plan in the zap home ($ZAP_HOME, or an editable checkout)
V1 = plan_dir("v1")  # v1's plan, whichever the home ships (it was the home's plan before v2)
NAMED_CANDIDATES = ("autodl-default", "recommended")
COST_TABLE_FILE = "cost_table.json"


@dataclass
class Plan:
    folder: Path
    protocol: Protocol  # at the lowest level; `level(T)` gives the others
    candidates: list[dict]
    budgets: tuple[float, ...] = ()  # the levels; empty: the protocol's budget alone (v1)

    @property
    def levels(self) -> tuple[float, ...]:
        return tuple(self.budgets) or (float(self.protocol.budget),)

    @property
    def multilevel(self) -> bool:
        return len(self.levels) > 1

    def level(self, budget: float) -> Protocol:
        """The protocol of one budget level."""
        budget = float(budget)
        if budget not in self.levels:
            raise ConfigError(f"the plan in {self.folder} has budget levels {list(self.levels)}, "
                              f"not {number_text(budget)}")
        return self.protocol if budget == self.protocol.budget else self.protocol.at_budget(budget)

    def spec_hash(self) -> str:
        """What the plan's numbers mean: its protocol's hash, or with several levels the hash of every level's."""
        if not self.multilevel:
            return self.protocol.spec_hash()
        return stable_hash([self.level(b).spec_hash() for b in self.levels])

    def candidates_at(self, budget: float) -> list[dict]:
        """The candidates of one level (a candidate without `levels` belongs to every level)."""
        return [c for c in self.candidates if float(budget) in c.get("levels", self.levels)]

    def hpo_folder(self, budget: float) -> Path:
        return self.folder / "hpo" / f"{float(budget):g}" if self.multilevel else self.folder / "hpo"

    @property
    def store(self) -> Store:
        return Store(self.folder / "records", runner=self.protocol.runner)

    def check_runner(self) -> None:
        """Refuse to add cells to a plan measured with another runner: its matrix would mix two protocols
        (v1 was measured with runner 2; this zap runs RUNNER_VERSION)."""
        if self.protocol.runner != RUNNER_VERSION:
            raise ArtifactError(
                f"the plan in {self.folder} was measured with runner {self.protocol.runner}, this zap runs runner "
                f"{RUNNER_VERSION}: new cells would mix two protocols. Its records and artifact stay readable; "
                "measure with this runner in a new plan (`zap metadataset plan FOLDER`)")

    def pipelines(self, budget: float | None = None) -> list[dict]:
        chosen = self.candidates if budget is None else self.candidates_at(budget)
        return [c["config"] for c in chosen]

    def drop_cores(self, reasons: dict[str, str]) -> int:
        """Take cores out of the plan (for example one that fails the calibration rule), recording why in
        plan.json. Their stored records stay in the store, outside the matrix. Returns the datasets removed."""
        known = {d.core for d in self.protocol.datasets}
        unknown = sorted(set(reasons) - known)
        if unknown:
            raise ConfigError(f"cores {unknown} are not in the plan in {self.folder}; it has {sorted(known)}")
        kept = tuple(d for d in self.protocol.datasets if d.core not in reasons)
        settings = json.loads((self.folder / "plan.json").read_text())
        settings["dropped_cores"] = settings.get("dropped_cores", {}) | dict(reasons)
        atomic_write_json(self.folder / "datasets.json", [d.to_dict() for d in kept], sort_keys=True)
        atomic_write_json(self.folder / "plan.json", settings, sort_keys=True)
        removed = len(self.protocol.datasets) - len(kept)
        self.protocol = replace(self.protocol, datasets=kept)
        return removed

    def add_candidates(self, configs: list[dict], origin: str, levels: tuple[float, ...] | None = None) -> int:
        """Add pipelines to the given levels (default: every level), de-duplicated by id: a known pipeline
        joins the new levels. Stored results stay valid. Returns how many (pipeline, level) entries are new."""
        levels = tuple(float(b) for b in (levels or self.levels))
        unknown = [b for b in levels if b not in self.levels]
        if unknown:
            raise ConfigError(f"budget levels {unknown} are not levels of the plan in {self.folder} "
                              f"({list(self.levels)})")
        by_id = {c["pipeline_id"]: c for c in self.candidates}
        added = 0
        for config in configs:
            pid = pipeline_id(config)
            if pid not in by_id:
                entry = {"pipeline_id": pid, "config": as_dict(config), "origin": origin}
                if self.multilevel:
                    entry["levels"] = []
                self.candidates.append(entry)
                by_id[pid] = entry
                added += len(set(levels)) if self.multilevel else 1
            elif self.multilevel:
                added += len(set(levels) - set(by_id[pid].get("levels", self.levels)))
            if self.multilevel:
                by_id[pid]["levels"] = sorted(set(by_id[pid].get("levels", [])) | set(levels))
        atomic_write_json(self.folder / "candidates.json", self.candidates, sort_keys=True)
        return added


def create_plan(folder: Path, n_variants: int = 4, seed: int = 0, budget: float = 20.0, clock: str = "cpu",
                max_test: int = 300, cores: list[str] | None = None, cache: str | None = None,
                seed_rule: int = SEED_RULE, budgets: tuple[float, ...] = (), reuse: Plan | None = None,
                cost_table: CostTable | None = None) -> Plan:
    """Draw `n_variants` variants of every core and start the candidate list with the named pipelines.

    `budgets` makes a multi-level plan (its lowest level is the protocol's budget). With `reuse`, a core
    that plan already has keeps its first `n_variants` variants there, so the two plans share datasets.
    plan.json records the seed rule of the draws (v1's plan, drawn before rules had numbers, used rule 1).
    On the ref clock the plan stores the cost table it is measured with (`cost_table`, default the shipped
    one), and the protocol its hash.
    """
    folder = Path(folder)
    if (folder / "plan.json").exists():
        raise ArtifactError(f"{folder} already holds a plan: load it (`zap metadataset status --plan {folder}`) "
                            "or choose another folder")
    levels = tuple(sorted({float(b) for b in budgets})) or (float(budget),)
    datasets = [v for name in cores or CORES for v in _variants(name, n_variants, seed, max_test, cache, seed_rule,
                                                                   reuse)]
    cost_table = _cost_table(clock, cost_table)
    protocol = Protocol(budget=levels[0], clock=clock, max_test=max_test, datasets=tuple(datasets),
                        cost_table=stable_hash(cost_table.identity()) if cost_table else None)
    folder.mkdir(parents=True, exist_ok=True)
    if cost_table is not None:
        atomic_write_json(folder / COST_TABLE_FILE, cost_table.to_dict())
    settings = {k: v for k, v in protocol.describe().items() if k != "datasets"}
    if len(levels) > 1:
        settings |= {"budgets": list(levels), "t0": None}
    atomic_write_json(folder / "plan.json", settings | {"seed_rule": seed_rule}, sort_keys=True)
    atomic_write_json(folder / "datasets.json", [d.to_dict() for d in datasets], sort_keys=True)
    plan = Plan(folder, protocol, [], levels if len(levels) > 1 else ())
    plan.add_candidates([dict(get_config(name)) for name in NAMED_CANDIDATES], "named")
    return plan


def _variants(core: str, n: int, seed: int, max_test: int, cache: str | None, seed_rule: int,
              reuse: Plan | None) -> list[VariantSpec]:
    if reuse is not None:
        known = [d for d in reuse.protocol.datasets if d.core == core]
        if len(known) >= n:
            return known[:n]
    return draw_variants(load_core(core, cache), n, seed, max_test=max_test, seed_rule=seed_rule)


def _cost_table(clock: str, given: CostTable | None) -> CostTable | None:
    if clock != "ref":
        return None
    from zap.finetune.refclock import default_cost_table

    table = given or default_cost_table()
    if table is None:
        raise ArtifactError("the ref clock needs a cost table and this zap ships none: calibrate one with "
                            "`python -m zap.finetune.calibrate --out src/zap/finetune/ref_costs.json`")
    return table


def load_plan(folder: Path = HOME_PLAN) -> Plan:
    folder = Path(folder)
    if not (folder / "plan.json").exists():
        raise ArtifactError(f"no meta-dataset plan in {folder}: create one with `zap metadataset plan {folder}`")
    try:
        settings = json.loads((folder / "plan.json").read_text())
        datasets = tuple(VariantSpec.from_dict(d) for d in json.loads((folder / "datasets.json").read_text()))
        protocol = Protocol(budget=settings["budget"], clock=settings["clock"], t0=settings["t0"],
                            threads=settings["threads"], max_test=settings["max_test"], datasets=datasets,
                            runner=settings.get("runner", RUNNER_VERSION), cost_table=settings.get("cost_table"))
        candidates_path = folder / "candidates.json"
        candidates = json.loads(candidates_path.read_text()) if candidates_path.exists() else []
        if not (isinstance(candidates, list) and all(isinstance(c, dict) for c in candidates)):
            raise TypeError("candidates.json is not a list of candidates")
        budgets = tuple(float(b) for b in settings.get("budgets", ()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:  # JSONDecodeError is a ValueError
        raise ArtifactError(f"{folder} is a damaged meta-dataset plan ({type(exc).__name__}: {str(exc)[:200]}): "
                            "restore it from git, or create it again with `zap metadataset plan`") from None
    return Plan(folder, protocol, candidates, budgets)


def plan_cost_table(plan: Plan) -> CostTable | None:
    """The cost table a ref-clock plan is measured with: its own copy, whatever zap ships now, without the
    raw calibration measurements (tasks carry it to the workers), and checked against the protocol's hash."""
    if plan.protocol.clock != "ref":
        return None
    table = replace(load_cost_table(plan.folder / COST_TABLE_FILE), measurements=())
    if stable_hash(table.identity()) != plan.protocol.cost_table:
        raise ArtifactError(f"{plan.folder / COST_TABLE_FILE} does not match the plan's protocol (cost table "
                            f"{plan.protocol.cost_table}): restore it from git")
    return table

"""A meta-dataset plan on disk: protocol, dataset specs, candidate pipelines and the record shards.

    metadataset/v1/plan.json        protocol settings (budget, clock, threads, test cap, t0)
    metadataset/v1/datasets.json    variant specs (rebuilt on any machine from the core registry)
    metadataset/v1/candidates.json  candidate pipelines: id, configuration, where it came from
    metadataset/v1/records/*.jsonl  the results, append-only

Everything here is committed, so a fresh machine resumes a build with `zap metadataset build`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from zap.data.augment import VariantSpec, draw_variants
from zap.data.core import CORES, load_core
from zap.finetune.runner import RUNNER_VERSION
from zap.metadataset.protocol import Protocol
from zap.metadataset.store import Store
from zap.pipelines import as_dict, get_config, pipeline_id

V1 = Path(__file__).resolve().parents[3] / "metadataset" / "v1"
NAMED_CANDIDATES = ("autodl-default", "recommended")


@dataclass
class Plan:
    folder: Path
    protocol: Protocol
    candidates: list[dict]

    @property
    def store(self) -> Store:
        return Store(self.folder / "records", runner=RUNNER_VERSION)

    def pipelines(self) -> list[dict]:
        return [c["config"] for c in self.candidates]

    def add_candidates(self, configs: list[dict], origin: str) -> int:
        """Append new pipelines (de-duplicated by id); stored results stay valid."""
        known = {c["pipeline_id"] for c in self.candidates}
        added = 0
        for config in configs:
            pid = pipeline_id(config)
            if pid not in known:
                self.candidates.append({"pipeline_id": pid, "config": as_dict(config), "origin": origin})
                known.add(pid)
                added += 1
        _write_json(self.folder / "candidates.json", self.candidates)
        return added


def _write_json(path: Path, payload) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)


def create_plan(folder: Path, n_variants: int = 4, seed: int = 0, budget: float = 20.0, clock: str = "cpu",
                max_test: int = 300, cores: list[str] | None = None, cache: str | None = None) -> Plan:
    """Draw `n_variants` variants of every core and start the candidate list with the named pipelines."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    datasets = [v for name in cores or CORES
                for v in draw_variants(load_core(name, cache), n_variants, seed, max_test=max_test)]
    protocol = Protocol(budget=budget, clock=clock, max_test=max_test, datasets=tuple(datasets))
    _write_json(folder / "plan.json", {k: v for k, v in protocol.describe().items() if k != "datasets"})
    _write_json(folder / "datasets.json", [d.to_dict() for d in datasets])
    plan = Plan(folder, protocol, [])
    plan.add_candidates([dict(get_config(name)) for name in NAMED_CANDIDATES], "named")
    return plan


def load_plan(folder: Path = V1) -> Plan:
    folder = Path(folder)
    if not (folder / "plan.json").exists():
        raise FileNotFoundError(f"no meta-dataset plan in {folder}: create one with `zap metadataset plan {folder}`")
    settings = json.loads((folder / "plan.json").read_text())
    datasets = tuple(VariantSpec.from_dict(d) for d in json.loads((folder / "datasets.json").read_text()))
    protocol = Protocol(budget=settings["budget"], clock=settings["clock"], t0=settings["t0"],
                        threads=settings["threads"], max_test=settings["max_test"], datasets=datasets)
    candidates_path = folder / "candidates.json"
    candidates = json.loads(candidates_path.read_text()) if candidates_path.exists() else []
    return Plan(folder, protocol, candidates)

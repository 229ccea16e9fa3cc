"""The evaluation protocol of a meta-dataset and the hash of what its numbers mean.

The hash covers what changes the meaning of a stored ALC: scoring constants, the runner's anytime rule
(`RUNNER_VERSION`), budget and clock, thread count, test cap and the dataset specs. It does not cover
the candidate list (adding pipelines extends the matrix) nor the git commit. Adding datasets changes
it; records keep their own dataset ids, so stored results stay usable and `zap metadataset build`
only computes the new cells.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from zap.data.augment import VariantSpec
from zap.finetune.runner import RUNNER_VERSION
from zap.scoring import AlcSpec

SCORING_VERSION = "autodl-v20191219"


@dataclass(frozen=True)
class Protocol:
    budget: float = 20.0
    clock: str = "cpu"
    t0: float | None = None
    threads: int = 1
    max_test: int = 300
    datasets: tuple[VariantSpec, ...] = field(default=())

    @property
    def alc_spec(self) -> AlcSpec:
        return AlcSpec(self.budget, self.t0)

    def describe(self) -> dict:
        return {
            "scoring": SCORING_VERSION, "runner": RUNNER_VERSION, "budget": self.budget,
            "t0": self.alc_spec.resolved_t0, "clock": self.clock, "threads": self.threads, "max_test": self.max_test,
            "datasets": [d.to_dict() for d in self.datasets],
        }

    def spec_hash(self) -> str:
        text = json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

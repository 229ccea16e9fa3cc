"""The evaluation protocol of a meta-dataset and the hash of what its numbers mean.

The hash covers what changes the meaning of a stored ALC: scoring constants, the runner's anytime rule
(`RUNNER_VERSION`), budget and clock, thread count, test cap and the dataset specs. It does not cover
the candidate list (adding pipelines extends the matrix) nor the git commit. Adding datasets changes
it; records keep their own dataset ids, so stored results stay usable and `zap metadataset build`
only computes the new cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from zap.data.augment import VariantSpec
from zap.finetune.runner import RUNNER_VERSION
from zap.scoring import AlcSpec
from zap.utils import stable_hash

SCORING_VERSION = "autodl-v20191219"


@dataclass(frozen=True)
class Protocol:
    budget: float = 20.0
    clock: str = "cpu"
    t0: float | None = None
    threads: int = 1
    max_test: int = 300
    datasets: tuple[VariantSpec, ...] = field(default=())
    runner: int = RUNNER_VERSION  # the runner the plan's cells are measured with: a plan never mixes two
    cost_table: str | None = None  # on the ref clock: the hash of the cost table that defines a reference second

    @property
    def alc_spec(self) -> AlcSpec:
        return AlcSpec(self.budget, self.t0)

    def describe(self) -> dict:
        return {
            "scoring": SCORING_VERSION, "runner": self.runner, "budget": self.budget,
            "t0": self.alc_spec.resolved_t0, "clock": self.clock, "threads": self.threads, "max_test": self.max_test,
            "datasets": [d.to_dict() for d in self.datasets],
        } | ({"cost_table": self.cost_table} if self.cost_table else {})

    def at_budget(self, budget: float) -> Protocol:
        """The same protocol at another budget level, its t0 following the budget (T/20)."""
        return replace(self, budget=float(budget), t0=None)

    def spec_hash(self) -> str:
        return stable_hash(self.describe())

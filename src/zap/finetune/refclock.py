"""The reference clock: a budget as a fixed amount of compute, whatever the machine and whatever else runs.

A run on the `ref` clock never reads a timer. Every operation it performs (an optimizer step, a batch of
predictions, decoding images, fitting the quick model) is charged what it cost on the reference machine,
idle, on one thread: a cost table measured once (`zap.finetune.calibrate`) and shipped as data. The same
cell with the same seed then makes the same steps and predictions at the same reference times on any
machine and under any load, which is what a meta-dataset needs. Wall and CPU time are still recorded.

Costs between the measured grid points are interpolated: log-log in the input side (compute grows about
with the pixel count), linearly in the frozen share and in the batch size (a fixed cost per step plus a
cost per image).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from zap.errors import ArtifactError

COST_TABLE_SCHEMA = 1
COST_TABLE_FILE = "ref_costs.json"


class CostTableError(ArtifactError):
    """A cost table that cannot price a run: a missing file, an architecture it never measured."""


def _interp_log(sizes: Sequence[float], values: Sequence[float], size: float) -> float:
    """Piecewise log-log interpolation, extrapolated with the end segments' slopes."""
    if len(sizes) == 1:
        return values[0] * (size / sizes[0]) ** 2
    i = max(0, min(len(sizes) - 2, sum(s <= size for s in sizes) - 1))
    x0, x1 = math.log(sizes[i]), math.log(sizes[i + 1])
    y0, y1 = math.log(max(values[i], 1e-9)), math.log(max(values[i + 1], 1e-9))
    return math.exp(y0 + (y1 - y0) * (math.log(size) - x0) / (x1 - x0))


def _interp_linear(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    if len(xs) == 1:
        return ys[0]
    i = max(0, min(len(xs) - 2, sum(v <= x for v in xs) - 1))
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i])


@dataclass(frozen=True)
class CostTable:
    """Reference seconds per operation, fitted from a calibration on the reference machine.

    step[arch][f][s] = (seconds per step, seconds per image) at freezes[f] and sizes[s];
    predict[arch][s] = seconds per predicted image; decode = (seconds per image, per output pixel);
    quick_fit[name] = coefficients of log(seconds) on (1, log n_samples, log n_classes);
    quick_predict[name] = seconds per image (thumbnail and predict_proba).
    """

    sizes: tuple[int, ...]
    freezes: tuple[float, ...]
    step: Mapping[str, Sequence[Sequence[Sequence[float]]]]
    predict: Mapping[str, Sequence[float]]
    decode: tuple[float, float]
    quick_fit: Mapping[str, Sequence[float]]
    quick_predict: Mapping[str, float]
    machine: Mapping[str, Any] = field(default_factory=dict)
    measurements: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": COST_TABLE_SCHEMA, "sizes": list(self.sizes), "freezes": list(self.freezes),
                "step": self.step, "predict": self.predict, "decode": list(self.decode),
                "quick_fit": self.quick_fit, "quick_predict": self.quick_predict, "machine": self.machine,
                "measurements": list(self.measurements)}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> CostTable:
        if payload.get("schema") != COST_TABLE_SCHEMA:
            raise CostTableError(f"cost table schema {payload.get('schema')!r}, this zap reads {COST_TABLE_SCHEMA}; "
                                 "calibrate again with `python -m zap.finetune.calibrate`")
        return cls(sizes=tuple(payload["sizes"]), freezes=tuple(payload["freezes"]), step=payload["step"],
                   predict=payload["predict"], decode=tuple(payload["decode"]), quick_fit=payload["quick_fit"],
                   quick_predict=payload["quick_predict"], machine=payload.get("machine", {}),
                   measurements=tuple(payload.get("measurements", ())))

    def identity(self) -> dict[str, Any]:
        """What a reference second means: the fitted costs, without the raw measurements they came from."""
        return {k: v for k, v in self.to_dict().items() if k != "measurements"}

    def knows(self, architecture: str) -> bool:
        return architecture in self.step and architecture in self.predict

    def step_cost(self, architecture: str, size: int, batch: int, freeze: float) -> float:
        per_freeze = [(_interp_log(self.sizes, [c[0] for c in row], size),
                       _interp_log(self.sizes, [c[1] for c in row], size)) for row in self._step(architecture)]
        fixed = _interp_linear(self.freezes, [p[0] for p in per_freeze], freeze)
        per_image = _interp_linear(self.freezes, [p[1] for p in per_freeze], freeze)
        return max(0.0, fixed) + batch * max(0.0, per_image)

    def predict_cost(self, architecture: str, size: int, n_images: int) -> float:
        if architecture not in self.predict:
            raise self._unknown(architecture)
        return n_images * _interp_log(self.sizes, self.predict[architecture], size)

    def decode_cost(self, size: int, n_images: int) -> float:
        return n_images * (self.decode[0] + self.decode[1] * size * size)

    def quick_fit_cost(self, name: str, n_samples: int, n_classes: int) -> float:
        if name not in self.quick_fit:
            raise CostTableError(f"the cost table has no price for the quick model {name!r} (it knows "
                                 f"{sorted(self.quick_fit)}); calibrate again with `python -m zap.finetune.calibrate`")
        a, b, c = self.quick_fit[name]
        return math.exp(a + b * math.log(max(n_samples, 1)) + c * math.log(max(n_classes, 2)))

    def quick_predict_cost(self, name: str, n_images: int) -> float:
        return n_images * self.quick_predict[name]

    def _step(self, architecture: str):
        if architecture not in self.step:
            raise self._unknown(architecture)
        return self.step[architecture]

    def _unknown(self, architecture: str) -> CostTableError:
        return CostTableError(f"the reference clock has no cost for architecture {architecture!r} (it knows "
                              f"{sorted(self.step)}); use --clock wall or cpu for it, or calibrate it with "
                              "`python -m zap.finetune.calibrate`")


def load_cost_table(path: str | Path) -> CostTable:
    try:
        return CostTable.from_dict(json.loads(Path(path).read_text()))
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise CostTableError(f"{path} is not a zap cost table ({error}); calibrate one with "
                             "`python -m zap.finetune.calibrate --out FILE`") from None


@cache
def default_cost_table() -> CostTable | None:
    """The shipped table (calibrated on the reference machine), or None before one was calibrated."""
    source = resources.files("zap.finetune").joinpath(COST_TABLE_FILE)
    if not source.is_file():
        return None
    return CostTable.from_dict(json.loads(source.read_text()))


@dataclass(frozen=True)
class RunCosts:
    """The reference price of each operation of one run: one pipeline at one input size."""

    table: CostTable
    architecture: str
    size: int
    freeze: float

    def step(self, batch: int) -> float:
        return self.table.step_cost(self.architecture, self.size, batch, self.freeze)

    def predict(self, n_images: int) -> float:
        return self.table.predict_cost(self.architecture, self.size, n_images)

    def decode(self, n_images: int) -> float:
        return self.table.decode_cost(self.size, n_images)

    def quick_fit(self, name: str, n_samples: int, n_classes: int) -> float:
        return self.table.quick_fit_cost(name, n_samples, n_classes)

    def quick_predict(self, name: str, n_images: int) -> float:
        return self.table.quick_predict_cost(name, n_images)


def run_costs(table: CostTable | None, config: Mapping[str, Any], size: int) -> RunCosts | None:
    """The run's prices, or None when no table prices this architecture (then `ref_s` is not recorded)."""
    if table is None or not table.knows(config["architecture"]):
        return None
    return RunCosts(table, config["architecture"], size, float(config["freeze_portion"]))

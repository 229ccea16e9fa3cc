"""What `zap fit` and `zap predict` write: curve CSV and PNG, prediction CSVs, anytime predictions, summary.json."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from zap.data.dataset import ImageDataset
from zap.finetune.clock import Budget
from zap.scoring import AlcSpec, LearningCurve, time_transform
from zap.utils import atomic_write_json


def image_names(images: ImageDataset) -> list[str]:
    paths = getattr(images, "paths", None)
    return [str(p) for p in paths] if paths is not None else [f"#{i}" for i in range(len(images))]


def write_predictions(path: Path, names: list[str], probabilities: np.ndarray, class_names: list[str]) -> None:
    """CSV: file, predicted class name, one probability column per class."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "predicted", *class_names])
        for name, row in zip(names, probabilities, strict=True):
            writer.writerow([name, class_names[int(row.argmax())], *(f"{p:.6g}" for p in row)])


def plot_curve(curve: LearningCurve, budget: Budget, path: Path, title: str, t0: float | None = None) -> None:
    """NAUC and accuracy against the budget clock on the ALC's log axis, the scored area shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = AlcSpec(budget.amount, t0)
    times, scores = curve.times(budget.clock), curve.column("nauc")
    x = np.concatenate([[0.0], time_transform(times, spec), [1.0]])
    y = np.concatenate([[0.0], scores, [scores[-1] if len(scores) else 0.0]])
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(x, y, step="post", alpha=0.25, label="ALC area")
    ax.step(x, y, where="post", label="NAUC")
    ax.plot(time_transform(times, spec), curve.column("accuracy"), "o", ms=3, label="accuracy")
    ticks = [t for t in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000) if t <= budget.amount]
    ax.set_xticks(time_transform(np.array(ticks, dtype=float), spec), [str(t) for t in ticks])
    unit = "steps" if budget.clock == "steps" else f"{budget.clock} seconds"
    ax.set(xlabel=f"{unit} (log axis, t0 = {spec.resolved_t0:g})", ylabel="score", ylim=(min(0, y.min()), 1),
           xlim=(0, 1), title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_anytime(out: Path, estimator) -> None:
    """A fitted `zap.ZAP`'s anytime predictions of its extra images: each in `anytime_predictions/`, an
    index of when each was made, and the last as `test_predictions.csv`."""
    folder = out / "anytime_predictions"
    folder.mkdir(exist_ok=True)
    names, classes = image_names(estimator.extra_), list(estimator.classes_)
    with open(folder / "index.csv", "w") as index:
        index.write("n,wall_s,cpu_s,steps,file\n")
        for n, pred in enumerate(estimator.result_.extra_predictions):
            write_predictions(folder / f"{n:04d}.csv", names, pred.probabilities, classes)
            index.write(f"{n},{pred.wall_s:.3f},{pred.cpu_s:.3f},{pred.steps},{n:04d}.csv\n")
    if estimator.result_.extra_predictions:
        last = estimator.result_.extra_predictions[-1].probabilities
        write_predictions(out / "test_predictions.csv", names, last, classes)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """JSON that may hold numpy scalars and paths (a fit's summary)."""
    atomic_write_json(path, payload, indent=2, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")

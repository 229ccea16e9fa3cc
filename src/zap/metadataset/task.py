"""One cell of the cost matrix as a pure function: (dataset, pipeline, budget, seed) -> record.

The record holds the whole learning curve (rows of `zap.scoring.COLUMNS`), ALC over the protocol's T
(a run stopped earlier, as in multi-fidelity HPO, keeps its last score to T), the status and
provenance. A failure inside the task (divergence, out of memory, an error in a pipeline) is a result:
status and error stored, ALC 0, as the reference did. Only a lost worker or builder leaves no record,
and so is retried.
"""

from __future__ import annotations

import os
import platform
import socket
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from zap._version import __version__
from zap.data.augment import VariantSpec, materialize
from zap.data.core import default_cache, load_core
from zap.finetune.refclock import CostTable
from zap.finetune.runner import RUNNER_VERSION, resolve_device
from zap.pipelines import as_dict, pipeline_id
from zap.scoring import COLUMNS, curve_alc
from zap.utils import cpu_model

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Task:
    dataset: VariantSpec
    pipeline: dict[str, Any]
    budget: float  # this run's budget (a fidelity below T for HPO trials)
    clock: str
    seed: int
    alc_budget: float  # T of the ALC time axis
    alc_t0: float | None = None
    threads: int = 1
    costs: CostTable | None = None  # on the ref clock: the plan's cost table (None: the one zap ships)
    device: str = "cpu"  # "cuda": a GPU computes the same cell in full float32 (not part of the cell's key)

    @property
    def pipeline_id(self) -> str:
        return pipeline_id(self.pipeline)


def provenance(threads: int, device: str = "cpu") -> dict[str, Any]:
    import timm
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    gpu = {"gpu": torch.cuda.get_device_name()} if device == "cuda" else {}
    return {"host": socket.gethostname(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": threads, "python": platform.python_version(),
            "torch": torch.__version__, "timm": timm.__version__, "zap": __version__, "runner": RUNNER_VERSION,
            "loadavg_1m": load[0], "device": device} | gpu


def _device_trouble(exc: BaseException) -> bool:
    """A GPU that ran out of memory or failed: the machine's problem at that moment, not the pipeline's."""
    import torch

    return isinstance(exc, torch.cuda.OutOfMemoryError) or (isinstance(exc, RuntimeError) and "CUDA" in str(exc))


@contextmanager
def exact_float32(device: str):
    """On a GPU, no TensorFloat-32 in convolutions and matrix products (PyTorch allows it in cuDNN
    convolutions by default): a cell then differs from its CPU twin by rounding, not by a 10-bit mantissa."""
    if device != "cuda":
        yield
        return
    import torch

    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@lru_cache(maxsize=4)
def _core(name: str, cache: str | None, stamp: float):
    """A worker keeps its last few cores in memory instead of decompressing one per task; the file's
    mtime is part of the key, so a rebuilt core is read again."""
    return load_core(name, cache)


def _cached_core(name: str, cache: str | None):
    path = Path(cache or default_cache()) / f"{name}.npz"
    return _core(name, cache, path.stat().st_mtime if path.exists() else 0.0)


def run_task(task: Task, cache: str | None = None) -> dict[str, Any]:
    """Fine-tune the pipeline on the dataset variant within the budget; never raises for a bad pipeline
    (only for a core whose source is missing here: `MissingSourceError`)."""
    from zap.finetune import Budget, run

    started = time.time()
    record: dict[str, Any] = {
        "schema": SCHEMA_VERSION, "dataset": task.dataset.name, "core": task.dataset.core,
        "domain": task.dataset.domain, "pipeline_id": task.pipeline_id, "pipeline": as_dict(task.pipeline),
        "budget": task.budget, "clock": task.clock, "seed": task.seed, "alc_budget": task.alc_budget,
    }
    # outside the try: a core this machine cannot build (its source package is not installed) is the
    # machine's problem, not the pipeline's; the task is lost and retried once the source is there
    core = _cached_core(task.dataset.core, cache)
    if task.device != "cpu":  # likewise a worker that sees no GPU: lost and retried, never a failed cell
        resolve_device(task.device)
    try:
        split = materialize(core, task.dataset)
        with exact_float32(task.device):
            result = run(split.train, split.test, task.pipeline, Budget(task.budget, task.clock), seed=task.seed,
                         threads=task.threads, device=task.device, costs=task.costs, amp=False)
        ok = result.status == "ok"
        alc = curve_alc(result.curve, task.clock, task.alc_budget, task.alc_t0) if ok else 0.0
        record |= {"status": result.status, "error": result.error, "alc": alc,
                   "final_nauc": result.final_nauc, "accuracy": result.accuracy,
                   "curve": [[r[c] for c in COLUMNS] for r in result.curve.rows],
                   "elapsed": result.elapsed, "n_train": len(split.train), "n_test": len(split.test)}
    except MemoryError as exc:
        record |= {"status": "out_of_memory", "error": repr(exc), "alc": 0.0, "curve": []}
    except Exception as exc:  # a failing pipeline is a result (ALC 0), not a crash of the build
        if task.device != "cpu" and _device_trouble(exc):
            raise  # the GPU's memory is shared by the workers: lost and retried, not the pipeline's fault
        record |= {"status": "failed", "error": f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}",
                   "alc": 0.0, "curve": []}
    record["provenance"] = provenance(task.threads, task.device) | {"seconds": round(time.time() - started, 2),
                                                        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    return record

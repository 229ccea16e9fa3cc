"""The meta-dataset: datasets x candidate pipelines x learning curves, built on the Dask engine."""

from zap.metadataset.build import BuildReport, build, key_of, matrix_tasks, protocol_tasks, sample_cells
from zap.metadataset.plan import HOME_PLAN, V1, Plan, load_plan
from zap.metadataset.problem import SelectionProblem
from zap.metadataset.protocol import Protocol
from zap.metadataset.store import Store, TaskKey, read_records
from zap.metadataset.task import Task, run_task

__all__ = [
    "HOME_PLAN",
    "V1",
    "BuildReport",
    "Plan",
    "Protocol",
    "SelectionProblem",
    "Store",
    "Task",
    "TaskKey",
    "build",
    "key_of",
    "load_plan",
    "matrix_tasks",
    "protocol_tasks",
    "read_records",
    "run_task",
    "sample_cells",
]

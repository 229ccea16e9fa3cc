"""The meta-dataset's authoritative record: append-only JSON-lines shards, idempotent by key.

One line per finished task, written with a single `write` of a whole line and flushed to disk before
the next task is handed out, so a SIGKILL of the builder loses at most the line being written. A torn
last line is ignored on reading (its task is simply done again). Reading all shards gives one record
per key (the first one); writing a key that is already there is a no-op, so reruns never duplicate.
Every Store writes its own new shard, so concurrent builders never write the same file and a new line
never lands behind a torn one.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SHARD_GLOB = "*.jsonl"


@dataclass(frozen=True)
class TaskKey:
    """What makes a result unique: dataset, pipeline, budget (with its clock) and seed."""

    dataset: str
    pipeline: str
    budget: float
    clock: str
    seed: int

    def text(self) -> str:
        return f"{self.dataset}|{self.pipeline}|{self.budget:g}{self.clock}|{self.seed}"

    @classmethod
    def of(cls, record: dict) -> TaskKey:
        return cls(record["dataset"], record["pipeline_id"], float(record["budget"]), record["clock"],
                   int(record["seed"]))


def read_records(folder: Path) -> Iterator[dict]:
    """Every complete record of every shard, in shard order; torn or corrupt lines are skipped."""
    for shard in sorted(Path(folder).glob(SHARD_GLOB)):
        with open(shard, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    continue  # a torn last line: the builder died while writing it
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue


def _plain(value):
    """numpy scalars (as ConfigSpace hands out) to plain JSON values."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store a {type(value).__name__} in a record")


class Store:
    """Results keyed by TaskKey over a folder of shards; `add` appends only what is new."""

    def __init__(self, folder: str | Path, runner: int | None = None):
        """`runner`: keep only records made by that runner version (a record without one is version 1), so
        cells from a superseded anytime rule can never pass for current ones; `skipped` counts the rest."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.records: dict[TaskKey, dict] = {}
        self.skipped = 0
        for record in read_records(self.folder):
            if runner is not None and record.get("provenance", {}).get("runner", 1) != runner:
                self.skipped += 1
                continue
            self.records.setdefault(TaskKey.of(record), record)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.shard = self.folder / f"{stamp}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl"

    def __contains__(self, key: TaskKey) -> bool:
        return key in self.records

    def __len__(self) -> int:
        return len(self.records)

    def missing(self, keys: Iterable[TaskKey]) -> list[TaskKey]:
        return [k for k in keys if k not in self.records]

    def add(self, record: dict) -> bool:
        """Append `record` unless its key is stored; True if it was written."""
        key = TaskKey.of(record)
        if key in self.records:
            return False
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), default=_plain) + "\n"
        with open(self.shard, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        self.records[key] = record
        return True

"""Helpers that several layers share: a stable hash of JSON data, a seed derived from a name, and JSON
written atomically. It imports nothing from zap, so any module may use it without an import cycle."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def canonical_json(payload: Any, *, default: Callable[[Any], Any] | None = None, compact: bool = True) -> str:
    """JSON text with sorted keys, so that equal data gives equal text on every machine.

    `compact` leaves out the spaces after separators. The selectors' spec hashes were defined with json's
    default separators and keep them (`compact=False`): a saved selector keeps its hash.
    """
    separators = (",", ":") if compact else None
    return json.dumps(payload, sort_keys=True, separators=separators, default=default)


def stable_hash(payload: Any, length: int = 16, *, default: Callable[[Any], Any] | None = None,
                compact: bool = True) -> str:
    """The first `length` hex digits of the SHA-256 of `canonical_json(payload)`: a short name for what
    the data means, the same on every machine and in every run (Python's `hash` is salted per process).
    Pipeline ids, protocol hashes and selector spec hashes are all this."""
    text = canonical_json(payload, default=default, compact=compact)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def name_seed(name: str) -> int:
    """A seed in [0, 2**31) drawn from a name by CRC-32 of its UTF-8 bytes: names that differ get
    different seeds (anagrams too, unlike a sum of character codes), and every machine gets the same."""
    return zlib.crc32(name.encode()) % 2**31


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` once the block ends without an
    error, so a killed process leaves the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)


def atomic_write_json(path: str | Path, payload: Any, *, indent: int | None = 1, sort_keys: bool = False,
                      default: Callable[[Any], Any] | None = None) -> Path:
    """`payload` as JSON with a final newline, written through `atomic_path`; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent, sort_keys=sort_keys, default=default) + "\n")
    return Path(path)

"""Torch's thread count, set for a block and restored: no thread setting leaks out of a run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Set torch's intra-op threads for a block and restore the previous count: no thread setting leaks
    out of a run or a selector's training into the caller."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

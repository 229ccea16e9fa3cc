"""zap: zero-shot AutoML with pretrained models for image classification.

The names below are imported on first use (PEP 562), not with the package: the `zap` command starts in
`zap.launch`, and importing torch and scikit-learn takes seconds on a busy machine, during which a Ctrl-C
must end with one line, not with a traceback from inside an importer."""

from __future__ import annotations

import importlib
from typing import Any

from zap._version import __version__

_EXPORTS = {"ZAP": "zap.api", "Budget": "zap.finetune", "load_dataset": "zap.data", "run": "zap.finetune"}

__all__ = ["ZAP", "Budget", "__version__", "load_dataset", "run"]


def __getattr__(name: str) -> Any:
    """A re-exported name, or a subpackage (`zap.scoring.alc` after a plain `import zap`, as before)."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # once imported, an ordinary attribute
        return value
    if not name.startswith("_"):
        try:
            return importlib.import_module(f"zap.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"zap.{name}":
                raise
    raise AttributeError(f"module 'zap' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

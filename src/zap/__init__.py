"""zap: zero-shot AutoML with pretrained models for image classification."""

from zap._version import __version__
from zap.api import ZAP
from zap.data import load_dataset
from zap.finetune import Budget, run

__all__ = ["ZAP", "Budget", "__version__", "load_dataset", "run"]

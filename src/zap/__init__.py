"""zap: zero-shot AutoML with pretrained models for image classification."""

from zap.api import ZAP
from zap.data import load_dataset
from zap.finetune import Budget, run

__version__ = "0.1.0"
__all__ = ["ZAP", "Budget", "__version__", "load_dataset", "run"]

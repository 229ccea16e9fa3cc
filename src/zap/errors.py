"""zap's own errors: what bad input causes, as opposed to a bug.

The command line prints a `ZapError` as one line and exits with code 2; any other exception is a bug and
shows its traceback. Each subclass also derives from the built-in type that code catching the plain
error expected before (`ValueError`), so such code keeps working.
"""

from __future__ import annotations


class ZapError(Exception):
    """Base of every error that input causes; the message names the problem and the fix."""


class ConfigError(ZapError, ValueError):
    """A setting zap cannot use: a budget, clock, device, thread count, split, protocol or pipeline."""


class NotFittedError(ZapError, AttributeError):
    """An estimator asked for a model before `fit` made one (scikit-learn's NotFittedError derives from
    AttributeError too)."""


class ArtifactError(ZapError, ValueError):
    """A file zap should read is missing or is not what it should be: a meta-dataset plan or artifact, a
    saved model."""

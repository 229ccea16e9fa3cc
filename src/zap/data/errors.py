"""Errors the data layer raises for bad input: each names the problem and the fix."""

from __future__ import annotations

from zap.errors import ZapError


class DataError(ZapError, ValueError):
    """Bad user data: the message names the file, class or array and how to fix it."""

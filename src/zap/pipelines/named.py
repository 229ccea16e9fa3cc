"""Named pipelines, stored as data (configs/*.json), and loading a pipeline from a user's file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ConfigSpace import Configuration

from zap.errors import ConfigError
from zap.pipelines.space import complete
from zap.resources import package_data

CONFIG_DIR = package_data("zap.pipelines", "configs")  # package data: found in a wheel too


def named_configs() -> list[str]:
    return sorted(p.name.removesuffix(".json") for p in CONFIG_DIR.iterdir() if p.name.endswith(".json"))


def _values_of(text: str, where: str) -> dict[str, Any]:
    try:
        values = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must hold a JSON object of hyperparameter values")
    return {k: v for k, v in values.items() if not k.startswith("_")}


def get_config(name_or_file: str | Path) -> Configuration:
    """A named pipeline (`autodl-default`, `recommended`) or a JSON file of hyperparameter values.

    Values a file leaves out take the space's defaults; keys starting with '_' are comments.
    """
    name = str(name_or_file)
    if name in named_configs():
        return complete(_values_of((CONFIG_DIR / f"{name}.json").read_text(), f"named config {name}"))
    path = Path(name_or_file)
    if not path.is_file():
        raise ConfigError(
            f"no named pipeline or file {name!r}: use one of {named_configs()} or a JSON file of "
            "hyperparameters (see `zap space`)"
        )
    try:
        return complete(_values_of(path.read_text(), str(path)))
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc

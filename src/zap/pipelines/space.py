"""The pipeline search space, declared once as data, and the one numeric encoding of a pipeline.

A pipeline is a ConfigSpace `Configuration` over `SPACE`: a pretrained backbone plus its fine-tuning
hyperparameters (the ZAP dimensions, adapted to this zoo and to short budgets; docs/search_space.md).
Everything that stores or learns from pipelines uses `encode` (fixed length, documented layout) and
`pipeline_id` (a hash of the named values, so growing the space or the encoding keeps every id).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from functools import cache
from typing import Any

import numpy as np
from ConfigSpace import (
    Categorical,
    Configuration,
    ConfigurationSpace,
    EqualsCondition,
    Float,
    InCondition,
    Integer,
    OrdinalHyperparameter,
)

from zap.errors import ConfigError
from zap.metafeatures import MetaFeatures
from zap.pipelines.zoo import ZOO
from zap.utils import stable_hash


@dataclass(frozen=True)
class Dim:
    """One hyperparameter: its kind, range or choices, default, log flag and activation condition."""

    name: str
    kind: str  # "float", "int", "cat", "bool", "ordinal"
    default: Any
    bounds: tuple[float, float] | None = None
    choices: tuple[Any, ...] | None = None
    log: bool = False
    condition: tuple[str, tuple[Any, ...]] | None = None  # (parent, values that activate this one)
    doc: str = ""
    origin: str = ""  # the ZAP hyperparameter it comes from (ZAP's search space; docs/search_space.md)


DIMENSIONS: tuple[Dim, ...] = (
    Dim("architecture", "cat", "mobilenetv2", choices=tuple(ZOO), doc="pretrained backbone (zoo name)",
        origin="architecture (ResNet18 -> mobilenetv2, efficientnetb0-2 -> efficientnet_lite0-2)"),
    Dim("optimizer", "cat", "SGD", choices=("SGD", "Adam", "AdamW"), origin="optimizer"),
    Dim("momentum", "float", 0.9, bounds=(0.01, 0.99), condition=("optimizer", ("SGD",)), origin="momentum"),
    Dim("nesterov", "bool", True, choices=(True, False), condition=("optimizer", ("SGD",)), origin="nesterov"),
    Dim("amsgrad", "bool", False, choices=(True, False), condition=("optimizer", ("Adam", "AdamW")),
        origin="amsgrad"),
    Dim("lr", "float", 0.025, bounds=(1e-5, 1e-1), log=True, doc="base learning rate", origin="lr"),
    Dim("min_lr", "float", 1e-6, bounds=(1e-8, 1e-5), log=True, doc="floor of the schedule", origin="min_lr"),
    Dim("wd", "float", 2.5e-4, bounds=(1e-5, 1e-2), log=True, doc="weight decay", origin="wd"),
    Dim("batch_size", "int", 32, bounds=(16, 64), log=True, origin="batch_size"),
    Dim("scheduler", "cat", "plateau", choices=("plateau", "cosine"),
        doc="plateau: halve on a train-loss plateau per epoch; cosine: over the budget", origin="scheduler"),
    Dim("freeze_portion", "ordinal", 0.0, choices=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
        doc="share of the backbone's parameter tensors (from the input side) kept frozen",
        origin="freeze_portion"),
    Dim("warmup_multiplier", "ordinal", 2.0, choices=(1.0, 1.5, 2.0, 2.5, 3.0),
        doc="lr ramps linearly from lr to lr*multiplier over the warm-up", origin="warmup_multiplier"),
    Dim("warm_up_epoch", "int", 5, bounds=(3, 6), doc="warm-up length in epochs", origin="warm_up_epoch"),
    Dim("steps_per_epoch", "int", 30, bounds=(5, 250), log=True,
        doc="optimizer steps per 'epoch' (the unit of warm-up and plateau checks)", origin="steps_per_epoch"),
    Dim("log2_max_size", "int", 6, bounds=(5, 7), doc="input side is at most 2**v px (32, 64, 128)",
        origin="log2_max_size"),
    Dim("augmentation", "cat", "crop_flip", choices=("none", "crop", "crop_flip"),
        doc="random shift-crop (pad 1/8, crop) and horizontal flip of training batches",
        origin="new (AutoDL winner: always flip + crop)"),
    Dim("cv_valid_ratio", "float", 0.1, bounds=(0.05, 0.2), doc="share of train held out for validation",
        origin="cv_valid_ratio"),
    Dim("max_valid_count", "int", 256, bounds=(128, 512), log=True, doc="cap on the validation set",
        origin="max_valid_count"),
    Dim("skip_valid_score_threshold", "float", 0.9, bounds=(0.7, 0.95),
        doc="once validation NAUC reaches this, predict the test set without validating first",
        origin="skip_valid_score_threshold"),
    Dim("eval_first_frac", "float", 1 / 1200, bounds=(5e-4, 0.1), log=True,
        doc="time of the first CNN prediction, as a fraction of the budget T",
        origin="test_after_at_least_seconds / 1200"),
    Dim("eval_gap_step_frac", "float", 2 / 1200, bounds=(1e-3, 0.05), log=True,
        doc="the gap between predictions grows by this fraction of T after each one",
        origin="test_after_at_least_seconds_step / 1200"),
    Dim("eval_gap_max_frac", "float", 90 / 1200, bounds=(0.04, 0.2),
        doc="largest gap between predictions, as a fraction of T", origin="test_after_at_least_seconds_max / 1200"),
    # The quick model's two switches keep their old names: a name is part of every pipeline id (a hash of
    # the named values) and of the stored v1 meta-dataset, so renaming them would orphan every record.
    Dim("first_simple_model", "bool", False, choices=(True, False),
        doc="a quick scikit-learn model on thumbnails gives the first prediction", origin="first_simple_model"),
    Dim("simple_model", "cat", "RF", choices=("SVC", "NuSVC", "RF", "LR"),
        condition=("first_simple_model", (True,)), origin="simple_model"),
)
DIMS_BY_NAME: dict[str, Dim] = {d.name: d for d in DIMENSIONS}


def largest_input_side() -> int:
    """The largest network input side any pipeline of the space takes, in pixels."""
    return 2 ** int(DIMS_BY_NAME["log2_max_size"].bounds[1])


def as_pipelines_see(meta: MetaFeatures) -> MetaFeatures:
    """The meta-features as far as any pipeline can tell datasets apart: images larger than the largest
    network input are scaled down to at most that side, as a dataset at that resolution is, so a selector
    is asked about them at that resolution rather than made to extrapolate (every training dataset of the
    meta-dataset is at most that size)."""
    return dataclasses.replace(meta, resolution=min(meta.resolution, largest_input_side()))


def _hyperparameter(dim: Dim):
    if dim.kind == "float":
        return Float(dim.name, bounds=dim.bounds, default=dim.default, log=dim.log)
    if dim.kind == "int":
        return Integer(dim.name, bounds=tuple(int(b) for b in dim.bounds), default=dim.default, log=dim.log)
    if dim.kind == "ordinal":
        return OrdinalHyperparameter(dim.name, sequence=list(dim.choices), default_value=dim.default)
    return Categorical(dim.name, items=list(dim.choices), default=dim.default)


def search_space(seed: int | None = None) -> ConfigurationSpace:
    """The ConfigSpace of all pipelines, a fresh copy with its own random state.

    A copy because sampling moves the space's RNG and SMAC's facades reseed the space they are given:
    a shared instance would make one caller's samples depend on what another did before it."""
    space = copy.deepcopy(_validation_space())
    space.seed(seed)
    return space


@cache
def _validation_space() -> ConfigurationSpace:
    """The one shared instance, for checking and holding configurations only (never sampled from)."""
    space = ConfigurationSpace(name="zap")
    hyperparameters = {dim.name: _hyperparameter(dim) for dim in DIMENSIONS}
    space.add(list(hyperparameters.values()))
    for dim in DIMENSIONS:
        if dim.condition is None:
            continue
        parent, values = dim.condition
        child, parent_hp = hyperparameters[dim.name], hyperparameters[parent]
        if len(values) == 1:
            space.add(EqualsCondition(child, parent_hp, values[0]))
        else:
            space.add(InCondition(child, parent_hp, list(values)))
    return space


# -------------------------------------------------------------------------------------------- canonical


def _canonical_value(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(f"{float(value):.10g}")
    return str(value)


def as_dict(config: Configuration | Mapping[str, Any]) -> dict[str, Any]:
    """The active hyperparameter values, sorted by name, with plain Python types."""
    values = dict(config)
    return {name: _canonical_value(values[name]) for name in sorted(values)}


def pipeline_id(config: Configuration | Mapping[str, Any]) -> str:
    """12 hex digits of the SHA-256 of the canonical named values: stable as the space grows."""
    return stable_hash(as_dict(config), 12)


def _shown(value: Any) -> str:
    """A value as the user wrote it in a JSON file (`null`, `"big"`, `16.9`), else its repr."""
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def _takes(dim: Dim) -> str:
    """What a hyperparameter accepts, for an error message."""
    if dim.kind == "bool":
        return "true or false"
    if dim.kind in ("cat", "ordinal"):
        return f"one of {list(dim.choices)}"
    low, high = dim.bounds
    kind = "a whole number" if dim.kind == "int" else "a number"
    return f"{kind} in [{low:g}, {high:g}]{' on a log scale' if dim.log else ''}"


def _refuse(dim: Dim, value: Any, problem: str) -> ConfigError:
    return ConfigError(f"invalid pipeline configuration: {dim.name} = {_shown(value)} {problem}; {dim.name} "
                       f"takes {_takes(dim)}; leave the key out for the default, {_shown(dim.default)}")


def _number(dim: Dim, value: Any) -> float:
    """A finite number from a number or a numeric string; JSON's `null`, booleans and words are refused."""
    if isinstance(value, bool | np.bool_) or value is None:
        raise _refuse(dim, value, "is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _refuse(dim, value, "is not a number") from None
    if not math.isfinite(number):
        raise _refuse(dim, value, "is not a finite number")
    return number


def _coerce(dim: Dim, value: Any) -> Any:
    """`value` as `dim`'s type, checked against its range or choices: a clear error names the hyperparameter,
    the value and what it takes, where ConfigSpace would say less or an `int()` would silently cut 16.9."""
    if dim.kind == "bool":
        flag = {"true": True, "false": False}.get(value.lower()) if isinstance(value, str) else value
        if not isinstance(flag, bool | np.bool_):
            raise _refuse(dim, value, "is not true or false")
        return bool(flag)
    if dim.kind == "cat":
        if not isinstance(value, str) or value not in dim.choices:
            raise _refuse(dim, value, "is not one of the choices")
        return str(value)
    number = _number(dim, value)
    if dim.kind == "ordinal":
        if number not in dim.choices:
            raise _refuse(dim, value, "is not one of the choices")
        return number
    if dim.kind == "int" and not number.is_integer():
        raise _refuse(dim, value, "is not a whole number")
    if not dim.bounds[0] <= number <= dim.bounds[1]:
        raise _refuse(dim, value, "is out of range")
    return int(number) if dim.kind == "int" else number


def _check_names(values: Mapping[str, Any]) -> None:
    """Unknown hyperparameter names, each with the nearest known one (a typo's likely fix)."""
    unknown = sorted(set(values) - set(DIMS_BY_NAME))
    if unknown:
        hints = [f"{name!r}" + "".join(f" (did you mean {m!r}?)" for m in get_close_matches(name, DIMS_BY_NAME, 1))
                 for name in unknown]
        raise ConfigError(f"unknown hyperparameter(s) {', '.join(hints)}; `zap space` lists the known ones")


def make_config(values: Mapping[str, Any]) -> Configuration:
    """A validated Configuration; unknown names, out-of-range values and inactive ones fail clearly."""
    _check_names(values)
    clean = {name: _coerce(DIMS_BY_NAME[name], value) for name, value in values.items()}
    space = _validation_space()
    try:
        config = Configuration(space, values=clean)
        config.check_valid_configuration()
    except Exception as exc:
        raise ConfigError(f"invalid pipeline configuration: {exc}") from exc
    return config


def complete(values: Mapping[str, Any]) -> Configuration:
    """Fill unspecified hyperparameters with their defaults; conditionals follow their parents.

    A value given for a hyperparameter its parent makes inactive is an error, not silently dropped.
    """
    _check_names(values)
    resolved = _resolve(values)
    for name in values:
        if name not in resolved:
            raise _inactive(DIMS_BY_NAME[name], values[name], resolved)
    return make_config(resolved)


def _inactive(dim: Dim, value: Any, resolved: Mapping[str, Any]) -> ConfigError:
    parent, active_for = dim.condition
    return ConfigError(f"invalid pipeline configuration: {dim.name} = {_shown(value)} is given, but it applies only "
                       f"when {parent} is one of {list(active_for)} and {parent} is {_shown(resolved.get(parent))}; "
                       f"remove {dim.name} or change {parent}")


def _resolve(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every active hyperparameter: the given value, or its default; conditionals follow their parents."""
    given = {name: _coerce(DIMS_BY_NAME[name], v) for name, v in values.items() if name in DIMS_BY_NAME}
    resolved: dict[str, Any] = {}
    for dim in DIMENSIONS:  # parents come before their children
        if dim.condition is not None and resolved.get(dim.condition[0]) not in dim.condition[1]:
            continue
        resolved[dim.name] = given.get(dim.name, dim.default)
    return resolved


def with_overrides(config: Mapping[str, Any], **overrides: Any) -> Configuration:
    """`config` with some values changed; values the change makes inactive (the quick model's kind once
    `first_simple_model` is off) are dropped rather than refused."""
    unknown = sorted(set(overrides) - set(DIMS_BY_NAME))
    if unknown:
        raise ConfigError(f"unknown hyperparameters {unknown}; the space has {sorted(DIMS_BY_NAME)}")
    values = dict(config) | overrides
    active = _resolve(values)
    return complete({name: value for name, value in values.items() if name in active})


# --------------------------------------------------------------------------------------------- encoding


@dataclass(frozen=True)
class Column:
    name: str
    dim: str
    transform: str  # "raw", "log10", "bool", "onehot"
    choice: Any = None


@cache
def encoding_layout() -> tuple[Column, ...]:
    """Columns of `encode`, in order: one per numeric/bool dimension, one per choice of a categorical."""
    columns: list[Column] = []
    for dim in DIMENSIONS:
        if dim.kind == "cat":
            columns += [Column(f"{dim.name}={c}", dim.name, "onehot", c) for c in dim.choices]
        elif dim.kind == "bool":
            columns.append(Column(dim.name, dim.name, "bool"))
        else:
            columns.append(Column(dim.name, dim.name, "log10" if dim.log else "raw"))
    return tuple(columns)


def encoding_names() -> list[str]:
    return [c.name for c in encoding_layout()]


def _encode_value(column: Column, values: Mapping[str, Any]) -> float:
    dim = DIMS_BY_NAME[column.dim]
    active = column.dim in values
    if column.transform == "onehot":
        return 1.0 if active and values[column.dim] == column.choice else 0.0
    if column.transform == "bool":
        return 1.0 if active and bool(values[column.dim]) else 0.0
    value = float(values[column.dim]) if active else float(dim.default)  # inactive: the neutral default
    return math.log10(value) if column.transform == "log10" else value


def encode(config: Configuration | Mapping[str, Any]) -> np.ndarray:
    """The fixed-length numeric vector of a pipeline (layout: `encoding_layout()`, docs/search_space.md).

    Log-scale dimensions are log10, categoricals one-hot, booleans 0/1; an inactive conditional numeric
    takes its default and an inactive categorical all zeros. No scaling: learners standardize.
    """
    values = dict(config)
    return np.array([_encode_value(column, values) for column in encoding_layout()], dtype=float)


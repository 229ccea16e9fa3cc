"""Helpers that several layers share: a stable hash of JSON data, a seed derived from a name, JSON
written atomically, the bounds check of a scikit-learn estimator built from a file, the CPU's name, and the
range and choice checks of user settings. It imports only `zap.errors`, so any module may use it without an
import cycle."""

from __future__ import annotations

import functools
import hashlib
import json
import math
import numbers
import os
import platform
import secrets
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from zap.errors import ConfigError


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


def number_text(value: float) -> str:
    """A number as short as `:g` writes it, unless that hides a difference: a budget of 20.0000001 that a
    message calls "20" reads as if it were one of the levels it was refused for."""
    short = f"{value:g}"
    return short if float(short) == value else repr(float(value))


def name_seed(name: str) -> int:
    """A seed in [0, 2**31) drawn from a name by CRC-32 of its UTF-8 bytes: names that differ get
    different seeds (anagrams too, unlike a sum of character codes), and every machine gets the same."""
    return zlib.crc32(name.encode()) % 2**31


TMP_SUFFIX = ".tmp"


def is_atomic_tmp(name: str, of: str) -> bool:
    """Whether a file name is one `atomic_path` gives while it writes the file `of`."""
    return name.startswith(f".{of}.") and name.endswith(TMP_SUFFIX)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; it replaces `path` once the block ends without an
    error, so a killed process leaves the old file or the new one, never half of one. The temporary name is
    hidden and this writer's own: two writers of one file never rename each other's half-written file into
    place, and what a kill leaves is one stray hidden file, not a `path.tmp` that looks like an output."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}{TMP_SUFFIX}")
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:  # also a failed replace (the path is a folder, say): no stray temporary file
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, payload: Any, *, indent: int | None = 1, sort_keys: bool = False,
                      default: Callable[[Any], Any] | None = None) -> Path:
    """`payload` as JSON with a final newline, written through `atomic_path`; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=indent, sort_keys=sort_keys, default=default) + "\n")
    return Path(path)


def estimator_out_of_bounds(estimator: Any) -> str | None:
    """What in a built scikit-learn estimator would lead its compiled code outside its arrays, or None.
    skops builds an estimator's arrays as the file has them, and scikit-learn's compiled code trusts them:
    a tree's child outside the tree or not after its parent (a loop), or a split on a feature outside the
    input (skops's warning on sklearn.tree._tree.Tree); an SVM whose coefficient, intercept or
    support-vector arrays disagree with its classes; k-means centres narrower than the input. Forests,
    calibrated classifiers and pipelines are walked down to every estimator they hold."""
    n_in = getattr(estimator, "n_features_in_", None)
    for member in getattr(estimator, "estimators_", None) or []:
        tree = getattr(member, "tree_", None)
        if tree is None:
            return f"a forest member that is not a tree ({type(member).__name__})"
        problem = _tree_out_of_bounds(tree, n_in)
        if problem:
            return problem
    if getattr(estimator, "tree_", None) is not None:
        return _tree_out_of_bounds(estimator.tree_, n_in)
    if hasattr(estimator, "_dual_coef_"):
        return _svm_out_of_bounds(estimator)
    centres = getattr(estimator, "cluster_centers_", None)
    if centres is not None and (centres.dtype != np.float64 or centres.shape[1:] != (n_in,)):
        return f"cluster centres of shape {centres.shape} and dtype {centres.dtype} for {n_in} features"
    inner = [c.estimator for c in getattr(estimator, "calibrated_classifiers_", None) or []]
    inner += [step for _, step in getattr(estimator, "steps", None) or [] if step not in (None, "passthrough")]
    return next(filter(None, map(estimator_out_of_bounds, inner)), None)


def _tree_out_of_bounds(tree: Any, n_in: int | None) -> str | None:
    if not 1 <= tree.node_count <= tree.capacity or tree.n_features != n_in:
        return f"a tree of {tree.node_count} nodes (room for {tree.capacity}) on {tree.n_features} features"
    node, left, right, feature = np.arange(tree.node_count), tree.children_left, tree.children_right, tree.feature
    inner = left != -1
    if ((right == -1) != ~inner).any() or not all(((child[inner] > node[inner]) & (child[inner] < len(node))).all()
                                                  for child in (left, right)):
        return "a tree whose children lie outside it or before their parents"
    if ((feature[inner] < 0) | (feature[inner] >= n_in)).any():
        return f"a tree that splits on features outside the {n_in} it takes"
    return None


def _svm_out_of_bounds(svm: Any) -> str | None:
    """libsvm indexes its arrays by the class counts in `_n_support`: every array must have the length
    those counts and the number of classes give."""
    n_class, support = len(getattr(svm, "classes_", [])), np.asarray(svm._n_support)
    pairs = n_class * (n_class - 1) // 2
    n_sv = int(support.sum()) if support.ndim == 1 and (support >= 0).all() else -1
    expected = {"_n_support": (n_class,), "support_vectors_": (n_sv, svm.n_features_in_),
                "_dual_coef_": (n_class - 1, n_sv), "_intercept_": (pairs,), "support_": (n_sv,)}
    for name, shape in expected.items():
        if np.shape(getattr(svm, name)) != shape:
            return f"an SVM whose {name} has shape {np.shape(getattr(svm, name))}, not {shape}"
    for name in ("_probA", "_probB"):
        if np.shape(getattr(svm, name)) not in ((0,), (pairs,)):
            return f"an SVM whose {name} has shape {np.shape(getattr(svm, name))}, not (0,) or ({pairs},)"
    return None


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name with its family, model and stepping numbers, read from `/proc/cpuinfo`.

    A virtual machine often shows only a generic name ("AMD EPYC") for hosts of different generations and
    speeds (docs/metadataset.md, "A slower host"); the numbers tell them apart. Elsewhere, whatever `platform`
    knows."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return platform.processor() or platform.machine()
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    ids = [f"{label} {fields[key]}" for label, key in (("family", "cpu family"), ("model", "model"),
                                                           ("stepping", "stepping")) if fields.get(key)]
    return f"{name} ({', '.join(ids)})" if ids else name


def check_range(name: str, value: Any, low: float, high: float = math.inf, *, integer: bool = False,
                low_open: bool = False, high_open: bool = False) -> None:
    """A ConfigError naming the argument, the value and the interval unless `value` is a finite number inside
    it (a whole one if `integer`); a bool or a string is no number."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    inside = number and (low < value if low_open else low <= value) and (value < high if high_open else value <= high)
    # a whole number is an int (or numpy's): 2.0 would pass here and fail deep inside numpy or torch
    if not inside or (integer and not isinstance(value, numbers.Integral)):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open or high == math.inf else ']'}"
        whole = " and be a whole number (an int)" if integer else ""
        raise ConfigError(f"{name} must lie in {interval}{whole}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {list(choices)}, got {value!r}")


def plain_text_plots(draw: Callable[..., Any]) -> Callable[..., Any]:
    """Draw on the file backend with matplotlib's maths parsing off: class and folder names reach titles and
    tick labels as typed, so a `$...$` in one is text, not a formula that fails to parse after the training
    it reports on. The setting holds for the call only (a user's own plots keep theirs)."""
    @functools.wraps(draw)
    def drawn(*args: Any, **kwargs: Any) -> Any:
        import matplotlib

        matplotlib.use("Agg")
        with matplotlib.rc_context({"text.parse_math": False}):
            return draw(*args, **kwargs)

    return drawn

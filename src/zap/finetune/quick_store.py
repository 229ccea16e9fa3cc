"""The quick model on disk without pickle: skops's format, read only when it names nothing but what zap's
quick models are made of.

Unpickling runs whatever code the pickle's author put in it, so a quick model that travels inside a model
folder is stored with `skops.io`: a zip holding a JSON schema of the object and its numpy arrays (read with
`allow_pickle=False`), which skops rebuilds node by node. skops trusts a broad default set of types; zap
trusts less. Before skops imports or builds anything, the schema must name only the node kinds in
`ALLOWED_NODES`, only the types in `ALLOWED_TYPES` (what `quick.make_quick_model`'s four models hold once
fitted, found by saving each and listing every type its schema names), and a root in `ROOT_TYPES`;
`skops.io.get_untrusted_types` must then report nothing outside `ALLOWED_TYPES`. Only then does skops
load it, trusting exactly that list. A file that names anything else, because zap did not write it or
because it was crafted to run code, is refused with the names it holds, unloaded.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import skops.io

from zap.errors import ArtifactError
from zap.utils import estimator_out_of_bounds

FILE_NAME = "quick_model.skops"
FIX = "re-run `zap fit` to save the model again"

# What a fitted SVC, NuSVC, RF and LR quick model names in its skops schema, container types included. A
# scikit-learn that stores these models otherwise fails tests/test_model_folder.py's round trips, and
# `dumps` refuses to write such a file, rather than write one that loading would refuse.
ALLOWED_TYPES = frozenset({
    "builtins.dict", "builtins.list", "builtins.str", "builtins.tuple",
    "numpy.ndarray", "numpy.float64", "numpy.int64",
    "sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration", "sklearn.svm._classes.SVC", "sklearn.svm._classes.NuSVC",
    "sklearn.ensemble._forest.RandomForestClassifier", "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "sklearn.linear_model._logistic.LogisticRegression",
})
# What `quick.make_quick_model` wraps in a CalibratedClassifierCV: the only estimators one may hold.
CALIBRATED_TYPES = frozenset({"sklearn.svm._classes.SVC", "sklearn.svm._classes.NuSVC"})
# The estimators `quick.make_quick_model` makes: the only types the file's root may have.
ROOT_TYPES = frozenset({
    "sklearn.calibration.CalibratedClassifierCV", "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.linear_model._logistic.LogisticRegression",
})
# skops's node kinds for those types. No FunctionNode, MethodNode, PartialNode, ReduceNode or
# OperatorFuncNode: those call what the file names. A CachedNode only points back at a node already
# checked (an object the model holds twice).
ALLOWED_NODES = frozenset({
    "DictNode", "ListNode", "TupleNode", "JsonNode", "TypeNode", "NdArrayNode", "ObjectNode", "TreeNode",
    "CachedNode",
})
NODE_KEYS = ("__loader__", "__module__", "__class__")


def dumps(model: Any) -> bytes:
    """`model` in skops's format, checked as loading will check it: zap never writes a quick model it
    would refuse to read."""
    data = skops.io.dumps(model, compression=zipfile.ZIP_DEFLATED)
    unexpected = _unexpected_names(data, "the quick model to save")
    if unexpected:
        raise ArtifactError(f"cannot save the quick model: it holds {', '.join(unexpected)}, outside the types "
                            "zap loads (this scikit-learn stores it otherwise than the one zap was tested with); "
                            "install the scikit-learn of zap's tests or turn the quick model off")
    return data


def loads(data: bytes, where: str) -> Any:
    """The quick model in `data` (the bytes of the file `where`), after the checks the module docstring
    names; ArtifactError, with nothing loaded, if it names anything else or is damaged."""
    unexpected = _unexpected_names(data, where)
    if unexpected:
        raise ArtifactError(
            f"{where} names types zap's quick models never hold: {', '.join(unexpected)}. The folder was "
            "not written by zap (or by a zap under another scikit-learn) or was changed, and may be malicious: "
            f"nothing in it was loaded; {FIX}")
    try:
        model = skops.io.loads(data, trusted=sorted(ALLOWED_TYPES))
    except Exception as exc:  # a damaged schema or array fails in many ways, all of them "damaged"
        raise _damaged(where, type(exc).__name__) from None
    problem = _calibrated_other_than_svm(model) or estimator_out_of_bounds(model)
    if problem:
        raise _damaged(where, f"it holds {problem}")
    return model


def _calibrated_other_than_svm(model: Any) -> str | None:
    """`quick.make_quick_model` calibrates only SVC and NuSVC: anything else inside a calibrated
    classifier is not zap's."""
    for calibrated in getattr(model, "calibrated_classifiers_", None) or []:
        name = f"{type(calibrated.estimator).__module__}.{type(calibrated.estimator).__name__}"
        if name not in CALIBRATED_TYPES:
            return f"a calibrated {name}, where zap calibrates only SVC and NuSVC"
    return None


def _unexpected_names(data: bytes, where: str) -> list[str]:
    """The node kinds and types `data` names outside the allow-lists (a root outside ROOT_TYPES too), from
    its schema read as plain JSON, then from skops's own audit; nothing is imported or built."""
    schema = _schema(data, where)
    root = _type_name(schema, where)
    unexpected = set() if root in ROOT_TYPES else {f"{root} (as the root)"}
    for node in _nodes(schema):
        name = _type_name(node, where)
        if name not in ALLOWED_TYPES:
            unexpected.add(name)
        if node["__loader__"] not in ALLOWED_NODES:
            unexpected.add(f"node kind {node['__loader__']}")
    if unexpected:  # skops's audit may try to import what the file names: not for a file refused already
        return sorted(unexpected)
    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # as in `loads`
        raise _damaged(where, type(exc).__name__) from None
    return sorted(set(untrusted) - ALLOWED_TYPES)


def _schema(data: bytes, where: str) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except Exception as exc:  # not a zip, no schema, a broken deflate stream, no JSON: all of them "damaged"
        raise _damaged(where, type(exc).__name__) from None
    if not isinstance(schema, dict):
        raise _damaged(where, "its schema is not a JSON object")
    return schema


def _nodes(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every dict of the schema that describes an object (has any of NODE_KEYS), however deeply nested:
    a node skops would build is never skipped, whatever key it hides under."""
    stack: list[Any] = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if any(key in item for key in NODE_KEYS):
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _type_name(node: dict[str, Any], where: str) -> str:
    parts = [node.get(key) for key in NODE_KEYS]
    if not all(isinstance(part, str) for part in parts):
        raise _damaged(where, f"a node lacks one of {', '.join(NODE_KEYS)}")
    return f"{parts[1]}.{parts[2]}"


def _damaged(where: str, why: str) -> ArtifactError:
    return ArtifactError(f"{where} is not a readable quick model ({why}): the folder is damaged or was changed; "
                         "re-run `zap fit` or copy the folder again")

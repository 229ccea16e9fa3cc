"""Saved selectors as data only: the `.zsel` format, which loading reads without running code from the file.

A user can be handed a folder of selectors ($ZAP_SELECTORS, $ZAP_HOME, `zap meta-train --out DIR`), so a
saved selector must be safe to load whoever wrote it. It is a zip archive of
- `selector.json`: the schema, the selector's name, its spec hash, the context it was saved with, the
  versions that saved it, and the fitted selector (`fitted`): its class, settings, the attributes every
  selector has and its own state (`Selector._state`), JSON where that is plain data, and where it is not a
  reference (`{"$array": KEY}`, `{"$estimator": KEY}`, `{"$selector": {...}}` for a selector it holds);
- `arrays.npz`: every array of the state, torch weights among them, read with `allow_pickle=False`;
- `estimators/KEY.skops`: the scikit-learn estimators (ZAP-AS's scaler, PCA, forests, k-means) in skops's format.

Loading first refuses a file whose members, or the zips inside it, declare more than `MAX_ENTRY` or
`MAX_UNPACKED` bytes in all (a zip bomb), then reads `selector.json` as plain JSON and checks its schema and
the structure of its context's candidates. The schema of every skops entry is
read as JSON too: it must name only the node kinds in `ALLOWED_NODES` and the types in `ALLOWED_TYPES`, and
skops's own audit must agree, before any estimator is built; each is then built where the state asks for it,
only if its root is the class expected there, and its trees and cluster centres are checked before
scikit-learn's compiled code walks them (`zap.utils.estimator_out_of_bounds`); how it runs (threads, jobs,
logging) is set to zap's values (`RUNTIME_SETTINGS`), whatever the file says. The selector's class is looked
up among the `Selector` subclasses the running program has (zap's own imported from the fixed `OWN_MODULES`):
the file names no code to import. Its recorded spec hash must be what its settings and candidates give, its
settings must pass the checks `fit` runs (`Selector._check_settings`), and each class rebuilds itself
(`Selector._from_state`) through a `StateReader`, which checks every value's type and shape. A damaged or
foreign file, or a pickle from a zap before schema 2, is refused with a `SelectorError` naming the file, the
problem and the fix."""

from __future__ import annotations

import gzip
import importlib
import io
import json
import math
import pickle
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zap.resources import versions
from zap.selectors.base import SELECTOR_SCHEMA, Selector, SelectorError
from zap.utils import atomic_path, estimator_out_of_bounds

SUFFIX = ".zsel"
LEGACY_SUFFIX = ".pkl.gz"  # selectors pickled by zaps before selector schema 2: refused, converted on request
GZIP_MAGIC = b"\x1f\x8b"
META_ENTRY = "selector.json"
ARRAYS_ENTRY = "arrays.npz"
ESTIMATOR_FOLDER = "estimators/"
FIX = "retrain it with `zap meta-train`"
# What a file may unpack to, its zips inside (the arrays, each estimator) counted too, by the sizes their
# members declare, which zipfile never reads past: a file that inflates beyond these (a zip bomb) is refused
# before its members are read. Far above any selector zap writes (docs/security.md).
MAX_UNPACKED = 512 * 2**20
MAX_ENTRY = 256 * 2**20
NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
MAX_FEATURES = 100_000  # meta-features a saved selector may take: loading builds rows of this width
# How an estimator runs, not what it learnt, set to these whatever the file says (`at_rest`): skops restores
# every attribute, and a k-means told to use -1 threads aborts the process, a forest with n_jobs=-1 takes every
# core, a pipeline's memory caches to a folder.
RUNTIME_SETTINGS = {"_n_threads": 1, "n_jobs": 1, "verbose": 0, "memory": None}
# The modules of zap's own selector classes: imported, when a file names a class of theirs, before the class
# is looked up. Nothing else is ever imported for a file.
OWN_MODULES = ("zap.selectors.baselines", "zap.selectors.zap_as", "zap.selectors.zap_hpo", "zap.selectors.levels")
# What the estimators of every ZAP-AS selector type and preprocessing variant (scaler and PCA on or off,
# forests with and without bootstrap, all or some features, with and without missing cells) name in their
# skops schemas, container types included: found by saving each and listing every type. A scikit-learn that
# stores them otherwise fails tests/test_selectors.py's round trips, and `save` refuses to write such a file.
ALLOWED_TYPES = frozenset({
    "builtins.dict", "builtins.list", "builtins.str", "builtins.tuple",
    "numpy.ndarray", "numpy.float64", "numpy.int64",
    "sklearn.pipeline.Pipeline", "sklearn.preprocessing._data.StandardScaler", "sklearn.decomposition._pca.PCA",
    "sklearn.ensemble._forest.RandomForestClassifier", "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier", "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._tree.Tree", "sklearn.cluster._kmeans.KMeans",
})
# skops's node kinds for those types. No FunctionNode, MethodNode, PartialNode, ReduceNode or
# OperatorFuncNode: those call what the file names. A CachedNode only points back at a node already checked.
ALLOWED_NODES = frozenset({
    "DictNode", "ListNode", "TupleNode", "JsonNode", "TypeNode", "NdArrayNode", "ObjectNode", "TreeNode",
    "CachedNode",
})


class SelectorFileError(SelectorError):
    """A saved selector refused: the message names the file, what is wrong and the fix."""


def _damaged(path: Path, why: str) -> SelectorFileError:
    return SelectorFileError(f"{path} is not a readable saved selector ({why}): it is damaged or was not written "
                             f"by zap; {FIX}, or copy the file again")


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Whatever a damaged file makes zipfile, json, numpy, skops, torch or a class's checks raise becomes
    one refusal that names the file."""
    try:
        yield
    except SelectorFileError:
        raise
    except Exception as exc:
        raise _damaged(path, f"{type(exc).__name__}: {exc}") from None


# ------------------------------------------------------------------------------------------------ writing


class StateWriter:
    """Turns a fitted selector into JSON, setting its arrays and estimators aside under short keys."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self.estimators: dict[str, bytes] = {}

    def fitted(self, selector: Selector) -> dict[str, Any]:
        """A fitted selector's record: its class, settings, the attributes every selector has, its state."""
        cls = type(selector)
        return {"class": _class_name(cls), "selector": selector.name, "params": self.encode(selector.get_params()),
                "spec_hash": selector.spec_hash_, "maximize": selector.maximize_,
                "n_features": selector.n_features_, "encodings": self.encode(np.asarray(selector.encodings_)),
                "state": self.encode(selector._state())}

    def encode(self, value: Any) -> Any:
        if isinstance(value, Selector):
            return {"$selector": self.fitted(value)}
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                raise SelectorError("cannot save an array of Python objects in a selector's state: it would be a "
                                    "pickle")
            return {"$array": _keep(self.arrays, "a", value)}
        if type(value).__module__.startswith("sklearn."):
            return {"$estimator": _keep(self.estimators, "e", _dumps(value))}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {key: self.encode(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.encode(item) for item in value]
        if value is None or isinstance(value, bool | int | float | str):
            return value
        raise SelectorError(f"cannot save a {type(value).__name__} in a selector's state: a state holds JSON values, "
                            "numpy arrays, scikit-learn estimators and selectors (docs/extending.md)")


def _keep(store: dict[str, Any], prefix: str, item: Any) -> str:
    key = f"{prefix}{len(store)}"
    store[key] = item
    return key


def _dumps(estimator: Any) -> bytes:
    """`estimator` in skops's format, checked as loading will check it: zap never writes a selector it
    would refuse to read."""
    import skops.io

    data = skops.io.dumps(estimator, compression=zipfile.ZIP_DEFLATED)
    unexpected = _unexpected_names(data, Path(f"the {type(estimator).__name__} to save"))
    if unexpected:
        raise SelectorError(f"cannot save the selector: its {type(estimator).__name__} holds {', '.join(unexpected)}, "
                            "outside the types zap loads (this scikit-learn stores it otherwise than the one zap was "
                            "tested with); install the scikit-learn of zap's tests")
    return data


def write(selector: Selector, path: Path, context: dict[str, Any]) -> Path:
    """The fitted `selector` with `context` as one `.zsel` file, replaced atomically."""
    if not hasattr(selector, "spec_hash_"):
        raise SelectorError(f"{type(selector).__name__} is not fitted: call fit(...) before saving it")
    if selector.spec_hash_for(selector.encodings_) != selector.spec_hash_:
        raise SelectorError(f"the settings of this {type(selector).__name__} changed after it was fitted "
                            f"({selector.get_params()}): fit it again with the settings it is to be saved with")
    if not _candidates_fit(context):
        raise SelectorError(f"the context's candidates {CANDIDATES}, as zap reads them back: save them so, or "
                            "under another key")
    writer = StateWriter()
    meta = {"schema": SELECTOR_SCHEMA, "selector": selector.name, "spec_hash": selector.spec_hash_,
            "context": context, "versions": versions(), "fitted": writer.fitted(selector)}
    try:
        text = json.dumps(meta, default=_plain)
    except TypeError as exc:
        raise SelectorError(f"the selector's context is not plain data ({exc}): save lists, numbers and "
                            "strings") from None
    arrays = io.BytesIO()
    np.savez_compressed(arrays, **writer.arrays)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        archive.writestr(META_ENTRY, text, compress_type=zipfile.ZIP_DEFLATED)
        archive.writestr(ARRAYS_ENTRY, arrays.getvalue())
        for key, data in writer.estimators.items():
            archive.writestr(f"{ESTIMATOR_FOLDER}{key}.skops", data)
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# ------------------------------------------------------------------------------------------------ reading


@dataclass
class Archive:
    """A `.zsel` file's parts, read as data and checked: the JSON, the arrays, the estimators' bytes."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]
    estimators: dict[str, bytes]


def read(path: Path) -> Archive:
    """The parts of the saved selector at `path`; a SelectorError, with nothing built, for a missing file, a
    legacy pickle, another schema, a damaged archive or an estimator naming anything off the allow-lists."""
    _refuse_missing_or_pickled(path)
    with _reading(path), zipfile.ZipFile(path) as archive:
        unpacked = _unpacked_size(path, archive, 0)
        meta = json.loads(archive.read(META_ENTRY))
        _check_header(path, meta)
        packed_arrays = archive.read(ARRAYS_ENTRY)
        estimators = {name[len(ESTIMATOR_FOLDER):-len(".skops")]: archive.read(name) for name in archive.namelist()
                      if name.startswith(ESTIMATOR_FOLDER) and name.endswith(".skops")}
        for data in (packed_arrays, *estimators.values()):
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                unpacked = _unpacked_size(path, inner, unpacked)
        _check_array_headers(path, packed_arrays)
        with np.load(io.BytesIO(packed_arrays), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    for key, data in estimators.items():
        unexpected = _unexpected_names(data, path)
        if unexpected:
            raise SelectorFileError(
                f"{path} holds an estimator ({key}) naming types zap's selectors never hold: {', '.join(unexpected)}. "
                "The file was not written by zap (or by a zap under another scikit-learn) or was changed, and may be "
                f"malicious: nothing was built from it; {FIX}")
    return Archive(path, meta, arrays, estimators)


def _refuse_missing_or_pickled(path: Path) -> None:
    legacy = path.with_name(path.name.removesuffix(SUFFIX) + LEGACY_SUFFIX)
    if not path.exists() and not legacy.is_file():
        raise SelectorFileError(f"no saved selector at {path}: train one with `zap meta-train`, or set $ZAP_HOME to "
                                "a folder that holds artifacts/selectors/")
    pickled = path if path.exists() else legacy
    with _reading(pickled), pickled.open("rb") as handle:
        if pickled is legacy or handle.read(len(GZIP_MAGIC)) == GZIP_MAGIC:
            found = "" if pickled is path else f"no saved selector at {path}; "
            raise SelectorFileError(
                f"{found}{pickled} is a selector pickled by a zap before selector schema {SELECTOR_SCHEMA}, which zap "
                "no longer loads: unpickling runs whatever code its author put in it. Fix: retrain it with `zap "
                "meta-train`; or, only for a file you wrote yourself and trust, convert it once with "
                "`zap.selectors.store.convert_legacy_selector(path, trust_pickle=True)`")


def _unpacked_size(path: Path, archive: zipfile.ZipFile, so_far: int) -> int:
    """`so_far` plus what the members of `archive` declare they unpack to; a SelectorError, before any member
    is read, where one exceeds `MAX_ENTRY` or the sum `MAX_UNPACKED`."""
    sizes = [info.file_size for info in archive.infolist()]
    total = so_far + sum(sizes)
    if max(sizes, default=0) > MAX_ENTRY or total > MAX_UNPACKED:
        raise SelectorFileError(f"{path} unpacks to more than a saved selector may hold (a member of {max(sizes):,} "
                                f"bytes, at most {MAX_ENTRY:,}; {total:,} bytes in all, at most {MAX_UNPACKED:,}): it "
                                f"was not written by zap and may be a zip bomb; nothing was unpacked; {FIX}")
    return total


def _check_array_headers(path: Path, packed_arrays: bytes) -> None:
    """Refuse an array whose `.npy` header declares more data than its member holds, before numpy allocates
    the declared shape: the size caps bound the bytes read, not the shape a header may claim."""
    with zipfile.ZipFile(io.BytesIO(packed_arrays)) as npz:
        for info in npz.infolist():
            with npz.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version not in NPY_HEADER_READERS:
                    raise _damaged(path, f"array {info.filename} has .npy format {version}, zap writes 1.0 or 2.0")
                shape, _, dtype = NPY_HEADER_READERS[version](member)
                declared = member.tell() + math.prod(shape) * dtype.itemsize
            if not dtype.hasobject and declared != info.file_size:  # object arrays: np.load refuses them
                raise _damaged(path, f"array {info.filename} declares shape {shape} of {dtype}, "
                                     f"{declared:,} bytes, but its member holds {info.file_size:,}")


def _check_header(path: Path, meta: Any) -> None:
    if not isinstance(meta, dict):
        raise _damaged(path, f"{META_ENTRY} is not a JSON object")
    if meta.get("schema") != SELECTOR_SCHEMA:
        raise SelectorFileError(f"{path} has selector schema {meta.get('schema')!r}, this zap reads {SELECTOR_SCHEMA}; "
                                f"{FIX}")
    for key, kind in (("selector", str), ("spec_hash", str), ("context", dict), ("versions", dict), ("fitted", dict)):
        if not isinstance(meta.get(key), kind):
            raise _damaged(path, f"{META_ENTRY} has no {key} of type {kind.__name__}")
    if not _candidates_fit(meta["context"]):
        raise _damaged(path, f"{META_ENTRY}'s context.candidates {CANDIDATES}")


CANDIDATES = "is not a list of candidates, each a dict with an id (a str) and a config (a dict)"


def _candidates_fit(context: dict[str, Any]) -> bool:
    """Whether a context's candidates, if it has any, are what zap reads them as (`load_selector`'s encoding
    check, `suggest`): `write` refuses other ones, `read` refuses a file that holds them."""
    candidates = context.get("candidates", [])
    return isinstance(candidates, list) and all(isinstance(c, dict) and isinstance(c.get("id"), str)
                                                and isinstance(c.get("config"), dict) for c in candidates)


def _skops_schema(data: bytes) -> dict[str, Any]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        schema = json.loads(archive.read("schema.json"))
    if not isinstance(schema, dict):
        raise ValueError("the skops schema is not a JSON object")
    return schema


def _named(schema: Any) -> Iterator[tuple[str, str]]:
    """(type, node kind) of every node of a skops schema, however deeply nested: a node skops would build is
    never skipped, whatever key it hides under."""
    pending = [schema]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, dict):
            pending.extend(item.values())
            if {"__module__", "__class__", "__loader__"} & item.keys():
                yield f"{item.get('__module__')}.{item.get('__class__')}", f"{item.get('__loader__')}"


def _unexpected_names(data: bytes, path: Path) -> list[str]:
    """The types and node kinds a skops entry names outside the allow-lists: from its schema read as plain
    JSON, then, only if that is clean, from skops's own audit; nothing is imported or built."""
    with _reading(path):
        named = list(_named(_skops_schema(data)))
        unexpected = ({name for name, _ in named if name not in ALLOWED_TYPES}
                      | {f"node kind {kind}" for _, kind in named if kind not in ALLOWED_NODES})
        if not unexpected:  # skops's audit may import what the file names: never for a file refused already
            import skops.io

            unexpected = set(skops.io.get_untrusted_types(data=data)) - ALLOWED_TYPES
    return sorted(unexpected)


# ------------------------------------------------------------------------------------------------ rebuilding


def at_rest(estimator: Any) -> None:
    """Set `RUNTIME_SETTINGS` on the estimator and every estimator inside it (a pipeline's steps, a forest's
    trees): how it runs is zap's choice, never the file's."""
    from sklearn.base import BaseEstimator

    pending, seen = [estimator], set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, list | tuple):
            pending.extend(item)
        elif isinstance(item, BaseEstimator):
            for name, value in RUNTIME_SETTINGS.items():
                if name in vars(item):
                    setattr(item, name, value)
            pending.extend(vars(item).values())


class StateReader:
    """One object of a saved state, read value by value: each read says what it expects (a JSON type, an
    array's shape and kind, an estimator's class), and anything else is refused with the value's place."""

    def __init__(self, archive: Archive, tree: Any, place: str):
        self.archive, self.tree, self.place = archive, tree, place
        if not isinstance(tree, dict):
            raise self.error(None, "is not a JSON object")

    def error(self, key: str | None, problem: str) -> SelectorFileError:
        where = self.place if key is None else f"{self.place}.{key}"
        return SelectorFileError(f"{self.archive.path}: {where} {problem}; the file is damaged or was not written by "
                                 f"zap: {FIX}")

    def _get(self, key: str) -> Any:
        if key not in self.tree:
            raise self.error(key, "is missing")
        return self.tree[key]

    def value(self, key: str, kind: type | tuple[type, ...]) -> Any:
        """A plain JSON value of this kind (a bool is no int here)."""
        value = self._get(key)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.error(key, f"is a {type(value).__name__}, expected {' or '.join(k.__name__ for k in kinds)}")
        return value

    def integer(self, key: str, low: int = 0, high: int | None = None) -> int:
        value = self.value(key, int)
        if value < low or (high is not None and value > high):
            most = "" if high is None else f", at most {high}"
            raise self.error(key, f"is {value}, expected at least {low}{most}")
        return value

    def array(self, key: str, shape: tuple[int | None, ...], kind: str = "f") -> np.ndarray:
        """An array of this shape (None: any length) whose dtype kind is in `kind` ("f" float, "i" integer)."""
        array = self.archive.arrays[self._reference(key, "$array", self.archive.arrays)]
        if array.dtype.kind not in kind:
            raise self.error(key, f"has dtype {array.dtype}, expected kind {kind!r}")
        if array.ndim != len(shape) or any(want not in (None, got) for want, got in zip(shape, array.shape,
                                                                                           strict=True)):
            expected = tuple("any" if want is None else want for want in shape)
            raise self.error(key, f"has shape {array.shape}, expected {expected}")
        return array

    def indices(self, key: str, length: int | None, bound: int) -> np.ndarray:
        """Integer positions, each in [0, bound)."""
        index = self.array(key, (length,), "i")
        if ((index < 0) | (index >= bound)).any():
            raise self.error(key, f"holds positions outside [0, {bound})")
        return index

    def estimator(self, key: str, kinds: tuple[type, ...], n_in: int | None = None, optional: bool = False) -> Any:
        """A scikit-learn estimator of one of these classes (taking `n_in` features), built by skops from an entry
        the allow-lists passed; with `optional`, None where the state holds null."""
        if optional and self._get(key) is None:
            return None
        data = self.archive.estimators[self._reference(key, "$estimator", self.archive.estimators)]
        with _reading(self.archive.path):
            schema = _skops_schema(data)
        root = f"{schema.get('__module__')}.{schema.get('__class__')}"
        if root not in {_class_name(kind) for kind in kinds}:
            raise self.error(key, f"is a {root}, expected {' or '.join(_class_name(kind) for kind in kinds)}")
        import skops.io

        with _reading(self.archive.path):
            estimator = skops.io.loads(data, trusted=sorted(ALLOWED_TYPES))
        if not isinstance(estimator, kinds):
            raise self.error(key, f"was built as a {type(estimator).__name__}")
        at_rest(estimator)
        if n_in is not None and getattr(estimator, "n_features_in_", None) != n_in:
            raise self.error(key, f"takes {getattr(estimator, 'n_features_in_', None)} features, expected {n_in}")
        problem = estimator_out_of_bounds(estimator)
        if problem:
            raise self.error(key, f"holds {problem}, which scikit-learn would follow out of bounds")
        return estimator

    def child(self, key: str) -> StateReader:
        return StateReader(self.archive, self._get(key), f"{self.place}.{key}")

    def children(self, key: str, count: int | None = None) -> list[StateReader]:
        """The objects of a list (`count` of them, when given)."""
        items = self.value(key, list)
        if count is not None and len(items) != count:
            raise self.error(key, f"holds {len(items)} items, expected {count}")
        return [StateReader(self.archive, item, f"{self.place}.{key}[{i}]") for i, item in enumerate(items)]

    def selector(self, key: str) -> Selector:
        """A fitted selector the state holds (a `PerLevel`'s per-level selectors)."""
        return rebuild(StateReader(self.archive, self._reference(key, "$selector"), f"{self.place}.{key}"))

    def _reference(self, key: str, marker: str, known: dict[str, Any] | None = None) -> Any:
        ref = self._get(key)
        if not (isinstance(ref, dict) and set(ref) == {marker}) or (known is not None and ref[marker] not in known):
            what = {"$array": "an array", "$estimator": "an estimator", "$selector": "a selector"}[marker]
            raise self.error(key, f"is not {what} of the file")
        return ref[marker]


def selector_of(archive: Archive) -> Selector:
    """The fitted selector the archive holds, which must be the one its header names."""
    record = StateReader(archive, archive.meta["fitted"], "fitted")
    with _reading(archive.path):  # whatever a class's own code raises on the file's values is a refusal too
        selector = rebuild(record)
    if (selector.name, selector.spec_hash_) != (archive.meta["selector"], archive.meta["spec_hash"]):
        raise record.error(None, f"is {selector.name} {selector.spec_hash_}, but {META_ENTRY} names "
                                 f"{archive.meta['selector']} {archive.meta['spec_hash']}")
    return selector


def rebuild(record: StateReader) -> Selector:
    """The fitted selector of a record `StateWriter.fitted` wrote, every value checked."""
    cls = _selector_class(record)
    params = record.value("params", dict)
    try:
        selector = cls(**params)
    except Exception as exc:  # a class's own checks raise what they like on values no caller would pass
        raise record.error("params", f"are not settings {cls.__name__} takes ({type(exc).__name__}: {exc})") from None
    selector.maximize_ = record.value("maximize", bool)
    selector.n_features_ = record.integer("n_features", low=1, high=MAX_FEATURES)
    selector.encodings_ = record.array("encodings", (None, None))
    selector.spec_hash_ = record.value("spec_hash", str)
    with _reading(record.archive.path):
        now = selector.spec_hash_for(selector.encodings_)
    if now != selector.spec_hash_:
        raise record.error("spec_hash", f"is {selector.spec_hash_}, but its settings and candidates give {now}: the "
                                        "file was changed")
    try:
        selector._check_settings()  # what `fit` checks, before the state sized by these settings is read
    except SelectorError as exc:
        raise record.error("params", f"are not settings {cls.__name__} can use ({exc})") from None
    with _reading(record.archive.path):
        selector._from_state(record.child("state"))
    return selector


def _selector_class(record: StateReader) -> type[Selector]:
    """The `Selector` subclass the record names, among those the program has: the file picks a class, it
    never names one to import (zap's own modules are imported from `OWN_MODULES`)."""
    name = record.value("class", str)
    if name.rpartition(".")[0] in OWN_MODULES:
        importlib.import_module(name.rpartition(".")[0])
    found = next((cls for cls in _subclasses(Selector) if _class_name(cls) == name), None)
    if found is None:
        raise record.error("class", f"names {name}, not a selector class this program has (a selector class of "
                                    "your own must be imported before its files are loaded)")
    if found.name != record.value("selector", str):
        raise record.error("selector", f"is {record.tree['selector']!r}, but {name} is {found.name!r}")
    return found


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ------------------------------------------------------------------------------------------------ legacy


def convert_legacy_selector(path: str | Path, *, trust_pickle: bool = False) -> Path:
    """Save a selector pickled by a zap before selector schema 2 (`NAME.pkl.gz`) in today's format beside it
    (`NAME.zsel`); returns the new file's path.

    UNSAFE FOR A FILE YOU DID NOT WRITE YOURSELF: it unpickles the file, and unpickling runs whatever code the
    pickle's author put in it. Nothing else in zap unpickles a selector; `trust_pickle=True` is you saying that
    you wrote this file and trust it. Settings that selectors gained since take their defaults.
    """
    if trust_pickle is not True:
        raise SelectorError("convert_legacy_selector unpickles the file, which runs any code the pickle holds: pass "
                            "trust_pickle=True, and only for a file you wrote yourself")
    path = Path(path)
    with _reading(path), gzip.open(path, "rb") as handle:
        payload = pickle.load(handle)  # the caller vouched for it
        selector = payload["state"]
        for name, value in type(selector)(**selector.get_params()).get_params().items():
            vars(selector).setdefault(name, value)
        selector.spec_hash_ = selector.spec_hash_for(selector.encodings_)
    return selector.save(path.with_name(path.name.removesuffix(LEGACY_SUFFIX) + SUFFIX), payload.get("context"))

"""A fine-tuned model as a self-contained artifact: save it, load it anywhere, predict new images.

The saved folder holds the weights (`model.pt`), everything needed to rebuild the network and its input
pipeline (`model.json`), and, when the run's last released prediction came from the quick model (the CNN
never validated better within the budget), that model (`quick_model.skops`; `answered_by` in `model.json`
says who answers). Prediction needs neither the training data nor the weight packages. `model.json` also
records the versions of zap, torch, timm and scikit-learn that saved it; loading under others warns
(`zap.resources.VersionMismatchWarning`).

Loading a folder never runs code from it, so a folder someone sent you is safe to load:
- `model.json` is JSON, checked key by key (type and range) before anything else is read.
- It records the SHA-256 of every other file; each is checked before it is deserialized, and what is
  deserialized is the very bytes that were checked. A damaged or changed file is refused by name.
- `model.pt` is read with `torch.load(weights_only=True)`, which builds tensors and plain containers only,
  and must fit, key by key and shape by shape, the network that `model.json` names.
- The quick model is stored with skops, not pickle, and loaded only if it names nothing outside
  `quick_store`'s allow-list of the scikit-learn and numpy types zap's four quick models hold.
- Pickles are never loaded. Folders saved by zaps before schema 2 with a quick model hold one
  (`quick_model.pkl`, older still `simple_model.pkl`) and are refused with the fix: re-run `zap fit`, or, for a
  folder you wrote yourself and trust, `convert_legacy_folder(folder, trust_pickle=True)`, which unpickles
  it once (running any code it holds: never for a folder from anyone else) and saves the folder anew.
Schema 1 folders whose CNN answered hold no pickle and still load (without checksums, which they lack),
as do their `answers_with` key (the older name of `answered_by`).

A save writes each file under a temporary name and renames it into place, removes the old `model.json`
first and writes the new one last, so a save cut short leaves a folder with no `model.json`, or one whose
checksums fail: never one that loads as complete with mixed files.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from zap.data import as_images
from zap.errors import ArtifactError, ConfigError
from zap.finetune import quick, quick_store
from zap.finetune.batches import InputTransform, PixelCache
from zap.finetune.runner import PREDICT_BATCH, RunResult
from zap.pipelines.space import largest_input_side
from zap.pipelines.zoo import ZooError, create_model
from zap.resources import check_versions, versions
from zap.utils import TMP_SUFFIX, atomic_path, atomic_write_json, is_atomic_tmp

SCHEMA_VERSION = 2  # 2: checksums (`files`), the quick model in skops's format instead of a pickle
READABLE_SCHEMAS = (1, 2)
META_FILE = "model.json"
WEIGHTS_FILE = "model.pt"
QUICK_MODEL_FILE = quick_store.FILE_NAME
# The pickled quick models of schema 1 (the second from before the rename): never loaded, only converted
# on request (`convert_legacy_folder`), and removed by a save into their folder.
LEGACY_QUICK_MODEL_FILES = ("quick_model.pkl", "simple_model.pkl")
# The key of schema 1's `model.json` that older zaps wrote for `answered_by`.
OLD_ANSWERED_BY_KEY = "answers_with"
DAMAGED = "the folder is damaged or was changed; re-run `zap fit` or copy the folder again"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _three_numbers(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 3
            and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value))


def _all_str(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


# What each key of `model.json` must hold: (what it should be, in words; the check).
FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "architecture": ("a model name", lambda v: isinstance(v, str) and v != ""),
    "class_names": ("a non-empty list of strings", lambda v: isinstance(v, list) and v != []
                    and all(isinstance(c, str) for c in v)),
    "input_size": (f"a whole number of pixels in [1, {largest_input_side()}]",
                   lambda v: _is_int(v) and 0 < v <= largest_input_side()),
    "n_channels": ("1 or 3", lambda v: _is_int(v) and v in (1, 3)),
    "mean": ("a list of 3 numbers", _three_numbers),
    "std": ("a list of 3 positive numbers", lambda v: _three_numbers(v) and min(v) > 0),
    "config": ("a JSON object", lambda v: isinstance(v, dict)),
    "pipeline_id": ("a string", lambda v: isinstance(v, str)),
    "answered_by": (f'"cnn" or "{quick.ANSWERED_BY}"', lambda v: v in ("cnn", quick.ANSWERED_BY)),
    "versions": ("an object of version strings", _all_str),
}
FILES_FIELD = (f"an object of SHA-256 hex digests of {WEIGHTS_FILE} and {QUICK_MODEL_FILE}",
               lambda v: _all_str(v) and set(v) <= {WEIGHTS_FILE, QUICK_MODEL_FILE}
               and all(len(d) == 64 and set(d) <= set("0123456789abcdef") for d in v.values()))
OPTIONAL_FIELDS = ("versions",)  # models saved before zap recorded versions have none


@dataclass
class Predictor:
    model: nn.Module
    architecture: str
    class_names: list[str]
    input_size: int
    n_channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    config: dict[str, Any]
    pipeline_id: str
    quick_model: Any = None  # answers instead of the CNN when set

    @classmethod
    def from_result(cls, result: RunResult) -> Predictor:
        return cls(result.model, result.config["architecture"], result.class_names, result.input_size,
                   result.n_channels, result.mean, result.std, result.config, result.pipeline_id,
                   result.quick_model)

    @classmethod
    def _from_meta(cls, meta: dict[str, Any], model: nn.Module, quick_model: Any) -> Predictor:
        return cls(model, meta["architecture"], meta["class_names"], meta["input_size"], meta["n_channels"],
                   tuple(meta["mean"]), tuple(meta["std"]), meta["config"], meta["pipeline_id"], quick_model)

    @property
    def answered_by(self) -> str:
        return "cnn" if self.quick_model is None else quick.ANSWERED_BY

    def metadata(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION, "architecture": self.architecture, "class_names": self.class_names,
            "input_size": self.input_size, "n_channels": self.n_channels, "mean": list(self.mean),
            "std": list(self.std), "config": self.config, "pipeline_id": self.pipeline_id,
            "answered_by": self.answered_by, "versions": versions(),
        }

    def save(self, folder: str | Path) -> Path:
        """Write the folder as the module docstring says: files first, each atomically, `model.json` last.
        A new or empty folder, or one a model was saved in (its files are replaced)."""
        folder = _save_folder(folder)
        try:
            self._write(folder)
        except OSError as exc:
            raise ConfigError(f"cannot save the model in {folder} ({exc.strerror or exc}); give a folder you can "
                              "write to") from exc
        return folder

    def _write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / META_FILE).unlink(missing_ok=True)  # until the new one is written, the folder is incomplete
        buffer = io.BytesIO()
        torch.save(self.model.state_dict(), buffer)
        files = {WEIGHTS_FILE: buffer.getvalue()}
        if self.quick_model is not None:
            files[QUICK_MODEL_FILE] = quick_store.dumps(self.quick_model)
        for name, data in files.items():
            with atomic_path(folder / name) as tmp:
                tmp.write_bytes(data)
        checksums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
        atomic_write_json(folder / META_FILE, self.metadata() | {"files": checksums}, indent=2)
        for stale in (QUICK_MODEL_FILE, *LEGACY_QUICK_MODEL_FILES):  # from an earlier fit into the same folder
            if stale not in files:
                (folder / stale).unlink(missing_ok=True)

    @classmethod
    def load(cls, folder: str | Path) -> Predictor:
        """The saved model in `folder`; ArtifactError, naming the file and the fix, for a damaged or foreign
        one. Runs no code from the folder (the module docstring says how)."""
        folder = Path(folder)
        meta = _read_meta(folder)
        quick_answered = meta["answered_by"] == quick.ANSWERED_BY
        if quick_answered and not (folder / QUICK_MODEL_FILE).is_file():
            _refuse_pickle(folder)
        needed = [WEIGHTS_FILE, QUICK_MODEL_FILE] if quick_answered else [WEIGHTS_FILE]
        files = _read_verified(folder, meta, needed)
        quick_model = quick_store.loads(files[QUICK_MODEL_FILE], str(folder / QUICK_MODEL_FILE)) \
            if quick_answered else None
        width = meta["n_channels"] * quick.THUMBNAIL ** 2  # model.json is outside the checksums: it must agree
        if quick_model is not None and getattr(quick_model, "n_features_in_", width) != width:
            raise ArtifactError(f"{folder / META_FILE} says {meta['n_channels']} channel(s), but the quick model "
                                f"takes {quick_model.n_features_in_} features, not {width}: {DAMAGED}")
        return cls._from_meta(meta, _network(folder, meta, files[WEIGHTS_FILE]), quick_model)

    @torch.no_grad()
    def predict_proba(self, images: Any, device: str = "cpu") -> np.ndarray:
        """Class probabilities (N, n_classes) for every image: a dataset, a folder or file, a list of paths, or
        an array, as the estimator's predict takes them (`zap.data.as_images`)."""
        images = as_images(images)
        model = self.model.to(device).eval()
        # Streams (each image is read once) in the channels the model was trained on.
        cache = PixelCache(images, self.input_size, max_bytes=0, channels=self.n_channels)
        transform = InputTransform(self.mean, self.std, torch.device(device))
        n_classes = len(self.class_names)
        out = []
        for start in range(0, len(images), PREDICT_BATCH):
            batch = cache.batch(np.arange(start, min(len(images), start + PREDICT_BATCH)))
            if self.quick_model is not None:
                out.append(quick.predict_proba(self.quick_model, quick.thumbnails(batch), n_classes))
            else:
                out.append(model(transform(batch)).float().softmax(dim=1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, n_classes))

    def predict(self, images: Any) -> np.ndarray:
        return np.asarray(self.class_names)[self.predict_proba(images).argmax(axis=1)]


def _save_folder(folder: Any) -> Path:
    """Where a model may be saved: never the current folder by an empty name, a file, or a folder of other
    things (a data folder, say), whose files a save would sit among and a later save could replace."""
    if not isinstance(folder, str | Path) or not str(folder).strip():
        raise ConfigError(f"the model folder must be a non-empty path, got {folder!r}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder} is a file, not a folder: give a new folder to save the model in")
    ours = (META_FILE, WEIGHTS_FILE, QUICK_MODEL_FILE, *LEGACY_QUICK_MODEL_FILES)
    others = sorted(p.name for p in folder.iterdir() if not _ours(p.name, ours)) if folder.is_dir() else []
    if others and not (folder / META_FILE).is_file():
        raise ConfigError(f"{folder} holds other things ({', '.join(others[:3])}{', ...' if len(others) > 3 else ''})"
                          " and no saved model: give a new or empty folder")
    return folder


def _ours(name: str, ours: tuple[str, ...]) -> bool:
    """A model folder's own file, or what a save killed half way left (today's hidden temporary name, or the
    `name.tmp` of zap before it)."""
    return any(name in (own, own + TMP_SUFFIX) or is_atomic_tmp(name, own) for own in ours)


def convert_legacy_folder(folder: str | Path, *, trust_pickle: bool = False) -> Path:
    """Rewrite in place, in today's format, a folder saved before schema 2 whose quick model is a pickle.

    UNSAFE FOR A FOLDER YOU DID NOT WRITE YOURSELF: it unpickles the quick model, and unpickling runs
    whatever code the pickle's author put in it. Nothing else in zap unpickles a model folder;
    `trust_pickle=True` is you saying that you wrote this folder and trust it. The weights and
    `model.json` are checked as `Predictor.load` checks them, before the pickle is touched.
    """
    if trust_pickle is not True:
        raise ConfigError("convert_legacy_folder unpickles the folder's quick model, which runs any code the "
                          "pickle holds: pass trust_pickle=True, and only for a folder you wrote yourself")
    folder = Path(folder)
    meta = _read_meta(folder)
    pickled = _legacy_pickle(folder)
    if pickled is None:
        raise ArtifactError(f"{folder} holds no {' or '.join(LEGACY_QUICK_MODEL_FILES)}: there is nothing to "
                            "convert, and `Predictor.load` reads the folder as it is")
    model = _network(folder, meta, _read_verified(folder, meta, [WEIGHTS_FILE])[WEIGHTS_FILE])
    quick_model = _unpickle(pickled) if meta["answered_by"] == quick.ANSWERED_BY else None
    return Predictor._from_meta(meta, model, quick_model).save(folder)


def _unpickle(path: Path) -> Any:
    try:
        return pickle.loads(path.read_bytes())  # the caller vouched for it: see convert_legacy_folder
    except Exception as exc:  # a damaged pickle fails in many ways
        raise ArtifactError(f"{path} is not a readable pickle ({type(exc).__name__}): {DAMAGED}") from None


def _legacy_pickle(folder: Path) -> Path | None:
    return next((folder / name for name in LEGACY_QUICK_MODEL_FILES if (folder / name).is_file()), None)


def _refuse_pickle(folder: Path) -> None:
    """Raise the refusal of a schema 1 quick model, a pickle, when the folder holds one."""
    pickled = _legacy_pickle(folder)
    if pickled is not None:
        raise ArtifactError(
            f"{pickled} is a pickled quick model, which zap no longer loads: unpickling runs whatever code its "
            "author put in it. Fix: re-run `zap fit` to save the model again; or, only for a folder you wrote "
            "yourself and trust, convert it once with "
            "`zap.finetune.predictor.convert_legacy_folder(folder, trust_pickle=True)`")


def _read_meta(folder: Path) -> dict[str, Any]:
    """`model.json`, checked key by key; schema 1's older names are read into today's."""
    meta_path = folder / META_FILE
    if not meta_path.is_file() or not (folder / WEIGHTS_FILE).is_file():
        raise ArtifactError(f"{folder} is not a saved zap model: it needs {META_FILE} and {WEIGHTS_FILE} (written "
                            "by `zap fit --out DIR` into DIR/model, model.json last: a save cut short has none); "
                            "re-run `zap fit` or copy the whole folder")
    try:
        meta = json.loads(meta_path.read_bytes())
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ArtifactError(f"{meta_path} is not valid JSON: {DAMAGED}") from None
    if not isinstance(meta, dict):
        raise ArtifactError(f"{meta_path} holds no JSON object: {DAMAGED}")
    schema = meta.get("schema_version")
    if not _is_int(schema) or schema not in READABLE_SCHEMAS:
        raise ArtifactError(f"{folder} was saved with model schema {json.dumps(schema)[:20]}, this zap reads schemas "
                            f"{', '.join(map(str, READABLE_SCHEMAS))}; re-run `zap fit` to save it again")
    if schema == 1:  # kept no checksums; named who answered `answers_with`, or, earlier still, not at all
        meta.setdefault("answered_by", meta.pop(OLD_ANSWERED_BY_KEY, "cnn"))
    _check_fields(meta, meta_path, FIELDS | ({"files": FILES_FIELD} if schema >= 2 else {}))
    check_versions(meta.get("versions"), f"model {folder}", "re-run `zap fit`")
    return meta


def _check_fields(meta: dict[str, Any], meta_path: Path, fields: dict[str, tuple[str, Callable[[Any], bool]]]
                  ) -> None:
    for key, (wanted, valid) in fields.items():
        if key not in meta:
            if key in OPTIONAL_FIELDS:
                continue
            raise ArtifactError(f"{meta_path} lacks `{key}`: {DAMAGED}")
        if not valid(meta[key]):
            raise ArtifactError(f"{meta_path}: `{key}` should be {wanted}, not {json.dumps(meta[key])[:60]}: "
                                f"{DAMAGED}")


def _read_verified(folder: Path, meta: dict[str, Any], needed: Iterable[str]) -> dict[str, bytes]:
    """The bytes of the `needed` files and of every file `model.json` lists, each checked against its
    checksum there (schema 1 kept none): what gets deserialized is exactly what was checked."""
    recorded = meta.get("files")
    files = {}
    for name in dict.fromkeys([*needed, *(recorded or {})]):
        path = folder / name
        if not path.is_file():
            raise ArtifactError(f"{path} is missing, but {META_FILE} needs it: copy the whole folder, "
                                "or re-run `zap fit`")
        data = path.read_bytes()
        if recorded is not None and name not in recorded:
            raise ArtifactError(f"{folder / META_FILE} records no checksum of {name}: {DAMAGED}")
        if recorded is not None and hashlib.sha256(data).hexdigest() != recorded[name]:
            raise ArtifactError(f"{path} does not match the checksum in {META_FILE}: {DAMAGED}")
        files[name] = data
    return files


def _network(folder: Path, meta: dict[str, Any], weights: bytes) -> nn.Module:
    """The network `model.json` names with the weights of `model.pt`, which must fit it exactly."""
    architecture, n_classes = meta["architecture"], len(meta["class_names"])
    try:
        model = create_model(architecture, n_classes, pretrained=False)
    except ZooError as exc:
        raise ArtifactError(f"{folder / META_FILE} names the architecture {architecture!r}, which this zap does "
                            f"not know ({exc}); the folder was saved by another zap or changed; re-run "
                            "`zap fit`") from None
    state = _read_weights(folder / WEIGHTS_FILE, weights)
    _check_fit(folder / WEIGHTS_FILE, model.state_dict(), state, f"{architecture} with {n_classes} classes")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # a tensor of the right shape that cannot be copied (sparse, say)
        raise ArtifactError(f"{folder / WEIGHTS_FILE} cannot be loaded ({type(exc).__name__}): {DAMAGED}") from None
    return model.eval()


def _read_weights(path: Path, data: bytes) -> dict[str, torch.Tensor]:
    """A state dict from `data` with `weights_only=True`. The cause of a failure is not chained: torch's
    message for a refused pickle suggests `weights_only=False`, the one thing never to do with it."""
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, garbage or a refused pickle: torch fails in many ways
        raise ArtifactError(f"{path} is not a readable weights file ({type(exc).__name__}): {DAMAGED}") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise ArtifactError(f"{path} holds no state dict (names to tensors): {DAMAGED}")
    return state


def _check_fit(path: Path, expected: dict[str, torch.Tensor], state: dict[str, torch.Tensor], what: str) -> None:
    """Names and shapes of `state` equal those of the network `what`: a folder whose class count or
    architecture disagrees with its weights is refused here, not by a traceback from `load_state_dict`."""
    missing, unexpected = sorted(expected.keys() - state.keys()), sorted(state.keys() - expected.keys())
    if missing or unexpected:
        raise ArtifactError(f"{path} does not fit {what} ({META_FILE}): it lacks {missing[:3]} and has "
                            f"{unexpected[:3]} too many; {DAMAGED}")
    for key, tensor in expected.items():
        if state[key].shape != tensor.shape:
            raise ArtifactError(f"{path} does not match {META_FILE}: {key} has shape {tuple(state[key].shape)}, "
                                f"but {what} needs {tuple(tensor.shape)}; {DAMAGED}")

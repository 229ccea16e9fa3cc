"""A saved model folder is safe to load: loading runs no code from it, and a damaged folder is refused by
name with the fix. Real models throughout: a tiny timm network and zap's four fitted quick models."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from zap.data import load_dataset
from zap.errors import ArtifactError, ConfigError
from zap.finetune import quick, quick_store
from zap.finetune.batches import PixelCache
from zap.finetune.predictor import (
    FIELDS,
    LEGACY_QUICK_MODEL_FILES,
    QUICK_MODEL_FILE,
    SCHEMA_VERSION,
    Predictor,
    convert_legacy_folder,
)
from zap.pipelines.zoo import IMAGENET_MEAN, IMAGENET_STD, create_model

ARCH = "timm:test_efficientnet"  # a real timm network of 0.1 M parameters: builds in milliseconds
SIZE = 32
FIX = "re-run `zap fit`"


class SkopsBomb:
    """Runs code when skops rebuilds it (skops calls `__setstate__`): creates the file it names."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __setstate__(self, state: dict) -> None:
        Path(state["path"]).touch()


class PickleBomb:
    """Runs code when unpickled: `open(path, "w")` creates the file it names."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture
def images(arrays):
    return load_dataset(arrays)


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "code_ran"


def thumbnails(images) -> np.ndarray:
    """What the predictor feeds its quick model: thumbnails of the images at SIZE in one channel."""
    return quick.thumbnails(PixelCache(images, SIZE, max_bytes=0, channels=1).batch(np.arange(len(images))))


def fitted(name: str, images):
    model, got = quick.fit(name, thumbnails(images), images.labels, seed=0)
    assert got == name  # fitted as named, not the fallback
    return model


def predictor(images, quick_model=None, architecture: str = ARCH) -> Predictor:
    torch.manual_seed(0)
    network = create_model(architecture, len(images.class_names), pretrained=False).eval()
    return Predictor(network, architecture, list(images.class_names), SIZE, 1, IMAGENET_MEAN, IMAGENET_STD,
                     {"architecture": architecture}, "0" * 12, quick_model)


def read_meta(folder: Path) -> dict:
    return json.loads((folder / "model.json").read_text())


def write_meta(folder: Path, meta) -> None:
    (folder / "model.json").write_text(json.dumps(meta))


def plant(folder: Path, name: str, data: bytes) -> None:
    """Replace `name` with `data` and record its checksum, as someone crafting the folder would: the
    checks after the checksum's must stop it."""
    (folder / name).write_bytes(data)
    meta = read_meta(folder)
    meta["files"][name] = hashlib.sha256(data).hexdigest()
    write_meta(folder, meta)


def refused(folder: Path, *fragments: str) -> str:
    with pytest.raises(ArtifactError) as caught:
        Predictor.load(folder)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message
    assert "weights_only=False" not in message
    return message


@pytest.fixture
def cnn_folder(images, tmp_path) -> Path:
    return predictor(images).save(tmp_path / "cnn")


@pytest.fixture
def quick_folder(images, tmp_path) -> Path:
    return predictor(images, fitted("LR", images)).save(tmp_path / "quick")


# ------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("name", ["SVC", "NuSVC", "RF", "LR"])
def test_each_quick_model_round_trips_through_skops(name, images, tmp_path):
    saved = predictor(images, fitted(name, images))
    folder = saved.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.pt", QUICK_MODEL_FILE]
    meta = read_meta(folder)
    assert meta["schema_version"] == SCHEMA_VERSION == 2 and meta["answered_by"] == quick.ANSWERED_BY
    assert set(meta["files"]) == {"model.pt", QUICK_MODEL_FILE}
    loaded = Predictor.load(folder)
    assert type(loaded.quick_model) is type(saved.quick_model)
    np.testing.assert_array_equal(loaded.predict_proba(images), saved.predict_proba(images))


def test_the_allow_list_is_exactly_what_the_four_quick_models_hold(images):
    """A type nothing needs would widen what a crafted file may build: the list is the union, no more."""
    names, kinds = set(), set()
    for name in ("SVC", "NuSVC", "RF", "LR"):
        data = skops.io.dumps(fitted(name, images))
        schema = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("schema.json"))
        for node in quick_store._nodes(schema):
            names.add(f"{node['__module__']}.{node['__class__']}")
            kinds.add(node["__loader__"])
    assert names == quick_store.ALLOWED_TYPES
    assert quick_store.ALLOWED_NODES - kinds == {"CachedNode"}  # emitted for an object held twice


def test_a_cnn_model_round_trips_and_a_schema_1_cnn_folder_still_loads(images, cnn_folder):
    saved = predictor(images)
    loaded = Predictor.load(cnn_folder)
    assert loaded.quick_model is None and set(read_meta(cnn_folder)["files"]) == {"model.pt"}
    for a, b in zip(saved.model.state_dict().values(), loaded.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_allclose(loaded.predict_proba(images), saved.predict_proba(images), atol=1e-6)
    meta = read_meta(cnn_folder)
    del meta["files"], meta["versions"]
    meta["schema_version"], meta["answers_with"] = 1, meta.pop("answered_by")  # as zaps before the rename wrote
    write_meta(cnn_folder, meta)
    np.testing.assert_allclose(Predictor.load(cnn_folder).predict_proba(images), saved.predict_proba(images),
                               atol=1e-6)


# ------------------------------------------------------------------------------- code in the folder


def test_a_quick_model_file_that_would_run_code_is_refused_unrun(quick_folder, marker):
    lr = skops.io.loads((quick_folder / QUICK_MODEL_FILE).read_bytes(),
                        trusted=sorted(quick_store.ALLOWED_TYPES))
    lr.extra_ = SkopsBomb(marker)  # hidden inside a real quick model: the root type is fine
    bomb = skops.io.dumps(lr)
    skops.io.loads(bomb, trusted=[f"{SkopsBomb.__module__}.SkopsBomb"])  # the bomb works when trusted...
    assert marker.is_file()
    marker.unlink()
    plant(quick_folder, QUICK_MODEL_FILE, bomb)
    message = refused(quick_folder, QUICK_MODEL_FILE, f"{SkopsBomb.__module__}.SkopsBomb", "may be malicious", FIX)
    assert not marker.exists()  # ...and zap never built it
    plant(quick_folder, QUICK_MODEL_FILE, pickle.dumps(PickleBomb(marker)))  # a pickle in the skops file's place
    refused(quick_folder, QUICK_MODEL_FILE, "not a readable quick model", FIX)
    assert not marker.exists() and "SkopsBomb" in message


@pytest.mark.parametrize("change", ["a type skops trusts by default", "a calling node kind", "another root"])
def test_a_skops_file_naming_anything_zap_does_not_need_is_refused(change, quick_folder, images):
    lr = fitted("LR", images)
    if change == "a type skops trusts by default":  # skops would build it; zap's quick models never hold it
        lr.extra_ = StandardScaler()
        expected = "sklearn.preprocessing._data.StandardScaler"
    data = skops.io.dumps(StandardScaler() if change == "another root" else lr)
    if change == "a calling node kind":  # a crafted schema: an allowed type, rebuilt by calling it
        archive = zipfile.ZipFile(io.BytesIO(data))
        schema = json.loads(archive.read("schema.json"))
        schema["content"]["content"]["classes_"]["__loader__"] = "ReduceNode"
        data = rezip(archive, schema)
        expected = "node kind ReduceNode"
    if change == "another root":
        expected = "StandardScaler (as the root)"
    plant(quick_folder, QUICK_MODEL_FILE, data)
    refused(quick_folder, expected, "not written by zap", FIX)


@pytest.mark.parametrize("field, value, expected", [("left_child", 0, "children lie outside it or before"),
                                                    ("feature", 99, "splits on features outside")])
def test_a_random_forest_whose_trees_point_outside_themselves_is_refused(field, value, expected, images, tmp_path):
    """Allowed types only, but node arrays scikit-learn's compiled code would walk out of bounds (a loop
    back to the root, a split on a feature the input lacks)."""
    forest = fitted("RF", images)
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    state["nodes"] = state["nodes"].copy()
    state["nodes"][field][0] = value
    tree.__setstate__(state)
    folder = predictor(images, fitted("RF", images)).save(tmp_path / "rf")
    plant(folder, QUICK_MODEL_FILE, skops.io.dumps(forest))
    refused(folder, QUICK_MODEL_FILE, "not a readable quick model", expected, FIX)


def _svc_with_short_intercept(images):
    model = fitted("SVC", images)  # calibrated: the SVM sits inside
    svm = model.calibrated_classifiers_[0].estimator
    svm._intercept_ = svm._intercept_[:1]
    return model


def _calibrated_forest(images):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import RandomForestClassifier

    x = thumbnails(images).reshape(len(images), -1)
    return CalibratedClassifierCV(RandomForestClassifier(n_estimators=2, random_state=0), cv=2).fit(x, images.labels)


def _forest_of_a_non_tree(images):
    forest = fitted("RF", images)
    forest.estimators_[0] = fitted("LR", images)
    return forest


@pytest.mark.parametrize("craft, expected", [
    (_svc_with_short_intercept, "an SVM whose _intercept_ has shape (1,)"),
    (_calibrated_forest, "a calibrated sklearn.ensemble._forest.RandomForestClassifier"),
    (_forest_of_a_non_tree, "a forest member that is not a tree (LogisticRegression)"),
])
def test_a_quick_model_whose_arrays_compiled_code_would_overrun_is_refused(craft, expected, images, tmp_path):
    """Allowed types only, but arrays libsvm or the tree code would walk past their ends (a calibrated forest's
    trees used to escape the check: predicting with a crafted one crashed the process)."""
    folder = predictor(images, fitted("RF", images)).save(tmp_path / "crafted")
    plant(folder, QUICK_MODEL_FILE, skops.io.dumps(craft(images)))
    refused(folder, QUICK_MODEL_FILE, "not a readable quick model", expected, FIX)


def rezip(archive: zipfile.ZipFile, schema: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as new:
        for item in archive.namelist():
            new.writestr(item, json.dumps(schema) if item == "schema.json" else archive.read(item))
    return out.getvalue()


def test_zap_refuses_to_save_a_quick_model_it_would_refuse_to_load(images, tmp_path):
    lr = fitted("LR", images)
    lr.extra_ = StandardScaler()
    with pytest.raises(ArtifactError, match="cannot save the quick model.*StandardScaler"):
        predictor(images, lr).save(tmp_path / "model")


def test_weights_that_would_run_code_are_refused_unrun(cnn_folder, marker):
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(1), "bomb": PickleBomb(marker)}, buffer)
    plant(cnn_folder, "model.pt", buffer.getvalue())
    refused(cnn_folder, "model.pt", "not a readable weights file", FIX)
    assert not marker.exists()


def legacy(folder: Path, pickled: bytes, name: str) -> None:
    """Make a schema 2 quick-model folder into one as zaps before schema 2 wrote it: a pickle, no checksums."""
    meta = read_meta(folder)
    del meta["files"]
    meta["schema_version"] = 1
    write_meta(folder, meta)
    (folder / QUICK_MODEL_FILE).unlink()
    (folder / name).write_bytes(pickled)


@pytest.mark.parametrize("name", LEGACY_QUICK_MODEL_FILES)
def test_a_legacy_pickle_is_refused_unrun_and_converts_only_on_trust(name, quick_folder, images, marker):
    legacy(quick_folder, pickle.dumps(PickleBomb(marker)), name)
    refused(quick_folder, name, "no longer loads", "runs whatever code", FIX,
            "convert_legacy_folder(folder, trust_pickle=True)")
    with pytest.raises(ConfigError, match="trust_pickle=True"):
        convert_legacy_folder(quick_folder)
    assert not marker.exists()
    lr = fitted("LR", images)
    (quick_folder / name).write_bytes(pickle.dumps(lr))  # a folder the user wrote and trusts
    assert convert_legacy_folder(quick_folder, trust_pickle=True) == quick_folder
    assert not [p for p in quick_folder.iterdir() if p.suffix == ".pkl"]
    loaded = Predictor.load(quick_folder)
    assert read_meta(quick_folder)["schema_version"] == SCHEMA_VERSION
    np.testing.assert_array_equal(loaded.predict_proba(images), predictor(images, lr).predict_proba(images))


# ---------------------------------------------------------------------------------------- damage


def test_checksum_mismatches_are_detected_before_loading(quick_folder):
    for name in ("model.pt", QUICK_MODEL_FILE):
        original = (quick_folder / name).read_bytes()
        (quick_folder / name).write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        refused(quick_folder, f"{name} does not match the checksum in model.json", "damaged", FIX)
        (quick_folder / name).write_bytes(original)
    Predictor.load(quick_folder)
    meta = read_meta(quick_folder)
    del meta["files"]["model.pt"]
    write_meta(quick_folder, meta)
    refused(quick_folder, "model.json records no checksum of model.pt", FIX)


def test_damaged_weights_are_refused_by_name(cnn_folder):
    weights = (cnn_folder / "model.pt").read_bytes()
    for damaged in (weights[: len(weights) // 2], b"garbage" * 100, b""):
        plant(cnn_folder, "model.pt", damaged)
        refused(cnn_folder, "model.pt", "not a readable weights file", FIX)
    buffer = io.BytesIO()
    torch.save([torch.zeros(2)], buffer)
    plant(cnn_folder, "model.pt", buffer.getvalue())
    refused(cnn_folder, "model.pt", "holds no state dict", FIX)


def test_weights_that_do_not_fit_model_json_are_refused(cnn_folder, images):
    meta = read_meta(cnn_folder)
    write_meta(cnn_folder, meta | {"class_names": [*meta["class_names"], "extra"]})
    message = refused(cnn_folder, "model.pt does not match model.json", f"with {len(images.class_names) + 1} "
                      "classes needs", FIX)
    assert f"({len(images.class_names)}," in message  # the weights' classifier: one row per class saved
    write_meta(cnn_folder, meta | {"architecture": "mobilenetv2"})
    refused(cnn_folder, "model.pt does not fit mobilenetv2", FIX)
    for unknown in ("resnet9000", "timm:no_such_model"):
        write_meta(cnn_folder, meta | {"architecture": unknown})
        refused(cnn_folder, "model.json names the architecture", unknown, "does not know", FIX)


@pytest.mark.parametrize("key", [*FIELDS, "files", "schema_version"])
def test_model_json_lacking_a_key_is_refused(key, quick_folder):
    meta = read_meta(quick_folder)
    del meta[key]
    write_meta(quick_folder, meta)
    if key == "versions":  # optional: models saved before zap recorded versions have none
        Predictor.load(quick_folder)
    else:
        refused(quick_folder, "model.json" if key != "schema_version" else "schema null", FIX)


@pytest.mark.parametrize(("key", "value"), [
    ("architecture", 3), ("class_names", "abc"), ("class_names", []), ("class_names", [1, 2, 3]),
    ("input_size", "32"), ("input_size", 0), ("input_size", True), ("input_size", 1024), ("n_channels", 2),
    ("mean", [0.5, 0.5]),
    ("std", [0.5, 0.0, 0.5]), ("config", []), ("pipeline_id", None), ("answered_by", "someone"),
    ("versions", {"torch": 2}), ("files", {"../../etc/passwd": "0" * 64}), ("files", {"model.pt": "xyz"}),
    ("schema_version", "2"), ("schema_version", 3),
])
def test_model_json_with_a_wrong_value_is_refused(key, value, quick_folder):
    write_meta(quick_folder, read_meta(quick_folder) | {key: value})
    refused(quick_folder, "model.json" if key != "schema_version" else "schema", FIX)


def test_model_json_whose_channels_disagree_with_the_quick_model_is_refused(quick_folder):
    """model.json is outside the checksums: its channel count must agree with the quick model it describes,
    or predict would fail inside scikit-learn."""
    meta = read_meta(quick_folder)
    write_meta(quick_folder, meta | {"n_channels": 4 - meta["n_channels"]})  # 1 <-> 3
    refused(quick_folder, "channel(s), but the quick model takes", FIX)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "\xff\xfe", ""])
def test_model_json_that_is_no_json_object_is_refused(text, cnn_folder):
    (cnn_folder / "model.json").write_bytes(text.encode("latin-1"))
    refused(cnn_folder, "model.json", FIX)


def test_missing_files_are_refused_by_name(quick_folder, cnn_folder):
    (quick_folder / QUICK_MODEL_FILE).unlink()
    refused(quick_folder, f"{QUICK_MODEL_FILE} is missing", "copy the whole folder")
    (cnn_folder / "model.json").unlink()
    refused(cnn_folder, "not a saved zap model", "model.json")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(sorted(FIELDS)), value=st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=8))
def test_any_value_in_model_json_loads_or_is_refused_cleanly(key, value, quick_folder):
    """Whatever a key of model.json holds, load gives a model or an ArtifactError: never a traceback."""
    meta = read_meta(quick_folder)
    write_meta(quick_folder, meta | {key: value})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # another `versions` warns: that is not what this tests
            Predictor.load(quick_folder)
    except ArtifactError as error:
        assert FIX in str(error)
    finally:
        write_meta(quick_folder, meta)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_the_quick_model_file_loads_or_is_refused_cleanly(data, quick_folder):
    """A byte changed anywhere, or the file cut anywhere, with its checksum recorded anew."""
    original = (quick_folder / QUICK_MODEL_FILE).read_bytes()
    position = data.draw(st.integers(0, len(original) - 1))
    damaged = data.draw(st.sampled_from([
        original[:position],
        original[:position] + bytes([original[position] ^ data.draw(st.integers(1, 255))]) + original[position + 1:],
    ]))
    plant(quick_folder, QUICK_MODEL_FILE, damaged)
    try:
        Predictor.load(quick_folder)
    except ArtifactError as error:
        assert FIX in str(error) and QUICK_MODEL_FILE in str(error)
    finally:
        plant(quick_folder, QUICK_MODEL_FILE, original)


# ----------------------------------------------------------------------------------------- saving


def test_a_save_cut_short_leaves_no_folder_that_loads(quick_folder, images, monkeypatch):
    def killed(model):
        raise KeyboardInterrupt  # the process dies mid-save

    monkeypatch.setattr(quick_store, "dumps", killed)
    with pytest.raises(KeyboardInterrupt):
        predictor(images, fitted("RF", images)).save(quick_folder)
    refused(quick_folder, "not a saved zap model", "cut short")


def test_a_save_replaces_every_file_and_leaves_no_stale_or_temporary_one(quick_folder, images):
    for name in LEGACY_QUICK_MODEL_FILES:
        (quick_folder / name).write_bytes(b"stale")
    predictor(images).save(quick_folder)  # the CNN answers now
    assert sorted(p.name for p in quick_folder.iterdir()) == ["model.json", "model.pt"]
    assert Predictor.load(quick_folder).quick_model is None


def test_a_save_cut_short_can_be_saved_again_in_the_same_folder(quick_folder, images, monkeypatch):
    """The folder a killed save left has no model.json but only zap's own files: saving again is allowed."""
    def killed(model):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(quick_store, "dumps", killed)
        with pytest.raises(KeyboardInterrupt):
            predictor(images, fitted("RF", images)).save(quick_folder)
    (quick_folder / ".model.pt.4242-0a1b2c3d.tmp").write_bytes(b"half")  # what a SIGKILL mid-write leaves
    (quick_folder / "model.pt.tmp").write_bytes(b"half")  # the same, from a zap before hidden temporary names
    predictor(images).save(quick_folder)
    assert Predictor.load(quick_folder).quick_model is None


@pytest.mark.parametrize("where", ["", "a file", "a data folder", "unwritable"])
def test_a_save_where_no_model_belongs_is_refused_before_writing(where, images, tmp_path):
    """Before: an empty name saved into the current folder, a data folder took the model's files beside its
    own, and a file or an unwritable place gave an OSError from deep inside the save."""
    from zap.errors import ConfigError

    target = {"": "", "a file": tmp_path / "x.txt", "a data folder": tmp_path / "data",
              "unwritable": Path("/proc/zap-model")}[where]
    if where == "a file":
        target.write_text("mine")
    if where == "a data folder":
        (target / "class_0").mkdir(parents=True)
    message = {"": "non-empty path", "a file": "is a file", "a data folder": "holds other things (class_0)",
               "unwritable": "cannot save the model in /proc/zap-model"}[where]
    with pytest.raises(ConfigError, match=re.escape(message)):
        predictor(images).save(target)
    assert where != "a data folder" or sorted(p.name for p in target.iterdir()) == ["class_0"]


def test_a_loaded_model_predicts_what_the_estimator_takes(quick_folder, images, arrays, tmp_path):
    """A saved model used again from Python takes arrays, paths and folders, as `ZAP.predict` does; before, only
    an ImageDataset, and an array failed with an AttributeError."""
    from PIL import Image

    loaded = Predictor.load(quick_folder)
    x = arrays[0][:4]
    for i, image in enumerate(x):
        Image.fromarray(image.squeeze()).save(tmp_path / f"{i}.png")
    from_array = loaded.predict_proba(x)
    assert from_array.shape == (4, len(images.class_names))
    assert np.allclose(loaded.predict_proba(sorted(map(str, tmp_path.glob("*.png")))), from_array)
    assert np.allclose(loaded.predict_proba(images.subset(range(4))), from_array)
    assert list(loaded.predict(x)) == [images.class_names[j] for j in from_array.argmax(axis=1)]

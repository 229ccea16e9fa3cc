"""Core datasets: registry integrity, deterministic builds, clear errors; variants: bounds, determinism."""

import numpy as np
import pytest

from zap.data import DataError
from zap.data.augment import MAX_RES, MIN_RES, draw_variants, load_specs, materialize, save_specs, whole_core
from zap.data.core import CORES, MissingSourceError, build_core, checksum, get_spec, load_core, registry_table, sources
from zap.data.core.store import catalogue


def test_registry_integrity():
    assert len(CORES) >= 20
    assert len({spec.domain for spec in CORES.values()}) >= 5
    for name, spec in CORES.items():
        assert spec.name == name and spec.source and spec.license and spec.description
        assert spec.channels in (1, 3) and 8 <= spec.resolution <= 128
    rows = registry_table()
    assert [r["name"] for r in rows] == list(CORES)


def test_catalogue_lists_every_core():
    assert set(catalogue()) == set(CORES)
    for name, entry in catalogue().items():
        assert entry["domain"] == CORES[name].domain and entry["channels"] == CORES[name].channels


@pytest.mark.parametrize("name", ["digits-opencv", "chars-hebrew", "shapes"])
def test_builds_are_deterministic_and_match_the_registry(name):
    spec = get_spec(name)
    first, second = spec.build(0), spec.build(0)
    assert checksum(first) == checksum(second) == catalogue()[name]["sha256"]  # same bytes as the reference
    assert first.x.shape[1] == first.x.shape[2] == spec.resolution and first.x.shape[-1] == spec.channels
    assert set(np.unique(first.y)) == set(range(len(first.class_names)))
    for k in range(len(first.class_names)):  # every class has training and test images
        assert (first.y[~first.test] == k).any() and (first.y[first.test] == k).any()


def test_generated_samples_are_never_copies():
    data = get_spec("chars-hebrew").build(0)
    flat = data.x.reshape(len(data.x), -1)
    assert len(np.unique(flat, axis=0)) == len(flat)


def test_build_writes_cache_and_manifest(tmp_path):
    entry = build_core("digits-sklearn", tmp_path)
    assert (tmp_path / "digits-sklearn.npz").exists() and entry["n_images"] == 1797
    core = load_core("digits-sklearn", tmp_path, build=False)
    assert len(core.dataset) == 1797 and core.test.sum() == entry["n_test"]
    assert registry_table(tmp_path)[0]["built"] is True


def test_unknown_core_and_unbuilt_core(tmp_path):
    with pytest.raises(DataError, match="unknown core dataset 'nope'"):
        get_spec("nope")
    with pytest.raises(DataError, match="zap datasets build --only shapes"):
        load_core("shapes", tmp_path, build=False)


def test_missing_source_names_the_package_and_the_fix(monkeypatch, tmp_path):
    monkeypatch.setattr(sources, "NOTO", tmp_path / "no-fonts")
    with pytest.raises(MissingSourceError, match=r"fonts-noto-core.*make datasets"):
        get_spec("chars-thai").build(0)
    monkeypatch.setenv("ZAP_SOURCES", str(tmp_path / "nothing"))
    with pytest.raises(MissingSourceError, match="opencv-doc"):
        get_spec("digits-opencv").build(0)


@pytest.fixture(scope="module")
def opencv_core(tmp_path_factory):
    return load_core("digits-opencv", tmp_path_factory.mktemp("cache"))


def test_variants_stay_in_bounds(opencv_core):
    specs = draw_variants(opencv_core, 40, seed=3)
    assert len({s.name for s in specs}) == 40
    for spec in specs:
        assert MIN_RES <= spec.resolution <= MAX_RES and spec.resolution & (spec.resolution - 1) == 0
        assert 2 <= len(spec.classes) <= 10 and spec.channels == 1
        assert spec.n_train >= 20 * len(spec.classes)
    assert {s.resolution for s in specs} == {16, 32}  # native 20 px: bracket 0 +- 1, clipped at 16
    assert min(s.n_train for s in specs) < 300 and max(s.n_train for s in specs) > 1500


def test_materialized_variants(opencv_core, tmp_path):
    spec = draw_variants(opencv_core, 3, seed=1)[2]
    split = materialize(opencv_core, spec)
    k = len(spec.classes)
    assert split.train.load(0).shape == (spec.resolution, spec.resolution, 1)
    assert len(split.test) <= spec.max_test and split.train.n_classes == k
    assert np.bincount(split.train.labels, minlength=k).min() >= 20
    assert set(split.test.labels) <= set(range(k))
    again = materialize(opencv_core, spec)
    assert np.array_equal(split.train.base.images, again.train.base.images)
    save_specs([spec], tmp_path / "v.json")
    assert load_specs(tmp_path / "v.json") == [spec]


def test_colour_cores_give_gray_and_colour_variants(tmp_path):
    core = load_core("photo-patches", tmp_path)
    specs = draw_variants(core, 12, seed=0)
    assert {s.channels for s in specs} == {1, 3}
    gray = next(s for s in specs if s.channels == 1)
    assert materialize(core, gray).train.load(0).shape[-1] == 1


def test_whole_core_keeps_every_class(opencv_core):
    split = materialize(opencv_core, whole_core(opencv_core, max_test=200))
    assert split.train.n_classes == 10 and len(split.test) <= 210
    assert len(split.train) == len(opencv_core.train_indices)


# ------------------------------------------------------------------ cut-out cores (meta-dataset v2)

CUTOUT_SOURCES = {  # core -> (source folder, Debian package)
    **{f"icons-{t}": sources.ICON_THEMES[t] for t in ("oxygen", "tango", "mate", "elementary")},
    "icon-theme-id": sources.ICON_THEMES["oxygen"],
    **{f"clipart-{k}": (sources.OPENCLIPART, "openclipart-png") for k in ("category", "food", "plants")},
    **{f"stamps-{k}": (sources.STAMPS, "tuxpaint-stamps-default") for k in ("category", "animals", "plants")},
}


def _needs_source(name):
    folder, package = CUTOUT_SOURCES[name]
    return pytest.param(name, marks=pytest.mark.skipif(
        not folder.exists(), reason=f"Debian {package} is not installed (`make datasets` installs it)"))


def test_v2_registry_reaches_32_cores_in_10_domains():
    """Catches a new core dropped from the registry or filed under an old domain."""
    assert set(CUTOUT_SOURCES) <= set(CORES)
    assert len(CORES) >= 32 and len({spec.domain for spec in CORES.values()}) >= 10


@pytest.mark.parametrize("name", [_needs_source(n) for n in CUTOUT_SOURCES])
def test_cutout_test_images_show_only_unseen_items(name, monkeypatch):
    """Catches a split by image instead of by item: a drawing seen in training must never be a test image.
    Rendering is replaced by a recorder, so this lists the sources without drawing anything."""
    from zap.data.core import generators

    drawn = []
    monkeypatch.setattr(generators, "_load_cutout", lambda path, side: path)
    monkeypatch.setattr(generators, "_composite",
                        lambda path, task, rng, var: drawn.append(path) or np.zeros((task.size,) * 2 + (3,), np.uint8))
    spec = get_spec(name)
    data = spec.build(0)
    theme = name.startswith("icon")
    item = [p.name.split(".")[0] if theme else generators._item_key(p) for p in drawn]
    train = {(int(y), i) for y, i, t in zip(data.y, item, data.test, strict=True) if not t}
    test = {(int(y), i) for y, i, t in zip(data.y, item, data.test, strict=True) if t}
    assert train and test and not train & test
    assert all((data.y[data.test] == k).any() and (data.y[~data.test] == k).any()
               for k in range(len(data.class_names)))
    assert len(data.class_names) == catalogue()[name]["n_classes"] and len(data.y) == catalogue()[name]["n_images"]


@pytest.mark.parametrize("name", [_needs_source(n) for n in ("icons-tango", "stamps-animals", "clipart-plants")])
def test_cutout_builds_match_the_reference(name):
    """Catches a builder that depends on more than its seed and sources (file order, a global generator):
    its checksum would differ from the catalogue's, which was built in another process."""
    spec = get_spec(name)
    data = spec.build(0)
    assert checksum(data) == catalogue()[name]["sha256"]
    assert data.x.shape[1:] == (spec.resolution, spec.resolution, spec.channels) and spec.channels == 3


@pytest.mark.skipif(not sources.OPENCLIPART.exists(), reason="Debian openclipart-png is not installed")
def test_cutout_cores_give_three_distinct_variants(tmp_path):
    """Catches a core too small for ICGen-style variants (the meta-dataset draws several per core)."""
    core = load_core("clipart-food", tmp_path)
    specs = draw_variants(core, 3, seed=0)
    assert len({(s.resolution, s.channels, s.classes, s.n_train) for s in specs}) == 3
    assert materialize(core, specs[0]).train.load(0).shape[-1] == specs[0].channels


def test_missing_cutout_source_names_the_package(monkeypatch, tmp_path):
    """Catches a missing package surfacing as an empty dataset or a bare FileNotFoundError."""
    monkeypatch.setattr(sources, "STAMPS", tmp_path / "no-stamps")
    with pytest.raises(MissingSourceError, match=r"tuxpaint-stamps-default.*make datasets"):
        get_spec("stamps-plants").build(0)
    monkeypatch.setitem(sources.ICON_THEMES, "tango", (tmp_path / "no-theme", "tango-icon-theme"))
    with pytest.raises(MissingSourceError, match="tango-icon-theme"):
        get_spec("icons-tango").build(0)

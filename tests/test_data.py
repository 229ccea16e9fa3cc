"""The data layer: every supported source, every image mode, deterministic splits, every bad input."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import pattern, write_folder
from zap.data import (
    DataError,
    SplitSettings,
    from_arrays,
    load_dataset,
    stratified_holdout,
    train_test_split,
    unlabelled_folder,
)
from zap.data.images import pil_to_array


def test_bundled_digits_loads_by_name():
    ds = load_dataset("digits")
    assert len(ds) == 1797 and ds.n_classes == 10 and ds.n_channels == 1
    image = ds.load(0)
    assert image.shape == (8, 8, 1) and image.dtype == np.uint8
    assert max(ds.load(i).max() for i in range(20)) == 255  # 16 of 16 levels -> 255


def test_image_folder(image_folder):
    ds = load_dataset(image_folder)
    assert ds.class_names == ["class_0", "class_1", "class_2"]
    assert len(ds) == 24 and np.bincount(ds.labels).tolist() == [8, 8, 8]
    assert ds.load(0).shape == (16, 16, 1)


def test_npz_with_class_names(tmp_path, arrays):
    x, y = arrays
    np.savez(tmp_path / "d.npz", x=x, y=y, class_names=np.array(["a", "b", "c"]))
    ds = load_dataset(tmp_path / "d.npz")
    assert ds.class_names == ["a", "b", "c"] and len(ds) == 30


def test_in_memory_arrays_floats_and_channel_first(arrays):
    x, y = arrays
    as_float = load_dataset((x / 255.0, y))
    assert np.array_equal(as_float.load(3), load_dataset((x, y)).load(3))
    nchw = np.repeat(x[:, None], 3, axis=1)
    ds = load_dataset((nchw, y))
    assert ds.load(0).shape == (16, 16, 3)


def test_modes_are_handled_consistently(tmp_path):
    gray = pattern(1, 0)
    Image.fromarray(gray).save(tmp_path / "l.png")
    Image.fromarray(gray.astype(np.uint16) * 257).save(tmp_path / "i16.png")
    rgba = np.dstack([gray, gray, gray, np.full_like(gray, 255)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(gray).convert("P").save(tmp_path / "p.png")
    read = {name: pil_to_array(Image.open(tmp_path / f"{name}.png")) for name in ("l", "i16", "rgba", "p")}
    assert read["l"].shape == (16, 16, 1)
    assert np.array_equal(read["i16"], read["l"])  # 16-bit x*257 reads back as the 8-bit x
    assert read["rgba"].shape == (16, 16, 3) and np.array_equal(read["rgba"][..., 0], gray)
    assert np.array_equal(read["p"][..., 0], gray)


def test_transparent_pixels_become_white():
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    assert pil_to_array(Image.fromarray(rgba, "RGBA")).min() == 255


def test_mixed_gray_and_colour_folder_is_colour(tmp_path):
    root = write_folder(tmp_path / "d")
    Image.fromarray(np.zeros((20, 24, 3), dtype=np.uint8)).save(root / "class_0" / "colour.png")
    ds = load_dataset(root)
    assert ds.n_channels == 3


def test_split_is_stratified_deterministic_and_capped():
    labels = np.repeat(np.arange(5), [10, 20, 30, 40, 50])
    a = stratified_holdout(labels, 0.2, 1000, seed=3)
    assert np.array_equal(a, stratified_holdout(labels, 0.2, 1000, seed=3))
    assert np.bincount(labels[a]).tolist() == [2, 4, 6, 8, 10]
    capped = stratified_holdout(labels, 0.2, 15, seed=3)
    assert len(capped) == 15 and set(labels[capped]) == set(range(5))
    assert not np.array_equal(a, stratified_holdout(labels, 0.2, 1000, seed=4))


def test_every_class_keeps_a_training_image():
    labels = np.array([0, 0, 1, 1, 1])
    split = train_test_split(from_arrays(np.zeros((5, 4, 4), np.uint8), labels), SplitSettings(0.9, 100))
    assert set(split.train.labels) == {0, 1} and set(split.test.labels) == {0, 1}


def test_large_folders_stream_from_disk(image_folder):
    ds = load_dataset(image_folder)
    assert not hasattr(ds, "images")  # pixels are read on demand, not held
    Path(ds.paths[0]).unlink()
    with pytest.raises(DataError, match="img_000"):
        ds.load(0)


def test_large_jpegs_decode_at_a_reduced_scale_for_a_small_input(tmp_path):
    """A photo bound for a 64-px input is decoded at 1/8 scale (both sides still >= 64), which gives the same
    network input within a few grey levels; PNG has no reduced decode, and without a size nothing changes."""
    from zap.finetune.batches import PixelCache

    yy, xx = np.mgrid[0:1200, 0:1600]
    photo = np.stack([(xx / 1600 * 255), (yy / 1200 * 255), ((xx + yy) % 256)], axis=-1).astype(np.uint8)
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(photo).save(tmp_path / cls / f"p{i}.jpg", quality=92)
    Image.fromarray(photo).save(tmp_path / "b" / "p2.png")
    ds = load_dataset(tmp_path)
    jpeg, png = ds.paths.index(tmp_path / "a" / "p0.jpg"), ds.paths.index(tmp_path / "b" / "p2.png")
    assert ds.load(jpeg).shape == (1200, 1600, 3) and ds.load_scaled(png, 64).shape == (1200, 1600, 3)
    reduced = ds.load_scaled(jpeg, 64)
    assert reduced.shape == (150, 200, 3)  # 1/8: the smallest scale that keeps both sides >= 64
    assert ds.load_scaled(jpeg, 400).shape == (600, 800, 3)  # 1/2: 1/4 would leave 300 < 400
    assert ds.subset([jpeg]).load_scaled(0, 64).shape == (150, 200, 3)
    full = PixelCache(ds, 64, max_bytes=0).batch([png]).float()  # the same pixels from a lossless file
    fast = PixelCache(ds, 64, max_bytes=0).batch([jpeg]).float()
    assert fast.shape == full.shape == (1, 3, 64, 64)
    assert (fast - full).abs().mean() < 1  # JPEG's own loss and the reduced decode, in grey levels


def test_a_dataset_class_written_for_load_alone_still_feeds_the_pixel_cache(arrays):
    """`load_scaled` is optional: a user's own ImageDataset that implements `load` gets its whole images."""
    from zap.data.dataset import ArrayDataset
    from zap.finetune.batches import PixelCache

    class OwnImages(ArrayDataset):
        def load(self, index):  # the signature every ImageDataset had before load_scaled
            return self.images[index]

    base = load_dataset(arrays)
    own = OwnImages(base.images, base.labels, base.class_names)
    assert PixelCache(own, 32, max_bytes=0).batch([0, 1]).shape == (2, 1, 32, 32)
    assert own.subset([1]).load_scaled(0, 8).shape == base.load(1).shape  # the whole image, through a view


# ----------------------------------------------------------------------------------------- bad input


def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="does not exist.*digits"):
        load_dataset(tmp_path / "nope")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        load_dataset(tmp_path / "empty")


def test_loose_files_get_a_hint(tmp_path):
    (tmp_path / "d").mkdir()
    Image.fromarray(pattern(0, 0)).save(tmp_path / "d" / "a.png")
    with pytest.raises(DataError, match="move each class"):
        load_dataset(tmp_path / "d")


def test_single_class(tmp_path):
    root = write_folder(tmp_path / "d", n_classes=1)
    with pytest.raises(DataError, match="single class"):
        load_dataset(root)


def test_class_with_fewer_than_two_images(tmp_path):
    root = write_folder(tmp_path / "d", n_classes=2, per_class=3)
    for p in list((root / "class_1").iterdir())[1:]:
        p.unlink()
    with pytest.raises(DataError, match=r"'class_1' \(1 image\)"):
        load_dataset(root)
    (root / "class_empty").mkdir()
    with pytest.raises(DataError, match=r"'class_empty' \(0 images\)"):
        load_dataset(root)


def test_corrupt_files_fail_with_a_list_or_are_skipped(tmp_path):
    root = write_folder(tmp_path / "d")
    (root / "class_0" / "notes.txt").write_text("not an image")
    (root / "class_1" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(DataError, match=r"(?s)2 file\(s\).*notes.txt.*broken.png"):
        load_dataset(root)
    with pytest.warns(UserWarning, match="skipped 2"):
        ds = load_dataset(root, on_corrupt="skip")
    assert len(ds) == 24


def test_hidden_files_are_ignored(image_folder):
    (image_folder / "class_0" / ".DS_Store").write_bytes(b"\0\0")
    assert len(load_dataset(image_folder)) == 24


def test_labels_out_of_range(arrays):
    x, y = arrays
    with pytest.raises(DataError, match="out of range"):
        from_arrays(x, y, class_names=["a", "b"])
    with pytest.raises(DataError, match="out of range"):
        from_arrays(x, np.where(y == 0, -1, y))


def test_non_integer_labels(arrays):
    x, y = arrays
    with pytest.raises(DataError, match="whole numbers"):
        from_arrays(x, y + 0.5)
    with pytest.raises(DataError, match="integers 0..K-1"):
        from_arrays(x, np.array(["a"] * 30))
    assert from_arrays(x, y.astype(float)).n_classes == 3


def test_nan_and_inf_in_arrays(arrays):
    x, y = arrays
    bad = x.astype(float)
    bad[4, 0, 0] = np.nan
    with pytest.raises(DataError, match="NaN or inf.*#4"):
        from_arrays(bad, y)
    bad[4, 0, 0] = np.inf
    with pytest.raises(DataError, match="NaN or inf"):
        from_arrays(bad, y)
    with pytest.raises(DataError, match="NaN or inf"):
        from_arrays(x, np.where(y == 1, np.nan, y))


def test_mismatched_lengths(arrays):
    x, y = arrays
    with pytest.raises(DataError, match="30 images but 29 labels"):
        from_arrays(x, y[:-1])


def test_npz_without_y(tmp_path, arrays):
    np.savez(tmp_path / "d.npz", images=arrays[0])
    with pytest.raises(DataError, match="no array 'x' or 'y'"):
        load_dataset(tmp_path / "d.npz")


def test_unsupported_file(tmp_path):
    (tmp_path / "d.csv").write_text("1,2")
    with pytest.raises(DataError, match="not an .npz"):
        load_dataset(tmp_path / "d.csv")


def test_bad_array_shape():
    with pytest.raises(DataError, match="shape"):
        from_arrays(np.zeros((4, 5)), np.array([0, 0, 1, 1]))


def test_unlabelled_folder(image_folder):
    ds = unlabelled_folder(image_folder)
    assert len(ds) == 24 and (ds.labels == -1).all()

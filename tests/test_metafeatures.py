"""The four meta-features: keys, order, values from headers, serialization."""

import numpy as np
from PIL import Image

from conftest import write_folder
from zap.data import SplitSettings, load_dataset, train_test_split
from zap.metafeatures import FEATURE_NAMES, MetaFeatures, compute


def test_keys_and_order():
    assert FEATURE_NAMES == ("n_channels", "n_classes", "n_train", "resolution")


def test_digits_values():
    split = train_test_split(load_dataset("digits"), SplitSettings(0.2, 1000, 0))
    mf = compute(split.train)
    assert (mf.n_channels, mf.n_classes, mf.resolution) == (1, 10, 8)
    assert mf.n_train == len(split.train) == 1797 - len(split.test)
    assert mf.vector().tolist() == [1, 10, mf.n_train, 8]
    assert not mf.variable_size


def test_variable_size_colour_folder_from_headers(tmp_path):
    root = write_folder(tmp_path / "d", n_classes=2, per_class=4, size=16)
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(root / "class_0" / "big.png")
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(root / "class_1" / "big.png")
    mf = compute(load_dataset(root))
    assert mf.n_channels == 3 and mf.variable_size and mf.resolution == 16 and mf.n_train == 10


def test_at_most_max_headers_are_read():

    ds = load_dataset("digits")
    calls = []
    original = ds.header
    ds.header = lambda i: calls.append(i) or original(i)
    compute(ds, max_headers=50)
    assert len(calls) == 50


def test_round_trip_json():
    mf = MetaFeatures(3, 12, 4000, 64, True)
    assert MetaFeatures.from_dict(__import__("json").loads(mf.to_json())) == mf

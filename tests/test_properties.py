"""Properties that must hold for every input, checked on inputs hypothesis draws: the array loader either
gives uint8 NHWC images or a DataError, ALC and NAUC stay within the bounds their definitions give, and every
valid pipeline configuration encodes to a fixed-length finite vector that decodes back to it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from zap.data import DataError, from_arrays
from zap.data.loaders import images_from_array
from zap.pipelines.space import (
    DIMENSIONS,
    DIMS_BY_NAME,
    Dim,
    as_dict,
    complete,
    encode,
    encoding_layout,
    make_config,
    pipeline_id,
    search_space,
)
from zap.scoring import AlcSpec, alc, nauc, time_transform

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------------------------------ the loader


@st.composite
def image_batches(draw) -> tuple[np.ndarray, np.ndarray, str]:
    """Small valid image arrays: uint8 0..255 or floats in [0, 1]; (N, H, W), NHWC or NCHW, 1 or 3 channels.
    NCHW and NHW images are kept at a width other than 1, 3 or 4: in NCHW such a width reads as a channel axis
    (NHWC first), and an NHW array that narrow may be refused as a likely single H x W x C image."""
    n, h = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    layout = draw(st.sampled_from(["NHW", "NHWC", "NCHW"]))
    w = draw(st.integers(1, 6).filter(lambda v: layout == "NHWC" or v not in (1, 3, 4)))
    c = draw(st.sampled_from([1, 3]))
    dtype = draw(st.sampled_from([np.uint8, np.float32, np.float64]))
    elements = (st.integers(0, 255) if dtype is np.uint8
                else st.floats(0, 1, width=32 if dtype is np.float32 else 64))
    shape = {"NHW": (n, h, w), "NHWC": (n, h, w, c), "NCHW": (n, c, h, w)}[layout]
    return draw(hnp.arrays(dtype, shape, elements=elements)), np.asarray(shape), layout


def expected_pixels(x: np.ndarray, layout: str) -> np.ndarray:
    nhwc = {"NHW": lambda a: a[..., None], "NHWC": lambda a: a, "NCHW": lambda a: np.moveaxis(a, 1, -1)}[layout](x)
    if nhwc.dtype == np.uint8:
        return nhwc
    return np.rint(nhwc.astype(np.float64) * 255.0).astype(np.uint8)


@FAST
@given(image_batches(), st.data())
def test_valid_arrays_give_uint8_nhwc_or_a_data_error(batch, data):
    x, _, layout = batch
    images = images_from_array(x)
    assert images.dtype == np.uint8 and images.ndim == 4 and len(images) == len(x)
    assert np.array_equal(images, expected_pixels(x, layout))
    labels = data.draw(hnp.arrays(np.int64, len(x), elements=st.integers(0, 3)))
    try:
        dataset = from_arrays(x, labels)
    except DataError:
        return  # e.g. a class with a single image: refused with its reason
    assert len(dataset) == len(x) and dataset.images.dtype == np.uint8
    assert dataset.images.shape == images.shape and np.array_equal(dataset.labels, labels)


PIXEL_DTYPES = {np.uint8: 255, np.uint16: 65535, np.int64: 255, np.float32: 1.0, np.float64: 1.0}


@FAST
@given(st.sampled_from(sorted(PIXEL_DTYPES, key=str)), st.data())
def test_an_image_becomes_the_same_pixels_alone_or_in_a_batch(dtype, data):
    """Pixels follow their dtype's convention, never the array's own maximum: an image predicted alone and the
    same image beside others must reach the model as the same uint8 pixels."""
    top = PIXEL_DTYPES[dtype]
    elements = st.floats(0, 1, width=32 if dtype is np.float32 else 64) if top == 1.0 else st.integers(0, top)
    x = data.draw(hnp.arrays(dtype, (3, 2, 2, 3), elements=elements))
    batch = images_from_array(x)
    for i in range(len(x)):
        assert np.array_equal(images_from_array(x[i:i + 1])[0], batch[i])


def test_pixels_above_the_dtypes_range_and_a_lone_channels_last_image_are_refused():
    with pytest.raises(DataError, match=r"go up to 4095: .*scale them first, e\.g\. x \* 255 / 4095"):
        images_from_array(np.full((2, 4, 4), 4095, dtype=np.int64))
    with pytest.raises(DataError, match=r"reads as 16 grey images 3 px wide; .* add a batch axis \(x\[None\]\)"):
        images_from_array(np.zeros((16, 16, 3), dtype=np.uint8))
    assert images_from_array(np.zeros((5, 4, 4), dtype=np.uint8)).shape == (5, 4, 4, 1)  # square: grey images
    sixteen_bit = np.array([[[0, 257, 65535]]], dtype=np.uint16).repeat(2, axis=0)[..., None]
    assert images_from_array(sixteen_bit)[0, 0, :, 0].tolist() == [0, 1, 255]  # as PIL's 16-bit modes: / 257


ANY_DTYPE = st.one_of(hnp.scalar_dtypes(), st.just(np.dtype(object)))
NUMERIC_DTYPE = st.one_of(hnp.integer_dtypes(), hnp.unsigned_integer_dtypes(), hnp.floating_dtypes())
ANY_SHAPE = hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=4)
# Half the draws are plausible (numeric images, 1-D integer labels), so the checks behind the first ones run too.
ANY_IMAGES = st.one_of(hnp.arrays(NUMERIC_DTYPE, ANY_SHAPE), hnp.arrays(ANY_DTYPE, ANY_SHAPE))
ANY_LABELS = st.one_of(hnp.arrays(np.int64, st.integers(0, 6), elements=st.integers(-1, 3)),
                       hnp.arrays(ANY_DTYPE, hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6)))


@FAST
@given(ANY_IMAGES, ANY_LABELS)
def test_any_array_gives_images_or_a_data_error_never_another_exception(x, y):
    try:
        dataset = from_arrays(x, y)
    except DataError:
        return
    assert dataset.images.dtype == np.uint8 and dataset.images.ndim == 4
    assert dataset.images.shape[-1] in (1, 3) and len(dataset) == len(y)


# ---------------------------------------------------------------------------------------------- scoring

BUDGET = 60.0


@st.composite
def curves(draw) -> tuple[np.ndarray, np.ndarray]:
    """Prediction times (some past the budget) and NAUC scores in [-1, 1]."""
    n = draw(st.integers(0, 8))
    times = np.sort(draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1.5 * BUDGET))))
    return times, draw(hnp.arrays(np.float64, n, elements=st.floats(-1, 1)))


def kept(times: np.ndarray, scores: np.ndarray) -> np.ndarray:
    return scores[times <= BUDGET]


@FAST
@given(curves())
def test_alc_lies_between_zero_and_the_scores(curve):
    """ALC = sum of dx_i * y_i with dx_i >= 0 summing to 1 and y = (0, s_1, ..., s_n): a convex combination of
    0 and the scores made within the budget, so min(0, s) <= ALC <= max(0, s), hence within [-1, 1]."""
    times, scores = curve
    value = alc(times, scores, BUDGET)
    inside = kept(times, scores)
    low, high = min(0.0, *inside) if inside.size else 0.0, max(0.0, *inside) if inside.size else 0.0
    assert low - 1e-12 <= value <= high + 1e-12 and -1.0 <= value <= 1.0


@FAST
@given(curves(), st.floats(0, 1))
def test_a_uniform_improvement_raises_alc_by_its_share_of_the_axis(curve, delta):
    """Adding delta to every score adds delta x (1 - t~(first prediction)): the part of the log axis after the
    first prediction, the only part where a score counts."""
    times, scores = curve
    before, after = alc(times, scores, BUDGET), alc(times, scores + delta, BUDGET)
    first = times[times <= BUDGET][:1]
    share = 1.0 - float(time_transform(first[0], AlcSpec(BUDGET))) if first.size else 0.0
    assert after >= before - 1e-12
    assert after - before == pytest.approx(delta * share, abs=1e-9)


@FAST
@given(curves(), st.data())
def test_alc_is_monotone_in_every_score(curve, data):
    times, scores = curve
    gains = data.draw(hnp.arrays(np.float64, len(scores), elements=st.floats(0, 1)))
    assert alc(times, scores + gains, BUDGET) >= alc(times, scores, BUDGET) - 1e-12


@st.composite
def labelled(draw) -> tuple[np.ndarray, int]:
    """Labels of 2..5 classes with at least two classes present (else every AUC is undefined)."""
    k = draw(st.integers(2, 5))
    labels = draw(hnp.arrays(np.int64, st.integers(2, 30), elements=st.integers(0, k - 1)))
    assume(len(np.unique(labels)) >= 2)
    return labels, k


@FAST
@given(labelled())
def test_nauc_of_perfect_constant_and_reversed_predictions(case):
    """NAUC = 2 mean(AUC) - 1: perfect scores rank every positive first (AUC 1, NAUC 1), constant scores
    tie everything (AUC 1/2, NAUC 0), reversed scores rank every positive last (NAUC -1)."""
    labels, k = case
    one_hot = np.eye(k)[labels]
    assert nauc(labels, one_hot) == pytest.approx(1.0)
    assert nauc(labels, np.full((len(labels), k), 0.3)) == pytest.approx(0.0)
    assert nauc(labels, 1.0 - one_hot) == pytest.approx(-1.0)


@FAST
@given(labelled(), st.data())
def test_nauc_is_within_bounds_and_ignores_monotone_rescaling(case, data):
    labels, k = case
    # scores on a grid of 21 levels: ties happen, and exp() keeps every two levels apart in floating point
    scores = data.draw(hnp.arrays(np.int64, (len(labels), k), elements=st.integers(0, 20))) / 20.0
    value = nauc(labels, scores)
    assert -1.0 - 1e-12 <= value <= 1.0 + 1e-12
    assert nauc(labels, np.exp(3.0 * scores) - 7.0) == pytest.approx(value)  # AUC depends on ranks only


# ---------------------------------------------------------------------------------------- configuration


def value_of(dim: Dim) -> st.SearchStrategy:
    if dim.kind == "float":
        return st.floats(*dim.bounds)
    if dim.kind == "int":
        return st.integers(int(dim.bounds[0]), int(dim.bounds[1]))
    return st.sampled_from(dim.choices)


@st.composite
def config_values(draw) -> dict:
    """Any valid pipeline: a value for every active dimension, conditionals only under their parents."""
    values: dict = {}
    for dim in DIMENSIONS:  # parents come before their children
        if dim.condition is None or values.get(dim.condition[0]) in dim.condition[1]:
            values[dim.name] = draw(value_of(dim))
    return values


@st.composite
def sampled_configs(draw):
    """A configuration ConfigSpace itself samples."""
    return search_space(draw(st.integers(0, 2**31 - 1))).sample_configuration()


def decode(vector: np.ndarray) -> dict:
    """The inverse of `encode`: one-hot columns back to their choice, log10 columns back through 10**v, then
    only the dimensions their parents activate."""
    raw: dict = {}
    for column, v in zip(encoding_layout(), vector, strict=True):
        dim = DIMS_BY_NAME[column.dim]
        if column.transform == "onehot":
            if v == 1.0:
                raw[dim.name] = column.choice
        elif column.transform == "bool":
            raw[dim.name] = bool(v)
        else:
            number = 10.0**v if column.transform == "log10" else v
            raw[dim.name] = round(number) if dim.kind == "int" else number
    return {d.name: raw[d.name] for d in DIMENSIONS
            if d.name in raw and (d.condition is None or raw.get(d.condition[0]) in d.condition[1])}


def assert_same_values(decoded: dict, expected: dict) -> None:
    assert set(decoded) == set(expected)
    for name, value in expected.items():
        if isinstance(value, float):
            assert math.isclose(decoded[name], value, rel_tol=1e-9), name
        else:
            assert decoded[name] == value, name


def check_round_trips(config) -> None:
    values = as_dict(config)
    vector = encode(config)
    assert vector.shape == (len(encoding_layout()),) and np.all(np.isfinite(vector))
    assert_same_values(decode(vector), values)
    again = make_config(values)
    assert as_dict(again) == values and pipeline_id(again) == pipeline_id(config)
    assert as_dict(complete(values)) == values
    assert np.allclose(encode(again), vector, rtol=1e-9, atol=0)


@FAST
@given(config_values())
def test_every_valid_configuration_round_trips(values):
    check_round_trips(make_config(values))


@FAST
@given(sampled_configs())
def test_configurations_configspace_samples_round_trip(config):
    check_round_trips(config)


@FAST
@given(config_values())
def test_completing_part_of_a_configuration_keeps_the_given_values(values):
    top_level = {name: v for name, v in values.items() if DIMS_BY_NAME[name].condition is None}
    filled = as_dict(complete(top_level))
    assert all(filled[name] == as_dict(make_config(values))[name] for name in top_level)
    assert encode(filled).shape == (len(encoding_layout()),)

"""The probe meta-features study (benchmarks/probe_metafeatures.py): its separability measure on data whose
answer is known, and the features through the real pretrained backbone."""

import numpy as np

from conftest import benchmark_script


def test_leave_one_out_1nn_is_perfect_on_separated_classes_and_near_chance_on_shuffled_labels():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 10
    labels = np.repeat(np.arange(4), 50)
    vectors = centres[labels] + rng.normal(size=(200, 16))
    with benchmark_script("probe_metafeatures") as study:
        assert study.loo_1nn_accuracy(vectors, labels) == 1.0
        shuffled = study.loo_1nn_accuracy(vectors, rng.permutation(labels))
        assert abs(study._chance_corrected(shuffled, 4)) < 0.15
        assert study._chance_corrected(0.25, 4) == 0.0
        assert study._chance_corrected(1.0, 4) == 1.0


def test_probe_features_see_colour_classes_through_the_pretrained_backbone():
    from zap.pipelines.zoo import create_model, normalization

    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(2), 12)
    images = rng.integers(0, 60, size=(24, 20, 20, 3), dtype=np.uint8)
    images[labels == 0, :, :, 0] += 180  # reddish against dark noise
    images[labels == 1, :, :, 2] += 180  # bluish
    model = create_model("mobilenetv2").eval()
    with benchmark_script("probe_metafeatures") as study:
        features = study.probe_features(images, labels, 2, model, 32, *normalization("mobilenetv2"))
    assert features["probe_feature_acc"] == 1.0
    assert set(features) == set(study.PROBE_NAMES)
    assert features["probe_gain"] == features["probe_feature_acc"] - features["probe_pixel_acc"]

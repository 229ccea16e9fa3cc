"""AutoDL NAUC and ALC against values computed by hand, and NAUC against scikit-learn's ROC AUC."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from zap.scoring import AlcSpec, LearningCurve, accuracy, alc, auc_per_class, curve_alc, nauc, time_transform


def test_auc_of_a_perfect_and_an_inverted_ranking():
    y = np.array([0, 0, 1, 1])
    scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.1, 0.9]])
    assert auc_per_class(y, scores).tolist() == [1.0, 1.0]
    assert nauc(y, scores) == 1.0
    assert nauc(y, scores[:, ::-1]) == -1.0


def test_auc_ties_take_average_ranks():
    # Column 1: positives {1, 2}; scores 0.5 (neg), 0.5 (pos), 0.9 (pos), 0.1 (neg).
    # Ranks: 0.1->1, 0.5,0.5->2.5 each, 0.9->4. Sum of positive ranks = 2.5 + 4 = 6.5.
    # AUC = (6.5 - 2*3/2) / (2*2) = 3.5/4 = 0.875.
    y = np.array([0, 1, 1, 0])
    col = np.array([0.5, 0.5, 0.9, 0.1])
    scores = np.stack([1 - col, col], axis=1)
    assert auc_per_class(y, scores)[1] == pytest.approx(0.875)


def test_degenerate_columns_are_dropped():
    # Class 2 never occurs: its column is dropped, not counted as 0.5.
    y = np.array([0, 1, 0, 1])
    scores = np.array([[0.9, 0.1, 0.3], [0.1, 0.9, 0.2], [0.8, 0.2, 0.9], [0.3, 0.7, 0.1]])
    aucs = auc_per_class(y, scores)
    assert math.isnan(aucs[2])
    assert nauc(y, scores) == pytest.approx(1.0)


def test_nauc_with_every_column_degenerate_is_zero():
    assert nauc(np.array([0, 0]), np.array([[0.5, 0.5], [0.2, 0.8]])) == 0.0


def test_nauc_accepts_one_hot_solutions():
    y = np.array([[1, 0], [0, 1], [1, 0]])
    scores = np.array([[0.6, 0.4], [0.3, 0.7], [0.9, 0.1]])
    assert nauc(y, scores) == pytest.approx(1.0)
    assert accuracy(y, scores) == 1.0


def test_time_transform_endpoints_and_challenge_constants():
    spec = AlcSpec.challenge()
    assert spec.budget == 1200 and spec.resolved_t0 == 60
    assert time_transform(0.0, spec) == 0.0
    assert time_transform(1200.0, spec) == pytest.approx(1.0)
    assert time_transform(60.0, spec) == pytest.approx(math.log(2) / math.log(21))


def test_default_t0_is_a_twentieth_of_the_budget():
    assert AlcSpec(20.0).resolved_t0 == 1.0
    assert time_transform(20.0, AlcSpec(20.0)) == pytest.approx(1.0)


def test_alc_by_hand_two_points():
    # T = 1200, t0 = 60. Predictions at 60 s (0.5) and 300 s (0.8).
    # x1 = ln2/ln21, x2 = ln6/ln21; ALC = (x2 - x1)*0.5 + (1 - x2)*0.8.
    x1, x2 = math.log(2) / math.log(21), math.log(6) / math.log(21)
    expected = (x2 - x1) * 0.5 + (1 - x2) * 0.8
    assert alc([60, 300], [0.5, 0.8], AlcSpec.challenge()) == pytest.approx(expected)


def test_alc_no_prediction_is_zero():
    assert alc([], [], 20.0) == 0.0


def test_alc_one_point_holds_its_score_to_the_end():
    # One prediction at t = T/20 = t0: x = ln2/ln21; the score holds from there to 1.
    x = math.log(2) / math.log(21)
    assert alc([1.0], [0.6], 20.0) == pytest.approx((1 - x) * 0.6)


def test_alc_prediction_at_time_zero_scores_full_area():
    assert alc([0.0], [0.7], 20.0) == pytest.approx(0.7)


def test_alc_ignores_points_past_the_budget():
    inside = alc([1.0, 5.0], [0.4, 0.6], 20.0)
    assert alc([1.0, 5.0, 25.0], [0.4, 0.6, 1.0], 20.0) == pytest.approx(inside)
    assert alc([25.0], [1.0], 20.0) == 0.0


def test_alc_of_a_run_stopped_early_holds_its_last_score_to_T():
    # A run stopped at b = 10 < T = 20 with its last prediction at 8 s: area to 1 with 0.9 held.
    x1, x2 = (math.log1p(k / 1.0) / math.log1p(20.0) for k in (2.0, 8.0))
    assert alc([2.0, 8.0], [0.5, 0.9], 20.0) == pytest.approx((x2 - x1) * 0.5 + (1 - x2) * 0.9)


def test_alc_with_equal_timestamps_uses_the_later_score():
    assert alc([1.0, 1.0], [0.2, 0.6], 20.0) == pytest.approx(alc([1.0], [0.6], 20.0))


def test_alc_rejects_bad_input():
    with pytest.raises(ValueError, match="non-decreasing"):
        alc([5.0, 1.0], [0.1, 0.2], 20.0)
    with pytest.raises(ValueError, match="one score per prediction"):
        alc([1.0], [0.1, 0.2], 20.0)
    with pytest.raises(ValueError, match="positive"):
        alc([1.0], [0.1], 0.0)


def test_curve_alc_uses_the_chosen_clock(tmp_path):
    curve = LearningCurve()
    curve.add(wall_s=2.0, cpu_s=1.0, steps=10, nauc=0.5, accuracy=0.6)
    curve.add(wall_s=4.0, cpu_s=3.0, steps=20, nauc=0.7, accuracy=0.8)
    assert curve_alc(curve, "wall", 20.0) == pytest.approx(alc([2.0, 4.0], [0.5, 0.7], 20.0))
    assert curve_alc(curve, "cpu", 20.0) == pytest.approx(alc([1.0, 3.0], [0.5, 0.7], 20.0))
    assert curve_alc(curve, "steps", 40.0) == pytest.approx(alc([10, 20], [0.5, 0.7], 40.0))
    curve.to_csv(tmp_path / "c.csv")
    again = LearningCurve.from_csv(tmp_path / "c.csv").rows
    assert [list(row) for row in again] == [list(row) for row in curve.rows]
    # values equal, a clock no cost table priced (NaN) included
    assert np.array_equal([list(row.values()) for row in again], [list(row.values()) for row in curve.rows],
                          equal_nan=True)


# ------------------------------------------------------------------ NAUC against scikit-learn's ROC AUC


def sklearn_nauc(solution: np.ndarray, scores: np.ndarray) -> float:
    """AutoDL's NAUC from sklearn: 2 * AUC - 1 of each class column that has both positives and negatives
    (a column with one kind has no AUC and is left out), averaged without weights."""
    aucs = [roc_auc_score(solution[:, k], scores[:, k]) for k in range(solution.shape[1])
            if 0 < solution[:, k].sum() < len(solution)]
    return 2 * float(np.mean(aucs)) - 1 if aucs else 0.0


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes)[labels]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("decimals", [None, 1])  # 1 decimal: many tied scores within a column
def test_nauc_matches_sklearn_on_random_multiclass_data(seed, decimals):
    """Catches a rank formula that mishandles ties (sklearn counts a tie as half a win), an off-by-one in the
    Mann-Whitney count, and weighting classes by their size instead of averaging them."""
    rng = np.random.default_rng(seed)
    n, n_classes = int(rng.integers(20, 80)), int(rng.integers(3, 8))
    labels = rng.integers(0, n_classes, size=n)
    scores = rng.random((n, n_classes)) + 0.3 * one_hot(labels, n_classes)  # informative, not perfect
    if decimals is not None:
        scores = scores.round(decimals)
    expected = sklearn_nauc(one_hot(labels, n_classes), scores)
    assert nauc(labels, scores) == pytest.approx(expected, abs=1e-12)
    assert nauc(one_hot(labels, n_classes), scores) == pytest.approx(expected, abs=1e-12)


def test_nauc_is_sklearns_one_vs_rest_macro_auc_when_every_class_occurs():
    """AutoDL averages the per-class AUCs without weights, which is sklearn's multi-class
    `multi_class="ovr", average="macro"`; a class-frequency weighting would differ on this skewed data."""
    rng = np.random.default_rng(11)
    labels = np.concatenate([np.zeros(40, int), np.ones(8, int), np.full(4, 2)])
    logits = rng.normal(size=(len(labels), 3)) + one_hot(labels, 3)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    macro = roc_auc_score(labels, probs, multi_class="ovr", average="macro")
    weighted = roc_auc_score(labels, probs, multi_class="ovr", average="weighted")
    assert nauc(labels, probs) == pytest.approx(2 * macro - 1, abs=1e-12)
    assert abs((2 * weighted - 1) - nauc(labels, probs)) > 1e-3  # the check above can tell the two apart


def test_nauc_leaves_out_a_class_absent_from_the_labels():
    """A class with no positive has no ROC AUC (sklearn calls it undefined). Catches such a class counted as
    AUC 0.5 (or 0), which would pull every score of a task with a rare class toward 0."""
    rng = np.random.default_rng(3)
    labels = rng.choice([0, 1, 3], size=30)  # class 2 of 4 never occurs
    scores = rng.random((30, 4)).round(1)
    assert math.isnan(auc_per_class(labels, scores)[2])
    assert nauc(labels, scores) == pytest.approx(sklearn_nauc(one_hot(labels, 4), scores), abs=1e-12)


def test_nauc_matches_sklearn_on_multilabel_solutions_and_constant_scores():
    """AutoDL has multi-label tasks: a row may have several positives, a column may be positive everywhere
    (left out), and a constant score column is one big tie (AUC 0.5)."""
    rng = np.random.default_rng(5)
    solution = (rng.random((25, 5)) < 0.4).astype(float)
    solution[:, 4] = 1.0  # positive on every row: no negatives, no AUC
    scores = rng.random((25, 5)).round(1)
    scores[:, 1] = 0.5
    assert auc_per_class(solution, scores)[1] == pytest.approx(roc_auc_score(solution[:, 1], scores[:, 1]))
    assert nauc(solution, scores) == pytest.approx(sklearn_nauc(solution, scores), abs=1e-12)

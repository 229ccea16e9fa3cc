"""AutoDL NAUC and ALC against values computed by hand."""

import math

import numpy as np
import pytest

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
    assert LearningCurve.from_csv(tmp_path / "c.csv").rows == curve.rows

"""Metric tests against hand-computed values (LaSOT / pytracking, GOT-10k and VOT-LT rules)."""

from __future__ import annotations

import numpy as np
import pytest

from dmtrack_core.evaluation.metrics import (
    SUCCESS_THRESHOLDS,
    average_scores,
    center_errors,
    got10k_scores,
    iou_continuous,
    iou_inclusive,
    reported_f_score,
    sanitize_predictions,
    score_sequence,
    vot_lt_scores,
)


def _still_boxes(count: int, box=(10.0, 20.0, 30.0, 40.0)) -> np.ndarray:
    return np.tile(np.asarray(box, dtype=np.float64), (count, 1))


def test_inclusive_pixel_iou_on_hand_boxes():
    # [0..9] x [0..9] and [5..14] x [0..9]: overlap 5 x 10 = 50 of 100 + 100 - 50 pixels
    assert iou_inclusive(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 10, 10]]))[0] == pytest.approx(50 / 150)
    # touching by one pixel column: x 0..9 and 9..18 share column 9 (inclusive pixels)
    assert iou_inclusive(np.array([[0, 0, 10, 10]]), np.array([[9, 0, 10, 10]]))[0] == pytest.approx(10 / 190)
    # adjacent but not sharing a column: no overlap
    assert iou_inclusive(np.array([[0, 0, 10, 10]]), np.array([[10, 0, 10, 10]]))[0] == 0.0
    # the continuous convention (GOT-10k / VOT) gives the same IoU: the +1 and -1 cancel
    assert iou_continuous(np.array([[0, 0, 10, 10]]), np.array([[9, 0, 10, 10]]))[0] == pytest.approx(
        10 / 190
    )
    assert iou_continuous(np.array([[0, 0, 10, 10]]), np.array([[5, 5, 10, 10]]))[0] == pytest.approx(
        25 / 175
    )
    assert iou_inclusive(np.array([[0, 0, 10, 10]]), np.array([[5, 5, 10, 10]]))[0] == pytest.approx(25 / 175)
    assert iou_inclusive(np.array([[0.5, 0, 4, 1]]), np.array([[0, 0, 4, 1]]))[0] == pytest.approx(3.5 / 4.5)


def test_perfect_tracker_reaches_the_top_of_every_curve():
    gt = _still_boxes(50)
    scores = score_sequence(gt.copy(), gt)
    # every success point is 1.0 except t = 1.0: IoU 1 is not > 1 (strict, as the official
    # toolkits), so the highest AUC any tracker can reach is 20/21, exactly as in pytracking
    np.testing.assert_array_equal(scores.success[:-1], 1.0)
    assert scores.success[-1] == 0.0
    assert scores.auc == pytest.approx(20 / 21)
    assert scores.precision_at_20 == 1.0
    assert scores.norm_precision_at_020 == 1.0
    np.testing.assert_array_equal(scores.precision, 1.0)


def test_absent_frames_lower_the_reachable_auc_by_their_share():
    gt = _still_boxes(40)
    absent = np.zeros(40, dtype=bool)
    absent[[5, 6, 7, 20, 30]] = True  # 5 of 40 frames
    perfect = gt.copy()
    scores = score_sequence(perfect, gt, absent)
    assert scores.auc == pytest.approx(20 / 21 * (1 - 5 / 40))
    assert scores.precision_at_20 == pytest.approx(35 / 40)
    assert scores.norm_precision_at_020 == pytest.approx(35 / 40)
    # ground truth written as 0,0,0,0 counts as absent without a flag
    gt_zero = gt.copy()
    gt_zero[[5, 6, 7, 20, 30]] = 0
    assert score_sequence(gt.copy(), gt_zero).auc == pytest.approx(scores.auc)


def test_strict_iou_threshold():
    gt = _still_boxes(2, (0, 0, 10, 10))
    pred = gt.copy()
    pred[1] = (5, 0, 10, 10)  # IoU 50/150 = 1/3
    half = _still_boxes(2, (0, 0, 10, 10))
    half[1] = (0, 0, 5, 10)  # inclusive IoU exactly 50/100 = 0.5
    scores = score_sequence(half, gt)
    index = int(np.flatnonzero(np.isclose(SUCCESS_THRESHOLDS, 0.5))[0])
    assert scores.success[index] == pytest.approx(0.5)  # only frame 1 counts: 0.5 is not > 0.5
    assert scores.success[index - 1] == pytest.approx(1.0)  # 0.5 > 0.45
    # with frame 1 = ground truth (IoU 1 > t for t < 1) and frame 2 at IoU 1/3
    expected = np.where(SUCCESS_THRESHOLDS < 1 / 3, 1.0, 0.5)
    expected[-1] = 0.0  # IoU 1 is not > 1
    np.testing.assert_allclose(score_sequence(pred, gt).success, expected)


def test_precision_counts_exactly_twenty_pixels():
    gt = _still_boxes(3, (100, 100, 20, 20))
    pred = gt.copy()
    pred[1, 0] += 20.0  # centre error exactly 20 px: a hit
    pred[2, 0] += 20.5  # 20.5 px: a miss
    scores = score_sequence(pred, gt)
    assert scores.precision_at_20 == pytest.approx(2 / 3)
    assert scores.precision[21] == pytest.approx(1.0)  # 21 px threshold catches both
    # normalised by the ground-truth size: 20 / 20 = 1.0 > 0.2 -> only frame 1 hits
    assert scores.norm_precision_at_020 == pytest.approx(1 / 3)


def test_centre_uses_inclusive_pixels():
    # centre of x=0, w=10 is 4.5; of x=0, w=20 is 9.5
    error = center_errors(np.array([[0, 0, 20, 10]]), np.array([[0, 0, 10, 10]]))
    assert error[0] == pytest.approx(5.0)


def test_invalid_predictions_take_the_previous_box():
    gt = _still_boxes(5, (10, 10, 10, 10))
    pred = np.array(
        [
            [0, 0, 1, 1],  # frame 1 is replaced by the ground truth
            [12, 10, 10, 10],
            [np.nan, 0, 5, 5],  # NaN -> frame 2's box
            [3, 3, 0, 5],  # zero width -> frame 2's box again
            [3, 3, 5, -1],  # negative height -> same
        ],
        dtype=np.float64,
    )
    fixed = sanitize_predictions(pred, gt)
    np.testing.assert_array_equal(fixed[0], gt[0])
    for index in (2, 3, 4):
        np.testing.assert_array_equal(fixed[index], [12, 10, 10, 10])
    # and the scores use the repaired boxes: IoU 80/120 = 2/3 on frames 2..5
    scores = score_sequence(pred, gt)
    index = int(np.flatnonzero(np.isclose(SUCCESS_THRESHOLDS, 0.65))[0])
    assert scores.success[index] == pytest.approx(1.0)
    assert scores.success[index + 1] == pytest.approx(0.2)


def test_sequences_weigh_the_same_when_averaged():
    short = score_sequence(_still_boxes(2), _still_boxes(2))
    gt = _still_boxes(10)
    pred = gt.copy()
    pred[1:, 0] += 100  # misses everywhere but frame 1
    long = score_sequence(pred, gt)
    mean = average_scores([short, long])
    assert mean.precision_at_20 == pytest.approx((1.0 + 0.1) / 2)
    assert mean.num_sequences == 2


def test_got10k_ao_and_success_rates():
    gt = _still_boxes(5, (0, 0, 10, 10))
    pred = np.array(
        [
            [50, 50, 5, 5],  # frame 1 is skipped
            [0, 0, 10, 10],  # IoU 1
            [0, 0, 5, 10],  # IoU 0.5 (continuous): not > 0.5
            [0, 0, 8, 10],  # IoU 0.8
            [40, 40, 10, 10],  # hidden frame: excluded
        ],
        dtype=np.float64,
    )
    hidden = np.array([False, False, False, False, True])
    scores = got10k_scores([pred], [gt], [hidden])
    assert scores.num_frames == 3
    assert scores.average_overlap == pytest.approx((1.0 + 0.5 + 0.8) / 3)
    assert scores.success_rate_50 == pytest.approx(2 / 3)
    assert scores.success_rate_75 == pytest.approx(2 / 3)
    # frames of all sequences are pooled (a longer sequence weighs more)
    other = got10k_scores([pred, gt.copy()], [gt, gt], [hidden, np.zeros(5, bool)])
    assert other.average_overlap == pytest.approx((2.3 + 4.0) / 7)
    # clipping to the image: a prediction hanging out of a 10x10 image is cut at the border
    clipped = got10k_scores(
        [np.array([[0, 0, 10, 10], [0, 0, 20, 20]])],
        [np.array([[0, 0, 10, 10]] * 2)],
        [np.zeros(2, bool)],
        bounds_wh=[(10, 10)],
    )
    assert clipped.average_overlap == pytest.approx(1.0)


def test_vot_lt_f_score_on_a_hand_case():
    gt = _still_boxes(5, (0, 0, 10, 10))
    absent = np.array([False, False, False, True, True])
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 5, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    presence = np.array([1.0, 0.9, 0.6, 0.8, 0.1])
    scores = vot_lt_scores([pred], [presence], [gt], [absent])
    # frame 1 is not scored. Overlaps: 1.0 (0.9), 0.5 (0.6), 0 absent (0.8), 0 absent (0.1);
    # two visible frames. Thresholds are the scores 0.1, 0.6, 0.8, 0.9:
    #   tau 0.1: P = 1.5/4,  R = 1.5/2 -> F = 0.5
    #   tau 0.6: P = 1.5/3,  R = 0.75  -> F = 0.6
    #   tau 0.8: P = 1/2,    R = 0.5   -> F = 0.5
    #   tau 0.9: P = 1,      R = 0.5   -> F = 2/3
    np.testing.assert_allclose(scores.thresholds, [0.1, 0.6, 0.8, 0.9])
    np.testing.assert_allclose(scores.precision_curve, [0.375, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(scores.recall_curve, [0.75, 0.75, 0.5, 0.5])
    assert scores.f_score == pytest.approx(2 / 3)
    assert scores.threshold == pytest.approx(0.9)


def test_reported_f_score_scores_the_trackers_own_decision():
    gt = _still_boxes(5, (0, 0, 10, 10))
    absent = np.array([False, False, False, True, True])
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 5, 10], [0, 0, 10, 10], [0, 0, 10, 10]], float)
    # claims in frames 1 (IoU 1), 2 (IoU 0.5) and 3 (absent): P = 1.5/3, R = 1.5/2 -> F = 0.6,
    # the same as the presence threshold 0.6 above picks out
    reported = np.array([True, True, True, True, False])
    precision, recall, f_score = reported_f_score([pred], [reported], [gt], [absent])
    assert (precision, recall) == pytest.approx((0.5, 0.75))
    assert f_score == pytest.approx(0.6)
    # claiming nothing: precision 1 by convention, recall 0, F 0
    assert reported_f_score([pred], [np.zeros(5, bool)], [gt], [absent]) == pytest.approx((1.0, 0.0, 0.0))

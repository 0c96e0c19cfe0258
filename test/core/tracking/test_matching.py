"""Cost matrices and the Hungarian assignment."""

from __future__ import annotations

import numpy as np

from dmtrack_core.tracking.kalman import KalmanFilter, xyxy_to_measurement
from dmtrack_core.tracking.matching import (
    cosine_distance,
    fuse_motion,
    iou_distance,
    iou_matrix,
    linear_assignment,
    linear_assignment_with_priority,
)


def test_iou_matrix_values_and_empty_inputs() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 10.0], [100.0, 100.0, 100.0, 110.0]])
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou[0], [50 / 150, 1.0, 0.0])
    np.testing.assert_allclose(iou[1], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(iou_distance(a, b), 1.0 - iou)
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (2, 0)


def test_cosine_distance_ignores_scale_and_orders_similarity() -> None:
    a = np.array([[1.0, 0.0], [0.0, 3.0]])
    b = np.array([[2.0, 0.0], [1.0, 1.0], [-1.0, 0.0]])
    d = cosine_distance(a, b)
    np.testing.assert_allclose(d[0], [0.0, 1 - np.sqrt(0.5), 2.0], atol=1e-12)
    np.testing.assert_allclose(d[1], [1.0, 1 - np.sqrt(0.5), 1.0], atol=1e-12)
    assert cosine_distance(np.zeros((0, 2)), b).shape == (0, 3)


def test_linear_assignment_is_globally_optimal_and_thresholded() -> None:
    # greedy would take (0, 0) = 0.1 and then pay 0.9; the optimum is 0.2 + 0.2
    cost = np.array([[0.1, 0.2], [0.2, 0.9]])
    matches, rows, cols = linear_assignment(cost, threshold=0.5)
    assert sorted(map(tuple, matches.tolist())) == [(0, 1), (1, 0)]
    assert rows.size == 0 and cols.size == 0
    matches, rows, cols = linear_assignment(np.array([[0.1, 0.6], [0.7, 0.8]]), threshold=0.5)
    assert matches.tolist() == [[0, 0]]
    assert rows.tolist() == [1] and cols.tolist() == [1]


def test_linear_assignment_never_accepts_forbidden_pairs() -> None:
    cost = np.array([[np.inf, 0.3], [np.inf, np.inf]])
    matches, rows, cols = linear_assignment(cost, threshold=1e9)
    assert matches.tolist() == [[0, 1]]
    assert rows.tolist() == [1] and cols.tolist() == [0]
    matches, rows, cols = linear_assignment(np.zeros((0, 3)), threshold=0.5)
    assert matches.shape == (0, 2) and cols.tolist() == [0, 1, 2]


def test_fuse_motion_gates_implausible_jumps_and_blends_the_rest() -> None:
    kalman = KalmanFilter()
    track = kalman.predict(*kalman.initiate(xyxy_to_measurement(np.array([80.0, 60.0, 120.0, 140.0]))))
    boxes = np.array([[80.0, 60.0, 120.0, 140.0], [400.0, 60.0, 440.0, 140.0]])
    appearance = np.array([[0.3, 0.0]])  # the far box looks identical, the near one less so
    fused = fuse_motion(kalman, appearance, [track], xyxy_to_measurement(boxes), 0.98, 9.4877)
    assert np.isinf(fused[0, 1])
    np.testing.assert_allclose(fused[0, 0], 0.98 * 0.3, atol=1e-6)
    matches, _, _ = linear_assignment(fused, 0.4)
    assert matches.tolist() == [[0, 0]]


def test_priority_row_takes_its_cheapest_column_first() -> None:
    # row 1 (a tracklet born on the target a frame ago) fits column 0 best and the joint
    # optimum gives it column 0; with priority the target (row 0) keeps column 0
    cost = np.array([[0.2, 0.35], [0.05, 0.9]])
    assert linear_assignment(cost, threshold=0.5)[0].tolist() == [[0, 1], [1, 0]]
    matches, rows, cols = linear_assignment_with_priority(cost, threshold=0.5, priority_row=0)
    assert matches.tolist() == [[0, 0]]
    assert rows.tolist() == [1] and cols.tolist() == [1]


def test_priority_row_without_an_acceptable_column_leaves_the_rest_to_the_others() -> None:
    cost = np.array([[0.7, np.inf, 0.9], [0.1, 0.6, 0.9], [0.8, 0.2, 0.9]])
    matches, rows, cols = linear_assignment_with_priority(cost, threshold=0.5, priority_row=0)
    assert matches.tolist() == [[1, 0], [2, 1]]
    assert rows.tolist() == [0] and cols.tolist() == [2]
    # no priority row, or an empty matrix: the plain assignment
    for priority in (None, 0):
        assert linear_assignment_with_priority(np.zeros((1, 0)), 0.5, priority)[2].size == 0
    plain = linear_assignment(cost, 0.5)
    same = linear_assignment_with_priority(cost, 0.5, None)
    assert all(np.array_equal(a, b) for a, b in zip(plain, same, strict=True))

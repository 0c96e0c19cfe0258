"""The one box module: conversions at the API edge and the geometry the core shares."""

from __future__ import annotations

import numpy as np

from dmtrack_core.boxes import (
    centres,
    clip_xyxy,
    from_centre_size,
    iou_matrix,
    sizes,
    xywh_to_xyxy,
    xyxy_to_xywh,
)


def test_conversions_are_inverse_and_keep_leading_dimensions() -> None:
    xywh = np.array([[[10.0, 20.0, 30.0, 40.0], [0.5, 1.5, 2.0, 3.0]]])
    xyxy = xywh_to_xyxy(xywh)
    np.testing.assert_allclose(xyxy[0, 0], [10, 20, 40, 60])
    assert xyxy.shape == xywh.shape
    np.testing.assert_allclose(xyxy_to_xywh(xyxy), xywh)
    np.testing.assert_allclose(xywh, [[[10.0, 20.0, 30.0, 40.0], [0.5, 1.5, 2.0, 3.0]]])  # input untouched


def test_centre_size_round_trip_and_clipping() -> None:
    boxes = np.array([[-5.0, 10.0, 25.0, 50.0], [100.0, 90.0, 140.0, 130.0]])
    np.testing.assert_allclose(from_centre_size(centres(boxes), sizes(boxes)), boxes)
    clipped = clip_xyxy(boxes, (120.0, 100.0))
    np.testing.assert_allclose(clipped, [[0, 10, 25, 50], [100, 90, 120, 100]])
    assert boxes[0, 0] == -5.0


def test_iou_matrix_values_and_empty_inputs() -> None:
    a = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 0.0, 0.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]])
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou[0], [50 / 150, 1.0, 0.0])
    np.testing.assert_allclose(iou[1], 0.0)  # an empty box overlaps nothing
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)

"""The user's box convention: learned from the initial frame's network box, applied to later
network boxes; in the tracker on a real photo (scikit-image's coins)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from dmtrack_core.boxes import iou_matrix, xywh_to_xyxy, xyxy_to_xywh
from dmtrack_core.tracking import build_tracker, load_tracker_config
from dmtrack_core.tracking.box_correction import BoxCorrection

NETWORK_BOX = np.array([100.0, 50.0, 200.0, 250.0])  # 100 x 200
USER_BOX = np.array([100.0, 90.0, 160.0, 250.0])  # its left 60 % without the top fifth


def test_the_learned_correction_turns_the_network_box_into_the_users() -> None:
    correction = BoxCorrection.learn(NETWORK_BOX[None], np.array([0.9]), USER_BOX, min_iou=0.4)
    np.testing.assert_allclose(correction.shift, [-0.2, 0.1])
    np.testing.assert_allclose(correction.scale, [0.6, 0.8])
    np.testing.assert_allclose(correction.apply(NETWORK_BOX[None])[0], USER_BOX)


def test_the_correction_is_relative_to_each_boxs_size() -> None:
    correction = BoxCorrection.learn(NETWORK_BOX[None], np.array([0.9]), USER_BOX, min_iou=0.4)
    twice_as_large_elsewhere = np.array([[300.0, 100.0, 500.0, 500.0]])
    np.testing.assert_allclose(correction.apply(twice_as_large_elsewhere)[0], [300.0, 180.0, 420.0, 500.0])


def test_the_best_scored_overlapping_candidate_is_the_reference() -> None:
    other = NETWORK_BOX + np.array([0.0, 0.0, 20.0, 0.0])  # overlaps the user's box as well
    far = np.array([400.0, 400.0, 460.0, 460.0])  # best scored but another object
    boxes, scores = np.stack([other, NETWORK_BOX, far]), np.array([0.5, 0.7, 0.95])
    correction = BoxCorrection.learn(boxes, scores, USER_BOX, min_iou=0.4)
    np.testing.assert_allclose(correction.apply(NETWORK_BOX[None])[0], USER_BOX)


@pytest.mark.parametrize(
    "boxes",
    [np.zeros((0, 4)), np.array([[400.0, 400.0, 460.0, 460.0]]), np.array([[100.0, 50.0, 100.5, 250.0]])],
)
def test_without_a_network_box_of_the_same_object_it_is_the_identity(boxes: np.ndarray) -> None:
    correction = BoxCorrection.learn(boxes, np.ones(len(boxes)), USER_BOX, min_iou=0.4)
    assert correction.is_identity
    np.testing.assert_array_equal(correction.apply(NETWORK_BOX[None])[0], NETWORK_BOX)


SHIFT = np.array([-40.0, 20.0])


@pytest.fixture(scope="module")
def photos() -> tuple[np.ndarray, np.ndarray]:
    """scikit-image's rocket (a real photo, 640 x 427), and a copy moved by SHIFT."""
    image = np.ascontiguousarray(skimage.data.rocket()[..., :3])
    matrix = np.array([[1, 0, SHIFT[0]], [0, 1, SHIFT[1]]], dtype=np.float64)
    moved = cv2.warpAffine(image, matrix, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)
    return image, moved


def test_the_tracker_reports_the_users_part_of_the_rocket_in_a_moved_real_photo(photos) -> None:
    """The user boxes the top 65 % of what the network boxes as the rocket (the click box).
    With the correction the tracker's box in the moved photo is the user's part; without it,
    more of the network's extent."""
    image, moved = photos
    height, width = image.shape[:2]
    plain = build_tracker(device="cpu", backend="torch", config=load_tracker_config(mode="reid"))
    network_box = xywh_to_xyxy(plain.box_from_point(image, width / 2, height / 2))
    top = np.r_[network_box[:3], network_box[1] + 0.65 * (network_box[3] - network_box[1])]
    expected = top + np.tile(SHIFT, 2)
    overlaps = {}
    for enabled in (True, False):
        config = load_tracker_config(mode="reid", box_correction=enabled)
        tracker = build_tracker(device="cpu", backend="torch", config=config)
        tracker.initialize(image, xyxy_to_xywh(top))
        assert tracker._box_correction.is_identity is not enabled
        box = xywh_to_xyxy(tracker.track(moved).box)
        overlaps[enabled] = iou_matrix(box[None], expected[None])[0, 0]
    assert overlaps[True] >= 0.7, overlaps
    assert overlaps[True] >= overlaps[False] + 0.15, overlaps


def test_global_mode_keeps_the_networks_boxes(photos) -> None:
    image, _ = photos
    box = np.array([310.0, 190.0, 27.0, 39.0])  # the rocket's top: reid mode corrects for it
    corrected = {}
    for mode in ("reid", "global"):
        tracker = build_tracker(device="cpu", backend="torch", config=load_tracker_config(mode=mode))
        tracker.initialize(image, box)
        corrected[mode] = not tracker._box_correction.is_identity
    assert corrected == {"reid": True, "global": False}

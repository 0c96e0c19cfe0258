"""The overlay drawn on ~/debug_image and the demo video."""

from __future__ import annotations

import numpy as np
import pytest

from dmtrack_ros.visualization import DISTRACTOR_COLOUR, STATE_COLOURS, draw_tracking_overlay


def grey(height: int = 120, width: int = 160) -> np.ndarray:
    return np.full((height, width, 3), 90, np.uint8)


def colour_pixels(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == np.array(colour, np.uint8), axis=2)


def test_target_box_is_drawn_in_the_state_colour_at_the_scaled_position():
    image = grey()
    out = draw_tracking_overlay(image, (40, 50, 60, 40), "TRACKING", "car", [], fps=12.5, scale=0.5)
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8
    ys, xs = np.nonzero(colour_pixels(out[25:, :], STATE_COLOURS["TRACKING"]))  # below the header text
    assert xs.min() == pytest.approx(20, abs=2) and xs.max() == pytest.approx(50, abs=2)
    assert ys.min() + 25 == pytest.approx(25, abs=2) and ys.max() + 25 == pytest.approx(45, abs=2)
    np.testing.assert_array_equal(image, grey())  # the input is untouched


def test_distractors_and_state_are_drawn_and_no_target_box_when_none():
    out = draw_tracking_overlay(grey(), None, "LOST", "car", [(3, (100, 60, 30, 30), 0.7)], fps=None)
    assert colour_pixels(out[60:, 90:], DISTRACTOR_COLOUR).sum() > 50
    # the state colour appears only in the header label, not as a box in the lower half
    assert colour_pixels(out[60:], STATE_COLOURS["LOST"]).sum() == 0
    assert colour_pixels(out[:30], STATE_COLOURS["LOST"]).sum() > 0


def test_degenerate_boxes_are_skipped_and_bad_images_rejected():
    out = draw_tracking_overlay(grey(), (np.nan, 0, 10, 10), "UNCERTAIN", "", [(1, (5, 5, 0, 0), 0.2)], None)
    assert out.shape == (120, 160, 3)
    with pytest.raises(ValueError):
        draw_tracking_overlay(np.zeros((10, 10), np.uint8), None, "LOST", "", [], None)
    with pytest.raises(ValueError):
        draw_tracking_overlay(grey(), None, "LOST", "", [], None, scale=0.0)

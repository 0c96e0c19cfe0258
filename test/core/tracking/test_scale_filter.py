"""The scale filter on a real photo: it reads a zoom of the view as a size change, stays put
on the same view, and its state does not grow with updates."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from dmtrack_core.tracking.scale_filter import ScaleFilter, ScaleFilterSettings

BOX = np.array([220.0, 40.0, 460.0, 330.0])  # the astronaut's head and shoulders, 640 x 640 photo
SETTINGS = ScaleFilterSettings(steps=17, step=1.05, learning_rate=0.1)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.resize(skimage.data.astronaut(), (640, 640), interpolation=cv2.INTER_AREA)


def zoomed(image: np.ndarray, centre: np.ndarray, factor: float) -> np.ndarray:
    warp = np.array([[factor, 0, centre[0] * (1 - factor)], [0, factor, centre[1] * (1 - factor)]])
    return cv2.warpAffine(image, warp, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REFLECT)


def fitted(photo: np.ndarray, box: np.ndarray = BOX) -> ScaleFilter:
    scale_filter = ScaleFilter(SETTINGS)
    scale_filter.initialize(photo, box)
    return scale_filter


@pytest.mark.parametrize("zoom", [0.9, 0.95, 1.05, 1.1])
def test_a_zoomed_view_reads_as_that_size_change(photo, zoom):
    centre, size = (BOX[:2] + BOX[2:]) / 2, BOX[2:] - BOX[:2]
    factor, _ = fitted(photo).estimate(zoomed(photo, centre, zoom), centre, size)
    assert factor == pytest.approx(zoom, rel=0.03)  # within about half a step of 1.05


@pytest.mark.parametrize("zoom", [0.98, 1.02])
def test_a_change_smaller_than_a_step_still_counts(photo, zoom):
    """A target growing 2 % a frame must grow in its box too, not round to 1 every frame."""
    centre, size = (BOX[:2] + BOX[2:]) / 2, BOX[2:] - BOX[:2]
    factor, _ = fitted(photo).estimate(zoomed(photo, centre, zoom), centre, size)
    assert factor != 1.0
    assert np.sign(np.log(factor)) == np.sign(np.log(zoom))
    assert abs(np.log(factor)) == pytest.approx(abs(np.log(zoom)), rel=0.6)


def test_the_same_view_reads_as_no_change_with_a_strong_response(photo):
    centre, size = (BOX[:2] + BOX[2:]) / 2, BOX[2:] - BOX[:2]
    factor, response = fitted(photo).estimate(photo, centre, size)
    assert factor == pytest.approx(1.0, abs=1e-3)
    assert response > 0.8
    # elsewhere in the photo (a wall of plain background) nothing matches that well
    _, elsewhere = fitted(photo).estimate(photo, np.array([560.0, 120.0]), size)
    assert elsewhere < response


def test_the_estimate_is_relative_to_the_size_given(photo):
    """Asked about a box already 1.1x the target's size, it answers about 1 / 1.1."""
    centre, size = (BOX[:2] + BOX[2:]) / 2, BOX[2:] - BOX[:2]
    factor, _ = fitted(photo).estimate(photo, centre, size * 1.1)
    assert factor == pytest.approx(1 / 1.1, rel=0.03)


def test_boxes_at_and_beyond_the_border_are_answered(photo):
    corner = np.array([-40.0, -30.0, 90.0, 80.0])
    scale_filter = fitted(photo, corner)
    factor, response = scale_filter.estimate(photo, np.array([25.0, 25.0]), np.array([130.0, 110.0]))
    assert np.isfinite(factor) and np.isfinite(response)
    assert scale_filter.factors[0] <= factor <= scale_filter.factors[-1]


def test_updates_keep_the_state_the_same_size_and_follow_the_target(photo):
    centre, size = (BOX[:2] + BOX[2:]) / 2, BOX[2:] - BOX[:2]
    scale_filter = fitted(photo)
    shapes = (scale_filter._numerator.shape, scale_filter._denominator.shape)
    grown = zoomed(photo, centre, 1.1)
    grown_box = np.concatenate([centre - size * 0.55, centre + size * 0.55])
    for _ in range(50):
        scale_filter.update(grown, grown_box)
    assert (scale_filter._numerator.shape, scale_filter._denominator.shape) == shapes
    factor, _ = scale_filter.estimate(grown, centre, size * 1.1)
    assert factor == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(
    ("steps", "step", "rate"), [(16, 1.05, 0.1), (1, 1.05, 0.1), (17, 1.0, 0.1), (17, 1.05, 1.5)]
)
def test_bad_settings_are_refused(steps, step, rate):
    with pytest.raises(ValueError):
        ScaleFilterSettings(steps, step, rate)


def test_the_tracker_config_refuses_an_even_step_count_and_accepts_zero():
    from dmtrack_core.tracking import load_tracker_config

    assert load_tracker_config(target_scale_steps=0).target_scale_steps == 0
    with pytest.raises(ValueError):
        load_tracker_config(target_scale_steps=16)


def test_estimate_before_initialize_is_an_error(photo):
    with pytest.raises(RuntimeError):
        ScaleFilter(SETTINGS).estimate(photo, np.array([10.0, 10.0]), np.array([5.0, 5.0]))

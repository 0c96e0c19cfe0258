"""The run-time target model on a real photo (scikit-image's coins: many look-alikes), its
update rule inside the tracker, and its bounded state."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from dmtrack_core.boxes import centres
from dmtrack_core.tracking import TrackState, build_tracker, load_tracker_config
from dmtrack_core.tracking.association import AssociationResult
from dmtrack_core.tracking.target_model import (
    TargetModel,
    TargetModelSettings,
    correlate,
    correlate_transpose,
)

SCALE = 1.5  # the 384 x 303 photo at about camera size
# coins found by thresholding the photo (x1, y1, x2, y2 in the original's pixels)
TARGET = np.array([315, 156, 380, 218]) * SCALE
OTHER_COINS = (
    np.array(
        [
            [305, 16, 365, 72],
            [131, 28, 179, 74],
            [245, 96, 296, 144],
            [189, 170, 237, 216],
            [18, 233, 75, 288],
            [144, 236, 199, 288],
            [276, 240, 326, 288],
            [336, 248, 381, 289],
        ]
    )
    * SCALE
)
SHIFT = np.array([-60.0, 25.0])  # the search frame: the photo moved by this many pixels


def settings(**changes) -> TargetModelSettings:
    return TargetModelSettings.from_config(load_tracker_config(), **changes)


@pytest.fixture(scope="module")
def tracker():
    # on in the shipped config; set explicitly so these tests keep testing it if that changes
    return build_tracker(device="cpu", backend="torch", config=load_tracker_config(target_model=True))


@pytest.fixture(scope="module")
def photos() -> tuple[np.ndarray, np.ndarray]:
    grey = skimage.data.coins()
    grey = cv2.resize(grey, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_LINEAR)
    image = np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    moved = cv2.warpAffine(
        image,
        np.array([[1, 0, SHIFT[0]], [0, 1, SHIFT[1]]], dtype=np.float64),
        (image.shape[1], image.shape[0]),
        borderMode=cv2.BORDER_REFLECT,
    )
    return image, moved


def fitted(tracker, image: np.ndarray, **changes) -> tuple[TargetModel, float]:
    frame = tracker.detector.extract(image)
    model = TargetModel(settings(**changes), tuple(tracker.network.config.strides))
    model.initialize(frame.features.levels, TARGET * frame.placement.scale)
    return model, frame.placement.scale


def test_learns_the_target_and_finds_it_moved_in_a_real_photo(tracker, photos) -> None:
    image, moved = photos
    model, scale = fitted(tracker, image)
    response = model.response(tracker.detector.extract(moved).features.levels)
    peaks, values = response.peaks(threshold=0.0, count=1)
    expected = (centres(TARGET) + SHIFT) * scale
    assert np.linalg.norm(peaks[0] - expected) <= model.stride, (peaks[0], expected)
    assert values[0] > 0.5


def test_rejects_the_look_alike_coins(tracker, photos) -> None:
    image, moved = photos
    model, scale = fitted(tracker, image)
    levels = tracker.detector.extract(moved).features.levels
    response = model.response(levels)
    on_target = response.at(((centres(TARGET) + SHIFT) * scale)[None])[0]
    on_others = response.at((centres(OTHER_COINS) + SHIFT) * scale)
    assert on_target > 0.5
    assert on_others.max() < 0.5 * on_target, on_others


def test_the_tracker_updates_only_from_confident_frames(tracker, photos) -> None:
    image, moved = photos
    tracker.initialize(image, np.r_[TARGET[:2], TARGET[2:] - TARGET[:2]])
    model = tracker._target_model
    assert model is not None and model.memory_size == 1
    frame = tracker.detector.extract(moved)
    response = model.response(frame.features.levels)
    box = TARGET + np.tile(SHIFT, 2)
    tracker._frame_index = tracker.config.target_update_interval

    def result(state: TrackState, presence: float, matched: bool = True) -> AssociationResult:
        return AssociationResult(1, state, 1, box, presence, presence, 0.9, matched)

    unsure = [
        result(TrackState.UNCERTAIN, 0.9),
        result(TrackState.LOST, 0.9),
        result(TrackState.TRACKING, tracker.config.presence_high - 0.01),
        result(TrackState.TRACKING, 0.9, matched=False),
    ]
    filter_before = model.filter.copy()
    for selected in unsure:
        tracker._maybe_update_target_model(frame, selected, response)
    assert model.memory_size == 1 and np.array_equal(model.filter, filter_before)
    # a box the target model does not see there is no sure sample either
    elsewhere = result(TrackState.TRACKING, 0.9)
    elsewhere.box_xyxy = OTHER_COINS[4] + np.tile(SHIFT, 2)
    tracker._maybe_update_target_model(frame, elsewhere, response)
    assert model.memory_size == 1
    tracker._maybe_update_target_model(frame, result(TrackState.TRACKING, 0.9), response)
    assert model.memory_size == 2 and not np.array_equal(model.filter, filter_before)
    # and not again before target_update_interval frames have passed
    tracker._maybe_update_target_model(frame, result(TrackState.TRACKING, 0.9), response)
    assert model.memory_size == 2


def test_state_stays_bounded_over_10000_updates() -> None:
    generator = torch.Generator().manual_seed(0)
    levels = [torch.randn(1, 4, 8, 10, generator=generator)]
    model = TargetModel(settings(memory=3, update_iterations=1, init_iterations=3), (8,))
    model.initialize(levels, np.array([20.0, 16.0, 44.0, 40.0]))
    shape = model.filter.shape
    for step in range(10_000):
        frame = [level + 0.1 * torch.randn(level.shape, generator=generator) for level in levels]
        model.update(frame, np.array([20.0, 16.0, 44.0, 40.0]) + (step % 5))
        assert model.memory_size <= 4
    assert model.filter.shape == shape and bool(np.isfinite(model.filter).all())


@pytest.mark.parametrize("kernel_hw", [(1, 1), (3, 5), (7, 3)])
def test_correlations_equal_torch_conv2d_and_its_weight_gradient(kernel_hw) -> None:
    generator = torch.Generator().manual_seed(1)
    maps = torch.randn(3, 6, 11, 13, generator=generator)
    kernel = torch.randn(1, 6, *kernel_hw, generator=generator)
    outputs = torch.randn(3, 1, 11, 13, generator=generator)
    padding = (kernel_hw[0] // 2, kernel_hw[1] // 2)
    padded = torch.nn.functional.pad(maps, (padding[1], padding[1], padding[0], padding[0])).numpy()

    ours = correlate(kernel[0].numpy(), padded)
    theirs = torch.nn.functional.conv2d(maps, kernel, padding=padding)[:, 0].numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-4)

    ours_t = correlate_transpose(padded, outputs[:, 0].numpy(), kernel_hw)
    theirs_t = torch.nn.grad.conv2d_weight(maps, kernel.shape, outputs, padding=padding)[0].numpy()
    np.testing.assert_allclose(ours_t, theirs_t, atol=1e-3)

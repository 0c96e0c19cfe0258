"""Colour descriptors of boxes and their fusion with the learned embedding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dmtrack_core.tracking.appearance import colour_histograms, fuse_appearance
from dmtrack_core.tracking.matching import cosine_similarity

BINS = (30, 4, 4)


def texture(rng: np.random.Generator, shape: tuple[int, int] = (60, 40)) -> np.ndarray:
    """A smooth multi-coloured patch (blocky noise around an orange)."""
    coarse = rng.integers(-50, 50, size=(shape[0] // 6 + 1, shape[1] // 6 + 1, 3))
    fine = np.kron(coarse, np.ones((6, 6, 1)))[: shape[0], : shape[1]]
    return np.clip(np.array([200, 120, 60]) + fine, 0, 255).astype(np.uint8)


def hue_shifted(patch: np.ndarray, shift: float) -> np.ndarray:
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + shift, 180.0)
    return cv2.cvtColor(hsv.round().astype(np.uint8), cv2.COLOR_HSV2RGB)


def scene(patches: list[tuple[np.ndarray, int, int]], background: int = 30) -> np.ndarray:
    image = np.full((240, 320, 3), background, dtype=np.uint8)
    for patch, x, y in patches:
        image[y : y + patch.shape[0], x : x + patch.shape[1]] = patch
    return image


def box(patch: np.ndarray, x: int, y: int, border: int = 0) -> list[float]:
    return [x - border, y - border, x + patch.shape[1] + border, y + patch.shape[0] + border]


def test_same_object_matches_and_a_hue_shifted_lookalike_does_not() -> None:
    target = texture(np.random.default_rng(0))
    lookalike = hue_shifted(target, 8.0)  # the benchmark's look-alikes change hue by 4..10
    image = scene([(target, 20, 20), (target, 200, 150), (lookalike, 120, 30)])
    boxes = np.array([box(target, 20, 20), box(target, 200, 150), box(lookalike, 120, 30)])
    histograms = colour_histograms(image, boxes, BINS, 0.6)
    assert histograms.shape == (3, 480)
    np.testing.assert_allclose(np.linalg.norm(histograms, axis=1), 1.0)
    similarity = cosine_similarity(histograms, histograms)
    assert similarity[0, 1] == pytest.approx(1.0)
    assert similarity[0, 2] < 0.7


def test_the_box_border_is_left_out() -> None:
    """The same object on two different backgrounds, boxed with a 15 % margin of background:
    the central part of the box decides."""
    target = texture(np.random.default_rng(1))
    on_dark, on_bright = scene([(target, 50, 50)], 20), scene([(target, 50, 50)], 235)
    loose = np.array([box(target, 50, 50, border=6)])
    dark, bright = (colour_histograms(i, loose, BINS, 0.6) for i in (on_dark, on_bright))
    assert float(dark[0] @ bright[0]) == pytest.approx(1.0)
    whole_dark, whole_bright = (colour_histograms(i, loose, BINS, 1.0) for i in (on_dark, on_bright))
    assert float(whole_dark[0] @ whole_bright[0]) < 0.95


def test_boxes_outside_the_image_or_empty_get_the_uniform_histogram() -> None:
    image = scene([(texture(np.random.default_rng(2)), 0, 0)])
    boxes = np.array([[400.0, 10.0, 450.0, 50.0], [10.0, 10.0, 10.0, 50.0], [-30.0, -30.0, 30.0, 30.0]])
    histograms = colour_histograms(image, boxes, BINS, 0.6)
    uniform = np.full(480, 1 / np.sqrt(480))
    np.testing.assert_allclose(histograms[0], uniform)
    np.testing.assert_allclose(histograms[1], uniform)
    assert not np.allclose(histograms[2], uniform)  # the part inside the image is described
    assert colour_histograms(image, np.zeros((0, 4)), BINS, 0.6).shape == (0, 480)


def test_fused_cosine_is_the_weighted_sum_of_the_parts() -> None:
    rng = np.random.default_rng(3)
    learned, colours = rng.normal(size=(5, 16)), np.abs(rng.normal(size=(5, 12)))
    for weight in (0.3, 0.5, 0.8):
        fused = fuse_appearance(learned, colours, weight)
        expected = (1 - weight) * cosine_similarity(learned, learned) + weight * cosine_similarity(
            colours, colours
        )
        np.testing.assert_allclose(cosine_similarity(fused, fused), expected, atol=1e-12)
        np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0)
    assert fuse_appearance(learned, None, 0.5) is not None
    np.testing.assert_array_equal(fuse_appearance(learned, None, 0.5), learned)
    np.testing.assert_array_equal(fuse_appearance(learned, colours, 0.0), learned)
    assert fuse_appearance(np.zeros((0, 16)), np.zeros((0, 12)), 0.5).shape == (0, 28)
    with pytest.raises(ValueError, match="colours"):
        fuse_appearance(learned, colours[:3], 0.5)

"""RoIAlign against a per-roi, per-bin, per-sample loop reference (torchvision/mmcv semantics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dmtrack_core.ops import roi_align, roi_align_plain


def _bilinear_clamped(feature_map: np.ndarray, y: float, x: float) -> np.ndarray:
    """Value of (C, H, W) at (y, x) with RoIAlign's border rule."""
    _, height, width = feature_map.shape
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return np.zeros(feature_map.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y_low, x_low = int(y), int(x)
    if y_low >= height - 1:
        y_low = y_high = height - 1
        y = float(y_low)
    else:
        y_high = y_low + 1
    if x_low >= width - 1:
        x_low = x_high = width - 1
        x = float(x_low)
    else:
        x_high = x_low + 1
    ly, lx = y - y_low, x - x_low
    hy, hx = 1.0 - ly, 1.0 - lx
    return (
        hy * hx * feature_map[:, y_low, x_low]
        + hy * lx * feature_map[:, y_low, x_high]
        + ly * hx * feature_map[:, y_high, x_low]
        + ly * lx * feature_map[:, y_high, x_high]
    )


def reference_roi_align(
    features: torch.Tensor,
    rois: torch.Tensor,
    out_h: int,
    out_w: int,
    scale: float,
    sampling_ratio: int,
    aligned: bool,
) -> torch.Tensor:
    maps = features.detach().double().numpy()
    output = np.zeros((rois.shape[0], maps.shape[1], out_h, out_w))
    for k, (batch_index, x1, y1, x2, y2) in enumerate(rois.double().tolist()):
        shift = 0.5 if aligned else 0.0
        start_x, start_y = x1 * scale - shift, y1 * scale - shift
        roi_w, roi_h = x2 * scale - shift - start_x, y2 * scale - shift - start_y
        if not aligned:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / out_h, roi_w / out_w
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_h / out_h)
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(roi_w / out_w)
        count = max(grid_h * grid_w, 1)
        feature_map = maps[int(batch_index)]
        for ph in range(out_h):
            for pw in range(out_w):
                total = np.zeros(maps.shape[1])
                for iy in range(grid_h):
                    y = start_y + ph * bin_h + (iy + 0.5) * bin_h / grid_h
                    for ix in range(grid_w):
                        x = start_x + pw * bin_w + (ix + 0.5) * bin_w / grid_w
                        total += _bilinear_clamped(feature_map, y, x)
                output[k, :, ph, pw] = total / count
    return torch.from_numpy(output)


# Boxes inside, across every border, fully outside, sub-pixel, empty and inverted,
# in input pixels for a 2x downsampled map of 7x9 (input 14x18). No sample lands exactly on
# -1 or H, where the border rule jumps and float32 rounding alone would decide.
ROIS = torch.tensor(
    [
        [0, 2.0, 3.0, 11.0, 9.0],
        [1, -4.0, -3.0, 6.0, 5.0],
        [1, 10.0, 8.0, 21.0, 17.0],
        [0, -9.0, 1.0, 30.0, 12.5],
        [1, 20.0, 15.0, 26.0, 19.0],
        [0, 5.3, 6.1, 5.7, 6.4],
        [1, 7.0, 7.0, 7.0, 7.0],
        [0, 8.0, 9.0, 4.0, 3.0],
        [1, 0.0, 0.0, 18.0, 14.0],
        [0, 13.1, -2.3, 17.9, 2.6],
    ]
)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [2, 1, 0])
@pytest.mark.parametrize("output_size", [(3, 3), (2, 4)])
def test_matches_loop_reference_float64(
    aligned: bool, sampling_ratio: int, output_size: tuple[int, int]
) -> None:
    torch.manual_seed(0)
    features = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    expected = reference_roi_align(features, ROIS, *output_size, 0.5, sampling_ratio, aligned)
    actual = roi_align(features, ROIS.double(), output_size, 0.5, sampling_ratio, aligned)
    assert actual.shape == (len(ROIS), 3, *output_size)
    assert actual.dtype == torch.float64
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=1e-5)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("sampling_ratio", [2, 0])
def test_matches_loop_reference_float32(aligned: bool, sampling_ratio: int) -> None:
    torch.manual_seed(1)
    features = torch.randn(2, 4, 7, 9)
    expected = reference_roi_align(features, ROIS, 7, 7, 0.5, sampling_ratio, aligned)
    actual = roi_align(features, ROIS, 7, 0.5, sampling_ratio, aligned)
    assert actual.dtype == torch.float32
    torch.testing.assert_close(actual.double(), expected, rtol=0.0, atol=1e-4)


def test_adaptive_sampling_on_large_boxes_at_scale_one() -> None:
    torch.manual_seed(2)
    features = torch.randn(1, 2, 12, 10, dtype=torch.float64)
    rois = torch.tensor([[0, -3.0, -2.0, 14.0, 13.0], [0, 1.5, 2.5, 9.5, 11.0], [0, 0.2, 0.1, 0.9, 0.6]])
    expected = reference_roi_align(features, rois, 2, 3, 1.0, 0, True)
    torch.testing.assert_close(roi_align(features, rois, (2, 3), 1.0, 0), expected, rtol=0.0, atol=1e-5)


def test_pixel_grid_box_reproduces_the_map() -> None:
    # aligned=True puts one sample per pixel centre when the box is the whole map.
    torch.manual_seed(3)
    features = torch.randn(1, 3, 5, 6)
    rois = torch.tensor([[0, 0.0, 0.0, 6.0, 5.0]])
    pooled = roi_align(features, rois, (5, 6), 1.0, sampling_ratio=1, aligned=True)
    torch.testing.assert_close(pooled[0], features[0], rtol=0.0, atol=1e-6)


def test_box_far_outside_pools_zeros_and_empty_rois() -> None:
    features = torch.ones(1, 2, 4, 4)
    outside = roi_align(features, torch.tensor([[0, 40.0, 40.0, 60.0, 60.0]]), 2, 1.0)
    assert torch.count_nonzero(outside) == 0
    empty = roi_align(features, torch.zeros(0, 5), (3, 2), 1.0)
    assert empty.shape == (0, 2, 3, 2)


def test_float16_close_to_float32() -> None:
    torch.manual_seed(4)
    features = torch.randn(2, 3, 7, 9)
    half = roi_align(features.half(), ROIS.half(), 3, 0.5)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), roi_align(features, ROIS, 3, 0.5), rtol=0.0, atol=1e-2)


@pytest.mark.parametrize("sampling_ratio", [2, 0])
def test_gradcheck_wrt_features(sampling_ratio: int) -> None:
    torch.manual_seed(5)
    features = torch.randn(2, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor(
        [[0, 0.7, 1.1, 8.3, 7.9], [1, -2.0, 3.0, 5.0, 12.0], [1, 9.0, 8.0, 13.0, 11.0]], dtype=torch.float64
    )

    def pooled(x: torch.Tensor) -> torch.Tensor:
        return roi_align_plain(x, rois, 2, 0.5, sampling_ratio, True)

    assert torch.autograd.gradcheck(pooled, (features,), eps=1e-6, atol=1e-6)


def test_gradient_reaches_only_sampled_pixels() -> None:
    features = torch.zeros(1, 1, 8, 8, requires_grad=True)
    roi_align(features, torch.tensor([[0, 1.0, 1.0, 3.0, 3.0]]), 2, 1.0).sum().backward()
    touched = features.grad[0, 0] != 0
    assert touched[:4, :4].any()
    assert not touched[4:, :].any() and not touched[:, 4:].any()
    # The pooled value is a mean, so the weights per output bin sum to one.
    torch.testing.assert_close(features.grad.sum(), torch.tensor(4.0))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(6)
    features = torch.randn(2, 3, 7, 9)
    expected = roi_align(features, ROIS, 3, 0.5, 0, True)
    actual = roi_align(features.cuda(), ROIS.cuda(), 3, 0.5, 0, True)
    torch.testing.assert_close(actual.cpu(), expected, rtol=0.0, atol=1e-5)

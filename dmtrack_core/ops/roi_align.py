"""RoIAlign in plain torch, with the semantics of torchvision / mmcv ``roi_align``.

Each output bin averages ``grid_h x grid_w`` bilinear samples placed at the centres of a
regular sub-grid of the bin. A sample with ``y < -1`` or ``y > H`` (same for x) contributes
zero; otherwise its coordinates are clamped into ``[0, H - 1]`` before interpolating. With
``aligned=True`` the box is shifted by half a pixel so that pixel centres sit at integer
coordinates; with ``aligned=False`` boxes are at least one pixel wide and high.

Sampling is separable: per roi we build the sample rows and columns independently, so the
whole op is one gather plus a weighted sum, with autograd providing the backward pass.
When ``torchvision.ops.roi_align`` imports and agrees with this implementation on a small
self-check it is used instead (see ``dmtrack_core.ops.backend_name``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["roi_align", "roi_align_plain", "torchvision_roi_align"]


def _pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _coordinate_dtype(dtype: torch.dtype) -> torch.dtype:
    # Sample positions in half precision would be off by whole pixels on large maps.
    return torch.float64 if dtype == torch.float64 else torch.float32


def _axis_samples(
    start: Tensor, bin_size: Tensor, grid: Tensor, max_grid: int, bins: int, size: int
) -> tuple[Tensor, Tensor]:
    """Bilinear taps of the samples along one axis.

    Returns ``index`` (K, bins, max_grid, 2) long and ``weight`` (K, bins, max_grid, 2): the
    low and high neighbour of every sample and their weights, zero for samples that lie
    outside the map or beyond the roi's own (adaptive) grid size.
    """
    dtype, device = start.dtype, start.device
    bin_index = torch.arange(bins, dtype=dtype, device=device).view(1, bins, 1)
    sample_index = torch.arange(max_grid, dtype=dtype, device=device).view(1, 1, max_grid)
    start, bin_size = start.view(-1, 1, 1), bin_size.view(-1, 1, 1)
    grid = grid.view(-1, 1, 1)
    # Same association order as the reference kernels, to agree to the last bit where possible.
    coord = start + bin_index * bin_size + (sample_index + 0.5) * bin_size / grid.clamp(min=1).to(dtype)
    used = (sample_index < grid) & (coord >= -1.0) & (coord <= size)
    coord = coord.clamp(min=0.0)
    low = coord.floor().clamp(max=size - 1)
    high = (low + 1).clamp(max=size - 1)
    # At the last row/column the sample snaps onto it (no neighbour beyond).
    coord = torch.where(low >= size - 1, low, coord)
    frac = coord - low
    used = used.to(dtype)
    weight = torch.stack(((1.0 - frac) * used, frac * used), dim=-1)
    index = torch.stack((low, high), dim=-1).long()
    return index, weight


def roi_align_plain(
    features: Tensor,
    rois: Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int = 2,
    aligned: bool = True,
) -> Tensor:
    """RoIAlign without torchvision; see ``roi_align`` for the arguments."""
    if features.dim() != 4:
        raise ValueError(f"features must be (B, C, H, W), got shape {tuple(features.shape)}")
    if rois.dim() != 2 or rois.shape[1] != 5:
        raise ValueError(f"rois must be (K, 5), got shape {tuple(rois.shape)}")
    out_h, out_w = _pair(output_size)
    batch, channels, height, width = features.shape
    num_rois = rois.shape[0]
    if num_rois == 0:
        return features.new_zeros((0, channels, out_h, out_w))

    # No gradient w.r.t. the boxes, as in torchvision/mmcv.
    coords = rois.detach().to(device=features.device, dtype=_coordinate_dtype(features.dtype))
    offset = 0.5 if aligned else 0.0
    x1 = coords[:, 1] * spatial_scale - offset
    y1 = coords[:, 2] * spatial_scale - offset
    roi_w = coords[:, 3] * spatial_scale - offset - x1
    roi_h = coords[:, 4] * spatial_scale - offset - y1
    if not aligned:
        roi_w = roi_w.clamp(min=1.0)
        roi_h = roi_h.clamp(min=1.0)
    bin_h, bin_w = roi_h / out_h, roi_w / out_w

    if sampling_ratio > 0:
        grid_h = torch.full((num_rois,), sampling_ratio, dtype=torch.long, device=features.device)
        grid_w = grid_h
        max_grid_h = max_grid_w = sampling_ratio
    else:
        # Adaptive: about one sample per input pixel, different per roi; pad to the largest.
        grid_h = torch.ceil(bin_h).clamp(min=0).long()
        grid_w = torch.ceil(bin_w).clamp(min=0).long()
        max_grid_h = max(int(grid_h.max()), 1)
        max_grid_w = max(int(grid_w.max()), 1)
    count = (grid_h * grid_w).clamp(min=1).to(coords.dtype)

    index_y, weight_y = _axis_samples(y1, bin_h, grid_h, max_grid_h, out_h, height)
    index_x, weight_x = _axis_samples(x1, bin_w, grid_w, max_grid_w, out_w, width)
    # Combine rows and columns into (K, out_h, out_w, grid_h, grid_w, 2, 2) taps.
    flat_index = index_y[:, :, None, :, None, :, None] * width + index_x[:, None, :, None, :, None, :]
    weight = weight_y[:, :, None, :, None, :, None] * weight_x[:, None, :, None, :, None, :]
    flat_index = flat_index.reshape(num_rois, out_h * out_w, -1)
    weight = (weight.reshape(num_rois, out_h * out_w, -1) / count.view(-1, 1, 1)).to(features.dtype)

    batch_index = coords[:, 0].round().long().view(-1, 1, 1)
    flat_features = features.reshape(batch, channels, height * width)
    # Advanced indices on dims 0 and 2 -> (K, bins, taps, C).
    values = flat_features[batch_index, :, flat_index]
    pooled = torch.einsum("kptc,kpt->kcp", values, weight)
    return pooled.reshape(num_rois, channels, out_h, out_w)


def _self_check_inputs(device: str) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    features = torch.rand((2, 3, 9, 11), generator=generator).to(device)
    rois = torch.tensor(
        [
            [0, 1.3, 0.7, 6.2, 7.9],
            [1, -2.0, -1.5, 4.0, 3.0],
            [1, 6.0, 5.0, 14.0, 12.0],
            [0, 3.1, 3.2, 3.4, 3.3],
        ],
        device=device,
    )
    return features, rois


@functools.cache
def torchvision_roi_align(device_type: str) -> Callable[..., Tensor] | None:
    """``torchvision.ops.roi_align`` if it imports and matches the plain version on ``device_type``."""
    try:
        tv_ops = importlib.import_module("torchvision.ops")
        features, rois = _self_check_inputs(device_type)
        for aligned in (True, False):
            for ratio in (2, 0):
                expected = roi_align_plain(features, rois, (3, 4), 0.8, ratio, aligned)
                actual = tv_ops.roi_align(features, rois, (3, 4), 0.8, ratio, aligned)
                if not torch.allclose(actual, expected, rtol=0.0, atol=1e-5):
                    return None
    except Exception:  # any failure (missing, broken build, no kernel) means "plain"
        return None
    return tv_ops.roi_align


def roi_align(
    features: Tensor,
    rois: Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int = 2,
    aligned: bool = True,
) -> Tensor:
    """Pool a fixed-size feature patch per box (RoIAlign, torchvision/mmcv semantics).

    Args:
        features: (B, C, H, W) feature map.
        rois: (K, 5) rows ``(batch_index, x1, y1, x2, y2)`` in input pixels.
        output_size: ``oh`` or ``(oh, ow)`` bins.
        spatial_scale: feature pixels per input pixel (``1 / stride``).
        sampling_ratio: samples per bin along each axis; ``<= 0`` picks ``ceil(roi / bins)``.
        aligned: shift boxes by -0.5 pixel (pixel centres at integers), the modern convention.

    Returns:
        (K, C, oh, ow), differentiable w.r.t. ``features``.
    """
    accelerated = torchvision_roi_align(features.device.type)
    if accelerated is not None:
        rois = rois.to(dtype=features.dtype, device=features.device)
        return accelerated(features, rois, _pair(output_size), spatial_scale, sampling_ratio, aligned)
    return roi_align_plain(features, rois, output_size, spatial_scale, sampling_ratio, aligned)

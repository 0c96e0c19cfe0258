"""FCOS target assignment over the feature-map locations of all pyramid levels.

A location is a candidate for a box when it lies in the box's central region (a square of
``radius * stride`` around the box centre, clipped to the box) and its largest distance to
the box sides is inside its level's regress range. Among several candidate boxes the
smallest one wins. Assignment is done once per image over every annotated instance; the
query-specific labels are derived from it (see ``query_labels``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from dmtrack_core.model.head import level_locations

BACKGROUND = -1
OTHER_INSTANCE = 0  # cls channel 0: an annotated object that is not the query
TARGET = 1  # cls channel 1: the query target


@dataclass
class LocationGrid:
    """Every location of all levels, flattened level by level in row-major order."""

    points: Tensor  # (N, 2) x, y network pixels
    strides: Tensor  # (N,)
    regress_ranges: Tensor  # (N, 2) lower, upper bound on max(l, t, r, b)

    @staticmethod
    def build(
        level_shapes: Sequence[tuple[int, int]],
        strides: Sequence[int],
        regress_ranges: Sequence[tuple[float, float]],
        device: torch.device,
        dtype: torch.dtype = torch.float32,
    ) -> LocationGrid:
        points, point_strides, ranges = [], [], []
        for (height, width), stride, bounds in zip(level_shapes, strides, regress_ranges, strict=True):
            level_points = level_locations(height, width, stride, device, dtype)
            points.append(level_points)
            point_strides.append(torch.full((len(level_points),), float(stride), device=device, dtype=dtype))
            ranges.append(torch.tensor(bounds, device=device, dtype=dtype).expand(len(level_points), 2))
        return LocationGrid(torch.cat(points), torch.cat(point_strides), torch.cat(ranges))


@dataclass
class Assignment:
    instance: Tensor  # (N,) long: index of the assigned box, BACKGROUND (-1) if none
    box_targets: Tensor  # (N, 4) l, t, r, b distances to the assigned box (0 for background)


def assign_locations(
    grid: LocationGrid, boxes_xyxy: Tensor, center_sampling_radius: float = 1.5
) -> Assignment:
    """Assign each location of ``grid`` to at most one of ``boxes_xyxy`` (K, 4).

    Boxes with w <= 0 or h <= 0 (absent) are never assigned. ``center_sampling_radius`` <= 0
    disables centre sampling (any location inside the box is a candidate).
    """
    num_points = grid.points.shape[0]
    if boxes_xyxy.shape[0] == 0:
        return Assignment(
            torch.full((num_points,), BACKGROUND, dtype=torch.long, device=grid.points.device),
            grid.points.new_zeros(num_points, 4),
        )
    boxes = boxes_xyxy.to(grid.points.dtype)
    px, py = grid.points[:, 0:1], grid.points[:, 1:2]  # (N, 1) against (1, K) boxes below
    x1, y1, x2, y2 = (boxes[:, i][None] for i in range(4))
    ltrb = torch.stack([px - x1, py - y1, x2 - px, y2 - py], dim=-1)  # (N, K, 4)

    if center_sampling_radius > 0:
        radius = grid.strides[:, None] * center_sampling_radius
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        region = torch.stack(
            [
                px - torch.maximum(cx - radius, x1),
                py - torch.maximum(cy - radius, y1),
                torch.minimum(cx + radius, x2) - px,
                torch.minimum(cy + radius, y2) - py,
            ],
            dim=-1,
        )
        inside = region.min(dim=-1).values > 0
    else:
        inside = ltrb.min(dim=-1).values > 0

    max_distance = ltrb.max(dim=-1).values
    in_range = (max_distance >= grid.regress_ranges[:, 0:1]) & (max_distance <= grid.regress_ranges[:, 1:2])
    present = ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))[None]
    areas = ((x2 - x1) * (y2 - y1)).expand(num_points, -1)
    areas = torch.where(inside & in_range & present, areas, torch.full_like(areas, float("inf")))
    min_area, instance = areas.min(dim=1)
    instance = torch.where(torch.isinf(min_area), torch.full_like(instance, BACKGROUND), instance)
    box_targets = ltrb[torch.arange(num_points, device=ltrb.device), instance.clamp(min=0)]
    box_targets = box_targets * (instance >= 0)[:, None]
    return Assignment(instance, box_targets)


def query_labels(instance: Tensor, query_index: int) -> Tensor:
    """Per-location label for one query: TARGET, OTHER_INSTANCE or BACKGROUND (long)."""
    labels = torch.where(instance >= 0, OTHER_INSTANCE, BACKGROUND)
    return torch.where(instance == query_index, TARGET, labels)


def centerness_targets(box_targets: Tensor) -> Tensor:
    """FCOS centerness sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)) of (N, 4) positive targets."""
    left_right = box_targets[:, [0, 2]]
    top_bottom = box_targets[:, [1, 3]]
    ratio = (left_right.min(dim=1).values / left_right.max(dim=1).values.clamp(min=1e-6)) * (
        top_bottom.min(dim=1).values / top_bottom.max(dim=1).values.clamp(min=1e-6)
    )
    return ratio.clamp(min=0).sqrt()

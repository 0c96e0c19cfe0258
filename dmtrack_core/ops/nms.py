"""Greedy non-maximum suppression in plain torch (torchvision semantics).

Boxes are ``(x1, y1, x2, y2)`` in continuous coordinates, ``area = (x2 - x1) * (y2 - y1)``;
a kept box suppresses every lower-scored box whose IoU with it is strictly greater than the
threshold. ``batched_nms`` only lets boxes of the same class suppress each other: we mask the
pairwise IoU matrix by class rather than shifting boxes apart, which stays exact for any
coordinate range.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["batched_nms", "box_iou", "nms", "batched_nms_plain", "torchvision_batched_nms"]


def box_iou(boxes_a: Tensor, boxes_b: Tensor) -> Tensor:
    """(N, M) IoU of xyxy boxes; 0/0 (two empty boxes) gives NaN, which never suppresses."""
    area_a = (boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1])
    area_b = (boxes_b[:, 2] - boxes_b[:, 0]) * (boxes_b[:, 3] - boxes_b[:, 1])
    top_left = torch.maximum(boxes_a[:, None, :2], boxes_b[None, :, :2])
    bottom_right = torch.minimum(boxes_a[:, None, 2:], boxes_b[None, :, 2:])
    overlap = (bottom_right - top_left).clamp(min=0)
    inter = overlap[..., 0] * overlap[..., 1]
    return inter / (area_a[:, None] + area_b[None, :] - inter)


def batched_nms_plain(boxes: Tensor, scores: Tensor, classes: Tensor | None, iou_threshold: float) -> Tensor:
    """Class-aware greedy NMS without torchvision; see ``batched_nms``."""
    if boxes.dim() != 2 or boxes.shape[1] != 4 or scores.shape != boxes.shape[:1]:
        raise ValueError(
            f"boxes must be (N, 4) and scores (N,), got {tuple(boxes.shape)}, {tuple(scores.shape)}"
        )
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    # Stable sort: equal scores keep their input order, so results are reproducible.
    order = torch.sort(scores.detach(), descending=True, stable=True).indices
    sorted_boxes = boxes.detach()[order]
    overlaps = box_iou(sorted_boxes, sorted_boxes) > iou_threshold
    if classes is not None:
        sorted_classes = classes.detach()[order]
        overlaps &= sorted_classes[:, None] == sorted_classes[None, :]
    # The greedy pass is inherently sequential; a numpy loop over N is cheap next to the IoU matrix.
    suppresses = overlaps.cpu().numpy()
    removed = np.zeros(len(suppresses), dtype=bool)
    kept: list[int] = []
    for position in range(len(suppresses)):
        if removed[position]:
            continue
        kept.append(position)
        removed |= suppresses[position]
    kept_positions = torch.as_tensor(kept, dtype=torch.long, device=boxes.device)
    return order[kept_positions]


def _self_check_inputs(device: str) -> tuple[Tensor, Tensor, Tensor]:
    generator = torch.Generator().manual_seed(0)
    corners = torch.rand((40, 2), generator=generator) * 20.0
    sizes = torch.rand((40, 2), generator=generator) * 8.0 + 1.0
    boxes = torch.cat((corners, corners + sizes), dim=1)
    scores = torch.randperm(40, generator=generator).float() / 40.0  # distinct: no tie-order ambiguity
    classes = torch.randint(0, 3, (40,), generator=generator)
    return boxes.to(device), scores.to(device), classes.to(device)


@functools.cache
def torchvision_batched_nms(device_type: str) -> Callable[..., Tensor] | None:
    """``torchvision.ops.batched_nms`` if it imports and matches the plain version on ``device_type``."""
    try:
        tv_ops = importlib.import_module("torchvision.ops")
        boxes, scores, classes = _self_check_inputs(device_type)
        for threshold in (0.1, 0.3, 0.5):
            expected = batched_nms_plain(boxes, scores, classes, threshold)
            actual = tv_ops.batched_nms(boxes, scores, classes, threshold)
            if not torch.equal(actual.cpu(), expected.cpu()):
                return None
    except Exception:  # any failure (missing, broken build, no kernel) means "plain"
        return None
    return tv_ops.batched_nms


def batched_nms(boxes: Tensor, scores: Tensor, classes: Tensor | None, iou_threshold: float) -> Tensor:
    """Greedy NMS where only boxes of the same class suppress each other.

    Args:
        boxes: (N, 4) x1, y1, x2, y2.
        scores: (N,).
        classes: (N,) integer labels, or None to treat all boxes as one class.
        iou_threshold: a box is dropped when its IoU with a kept, higher-scored box is > this.

    Returns:
        (M,) long indices into ``boxes`` of the kept boxes, by descending score.
    """
    accelerated = torchvision_batched_nms(boxes.device.type)
    if accelerated is not None and boxes.shape[0] > 0:
        if classes is None:
            classes = torch.zeros(boxes.shape[0], dtype=torch.long, device=boxes.device)
        return accelerated(boxes, scores, classes, iou_threshold)
    return batched_nms_plain(boxes, scores, classes, iou_threshold)


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Class-agnostic greedy NMS; indices of the kept boxes by descending score."""
    return batched_nms(boxes, scores, None, iou_threshold)

"""Boxes: the one format inside the core is x1, y1, x2, y2 ("xyxy", float64, pixels).

x, y, w, h ("xywh") exists only at the API edge (``Tracker.initialize`` takes it,
``TrackResult`` reports it, datasets store it); it is converted here, once, on the way in
and on the way out. Everything takes ``(..., 4)`` arrays.
"""

from __future__ import annotations

import numpy as np


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    out = boxes.copy()
    out[..., 2:] = boxes[..., :2] + boxes[..., 2:]
    return out


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    out = boxes.copy()
    out[..., 2:] = boxes[..., 2:] - boxes[..., :2]
    return out


def clip_xyxy(boxes: np.ndarray, image_wh: tuple[float, float]) -> np.ndarray:
    """Boxes clipped to a ``width x height`` image (a copy)."""
    out = np.asarray(boxes, dtype=np.float64).copy()
    width, height = image_wh
    out[..., 0::2] = out[..., 0::2].clip(0, width)
    out[..., 1::2] = out[..., 1::2].clip(0, height)
    return out


def centres(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 2) box centres x, y."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return (boxes[..., :2] + boxes[..., 2:]) / 2


def sizes(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 2) widths and heights (negative for inverted boxes)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[..., 2:] - boxes[..., :2]


def from_centre_size(centre_xy: np.ndarray, size_wh: np.ndarray) -> np.ndarray:
    """Boxes with the given centres (..., 2) and sizes (..., 2)."""
    centre_xy = np.asarray(centre_xy, dtype=np.float64)
    half = np.asarray(size_wh, dtype=np.float64) / 2
    return np.concatenate([centre_xy - half, centre_xy + half], axis=-1)


def iou_matrix(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> (N, M) intersection over union (0 where the union is empty)."""
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    intersection = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    union = area_a[:, None] + area_b[None, :] - intersection
    return np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0)

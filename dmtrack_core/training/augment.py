"""Geometric and photometric augmentation shared by the pair sources.

All randomness comes from the ``numpy.random.Generator`` passed in, so a pair is a pure
function of its seed.
"""

from __future__ import annotations

import cv2
import numpy as np


def affine_boxes(boxes_xywh: np.ndarray, matrix: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """Map xywh boxes through a 2x3 affine matrix: the axis-aligned hull of the moved corners,
    clipped to the output; absent boxes (w or h <= 0) stay absent."""
    out = np.zeros_like(boxes_xywh, dtype=np.float32)
    for i, (x, y, w, h) in enumerate(boxes_xywh):
        if w <= 0 or h <= 0:
            continue
        corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]], dtype=np.float64)
        moved = corners @ matrix.T
        x1, y1 = np.clip(moved.min(axis=0), 0, out_wh)
        x2, y2 = np.clip(moved.max(axis=0), 0, out_wh)
        if x2 - x1 >= 1 and y2 - y1 >= 1:
            out[i] = (x1, y1, x2 - x1, y2 - y1)
    return out


def random_affine(
    image: np.ndarray,
    boxes_xywh: np.ndarray,
    rng: np.random.Generator,
    scale_range: tuple[float, float] = (0.75, 1.33),
    max_shift: float = 0.15,
    max_rotation_deg: float = 0.0,
    flip: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Zoom, shift, rotate slightly and optionally flip the whole frame, keeping its size."""
    height, width = image.shape[:2]
    scale = float(np.exp(rng.uniform(np.log(scale_range[0]), np.log(scale_range[1]))))
    angle = float(rng.uniform(-max_rotation_deg, max_rotation_deg)) if max_rotation_deg > 0 else 0.0
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale)
    matrix[0, 2] += rng.uniform(-max_shift, max_shift) * width
    matrix[1, 2] += rng.uniform(-max_shift, max_shift) * height
    if flip and rng.random() < 0.5:
        mirror = np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        matrix = mirror[:2] @ np.vstack([matrix, [0.0, 0.0, 1.0]])
    warped = cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return warped, affine_boxes(boxes_xywh, matrix, (width, height))


def photometric(
    image: np.ndarray,
    rng: np.random.Generator,
    brightness: float = 0.25,
    contrast: float = 0.25,
    saturation: float = 0.25,
    blur_probability: float = 0.2,
    noise_sigma: float = 6.0,
) -> np.ndarray:
    """Brightness, contrast and saturation jitter, sometimes a blur, and sensor noise."""
    out = image.astype(np.float32)
    grey = out.mean(axis=2, keepdims=True)
    out = grey + (out - grey) * rng.uniform(1 - saturation, 1 + saturation)
    mean = out.mean()
    out = (out - mean) * rng.uniform(1 - contrast, 1 + contrast) + mean
    out = out * rng.uniform(1 - brightness, 1 + brightness)
    if rng.random() < blur_probability:
        sigma = rng.uniform(0.5, 1.5)
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    if noise_sigma > 0:
        out = out + rng.normal(0.0, rng.uniform(0, noise_sigma), size=out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)

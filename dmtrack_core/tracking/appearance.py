"""Colour descriptors of candidate boxes, and their fusion with the learned ReID embedding.

Look-alikes are often the same kind of object in another colour or shade (two cars of one
model, two players in similar kits). A small learned embedding trained on little data tells
them apart poorly, while a colour histogram of the box interior does so cheaply and needs no
training. The tracker therefore compares candidates with one appearance vector made of both:

    appearance = [sqrt(1 - w) * learned / |learned|,  sqrt(w) * colour]

Both parts have unit length, so the cosine similarity of two such vectors is exactly
``(1 - w) * cos(learned) + w * cos(colour)``, and everything downstream (memory, anchors,
tracklets, thresholds) works on it unchanged. ``w`` is ``TrackerConfig.colour_weight``.

The colour part is a joint hue / saturation / value histogram of the central part of the box
(the border holds background), square-rooted and L2-normalised, so the cosine of two of them
is the Bhattacharyya coefficient of the two colour distributions.
"""

from __future__ import annotations

import cv2
import numpy as np

from dmtrack_core.tracking.matching import normalize_rows

HUE_RANGE = 180  # OpenCV's 8-bit hue runs over 0..179


def colour_histograms(
    image_rgb: np.ndarray, boxes_xyxy: np.ndarray, bins: tuple[int, int, int], box_shrink: float
) -> np.ndarray:
    """(N, 4) boxes in ``image_rgb`` (H, W, 3 uint8) -> (N, prod(bins)) unit-length rows.

    ``box_shrink`` is the side fraction of the box, about its centre, that is described.
    A box with no pixels inside the image gets the uniform histogram (equally unlike all).
    """
    boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    size = int(np.prod(bins))
    out = np.full((len(boxes), size), 1.0 / np.sqrt(size))
    if len(boxes) == 0:
        return out
    height, width = image_rgb.shape[:2]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) * box_shrink / 2
    low = np.floor(centres - half).astype(np.int64)
    high = np.ceil(centres + half).astype(np.int64)
    x1, y1 = np.clip(low[:, 0], 0, width), np.clip(low[:, 1], 0, height)
    x2, y2 = np.clip(high[:, 0], 0, width), np.clip(high[:, 1], 0, height)
    # one colour conversion over the region all boxes need, not one per box
    left, top, right, bottom = int(x1.min()), int(y1.min()), int(x2.max()), int(y2.max())
    if right <= left or bottom <= top:
        return out
    hsv = cv2.cvtColor(np.ascontiguousarray(image_rgb[top:bottom, left:right]), cv2.COLOR_RGB2HSV)
    ranges = [0, HUE_RANGE, 0, 256, 0, 256]
    for i in range(len(boxes)):
        if x2[i] <= x1[i] or y2[i] <= y1[i]:
            continue
        patch = hsv[y1[i] - top : y2[i] - top, x1[i] - left : x2[i] - left]
        hist = cv2.calcHist([patch], [0, 1, 2], None, list(bins), ranges).ravel().astype(np.float64)
        out[i] = np.sqrt(hist / hist.sum())  # sum of squares is 1 already
    return out


def fuse_appearance(learned: np.ndarray, colours: np.ndarray | None, colour_weight: float) -> np.ndarray:
    """(N, D) learned embeddings and (N, C) colour histograms -> (N, D + C) appearance vectors
    whose cosine similarity is the weighted sum of the two parts' (see the module docstring).
    Without colours (or with weight 0) the learned embeddings are returned unchanged."""
    learned = np.asarray(learned, dtype=np.float64)
    if colours is None or colour_weight <= 0.0:
        return learned
    learned = normalize_rows(learned)
    colours = normalize_rows(np.asarray(colours, dtype=np.float64))
    if learned.ndim != 2 or colours.ndim != 2 or len(learned) != len(colours):
        raise ValueError(
            f"need (N, D) embeddings and (N, C) colours, got {learned.shape} and {colours.shape}"
        )
    return np.concatenate([np.sqrt(1.0 - colour_weight) * learned, np.sqrt(colour_weight) * colours], axis=1)

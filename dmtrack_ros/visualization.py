"""The tracking overlay drawn on ~/debug_image and on the demo's annotated video.

A pure function of its inputs (no ROS, no state), so the node and the offline demo draw
exactly the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

# RGB colours; the state decides the target's colour so it reads at a glance
STATE_COLOURS = {
    "TRACKING": (40, 220, 60),
    "UNCERTAIN": (255, 210, 30),
    "LOST": (230, 40, 40),
    "UNINITIALIZED": (180, 180, 180),
    "ERROR": (230, 40, 230),
}
DISTRACTOR_COLOUR = (255, 120, 30)
TEXT_COLOUR = (255, 255, 255)
FONT = cv2.FONT_HERSHEY_SIMPLEX

BoxXYWH = Sequence[float]


def _scaled_box(box: BoxXYWH, scale: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """Integer corners of a box after scaling, clipped to the image; None if not drawable."""
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.size != 4 or not np.all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
        return None
    x1, y1 = values[0] * scale, values[1] * scale
    x2, y2 = (values[0] + values[2]) * scale, (values[1] + values[3]) * scale
    x1, x2 = int(round(np.clip(x1, 0, width - 1))), int(round(np.clip(x2, 0, width - 1)))
    y1, y2 = int(round(np.clip(y1, 0, height - 1))), int(round(np.clip(y2, 0, height - 1)))
    if x2 < x1 or y2 < y1:
        return None
    return x1, y1, x2, y2


def _label(
    image: np.ndarray,
    text: str,
    origin: tuple[int, int],
    colour: tuple[int, int, int],
    font_scale: float,
    thickness: int,
) -> None:
    """Text on a filled background so it stays readable on any image."""
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, font_scale, thickness)
    x = int(np.clip(origin[0], 0, max(0, image.shape[1] - text_w - 2)))
    y = int(np.clip(origin[1], text_h + 2, image.shape[0] - 1))
    cv2.rectangle(image, (x, y - text_h - 2), (x + text_w + 2, y + baseline - 1), colour, cv2.FILLED)
    cv2.putText(image, text, (x + 1, y - 1), FONT, font_scale, (0, 0, 0), thickness, cv2.LINE_8)


def draw_tracking_overlay(
    image_rgb: np.ndarray,
    target_box_xywh: BoxXYWH | None,
    state: str,
    target_id: str,
    distractors: Sequence[tuple[int, BoxXYWH, float]],
    fps: float | None,
    scale: float = 1.0,
) -> np.ndarray:
    """A new RGB uint8 image, resized by ``scale``, with the target box (coloured by state),
    the distractors with their ids and scores, the state, the target id and the FPS.

    ``target_box_xywh`` None draws no target box (e.g. LOST or not initialised); boxes are in
    the pixels of ``image_rgb``. The input is never modified.
    """
    if image_rgb.ndim != 3 or image_rgb.shape[2] != 3 or image_rgb.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 (H, W, 3) image, got {image_rgb.dtype} {image_rgb.shape}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    height, width = image_rgb.shape[:2]
    out_w, out_h = max(1, int(round(width * scale))), max(1, int(round(height * scale)))
    if (out_w, out_h) == (width, height):
        canvas = image_rgb.copy()
    else:
        interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        canvas = cv2.resize(image_rgb, (out_w, out_h), interpolation=interpolation)
    # line and text sizes follow the output size so small debug images stay legible
    thickness = max(1, int(round(min(out_w, out_h) / 240)))
    font_scale = max(0.35, min(out_w, out_h) / 600)

    for track_id, box, score in distractors:
        corners = _scaled_box(box, scale, out_w, out_h)
        if corners is None:
            continue
        cv2.rectangle(canvas, corners[:2], corners[2:], DISTRACTOR_COLOUR, thickness, cv2.LINE_8)
        _label(
            canvas,
            f"#{track_id} {score:.2f}",
            (corners[0], corners[1] - 2),
            DISTRACTOR_COLOUR,
            font_scale * 0.8,
            1,
        )

    colour = STATE_COLOURS.get(state.upper(), STATE_COLOURS["UNINITIALIZED"])
    if target_box_xywh is not None:
        corners = _scaled_box(target_box_xywh, scale, out_w, out_h)
        if corners is not None:
            cv2.rectangle(canvas, corners[:2], corners[2:], colour, thickness + 1, cv2.LINE_8)
            if target_id:
                _label(canvas, target_id, (corners[0], corners[1] - 2), colour, font_scale * 0.8, 1)

    header = state.upper() + (f"  {target_id}" if target_id else "")
    if fps is not None and np.isfinite(fps):
        header += f"  {fps:.1f} FPS"
    _label(canvas, header, (2, 2), colour, font_scale, 1)
    return canvas

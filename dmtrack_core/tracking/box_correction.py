"""The user's box convention, learned from the initial frame and applied to the network's boxes.

The network regresses the extent it learned an object has (a whole person with the guitar
they hold, a cyclist with his bike); the box a user draws may leave such parts out. On the
initial frame both are known: the user's box, and the network's box of the same object (its
best-scored candidate that overlaps the user's box by at least ``min_iou``). How the one sits
on the other (the centre offset in network-box sizes, the ratio of sizes) is kept and applied
to every later network box, so that the tracker reports boxes the way the user drew them.
Without such a candidate the correction is the identity.

The correction is relative to each box's size, so it holds in image and network pixels alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmtrack_core.boxes import centres, from_centre_size, iou_matrix, sizes


@dataclass(frozen=True)
class BoxCorrection:
    """``corrected centre = centre + shift * size``, ``corrected size = size * scale`` (x, y)."""

    shift: np.ndarray  # (2,) centre offset in units of the network box's width and height
    scale: np.ndarray  # (2,) the user's box size over the network box's size

    @classmethod
    def identity(cls) -> BoxCorrection:
        return cls(np.zeros(2), np.ones(2))

    @property
    def is_identity(self) -> bool:
        return bool(np.all(self.shift == 0.0) and np.all(self.scale == 1.0))

    @classmethod
    def learn(
        cls,
        network_xyxy: np.ndarray,
        scores: np.ndarray,
        user_xyxy: np.ndarray,
        min_iou: float,
    ) -> BoxCorrection:
        """From the initial frame's network candidates (x1, y1, x2, y2) and scores, and the
        user's box: the best-scored candidate with IoU >= ``min_iou`` with the user's box."""
        boxes = np.asarray(network_xyxy, dtype=np.float64).reshape(-1, 4)
        user = np.asarray(user_xyxy, dtype=np.float64).reshape(1, 4)
        if len(boxes) == 0:
            return cls.identity()
        overlap = iou_matrix(boxes, user)[:, 0]
        usable = np.flatnonzero((overlap >= min_iou) & np.all(sizes(boxes) >= 1.0, axis=1))
        if len(usable) == 0:
            return cls.identity()
        best = usable[int(np.argmax(np.asarray(scores, dtype=np.float64)[usable]))]
        network_size = sizes(boxes[best : best + 1])[0]
        shift = (centres(user)[0] - centres(boxes[best : best + 1])[0]) / network_size
        return cls(shift, sizes(user)[0] / network_size)

    def apply(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """The boxes (N, 4: x1, y1, x2, y2) the way the user draws them."""
        boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        if self.is_identity or len(boxes) == 0:
            return boxes.copy()
        size = sizes(boxes)
        return from_centre_size(centres(boxes) + self.shift * size, size * self.scale)

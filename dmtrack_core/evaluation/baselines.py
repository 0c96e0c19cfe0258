"""OpenCV's classical trackers (CSRT, KCF, MIL) behind the ``SequenceTracker`` protocol.

They are the trackers a user would reach for instead, so the benchmark runs them through the
same runner and metrics. OpenCV reports only success or failure per frame: presence is 1.0 on
success and 0.0 on failure, and on failure the last good box is repeated (a tracker must
always give a best guess).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

BASELINES = ("csrt", "kcf", "mil")


def _factory(kind: str) -> Callable[[], object]:
    """The tracker constructor for ``kind``: OpenCV >= 4.5.1 has ``cv2.TrackerX.create`` in the
    main module (5.0 included); older contrib builds only have ``cv2.legacy``."""
    class_name = {"csrt": "TrackerCSRT", "kcf": "TrackerKCF", "mil": "TrackerMIL"}[kind]
    tracker_class = getattr(cv2, class_name, None)
    if tracker_class is not None and hasattr(tracker_class, "create"):
        return tracker_class.create
    legacy = getattr(cv2, "legacy", None)
    if legacy is not None and hasattr(legacy, f"{class_name}_create"):
        return getattr(legacy, f"{class_name}_create")
    raise RuntimeError(f"this OpenCV build ({cv2.__version__}) has no {class_name}; install opencv-contrib")


class OpenCVTracker:
    """One of OpenCV's CSRT / KCF / MIL trackers; frames come in RGB as everywhere in the core."""

    def __init__(self, kind: str) -> None:
        kind = kind.lower()
        if kind not in BASELINES:
            raise ValueError(f"unknown OpenCV tracker {kind!r}; known: {BASELINES}")
        self.kind = kind
        self.name = kind.upper()
        self._create = _factory(kind)
        self._tracker: object | None = None
        self._last_box = np.zeros(4, dtype=np.float64)

    def initialize(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        box = np.asarray(box_xywh, dtype=np.float64).reshape(4)
        height, width = image.shape[:2]
        # OpenCV wants an integer rectangle inside the image
        x = int(np.clip(round(box[0]), 0, width - 1))
        y = int(np.clip(round(box[1]), 0, height - 1))
        w = int(np.clip(round(box[2]), 1, width - x))
        h = int(np.clip(round(box[3]), 1, height - y))
        self._tracker = self._create()
        self._tracker.init(cv2.cvtColor(image, cv2.COLOR_RGB2BGR), (x, y, w, h))
        self._last_box = box.copy()

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        if self._tracker is None:
            raise RuntimeError(f"{self.name}: track() before initialize()")
        ok, rect = self._tracker.update(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        box = np.asarray(rect, dtype=np.float64).reshape(4)
        if ok and box[2] > 0 and box[3] > 0 and np.isfinite(box).all():
            self._last_box = box
            return box.copy(), 1.0
        return self._last_box.copy(), 0.0


def make_baseline(kind: str) -> OpenCVTracker:
    return OpenCVTracker(kind)

"""The hand-over between the node's callbacks and its one worker thread.

Callbacks must never block, and a slow tracker must never fall behind the camera, so:

* the image callback puts each frame into a one-slot "latest frame" buffer; a frame the
  worker had not taken yet is overwritten and counted as dropped;
* every frame also goes into a small ring of recent frames, so an init request can be
  applied to the exact frame it names by stamp (the box was drawn on that frame);
* init/reset requests go into a short queue that the worker serves before the next frame.

One condition variable wakes the worker for either. No ROS types: frames are opaque.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BufferedFrame:
    message: Any  # the ROS image message, converted only when the worker needs it
    stamp_ns: int  # header stamp
    received_ns: int  # node clock when the callback ran


@dataclass
class InitRequest:
    """Set, re-set or clear the target. ``stamp_ns`` 0 = the newest frame."""

    kind: str  # "box", "point" or "reset"
    source: str  # where it came from, for log lines ("init_target", "~/set_target", ...)
    stamp_ns: int = 0
    box_xywh: tuple[float, float, float, float] | None = None
    point_xy: tuple[float, float] | None = None
    target_id: str = ""


@dataclass
class FrameBufferCounters:
    received: int = 0
    overwritten: int = 0  # replaced in the slot before the worker took them


@dataclass
class FrameBuffer:
    history: int
    max_requests: int = 16
    counters: FrameBufferCounters = field(default_factory=FrameBufferCounters)

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ValueError("history must be >= 1")
        self._condition = threading.Condition()
        self._latest: BufferedFrame | None = None
        self._ring: deque[BufferedFrame] = deque(maxlen=self.history)
        # a full queue drops the OLDEST request: the operator's latest intent wins
        self._requests: deque[InitRequest] = deque(maxlen=self.max_requests)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    # --- producers (callbacks): O(1), never wait --------------------------------------------
    def put_frame(self, frame: BufferedFrame) -> bool:
        """Store ``frame`` as the latest; True if an untaken frame was overwritten."""
        with self._condition:
            overwritten = self._latest is not None
            self._latest = frame
            self._ring.append(frame)
            self.counters.received += 1
            if overwritten:
                self.counters.overwritten += 1
            self._condition.notify()
            return overwritten

    def put_request(self, request: InitRequest) -> None:
        with self._condition:
            self._requests.append(request)
            self._condition.notify()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    # --- lookups ------------------------------------------------------------------------
    def newest(self) -> BufferedFrame | None:
        with self._condition:
            return self._ring[-1] if self._ring else None

    def find(self, stamp_ns: int) -> tuple[BufferedFrame | None, bool]:
        """The buffered frame with this stamp, and whether it was found exactly.

        Stamp 0 or a frame no longer buffered gives the newest frame (exact=False for the
        latter, so the caller can warn); no frame at all gives (None, False)."""
        with self._condition:
            if not self._ring:
                return None, False
            if stamp_ns == 0:
                return self._ring[-1], True
            for frame in reversed(self._ring):
                if frame.stamp_ns == stamp_ns:
                    return frame, True
            return self._ring[-1], False

    def oldest_stamp_ns(self) -> int | None:
        with self._condition:
            return self._ring[0].stamp_ns if self._ring else None

    # --- consumer (the worker) ----------------------------------------------------------
    def wait(self, timeout: float | None = None) -> InitRequest | BufferedFrame | None:
        """Block until there is work: a request (served first) or the latest frame.
        Returns None on timeout or after ``close``."""
        with self._condition:
            self._condition.wait_for(
                lambda: self._closed or self._requests or self._latest is not None, timeout=timeout
            )
            if self._closed:
                return None
            if self._requests:
                return self._requests.popleft()
            frame, self._latest = self._latest, None
            return frame

"""The frames between the node's image callback and the tracking worker.

Callbacks must never block, and a slow tracker must never fall behind the camera, so:

* each frame goes into a one-slot "latest frame" buffer; a frame the worker had not taken
  yet is overwritten and counted as dropped;
* every frame also goes into a ring of recent frames, so an init request can be applied to
  the exact frame it names by stamp (the box was drawn on that frame). The ring is bounded
  by a frame count AND a byte budget: a 4K stream keeps fewer frames, never more memory.

No ROS types: frames are opaque messages with a stamp and a size.
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)  # frames are compared by identity: two messages may share a stamp
class BufferedFrame:
    message: Any  # the image message, converted only when the worker needs it
    stamp_ns: int  # header stamp
    received_ns: int  # node clock when the callback ran
    nbytes: int = 0  # payload size, counted against the ring's byte budget


class Lookup(enum.Enum):
    """Where a stamp stands against the buffered frames."""

    FOUND = "found"
    NOT_YET = "not yet received"  # newer than every buffered frame, or nothing buffered yet
    GONE = "no longer buffered"  # older than the newest frame but not in the ring


@dataclass
class FrameBufferCounters:
    received: int = 0
    overwritten: int = 0  # replaced in the slot before the worker took them


@dataclass
class FrameBuffer:
    history: int
    history_bytes: int
    counters: FrameBufferCounters = field(default_factory=FrameBufferCounters)

    def __post_init__(self) -> None:
        if self.history < 1:
            raise ValueError("history must be >= 1")
        if self.history_bytes < 1:
            raise ValueError("history_bytes must be >= 1")
        self._lock = threading.Lock()
        self._latest: BufferedFrame | None = None
        self._ring: deque[BufferedFrame] = deque()
        self._ring_bytes = 0

    # --- producer (the image callback): O(1) amortised, never waits --------------------------
    def put_frame(self, frame: BufferedFrame) -> bool:
        """Store ``frame`` as the latest; True if an untaken frame was overwritten."""
        with self._lock:
            overwritten = self._latest is not None
            self._latest = frame
            self._ring.append(frame)
            self._ring_bytes += frame.nbytes
            # the newest frame always stays, whatever its size
            while len(self._ring) > 1 and (
                len(self._ring) > self.history or self._ring_bytes > self.history_bytes
            ):
                self._ring_bytes -= self._ring.popleft().nbytes
            self.counters.received += 1
            if overwritten:
                self.counters.overwritten += 1
            return overwritten

    def clear_latest(self) -> None:
        """Forget the untaken frame (pausing: it would be stale on resume)."""
        with self._lock:
            self._latest = None

    # --- consumer (the worker) ----------------------------------------------------------
    def has_latest(self) -> bool:
        with self._lock:
            return self._latest is not None

    def take_latest(self) -> BufferedFrame | None:
        with self._lock:
            frame, self._latest = self._latest, None
            return frame

    # --- lookups ------------------------------------------------------------------------
    def newest(self) -> BufferedFrame | None:
        with self._lock:
            return self._ring[-1] if self._ring else None

    def find(self, stamp_ns: int) -> tuple[BufferedFrame | None, Lookup]:
        """The buffered frame with this stamp (0 = the newest frame) and where it stands."""
        with self._lock:
            if not self._ring:
                return None, Lookup.NOT_YET
            if stamp_ns == 0:
                return self._ring[-1], Lookup.FOUND
            for frame in reversed(self._ring):
                if frame.stamp_ns == stamp_ns:
                    return frame, Lookup.FOUND
            if stamp_ns > self._ring[-1].stamp_ns:
                return None, Lookup.NOT_YET
            return None, Lookup.GONE

    def oldest_stamp_ns(self) -> int | None:
        with self._lock:
            return self._ring[0].stamp_ns if self._ring else None

    def ring_usage(self) -> tuple[int, int]:
        """Frames and bytes held by the ring."""
        with self._lock:
            return len(self._ring), self._ring_bytes

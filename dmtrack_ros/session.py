"""A tracking session: frames and init requests in, one typed outcome per frame out. No ROS.

The node hands every image message and request to a :class:`TrackingSession` and renders
what :meth:`TrackingSession.step` returns; everything between (which frame to work on, when
an init request can be applied, what counts as stale, how errors are throttled, the
counters) lives here and is tested in-process with the real tracker.

Decisions:

* Only the newest frame is tracked; frames that arrive while the tracker is busy replace the
  waiting one and are counted as dropped, so latency stays bounded however fast images come.
* An init request names its frame by stamp (0 = the newest frame). A frame still in the ring
  is used. A frame that has not arrived yet is waited for, at most ``init_wait_s`` (the
  request travels on another topic than the images and may overtake its frame). A frame that
  is no longer buffered fails the request, unless ``init_fallback_newest``: then the newest
  frame is used and the outcome says so. Requests are served in order.
* Bad input never stops tracking: a frame that cannot be decoded or a refused request gives
  a :class:`Rejected` outcome (ERROR status) and the tracker state is untouched.
* A change of image size with the same aspect ratio rescales the target: the tracker is
  re-initialised on the previous frame resized to the new size, with the last box scaled to
  it (where that box is right), and then tracks the new frame; the target id stays. Any
  other size change (or a target that is LOST) clears the target, which must be set again:
  the tracker's motion and search state are in the pixels of the old size.
* Repeated log lines (a camera with a wrong encoding, a size flipping every frame) are
  throttled per kind; the counters still count every event.
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np

from dmtrack_ros.frame_buffer import BufferedFrame, FrameBuffer, Lookup

TRACKED_STATES = ("TRACKING", "UNCERTAIN")  # ~/target is published in these states
ASPECT_TOLERANCE = 0.01  # relative aspect-ratio change still treated as a rescale
RATE_SMOOTHING = 0.2  # weight of the newest frame in the smoothed processing rate


class InputError(ValueError):
    """A frame that cannot be turned into an RGB image (the message says why)."""


class SessionLog(Protocol):
    """What the session logs through (rclpy's node logger and logging.Logger both fit)."""

    def info(self, message: str) -> Any: ...
    def warning(self, message: str) -> Any: ...
    def error(self, message: str) -> Any: ...


# --------------------------------------------------------------------------------------------
# requests
# --------------------------------------------------------------------------------------------


def is_reset_box(box_xywh: Sequence[float]) -> bool:
    """A 0 x 0 box means 'stop tracking' (documented on init_target and ~/set_target)."""
    return float(box_xywh[2]) == 0.0 and float(box_xywh[3]) == 0.0


def check_init_box(box_xywh: Sequence[float], image_wh: tuple[int, int] | None) -> str | None:
    """Why ``box_xywh`` cannot start tracking (None when it can). ``image_wh`` None = unknown."""
    values = [float(v) for v in box_xywh]
    if not all(math.isfinite(v) for v in values):
        return f"box {values} is not finite"
    x, y, w, h = values
    if w <= 0 or h <= 0:
        return f"box {values} has no area"
    if image_wh is not None:
        width, height = image_wh
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            return f"box {values} lies outside the {width}x{height} image"
    return None


def check_point(point_xy: tuple[float, float], image_wh: tuple[int, int] | None) -> str | None:
    x, y = point_xy
    if not (math.isfinite(x) and math.isfinite(y)):
        return f"point ({x}, {y}) is not finite"
    if image_wh is not None and not (0 <= x < image_wh[0] and 0 <= y < image_wh[1]):
        return f"point ({x}, {y}) lies outside the {image_wh[0]}x{image_wh[1]} image"
    return None


@dataclass
class InitRequest:
    """Set, re-set or clear the target. ``stamp_ns`` 0 = the newest frame."""

    kind: str  # "box", "point" or "reset"
    source: str  # where it came from, for log lines ("init_target", "~/set_target", ...)
    stamp_ns: int = 0
    box_xywh: tuple[float, float, float, float] | None = None
    point_xy: tuple[float, float] | None = None
    target_id: str = ""
    origin: Any = None  # the request's header (opaque), for an ERROR status without a frame


class RequestTicket:
    """The answer to one request, filled in by the worker (a service waits on it)."""

    def __init__(self, request: InitRequest, deadline: float) -> None:
        self.request = request
        self.deadline = deadline  # monotonic time until which its frame is waited for
        self.success = False
        self.message = ""
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._state = "pending"  # pending -> running -> done, or pending -> cancelled

    def wait(self, timeout: float | None) -> bool:
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> bool:
        """Withdraw a request not started yet (a service that gave up); False if too late."""
        with self._lock:
            if self._state != "pending":
                return False
            self._state = "cancelled"
            return True

    def settled(self) -> bool:
        """Started, answered or withdrawn: no longer waiting in the queue."""
        with self._lock:
            return self._state != "pending"

    def _claim(self) -> bool:
        with self._lock:
            if self._state != "pending":
                return False
            self._state = "running"
            return True

    def _finish(self, success: bool, message: str) -> None:
        self.success, self.message = success, message
        with self._lock:
            self._state = "done"
        self._done.set()


# --------------------------------------------------------------------------------------------
# outcomes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """The session's counters at the moment an outcome was made."""

    received: int = 0
    processed: int = 0
    dropped: int = 0  # overwritten while the tracker was busy, or older than max_image_age
    lost: int = 0  # lost in transport before the node saw them (middleware events)
    frames_since_seen: int = 0


@dataclass(frozen=True)
class Processed:
    """A frame went through the tracker (``result`` None: no target is set)."""

    frame: BufferedFrame
    image: np.ndarray
    result: Any  # dmtrack_core TrackResult | None
    processing_ms: float
    latency_ms: float
    counters: Counters
    message: str = ""  # e.g. "initialised by init_target"
    fps: float | None = None

    @property
    def state(self) -> str:
        return self.result.state.name if self.result is not None else "UNINITIALIZED"

    @property
    def tracked(self) -> bool:
        return self.state in TRACKED_STATES


@dataclass(frozen=True)
class Rejected:
    """A frame or request that could not be used; the tracker state is unchanged."""

    reason: str
    frame: BufferedFrame | None  # the frame it concerns, if there is one
    origin: Any  # the request's header, when it came from a request
    counters: Counters


Outcome = Processed | Rejected


@dataclass(frozen=True)
class SessionConfig:
    """What the session needs from the node's parameters (no defaults here: NodeParams has them)."""

    frame_history: int
    history_bytes: int
    max_image_age_s: float  # 0 = no limit
    init_wait_s: float
    init_fallback_newest: bool
    error_log_interval_s: float


@dataclass
class PeriodReport:
    """What happened since the previous report (for /diagnostics)."""

    period_s: float
    processed: int
    dropped_stale: int
    lost: int
    latencies_ms: list[float]
    totals: dict[str, int]
    last_state: str
    last_error: str
    paused: bool


class LogThrottle:
    """Logs a line of a given kind at once, then again only after ``interval_s`` (or when its
    text changes and it is an error, so each new kind of error shows up)."""

    def __init__(self, log: SessionLog, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self._log, self._interval_s, self._clock = log, interval_s, clock
        self._last: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, level: str, kind: str, message: str, new_text_resets: bool = False) -> bool:
        now = self._clock()
        with self._lock:
            previous = self._last.get(kind)
            due = (
                previous is None
                or now - previous[0] >= self._interval_s
                or (new_text_resets and previous[1] != message)
            )
            if not due:
                return False
            self._last[kind] = (now, message)
        # one call site per severity: rclpy's logger refuses two severities from one line
        if level == "error":
            self._log.error(message)
        elif level == "warning":
            self._log.warning(message)
        else:
            self._log.info(message)
        return True


@dataclass
class _Stats:
    processed: int = 0
    dropped_stale: int = 0
    errors: int = 0
    lost: int = 0
    last_state: str = "UNINITIALIZED"
    last_error: str = ""
    fps: float | None = None
    last_frame_time: float | None = None
    # since the last period report
    period_start: float = field(default_factory=time.monotonic)
    period_processed: int = 0
    period_stale: int = 0
    period_lost: int = 0
    period_latencies_ms: list[float] = field(default_factory=list)


class TrackingSession:
    """Drives one tracker from a stream of frames and init requests.

    ``decode(message)`` turns a frame's message into RGB uint8 (H, W, 3) or raises
    :class:`InputError`; ``now_ns()`` is the clock image stamps are compared with (the node's,
    so simulated time works). Producers (``put_frame``, ``submit``, ``count_lost``) may be
    called from any thread and never wait; ``step`` is called by one worker thread."""

    def __init__(
        self,
        tracker: Any,
        config: SessionConfig,
        decode: Callable[[Any], np.ndarray],
        now_ns: Callable[[], int],
        log: SessionLog,
    ) -> None:
        self.tracker = tracker
        self.config = config
        self._decode = decode
        self._now_ns = now_ns
        self._log = log
        self.throttled = LogThrottle(log, config.error_log_interval_s)
        self.buffer = FrameBuffer(config.frame_history, config.history_bytes)
        self._condition = threading.Condition()
        self._requests: deque[RequestTicket] = deque()
        self._closed = False
        self._paused = False
        self._stats = _Stats()
        self._stats_lock = threading.Lock()
        self._frames_since_seen = 0
        self._last_stamp_ns: int | None = None
        self._image_wh: tuple[int, int] | None = None
        self._last_result: Any = None
        self._last_image: np.ndarray | None = None  # the frame of ``_last_result``
        self._last_used: BufferedFrame | None = None  # an init already produced this frame's outputs
        self._generated_ids = 0

    # --- producers ---------------------------------------------------------------------------
    def put_frame(self, frame: BufferedFrame) -> None:
        if self._paused:
            return
        self.buffer.put_frame(frame)
        with self._condition:
            self._condition.notify_all()

    def submit(self, request: InitRequest) -> RequestTicket:
        """Queue a request; the worker applies it (or refuses it) and fills in the ticket."""
        ticket = RequestTicket(request, time.monotonic() + self.config.init_wait_s)
        with self._condition:
            self._requests.append(ticket)
            self._condition.notify_all()
        return ticket

    def count_lost(self, count: int, advice: str) -> None:
        """``count`` frames were lost in transport (the middleware's message-lost event)."""
        if count <= 0:
            return
        with self._stats_lock:
            self._stats.lost += count
            self._stats.period_lost += count
            total = self._stats.lost
        self.throttled(
            "warning", "transport_loss", f"{total} image messages lost in transport so far; {advice}"
        )

    def set_paused(self, paused: bool) -> None:
        """While paused no frame is taken in; the target and its memory are kept."""
        self._paused = paused
        if paused:
            self.buffer.clear_latest()

    @property
    def paused(self) -> bool:
        return self._paused

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()
            waiting = list(self._requests)
        for ticket in waiting:
            if ticket._claim():
                ticket._finish(False, "the node is shutting down")

    @property
    def closed(self) -> bool:
        return self._closed

    # --- the worker ----------------------------------------------------------------------------
    def step(self, timeout: float = 0.5) -> list[Outcome]:
        """Wait up to ``timeout`` s for work, then serve the requests that can be served and
        the latest frame. Returns the outcomes in the order their outputs should go out."""
        with self._condition:
            self._condition.wait_for(lambda: self._closed or self._has_work(), timeout=self._wait_s(timeout))
            if self._closed:
                return []
        outcomes: list[Outcome] = []
        while (ticket := self._next_ready_request()) is not None:
            outcome = self._guarded(lambda t=ticket: self._apply(t), None)
            if outcome is not None:
                outcomes.append(outcome)
            if not ticket.done:
                ticket._finish(False, outcome.reason if isinstance(outcome, Rejected) else "failed")
        frame = self.buffer.take_latest()
        if frame is not None and frame is not self._last_used:
            outcome = self._guarded(lambda: self._process(frame), frame)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _has_work(self) -> bool:
        if self.buffer.has_latest():
            return True
        return bool(self._requests) and self._decidable(self._requests[0])

    def _decidable(self, ticket: RequestTicket) -> bool:
        """A request can be decided once its frame is here or gone, its wait is over, or it is
        invalid whatever the frame."""
        return (
            ticket.settled()
            or self._request_frame(ticket.request)[1] != Lookup.NOT_YET
            or time.monotonic() >= ticket.deadline
            or self._invalid_without_frame(ticket.request) is not None
        )

    def _wait_s(self, timeout: float) -> float:
        if self._requests:
            return max(0.0, min(timeout, self._requests[0].deadline - time.monotonic()))
        return timeout

    def _request_frame(self, request: InitRequest) -> tuple[BufferedFrame | None, Lookup]:
        if request.kind == "reset":
            return None, Lookup.FOUND
        return self.buffer.find(request.stamp_ns)

    def _next_ready_request(self) -> RequestTicket | None:
        """The head request if it can be decided now (its frame is here, gone, or waited for
        long enough); requests behind a waiting one wait too, so they apply in order."""
        with self._condition:
            while self._requests:
                head = self._requests[0]
                if not self._decidable(head):
                    return None
                self._requests.popleft()
                if head._claim():
                    return head
            return None

    def _guarded(self, work: Callable[[], Outcome | None], frame: BufferedFrame | None) -> Outcome | None:
        """Run ``work``; an unexpected exception becomes a Rejected outcome, never a dead worker."""
        try:
            return work()
        except Exception as exc:  # noqa: BLE001 - one bad frame must not end the worker
            reason = f"internal error, frame skipped: {type(exc).__name__}: {exc}"
            if self.throttled("error", "internal:" + type(exc).__name__, reason, new_text_resets=True):
                self._log.error(traceback.format_exc(limit=8))
            return self._rejected(reason, frame, None, log=False)

    # --- frames --------------------------------------------------------------------------------
    def _process(self, frame: BufferedFrame) -> Outcome | None:
        max_age = self.config.max_image_age_s
        age_s = (self._now_ns() - frame.stamp_ns) / 1e9
        if max_age > 0 and age_s > max_age:
            with self._stats_lock:
                self._stats.dropped_stale += 1
                self._stats.period_stale += 1
            self.throttled(
                "warning",
                "stale",
                f"dropping a frame {age_s:.3f} s old (max_image_age {max_age} s); "
                "check the clocks, or use_sim_time when playing a bag",
            )
            return None
        if self._last_stamp_ns is not None and frame.stamp_ns < self._last_stamp_ns:
            self.throttled(
                "warning",
                "backwards",
                f"image stamp went backwards by {(self._last_stamp_ns - frame.stamp_ns) / 1e9:.3f} s "
                "(bag loop or clock reset?); processing the frame anyway",
            )
        self._last_stamp_ns = frame.stamp_ns
        image = self._decode_frame(frame)
        if isinstance(image, Rejected):
            return image
        size_change = self._follow_size(image)
        if size_change is not None:
            return size_change(frame, image)

        from dmtrack_core.tracking.errors import TrackerError

        result = None
        started = time.perf_counter()
        if self.tracker.initialized:
            try:
                result = self.tracker.track(image)
            except TrackerError as exc:
                return self._rejected(f"tracker rejected the frame: {exc}", frame, None)
        return self._processed(frame, image, result, started, "")

    def _decode_frame(self, frame: BufferedFrame) -> np.ndarray | Rejected:
        try:
            return self._decode(frame.message)
        except InputError as exc:
            return self._rejected(f"bad image: {exc}", frame, None)

    def _follow_size(self, image: np.ndarray):
        """None when the size is unchanged; else a function making the size-change outcome."""
        image_wh = (image.shape[1], image.shape[0])
        old_wh, self._image_wh = self._image_wh, image_wh
        if old_wh is None or old_wh == image_wh:
            return None
        change = f"image size changed from {old_wh[0]}x{old_wh[1]} to {image_wh[0]}x{image_wh[1]}"
        if not self.tracker.initialized:
            self.throttled("warning", "size", change)
            return None
        last = self._last_result
        same_aspect = abs((image_wh[0] / image_wh[1]) / (old_wh[0] / old_wh[1]) - 1.0) <= ASPECT_TOLERANCE
        if last is not None and last.state.name in TRACKED_STATES and same_aspect:
            scale = image_wh[0] / old_wh[0]
            box = np.asarray(last.box, dtype=np.float64) * scale

            previous = self._last_image  # set with every result, so never None here
            assert previous is not None

            def rescaled(frame: BufferedFrame, image: np.ndarray) -> Outcome:
                started = time.perf_counter()
                message = f"{change}; target rescaled by {scale:.3g}"
                self.throttled("warning", "size", message)
                # the box belongs to the previous frame: learn the target there (resized to the
                # new size), then find it in this one like in any other frame
                resized = cv2.resize(previous, image_wh, interpolation=cv2.INTER_LINEAR)
                self.tracker.initialize(resized, box, target_id=last.target_id)
                result = self.tracker.track(image)
                return self._processed(frame, image, result, started, message)

            return rescaled

        def cleared(frame: BufferedFrame, image: np.ndarray) -> Outcome:
            self.tracker.reset()
            self._frames_since_seen = 0
            why = "the aspect ratio changed" if not same_aspect else "the target was lost"
            message = f"{change}; {why}, so the target was cleared: set it again"
            self.throttled("warning", "size", message)
            return self._processed(frame, image, None, time.perf_counter(), message)

        return cleared

    # --- requests ------------------------------------------------------------------------------
    def _invalid_without_frame(self, request: InitRequest) -> str | None:
        if request.kind == "box":
            return check_init_box(request.box_xywh, None)
        if request.kind == "point":
            return check_point(request.point_xy, None)
        return None

    def _apply(self, ticket: RequestTicket) -> Outcome | None:
        request = ticket.request
        if request.kind == "reset":
            self.tracker.reset()
            self._frames_since_seen = 0
            self._last_result = self._last_image = None
            self._log.info(f"{request.source}: tracker reset; waiting for a new target")
            ticket._finish(True, "tracker reset")
            return None
        problem = self._invalid_without_frame(request)
        if problem is not None:
            return self._refuse(ticket, f"invalid target: {problem}; keeping the current target", None)
        frame, lookup = self.buffer.find(request.stamp_ns)
        note = ""
        if lookup != Lookup.FOUND:
            wanted = f"{request.stamp_ns / 1e9:.9f}" if request.stamp_ns else "(newest)"
            if lookup == Lookup.NOT_YET:
                reason = f"no frame stamped {wanted} arrived within init_wait {self.config.init_wait_s} s"
            else:
                oldest = (self.buffer.oldest_stamp_ns() or 0) / 1e9
                reason = f"the frame stamped {wanted} is no longer buffered (oldest kept: {oldest:.9f})"
            newest = self.buffer.newest()
            if not self.config.init_fallback_newest or newest is None:
                return self._refuse(ticket, reason, None)
            frame, note = newest, f" ({reason}; used the newest frame)"
            self._log.warning(f"{request.source}: {reason}; using the newest frame (init_fallback_newest)")
        image = self._decode_frame(frame)
        if isinstance(image, Rejected):
            ticket._finish(False, image.reason)
            return image
        image_wh = (image.shape[1], image.shape[0])
        problem = (
            check_point(request.point_xy, image_wh)
            if request.kind == "point"
            else check_init_box(request.box_xywh, image_wh)
        )
        if problem is not None:
            return self._refuse(ticket, f"invalid target: {problem}; keeping the current target", frame)

        from dmtrack_core.tracking.errors import TrackerError

        started = time.perf_counter()
        try:
            if request.kind == "point":
                box = self.tracker.box_from_point(image, *request.point_xy)
            else:
                box = np.asarray(request.box_xywh, dtype=np.float64)
            result = self.tracker.initialize(image, box, target_id=request.target_id or self._generate_id())
        except TrackerError as exc:
            return self._refuse(ticket, f"invalid target: {exc}; keeping the current target", frame)
        self._image_wh = image_wh
        self._frames_since_seen = 0
        self._last_used = frame
        box_text = ", ".join(f"{v:.1f}" for v in np.asarray(result.box).reshape(-1))
        self._log.info(f"{request.source}: tracking '{result.target_id}' from box [{box_text}]{note}")
        ticket._finish(True, f"tracking '{result.target_id}' from frame {frame.stamp_ns / 1e9:.9f}{note}")
        return self._processed(frame, image, result, started, f"initialised by {request.source}{note}")

    def _refuse(self, ticket: RequestTicket, reason: str, frame: BufferedFrame | None) -> Rejected:
        full = f"{ticket.request.source}: {reason}"
        ticket._finish(False, full)
        return self._rejected(full, frame, ticket.request.origin)

    def _generate_id(self) -> str:
        self._generated_ids += 1
        return f"target_{self._generated_ids}"

    # --- outcomes and counters -----------------------------------------------------------------
    def _counters(self) -> Counters:
        with self._stats_lock:
            processed, stale, lost = self._stats.processed, self._stats.dropped_stale, self._stats.lost
        counters = self.buffer.counters
        return Counters(
            received=counters.received,
            processed=processed,
            dropped=stale + counters.overwritten,
            lost=lost,
            frames_since_seen=self._frames_since_seen,
        )

    def _processed(
        self, frame: BufferedFrame, image: np.ndarray, result: Any, started: float, message: str
    ) -> Processed:
        processing_ms = (time.perf_counter() - started) * 1000.0
        state = result.state.name if result is not None else "UNINITIALIZED"
        self._frames_since_seen = 0 if state == "TRACKING" else self._frames_since_seen + 1
        self._last_result = result
        self._last_image = image if result is not None else None
        now = time.monotonic()
        latency_ms = (self._now_ns() - frame.stamp_ns) / 1e6
        with self._stats_lock:
            stats = self._stats
            stats.processed += 1
            stats.period_processed += 1
            stats.last_state = state
            stats.period_latencies_ms.append(latency_ms)
            if stats.last_frame_time is not None:
                rate = 1.0 / max(now - stats.last_frame_time, 1e-6)
                stats.fps = (
                    rate if stats.fps is None else (1 - RATE_SMOOTHING) * stats.fps + RATE_SMOOTHING * rate
                )
            stats.last_frame_time = now
            fps = stats.fps
        return Processed(frame, image, result, processing_ms, latency_ms, self._counters(), message, fps)

    def _rejected(self, reason: str, frame: BufferedFrame | None, origin: Any, log: bool = True) -> Rejected:
        if log:
            self.throttled("error", "error", reason, new_text_resets=True)
        with self._stats_lock:
            self._stats.errors += 1
            self._stats.last_error = reason
            self._stats.last_state = "ERROR"
        return Rejected(reason, frame, origin, self._counters())

    def period_report(self) -> PeriodReport:
        """Counters for /diagnostics; the per-period ones restart."""
        now = time.monotonic()
        counters = self._counters()
        with self._stats_lock:
            stats = self._stats
            report = PeriodReport(
                period_s=max(now - stats.period_start, 1e-6),
                processed=stats.period_processed,
                dropped_stale=stats.period_stale,
                lost=stats.period_lost,
                latencies_ms=stats.period_latencies_ms,
                totals={
                    "received": counters.received,
                    "processed": counters.processed,
                    "dropped": counters.dropped,
                    "dropped_overwritten": self.buffer.counters.overwritten,
                    "dropped_stale": stats.dropped_stale,
                    "lost": counters.lost,
                    "errors": stats.errors,
                    "history_frames": self.buffer.ring_usage()[0],
                    "history_bytes": self.buffer.ring_usage()[1],
                },
                last_state=stats.last_state,
                last_error=stats.last_error,
                paused=self._paused,
            )
            stats.period_start = now
            stats.period_processed = stats.period_stale = stats.period_lost = 0
            stats.period_latencies_ms = []
        return report

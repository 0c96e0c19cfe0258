"""The ROS-free TrackingSession, in-process with the real tracker on 640x480 frames: init
rules (named frame, waiting for a frame, gone frames, order), bad input, stale frames,
floods, size changes, transport loss and log throttling. Each case gives one typed outcome
per frame, so these run without a node process."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from node_harness import header_at, image_message, iou_xywh
from sensor_msgs.msg import Image

from dmtrack_ros.conversions import image_to_rgb
from dmtrack_ros.frame_buffer import BufferedFrame
from dmtrack_ros.params import NodeParams, session_config
from dmtrack_ros.session import InitRequest, LogThrottle, Processed, Rejected, TrackingSession

WIDTH, HEIGHT = 640, 480


@pytest.fixture(scope="module")
def tracker():
    from dmtrack_core.tracking import build_tracker

    return build_tracker(device="cpu")


@pytest.fixture(scope="module")
def sequence():
    from dmtrack_core.evaluation.synth import SynthConfig, generate_sequence

    config = SynthConfig(
        width=WIDTH,
        height=HEIGHT,
        min_frames=30,
        max_frames=30,
        out_of_view_probability=0.0,
        occlusion_probability=0.0,
        target_size=(80.0, 120.0),
    )
    return generate_sequence(5, config)


class Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage()))

    def text(self) -> str:
        return "\n".join(message for _, message in self.lines)


class Stream:
    """A session over the real tracker fed with real Image messages."""

    def __init__(self, tracker, sequence, **overrides) -> None:
        tracker.reset()
        self.sequence = sequence
        self.log = Log()
        logger = logging.getLogger(f"session_test_{id(self)}")
        logger.addHandler(self.log)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        config = session_config(dataclasses.replace(NodeParams(), **overrides))
        self.session = TrackingSession(tracker, config, image_to_rgb, time.time_ns, logger)
        self.stamps: dict[int, int] = {}

    def put(self, index: int, rgb: np.ndarray | None = None, stamp: int | None = None) -> BufferedFrame:
        stamp = time.time_ns() if stamp is None else stamp
        rgb = self.sequence.frames[index] if rgb is None else rgb
        message = image_message(rgb, header_at(stamp))
        frame = BufferedFrame(message, stamp, time.time_ns(), len(message.data))
        self.session.put_frame(frame)
        self.stamps[index] = stamp
        return frame

    def step(self, timeout: float = 0.05) -> list:
        return self.session.step(timeout)

    def frame(self, index: int, **kwargs):
        self.put(index, **kwargs)
        outcomes = self.step()
        assert len(outcomes) == 1, outcomes
        return outcomes[0]

    def init(self, index: int, stamp: int | None = None, target_id: str = "t"):
        box = tuple(float(v) for v in self.sequence.ground_truth[index])
        stamp = self.stamps[index] if stamp is None else stamp
        return self.session.submit(InitRequest("box", "test", stamp, box, target_id=target_id))


def test_the_session_imports_no_ros():
    code = (
        "import sys, dmtrack_ros.session; "
        "sys.exit(any(m.split('.')[0] in ('rclpy', 'sensor_msgs') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_init_applies_to_the_named_buffered_frame_and_tracking_goes_on(tracker, sequence):
    stream = Stream(tracker, sequence)
    first = stream.frame(0)
    assert isinstance(first, Processed) and first.result is None and first.state == "UNINITIALIZED"
    stream.put(1)
    stream.put(2)  # the newest; the init names frame 1
    ticket = stream.init(1)
    outcomes = stream.step()
    assert [type(o) for o in outcomes] == [Processed, Processed]
    init, tracked = outcomes
    assert ticket.done and ticket.success and init.frame.stamp_ns == stream.stamps[1]
    assert init.message == "initialised by test" and init.tracked and init.result.target_id == "t"
    assert tracked.frame.stamp_ns == stream.stamps[2] and tracked.result.target_id == "t"
    assert iou_xywh(tracked.result.box, sequence.ground_truth[2]) > 0.5
    assert tracked.counters.received == 3 and tracked.counters.processed == 3


def test_init_naming_a_gone_frame_fails_and_keeps_the_target(tracker, sequence):
    stream = Stream(tracker, sequence, frame_history=2)
    stream.frame(0)
    assert stream.init(0).wait(0) is False
    assert stream.step()[0].tracked
    for index in (1, 2, 3):
        stream.frame(index)
    ticket = stream.init(1, target_id="other")  # fell out of the 2-frame ring
    (outcome,) = stream.step()
    assert isinstance(outcome, Rejected) and not ticket.success
    assert "is no longer buffered" in outcome.reason and "is no longer buffered" in ticket.message
    after = stream.frame(4)
    assert after.result.target_id == "t"  # the old target is still tracked


def test_init_naming_a_gone_frame_uses_the_newest_when_allowed(tracker, sequence):
    stream = Stream(tracker, sequence, frame_history=2, init_fallback_newest=True)
    for index in (0, 1, 2):
        stream.frame(index)
    ticket = stream.init(0)
    (outcome,) = stream.step()
    assert isinstance(outcome, Processed) and ticket.success
    assert outcome.frame.stamp_ns == stream.stamps[2] and "used the newest frame" in outcome.message


def test_init_arriving_before_its_frame_waits_for_it(tracker, sequence):
    stream = Stream(tracker, sequence, init_wait=30.0)
    stream.frame(0)
    stamp = time.time_ns() + 50_000_000  # the frame comes a little later
    ticket = stream.init(1, stamp=stamp)
    reset = stream.session.submit(InitRequest("reset", "later"))
    assert stream.step(timeout=0.1) == [] and not ticket.done and not reset.done  # in order
    stream.put(1, stamp=stamp)
    outcomes = stream.step()
    assert ticket.success and len(outcomes) == 1  # the frame is not processed twice
    assert outcomes[0].frame.stamp_ns == stamp and outcomes[0].tracked
    assert reset.success and not tracker.initialized  # the reset came after the init


def test_init_before_the_first_image_waits_for_it(tracker, sequence):
    stream = Stream(tracker, sequence, init_wait=30.0)
    ticket = stream.session.submit(
        InitRequest("box", "early", 0, tuple(float(v) for v in sequence.ground_truth[0]), target_id="e")
    )
    assert stream.step(timeout=0.1) == []
    stream.put(0)
    (outcome,) = stream.step()
    assert ticket.success and outcome.result.target_id == "e"


def test_init_whose_frame_never_comes_fails_after_init_wait(tracker, sequence):
    stream = Stream(tracker, sequence, init_wait=0.3)
    stream.frame(0)
    ticket = stream.init(1, stamp=time.time_ns() + 3_600_000_000_000)
    started = time.monotonic()
    outcomes = []
    while not outcomes and time.monotonic() - started < 20.0:
        outcomes = stream.step(timeout=0.5)
    (outcome,) = outcomes
    assert isinstance(outcome, Rejected) and "arrived within init_wait 0.3 s" in ticket.message
    assert outcome.origin is None and not tracker.initialized


@pytest.mark.parametrize(
    ("box", "reason"),
    [
        ((700.0, 20.0, 30.0, 30.0), "lies outside the 640x480 image"),
        ((5.0, 5.0, float("nan"), 3.0), "not finite"),
    ],
)
def test_invalid_boxes_are_refused(tracker, sequence, box, reason):
    stream = Stream(tracker, sequence)
    stream.frame(0)
    ticket = stream.session.submit(InitRequest("box", "bad", stream.stamps[0], box, origin="header"))
    (outcome,) = stream.step()
    assert isinstance(outcome, Rejected) and reason in outcome.reason and outcome.origin == "header"
    assert not ticket.success and not tracker.initialized


def test_bad_and_stale_frames(tracker, sequence):
    stream = Stream(tracker, sequence)
    stream.frame(0)
    stream.init(0)
    stream.step()
    now = time.time_ns()
    odd = Image(header=header_at(now), height=HEIGHT, width=101, encoding="yuv422", step=202)
    odd.data = bytes(202 * HEIGHT)
    stream.session.put_frame(BufferedFrame(odd, now, now, len(odd.data)))
    (outcome,) = stream.step()
    assert isinstance(outcome, Rejected) and "width must be even" in outcome.reason
    stale = stream.put(1, stamp=time.time_ns() - 5_000_000_000)
    assert stream.step() == [] and stream.session.period_report().totals["dropped_stale"] == 1
    assert stale.stamp_ns == stream.stamps[1] and "dropping a frame" in stream.log.text()
    assert stream.frame(2).result.target_id == "t"  # the target survived both


def test_an_unexpected_error_gives_an_outcome_and_the_worker_goes_on(tracker, sequence):
    stream = Stream(tracker, sequence)

    def broken(message):
        raise RuntimeError("decoder crashed")

    good = stream.session._decode
    stream.session._decode = broken
    outcome = stream.frame(0)
    assert (
        isinstance(outcome, Rejected)
        and "internal error" in outcome.reason
        and "decoder crashed" in outcome.reason
    )
    stream.session._decode = good
    assert isinstance(stream.frame(1), Processed)


def test_a_flood_processes_only_the_newest_frame_and_counts_the_rest(tracker, sequence):
    stream = Stream(tracker, sequence)
    for index in range(20):
        stream.put(index % len(sequence.frames))
    (outcome,) = stream.step()
    assert outcome.frame.stamp_ns == stream.stamps[19]
    assert (outcome.counters.received, outcome.counters.dropped) == (20, 19)


def test_size_change_with_the_same_aspect_rescales_the_target(tracker, sequence):
    stream = Stream(tracker, sequence)
    stream.frame(0)
    stream.init(0)
    stream.step()
    stream.frame(1)
    big = cv2.resize(sequence.frames[2], (1280, 960), interpolation=cv2.INTER_LINEAR)
    rescaled = stream.frame(2, rgb=big)
    assert rescaled.tracked and rescaled.result.target_id == "t" and "rescaled by 2" in rescaled.message
    truth = np.asarray(sequence.ground_truth[2]) * 2.0
    assert iou_xywh(rescaled.result.box, truth) > 0.5
    for index in (3, 4, 5):
        after = stream.frame(index, rgb=cv2.resize(sequence.frames[index], (1280, 960)))
        x, y, w, h = after.result.box
        assert 0 <= x + w / 2 <= 1280 and 0 <= y + h / 2 <= 960  # inside the new frame
    assert iou_xywh(after.result.box, np.asarray(sequence.ground_truth[5]) * 2.0) > 0.5


def test_size_change_with_another_aspect_clears_the_target(tracker, sequence):
    stream = Stream(tracker, sequence)
    stream.frame(0)
    stream.init(0)
    stream.step()
    cleared = stream.frame(1, rgb=np.ascontiguousarray(sequence.frames[1][:, :360]))
    assert cleared.result is None and "set it again" in cleared.message and not tracker.initialized
    assert sum("image size changed" in m for _, m in stream.log.lines) == 1


def test_the_history_keeps_within_its_byte_budget(tracker, sequence):
    stream = Stream(tracker, sequence, frame_history_mb=64)
    uhd = np.zeros((2160, 3840, 3), np.uint8)  # 24.9 MB a frame
    for _ in range(6):
        stream.put(0, rgb=uhd)
    frames, held = stream.session.buffer.ring_usage()
    assert frames == 2 and held <= 64 * 2**20


def test_transport_loss_is_counted_and_warned_about_once(tracker, sequence):
    stream = Stream(tracker, sequence)
    stream.session.count_lost(3, "do this")
    stream.session.count_lost(2, "do this")
    assert stream.frame(0).counters.lost == 5
    warnings = [m for level, m in stream.log.lines if "lost in transport" in m]
    assert warnings == ["3 image messages lost in transport so far; do this"]
    report = stream.session.period_report()
    assert (report.lost, report.totals["lost"]) == (5, 5)
    assert stream.session.period_report().lost == 0  # per period


def test_log_throttle_repeats_after_the_interval_and_on_new_errors():
    clock = [0.0]
    lines = Log()
    logger = logging.getLogger("throttle_test")
    logger.addHandler(lines)
    logger.propagate = False
    throttle = LogThrottle(logger, 5.0, clock=lambda: clock[0])
    assert throttle("warning", "k", "a") and not throttle("warning", "k", "a")
    assert throttle("error", "e", "x", new_text_resets=True) and throttle(
        "error", "e", "y", new_text_resets=True
    )
    clock[0] = 5.0
    assert throttle("warning", "k", "a")
    assert [m for _, m in lines.lines] == ["a", "x", "y", "a"]


def test_a_size_flipping_every_frame_is_logged_once_per_interval(tracker, sequence):
    stream = Stream(tracker, sequence)
    small = np.ascontiguousarray(sequence.frames[0][::2, ::2])
    for index in range(6):
        outcome = stream.frame(index, rgb=small if index % 2 else None)
        assert isinstance(outcome, Processed)
    assert sum("image size changed" in m for _, m in stream.log.lines) == 1

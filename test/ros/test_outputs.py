"""What the node publishes for each session outcome, as pure functions: ~/target only while
the target is tracked, markers and the overlay from the result itself, an ERROR status with
the best header there is, camera_info used only when it fits, and /diagnostics levels."""

from __future__ import annotations

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from dmtrack_msgs.msg import TrackerStatus
from node_harness import header_at, image_message
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

from dmtrack_core.tracking import Distractor, TrackResult, TrackState
from dmtrack_ros.frame_buffer import BufferedFrame
from dmtrack_ros.outputs import RenderSettings, diagnostic_status, render
from dmtrack_ros.session import Counters, PeriodReport, Processed, Rejected

SETTINGS = RenderSettings(
    frame_id="",
    max_distractors=1,
    marker_depth=2.0,
    marker_pixel_size=0.01,
    debug_image=True,
    debug_image_scale=0.5,
    device="cpu",
)
COUNTERS = Counters(received=9, processed=5, dropped=3, lost=2, frames_since_seen=1)
NOW = header_at(99, "now_frame")


def frame(stamp: int = 1_000) -> BufferedFrame:
    image = np.zeros((480, 640, 3), np.uint8)
    return BufferedFrame(image_message(image, header_at(stamp, "cam")), stamp, stamp, image.size)


def result(state: TrackState) -> TrackResult:
    return TrackResult(
        box=np.array([100.0, 50.0, 40.0, 80.0]),
        score=0.9,
        presence=0.7,
        state=state,
        target_id="car",
        distractors=[
            Distractor(4, np.array([300.0, 200.0, 30.0, 30.0]), 0.8, 0.5),
            Distractor(6, np.array([10.0, 10.0, 30.0, 30.0]), 0.2, 0.1),
        ],
    )


def processed(state: TrackState | None) -> Processed:
    source = frame()
    return Processed(
        source,
        np.zeros((480, 640, 3), np.uint8),
        result(state) if state is not None else None,
        12.0,
        30.0,
        COUNTERS,
        "hello",
        fps=10.0,
    )


@pytest.mark.parametrize(
    ("state", "published"),
    [(TrackState.TRACKING, True), (TrackState.UNCERTAIN, True), (TrackState.LOST, False), (None, False)],
)
def test_target_only_while_tracked_and_the_rest_for_every_frame(state, published):
    outputs = render(processed(state), SETTINGS, None, NOW)
    assert (outputs.target is not None) == published
    assert outputs.status.header.frame_id == "cam" and outputs.status.message == "hello"
    assert (outputs.status.frames_received, outputs.status.frames_lost, outputs.status.frames_dropped) == (
        9,
        2,
        3,
    )
    assert outputs.distractors is not None and outputs.markers is not None
    assert (outputs.debug_image.width, outputs.debug_image.height) == (320, 240)
    boxes = len(outputs.markers.markers) - 1  # after DELETEALL
    expected = (1 if published else 0) + (1 if state is not None else 0)  # max_distractors = 1
    assert boxes == expected
    if state is not None:
        assert [d.id for d in outputs.distractors.detections] == ["4"]  # the strongest


def test_camera_info_that_does_not_fit_falls_back_to_pixel_units_and_says_why():
    wrong = CameraInfo(width=320, height=240, k=[300.0, 0, 160, 0, 300, 120, 0, 0, 1])
    outputs = render(processed(TrackState.TRACKING), SETTINGS, wrong, NOW)
    assert "is for 320x240 images" in outputs.camera_info_problem
    fits = CameraInfo(width=640, height=480, k=[300.0, 0, 320, 0, 300, 240, 0, 0, 1])
    assert render(processed(TrackState.TRACKING), SETTINGS, fits, NOW).camera_info_problem is None


def test_rejections_use_the_frame_then_the_request_header_then_now():
    with_frame = render(Rejected("bad image", frame(5_000), None, COUNTERS), SETTINGS, None, NOW)
    assert with_frame.status.state == TrackerStatus.ERROR and with_frame.status.header.stamp.nanosec == 5_000
    assert with_frame.target is None and with_frame.markers is None
    request = render(Rejected("gone", None, header_at(7_000, "req"), COUNTERS), SETTINGS, None, NOW)
    assert (request.status.header.stamp.nanosec, request.status.header.frame_id) == (7_000, "req")
    click = render(Rejected("early click", None, None, COUNTERS), SETTINGS, None, NOW)
    assert click.status.header == Header(stamp=NOW.stamp, frame_id="now_frame")
    assert click.status.message == "early click" and click.status.frames_lost == 2


def report(**changes) -> PeriodReport:
    values = dict(
        period_s=1.0,
        processed=10,
        dropped_stale=0,
        lost=0,
        latencies_ms=[20.0, 40.0],
        totals={
            "received": 10,
            "processed": 10,
            "dropped": 0,
            "dropped_overwritten": 0,
            "dropped_stale": 0,
            "lost": 0,
            "errors": 0,
            "history_frames": 3,
            "history_bytes": 3 * 2**20,
        },
        last_state="TRACKING",
        last_error="",
        paused=False,
    )
    values.update(changes)
    return PeriodReport(**values)


def test_diagnostics_levels_and_values():
    ok = diagnostic_status(report(), "/ns/dmtrack", "cpu", "auto", "reliable", "do this")
    values = {kv.key: kv.value for kv in ok.values}
    assert (
        ok.level == DiagnosticStatus.OK
        and values["rate_hz"] == "10.00"
        and values["latency_ms_mean"] == "30.0"
    )
    assert values["image_reliability"] == "reliable" and values["history_mb"] == "3.0"
    lossy = diagnostic_status(report(lost=4), "/ns/dmtrack", "cpu", "auto", "best_effort", "do this")
    assert lossy.level == DiagnosticStatus.WARN and "4 frames lost in transport; do this" in lossy.message
    paused = diagnostic_status(report(paused=True, processed=0), "n", "cpu", "auto", "paused", "")
    assert paused.level == DiagnosticStatus.OK and "paused" in paused.message
    error = diagnostic_status(report(last_state="ERROR", last_error="bad image"), "n", "cpu", "auto", "x", "")
    assert error.level == DiagnosticStatus.ERROR and error.message == "bad image"

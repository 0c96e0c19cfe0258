"""`dmtrack-ros demo` (what `make demo` runs) on a short stretch of the real demo clip, with an
independent subscriber checking that the JSON's boxes are the ones published on ~/target."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from dmtrack_ros import demo_defaults
from dmtrack_ros.player import VideoSource
from dmtrack_ros.replay_outputs import FrameRecord, contact_sheet, sheet_frame_indices, summarise

sys.path.insert(0, str(Path(__file__).parent))
from replay_media import fresh_domain_id  # noqa: E402

DEMO_FRAMES = 20


@pytest.fixture()
def worker_domain_id() -> int:
    """Overrides the shared fixture: a domain no concurrent pytest session is likely to use."""
    return fresh_domain_id()


def record(index: int, state: str | None) -> FrameRecord:
    return FrameRecord(
        index, index * 1000, state is not None, state, 0.5, 0.5, None, [], 10.0 + index, 5.0, 2.0, 0
    )


def test_demo_clip_ships_with_an_installed_package():
    source = VideoSource(demo_defaults.demo_clip_path())
    assert source.size == (640, 272) and source.fps == pytest.approx(25.0)
    demo_defaults_box = demo_defaults.DEMO_INIT_BOX_XYWH
    x, y, w, h = demo_defaults_box
    assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 272
    assert demo_defaults.DEMO_START_FRAME <= demo_defaults.DEMO_INIT_FRAME < demo_defaults.DEMO_END_FRAME


def test_summary_counts_states_over_skipped_frames():
    records = [record(0, "TRACKING"), record(1, None), record(2, "LOST"), record(3, None), record(4, None)]
    summary = summarise(records, source_fps=10.0, wall_s=1.0)
    assert (summary.frames, summary.processed, summary.dropped) == (5, 2, 3)
    assert summary.seconds_in_state == {"LOST": pytest.approx(0.3), "TRACKING": pytest.approx(0.2)}
    assert summary.processed_fps == pytest.approx(4.0)
    assert summary.latency_p50_ms == pytest.approx(11.0)


def test_contact_sheet_layout_and_frame_choice():
    records = [record(i, "TRACKING" if i % 2 == 0 else None) for i in range(20)]
    chosen = sheet_frame_indices(records, 9)
    assert len(chosen) == 9 and chosen[0] == 0 and chosen[-1] == 18
    assert all(records[i].processed for i in chosen)
    tiles = [np.full((50, 100, 3), i * 20, np.uint8) for i in range(7)]
    sheet = contact_sheet(tiles, (3, 3), tile_width=40)
    assert sheet.shape == (60, 120, 3)
    assert sheet[25, 45, 0] == 80 and sheet[50, 100, 0] == 0  # tile 4 in the middle, last cell empty


@pytest.fixture()
def target_listener(ros_env, worker_domain_id, monkeypatch):
    """A subscriber of our own on the demo node's ~/target, created before the node starts."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection2D

    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    namespace = f"demo_test_{worker_domain_id}"
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=worker_domain_id)
    node = rclpy.create_node("target_listener", context=context)
    received: dict[int, Detection2D] = {}
    node.create_subscription(
        Detection2D,
        f"/{namespace}/dmtrack/target",
        lambda msg: received.setdefault(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, msg),
        QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE),
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield namespace, received
    executor.shutdown(timeout_sec=2.0)
    node.destroy_node()
    rclpy.try_shutdown(context=context)
    thread.join(2.0)


def test_demo_command_writes_the_three_files(tmp_path, ros_env, target_listener):
    namespace, received = target_listener
    out = tmp_path / "demo_output"
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dmtrack_ros.cli",
            "demo",
            "--max-frames",
            str(DEMO_FRAMES),
            "--output",
            str(out),
            "--namespace",
            namespace,
            "--wait-for-subscribers",
            "1",
        ],
        env=ros_env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert time.monotonic() - started < 150
    assert "latency p50" in result.stdout and "time in state" in result.stdout

    document = json.loads((out / "demo.json").read_text())
    frames = document["frames"]
    start = demo_defaults.DEMO_START_FRAME
    assert [f["frame_index"] for f in frames] == list(range(start, start + DEMO_FRAMES))
    assert document["init"]["box_xywh"] == list(demo_defaults.DEMO_INIT_BOX_XYWH)

    # the JSON's boxes are exactly the ones the node published on ~/target, frame by frame
    time.sleep(0.5)
    json_targets = {f["stamp_ns"]: f["target"] for f in frames if f["target"] is not None}
    assert json_targets, "the node published no target at all"
    # Every target the independent listener heard is in the JSON, box for box. Under heavy CPU
    # load the listener (a second subscriber in this process) can miss a few messages that the
    # recorder got, so it need not have heard all of them.
    assert set(received) <= set(json_targets)
    assert len(received) >= 0.5 * len(json_targets)
    for stamp, message in received.items():
        target = json_targets[stamp]
        assert target["center"] == [message.bbox.center.position.x, message.bbox.center.position.y]
        assert target["size"] == [message.bbox.size_x, message.bbox.size_y]
        assert target["id"] == message.id == demo_defaults.DEMO_TARGET_ID
    init = next(f for f in frames if f["frame_index"] == demo_defaults.DEMO_INIT_FRAME)
    assert init["processed"] and init["state"] == "TRACKING"

    video = cv2.VideoCapture(str(out / "demo.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == DEMO_FRAMES
    ok, first = video.read()
    video.release()
    assert ok and first.shape == (272, 640, 3)
    sheet = cv2.imread(str(out / "demo_contact_sheet.png"))
    assert sheet is not None and sheet.shape == (3 * 136, 3 * 320, 3)

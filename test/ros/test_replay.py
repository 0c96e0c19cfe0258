"""`dmtrack-ros replay` end to end on rosbag2 folders written by the test (sqlite3 and MCAP),
with the tracker node in its own process and the outputs recorded to a new bag."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import pytest

from dmtrack_ros.replay import ReplayOptions, run_replay

sys.path.insert(0, str(Path(__file__).parent))
from replay_media import FPS, HEIGHT, WIDTH, fresh_domain_id, target_box, write_bag  # noqa: E402

FRAMES = 24


@pytest.fixture()
def worker_domain_id() -> int:
    """Overrides the shared fixture: a domain no concurrent pytest session is likely to use."""
    return fresh_domain_id()


def read_bag_topics(path: Path) -> dict[str, list]:
    """Messages per topic of a rosbag2, deserialised with rosbags (no ROS involved)."""
    from rosbags.rosbag2 import Reader
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    typestore = get_typestore(Stores.ROS2_JAZZY)
    messages: dict[str, list] = {}
    with Reader(path) as reader:
        for connection in reader.connections:
            if connection.msgtype not in typestore.fielddefs:
                typestore.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
        for connection, _, raw in reader.messages():
            messages.setdefault(connection.topic, []).append(
                typestore.deserialize_cdr(raw, connection.msgtype)
            )
    return messages


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_replay_from_bag_records_outputs(tmp_path, ros_env, worker_domain_id, storage):
    bag = write_bag(tmp_path / "input", FRAMES, storage, topics=("/camera/image_raw", "/camera/other"))
    options = ReplayOptions(
        init_box=target_box(2),
        bag=bag,
        topic="/camera/image_raw",
        init_frame=2,
        target_id="square",
        output_dir=tmp_path / "out",
        namespace=f"replay_test_{worker_domain_id}",
        record_bag=tmp_path / "outputs",
        record_storage=storage,
        write_video=True,
    )
    result = run_replay(options, env=ros_env, log=lambda line: None)

    # every frame of the bag was played once, in order, and the init frame was answered
    assert [r.frame_index for r in result.records] == list(range(FRAMES))
    by_index = {r.frame_index: r for r in result.records}
    assert by_index[2].processed and by_index[2].state != "UNINITIALIZED"
    tracked = [r for r in result.records if r.target is not None]
    assert tracked and all(r.frame_index >= 2 for r in tracked)
    assert all(r.target["id"] == "square" for r in tracked)
    assert result.summary.frames == FRAMES
    assert result.summary.processed + result.summary.dropped == FRAMES
    assert result.summary.processed >= 2

    # the three files
    document = json.loads(result.files["json"].read_text())
    assert len(document["frames"]) == FRAMES
    assert document["summary"]["processed"] == result.summary.processed
    assert document["frame_rate"] == pytest.approx(FPS, rel=0.01)
    sheet = cv2.imread(str(result.files["sheet"]))
    assert sheet is not None and sheet.shape[1] == 3 * 320
    video = cv2.VideoCapture(str(result.files["video"]))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    assert (int(video.get(cv2.CAP_PROP_FRAME_WIDTH)), int(video.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (
        WIDTH,
        HEIGHT,
    )
    video.release()

    # the recorded bag holds exactly the outputs the JSON reports, in the requested storage
    assert (tmp_path / "outputs" / "metadata.yaml").is_file()
    assert any(
        p.suffix == (".db3" if storage == "sqlite3" else ".mcap") for p in (tmp_path / "outputs").iterdir()
    )
    recorded = read_bag_topics(tmp_path / "outputs")
    node = f"/replay_test_{worker_domain_id}/dmtrack"
    status_stamps = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in recorded[f"{node}/status"]}
    assert {r.stamp_ns for r in result.records if r.processed} <= status_stamps
    recorded_targets = {
        m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: m for m in recorded[f"{node}/target"]
    }
    for record in tracked:
        message = recorded_targets[record.stamp_ns]
        assert [message.bbox.center.position.x, message.bbox.center.position.y] == record.target["center"]
        assert message.header.frame_id == "camera"


def test_bag_with_source_stamps_and_bgr_publishing(tmp_path, ros_env, worker_domain_id):
    """--stamps source keeps the bag's header stamps on the published images and outputs."""
    bag = write_bag(tmp_path / "input", 8, "mcap", encoding="rgb8")
    options = ReplayOptions(
        init_box=target_box(0),
        bag=bag,
        output_dir=tmp_path / "out",
        stamps="source",
        encoding="bgr8",
        namespace=f"replay_stamps_{worker_domain_id}",
        write_video=False,
    )
    result = run_replay(options, env=ros_env, log=lambda line: None)
    start_ns = 1_700_000_000 * 10**9
    assert [r.stamp_ns for r in result.records] == [start_ns + round(i * 1e9 / FPS) for i in range(8)]
    assert result.records[0].processed
    assert "video" not in result.files and result.files["sheet"].is_file()

"""A node subscribed to image/compressed (use_compressed:=true) with a frame_id override:
JPEG and PNG frames are tracked, corrupt ones give ERROR, outputs carry the overridden frame_id
and the source stamps."""

from __future__ import annotations

import cv2
import pytest
from dmtrack_msgs.msg import TrackerStatus
from node_harness import header_at, running_node, stamp_ns, synthetic_sequence
from sensor_msgs.msg import CompressedImage

TIMEOUT_S = 60.0
OVERRIDE = "tracker_frame"


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    parameters = {"use_compressed": True, "frame_id": OVERRIDE, "qos_reliability": "reliable"}
    with running_node(tmp_path_factory.mktemp("compressed"), parameters) as (process, client):
        publisher = client.node.create_publisher(CompressedImage, "image/compressed", 10)
        client.wait_until(
            lambda: publisher.get_subscription_count() > 0, 30.0, "compressed subscription", process
        )
        yield process, client, publisher, synthetic_sequence(seed=4)


def publish(client, publisher, data: bytes, fmt: str) -> int:
    stamp = client.now_ns()
    publisher.publish(CompressedImage(header=header_at(stamp), format=fmt, data=data))
    return stamp


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_compressed_frames_are_tracked_with_the_frame_id_override(node, extension):
    process, client, publisher, sequence = node
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(sequence.frames[0], cv2.COLOR_RGB2BGR))
    assert ok
    stamp = publish(client, publisher, encoded.tobytes(), extension[1:])
    client.wait_status(stamp, TIMEOUT_S, process)
    assert client.set_target(sequence.ground_truth[0], stamp, "compressed").success
    status = client.wait_until(
        lambda: [s for s in client.statuses_for(stamp) if s.target_id == "compressed"],
        TIMEOUT_S,
        "init",
        process,
    )[-1]
    assert status.state == TrackerStatus.TRACKING and status.header.frame_id == OVERRIDE
    targets = [t for t in client.messages("target") if stamp_ns(t.header) == stamp]
    assert targets and all(t.header.frame_id == OVERRIDE for t in targets)
    markers = [m for m in client.messages("markers") if stamp_ns(m.markers[0].header) == stamp]
    assert markers and all(mk.header.frame_id == OVERRIDE for m in markers for mk in m.markers)


def test_corrupt_compressed_frame_gives_error_and_the_node_goes_on(node):
    process, client, publisher, sequence = node
    stamp = publish(client, publisher, b"\xff\xd8\xff garbage", "jpeg")
    status = client.wait_status(stamp, TIMEOUT_S, process)
    assert status.state == TrackerStatus.ERROR and "cannot decode" in status.message
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(sequence.frames[1], cv2.COLOR_RGB2BGR))
    after = client.wait_status(publish(client, publisher, encoded.tobytes(), "jpeg"), TIMEOUT_S, process)
    assert after.state != TrackerStatus.ERROR

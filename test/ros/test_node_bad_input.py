"""Bad input to a running node: each case gives a clear log line and an ERROR (or unchanged)
status, and the node keeps serving. The node is started with device:=cuda on a machine made
CUDA-less for it (CUDA_VISIBLE_DEVICES=""), so it also covers the CUDA fallback.

One node process serves the module; the tests run in file order (the first one needs a node
that has not seen any image yet)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dmtrack_msgs.msg import TrackerStatus
from node_harness import header_at, image_message, running_node, stamp_ns, synthetic_sequence
from sensor_msgs.msg import Image

TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    sequence = synthetic_sequence(seed=2)
    with running_node(
        tmp_path_factory.mktemp("bad_input"), {"device": "cuda"}, env={"CUDA_VISIBLE_DEVICES": ""}
    ) as (
        process,
        client,
    ):
        yield process, client, sequence


def good_frame(node, index: int = 0, stamp: int | None = None) -> TrackerStatus:
    process, client, sequence = node
    stamp = client.publish_image(sequence.frames[index], stamp=stamp)
    return client.wait_status(stamp, TIMEOUT_S, process)


def wait_log(node, text: str) -> None:
    process, client, _ = node
    client.wait_until(lambda: text in process.log(), 20.0, f"log line {text!r}", process)


def test_init_before_any_image_waits_then_fails_clearly(node):
    process, client, sequence = node
    response = client.set_target(sequence.ground_truth[0], 0, "too_early")  # waits init_wait (1 s)
    assert not response.success and "no frame stamped (newest) arrived within init_wait" in response.message
    stamp = client.now_ns()
    client.publish_init(sequence.ground_truth[0], stamp, "too_early_topic")
    status = client.wait_status(stamp, TIMEOUT_S, process)  # an ERROR with the request's header
    assert status.state == TrackerStatus.ERROR and "init_target: no frame stamped" in status.message
    assert status.frames_received == 0 and process.alive()


def test_cuda_requested_but_absent_runs_on_cpu(node):
    status = good_frame(node)
    assert status.state == TrackerStatus.UNINITIALIZED and status.device == "cpu"
    wait_log(node, "device 'cuda' requested but CUDA is not available here; running on cpu")
    _, client, _ = node
    diagnostics = client.wait_until(lambda: client.messages("diagnostics"), 10.0, "/diagnostics")
    values = {kv.key: kv.value for kv in diagnostics[-1].status[0].values}
    assert (values["device"], values["requested_device"]) == ("cpu", "cuda")


def start_tracking(node) -> None:
    process, client, sequence = node
    stamp = client.publish_image(sequence.frames[1])
    client.wait_status(stamp, TIMEOUT_S, process)
    assert client.set_target(sequence.ground_truth[1], stamp, "good").success
    client.wait_until(
        lambda: [s for s in client.statuses_for(stamp) if s.target_id == "good"], TIMEOUT_S, "init", process
    )


def bad_image_gives_error(node, msg: Image, reason: str) -> None:
    process, client, _ = node
    client.publish_raw(msg)
    status = client.wait_status(stamp_ns(msg.header), TIMEOUT_S, process)
    assert status.state == TrackerStatus.ERROR and reason in status.message, status.message
    assert status.header.frame_id == msg.header.frame_id
    wait_log(node, reason)
    after = good_frame(node, 2)  # and the node goes on, with its target
    assert after.state != TrackerStatus.ERROR and after.target_id == "good"


def test_unsupported_encoding(node):
    start_tracking(node)
    _, client, sequence = node
    msg = image_message(sequence.frames[0], header_at(client.now_ns()))
    msg.encoding = "bayer_rggb8"
    bad_image_gives_error(node, msg, "unsupported encoding 'bayer_rggb8'")


def test_data_shorter_than_step_times_height(node):
    _, client, sequence = node
    msg = image_message(sequence.frames[0], header_at(client.now_ns()))
    msg.data = bytes(msg.data)[: msg.step * msg.height - 10]
    bad_image_gives_error(node, msg, "less than step x height")


def test_zero_size_image(node):
    _, client, _ = node
    msg = Image(header=header_at(client.now_ns()), height=0, width=0, encoding="rgb8", step=0, data=b"")
    bad_image_gives_error(node, msg, "zero-size image")


@pytest.mark.parametrize(
    ("box", "reason"),
    [
        ([400.0, 20.0, 30.0, 30.0], "lies outside the 320x240 image"),
        ([20.0, 20.0, 0.0, 30.0], "has no area"),
        ([math.nan, 20.0, 30.0, 30.0], "is not finite"),
    ],
)
def test_invalid_init_boxes_are_refused_and_the_target_kept(node, box, reason):
    process, client, sequence = node
    stamp = client.publish_image(sequence.frames[3])
    client.wait_status(stamp, TIMEOUT_S, process)
    response = client.set_target(box, stamp, "bad_service")
    assert not response.success and reason in response.message
    client.publish_init(box, stamp, "bad_topic")
    errors = client.wait_until(
        lambda: [
            s
            for s in client.statuses_for(stamp)
            if s.state == TrackerStatus.ERROR and "init_target" in s.message
        ],
        TIMEOUT_S,
        "an ERROR status for the bad init_target",
        process,
    )
    assert reason in errors[-1].message
    wait_log(node, f"init_target: invalid target: box {box}")
    after = good_frame(node, 4)
    assert after.target_id == "good" and after.state != TrackerStatus.ERROR


def test_image_size_change_rescales_the_target(node):
    _, _, sequence = node
    small = np.ascontiguousarray(sequence.frames[5][::2, ::2])  # 160 x 120
    process, client, _ = node
    stamp = client.publish_image(small)
    status = client.wait_status(stamp, TIMEOUT_S, process)
    assert status.state != TrackerStatus.ERROR and status.target_id == "good"
    assert "target rescaled by 0.5" in status.message
    wait_log(node, "image size changed from 320x240 to 160x120")
    targets = [t for t in client.messages("target") if stamp_ns(t.header) == stamp]
    for target in targets:  # boxes are in the pixels of the frame they belong to
        assert target.bbox.center.position.x <= 160 and target.bbox.center.position.y <= 120
    assert good_frame(node, 6).state != TrackerStatus.ERROR


def test_stamps_going_backwards_are_logged_and_processed(node):
    _, client, _ = node
    newest = good_frame(node, 7)
    earlier = stamp_ns(newest.header) - 300_000_000  # 0.3 s back, still younger than max_image_age
    status = good_frame(node, 8, stamp=earlier)
    assert status.state != TrackerStatus.ERROR and stamp_ns(status.header) == earlier
    wait_log(node, "image stamp went backwards by 0.3")


def test_frames_older_than_max_age_are_dropped_and_counted(node):
    process, client, sequence = node
    before = good_frame(node, 9).frames_dropped
    stale = [client.publish_image(sequence.frames[10], stamp=client.now_ns() - 5_000_000_000)]
    client.wait_until(lambda: "dropping a frame" in process.log(), 20.0, "the stale-frame log line", process)
    after = good_frame(node, 11)
    assert after.frames_dropped >= before + len(stale)
    assert client.statuses_for(stale[0]) == []
    assert process.alive()

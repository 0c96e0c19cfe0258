"""Re-initialising the node mid-stream through each way in: the init_target topic (applied
to the frame it names), the ~/set_target service, a click on init_point, and resets through
~/reset and a zero-size box. One node process serves the whole module, in order."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from dmtrack_msgs.msg import TrackerStatus
from node_harness import iou_xywh, running_node, stamp_ns, synthetic_sequence

from dmtrack_ros.conversions import bbox_to_box

TIMEOUT_S = 60.0


class Stream:
    """Plays the sequence in lock-step and remembers which stamp showed which frame."""

    def __init__(self, process, client, sequence) -> None:
        self.process, self.client, self.sequence = process, client, sequence
        self.index = 0
        self.stamps: dict[int, int] = {}  # frame index -> stamp

    def step(self, count: int = 1) -> TrackerStatus:
        status = None
        for _ in range(count):
            stamp = self.client.publish_image(self.sequence.frames[self.index])
            self.stamps[self.index] = stamp
            status = self.client.wait_status(stamp, TIMEOUT_S, self.process)
            self.index += 1
        return status

    def mark(self) -> int:
        return len(self.client.messages("status"))

    def status_with(self, predicate, what: str, since: int) -> TrackerStatus:
        """The first status after ``since`` matching ``predicate``; the stream goes on meanwhile."""
        for _ in range(10):
            found = [s for s in self.client.messages("status")[since:] if predicate(s)]
            if found:
                return found[0]
            self.step()
        raise AssertionError(f"no status {what}\n{self.process.log()[-2000:]}")

    def target_at(self, stamp: int) -> np.ndarray:
        found = self.client.wait_until(
            lambda: [t for t in self.client.messages("target") if stamp_ns(t.header) == stamp],
            TIMEOUT_S,
            "~/target",
            self.process,
        )
        return bbox_to_box(found[-1].bbox)


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    sequence = synthetic_sequence(seed=0)
    with running_node(tmp_path_factory.mktemp("reinit")) as (process, client):
        stream = Stream(process, client, sequence)
        stream.step(3)
        yield stream


def test_init_topic_applies_the_box_to_the_frame_it_names(stream):
    named = stream.index - 2  # an older frame, still in the ring
    stamp = stream.stamps[named]
    box = stream.sequence.ground_truth[named]
    mark = stream.mark()
    stream.client.publish_init(box, stamp, "via_topic")
    status = stream.status_with(
        lambda s: s.message == "initialised by init_target", "after init_target", mark
    )
    assert stamp_ns(status.header) == stamp  # outputs of the init are stamped with the named frame
    assert (status.state, status.target_id) == (TrackerStatus.TRACKING, "via_topic")
    assert iou_xywh(stream.target_at(stamp), box) > 0.9
    after = stream.step(2)
    assert after.target_id == "via_topic" and after.state != TrackerStatus.ERROR


def test_set_target_service_reinitialises_mid_stream(stream):
    stream.step(2)
    named = stream.index - 1
    box = stream.sequence.ground_truth[named]
    mark = stream.mark()
    response = stream.client.set_target(box, stream.stamps[named], "via_service")
    assert response.success, response.message
    status = stream.status_with(lambda s: s.target_id == "via_service", "with the service's target id", mark)
    assert stamp_ns(status.header) == stream.stamps[named]
    assert iou_xywh(stream.target_at(stream.stamps[named]), box) > 0.9


def test_set_target_for_a_frame_still_on_its_way_waits_while_images_keep_coming(stream):
    # the service waits for the worker; the images it waits for must still be delivered meanwhile
    # (an executor that served both on one thread would time out here: init rule 2)
    stream.step()
    ahead = stream.client.now_ns() + 400_000_000  # the stamp of a frame published below
    box = stream.sequence.ground_truth[stream.index]
    answers: list = []
    caller = threading.Thread(target=lambda: answers.append(stream.client.set_target(box, ahead, "ahead")))
    caller.start()
    time.sleep(0.2)  # the request is at the node, its frame not yet
    mark = stream.mark()
    stream.client.publish_image(stream.sequence.frames[stream.index], stamp=ahead)
    stream.stamps[stream.index] = ahead
    stream.index += 1
    caller.join(TIMEOUT_S)
    assert answers and answers[0].success, answers[0].message if answers else "no answer"
    status = stream.status_with(lambda s: s.target_id == "ahead", "with the early request's id", mark)
    assert stamp_ns(status.header) == ahead
    assert iou_xywh(stream.target_at(ahead), box) > 0.9


def test_click_reinitialises_around_the_point(stream):
    stream.step(1)
    x, y, w, h = stream.sequence.ground_truth[stream.index - 1]
    cx, cy = x + w / 2, y + h / 2
    mark = stream.mark()
    stream.client.publish_click(cx, cy)
    status = stream.status_with(lambda s: s.message == "initialised by init_point", "after the click", mark)
    assert status.state == TrackerStatus.TRACKING and status.target_id.startswith("target_")
    bx, by, bw, bh = stream.target_at(stamp_ns(status.header))
    assert bx <= cx <= bx + bw and by <= cy <= by + bh and bw > 0 and bh > 0


def test_an_init_naming_a_frame_no_longer_buffered_fails_and_the_target_is_kept(stream):
    stream.step(1)
    before = stream.client.statuses_for(stream.stamps[stream.index - 1])[-1].target_id
    box = stream.sequence.ground_truth[stream.index - 1]
    gone = 123_456_789  # a stamp far older than every buffered frame
    response = stream.client.set_target(box, gone, "gone_service")
    assert not response.success and "is no longer buffered" in response.message
    mark = stream.mark()
    stream.client.publish_init(box, gone, "gone_topic")
    # the service's own ERROR status may reach us after the mark: wait for the topic's
    error = stream.client.wait_until(
        lambda: [
            s
            for s in stream.client.messages("status")[mark:]
            if s.state == TrackerStatus.ERROR and s.message.startswith("init_target")
        ],
        TIMEOUT_S,
        "an ERROR status for an init naming a gone frame",
        stream.process,
    )[0]
    assert "init_target: the frame stamped 0.123456789 is no longer buffered" in error.message
    assert stamp_ns(error.header) == gone  # the request's own header
    assert stream.step(1).target_id == before


def test_reset_service_stops_tracking(stream):
    stream.step(1)
    mark = stream.mark()
    response = stream.client.reset()
    assert response.success
    status = stream.status_with(lambda s: s.state == TrackerStatus.UNINITIALIZED, "after ~/reset", mark)
    silent_from = stamp_ns(status.header)
    stream.step(2)
    assert not [t for t in stream.client.messages("target") if stamp_ns(t.header) >= silent_from]


def test_zero_size_box_on_the_topic_resets(stream):
    box = stream.sequence.ground_truth[stream.index - 1]
    mark = stream.mark()
    stream.client.publish_init(box, stream.stamps[stream.index - 1], "again")
    stream.status_with(
        lambda s: s.target_id == "again" and s.state == TrackerStatus.TRACKING, "re-init", mark
    )
    mark = stream.mark()
    stream.client.publish_init([10.0, 10.0, 0.0, 0.0], 0, "")
    stream.status_with(lambda s: s.state == TrackerStatus.UNINITIALIZED, "after a zero-size box", mark)

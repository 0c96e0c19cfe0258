"""The latest-frame slot, the ring of recent frames and the request queue between the node's
callbacks and its worker thread."""

from __future__ import annotations

import threading
import time

import pytest

from dmtrack_ros.frame_buffer import BufferedFrame, FrameBuffer, InitRequest


def frame(stamp: int) -> BufferedFrame:
    return BufferedFrame(message=f"msg{stamp}", stamp_ns=stamp, received_ns=stamp)


def test_only_the_latest_frame_is_handed_out_and_overwrites_are_counted():
    buffer = FrameBuffer(history=4)
    assert buffer.put_frame(frame(1)) is False
    assert buffer.put_frame(frame(2)) is True
    assert buffer.put_frame(frame(3)) is True
    assert buffer.wait(timeout=0.1).stamp_ns == 3
    assert buffer.wait(timeout=0.05) is None  # nothing new
    assert (buffer.counters.received, buffer.counters.overwritten) == (3, 2)


def test_requests_are_served_before_frames_in_order():
    buffer = FrameBuffer(history=4)
    buffer.put_frame(frame(1))
    buffer.put_request(InitRequest("box", "a", box_xywh=(0, 0, 1, 1)))
    buffer.put_request(InitRequest("reset", "b"))
    assert [buffer.wait(0.1).source, buffer.wait(0.1).source] == ["a", "b"]
    assert buffer.wait(0.1).stamp_ns == 1


def test_ring_finds_frames_by_stamp_and_falls_back_to_the_newest():
    buffer = FrameBuffer(history=3)
    assert buffer.find(5) == (None, False)
    for stamp in (10, 20, 30, 40):
        buffer.put_frame(frame(stamp))
    assert buffer.find(20) == (frame(20), True)
    assert buffer.find(10) == (frame(40), False)  # fell out of the ring
    assert buffer.find(0) == (frame(40), True)  # zero stamp = newest
    assert buffer.oldest_stamp_ns() == 20


def test_wait_wakes_up_on_a_frame_from_another_thread_and_on_close():
    buffer = FrameBuffer(history=2)
    threading.Timer(0.05, buffer.put_frame, args=(frame(7),)).start()
    started = time.monotonic()
    assert buffer.wait(timeout=5.0).stamp_ns == 7
    assert time.monotonic() - started < 2.0
    threading.Timer(0.05, buffer.close).start()
    assert buffer.wait(timeout=5.0) is None and buffer.closed


def test_request_queue_is_bounded_keeping_the_newest():
    buffer = FrameBuffer(history=2, max_requests=2)
    for name in "abc":
        buffer.put_request(InitRequest("reset", name))
    assert [buffer.wait(0.1).source for _ in range(2)] == ["b", "c"]


def test_history_must_be_positive():
    with pytest.raises(ValueError):
        FrameBuffer(history=0)

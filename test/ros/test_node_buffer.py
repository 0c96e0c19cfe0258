"""The latest-frame slot and the ring of recent frames between the node's image callback and
its worker: overwrites are counted, lookups say whether a stamp is here, not yet here or gone,
and the ring stays within its frame count and byte budget."""

from __future__ import annotations

import pytest

from dmtrack_ros.frame_buffer import BufferedFrame, FrameBuffer, Lookup

MB = 2**20


def frame(stamp: int, nbytes: int = 100) -> BufferedFrame:
    return BufferedFrame(message=f"msg{stamp}", stamp_ns=stamp, received_ns=stamp, nbytes=nbytes)


def test_only_the_latest_frame_is_handed_out_and_overwrites_are_counted():
    buffer = FrameBuffer(history=4, history_bytes=MB)
    assert buffer.put_frame(frame(1)) is False
    assert buffer.put_frame(frame(2)) is True
    assert buffer.put_frame(frame(3)) is True
    assert buffer.take_latest().stamp_ns == 3
    assert buffer.take_latest() is None and not buffer.has_latest()
    assert (buffer.counters.received, buffer.counters.overwritten) == (3, 2)


def test_lookups_tell_found_not_yet_and_gone_apart():
    buffer = FrameBuffer(history=3, history_bytes=MB)
    assert buffer.find(5) == (None, Lookup.NOT_YET)  # nothing received yet
    assert buffer.find(0) == (None, Lookup.NOT_YET)
    for stamp in (10, 20, 30, 40):
        buffer.put_frame(frame(stamp))
    found, lookup = buffer.find(20)
    assert (found.stamp_ns, lookup) == (20, Lookup.FOUND)
    assert buffer.find(10) == (None, Lookup.GONE)  # fell out of the ring
    assert buffer.find(25) == (None, Lookup.GONE)  # between frames: never coming
    assert buffer.find(50) == (None, Lookup.NOT_YET)  # newer than everything: may come
    assert buffer.find(0)[0].stamp_ns == 40  # zero stamp = newest
    assert buffer.oldest_stamp_ns() == 20


def test_the_ring_keeps_within_its_byte_budget_but_always_the_newest_frame():
    buffer = FrameBuffer(history=30, history_bytes=50 * MB)
    for stamp in range(1, 11):
        buffer.put_frame(frame(stamp, nbytes=25 * MB))  # a 4K rgb8 frame is 24.9 MB
    assert buffer.ring_usage() == (2, 50 * MB)
    buffer.put_frame(frame(11, nbytes=80 * MB))  # larger than the whole budget
    assert buffer.ring_usage() == (1, 80 * MB) and buffer.newest().stamp_ns == 11


def test_clear_latest_forgets_the_untaken_frame_but_not_the_ring():
    buffer = FrameBuffer(history=2, history_bytes=MB)
    buffer.put_frame(frame(7))
    buffer.clear_latest()
    assert buffer.take_latest() is None and buffer.find(7)[1] == Lookup.FOUND


def test_history_and_budget_must_be_positive():
    with pytest.raises(ValueError):
        FrameBuffer(history=0, history_bytes=MB)
    with pytest.raises(ValueError):
        FrameBuffer(history=1, history_bytes=0)

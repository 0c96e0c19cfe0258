"""Fully populated sample messages shared by the round-trip publisher and its test."""

from __future__ import annotations

from dmtrack_msgs.msg import TrackerStatus
from geometry_msgs.msg import PoseWithCovariance
from std_msgs.msg import Header
from vision_msgs.msg import BoundingBox2D, Detection2D, ObjectHypothesisWithPose


def header() -> Header:
    h = Header(frame_id="camera_optical")
    h.stamp.sec = 1_700_000_123
    h.stamp.nanosec = 456_789
    return h


def tracker_status() -> TrackerStatus:
    return TrackerStatus(
        header=header(),
        state=TrackerStatus.UNCERTAIN,
        target_id="target-7",
        score=0.625,
        presence=0.375,
        frames_since_seen=12,
        num_distractors=3,
        processing_ms=41.5,
        latency_ms=55.25,
        frames_processed=1234,
        frames_dropped=56,
        device="cpu",
        message="occluded by distractor 4",
    )


def detection() -> Detection2D:
    det = Detection2D(header=header(), id="target-7")
    det.bbox = BoundingBox2D()
    det.bbox.center.position.x = 320.5
    det.bbox.center.position.y = 240.25
    det.bbox.center.theta = 0.125
    det.bbox.size_x = 64.0
    det.bbox.size_y = 48.5
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = "target"
    hypothesis.hypothesis.score = 0.875
    hypothesis.pose = PoseWithCovariance()
    hypothesis.pose.pose.position.x = 1.5
    hypothesis.pose.pose.orientation.w = 1.0
    hypothesis.pose.covariance[0] = 0.25
    hypothesis.pose.covariance[35] = 2.0
    det.results.append(hypothesis)
    return det


def to_plain(value):
    """A ROS message as nested dicts/lists of plain values, every field included."""
    if hasattr(value, "get_fields_and_field_types"):
        return {name: to_plain(getattr(value, name)) for name in value.get_fields_and_field_types()}
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    return value

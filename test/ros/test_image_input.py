"""Image topic names (image_transport convention) and the reliability that matches the
publishers, as pure functions."""

from __future__ import annotations

from rclpy.qos import ReliabilityPolicy

from dmtrack_ros.image_input import choose_reliability, image_topics

RELIABLE, BEST_EFFORT = ReliabilityPolicy.RELIABLE, ReliabilityPolicy.BEST_EFFORT


def test_reliable_only_while_every_publisher_is_reliable():
    assert choose_reliability("auto", []) == BEST_EFFORT  # matches whoever comes first
    assert choose_reliability("auto", [RELIABLE, RELIABLE]) == RELIABLE
    assert choose_reliability("auto", [RELIABLE, BEST_EFFORT]) == BEST_EFFORT
    assert choose_reliability("reliable", [BEST_EFFORT]) == RELIABLE  # configured: fixed
    assert choose_reliability("best_effort", [RELIABLE]) == BEST_EFFORT


def test_compressed_and_camera_info_sit_beside_the_image_unless_camera_info_is_remapped():
    default_info = "/ns/camera_info"
    assert image_topics("/cam/front/image_raw", default_info, default_info) == (
        "/cam/front/image_raw/compressed",
        "/cam/front/camera_info",
    )
    assert image_topics("/image", "/camera_info", "/camera_info") == ("/image/compressed", "/camera_info")
    assert image_topics("/cam/image", "/calib/info", default_info)[1] == "/calib/info"

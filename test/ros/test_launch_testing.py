"""launch_testing version of the node scenario, for machines with a full ROS 2 install
(`launch_test test/ros/test_launch_testing.py`, or pytest with the launch_testing plugin).

The `launch` packages are not on the package index, so on a pip-only machine this module is
skipped; the same scenario (node started as its own process, a test node publishing a
generated sequence, init, outputs with the source headers) runs there through
test_node_tracking.py, test_node_reinit.py and test_node_bad_input.py.
"""

from __future__ import annotations

import os
import time
import unittest

import pytest

pytest.importorskip("launch_testing", reason="launch_testing needs a full ROS 2 install")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
import rclpy  # noqa: E402
from dmtrack_msgs.msg import TrackerStatus  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from vision_msgs.msg import Detection2D  # noqa: E402

import launch  # noqa: E402
from dmtrack_ros.conversions import box_to_bbox, rgb_to_image  # noqa: E402

LAUNCH_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "launch", "dmtrack.launch.py")
IMAGE_TOPIC = "/launch_test/image"
FRAME_ID = "launch_test_camera"


@pytest.mark.launch_test
def generate_test_description():
    node = launch.actions.IncludeLaunchDescription(
        PythonLaunchDescriptionSource(LAUNCH_FILE),
        launch_arguments={"namespace": "launch_test", "image": IMAGE_TOPIC, "device": "cpu"}.items(),
    )
    return launch.LaunchDescription([node, launch_testing.actions.ReadyToTest()])


class TestTrackerNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node("dmtrack_launch_test_client")

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_init_then_tracking_outputs_carry_the_source_header(self):
        from dmtrack_core.evaluation.synth import SynthConfig, generate_sequence

        sequence = generate_sequence(1, SynthConfig(width=320, height=240, min_frames=30, max_frames=30))
        statuses: list[TrackerStatus] = []
        self.node.create_subscription(TrackerStatus, "/launch_test/dmtrack/status", statuses.append, 100)
        images = self.node.create_publisher(Image, IMAGE_TOPIC, 10)
        init = self.node.create_publisher(Detection2D, "/launch_test/init_target", 10)
        deadline = time.monotonic() + 60.0
        while images.get_subscription_count() == 0 and time.monotonic() < deadline:
            rclpy.spin_once(self.node, timeout_sec=0.1)
        self.assertGreater(images.get_subscription_count(), 0, "the node never subscribed")

        stamps = []
        for index, frame in enumerate(sequence.frames):
            header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id=FRAME_ID)
            images.publish(rgb_to_image(frame, header))
            stamps.append((header.stamp.sec, header.stamp.nanosec))
            if index == 0:
                time.sleep(1.0)
                init.publish(
                    Detection2D(header=header, bbox=box_to_bbox(sequence.ground_truth[0]), id="launch")
                )
            end = time.monotonic() + 30.0
            while time.monotonic() < end and not any(
                (s.header.stamp.sec, s.header.stamp.nanosec) == stamps[-1] for s in statuses
            ):
                rclpy.spin_once(self.node, timeout_sec=0.1)

        self.assertTrue(statuses)
        self.assertTrue(all(s.header.frame_id == FRAME_ID for s in statuses))
        self.assertTrue(all((s.header.stamp.sec, s.header.stamp.nanosec) in stamps for s in statuses))
        self.assertIn("launch", {s.target_id for s in statuses})


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])

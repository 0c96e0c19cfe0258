"""A publisher node in its own process: sends the sample messages until it is stopped."""

from __future__ import annotations

import rclpy
from dmtrack_msgs.msg import TrackerStatus
from rclpy.node import Node
from sample_messages import detection, tracker_status
from vision_msgs.msg import Detection2D


def main() -> None:
    rclpy.init()
    node = Node("roundtrip_publisher")
    status_pub = node.create_publisher(TrackerStatus, "roundtrip/status", 10)
    detection_pub = node.create_publisher(Detection2D, "roundtrip/detection", 10)

    def publish() -> None:
        status_pub.publish(tracker_status())
        detection_pub.publish(detection())

    node.create_timer(0.05, publish)
    try:
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()

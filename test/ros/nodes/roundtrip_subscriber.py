"""A subscriber node in its own process: prints the first message of each topic as JSON
(every field, nested) on stdout, then exits."""

from __future__ import annotations

import json
import sys

import rclpy
from dmtrack_msgs.msg import TrackerStatus
from rclpy.node import Node
from sample_messages import to_plain
from vision_msgs.msg import Detection2D


def main() -> int:
    rclpy.init()
    node = Node("roundtrip_subscriber")
    received: dict[str, dict] = {}

    def keep(name: str):
        return lambda msg: received.setdefault(name, to_plain(msg))

    node.create_subscription(TrackerStatus, "roundtrip/status", keep("status"), 10)
    node.create_subscription(Detection2D, "roundtrip/detection", keep("detection"), 10)
    deadline = node.get_clock().now().nanoseconds + 20 * 10**9
    while len(received) < 2 and node.get_clock().now().nanoseconds < deadline:
        rclpy.spin_once(node, timeout_sec=0.1)
    print(json.dumps(received))
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if len(received) == 2 else 1


if __name__ == "__main__":
    sys.exit(main())

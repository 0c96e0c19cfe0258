"""A camera stand-in in its own process: publishes WIDTHxHEIGHT rgb8 images on TOPIC at RATE Hz
for SECONDS with the given reliability, once a subscriber of that reliability has matched,
then prints how many it published as JSON and exits.

python image_publisher.py TOPIC WIDTH HEIGHT RATE SECONDS {reliable,best_effort}
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

MATCH_TIMEOUT_S = 60.0


def main() -> int:
    topic, width, height, rate, seconds, reliability = sys.argv[1:7]
    width, height, rate, seconds = int(width), int(height), float(rate), float(seconds)
    policy = ReliabilityPolicy.RELIABLE if reliability == "reliable" else ReliabilityPolicy.BEST_EFFORT
    rclpy.init()
    node = rclpy.create_node("image_publisher_test")
    publisher = node.create_publisher(Image, topic, QoSProfile(depth=5, reliability=policy))
    # wait until the node's subscription has followed this publisher's reliability
    deadline = time.monotonic() + MATCH_TIMEOUT_S
    while time.monotonic() < deadline:
        subscriptions = node.get_subscriptions_info_by_topic(topic)
        if publisher.get_subscription_count() > 0 and any(
            s.qos_profile.reliability == policy for s in subscriptions
        ):
            break
        time.sleep(0.05)
    else:
        print(json.dumps({"error": f"no {reliability} subscriber on {topic}"}), flush=True)
        return 1
    time.sleep(0.5)  # let the new subscription's endpoint settle on both sides
    row = np.arange(width * 3, dtype=np.uint8)
    data = np.tile(row, height).tobytes()
    published = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        message = Image(height=height, width=width, encoding="rgb8", step=width * 3, data=data)
        message.header.stamp = node.get_clock().now().to_msg()
        message.header.frame_id = "camera"
        publisher.publish(message)
        published += 1
        time.sleep(max(0.0, started + published / rate - time.monotonic()))
    time.sleep(1.0)  # reliable: give the last samples time to be acknowledged
    print(json.dumps({"published": published, "seconds": time.monotonic() - started}), flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The image subscription: topic names by the image_transport convention, QoS that matches
the publishers, the standard QoS override parameters, and transport-loss counting.

Why "match the publishers": with Fast DDS a best-effort subscription loses most frames larger
than its 512 KB shared-memory segment (640x480 rgb8 is 921 KB), while reliable publisher +
reliable subscription delivers every frame. A reliable subscription cannot match a
best-effort publisher, so the node subscribes reliable only while every publisher is
reliable (what rosbag2 and ``ros2 topic echo`` do), re-checks whenever the publishers
change, and falls back to best effort otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from dmtrack_ros.params import NodeParams

AUTO_RELIABILITY = "best_available"  # the override value meaning "match the publishers"
LOSS_ADVICE = (
    "publish the images reliable, or start the camera with a Fast DDS profile that has a large "
    "shared-memory segment (FASTRTPS_DEFAULT_PROFILES_FILE=<dmtrack_ros share>/config/fastdds_large_data.xml)"
)


def image_topics(resolved_image: str, resolved_camera_info: str, default_camera_info: str) -> tuple[str, str]:
    """(compressed topic, camera_info topic) for a resolved image topic (image_transport rules):
    ``<image>/compressed``, and ``camera_info`` beside the image unless it was remapped itself."""
    compressed = resolved_image.rstrip("/") + "/compressed"
    if resolved_camera_info != default_camera_info:
        return compressed, resolved_camera_info
    parent = resolved_image.rsplit("/", 1)[0]
    return compressed, (parent or "") + "/camera_info"


def choose_reliability(configured: str, publishers: Sequence[ReliabilityPolicy]) -> ReliabilityPolicy:
    """The subscription's reliability: fixed when configured, else reliable exactly while there
    are publishers and all of them are reliable."""
    if configured == "reliable":
        return ReliabilityPolicy.RELIABLE
    if configured == "best_effort":
        return ReliabilityPolicy.BEST_EFFORT
    if publishers and all(policy == ReliabilityPolicy.RELIABLE for policy in publishers):
        return ReliabilityPolicy.RELIABLE
    return ReliabilityPolicy.BEST_EFFORT


class ImageInput:
    """One image subscription on ``node`` that follows its publishers' reliability."""

    def __init__(
        self,
        node: Any,
        message_type: type,
        topic: str,
        callback: Callable[[Any], None],
        on_lost: Callable[[int], None],
        params: NodeParams,
        callback_group: Any = None,
    ) -> None:
        self._node, self._type, self.topic = node, message_type, topic
        self._callback, self._on_lost, self._group = callback, on_lost, callback_group
        self._subscription = None
        self._current: ReliabilityPolicy | None = None
        # the publisher check (a timer) and ~/enable (a service) run on different executor threads
        self._lock = threading.Lock()
        self.configured, self.history, self.depth = self._declare_overrides(params)
        self.resume()

    def _declare_overrides(self, params: NodeParams) -> tuple[str, HistoryPolicy, int]:
        """The standard ``qos_overrides.<topic>.subscription.*`` parameters, declared with the
        node parameters as defaults (so ``ros2 param get`` shows what is used)."""
        from rcl_interfaces.msg import ParameterDescriptor

        prefix = f"qos_overrides.{self.topic}.subscription."
        reliability = AUTO_RELIABILITY if params.qos_reliability == "auto" else params.qos_reliability
        defaults = {"history": "keep_last", "depth": params.qos_depth, "reliability": reliability}
        values = {}
        for policy, default in defaults.items():
            descriptor = ParameterDescriptor(
                description=f"{policy} for subscription `{self.topic}`"
                + (f" ({AUTO_RELIABILITY} = match the publishers)" if policy == "reliability" else ""),
                read_only=True,
            )
            values[policy] = self._node.declare_parameter(prefix + policy, default, descriptor).value
        configured = str(values["reliability"]).lower()
        configured = "auto" if configured in (AUTO_RELIABILITY, "system_default") else configured
        if configured not in ("auto", "reliable", "best_effort"):
            raise ValueError(f"{prefix}reliability must be reliable, best_effort or {AUTO_RELIABILITY}")
        history = (
            HistoryPolicy.KEEP_ALL
            if str(values["history"]).lower() == "keep_all"
            else HistoryPolicy.KEEP_LAST
        )
        depth = int(values["depth"])
        if depth < 1:
            raise ValueError(f"{prefix}depth must be >= 1, got {depth}")
        return configured, history, depth

    @property
    def reliability(self) -> str:
        """What the subscription uses now ("paused" while paused)."""
        return self._current.name.lower() if self._current is not None else "paused"

    def _publisher_policies(self) -> list[ReliabilityPolicy]:
        return [info.qos_profile.reliability for info in self._node.get_publishers_info_by_topic(self.topic)]

    def _subscribe(self, reliability: ReliabilityPolicy) -> None:
        profile = QoSProfile(
            history=self.history,
            depth=self.depth,
            reliability=reliability,
            durability=DurabilityPolicy.VOLATILE,
        )
        events = SubscriptionEventCallbacks(message_lost=self._lost)
        self._subscription = self._node.create_subscription(
            self._type,
            self.topic,
            self._callback,
            profile,
            event_callbacks=events,
            callback_group=self._group,
        )
        self._current = reliability

    def _lost(self, info: Any) -> None:
        self._on_lost(int(info.total_count_change))

    def recheck(self) -> bool:
        """Follow the publishers (called periodically); True if the subscription changed."""
        with self._lock:
            if self._subscription is None or self.configured != "auto":
                return False
            wanted = choose_reliability("auto", self._publisher_policies())
            if wanted == self._current:
                return False
            self._node.destroy_subscription(self._subscription)
            self._subscribe(wanted)
        reliable = wanted == ReliabilityPolicy.RELIABLE
        self._node.get_logger().info(
            f"image publishers on {self.topic}: "
            + (
                "all reliable, subscribing reliable"
                if reliable
                else "not all reliable, subscribing best effort"
            )
        )
        return True

    def pause(self) -> None:
        with self._lock:
            if self._subscription is not None:
                self._node.destroy_subscription(self._subscription)
            self._subscription, self._current = None, None

    def resume(self) -> None:
        with self._lock:
            if self._subscription is None:
                self._subscribe(choose_reliability(self.configured, self._publisher_policies()))

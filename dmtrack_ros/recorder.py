"""The recorder node: collects the tracker's outputs per frame, keyed by the image stamp.

It subscribes to the tracker node's `~/target`, `~/distractors` and `~/status` with the QoS
the tracker offers (so it neither misses a reliable stream nor fails to match a best-effort
one), and optionally writes every output message to a rosbag2 with `rosbags`.
"""

from __future__ import annotations

import importlib
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_NAMES = {0: "UNINITIALIZED", 1: "TRACKING", 2: "UNCERTAIN", 3: "LOST", 4: "ERROR"}


def stamp_ns(header) -> int:
    return int(header.stamp.sec) * 10**9 + int(header.stamp.nanosec)


def detection_to_dict(detection) -> dict[str, Any]:
    """The fields of a vision_msgs/Detection2D that the outputs keep, exactly as published."""
    cx, cy = detection.bbox.center.position.x, detection.bbox.center.position.y
    w, h = detection.bbox.size_x, detection.bbox.size_y
    score = detection.results[0].hypothesis.score if len(detection.results) else None
    return {
        "id": detection.id,
        "center": [cx, cy],
        "size": [w, h],
        "box_xywh": [cx - w / 2.0, cy - h / 2.0, w, h],
        "score": score,
    }


def status_to_dict(status) -> dict[str, Any]:
    return {
        "state": STATE_NAMES.get(int(status.state), str(status.state)),
        "target_id": status.target_id,
        "score": float(status.score),
        "presence": float(status.presence),
        "frames_since_seen": int(status.frames_since_seen),
        "num_distractors": int(status.num_distractors),
        "processing_ms": float(status.processing_ms),
        "latency_ms": float(status.latency_ms),
        "frames_processed": int(status.frames_processed),
        "frames_dropped": int(status.frames_dropped),
        "device": status.device,
        "message": status.message,
    }


@dataclass
class FrameOutputs:
    """Everything the tracker published for one source frame."""

    stamp_ns: int
    status: dict[str, Any] | None = None
    target: dict[str, Any] | None = None
    distractors: list[dict[str, Any]] | None = None
    status_received_monotonic: float | None = None


@dataclass
class TrackerTopics:
    target: str
    distractors: str
    status: str

    @classmethod
    def of_node(cls, node_fqn: str) -> TrackerTopics:
        """The private output topics of the node with fully qualified name ``node_fqn``."""
        return cls(f"{node_fqn}/target", f"{node_fqn}/distractors", f"{node_fqn}/status")


class OutputBag:
    """Output messages (serialised by rclpy) for a rosbag2, written with `rosbags` on close().

    Messages are kept in memory until then: outputs are a few hundred bytes per frame, and
    rosbags' sqlite3 storage may only be used from the thread that opened it, while the
    messages arrive on the executor's thread.
    """

    def __init__(self, path: str | Path, storage: str = "sqlite3") -> None:
        if storage not in ("sqlite3", "mcap"):
            raise ValueError(f"storage must be sqlite3 or mcap, got {storage}")
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"{self.path} exists already")
        self.storage = storage
        self.topics: dict[str, type] = {}
        self.messages: list[tuple[str, bytes, int]] = []
        self.lock = threading.Lock()

    def add_topic(self, topic: str, msg_class: type) -> None:
        self.topics[topic] = msg_class

    def write(self, topic: str, msg, time_ns: int) -> None:
        from rclpy.serialization import serialize_message

        data = serialize_message(msg)
        with self.lock:
            self.messages.append((topic, data, time_ns))

    def close(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore

        plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}[self.storage]
        typestore = get_typestore(Stores.ROS2_JAZZY)
        with self.lock:
            messages, self.messages = self.messages, []
        with Writer(self.path, version=9, storage_plugin=plugin) as writer:
            connections = {}
            for topic, msg_class in self.topics.items():
                register_message_types(typestore, msg_class)
                connections[topic] = writer.add_connection(
                    topic, ros_type_name(msg_class), typestore=typestore
                )
            for topic, data, time_ns in sorted(messages, key=lambda item: item[2]):
                writer.write(connections[topic], time_ns, data)


def ros_type_name(msg_class: type) -> str:
    """'vision_msgs/msg/Detection2D' for the rclpy class."""
    package = msg_class.__module__.split(".")[0]
    return f"{package}/msg/{msg_class.__name__}"


def _definition_file(package: str, name: str) -> Path:
    """The installed .msg file of a message: <prefix>/share/<package>/msg/<name>.msg.

    Found from the Python package's location, which sits under the same prefix both in a
    virtual environment and in a ROS install (<prefix>/lib/pythonX.Y/site-packages/<package>).
    """
    module_file = Path(importlib.import_module(package).__file__ or "")
    for prefix in module_file.parents:
        candidate = prefix / "share" / package / "msg" / f"{name}.msg"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no installed definition {package}/msg/{name}.msg")


_NESTED_TYPE = re.compile(r"([A-Za-z0-9_]+)/([A-Za-z0-9_]+)")


def register_message_types(typestore, msg_class: type) -> None:
    """Make ``msg_class`` and the message types it contains known to a rosbags typestore."""
    from rosbags.typesys import get_types_from_msg

    pending = [msg_class]
    while pending:
        cls = pending.pop()
        name = ros_type_name(cls)
        if name not in typestore.fielddefs:
            package, _, short = name.split("/")
            text = _definition_file(package, short).read_text()
            typestore.register(get_types_from_msg(text, name))
        for field_type in cls.get_fields_and_field_types().values():
            match = _NESTED_TYPE.search(field_type)
            if match:
                module = importlib.import_module(f"{match.group(1)}.msg")
                pending.append(getattr(module, match.group(2)))


class RecorderNode:
    """Subscribes to a tracker node's outputs and keeps them per frame stamp."""

    def __init__(
        self,
        topics: TrackerTopics,
        *,
        node_name: str = "dmtrack_recorder",
        context=None,
        bag: OutputBag | None = None,
    ) -> None:
        from rclpy.node import Node

        self.topics = topics
        self.node = Node(node_name, context=context)
        self.bag = bag
        self.outputs: dict[int, FrameOutputs] = {}
        self.condition = threading.Condition()
        self.last_message_monotonic: float | None = None
        self.subscriptions: list = []

    def publishers_present(self) -> bool:
        return all(
            self.node.count_publishers(t) > 0
            for t in (self.topics.target, self.topics.distractors, self.topics.status)
        )

    def subscribe(self) -> None:
        """Create the subscriptions, matching the QoS of the publishers seen so far."""
        from dmtrack_msgs.msg import TrackerStatus
        from vision_msgs.msg import Detection2D, Detection2DArray

        for topic, msg_class, handler in (
            (self.topics.status, TrackerStatus, self._on_status),
            (self.topics.target, Detection2D, self._on_target),
            (self.topics.distractors, Detection2DArray, self._on_distractors),
        ):
            if self.bag is not None:
                self.bag.add_topic(topic, msg_class)
            self.subscriptions.append(
                self.node.create_subscription(msg_class, topic, handler, matching_qos(self.node, topic))
            )

    def matched(self) -> bool:
        """Every subscription is connected to a publisher (outputs from now on arrive)."""
        return bool(self.subscriptions) and all(s.get_publisher_count() > 0 for s in self.subscriptions)

    def _entry(self, stamp: int) -> FrameOutputs:
        entry = self.outputs.get(stamp)
        if entry is None:
            entry = self.outputs[stamp] = FrameOutputs(stamp)
        return entry

    def _store(self, topic: str, msg, update) -> None:
        with self.condition:
            update(self._entry(stamp_ns(msg.header)))
            self.last_message_monotonic = time.monotonic()
            self.condition.notify_all()
        if self.bag is not None:
            self.bag.write(topic, msg, self.node.get_clock().now().nanoseconds)

    def _on_status(self, msg) -> None:
        def update(entry: FrameOutputs) -> None:
            entry.status = status_to_dict(msg)
            entry.status_received_monotonic = time.monotonic()

        self._store(self.topics.status, msg, update)

    def _on_target(self, msg) -> None:
        self._store(self.topics.target, msg, lambda entry: setattr(entry, "target", detection_to_dict(msg)))

    def _on_distractors(self, msg) -> None:
        items = [detection_to_dict(d) for d in msg.detections]
        self._store(self.topics.distractors, msg, lambda entry: setattr(entry, "distractors", items))

    def wait_for_status(self, stamp: int, timeout_s: float) -> bool:
        """Block until a status for the frame ``stamp`` has arrived (True) or the time is up."""
        return self._wait(lambda entry: entry.status is not None, stamp, timeout_s)

    def wait_for_init_answer(self, stamp: int, timeout_s: float) -> bool:
        """Block until the tracker has taken (or refused) the target on frame ``stamp``: a
        target on that frame, or a status of it that is no longer UNINITIALIZED."""

        def answered(entry: FrameOutputs) -> bool:
            return entry.target is not None or (
                entry.status is not None and entry.status["state"] != STATE_NAMES[0]
            )

        return self._wait(answered, stamp, timeout_s)

    def _wait(self, done, stamp: int, timeout_s: float) -> bool:
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self.condition:
            while True:
                entry = self.outputs.get(stamp)
                if entry is not None and done(entry):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(remaining)

    def snapshot(self) -> dict[int, FrameOutputs]:
        with self.condition:
            return dict(self.outputs)


def matching_qos(node, topic: str):
    """A subscription QoS that matches every publisher of ``topic`` seen now.

    Reliable when all publishers are reliable (so nothing is lost), best effort otherwise
    (a reliable subscription would not match a best-effort publisher at all).
    """
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    infos = node.get_publishers_info_by_topic(topic)
    reliable = bool(infos) and all(i.qos_profile.reliability == ReliabilityPolicy.RELIABLE for i in infos)
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=100,
        reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )

"""Test harness for the node integration tests: the node in its own process, and a test
client node in the pytest process that publishes frames and records every output.

Each test module gets its own ROS domain id and a random namespace, so concurrent test runs
on one machine never hear each other.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from dmtrack_msgs.msg import TrackerStatus
from dmtrack_msgs.srv import SetTarget
from geometry_msgs.msg import Point
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray
from visualization_msgs.msg import MarkerArray

from dmtrack_ros.conversions import box_to_bbox
from dmtrack_ros.tracker_process import TrackerProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILE = REPO_ROOT / "config" / "dmtrack.yaml"
NODE_EXECUTABLE = Path(sys.executable).with_name("dmtrack_node")
FRAME_ID = "camera_test"
OUTPUTS = ("target", "distractors", "status", "markers", "debug_image")


def unique_namespace() -> str:
    return "/t_" + uuid.uuid4().hex[:10]


def unique_domain_id() -> int:
    # 0..101 are the ids whose ports never clash on Linux; randomness keeps parallel runs apart
    return random.SystemRandom().randint(1, 101)


def ros_environment(domain_id: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ROS_DOMAIN_ID=str(domain_id),
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        PYTHONUNBUFFERED="1",
        RCUTILS_COLORIZED_OUTPUT="0",
    )
    # the node must not steal both cores from the test client; results do not depend on it
    env.setdefault("OMP_NUM_THREADS", "2")
    return env


def stamp_ns(header: Header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def header_at(ns: int, frame_id: str = FRAME_ID) -> Header:
    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(int(ns), 1_000_000_000)
    return header


def image_message(rgb: np.ndarray, header: Header, encoding: str = "rgb8") -> Image:
    rgb = np.ascontiguousarray(rgb)
    height, width = rgb.shape[:2]
    row = rgb.reshape(height, -1)
    return Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=0,
        step=row.shape[1],
        data=row.tobytes(),
    )


def iou_xywh(a: Iterable[float], b: Iterable[float]) -> float:
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class NodeProcess(TrackerProcess):
    """`dmtrack_node` started by its console script in its own ROS domain, with the
    installed parameters file unless told otherwise."""

    def __init__(
        self,
        namespace: str,
        domain_id: int,
        log_path: Path,
        parameters: dict[str, Any] | None = None,
        params_file: Path | None = PARAMS_FILE,
    ) -> None:
        super().__init__(
            namespace,
            log_path,
            parameters=parameters,
            params_file=params_file,
            env=ros_environment(domain_id),
            command=[str(NODE_EXECUTABLE)],
        )

    def start(self) -> NodeProcess:
        super().start()
        return self

    def rss_kb(self) -> int:
        assert self.pid is not None
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS line")


class Recorder:
    """Messages received on one topic, with their arrival time, safe to read from the test."""

    def __init__(self, condition: threading.Condition) -> None:
        self.condition = condition
        self.items: list[tuple[float, Any]] = []

    def __call__(self, msg: Any) -> None:
        with self.condition:
            self.items.append((time.monotonic(), msg))
            self.condition.notify_all()

    def messages(self) -> list[Any]:
        with self.condition:
            return [msg for _, msg in self.items]

    def clear(self) -> None:
        with self.condition:
            self.items.clear()


class TestClient:
    """A node in the pytest process: publishes the node's inputs and records all its outputs."""

    __test__ = False  # not a pytest test class

    def __init__(self, namespace: str, domain_id: int) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node("dmtrack_test_client", namespace=namespace, context=self.context)
        self.condition = threading.Condition()
        node_ns = namespace.rstrip("/") + "/dmtrack"
        # a camera publishes reliable (the node subscribes best effort and must match it)
        self.image_pub = self.node.create_publisher(Image, "image", 10)
        self.init_pub = self.node.create_publisher(Detection2D, "init_target", 10)
        self.point_pub = self.node.create_publisher(Point, "init_point", 10)
        self.info_pub = self.node.create_publisher(CameraInfo, "camera_info", 10)
        reliable = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        self.recorders: dict[str, Recorder] = {}
        for name, kind in (
            ("target", Detection2D),
            ("distractors", Detection2DArray),
            ("status", TrackerStatus),
            ("markers", MarkerArray),
            ("debug_image", Image),
        ):
            self.recorders[name] = Recorder(self.condition)
            self.node.create_subscription(kind, f"{node_ns}/{name}", self.recorders[name], reliable)
        self.recorders["diagnostics"] = Recorder(self.condition)
        self.node.create_subscription(
            DiagnosticArray, "/diagnostics", self.recorders["diagnostics"], reliable
        )
        self.set_target_client = self.node.create_client(SetTarget, f"{node_ns}/set_target")
        self.reset_client = self.node.create_client(Trigger, f"{node_ns}/reset")
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._spinner = threading.Thread(target=self._spin, daemon=True)
        self._spinner.start()

    def _spin(self) -> None:
        with contextlib.suppress(Exception):  # the context is shut down at teardown
            self.executor.spin()

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self._spinner.join(timeout=5.0)

    # --- waiting ---------------------------------------------------------------------------
    def wait_until(
        self, predicate: Callable[[], Any], timeout: float, what: str, process: NodeProcess | None = None
    ) -> Any:
        deadline = time.monotonic() + timeout
        with self.condition:
            while True:
                value = predicate()
                if value:
                    return value
                if process is not None and not process.alive():
                    log = process.log()[-3000:]
                    raise AssertionError(f"the node exited while waiting for {what}:\n{log}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    tail = process.log()[-3000:] if process is not None else ""
                    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{tail}")
                self.condition.wait(timeout=min(remaining, 0.2))

    def wait_for_node(self, process: NodeProcess, timeout: float = 120.0) -> None:
        """Until the node has subscribed to the images and its status reaches us."""
        output_topics = [self.node.resolve_topic_name(f"dmtrack/{name}") for name in OUTPUTS]
        raw_images = "use_compressed:=true" not in process.args
        self.wait_until(
            lambda: (
                (self.image_pub.get_subscription_count() > 0 or not raw_images)
                and self.init_pub.get_subscription_count() > 0
                and all(self.node.count_publishers(topic) > 0 for topic in output_topics)
            ),
            timeout,
            "the node's subscriptions and publishers",
            process,
        )
        assert self.set_target_client.wait_for_service(timeout_sec=30.0)
        assert self.reset_client.wait_for_service(timeout_sec=30.0)

    def statuses_for(self, stamp: int) -> list[TrackerStatus]:
        return [m for m in self.recorders["status"].messages() if stamp_ns(m.header) == stamp]

    def wait_status(self, stamp: int, timeout: float, process: NodeProcess | None = None) -> TrackerStatus:
        what = f"a status for stamp {stamp}"
        return self.wait_until(lambda: self.statuses_for(stamp), timeout, what, process)[-1]

    def messages(self, name: str) -> list[Any]:
        return self.recorders[name].messages()

    # --- publishing ------------------------------------------------------------------------
    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def publish_image(
        self, rgb: np.ndarray, stamp: int | None = None, frame_id: str = FRAME_ID, encoding: str = "rgb8"
    ) -> int:
        stamp = self.now_ns() if stamp is None else stamp
        self.image_pub.publish(image_message(rgb, header_at(stamp, frame_id), encoding))
        return stamp

    def publish_raw(self, msg: Image) -> None:
        self.image_pub.publish(msg)

    def publish_init(self, box_xywh: Iterable[float], stamp: int, target_id: str) -> None:
        self.init_pub.publish(
            Detection2D(header=header_at(stamp), bbox=box_to_bbox(list(box_xywh)), id=target_id)
        )

    def publish_click(self, x: float, y: float) -> None:
        self.point_pub.publish(Point(x=float(x), y=float(y), z=0.0))

    def set_target(
        self, box_xywh: Iterable[float], stamp: int, target_id: str, timeout: float = 20.0
    ) -> SetTarget.Response:
        request = SetTarget.Request(header=header_at(stamp), bbox=box_to_bbox(list(box_xywh)), id=target_id)
        return self._call(self.set_target_client, request, timeout)

    def reset(self, timeout: float = 20.0) -> Trigger.Response:
        return self._call(self.reset_client, Trigger.Request(), timeout)

    def _call(self, client, request, timeout: float):
        future = client.call_async(request)
        deadline = time.monotonic() + timeout
        while not future.done():
            if time.monotonic() > deadline:
                raise AssertionError(f"service {client.srv_name} did not answer within {timeout} s")
            time.sleep(0.01)
        return future.result()


@contextlib.contextmanager
def running_node(
    log_dir: Path, parameters: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> Iterator[tuple[NodeProcess, TestClient]]:
    """The node in its own process and a connected test client; both torn down afterwards."""
    namespace, domain_id = unique_namespace(), unique_domain_id()
    process = NodeProcess(namespace, domain_id, log_dir / "node.log", parameters)
    process.env.update(env or {})
    process.start()
    client = None
    try:
        client = TestClient(namespace, domain_id)
        client.wait_for_node(process)
        yield process, client
    finally:
        if client is not None:
            client.close()
        process.stop()


def synthetic_sequence(seed: int = 1):
    """A small generated sequence (320x240) with ground truth, look-alike distractors and, for
    seed 1, the target leaving the view and coming back."""
    from dmtrack_core.evaluation.synth import SynthConfig, generate_sequence

    config = SynthConfig(width=320, height=240, min_frames=90, max_frames=110, target_size=(40.0, 70.0))
    return generate_sequence(seed, config)

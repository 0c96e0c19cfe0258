"""Frame sources (video file, rosbag2) and the player node that streams them as ROS images.

The player publishes each frame as `sensor_msgs/Image` at the source's own pace (the video's
frame rate, or the bag's recorded time stamps), and sends the initial target as a
`vision_msgs/Detection2D` whose header stamp is the stamp of the frame it refers to.
"""

from __future__ import annotations

import array
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

IMAGE_MSGTYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")


class SourceError(ValueError):
    """The input cannot be played (missing file, unreadable video, unknown topic, ...)."""


@dataclass(frozen=True)
class Frame:
    """One decoded frame. ``time_s`` is its position on the source's own time line."""

    index: int
    image_rgb: np.ndarray
    time_s: float
    source_stamp_ns: int | None = None  # header stamp recorded in a bag


class VideoSource:
    """Frames of a video file read with OpenCV."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        capture = cv2.VideoCapture(str(self.path))
        try:
            ok, first = capture.read() if capture.isOpened() else (False, None)
            if not ok or first is None:
                raise SourceError(f"cannot decode video: {self.path}")
            fps = capture.get(cv2.CAP_PROP_FPS)
            count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        finally:
            capture.release()
        # some containers report 0 or NaN; 30 fps is the common camera default
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 30.0
        self.frame_count = count if count > 0 else None
        self.size = (int(first.shape[1]), int(first.shape[0]))
        self.description = f"{self.path.name} ({self.size[0]}x{self.size[1]}, {self.fps:g} fps)"

    def frames(self, start: int = 0, end: int | None = None) -> Iterator[Frame]:
        capture = cv2.VideoCapture(str(self.path))
        try:
            index = 0
            while end is None or index < end:
                ok, bgr = capture.read()
                if not ok:
                    break
                # decode-and-skip instead of seeking: seeking in compressed video is not exact
                if index >= start:
                    yield Frame(index, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), index / self.fps)
                index += 1
        finally:
            capture.release()


def _bag_reader(path: Path):
    from rosbags.rosbag2 import Reader

    try:
        return Reader(path)
    except Exception as exc:  # rosbags raises several types for unreadable bags
        raise SourceError(f"cannot read rosbag2 {path}: {exc}") from exc


class BagSource:
    """Image messages of one topic of a rosbag2 (sqlite3 or MCAP), read with `rosbags`."""

    def __init__(self, path: str | Path, topic: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"rosbag2 not found: {self.path}")
        reader = _bag_reader(self.path)
        with reader:
            topics = {c.topic: c.msgtype for c in reader.connections if c.msgtype in IMAGE_MSGTYPES}
            counts = {c.topic: c.msgcount for c in reader.connections}
        if not topics:
            raise SourceError(f"rosbag2 {self.path} has no sensor_msgs/Image or CompressedImage topic")
        if topic is None:
            if len(topics) > 1:
                raise SourceError(
                    f"rosbag2 has several image topics, choose one with --topic: {', '.join(sorted(topics))}"
                )
            topic = next(iter(topics))
        if topic not in topics:
            raise SourceError(
                f"topic {topic} is not an image topic of the bag; image topics: {', '.join(sorted(topics))}"
            )
        self.topic = topic
        self.frame_count = counts[topic]
        first = next(self.frames(), None)
        if first is None:
            raise SourceError(f"topic {topic} of {self.path} holds no messages")
        self.size = (int(first.image_rgb.shape[1]), int(first.image_rgb.shape[0]))
        self.fps = self._mean_rate()
        self.description = (
            f"{self.path.name}:{topic} ({self.size[0]}x{self.size[1]}, "
            f"{self.frame_count} frames, {self.fps:.3g} fps)"
        )

    def _mean_rate(self) -> float:
        with _bag_reader(self.path) as reader:
            times = [
                t for c, t, _ in reader.messages([c for c in reader.connections if c.topic == self.topic])
            ]
        if len(times) < 2 or times[-1] <= times[0]:
            return 30.0
        return (len(times) - 1) / ((times[-1] - times[0]) * 1e-9)

    def frames(self, start: int = 0, end: int | None = None) -> Iterator[Frame]:
        from rosbags.image import message_to_cvimage
        from rosbags.typesys import Stores, get_typestore

        typestore = get_typestore(Stores.ROS2_JAZZY)
        with _bag_reader(self.path) as reader:
            connections = [c for c in reader.connections if c.topic == self.topic]
            first_time: int | None = None
            for index, (connection, log_time, raw) in enumerate(reader.messages(connections)):
                first_time = log_time if first_time is None else first_time
                if end is not None and index >= end:
                    break
                if index < start:
                    continue
                msg = typestore.deserialize_cdr(raw, connection.msgtype)
                try:
                    image = message_to_cvimage(msg, "rgb8")
                except Exception as exc:  # unsupported encoding or truncated data
                    raise SourceError(f"{self.topic} message {index}: cannot convert image: {exc}") from exc
                if image.ndim == 2:
                    image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
                stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
                yield Frame(index, np.ascontiguousarray(image), (log_time - first_time) * 1e-9, stamp)


FrameSource = VideoSource | BagSource


def check_init_box(box_xywh: tuple[float, float, float, float], size: tuple[int, int]) -> None:
    """Reject an initial box that is degenerate or does not lie inside the frame."""
    x, y, w, h = box_xywh
    width, height = size
    if not all(math.isfinite(v) for v in box_xywh) or w <= 0 or h <= 0:
        raise SourceError(f"init box {format_box(box_xywh)} must have a positive width and height")
    if x < 0 or y < 0 or x + w > width or y + h > height:
        raise SourceError(f"init box {format_box(box_xywh)} lies outside the {width}x{height} frame")


def format_box(box: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in box)


def parse_box(text: str) -> tuple[float, float, float, float]:
    """'x,y,w,h' -> floats (the format of --init)."""
    parts = text.replace(" ", "").split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise SourceError(f"init box must be x,y,w,h (four numbers), got {text!r}")
    return values  # type: ignore[return-value]


@dataclass
class PlayedFrame:
    """What the player sent for one frame; the stamp is the key of every output."""

    index: int
    stamp_ns: int
    sent_monotonic: float


@dataclass
class PlaybackLog:
    frames: list[PlayedFrame] = field(default_factory=list)
    init_stamp_ns: int | None = None
    finished: bool = False


def stamp_to_ns(stamp) -> int:
    return int(stamp.sec) * 10**9 + int(stamp.nanosec)


class PlayerNode:
    """Streams a `FrameSource` as `sensor_msgs/Image` and sends the initial target.

    Owns an rclpy node; publishing runs in `play()`, which the caller runs in its own thread
    while an executor spins the node (rclpy publishers are thread-safe).
    """

    def __init__(
        self,
        source: FrameSource,
        image_topic: str,
        init_topic: str,
        *,
        frame_id: str = "camera",
        encoding: str = "rgb8",
        stamps: str = "now",
        rate: float = 1.0,
        node_name: str = "dmtrack_player",
        context=None,
    ) -> None:
        from rclpy.node import Node
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D

        if encoding not in ("rgb8", "bgr8"):
            raise SourceError(f"player encoding must be rgb8 or bgr8, got {encoding}")
        if stamps not in ("now", "source"):
            raise SourceError(f"stamps must be 'now' or 'source', got {stamps}")
        if not rate > 0:
            raise SourceError(f"playback rate must be positive, got {rate}")
        self.source = source
        self.frame_id = frame_id
        self.encoding = encoding
        self.stamps = stamps
        self.rate = rate
        self.node = Node(node_name, context=context)
        # reliable publishers match both reliable and best-effort (sensor-data) subscriptions
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        self._image_type = Image
        self._detection_type = Detection2D
        self.image_pub = self.node.create_publisher(Image, image_topic, qos)
        self.init_pub = self.node.create_publisher(Detection2D, init_topic, QoSProfile(depth=10))
        self.log = PlaybackLog()
        self.stop_event = threading.Event()

    def subscribers_ready(self) -> bool:
        return self.image_pub.get_subscription_count() > 0 and self.init_pub.get_subscription_count() > 0

    def _image_msg(self, frame: Frame, stamp_ns: int):
        msg = self._image_type()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        msg.header.frame_id = self.frame_id
        pixels = frame.image_rgb if self.encoding == "rgb8" else frame.image_rgb[..., ::-1]
        pixels = np.ascontiguousarray(pixels)
        msg.height, msg.width = int(pixels.shape[0]), int(pixels.shape[1])
        msg.encoding = self.encoding
        msg.is_bigendian = 0
        msg.step = msg.width * 3
        # array('B') is the fast path of rclpy's uint8[] field (a list would be copied item by item)
        msg.data = array.array("B", pixels.tobytes())
        return msg

    def _stamp_for(self, frame: Frame) -> int:
        if self.stamps == "source" and frame.source_stamp_ns:
            return frame.source_stamp_ns
        return self.node.get_clock().now().nanoseconds

    def publish_frame(self, frame: Frame) -> PlayedFrame:
        stamp = self._stamp_for(frame)
        self.image_pub.publish(self._image_msg(frame, stamp))
        played = PlayedFrame(frame.index, stamp, time.monotonic())
        self.log.frames.append(played)
        return played

    def publish_init(
        self, stamp_ns: int, box_xywh: tuple[float, float, float, float], target_id: str
    ) -> None:
        msg = self._detection_type()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        msg.header.frame_id = self.frame_id
        x, y, w, h = (float(v) for v in box_xywh)
        msg.bbox.center.position.x = x + w / 2.0
        msg.bbox.center.position.y = y + h / 2.0
        msg.bbox.size_x = w
        msg.bbox.size_y = h
        msg.id = target_id
        self.init_pub.publish(msg)
        self.log.init_stamp_ns = stamp_ns

    def play(
        self,
        start: int,
        end: int | None,
        init_frame: int,
        init_box: tuple[float, float, float, float],
        target_id: str,
        wait_for_answer: Callable[[int, float], bool] | None = None,
        init_timeout_s: float = 60.0,
        resend_every_s: float = 5.0,
    ) -> None:
        """Stream frames [start, end) at the source's pace; send the target at ``init_frame``.

        ``wait_for_answer(stamp, timeout)`` (optional) blocks until the tracker has answered
        the frame with that stamp. The player then holds the stream at the init frame until
        the tracker has taken the target on exactly that frame, however long its first frame
        takes (model warm-up); a frame that arrived before the tracker was ready is sent
        again with a fresh stamp. The stream's clock restarts after the hold.
        """
        clock_origin: tuple[float, float] | None = None  # (monotonic, source time) pairs
        for frame in self.source.frames(start, end):
            if self.stop_event.is_set():
                return
            if clock_origin is None:
                clock_origin = (time.monotonic(), frame.time_s)
            due = clock_origin[0] + (frame.time_s - clock_origin[1]) / self.rate
            if self.stop_event.wait(max(0.0, due - time.monotonic())):
                return
            played = self.publish_frame(frame)
            if frame.index != init_frame:
                continue
            self.publish_init(played.stamp_ns, init_box, target_id)
            if wait_for_answer is None:
                continue
            give_up = time.monotonic() + init_timeout_s
            while not wait_for_answer(played.stamp_ns, min(resend_every_s, give_up - time.monotonic())):
                if self.stop_event.is_set() or time.monotonic() >= give_up:
                    raise TimeoutError(
                        f"the tracker did not answer the init frame within {init_timeout_s:g} s"
                    )
                self.log.frames.pop()
                played = self.publish_frame(frame)
                self.publish_init(played.stamp_ns, init_box, target_id)
            clock_origin = (time.monotonic(), frame.time_s)
        self.log.finished = True

"""The ROS 2 node ``dmtrack``: a thin layer over ``dmtrack_core.tracking``.

Threads: the executor runs every callback, and callbacks only store things (the latest
frame, init requests, camera info) and return. One worker thread takes the latest frame,
runs the tracker, and publishes. Frames that arrive while the worker is busy replace the
waiting one and are counted as dropped, so the node always works on a recent frame and its
latency stays bounded however fast images come.

Decisions:

* ``~/target`` is published while the target is TRACKING or UNCERTAIN (the box is still the
  best estimate and its presence score tells how sure); it is silent while LOST or without
  a target. ``~/status``, ``~/distractors`` and ``~/markers`` go out for every processed frame.
* Bad input never stops the node: a frame that cannot be converted gives ERROR on
  ``~/status`` (with the source header) and the tracker state is untouched; a bad init
  request gives ERROR and the old target keeps being tracked.
* Image stamps going backwards (a bag loop, a simulator reset) are logged and processed:
  the frame is real and recent as far as the camera is concerned.
* A change of image size is logged and processed: the tracker searches every frame as a
  whole, and boxes are always in the pixels of the frame they belong to.
* CUDA requested but absent: a warning and CPU; ``status.device`` says what is used.
* Missing or corrupt weights, or invalid parameters: exit code 2 with one line on stderr.
"""

from __future__ import annotations

import math
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from dmtrack_msgs.msg import TrackerStatus
from dmtrack_msgs.srv import SetTarget
from geometry_msgs.msg import Point
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import Trigger
from vision_msgs.msg import Detection2D, Detection2DArray
from visualization_msgs.msg import MarkerArray

from dmtrack_ros.conversions import (
    ImageConversionError,
    PlaneProjection,
    StatusExtras,
    bbox_to_box,
    box_markers,
    check_init_box,
    compressed_to_rgb,
    distractor_array,
    image_to_rgb,
    is_reset_box,
    rgb_to_image,
    target_detection,
    tracker_status,
)
from dmtrack_ros.frame_buffer import BufferedFrame, FrameBuffer, InitRequest
from dmtrack_ros.params import NodeParams, ParameterError, declare_parameters, params_from_values
from dmtrack_ros.visualization import draw_tracking_overlay

NODE_NAME = "dmtrack"
EXIT_STARTUP_ERROR = 2
TRACKED_STATES = ("TRACKING", "UNCERTAIN")  # ~/target is published in these states


class StartupError(RuntimeError):
    """The node cannot start (bad parameters, weights, tracker config); the message is one line."""


def _stamp_ns(header: Header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


@dataclass
class NodeStats:
    """Counters shared by the worker, the callbacks and the diagnostics timer (under ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    processed: int = 0
    dropped_stale: int = 0
    errors: int = 0
    last_error: str = ""
    last_state: str = "UNINITIALIZED"
    latencies_ms: list[float] = field(default_factory=list)  # since the last diagnostics message
    processed_in_period: int = 0
    dropped_in_period: int = 0
    fps: float | None = None  # smoothed processing rate for the overlay


def build_node_tracker(params: NodeParams, logger) -> tuple[object, str]:
    """The tracker described by ``params`` and the device it runs on.

    CUDA requested but unusable falls back to the CPU with a warning (a tracker that runs
    slowly serves a robot better than one that does not start)."""
    import torch

    from dmtrack_core.config import ConfigError
    from dmtrack_core.tracking import build_tracker
    from dmtrack_core.tracking.config import DEFAULT_CONFIG_PATH, TrackerConfig, load_tracker_config
    from dmtrack_core.tracking.errors import DeviceError, WeightsError

    try:
        if params.tracker_config or DEFAULT_CONFIG_PATH.exists():
            config = load_tracker_config(params.tracker_config or None, **params.tracker_overrides())
        else:
            config = TrackerConfig(**params.tracker_overrides())
    except (ConfigError, ValueError) as exc:
        raise StartupError(f"invalid tracker config: {exc}") from exc

    device = params.device
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            logger.warning(f"device '{device}' requested but CUDA is not available here; running on cpu")
            device = "cpu"
    weights = params.weights or None
    # the core reports e.g. missing shipped weights as Python warnings: route them to the ROS log
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            try:
                tracker = build_tracker(
                    mode=params.mode, device=device, weights=weights, config=config, model=params.model
                )
            except DeviceError as exc:
                logger.warning(f"device '{device}' cannot be used ({exc}); running on cpu")
                tracker = build_tracker(
                    mode=params.mode, device="cpu", weights=weights, config=config, model=params.model
                )
        except WeightsError as exc:
            raise StartupError(f"cannot load weights: {exc}") from exc
        except (ConfigError, FileNotFoundError, KeyError, ValueError) as exc:
            raise StartupError(f"cannot build the tracker: {exc}") from exc
    for warning in caught:
        logger.warning(str(warning.message))
    return tracker, str(tracker.device)


class DmtrackNode(Node):
    """Subscribes images and init requests, tracks in a worker thread, publishes results."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        try:
            self.params = declare_parameters(self)
        except ParameterError as exc:
            raise StartupError(f"invalid parameter: {exc}") from exc
        self.requested_device = self.params.device
        self.tracker, self.device = build_node_tracker(self.params, self.get_logger())
        self.get_logger().info(
            f"tracker ready: model {self.params.model}, mode {self.params.mode}, device {self.device}"
        )

        self.buffer = FrameBuffer(history=self.params.frame_history)
        self.stats = NodeStats()
        self._projection_from_info: PlaneProjection | None = None
        self._camera_info: CameraInfo | None = None
        self._last_stamp_ns: int | None = None
        self._image_wh: tuple[int, int] | None = None
        self._frames_since_seen = 0
        self._last_processed_message: object | None = None
        self._last_frame_time: float | None = None
        self._generated_ids = 0
        self._last_logged_error = ""
        self._last_logged_error_time = 0.0

        self._create_interfaces()
        self.add_on_set_parameters_callback(self._validate_parameter_change)
        self.add_post_set_parameters_callback(self._apply_parameter_change)
        self._worker = threading.Thread(target=self._work, name="dmtrack-worker", daemon=True)
        self._worker.start()

    # ------------------------------------------------------------------------------------
    # interfaces
    # ------------------------------------------------------------------------------------
    def _create_interfaces(self) -> None:
        params = self.params
        image_qos = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=params.qos_depth,
            reliability=(
                ReliabilityPolicy.RELIABLE
                if params.qos_reliability == "reliable"
                else ReliabilityPolicy.BEST_EFFORT
            ),
            durability=DurabilityPolicy.VOLATILE,
        )
        if params.use_compressed:
            self.create_subscription(CompressedImage, "image/compressed", self._on_image, image_qos)
        else:
            self.create_subscription(Image, "image", self._on_image, image_qos)
        # init requests are commands: reliable, so a click is never lost
        self.create_subscription(Detection2D, "init_target", self._on_init_target, 10)
        self.create_subscription(Point, "init_point", self._on_init_point, 10)
        self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos_profile_sensor_data)
        self.create_service(SetTarget, "~/set_target", self._on_set_target)
        self.create_service(Trigger, "~/reset", self._on_reset)

        self.target_pub = self.create_publisher(Detection2D, "~/target", 10)
        self.distractors_pub = self.create_publisher(Detection2DArray, "~/distractors", 10)
        self.status_pub = self.create_publisher(TrackerStatus, "~/status", 10)
        self.debug_image_pub = self.create_publisher(Image, "~/debug_image", 2)
        self.markers_pub = self.create_publisher(MarkerArray, "~/markers", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(params.diagnostics_period, self._publish_diagnostics)
        self._diagnostics_time = time.monotonic()

    def _validate_parameter_change(self, changes) -> SetParametersResult:
        values = {name: self.get_parameter(name).value for name in NodeParams.__dataclass_fields__}
        values.update({change.name: change.value for change in changes})
        try:
            params_from_values(values)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameter_change(self, changes) -> None:
        values = {name: self.get_parameter(name).value for name in NodeParams.__dataclass_fields__}
        self.params = params_from_values(values)  # one reference swap; the worker reads it per frame

    # ------------------------------------------------------------------------------------
    # callbacks: store and return
    # ------------------------------------------------------------------------------------
    def _on_image(self, msg: Image | CompressedImage) -> None:
        frame = BufferedFrame(msg, _stamp_ns(msg.header), self.get_clock().now().nanoseconds)
        self.buffer.put_frame(frame)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_init_target(self, msg: Detection2D) -> None:
        box = bbox_to_box(msg.bbox)
        self._submit(
            InitRequest(
                "reset" if is_reset_box(box) else "box",
                "init_target",
                _stamp_ns(msg.header),
                tuple(box),
                target_id=msg.id,
            ),
            msg.header,
        )

    def _on_init_point(self, msg: Point) -> None:
        self._submit(InitRequest("point", "init_point", point_xy=(float(msg.x), float(msg.y))), None)

    def _on_set_target(self, request: SetTarget.Request, response: SetTarget.Response) -> SetTarget.Response:
        box = bbox_to_box(request.bbox)
        kind = "reset" if is_reset_box(box) else "box"
        response.success, response.message = self._submit(
            InitRequest(kind, "~/set_target", _stamp_ns(request.header), tuple(box), target_id=request.id),
            request.header,
        )
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._submit(InitRequest("reset", "~/reset"), None)
        return response

    def _submit(self, request: InitRequest, header: Header | None) -> tuple[bool, str]:
        """Check a request against what is known now and queue it for the worker.

        The checks here need no tracker (so they cannot block); the worker applies the
        request to the frame it names before it processes the next frame."""
        if request.kind == "reset":
            self.buffer.put_request(request)
            self.get_logger().info(f"{request.source}: reset requested")
            return True, "reset queued"
        frame, exact = self.buffer.find(request.stamp_ns)
        if frame is None:
            reason = f"{request.source}: no image has been received yet; request ignored"
            self.get_logger().warning(reason)
            return False, reason
        image_wh = (
            (int(frame.message.width), int(frame.message.height))
            if hasattr(frame.message, "width")
            else self._image_wh
        )
        if request.kind == "point":
            x, y = request.point_xy
            problem = None if math.isfinite(x) and math.isfinite(y) else f"point ({x}, {y}) is not finite"
            inside = image_wh is None or (0 <= x < image_wh[0] and 0 <= y < image_wh[1])
            if problem is None and not inside:
                problem = f"point ({x}, {y}) lies outside the {image_wh[0]}x{image_wh[1]} image"
        else:
            problem = check_init_box(request.box_xywh, image_wh)
        if problem is not None:
            reason = f"{request.source}: invalid target: {problem}; keeping the current target"
            self.get_logger().error(reason)
            self._publish_error(header if header is not None else frame.message.header, reason)
            return False, reason
        self.buffer.put_request(request)
        return True, "target queued for frame " + (
            f"{request.stamp_ns / 1e9:.9f}" if exact and request.stamp_ns else "(newest)"
        )

    # ------------------------------------------------------------------------------------
    # the worker
    # ------------------------------------------------------------------------------------
    def _work(self) -> None:
        while rclpy.ok(context=self.context):
            item = self.buffer.wait(timeout=0.5)
            if item is None:
                if self.buffer.closed:
                    return
                continue
            try:
                if isinstance(item, InitRequest):
                    self._apply_request(item)
                else:
                    self._process_frame(item)
            except Exception as exc:  # noqa: BLE001 - one bad frame must not end the worker
                self.get_logger().error(f"unexpected error, frame skipped: {type(exc).__name__}: {exc}")
                with self.stats.lock:
                    self.stats.errors += 1
                    self.stats.last_error = str(exc)

    def stop(self) -> None:
        self.buffer.close()
        self._worker.join(timeout=5.0)

    def _output_header(self, source: Header) -> Header:
        frame_id = self.params.frame_id or source.frame_id
        return Header(stamp=source.stamp, frame_id=frame_id)

    def _convert(self, message) -> np.ndarray:
        if isinstance(message, CompressedImage):
            return compressed_to_rgb(message)
        return image_to_rgb(message)

    def _process_frame(self, frame: BufferedFrame) -> None:
        if frame.message is self._last_processed_message:
            return  # an init request already used this very frame
        header = self._output_header(frame.message.header)
        max_age = self.params.max_image_age
        age_s = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e9
        if max_age > 0 and age_s > max_age:
            with self.stats.lock:
                self.stats.dropped_stale += 1
                self.stats.dropped_in_period += 1
            self.get_logger().warning(
                f"dropping a frame {age_s:.3f} s old (max_image_age {max_age} s); "
                "check the clocks, or use_sim_time when playing a bag",
                throttle_duration_sec=2.0,
            )
            return
        if self._last_stamp_ns is not None and frame.stamp_ns < self._last_stamp_ns:
            self.get_logger().warning(
                f"image stamp went backwards by {(self._last_stamp_ns - frame.stamp_ns) / 1e9:.3f} s "
                "(bag loop or clock reset?); processing the frame anyway",
                throttle_duration_sec=1.0,
            )
        self._last_stamp_ns = frame.stamp_ns
        image = self._checked_image(frame, header)
        if image is None:
            return

        from dmtrack_core.tracking.errors import TrackerError

        result = None
        started = time.perf_counter()
        if self.tracker.initialized:
            try:
                result = self.tracker.track(image)
            except TrackerError as exc:
                self._report_error(header, f"tracker rejected the frame: {exc}")
                return
        processing_ms = (time.perf_counter() - started) * 1000.0
        self._last_processed_message = frame.message
        self._publish_outputs(header, image, result, processing_ms, "")

    def _checked_image(self, frame: BufferedFrame, header: Header) -> np.ndarray | None:
        """The frame as RGB, or None after reporting why it cannot be used."""
        try:
            image = self._convert(frame.message)
        except ImageConversionError as exc:
            self._report_error(header, f"bad image: {exc}")
            return None
        image_wh = (image.shape[1], image.shape[0])
        if self._image_wh is not None and image_wh != self._image_wh:
            self.get_logger().warning(
                f"image size changed from {self._image_wh[0]}x{self._image_wh[1]} "
                f"to {image_wh[0]}x{image_wh[1]}; "
                "tracking goes on, boxes are in the pixels of each frame"
            )
        self._image_wh = image_wh
        return image

    def _apply_request(self, request: InitRequest) -> None:
        from dmtrack_core.tracking.errors import TrackerError

        if request.kind == "reset":
            self.tracker.reset()
            self._frames_since_seen = 0
            self.get_logger().info(f"{request.source}: tracker reset; waiting for a new target")
            return
        frame, exact = self.buffer.find(request.stamp_ns)
        if frame is None:
            self.get_logger().warning(f"{request.source}: no image to apply the request to; ignored")
            return
        if not exact:
            self.get_logger().warning(
                f"{request.source}: the frame stamped {request.stamp_ns / 1e9:.9f} is no longer buffered "
                f"(oldest kept: {(self.buffer.oldest_stamp_ns() or 0) / 1e9:.9f}); using the newest frame"
            )
        header = self._output_header(frame.message.header)
        image = self._checked_image(frame, header)
        if image is None:
            return
        started = time.perf_counter()
        try:
            if request.kind == "point":
                box = self.tracker.box_from_point(image, *request.point_xy)
            else:
                box = np.asarray(request.box_xywh, dtype=np.float64)
            target_id = request.target_id or self._generate_id()
            result = self.tracker.initialize(image, box, target_id=target_id)
        except TrackerError as exc:
            self._report_error(header, f"{request.source}: invalid target: {exc}; keeping the current target")
            return
        processing_ms = (time.perf_counter() - started) * 1000.0
        self._frames_since_seen = 0
        self._last_processed_message = frame.message
        box_text = ", ".join(f"{v:.1f}" for v in np.asarray(result.box).reshape(-1))
        self.get_logger().info(f"{request.source}: tracking '{result.target_id}' from box [{box_text}]")
        self._publish_outputs(header, image, result, processing_ms, f"initialised by {request.source}")

    def _generate_id(self) -> str:
        self._generated_ids += 1
        return f"target_{self._generated_ids}"

    # ------------------------------------------------------------------------------------
    # publishing
    # ------------------------------------------------------------------------------------
    def _latency_ms(self, header: Header) -> float:
        return (self.get_clock().now().nanoseconds - _stamp_ns(header)) / 1e6

    def _extras(self, header: Header, processing_ms: float, message: str) -> StatusExtras:
        with self.stats.lock:
            processed, stale = self.stats.processed, self.stats.dropped_stale
        return StatusExtras(
            processing_ms=processing_ms,
            latency_ms=self._latency_ms(header),
            frames_processed=processed,
            frames_dropped=stale + self.buffer.counters.overwritten,
            frames_since_seen=self._frames_since_seen,
            device=self.device,
            message=message,
        )

    def _publish_error(self, header: Header, reason: str) -> None:
        status = tracker_status(None, self._output_header(header), self._extras(header, 0.0, reason), "ERROR")
        self.status_pub.publish(status)

    def _report_error(self, header: Header, reason: str) -> None:
        # every new kind of error is logged at once; the same error repeating on a stream
        # (a camera with a wrong encoding) is logged again only every few seconds
        now = time.monotonic()
        if reason != self._last_logged_error or now - self._last_logged_error_time > 5.0:
            self.get_logger().error(reason)
            self._last_logged_error, self._last_logged_error_time = reason, now
        with self.stats.lock:
            self.stats.errors += 1
            self.stats.last_error = reason
            self.stats.last_state = "ERROR"
        self._publish_error(header, reason)

    def _publish_outputs(
        self, header: Header, image: np.ndarray, result, processing_ms: float, message: str
    ) -> None:
        state = result.state.name if result is not None else "UNINITIALIZED"
        tracked = state in TRACKED_STATES
        self._frames_since_seen = 0 if state == "TRACKING" else self._frames_since_seen + 1
        now = time.monotonic()
        with self.stats.lock:
            self.stats.processed += 1
            self.stats.processed_in_period += 1
            self.stats.last_state = state
            if self._last_frame_time is not None:
                rate = 1.0 / max(now - self._last_frame_time, 1e-6)
                self.stats.fps = rate if self.stats.fps is None else 0.8 * self.stats.fps + 0.2 * rate
        self._last_frame_time = now
        params = self.params

        if tracked:
            self.target_pub.publish(target_detection(result, header))
        distractors = distractor_array(result, header, params.max_distractors)
        self.distractors_pub.publish(distractors)

        listed = [
            (int(d.id), bbox_to_box(d.bbox), d.results[0].hypothesis.score) for d in distractors.detections
        ]
        target_box = np.asarray(result.box, dtype=np.float64) if tracked else None
        self.markers_pub.publish(self._markers(header, image, target_box, state, listed))
        if params.publish_debug_image and self.debug_image_pub.get_subscription_count() > 0:
            overlay = draw_tracking_overlay(
                image,
                target_box,
                state,
                result.target_id if result is not None else "",
                listed,
                self.stats.fps,
                params.debug_image_scale,
            )
            self.debug_image_pub.publish(rgb_to_image(overlay, header))

        extras = self._extras(header, processing_ms, message)
        status = tracker_status(result, header, extras, max_distractors=params.max_distractors)
        self.status_pub.publish(status)  # last, so a status means every output of the frame is out
        with self.stats.lock:
            self.stats.latencies_ms.append(self._latency_ms(header))

    def _markers(
        self,
        header: Header,
        image: np.ndarray,
        target_box: np.ndarray | None,
        state: str,
        distractors: Sequence[tuple[int, np.ndarray, float]],
    ) -> MarkerArray:
        params = self.params
        projection = None
        if self._camera_info is not None:
            projection = PlaneProjection.from_camera_info(self._camera_info, params.marker_depth)
        if projection is None:
            projection = PlaneProjection.pixel_units(
                (image.shape[1], image.shape[0]), params.marker_depth, params.marker_pixel_size
            )
        return box_markers(
            header, target_box, state == "UNCERTAIN", [(i, b) for i, b, _ in distractors], projection
        )

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        period = max(now - self._diagnostics_time, 1e-6)
        self._diagnostics_time = now
        with self.stats.lock:
            stats = self.stats
            latencies = stats.latencies_ms
            stats.latencies_ms = []
            processed_in_period, stats.processed_in_period = stats.processed_in_period, 0
            stale_in_period, stats.dropped_in_period = stats.dropped_in_period, 0
            processed, stale, errors = stats.processed, stats.dropped_stale, stats.errors
            last_state, last_error = stats.last_state, stats.last_error
        counters = self.buffer.counters
        level, message = DiagnosticStatus.OK, f"{last_state.lower()}"
        if counters.received == 0:
            level, message = DiagnosticStatus.WARN, "no image received yet"
        elif last_state == "ERROR":
            level, message = DiagnosticStatus.ERROR, last_error
        elif processed_in_period == 0:
            level, message = DiagnosticStatus.WARN, "no frame processed in the last period"
        values = {
            "rate_hz": f"{processed_in_period / period:.2f}",
            "latency_ms_mean": f"{float(np.mean(latencies)) if latencies else 0.0:.1f}",
            "latency_ms_max": f"{max(latencies) if latencies else 0.0:.1f}",
            "frames_received": str(counters.received),
            "frames_processed": str(processed),
            "frames_dropped": str(stale + counters.overwritten),
            "frames_dropped_overwritten": str(counters.overwritten),
            "frames_dropped_stale": str(stale),
            "frames_dropped_stale_in_period": str(stale_in_period),
            "errors": str(errors),
            "state": last_state,
            "device": self.device,
            "requested_device": self.requested_device,
        }
        status = DiagnosticStatus(
            level=level,
            name=f"{self.get_fully_qualified_name()}: tracker",
            message=message,
            hardware_id=self.device,
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)


def main(argv: list[str] | None = None) -> int:
    """Console script ``dmtrack_node``: run the node until shutdown; returns the exit code."""
    rclpy.init(args=sys.argv if argv is None else argv)
    node: DmtrackNode | None = None
    try:
        try:
            node = DmtrackNode()
        except StartupError as exc:
            reason = " ".join(str(exc).split())  # one line, whatever the underlying error printed
            print(f"dmtrack_node: {reason}", file=sys.stderr, flush=True)
            return EXIT_STARTUP_ERROR
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.stop()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

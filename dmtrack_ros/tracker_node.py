"""The ROS 2 node ``dmtrack``: a thin adapter over a ROS-free :class:`TrackingSession`.

The process around it (signals, spinning, exit codes) is ``dmtrack_ros.node``.

The node subscribes, hands each message to the session, and publishes what the session's
outcome of each frame renders to (``dmtrack_ros.outputs``). The tracking decisions (which
frame, init requests, stale frames, size changes, error throttling) are written at the top of
``dmtrack_ros/session.py``; the QoS ones at the top of ``dmtrack_ros/image_input.py``.

Threads: the node's subscriptions, timers and ``~/enable`` only store things and return, and
run on one executor (rclpy's C++ events executor where it exists: its Python counterpart
delivered frames up to 110 ms late while the tracker ran, docs/node.md). ``~/set_target`` and
``~/reset`` answer only once the worker has applied (or refused) the request, which may wait
for the frame it names, so they would stall that executor: they belong to a companion node,
``<name>_requests``, spun by a multi-threaded executor of its own, under the same names
(``~/set_target`` of this node). One worker thread runs the tracker and publishes.

More decisions:

* ``~/target`` is published while the target is TRACKING or UNCERTAIN; ``~/status``,
  ``~/distractors`` and ``~/markers`` go out for every processed frame; ``~/status`` (ERROR)
  for every refused frame or request.
* Topics follow image_transport: ``<image>/compressed`` and ``camera_info`` are taken from
  beside the (remapped) ``image`` topic; a remap of ``camera_info`` itself wins.
* ``~/enable`` (std_srvs/SetBool) pauses and resumes: paused, the image subscription is
  removed (no transport, no CPU) and the target with its memory is kept.
* CUDA requested but absent: a warning and CPU; ``status.device`` says what is used.
* Missing or corrupt weights, or invalid parameters: exit code 2 with one line on stderr.
"""

from __future__ import annotations

import threading
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from dmtrack_msgs.msg import TrackerStatus
from dmtrack_msgs.srv import SetTarget
from geometry_msgs.msg import Point
from rcl_interfaces.msg import SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from std_srvs.srv import SetBool, Trigger
from vision_msgs.msg import Detection2D, Detection2DArray
from visualization_msgs.msg import MarkerArray

from dmtrack_ros.conversions import bbox_to_box, compressed_to_rgb, image_to_rgb
from dmtrack_ros.frame_buffer import BufferedFrame
from dmtrack_ros.image_input import LOSS_ADVICE, ImageInput, image_topics
from dmtrack_ros.outputs import RenderSettings, diagnostic_status, render
from dmtrack_ros.params import (
    NodeParams,
    ParameterError,
    declare_parameters,
    params_from_values,
    session_config,
)
from dmtrack_ros.session import InitRequest, Outcome, TrackingSession, is_reset_box
from dmtrack_ros.tracker_setup import StartupError, build_node_tracker

NODE_NAME = "dmtrack"
REQUESTS_NODE_SUFFIX = "_requests"  # the companion node that serves the blocking services
APPLY_TIMEOUT_S = 30.0  # beyond init_wait: the longest a service waits for the tracker
PUBLISHER_CHECK_PERIOD_S = 1.0  # how often the image QoS follows its publishers
OWN_PARAMETERS = frozenset(NodeParams.__dataclass_fields__)

__all__ = ["DmtrackNode", "StartupError"]


def _stamp_ns(header: Header) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


class DmtrackNode(Node):
    """Subscribes images and init requests, hands them to a TrackingSession, publishes."""

    def __init__(self, **node_kwargs: Any) -> None:
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
        self.session = TrackingSession(
            self.tracker,
            session_config(self.params),
            self._decode,
            lambda: self.get_clock().now().nanoseconds,
            self.get_logger(),
        )
        self._camera_info: CameraInfo | None = None
        self._stopping = threading.Event()
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
        inputs = MutuallyExclusiveCallbackGroup()
        services = ReentrantCallbackGroup()
        image_topic = self.resolve_topic_name("image")
        compressed_topic, info_topic = image_topics(
            image_topic,
            self.resolve_topic_name("camera_info"),
            self.resolve_topic_name("camera_info", only_expand=True),
        )
        message_type = CompressedImage if params.use_compressed else Image
        try:
            self.image_input = ImageInput(
                self,
                message_type,
                compressed_topic if params.use_compressed else image_topic,
                self._on_image,
                lambda count: self.session.count_lost(count, LOSS_ADVICE),
                params,
                inputs,
            )
        except ValueError as exc:
            raise StartupError(f"invalid parameter: {exc}") from exc
        self.get_logger().info(
            f"images from {self.image_input.topic} ({self.image_input.reliability}), "
            f"camera_info from {info_topic}"
        )
        # init requests are commands: reliable, so a click is never lost
        self.create_subscription(Detection2D, "init_target", self._on_init_target, 10, callback_group=inputs)
        self.create_subscription(Point, "init_point", self._on_init_point, 10, callback_group=inputs)
        self.create_subscription(
            CameraInfo, info_topic, self._on_camera_info, qos_profile_sensor_data, callback_group=inputs
        )
        # not the process's global remaps (a `__node:=` rename would give both nodes one name);
        # the service names are this node's, resolved with its remaps
        self.requests_node = Node(
            self.get_name() + REQUESTS_NODE_SUFFIX,
            namespace=self.get_namespace(),
            context=self.context,
            use_global_arguments=False,
            start_parameter_services=False,
        )
        self.requests_node.create_service(
            SetTarget, self.resolve_service_name("~/set_target"), self._on_set_target, callback_group=services
        )
        self.requests_node.create_service(
            Trigger, self.resolve_service_name("~/reset"), self._on_reset, callback_group=services
        )
        self.create_service(SetBool, "~/enable", self._on_enable, callback_group=inputs)

        self.target_pub = self.create_publisher(Detection2D, "~/target", 10)
        self.distractors_pub = self.create_publisher(Detection2DArray, "~/distractors", 10)
        self.status_pub = self.create_publisher(TrackerStatus, "~/status", 10)
        self.debug_image_pub = self.create_publisher(Image, "~/debug_image", 2)
        self.markers_pub = self.create_publisher(MarkerArray, "~/markers", 10)
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(params.diagnostics_period, self._publish_diagnostics, callback_group=inputs)
        self.create_timer(PUBLISHER_CHECK_PERIOD_S, self.image_input.recheck, callback_group=inputs)

    def _validate_parameter_change(self, changes) -> SetParametersResult:
        # parameters the node does not own (use_sim_time, qos_overrides.*) are rclpy's to judge
        own = [change for change in changes if change.name in OWN_PARAMETERS]
        if not own:
            return SetParametersResult(successful=True)
        values = {name: self.get_parameter(name).value for name in OWN_PARAMETERS}
        values.update({change.name: change.value for change in own})
        try:
            params_from_values(values)
        except ParameterError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameter_change(self, changes) -> None:
        if not any(change.name in OWN_PARAMETERS for change in changes):
            return
        values = {name: self.get_parameter(name).value for name in OWN_PARAMETERS}
        self.params = params_from_values(values)  # one reference swap; the worker reads it per frame
        self.session.config = session_config(self.params)

    # ------------------------------------------------------------------------------------
    # callbacks: hand over and return
    # ------------------------------------------------------------------------------------
    def _decode(self, message: Image | CompressedImage):
        if isinstance(message, CompressedImage):
            return compressed_to_rgb(message, self.params.max_image_pixels)
        return image_to_rgb(message, self.params.max_image_pixels)

    def _on_image(self, msg: Image | CompressedImage) -> None:
        frame = BufferedFrame(msg, _stamp_ns(msg.header), self.get_clock().now().nanoseconds, len(msg.data))
        self.session.put_frame(frame)

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _box_request(self, header: Header, bbox, target_id: str, source: str) -> InitRequest:
        box = bbox_to_box(bbox)
        kind = "reset" if is_reset_box(box) else "box"
        return InitRequest(kind, source, _stamp_ns(header), tuple(box), target_id=target_id, origin=header)

    def _on_init_target(self, msg: Detection2D) -> None:
        self.session.submit(self._box_request(msg.header, msg.bbox, msg.id, "init_target"))

    def _on_init_point(self, msg: Point) -> None:
        self.session.submit(InitRequest("point", "init_point", point_xy=(float(msg.x), float(msg.y))))

    def _answer(self, request: InitRequest) -> tuple[bool, str]:
        """Submit and wait for the worker's verdict (the frame may still be on its way)."""
        ticket = self.session.submit(request)
        wait_s = self.session.config.init_wait_s + APPLY_TIMEOUT_S
        if not ticket.wait(wait_s) and ticket.cancel():
            return False, f"{request.source}: not applied within {wait_s:.0f} s (tracker busy?); withdrawn"
        ticket.wait(None)
        return ticket.success, ticket.message

    def _on_set_target(self, request: SetTarget.Request, response: SetTarget.Response) -> SetTarget.Response:
        init = self._box_request(request.header, request.bbox, request.id, "~/set_target")
        response.success, response.message = self._answer(init)
        return response

    def _on_reset(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._answer(InitRequest("reset", "~/reset"))
        return response

    def _on_enable(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if request.data:
            self.session.set_paused(False)
            self.image_input.resume()
            response.message = "tracking resumed"
        else:
            self.image_input.pause()
            self.session.set_paused(True)
            response.message = "paused: images unsubscribed, target kept"
        self.get_logger().info(response.message)
        response.success = True
        return response

    # ------------------------------------------------------------------------------------
    # the worker: outcomes -> messages
    # ------------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self._stopping.is_set() and not self.session.closed:
            for outcome in self.session.step(timeout=0.5):
                if self._stopping.is_set():
                    return
                self._publish(outcome)

    def _publish(self, outcome: Outcome) -> None:
        params = self.params
        settings = RenderSettings(
            frame_id=params.frame_id,
            max_distractors=params.max_distractors,
            marker_depth=params.marker_depth,
            marker_pixel_size=params.marker_pixel_size,
            debug_image=params.publish_debug_image and self.debug_image_pub.get_subscription_count() > 0,
            debug_image_scale=params.debug_image_scale,
            device=self.device,
        )
        now = Header(stamp=self.get_clock().now().to_msg(), frame_id=params.frame_id)
        outputs = render(outcome, settings, self._camera_info, now)
        if outputs.camera_info_problem:
            self.session.throttled(
                "warning", "camera_info", f"{outputs.camera_info_problem}; markers use marker_pixel_size"
            )
        for publisher, message in (
            (self.target_pub, outputs.target),
            (self.distractors_pub, outputs.distractors),
            (self.markers_pub, outputs.markers),
            (self.debug_image_pub, outputs.debug_image),
            (self.status_pub, outputs.status),  # last: a status means the frame's outputs are out
        ):
            if message is not None:
                publisher.publish(message)

    def _publish_diagnostics(self) -> None:
        status = diagnostic_status(
            self.session.period_report(),
            self.get_fully_qualified_name(),
            self.device,
            self.requested_device,
            self.image_input.reliability,
            LOSS_ADVICE,
        )
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)

    def stop(self) -> None:
        """Let the worker finish its frame, then stop it (before the context goes away)."""
        self.session.close()
        self._worker.join(timeout=10.0)
        self._stopping.set()

    def destroy_node(self) -> None:
        self.requests_node.destroy_node()
        super().destroy_node()

"""Conversions between ROS messages and the tracker's plain data.

Images become RGB uint8 (H, W, 3) arrays with strict validation (a malformed message raises
``ImageConversionError`` with a reason, never a numpy reshape error); tracker results become
vision_msgs / dmtrack_msgs / visualization_msgs messages. Boxes are (x, y, w, h) in image
pixels with continuous coordinates: a Detection2D centre is (x + w/2, y + h/2).

Nothing here keeps state, so everything is tested without a running node.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from builtin_interfaces.msg import Duration
from dmtrack_msgs.msg import TrackerStatus
from geometry_msgs.msg import Point
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import ColorRGBA, Header
from vision_msgs.msg import BoundingBox2D, Detection2D, Detection2DArray, ObjectHypothesisWithPose
from visualization_msgs.msg import Marker, MarkerArray

from dmtrack_ros.session import InputError, check_init_box, is_reset_box

__all__ = ["check_init_box", "is_reset_box"]  # re-exported: the request rules live in the session

UNLIMITED_PIXELS = 2**62
MIN_FOCAL_PX = 1.0  # a focal length below a pixel is not a camera (markers would fly off to km)


class ImageConversionError(InputError):
    """The image message cannot be turned into an RGB array (the reason says why)."""


# encoding -> (channels, numpy dtype, OpenCV conversion to RGB or None when already RGB)
_RAW_ENCODINGS: dict[str, tuple[int, str, int | None]] = {
    "rgb8": (3, "u1", None),
    "bgr8": (3, "u1", cv2.COLOR_BGR2RGB),
    "8UC3": (3, "u1", cv2.COLOR_BGR2RGB),  # OpenCV's own layout is BGR
    "rgba8": (4, "u1", cv2.COLOR_RGBA2RGB),
    "bgra8": (4, "u1", cv2.COLOR_BGRA2RGB),
    "8UC4": (4, "u1", cv2.COLOR_BGRA2RGB),
    "mono8": (1, "u1", cv2.COLOR_GRAY2RGB),
    "8UC1": (1, "u1", cv2.COLOR_GRAY2RGB),
    "mono16": (1, "u2", cv2.COLOR_GRAY2RGB),
    "16UC1": (1, "u2", cv2.COLOR_GRAY2RGB),
    "rgb16": (3, "u2", None),
    "bgr16": (3, "u2", cv2.COLOR_BGR2RGB),
    # packed 4:2:2, two bytes per pixel, common on USB cameras
    "yuv422": (2, "u1", cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": (2, "u1", cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, "u1", cv2.COLOR_YUV2RGB_YUY2),
    "yuyv": (2, "u1", cv2.COLOR_YUV2RGB_YUY2),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_RAW_ENCODINGS)
_PACKED_422 = ("yuv422", "uyvy", "yuv422_yuy2", "yuyv")  # two pixels share one chroma pair

STATE_CODES = {
    "UNINITIALIZED": TrackerStatus.UNINITIALIZED,
    "TRACKING": TrackerStatus.TRACKING,
    "UNCERTAIN": TrackerStatus.UNCERTAIN,
    "LOST": TrackerStatus.LOST,
    "ERROR": TrackerStatus.ERROR,
}
TARGET_CLASS = "target"
DISTRACTOR_CLASS = "distractor"


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageConversionError(
            f"image of {width}x{height} = {width * height} pixels is larger than max_image_pixels "
            f"{max_pixels}; refused before decoding"
        )


def image_to_rgb(msg: Image, max_pixels: int = UNLIMITED_PIXELS) -> np.ndarray:
    """sensor_msgs/Image -> RGB uint8 (H, W, 3), a new array (never a view of the message)."""
    encoding = msg.encoding
    if encoding not in _RAW_ENCODINGS:
        raise ImageConversionError(
            f"unsupported encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}"
        )
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height == 0 or width == 0:
        raise ImageConversionError(f"zero-size image ({width}x{height})")
    _check_pixels(width, height, max_pixels)
    if encoding in _PACKED_422 and width % 2:
        raise ImageConversionError(f"{encoding} packs pixel pairs, so its width must be even, got {width}")
    channels, dtype_code, conversion = _RAW_ENCODINGS[encoding]
    item_size = np.dtype(dtype_code).itemsize
    row_bytes = width * channels * item_size
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width x bytes per pixel = {row_bytes} for {encoding}"
        )
    data = msg.data
    size = len(data)
    if size < step * height:
        raise ImageConversionError(f"data has {size} bytes, less than step x height = {step * height}")
    buffer = _as_bytes(data)
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    dtype = np.dtype(dtype_code).newbyteorder(">" if msg.is_bigendian else "<")
    pixels = np.ascontiguousarray(rows).view(dtype).reshape(height, width, channels)
    if item_size == 2:
        # full 16-bit range onto 8 bits (what cv_bridge does for mono16 -> mono8)
        pixels = np.round(pixels.astype(np.float32) / 257.0).astype(np.uint8)
    if channels == 1:
        pixels = pixels[:, :, 0]
    if conversion is None:
        return np.array(pixels, dtype=np.uint8, copy=True)
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def _as_bytes(data: Any) -> np.ndarray:
    """Message data (array.array, bytes, list) as a flat uint8 array without copying when possible."""
    try:
        return np.frombuffer(data, dtype=np.uint8)
    except TypeError:
        return np.asarray(data, dtype=np.uint8).reshape(-1)


def compressed_size(data: bytes | np.ndarray) -> tuple[int, int] | None:
    """(width, height) from a JPEG or PNG header without decoding; None for other formats or
    a header that cannot be read (the decoder then reports the problem)."""
    head = bytes(data[:32])
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if not head.startswith(b"\xff\xd8"):
        return None
    view = memoryview(data if isinstance(data, bytes) else np.ascontiguousarray(data).tobytes())
    position = 2
    # walk the marker segments to the first start-of-frame (SOF0..SOF15 without DHT/JPG/DAC)
    while position + 4 <= len(view):
        if view[position] != 0xFF:
            return None
        marker = view[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        length = struct.unpack(">H", view[position + 2 : position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if position + 9 > len(view):
                return None
            height, width = struct.unpack(">HH", view[position + 5 : position + 9])
            return int(width), int(height)
        position += 2 + length
    return None


def compressed_to_rgb(msg: CompressedImage, max_pixels: int = UNLIMITED_PIXELS) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG, PNG, anything OpenCV decodes) -> RGB uint8 (H, W, 3).

    JPEG and PNG headers are read first, so an image that would decode to more than
    ``max_pixels`` (a "decompression bomb") is refused before any memory is spent on it."""
    if "compresseddepth" in msg.format.lower().replace(" ", ""):
        raise ImageConversionError(f"compressedDepth images are not supported (format {msg.format!r})")
    data = _as_bytes(msg.data)
    if data.size == 0:
        raise ImageConversionError("compressed image has no data")
    size = compressed_size(data)
    if size is not None:
        _check_pixels(size[0], size[1], max_pixels)
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None or decoded.size == 0:
        raise ImageConversionError(
            f"cannot decode {data.size} bytes of compressed image (format {msg.format!r})"
        )
    _check_pixels(decoded.shape[1], decoded.shape[0], max_pixels)  # formats without a header check
    return cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)


def rgb_to_image(rgb: np.ndarray, header: Header) -> Image:
    """RGB uint8 (H, W, 3) -> sensor_msgs/Image rgb8."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = rgb.shape[:2]
    msg = Image(header=header, height=height, width=width, encoding="rgb8", is_bigendian=0, step=width * 3)
    msg.data = rgb.tobytes()
    return msg


# --------------------------------------------------------------------------------------------
# boxes and detections
# --------------------------------------------------------------------------------------------


def box_to_bbox(box_xywh: Sequence[float]) -> BoundingBox2D:
    x, y, w, h = (float(v) for v in box_xywh)
    bbox = BoundingBox2D(size_x=w, size_y=h)
    bbox.center.position.x = x + w / 2.0
    bbox.center.position.y = y + h / 2.0
    return bbox


def bbox_to_box(bbox: BoundingBox2D) -> np.ndarray:
    w, h = float(bbox.size_x), float(bbox.size_y)
    centre = bbox.center.position
    return np.array([centre.x - w / 2.0, centre.y - h / 2.0, w, h], dtype=np.float64)


def _hypothesis(class_id: str, score: float) -> ObjectHypothesisWithPose:
    hypothesis = ObjectHypothesisWithPose()
    hypothesis.hypothesis.class_id = class_id
    hypothesis.hypothesis.score = float(score)
    return hypothesis


def make_detection(
    header: Header, box_xywh: Sequence[float], detection_id: str, class_id: str, score: float
) -> Detection2D:
    return Detection2D(
        header=header, bbox=box_to_bbox(box_xywh), id=detection_id, results=[_hypothesis(class_id, score)]
    )


def target_detection(result: Any, header: Header) -> Detection2D:
    """~/target: the target box, its id, and one hypothesis whose score is the presence score."""
    return make_detection(header, result.box, result.target_id, TARGET_CLASS, result.presence)


def ranked_distractors(result: Any | None, max_distractors: int) -> list[Any]:
    """The strongest ``max_distractors`` look-alikes of a TrackResult, strongest first."""
    if result is None:
        return []
    return sorted(result.distractors, key=lambda d: float(d.score), reverse=True)[:max_distractors]


def distractor_array(result: Any | None, header: Header, max_distractors: int) -> Detection2DArray:
    """~/distractors: the strongest ``max_distractors`` look-alikes, id = persistent tracklet id."""
    array = Detection2DArray(header=header)
    array.detections = [
        make_detection(header, d.box, str(d.track_id), DISTRACTOR_CLASS, d.score)
        for d in ranked_distractors(result, max_distractors)
    ]
    return array


@dataclass
class StatusExtras:
    """What the node adds to a TrackResult in ~/status."""

    processing_ms: float = 0.0
    latency_ms: float = 0.0
    frames_received: int = 0
    frames_processed: int = 0
    frames_dropped: int = 0
    frames_lost: int = 0
    frames_since_seen: int = 0
    device: str = ""
    message: str = ""


def tracker_status(
    result: Any | None,
    header: Header,
    extras: StatusExtras,
    state: str | None = None,
    max_distractors: int | None = None,
) -> TrackerStatus:
    """~/status from a TrackResult (None = no tracking happened on this frame).

    ``state`` overrides the state name (e.g. "ERROR" for bad input, "UNINITIALIZED")."""
    name = state or (result.state.name if result is not None else "UNINITIALIZED")
    status = TrackerStatus(header=header, state=STATE_CODES[name])
    if result is not None and name != "ERROR":
        status.target_id = str(result.target_id)
        status.score = float(result.score)
        status.presence = float(result.presence)
        count = len(result.distractors)
        status.num_distractors = count if max_distractors is None else min(count, max_distractors)
    status.frames_since_seen = int(extras.frames_since_seen)
    status.processing_ms = float(extras.processing_ms)
    status.latency_ms = float(extras.latency_ms)
    status.frames_processed = int(extras.frames_processed)
    status.frames_dropped = int(extras.frames_dropped)
    status.frames_received = int(extras.frames_received)
    status.frames_lost = int(extras.frames_lost)
    status.device = extras.device
    status.message = extras.message
    return status


# --------------------------------------------------------------------------------------------
# markers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlaneProjection:
    """Maps pixels onto the plane z = depth in the camera's optical frame (x right, y down).

    With intrinsics (fx, fy, cx, cy) this is the pinhole back-projection; without them the
    image is laid out with ``pixel_size`` metres per pixel around its centre."""

    depth: float
    fx: float
    fy: float
    cx: float
    cy: float

    @classmethod
    def from_camera_info(
        cls, info: CameraInfo, depth: float, image_wh: tuple[int, int] | None = None
    ) -> PlaneProjection | None:
        """The pinhole projection of ``info``, or None when it cannot be used (see
        :func:`camera_info_problem`)."""
        if camera_info_problem(info, image_wh) is not None:
            return None
        k = [float(v) for v in info.k]
        return cls(depth, k[0], k[4], k[2], k[5])

    @classmethod
    def pixel_units(cls, image_wh: tuple[int, int], depth: float, pixel_size: float) -> PlaneProjection:
        focal = depth / pixel_size
        return cls(depth, focal, focal, image_wh[0] / 2.0, image_wh[1] / 2.0)

    def point(self, u: float, v: float) -> Point:
        x = (u - self.cx) * self.depth / self.fx
        y = (v - self.cy) * self.depth / self.fy
        return Point(x=x, y=y, z=self.depth)


def camera_info_problem(info: CameraInfo, image_wh: tuple[int, int] | None) -> str | None:
    """Why ``info`` cannot place boxes in 3-D for images of ``image_wh`` (None when it can)."""
    k = [float(v) for v in info.k]
    if len(k) != 9 or not all(math.isfinite(v) for v in k):
        return f"camera_info K is not 9 finite numbers: {k}"
    if k[0] == 0.0 and k[4] == 0.0:
        return "camera_info K is zero (uncalibrated camera)"
    if k[0] < MIN_FOCAL_PX or k[4] < MIN_FOCAL_PX:
        return f"camera_info focal lengths fx={k[0]}, fy={k[4]} are below {MIN_FOCAL_PX} pixel"
    info_wh = (int(info.width), int(info.height))
    if image_wh is not None and info_wh != (0, 0) and info_wh != tuple(image_wh):
        return (
            f"camera_info is for {info_wh[0]}x{info_wh[1]} images but the images are "
            f"{image_wh[0]}x{image_wh[1]}"
        )
    return None


TARGET_RGBA = (0.1, 0.9, 0.2, 1.0)
UNCERTAIN_RGBA = (1.0, 0.85, 0.1, 1.0)
DISTRACTOR_RGBA = (1.0, 0.35, 0.1, 0.9)


def _box_marker(
    header: Header,
    namespace: str,
    marker_id: int,
    box_xywh: Sequence[float],
    projection: PlaneProjection,
    rgba: tuple[float, float, float, float],
    line_width: float,
) -> Marker:
    x, y, w, h = (float(v) for v in box_xywh)
    corners = ((x, y), (x + w, y), (x + w, y + h), (x, y + h), (x, y))
    marker = Marker(header=header, ns=namespace, id=marker_id, type=Marker.LINE_STRIP, action=Marker.ADD)
    marker.pose.orientation.w = 1.0
    marker.scale.x = line_width
    marker.color = ColorRGBA(r=rgba[0], g=rgba[1], b=rgba[2], a=rgba[3])
    marker.points = [projection.point(u, v) for u, v in corners]
    marker.lifetime = Duration(sec=0, nanosec=0)
    return marker


def box_markers(
    header: Header,
    target_box: Sequence[float] | None,
    uncertain: bool,
    distractors: Iterable[tuple[int, Sequence[float]]],
    projection: PlaneProjection,
) -> MarkerArray:
    """~/markers: DELETEALL first (so stale boxes never linger), then one LINE_STRIP per box."""
    clear = Marker(header=header, action=Marker.DELETEALL)
    markers = [clear]
    line_width = max(projection.depth / projection.fx * 2.0, 1e-4)  # about two pixels wide
    if target_box is not None:
        rgba = UNCERTAIN_RGBA if uncertain else TARGET_RGBA
        markers.append(_box_marker(header, "target", 0, target_box, projection, rgba, line_width))
    for track_id, box in distractors:
        markers.append(
            _box_marker(header, "distractors", int(track_id), box, projection, DISTRACTOR_RGBA, line_width)
        )
    return MarkerArray(markers=markers)

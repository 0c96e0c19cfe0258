"""Message conversions: every supported encoding gives the right RGB pixels, malformed
messages give a clear ImageConversionError, and results become the documented messages."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import pytest
from dmtrack_msgs.msg import TrackerStatus
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker

from dmtrack_ros.conversions import (
    ImageConversionError,
    PlaneProjection,
    StatusExtras,
    bbox_to_box,
    box_markers,
    box_to_bbox,
    camera_info_problem,
    check_init_box,
    compressed_size,
    compressed_to_rgb,
    distractor_array,
    image_to_rgb,
    is_reset_box,
    rgb_to_image,
    target_detection,
    tracker_status,
)

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)


def raw_image(pixels: np.ndarray, encoding: str, padding: int = 0, big_endian: bool = False) -> Image:
    """An Image message of ``pixels`` (H, W[, C]) with ``padding`` extra bytes per row."""
    height, width = pixels.shape[:2]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype(">u2" if big_endian else "<u2")
    rows = pixels.reshape(height, -1).view(np.uint8).reshape(height, -1)
    rows = np.concatenate([rows, np.full((height, padding), 77, np.uint8)], axis=1)
    return Image(
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(big_endian),
        step=rows.shape[1],
        data=rows.tobytes(),
    )


@pytest.mark.parametrize("padding", [0, 3])
@pytest.mark.parametrize(
    ("encoding", "make"),
    [
        ("rgb8", lambda rgb: rgb),
        ("bgr8", lambda rgb: rgb[:, :, ::-1]),
        ("rgba8", lambda rgb: np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)])),
        ("bgra8", lambda rgb: np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 9, np.uint8)])),
    ],
)
def test_colour_encodings_give_the_rgb_pixels(encoding, make, padding):
    out = image_to_rgb(raw_image(np.ascontiguousarray(make(RGB)), encoding, padding))
    assert out.dtype == np.uint8 and out.shape == (5, 7, 3)
    np.testing.assert_array_equal(out, RGB)


def test_mono8_is_repeated_on_three_channels():
    grey = RGB[:, :, 0].copy()
    out = image_to_rgb(raw_image(grey, "mono8", padding=1))
    np.testing.assert_array_equal(out, np.dstack([grey] * 3))


@pytest.mark.parametrize("big_endian", [False, True])
def test_mono16_maps_the_full_range_onto_8_bits(big_endian):
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)
    out = image_to_rgb(raw_image(values, "mono16", big_endian=big_endian))
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255, 128])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


@pytest.mark.parametrize("encoding", ["yuv422", "yuv422_yuy2"])
def test_packed_yuv422_is_decoded(encoding):
    # luma 180 and neutral chroma (128) everywhere: a flat grey, video range (16..235) expanded
    packed = np.full((4, 6, 2), 128, np.uint8)
    luma_channel = 1 if encoding == "yuv422" else 0  # UYVY vs YUYV
    packed[:, :, luma_channel] = 180
    out = image_to_rgb(raw_image(packed, encoding))
    assert out.shape == (4, 6, 3)
    expected = round((180 - 16) * 255 / 219)
    assert np.abs(out.astype(int) - expected).max() <= 1


def test_output_is_a_copy_not_a_view_of_the_message():
    msg = raw_image(RGB, "rgb8")
    out = image_to_rgb(msg)
    out[:] = 0
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_unsupported_encoding_names_the_supported_ones():
    msg = raw_image(RGB, "rgb8")
    msg.encoding = "bayer_rggb8"
    with pytest.raises(ImageConversionError, match="unsupported encoding 'bayer_rggb8'.*rgb8"):
        image_to_rgb(msg)


def test_data_shorter_than_step_times_height_is_rejected():
    msg = raw_image(RGB, "rgb8")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ImageConversionError, match="less than step x height"):
        image_to_rgb(msg)


def test_step_smaller_than_a_row_is_rejected():
    msg = raw_image(RGB, "rgb8")
    msg.step = 7 * 3 - 1
    with pytest.raises(ImageConversionError, match="step"):
        image_to_rgb(msg)


@pytest.mark.parametrize(("width", "height"), [(0, 5), (7, 0), (0, 0)])
def test_zero_size_image_is_rejected(width, height):
    msg = Image(width=width, height=height, encoding="rgb8", step=width * 3, data=b"")
    with pytest.raises(ImageConversionError, match="zero-size"):
        image_to_rgb(msg)


@pytest.mark.parametrize("extension", [".png", ".jpg"])
def test_compressed_images_decode_to_rgb(extension):
    smooth = np.zeros((32, 48, 3), np.uint8)
    smooth[:, :, 0] = 200  # red, flat: survives JPEG almost exactly
    smooth[:, :, 2] = 30
    ok, encoded = cv2.imencode(extension, smooth[:, :, ::-1])
    assert ok
    out = compressed_to_rgb(CompressedImage(format=extension[1:], data=encoded.tobytes()))
    assert out.shape == (32, 48, 3)
    assert np.abs(out.astype(int) - smooth).max() <= 3


def test_corrupt_or_empty_compressed_image_is_rejected():
    with pytest.raises(ImageConversionError, match="no data"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b""))
    with pytest.raises(ImageConversionError, match="cannot decode"):
        compressed_to_rgb(CompressedImage(format="jpeg", data=b"\xff\xd8 not really a jpeg"))


def test_rgb_to_image_round_trips():
    header = Header(frame_id="cam")
    msg = rgb_to_image(RGB, header)
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", 7, 5, 21)
    np.testing.assert_array_equal(image_to_rgb(msg), RGB)


def test_box_and_bbox_round_trip_with_centre_convention():
    bbox = box_to_bbox([10.0, 20.0, 30.0, 40.0])
    centre = bbox.center.position
    assert (centre.x, centre.y, bbox.size_x, bbox.size_y) == (25.0, 40.0, 30.0, 40.0)
    np.testing.assert_allclose(bbox_to_box(bbox), [10, 20, 30, 40])


def test_init_box_checks():
    assert is_reset_box([5, 5, 0, 0]) and not is_reset_box([5, 5, 0, 3])
    assert check_init_box([1, 2, 3, 4], (10, 10)) is None
    assert "not finite" in check_init_box([math.nan, 2, 3, 4], (10, 10))
    assert "no area" in check_init_box([1, 2, 0, 4], (10, 10))
    assert "outside" in check_init_box([10, 2, 3, 4], (10, 10))
    assert "outside" in check_init_box([-5, 2, 5, 4], (10, 10))
    assert check_init_box([-4, 2, 5, 4], (10, 10)) is None  # partly inside is fine


@dataclass
class FakeDistractor:  # the shape of dmtrack_core.tracking.Distractor, without importing torch
    track_id: int
    box: np.ndarray
    score: float
    similarity: float = 0.5


class State:
    def __init__(self, name: str) -> None:
        self.name = name


@dataclass
class Result:
    box: np.ndarray
    score: float
    presence: float
    state: State
    target_id: str
    distractors: list = field(default_factory=list)


def test_results_become_target_distractors_and_status():
    header = Header(frame_id="cam")
    header.stamp.sec, header.stamp.nanosec = 12, 345
    distractors = [
        FakeDistractor(7, np.array([5.0, 5, 2, 2]), 0.3),
        FakeDistractor(3, np.array([0.0, 0, 1, 1]), 0.6),
        FakeDistractor(9, np.array([0.0, 0, 1, 1]), 0.1),
    ]
    result = Result(np.array([1.0, 2.0, 3.0, 4.0]), 0.9, 0.8, State("UNCERTAIN"), "person", distractors)
    target = target_detection(result, header)
    assert target.id == "person" and target.header == header
    assert target.results[0].hypothesis.score == pytest.approx(0.8)
    np.testing.assert_allclose(bbox_to_box(target.bbox), [1, 2, 3, 4])

    array = distractor_array(result, header, max_distractors=2)
    assert [d.id for d in array.detections] == ["3", "7"]  # strongest first, capped
    assert all(d.header == header for d in array.detections)

    status = tracker_status(result, header, StatusExtras(frames_dropped=4, device="cpu"), max_distractors=2)
    assert (status.state, status.target_id, status.num_distractors, status.frames_dropped) == (
        TrackerStatus.UNCERTAIN,
        "person",
        2,
        4,
    )
    error = tracker_status(result, header, StatusExtras(message="bad"), state="ERROR")
    assert error.state == TrackerStatus.ERROR and error.message == "bad" and error.target_id == ""
    assert tracker_status(None, header, StatusExtras()).state == TrackerStatus.UNINITIALIZED


def test_markers_clear_first_and_project_with_intrinsics():
    header = Header(frame_id="cam")
    info = CameraInfo(k=[100.0, 0.0, 50.0, 0.0, 200.0, 40.0, 0.0, 0.0, 1.0])
    projection = PlaneProjection.from_camera_info(info, depth=2.0)
    markers = box_markers(header, [50.0, 40.0, 10.0, 20.0], False, [(4, [0.0, 0.0, 5.0, 5.0])], projection)
    kinds = [(m.action, m.type) for m in markers.markers]
    assert kinds[0][0] == Marker.DELETEALL
    assert kinds[1:] == [(Marker.ADD, Marker.LINE_STRIP)] * 2
    corners = [(p.x, p.y, p.z) for p in markers.markers[1].points]
    assert corners[0] == pytest.approx((0.0, 0.0, 2.0))  # the principal point lies on the axis
    assert corners[2] == pytest.approx((10 * 2.0 / 100, 20 * 2.0 / 200, 2.0))
    assert corners[-1] == corners[0]  # closed outline
    assert markers.markers[2].id == 4 and markers.markers[2].ns == "distractors"
    assert PlaneProjection.from_camera_info(CameraInfo(), 2.0) is None  # uncalibrated


def test_markers_without_camera_info_use_pixel_size_around_the_centre():
    projection = PlaneProjection.pixel_units((100, 80), depth=1.0, pixel_size=0.01)
    point = projection.point(60.0, 30.0)
    assert (point.x, point.y, point.z) == pytest.approx((0.1, -0.1, 1.0))


def bomb(extension: str, width: int, height: int) -> bytes:
    """A small image whose header claims ``width`` x ``height`` (what a decompression bomb does)."""
    ok, encoded = cv2.imencode(extension, np.zeros((8, 8, 3), np.uint8))
    data = bytearray(encoded.tobytes())
    if extension == ".png":
        data[16:24] = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        return bytes(data)
    position = 2
    while data[position + 1] not in (0xC0, 0xC1, 0xC2):  # walk to the start-of-frame segment
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    data[position + 5 : position + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_compressed_sizes_are_read_from_the_header_and_bombs_refused_before_decoding(extension):
    ok, encoded = cv2.imencode(extension, np.zeros((48, 64, 3), np.uint8))
    assert compressed_size(encoded.tobytes()) == (64, 48)
    data = bomb(extension, 60000, 60000)
    assert compressed_size(data) == (60000, 60000)
    with pytest.raises(ImageConversionError, match="larger than max_image_pixels"):
        compressed_to_rgb(CompressedImage(format=extension[1:], data=data), max_pixels=33_177_600)


def test_raw_images_over_the_pixel_limit_and_odd_width_yuv422_are_refused():
    big = raw_image(np.zeros((40, 50, 3), np.uint8), "rgb8")
    with pytest.raises(ImageConversionError, match="2000 pixels is larger than max_image_pixels 1999"):
        image_to_rgb(big, max_pixels=1999)
    assert image_to_rgb(big, max_pixels=2000).shape == (40, 50, 3)
    odd = raw_image(np.zeros((4, 5, 2), np.uint8), "yuv422")
    with pytest.raises(ImageConversionError, match="width must be even"):
        image_to_rgb(odd)


@pytest.mark.parametrize(
    ("k", "size", "reason"),
    [
        ([math.nan, 0, 50, 0, 200, 40, 0, 0, 1], (100, 80), "finite"),
        ([0.0] * 9, (100, 80), "uncalibrated"),
        ([1e-9, 0, 50, 0, 1e-9, 40, 0, 0, 1], (100, 80), "below 1.0 pixel"),
        ([100.0, 0, 50, 0, 200, 40, 0, 0, 1], (640, 480), "is for 100x80 images but the images are 640x480"),
    ],
)
def test_camera_info_is_validated_before_it_places_markers(k, size, reason):
    info = CameraInfo(width=100, height=80, k=k)
    assert reason in camera_info_problem(info, size)
    assert PlaneProjection.from_camera_info(info, 2.0, size) is None
    good = CameraInfo(width=100, height=80, k=[100.0, 0, 50, 0, 200, 40, 0, 0, 1])
    assert camera_info_problem(good, (100, 80)) is None
    assert camera_info_problem(CameraInfo(k=good.k), (640, 480)) is None  # size 0 = unknown

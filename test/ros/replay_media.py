"""Tiny generated inputs for the replay tests: a video file and rosbag2 folders.

The scene is a textured background with a bright square target moving right and a
look-alike square standing still, small enough to keep each test to seconds on 2 cores.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT = 160, 120
TARGET_SIZE = 24
FPS = 20.0


def target_box(index: int) -> tuple[float, float, float, float]:
    return (20.0 + 2.0 * index, 40.0, float(TARGET_SIZE), float(TARGET_SIZE))


def frame_rgb(index: int) -> np.ndarray:
    rng = np.random.default_rng(7)  # the same background every frame, like a static camera
    image = rng.integers(40, 90, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    x, y, w, h = (int(v) for v in target_box(index))
    image[y : y + h, x : x + w] = (230, 60, 40)
    image[y + 6 : y + 18, x + 6 : x + 18] = (250, 220, 60)
    image[80 : 80 + TARGET_SIZE, 120 : 120 + TARGET_SIZE] = (225, 70, 50)  # the look-alike
    return image


def write_video(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    assert writer.isOpened()
    for index in range(frames):
        writer.write(cv2.cvtColor(frame_rgb(index), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def write_bag(
    path: Path,
    frames: int,
    storage: str,
    topics: tuple[str, ...] = ("/camera/image_raw",),
    encoding: str = "bgr8",
) -> Path:
    """A rosbag2 with the same frames on each topic, serialised through the rosbags typestore."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.ROS2_JAZZY)
    image_type = typestore.types["sensor_msgs/msg/Image"]
    header_type = typestore.types["std_msgs/msg/Header"]
    time_type = typestore.types["builtin_interfaces/msg/Time"]
    plugin = {"sqlite3": StoragePlugin.SQLITE3, "mcap": StoragePlugin.MCAP}[storage]
    start_ns = 1_700_000_000 * 10**9
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        connections = [writer.add_connection(t, "sensor_msgs/msg/Image", typestore=typestore) for t in topics]
        for index in range(frames):
            stamp_ns = start_ns + round(index * 1e9 / FPS)
            pixels = frame_rgb(index)
            if encoding == "bgr8":
                pixels = np.ascontiguousarray(pixels[..., ::-1])
            sec, nanosec = divmod(stamp_ns, 10**9)
            msg = image_type(
                header=header_type(stamp=time_type(sec=sec, nanosec=nanosec), frame_id="bag_camera"),
                height=HEIGHT,
                width=WIDTH,
                encoding=encoding,
                is_bigendian=0,
                step=WIDTH * 3,
                data=pixels.reshape(-1),
            )
            data = typestore.serialize_cdr(msg, "sensor_msgs/msg/Image")
            for connection in connections:
                writer.write(connection, stamp_ns, data)
    return path


_domain_counter = iter(range(10**6))


def fresh_domain_id() -> int:
    """A ROS domain id in 101-232 that differs between tests and, most likely, between pytest
    sessions running at the same time (the shared fixture counts from 40 in every session, and
    participants of other sessions on the same domain can crowd out localhost discovery)."""
    return 101 + (os.getpid() * 7 + next(_domain_counter)) % 132

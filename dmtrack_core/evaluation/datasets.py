"""Sequence readers for LaSOT, GOT-10k and OTB-style folders.

Every reader returns :class:`Sequence` objects with the same conventions:

* ``ground_truth`` is ``(N, 4)`` float64 ``x, y, w, h`` in image pixels; rows the dataset
  does not annotate (the GOT-10k test split gives only the first box) are NaN;
* ``absent`` is ``(N,)`` bool: the target is fully occluded or out of view (LaSOT's
  ``full_occlusion`` / ``out_of_view``, GOT-10k's ``absence.label``), or the ground truth row is
  empty (``0,0,0,0``, how OTB-style and many other sets mark a missing target).

Frames are read lazily, one file at a time (``Sequence.read_frame``), always as RGB.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dmtrack_core.imagery import ImageryError, read_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class DatasetError(ValueError):
    """A dataset folder does not have the layout its reader expects."""


@dataclass
class Sequence:
    """One annotated video: frame files plus per-frame ground truth."""

    name: str
    frame_paths: list[Path]
    ground_truth: np.ndarray  # (N, 4) float64 x, y, w, h; NaN rows = not annotated
    absent: np.ndarray  # (N,) bool
    dataset: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)  # extra per-frame labels, e.g. "cover"

    def __post_init__(self) -> None:
        self.ground_truth = np.asarray(self.ground_truth, dtype=np.float64).reshape(-1, 4)
        self.absent = np.asarray(self.absent, dtype=bool).reshape(-1)
        count = len(self.frame_paths)
        if len(self.ground_truth) != count or len(self.absent) != count:
            raise DatasetError(
                f"{self.name}: {count} frames but {len(self.ground_truth)} ground-truth rows "
                f"and {len(self.absent)} absence flags"
            )

    def __len__(self) -> int:
        return len(self.frame_paths)

    @property
    def init_box(self) -> np.ndarray:
        return self.ground_truth[0].copy()

    @property
    def fully_annotated(self) -> bool:
        """False for test splits that hide the ground truth after frame 1."""
        return bool(np.isfinite(self.ground_truth).all())

    def read_frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as an RGB uint8 array."""
        try:
            return read_rgb(self.frame_paths[index])
        except ImageryError as exc:
            raise DatasetError(f"{self.name}: {exc}") from exc


def read_box_file(path: Path) -> np.ndarray:
    """Rows of four numbers separated by commas, tabs or spaces (OTB files mix all three)."""
    rows = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        values = [v for v in re.split(r"[,\s]+", line) if v]
        if len(values) != 4:
            raise DatasetError(f"{path}:{line_number}: expected 4 numbers, got {line!r}")
        rows.append([_to_float(v) for v in values])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def _to_float(text: str) -> float:
    # GOT-10k and some converted sets write "nan" for unknown; float() reads it.
    return float(text)


def read_flag_line(path: Path) -> np.ndarray:
    """LaSOT's ``full_occlusion.txt`` / ``out_of_view.txt``: one line of comma-separated 0/1."""
    text = path.read_text().strip()
    if not text:
        return np.zeros(0, dtype=bool)
    return np.asarray([int(v) for v in re.split(r"[,\s]+", text) if v], dtype=np.int64) != 0


def read_label_column(path: Path) -> np.ndarray:
    """GOT-10k's ``*.label`` files: one integer per line."""
    return np.asarray([int(v) for v in path.read_text().split()], dtype=np.int64)


def empty_boxes(boxes: np.ndarray) -> np.ndarray:
    """Rows with no extent (``0,0,0,0`` or w/h <= 0): how datasets mark a missing target."""
    with np.errstate(invalid="ignore"):
        return ~((boxes[:, 2] > 0) & (boxes[:, 3] > 0)) & np.isfinite(boxes).all(axis=1)


def _sorted_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


# ---------------------------------------------------------------------------------------------
# LaSOT
# ---------------------------------------------------------------------------------------------


def read_lasot_sequence(folder: Path) -> Sequence:
    """One LaSOT sequence folder: ``img/00000001.jpg ...``, ``groundtruth.txt``,
    ``full_occlusion.txt``, ``out_of_view.txt`` (the last two optional)."""
    folder = Path(folder)
    ground_truth = read_box_file(folder / "groundtruth.txt")
    frames = _sorted_images(folder / "img")
    if len(frames) > len(ground_truth):
        # LaSOT's own loaders number frames from the annotation; extra images are ignored.
        frames = frames[: len(ground_truth)]
    count = len(ground_truth)
    absent = empty_boxes(ground_truth)
    attributes: dict[str, Any] = {}
    for flag_name in ("full_occlusion", "out_of_view"):
        path = folder / f"{flag_name}.txt"
        if path.exists():
            flags = read_flag_line(path)
            if len(flags) != count:
                raise DatasetError(f"{path}: {len(flags)} flags for {count} frames")
            attributes[flag_name] = flags
            absent |= flags
    return Sequence(folder.name, frames, ground_truth, absent, "lasot", attributes)


def list_lasot_sequences(root: Path) -> list[Path]:
    """Sequence folders under ``root``: the official ``class/class-N`` layout, or flat
    ``root/<sequence>`` (what ``dmtrack synth`` writes), or ``root`` itself."""
    root = Path(root)
    if (root / "groundtruth.txt").exists():
        return [root]
    found = [p.parent for p in root.glob("*/groundtruth.txt")] + [
        p.parent for p in root.glob("*/*/groundtruth.txt")
    ]
    return sorted({p for p in found if (p / "img").is_dir()}, key=lambda p: p.name)


def read_lasot(root: str | Path, names: list[str] | None = None) -> list[Sequence]:
    folders = list_lasot_sequences(Path(root))
    if names is not None:
        wanted = set(names)
        folders = [f for f in folders if f.name in wanted]
    if not folders:
        raise DatasetError(f"no LaSOT sequences under {root}")
    return [read_lasot_sequence(f) for f in folders]


# ---------------------------------------------------------------------------------------------
# GOT-10k
# ---------------------------------------------------------------------------------------------


def read_got10k_sequence(folder: Path) -> Sequence:
    """One GOT-10k sequence folder: ``00000001.jpg ...``, ``groundtruth.txt`` (every frame in
    train/val, only the first in test), and in train/val ``absence.label``, ``cover.label``
    (0..8, 0 = fully hidden) and ``cut_by_image.label``."""
    folder = Path(folder)
    frames = _sorted_images(folder)
    if not frames:
        raise DatasetError(f"{folder}: no frames")
    boxes = read_box_file(folder / "groundtruth.txt")
    count = len(frames)
    if len(boxes) == 1 and count > 1:  # test split: the first box only
        ground_truth = np.full((count, 4), np.nan)
        ground_truth[0] = boxes[0]
    elif len(boxes) == count:
        ground_truth = boxes
    else:
        raise DatasetError(f"{folder}: {len(boxes)} boxes for {count} frames")
    absent = empty_boxes(ground_truth)
    attributes: dict[str, Any] = {}
    for label in ("absence", "cover", "cut_by_image"):
        path = folder / f"{label}.label"
        if path.exists():
            values = read_label_column(path)
            if len(values) != count:
                raise DatasetError(f"{path}: {len(values)} labels for {count} frames")
            attributes[label] = values
    if "absence" in attributes:
        absent |= attributes["absence"] != 0
    resolution = _got10k_resolution(folder / "meta_info.ini")
    if resolution is not None:
        attributes["resolution"] = resolution  # (width, height): GOT-10k clips boxes to it
    return Sequence(folder.name, frames, ground_truth, absent, "got10k", attributes)


def _got10k_resolution(path: Path) -> tuple[int, int] | None:
    if not path.exists():
        return None
    match = re.search(r"resolution:\s*\((\d+),\s*(\d+)\)", path.read_text())
    return (int(match.group(1)), int(match.group(2))) if match else None


def read_got10k(root: str | Path, names: list[str] | None = None) -> list[Sequence]:
    """A GOT-10k split folder (``val`` or ``test``) with its ``list.txt``."""
    root = Path(root)
    list_file = root / "list.txt"
    if list_file.exists():
        folders = [root / line.strip() for line in list_file.read_text().splitlines() if line.strip()]
    else:
        folders = sorted(p.parent for p in root.glob("*/groundtruth.txt"))
    if names is not None:
        wanted = set(names)
        folders = [f for f in folders if f.name in wanted]
    if not folders:
        raise DatasetError(f"no GOT-10k sequences under {root}")
    return [read_got10k_sequence(f) for f in folders]


# ---------------------------------------------------------------------------------------------
# OTB-style
# ---------------------------------------------------------------------------------------------


def read_otb_sequence(folder: Path) -> Sequence:
    """An OTB-style folder: ``img/0001.jpg ...`` and ``groundtruth_rect.txt`` whose numbers are
    separated by commas, tabs or spaces. Empty rows (0,0,0,0) mark a missing target."""
    folder = Path(folder)
    gt_files = sorted(folder.glob("groundtruth_rect*.txt"))
    if not gt_files:
        raise DatasetError(f"{folder}: no groundtruth_rect.txt")
    ground_truth = read_box_file(gt_files[0])
    frames = _sorted_images(folder / "img")
    if len(frames) < len(ground_truth):
        raise DatasetError(f"{folder}: {len(frames)} frames for {len(ground_truth)} boxes")
    frames = frames[: len(ground_truth)]  # a few OTB sequences ship extra images
    return Sequence(folder.name, frames, ground_truth, empty_boxes(ground_truth), "otb")


def read_otb(root: str | Path, names: list[str] | None = None) -> list[Sequence]:
    root = Path(root)
    if list(root.glob("groundtruth_rect*.txt")):
        folders = [root]
    else:
        folders = sorted({p.parent for p in root.glob("*/groundtruth_rect*.txt")})
    if names is not None:
        wanted = set(names)
        folders = [f for f in folders if f.name in wanted]
    if not folders:
        raise DatasetError(f"no OTB-style sequences under {root}")
    return [read_otb_sequence(f) for f in folders]


READERS = {"lasot": read_lasot, "got10k": read_got10k, "otb": read_otb}


def read_dataset(kind: str, root: str | Path, names: list[str] | None = None) -> list[Sequence]:
    """``kind`` is one of ``lasot``, ``got10k``, ``otb``."""
    try:
        reader = READERS[kind]
    except KeyError as exc:
        raise DatasetError(f"unknown dataset kind {kind!r}; known: {sorted(READERS)}") from exc
    return reader(root, names)

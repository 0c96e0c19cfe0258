"""Same-image pairs from real photographs: no pasting.

The template is a real photo (lightly jittered); the search image is a random warp of the
same photo (zoom, aspect change, shift, rotation, a crop that may push objects out of view,
photometric change, blur, noise, JPEG recompression). The instances are the object boxes
found offline on the photo (``tools/detect_boxes``, shipped in ``training/photo_boxes/``):
each is its own identity, so when one is the query every other box of the photo is a
negative. A pair lists the query first, then up to ``max_instances - 1`` other boxes.

Box list format (``photo_boxes/<set>.txt``; ``#`` starts a comment)::

    photo <package> <path> <width> <height> <licence> <fingerprint>
    box <x> <y> <w> <h> <score> <class>      # belongs to the photo line above; photo pixels

``path`` is URL-quoted (no spaces). Photos whose licence is not in
``real_imagery.PERMISSIVE_LICENCES`` are skipped under the ``permissive`` policy (the shipped
weights), and every photo the evaluation lists (``real_imagery.Exclusions``) is skipped always.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

import cv2
import numpy as np

from dmtrack_core.training.augment import affine_boxes, photometric
from dmtrack_core.training.pairs import TrainPair
from dmtrack_core.training.sources.real_imagery import (
    LICENCE_POLICIES,
    PERMISSIVE_LICENCES,
    PHOTO_BOX_DIR,
    Exclusions,
    PhotoPrint,
    opencv_single_threaded,
    read_photo,
)

LOGGER = logging.getLogger(__name__)
QUOTE_SAFE = "/._-+()!,~"
FRAME_SIDE = 640  # photos are scaled so that their longer side is at most this
IDENTITIES_PER_PHOTO = 64
PHOTO_CACHE_SIZE = 48  # decoded photos kept per process (a worker revisits photos often)


@dataclass
class PhotoRecord:
    """One photo of a box list and its boxes (x, y, w, h in the photo's own pixels)."""

    package: str
    path: str
    width: int
    height: int
    licence: str
    fingerprint: str
    boxes: np.ndarray  # (K, 4) float32
    scores: np.ndarray  # (K,) float32
    labels: tuple[str, ...]

    @property
    def photo_print(self) -> PhotoPrint:
        return PhotoPrint(self.fingerprint, self.width / self.height)


class BoxListError(ValueError):
    """A box list does not follow the format in this module's docstring."""


def write_box_list(path: Path, set_name: str, records: list[PhotoRecord]) -> None:
    lines = [
        f"# {set_name}: object boxes from COCO CenterNet (tools/detect_boxes/photo_boxes.py), filtered",
        "# photo <package> <path> <width> <height> <licence> <fingerprint>",
        "# box <x> <y> <w> <h> <score> <class>   (photo pixels)",
    ]
    for r in records:
        relative = quote(r.path, safe=QUOTE_SAFE)
        lines.append(f"photo {r.package} {relative} {r.width} {r.height} {r.licence} {r.fingerprint}")
        for (x, y, w, h), score, label in zip(r.boxes, r.scores, r.labels, strict=True):
            lines.append(f"box {x:.1f} {y:.1f} {w:.1f} {h:.1f} {score:.3f} {label}")
    path.write_text("\n".join(lines) + "\n")


def read_box_list(path: Path) -> list[PhotoRecord]:
    records: list[PhotoRecord] = []
    pending: list[tuple[list[float], float, str]] = []

    def close() -> None:
        if records and pending:
            record = records[-1]
            record.boxes = np.asarray([b for b, _, _ in pending], dtype=np.float32).reshape(-1, 4)
            record.scores = np.asarray([s for _, s, _ in pending], dtype=np.float32)
            record.labels = tuple(label for _, _, label in pending)
        pending.clear()

    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        try:
            if fields[0] == "photo" and len(fields) == 7:
                close()
                package, relative, width, height, licence, print_hex = fields[1:]
                records.append(
                    PhotoRecord(
                        package,
                        unquote(relative),
                        int(width),
                        int(height),
                        licence,
                        print_hex,
                        np.zeros((0, 4), np.float32),
                        np.zeros(0, np.float32),
                        (),
                    )
                )
            elif fields[0] == "box" and len(fields) == 7 and records:
                x, y, w, h, score = (float(v) for v in fields[1:6])
                if w <= 0 or h <= 0:
                    raise ValueError("box has no area")
                pending.append(([x, y, w, h], score, fields[6]))
            else:
                raise ValueError("expected a 'photo' line (7 fields) or a 'box' line after one")
        except ValueError as exc:
            raise BoxListError(f"{path}:{number}: {exc}: {line!r}") from exc
    close()
    return [r for r in records if len(r.boxes)]


def shipped_box_lists() -> list[Path]:
    return sorted(p for p in PHOTO_BOX_DIR.glob("*.txt") if p.name != "clip_seeds.txt")


@dataclass(frozen=True)
class PhotoWarpParams:
    """How far the search image differs from the template (the template is only jittered)."""

    zoom: tuple[float, float] = (0.7, 1.5)  # log-uniform
    aspect: float = 0.15  # log-uniform +- this: an x-only stretch
    rotation_deg: float = 10.0
    shift: float = 0.2  # of the frame, per axis
    min_visible: float = 0.4  # a box less visible than this after the warp is absent
    template_light: float = 0.08
    search_light: float = 0.3
    blur_probability: float = 0.25
    noise_sigma: float = 5.0
    jpeg_probability: float = 0.4
    jpeg_quality: tuple[int, int] = (35, 90)


def _scaled(image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    scale = min(1.0, side / max(image.shape[:2]))
    if scale >= 1.0:
        return image, 1.0
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def _hull_areas(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Area of each box's moved axis-aligned hull, before clipping to the view."""
    x, y, w, h = (boxes[:, i : i + 1] for i in range(4))
    xs = np.concatenate([x, x + w, x, x + w], axis=1)
    ys = np.concatenate([y, y, y + h, y + h], axis=1)
    moved_x = matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]
    moved_y = matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]
    return np.ptp(moved_x, axis=1) * np.ptp(moved_y, axis=1)


def warp_search(
    image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator, params: PhotoWarpParams
) -> tuple[np.ndarray, np.ndarray]:
    """A random view of the photo and its boxes in it (absent = zeros, see ``min_visible``)."""
    height, width = image.shape[:2]
    zoom = math.exp(rng.uniform(math.log(params.zoom[0]), math.log(params.zoom[1])))
    stretch = math.exp(rng.uniform(-params.aspect, params.aspect))
    angle = rng.uniform(-params.rotation_deg, params.rotation_deg)
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, zoom)
    matrix[0, :] *= stretch
    matrix[0, 2] += (1 - stretch) * width / 2 + rng.uniform(-params.shift, params.shift) * width
    matrix[1, 2] += rng.uniform(-params.shift, params.shift) * height
    # a flat fill beyond the photo: a reflected border would repeat objects as unlabelled copies
    fill = tuple(float(v) for v in image.reshape(-1, 3).mean(axis=0))
    warped = cv2.warpAffine(
        image,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )
    moved = affine_boxes(boxes, matrix, (width, height))
    visible = (moved[:, 2] * moved[:, 3]) / np.maximum(_hull_areas(boxes, matrix), 1e-9)
    moved[visible < params.min_visible] = 0.0
    return warped, moved


def degrade(image: np.ndarray, rng: np.random.Generator, params: PhotoWarpParams) -> np.ndarray:
    jitter = params.search_light
    out = photometric(
        image,
        rng,
        brightness=jitter,
        contrast=jitter,
        saturation=jitter,
        blur_probability=params.blur_probability,
        noise_sigma=params.noise_sigma,
    )
    if rng.random() < params.jpeg_probability:
        quality = int(rng.integers(params.jpeg_quality[0], params.jpeg_quality[1] + 1))
        ok, encoded = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    return out


class RealPhotoSource:
    """Same-image pairs over every shipped photo box list; see the module docstring."""

    name = "real_photos"

    def __init__(
        self,
        identity_offset: int = 0,
        max_instances: int = 8,
        licences: str = "permissive",
        box_lists: list[Path] | None = None,
        exclusions: Exclusions | None = None,
        params: PhotoWarpParams | None = None,
    ) -> None:
        if licences not in LICENCE_POLICIES:
            raise ValueError(f"licences must be one of {LICENCE_POLICIES}, got {licences!r}")
        self.identity_offset = int(identity_offset)
        self.max_instances = max(1, int(max_instances))
        self.params = params or PhotoWarpParams()
        if exclusions is None:
            with opencv_single_threaded():  # this process forks the data-loader workers
                exclusions = Exclusions.load()
        lists = shipped_box_lists() if box_lists is None else box_lists
        self.records: list[PhotoRecord] = []
        skipped_licence = skipped_evaluation = 0
        for box_list in lists:
            for record in read_box_list(box_list):
                if licences == "permissive" and record.licence not in PERMISSIVE_LICENCES:
                    skipped_licence += 1
                elif exclusions.photo_excluded(record.package, record.path, record.photo_print):
                    skipped_evaluation += 1
                else:
                    self.records.append(record)
        if not self.records:
            raise ValueError(f"real_photos: no usable photo in {[str(p) for p in lists]}")
        LOGGER.info(
            "real_photos: %d photos, %d boxes (%d skipped by licence, %d used by the evaluation)",
            len(self.records),
            sum(len(r.boxes) for r in self.records),
            skipped_licence,
            skipped_evaluation,
        )
        self._cache: OrderedDict[int, tuple[np.ndarray, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.records)

    def _photo(self, index: int) -> tuple[np.ndarray, float]:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        record = self.records[index]
        image, scale = _scaled(read_photo(record.package, record.path), FRAME_SIDE)
        scale = image.shape[1] / record.width  # exact, whatever the rounding
        self._cache[index] = (image, scale)
        if len(self._cache) > PHOTO_CACHE_SIZE:
            self._cache.popitem(last=False)
        return image, scale

    def sample(self, rng: np.random.Generator, index: int) -> TrainPair:
        photo_index = int(rng.integers(len(self.records)))
        record = self.records[photo_index]
        image, scale = self._photo(photo_index)
        count = len(record.boxes)
        query = int(rng.integers(count))
        others = [k for k in rng.permutation(count) if k != query][: self.max_instances - 1]
        chosen = np.asarray([query, *others], dtype=np.int64)
        boxes = record.boxes[chosen] * scale
        p = self.params
        template = photometric(
            image,
            rng,
            brightness=p.template_light,
            contrast=p.template_light,
            saturation=p.template_light,
            blur_probability=0.0,
            noise_sigma=2.0,
        )
        search, search_boxes = warp_search(image, boxes, rng, p)
        search = degrade(search, rng, p)
        identities = self.identity_offset + photo_index * IDENTITIES_PER_PHOTO + chosen
        return TrainPair(template, search, boxes, search_boxes, identities, source=self.name)

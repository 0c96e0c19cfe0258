"""The run-time target model: a discriminative correlation filter learned from the initial frame.

The offline-trained dynamic kernels generalise poorly to objects unlike the training data;
this model needs no training data at all. At ``initialize`` it fits a linear filter ``w``
(C x k x k, the target's size in cells of one FPN level) by ridge regression over every
location of the whole initial frame:

    min_w  sum_i  || f_i * w - y_i ||^2  +  lambda ||w||^2

where ``f_i`` are the FPN features of the initial frame (and, later, of confident frames),
``*`` is correlation, and ``y_i`` is a Gaussian on the target's centre, zero everywhere else:
every other place of the scene -- in particular the look-alikes in view, this scene's actual
distractors -- is a negative. The normal equations are solved by a few conjugate-gradient
steps, each two convolutions of the small filter over the feature map (DiMP's idea,
with its steepest descent replaced by CG and its hinge by plain least squares).

Per frame the filter is correlated with the whole frame's features (one small convolution):
``response`` in units of the training peak (about 1 on the target, about 0 elsewhere). It
gives every candidate a score (the response near its centre) and proposes extra candidates
at strong peaks the network missed.

Updates: a confident frame's features join a fixed ring of ``memory`` samples (the initial
frame is kept apart and always weighs most), and a few CG steps warm-started from the current
filter refit it. State is the filter plus at most ``memory`` feature maps: O(1) in the video
length. The model reads only ``Features.levels``, so any network backend works.

The correlations are one matrix product and a sum of shifted slices (``correlate``,
``correlate_transpose``), in NumPy: a one-output-channel ``conv2d`` of a small filter over
a small map is dominated by torch's per-call overhead (the response took 2.2 ms that way
and 1.1 ms this way at 640x480 on 2 cores, docs/target_model.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
from torch import Tensor

if TYPE_CHECKING:
    from dmtrack_core.tracking.config import TrackerConfig


@dataclass
class TargetModelSettings:
    """The knobs (``TrackerConfig.target_*``), gathered for the model."""

    max_filter_cells: int  # the filter's side in cells at most: chooses the FPN level
    label_sigma: float  # Gaussian label sigma, as a fraction of the target's size in cells
    regularization: float  # lambda, relative to the mean feature energy per filter weight
    init_iterations: int  # CG steps at initialisation
    update_iterations: int  # CG steps per update
    memory: int  # confident samples kept besides the initial frame
    init_weight: float  # the initial frame's share of the total sample weight
    peak_threshold: float  # response (training peak = 1) for a peak to become a candidate
    max_peaks: int  # extra candidates per frame at most

    @classmethod
    def from_config(cls, config: TrackerConfig, **changes: object) -> TargetModelSettings:
        """The ``target_*`` fields of a tracker config, optionally changed."""
        values = {field: getattr(config, f"target_{field}") for field in cls.__dataclass_fields__}
        values.update(changes)
        return cls(**values)


@dataclass
class Response:
    """One frame's target-model output, in network pixels."""

    map: np.ndarray  # (H, W) float32 response of the chosen level, training peak = 1
    stride: float

    def at(self, points_xy: np.ndarray, radius_cells: int = 1) -> np.ndarray:
        """The largest response within ``radius_cells`` of each point (N, 2) -> (N,); 0 where
        that neighbourhood lies wholly outside the map."""
        points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
        if len(points) == 0:
            return np.zeros(0)
        radius = max(int(radius_cells), 0)
        # pad by the radius (with -inf, which no maximum takes) and dilate: the neighbourhood
        # maximum of every cell at once, also for cells just outside the map
        response = self.map
        if radius > 0:
            response = np.pad(response, radius, constant_values=-np.inf)
            response = cv2.dilate(response, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
        height, width = response.shape
        cells = np.floor(points / self.stride).astype(np.int64) + radius
        inside = (cells[:, 0] >= 0) & (cells[:, 0] < width) & (cells[:, 1] >= 0) & (cells[:, 1] < height)
        values = response[np.clip(cells[:, 1], 0, height - 1), np.clip(cells[:, 0], 0, width - 1)]
        return np.where(inside & np.isfinite(values), values, 0.0).astype(np.float64)

    def peaks(self, threshold: float, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Local maxima (3x3) at or above ``threshold``, strongest first, at most ``count``:
        centres (K, 2) in network pixels with sub-cell (parabolic) refinement, and values (K,)."""
        grid = np.ascontiguousarray(self.map, dtype=np.float32)
        local_max = cv2.dilate(grid, np.ones((3, 3), np.uint8))
        rows, cols = np.nonzero((grid == local_max) & (grid >= threshold))
        if len(rows) == 0:
            return np.zeros((0, 2)), np.zeros(0)
        values = grid[rows, cols]
        order = np.argsort(-values, kind="stable")[:count]
        centres = []
        for row, col in zip(rows[order].tolist(), cols[order].tolist(), strict=True):
            dx = _parabola_offset(grid, row, col, axis=1)
            dy = _parabola_offset(grid, row, col, axis=0)
            centres.append(((col + 0.5 + dx) * self.stride, (row + 0.5 + dy) * self.stride))
        return np.array(centres, dtype=np.float64), values[order].astype(np.float64)


def _parabola_offset(grid: np.ndarray, row: int, col: int, axis: int) -> float:
    """The sub-cell offset of a peak from the parabola through it and its two neighbours."""
    size = grid.shape[axis]
    index = col if axis == 1 else row
    if index <= 0 or index >= size - 1:
        return 0.0
    if axis == 1:
        left, centre, right = grid[row, col - 1], grid[row, col], grid[row, col + 1]
    else:
        left, centre, right = grid[row - 1, col], grid[row, col], grid[row + 1, col]
    curvature = left - 2 * centre + right
    if curvature >= 0:
        return 0.0
    return float(np.clip(0.5 * (left - right) / curvature, -0.5, 0.5))


class TargetModel:
    """A correlation filter over one FPN level, fitted at init and refitted on confident frames."""

    def __init__(self, settings: TargetModelSettings, strides: tuple[int, ...]) -> None:
        self.settings = settings
        self.strides = tuple(int(s) for s in strides)
        self.level = 0
        self.filter: np.ndarray | None = None  # (C, kh, kw) float32
        # samples are kept zero-padded by half the filter (C, H + kh - 1, W + kw - 1), with
        # their right-hand side X^T y, which does not change while they are kept
        self._samples: list[tuple[np.ndarray, np.ndarray]] = []  # ring of confident frames
        self._next_slot = 0
        self._init_sample: tuple[np.ndarray, np.ndarray] | None = None
        self._scale = 1.0  # the training peak, so responses read 1 on the target
        self._lambda = 0.0

    @property
    def initialized(self) -> bool:
        return self.filter is not None

    @property
    def stride(self) -> float:
        return float(self.strides[self.level])

    @property
    def memory_size(self) -> int:
        """Feature maps held (the initial frame's included): bounded by ``memory + 1``."""
        return len(self._samples) + (self._init_sample is not None)

    # --------------------------------------------------------------------------------
    def initialize(self, levels: list[Tensor], box_xyxy: np.ndarray) -> None:
        """Fit the filter to the target at ``box_xyxy`` (network pixels) in the frame whose
        FPN levels (each (1, C, H, W)) are ``levels``."""
        box = np.asarray(box_xyxy, dtype=np.float64).reshape(4)
        side = float(max(box[2] - box[0], box[3] - box[1], 1.0))
        cap = self.settings.max_filter_cells
        self.level = next((i for i, s in enumerate(self.strides) if side / s <= cap), len(self.strides) - 1)
        kernel_hw = self._kernel_size(box)
        padded = _normalised(levels[self.level], kernel_hw)
        channels, height, width = _unpadded_shape(padded, kernel_hw)
        label = self._label((height, width), box)
        # lambda relative to the data term's diagonal: sum over positions of a feature squared
        # (features have unit mean square, so that is the number of positions)
        self._lambda = self.settings.regularization * float(height * width)
        self._init_sample = (padded, correlate_transpose(padded[None], label[None], kernel_hw))
        self._samples, self._next_slot = [], 0
        start = np.zeros((channels, *kernel_hw), dtype=np.float32)
        self.filter = self._fit(start, self.settings.init_iterations)
        trained = correlate(self.filter, padded[None])[0]
        self._scale = float(max(_peak_near(trained, label), 1e-6))

    def response(self, levels: list[Tensor]) -> Response:
        """The filter over the whole frame (training peak = 1)."""
        if self.filter is None:
            raise RuntimeError("TargetModel.response before initialize")
        padded = _normalised(levels[self.level], self.filter.shape[1:])
        out = correlate(self.filter, padded[None])[0] * np.float32(1.0 / self._scale)
        return Response(out, self.stride)

    def update(self, levels: list[Tensor], box_xyxy: np.ndarray) -> None:
        """Learn from a frame where the target is surely at ``box_xyxy`` (network pixels): its
        features replace the oldest confident sample, then a few warm-started CG steps."""
        if self.filter is None:
            raise RuntimeError("TargetModel.update before initialize")
        kernel_hw = self.filter.shape[1:]
        padded = _normalised(levels[self.level], kernel_hw)
        _, height, width = _unpadded_shape(padded, kernel_hw)
        label = self._label((height, width), np.asarray(box_xyxy, dtype=np.float64).reshape(4))
        sample = (padded, correlate_transpose(padded[None], label[None], kernel_hw))
        if len(self._samples) < self.settings.memory:
            self._samples.append(sample)
        elif self.settings.memory > 0:
            self._samples[self._next_slot] = sample
            self._next_slot = (self._next_slot + 1) % self.settings.memory
        self.filter = self._fit(self.filter, self.settings.update_iterations)

    # --------------------------------------------------------------------------------
    def _kernel_size(self, box: np.ndarray) -> tuple[int, int]:
        cap = self.settings.max_filter_cells
        cells = (box[3] - box[1]) / self.stride, (box[2] - box[0]) / self.stride
        # odd, so the filter's centre is a cell and the response aligns with the features
        return tuple(int(min(cap, max(1, 2 * math.floor(c / 2) + 1))) for c in cells)  # type: ignore[return-value]

    def _label(self, grid_hw: tuple[int, int], box: np.ndarray) -> np.ndarray:
        height, width = int(grid_hw[0]), int(grid_hw[1])
        centre = (box[:2] + box[2:]) / 2 / self.stride - 0.5  # in cell indices
        sigma = np.maximum(self.settings.label_sigma * (box[2:] - box[:2]) / self.stride, 0.5)
        xs = (np.arange(width) - centre[0]) / sigma[0]
        ys = (np.arange(height) - centre[1]) / sigma[1]
        return np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)).astype(np.float32)

    def _weighted_batch(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The samples (N, C, Hp, Wp), their weights (N,) and the weighted right-hand side."""
        assert self._init_sample is not None
        samples = [self._init_sample, *self._samples]
        others = len(samples) - 1
        if others == 0:
            weights = np.ones(1, dtype=np.float32)
        else:
            share = (1.0 - self.settings.init_weight) / others
            weights = np.array([self.settings.init_weight] + [share] * others, dtype=np.float32)
        rhs = sum(weight * right for weight, (_, right) in zip(weights, samples, strict=True))
        return np.stack([padded for padded, _ in samples]), weights, rhs

    def _fit(self, start: np.ndarray, iterations: int) -> np.ndarray:
        """Conjugate gradients on (sum_i a_i X_i^T X_i + lambda) w = sum_i a_i X_i^T y_i."""
        samples, weights, rhs = self._weighted_batch()
        kernel_hw = start.shape[1:]

        def normal(w: np.ndarray) -> np.ndarray:
            applied = correlate(w, samples) * weights[:, None, None]
            return correlate_transpose(samples, applied, kernel_hw) + np.float32(self._lambda) * w

        w = start.astype(np.float32, copy=True)
        residual = rhs - normal(w)
        direction = residual.copy()
        energy = float(np.vdot(residual, residual))
        for _ in range(iterations):
            if energy <= 1e-12:
                break
            applied = normal(direction)
            step = np.float32(energy / max(float(np.vdot(direction, applied)), 1e-12))
            w = w + step * direction
            residual = residual - step * applied
            new_energy = float(np.vdot(residual, residual))
            direction = residual + np.float32(new_energy / energy) * direction
            energy = new_energy
        return w


def correlate(kernel: np.ndarray, padded: np.ndarray) -> np.ndarray:
    """Cross-correlation of a (C, kh, kw) filter with zero-padded maps (N, C, H + kh - 1,
    W + kw - 1) -> (N, H, W): what ``conv2d(maps, kernel, padding=(kh // 2, kw // 2))`` gives.
    Every filter tap applied to every position at once (one matrix product), then each tap's
    map shifted into place and summed."""
    channels, kernel_h, kernel_w = kernel.shape
    count, _, padded_h, padded_w = padded.shape
    height, width = padded_h - kernel_h + 1, padded_w - kernel_w + 1
    taps = kernel.reshape(channels, kernel_h * kernel_w).T @ padded.reshape(count, channels, -1)
    taps = taps.reshape(count, kernel_h, kernel_w, padded_h, padded_w)
    out = np.zeros((count, height, width), dtype=np.float32)
    for dy in range(kernel_h):
        for dx in range(kernel_w):
            out += taps[:, dy, dx, dy : dy + height, dx : dx + width]
    return out


def correlate_transpose(padded: np.ndarray, maps: np.ndarray, kernel_hw: tuple[int, int]) -> np.ndarray:
    """The adjoint of ``correlate`` in its filter: (N, C, Hp, Wp) padded samples and (N, H, W)
    output-space maps -> the (C, kh, kw) gradient sum_n X_n^T maps_n. Each tap's map is placed
    at its shift in a padded canvas, then one matrix product with the samples."""
    kernel_h, kernel_w = int(kernel_hw[0]), int(kernel_hw[1])
    count, channels, padded_h, padded_w = padded.shape
    height, width = maps.shape[-2:]
    canvas = np.zeros((kernel_h, kernel_w, count, padded_h, padded_w), dtype=np.float32)
    for dy in range(kernel_h):
        for dx in range(kernel_w):
            canvas[dy, dx, :, dy : dy + height, dx : dx + width] = maps
    samples = padded.transpose(1, 0, 2, 3).reshape(channels, -1)
    return (samples @ canvas.reshape(kernel_h * kernel_w, -1).T).reshape(channels, kernel_h, kernel_w)


def _unpadded_shape(padded: np.ndarray, kernel_hw: tuple[int, ...]) -> tuple[int, int, int]:
    return padded.shape[0], padded.shape[1] - kernel_hw[0] + 1, padded.shape[2] - kernel_hw[1] + 1


def _normalised(level: Tensor, kernel_hw: tuple[int, ...]) -> np.ndarray:
    """(1, C, H, W) -> (C, H + kh - 1, W + kw - 1) float32, zero mean per channel and unit mean
    square (the filter and lambda then mean the same on any frame and any backend), padded
    with zeros by half the filter for ``correlate``."""
    features = level[0].detach().float().cpu().numpy()
    channels, height, width = features.shape
    pad_y, pad_x = int(kernel_hw[0]) // 2, int(kernel_hw[1]) // 2
    padded = np.zeros((channels, height + 2 * pad_y, width + 2 * pad_x), dtype=np.float32)
    inner = padded[:, pad_y : pad_y + height, pad_x : pad_x + width]
    np.subtract(features, features.mean(axis=(1, 2), keepdims=True), out=inner)
    # the padding is zero, so the whole buffer's sum of squares is the features' own
    mean_square = float(np.vdot(padded, padded)) / features.size
    padded *= np.float32(1.0 / max(math.sqrt(mean_square), 1e-6))
    return padded


def _peak_near(response: np.ndarray, label: np.ndarray) -> float:
    """The response's maximum where the label is high (on the target)."""
    on_target = label >= 0.5
    return float(response[on_target].max()) if bool(on_target.any()) else float(response.max())

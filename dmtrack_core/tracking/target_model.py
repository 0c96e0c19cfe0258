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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np
import torch
import torch.nn.functional as F
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

    map: Tensor  # (H, W) response of the chosen level, training peak = 1
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
        response = np.pad(self.map.numpy().astype(np.float32), radius, constant_values=-np.inf)
        if radius > 0:
            response = cv2.dilate(response, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8))
        height, width = response.shape
        cells = np.floor(points / self.stride).astype(np.int64) + radius
        inside = (cells[:, 0] >= 0) & (cells[:, 0] < width) & (cells[:, 1] >= 0) & (cells[:, 1] < height)
        values = response[np.clip(cells[:, 1], 0, height - 1), np.clip(cells[:, 0], 0, width - 1)]
        return np.where(inside & np.isfinite(values), values, 0.0).astype(np.float64)

    def peaks(self, threshold: float, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Local maxima (3x3) at or above ``threshold``, strongest first, at most ``count``:
        centres (K, 2) in network pixels with sub-cell (parabolic) refinement, and values (K,)."""
        grid = np.ascontiguousarray(self.map.numpy(), dtype=np.float32)
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
        self.filter: Tensor | None = None
        self._samples: list[Tensor] = []  # ring of confident (C, H, W) feature maps
        self._labels: list[Tensor] = []
        self._next_slot = 0
        self._init_sample: Tensor | None = None
        self._init_label: Tensor | None = None
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
        sample = _normalised(levels[self.level])
        kernel_hw = self._kernel_size(box)
        label = self._label(sample.shape[-2:], box)
        channels = sample.shape[0]
        # lambda relative to the data term's diagonal: sum over positions of a feature squared
        # (features have unit mean square, so that is the number of positions)
        self._lambda = self.settings.regularization * float(sample.shape[-1] * sample.shape[-2])
        self._init_sample, self._init_label = sample, label
        self._samples, self._labels, self._next_slot = [], [], 0
        start = torch.zeros(1, channels, *kernel_hw, dtype=sample.dtype)
        self.filter = self._fit(start, self.settings.init_iterations)
        trained = self._correlate(self.filter, sample[None])[0, 0]
        self._scale = float(max(_peak_near(trained, label), 1e-6))

    def response(self, levels: list[Tensor]) -> Response:
        """The filter over the whole frame (training peak = 1)."""
        if self.filter is None:
            raise RuntimeError("TargetModel.response before initialize")
        sample = _normalised(levels[self.level])
        out = self._correlate(self.filter, sample[None])[0, 0] / self._scale
        return Response(out, self.stride)

    def update(self, levels: list[Tensor], box_xyxy: np.ndarray) -> None:
        """Learn from a frame where the target is surely at ``box_xyxy`` (network pixels): its
        features replace the oldest confident sample, then a few warm-started CG steps."""
        if self.filter is None:
            raise RuntimeError("TargetModel.update before initialize")
        sample = _normalised(levels[self.level])
        label = self._label(sample.shape[-2:], np.asarray(box_xyxy, dtype=np.float64).reshape(4))
        if len(self._samples) < self.settings.memory:
            self._samples.append(sample)
            self._labels.append(label)
        elif self.settings.memory > 0:
            self._samples[self._next_slot], self._labels[self._next_slot] = sample, label
            self._next_slot = (self._next_slot + 1) % self.settings.memory
        self.filter = self._fit(self.filter, self.settings.update_iterations)

    # --------------------------------------------------------------------------------
    def _kernel_size(self, box: np.ndarray) -> tuple[int, int]:
        cap = self.settings.max_filter_cells
        cells = (box[3] - box[1]) / self.stride, (box[2] - box[0]) / self.stride
        # odd, so the filter's centre is a cell and the response aligns with the features
        return tuple(int(min(cap, max(1, 2 * math.floor(c / 2) + 1))) for c in cells)  # type: ignore[return-value]

    def _label(self, grid_hw: tuple[int, int], box: np.ndarray) -> Tensor:
        height, width = int(grid_hw[0]), int(grid_hw[1])
        centre = (box[:2] + box[2:]) / 2 / self.stride - 0.5  # in cell indices
        sigma = np.maximum(self.settings.label_sigma * (box[2:] - box[:2]) / self.stride, 0.5)
        xs = (np.arange(width) - centre[0]) / sigma[0]
        ys = (np.arange(height) - centre[1]) / sigma[1]
        label = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2))
        return torch.as_tensor(label, dtype=torch.float32)[None]

    def _weighted_batch(self) -> tuple[Tensor, Tensor, Tensor]:
        assert self._init_sample is not None and self._init_label is not None
        samples = [self._init_sample, *self._samples]
        labels = [self._init_label, *self._labels]
        others = len(samples) - 1
        if others == 0:
            weights = [1.0]
        else:
            weights = [self.settings.init_weight] + [(1.0 - self.settings.init_weight) / others] * others
        return (
            torch.stack(samples),
            torch.stack(labels),
            torch.tensor(weights, dtype=torch.float32).reshape(-1, 1, 1, 1),
        )

    def _correlate(self, kernel: Tensor, samples: Tensor) -> Tensor:
        return F.conv2d(samples, kernel, padding=(kernel.shape[-2] // 2, kernel.shape[-1] // 2))

    def _fit(self, start: Tensor, iterations: int) -> Tensor:
        """Conjugate gradients on (sum_i a_i X_i^T X_i + lambda) w = sum_i a_i X_i^T y_i."""
        samples, labels, weights = self._weighted_batch()
        padding = (start.shape[-2] // 2, start.shape[-1] // 2)
        shape = start.shape

        def transpose(residual: Tensor) -> Tensor:
            return torch.nn.grad.conv2d_weight(samples, shape, residual * weights, padding=padding)

        def normal(w: Tensor) -> Tensor:
            return transpose(self._correlate(w, samples)) + self._lambda * w

        with torch.inference_mode(False), torch.no_grad():
            w = start.clone()
            residual = transpose(labels) - normal(w)
            direction = residual.clone()
            energy = float((residual * residual).sum())
            for _ in range(iterations):
                if energy <= 1e-12:
                    break
                applied = normal(direction)
                step = energy / max(float((direction * applied).sum()), 1e-12)
                w = w + step * direction
                residual = residual - step * applied
                new_energy = float((residual * residual).sum())
                direction = residual + (new_energy / energy) * direction
                energy = new_energy
        return w


def _normalised(level: Tensor) -> Tensor:
    """(1, C, H, W) -> (C, H, W) float32 on the CPU, zero mean per channel and unit mean square:
    the filter and lambda then mean the same on any frame and any backend."""
    features = level[0].detach().float().cpu()
    features = features - features.mean(dim=(1, 2), keepdim=True)
    return features / features.pow(2).mean().sqrt().clamp_min(1e-6)


def _peak_near(response: Tensor, label: Tensor) -> float:
    """The response's maximum where the label is high (on the target)."""
    return float(response[label[0] >= 0.5].max()) if bool((label[0] >= 0.5).any()) else float(response.max())

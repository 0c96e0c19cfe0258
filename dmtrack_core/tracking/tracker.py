"""The tracker API: image in, ``TrackResult`` out. Glue between three peers with typed contracts:

* the detector (``detector.py``): a frame -> the network's candidates (``FrameCandidates``,
  boxes x1, y1, x2, y2 image pixels);
* the run-time target model (``target_model.py``): learned from the initial frame, it scores
  every candidate and adds candidates where it sees the target and the network did not
  (sized by the scale filter, ``scale_filter.py``);
* the selector (``selection.py``): ``global`` (argmax of the ranking) or ``reid``
  (tracklets and identity) picks the target among the candidates.

Boxes are xyxy inside; x, y, w, h only at this API's edge (``dmtrack_core.boxes``).

Every public method validates its input before touching any state, so a bad frame raises
a typed error (``dmtrack_core.tracking.errors``) and the tracker carries on as if it had
never been called.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from dmtrack_core.boxes import (
    centres,
    clip_xyxy,
    from_centre_size,
    iou_matrix,
    sizes,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from dmtrack_core.tracking.association import AssociationResult
from dmtrack_core.tracking.box_correction import BoxCorrection
from dmtrack_core.tracking.candidates import FrameCandidates
from dmtrack_core.tracking.config import TrackerConfig, load_tracker_config
from dmtrack_core.tracking.detector import Detector, FrameFeatures
from dmtrack_core.tracking.errors import (
    DeviceError,
    InvalidBoxError,
    InvalidImageError,
    NotInitializedError,
    WeightsError,
)
from dmtrack_core.tracking.scale_filter import ScaleFilter, ScaleFilterSettings
from dmtrack_core.tracking.selection import GlobalSelector, ReidSelector, build_selector
from dmtrack_core.tracking.state import TrackState
from dmtrack_core.tracking.target_model import TargetModel, TargetModelSettings

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

__all__ = [
    "Distractor",
    "FrameCandidates",
    "TrackResult",
    "TrackState",
    "Tracker",
    "build_tracker",
    "resolve_device",
]


@dataclass
class Distractor:
    """A look-alike in view. ``track_id`` persists across frames in ``reid`` mode; it is -1 in
    ``global`` mode, which keeps no identities."""

    track_id: int
    box: np.ndarray  # x, y, w, h image pixels
    score: float
    similarity: float  # cosine similarity to the target's appearance memory / template


@dataclass
class TrackResult:
    box: np.ndarray  # x, y, w, h image pixels; the best guess even when LOST
    score: float  # network score of the reported box (0 when it is not a detection)
    presence: float  # in [0, 1]: how sure the tracker is that the target is at ``box``
    state: TrackState
    target_id: str
    distractors: list[Distractor] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)  # preprocess, network, association, total
    frame_index: int = 0


_Method = TypeVar("_Method", bound=Callable[..., Any])


def _one_frame(method: _Method) -> _Method:
    """Runs ``method`` inside the detector's frame scope (the backend's per-frame setup)."""

    @functools.wraps(method)
    def wrapper(self: Tracker, *args: Any, **kwargs: Any) -> Any:
        with self.detector.frame_scope():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Tracker:
    """Single-object tracker over whole frames. Build with :func:`build_tracker`."""

    def __init__(self, network: Any, config: TrackerConfig, device: torch.device) -> None:
        self.network = network
        self.device = device
        self.detector = Detector(network, config, device)
        self.config = config
        self._targets_started = 0
        self.reset()

    @property
    def config(self) -> TrackerConfig:
        return self._config

    @config.setter
    def config(self, config: TrackerConfig) -> None:
        """A new config applies from the next ``initialize`` on (the detector's at once)."""
        self._config = config
        self.detector.config = config

    # ----------------------------------------------------------------- public API
    @property
    def initialized(self) -> bool:
        return self._template is not None

    @property
    def state(self) -> TrackState:
        if not self.initialized or self._selector is None:
            return TrackState.UNINITIALIZED
        return self._selector.state

    def reset(self) -> None:
        """Forget the target; ``track`` needs a new ``initialize``."""
        self._template: Any = None
        self._template_embedding: np.ndarray | None = None
        self._template_colour: np.ndarray | None = None
        self._selector: ReidSelector | GlobalSelector | None = None
        self._target_model: TargetModel | None = None
        self._scale_filter: ScaleFilter | None = None
        self._box_correction = BoxCorrection.identity()
        self._last_target_update = 0
        self._target_id = ""
        self._frame_index = 0
        self._last_box = np.zeros(4)

    @property
    def _associator(self):
        """The reid association (None in global mode or before ``initialize``)."""
        return self._selector.associator if isinstance(self._selector, ReidSelector) else None

    @_one_frame
    def initialize(self, image: np.ndarray, box_xywh: Any, target_id: str = "") -> TrackResult:
        """Start tracking the object in ``box_xywh`` (image pixels; clipped to the frame)."""
        start = time.perf_counter()
        _check_image(image)
        box = _check_box(box_xywh, image.shape[:2])
        if not isinstance(target_id, str):
            raise TypeError("target_id must be a string")
        box_xyxy = xywh_to_xyxy(box)
        frame = self.detector.extract(image)
        template, embedding = self.detector.make_template(frame, box_xyxy)
        correction = self._learn_box_correction(frame, template, box_xyxy)
        association_start = time.perf_counter()
        colour = self.detector.colours(frame, box_xyxy[None])
        colour = None if colour is None else colour[0]
        selector = build_selector(self.config)
        selector.start(box_xyxy, embedding, colour)
        association_ms = _ms_since(association_start)
        target_start = time.perf_counter()
        target_model = self._new_target_model(frame, box_xyxy)
        scale_filter = self._new_scale_filter(image, box_xyxy)
        target_ms = _ms_since(target_start)
        # everything that can fail has run: commit the new target at once
        self._targets_started += 1
        self._template, self._template_embedding, self._template_colour = template, embedding, colour
        self._selector, self._target_model, self._last_target_update = selector, target_model, 0
        self._scale_filter, self._box_correction = scale_filter, correction
        self._target_id = target_id or f"target-{self._targets_started}"
        self._frame_index = 0
        self._last_box = box.copy()
        timings = {
            "preprocess": frame.preprocess_ms,
            "network": frame.network_ms,
            "target_model": target_ms,
            "association": association_ms,
            "total": _ms_since(start),
        }
        return TrackResult(box.copy(), 1.0, 1.0, TrackState.TRACKING, self._target_id, [], timings, 0)

    @_one_frame
    def track(self, image: np.ndarray) -> TrackResult:
        """Find the target in the next frame (the whole frame is searched)."""
        start = time.perf_counter()
        _check_image(image)
        if not self.initialized:
            raise NotInitializedError("track() called before initialize()")
        assert self._selector is not None
        frame = self.detector.extract(image)
        target_start = time.perf_counter()
        response, extra = self._target_model_proposals(frame)
        target_ms = _ms_since(target_start)
        candidates = self.detector.detect(
            frame, self._template, clip_xyxy(extra, frame.image_wh), self._box_correction
        )
        target_start = time.perf_counter()
        if response is not None:
            candidates = self._score_with_target_model(frame, candidates, response, extra)
        target_ms += _ms_since(target_start)
        association_start = time.perf_counter()
        self._frame_index += 1
        selected = self._selector.select(candidates, frame.image_wh)
        result = self._to_result(selected)
        association_ms = _ms_since(association_start)
        update_start = time.perf_counter()
        if response is not None:
            self._maybe_update_target_model(frame, selected, response)
        result.timings_ms = {
            "preprocess": frame.preprocess_ms,
            "network": frame.network_ms,
            "target_model": target_ms + _ms_since(update_start),
            "association": association_ms,
            "total": _ms_since(start),
        }
        self._last_box = result.box.copy()
        return result

    @_one_frame
    def candidates(self, image: np.ndarray) -> FrameCandidates:
        """The candidates for the current target in ``image`` (boxes x1, y1, x2, y2 in image
        pixels, scores, ReID embeddings, ...), best first, before any selection. Does not
        change the tracker: for visualising what the detector sees, and for replaying the
        association offline (``dmtrack calibrate``)."""
        _check_image(image)
        if not self.initialized:
            raise NotInitializedError("candidates() called before initialize()")
        frame = self.detector.extract(image)
        response, extra = self._target_model_proposals(frame)
        candidates = self.detector.detect(
            frame, self._template, clip_xyxy(extra, frame.image_wh), self._box_correction
        )
        if response is None:
            return candidates
        return self._score_with_target_model(frame, candidates, response, extra)

    @property
    def template_embedding(self) -> np.ndarray | None:
        """The target's ReID embedding from the initial box (None before ``initialize``)."""
        return None if self._template_embedding is None else self._template_embedding.copy()

    @property
    def template_colour(self) -> np.ndarray | None:
        """The colour histogram of the initial box (None before ``initialize`` or when the
        config does not use colour)."""
        return None if self._template_colour is None else self._template_colour.copy()

    @_one_frame
    def box_from_point(self, image: np.ndarray, x: float, y: float) -> np.ndarray:
        """A box (x, y, w, h) around the object under a click: the network is run with a
        template from a default-size box centred on the click, and the best candidate that
        contains the click is returned, else the default box. Does not change the tracker."""
        _check_image(image)
        try:
            x, y = float(x), float(y)
        except (TypeError, ValueError) as exc:
            raise InvalidBoxError(f"click point must be two numbers, got {x!r}, {y!r}") from exc
        height, width = image.shape[:2]
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x < width and 0 <= y < height):
            raise InvalidBoxError(f"click point ({x}, {y}) is outside the {width}x{height} image")
        side = min(self.config.click_box_size, width, height)
        default = _check_box(np.array([x - side / 2, y - side / 2, side, side]), (height, width))
        frame = self.detector.extract(image)
        template, _ = self.detector.make_template(frame, xywh_to_xyxy(default))
        boxes_xyxy, scores = self.detector.network_boxes(frame, template)
        for box, score in zip(boxes_xyxy, scores, strict=True):
            contains = box[0] <= x <= box[2] and box[1] <= y <= box[3]
            if (
                contains
                and score >= self.config.score_threshold
                and box[2] - box[0] >= 1
                and box[3] - box[1] >= 1
            ):
                return xyxy_to_xywh(box)
        return default

    # ----------------------------------------------------------------- internals
    def _learn_box_correction(
        self, frame: FrameFeatures, template: Any, box_xyxy: np.ndarray
    ) -> BoxCorrection:
        """How the user's box sits on the network's box of the target (the identity when the
        setting is off, in global mode, or when no network box on the initial frame is the
        same object). Global mode keeps the original rule's boxes: there, corrected boxes
        cover target-model proposals that then no longer compete, and the rule's ranking
        (multiplied by the network's centerness) prefers worse boxes (development set 0.542
        -> 0.510 AUC, re-detection tune split 100 -> 96.3 %, docs/box_correction.md)."""
        config = self.config
        if not config.box_correction or config.mode != "reid":
            return BoxCorrection.identity()
        boxes_xyxy, scores = self.detector.network_boxes(frame, template)
        network = scores >= config.score_threshold
        return BoxCorrection.learn(
            boxes_xyxy[network], scores[network], box_xyxy, config.box_correction_min_iou
        )

    def _new_target_model(self, frame: FrameFeatures, box_xyxy: np.ndarray) -> TargetModel | None:
        config = self.config
        if not config.target_model:
            return None
        settings = TargetModelSettings.from_config(config)
        model = TargetModel(settings, tuple(self.network.config.strides))
        model.initialize(frame.features.levels, box_xyxy * frame.placement.scale)
        return model

    def _new_scale_filter(self, image: np.ndarray, box_xyxy: np.ndarray) -> ScaleFilter | None:
        settings = ScaleFilterSettings.from_config(self.config)
        if not self.config.target_model or settings is None:
            return None
        scale_filter = ScaleFilter(settings)
        scale_filter.initialize(image, box_xyxy)
        return scale_filter

    def _sized(self, frame: FrameFeatures, extra_xyxy: np.ndarray) -> np.ndarray:
        """The strongest extra candidate (the one likely to continue the target) resized by
        the scale filter's estimate at its centre; the others keep the target's last size,
        so that there is one estimate a frame (about 1.5 ms at 640x480 on 2 cores)."""
        if self._scale_filter is None or len(extra_xyxy) == 0:
            return extra_xyxy
        centre, size = centres(extra_xyxy[:1])[0], sizes(extra_xyxy[:1])[0]
        factor, _ = self._scale_filter.estimate(frame.image, centre, size)
        resized = extra_xyxy.copy()
        resized[0] = from_centre_size(centre[None], size[None] * factor)[0]
        return resized

    def _target_model_proposals(self, frame: FrameFeatures) -> tuple[Any, np.ndarray]:
        """The target model's response on this frame and its proposals: a box of the
        target's last size at each strong peak (the strongest resized by the scale filter,
        when there is one). (None, no boxes) without a target model."""
        no_boxes = np.zeros((0, 4))
        if self._target_model is None:
            return None, no_boxes
        config = self.config
        scale = frame.placement.scale
        response = self._target_model.response(frame.features.levels)
        peaks, _ = response.peaks(config.target_peak_threshold, config.target_max_peaks)
        if len(peaks) == 0:
            return response, no_boxes
        size = sizes(xywh_to_xyxy(self._last_box))
        extra = from_centre_size(peaks / scale, np.broadcast_to(size, peaks.shape))
        return response, self._sized(frame, extra)

    def _score_with_target_model(
        self, frame: FrameFeatures, candidates: FrameCandidates, response: Any, proposals_xyxy: np.ndarray
    ) -> FrameCandidates:
        """Every candidate gets the target model's response at its centre. ``candidates`` end
        with the target model's proposals (``Detector.detect``'s extra boxes, clipped to the
        frame); a proposal stays only where no network box covers it."""
        if len(proposals_xyxy):
            network_count = len(candidates) - len(proposals_xyxy)
            # only a near-identical network box stands for a peak: a looser one may be a part
            covered = iou_matrix(proposals_xyxy, candidates.boxes_xyxy[:network_count]).max(axis=1) >= 0.7
            keep = np.concatenate([np.arange(network_count), network_count + np.flatnonzero(~covered)])
            candidates = candidates.subset(keep)
        target_scores = response.at(centres(candidates.boxes_xyxy) * frame.placement.scale, radius_cells=0)
        return dataclasses.replace(candidates, target_scores=target_scores)

    def _maybe_update_target_model(
        self, frame: FrameFeatures, selected: AssociationResult, response: Any
    ) -> None:
        """Learn from frames where the identity is certain: TRACKING, a matched target with
        presence >= presence_high that the target model also sees; every few frames."""
        config = self.config
        assert self._target_model is not None
        if (
            selected.state is not TrackState.TRACKING
            or not selected.target_matched
            or selected.presence < config.presence_high
            or self._frame_index - self._last_target_update < config.target_update_interval
        ):
            return
        box_network = selected.box_xyxy * frame.placement.scale
        if response.at(centres(box_network)[None])[0] < config.target_peak_threshold:
            return
        self._target_model.update(frame.features.levels, box_network)
        if self._scale_filter is not None:
            self._scale_filter.update(frame.image, selected.box_xyxy)
        self._last_target_update = self._frame_index

    def _to_result(self, selected: AssociationResult) -> TrackResult:
        """The selector's answer at the API edge: x, y, w, h boxes, presence in [0, 1]."""
        distractors = [
            Distractor(d.track_id, xyxy_to_xywh(d.box_xyxy), d.score, d.similarity)
            for d in selected.distractors
        ]
        return TrackResult(
            box=xyxy_to_xywh(selected.box_xyxy),
            score=selected.score,
            presence=float(np.clip(selected.presence, 0.0, 1.0)),
            state=selected.state,
            target_id=self._target_id,
            distractors=distractors,
            frame_index=self._frame_index,
        )


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" = CUDA when available, else CPU. Asking for CUDA without it is an error."""
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"unknown device {device!r}") from exc
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError("CUDA requested but not available")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise DeviceError(f"{device} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif resolved.type != "cpu":
        raise DeviceError(f"unsupported device {device!r}; use 'auto', 'cpu' or 'cuda[:N]'")
    return resolved


def build_tracker(
    mode: str | None = None,
    device: str = "auto",
    weights: str | None = None,
    config: TrackerConfig | None = None,
    model: str = "dmtrack_lite",
    backend: str = "auto",
) -> Tracker:
    """A ready tracker: the default config (``configs/tracker.yaml``) unless ``config`` is
    given, ``mode`` overriding its mode; the weights at ``weights``, else the shipped
    ``dmtrack_core/weights/<model>.pt``, else (with a warning) the untrained network.

    ``backend`` runs the per-frame network: "torch" (eager), "onnxruntime" (CPU; exported on
    first use and cached, see docs/inference.md) or "auto" (ONNX Runtime on the CPU when it
    is installed and the export works, else torch with a warning)."""
    from dmtrack_core.inference import make_network
    from dmtrack_core.model import build_model
    from dmtrack_core.model.checkpoint import CheckpointError, load_weights_into

    config = config if config is not None else load_tracker_config()
    if mode is not None:
        config = dataclasses.replace(config, mode=mode)
    resolved = resolve_device(device)
    network = build_model(model)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsError(f"weights file not found: {path}")
    else:
        path = WEIGHTS_DIR / f"{model}.pt"
    if path.is_file():
        try:
            load_weights_into(network, path, map_location="cpu")
        except CheckpointError as exc:
            raise WeightsError(str(exc)) from exc
    else:
        warnings.warn(
            f"no trained weights for {model!r} ({path} is missing): using the network's initialisation "
            "(ImageNet backbone, untrained head); tracking quality will be poor",
            RuntimeWarning,
            stacklevel=2,
        )
    network = network.to(resolved).eval()
    for parameter in network.parameters():
        parameter.requires_grad_(False)
    runner = make_network(network, backend, resolved, weights=path if path.is_file() else None)
    return Tracker(runner, config, resolved)


# --------------------------------------------------------------------------------------
# validation and box helpers
# --------------------------------------------------------------------------------------


def _check_image(image: Any) -> None:
    if not isinstance(image, np.ndarray):
        raise InvalidImageError(f"image must be a NumPy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise InvalidImageError(f"image must be uint8 RGB, got dtype {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidImageError(f"image must be H x W x 3, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidImageError(f"image is empty: shape {image.shape}")


def _check_box(box_xywh: Any, image_hw: tuple[int, int]) -> np.ndarray:
    """A finite (x, y, w, h) with positive area that overlaps the image, clipped to it."""
    try:
        box = np.asarray(box_xywh, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InvalidBoxError(f"box must be 4 numbers (x, y, w, h), got {box_xywh!r}") from exc
    if box.shape != (4,):
        raise InvalidBoxError(f"box must be 4 numbers (x, y, w, h), got {box.size}")
    if not np.all(np.isfinite(box)):
        raise InvalidBoxError(f"box has NaN or infinite values: {box.tolist()}")
    if box[2] <= 0 or box[3] <= 0:
        raise InvalidBoxError(f"box has zero or negative area: {box.tolist()}")
    height, width = image_hw
    x1, y1 = max(box[0], 0.0), max(box[1], 0.0)
    x2, y2 = min(box[0] + box[2], float(width)), min(box[1] + box[3], float(height))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise InvalidBoxError(f"box {box.tolist()} lies outside the {width}x{height} image")
    return np.array([x1, y1, x2 - x1, y2 - y1])


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0

"""The detector: a frame in, the network's candidates for the current target out.

It owns everything that touches the network (letterbox + normalise, features, template,
detection, embedding extra boxes) and hands the rest of the tracker plain arrays in image
pixels (``FrameCandidates``). The network is duck-typed: anything with ``config`` (input
size, normalisation), ``extract``, ``make_template``, ``detect`` and ``embed_boxes`` as in
``dmtrack_core.model.DMTrack`` works (the PyTorch model or an ONNX Runtime wrapper); an
optional ``frame_scope()`` is held around each frame's calls.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dmtrack_core.boxes import clip_xyxy
from dmtrack_core.preprocess import Letterbox, letterbox, to_tensor
from dmtrack_core.tracking.appearance import colour_histograms
from dmtrack_core.tracking.box_correction import BoxCorrection
from dmtrack_core.tracking.candidates import FrameCandidates
from dmtrack_core.tracking.config import TrackerConfig


@dataclass
class FrameFeatures:
    """One frame through the network's backbone: what detection and the target model read."""

    features: Any  # the network's Features (FPN levels, ReID map)
    placement: Letterbox
    image: np.ndarray  # the RGB frame (colour histograms are taken from it)
    preprocess_ms: float
    network_ms: float

    @property
    def image_wh(self) -> tuple[float, float]:
        return float(self.image.shape[1]), float(self.image.shape[0])


class Detector:
    """The network behind a frame-to-candidates interface (boxes x1, y1, x2, y2 image pixels)."""

    def __init__(self, network: Any, config: TrackerConfig, device: torch.device) -> None:
        self.network = network
        self.config = config
        self.device = device

    def frame_scope(self) -> contextlib.AbstractContextManager[None]:
        """Where the backend sets up a frame's work (ONNX Runtime: torch's thread count),
        held around all of one frame's calls."""
        scope = getattr(self.network, "frame_scope", None)
        return scope() if scope is not None else contextlib.nullcontext()

    @property
    def uses_colour(self) -> bool:
        return self.config.mode == "reid" and self.config.colour_weight > 0.0

    def extract(self, image: np.ndarray) -> FrameFeatures:
        start = time.perf_counter()
        model_config = self.network.config
        padded, placement = letterbox(image, tuple(model_config.input_wh), model_config.size_divisor)
        tensor = to_tensor(padded, tuple(model_config.pixel_mean), tuple(model_config.pixel_std), self.device)
        preprocess_ms = _ms_since(start)
        network_start = time.perf_counter()
        with torch.inference_mode():
            features = self.network.extract(tensor)
        return FrameFeatures(features, placement, image, preprocess_ms, _ms_since(network_start))

    def to_network(self, frame: FrameFeatures, boxes_xyxy: np.ndarray) -> torch.Tensor:
        boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4) * frame.placement.scale
        return torch.as_tensor(boxes, device=self.device)

    def to_image(self, frame: FrameFeatures, boxes_network: np.ndarray) -> np.ndarray:
        boxes = np.asarray(boxes_network, dtype=np.float64).reshape(-1, 4) / frame.placement.scale
        return clip_xyxy(boxes, frame.image_wh)

    def make_template(self, frame: FrameFeatures, box_xyxy: np.ndarray) -> tuple[Any, np.ndarray]:
        """The network's template of the box, and the target's ReID embedding (float64)."""
        start = time.perf_counter()
        with torch.inference_mode():
            template = self.network.make_template(frame.features, self.to_network(frame, box_xyxy))
            embedding = template.embedding[0].float().cpu().numpy().astype(np.float64)
        frame.network_ms += _ms_since(start)
        return template, embedding

    def colours(self, frame: FrameFeatures, boxes_xyxy: np.ndarray) -> np.ndarray | None:
        """Colour histograms of the boxes, when the association uses colour."""
        if not self.uses_colour:
            return None
        config = self.config
        return colour_histograms(frame.image, boxes_xyxy, config.colour_bins, config.colour_box_shrink)

    def network_boxes(self, frame: FrameFeatures, template: Any) -> tuple[np.ndarray, np.ndarray]:
        """The network's own boxes for ``template`` (x1, y1, x2, y2 image pixels, best first)
        and their scores, without embeddings or colours: for the one-off questions (the box
        convention on the initial frame, the object under a click)."""
        start = time.perf_counter()
        with torch.inference_mode():
            found = self._network_detect(frame, template)
            boxes = found.boxes.float().cpu().numpy()
            scores = found.scores.float().cpu().numpy().astype(np.float64)
        frame.network_ms += _ms_since(start)
        return self.to_image(frame, boxes), scores

    def _network_detect(self, frame: FrameFeatures, template: Any) -> Any:
        """The network's detections (network pixels), with the tracker's thresholds, unembedded."""
        config = self.config
        return self.network.detect(
            frame.features,
            template,
            score_threshold=config.score_threshold,
            nms_iou=config.nms_iou,
            max_candidates=config.max_candidates,
            embed=False,
        )

    def detect(
        self,
        frame: FrameFeatures,
        template: Any,
        extra_xyxy: np.ndarray | None = None,
        correction: BoxCorrection | None = None,
    ) -> FrameCandidates:
        """The network's candidates for ``template`` in the frame, best first (never empty),
        followed by ``extra_xyxy``: boxes proposed elsewhere (the target model's), with
        network score 0 and centerness 1. ``correction`` turns the network's boxes into the
        user's box convention before they are embedded. All boxes are embedded (and their
        colours taken) in one call: a second RoIAlign call for the extra boxes cost about
        1 ms a frame."""
        start = time.perf_counter()
        extra = np.zeros((0, 4)) if extra_xyxy is None else np.asarray(extra_xyxy, np.float64).reshape(-1, 4)
        with torch.inference_mode():
            found = self._network_detect(frame, template)
            network_boxes = found.boxes.float()
            if correction is not None and not correction.is_identity:
                corrected = correction.apply(network_boxes.cpu().numpy())
                network_boxes = torch.as_tensor(corrected, dtype=torch.float32, device=network_boxes.device)
            all_boxes = torch.cat([network_boxes, self.to_network(frame, extra).to(network_boxes.device)])
            embeddings = self.network.embed_boxes(frame.features, all_boxes)
            embeddings = embeddings.float().cpu().numpy().astype(np.float64)
            boxes = network_boxes.cpu().numpy()
            scores = found.scores.float().cpu().numpy().astype(np.float64)
            centerness = found.centerness.float().cpu().numpy().astype(np.float64)
        frame.network_ms += _ms_since(start)
        boxes_xyxy = np.concatenate([self.to_image(frame, boxes), extra])
        count = len(extra)
        return FrameCandidates(
            boxes_xyxy,
            np.concatenate([scores, np.zeros(count)]),
            embeddings,
            self.colours(frame, boxes_xyxy),
            centerness=np.concatenate([centerness, np.ones(count)]),
        )


def _ms_since(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0

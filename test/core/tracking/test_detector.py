"""The detector's two ways of asking the network: the per-frame candidates and the bare boxes."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from dmtrack_core.boxes import xywh_to_xyxy
from dmtrack_core.tracking import build_tracker


def test_network_boxes_are_the_candidates_without_embeddings() -> None:
    """``network_boxes`` (the initial frame's box convention, a click) returns the same boxes
    and scores as ``detect``'s network part, and skips what only the per-frame path needs."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, size=(240, 320, 3), dtype=np.uint8)
    image[80:150, 100:180] = (220, 60, 40)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        tracker = build_tracker(mode="reid", device="cpu", backend="torch")
    detector = tracker.detector
    frame = detector.extract(image)
    template, _ = detector.make_template(frame, xywh_to_xyxy(np.array([100.0, 80.0, 80.0, 70.0])))

    boxes, scores = detector.network_boxes(frame, template)
    candidates = detector.detect(frame, template)

    assert len(boxes) == len(candidates) >= 1
    np.testing.assert_allclose(boxes, candidates.boxes_xyxy, atol=1e-4)
    np.testing.assert_allclose(scores, candidates.scores, atol=1e-6)
    assert np.all(boxes[:, 0] >= 0) and np.all(boxes[:, 2] <= 320) and np.all(boxes[:, 3] <= 240)

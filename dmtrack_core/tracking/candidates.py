"""``FrameCandidates``: the typed contract between the detector and the selectors.

A detector (``detector.py``) turns a frame into candidates; the target model
(``target_model.py``) scores them and may add some; a selector (``selection.py``) picks the
target among them. Boxes are x1, y1, x2, y2 image pixels; candidates come best first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dmtrack_core.tracking.appearance import fuse_appearance


@dataclass
class FrameCandidates:
    """One frame's candidates: boxes (N, 4) x1, y1, x2, y2; network scores (N,); learned ReID
    embeddings (N, D); optionally colour histograms of the boxes (N, C) (see ``appearance``),
    the network's centerness (N,), and the run-time target model's score (N,) in [0, 1]."""

    boxes_xyxy: np.ndarray
    scores: np.ndarray
    embeddings: np.ndarray
    colours: np.ndarray | None = None
    centerness: np.ndarray | None = None
    target_scores: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.boxes_xyxy = np.asarray(self.boxes_xyxy, dtype=np.float64).reshape(-1, 4)
        self.scores = np.asarray(self.scores, dtype=np.float64).reshape(-1)
        self.embeddings = np.asarray(self.embeddings, dtype=np.float64)
        if self.embeddings.ndim == 1:
            self.embeddings = self.embeddings.reshape(len(self.scores), -1)
        if self.colours is not None:
            self.colours = np.asarray(self.colours, dtype=np.float64)
            if self.colours.ndim != 2:
                raise ValueError("colours must be (N, C)")
        lengths = {len(self.boxes_xyxy), len(self.scores), len(self.embeddings)}
        for name in ("colours", "centerness", "target_scores"):
            values = getattr(self, name)
            if values is None:
                continue
            if name != "colours":
                values = np.asarray(values, dtype=np.float64).reshape(-1)
                setattr(self, name, values)
            lengths.add(len(values))
        if len(lengths) != 1:
            raise ValueError("every per-candidate array must have the same length")

    def __len__(self) -> int:
        return len(self.scores)

    def subset(self, indices: np.ndarray) -> FrameCandidates:
        def pick(values: np.ndarray | None) -> np.ndarray | None:
            return None if values is None else values[indices]

        return FrameCandidates(
            self.boxes_xyxy[indices],
            self.scores[indices],
            self.embeddings[indices],
            pick(self.colours),
            pick(self.centerness),
            pick(self.target_scores),
        )

    def appearance(self, colour_weight: float) -> np.ndarray:
        """The vectors the association compares: learned embeddings fused with colour."""
        return fuse_appearance(self.embeddings, self.colours, colour_weight)


def with_target_scores(candidates: FrameCandidates, score_weight: float) -> FrameCandidates:
    """Candidates whose ``scores`` are the network's fused with the target model's:
    ``(1 - w) * network + w * target``; unchanged when there are no target scores."""
    if candidates.target_scores is None or score_weight <= 0.0:
        return candidates
    target = np.clip(candidates.target_scores, 0.0, 1.0)
    fused = (1.0 - score_weight) * candidates.scores + score_weight * target
    return FrameCandidates(
        candidates.boxes_xyxy,
        fused,
        candidates.embeddings,
        candidates.colours,
        candidates.centerness,
        candidates.target_scores,
    )


def fused_similarity(similarity: np.ndarray, candidates: FrameCandidates, weight: float) -> np.ndarray:
    """The identity similarity with the target model's response as a learned-free term that
    can only vouch: ``max(s, (1 - w) * s + w * target)``. A filter that fits the target less
    well than the appearance memory does (changed looks, a drifted update) must not push the
    target below the re-acquisition threshold: that cost 0.02-0.1 AUC on synthetic sequences
    where the plain weighted sum kept a visible target LOST for dozens of frames."""
    if candidates.target_scores is None or weight <= 0.0:
        return similarity
    fused = (1.0 - weight) * similarity + weight * np.clip(candidates.target_scores, 0.0, 1.0)
    return np.maximum(similarity, fused)


def keep_above(candidates: FrameCandidates, score_threshold: float) -> FrameCandidates:
    """The detector's filter: candidates scoring at least ``score_threshold``, and always the
    best one (the first), so a frame never comes back empty."""
    keep = candidates.scores >= score_threshold
    keep[:1] = True
    return candidates.subset(np.flatnonzero(keep))

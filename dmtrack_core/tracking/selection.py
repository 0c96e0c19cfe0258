"""Target selection: which of a frame's candidates is the target. One small selector per mode,
both over the same ``FrameCandidates`` and both answering an ``AssociationResult``.

* ``GlobalSelector`` -- the original DMTrack-GS rule: the global argmax of the ranking score
  (score * centerness, the score fused with the target model's), no identities kept.
* ``ReidSelector`` -- DMTrack-ReID: every look-alike kept as a tracklet, the target followed by
  its identity (``association.TargetAssociator``).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from dmtrack_core.tracking.association import AssociationResult, TargetAssociator, TrackedObject
from dmtrack_core.tracking.candidates import FrameCandidates, with_target_scores
from dmtrack_core.tracking.config import TrackerConfig
from dmtrack_core.tracking.matching import cosine_similarity
from dmtrack_core.tracking.state import TargetStateMachine, TrackState


class Selector(Protocol):
    @property
    def state(self) -> TrackState: ...

    def start(self, box_xyxy: np.ndarray, embedding: np.ndarray, colour: np.ndarray | None) -> None: ...

    def select(self, candidates: FrameCandidates, image_wh: tuple[float, float]) -> AssociationResult: ...


def state_machine(config: TrackerConfig, recover_from_lost: bool) -> TargetStateMachine:
    return TargetStateMachine(
        config.misses_to_uncertain, config.misses_to_lost, config.hits_to_confirm, recover_from_lost
    )


class ReidSelector:
    """The association of ``reid`` mode behind the selector interface."""

    def __init__(self, config: TrackerConfig) -> None:
        self.associator = TargetAssociator(config)

    @property
    def state(self) -> TrackState:
        return self.associator.state

    def start(self, box_xyxy: np.ndarray, embedding: np.ndarray, colour: np.ndarray | None) -> None:
        self.associator.initialize(box_xyxy, embedding, colour)

    def select(self, candidates: FrameCandidates, image_wh: tuple[float, float]) -> AssociationResult:
        return self.associator.update(candidates, image_wh=image_wh)


class GlobalSelector:
    """The best-ranked candidate of the frame is the target; the others above
    ``candidate_score`` are reported as distractors without identities (track_id -1)."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.states = state_machine(config, recover_from_lost=True)
        self.embedding = np.zeros(0)
        self.frame_index = 0
        self._last_box = np.zeros(4)

    @property
    def state(self) -> TrackState:
        return self.states.state

    def start(self, box_xyxy: np.ndarray, embedding: np.ndarray, colour: np.ndarray | None) -> None:
        self.embedding = np.asarray(embedding, dtype=np.float64).reshape(-1)
        self.states.start()
        self.frame_index = 0
        self._last_box = np.asarray(box_xyxy, dtype=np.float64).copy()

    def select(self, candidates: FrameCandidates, image_wh: tuple[float, float]) -> AssociationResult:
        self.frame_index += 1
        config = self.config
        if len(candidates) == 0:
            self.states.observe(seen=False, confident=False)
            return AssociationResult(
                self.frame_index, self.state, None, self._last_box.copy(), 0.0, 0.0, 0.0, False
            )
        candidates = with_target_scores(candidates, config.target_score_weight)
        rank = candidates.scores * (1.0 if candidates.centerness is None else candidates.centerness)
        best = int(np.argmax(rank))
        score = float(candidates.scores[best])
        presence = float(np.clip(score, 0.0, 1.0))
        self.states.observe(seen=presence >= config.presence_low, confident=presence >= config.presence_high)
        similarity = cosine_similarity(candidates.embeddings, self.embedding[None])[:, 0]
        distractors = [
            TrackedObject(
                -1, candidates.boxes_xyxy[i].copy(), float(candidates.scores[i]), float(similarity[i])
            )
            for i in range(len(candidates))
            if i != best and candidates.scores[i] >= config.candidate_score
        ]
        box = candidates.boxes_xyxy[best].copy()
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            box = self._last_box.copy()
        self._last_box = box.copy()
        return AssociationResult(
            self.frame_index,
            self.state,
            None,
            box,
            score,
            presence,
            float(similarity[best]),
            True,
            distractors,
        )


def build_selector(config: TrackerConfig) -> ReidSelector | GlobalSelector:
    return ReidSelector(config) if config.mode == "reid" else GlobalSelector(config)

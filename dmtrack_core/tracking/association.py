"""The per-frame association of DMTrack-ReID: which candidate, if any, is the target.

Input per frame: the network's candidates (boxes x1, y1, x2, y2, scores, ReID embeddings),
all in one coordinate frame (the tracker uses image pixels). No network is needed here,
so the whole algorithm is tested on scripted candidate streams.

One frame, in order:

1. Predict every tracklet one frame ahead (constant-velocity Kalman filter).
2. Drop candidates scoring below ``candidate_score``. Compare the rest with the target's
   appearance memory (``similarity``) and with the distractor anchors: a candidate is
   *target-like* when it is similar enough to the memory and closer to it than to any
   known distractor.
3. Stage 1: Hungarian assignment on cosine distance fused with the Kalman motion gate.
   Other tracklets are compared with their own smoothed embedding; the target tracklet with
   the target's memory, and only with target-like candidates, so a look-alike passing by can
   never be glued onto the target's track. The target tracklet picks first: a tracklet born
   on the target during a missed frame must not take its box away.
4. Stage 2: IoU assignment of what is left, for tracklets matched in the previous frame
   (again: the target tracklet picks first, and only a target-like candidate).
5. Leftover candidates start new tracklets, except duplicates of the matched target (a
   second box on the same object); unmatched tracklets coast; stale ones are deleted and
   the total is capped (the target tracklet is never the one dropped).
6. State machine: the target tracklet matched with enough presence is a hit, anything else
   a miss; TRACKING -> UNCERTAIN -> LOST by consecutive misses, UNCERTAIN -> TRACKING by
   consecutive confident hits. While UNCERTAIN or LOST, another tracklet takes the target
   identity only after ``reacquire_frames`` consecutive frames of strong similarity to the
   memory; from LOST that is the only way back to TRACKING. A look-alike out-scoring the
   target therefore changes nothing: scores never move the identity, appearance does.
7. Memory: written only while TRACKING with a confident, clearly similar target match;
   look-alikes seen meanwhile (less similar than the target, not overlapping it) become
   distractor anchors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmtrack_core.tracking.appearance import fuse_appearance
from dmtrack_core.tracking.candidates import FrameCandidates, fused_similarity, with_target_scores
from dmtrack_core.tracking.config import TrackerConfig
from dmtrack_core.tracking.kalman import KalmanFilter, xyxy_to_measurement
from dmtrack_core.tracking.matching import (
    cosine_distance,
    fuse_motion,
    iou_distance,
    iou_matrix,
    linear_assignment_with_priority,
)
from dmtrack_core.tracking.memory import AppearanceMemory
from dmtrack_core.tracking.state import TargetStateMachine, TrackState
from dmtrack_core.tracking.tracklet import Tracklet


@dataclass
class TrackedObject:
    """A tracklet as reported for one frame (the target or a distractor)."""

    track_id: int
    box_xyxy: np.ndarray
    score: float
    similarity: float  # cosine similarity to the target's appearance memory


@dataclass
class AssociationResult:
    frame_index: int
    state: TrackState
    target_track_id: int | None  # None once the target's tracklet was deleted (LOST)
    box_xyxy: np.ndarray  # best guess, even when LOST
    score: float  # detection score of the reported box (0 when coasting)
    presence: float  # score * identity confidence, in [0, 1]
    similarity: float  # of the reported box to the memory (0 when coasting)
    target_matched: bool  # a candidate was assigned to the target this frame
    distractors: list[TrackedObject] = field(default_factory=list)


class TargetAssociator:
    """Keeps the tracklets, the target identity, its state and its appearance memory."""

    def __init__(self, config: TrackerConfig) -> None:
        self.config = config
        self.kalman = KalmanFilter(config.kalman_position_std, config.kalman_velocity_std)
        self.tracklets: list[Tracklet] = []
        self.memory: AppearanceMemory | None = None
        self.states = TargetStateMachine(
            config.misses_to_uncertain, config.misses_to_lost, config.hits_to_confirm, recover_from_lost=False
        )
        self.target_track_id: int | None = None
        self.frame_index = -1
        self._next_track_id = 1
        self._last_box = np.zeros(4)
        self._last_memory_write = 0
        self._last_anchor_write = 0
        self._uses_colour = False

    @property
    def state(self) -> TrackState:
        return self.states.state

    @property
    def target(self) -> Tracklet | None:
        return next((t for t in self.tracklets if t.track_id == self.target_track_id), None)

    # ------------------------------------------------------------------------------------
    def initialize(
        self, box_xyxy: np.ndarray, embedding: np.ndarray, colour: np.ndarray | None = None
    ) -> AssociationResult:
        """Start over with the target at ``box_xyxy`` whose template embedding is ``embedding``
        (and colour histogram ``colour``: then every frame's candidates must carry colours)."""
        self._uses_colour = colour is not None and self.config.colour_weight > 0.0
        template = fuse_appearance(
            np.asarray(embedding, dtype=np.float64).reshape(1, -1),
            None if colour is None else np.asarray(colour, dtype=np.float64).reshape(1, -1),
            self.config.colour_weight,
        )[0]
        self.tracklets = []
        self.memory = AppearanceMemory(template, self.config.memory_size, self.config.distractor_anchors)
        self._next_track_id = 1
        self.frame_index = 0
        target = self._new_tracklet(np.asarray(box_xyxy, dtype=np.float64), 1.0, self.memory.template)
        target.similarity = 1.0
        self.target_track_id = target.track_id
        self.states.start()
        self._last_box = target.box_xyxy.copy()
        self._last_memory_write = 0
        self._last_anchor_write = 0
        return AssociationResult(0, self.state, target.track_id, self._last_box.copy(), 1.0, 1.0, 1.0, True)

    def update(
        self, candidates: FrameCandidates, image_wh: tuple[float, float] | None = None
    ) -> AssociationResult:
        """Associate one frame's candidates; ``image_wh`` clips the reported box when coasting."""
        if self.memory is None:
            raise RuntimeError("TargetAssociator.update before initialize")
        config = self.config
        if self._uses_colour and candidates.colours is None:
            raise ValueError("the target was initialised with a colour histogram: candidates need colours")
        self.frame_index += 1

        # 1. motion prediction
        if self.tracklets:
            for tracklet in self.tracklets:
                if tracklet.frames_since_update > 0:
                    tracklet.mean[7] = 0.0  # an unseen box should not keep growing or shrinking
            means, covariances = self.kalman.multi_predict(
                np.array([t.mean for t in self.tracklets]), np.array([t.covariance for t in self.tracklets])
            )
            for tracklet, mean, covariance in zip(self.tracklets, means, covariances, strict=True):
                tracklet.mean, tracklet.covariance = mean, covariance

        # 2. candidates worth considering, and how target-like each one is
        candidates = with_target_scores(candidates, config.target_score_weight)
        considered = candidates.subset(np.flatnonzero(candidates.scores >= config.candidate_score))
        appearance = considered.appearance(config.colour_weight if self._uses_colour else 0.0)
        detections = FrameCandidates(considered.boxes_xyxy, considered.scores, appearance)
        similarity = self.memory.similarity(detections.embeddings) if len(detections) else np.zeros(0)
        similarity = fused_similarity(similarity, considered, config.target_similarity_weight)
        anchor_similarity = self.memory.anchor_similarity(detections.embeddings)
        target_like = (similarity >= config.identity_min_similarity) & (
            similarity >= anchor_similarity + config.anchor_margin
        )
        # as similar as a re-acquisition needs (counted into each tracklet's streak below)
        strong_match = target_like & (similarity >= config.reacquire_similarity)
        measurements = xyxy_to_measurement(detections.boxes_xyxy).reshape(-1, 4)

        # 3. stage 1: appearance fused with the motion gate, over all tracklets
        matched_detection: dict[int, int] = {}  # track_id -> detection index
        track_rows = list(self.tracklets)
        cost = cosine_distance(
            np.array([t.embedding for t in track_rows]).reshape(-1, self.memory.dim),
            detections.embeddings.reshape(-1, self.memory.dim),
        )
        lost = self.state is TrackState.LOST
        target_row = self._row_of_target(track_rows)
        if target_row is not None:
            cost[target_row] = np.clip(1.0 - similarity, 0.0, 2.0)
            cost[target_row, ~target_like] = np.inf
            if lost:
                # its motion model has coasted too long to vouch for anything: from LOST
                # only a candidate as similar as a re-acquisition needs may continue it
                cost[target_row, ~strong_match] = np.inf
        cost = fuse_motion(
            self.kalman,
            cost,
            [(t.mean, t.covariance) for t in track_rows],
            measurements,
            config.appearance_weight,
            config.gating_threshold,
        )
        if target_row is not None and not lost:
            self._admit_target_model_peak(cost, target_row, considered, target_like, similarity)
        matches, unmatched_rows, unmatched_detections = linear_assignment_with_priority(
            cost, config.appearance_match_threshold, target_row
        )
        for row, column in matches:
            matched_detection[track_rows[row].track_id] = int(column)

        # 4. stage 2: box overlap for tracklets that were seen last frame
        recent = [track_rows[r] for r in unmatched_rows if track_rows[r].frames_since_update == 0]
        remaining = unmatched_detections
        overlap = iou_distance(
            np.array([t.predicted_box_xyxy for t in recent]).reshape(-1, 4), detections.boxes_xyxy[remaining]
        )
        target_row = self._row_of_target(recent)
        if target_row is not None:
            overlap[target_row, ~target_like[remaining]] = np.inf
            if lost:
                overlap[target_row, ~strong_match[remaining]] = np.inf
        matches, _, unmatched_columns = linear_assignment_with_priority(
            overlap, config.iou_match_threshold, target_row
        )
        for row, column in matches:
            matched_detection[recent[row].track_id] = int(remaining[column])
        remaining = remaining[unmatched_columns]

        # apply the matches; unmatched tracklets coast
        for tracklet in self.tracklets:
            index = matched_detection.get(tracklet.track_id)
            if index is None:
                tracklet.mark_missed()
                continue
            tracklet.update(
                self.kalman,
                detections.boxes_xyxy[index],
                detections.scores[index],
                detections.embeddings[index],
                similarity[index],
                config.embedding_momentum,
            )
            tracklet.reacquire_streak = tracklet.reacquire_streak + 1 if strong_match[index] else 0

        # 5. new tracklets (not for a second box on the target just matched: a duplicate,
        # which would otherwise become a "look-alike" with the target's own appearance),
        # deletion, cap
        target_index = matched_detection.get(self.target_track_id) if self.target_track_id else None
        if target_index is not None and len(remaining):
            overlap_with_target = iou_matrix(
                detections.boxes_xyxy[target_index][None], detections.boxes_xyxy[remaining]
            )[0]
            remaining = remaining[overlap_with_target < config.duplicate_iou]
        for index in remaining:
            tracklet = self._new_tracklet(
                detections.boxes_xyxy[index], detections.scores[index], detections.embeddings[index]
            )
            tracklet.similarity = float(similarity[index])
            tracklet.reacquire_streak = 1 if strong_match[index] else 0
        self._prune()

        # 6. target state
        target = self.target
        target_matched = target is not None and target.frames_since_update == 0
        presence = self._presence(target.score, target.similarity) if target_matched else 0.0
        self.states.observe(
            seen=target_matched and presence >= config.presence_low,
            confident=target_matched and presence >= config.presence_high,
        )
        if self.state in (TrackState.UNCERTAIN, TrackState.LOST):
            self._maybe_reacquire(target_matched)
            target = self.target
            target_matched = target is not None and target.frames_since_update == 0
            if target_matched:
                presence = self._presence(target.score, target.similarity)

        # 7. memory
        if self.state is TrackState.TRACKING and target_matched:
            self._write_memory(target, presence)

        return self._result(target, target_matched, presence, image_wh)

    # ------------------------------------------------------------------------------------
    def _admit_target_model_peak(
        self,
        cost: np.ndarray,
        target_row: int,
        candidates: FrameCandidates,
        target_like: np.ndarray,
        similarity: np.ndarray,
    ) -> None:
        """The run-time target model searched the whole frame: its strongest candidate, when
        target-like and strong (response >= target_peak_threshold), may continue the target
        wherever it is -- outside the motion gate, at its fused dissimilarity capped just inside
        the match threshold (a better appearance match still wins; measured: a cost of 0 here
        lost 10 points of re-detection). The motion gate cannot veto a re-detection."""
        scores = candidates.target_scores
        if scores is None or len(scores) == 0 or self.config.target_similarity_weight <= 0.0:
            return
        best = int(np.argmax(scores))
        if scores[best] < self.config.target_peak_threshold or not target_like[best]:
            return
        inside = 0.999 * self.config.appearance_match_threshold
        admitted = min(float(np.clip(1.0 - similarity[best], 0.0, 2.0)), inside)
        cost[target_row, best] = min(cost[target_row, best], admitted)

    def _presence(self, score: float, similarity: float) -> float:
        """Detection score scaled by how surely the candidate is the target (0 at
        ``identity_min_similarity``, 1 at a perfect match)."""
        floor = self.config.identity_min_similarity
        identity = float(np.clip((similarity - floor) / (1.0 - floor), 0.0, 1.0))
        return float(np.clip(score, 0.0, 1.0)) * identity

    def _maybe_reacquire(self, target_matched: bool) -> None:
        """Hand the target identity to a tracklet that has matched the memory strongly for
        ``reacquire_frames`` frames. While UNCERTAIN with the target tracklet in view, the
        target keeps its identity (it recovers through the state machine's hits)."""
        if self.state is TrackState.UNCERTAIN and target_matched:
            return
        ready = [
            t
            for t in self.tracklets
            if t.frames_since_update == 0 and t.reacquire_streak >= self.config.reacquire_frames
        ]
        if self.state is TrackState.UNCERTAIN:
            ready = [t for t in ready if t.track_id != self.target_track_id]
        if not ready:
            return
        best = max(ready, key=lambda t: (t.similarity, t.score, -t.track_id))
        self.target_track_id = best.track_id
        self.states.reacquired()

    def _write_memory(self, target: Tracklet, presence: float) -> None:
        config = self.config
        assert self.memory is not None
        if (
            presence >= config.memory_write_presence
            and target.similarity >= config.memory_write_similarity
            and self.frame_index - self._last_memory_write >= config.memory_write_interval
        ):
            self.memory.write(target.last_embedding)
            self._last_memory_write = self.frame_index
        if self.frame_index - self._last_anchor_write < config.memory_write_interval:
            return
        for tracklet in self.tracklets:
            # a look-alike: established, similar to the target, yet clearly less similar than
            # the target itself and elsewhere in the frame (never a part of the target)
            if (
                tracklet.track_id != target.track_id
                and tracklet.frames_since_update == 0
                and tracklet.hits >= config.anchor_min_hits
                and tracklet.similarity >= config.anchor_min_similarity
                and tracklet.similarity <= target.similarity - config.anchor_margin
                and iou_matrix(tracklet.box_xyxy[None], target.box_xyxy[None])[0, 0] < config.duplicate_iou
            ):
                self.memory.write_anchor(tracklet.track_id, tracklet.last_embedding)
                self._last_anchor_write = self.frame_index

    def _row_of_target(self, rows: list[Tracklet]) -> int | None:
        return next((r for r, t in enumerate(rows) if t.track_id == self.target_track_id), None)

    def _new_tracklet(self, box_xyxy: np.ndarray, score: float, embedding: np.ndarray) -> Tracklet:
        tracklet = Tracklet(self._next_track_id, box_xyxy, score, embedding, self.kalman, self.frame_index)
        self._next_track_id += 1
        self.tracklets.append(tracklet)
        return tracklet

    def _prune(self) -> None:
        """Delete stale tracklets (and one-frame flickers), then cap the count keeping the
        target and the most recently seen, best scoring others."""
        config = self.config
        kept = [
            t
            for t in self.tracklets
            if t.frames_since_update <= config.max_unmatched_frames
            and (t.track_id == self.target_track_id or not (t.hits == 1 and t.frames_since_update > 0))
        ]
        if len(kept) > config.max_tracklets:
            target = [t for t in kept if t.track_id == self.target_track_id]
            others = sorted(
                (t for t in kept if t.track_id != self.target_track_id),
                key=lambda t: (t.frames_since_update, -t.score, t.track_id),
            )
            kept = target + others[: config.max_tracklets - len(target)]
            kept.sort(key=lambda t: t.track_id)
        self.tracklets = kept
        if self.target_track_id is not None and self.target is None:
            self.target_track_id = None

    def _result(
        self,
        target: Tracklet | None,
        target_matched: bool,
        presence: float,
        image_wh: tuple[float, float] | None,
    ) -> AssociationResult:
        score = similarity = 0.0
        if target_matched and target is not None:
            box, score, similarity = target.box_xyxy.copy(), target.score, target.similarity
        elif target is not None and self.state is not TrackState.LOST:
            box = target.predicted_box_xyxy  # coasting through a short occlusion
        else:
            box, score, similarity, presence = self._best_guess_when_lost()
        box = self._clip_or_keep(box, image_wh)
        self._last_box = box.copy()
        distractors = [
            TrackedObject(t.track_id, t.box_xyxy.copy(), t.score, t.similarity)
            for t in self.tracklets
            if t.frames_since_update == 0 and not (target_matched and t.track_id == self.target_track_id)
        ]
        return AssociationResult(
            self.frame_index,
            self.state,
            self.target_track_id,
            box,
            float(score),
            float(presence),
            float(similarity),
            target_matched,
            distractors,
        )

    def _best_guess_when_lost(self) -> tuple[np.ndarray, float, float, float]:
        """The most target-like candidate in view that is not a known distractor, else the
        last reported box (with zero presence)."""
        assert self.memory is not None
        seen = [t for t in self.tracklets if t.frames_since_update == 0]
        if seen:
            embeddings = np.array([t.last_embedding for t in seen])
            anchor = self.memory.anchor_similarity(embeddings)
            plausible = [
                (t, s)
                for t, s, a in zip(seen, [t.similarity for t in seen], anchor, strict=True)
                if s >= self.config.identity_min_similarity and s >= a + self.config.anchor_margin
            ]
            if plausible:
                best, sim = max(plausible, key=lambda pair: (pair[1], pair[0].score))
                return best.box_xyxy.copy(), best.score, sim, self._presence(best.score, sim)
        return self._last_box.copy(), 0.0, 0.0, 0.0

    def _clip_or_keep(self, box: np.ndarray, image_wh: tuple[float, float] | None) -> np.ndarray:
        """Clip to the image; a box that left the image entirely keeps the last reported one."""
        box = np.asarray(box, dtype=np.float64).copy()
        if image_wh is None:
            return box
        width, height = image_wh
        box[0::2] = box[0::2].clip(0, width)
        box[1::2] = box[1::2].clip(0, height)
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return self._last_box.copy()
        return box

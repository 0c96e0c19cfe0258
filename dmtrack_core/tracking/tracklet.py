"""One tracked object (the target or a look-alike): Kalman motion, last box, smoothed embedding."""

from __future__ import annotations

import numpy as np

from dmtrack_core.tracking.kalman import KalmanFilter, measurement_to_xyxy, xyxy_to_measurement


class Tracklet:
    """An identity that persists while it keeps being matched.

    ``embedding`` is an exponential moving average of the candidates' ReID embeddings
    (L2-normalised); ``frames_since_update`` counts frames without a match (0 = matched this
    frame); ``reacquire_streak`` counts consecutive frames in which the matched candidate
    looked enough like the target's memory to take over the target identity.
    """

    def __init__(
        self,
        track_id: int,
        box_xyxy: np.ndarray,
        score: float,
        embedding: np.ndarray,
        kalman: KalmanFilter,
        frame_index: int,
    ) -> None:
        self.track_id = track_id
        self.mean, self.covariance = kalman.initiate(xyxy_to_measurement(box_xyxy))
        self.box_xyxy = np.asarray(box_xyxy, dtype=np.float64).copy()
        self.score = float(score)
        self.embedding = _unit(embedding)
        self.last_embedding = self.embedding.copy()
        self.similarity = 0.0  # of the last matched candidate to the target memory
        self.hits = 1
        self.frames_since_update = 0
        self.start_frame = frame_index
        self.reacquire_streak = 0

    @property
    def predicted_box_xyxy(self) -> np.ndarray:
        return measurement_to_xyxy(self.mean)

    def update(
        self,
        kalman: KalmanFilter,
        box_xyxy: np.ndarray,
        score: float,
        embedding: np.ndarray,
        similarity: float,
        momentum: float,
    ) -> None:
        self.mean, self.covariance = kalman.update(self.mean, self.covariance, xyxy_to_measurement(box_xyxy))
        self.box_xyxy = np.asarray(box_xyxy, dtype=np.float64).copy()
        self.score = float(score)
        self.last_embedding = _unit(embedding)
        self.embedding = _unit(momentum * self.embedding + (1.0 - momentum) * self.last_embedding)
        self.similarity = float(similarity)
        self.hits += 1
        self.frames_since_update = 0

    def mark_missed(self) -> None:
        self.frames_since_update += 1
        self.reacquire_streak = 0

    def __repr__(self) -> str:
        return f"Tracklet(id={self.track_id}, hits={self.hits}, missed={self.frames_since_update})"


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64).reshape(-1)
    return vector / max(float(np.linalg.norm(vector)), 1e-12)

"""Bounded appearance memory of the target: O(1) in video length.

- the first-frame template embedding, fixed (the only embedding known to be the target);
- a small ring of confident target embeddings, written only when the caller says the
  target is sure (the association never writes while UNCERTAIN or LOST, so a drifting
  track cannot poison the memory);
- a few distractor anchors: embeddings of look-alikes seen while the target was sure,
  used to reject a candidate that is closer to a known distractor than to the target.

All storage is preallocated, so the memory never grows however long the video.
"""

from __future__ import annotations

import numpy as np

from dmtrack_core.tracking.matching import normalize_rows


class AppearanceMemory:
    def __init__(self, template: np.ndarray, size: int, anchor_size: int) -> None:
        template = normalize_rows(np.asarray(template, dtype=np.float64).reshape(1, -1))
        self.dim = template.shape[1]
        self.template = template[0]
        self._ring = np.zeros((max(1, size), self.dim))
        self._ring_count = 0
        self._ring_next = 0
        self._anchors = np.zeros((max(0, anchor_size), self.dim))
        self._anchor_ids = np.full(max(0, anchor_size), -1, dtype=np.int64)
        self._anchor_next = 0

    @property
    def size(self) -> int:
        return len(self._ring)

    @property
    def entries(self) -> int:
        """Target embeddings held (template included)."""
        return 1 + self._ring_count

    @property
    def anchor_entries(self) -> int:
        return int(np.sum(self._anchor_ids >= 0))

    def similarity(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, D) -> (N,) highest cosine similarity to the template or any remembered view."""
        embeddings = normalize_rows(np.asarray(embeddings, dtype=np.float64).reshape(-1, self.dim))
        bank = np.concatenate([self.template[None], self._ring[: self._ring_count]], axis=0)
        return (embeddings @ bank.T).max(axis=1)

    def anchor_similarity(self, embeddings: np.ndarray) -> np.ndarray:
        """(N, D) -> (N,) highest cosine similarity to a distractor anchor; -1 with none."""
        embeddings = normalize_rows(np.asarray(embeddings, dtype=np.float64).reshape(-1, self.dim))
        used = self._anchor_ids >= 0
        if not used.any() or len(embeddings) == 0:
            return np.full(len(embeddings), -1.0)
        return (embeddings @ self._anchors[used].T).max(axis=1)

    def write(self, embedding: np.ndarray) -> None:
        """Remember a confident view of the target, replacing the oldest one when full."""
        self._ring[self._ring_next] = _unit(embedding)
        self._ring_next = (self._ring_next + 1) % len(self._ring)
        self._ring_count = min(self._ring_count + 1, len(self._ring))

    def write_anchor(self, track_id: int, embedding: np.ndarray) -> None:
        """Remember a distractor's look; one slot per tracklet, the oldest slot is reused."""
        if len(self._anchors) == 0:
            return
        slot = np.flatnonzero(self._anchor_ids == track_id)
        if len(slot):
            index = int(slot[0])
        else:
            index = self._anchor_next
            self._anchor_next = (self._anchor_next + 1) % len(self._anchors)
        self._anchor_ids[index] = track_id
        self._anchors[index] = _unit(embedding)


def _unit(embedding: np.ndarray) -> np.ndarray:
    return normalize_rows(np.asarray(embedding, dtype=np.float64).reshape(1, -1))[0]

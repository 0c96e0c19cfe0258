"""Cost matrices between tracklets (rows) and candidates (columns), and the assignment.

Costs are distances: 0 = perfect match, ``np.inf`` = forbidden. The association uses them in
two stages: appearance (cosine distance) fused with a Kalman motion gate, then box overlap
(IoU distance) for what is left.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from dmtrack_core.boxes import iou_matrix
from dmtrack_core.tracking.kalman import KalmanFilter

__all__ = [
    "cosine_distance",
    "cosine_similarity",
    "fuse_motion",
    "iou_distance",
    "iou_matrix",
    "linear_assignment",
    "linear_assignment_with_priority",
    "normalize_rows",
]

# stands in for inf inside the solver (which needs finite costs); never accepted as a match
_FORBIDDEN = 1e6


def iou_distance(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    return 1.0 - iou_matrix(boxes_a, boxes_b)


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def cosine_similarity(embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> np.ndarray:
    """(N, D) x (M, D) -> (N, M) cosine similarity (inputs need not be normalised)."""
    a = np.asarray(embeddings_a, dtype=np.float64)
    b = np.asarray(embeddings_b, dtype=np.float64)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    return normalize_rows(a) @ normalize_rows(b).T


def cosine_distance(embeddings_a: np.ndarray, embeddings_b: np.ndarray) -> np.ndarray:
    """1 - cosine similarity, clipped to [0, 2]."""
    return np.clip(1.0 - cosine_similarity(embeddings_a, embeddings_b), 0.0, 2.0)


def fuse_motion(
    kalman: KalmanFilter,
    appearance_cost: np.ndarray,
    track_states: list[tuple[np.ndarray, np.ndarray]],
    measurements: np.ndarray,
    appearance_weight: float,
    gating_threshold: float,
) -> np.ndarray:
    """Blend appearance cost with the Kalman gating distance; forbid pairs outside the gate.

    ``track_states`` holds each row's predicted (mean, covariance); ``measurements`` is
    (M, 4) cx, cy, aspect, h. The motion term is the squared Mahalanobis distance, so with
    the default weight 0.98 appearance decides and motion mostly acts as a gate.
    """
    cost = np.array(appearance_cost, dtype=np.float64, copy=True)
    if cost.size == 0:
        return cost
    means = np.array([mean for mean, _ in track_states])
    covariances = np.array([covariance for _, covariance in track_states])
    distance = kalman.gating_distances(means, covariances, measurements)
    cost = appearance_weight * cost + (1.0 - appearance_weight) * distance
    cost[distance > gating_threshold] = np.inf
    return cost


def linear_assignment(cost: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Minimum-cost one-to-one assignment (Hungarian, scipy), keeping pairs with cost <= threshold.

    Returns (matches (K, 2) of row, column), unmatched rows, unmatched columns; all sorted.
    """
    cost = np.asarray(cost, dtype=np.float64)
    rows_all = np.arange(cost.shape[0])
    cols_all = np.arange(cost.shape[1])
    if cost.size == 0:
        return np.empty((0, 2), dtype=int), rows_all, cols_all
    finite = np.where(np.isfinite(cost), cost, _FORBIDDEN)
    rows, cols = linear_sum_assignment(finite)
    keep = np.isfinite(cost[rows, cols]) & (cost[rows, cols] <= threshold)
    matches = np.stack([rows[keep], cols[keep]], axis=1).astype(int)
    unmatched_rows = np.setdiff1d(rows_all, matches[:, 0])
    unmatched_cols = np.setdiff1d(cols_all, matches[:, 1])
    return matches, unmatched_rows, unmatched_cols


def linear_assignment_with_priority(
    cost: np.ndarray, threshold: float, priority_row: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``linear_assignment``, except that ``priority_row`` first takes its cheapest column
    (if within ``threshold``) and the other rows share the rest.

    The tracker gives the target's tracklet this priority: a younger tracklet born on the
    target during a missed frame would otherwise win the target's box whenever its own fresh
    embedding fits that box a little better than the target's memory does.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if priority_row is None or cost.size == 0:
        return linear_assignment(cost, threshold)
    column = int(np.argmin(cost[priority_row]))
    taken = bool(np.isfinite(cost[priority_row, column]) and cost[priority_row, column] <= threshold)
    other_rows = np.delete(np.arange(cost.shape[0]), priority_row)
    other_cols = np.delete(np.arange(cost.shape[1]), column) if taken else np.arange(cost.shape[1])
    matches, unmatched_rows, unmatched_cols = linear_assignment(
        cost[np.ix_(other_rows, other_cols)], threshold
    )
    matches = np.stack([other_rows[matches[:, 0]], other_cols[matches[:, 1]]], axis=1).reshape(-1, 2)
    unmatched_rows = other_rows[unmatched_rows]
    if taken:
        matches = np.concatenate([matches, [[priority_row, column]]])
    else:
        unmatched_rows = np.sort(np.append(unmatched_rows, priority_row))
    matches = matches[np.argsort(matches[:, 0])].astype(int)
    return matches, unmatched_rows, other_cols[unmatched_cols]

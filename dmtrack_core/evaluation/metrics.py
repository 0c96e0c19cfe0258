"""Tracking metrics computed the way the official toolkits compute them.

LaSOT / OTB style (as the LaSOT MATLAB toolkit and pytracking's ``extract_results``):

* boxes are ``x, y, w, h`` with inclusive pixels: a box covers columns ``x .. x + w - 1``, so the
  IoU adds 1 to the intersection extent and the centre is ``x + (w - 1) / 2``;
* frame 1 is the initialisation frame and is scored as the ground truth itself;
* an invalid prediction (NaN, ``w <= 0`` or ``h <= 0``) is replaced by the previous one;
* success: 21 thresholds ``0:0.05:1``, a frame is a hit when ``IoU > t`` (strictly); the curve
  is averaged per sequence, then over sequences; AUC is the plain mean of the 21 points;
* precision: centre error ``<= t`` px for ``t = 0..50``, reported at 20 px;
* normalised precision: centre error with each axis divided by the ground-truth w / h,
  ``t = 0:0.01:0.5``, reported at 0.20;
* absent frames (flagged, or ground truth with no extent) never count as hits but stay in the
  denominator, so a tracker that is perfect on visible frames reaches ``1 - absent share``.
  (pytracking counts empty-ground-truth frames as normalised-precision hits outside LaSOT;
  that quirk is deliberately not reproduced: an absent frame is a miss in all three curves.)

GOT-10k (as the got10k toolkit): continuous IoU (``x2 = x + w``) with boxes clipped to the
image when its size is known, the first frame skipped, frames where the target is hidden
excluded, and frames of all sequences pooled: AO is the mean IoU, SR@t the share with
``IoU > t``.

VOT long-term (as the VOT toolkit): per confidence threshold ``tau``, precision is the mean
IoU over frames where the tracker's presence score is ``>= tau`` (IoU 0 when the target is
absent), recall the sum of those IoUs divided by the number of frames where the target is
visible; both are averaged over sequences, and F is the best ``2 P R / (P + R)``. The
initialisation frame is not scored.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceOf
from dataclasses import dataclass

import numpy as np

SUCCESS_THRESHOLDS = np.linspace(0.0, 1.0, 21)
PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64)
NORM_PRECISION_THRESHOLDS = np.arange(0, 51, dtype=np.float64) / 100.0
PRECISION_AT_PX = 20.0
NORM_PRECISION_AT = 0.20
VOT_LT_MAX_THRESHOLDS = 100


class MetricError(ValueError):
    """Predictions and ground truth that cannot be scored together."""


def _as_boxes(boxes: np.ndarray) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4)


def iou_inclusive(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Row-wise IoU of ``x, y, w, h`` boxes in the inclusive-pixel convention (LaSOT/OTB)."""
    pred, gt = _as_boxes(pred), _as_boxes(gt)
    top_left = np.maximum(pred[:, :2], gt[:, :2])
    bottom_right = np.minimum(pred[:, :2] + pred[:, 2:] - 1.0, gt[:, :2] + gt[:, 2:] - 1.0)
    extent = np.clip(bottom_right - top_left + 1.0, 0.0, None)
    intersection = extent.prod(axis=1)
    union = pred[:, 2:].prod(axis=1) + gt[:, 2:].prod(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = intersection / union
    return np.where(union > 0, iou, 0.0)


def _clip_to_bound(boxes: np.ndarray, bound_wh: tuple[float, float]) -> np.ndarray:
    # Same clipping as the got10k toolkit: corner into the image, then extent up to the border.
    boxes = boxes.copy()
    width, height = bound_wh
    boxes[:, 0] = np.clip(boxes[:, 0], 0, width)
    boxes[:, 1] = np.clip(boxes[:, 1], 0, height)
    boxes[:, 2] = np.clip(boxes[:, 2], 0, width - boxes[:, 0])
    boxes[:, 3] = np.clip(boxes[:, 3], 0, height - boxes[:, 1])
    return boxes


def iou_continuous(
    pred: np.ndarray, gt: np.ndarray, bound_wh: tuple[float, float] | None = None
) -> np.ndarray:
    """Row-wise IoU with continuous extents (``x2 = x + w``), as GOT-10k and VOT compute it."""
    pred, gt = _as_boxes(pred), _as_boxes(gt)
    if bound_wh is not None:
        pred, gt = _clip_to_bound(pred, bound_wh), _clip_to_bound(gt, bound_wh)
    top_left = np.maximum(pred[:, :2], gt[:, :2])
    bottom_right = np.minimum(pred[:, :2] + pred[:, 2:], gt[:, :2] + gt[:, 2:])
    intersection = np.clip(bottom_right - top_left, 0.0, None).prod(axis=1)
    union = pred[:, 2:].prod(axis=1) + gt[:, 2:].prod(axis=1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = intersection / union
    return np.where(union > 0, iou, 0.0)


def valid_prediction(boxes: np.ndarray) -> np.ndarray:
    boxes = _as_boxes(boxes)
    with np.errstate(invalid="ignore"):
        return np.isfinite(boxes).all(axis=1) & (boxes[:, 2] > 0) & (boxes[:, 3] > 0)


def sanitize_predictions(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Frame 1 becomes the ground truth; every invalid box (NaN, w<=0, h<=0) takes the previous
    frame's (already repaired) box."""
    pred, gt = _as_boxes(pred).copy(), _as_boxes(gt)
    if len(pred) < len(gt):
        raise MetricError(f"{len(pred)} predictions for {len(gt)} frames")
    pred = pred[: len(gt)]  # the LaSOT toolkit also drops surplus result lines
    pred[0] = gt[0]
    valid = valid_prediction(pred)
    for index in range(1, len(pred)):
        if not valid[index]:
            pred[index] = pred[index - 1]
    return pred


def visible_frames(gt: np.ndarray, absent: np.ndarray | None) -> np.ndarray:
    """Frames where the target can be hit: not flagged absent and ground truth with extent."""
    gt = _as_boxes(gt)
    visible = valid_prediction(gt)
    if absent is not None:
        visible &= ~np.asarray(absent, dtype=bool).reshape(-1)
    return visible


def centers(boxes: np.ndarray) -> np.ndarray:
    boxes = _as_boxes(boxes)
    return boxes[:, :2] + (boxes[:, 2:] - 1.0) / 2.0


def center_errors(pred: np.ndarray, gt: np.ndarray, normalized: bool = False) -> np.ndarray:
    pred, gt = _as_boxes(pred), _as_boxes(gt)
    delta = centers(pred) - centers(gt)
    if normalized:
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = delta / gt[:, 2:]
    return np.sqrt((delta**2).sum(axis=1))


@dataclass
class CurveScores:
    """Success / precision / normalised-precision curves (of one sequence or averaged)."""

    success: np.ndarray  # (21,) over SUCCESS_THRESHOLDS
    precision: np.ndarray  # (51,) over PRECISION_THRESHOLDS
    norm_precision: np.ndarray  # (51,) over NORM_PRECISION_THRESHOLDS
    num_sequences: int = 1

    @property
    def auc(self) -> float:
        return float(self.success.mean())

    @property
    def precision_at_20(self) -> float:
        return float(self.precision[int(np.flatnonzero(PRECISION_THRESHOLDS == PRECISION_AT_PX)[0])])

    @property
    def norm_precision_at_020(self) -> float:
        index = int(np.argmin(np.abs(NORM_PRECISION_THRESHOLDS - NORM_PRECISION_AT)))
        return float(self.norm_precision[index])


def score_sequence(pred: np.ndarray, gt: np.ndarray, absent: np.ndarray | None = None) -> CurveScores:
    """LaSOT/OTB curves of one sequence (see the module docstring for the rules)."""
    gt = _as_boxes(gt)
    if not np.isfinite(gt).all():
        raise MetricError("ground truth has unannotated (NaN) rows; this split cannot be scored locally")
    pred = sanitize_predictions(pred, gt)
    visible = visible_frames(gt, absent)
    overlap = np.where(visible, iou_inclusive(pred, gt), -1.0)
    error = np.where(visible, center_errors(pred, gt), np.inf)
    norm_error = np.where(visible, center_errors(pred, gt, normalized=True), np.inf)
    count = float(len(gt))
    return CurveScores(
        success=(overlap[:, None] > SUCCESS_THRESHOLDS[None, :]).sum(axis=0) / count,
        precision=(error[:, None] <= PRECISION_THRESHOLDS[None, :]).sum(axis=0) / count,
        norm_precision=(norm_error[:, None] <= NORM_PRECISION_THRESHOLDS[None, :]).sum(axis=0) / count,
    )


def average_scores(scores: SequenceOf[CurveScores]) -> CurveScores:
    """Mean of per-sequence curves (every sequence weighs the same, as in the toolkits)."""
    if not scores:
        raise MetricError("no sequences to average")
    return CurveScores(
        success=np.mean([s.success for s in scores], axis=0),
        precision=np.mean([s.precision for s in scores], axis=0),
        norm_precision=np.mean([s.norm_precision for s in scores], axis=0),
        num_sequences=len(scores),
    )


@dataclass
class Got10kScores:
    average_overlap: float
    success_rate_50: float
    success_rate_75: float
    num_frames: int


def got10k_scores(
    preds: SequenceOf[np.ndarray],
    gts: SequenceOf[np.ndarray],
    hidden: SequenceOf[np.ndarray],
    bounds_wh: SequenceOf[tuple[float, float] | None] | None = None,
) -> Got10kScores:
    """AO / SR0.5 / SR0.75 over the pooled frames of all sequences (first frame skipped,
    ``hidden`` frames excluded)."""
    pooled = []
    for index, (pred, gt, hide) in enumerate(zip(preds, gts, hidden, strict=True)):
        gt = _as_boxes(gt)
        pred = sanitize_predictions(pred, gt)
        bound = bounds_wh[index] if bounds_wh is not None else None
        ious = iou_continuous(pred[1:], gt[1:], bound)
        keep = ~np.asarray(hide, dtype=bool)[1:]
        pooled.append(ious[keep])
    ious = np.concatenate(pooled) if pooled else np.zeros(0)
    if len(ious) == 0:
        raise MetricError("no visible frames to score")
    return Got10kScores(
        average_overlap=float(ious.mean()),
        success_rate_50=float((ious > 0.5).mean()),
        success_rate_75=float((ious > 0.75).mean()),
        num_frames=int(len(ious)),
    )


@dataclass
class VotLtScores:
    f_score: float
    precision: float  # at the threshold giving the best F
    recall: float
    threshold: float
    thresholds: np.ndarray
    precision_curve: np.ndarray
    recall_curve: np.ndarray


def vot_lt_thresholds(presences: SequenceOf[np.ndarray]) -> np.ndarray:
    """Distinct presence scores, thinned to at most 100 evenly spaced by rank (as VOT does)."""
    values = np.unique(np.concatenate([np.asarray(p, dtype=np.float64)[1:] for p in presences]))
    values = values[np.isfinite(values)]
    if len(values) > VOT_LT_MAX_THRESHOLDS:
        picks = np.linspace(0, len(values) - 1, VOT_LT_MAX_THRESHOLDS).round().astype(int)
        values = values[picks]
    return values


def vot_lt_scores(
    preds: SequenceOf[np.ndarray],
    presences: SequenceOf[np.ndarray],
    gts: SequenceOf[np.ndarray],
    absents: SequenceOf[np.ndarray],
) -> VotLtScores:
    thresholds = vot_lt_thresholds(presences)
    if len(thresholds) == 0:
        raise MetricError("no presence scores")
    reported = [
        np.asarray(presence, dtype=np.float64)[:, None] >= thresholds[None, :] for presence in presences
    ]
    precision_curve, recall_curve, f_curve = _long_term_curves(preds, reported, gts, absents)
    best = int(np.argmax(f_curve))
    return VotLtScores(
        f_score=float(f_curve[best]),
        precision=float(precision_curve[best]),
        recall=float(recall_curve[best]),
        threshold=float(thresholds[best]),
        thresholds=thresholds,
        precision_curve=precision_curve,
        recall_curve=recall_curve,
    )


def reported_f_score(
    preds: SequenceOf[np.ndarray],
    reported: SequenceOf[np.ndarray],
    gts: SequenceOf[np.ndarray],
    absents: SequenceOf[np.ndarray],
) -> tuple[float, float, float]:
    """VOT-LT precision, recall and F at the tracker's own decision: ``reported`` (one bool per
    frame) says in which frames it claims the target (e.g. its state is not LOST)."""
    columns = [np.asarray(flags, dtype=bool)[:, None] for flags in reported]
    precision, recall, f_score = _long_term_curves(preds, columns, gts, absents)
    return float(precision[0]), float(recall[0]), float(f_score[0])


def _long_term_curves(
    preds: SequenceOf[np.ndarray],
    reported: SequenceOf[np.ndarray],
    gts: SequenceOf[np.ndarray],
    absents: SequenceOf[np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F per column of ``reported`` (frames x decisions, one per sequence)."""
    precision_rows, recall_rows = [], []
    for pred, claims, gt, absent in zip(preds, reported, gts, absents, strict=True):
        gt = _as_boxes(gt)
        pred = sanitize_predictions(pred, gt)[1:]
        visible = visible_frames(gt, absent)[1:]
        claims = np.asarray(claims, dtype=bool)[1 : len(gt)]
        overlap = np.where(visible, iou_continuous(pred, gt[1:]), 0.0)
        claim_count = claims.sum(axis=0)
        overlap_sum = (overlap[:, None] * claims).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            # no claim at all: precision 1, recall 0 (the VOT toolkit's convention)
            precision_rows.append(np.where(claim_count > 0, overlap_sum / claim_count, 1.0))
        recall_rows.append(overlap_sum / max(int(visible.sum()), 1))
    precision_curve = np.mean(precision_rows, axis=0)
    recall_curve = np.mean(recall_rows, axis=0)
    denominator = precision_curve + recall_curve
    with np.errstate(invalid="ignore", divide="ignore"):
        f_curve = np.where(denominator > 0, 2 * precision_curve * recall_curve / denominator, 0.0)
    return precision_curve, recall_curve, f_curve

"""Detection losses of DMTrack (FCOS style), computed for a batch of queries at once.

For each query: sigmoid focal loss over both cls channels at every location, normalised by
the number of assigned locations; -log(IoU) of the boxes at assigned locations weighted by
their centerness target (normalised by the sum of those weights); centerness BCE averaged
over assigned locations. Every assigned location (the query's and the other instances')
trains the box and centerness outputs: box quality matters for distractor candidates too.
Each loss is then averaged over the queries.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from dmtrack_core.model.targets import centerness_targets


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, alpha: float = 0.25, gamma: float = 2.0) -> Tensor:
    """Element-wise focal loss (Lin et al. 2017) of logits against 0/1 targets of the same shape."""
    probs = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = probs * targets + (1 - probs) * (1 - targets)
    alpha_t = alpha * targets + (1 - alpha) * (1 - targets)
    return alpha_t * (1 - p_t).pow(gamma) * ce


def iou_loss_ltrb(pred: Tensor, target: Tensor, eps: float = 1e-6) -> Tensor:
    """-log(IoU) of (N, 4) l, t, r, b boxes that share their anchor point (both >= 0)."""
    pred_area = (pred[:, 0] + pred[:, 2]) * (pred[:, 1] + pred[:, 3])
    target_area = (target[:, 0] + target[:, 2]) * (target[:, 1] + target[:, 3])
    overlap = torch.minimum(pred, target)
    intersection = (overlap[:, 0] + overlap[:, 2]) * (overlap[:, 1] + overlap[:, 3])
    union = pred_area + target_area - intersection
    return -(intersection / union.clamp(min=eps)).clamp(min=eps).log()


@dataclass
class QueryOutputs:
    """Head outputs of Q queries flattened over all locations (N)."""

    cls_logits: Tensor  # (Q, N, 2)
    box_ltrb: Tensor  # (Q, N, 4)
    centerness_logits: Tensor  # (Q, N)


def detection_losses(
    outputs: QueryOutputs,
    labels: Tensor,
    box_targets: Tensor,
    focal_alpha: float = 0.25,
    focal_gamma: float = 2.0,
) -> dict[str, Tensor]:
    """``labels`` (Q, N) long: -1 background, 0 other instance, 1 target; ``box_targets`` (Q, N, 4).

    Returns ``loss_cls``, ``loss_box``, ``loss_centerness``, each averaged over queries.
    """
    num_channels = outputs.cls_logits.shape[-1]
    one_hot = F.one_hot(labels.clamp(min=0), num_channels).to(outputs.cls_logits.dtype)
    assigned = labels >= 0
    one_hot = one_hot * assigned[..., None]
    focal = sigmoid_focal_loss(outputs.cls_logits, one_hot, focal_alpha, focal_gamma).sum(dim=(1, 2))
    num_assigned = assigned.sum(dim=1).clamp(min=1).to(focal.dtype)
    loss_cls = (focal / num_assigned).mean()

    query_of_location = assigned.nonzero()[:, 0]
    pred = outputs.box_ltrb[assigned]
    target = box_targets[assigned]
    num_queries = labels.shape[0]
    centerness_target = centerness_targets(target)
    iou_terms = iou_loss_ltrb(pred, target) * centerness_target
    box_sum = torch.zeros(num_queries, dtype=pred.dtype, device=pred.device).index_add(
        0, query_of_location, iou_terms
    )
    weight_sum = torch.zeros_like(box_sum).index_add(0, query_of_location, centerness_target)
    loss_box = (box_sum / weight_sum.clamp(min=1e-6)).mean()

    bce = F.binary_cross_entropy_with_logits(
        outputs.centerness_logits[assigned], centerness_target, reduction="none"
    )
    bce_sum = torch.zeros_like(box_sum).index_add(0, query_of_location, bce)
    loss_centerness = (bce_sum / num_assigned).mean()
    return {"loss_cls": loss_cls, "loss_box": loss_box, "loss_centerness": loss_centerness}

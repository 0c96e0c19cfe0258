"""ReID branch (FairMOT style): a stride-8 embedding map and its two training losses.

A box's embedding is the average of the map over the central part of the box (RoIAlign on
a small grid), L2-normalised. Two ways to train it (``ModelConfig.reid_loss``):

- ``classification`` (the original): classify every annotated instance into its global
  identity (linear classifier + cross-entropy). It needs each identity seen many times,
  i.e. datasets with thousands of tracks and long schedules.
- ``contrastive``: match each instance of a pair's template frame to the same instance in
  its search frame against every other instance of the batch (InfoNCE, both directions).
  The look-alikes of the same pair are the hardest negatives, which is exactly what the
  tracker must tell apart; it learns from the first step, so short schedules work.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmtrack_core.ops import roi_align


class ReIDHead(nn.Module):
    """P3 -> (B, reid_dim, H, W) embedding map (not normalised; boxes are normalised after pooling)."""

    def __init__(self, in_channels: int, hidden_channels: int, reid_dim: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        if hidden_channels > 0:
            self.layers = nn.Sequential(
                nn.Conv2d(in_channels, hidden_channels, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv2d(hidden_channels, reid_dim, 1),
            )
        else:
            self.layers = nn.Sequential(nn.Conv2d(in_channels, reid_dim, 1))

    def forward(self, p3: Tensor) -> Tensor:
        return self.layers(p3)

    def embed_boxes(
        self,
        reid_map: Tensor,
        boxes_xyxy: Tensor,
        batch_index: Tensor | None = None,
        roi_size: int = 3,
        shrink: float = 0.5,
    ) -> Tensor:
        """(N, 4) boxes (network pixels) of images ``batch_index`` (default 0) -> (N, D) unit vectors."""
        if boxes_xyxy.shape[0] == 0:
            return reid_map.new_zeros(0, reid_map.shape[1])
        if batch_index is None:
            batch_index = torch.zeros(boxes_xyxy.shape[0], device=boxes_xyxy.device, dtype=boxes_xyxy.dtype)
        centre = (boxes_xyxy[:, :2] + boxes_xyxy[:, 2:]) / 2
        half = (boxes_xyxy[:, 2:] - boxes_xyxy[:, :2]).clamp(min=1.0) * (shrink / 2)
        rois = torch.cat([batch_index[:, None].to(boxes_xyxy.dtype), centre - half, centre + half], dim=1)
        pooled = roi_align(reid_map, rois, roi_size, 1.0 / self.stride, 2, aligned=True)
        return F.normalize(pooled.mean(dim=(2, 3)), dim=1)


class IdentityClassifier(nn.Module):
    """Linear classifier over training identities, used only by the ReID loss.

    Identity ids are folded into ``num_identities`` classes (``id % num_identities``): a
    hashing trick that lets the data side number identities freely; rare collisions only
    add a little label noise. Unit embeddings are scaled by sqrt(2) * log(n - 1) first, as in
    FairMOT, so the softmax can become confident.
    """

    def __init__(self, reid_dim: int, num_identities: int) -> None:
        super().__init__()
        self.num_identities = num_identities
        self.embedding_scale = math.sqrt(2) * math.log(max(num_identities - 1, 2))
        self.classifier = nn.Linear(reid_dim, num_identities)

    def loss(self, embeddings: Tensor, identities: Tensor) -> Tensor:
        """Cross-entropy of (N, D) unit embeddings against (N,) identities (all >= 0)."""
        if embeddings.shape[0] == 0:
            # keep the graph connected (and the loss finite) when a batch has no identities
            return embeddings.sum() * 0.0 + self.classifier.weight.sum() * 0.0
        logits = self.classifier(embeddings * self.embedding_scale)
        return F.cross_entropy(logits, identities.remainder(self.num_identities))


def cross_frame_contrastive_loss(
    template_embeddings: Tensor,
    template_keys: Tensor,
    search_embeddings: Tensor,
    search_keys: Tensor,
    temperature: float = 0.1,
) -> Tensor:
    """InfoNCE between (N, D) template-frame and (M, D) search-frame unit embeddings.

    ``*_keys`` are (N, 2) / (M, 2) long rows of (pair, identity). An embedding's positive
    is the one with the same key on the other side; the other side's embeddings of other
    identities are its negatives. Embeddings of the same identity in other pairs are left
    out of the softmax (they are neither: the same object, seen elsewhere). Averaged over
    both directions and every embedding that has a positive; 0 (with a graph) if none has.
    """
    zero = template_embeddings.sum() * 0.0 + search_embeddings.sum() * 0.0
    if template_embeddings.shape[0] == 0 or search_embeddings.shape[0] == 0:
        return zero
    logits = template_embeddings @ search_embeddings.t() / temperature
    same_pair = template_keys[:, None, 0] == search_keys[None, :, 0]
    same_identity = template_keys[:, None, 1] == search_keys[None, :, 1]
    positive = same_pair & same_identity
    ignored = same_identity & ~same_pair
    logits = logits.masked_fill(ignored, float("-inf"))
    terms = []
    for direction_logits, direction_positive in ((logits, positive), (logits.t(), positive.t())):
        has_positive = direction_positive.any(dim=1)
        if has_positive.any():
            rows = direction_logits[has_positive]
            targets = direction_positive[has_positive].float().argmax(dim=1)
            terms.append(F.cross_entropy(rows, targets))
    if not terms:
        return zero
    return zero + torch.stack(terms).mean()

"""``TrainBatch``: the training input of ``DMTrack.forward`` (produced by ``dmtrack_core.training``)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class TrainBatch:
    """A batch of template/search image pairs with every annotated instance of each pair.

    Boxes are x1, y1, x2, y2 in network pixels. Instance ``k`` of pair ``i`` is the same
    object in both images; a search box with w <= 0 or h <= 0 means the object is absent
    there. Every instance with a valid template box serves in turn as the query.
    """

    template_images: Tensor  # (B, 3, H, W) normalised
    search_images: Tensor  # (B, 3, H, W) normalised
    template_boxes: list[Tensor]  # per pair (K_i, 4)
    search_boxes: list[Tensor]  # per pair (K_i, 4)
    identities: list[Tensor]  # per pair (K_i,) long; -1 = no identity

    def __post_init__(self) -> None:
        pairs = self.template_images.shape[0]
        if self.search_images.shape[0] != pairs:
            raise ValueError("template_images and search_images must hold the same number of pairs")
        for name in ("template_boxes", "search_boxes", "identities"):
            if len(getattr(self, name)) != pairs:
                raise ValueError(f"{name} must have one entry per pair ({pairs})")
        for t, s, ids in zip(self.template_boxes, self.search_boxes, self.identities, strict=True):
            if t.shape != s.shape or t.ndim != 2 or t.shape[-1] != 4 or ids.shape != t.shape[:1]:
                raise ValueError("per pair: template_boxes and search_boxes (K,4), identities (K,)")

    @property
    def num_pairs(self) -> int:
        return int(self.template_images.shape[0])

    def to(self, device: torch.device | str) -> TrainBatch:
        return TrainBatch(
            template_images=self.template_images.to(device),
            search_images=self.search_images.to(device),
            template_boxes=[b.to(device) for b in self.template_boxes],
            search_boxes=[b.to(device) for b in self.search_boxes],
            identities=[i.to(device) for i in self.identities],
        )

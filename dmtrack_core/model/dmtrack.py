"""DMTrack: a detector over the whole frame, conditioned on the target by dynamic convolutions.

Reading order:

1. ``extract``        backbone -> FPN P3..P5, plus the stride-8 ReID embedding map.
2. ``make_template``  target box -> RoIAlign on one level -> per-level templates -> controller
                      -> dynamic kernels (computed once per target); plus the target's embedding.
3. ``detect``         dynamic head on every level -> scores, centerness, boxes -> NMS
                      -> ``Candidates`` with a ReID embedding each (inference, batch of 1).
4. ``forward``        a ``TrainBatch`` -> every valid instance as a query -> FCOS losses + ReID loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from dmtrack_core.model.backbones import build_backbone
from dmtrack_core.model.batch import TrainBatch
from dmtrack_core.model.config import ModelConfig
from dmtrack_core.model.fpn import FPN
from dmtrack_core.model.head import DynamicHead, LevelOutputs, distances_to_boxes, level_locations
from dmtrack_core.model.losses import QueryOutputs, detection_losses
from dmtrack_core.model.reid import IdentityClassifier, ReIDHead, cross_frame_contrastive_loss
from dmtrack_core.model.targets import LocationGrid, assign_locations, query_labels
from dmtrack_core.model.template import Controller, DynamicKernels, Template, TemplateBranch
from dmtrack_core.ops import batched_nms


@dataclass
class Features:
    """What ``extract`` computes once per frame."""

    levels: list[Tensor]  # FPN P3..P5, (B, C, H_l, W_l)
    reid: Tensor  # (B, reid_dim, H_3, W_3) ReID map at stride 8
    image_hw: tuple[int, int]  # network input size (padded)

    def images(self, start: int, stop: int) -> Features:
        """The features of images ``start:stop`` of the batch."""
        return Features([level[start:stop] for level in self.levels], self.reid[start:stop], self.image_hw)


@dataclass
class Candidates:
    """Detections of the target's look-alikes in one frame, best first; never empty."""

    boxes: Tensor  # (N, 4) x1, y1, x2, y2 network pixels
    scores: Tensor  # (N,) sigmoid of the target cls channel
    centerness: Tensor  # (N,) sigmoid of the centerness
    embeddings: Tensor | None  # (N, reid_dim) L2-normalised; None from ``detect(embed=False)``

    def __len__(self) -> int:
        return int(self.boxes.shape[0])


def valid_boxes(boxes_xyxy: Tensor) -> Tensor:
    """(K,) bool: boxes with positive width and height."""
    return (boxes_xyxy[:, 2] > boxes_xyxy[:, 0]) & (boxes_xyxy[:, 3] > boxes_xyxy[:, 1])


class DMTrack(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        channels = config.fpn_channels
        self.backbone = build_backbone(config)
        self.neck = FPN(self.backbone.out_channels, channels)
        self.template = TemplateBranch(
            channels,
            config.strides,
            config.template_level_thresholds,
            config.template_roi_size,
            config.roi_sampling_ratio,
        )
        self.controller = Controller(channels, config.modulation_channels)
        self.head = DynamicHead(
            channels,
            config.modulation_channels,
            config.num_tower_convs,
            config.gn_groups,
            config.strides,
            config.num_cls_channels,
            config.cls_prior,
            config.box_distances_in_strides,
        )
        self.reid = ReIDHead(channels, config.reid_hidden_channels, config.reid_dim, config.strides[0])
        # training only (the tracker never runs it), and only for the classification loss
        self.id_classifier = (
            IdentityClassifier(config.reid_dim, config.num_identities)
            if config.reid_loss == "classification"
            else None
        )

    def train(self, mode: bool = True) -> DMTrack:
        super().train(mode)
        if mode and self.config.backbone_norm_eval:
            # small batches: keep the pre-trained BatchNorm statistics (and their affine terms' meaning)
            for module in self.backbone.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    module.eval()
        return self

    # ----------------------------------------------------------------- 1. features
    def extract(self, images: Tensor) -> Features:
        """(B, 3, H, W) normalised images (H, W multiples of 32) -> ``Features``."""
        levels = self.neck(self.backbone(images))
        return Features(
            levels=levels, reid=self.reid(levels[0]), image_hw=(images.shape[-2], images.shape[-1])
        )

    # ----------------------------------------------------------------- 2. template
    def make_kernels(
        self, features: Features, boxes_xyxy: Tensor, batch_index: Tensor
    ) -> tuple[DynamicKernels, Tensor]:
        templates, level = self.template(features.levels, boxes_xyxy, batch_index)
        return self.controller(templates), level

    def make_template(
        self, features: Features, boxes_xyxy: Tensor, batch_index: Tensor | None = None
    ) -> Template:
        """Target boxes (B, 4) in network pixels, one per image of ``features`` unless
        ``batch_index`` says which image each box belongs to."""
        boxes_xyxy = boxes_xyxy.to(features.levels[0].dtype).reshape(-1, 4)
        if batch_index is None:
            batch_index = torch.arange(boxes_xyxy.shape[0], device=boxes_xyxy.device)
        kernels, level = self.make_kernels(features, boxes_xyxy, batch_index)
        embedding = self.embed_boxes(features, boxes_xyxy, batch_index)
        return Template(kernels=kernels, level=level, embedding=embedding, boxes=boxes_xyxy)

    def embed_boxes(
        self, features: Features, boxes_xyxy: Tensor, batch_index: Tensor | None = None
    ) -> Tensor:
        """(N, 4) boxes (of image 0 unless ``batch_index``) -> (N, reid_dim) L2-normalised embeddings."""
        return self.reid.embed_boxes(
            features.reid,
            boxes_xyxy.to(features.reid.dtype).reshape(-1, 4),
            batch_index,
            self.config.reid_roi_size,
            self.config.reid_box_shrink,
        )

    # ----------------------------------------------------------------- 3. detection
    def flat_outputs(self, levels: list[Tensor], kernels: DynamicKernels) -> QueryOutputs:
        """Run the head and flatten every level to (B, N, ...) in ``LocationGrid`` order."""
        outputs: list[LevelOutputs] = self.head(levels, kernels)
        return QueryOutputs(
            cls_logits=torch.cat([o.cls_logits.flatten(2) for o in outputs], dim=2).transpose(1, 2),
            box_ltrb=torch.cat([o.box_ltrb.flatten(2) for o in outputs], dim=2).transpose(1, 2),
            centerness_logits=torch.cat([o.centerness_logits.flatten(1) for o in outputs], dim=1),
        )

    def locations(self, features: Features) -> Tensor:
        device, dtype = features.levels[0].device, features.levels[0].dtype
        return torch.cat(
            [
                level_locations(level.shape[-2], level.shape[-1], stride, device, dtype)
                for level, stride in zip(features.levels, self.config.strides, strict=True)
            ]
        )

    @torch.no_grad()
    def detect(
        self,
        features: Features,
        template: Template,
        score_threshold: float = 0.05,
        nms_iou: float = 0.5,
        max_candidates: int = 10,
        pre_nms_top_k: int = 200,
        embed: bool = True,
    ) -> Candidates:
        """Candidates of the (first) template's target in the (first) image of ``features``.

        Ranked by score * centerness. The best location is always kept, even below
        ``score_threshold``, so the tracker always has a best guess. ``embed=False`` leaves
        the ReID embeddings to the caller (who may embed more boxes in the same call).
        """
        features = features.images(0, 1)
        levels = features.levels
        outputs = self.flat_outputs(
            levels, template.kernels.index(torch.tensor([0], device=levels[0].device))
        )
        scores = outputs.cls_logits[0, :, 1].sigmoid()
        centerness = outputs.centerness_logits[0].sigmoid()
        rank = scores * centerness
        top = rank.topk(min(pre_nms_top_k, rank.numel())).indices
        top = torch.cat([top[:1], top[1:][scores[top[1:]] >= score_threshold]])
        boxes = distances_to_boxes(self.locations(features)[top], outputs.box_ltrb[0, top])
        height, width = features.image_hw
        boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
        keep = batched_nms(boxes, rank[top], None, nms_iou)
        keep = keep[rank[top][keep].argsort(descending=True)][:max_candidates]
        top, boxes = top[keep], boxes[keep]
        return Candidates(
            boxes=boxes,
            scores=scores[top],
            centerness=centerness[top],
            embeddings=self.embed_boxes(features, boxes) if embed else None,
        )

    # ----------------------------------------------------------------- 4. training
    def forward(self, batch: TrainBatch) -> dict[str, Tensor]:
        """Losses of a batch of pairs; ``loss`` is the weighted total."""
        config = self.config
        num_pairs = batch.num_pairs
        both = self.extract(torch.cat([batch.template_images, batch.search_images]))
        template_features, search_features = both.images(0, num_pairs), both.images(num_pairs, 2 * num_pairs)
        device = batch.template_images.device

        # every instance with a valid template box is a query (at most max_queries_per_pair)
        query_pair, query_instance = [], []
        for pair, boxes in enumerate(batch.template_boxes):
            instances = valid_boxes(boxes).nonzero().flatten()[: config.max_queries_per_pair]
            query_pair += [pair] * len(instances)
            query_instance += instances.tolist()
        pair_index = torch.tensor(query_pair, dtype=torch.long, device=device)
        query_boxes = (
            torch.stack([batch.template_boxes[p][k] for p, k in zip(query_pair, query_instance, strict=True)])
            if query_pair
            else torch.zeros(0, 4, device=device)
        )

        losses = self.query_losses(
            template_features, search_features, batch, pair_index, query_instance, query_boxes
        )
        losses["loss_reid"] = self.reid_loss(template_features, search_features, batch)
        losses["loss"] = (
            config.loss_weight_cls * losses["loss_cls"]
            + config.loss_weight_box * losses["loss_box"]
            + config.loss_weight_centerness * losses["loss_centerness"]
            + config.loss_weight_reid * losses["loss_reid"]
        )
        return losses

    def query_losses(
        self,
        template_features: Features,
        search_features: Features,
        batch: TrainBatch,
        pair_index: Tensor,
        query_instance: list[int],
        query_boxes: Tensor,
    ) -> dict[str, Tensor]:
        config = self.config
        if not query_instance:
            zero = sum(level.sum() for level in search_features.levels) * 0.0
            return {"loss_cls": zero, "loss_box": zero, "loss_centerness": zero}
        kernels, _ = self.make_kernels(
            template_features, query_boxes.to(template_features.levels[0].dtype), pair_index
        )
        outputs = self.flat_outputs([level[pair_index] for level in search_features.levels], kernels)

        grid = LocationGrid.build(
            [level.shape[-2:] for level in search_features.levels],
            config.strides,
            config.regress_ranges,
            pair_index.device,
            outputs.box_ltrb.dtype,
        )
        assignments = [
            assign_locations(grid, boxes, config.center_sampling_radius) for boxes in batch.search_boxes
        ]
        labels = torch.stack(
            [
                query_labels(assignments[p].instance, k)
                for p, k in zip(pair_index.tolist(), query_instance, strict=True)
            ]
        )
        box_targets = torch.stack([assignments[p].box_targets for p in pair_index.tolist()])
        return detection_losses(outputs, labels, box_targets, config.focal_alpha, config.focal_gamma)

    def reid_loss(self, template_features: Features, search_features: Features, batch: TrainBatch) -> Tensor:
        """The ReID loss (``config.reid_loss``) over every instance with an identity, in both
        images of each pair."""
        sides = []
        for features, all_boxes in (
            (template_features, batch.template_boxes),
            (search_features, batch.search_boxes),
        ):
            embeddings, keys = [], []
            for pair, (boxes, ids) in enumerate(zip(all_boxes, batch.identities, strict=True)):
                keep = valid_boxes(boxes) & (ids >= 0)
                if keep.any():
                    index = torch.full((int(keep.sum()),), pair, device=boxes.device)
                    embeddings.append(self.embed_boxes(features, boxes[keep], index))
                    keys.append(torch.stack([index.long(), ids[keep].long()], dim=1))
            embeddings_or_empty = (
                torch.cat(embeddings) if embeddings else features.reid.new_zeros(0, self.config.reid_dim)
            )
            keys_or_empty = torch.cat(keys) if keys else torch.zeros(0, 2, dtype=torch.long)
            sides.append((embeddings_or_empty, keys_or_empty))
        (template_embeddings, template_keys), (search_embeddings, search_keys) = sides
        # keep the ReID head in the graph even when no instance has an identity
        connected = search_features.reid.sum() * 0.0
        if self.id_classifier is None:
            return connected + cross_frame_contrastive_loss(
                template_embeddings,
                template_keys.to(template_embeddings.device),
                search_embeddings,
                search_keys.to(search_embeddings.device),
                self.config.reid_temperature,
            )
        return connected + self.id_classifier.loss(
            torch.cat([template_embeddings, search_embeddings]),
            torch.cat([template_keys[:, 1], search_keys[:, 1]]).to(template_embeddings.device),
        )

"""Backbone registry: ``build_backbone(config)`` -> a module returning ``[C3, C4, C5]``.

Every backbone exposes ``out_channels`` and ``strides`` (8, 16, 32). Each one is imported
only when asked for, so the lite model never imports the deformable DLA code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import nn

if TYPE_CHECKING:
    from dmtrack_core.model.config import ModelConfig

BACKBONES = ("efficientnet_lite0", "dla34")


def build_backbone(config: ModelConfig) -> nn.Module:
    """The backbone named by ``config.backbone``."""
    if config.backbone == "efficientnet_lite0":
        from dmtrack_core.model.backbones.efficientnet_lite import EfficientNetLite0Backbone

        return EfficientNetLite0Backbone(
            pretrained=config.pretrained_backbone, frozen_stages=config.frozen_backbone_stages
        )
    if config.backbone == "dla34":
        # the release's DLA weights come with the full DMTrack-GS checkpoint (model/checkpoint.py)
        from dmtrack_core.model.backbones.dla import DLA34Backbone

        return DLA34Backbone()
    raise ValueError(f"unknown backbone {config.backbone!r}; known: {list(BACKBONES)}")

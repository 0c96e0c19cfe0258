"""The DMTrack network: ``build_model("dmtrack_lite")`` or ``build_model("dmtrack_gs_dla34")``."""

from __future__ import annotations

import torch

from dmtrack_core.model.batch import TrainBatch
from dmtrack_core.model.config import ModelConfig, get_model_config
from dmtrack_core.model.dmtrack import Candidates, DMTrack, Features
from dmtrack_core.model.template import DynamicKernels, Template

__all__ = [
    "Candidates",
    "DMTrack",
    "DynamicKernels",
    "Features",
    "ModelConfig",
    "Template",
    "TrainBatch",
    "build_model",
    "get_model_config",
    "parameter_counts",
]


def build_model(
    config: ModelConfig | str,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> DMTrack:
    """A freshly initialised DMTrack (backbone ImageNet weights if ``pretrained_backbone``)."""
    if isinstance(config, str):
        config = get_model_config(config)
    return DMTrack(config).to(device=device, dtype=dtype)


def parameter_counts(model: DMTrack) -> dict[str, int]:
    """Parameters per top-level part, plus ``network`` (everything the tracker uses or loads:
    all parts except the training-only ``id_classifier``) and ``trainable``."""
    counts = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_children()}
    counts["network"] = sum(n for name, n in counts.items() if name != "id_classifier")
    counts["trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts

"""``ModelConfig``: every setting of the DMTrack network, filled from ``dmtrack_core/configs/<name>.yaml``.

The defaults describe the lite model; ``dmtrack_gs_dla34.yaml`` overrides what the original
DMTrack-GS release uses. Sizes are in network pixels (after the letterbox) unless stated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dmtrack_core.config import ConfigError, load_yaml

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class ModelConfig:
    """Architecture, preprocessing and loss settings of one DMTrack model."""

    name: str = "dmtrack_lite"
    # --- backbone ------------------------------------------------------------------
    backbone: str = "efficientnet_lite0"  # "efficientnet_lite0" | "dla34"
    pretrained_backbone: bool = True  # load the ImageNet weights shipped with the backbone package
    # mmdet convention: -1 nothing frozen, 0 the stem, n the stem and the first n stages
    frozen_backbone_stages: int = 2
    # keep the backbone's BatchNorm statistics frozen (eval mode) while training
    backbone_norm_eval: bool = True
    # --- input -----------------------------------------------------------------------
    input_wh: tuple[int, int] = (384, 288)
    size_divisor: int = 32
    pixel_mean: tuple[float, float, float] = (127.5, 127.5, 127.5)  # 0..255 scale
    pixel_std: tuple[float, float, float] = (127.5, 127.5, 127.5)
    # --- neck and head ------------------------------------------------------------------
    strides: tuple[int, ...] = (8, 16, 32)
    fpn_channels: int = 64
    modulation_channels: int = 32  # width m of the post-encoder dynamic m x m conv
    num_tower_convs: int = 2
    gn_groups: int = 16
    num_cls_channels: int = 2  # channel 1 = the query target, channel 0 = other instances
    # False: box distances = ReLU(scale_l * x) in pixels (the original); True: also times stride,
    # which starts training at a sensible box size (FCOS "norm_on_bbox")
    box_distances_in_strides: bool = True
    # --- template branch and controller --------------------------------------------------
    template_level_thresholds: tuple[float, float] = (63.0, 126.0)  # on sqrt(w*h)
    template_roi_size: int = 7
    roi_sampling_ratio: int = 2
    # --- ReID ----------------------------------------------------------------------------
    reid_dim: int = 128
    reid_hidden_channels: int = 32  # 0: the ReID head is a single 1x1 conv
    reid_roi_size: int = 3
    reid_box_shrink: float = 0.5  # embed the central part of a box (less background)
    num_identities: int = 4096  # ID classifier classes; identity ids are folded modulo this
    # "classification" (the original: needs long schedules on tracking datasets) or
    # "contrastive" (cross-frame InfoNCE, see dmtrack_core.model.reid; no ID classifier)
    reid_loss: str = "classification"
    reid_temperature: float = 0.1  # contrastive only: softmax temperature of cosine similarities
    # --- targets and losses ----------------------------------------------------------------
    regress_ranges: tuple[tuple[float, float], ...] = ((-1.0, 36.0), (36.0, 72.0), (72.0, 1e8))
    center_sampling_radius: float = 1.5
    max_queries_per_pair: int = 8
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    cls_prior: float = 0.01
    loss_weight_cls: float = 1.0
    loss_weight_box: float = 1.0
    loss_weight_centerness: float = 1.0
    loss_weight_reid: float = 1.0

    def __post_init__(self) -> None:
        levels = len(self.strides)
        if len(self.regress_ranges) != levels:
            raise ConfigError(f"{self.name}: {levels} strides but {len(self.regress_ranges)} regress ranges")
        if len(self.template_level_thresholds) != levels - 1:
            raise ConfigError(f"{self.name}: template_level_thresholds needs {levels - 1} values")
        if self.fpn_channels % self.gn_groups:
            raise ConfigError(f"{self.name}: fpn_channels must be divisible by gn_groups")
        if any(v % self.size_divisor for v in self.input_wh):
            raise ConfigError(f"{self.name}: input_wh must be multiples of size_divisor")
        if self.reid_loss not in ("classification", "contrastive"):
            raise ConfigError(f"{self.name}: reid_loss must be 'classification' or 'contrastive'")
        if self.num_cls_channels != 2:
            raise ConfigError(f"{self.name}: num_cls_channels must be 2 (other instances, target)")


def available_model_configs() -> list[str]:
    """Names of the model configs shipped in ``dmtrack_core/configs``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("dmtrack_*.yaml") if "train" not in p.stem)


def get_model_config(name: str) -> ModelConfig:
    """Read ``dmtrack_core/configs/<name>.yaml`` (or a path to a YAML file) into a ``ModelConfig``."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = CONFIG_DIR / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"no model config {name!r}; known: {available_model_configs()}")
    return load_yaml(ModelConfig, path)

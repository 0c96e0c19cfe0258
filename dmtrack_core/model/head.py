"""The dynamic FCOS head: template-conditioned 1x1 convs around shared conv towers.

Per pyramid level and branch (cls, reg):
``P_l -> dynamic 1x1 C->C + ReLU -> towers (3x3 conv + GN + ReLU, shared across levels)
-> static 1x1 C->m "downsampler" -> dynamic 1x1 m->m + ReLU -> 3x3 predictor``.
The cls branch predicts 2 logits (channel 1 = the query target, channel 0 = any other
annotated instance); the reg branch predicts the l, t, r, b distances and the centerness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmtrack_core.model.template import DynamicKernels


def dynamic_conv1x1(x: Tensor, kernels: Tensor) -> Tensor:
    """1x1 conv with its own (out, in) kernel per sample: (B, in, H, W), (B, out, in) -> (B, out, H, W)."""
    batch, channels, height, width = x.shape
    return torch.bmm(kernels, x.reshape(batch, channels, height * width)).view(batch, -1, height, width)


class ConvGNReLU(nn.Module):
    """3x3 conv (no bias) + GroupNorm + ReLU: one tower layer."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm = nn.GroupNorm(groups, channels)
        nn.init.normal_(self.conv.weight, std=0.01)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x)))


@dataclass
class LevelOutputs:
    """Head outputs on one level: raw logits and box distances in network pixels."""

    cls_logits: Tensor  # (B, 2, H, W)
    box_ltrb: Tensor  # (B, 4, H, W), >= 0
    centerness_logits: Tensor  # (B, 1, H, W)


class DynamicHead(nn.Module):
    def __init__(
        self,
        channels: int,
        modulation_channels: int,
        num_tower_convs: int,
        gn_groups: int,
        strides: Sequence[int],
        num_cls_channels: int = 2,
        cls_prior: float = 0.01,
        box_distances_in_strides: bool = False,
    ) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.box_distances_in_strides = box_distances_in_strides
        self.cls_tower = nn.ModuleList(ConvGNReLU(channels, gn_groups) for _ in range(num_tower_convs))
        self.reg_tower = nn.ModuleList(ConvGNReLU(channels, gn_groups) for _ in range(num_tower_convs))
        self.cls_downsampler = nn.Conv2d(channels, modulation_channels, 1)
        self.reg_downsampler = nn.Conv2d(channels, modulation_channels, 1)
        self.cls_predictor = nn.Conv2d(modulation_channels, num_cls_channels, 3, padding=1)
        self.box_predictor = nn.Conv2d(modulation_channels, 4, 3, padding=1)
        self.centerness_predictor = nn.Conv2d(modulation_channels, 1, 3, padding=1)
        # one learnable scalar per level multiplies the box output (FCOS "Scale")
        self.level_scales = nn.ParameterList(nn.Parameter(torch.tensor(1.0)) for _ in strides)
        for conv in (self.cls_predictor, self.box_predictor, self.centerness_predictor):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.cls_predictor.bias, -math.log((1 - cls_prior) / cls_prior))
        # boxes start with a non-zero size so the ReLU and the IoU loss have gradients everywhere
        nn.init.constant_(self.box_predictor.bias, 1.0)

    def forward_level(self, features: Tensor, kernels: DynamicKernels, level: int) -> LevelOutputs:
        """``features`` (B, C, H, W) of level ``level``; ``kernels`` with B rows."""
        cls = F.relu(dynamic_conv1x1(features, kernels.cls_pre[:, level]))
        reg = F.relu(dynamic_conv1x1(features, kernels.reg_pre[:, level]))
        for layer in self.cls_tower:
            cls = layer(cls)
        for layer in self.reg_tower:
            reg = layer(reg)
        cls = F.relu(dynamic_conv1x1(self.cls_downsampler(cls), kernels.cls_post[:, level]))
        reg = F.relu(dynamic_conv1x1(self.reg_downsampler(reg), kernels.reg_post[:, level]))
        box = F.relu(self.level_scales[level] * self.box_predictor(reg))
        if self.box_distances_in_strides:
            box = box * self.strides[level]
        return LevelOutputs(self.cls_predictor(cls), box, self.centerness_predictor(reg))

    def forward(self, levels: Sequence[Tensor], kernels: DynamicKernels) -> list[LevelOutputs]:
        return [self.forward_level(features, kernels, level) for level, features in enumerate(levels)]


def level_locations(
    height: int, width: int, stride: int, device: torch.device, dtype: torch.dtype = torch.float32
) -> Tensor:
    """(H*W, 2) x, y network-pixel centres of a level's cells (i * stride + stride // 2), row-major."""
    xs = torch.arange(width, device=device, dtype=dtype) * stride + stride // 2
    ys = torch.arange(height, device=device, dtype=dtype) * stride + stride // 2
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)


def distances_to_boxes(points: Tensor, ltrb: Tensor) -> Tensor:
    """(N, 2) points and (N, 4) l, t, r, b distances -> (N, 4) x1, y1, x2, y2."""
    return torch.cat([points - ltrb[:, :2], points + ltrb[:, 2:]], dim=1)

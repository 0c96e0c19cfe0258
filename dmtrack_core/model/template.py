"""Template branch and controller: from the target's box to the dynamic kernels of the head.

The target box is RoI-aligned (7x7) from ONE pyramid level chosen by its size, then one
1x1 "modulator" per level turns it into that level's template. The controller turns each
level's template into four dynamic kernels: the pre-tower 1x1 C->C convs (cls, reg) and the
post-encoder 1x1 m->m convs (cls, reg).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dmtrack_core.ops import roi_align


@dataclass
class DynamicKernels:
    """Generated 1x1 conv weights, laid out (out, in) like ``nn.Conv2d.weight[..., 0, 0]``."""

    cls_pre: Tensor  # (B, L, C, C)
    reg_pre: Tensor  # (B, L, C, C)
    cls_post: Tensor  # (B, L, m, m)
    reg_post: Tensor  # (B, L, m, m)

    def index(self, rows: Tensor) -> DynamicKernels:
        """The kernels of the templates ``rows`` (e.g. to repeat one template per query)."""
        return DynamicKernels(
            self.cls_pre[rows], self.reg_pre[rows], self.cls_post[rows], self.reg_post[rows]
        )


@dataclass
class Template:
    """What the tracker keeps of the target after the first frame."""

    kernels: DynamicKernels
    level: Tensor  # (B,) long, the pyramid level the box was pooled from
    embedding: Tensor  # (B, reid_dim) L2-normalised ReID embedding of the box
    boxes: Tensor  # (B, 4) x1, y1, x2, y2 network pixels


def select_template_level(boxes_xyxy: Tensor, thresholds: Sequence[float]) -> Tensor:
    """Level index per box from s = sqrt(w*h): s < t0 -> 0, t0 <= s < t1 -> 1, ... (long)."""
    wh = (boxes_xyxy[:, 2:] - boxes_xyxy[:, :2]).clamp(min=0)
    size = (wh[:, 0] * wh[:, 1]).sqrt()
    bounds = torch.as_tensor(thresholds, dtype=size.dtype, device=size.device)
    return torch.bucketize(size, bounds, right=True)


class TemplateBranch(nn.Module):
    """RoIAlign of the target on its level, then one 1x1 conv per level (``modulators``)."""

    def __init__(
        self,
        channels: int,
        strides: Sequence[int],
        level_thresholds: Sequence[float],
        roi_size: int = 7,
        sampling_ratio: int = 2,
    ) -> None:
        super().__init__()
        self.strides = tuple(strides)
        self.level_thresholds = tuple(level_thresholds)
        self.roi_size = roi_size
        self.sampling_ratio = sampling_ratio
        self.modulators = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in strides)

    def pool(
        self, levels: Sequence[Tensor], boxes_xyxy: Tensor, batch_index: Tensor
    ) -> tuple[Tensor, Tensor]:
        """RoI features (N, C, r, r) of each box on its own level, and that level (N,)."""
        level_of_box = select_template_level(boxes_xyxy, self.level_thresholds)
        pooled = levels[0].new_zeros(boxes_xyxy.shape[0], levels[0].shape[1], self.roi_size, self.roi_size)
        rois = torch.cat([batch_index[:, None].to(boxes_xyxy.dtype), boxes_xyxy], dim=1)
        for level, (features, stride) in enumerate(zip(levels, self.strides, strict=True)):
            rows = (level_of_box == level).nonzero().flatten()
            if rows.numel():
                pooled[rows] = roi_align(
                    features, rois[rows], self.roi_size, 1.0 / stride, self.sampling_ratio, aligned=True
                )
        return pooled, level_of_box

    def forward(
        self, levels: Sequence[Tensor], boxes_xyxy: Tensor, batch_index: Tensor
    ) -> tuple[list[Tensor], Tensor]:
        """One template per level ``[(N, C, r, r)] * L`` and the pooled level (N,)."""
        pooled, level_of_box = self.pool(levels, boxes_xyxy, batch_index)
        return [modulator(pooled) for modulator in self.modulators], level_of_box


class Controller(nn.Module):
    """Generates the dynamic kernels: four 1x1 convs (padding=1) + global average pooling.

    With zero padding of 1 around an h x w template, the border of the conv output is the
    bias alone, so the pooled result is exactly ``(h*w)/((h+2)*(w+2)) * W @ mean(t) + b``.
    ``forward`` computes that directly (one matrix-vector product per kernel) instead of the
    (N, C*C, h+2, w+2) conv output, which for C = 256 would be 65536 x 9 x 9 per template.
    The convs are kept as ``nn.Conv2d(padding=1)`` so their weights match the original and
    ``reference_forward`` can run them literally.
    """

    def __init__(self, channels: int, modulation_channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.modulation_channels = modulation_channels
        self.cls_pre = nn.Conv2d(channels, channels * channels, 1, padding=1)
        self.reg_pre = nn.Conv2d(channels, channels * channels, 1, padding=1)
        self.cls_post = nn.Conv2d(channels, modulation_channels**2, 1, padding=1)
        self.reg_post = nn.Conv2d(channels, modulation_channels**2, 1, padding=1)
        self._init_near_identity()

    def _init_near_identity(self) -> None:
        # Start every dynamic conv close to the identity so the head trains like a plain FCOS
        # head at first; the template-dependent part grows from small weights.
        for conv in self.generators():
            size = int(round(conv.out_channels**0.5))
            nn.init.normal_(conv.weight, std=0.1 / (conv.in_channels * size) ** 0.5)
            with torch.no_grad():
                conv.bias.copy_(torch.eye(size).flatten())

    def generators(self) -> list[nn.Conv2d]:
        return [self.cls_pre, self.reg_pre, self.cls_post, self.reg_post]

    @staticmethod
    def _generate(conv: nn.Conv2d, templates: Tensor) -> Tensor:
        height, width = templates.shape[-2:]
        border_factor = (height * width) / ((height + 2) * (width + 2))
        mean = templates.mean(dim=(2, 3)) * border_factor
        return F.linear(mean, conv.weight.flatten(1), conv.bias)

    def forward(self, templates: Sequence[Tensor]) -> DynamicKernels:
        """``templates``: per level (N, C, h, w) -> kernels (N, L, out, in)."""
        c, m = self.channels, self.modulation_channels
        stacked = torch.stack(list(templates), dim=1)  # (N, L, C, h, w)
        flat = stacked.flatten(0, 1)
        n, levels = stacked.shape[:2]

        def generate(conv: nn.Conv2d, size: int) -> Tensor:
            return self._generate(conv, flat).view(n, levels, size, size)

        return DynamicKernels(
            cls_pre=generate(self.cls_pre, c),
            reg_pre=generate(self.reg_pre, c),
            cls_post=generate(self.cls_post, m),
            reg_post=generate(self.reg_post, m),
        )

    def reference_forward(self, templates: Tensor) -> list[Tensor]:
        """The original's literal computation for (N, C, h, w) templates (tests only: slow)."""
        return [F.adaptive_avg_pool2d(conv(templates), 1).flatten(1) for conv in self.generators()]

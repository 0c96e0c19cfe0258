"""Modulated deformable convolution (DCNv2) in plain torch.

Layout as in mmcv / torchvision: for deformable group ``g`` and kernel tap ``k = i * kw + j``
(row-major), ``offset[:, g * 2K + 2k]`` is the y shift and ``offset[:, g * 2K + 2k + 1]`` the x
shift (``K = kh * kw``); ``mask[:, g * K + k]`` scales that tap. Input channels are split into
``deform_groups`` contiguous blocks that share offsets.

Every tap is sampled bilinearly with zero padding (a corner outside the map contributes 0,
and a point with ``y <= -1``, ``y >= H`` or the same for x gives 0), which fills an im2col
tensor that one matmul turns into the output. Gradients w.r.t. input, offsets, mask, weight
and bias come from autograd.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "ModulatedDeformConv2d",
    "modulated_deform_conv2d",
    "modulated_deform_conv2d_plain",
    "torchvision_deform_conv2d",
]

IntPair = int | tuple[int, int]


def _pair(value: IntPair) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    first, second = value
    return int(first), int(second)


def _tap_positions(
    out_size: int,
    kernel: int,
    stride: int,
    padding: int,
    dilation: int,
    dtype: torch.dtype,
    device: torch.device,
) -> Tensor:
    """(kernel, out_size) undeformed input coordinate of tap ``i`` for output position ``o``."""
    outputs = torch.arange(out_size, dtype=dtype, device=device) * stride - padding
    taps = torch.arange(kernel, dtype=dtype, device=device) * dilation
    return taps[:, None] + outputs[None, :]


def _bilinear_taps(y: Tensor, x: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Flat indices and weights (4, ...) of the four neighbours of each point, zero-padded."""
    y_low, x_low = y.floor(), x.floor()
    frac_y, frac_x = y - y_low, x - x_low
    # Points on or beyond the (-1, size) band give 0 and no gradient, like the CUDA kernels.
    inside = ((y > -1) & (y < height) & (x > -1) & (x < width)).to(y.dtype)
    indices, weights = [], []
    for dy, weight_y in ((0, 1.0 - frac_y), (1, frac_y)):
        row = y_low + dy
        row_valid = (row >= 0) & (row <= height - 1)
        for dx, weight_x in ((0, 1.0 - frac_x), (1, frac_x)):
            col = x_low + dx
            valid = (row_valid & (col >= 0) & (col <= width - 1)).to(y.dtype)
            flat = row.clamp(0, height - 1) * width + col.clamp(0, width - 1)
            indices.append(flat.long())
            weights.append(weight_y * weight_x * valid * inside)
    return torch.stack(indices), torch.stack(weights)


def modulated_deform_conv2d_plain(
    input: Tensor,
    offset: Tensor,
    mask: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    deform_groups: int = 1,
) -> Tensor:
    """DCNv2 without torchvision; see ``modulated_deform_conv2d`` for the arguments."""
    batch, channels, height, width = input.shape
    out_channels, group_channels, kernel_h, kernel_w = weight.shape
    stride_h, stride_w = _pair(stride)
    pad_h, pad_w = _pair(padding)
    dil_h, dil_w = _pair(dilation)
    if channels != group_channels * groups or out_channels % groups:
        raise ValueError(
            f"weight {tuple(weight.shape)} does not fit {channels} input channels in {groups} groups"
        )
    if channels % deform_groups:
        raise ValueError(f"{channels} input channels do not split into {deform_groups} deform groups")
    out_h = (height + 2 * pad_h - dil_h * (kernel_h - 1) - 1) // stride_h + 1
    out_w = (width + 2 * pad_w - dil_w * (kernel_w - 1) - 1) // stride_w + 1
    taps = kernel_h * kernel_w
    if offset.shape != (batch, 2 * taps * deform_groups, out_h, out_w):
        raise ValueError(
            f"offset must be {(batch, 2 * taps * deform_groups, out_h, out_w)}, got {tuple(offset.shape)}"
        )
    if mask.shape != (batch, taps * deform_groups, out_h, out_w):
        raise ValueError(
            f"mask must be {(batch, taps * deform_groups, out_h, out_w)}, got {tuple(mask.shape)}"
        )

    coord_dtype = torch.float64 if input.dtype == torch.float64 else torch.float32
    base_y = _tap_positions(out_h, kernel_h, stride_h, pad_h, dil_h, coord_dtype, input.device)
    base_x = _tap_positions(out_w, kernel_w, stride_w, pad_w, dil_w, coord_dtype, input.device)
    # Tap k = i * kw + j sits at (base_y[i, oy], base_x[j, ox]) before deformation.
    base_y = base_y[:, None, :, None].expand(kernel_h, kernel_w, out_h, 1).reshape(taps, out_h, 1)
    base_x = base_x[None, :, None, :].expand(kernel_h, kernel_w, 1, out_w).reshape(taps, 1, out_w)
    shifts = offset.to(coord_dtype).view(batch, deform_groups, taps, 2, out_h, out_w)
    y = base_y + shifts[:, :, :, 0]
    x = base_x + shifts[:, :, :, 1]  # (B, dg, K, oh, ow)

    index, corner_weight = _bilinear_taps(y, x, height, width)
    samples = taps * out_h * out_w
    modulation = mask.to(coord_dtype).view(batch, deform_groups, taps, out_h, out_w)
    corner_weight = (corner_weight * modulation).to(input.dtype).view(4, batch, deform_groups, 1, samples)
    index = index.view(4, batch, deform_groups, 1, samples)
    channels_per_offset = channels // deform_groups
    grouped_input = input.reshape(batch, deform_groups, channels_per_offset, height * width)
    # One corner at a time keeps the peak memory at one im2col tensor, not four.
    columns = input.new_zeros((batch, deform_groups, channels_per_offset, samples))
    for corner in range(4):
        gathered = torch.gather(grouped_input, 3, index[corner].expand(-1, -1, channels_per_offset, -1))
        columns = torch.addcmul(columns, gathered, corner_weight[corner])

    # im2col layout (B, groups, C/groups * K, L) matches weight.view(groups, O/groups, C/groups * K).
    columns = columns.reshape(batch, groups, group_channels * taps, out_h * out_w)
    kernel = weight.reshape(groups, out_channels // groups, group_channels * taps)
    output = torch.matmul(kernel, columns).reshape(batch, out_channels, out_h, out_w)
    if bias is not None:
        output = output + bias.view(1, -1, 1, 1)
    return output


def _self_check_inputs(device: str) -> dict[str, Tensor]:
    generator = torch.Generator().manual_seed(0)

    def rand(*shape: int) -> Tensor:
        return torch.rand(shape, generator=generator).to(device)

    return {
        "input": rand(1, 4, 6, 7),
        "offset": (rand(1, 2 * 9 * 2, 6, 7) - 0.5) * 4.0,
        "mask": rand(1, 9 * 2, 6, 7),
        "weight": rand(3, 4, 3, 3) - 0.5,
        "bias": rand(3),
    }


@functools.cache
def torchvision_deform_conv2d(device_type: str) -> Callable[..., Tensor] | None:
    """``torchvision.ops.deform_conv2d`` if it imports and matches the plain version on ``device_type``."""
    try:
        tv_ops = importlib.import_module("torchvision.ops")
        args = _self_check_inputs(device_type)
        expected = modulated_deform_conv2d_plain(**args, padding=1, deform_groups=2)
        actual = tv_ops.deform_conv2d(
            args["input"], args["offset"], args["weight"], args["bias"], padding=(1, 1), mask=args["mask"]
        )
        if not torch.allclose(actual, expected, rtol=0.0, atol=1e-5):
            return None
    except Exception:  # any failure (missing, broken build, no kernel) means "plain"
        return None
    return tv_ops.deform_conv2d


def modulated_deform_conv2d(
    input: Tensor,
    offset: Tensor,
    mask: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    deform_groups: int = 1,
) -> Tensor:
    """Modulated deformable conv (DCNv2).

    Args:
        input: (B, C, H, W).
        offset: (B, 2 * kh * kw * deform_groups, oh, ow), (dy, dx) per tap, row-major taps.
        mask: (B, kh * kw * deform_groups, oh, ow), already in [0, 1] (sigmoid applied by the caller).
        weight: (O, C / groups, kh, kw); bias: (O,) or None.

    Returns:
        (B, O, oh, ow).
    """
    accelerated = torchvision_deform_conv2d(input.device.type)
    if accelerated is not None:
        # torchvision infers both group counts from the shapes of weight and offset.
        return accelerated(
            input, offset, weight, bias, _pair(stride), _pair(padding), _pair(dilation), mask=mask
        )
    return modulated_deform_conv2d_plain(
        input, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups
    )


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 layer that predicts its own offsets and mask (mmcv ``ModulatedDeformConv2dPack``).

    ``conv_offset`` outputs ``3 * kh * kw * deform_groups`` channels: the first two thirds are
    the offsets, the last third the mask logits (sigmoid applied here). It starts at zero, so
    a fresh layer samples the regular grid with mask 0.5, i.e. half a plain conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair = 3,
        stride: IntPair = 1,
        padding: IntPair = 1,
        dilation: IntPair = 1,
        deform_groups: int = 1,
        bias: bool = True,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride)
        self.padding = _pair(padding)
        self.dilation = _pair(dilation)
        self.groups = groups
        self.deform_groups = deform_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, *self.kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.conv_offset = nn.Conv2d(
            in_channels,
            3 * taps * deform_groups,
            self.kernel_size,
            stride=self.stride,
            padding=self.padding,
            dilation=self.dilation,
            bias=True,
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """mmcv's initialisation: uniform weight by fan-in, zero bias, zero offset/mask predictor."""
        fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: Tensor) -> Tensor:
        predicted = self.conv_offset(x)
        offset_channels = 2 * self.kernel_size[0] * self.kernel_size[1] * self.deform_groups
        offset, mask_logits = predicted[:, :offset_channels], predicted[:, offset_channels:]
        return modulated_deform_conv2d(
            x,
            offset,
            mask_logits.sigmoid(),
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            self.deform_groups,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}, "
            f"deform_groups={self.deform_groups}, bias={self.bias is not None}"
        )

"""Modulated deformable conv against F.conv2d, hand-made shifts and a per-pixel, per-tap loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dmtrack_core.ops import ModulatedDeformConv2d, modulated_deform_conv2d, modulated_deform_conv2d_plain


def _bilinear_zero_padded(feature_map: np.ndarray, y: float, x: float) -> np.ndarray:
    """Value of (C, H, W) at (y, x); corners outside the map count as zero."""
    _, height, width = feature_map.shape
    value = np.zeros(feature_map.shape[0])
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return value
    y_low, x_low = math.floor(y), math.floor(x)
    for row, weight_y in ((y_low, 1.0 - (y - y_low)), (y_low + 1, y - y_low)):
        for col, weight_x in ((x_low, 1.0 - (x - x_low)), (x_low + 1, x - x_low)):
            if 0 <= row < height and 0 <= col < width:
                value += weight_y * weight_x * feature_map[:, row, col]
    return value


def reference_deform_conv(
    inputs: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    groups: int,
    deform_groups: int,
) -> torch.Tensor:
    x = inputs.detach().double().numpy()
    off = offset.detach().double().numpy()
    modulation = mask.detach().double().numpy()
    kernel = weight.detach().double().numpy()
    batch, channels = x.shape[:2]
    out_channels, group_channels, kernel_h, kernel_w = kernel.shape
    out_h, out_w = off.shape[2:]
    taps = kernel_h * kernel_w
    per_deform_group = channels // deform_groups
    per_out_group = out_channels // groups
    output = np.zeros((batch, out_channels, out_h, out_w))
    for b in range(batch):
        for oy in range(out_h):
            for ox in range(out_w):
                # Modulated samples of every input channel at every tap: (C, K).
                columns = np.zeros((channels, taps))
                for g in range(deform_groups):
                    channel_block = slice(g * per_deform_group, (g + 1) * per_deform_group)
                    for i in range(kernel_h):
                        for j in range(kernel_w):
                            k = i * kernel_w + j
                            dy = off[b, g * 2 * taps + 2 * k, oy, ox]
                            dx = off[b, g * 2 * taps + 2 * k + 1, oy, ox]
                            y = oy * stride[0] - padding[0] + i * dilation[0] + dy
                            xx = ox * stride[1] - padding[1] + j * dilation[1] + dx
                            sample = _bilinear_zero_padded(x[b, channel_block], y, xx)
                            columns[channel_block, k] = sample * modulation[b, g * taps + k, oy, ox]
                for o in range(out_channels):
                    group = o // per_out_group
                    block = columns[group * group_channels : (group + 1) * group_channels]
                    output[b, o, oy, ox] = np.sum(block * kernel[o].reshape(group_channels, taps))
                    if bias is not None:
                        output[b, o, oy, ox] += float(bias[o])
    return torch.from_numpy(output)


def _output_hw(size: tuple[int, int], kernel: tuple[int, int], stride, padding, dilation) -> tuple[int, int]:
    return tuple(
        (size[d] + 2 * padding[d] - dilation[d] * (kernel[d] - 1) - 1) // stride[d] + 1 for d in range(2)
    )


CONV_CASES = [
    # stride, padding, dilation, groups, deform_groups, kernel
    ((1, 1), (1, 1), (1, 1), 1, 1, (3, 3)),
    ((2, 2), (1, 1), (1, 1), 1, 2, (3, 3)),
    ((1, 1), (2, 2), (2, 2), 2, 1, (3, 3)),
    ((2, 1), (0, 1), (1, 2), 2, 2, (2, 3)),
    ((1, 1), (0, 0), (1, 1), 1, 4, (1, 1)),
]


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "deform_groups", "kernel"), CONV_CASES)
def test_zero_offsets_unit_mask_is_conv2d(stride, padding, dilation, groups, deform_groups, kernel) -> None:
    torch.manual_seed(0)
    inputs = torch.randn(2, 4, 7, 8)
    weight = torch.randn(6, 4 // groups, *kernel)
    bias = torch.randn(6)
    out_h, out_w = _output_hw((7, 8), kernel, stride, padding, dilation)
    taps = kernel[0] * kernel[1]
    offset = torch.zeros(2, 2 * taps * deform_groups, out_h, out_w)
    mask = torch.ones(2, taps * deform_groups, out_h, out_w)
    actual = modulated_deform_conv2d(
        inputs, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups
    )
    expected = F.conv2d(inputs, weight, bias, stride, padding, dilation, groups)
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=1e-4)


@pytest.mark.parametrize(("stride", "padding", "dilation", "groups", "deform_groups", "kernel"), CONV_CASES)
def test_random_offsets_match_loop_reference_float64(
    stride, padding, dilation, groups, deform_groups, kernel
) -> None:
    torch.manual_seed(1)
    inputs = torch.randn(1, 4, 6, 7, dtype=torch.float64)
    weight = torch.randn(4, 4 // groups, *kernel, dtype=torch.float64)
    bias = torch.randn(4, dtype=torch.float64)
    out_h, out_w = _output_hw((6, 7), kernel, stride, padding, dilation)
    taps = kernel[0] * kernel[1]
    # Shifts of up to 3.5 pixels push many samples across and beyond the borders.
    offset = (torch.rand(1, 2 * taps * deform_groups, out_h, out_w, dtype=torch.float64) - 0.5) * 7.0
    mask = torch.rand(1, taps * deform_groups, out_h, out_w, dtype=torch.float64)
    args = (inputs, offset, mask, weight, bias, stride, padding, dilation, groups, deform_groups)
    expected = reference_deform_conv(*args)
    actual = modulated_deform_conv2d(*args)
    assert actual.dtype == torch.float64
    torch.testing.assert_close(actual, expected, rtol=0.0, atol=1e-5)


def test_random_offsets_match_loop_reference_float32() -> None:
    torch.manual_seed(2)
    inputs = torch.randn(2, 4, 6, 5)
    weight = torch.randn(3, 4, 3, 3)
    offset = (torch.rand(2, 36, 6, 5) - 0.5) * 6.0
    mask = torch.rand(2, 18, 6, 5)
    args = (inputs, offset, mask, weight, None, (1, 1), (1, 1), (1, 1), 1, 2)
    actual = modulated_deform_conv2d(*args)
    assert actual.dtype == torch.float32
    torch.testing.assert_close(actual.double(), reference_deform_conv(*args), rtol=0.0, atol=1e-4)


def _shift_conv(inputs: torch.Tensor, weight: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """3x3 conv with padding 1 whose taps all read (y + dy, x + dx): zero beyond the borders."""
    height, width = inputs.shape[-2:]
    pad = 1 + max(abs(dy), abs(dx))
    padded = F.pad(inputs, (pad, pad, pad, pad))
    window = padded[..., pad - 1 + dy : pad + 1 + dy + height, pad - 1 + dx : pad + 1 + dx + width]
    return F.conv2d(window, weight)


@pytest.mark.parametrize(("dy", "dx"), [(0, 1), (1, 0), (-1, 2)])
def test_offset_channels_are_dy_then_dx_per_tap(dy: int, dx: int) -> None:
    # Independent of the loop reference: an integer shift of every tap is a shifted plain conv.
    torch.manual_seed(3)
    inputs = torch.randn(1, 3, 5, 6)
    weight = torch.randn(2, 3, 3, 3)
    offset = torch.zeros(1, 18, 5, 6)
    offset[:, 0::2] = dy
    offset[:, 1::2] = dx
    actual = modulated_deform_conv2d(inputs, offset, torch.ones(1, 9, 5, 6), weight, None, 1, 1)
    torch.testing.assert_close(actual, _shift_conv(inputs, weight, dy, dx), rtol=0.0, atol=1e-5)


def test_offset_of_one_tap_moves_only_that_tap() -> None:
    # Tap k = 5 is row 1, column 2 (row-major): only its weight sees the shifted input.
    torch.manual_seed(4)
    inputs = torch.randn(1, 2, 5, 5)
    weight = torch.zeros(1, 2, 3, 3)
    weight[0, :, 1, 2] = torch.tensor([1.0, -2.0])
    offset = torch.zeros(1, 18, 5, 5)
    offset[:, 2 * 5] = 1.0  # dy of tap 5
    actual = modulated_deform_conv2d(inputs, offset, torch.ones(1, 9, 5, 5), weight, None, 1, 1)
    torch.testing.assert_close(actual, _shift_conv(inputs, weight, 1, 0), rtol=0.0, atol=1e-5)


def test_module_state_dict_and_zero_init() -> None:
    torch.manual_seed(5)
    layer = ModulatedDeformConv2d(4, 6)
    assert list(layer.state_dict()) == ["weight", "bias", "conv_offset.weight", "conv_offset.bias"]
    assert layer.conv_offset.out_channels == 27
    assert torch.count_nonzero(layer.conv_offset.weight) == 0
    inputs = torch.randn(2, 4, 5, 7)
    # Zero offsets and mask sigmoid(0) = 0.5: half of the plain conv's response, plus bias.
    with torch.no_grad():
        layer.bias.normal_()
        expected = 0.5 * F.conv2d(inputs, layer.weight, padding=1) + layer.bias.view(1, -1, 1, 1)
        torch.testing.assert_close(layer(inputs), expected, rtol=0.0, atol=1e-5)


def test_module_splits_offsets_first_then_mask_logits() -> None:
    torch.manual_seed(6)
    layer = ModulatedDeformConv2d(3, 2, bias=False)
    assert layer.bias is None
    with torch.no_grad():
        layer.conv_offset.bias[1:18:2] = 1.0  # dx of every tap
        layer.conv_offset.bias[18:] = 30.0  # mask logits -> sigmoid ~ 1
    inputs = torch.randn(1, 3, 5, 6)
    with torch.no_grad():
        torch.testing.assert_close(
            layer(inputs), _shift_conv(inputs, layer.weight, 0, 1), rtol=0.0, atol=1e-5
        )


def test_deform_groups_module_channels() -> None:
    layer = ModulatedDeformConv2d(4, 4, kernel_size=3, deform_groups=2)
    assert layer.conv_offset.out_channels == 54
    assert layer(torch.randn(1, 4, 6, 6)).shape == (1, 4, 6, 6)


def test_gradcheck_all_inputs() -> None:
    torch.manual_seed(7)
    inputs = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    # Non-integer offsets keep finite differences away from the kinks at pixel boundaries.
    offset = ((torch.rand(1, 36, 4, 5, dtype=torch.float64) - 0.5) * 3.0 + 0.25).requires_grad_()
    mask = torch.rand(1, 18, 4, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def convolve(x, o, m, w, b):
        return modulated_deform_conv2d_plain(x, o, m, w, b, 1, 1, 1, 1, 2)

    # fast_mode checks random projections of the Jacobians: the full one is ~1000 columns wide.
    assert torch.autograd.gradcheck(
        convolve, (inputs, offset, mask, weight, bias), eps=1e-6, atol=1e-5, fast_mode=True
    )
    # The full Jacobians on a one-channel 2x2 map.
    tiny = (
        torch.randn(1, 1, 2, 2, dtype=torch.float64),
        (torch.rand(1, 18, 2, 2, dtype=torch.float64) - 0.5) * 3.0 + 0.25,
        torch.rand(1, 9, 2, 2, dtype=torch.float64),
        torch.randn(1, 1, 3, 3, dtype=torch.float64),
        torch.randn(1, dtype=torch.float64),
    )
    tiny = tuple(t.requires_grad_() for t in tiny)
    assert torch.autograd.gradcheck(
        lambda x, o, m, w, b: modulated_deform_conv2d_plain(x, o, m, w, b, 1, 1), tiny, eps=1e-6, atol=1e-5
    )


def test_gradients_reach_the_offset_predictor_from_zero_init() -> None:
    torch.manual_seed(8)
    layer = ModulatedDeformConv2d(3, 4)
    layer(torch.randn(1, 3, 6, 6)).square().sum().backward()
    assert layer.weight.grad.abs().sum() > 0
    # Offsets and mask logits both get a training signal although they start at zero.
    assert layer.conv_offset.weight.grad[:18].abs().sum() > 0
    assert layer.conv_offset.weight.grad[18:].abs().sum() > 0


def test_float16_runs_and_stays_close() -> None:
    torch.manual_seed(9)
    inputs = torch.randn(1, 4, 6, 6)
    offset = (torch.rand(1, 18, 6, 6) - 0.5) * 3.0
    mask = torch.rand(1, 9, 6, 6)
    weight = torch.randn(2, 4, 3, 3) * 0.2
    full = modulated_deform_conv2d(inputs, offset, mask, weight, None, 1, 1)
    half = modulated_deform_conv2d(inputs.half(), offset.half(), mask.half(), weight.half(), None, 1, 1)
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), full, rtol=0.0, atol=2e-2)


def test_rejects_offsets_of_the_wrong_shape() -> None:
    inputs = torch.randn(1, 2, 5, 5)
    with pytest.raises(ValueError, match="offset"):
        modulated_deform_conv2d(
            inputs, torch.zeros(1, 9, 5, 5), torch.ones(1, 9, 5, 5), torch.randn(2, 2, 3, 3), None, 1, 1
        )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(10)
    args = (
        torch.randn(1, 4, 6, 7),
        (torch.rand(1, 18, 6, 7) - 0.5) * 5.0,
        torch.rand(1, 9, 6, 7),
        torch.randn(3, 4, 3, 3),
        torch.randn(3),
    )
    expected = modulated_deform_conv2d(*args, 1, 1)
    actual = modulated_deform_conv2d(*(a.cuda() for a in args), 1, 1)
    torch.testing.assert_close(actual.cpu(), expected, rtol=0.0, atol=1e-4)

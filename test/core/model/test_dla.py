"""DLA-34 + DLAUp backbone: layout of the original checkpoint, output maps, initialisation."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from dmtrack_core.model.backbones.dla import (
    DeformConvBlock,
    DLA34Backbone,
    bilinear_upsampling_kernel,
)

KEYS_TSV = Path(__file__).parent / "data" / "dmtrack_gs_checkpoint_keys.tsv"


@pytest.fixture(scope="module")
def backbone() -> DLA34Backbone:
    torch.manual_seed(0)
    return DLA34Backbone().eval()


def original_backbone_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in KEYS_TSV.read_text().splitlines():
        name, shape = line.split("\t")
        if name.startswith("backbone."):
            shapes[name.removeprefix("backbone.")] = tuple(ast.literal_eval(shape))
    return shapes


def test_state_dict_matches_original_checkpoint_layout(backbone: DLA34Backbone) -> None:
    ours = {name: tuple(t.shape) for name, t in backbone.state_dict().items()}
    theirs = original_backbone_shapes()
    assert len(theirs) == 331
    assert sorted(set(theirs) - set(ours)) == []
    assert sorted(set(ours) - set(theirs)) == []
    assert {k: v for k, v in ours.items() if v != theirs[k]} == {}


@pytest.fixture(scope="module")
def run_on_small_batch(backbone: DLA34Backbone) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """DLA level outputs and backbone maps of one (2, 3, 32, 64) batch."""
    images = torch.randn(2, 3, 32, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return backbone.base(images), backbone(images)


def test_outputs_have_documented_channels_and_strides(backbone: DLA34Backbone, run_on_small_batch) -> None:
    _, maps = run_on_small_batch
    assert len(maps) == 3
    for feature, channels, stride in zip(maps, backbone.out_channels, backbone.strides, strict=True):
        assert feature.shape == (2, channels, 32 // stride, 64 // stride)
        assert torch.isfinite(feature).all()
    assert backbone.out_channels == (128, 256, 512)
    assert backbone.strides == (8, 16, 32)


def test_stride_32_map_is_dla_level5_unchanged(run_on_small_batch) -> None:
    levels, maps = run_on_small_batch
    torch.testing.assert_close(maps[2], levels[5])
    # the stride-8 and stride-16 maps are fused, not copies of DLA levels
    assert not torch.allclose(maps[1], levels[4]) and not torch.allclose(maps[0], levels[3])


def test_input_not_divisible_by_32_is_rejected(backbone: DLA34Backbone) -> None:
    with pytest.raises(ValueError, match="divisible by 32"):
        backbone(torch.randn(1, 3, 48, 64))


def test_unused_modules_get_no_gradient() -> None:
    torch.manual_seed(1)
    model = DLA34Backbone().eval()  # BatchNorm in train mode cannot take the 1x1 stride-32 map
    maps = model(torch.randn(1, 3, 32, 32))
    sum(m.square().mean() for m in maps).backward()
    grads = {name: p.grad for name, p in model.named_parameters()}
    unused = [n for n in grads if n.startswith(DLA34Backbone.UNUSED_PREFIXES)]
    assert unused, "ida_up and base.fc must exist to load the original checkpoint"
    assert all(grads[n] is None for n in unused)
    assert grads["dla_up.ida_1.node_2.conv.weight"] is not None
    assert grads["base.level5.root.conv.weight"] is not None


def test_bilinear_kernel_values() -> None:
    taps4 = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(bilinear_upsampling_kernel(4), torch.outer(taps4, taps4))
    taps8 = torch.tensor([1, 3, 5, 7, 7, 5, 3, 1]) / 8.0
    torch.testing.assert_close(bilinear_upsampling_kernel(8), torch.outer(taps8, taps8))


def test_upsamplers_start_bilinear_and_depthwise(backbone: DLA34Backbone) -> None:
    ups = {n: m for n, m in backbone.named_modules() if n.rsplit(".", 1)[-1].startswith("up_")}
    assert sorted(ups) == [
        "dla_up.ida_0.up_1",
        "dla_up.ida_1.up_1",
        "dla_up.ida_1.up_2",
        "ida_up.up_1",
        "ida_up.up_2",
    ]
    for up in ups.values():
        factor = up.stride[0]
        assert up.groups == up.in_channels == up.out_channels
        assert up.kernel_size == (2 * factor, 2 * factor)
        assert up.padding == (factor // 2, factor // 2) and up.bias is None
        expected = bilinear_upsampling_kernel(2 * factor).expand_as(up.weight)
        torch.testing.assert_close(up.weight.detach(), expected)


def test_upsampler_interpolates_a_ramp_linearly(backbone: DLA34Backbone) -> None:
    up = backbone.dla_up.ida_0.up_1  # factor 2, 256 channels
    ramp = torch.arange(8, dtype=torch.float32).repeat(8, 1)  # value = column index
    with torch.no_grad():
        out = up(ramp.expand(1, 256, 8, 8).contiguous())
    assert out.shape == (1, 256, 16, 16)
    interior = out[0, 7, 2:-2, 2:-2]
    # Bilinear upsampling by 2 with half-pixel centres: column c maps to (c - 0.5) / 2.
    expected_cols = (torch.arange(16, dtype=torch.float32) - 0.5) / 2
    torch.testing.assert_close(interior, expected_cols[2:-2].expand_as(interior))


def test_deformable_convs_start_with_zero_offsets(backbone: DLA34Backbone) -> None:
    blocks = [m for m in backbone.modules() if isinstance(m, DeformConvBlock)]
    assert len(blocks) == 10  # 2 in ida_0, 4 in ida_1, 4 in the unused ida_up
    for block in blocks:
        assert block.conv.conv_offset.weight.shape[0] == 27
        assert torch.count_nonzero(block.conv.conv_offset.weight) == 0
        assert torch.count_nonzero(block.conv.conv_offset.bias) == 0


def test_fresh_deformable_conv_is_a_half_masked_plain_conv() -> None:
    torch.manual_seed(2)
    block = DeformConvBlock(8, 4)
    x = torch.randn(1, 8, 9, 11)
    with torch.no_grad():
        ours = block.conv(x)
        # Zero offsets sample the regular grid; zero mask logits give mask sigmoid(0) = 0.5.
        plain = F.conv2d(x, block.conv.weight * 0.5, block.conv.bias, padding=1)
    torch.testing.assert_close(ours, plain, atol=1e-5, rtol=1e-4)

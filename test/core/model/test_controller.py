"""The controller's closed form equals the original conv(padding=1) + global average pooling."""

from __future__ import annotations

import pytest
import torch

from dmtrack_core.model.template import Controller, select_template_level


@pytest.mark.parametrize("height,width", [(7, 7), (5, 3)])
def test_generated_kernels_equal_padded_conv_and_average_pool(height: int, width: int) -> None:
    torch.manual_seed(0)
    channels, modulation = 6, 3
    controller = Controller(channels, modulation).double()
    with torch.no_grad():  # arbitrary weights, not the near-identity initialisation
        for conv in controller.generators():
            conv.weight.normal_()
            conv.bias.normal_()
    templates = torch.randn(4, channels, height, width, dtype=torch.float64)
    kernels = controller([templates])  # one level
    reference = controller.reference_forward(templates)
    generated = [kernels.cls_pre, kernels.reg_pre, kernels.cls_post, kernels.reg_post]
    sizes = [channels, channels, modulation, modulation]
    for ours, literal, size in zip(generated, reference, sizes, strict=True):
        assert ours.shape == (4, 1, size, size)
        torch.testing.assert_close(ours.flatten(1), literal, rtol=1e-10, atol=1e-10)


def test_seven_by_seven_factor_is_49_over_81() -> None:
    torch.manual_seed(1)
    controller = Controller(4, 2).double()
    template = torch.randn(1, 4, 7, 7, dtype=torch.float64)
    weight = controller.cls_pre.weight.flatten(1)
    expected = (49 / 81) * weight @ template.mean(dim=(2, 3))[0] + controller.cls_pre.bias
    torch.testing.assert_close(controller([template]).cls_pre.flatten(), expected)


def test_kernels_per_level_and_layout_out_in() -> None:
    torch.manual_seed(2)
    controller = Controller(4, 2)
    level_templates = [torch.randn(2, 4, 7, 7) for _ in range(3)]
    kernels = controller(level_templates)
    assert kernels.cls_pre.shape == (2, 3, 4, 4)
    assert kernels.reg_post.shape == (2, 3, 2, 2)
    # row-major (out, in): the same flat vector the literal conv produces, per level
    literal = controller.reference_forward(level_templates[2])[0]
    torch.testing.assert_close(kernels.cls_pre[:, 2].reshape(2, -1), literal, rtol=1e-5, atol=1e-5)


def test_template_level_follows_box_size() -> None:
    boxes = torch.tensor(
        [
            [0, 0, 50, 50],
            [0, 0, 111, 112],
            [0, 0, 112, 112],
            [0, 0, 223, 223],
            [0, 0, 224, 224],
            [0, 0, 0, 0],
        ],
        dtype=torch.float32,
    )
    assert select_template_level(boxes, (112, 224)).tolist() == [0, 0, 1, 1, 2, 0]

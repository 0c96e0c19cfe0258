"""Choosing torchvision.ops only when it imports and agrees with the plain ops."""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Iterator

import pytest
import torch

from dmtrack_core import ops
from dmtrack_core.ops.deform_conv import torchvision_deform_conv2d
from dmtrack_core.ops.nms import torchvision_batched_nms
from dmtrack_core.ops.roi_align import torchvision_roi_align

CACHED_CHOICES = (torchvision_roi_align, torchvision_deform_conv2d, torchvision_batched_nms)


@pytest.fixture()
def fresh_choice() -> Iterator[None]:
    """Forget the cached backend choice before and after the test."""
    for choice in CACHED_CHOICES:
        choice.cache_clear()
    yield
    for choice in CACHED_CHOICES:
        choice.cache_clear()


def _tv_deform_conv2d(
    input, offset, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), mask=None
):
    """torchvision's signature, which infers both group counts from the tensor shapes."""
    taps = weight.shape[2] * weight.shape[3]
    return ops.modulated_deform_conv2d_plain(
        input,
        offset,
        mask,
        weight,
        bias,
        stride,
        padding,
        dilation,
        input.shape[1] // weight.shape[1],
        offset.shape[1] // (2 * taps),
    )


def _install_stand_in(monkeypatch: pytest.MonkeyPatch, **functions) -> types.ModuleType:
    """A ``torchvision.ops`` stand-in (the real package is not installed in this environment)."""
    package = types.ModuleType("torchvision")
    module = types.ModuleType("torchvision.ops")
    for name, function in functions.items():
        setattr(module, name, function)
    package.ops = module
    monkeypatch.setitem(sys.modules, "torchvision", package)
    monkeypatch.setitem(sys.modules, "torchvision.ops", module)
    return module


AGREEING = {
    "roi_align": lambda features, rois, size, scale, ratio, aligned: ops.roi_align_plain(
        features, rois, size, scale, ratio, aligned
    ),
    "deform_conv2d": _tv_deform_conv2d,
    "batched_nms": lambda boxes, scores, classes, threshold: ops.batched_nms_plain(
        boxes, scores, classes, threshold
    ),
}


def test_plain_without_torchvision(fresh_choice: None) -> None:
    if importlib.util.find_spec("torchvision") is not None:
        assert ops.backend_name() in {"plain", "torchvision"} or ops.backend_name().startswith("mixed(")
    else:
        assert ops.backend_name() == "plain"
        assert ops.backend_name(torch.device("cpu")) == "plain"


def test_agreeing_torchvision_is_used(fresh_choice: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(name: str):
        def call(*args, **kwargs):
            calls.append(name)
            return AGREEING[name](*args, **kwargs)

        return call

    _install_stand_in(monkeypatch, **{name: counted(name) for name in AGREEING})
    assert ops.backend_name() == "torchvision"
    calls.clear()
    features = torch.randn(1, 2, 6, 6)
    ops.roi_align(features, torch.tensor([[0, 1.0, 1.0, 4.0, 5.0]]), 2, 1.0)
    ops.nms(torch.tensor([[0.0, 0.0, 1.0, 1.0]]), torch.tensor([1.0]), 0.5)
    ops.ModulatedDeformConv2d(2, 2)(features)
    assert calls == ["roi_align", "batched_nms", "deform_conv2d"]


def test_disagreeing_op_falls_back_to_plain(fresh_choice: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def misaligned(features, rois, size, scale, ratio, aligned):
        return ops.roi_align_plain(features, rois, size, scale, ratio, not aligned)

    _install_stand_in(monkeypatch, **{**AGREEING, "roi_align": misaligned})
    assert torchvision_roi_align("cpu") is None
    assert ops.backend_name() == "mixed(roi_align=plain, deform_conv=torchvision, nms=torchvision)"


def test_broken_torchvision_falls_back_to_plain(fresh_choice: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("operator torchvision::nms does not exist")

    _install_stand_in(monkeypatch, roi_align=broken, deform_conv2d=broken, batched_nms=broken)
    assert ops.backend_name() == "plain"
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0], [0.0, 0.0, 2.0, 2.1]])
    assert ops.nms(boxes, torch.tensor([0.4, 0.6]), 0.5).tolist() == [1]

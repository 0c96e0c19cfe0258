"""Detection ops in plain torch: RoIAlign, modulated deformable conv (DCNv2) and NMS.

Each op uses ``torchvision.ops`` when it imports and agrees with the plain implementation on
a small self-check (run once per op and device type, then cached); otherwise the plain
version runs. ``backend_name()`` tells which one is in use.

As in torchvision, the functions ``roi_align`` and ``nms`` shadow their submodules' names on
this package; the cached backend checks are imported from the submodules themselves.
"""

from __future__ import annotations

import torch

from dmtrack_core.ops.deform_conv import (
    ModulatedDeformConv2d,
    modulated_deform_conv2d,
    modulated_deform_conv2d_plain,
    torchvision_deform_conv2d,
)
from dmtrack_core.ops.nms import batched_nms, batched_nms_plain, box_iou, nms, torchvision_batched_nms
from dmtrack_core.ops.roi_align import roi_align, roi_align_plain, torchvision_roi_align

__all__ = [
    "ModulatedDeformConv2d",
    "backend_name",
    "batched_nms",
    "batched_nms_plain",
    "box_iou",
    "modulated_deform_conv2d",
    "modulated_deform_conv2d_plain",
    "nms",
    "roi_align",
    "roi_align_plain",
]


def backend_name(device: str | torch.device = "cpu") -> str:
    """``"torchvision"`` or ``"plain"``, or ``"mixed(...)"`` naming each op when they differ."""
    device_type = torch.device(device).type
    choices = {
        "roi_align": torchvision_roi_align(device_type),
        "deform_conv": torchvision_deform_conv2d(device_type),
        "nms": torchvision_batched_nms(device_type),
    }
    names = {op: "plain" if accelerated is None else "torchvision" for op, accelerated in choices.items()}
    if len(set(names.values())) == 1:
        return next(iter(names.values()))
    return "mixed(" + ", ".join(f"{op}={name}" for op, name in names.items()) + ")"

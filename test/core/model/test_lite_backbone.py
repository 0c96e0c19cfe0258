"""The EfficientNet-Lite0 backbone loads the shipped ImageNet weights: its own classifier
recognises real photos (from scikit-image's data), and its taps have the documented shapes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from dmtrack_core.model.backbones.efficientnet_lite import EfficientNetLite0Backbone

# photo -> ImageNet classes that are right for it
PHOTOS = {
    "chelsea.png": {281, 282, 283, 284, 285},  # tabby / tiger / Persian / Siamese / Egyptian cat
    "coffee.png": {967, 968, 504},  # espresso, cup, coffee mug
    "rocket.jpg": {657, 744, 812},  # missile, projectile, space shuttle
    "motorcycle_left.png": {665, 670},  # moped, motor scooter
}


def load_photo(name: str) -> np.ndarray:
    path = Path(skimage.data.__file__).parent / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"missing scikit-image sample {path}"
    return image[..., ::-1]  # BGR -> RGB


def to_input(image: np.ndarray) -> torch.Tensor:
    """Centre square crop, 224x224, scaled to [-1, 1]."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = cv2.resize(image[top : top + side, left : left + side], (224, 224), interpolation=cv2.INTER_AREA)
    tensor = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1).float()
    return ((tensor - 127.5) / 127.5)[None]


@pytest.fixture(scope="module")
def classifier_backbone() -> EfficientNetLite0Backbone:
    return EfficientNetLite0Backbone(pretrained=True, with_classifier=True).eval()


def test_imagenet_top5_on_real_photos(classifier_backbone: EfficientNetLite0Backbone) -> None:
    batch = torch.cat([to_input(load_photo(name)) for name in PHOTOS])
    top5 = classifier_backbone.classify(batch).topk(5, dim=1).indices.tolist()
    hits = [
        bool(set(predicted) & expected) for predicted, expected in zip(top5, PHOTOS.values(), strict=True)
    ]
    assert sum(hits) >= 3, dict(zip(PHOTOS, top5, strict=True))


def test_random_weights_do_not_recognise_them() -> None:
    torch.manual_seed(0)
    untrained = EfficientNetLite0Backbone(pretrained=False, with_classifier=True).eval()
    batch = torch.cat([to_input(load_photo(name)) for name in PHOTOS])
    top5 = untrained.classify(batch).topk(5, dim=1).indices.tolist()
    hits = [
        bool(set(predicted) & expected) for predicted, expected in zip(top5, PHOTOS.values(), strict=True)
    ]
    assert sum(hits) <= 1


def test_taps_strides_and_channels() -> None:
    backbone = EfficientNetLite0Backbone(pretrained=False).eval()
    with torch.no_grad():
        taps = backbone(torch.zeros(1, 3, 64, 96))
    assert [tuple(t.shape) for t in taps] == [(1, 40, 8, 12), (1, 112, 4, 6), (1, 320, 2, 3)]
    assert not hasattr(backbone.net, "_fc")  # the ImageNet head is dropped unless asked for
    with pytest.raises(ValueError, match="divisible by 32"):
        backbone(torch.zeros(1, 3, 60, 96))


def test_frozen_stages() -> None:
    backbone = EfficientNetLite0Backbone(pretrained=False, frozen_stages=2)
    frozen = {name for name, p in backbone.named_parameters() if not p.requires_grad}
    assert any(name.startswith("net._conv_stem") for name in frozen)
    # stem (stage 0) + blocks 0 (stage 1) and 1-2 (stage 2) are frozen; block 3 is not
    assert any(name.startswith("net._blocks.2.") for name in frozen)
    assert not any(name.startswith("net._blocks.3.") for name in frozen)

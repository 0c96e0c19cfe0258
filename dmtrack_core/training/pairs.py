"""Training pairs and their conversion to the network's ``TrainBatch``.

A ``TrainPair`` is what every source produces: two RGB frames (template and search) and
the boxes of the same K instances in both, in image pixels. ``prepare_pair`` letterboxes
both frames with the tracker's own preprocessing (``dmtrack_core.preprocess``) onto a fixed
canvas, so pairs of any image size stack into one batch; ``collate_pairs`` stacks them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from dmtrack_core.model.batch import TrainBatch
from dmtrack_core.preprocess import letterbox, to_tensor

# boxes smaller than this in network pixels cannot be learned from; they count as absent
MIN_BOX_SIDE = 2.0


@dataclass
class TrainPair:
    """Two frames of the same scene and the boxes of K instances in both.

    Boxes are (K, 4) x, y, w, h in image pixels; w <= 0 or h <= 0 means the instance is not
    visible in that frame. ``identities`` (K,) are global ids for the ReID loss, -1 = none.
    """

    template_image: np.ndarray  # (H, W, 3) uint8 RGB
    search_image: np.ndarray  # (H', W', 3) uint8 RGB
    template_boxes: np.ndarray  # (K, 4) float32 xywh
    search_boxes: np.ndarray  # (K, 4) float32 xywh
    identities: np.ndarray  # (K,) int64
    source: str = ""

    def __post_init__(self) -> None:
        self.template_boxes = np.asarray(self.template_boxes, dtype=np.float32).reshape(-1, 4)
        self.search_boxes = np.asarray(self.search_boxes, dtype=np.float32).reshape(-1, 4)
        self.identities = np.asarray(self.identities, dtype=np.int64).reshape(-1)
        count = len(self.identities)
        if len(self.template_boxes) != count or len(self.search_boxes) != count:
            raise ValueError(
                f"pair from {self.source!r}: {len(self.template_boxes)} template boxes, "
                f"{len(self.search_boxes)} search boxes, {count} identities"
            )


@dataclass
class PreparedPair:
    """One pair as network tensors (what a data-loader worker hands to ``collate_pairs``)."""

    template_image: torch.Tensor  # (3, H, W) normalised
    search_image: torch.Tensor  # (3, H, W) normalised
    template_boxes: torch.Tensor  # (K, 4) xyxy network pixels, zero size = absent
    search_boxes: torch.Tensor  # (K, 4)
    identities: torch.Tensor  # (K,) long


def canvas_size(input_wh: tuple[int, int], size_divisor: int) -> tuple[int, int]:
    """(width, height) of the padded network input for ``input_wh``."""
    return (
        int(math.ceil(input_wh[0] / size_divisor) * size_divisor),
        int(math.ceil(input_wh[1] / size_divisor) * size_divisor),
    )


def _to_network(
    image: np.ndarray,
    boxes_xywh: np.ndarray,
    input_wh: tuple[int, int],
    size_divisor: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> tuple[torch.Tensor, torch.Tensor]:
    padded, placement = letterbox(image, input_wh, size_divisor)
    width, height = canvas_size(input_wh, size_divisor)
    # letterbox pads to a multiple of the divisor of the *resized* image; frames of other
    # aspect ratios must still share one canvas size to be stacked
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[: padded.shape[0], : padded.shape[1]] = padded[:height, :width]
    tensor = to_tensor(canvas, mean, std)[0]

    resized_h, resized_w = placement.resized_hw
    boxes = np.zeros((len(boxes_xywh), 4), dtype=np.float32)
    for i, box in enumerate(boxes_xywh):
        if box[2] <= 0 or box[3] <= 0:
            continue
        x1, y1, x2, y2 = placement.box_to_network(box)
        x1, x2 = np.clip([x1, x2], 0, resized_w)
        y1, y2 = np.clip([y1, y2], 0, resized_h)
        if x2 - x1 >= MIN_BOX_SIDE and y2 - y1 >= MIN_BOX_SIDE:
            boxes[i] = (x1, y1, x2, y2)
    return tensor, torch.from_numpy(boxes)


def prepare_pair(
    pair: TrainPair,
    input_wh: tuple[int, int],
    size_divisor: int,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
) -> PreparedPair:
    """Letterbox and normalise both frames; boxes go to xyxy network pixels.

    Boxes are clipped to the image; one that ends up thinner than ``MIN_BOX_SIDE`` becomes
    all zeros, i.e. absent (in the template that means: never used as a query).
    """
    template, template_boxes = _to_network(
        pair.template_image, pair.template_boxes, input_wh, size_divisor, mean, std
    )
    search, search_boxes = _to_network(
        pair.search_image, pair.search_boxes, input_wh, size_divisor, mean, std
    )
    return PreparedPair(
        template, search, template_boxes, search_boxes, torch.from_numpy(pair.identities.copy())
    )


def collate_pairs(prepared: list[PreparedPair]) -> TrainBatch:
    """Stack prepared pairs into the model's ``TrainBatch``."""
    return TrainBatch(
        template_images=torch.stack([p.template_image for p in prepared]),
        search_images=torch.stack([p.search_image for p in prepared]),
        template_boxes=[p.template_boxes for p in prepared],
        search_boxes=[p.search_boxes for p in prepared],
        identities=[p.identities for p in prepared],
    )

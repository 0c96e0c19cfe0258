"""Image preprocessing and the mapping of boxes between image and network coordinates.

One place for it, shared by the tracker, training and evaluation: the whole frame is
resized keeping its aspect ratio to fit the network input, padded bottom/right to a
multiple of the largest stride, and normalised. ``Letterbox`` remembers the scale so
boxes can go back to input pixels exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class Letterbox:
    """How an input image was placed in the network input: ``network = image * scale``."""

    scale: float
    image_hw: tuple[int, int]  # original height, width
    resized_hw: tuple[int, int]  # after resizing, before padding
    padded_hw: tuple[int, int]  # network input size

    def box_to_network(self, box_xywh: np.ndarray) -> np.ndarray:
        """(x, y, w, h) in image pixels -> (x1, y1, x2, y2) in network pixels."""
        x, y, w, h = (float(v) for v in box_xywh)
        return np.array([x, y, x + w, y + h], dtype=np.float32) * self.scale

    def boxes_to_image(self, boxes_xyxy: np.ndarray) -> np.ndarray:
        """(N, 4) x1, y1, x2, y2 in network pixels -> (N, 4) x, y, w, h in image pixels,
        clipped to the image."""
        boxes = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4) / self.scale
        height, width = self.image_hw
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
        out = boxes.copy()
        out[:, 2:] = boxes[:, 2:] - boxes[:, :2]
        return out


def letterbox(
    image: np.ndarray, input_wh: tuple[int, int], size_divisor: int = 32
) -> tuple[np.ndarray, Letterbox]:
    """Resize ``image`` (H, W, C uint8) to fit ``input_wh`` keeping aspect, pad bottom/right
    with zeros to a multiple of ``size_divisor``."""
    height, width = image.shape[:2]
    scale = min(input_wh[0] / width, input_wh[1] / height)
    new_w = max(1, int(round(width * scale)))
    new_h = max(1, int(round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation) if scale != 1 else image
    pad_h = int(math.ceil(new_h / size_divisor) * size_divisor)
    pad_w = int(math.ceil(new_w / size_divisor) * size_divisor)
    padded = np.zeros((pad_h, pad_w, image.shape[2]), dtype=image.dtype)
    padded[:new_h, :new_w] = resized
    return padded, Letterbox(scale, (height, width), (new_h, new_w), (pad_h, pad_w))


def to_tensor(
    image: np.ndarray,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) normalised tensor; mean/std on the 0..255 scale."""
    device = torch.device(device)
    if device.type == "cpu" and dtype == torch.float32:
        return _normalise_on_cpu(image, mean, std)
    # elsewhere the uint8 frame travels (a quarter of the float bytes) and is normalised there
    tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device=device)
    tensor = tensor.permute(2, 0, 1).unsqueeze(0).to(dtype)
    mean_t = torch.tensor(mean, device=device, dtype=dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device, dtype=dtype).view(1, 3, 1, 1)
    return (tensor - mean_t) / std_t


def _normalise_on_cpu(
    image: np.ndarray, mean: tuple[float, float, float], std: tuple[float, float, float]
) -> torch.Tensor:
    """The same float32 values as the torch path (subtract, then divide), written once into
    the output: about a third of the time of torch's permute, cast, subtract and divide at
    384x288 (docs/inference.md)."""
    height, width = image.shape[:2]
    out = np.empty((1, 3, height, width), dtype=np.float32)
    np.subtract(image.transpose(2, 0, 1), np.asarray(mean, np.float32).reshape(3, 1, 1), out=out[0])
    np.divide(out[0], np.asarray(std, np.float32).reshape(3, 1, 1), out=out[0])
    return torch.from_numpy(out)

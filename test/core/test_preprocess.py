from __future__ import annotations

import numpy as np
import torch

from dmtrack_core.preprocess import letterbox, to_tensor


def test_letterbox_keeps_aspect_and_pads_to_divisor():
    image = np.full((480, 640, 3), 200, np.uint8)
    padded, lb = letterbox(image, (416, 288), 32)
    assert lb.scale == 288 / 480
    assert lb.resized_hw == (288, 384)
    assert padded.shape == (288, 384, 3)
    assert padded.shape[0] % 32 == 0 and padded.shape[1] % 32 == 0
    wide = np.zeros((272, 640, 3), np.uint8)
    padded, lb = letterbox(wide, (416, 288), 32)
    assert lb.resized_hw == (177, 416) and padded.shape[:2] == (192, 416)
    assert padded[177:].max() == 0  # padding is bottom/right only


def test_box_round_trip_between_image_and_network():
    _, lb = letterbox(np.zeros((480, 640, 3), np.uint8), (416, 288), 32)
    box = np.array([100.0, 50.0, 64.0, 32.0])
    xyxy = lb.box_to_network(box)
    np.testing.assert_allclose(xyxy, np.array([100, 50, 164, 82]) * 0.6, rtol=1e-6)
    np.testing.assert_allclose(lb.boxes_to_image(xyxy[None])[0], box, atol=1e-4)


def test_boxes_are_clipped_to_the_image():
    _, lb = letterbox(np.zeros((100, 200, 3), np.uint8), (200, 100), 32)
    out = lb.boxes_to_image(np.array([[-10.0, -5.0, 250.0, 90.0]]))
    np.testing.assert_allclose(out[0], [0, 0, 200, 90])


def test_to_tensor_normalises_on_the_255_scale():
    image = np.array([[[127.5, 0, 255]]], dtype=np.float32).astype(np.uint8)
    t = to_tensor(image, (127.5, 127.5, 127.5), (127.5, 127.5, 127.5))
    assert t.shape == (1, 3, 1, 1) and t.dtype == torch.float32
    assert torch.allclose(t.flatten(), torch.tensor([(127 - 127.5) / 127.5, -1.0, 1.0]))


def test_cpu_normalisation_equals_torch_arithmetic_bit_for_bit():
    # the CPU path is numpy; the network saw torch's float32 (x - mean) / std in training
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (288, 384, 3), dtype=np.uint8)[:, :, ::-1]  # a BGR->RGB view
    mean, std = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)
    reference = torch.from_numpy(image.copy()).permute(2, 0, 1).unsqueeze(0).float()
    reference = (reference - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    out = to_tensor(image, mean, std)
    assert out.shape == (1, 3, 288, 384) and out.dtype == torch.float32 and out.is_contiguous()
    assert torch.equal(out, reference)
    # other dtypes (and devices) keep the torch path
    assert torch.allclose(to_tensor(image, mean, std, dtype=torch.float64).float(), reference, atol=1e-6)

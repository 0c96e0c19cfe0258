"""Greedy NMS against a plain loop, plus hand-made cases (torchvision semantics)."""

from __future__ import annotations

import pytest
import torch

from dmtrack_core.ops import batched_nms, batched_nms_plain, box_iou, nms


def _iou(a: list[float], b: list[float]) -> float:
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor | None, threshold: float):
    box_list = boxes.double().tolist()
    labels = [0] * len(box_list) if classes is None else classes.tolist()
    order = sorted(range(len(box_list)), key=lambda i: -float(scores[i]))
    kept: list[int] = []
    for i in order:
        if all(labels[i] != labels[j] or _iou(box_list[i], box_list[j]) <= threshold for j in kept):
            kept.append(i)
    return kept


def _random_boxes(count: int, dtype: torch.dtype, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    corners = torch.rand(count, 2, generator=generator, dtype=dtype) * 30.0
    sizes = torch.rand(count, 2, generator=generator, dtype=dtype) * 12.0 + 0.5
    scores = torch.randperm(count, generator=generator).to(dtype) / count  # distinct scores
    return torch.cat((corners, corners + sizes), dim=1), scores


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("threshold", [0.0, 0.3, 0.5, 0.7])
def test_matches_loop_reference(dtype: torch.dtype, threshold: float) -> None:
    boxes, scores = _random_boxes(80, dtype, seed=int(threshold * 10))
    keep = nms(boxes, scores, threshold)
    assert keep.dtype == torch.long
    assert keep.tolist() == reference_nms(boxes, scores, None, threshold)


@pytest.mark.parametrize("threshold", [0.2, 0.5])
def test_batched_matches_loop_reference(threshold: float) -> None:
    boxes, scores = _random_boxes(90, torch.float32, seed=3)
    classes = torch.randint(0, 4, (90,), generator=torch.Generator().manual_seed(4))
    keep = batched_nms(boxes, scores, classes, threshold)
    assert keep.tolist() == reference_nms(boxes, scores, classes, threshold)
    assert torch.all(scores[keep][:-1] >= scores[keep][1:])


def test_identical_boxes_keep_the_best_only() -> None:
    boxes = torch.tensor([[1.0, 2.0, 5.0, 6.0]] * 4)
    scores = torch.tensor([0.2, 0.9, 0.5, 0.1])
    assert nms(boxes, scores, 0.5).tolist() == [1]


def test_disjoint_boxes_all_kept_by_descending_score() -> None:
    boxes = torch.tensor(
        [[0.0, 0.0, 1.0, 1.0], [2.0, 0.0, 3.0, 1.0], [0.0, 2.0, 1.0, 3.0], [1.0, 1.0, 2.0, 2.0]]
    )
    scores = torch.tensor([0.3, 0.8, 0.5, 0.6])
    # Boxes touching at a corner do not overlap, so even threshold 0 keeps them.
    assert nms(boxes, scores, 0.0).tolist() == [1, 3, 2, 0]


def test_threshold_is_strict() -> None:
    # Intersection 2, union 4: IoU exactly 0.5 (exact in binary floating point).
    boxes = torch.tensor([[0.0, 0.0, 4.0, 1.0], [0.0, 0.0, 2.0, 1.0]])
    scores = torch.tensor([0.9, 0.8])
    assert box_iou(boxes[:1], boxes[1:]).item() == 0.5
    assert nms(boxes, scores, 0.5).tolist() == [0, 1]
    assert nms(boxes, scores, 0.49).tolist() == [0]


def test_suppression_is_greedy_not_transitive() -> None:
    # A suppresses B, and B would have suppressed C, but C survives: B was already removed.
    boxes = torch.tensor([[0.0, 0.0, 10.0, 1.0], [3.0, 0.0, 13.0, 1.0], [6.0, 0.0, 16.0, 1.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]


def test_classes_are_suppressed_separately() -> None:
    boxes = torch.tensor(
        [[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.0], [0.5, 0.0, 4.0, 4.0], [0.0, 0.0, 4.0, 4.1]]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    classes = torch.tensor([0, 1, 0, 1])
    assert batched_nms(boxes, scores, classes, 0.5).tolist() == [0, 1]
    assert batched_nms(boxes, scores, None, 0.5).tolist() == [0]
    # Classes far apart in value and huge coordinates: no offset trick to lose precision.
    far = boxes + 1.0e6
    assert batched_nms(far, scores, torch.tensor([0, 10**9, 0, 10**9]), 0.5).tolist() == [0, 1]


def test_empty_and_degenerate_boxes() -> None:
    empty = nms(torch.zeros(0, 4), torch.zeros(0), 0.5)
    assert empty.shape == (0,) and empty.dtype == torch.long
    # Zero-area boxes have IoU 0/0 with each other and never suppress (torchvision behaviour).
    points = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    assert nms(points, torch.tensor([0.5, 0.4]), 0.5).tolist() == [0, 1]


def test_plain_version_keeps_input_order_on_ties() -> None:
    # torchvision does not promise an order for equal scores; the plain version is stable.
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 1.0, 1.0]])
    scores = torch.tensor([0.5, 0.5, 0.5])
    assert batched_nms_plain(boxes, scores, None, 0.5).tolist() == [0, 1]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu() -> None:
    boxes, scores = _random_boxes(60, torch.float32, seed=9)
    keep = nms(boxes.cuda(), scores.cuda(), 0.4)
    assert keep.device.type == "cuda"
    assert keep.cpu().tolist() == nms(boxes, scores, 0.4).tolist()

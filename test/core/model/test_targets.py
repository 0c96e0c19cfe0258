"""FCOS target assignment and the detection losses on hand-made boxes."""

from __future__ import annotations

import math

import torch

from dmtrack_core.model.losses import QueryOutputs, detection_losses, iou_loss_ltrb, sigmoid_focal_loss
from dmtrack_core.model.targets import (
    BACKGROUND,
    OTHER_INSTANCE,
    TARGET,
    LocationGrid,
    assign_locations,
    centerness_targets,
    query_labels,
)

INF = 1e8


def one_level_grid(size: int = 8, stride: int = 8) -> LocationGrid:
    return LocationGrid.build([(size, size)], [stride], [(-1.0, INF)], torch.device("cpu"))


def positives(grid: LocationGrid, instance: torch.Tensor, k: int) -> set[tuple[float, float]]:
    return {tuple(p.tolist()) for p in grid.points[instance == k]}


def test_locations_are_cell_centres_row_major() -> None:
    grid = LocationGrid.build([(2, 3), (1, 2)], [8, 16], [(-1, 64), (64, INF)], torch.device("cpu"))
    assert grid.points[:6].tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]
    assert grid.points[6:].tolist() == [[8, 8], [24, 8]]
    assert grid.strides.tolist() == [8] * 6 + [16] * 2
    assert grid.regress_ranges[-1].tolist() == [64, INF]


def test_centre_sampling_keeps_only_the_central_cells() -> None:
    grid = one_level_grid()
    box = torch.tensor([[0.0, 0.0, 64.0, 64.0]])
    # centre (32, 32), radius 1.5 * 8 = 12: region (20, 44) exclusive -> cells at 28 and 36
    sampled = assign_locations(grid, box, center_sampling_radius=1.5)
    assert positives(grid, sampled.instance, 0) == {(28.0, 28.0), (36.0, 28.0), (28.0, 36.0), (36.0, 36.0)}
    everywhere = assign_locations(grid, box, center_sampling_radius=0.0)
    assert int((everywhere.instance == 0).sum()) == 64


def test_box_targets_are_distances_to_the_sides() -> None:
    grid = one_level_grid()
    box = torch.tensor([[10.0, 6.0, 50.0, 40.0]])
    result = assign_locations(grid, box, center_sampling_radius=0.0)
    index = grid.points.tolist().index([20.0, 12.0])
    assert result.instance[index] == 0
    assert result.box_targets[index].tolist() == [10.0, 6.0, 30.0, 28.0]
    assert (result.box_targets[result.instance < 0] == 0).all()


def test_overlap_goes_to_the_smaller_box_and_absent_boxes_get_nothing() -> None:
    grid = one_level_grid()
    boxes = torch.tensor([[0.0, 0.0, 64.0, 64.0], [24.0, 24.0, 40.0, 40.0], [0.0, 0.0, 0.0, 30.0]])
    result = assign_locations(grid, boxes, center_sampling_radius=1.5)
    assert positives(grid, result.instance, 1) == {(28.0, 28.0), (36.0, 28.0), (28.0, 36.0), (36.0, 36.0)}
    assert not (result.instance == 0).any()  # its only central cells were taken by the small box
    assert not (result.instance == 2).any()


def test_regress_ranges_pick_the_level() -> None:
    grid = LocationGrid.build([(16, 16), (8, 8)], [8, 16], [(-1.0, 64.0), (64.0, INF)], torch.device("cpu"))
    small = torch.tensor([[40.0, 40.0, 80.0, 80.0]])  # max distance at the centre ~ 20-30 < 64
    large = torch.tensor([[0.0, 0.0, 128.0, 128.0]])  # max distance at the centre > 64
    small_levels = grid.strides[assign_locations(grid, small).instance == 0]
    large_levels = grid.strides[assign_locations(grid, large).instance == 0]
    assert small_levels.numel() > 0 and (small_levels == 8).all()
    assert large_levels.numel() > 0 and (large_levels == 16).all()


def test_query_labels_mark_target_and_other_instances() -> None:
    instance = torch.tensor([-1, 0, 1, 2, 1])
    assert query_labels(instance, 1).tolist() == [BACKGROUND, OTHER_INSTANCE, TARGET, OTHER_INSTANCE, TARGET]
    assert query_labels(instance, 5).tolist() == [
        BACKGROUND,
        OTHER_INSTANCE,
        OTHER_INSTANCE,
        OTHER_INSTANCE,
        OTHER_INSTANCE,
    ]


def test_centerness_target() -> None:
    targets = torch.tensor([[5.0, 5.0, 5.0, 5.0], [1.0, 2.0, 3.0, 8.0]])
    expected = math.sqrt((1 / 3) * (2 / 8))
    torch.testing.assert_close(centerness_targets(targets), torch.tensor([1.0, expected]))


def test_focal_and_iou_losses_by_hand() -> None:
    logits = torch.tensor([0.0, 2.0])
    targets = torch.tensor([1.0, 0.0])
    p = torch.sigmoid(torch.tensor(2.0))
    expected = torch.tensor([0.25 * 0.5**2 * math.log(2), 0.75 * p**2 * -torch.log(1 - p)])
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets), expected)
    same = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert iou_loss_ltrb(same, same).abs().max() < 1e-6
    half = iou_loss_ltrb(torch.tensor([[1.0, 1.0, 0.0, 1.0]]), torch.tensor([[1.0, 1.0, 1.0, 1.0]]))
    torch.testing.assert_close(half, torch.tensor([math.log(2.0)]))


def test_detection_losses_absent_query_has_no_box_loss_and_all_negative_target_channel() -> None:
    num_locations = 5
    outputs = QueryOutputs(
        cls_logits=torch.zeros(2, num_locations, 2, requires_grad=True),
        box_ltrb=torch.ones(2, num_locations, 4),
        centerness_logits=torch.zeros(2, num_locations),
    )
    labels = torch.tensor([[BACKGROUND] * 5, [BACKGROUND, TARGET, BACKGROUND, BACKGROUND, BACKGROUND]])
    box_targets = torch.ones(2, num_locations, 4)
    losses = detection_losses(outputs, labels, box_targets)
    # query 0: 10 negatives / 1; query 1: 9 negatives + 1 positive / 1; averaged
    negative, positive = 0.75 * 0.25 * math.log(2), 0.25 * 0.25 * math.log(2)
    torch.testing.assert_close(
        losses["loss_cls"], torch.tensor((10 * negative + 9 * negative + positive) / 2)
    )
    assert losses["loss_box"].abs() < 1e-6  # perfect box for query 1, none for query 0
    torch.testing.assert_close(losses["loss_centerness"], torch.tensor(math.log(2) / 2))

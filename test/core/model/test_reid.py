"""The contrastive ReID loss: what counts as a positive, a negative and neither."""

import math

import torch
import torch.nn.functional as F

from dmtrack_core.model.reid import cross_frame_contrastive_loss


def keys(*rows: tuple[int, int]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 2)


def unit(*vectors: list[float]) -> torch.Tensor:
    return F.normalize(torch.tensor(vectors, dtype=torch.float32), dim=1)


def test_matching_identities_give_a_small_loss_and_swapped_ones_a_large_one() -> None:
    template = unit([1, 0, 0], [0, 1, 0])
    search = unit([1, 0, 0], [0, 1, 0])
    good = cross_frame_contrastive_loss(template, keys((0, 5), (0, 6)), search, keys((0, 5), (0, 6)), 0.1)
    swapped = cross_frame_contrastive_loss(template, keys((0, 5), (0, 6)), search, keys((0, 6), (0, 5)), 0.1)
    assert good < 1e-3
    assert swapped > 5.0


def test_the_loss_is_the_softmax_cross_entropy_over_the_other_side() -> None:
    template = unit([1, 0])
    search = unit([1, 0], [0, 1])
    loss = cross_frame_contrastive_loss(template, keys((0, 1)), search, keys((0, 1), (0, 2)), 1.0)
    # template -> search: logits (1, 0), target 0; search -> template: only the positive row
    # has a positive, and its softmax has one entry (loss 0)
    expected = (-math.log(math.e / (math.e + 1.0)) + 0.0) / 2
    assert math.isclose(float(loss), expected, rel_tol=1e-5)


def test_the_same_identity_in_another_pair_is_not_a_negative() -> None:
    template = unit([1, 0])
    search = unit([1, 0], [0.9, 0.1])
    alone = cross_frame_contrastive_loss(template, keys((0, 1)), search[:1], keys((0, 1)), 0.1)
    with_copy = cross_frame_contrastive_loss(template, keys((0, 1)), search, keys((0, 1), (1, 1)), 0.1)
    as_negative = cross_frame_contrastive_loss(template, keys((0, 1)), search, keys((0, 1), (1, 2)), 0.1)
    assert math.isclose(float(alone), float(with_copy), abs_tol=1e-6)
    assert as_negative > with_copy + 0.2  # a near-copy as a negative costs a lot


def test_no_positive_gives_zero_with_a_graph() -> None:
    template = unit([1, 0]).requires_grad_()
    search = unit([0, 1]).requires_grad_()
    loss = cross_frame_contrastive_loss(template, keys((0, 1)), search, keys((0, 2)), 0.1)
    assert loss.item() == 0.0
    loss.backward()
    empty = cross_frame_contrastive_loss(torch.zeros(0, 2), keys(), search, keys((0, 2)), 0.1)
    assert empty.item() == 0.0

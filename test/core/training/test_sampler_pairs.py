"""Mixing sampler, step index sampler, letterboxing of pairs and collation into TrainBatch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dmtrack_core.model.batch import TrainBatch
from dmtrack_core.training.pairs import TrainPair, canvas_size, collate_pairs, prepare_pair
from dmtrack_core.training.sampler import MixingSampler, PairDataset, StepIndexSampler

MEAN = (127.5, 127.5, 127.5)
STD = (127.5, 127.5, 127.5)


class ConstantSource:
    """A real (if trivial) source: fixed frames of one size, its name in the pair."""

    def __init__(self, name: str, size_wh: tuple[int, int]) -> None:
        self.name = name
        self.size_wh = size_wh

    def sample(self, rng: np.random.Generator, index: int) -> TrainPair:
        w, h = self.size_wh
        image = np.full((h, w, 3), int(rng.integers(256)), dtype=np.uint8)
        boxes = np.array([[w * 0.25, h * 0.25, w * 0.5, h * 0.5], [0, 0, 0, 0]], dtype=np.float32)
        return TrainPair(image, image.copy(), boxes, boxes, np.array([index, -1]), source=self.name)


def test_mixing_follows_weights_and_is_deterministic() -> None:
    sampler = MixingSampler(
        [ConstantSource("a", (64, 48)), ConstantSource("b", (64, 48))], [3.0, 1.0], seed=4
    )
    names = [sampler.pair(i).source for i in range(800)]
    share = names.count("a") / len(names)
    assert 0.68 < share < 0.82
    again = MixingSampler([ConstantSource("a", (64, 48)), ConstantSource("b", (64, 48))], [3.0, 1.0], seed=4)
    assert [again.pair(i).source for i in range(50)] == names[:50]
    with pytest.raises(ValueError):
        MixingSampler([ConstantSource("a", (8, 8))], [0.0], seed=0)


def test_step_index_sampler_splits_steps_between_ranks() -> None:
    ranks = [
        StepIndexSampler(batch_size=3, start_step=2, total_steps=5, rank=r, world_size=2) for r in range(2)
    ]
    streams = [list(s) for s in ranks]
    assert len(streams[0]) == len(ranks[0]) == 9
    assert not set(streams[0]) & set(streams[1])
    assert sorted(streams[0] + streams[1]) == list(range(2 * 2 * 3, 5 * 2 * 3))
    resumed = StepIndexSampler(batch_size=3, start_step=4, total_steps=5, rank=1, world_size=2)
    assert list(resumed) == streams[1][-3:]


def test_prepare_pair_letterboxes_onto_one_canvas() -> None:
    wide = ConstantSource("w", (200, 100)).sample(np.random.default_rng(0), 0)
    tall = ConstantSource("t", (60, 120)).sample(np.random.default_rng(0), 1)
    input_wh = (128, 96)
    a = prepare_pair(wide, input_wh, 32, MEAN, STD)
    b = prepare_pair(tall, input_wh, 32, MEAN, STD)
    assert (
        a.template_image.shape
        == b.search_image.shape
        == (3, 96, 128)
        == (3, *canvas_size(input_wh, 32)[::-1])
    )
    # wide: scale 128/200 = 0.64 -> box (50, 25, 100, 50) * 0.64
    torch.testing.assert_close(a.template_boxes[0], torch.tensor([32.0, 16.0, 96.0, 48.0]))
    assert (a.template_boxes[1] == 0).all(), "absent boxes stay all-zero"
    # tall: scale 96/120 = 0.8 -> box (15, 30, 45, 90) * 0.8
    torch.testing.assert_close(b.search_boxes[0], torch.tensor([12.0, 24.0, 36.0, 72.0]))
    # padding is black (0 before normalisation -> -1 after)
    assert torch.allclose(b.template_image[:, :, 60:], torch.tensor(-1.0))


def test_collate_builds_train_batch() -> None:
    sampler = MixingSampler([ConstantSource("a", (80, 60))], [1.0], seed=0)
    dataset = PairDataset(sampler, (64, 64), 32, MEAN, STD)
    batch = collate_pairs([dataset[i] for i in range(3)])
    assert isinstance(batch, TrainBatch)
    assert batch.template_images.shape == (3, 3, 64, 64)
    assert [b.shape for b in batch.search_boxes] == [(2, 4)] * 3
    assert batch.identities[2].tolist() == [2, -1] and batch.identities[0].dtype == torch.long


def test_tiny_boxes_become_absent() -> None:
    image = np.zeros((100, 100, 3), dtype=np.uint8)
    boxes = np.array([[10, 10, 2, 30], [95, 95, 20, 20], [-50, 10, 40, 10]], dtype=np.float32)
    pair = TrainPair(image, image, boxes, boxes, np.array([0, 1, 2]))
    prepared = prepare_pair(pair, (50, 50), 32, MEAN, STD)
    # 2 px wide at scale 0.5 -> 1 px: absent; partly outside -> clipped; fully outside -> absent
    assert (prepared.template_boxes[0] == 0).all()
    torch.testing.assert_close(prepared.template_boxes[1], torch.tensor([47.5, 47.5, 50.0, 50.0]))
    assert (prepared.template_boxes[2] == 0).all()

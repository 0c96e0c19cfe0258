"""The offline pair generator: deterministic, sane boxes, unique ids, look-alikes present."""

from __future__ import annotations

import numpy as np
import pytest

from dmtrack_core.evaluation.synth import BACKGROUND_STILLS, BACKGROUND_VIDEO, TEXTURE_STILLS, TEXTURE_VIDEOS
from dmtrack_core.imagery import HELD_OUT_NAMES
from dmtrack_core.training.seeding import TRAIN_STREAM_TAG, pair_rng
from dmtrack_core.training.sources.synthetic import (
    BANK_VARIANTS,
    CLIP_NAMES,
    STILL_NAMES,
    SyntheticPairSource,
    load_clip,
)

FRAME_WH = (128, 96)


@pytest.fixture(scope="module")
def source() -> SyntheticPairSource:
    return SyntheticPairSource(frame_wh=FRAME_WH, identity_offset=0)


@pytest.fixture(scope="module")
def pairs(source: SyntheticPairSource) -> list:
    return [source.sample(pair_rng(0, i), i) for i in range(40)]


def test_same_seed_same_pair(source: SyntheticPairSource) -> None:
    a = source.sample(pair_rng(5, 17), 17)
    b = SyntheticPairSource(frame_wh=FRAME_WH).sample(pair_rng(5, 17), 17)  # a fresh instance too
    assert np.array_equal(a.template_image, b.template_image)
    assert np.array_equal(a.search_image, b.search_image)
    assert np.array_equal(a.search_boxes, b.search_boxes)
    assert np.array_equal(a.identities, b.identities)
    c = source.sample(pair_rng(6, 17), 17)
    assert not np.array_equal(a.search_image, c.search_image)


def test_boxes_inside_frames_and_target_in_template(pairs: list) -> None:
    width, height = FRAME_WH
    for pair in pairs:
        assert pair.template_image.shape == pair.search_image.shape == (height, width, 3)
        assert pair.template_image.dtype == np.uint8
        assert pair.template_boxes[0, 2] > 0, "the target (instance 0) is always visible in the template"
        for boxes in (pair.template_boxes, pair.search_boxes):
            present = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
            absent = ~present
            assert (boxes[absent] == 0).all()
            x, y, w, h = boxes[present].T
            assert (x >= 0).all() and (y >= 0).all()
            assert (x + w <= width).all() and (y + h <= height).all()


def test_identities_unique_and_lookalikes_distinct(pairs: list) -> None:
    with_lookalikes = 0
    for pair in pairs:
        ids = pair.identities.tolist()
        assert len(ids) == len(set(ids)) <= 8
        assert all(0 <= i < 4096 for i in ids)
        target_base = ids[0] // BANK_VARIANTS
        if sum(i // BANK_VARIANTS == target_base for i in ids) > 1:
            with_lookalikes += 1
    assert with_lookalikes >= len(pairs) // 2, "most pairs hold look-alikes of the target"


def test_lookalike_is_a_changed_copy_of_the_target(source: SyntheticPairSource) -> None:
    base = 10
    target = source._object(np.random.default_rng(1), base * BANK_VARIANTS)
    twin = source._object(np.random.default_rng(1), base * BANK_VARIANTS)
    lookalike = source._object(np.random.default_rng(1), base * BANK_VARIANTS + 1)
    assert np.array_equal(target.patch, twin.patch)  # same identity, same draw: same object
    assert target.patch.shape == lookalike.patch.shape  # same size draw, different variant
    difference = np.abs(target.patch.astype(int) - lookalike.patch.astype(int)).mean()
    assert difference > 3, "a look-alike must differ visibly"


def test_target_moves_or_disappears(pairs: list) -> None:
    moved = absent = 0
    for pair in pairs:
        if pair.search_boxes[0, 2] <= 0:
            absent += 1
        elif not np.allclose(pair.template_boxes[0], pair.search_boxes[0]):
            moved += 1
    assert moved >= len(pairs) * 0.7
    assert moved + absent == len(pairs)


def test_held_out_imagery_is_never_listed() -> None:
    listed = set(STILL_NAMES) | set(CLIP_NAMES)
    listed |= set(TEXTURE_STILLS) | set(BACKGROUND_STILLS) | {BACKGROUND_VIDEO} | set(TEXTURE_VIDEOS)
    assert not listed & HELD_OUT_NAMES
    assert "bikes.mp4" in HELD_OUT_NAMES and "vtest.avi" in HELD_OUT_NAMES
    with pytest.raises(ValueError, match="held out"):
        load_clip("bikes.mp4")


def test_training_seeds_differ_from_benchmark_seeds() -> None:
    # benchmark sequences are seeded with single integers 10000..10019
    bench_first_draws = {np.random.default_rng(seed).integers(1 << 62) for seed in range(10000, 10020)}
    ours = {pair_rng(seed, index).integers(1 << 62) for seed in (0, 1, 10000) for index in range(200)}
    assert not bench_first_draws & ours
    assert TRAIN_STREAM_TAG not in range(10000, 10020)

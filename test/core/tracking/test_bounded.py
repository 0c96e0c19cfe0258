"""10,000 frames of random candidate streams: tracklets and memory stay under their caps and
the Python heap does not grow (O(1) in video length)."""

from __future__ import annotations

import gc
import sys

import numpy as np

from dmtrack_core.tracking.association import FrameCandidates, TargetAssociator
from dmtrack_core.tracking.config import TrackerConfig

DIM = 16


def random_frames(rng: np.random.Generator, count: int, bases: np.ndarray):
    """Objects (one embedding base each) wander and blink in and out; plus random clutter."""
    objects = len(bases)
    positions = rng.uniform([40, 40], [600, 440], size=(objects, 2))
    object_sizes = rng.uniform(10, 80, size=(objects, 2))
    for _ in range(count):
        positions += rng.normal(scale=2.0, size=positions.shape)
        positions %= [640, 480]
        # a uniform number in view, so every candidate count (and with it every array shape
        # that numpy may cache internally) shows up long before the 2k-frame heap baseline
        visible = np.sort(rng.choice(objects, size=rng.integers(0, objects + 1), replace=False))
        clutter = rng.integers(0, 2)
        centres = np.concatenate([positions[visible], rng.uniform([0, 0], [640, 480], size=(clutter, 2))])
        sizes = np.concatenate([object_sizes[visible], rng.uniform(10, 80, size=(clutter, 2))])
        sizes = sizes * rng.uniform(0.9, 1.1, size=sizes.shape)
        boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
        embeddings = np.concatenate([bases[visible], rng.normal(size=(clutter, DIM))])
        embeddings = embeddings + 0.3 * rng.normal(size=embeddings.shape)
        scores = rng.uniform(0.1, 1.0, size=len(centres))
        yield FrameCandidates(boxes, scores, embeddings)


def test_10k_frames_stay_bounded_and_heap_does_not_grow() -> None:
    config = TrackerConfig(max_tracklets=6, memory_size=6, distractor_anchors=3, memory_write_interval=2)
    rng = np.random.default_rng(0)
    associator = TargetAssociator(config)
    bases = rng.normal(size=(7, DIM))  # object 0 is the target
    bases[1:3] += 2.0 * bases[0]  # two look-alikes of it
    associator.initialize(np.array([100.0, 100.0, 140.0, 180.0]), bases[0])
    assert associator.memory is not None
    states = set()
    max_tracklets = max_memory = max_anchors = 0
    reacquisitions = 0
    # allocated interpreter blocks rather than tracemalloc: tracing every allocation made
    # this test four times slower, and a leak of per-frame objects shows up in both
    for frame, candidates in enumerate(random_frames(rng, 10_000, bases), start=1):
        previous_target = associator.target_track_id
        result = associator.update(candidates, (640.0, 480.0))
        reacquisitions += result.target_track_id not in (previous_target, None)
        states.add(result.state)
        max_tracklets = max(max_tracklets, len(associator.tracklets))
        max_memory = max(max_memory, associator.memory.entries)
        max_anchors = max(max_anchors, associator.memory.anchor_entries)
        assert 0.0 <= result.presence <= 1.0
        assert len(result.distractors) <= config.max_tracklets
        if frame == 2_000:
            gc.collect()  # count live objects only, not cycles the collector has yet to free
            blocks_at_2k = sys.getallocatedblocks()
    gc.collect()
    blocks_at_10k = sys.getallocatedblocks()
    assert max_tracklets == config.max_tracklets  # the cap was reached and held
    assert max_memory == 1 + config.memory_size
    assert max_anchors <= config.distractor_anchors
    # the stream exercised the whole state machine, so the caps were tested in every state
    assert len(states) >= 3, states
    assert reacquisitions > 0  # and the identity moved between tracklets along the way
    # track ids keep growing but nothing else may: a leak of one object a frame would add
    # 8,000 blocks; allow a little slack for interned ints and caches
    assert blocks_at_10k - blocks_at_2k < 500, (blocks_at_2k, blocks_at_10k)

"""Calibration: the offline replay is exactly what the tracker does, and the search improves it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dmtrack_core.cli import main as dmtrack_main
from dmtrack_core.evaluation.calibrate import (
    CachedSequence,
    cache_candidates,
    coordinate_descent,
    mean_auc,
    replay,
)
from dmtrack_core.evaluation.synth import SynthConfig, generate_sequence
from dmtrack_core.tracking.association import FrameCandidates
from dmtrack_core.tracking.config import load_tracker_config
from dmtrack_core.tracking.tracker import build_tracker


def test_replay_reproduces_the_trackers_own_boxes() -> None:
    config = SynthConfig(width=320, height=240, min_frames=90, max_frames=90, target_size=(40.0, 70.0))
    sequence = generate_sequence(7, config)
    frames, truth, absent = sequence.frames[:14], sequence.ground_truth[:14], sequence.absent[:14]
    tracker = build_tracker(mode="reid", device="cpu")
    tracker.initialize(frames[0], truth[0])
    live = [truth[0]] + [tracker.track(frame).box for frame in frames[1:]]
    cached = cache_candidates(tracker, sequence.name, frames, truth, absent)
    np.testing.assert_allclose(replay(cached, tracker.config), np.array(live), atol=1e-6)


def unit(vector: list[float]) -> np.ndarray:
    return np.asarray(vector, dtype=np.float64) / np.linalg.norm(vector)


def scripted_sequence(frames: int = 40) -> CachedSequence:
    """The target moves right; a brighter-scoring look-alike moves left below it. The target's
    embedding matches the template at 0.8 cosine, the look-alike's at 0.6."""
    template = unit([1.0, 0.0, 0.0])
    target_view, lookalike_view = unit([0.8, 0.6, 0.0]), unit([0.6, 0.0, 0.8])
    truth, candidates = [], []
    for i in range(frames):
        target = np.array([50.0 + 4 * i, 100.0, 40.0, 60.0])
        lookalike = np.array([400.0 - 4 * i, 300.0, 40.0, 60.0])
        truth.append(target)
        boxes = np.array([[*b[:2], *(b[:2] + b[2:])] for b in (lookalike, target)])
        candidates.append(
            FrameCandidates(boxes, np.array([0.9, 0.6]), np.stack([lookalike_view, target_view]))
        )
    return CachedSequence(
        "scripted", np.array(truth), np.zeros(frames, bool), (640.0, 480.0), template, candidates[1:]
    )


def test_coordinate_descent_finds_the_setting_that_keeps_the_target() -> None:
    sequences = [scripted_sequence()]
    # a similarity floor the target never reaches: it is lost at once
    strict = dataclasses.replace(
        load_tracker_config(), identity_min_similarity=0.95, reacquire_similarity=0.97
    )
    messages: list[str] = []
    best, auc = coordinate_descent(
        sequences, strict, {"identity_min_similarity": (0.95, 0.7, 0.5)}, rounds=2, report=messages.append
    )
    assert best.identity_min_similarity in (0.7, 0.5)
    assert auc == pytest.approx(mean_auc(sequences, best)) and auc > mean_auc(sequences, strict) + 0.3
    assert messages[0].startswith("start: AUC")


def test_benchmark_seeds_are_refused(capsys) -> None:
    assert dmtrack_main(["calibrate", "--seeds", "10000:10002"]) == 2
    assert "benchmark suite" in capsys.readouterr().out

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
    published_f_score,
    replay,
)
from dmtrack_core.evaluation.synth import SynthConfig, generate_sequence
from dmtrack_core.tracking.association import FrameCandidates
from dmtrack_core.tracking.config import load_tracker_config
from dmtrack_core.tracking.state import TrackState
from dmtrack_core.tracking.tracker import build_tracker


def test_replay_reproduces_the_trackers_own_boxes_and_states() -> None:
    config = SynthConfig(width=320, height=240, min_frames=90, max_frames=90, target_size=(40.0, 70.0))
    sequence = generate_sequence(7, config)
    frames, truth, absent = sequence.frames[:14], sequence.ground_truth[:14], sequence.absent[:14]
    # exact without the run-time target model; with it the replay keeps the initial filter
    # (no updates), so only the association is replayed exactly (calibrate.py says so)
    tracker = build_tracker(mode="reid", device="cpu", config=load_tracker_config(target_model=False))
    tracker.initialize(frames[0], truth[0])
    results = [tracker.track(frame) for frame in frames[1:]]
    cached = cache_candidates(tracker, sequence.name, frames, truth, absent)
    replayed = replay(cached, tracker.config)
    np.testing.assert_allclose(replayed.boxes, np.array([truth[0]] + [r.box for r in results]), atol=1e-6)
    assert replayed.reported.tolist() == [True] + [r.state is not TrackState.LOST for r in results]


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
        sequences,
        strict,
        {"identity_min_similarity": (0.95, 0.7, 0.5)},
        rounds=2,
        report=messages.append,
        objective="auc",
    )
    assert best.identity_min_similarity in (0.7, 0.5)
    assert auc == pytest.approx(mean_auc(sequences, best)) and auc > mean_auc(sequences, strict) + 0.3
    assert messages[0].startswith("start: auc")


def test_the_f_score_objective_fits_how_soon_a_vanished_target_goes_silent() -> None:
    # the target leaves the view after frame 20: only the look-alike remains
    sequence = scripted_sequence(60)
    for candidates in sequence.frames[19:]:
        keep = np.array([0])
        candidates.boxes_xyxy, candidates.scores = candidates.boxes_xyxy[keep], candidates.scores[keep]
        candidates.embeddings = candidates.embeddings[keep]
    sequence.absent[20:] = True
    sequence.ground_truth[20:] = 0.0
    # (a similarity floor of 0.5 makes the target's 0.8 a confident match)
    patient = dataclasses.replace(
        load_tracker_config(), identity_min_similarity=0.5, misses_to_uncertain=4, misses_to_lost=20
    )
    best, f_score = coordinate_descent(
        [sequence], patient, {"misses_to_lost": (20, 10, 5)}, rounds=1, report=lambda _: None
    )
    # every frame claimed while the target is gone costs precision: the shortest wait wins
    assert best.misses_to_lost == 5
    assert f_score == pytest.approx(published_f_score([sequence], best))
    assert f_score > published_f_score([sequence], patient)
    assert mean_auc([sequence], best) == pytest.approx(mean_auc([sequence], patient))


def test_benchmark_seeds_are_refused(capsys) -> None:
    assert dmtrack_main(["calibrate", "--seeds", "10000:10002"]) == 2
    assert "benchmark suite" in capsys.readouterr().out

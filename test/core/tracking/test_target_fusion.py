"""How the target model's scores enter the candidates and the identity association."""

from __future__ import annotations

import numpy as np

from dmtrack_core.tracking.association import TargetAssociator
from dmtrack_core.tracking.candidates import FrameCandidates, fused_similarity, with_target_scores
from dmtrack_core.tracking.config import load_tracker_config
from dmtrack_core.tracking.state import TrackState


def unit(vector: list[float]) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def test_scores_and_similarity_fuse_with_the_target_model_and_stay_without_it() -> None:
    plain = FrameCandidates(np.zeros((2, 4)), [0.9, 0.2], np.eye(2))
    assert with_target_scores(plain, 0.8) is plain
    scored = FrameCandidates(np.zeros((2, 4)), [0.9, 0.2], np.eye(2), target_scores=[0.1, 1.4])
    np.testing.assert_allclose(with_target_scores(scored, 0.8).scores, [0.2 * 0.9 + 0.08, 0.2 * 0.2 + 0.8])
    # the model vouches for the second candidate and cannot lower the first's appearance match
    np.testing.assert_allclose(fused_similarity(np.array([0.9, 0.6]), scored, 0.5), [0.9, 0.8])
    np.testing.assert_allclose(fused_similarity(np.array([0.9, 0.6]), plain, 0.5), [0.9, 0.6])


def test_a_strong_target_model_peak_continues_the_target_outside_the_motion_gate() -> None:
    config = load_tracker_config(colour_weight=0.0)
    target_embedding = unit([1.0, 0.2, 0.0])
    far_box = np.array([400.0, 300.0, 450.0, 350.0])  # the object jumped (a cut, a re-detection)
    near_lookalike = np.array([110.0, 100.0, 160.0, 150.0])
    embeddings = np.stack([unit([0.9, 0.5, 0.3]), unit([1.0, 0.35, 0.2])])
    for with_model, expected in ((False, None), (True, far_box)):
        associator = TargetAssociator(config)
        associator.initialize(np.array([100.0, 100.0, 150.0, 150.0]), target_embedding)
        target_scores = np.array([0.05, 0.95]) if with_model else None
        candidates = FrameCandidates(
            np.stack([near_lookalike, far_box]), [0.3, 0.0], embeddings, target_scores=target_scores
        )
        result = associator.update(candidates, image_wh=(640.0, 480.0))
        if expected is None:
            # the network alone: the far box (score 0) is ignored, the look-alike is not the target
            assert not np.allclose(result.box_xyxy, far_box)
        else:
            assert result.target_matched and result.state is TrackState.TRACKING
            np.testing.assert_allclose(result.box_xyxy, expected)

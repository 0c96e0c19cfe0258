"""The stage profile of the bench: every stage row, and initialize() timed apart from track()."""

from __future__ import annotations

import numpy as np

from dmtrack_core.evaluation.profile import INIT_KEYS, profile_markdown, profile_tracker


def test_profile_has_every_stage_and_the_initialisation_rows() -> None:
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8) for _ in range(5)]
    (profile,) = profile_tracker(frames, np.array([30.0, 20.0, 28.0, 36.0]), backends=("torch",), warm_up=1)
    stages = profile.stages_ms
    for name in ("backbone", "dynamic head", "target_model", "association, state machine", "whole track()"):
        assert stages[name] >= 0.0
    assert all(stages[key] > 0.0 for key in INIT_KEYS)
    # the per-frame rows come first, the once-per-target rows last
    assert list(stages)[-2:] == list(INIT_KEYS)
    assert stages["whole track()"] >= stages["target_model"]
    assert "| initialize(): whole (once per target) |" in profile_markdown([profile])

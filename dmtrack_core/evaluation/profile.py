"""Where one ``track()`` goes, stage by stage, for each inference backend (``dmtrack bench``).

The tracker is built around a ``TimedNetwork``: a pass-through wrapper of the backend that
times each stage it runs (torch: backbone, FPN, ReID map separately; ONNX Runtime: its frame
graph as one stage, which also runs the head for the tracked template, so its "dynamic head"
row is only the check that the prefetched outputs apply) and the stages inside ``detect``
(dynamic head, decoding + NMS), and the ReID embeddings the detector asks for afterwards
(the candidates' and the target model's boxes, in one call). The tracker's own
``timings_ms`` give preprocessing, the association and the run-time target model (every key
besides preprocess, network, association and total becomes a row). Colour histograms are
timed by computing them again on the frame's candidate boxes.

Also ``python -m dmtrack_core.evaluation.profile rss ...``: one contender alone in a fresh
process, reporting its resident memory after a few frames (the bench runs it per contender).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dmtrack_core.model import DMTrack

TRACKER_KEYS = ("preprocess", "network", "association", "total")
INIT_REPEATS = 3  # initialize() is timed on the first frame this often (the first discarded)
INIT_KEYS = ("initialize(): target model (once per target)", "initialize(): whole (once per target)")
EMBED_IN_DETECT = "ReID embeddings inside detect"
EMBED_AFTER_DETECT = "ReID embeddings (candidates + target-model boxes, one call)"


class TimedNetwork:
    """The tracker's network interface around ``inner`` (DMTrack or a runtime backend),
    recording milliseconds per stage into ``stages``."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.torch_model: DMTrack = inner if isinstance(inner, DMTrack) else inner.model
        self.stages: dict[str, list[float]] = defaultdict(list)
        self._in_detect = False

    def __getattr__(self, name: str) -> Any:
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def config(self) -> Any:
        return self.inner.config

    def _timed(self, stage: str, call, *args: Any) -> Any:
        start = time.perf_counter()
        value = call(*args)
        self.stages[stage].append((time.perf_counter() - start) * 1000.0)
        return value

    def extract(self, images: torch.Tensor) -> Any:
        if self.inner is not self.torch_model:
            return self._timed(
                "backbone + FPN + ReID map + dynamic head (ORT graph)", self.inner.extract, images
            )
        from dmtrack_core.model.dmtrack import Features

        model = self.torch_model
        features = self._timed("backbone", model.backbone, images)
        levels = self._timed("FPN", model.neck, features)
        reid = self._timed("ReID map", model.reid, levels[0])
        return Features(levels=levels, reid=reid, image_hw=(images.shape[-2], images.shape[-1]))

    def make_template(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner.make_template(*args, **kwargs)

    def embed_boxes(self, *args: Any, **kwargs: Any) -> Any:
        stage = EMBED_IN_DETECT if self._in_detect else EMBED_AFTER_DETECT
        return self._timed(stage, lambda: self.inner.embed_boxes(*args, **kwargs))

    def flat_outputs(self, levels: list[torch.Tensor], kernels: Any) -> Any:
        return self._timed("dynamic head", self.inner.flat_outputs, levels, kernels)

    def locations(self, features: Any) -> torch.Tensor:
        return self.torch_model.locations(features)

    def detect(
        self,
        features: Any,
        template: Any,
        score_threshold: float,
        nms_iou: float,
        max_candidates: int,
        pre_nms_top_k: int = 200,
        embed: bool = True,
    ):
        from dmtrack_core.inference.onnxruntime_backend import _torch_threads

        threads = getattr(getattr(self.inner, "settings", None), "torch_glue_threads", None)
        head_before = sum(self.stages["dynamic head"])
        embed_key = EMBED_IN_DETECT
        embed_before = sum(self.stages[embed_key])
        self._in_detect = True
        start = time.perf_counter()
        try:
            # DMTrack.detect's own code, with this object's timed head and embeddings
            with _torch_threads(threads):
                found = DMTrack.detect(
                    self,  # type: ignore[arg-type]
                    features,
                    template,
                    score_threshold,
                    nms_iou,
                    max_candidates,
                    pre_nms_top_k,
                    embed,
                )
        finally:
            self._in_detect = False
        if hasattr(self.inner, "remember_template"):  # as the backend's own detect does
            self.inner.remember_template(template)
        total = (time.perf_counter() - start) * 1000.0
        inner_ms = sum(self.stages["dynamic head"]) - head_before + sum(self.stages[embed_key]) - embed_before
        self.stages["decoding + NMS"].append(total - inner_ms)
        return found


@dataclass
class StageProfile:
    backend: str
    frames: int
    stages_ms: dict[str, float] = field(default_factory=dict)  # p50 per stage, in pipeline order


def _build(backend: str, mode: str, weights: str | None) -> tuple[Any, TimedNetwork]:
    """A reid tracker whose network is wrapped by ``TimedNetwork`` (same network as
    ``build_tracker(backend=...)``)."""
    from dmtrack_core.tracking import build_tracker, load_tracker_config
    from dmtrack_core.tracking.tracker import Tracker

    built = build_tracker(
        device="cpu", weights=weights, config=load_tracker_config(mode=mode), backend=backend
    )
    network = getattr(built, "network", None) or built.detector.network
    timed = TimedNetwork(network)
    return Tracker(timed, built.config, torch.device("cpu")), timed


def profile_tracker(
    frames: list[np.ndarray],
    box_xywh: np.ndarray,
    backends: tuple[str, ...] = ("torch", "auto"),
    mode: str = "reid",
    weights: str | None = None,
    warm_up: int = 4,
) -> list[StageProfile]:
    """Stage medians of ``track()`` for each backend, the backends taking turns on each frame."""
    from dmtrack_core.tracking.appearance import colour_histograms

    built = [_build(backend, mode, weights) for backend in backends]
    tracker_times: list[dict[str, list[float]]] = [defaultdict(list) for _ in built]
    for _ in range(INIT_REPEATS):
        for (tracker, timed), times in zip(built, tracker_times, strict=True):
            timings = tracker.initialize(frames[0], box_xywh).timings_ms
            times[INIT_KEYS[0]].append(timings["target_model"])
            times[INIT_KEYS[1]].append(timings["total"])
            timed.stages.clear()
    for index, frame in enumerate(frames[1:]):
        for (tracker, timed), times in zip(built, tracker_times, strict=True):
            if index == warm_up:
                timed.stages.clear()
            result = tracker.track(frame)
            boxes = np.array([result.box] + [d.box for d in result.distractors], dtype=np.float64)
            boxes[:, 2:] += boxes[:, :2]
            config = tracker.config
            start = time.perf_counter()
            if config.mode == "reid" and config.colour_weight > 0:
                colour_histograms(frame, boxes, config.colour_bins, config.colour_box_shrink)
            colour_ms = (time.perf_counter() - start) * 1000.0
            if index >= warm_up:
                times["colour histograms (reported boxes, timed again)"].append(colour_ms)
                for key, value in result.timings_ms.items():
                    times[key].append(value)
    profiles = []
    for backend, (_, timed), times in zip(backends, built, tracker_times, strict=True):
        stages = {"preprocess (letterbox + normalise)": float(np.median(times["preprocess"]))}
        stages.update({name: float(np.median(values)) for name, values in timed.stages.items() if values})
        stages["network as the tracker times it"] = float(np.median(times["network"]))
        stages.update({k: float(np.median(v)) for k, v in times.items() if k not in TRACKER_KEYS + INIT_KEYS})
        stages["association, state machine"] = float(np.median(times["association"]))
        stages["whole track()"] = float(np.median(times["total"]))
        for key in INIT_KEYS:
            # the first initialize pays one-off costs (the new template's head graph, caches)
            stages[key] = float(np.median(times[key][1:]))
        name = backend if backend != "auto" else f"auto ({_backend_name(timed.inner)})"
        profiles.append(StageProfile(name, len(times["total"]), stages))
    return profiles


def _backend_name(network: Any) -> str:
    return getattr(network, "backend", "torch")


STAGE_ORDER = (
    "preprocess (letterbox + normalise)",
    "backbone",
    "FPN",
    "ReID map",
    "backbone + FPN + ReID map + dynamic head (ORT graph)",
    "dynamic head",
    "decoding + NMS",
    EMBED_IN_DETECT,
    EMBED_AFTER_DETECT,
    "network as the tracker times it",
)


def profile_markdown(profiles: list[StageProfile]) -> str:
    names: list[str] = [n for n in STAGE_ORDER if any(n in p.stages_ms for p in profiles)]
    for profile in profiles:
        names += [n for n in profile.stages_ms if n not in names]
    header = "| Stage | " + " | ".join(f"{p.backend} p50 ms" for p in profiles) + " |"
    lines = [header, "| --- |" + " --- |" * len(profiles)]
    for name in names:
        cells = [f"{p.stages_ms[name]:.2f}" if name in p.stages_ms else "-" for p in profiles]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------
# resident memory of one contender, alone in this process
# ------------------------------------------------------------------------------------------


def _rss_mb() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MB."""
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = float(line.split()[1]) / 1024.0
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure_rss(
    spec: str, backend: str, frames_path: Path, box_xywh: np.ndarray, weights: str | None
) -> dict:
    frames = np.load(frames_path)
    if spec in ("csrt", "kcf", "mil"):
        from dmtrack_core.evaluation.baselines import OpenCVTracker

        tracker: Any = OpenCVTracker(spec)
    else:
        from dmtrack_core.evaluation.runner import DMTrackAdapter, dmtrack_config
        from dmtrack_core.tracking import build_tracker

        built = build_tracker(device="cpu", weights=weights, config=dmtrack_config(spec), backend=backend)
        tracker = DMTrackAdapter(built, spec)
    tracker.initialize(frames[0], box_xywh)
    for frame in frames[1:]:
        tracker.track(frame)
    current, peak = _rss_mb()
    return {"spec": spec, "backend": backend, "rss_mb": current, "peak_rss_mb": peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dmtrack_core.evaluation.profile")
    sub = parser.add_subparsers(dest="command", required=True)
    rss = sub.add_parser("rss", help="resident memory of one tracker alone in this process (JSON line)")
    rss.add_argument("--tracker", required=True, help="csrt | kcf | dmtrack-<mode>")
    rss.add_argument("--backend", default="auto")
    rss.add_argument("--frames", type=Path, required=True, help=".npy (N, H, W, 3) uint8 RGB frames")
    rss.add_argument("--box", type=float, nargs=4, required=True, help="x y w h on the first frame")
    rss.add_argument("--weights", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    print(json.dumps(measure_rss(args.tracker, args.backend, args.frames, np.array(args.box), args.weights)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""One-pass evaluation (OPE): initialise on frame 1, track to the end, never re-initialise.

Results are written LaSOT-style so the official toolkits can read them too::

    <out>/<tracker>/<sequence>.txt            one "x,y,w,h" float line per frame
    <out>/<tracker>/<sequence>_time.txt       seconds per frame (frame 1: initialisation)
    <out>/<tracker>/<sequence>_presence.txt   presence score per frame (frame 1: 1.0)

A sequence whose three files are complete (one line per frame each) is skipped on a rerun, so
an interrupted evaluation resumes where it stopped; files are written to a temporary name
and renamed, so an interruption never leaves a file that looks complete.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
from tqdm import tqdm

from dmtrack_core.evaluation.datasets import Sequence
from dmtrack_core.evaluation.metrics import (
    CurveScores,
    Got10kScores,
    VotLtScores,
    average_scores,
    got10k_scores,
    score_sequence,
    vot_lt_scores,
)

if TYPE_CHECKING:
    from dmtrack_core.tracking.config import TrackerConfig


@runtime_checkable
class SequenceTracker(Protocol):
    """What the OPE runner drives (contract in docs/architecture.md)."""

    name: str

    def initialize(self, image: np.ndarray, box_xywh: np.ndarray) -> None: ...

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float]: ...


@dataclass
class SequenceResult:
    boxes: np.ndarray  # (N, 4) x, y, w, h
    times: np.ndarray  # (N,) seconds
    presence: np.ndarray  # (N,) in [0, 1]

    def __len__(self) -> int:
        return len(self.boxes)


@dataclass(frozen=True)
class ResultPaths:
    boxes: Path
    times: Path
    presence: Path

    def all(self) -> tuple[Path, Path, Path]:
        return (self.boxes, self.times, self.presence)


def result_paths(out_dir: str | Path, tracker_name: str, sequence_name: str) -> ResultPaths:
    folder = Path(out_dir) / tracker_name
    return ResultPaths(
        folder / f"{sequence_name}.txt",
        folder / f"{sequence_name}_time.txt",
        folder / f"{sequence_name}_presence.txt",
    )


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip())


def load_result(
    out_dir: str | Path, tracker_name: str, sequence_name: str, num_frames: int | None = None
) -> SequenceResult | None:
    """The stored result, or None when any file is missing or (given ``num_frames``) short."""
    paths = result_paths(out_dir, tracker_name, sequence_name)
    if not all(p.exists() for p in paths.all()):
        return None
    if num_frames is not None and any(_count_lines(p) != num_frames for p in paths.all()):
        return None
    boxes = np.loadtxt(paths.boxes, delimiter=",", dtype=np.float64, ndmin=2).reshape(-1, 4)
    times = np.loadtxt(paths.times, dtype=np.float64, ndmin=1)
    presence = np.loadtxt(paths.presence, dtype=np.float64, ndmin=1)
    return SequenceResult(boxes, times, presence)


def _write_atomic(path: Path, lines: Iterable[str]) -> None:
    temporary = path.with_name(path.name + ".partial")
    temporary.write_text("".join(f"{line}\n" for line in lines))
    temporary.replace(path)


def format_box(box: np.ndarray) -> str:
    return ",".join(f"{float(v):.4f}" for v in box)


def save_result(out_dir: str | Path, tracker_name: str, sequence_name: str, result: SequenceResult) -> None:
    paths = result_paths(out_dir, tracker_name, sequence_name)
    paths.boxes.parent.mkdir(parents=True, exist_ok=True)
    # the box file goes last: its presence with the right length marks the result complete
    _write_atomic(paths.times, (f"{t:.6f}" for t in result.times))
    _write_atomic(paths.presence, (f"{p:.6f}" for p in result.presence))
    _write_atomic(paths.boxes, (format_box(b) for b in result.boxes))


def run_sequence(
    tracker: SequenceTracker,
    sequence: Sequence,
    max_frames: int | None = None,
    progress: tqdm | None = None,
) -> SequenceResult:
    """Track one sequence; frame 1's box is the initial ground truth."""
    count = len(sequence) if max_frames is None else min(len(sequence), max_frames)
    boxes = np.zeros((count, 4), dtype=np.float64)
    times = np.zeros(count, dtype=np.float64)
    presence = np.zeros(count, dtype=np.float64)
    init_box = sequence.init_box
    image = sequence.read_frame(0)
    start = time.perf_counter()
    tracker.initialize(image, init_box.copy())
    times[0] = time.perf_counter() - start
    boxes[0], presence[0] = init_box, 1.0
    if progress is not None:
        progress.update(1)
    for index in range(1, count):
        image = sequence.read_frame(index)
        start = time.perf_counter()
        box, score = tracker.track(image)
        times[index] = time.perf_counter() - start
        boxes[index] = np.asarray(box, dtype=np.float64).reshape(4)
        presence[index] = float(score)
        if progress is not None:
            progress.update(1)
    return SequenceResult(boxes, times, presence)


def run_ope(
    tracker: SequenceTracker,
    sequences: list[Sequence],
    out_dir: str | Path,
    resume: bool = True,
    show_progress: bool = True,
    max_frames: int | None = None,
) -> dict[str, SequenceResult]:
    """Run ``tracker`` over ``sequences``, writing each result as soon as it is done."""
    results: dict[str, SequenceResult] = {}
    pending = []
    for sequence in sequences:
        count = len(sequence) if max_frames is None else min(len(sequence), max_frames)
        stored = load_result(out_dir, tracker.name, sequence.name, count) if resume else None
        if stored is not None:
            results[sequence.name] = stored
        else:
            pending.append((sequence, count))
    total = sum(count for _, count in pending)
    with tqdm(
        total=total, desc=f"{tracker.name}", unit="frame", disable=not show_progress or not total
    ) as bar:
        for sequence, count in pending:
            bar.set_postfix_str(sequence.name)
            result = run_sequence(tracker, sequence, count, bar)
            save_result(out_dir, tracker.name, sequence.name, result)
            results[sequence.name] = result
    return {s.name: results[s.name] for s in sequences}


# ---------------------------------------------------------------------------------------------
# trackers by name
# ---------------------------------------------------------------------------------------------


class DMTrackAdapter:
    """Puts ``dmtrack_core.tracking.Tracker`` behind the ``SequenceTracker`` protocol."""

    def __init__(self, tracker: object, name: str) -> None:
        self.tracker = tracker
        self.name = name

    def initialize(self, image: np.ndarray, box_xywh: np.ndarray) -> None:
        self.tracker.reset()
        self.tracker.initialize(image, np.asarray(box_xywh, dtype=np.float64))

    def track(self, image: np.ndarray) -> tuple[np.ndarray, float]:
        result = self.tracker.track(image)
        return np.asarray(result.box, dtype=np.float64).reshape(4), float(result.presence)


DMTRACK_PREFIX = "dmtrack-"  # "dmtrack-global", "dmtrack-reid"
# ablation suffixes, combinable: the shipped config with one part switched off
ABLATIONS = {
    "-nocolour": {"colour_weight": 0.0},  # the learned ReID embedding alone
    "-notarget": {"target_model": False},  # the network alone, no run-time target model
    "-noscale": {"target_scale_steps": 0},  # the target model's own candidates keep the last size
    "-nocorrection": {"box_correction": False},  # the network's box extent, not the user's
}


def dmtrack_config(spec: str) -> TrackerConfig:
    """The ``TrackerConfig`` of ``dmtrack-<mode>`` followed by any of the ``ABLATIONS``
    suffixes: the shipped config in that mode with the named parts switched off."""
    from dmtrack_core.tracking import load_tracker_config  # the baselines need no torch

    mode = spec.lower()[len(DMTRACK_PREFIX) :]
    overrides: dict[str, object] = {}
    stripped = True
    while stripped:
        stripped = False
        for suffix, values in ABLATIONS.items():
            if mode.endswith(suffix):
                mode, stripped = mode[: -len(suffix)], True
                overrides.update(values)
    return load_tracker_config(mode=mode, **overrides)


def make_sequence_tracker(spec: str, device: str = "cpu", weights: str | None = None) -> SequenceTracker:
    """``csrt`` / ``kcf`` / ``mil`` or ``dmtrack-<mode>`` with any ``ABLATIONS`` suffixes: the
    lite model in that tracking mode with the shipped tracker config, optionally with parts
    switched off (the colour cue, the run-time target model, its scale filter, the box
    correction)."""
    from dmtrack_core.evaluation.baselines import BASELINES, OpenCVTracker

    spec = spec.lower()
    if spec in BASELINES:
        return OpenCVTracker(spec)
    if spec.startswith(DMTRACK_PREFIX):
        from dmtrack_core.tracking import build_tracker

        tracker = build_tracker(device=device, weights=weights, config=dmtrack_config(spec))
        return DMTrackAdapter(tracker, f"DMTrack-{spec[len(DMTRACK_PREFIX) :]}")
    raise ValueError(
        f"unknown tracker {spec!r}: use one of {BASELINES} or "
        f"dmtrack-global / dmtrack-reid, optionally with {' / '.join(ABLATIONS)}"
    )


# ---------------------------------------------------------------------------------------------
# scores of one tracker over a set of sequences
# ---------------------------------------------------------------------------------------------


@dataclass
class TrackerSummary:
    name: str
    curves: CurveScores
    vot_lt: VotLtScores
    got10k: Got10kScores
    frames: int
    fps: float  # frames per second of the tracking calls (initialisation excluded)


def summarize(name: str, sequences: list[Sequence], results: dict[str, SequenceResult]) -> TrackerSummary:
    """All metrics of one tracker; every sequence must be fully annotated."""
    curves, preds, presences, gts, absents, hidden = [], [], [], [], [], []
    tracking_time, tracked_frames = 0.0, 0
    for sequence in sequences:
        result = results[sequence.name]
        count = len(result)
        gt, absent = sequence.ground_truth[:count], sequence.absent[:count]
        curves.append(score_sequence(result.boxes, gt, absent))
        preds.append(result.boxes)
        presences.append(result.presence)
        gts.append(gt)
        absents.append(absent)
        cover = sequence.attributes.get("cover")
        hidden.append(absent | (np.asarray(cover[:count]) == 0) if cover is not None else absent)
        tracking_time += float(result.times[1:].sum())
        tracked_frames += count - 1
    return TrackerSummary(
        name=name,
        curves=average_scores(curves),
        vot_lt=vot_lt_scores(preds, presences, gts, absents),
        got10k=got10k_scores(preds, gts, hidden),
        frames=sum(len(results[s.name]) for s in sequences),
        fps=tracked_frames / tracking_time if tracking_time > 0 else float("nan"),
    )

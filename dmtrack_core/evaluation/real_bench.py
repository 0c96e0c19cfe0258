"""The real-footage part of ``dmtrack bench``: it leads the report, the synthetic suite follows.

Two measures, both on real imagery the training pipeline never reads:

1. The labelled real sequences (``real_sequences.py``): one-pass evaluation with the LaSOT
   rules plus the VOT-LT F-score, a success plot, a per-sequence AUC table and a contact sheet
   per sequence showing the truth and each tracker's box.
2. One-shot re-detection on real photographs (``redetect.py``, ``eval`` split): initialise on a
   box, track one known warp of the photo, success = IoU >= 0.5 with the warped box.

Every tracker is built by name (``runner.make_sequence_tracker``); one that cannot be built
gets a row saying why.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from dmtrack_core.evaluation.datasets import Sequence
from dmtrack_core.evaluation.metrics import score_sequence
from dmtrack_core.evaluation.runner import (
    SequenceResult,
    SequenceTracker,
    TrackerSummary,
    make_sequence_tracker,
    run_ope,
    summarize,
)

# tracker name -> BGR colour in the contact sheets; the truth is drawn yellow
SHEET_COLOURS = {
    "DMTrack-reid": (0, 0, 255),
    "DMTrack-global": (255, 0, 255),
    "DMTrack-reid-notarget": (150, 150, 150),
    "CSRT": (255, 255, 0),
    "KCF": (0, 160, 0),
}
TRUTH_COLOUR = (0, 230, 255)
SHEET_TILES = 12
OVERALL_HEADER = ["Tracker", "AUC", "P@20", "VOT-LT F (Pr / Re)", "Re-detection", "Re-det. lookalikes", "FPS"]
SHEET_TILE_WIDTH = 260


@dataclass
class RedetectionRow:
    name: str
    success_rate: float
    lookalike_success_rate: float
    mean_iou: float
    cases: int
    seconds: float


@dataclass
class RealResults:
    sequences: list[Sequence]
    summaries: list[TrackerSummary]
    per_sequence_auc: dict[str, dict[str, float]]  # tracker -> sequence -> AUC
    redetection: list[RedetectionRow]
    unavailable: dict[str, str] = field(default_factory=dict)
    plots: list[Path] = field(default_factory=list)
    sheets: list[Path] = field(default_factory=list)


def _log(message: str) -> None:
    print(f"[bench] real: {message}", flush=True)


def _build(
    spec: str, device: str, weights: str | None, unavailable: dict[str, str]
) -> SequenceTracker | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reported once with the synthetic rows
            return make_sequence_tracker(spec, device, weights)
    except Exception as exc:  # a tracker that cannot be built becomes a row, not a crash
        unavailable[spec] = f"tracker unavailable: {type(exc).__name__}: {exc}"
        _log(f"{spec}: {unavailable[spec]}")
        return None


def evaluate_sequences(
    trackers: list[SequenceTracker],
    sequences: list[Sequence],
    results_dir: Path,
    resume: bool = False,
    progress: bool = True,
    max_frames: int | None = None,
) -> tuple[list[TrackerSummary], dict[str, dict[str, float]], dict[str, dict[str, SequenceResult]]]:
    summaries, per_sequence, raw = [], {}, {}
    for tracker in trackers:
        start = time.perf_counter()
        results = run_ope(
            tracker, sequences, results_dir, resume=resume, show_progress=progress, max_frames=max_frames
        )
        summaries.append(summarize(tracker.name, sequences, results))
        per_sequence[tracker.name] = {}
        for s in sequences:
            count = len(results[s.name])
            curves = score_sequence(results[s.name].boxes, s.ground_truth[:count], s.absent[:count])
            per_sequence[tracker.name][s.name] = curves.auc
        raw[tracker.name] = results
        _log(f"{tracker.name}: AUC {summaries[-1].curves.auc:.3f} in {time.perf_counter() - start:.0f} s")
    return summaries, per_sequence, raw


def evaluate_redetection(
    specs: list[str],
    device: str,
    weights: str | None,
    unavailable: dict[str, str],
    progress: bool = True,
    max_cases: int | None = None,
) -> list[RedetectionRow]:
    from dmtrack_core.evaluation.redetect import load_cases, score_tracker

    cases = load_cases("eval")[:max_cases]
    rows = []
    for spec in specs:
        tracker = None if spec in unavailable else _build(spec, device, weights, unavailable)
        if tracker is None:
            continue
        make: Callable[[], SequenceTracker] = lambda tracker=tracker: tracker  # noqa: E731 (initialize resets it)
        start = time.perf_counter()
        score = score_tracker(make, cases, progress=progress)
        rows.append(
            RedetectionRow(
                score.name,
                score.success_rate,
                score.lookalike_success_rate,
                score.mean_iou,
                len(cases),
                time.perf_counter() - start,
            )
        )
        _log(f"re-detection {score.name}: {score.success_rate:.1%} of {len(cases)} cases")
    return rows


def contact_sheet(
    sequence: Sequence, results: dict[str, SequenceResult], path: Path, tiles: int = SHEET_TILES
) -> Path:
    """Evenly spaced frames of ``sequence`` with the truth (yellow, or 'absent') and each
    tracker's box in its colour; a legend strip on top."""
    count = min([len(sequence), *(len(r) for r in results.values())])
    indices = np.linspace(0, count - 1, tiles).round().astype(int)
    tile_images = []
    for index in indices:
        frame = cv2.cvtColor(sequence.read_frame(int(index)), cv2.COLOR_RGB2BGR)
        scale = SHEET_TILE_WIDTH / frame.shape[1]
        frame = cv2.resize(frame, (SHEET_TILE_WIDTH, round(frame.shape[0] * scale)))
        if sequence.absent[index]:
            cv2.putText(
                frame, "absent", (4, frame.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, TRUTH_COLOUR, 1
            )
        else:
            _draw_box(frame, sequence.ground_truth[index] * scale, TRUTH_COLOUR, 2)
        for name, result in results.items():
            _draw_box(frame, result.boxes[index] * scale, SHEET_COLOURS.get(name, (200, 200, 200)), 1)
        cv2.putText(frame, f"#{index}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        tile_images.append(frame)
    columns = 4
    height = max(t.shape[0] for t in tile_images)
    padded = [cv2.copyMakeBorder(t, 0, height - t.shape[0], 0, 0, cv2.BORDER_CONSTANT) for t in tile_images]
    while len(padded) % columns:
        padded.append(np.zeros_like(padded[0]))
    rows = [np.hstack(padded[i : i + columns]) for i in range(0, len(padded), columns)]
    legend = np.zeros((22, rows[0].shape[1], 3), np.uint8)
    x = 4
    for name, colour in [("truth", TRUTH_COLOUR)] + [
        (n, SHEET_COLOURS.get(n, (200, 200, 200))) for n in results
    ]:
        cv2.putText(legend, name, (x, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)
        x += 14 + 9 * len(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack([legend, *rows]))
    return path


def _draw_box(image: np.ndarray, box_xywh: np.ndarray, colour: tuple[int, int, int], thickness: int) -> None:
    if not np.all(np.isfinite(box_xywh)) or box_xywh[2] <= 0 or box_xywh[3] <= 0:
        return
    x, y, w, h = (int(round(v)) for v in box_xywh)
    cv2.rectangle(image, (x, y), (x + w, y + h), colour, thickness)


def run_real(
    specs: list[str],
    device: str,
    weights: str | None,
    out: Path,
    plots_dir: Path,
    resume: bool = False,
    progress: bool = True,
    max_frames: int | None = None,
    max_cases: int | None = None,
) -> RealResults:
    """``max_frames`` (per sequence) and ``max_cases`` (re-detection) shorten a quick run."""
    from dmtrack_core.evaluation.plots import plot_precision, plot_success
    from dmtrack_core.evaluation.real_sequences import load_real_sequences

    sequences = load_real_sequences()
    _log(f"{len(sequences)} labelled sequences, {sum(len(s) for s in sequences)} frames")
    unavailable: dict[str, str] = {}
    trackers = [t for t in (_build(s, device, weights, unavailable) for s in specs) if t is not None]
    summaries, per_sequence, raw = evaluate_sequences(
        trackers, sequences, out / "real_results", resume, progress, max_frames
    )
    redetection = evaluate_redetection(specs, device, weights, unavailable, progress, max_cases)
    scores = {s.name: s.curves for s in summaries}
    plots = []
    if scores:
        plots = [
            plot_success(scores, plots_dir / "real_success.png", "the real sequences"),
            plot_precision(scores, plots_dir / "real_precision.png", "the real sequences"),
        ]
    shown = [name for name in SHEET_COLOURS if name in raw]
    sheets = [
        contact_sheet(s, {n: raw[n][s.name] for n in shown}, plots_dir / f"real_{s.name}.png")
        for s in sequences
    ]
    return RealResults(sequences, summaries, per_sequence, redetection, unavailable, plots, sheets)


def against_csrt(results: RealResults, default: str = "DMTrack-reid") -> str:
    """One sentence: where the default tracker stands against CSRT on real footage."""
    auc = {s.name: s.curves.auc for s in results.summaries}
    redetect = {row.name: row.success_rate for row in results.redetection}
    if default not in auc or "CSRT" not in auc:
        return ""
    text = (
        f"Where the default tracker ({default}) stands against CSRT on real footage: sequence AUC "
        f"{auc[default]:.3f} vs {auc['CSRT']:.3f} ({auc[default] - auc['CSRT']:+.3f})"
    )
    if default in redetect and "CSRT" in redetect:
        text += f", one-shot re-detection {_percent(redetect[default])} vs {_percent(redetect['CSRT'])}"
    best = max(auc, key=lambda name: auc[name])
    return text + f". Best sequence AUC in this run: {best} ({auc[best]:.3f})."


def _percent(value: float) -> str:
    return "-" if not np.isfinite(value) else f"{value:.1%}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(results: RealResults, markdown_dir: Path, device: str) -> str:
    """The report's real-footage section."""
    summaries = sorted(results.summaries, key=lambda s: -s.curves.auc)
    redetect = {row.name: row for row in results.redetection}
    overall = []
    for s in summaries:
        row = redetect.get(s.name)
        overall.append(
            [
                s.name,
                f"{s.curves.auc:.3f}",
                f"{s.curves.precision_at_20:.3f}",
                f"{s.vot_lt.f_score:.3f} ({s.vot_lt.precision:.2f} / {s.vot_lt.recall:.2f})",
                _percent(row.success_rate) if row else "-",
                _percent(row.lookalike_success_rate) if row else "-",
                f"{s.fps:.1f}",
            ]
        )
    overall += [[name, "-", "-", "-", "-", "-", reason] for name, reason in results.unavailable.items()]
    names = [s.name for s in summaries]
    per_sequence = [
        [f"{seq.name} ({len(seq)} fr, {seq.absent.mean():.0%} absent)"]
        + [f"{results.per_sequence_auc[n][seq.name]:.3f}" for n in names]
        for seq in results.sequences
    ]
    frames = sum(len(s) for s in results.sequences)
    cases = results.redetection[0].cases if results.redetection else 0
    standing = against_csrt(results)

    def image(path: Path) -> str:
        return f"![{path.stem}]({os.path.relpath(path.resolve(), markdown_dir)})"

    return f"""## Real footage (this leads: judge every model change here first)

{len(results.sequences)} real clips labelled by the project ({frames} frames; boxes at keyframes
checked by eye, interpolated between, absent frames marked; `docs/real_sequences.md`), and
{cases} one-shot re-detection cases on real photographs of the `eval` split
(`docs/redetection.md`: init on a box, track one known random warp of the photo; success =
IoU >= 0.5 with the warped box). Neither the clips nor these photos are read by training.
AUC / P@20 / VOT-LT F as for the synthetic suite below; FPS of the tracking calls on the real
sequences (device: {device}; frame sizes as the clips come, 176x144 to 1280x720).

{_table(OVERALL_HEADER, overall)}

{standing}

Per sequence (success AUC):

{_table(["Sequence", *names], per_sequence)}

{chr(10).join(image(p) for p in results.plots)}

Contact sheets (truth yellow; each tracker's box in its colour):

{chr(10).join(image(p) for p in results.sheets)}
"""

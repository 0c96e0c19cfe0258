"""What a replay leaves behind: per-frame records, a summary, the annotated video, a contact
sheet and a JSON file. Pure data work (no ROS), so it is easy to test and reuse."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from dmtrack_ros.player import PlaybackLog
from dmtrack_ros.recorder import FrameOutputs

if TYPE_CHECKING:
    from dmtrack_ros.player import FrameSource
    from dmtrack_ros.replay import ReplayOptions


@dataclass
class FrameRecord:
    """One played frame and what the tracker published for it (None: the frame was dropped)."""

    frame_index: int
    stamp_ns: int
    processed: bool
    state: str | None
    presence: float | None
    score: float | None
    target: dict[str, Any] | None  # as published on ~/target, or None when nothing was
    distractors: list[dict[str, Any]]
    latency_ms: float | None  # from publishing the image here to receiving its status here
    node_latency_ms: float | None  # the node's own figure (image stamp -> status published)
    processing_ms: float | None
    node_frames_dropped: int | None  # the node's running count of frames it skipped

    @property
    def target_box(self) -> list[float] | None:
        return self.target["box_xywh"] if self.target else None


@dataclass
class ReplaySummary:
    frames: int
    processed: int
    dropped: int
    processed_fps: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    processing_p50_ms: float | None
    node_reported_dropped: int | None
    seconds_in_state: dict[str, float]
    wall_s: float

    def lines(self) -> list[str]:
        def ms(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.1f} ms"

        states = ", ".join(f"{name} {secs:.1f} s" for name, secs in self.seconds_in_state.items()) or "none"
        return [
            f"frames {self.frames}, processed {self.processed} ({self.processed_fps:.1f} FPS), "
            f"dropped {self.dropped}",
            f"latency p50 {ms(self.latency_p50_ms)}, p95 {ms(self.latency_p95_ms)} "
            f"(tracker step p50 {ms(self.processing_p50_ms)})",
            f"time in state: {states}",
        ]


def build_records(log: PlaybackLog, outputs: dict[int, FrameOutputs]) -> list[FrameRecord]:
    records = []
    for played in log.frames:
        out = outputs.get(played.stamp_ns)
        status = out.status if out else None
        latency = None
        if status is not None and out.status_received_monotonic is not None:
            latency = (out.status_received_monotonic - played.sent_monotonic) * 1000.0
        records.append(
            FrameRecord(
                frame_index=played.index,
                stamp_ns=played.stamp_ns,
                processed=status is not None,
                state=status["state"] if status else None,
                presence=status["presence"] if status else None,
                score=status["score"] if status else None,
                target=out.target if out else None,
                distractors=list(out.distractors or []) if out else [],
                latency_ms=latency,
                node_latency_ms=status["latency_ms"] if status else None,
                processing_ms=status["processing_ms"] if status else None,
                node_frames_dropped=status["frames_dropped"] if status else None,
            )
        )
    return records


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarise(records: list[FrameRecord], source_fps: float, wall_s: float) -> ReplaySummary:
    """Counts, rates and latencies of a run.

    The processed rate is per second of the stream (what a live camera would see); a frame
    the tracker skipped counts towards the state the tracker last reported.
    """
    processed = [r for r in records if r.processed]
    stream_s = len(records) / source_fps if source_fps > 0 else wall_s
    state_frames: Counter[str] = Counter()
    current: str | None = None
    for record in records:
        current = record.state or current
        if current is not None:
            state_frames[current] += 1
    node_drops = [r.node_frames_dropped for r in processed if r.node_frames_dropped is not None]
    return ReplaySummary(
        frames=len(records),
        processed=len(processed),
        dropped=len(records) - len(processed),
        processed_fps=len(processed) / stream_s if stream_s > 0 else 0.0,
        latency_p50_ms=_percentile([r.latency_ms for r in processed if r.latency_ms is not None], 50),
        latency_p95_ms=_percentile([r.latency_ms for r in processed if r.latency_ms is not None], 95),
        processing_p50_ms=_percentile(
            [r.processing_ms for r in processed if r.processing_ms is not None], 50
        ),
        node_reported_dropped=max(node_drops) if node_drops else None,
        seconds_in_state={name: count / source_fps for name, count in sorted(state_frames.items())},
        wall_s=wall_s,
    )


def _distractor_tuples(record: FrameRecord) -> list[tuple[int, list[float], float]]:
    """Distractors as the overlay wants them: (integer id, box xywh, score)."""
    items = []
    for position, item in enumerate(record.distractors):
        ident = item.get("id", "")
        track_id = int(ident) if str(ident).lstrip("-").isdigit() else position
        items.append((track_id, item["box_xywh"], float(item["score"] or 0.0)))
    return items


def annotate(
    image_rgb: np.ndarray, record: FrameRecord | None, shown: FrameRecord | None, fps: float | None
) -> np.ndarray:
    """Draw ``shown`` (the latest processed frame at or before this one) on the frame.

    A frame the tracker skipped carries the previous result, marked as held, so the video
    plays at the source's rate without flicker and without pretending the frame was processed.
    """
    from dmtrack_ros.visualization import draw_tracking_overlay

    if shown is None:
        return draw_tracking_overlay(image_rgb, None, "WAITING", "", [], fps)
    state = shown.state or "UNKNOWN"
    if record is not shown:
        state += " (held)"
    target_id = shown.target["id"] if shown.target else ""
    return draw_tracking_overlay(
        image_rgb, shown.target_box, state, target_id, _distractor_tuples(shown), fps
    )


def _label(image_rgb: np.ndarray, text: str) -> np.ndarray:
    out = image_rgb.copy()
    scale = max(0.4, out.shape[1] / 800)
    thickness = max(1, round(scale * 2))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.rectangle(out, (0, out.shape[0] - th - base - 6), (tw + 8, out.shape[0]), (0, 0, 0), -1)
    cv2.putText(
        out,
        text,
        (4, out.shape[0] - base - 3),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        (255, 255, 255),
        thickness,
        cv2.LINE_AA,
    )
    return out


def contact_sheet(tiles: list[np.ndarray], grid: tuple[int, int], tile_width: int = 320) -> np.ndarray:
    """Tiles (RGB) in a rows x cols grid, each scaled to ``tile_width``; empty cells stay black."""
    rows, cols = grid
    if not tiles:
        raise ValueError("a contact sheet needs at least one frame")
    height = max(1, round(tiles[0].shape[0] * tile_width / tiles[0].shape[1]))
    sheet = np.zeros((rows * height, cols * tile_width, 3), np.uint8)
    for position, tile in enumerate(tiles[: rows * cols]):
        r, c = divmod(position, cols)
        sheet[r * height : (r + 1) * height, c * tile_width : (c + 1) * tile_width] = cv2.resize(
            tile, (tile_width, height), interpolation=cv2.INTER_AREA
        )
    return sheet


def sheet_frame_indices(records: list[FrameRecord], count: int) -> list[int]:
    """Positions (into records) of ``count`` evenly spaced frames, preferring processed ones."""
    if not records:
        return []
    processed = [i for i, r in enumerate(records) if r.processed] or list(range(len(records)))
    wanted = np.linspace(0, len(records) - 1, num=min(count, len(records)))
    chosen = []
    for target in wanted:
        nearest = min(processed, key=lambda i: abs(i - target))
        if nearest not in chosen:
            chosen.append(nearest)
    return sorted(chosen)


def write_outputs(
    options: ReplayOptions, source: FrameSource, records: list[FrameRecord], summary: ReplaySummary
) -> dict[str, Path]:
    """Annotated MP4, contact sheet PNG and JSON into ``options.output_dir``; returns their paths."""
    out_dir = options.output_dir
    files = {"json": out_dir / f"{options.name}.json", "sheet": out_dir / f"{options.name}_contact_sheet.png"}
    if options.write_video:
        files["video"] = out_dir / f"{options.name}.mp4"
    fps = source.fps / options.rate
    by_index = {r.frame_index: r for r in records}
    rows, cols = options.contact_sheet_grid
    sheet_positions = set(sheet_frame_indices(records, rows * cols))
    sheet_indices = {records[i].frame_index for i in sheet_positions}
    tiles: list[np.ndarray] = []
    writer = None
    shown: FrameRecord | None = None
    recent: list[int] = []  # frame indices processed within the last second of the stream
    first = records[0].frame_index if records else 0
    last = records[-1].frame_index + 1 if records else 0
    try:
        for frame in source.frames(first, last):
            record = by_index.get(frame.index)
            if record is not None and record.processed:
                shown = record
                recent.append(frame.index)
            recent = [i for i in recent if frame.index - i < fps]
            image = annotate(frame.image_rgb, record, shown, float(len(recent)) if shown else None)
            if writer is None and options.write_video:
                writer = cv2.VideoWriter(
                    str(files["video"]),
                    cv2.VideoWriter_fourcc(*"mp4v"),
                    fps,
                    (image.shape[1], image.shape[0]),
                )
                if not writer.isOpened():
                    raise OSError(f"cannot write {files['video']}")
            if writer is not None:
                writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            if frame.index in sheet_indices:
                tiles.append(_label(image, f"frame {frame.index}"))
    finally:
        if writer is not None:
            writer.release()
    if tiles:
        cv2.imwrite(str(files["sheet"]), cv2.cvtColor(contact_sheet(tiles, (rows, cols)), cv2.COLOR_RGB2BGR))
    else:
        files.pop("sheet")
    files["json"].write_text(json.dumps(results_document(options, source, records, summary), indent=1))
    return files


def _finite(value: Any) -> Any:
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def results_document(
    options: ReplayOptions, source: FrameSource, records: list[FrameRecord], summary: ReplaySummary
) -> dict[str, Any]:
    frames = []
    for record in records:
        item = asdict(record)
        item["stamp"] = {"sec": record.stamp_ns // 10**9, "nanosec": record.stamp_ns % 10**9}
        item["target_box_xywh"] = record.target_box
        frames.append(item)
    return _finite(
        {
            "source": source.description,
            "init": {
                "frame": options.init_frame,
                "box_xywh": list(options.init_box),
                "target_id": options.target_id,
            },
            "frame_rate": source.fps / options.rate,
            "summary": asdict(summary),
            "frames": frames,
        }
    )

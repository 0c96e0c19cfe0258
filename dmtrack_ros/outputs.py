"""Everything the node publishes, as pure functions of a session outcome.

``render`` turns one :class:`~dmtrack_ros.session.Processed` or
:class:`~dmtrack_ros.session.Rejected` into the messages of that frame; ``diagnostic_status``
turns a period report into the /diagnostics entry. No state, no publishing: tested without
a node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from dmtrack_msgs.msg import TrackerStatus
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from vision_msgs.msg import Detection2D, Detection2DArray
from visualization_msgs.msg import MarkerArray

from dmtrack_ros.conversions import (
    PlaneProjection,
    StatusExtras,
    box_markers,
    camera_info_problem,
    distractor_array,
    ranked_distractors,
    rgb_to_image,
    target_detection,
    tracker_status,
)
from dmtrack_ros.session import Counters, Outcome, PeriodReport, Processed
from dmtrack_ros.visualization import draw_tracking_overlay


@dataclass(frozen=True)
class RenderSettings:
    frame_id: str  # "" = the source image's
    max_distractors: int
    marker_depth: float
    marker_pixel_size: float
    debug_image: bool  # draw ~/debug_image (someone subscribes and it is enabled)
    debug_image_scale: float
    device: str


@dataclass
class FrameOutputs:
    """The messages of one frame; status goes out last, so a status means the rest is out."""

    status: TrackerStatus
    target: Detection2D | None = None
    distractors: Detection2DArray | None = None
    markers: MarkerArray | None = None
    debug_image: Image | None = None
    camera_info_problem: str | None = None  # why camera_info was not used for the markers


def output_header(source: Header, frame_id: str) -> Header:
    return Header(stamp=source.stamp, frame_id=frame_id or source.frame_id)


def _extras(counters: Counters, device: str, processing_ms: float, latency_ms: float, message: str):
    return StatusExtras(
        processing_ms=processing_ms,
        latency_ms=latency_ms,
        frames_received=counters.received,
        frames_processed=counters.processed,
        frames_dropped=counters.dropped,
        frames_lost=counters.lost,
        frames_since_seen=counters.frames_since_seen,
        device=device,
        message=message,
    )


def marker_projection(
    camera_info: CameraInfo | None, image_wh: tuple[int, int], depth: float, pixel_size: float
) -> tuple[PlaneProjection, str | None]:
    """The camera's projection when its camera_info fits the images, else pixel units (and why)."""
    problem = None
    if camera_info is not None:
        problem = camera_info_problem(camera_info, image_wh)
        if problem is None:
            projection = PlaneProjection.from_camera_info(camera_info, depth, image_wh)
            if projection is not None:
                return projection, None
    return PlaneProjection.pixel_units(image_wh, depth, pixel_size), problem


def render(
    outcome: Outcome, settings: RenderSettings, camera_info: CameraInfo | None, now: Header
) -> FrameOutputs:
    """The messages for ``outcome``. ``now`` is the header used by an error that has neither a
    frame nor a request header (a click before any image)."""
    if not isinstance(outcome, Processed):
        if outcome.frame is not None:
            source = outcome.frame.message.header
        elif isinstance(outcome.origin, Header):
            source = outcome.origin
        else:
            source = now
        header = output_header(source, settings.frame_id)
        extras = _extras(outcome.counters, settings.device, 0.0, 0.0, outcome.reason)
        return FrameOutputs(status=tracker_status(None, header, extras, "ERROR"))

    header = output_header(outcome.frame.message.header, settings.frame_id)
    result, image = outcome.result, outcome.image
    distractors = ranked_distractors(result, settings.max_distractors)
    target_box = np.asarray(result.box, dtype=np.float64) if outcome.tracked else None
    image_wh = (image.shape[1], image.shape[0])
    projection, problem = marker_projection(
        camera_info, image_wh, settings.marker_depth, settings.marker_pixel_size
    )
    outputs = FrameOutputs(
        status=tracker_status(
            result,
            header,
            _extras(
                outcome.counters,
                settings.device,
                outcome.processing_ms,
                outcome.latency_ms,
                outcome.message,
            ),
            max_distractors=settings.max_distractors,
        ),
        target=target_detection(result, header) if outcome.tracked else None,
        distractors=distractor_array(result, header, settings.max_distractors),
        markers=box_markers(
            header,
            target_box,
            outcome.state == "UNCERTAIN",
            [(d.track_id, d.box) for d in distractors],
            projection,
        ),
        camera_info_problem=problem,
    )
    if settings.debug_image:
        overlay = draw_tracking_overlay(
            image,
            target_box,
            outcome.state,
            result.target_id if result is not None else "",
            [(int(d.track_id), d.box, float(d.score)) for d in distractors],
            outcome.fps,
            settings.debug_image_scale,
        )
        outputs.debug_image = rgb_to_image(overlay, header)
    return outputs


def diagnostic_status(
    report: PeriodReport, name: str, device: str, requested_device: str, reliability: str, loss_advice: str
) -> DiagnosticStatus:
    """The node's /diagnostics entry for one period."""
    totals = report.totals
    level, message = DiagnosticStatus.OK, report.last_state.lower()
    if report.paused:
        level, message = DiagnosticStatus.OK, "paused (~/enable false)"
    elif totals["received"] == 0:
        level, message = DiagnosticStatus.WARN, "no image received yet"
    elif report.last_state == "ERROR":
        level, message = DiagnosticStatus.ERROR, report.last_error
    elif report.lost > 0:
        level, message = DiagnosticStatus.WARN, f"{report.lost} frames lost in transport; {loss_advice}"
    elif report.processed == 0:
        level, message = DiagnosticStatus.WARN, "no frame processed in the last period"
    latencies = report.latencies_ms
    values: dict[str, Any] = {
        "rate_hz": f"{report.processed / report.period_s:.2f}",
        "latency_ms_mean": f"{float(np.mean(latencies)) if latencies else 0.0:.1f}",
        "latency_ms_max": f"{max(latencies) if latencies else 0.0:.1f}",
        "frames_received": totals["received"],
        "frames_processed": totals["processed"],
        "frames_dropped": totals["dropped"],
        "frames_dropped_overwritten": totals["dropped_overwritten"],
        "frames_dropped_stale": totals["dropped_stale"],
        "frames_dropped_stale_in_period": report.dropped_stale,
        "frames_lost_transport": totals["lost"],
        "frames_lost_transport_in_period": report.lost,
        "history_frames": totals["history_frames"],
        "history_mb": f"{totals['history_bytes'] / 2**20:.1f}",
        "errors": totals["errors"],
        "state": report.last_state,
        "paused": str(report.paused).lower(),
        "image_reliability": reliability,
        "device": device,
        "requested_device": requested_device,
    }
    return DiagnosticStatus(
        level=level,
        name=f"{name}: tracker",
        message=message,
        hardware_id=device,
        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
    )

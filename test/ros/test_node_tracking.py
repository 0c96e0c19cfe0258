"""The node in its own process tracks a generated sequence published frame by frame by a
test node: accuracy with the shipped weights, LOST and silence while the target is out of
view, re-acquisition, and the headers of every output.

The sequence is played in lock-step (each frame is published once the previous one has its
status), so every frame is processed and can be scored against the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from dmtrack_msgs.msg import TrackerStatus
from node_harness import FRAME_ID, iou_xywh, running_node, stamp_ns, synthetic_sequence
from sensor_msgs.msg import CameraInfo
from visualization_msgs.msg import MarkerArray

from dmtrack_ros.conversions import bbox_to_box

FRAME_TIMEOUT_S = 60.0
MIN_IOU = 0.5
# The node must track through real topics; how well is the model's business (BENCHMARKS.md).
# On this sequence the stage-2 weights had 54-55 of 67 frames, the stage-3 (real imagery)
# weights 52 (the synthetic suite lost a little with them, MODEL_CARD.md); 0.75 = 50 frames.
MIN_SUCCESS_RATE = 0.75


@dataclass
class Run:
    sequence: object
    stamps: list[int]
    status: dict[int, TrackerStatus] = field(default_factory=dict)  # the last status per stamp
    target_boxes: dict[int, np.ndarray] = field(default_factory=dict)
    outputs: dict[str, list] = field(default_factory=dict)
    log: str = ""


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    sequence = synthetic_sequence(seed=1)
    assert sequence.out_of_view.any(), "the scenario needs the target to leave the view"
    # every frame must get a status here: a loaded CI machine must not age a frame out
    parameters = {"debug_image_scale": 0.5, "max_image_age": 30.0}
    with running_node(tmp_path_factory.mktemp("tracking"), parameters) as (process, client):
        info = CameraInfo(width=320, height=240, k=[300.0, 0, 160.0, 0, 300.0, 120.0, 0, 0, 1.0])
        info.header.frame_id = FRAME_ID
        client.info_pub.publish(info)
        stamps = []
        first = client.publish_image(sequence.frames[0])
        client.wait_status(first, FRAME_TIMEOUT_S, process)
        client.publish_init(sequence.ground_truth[0], first, "the_target")
        client.wait_until(lambda: len(client.statuses_for(first)) >= 2, FRAME_TIMEOUT_S, "init", process)
        stamps.append(first)
        for frame in sequence.frames[1:]:
            stamp = client.publish_image(frame)
            client.wait_status(stamp, FRAME_TIMEOUT_S, process)
            stamps.append(stamp)
        result = Run(sequence, stamps, log=process.log())
        for name in ("target", "distractors", "status", "markers", "debug_image"):
            result.outputs[name] = client.messages(name)
    for status in result.outputs["status"]:
        result.status[stamp_ns(status.header)] = status
    for target in result.outputs["target"]:
        result.target_boxes[stamp_ns(target.header)] = bbox_to_box(target.bbox)
    return result


def test_target_overlaps_the_truth_on_most_visible_frames(run):
    visible = [i for i in range(1, len(run.stamps)) if not run.sequence.absent[i]]
    hits = [
        i
        for i in visible
        if run.stamps[i] in run.target_boxes
        and iou_xywh(run.target_boxes[run.stamps[i]], run.sequence.ground_truth[i]) >= MIN_IOU
    ]
    rate = len(hits) / len(visible)
    assert rate >= MIN_SUCCESS_RATE, (
        f"~/target has IoU >= {MIN_IOU} on {rate:.0%} of {len(visible)} visible frames "
        f"(needs {MIN_SUCCESS_RATE:.0%}); first log lines:\n{run.log[:1500]}"
    )


def out_of_view_spell(run) -> tuple[int, int]:
    indices = np.flatnonzero(run.sequence.out_of_view)
    return int(indices[0]), int(indices[-1])


def test_lost_and_silent_while_out_of_view(run):
    from dmtrack_core.tracking import load_tracker_config

    first, last = out_of_view_spell(run)
    # the state machine needs misses_to_lost consecutive misses before it says LOST
    settle = load_tracker_config().misses_to_lost + 2
    checked = list(range(first + settle, last + 1))
    assert len(checked) >= 5, "the out-of-view spell is too short to check"
    states = [run.status[run.stamps[i]].state for i in checked]
    assert all(state == TrackerStatus.LOST for state in states), f"states out of view: {states}"
    published = [i for i in checked if run.stamps[i] in run.target_boxes]
    assert published == [], f"~/target published while the target was out of view: frames {published}"


def test_reacquired_after_reentry(run):
    _, last = out_of_view_spell(run)
    window = [i for i in range(last + 1, min(last + 21, len(run.stamps))) if not run.sequence.absent[i]]
    assert window, "no visible frame after the target came back"
    reacquired = [
        i
        for i in window
        if run.status[run.stamps[i]].state == TrackerStatus.TRACKING
        and run.stamps[i] in run.target_boxes
        and iou_xywh(run.target_boxes[run.stamps[i]], run.sequence.ground_truth[i]) >= MIN_IOU
    ]
    assert reacquired, f"not re-acquired within {len(window)} visible frames after re-entry"


def output_header(msg):
    """The header of an output message (a MarkerArray's is that of its first marker)."""
    return msg.markers[0].header if isinstance(msg, MarkerArray) else msg.header


def test_every_output_carries_the_source_stamp_and_frame_id(run):
    published = set(run.stamps)
    for name, messages in run.outputs.items():
        assert messages, f"nothing received on ~/{name}"
        for msg in messages:
            header = output_header(msg)
            assert stamp_ns(header) in published, f"~/{name} has a stamp no image had"
            assert header.frame_id == FRAME_ID, f"~/{name} frame_id {header.frame_id!r}"
    for array in run.outputs["distractors"]:
        assert all(d.header == array.header for d in array.detections)
    for markers in run.outputs["markers"]:
        assert markers.markers[0].action == markers.markers[0].DELETEALL
        assert {stamp_ns(m.header) for m in markers.markers} == {stamp_ns(markers.markers[0].header)}
        assert {m.header.frame_id for m in markers.markers} == {FRAME_ID}


def test_status_distractors_and_markers_go_out_for_every_processed_frame(run):
    for name in ("status", "distractors", "markers", "debug_image"):
        stamps = {stamp_ns(output_header(m)) for m in run.outputs[name]}
        assert stamps == set(run.stamps), f"~/{name} missed frames"
    statuses = [run.status[s] for s in run.stamps]
    processed = [s.frames_processed for s in statuses]
    assert processed == sorted(processed) and processed[-1] >= len(run.stamps)
    assert all(
        s.device == "cpu" and s.processing_ms > 0 and s.latency_ms >= s.processing_ms for s in statuses[1:]
    )
    assert all(s.target_id == "the_target" for s in statuses[1:])
    debug = run.outputs["debug_image"][-1]
    assert (debug.width, debug.height, debug.encoding) == (160, 120, "rgb8")  # scaled by 0.5


def test_markers_are_projected_with_camera_info(run):
    markers = next(m for m in run.outputs["markers"] if len(m.markers) > 1)
    z_values = {round(p.z, 6) for marker in markers.markers[1:] for p in marker.points}
    assert z_values == {2.0}  # marker_depth from config/dmtrack.yaml
    xs = [p.x for p in markers.markers[1].points]
    # pixels -> metres with fx = 300 at 2 m: a box at most 320 px wide spans at most 2.2 m
    assert max(xs) - min(xs) < 320 * 2.0 / 300

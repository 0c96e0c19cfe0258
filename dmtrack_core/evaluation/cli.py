"""Sub-commands ``dmtrack synth``, ``dmtrack eval`` and ``dmtrack bench``."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path


def parse_seeds(text: str) -> list[int]:
    """``5`` or ``0:20`` (end exclusive) or ``1,4,9``."""
    if ":" in text:
        start, stop = (int(v) for v in text.split(":", 1))
        return list(range(start, stop))
    return [int(v) for v in text.split(",") if v.strip()]


def _run_synth(args: argparse.Namespace) -> int:
    from dmtrack_core.evaluation.synth import BENCH_CONFIG, BENCH_SEEDS, generate_suite

    seeds = list(BENCH_SEEDS) if args.bench_suite else parse_seeds(args.seeds)
    config = BENCH_CONFIG
    if args.min_frames is not None or args.max_frames is not None:
        config = replace(
            config,
            min_frames=args.min_frames or config.min_frames,
            max_frames=args.max_frames or max(config.max_frames, args.min_frames or 0),
        )
    folders = generate_suite(args.out, seeds, config, progress=not args.quiet)
    print(f"{len(folders)} sequences in {args.out}")
    return 0


def _run_eval(args: argparse.Namespace) -> int:
    from dmtrack_core.evaluation.datasets import read_dataset
    from dmtrack_core.evaluation.plots import plot_precision, plot_success
    from dmtrack_core.evaluation.runner import make_sequence_tracker, run_ope, summarize

    sequences = read_dataset(args.dataset, args.root, args.sequences)
    scorable = all(s.fully_annotated for s in sequences)
    summaries = []
    for spec in args.trackers:
        tracker = make_sequence_tracker(spec, args.device, args.weights)
        results = run_ope(
            tracker,
            sequences,
            args.out,
            resume=not args.fresh,
            show_progress=not args.quiet,
            max_frames=args.max_frames,
        )
        if scorable:
            summaries.append(summarize(tracker.name, sequences, results))
    if not scorable:
        print(
            f"results in {args.out}; this split has no ground truth past frame 1 (submit them to its server)"
        )
        return 0
    print(
        f"{'tracker':<18} {'AUC':>6} {'P@20':>6} {'NP@.2':>6} {'AO':>6} {'SR.5':>6} {'F(LT)':>6} {'FPS':>7}"
    )
    for s in summaries:
        curves, got = s.curves, s.got10k
        print(
            f"{s.name:<18} {curves.auc:6.3f} {curves.precision_at_20:6.3f} "
            f"{curves.norm_precision_at_020:6.3f} "
            f"{got.average_overlap:6.3f} {got.success_rate_50:6.3f} {s.vot_lt.f_score:6.3f} {s.fps:7.1f}"
        )
    if args.plots:
        scores = {s.name: s.curves for s in summaries}
        plot_success(scores, Path(args.plots) / "success.png", args.dataset)
        plot_precision(scores, Path(args.plots) / "precision.png", args.dataset)
        print(f"plots in {args.plots}")
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from dmtrack_core.evaluation.bench import run_from_args

    return run_from_args(args)


def register(subparsers: argparse._SubParsersAction) -> None:
    synth = subparsers.add_parser("synth", help="write synthetic LaSOT-format sequences with distractors")
    synth.add_argument(
        "--out", type=Path, required=True, help="folder to write <name>/img, groundtruth.txt, ..."
    )
    synth.add_argument("--seeds", default="0:10", help="'5', '0:20' (end exclusive) or '1,4,9'")
    synth.add_argument("--bench-suite", action="store_true", help="write the benchmark suite's seeds")
    synth.add_argument("--min-frames", type=int, default=None)
    synth.add_argument("--max-frames", type=int, default=None)
    synth.add_argument("--quiet", action="store_true")
    synth.set_defaults(run=_run_synth)

    evaluate = subparsers.add_parser("eval", help="one-pass evaluation on LaSOT, GOT-10k or OTB-style data")
    evaluate.add_argument("--dataset", choices=("lasot", "got10k", "otb"), required=True)
    evaluate.add_argument("--root", type=Path, required=True)
    evaluate.add_argument(
        "--trackers",
        nargs="+",
        default=["dmtrack-reid"],
        help="dmtrack-global, dmtrack-reid, dmtrack-reid-nocolour, csrt, kcf, mil",
    )
    evaluate.add_argument("--sequences", nargs="*", default=None, help="only these sequence names")
    evaluate.add_argument("--out", type=Path, default=Path("eval_output"), help="results folder")
    evaluate.add_argument("--device", default="cpu")
    evaluate.add_argument("--weights", default=None)
    evaluate.add_argument("--max-frames", type=int, default=None)
    evaluate.add_argument("--plots", default=None, help="folder for success/precision PNGs")
    evaluate.add_argument("--fresh", action="store_true", help="ignore stored results")
    evaluate.add_argument("--quiet", action="store_true")
    evaluate.set_defaults(run=_run_eval)

    from dmtrack_core.evaluation.bench import add_arguments

    bench = subparsers.add_parser("bench", help="accuracy + speed benchmark, writes BENCHMARKS.md")
    add_arguments(bench)
    bench.set_defaults(run=_run_bench)

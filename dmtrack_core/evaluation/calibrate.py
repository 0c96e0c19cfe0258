"""``dmtrack calibrate``: fit the tracker's association settings to a set of weights.

The identity thresholds of ``reid`` mode (how similar a candidate must be to the target's
memory, when a look-alike is "known", how sure a match must be) depend on how the ReID
embeddings and scores of particular weights are spread, so new weights need new values.

The network's candidates for a frame depend only on the frame and the initial template, not
on the association's state. So each sequence goes through the network once
(``cache_candidates``) and every setting tried afterwards replays the association alone,
about a millisecond per frame (``replay``). ``coordinate_descent`` then changes one setting
at a time, keeping a change when the objective over the sequences rises:

* ``f_score`` (default): the VOT long-term F-score at the tracker's own decision, i.e. of
  what the node publishes (``~/target`` is silent while LOST). It rewards following the target
  and being silent when it is gone, so it also fits the state machine's settings.
* ``auc``: the success AUC of the reported boxes, which are scored in every frame (LOST too).

The run-time target model (``TrackerConfig.target_model``) adds a score to every cached
candidate (``FrameCandidates.target_scores``) and candidates at its peaks; the replay fuses
them with the weights being tried (``target_score_weight``, ``target_similarity_weight``), so
both are fitted here. What the cache cannot replay is the model's own evolution: candidates are
cached with the filter learned at initialisation (no updates from confident frames) and peak
boxes of the initial size. The fusion weights fitted here are therefore those of a target model
that never updates -- a conservative fit; its other knobs are not searched.

Calibrate on sequences you will not report on: the synthetic benchmark's seeds
(``BENCH_SEEDS``) are refused.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmtrack_core.boxes import xywh_to_xyxy, xyxy_to_xywh
from dmtrack_core.config import save_yaml
from dmtrack_core.evaluation.metrics import average_scores, reported_f_score, score_sequence
from dmtrack_core.tracking.association import TargetAssociator
from dmtrack_core.tracking.candidates import FrameCandidates, keep_above
from dmtrack_core.tracking.config import TrackerConfig, load_tracker_config
from dmtrack_core.tracking.state import TrackState

# What is searched by default: the settings that depend on the weights' score and embedding
# spread. Geometry (Kalman noise, gating) is searched too: it depends on how well boxes fit.
DEFAULT_SPACE: dict[str, tuple[float, ...]] = {
    "colour_weight": (0.0, 0.3, 0.5, 0.65, 0.8),
    "candidate_score": (0.1, 0.15, 0.2, 0.25, 0.3),
    "identity_min_similarity": (0.3, 0.4, 0.5, 0.6, 0.7),
    "anchor_margin": (-0.05, 0.0, 0.02, 0.05),
    "reacquire_similarity": (0.75, 0.8, 0.85, 0.9),
    "reacquire_frames": (1, 2, 3),
    "presence_low": (0.1, 0.15, 0.2, 0.3),
    "presence_high": (0.2, 0.3, 0.4, 0.5),
    "appearance_match_threshold": (0.3, 0.4, 0.5, 0.6),
    "iou_match_threshold": (0.5, 0.6, 0.7, 0.8),
    "kalman_position_std": (0.05, 0.1),
    "kalman_velocity_std": (0.00625, 0.0125, 0.025),
    "memory_write_presence": (0.3, 0.45, 0.6),
    "memory_write_similarity": (0.6, 0.7, 0.8),
    # the state machine: how soon the node goes silent, and how soon it speaks again
    "misses_to_uncertain": (1, 2, 3, 4),
    "misses_to_lost": (5, 7, 10, 15, 20),
    "hits_to_confirm": (1, 2, 3, 4),
    # the run-time target model's share of the candidate score and of the identity similarity
    "target_score_weight": (0.0, 0.5, 0.8, 0.9),
    "target_similarity_weight": (0.0, 0.5, 0.8, 0.9),
}
OBJECTIVES = ("f_score", "auc")


@dataclass
class CachedSequence:
    """One sequence's ground truth and the network's candidates for frames 1..N-1."""

    name: str
    ground_truth: np.ndarray  # (N, 4) x, y, w, h
    absent: np.ndarray  # (N,) bool
    image_wh: tuple[float, float]
    template_embedding: np.ndarray
    frames: list[FrameCandidates]  # with colour histograms when template_colour is set
    template_colour: np.ndarray | None = None  # None when the tracker's config does not use colour


def cache_candidates(
    tracker, name: str, frames: Sequence[np.ndarray], ground_truth: np.ndarray, absent: np.ndarray
) -> CachedSequence:
    """Initialise ``tracker`` on frame 0's true box and keep every later frame's candidates."""
    tracker.initialize(frames[0], ground_truth[0])
    height, width = frames[0].shape[:2]
    return CachedSequence(
        name=name,
        ground_truth=np.asarray(ground_truth, dtype=np.float64),
        absent=np.asarray(absent, dtype=bool),
        image_wh=(float(width), float(height)),
        template_embedding=tracker.template_embedding,
        frames=[tracker.candidates(frame) for frame in frames[1:]],
        template_colour=tracker.template_colour,
    )


@dataclass
class Replayed:
    boxes: np.ndarray  # (N, 4) x, y, w, h reported in every frame
    reported: np.ndarray  # (N,) bool: the target is claimed (state not LOST; the node publishes it)


def replay(sequence: CachedSequence, config: TrackerConfig) -> Replayed:
    """What ``reid`` mode reports with ``config``, frame by frame."""
    associator = TargetAssociator(config)
    associator.initialize(
        xywh_to_xyxy(sequence.ground_truth[0]), sequence.template_embedding, sequence.template_colour
    )
    boxes, reported = [sequence.ground_truth[0].copy()], [True]
    for candidates in sequence.frames:
        # the detector's filter (cached at a lower threshold or the same)
        result = associator.update(keep_above(candidates, config.score_threshold), image_wh=sequence.image_wh)
        boxes.append(xyxy_to_xywh(result.box_xyxy))
        reported.append(result.state is not TrackState.LOST)
    return Replayed(np.array(boxes), np.array(reported))


def mean_auc(sequences: Sequence[CachedSequence], config: TrackerConfig) -> float:
    scores = [score_sequence(replay(s, config).boxes, s.ground_truth, s.absent) for s in sequences]
    return average_scores(scores).auc


def published_f_score(sequences: Sequence[CachedSequence], config: TrackerConfig) -> float:
    replays = [replay(s, config) for s in sequences]
    return reported_f_score(
        [r.boxes for r in replays],
        [r.reported for r in replays],
        [s.ground_truth for s in sequences],
        [s.absent for s in sequences],
    )[2]


def evaluate(sequences: Sequence[CachedSequence], config: TrackerConfig, objective: str) -> float:
    if objective == "f_score":
        return published_f_score(sequences, config)
    if objective == "auc":
        return mean_auc(sequences, config)
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def coordinate_descent(
    sequences: Sequence[CachedSequence],
    base: TrackerConfig,
    space: Mapping[str, Sequence[float]] = DEFAULT_SPACE,
    rounds: int = 2,
    report: Callable[[str], None] = print,
    objective: str = "f_score",
) -> tuple[TrackerConfig, float]:
    """Try each value of each setting in turn, keep what raises the objective; ``rounds``
    passes. Settings that make an invalid config (e.g. presence_low > presence_high) are skipped."""
    best, best_value = base, evaluate(sequences, base, objective)
    report(f"start: {objective} {best_value:.4f}")
    for round_index in range(rounds):
        changed = False
        for name, values in space.items():
            for value in values:
                if getattr(best, name) == value:
                    continue
                try:
                    candidate = dataclasses.replace(best, **{name: type(getattr(best, name))(value)})
                except (ValueError, TypeError):
                    continue
                value_now = evaluate(sequences, candidate, objective)
                if value_now > best_value + 1e-4:
                    best, best_value, changed = candidate, value_now, True
            report(f"round {round_index + 1}: {name} = {getattr(best, name)}  {objective} {best_value:.4f}")
        if not changed:
            break
    return best, best_value


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="fit the tracker's reid-mode thresholds to some weights, on synthetic sequences"
    )
    parser.add_argument("--weights", default=None, help="model weights (default: the shipped lite weights)")
    parser.add_argument("--model", default="dmtrack_lite")
    parser.add_argument("--seeds", default="20000:20008", help="synthetic seeds to fit on (not BENCH_SEEDS)")
    parser.add_argument("--check-seeds", default="", help="other seeds to report the result on")
    parser.add_argument("--base", default=None, help="tracker YAML to start from (default: the shipped one)")
    parser.add_argument("--out", type=Path, default=Path("tracker_calibrated.yaml"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default="f_score",
        help="f_score: VOT-LT F of what the node publishes (default); auc: success AUC of every frame's box",
    )
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(run=run_from_args)


def _cache_seeds(tracker, seeds: list[int]) -> list[CachedSequence]:
    from dmtrack_core.evaluation.synth import BENCH_CONFIG, generate_sequence

    cached = []
    for seed in seeds:
        sequence = generate_sequence(seed, BENCH_CONFIG)
        cached.append(
            cache_candidates(tracker, sequence.name, sequence.frames, sequence.ground_truth, sequence.absent)
        )
        print(f"cached seed {seed}: {len(sequence)} frames", flush=True)
    return cached


def run_from_args(args: argparse.Namespace) -> int:
    from dmtrack_core.evaluation.cli import parse_seeds
    from dmtrack_core.evaluation.synth import BENCH_SEEDS
    from dmtrack_core.tracking.tracker import build_tracker

    seeds = parse_seeds(args.seeds)
    check_seeds = parse_seeds(args.check_seeds) if args.check_seeds else []
    held_out = sorted(set(seeds + check_seeds) & set(BENCH_SEEDS))
    if held_out:
        print(f"error: seeds {held_out} belong to the benchmark suite; calibrate on other seeds")
        return 2
    base = load_tracker_config(args.base)
    # colour histograms are cached whatever the base weight, so that colour_weight can be searched
    caching = dataclasses.replace(base, mode="reid", colour_weight=base.colour_weight or 0.5)
    tracker = build_tracker(device=args.device, weights=args.weights, model=args.model, config=caching)
    fit = _cache_seeds(tracker, seeds)
    best, _ = coordinate_descent(fit, base, rounds=args.rounds, objective=args.objective)
    save_yaml(best, args.out)
    print(f"wrote {args.out}, fitted on seeds {args.seeds} for {args.objective}")
    print(_summary("fit", fit, base, best))
    if check_seeds:
        check = _cache_seeds(tracker, check_seeds)
        print(_summary(f"check seeds {args.check_seeds}", check, base, best))
    return 0


def _summary(label: str, sequences: list[CachedSequence], base: TrackerConfig, best: TrackerConfig) -> str:
    before = (published_f_score(sequences, base), mean_auc(sequences, base))
    after = (published_f_score(sequences, best), mean_auc(sequences, best))
    return f"{label}: F-score {before[0]:.4f} -> {after[0]:.4f}, AUC {before[1]:.4f} -> {after[1]:.4f}"

"""All tracker thresholds in one typed dataclass, with the reason for each default.

Defaults live here and in ``dmtrack_core/configs/tracker.yaml`` (which must agree; a test
checks it). Similarities are cosines of appearance vectors (the ReID embedding fused with a
colour histogram, see ``appearance.py``); boxes are in image pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from dmtrack_core.config import from_dict, load_yaml

MODES = ("global", "reid")
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "configs" / "tracker.yaml"


@dataclass
class TrackerConfig:
    # "reid": keep every look-alike as a tracklet and follow the target's identity (default);
    # "global": the original DMTrack-GS rule, argmax of score * centerness over the frame.
    mode: str = "reid"

    # --- network candidates -------------------------------------------------------------
    score_threshold: float = 0.1  # detect(): low, so weak target evidence still reaches association
    nms_iou: float = 0.5  # the original release's NMS IoU
    max_candidates: int = 20

    # --- tracklets ------------------------------------------------------------------------
    candidate_score: float = 0.15  # candidates below this neither create nor update tracklets
    max_tracklets: int = 16  # hard cap; the least relevant non-target tracklets go first
    max_unmatched_frames: int = 30  # a tracklet unseen this long is deleted
    embedding_momentum: float = 0.9  # tracklet embedding EMA (FairMOT)

    # --- matching -------------------------------------------------------------------------
    appearance_weight: float = 0.98  # fused cost = w * cosine distance + (1 - w) * motion distance
    gating_threshold: float = 9.4877  # chi-square 95 % quantile, 4 dof: Kalman motion gate
    appearance_match_threshold: float = 0.3  # max fused cost for a stage-1 match
    iou_match_threshold: float = 0.8  # max IoU distance (1 - IoU) for a stage-2 match
    # a leftover candidate overlapping the matched target this much is a second box on the
    # target (NMS keeps parts and near-duplicates), not a new object
    duplicate_iou: float = 0.3

    # --- Kalman filter (fractions of the box height) ---------------------------------------
    kalman_position_std: float = 0.1
    kalman_velocity_std: float = 0.025

    # --- target identity ------------------------------------------------------------------
    # below this similarity to the appearance memory a candidate is not the target at all
    # (and its identity confidence, which scales presence, is zero)
    identity_min_similarity: float = 0.5
    # a candidate must be this similar to the memory (for reacquire_frames frames) to
    # become the target after the target was lost
    reacquire_similarity: float = 0.75
    reacquire_frames: int = 2
    # a candidate must be more similar to the target memory than to any distractor anchor
    # by this margin to count as the target
    anchor_margin: float = 0.02

    # --- appearance: learned embedding fused with a colour histogram (tracking/appearance.py)
    # cosine similarities above are (1 - w) * learned + w * colour; 0 = learned embedding only
    colour_weight: float = 0.8
    colour_bins: tuple[int, int, int] = (30, 4, 4)  # hue (6 OpenCV units each), saturation, value
    colour_box_shrink: float = 0.6  # the central part of the box; its border is mostly background

    # --- state machine (presence = score * identity confidence) -----------------------------
    presence_low: float = 0.3  # below: a miss
    presence_high: float = 0.5  # at or above: a confident hit (ends UNCERTAIN)
    misses_to_uncertain: int = 2  # consecutive misses TRACKING -> UNCERTAIN
    misses_to_lost: int = 5  # consecutive misses (from the first) -> LOST
    hits_to_confirm: int = 4  # consecutive confident hits UNCERTAIN -> TRACKING

    # --- appearance memory ----------------------------------------------------------------
    memory_size: int = 8  # ring of confident target embeddings (the template is kept apart)
    memory_write_presence: float = 0.3
    memory_write_similarity: float = 0.8
    memory_write_interval: int = 5  # frames between writes, so the ring spans time
    distractor_anchors: int = 4  # embeddings of look-alikes seen while the target was sure
    anchor_min_similarity: float = 0.5  # only look-alikes are worth remembering
    anchor_min_hits: int = 3  # a distractor tracklet must be this established

    # --- click to box ---------------------------------------------------------------------
    click_box_size: float = 64.0  # default box side (image pixels) centred on a click

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"TrackerConfig.mode must be one of {MODES}, got {self.mode!r}")
        if not 1 <= self.misses_to_uncertain <= self.misses_to_lost:
            raise ValueError("need 1 <= misses_to_uncertain <= misses_to_lost")
        if self.max_tracklets < 1 or self.memory_size < 1 or self.max_candidates < 1:
            raise ValueError("max_tracklets, memory_size and max_candidates must be >= 1")
        if self.distractor_anchors < 0:
            raise ValueError("distractor_anchors must be >= 0")
        if not 0.0 <= self.appearance_weight <= 1.0:
            raise ValueError("appearance_weight must be in [0, 1]")
        if self.identity_min_similarity >= 1.0:
            raise ValueError("identity_min_similarity must be < 1")
        if self.click_box_size <= 0:
            raise ValueError("click_box_size must be > 0")
        if not 0.0 <= self.colour_weight < 1.0:
            raise ValueError("colour_weight must be in [0, 1)")
        self.colour_bins = tuple(int(b) for b in self.colour_bins)  # YAML gives a list
        if len(self.colour_bins) != 3 or min(self.colour_bins) < 1:
            raise ValueError("colour_bins must be three positive counts (hue, saturation, value)")
        if not 0.0 < self.colour_box_shrink <= 1.0:
            raise ValueError("colour_box_shrink must be in (0, 1]")
        if self.presence_low > self.presence_high:
            raise ValueError("presence_low must not exceed presence_high")


def load_tracker_config(path: str | Path | None = None, **overrides: object) -> TrackerConfig:
    """The tracker config from ``path`` (default: the shipped ``tracker.yaml``), with overrides."""
    config = load_yaml(TrackerConfig, path or DEFAULT_CONFIG_PATH)
    if overrides:
        values = asdict(config)
        values.update(overrides)
        config = from_dict(TrackerConfig, values)
    return config

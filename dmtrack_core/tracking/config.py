"""All tracker settings in one typed dataclass, with the reason for each value.

The values themselves are written once, in ``dmtrack_core/configs/tracker.yaml`` (the file
``dmtrack calibrate`` refits): each field's default is read from there when this module is
imported, so ``TrackerConfig()`` and ``load_tracker_config()`` agree by construction and a
field without a value in the YAML file fails at import, naming the field. Similarities are
cosines of appearance vectors (the ReID embedding fused with a colour histogram, see
``appearance.py``); boxes are in image pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from dmtrack_core.config import ConfigError, from_dict, load_yaml
from dmtrack_core.tracking.scale_filter import ScaleFilterSettings

MODES = ("global", "reid")
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parent.parent / "configs" / "tracker.yaml"


def _read_defaults(path: Path) -> dict[str, Any]:
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read the tracker defaults {path}: {exc}") from exc
    # YAML lists become tuples: dataclass defaults must be immutable
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


_DEFAULTS = _read_defaults(DEFAULT_CONFIG_PATH)


def _default(name: str) -> Any:
    if name not in _DEFAULTS:
        raise ConfigError(f"{DEFAULT_CONFIG_PATH.name} has no value for TrackerConfig.{name}")
    return _DEFAULTS[name]


@dataclass
class TrackerConfig:
    # "reid": keep every look-alike as a tracklet and follow the target's identity (default);
    # "global": the original DMTrack-GS rule, argmax of score * centerness over the frame.
    mode: str = _default("mode")

    # --- network candidates -------------------------------------------------------------
    # detect(): low, so weak target evidence still reaches association
    score_threshold: float = _default("score_threshold")
    nms_iou: float = _default("nms_iou")  # the original release's NMS IoU
    max_candidates: int = _default("max_candidates")

    # --- tracklets ------------------------------------------------------------------------
    # candidates below this neither create nor update tracklets
    candidate_score: float = _default("candidate_score")
    # hard cap; the least relevant non-target tracklets go first
    max_tracklets: int = _default("max_tracklets")
    max_unmatched_frames: int = _default("max_unmatched_frames")  # a tracklet unseen this long is deleted
    embedding_momentum: float = _default("embedding_momentum")  # tracklet embedding EMA (FairMOT)

    # --- matching -------------------------------------------------------------------------
    # fused cost = w * cosine distance + (1 - w) * motion distance
    appearance_weight: float = _default("appearance_weight")
    # chi-square 95 % quantile, 4 dof: Kalman motion gate
    gating_threshold: float = _default("gating_threshold")
    # max fused cost for a stage-1 match
    appearance_match_threshold: float = _default("appearance_match_threshold")
    # max IoU distance (1 - IoU) for a stage-2 match
    iou_match_threshold: float = _default("iou_match_threshold")
    # a leftover candidate overlapping the matched target this much is a second box on the
    # target (NMS keeps parts and near-duplicates), not a new object
    duplicate_iou: float = _default("duplicate_iou")

    # --- Kalman filter (fractions of the box height) ---------------------------------------
    kalman_position_std: float = _default("kalman_position_std")
    kalman_velocity_std: float = _default("kalman_velocity_std")

    # --- target identity ------------------------------------------------------------------
    # below this similarity to the appearance memory a candidate is not the target at all
    # (and its identity confidence, which scales presence, is zero)
    identity_min_similarity: float = _default("identity_min_similarity")
    # a candidate must be this similar to the memory (for reacquire_frames frames) to
    # become the target after the target was lost
    reacquire_similarity: float = _default("reacquire_similarity")
    reacquire_frames: int = _default("reacquire_frames")
    # a candidate must be more similar to the target memory than to any distractor anchor
    # by this margin to count as the target
    anchor_margin: float = _default("anchor_margin")

    # --- appearance: learned embedding fused with a colour histogram (tracking/appearance.py)
    # cosine similarities above are (1 - w) * learned + w * colour; 0 = learned embedding only
    colour_weight: float = _default("colour_weight")
    # hue (6 OpenCV units each), saturation, value
    colour_bins: tuple[int, int, int] = _default("colour_bins")
    # the central part of the box; its border is mostly background
    colour_box_shrink: float = _default("colour_box_shrink")

    # --- state machine (presence = score * identity confidence) -----------------------------
    presence_low: float = _default("presence_low")  # below: a miss
    presence_high: float = _default("presence_high")  # at or above: a confident hit (ends UNCERTAIN)
    misses_to_uncertain: int = _default("misses_to_uncertain")  # consecutive misses TRACKING -> UNCERTAIN
    misses_to_lost: int = _default("misses_to_lost")  # consecutive misses (from the first) -> LOST
    hits_to_confirm: int = _default("hits_to_confirm")  # consecutive confident hits UNCERTAIN -> TRACKING

    # --- appearance memory ----------------------------------------------------------------
    # ring of confident target embeddings (the template is kept apart)
    memory_size: int = _default("memory_size")
    memory_write_presence: float = _default("memory_write_presence")
    memory_write_similarity: float = _default("memory_write_similarity")
    # frames between writes, so the ring spans time
    memory_write_interval: int = _default("memory_write_interval")
    # embeddings of look-alikes seen while the target was sure
    distractor_anchors: int = _default("distractor_anchors")
    anchor_min_similarity: float = _default("anchor_min_similarity")  # only look-alikes are worth remembering
    anchor_min_hits: int = _default("anchor_min_hits")  # a distractor tracklet must be this established

    # --- run-time target model (tracking/target_model.py): a correlation filter on the FPN
    # features, learned from the initial frame, scores every candidate and adds candidates at
    # its peaks; False = the network alone (the ablation row)
    target_model: bool = _default("target_model")
    # the filter's side in cells at most; chooses the FPN level (P3 / P4 / P5) by target size
    target_max_filter_cells: int = _default("target_max_filter_cells")
    target_label_sigma: float = _default("target_label_sigma")  # Gaussian label, fraction of the size
    target_regularization: float = _default("target_regularization")  # ridge lambda (relative)
    target_init_iterations: int = _default("target_init_iterations")  # conjugate-gradient steps at init
    target_update_iterations: int = _default("target_update_iterations")  # CG steps per update
    target_memory: int = _default("target_memory")  # confident frames kept besides the initial one
    target_init_weight: float = _default("target_init_weight")  # the initial frame's share of the fit
    # frames between updates; updates only from TRACKING frames with presence >= presence_high
    # whose box the target model itself also sees (response >= target_peak_threshold)
    target_update_interval: int = _default("target_update_interval")
    # a response peak this high (training peak = 1) becomes a candidate when no candidate covers it
    target_peak_threshold: float = _default("target_peak_threshold")
    target_max_peaks: int = _default("target_max_peaks")
    # candidate score = (1 - w) * network score + w * target-model response (ranking, presence)
    target_score_weight: float = _default("target_score_weight")
    # identity similarity = max(s, (1 - v) * s + v * target-model response), s the appearance
    # cosine (reid mode): the model can vouch for a candidate, never lower its match
    target_similarity_weight: float = _default("target_similarity_weight")
    # the size of the model's own candidates (tracking/scale_filter.py): a correlation filter
    # over this many scales (odd; 0 = they keep the target's last size), neighbours this ratio
    # apart, refitted with this weight whenever the target model is updated
    target_scale_steps: int = _default("target_scale_steps")
    target_scale_step: float = _default("target_scale_step")
    target_scale_learning_rate: float = _default("target_scale_learning_rate")

    # --- the user's box convention (tracking/box_correction.py) ------------------------------
    # learn at initialize() how the user's box sits on the network's box of the same object
    # (its best candidate overlapping the user's box by at least box_correction_min_iou) and
    # apply that to every later network box (reid mode); False = the network's own extent
    box_correction: bool = _default("box_correction")
    box_correction_min_iou: float = _default("box_correction_min_iou")

    # --- click to box ---------------------------------------------------------------------
    click_box_size: float = _default("click_box_size")  # default box side (image pixels) centred on a click

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
        for name in ("target_score_weight", "target_similarity_weight", "target_init_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")
        if self.target_max_filter_cells < 1 or self.target_update_interval < 1 or self.target_memory < 0:
            raise ValueError("target_max_filter_cells, target_update_interval >= 1 and target_memory >= 0")
        ScaleFilterSettings.from_config(self)  # refuses settings the scale filter cannot run with
        if not 0.0 < self.box_correction_min_iou <= 1.0:
            raise ValueError("box_correction_min_iou must be in (0, 1]")
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

"""Scripted candidate streams for the association tests (no network involved).

Embeddings are built so that look-alikes are similar but not identical: each object has a
base direction; look-alikes' bases have cosine ``LOOKALIKE_COSINE`` to the target's; each
observation adds noise so it keeps about 0.97 cosine to its own base.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dmtrack_core.tracking.association import AssociationResult, FrameCandidates, TargetAssociator
from dmtrack_core.tracking.config import TrackerConfig

DIM = 32
LOOKALIKE_COSINE = 0.82
NOISE = 0.04  # per-dimension; 1 / sqrt(1 + 32 * 0.04**2) ~ 0.975 cosine to the base


def scripted_config(**overrides: object) -> TrackerConfig:
    """Thresholds for this module's embedding world (look-alikes at 0.82 cosine, own views at
    about 0.97), as `dmtrack calibrate` would fit them: identity thresholds depend on how
    embeddings spread, and the shipped defaults are fitted to the shipped network's."""
    values: dict[str, object] = dict(
        identity_min_similarity=0.7,
        reacquire_similarity=0.9,  # between the look-alikes' 0.82 and the target's own views
        anchor_margin=0.02,
        presence_high=0.5,
        memory_write_presence=0.6,
        candidate_score=0.25,
        appearance_match_threshold=0.4,
        iou_match_threshold=0.5,
    )
    values.update(overrides)
    return TrackerConfig(**values)


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def make_bases(count: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` unit vectors: the first is the target, the others look-alikes of it
    (cosine LOOKALIKE_COSINE to the target, and to each other about LOOKALIKE_COSINE**2)."""
    target = unit(rng.normal(size=DIM))
    bases = [target]
    for _ in range(count - 1):
        other = rng.normal(size=DIM)
        orthogonal = unit(other - other @ target * target)
        bases.append(unit(LOOKALIKE_COSINE * target + np.sqrt(1 - LOOKALIKE_COSINE**2) * orthogonal))
    return bases


def observe(base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return unit(base + NOISE * rng.normal(size=DIM))


def box_at(cx: float, cy: float, w: float = 40.0, h: float = 80.0) -> np.ndarray:
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


@dataclass
class Sighting:
    """One object visible in one frame."""

    name: str
    box_xyxy: np.ndarray
    score: float


@dataclass
class Stream:
    """Frames of sightings; ``bases`` maps object names to their embedding base."""

    bases: dict[str, np.ndarray]
    frames: list[list[Sighting]] = field(default_factory=list)


def run_stream(
    stream: Stream,
    init_box: np.ndarray,
    config: TrackerConfig | None = None,
    seed: int = 0,
    image_wh: tuple[float, float] = (640.0, 480.0),
) -> tuple[TargetAssociator, list[AssociationResult], list[dict[int, str]]]:
    """Run the associator; also return, per frame, which object each matched tracklet saw
    (by box equality), so tests can say which physical object carries the target id."""
    rng = np.random.default_rng(seed)
    associator = TargetAssociator(config or scripted_config())
    associator.initialize(init_box, stream.bases["target"])
    results, owners = [], []
    for sightings in stream.frames:
        # shuffle so the candidate order (e.g. by score) cannot leak the answer
        order = rng.permutation(len(sightings))
        sightings = [sightings[i] for i in order]
        candidates = FrameCandidates(
            np.array([s.box_xyxy for s in sightings]).reshape(-1, 4),
            np.array([s.score for s in sightings]),
            np.array([observe(stream.bases[s.name], rng) for s in sightings]).reshape(-1, DIM),
        )
        results.append(associator.update(candidates, image_wh))
        owner = {}
        for tracklet in associator.tracklets:
            if tracklet.frames_since_update == 0:
                for s in sightings:
                    if np.allclose(tracklet.box_xyxy, s.box_xyxy):
                        owner[tracklet.track_id] = s.name
        owners.append(owner)
    return associator, results, owners


def target_owner(result: AssociationResult, owner: dict[int, str]) -> str | None:
    """The physical object the target identity is on this frame (None if not matched)."""
    if not result.target_matched or result.target_track_id is None:
        return None
    return owner.get(result.target_track_id)

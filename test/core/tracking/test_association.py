"""Association on scripted candidate streams: the target identity and state, frame by frame."""

from __future__ import annotations

import numpy as np
import pytest
from tracking_streams import (
    Sighting,
    Stream,
    box_at,
    make_bases,
    observe,
    run_stream,
    scripted_config,
    target_owner,
)

from dmtrack_core.tracking.association import FrameCandidates, TargetAssociator
from dmtrack_core.tracking.matching import iou_matrix
from dmtrack_core.tracking.state import TrackState

TRACKING, UNCERTAIN, LOST = TrackState.TRACKING, TrackState.UNCERTAIN, TrackState.LOST


def two_objects(seed: int = 1) -> dict[str, np.ndarray]:
    target, distractor = make_bases(2, np.random.default_rng(seed))
    return {"target": target, "distractor": distractor}


def test_lookalike_embeddings_are_close_but_distinguishable() -> None:
    from tracking_streams import observe

    rng = np.random.default_rng(0)
    bases = two_objects()
    own = [observe(bases["target"], rng) @ bases["target"] for _ in range(50)]
    other = [observe(bases["distractor"], rng) @ bases["target"] for _ in range(50)]
    assert min(own) > 0.95
    assert min(other) > 0.7 and max(other) < 0.9


@pytest.mark.parametrize("distractor_score", [0.7, 0.95])
def test_two_lookalikes_crossing_paths_keep_their_identities(distractor_score: float) -> None:
    stream = Stream(two_objects())
    for i in range(50):  # they meet, almost fully overlapping, at frame 25
        stream.frames.append(
            [
                Sighting("target", box_at(100 + 8 * i, 240), 0.8),
                Sighting("distractor", box_at(500 - 8 * i, 244), distractor_score),
            ]
        )
    associator, results, owners = run_stream(stream, box_at(100 - 8, 240))
    for frame, (result, owner) in enumerate(zip(results, owners, strict=True)):
        assert target_owner(result, owner) == "target", f"frame {frame}"
        assert result.state is TRACKING, f"frame {frame}"
        assert result.target_track_id == 1
        assert [d.track_id for d in result.distractors] == [2]
    # the identities survived the crossing: the target ends on the right, moving right
    assert results[-1].box_xyxy[0] > 400


def test_target_hidden_behind_lookalike_while_crossing() -> None:
    """While they overlap, only the look-alike in front is detected; the target comes out the
    other side. The identity must not jump to the look-alike, and must come back."""
    stream = Stream(two_objects())
    hidden = range(22, 29)
    for i in range(60):
        sightings = [Sighting("distractor", box_at(500 - 8 * i, 240), 0.9)]
        if i not in hidden:
            sightings.append(Sighting("target", box_at(100 + 8 * i, 240), 0.8))
        stream.frames.append(sightings)
    config = scripted_config()
    _, results, owners = run_stream(stream, box_at(100 - 8, 240), config)
    for frame, (result, owner) in enumerate(zip(results, owners, strict=True)):
        assert target_owner(result, owner) in ("target", None), f"frame {frame}"
        if frame in hidden:
            assert not result.target_matched
        if frame == hidden.start + config.misses_to_uncertain - 1:
            assert result.state is UNCERTAIN
    back = hidden.stop + config.hits_to_confirm + config.reacquire_frames
    for frame in range(back, 60):
        assert results[frame].state is TRACKING, f"frame {frame}"
        assert target_owner(results[frame], owners[frame]) == "target", f"frame {frame}"


def test_target_occluded_for_20_frames_while_lookalike_stays_visible() -> None:
    stream = Stream(two_objects(seed=2))
    occluded = range(20, 40)
    for i in range(70):
        sightings = [Sighting("distractor", box_at(330, 240), 0.9)]
        if i not in occluded:
            sightings.append(Sighting("target", box_at(200 + i, 240), 0.8))
        stream.frames.append(sightings)
    config = scripted_config()
    _, results, owners = run_stream(stream, box_at(199, 240), config)
    distractor_box = box_at(330, 240)
    for frame, (result, owner) in enumerate(zip(results, owners, strict=True)):
        assert target_owner(result, owner) != "distractor", f"frame {frame}"
        if frame in occluded:  # the reported box never jumps onto the look-alike
            assert iou_matrix(result.box_xyxy, distractor_box)[0, 0] < 0.2, f"frame {frame}"
        if frame < occluded.start:
            assert result.state is TRACKING and target_owner(result, owner) == "target"
        elif frame < occluded.start + config.misses_to_uncertain - 1:
            assert result.state is TRACKING
        elif frame < occluded.start + config.misses_to_lost - 1:
            assert result.state is UNCERTAIN, f"frame {frame}"
        elif frame < occluded.stop:
            assert result.state is LOST, f"frame {frame}"
            assert result.presence < config.presence_low
        elif frame >= occluded.stop + config.reacquire_frames - 1:
            assert result.state is TRACKING, f"frame {frame}"
            assert target_owner(result, owner) == "target", f"frame {frame}"
    # memory was never written while not TRACKING: the look-alike is an anchor, not a view
    assert all(r.presence <= 1.0 for r in results)


def test_target_leaves_view_and_reenters_elsewhere() -> None:
    stream = Stream(two_objects(seed=3))
    leaves = 22  # first frame without the target
    reenters = 60
    for i in range(90):
        sightings = [Sighting("distractor", box_at(320, 100), 0.85)]
        if i < leaves:
            sightings.append(Sighting("target", box_at(400 + 10 * i, 300), 0.8))
        elif i >= reenters:  # comes back on the far left, moving the other way
            sightings.append(Sighting("target", box_at(60 + 4 * (i - reenters), 380), 0.75))
        stream.frames.append(sightings)
    config = scripted_config(misses_to_lost=8)
    associator, results, owners = run_stream(stream, box_at(390, 300), config)
    for frame, (result, owner) in enumerate(zip(results, owners, strict=True)):
        assert target_owner(result, owner) != "distractor", f"frame {frame}"
        if frame < leaves:
            assert result.state is TRACKING
        elif leaves + config.misses_to_lost - 1 <= frame < reenters:
            assert result.state is LOST, f"frame {frame}"
            assert result.presence == 0.0
        elif frame >= reenters + config.reacquire_frames - 1:
            assert result.state is TRACKING, f"frame {frame}"
            assert target_owner(result, owner) == "target"
            assert abs((result.box_xyxy[0] + result.box_xyxy[2]) / 2 - (60 + 4 * (frame - reenters))) < 1e-6
    # the identity moved to a new tracklet: the old one was deleted while out of view
    assert results[-1].target_track_id != 1


def test_lookalike_outscoring_target_for_30_frames_never_takes_the_identity() -> None:
    stream = Stream(two_objects(seed=4))
    outscored = range(10, 40)
    for i in range(60):
        strong = i in outscored
        stream.frames.append(
            [
                Sighting("target", box_at(200 + 3 * i, 240), 0.45 if strong else 0.9),
                Sighting("distractor", box_at(290 + 2 * i, 250), 0.97 if strong else 0.5),
            ]
        )
    _, results, owners = run_stream(stream, box_at(197, 240))
    for frame, (result, owner) in enumerate(zip(results, owners, strict=True)):
        assert target_owner(result, owner) == "target", f"frame {frame}"
        assert result.state is TRACKING, f"frame {frame}"
        assert result.target_track_id == 1
        assert [d.track_id for d in result.distractors] == [2]
        assert result.distractors[0].score > result.score if frame in outscored else True


def test_lookalike_alone_after_loss_is_never_reacquired() -> None:
    """With the target gone for good, a look-alike that appears later stays a distractor."""
    stream = Stream(two_objects(seed=5))
    for i in range(60):
        if i < 5:
            stream.frames.append([Sighting("target", box_at(100 + 2 * i, 200), 0.9)])
        elif i < 20:
            stream.frames.append([])
        else:
            stream.frames.append([Sighting("distractor", box_at(400, 300), 0.95)])
    _, results, owners = run_stream(stream, box_at(98, 200))
    assert results[-1].state is LOST
    for result, owner in zip(results[20:], owners[20:], strict=True):
        assert result.state is LOST
        assert target_owner(result, owner) is None


def test_memory_is_not_written_unless_tracking() -> None:
    rng = np.random.default_rng(0)
    bases = two_objects()
    associator = TargetAssociator(scripted_config(memory_write_interval=1))
    associator.initialize(box_at(100, 100), bases["target"])
    target = FrameCandidates(box_at(100, 100)[None], [0.9], bases["target"][None])
    for _ in range(3):
        associator.update(target)
    written = associator.memory.entries
    assert written > 1
    empty = FrameCandidates(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 32)))
    while associator.state is TRACKING:
        associator.update(empty)
    # an UNCERTAIN frame with a weak (low presence) match writes nothing
    weak = FrameCandidates(
        box_at(100, 100)[None], [0.35], (bases["target"] + 0.05 * rng.normal(size=32))[None]
    )
    associator.update(weak)
    assert associator.state is not TRACKING
    assert associator.memory.entries == written


def test_update_before_initialize_raises() -> None:
    associator = TargetAssociator(scripted_config())
    with pytest.raises(RuntimeError):
        associator.update(FrameCandidates(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 8))))


def test_a_second_box_on_the_target_is_neither_a_tracklet_nor_an_anchor() -> None:
    """Detectors keep a part of the target next to the whole (NMS at IoU 0.5 lets a box
    overlapping 0.4 through). That part looks like the target; were it a tracklet, it would be
    written as a look-alike anchor and the target would stop looking target-like."""
    bases = two_objects()
    bases["target_part"] = bases["target"]  # the same object, seen through a smaller box
    stream = Stream(bases)
    for i in range(80):
        whole = box_at(100 + 4 * i, 240)
        part = whole.copy()
        part[3] = whole[1] + 0.45 * (whole[3] - whole[1])  # the top 45 %: IoU 0.45 with the whole
        stream.frames.append([Sighting("target", whole, 0.8), Sighting("target_part", part, 0.6)])
    associator, results, owners = run_stream(stream, box_at(100 - 4, 240))
    for frame, (result, owner) in enumerate(zip(results, owners, strict=True)):
        assert result.state is TRACKING and target_owner(result, owner) == "target", f"frame {frame}"
        assert result.distractors == [], f"frame {frame}: the part was reported as a distractor"
    assert associator.memory is not None and associator.memory.anchor_entries == 0


def _colour_world_run(colour_weight: float) -> list[tuple[TrackState, str | None]]:
    """A target and a look-alike whose learned embeddings are the same (the network cannot
    tell them apart) but whose colours differ. Both are seen for 15 frames; the target then
    disappears for 20 frames and comes back elsewhere. Returns per frame (state, which object
    carries the target identity)."""
    rng = np.random.default_rng(7)
    (shared,) = make_bases(1, rng)
    target_colour, lookalike_colour = np.array([1.0, 0.0, 0.0]), np.array([0.6, 0.8, 0.0])  # cosine 0.6
    config = scripted_config(colour_weight=colour_weight)
    associator = TargetAssociator(config)
    associator.initialize(box_at(100, 200), shared, target_colour)
    outcome = []
    for frame in range(80):
        sightings = [("lookalike", box_at(450, 200 + frame), lookalike_colour)]
        if frame < 15:
            sightings.append(("target", box_at(100 + 2 * frame, 200), target_colour))
        elif frame >= 35:
            sightings.append(("target", box_at(250, 350), target_colour))
        boxes = np.array([b for _, b, _ in sightings])
        learned = np.array([observe(shared, rng) for _ in sightings])
        colours = np.array([c for _, _, c in sightings])
        result = associator.update(FrameCandidates(boxes, np.full(len(sightings), 0.8), learned, colours))
        owner = None
        if result.target_matched:
            owner = next(name for name, b, _ in sightings if np.allclose(b, result.box_xyxy))
        outcome.append((result.state, owner))
    return outcome


def test_colour_tells_apart_lookalikes_the_learned_embedding_cannot() -> None:
    with_colour = _colour_world_run(colour_weight=0.5)
    assert all(owner != "lookalike" for _, owner in with_colour)
    assert with_colour[25][0] is LOST  # the target was gone for 10 frames
    assert with_colour[-1] == (TRACKING, "target"), "the returning target is re-acquired"
    # the same scene without colour: to the learned embedding the look-alike is the target,
    # and it takes the identity as soon as the target is out of sight
    learned_only = _colour_world_run(colour_weight=0.0)
    assert any(owner == "lookalike" for _, owner in learned_only[15:35])


def test_candidates_without_colours_are_refused_once_the_target_has_one() -> None:
    associator = TargetAssociator(scripted_config(colour_weight=0.5))
    associator.initialize(box_at(100, 200), np.ones(4), np.ones(3))
    with pytest.raises(ValueError, match="colours"):
        associator.update(FrameCandidates(box_at(100, 200)[None], np.array([0.9]), np.ones((1, 4))))

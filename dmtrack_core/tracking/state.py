"""The target's state and the hysteresis that moves it between states.

Kept apart from the association so both modes (``global`` and ``reid``) share one
state machine: a state only changes after several consecutive frames of evidence, so a
single bad detection never flips TRACKING to LOST and a single lucky one never flips back.
"""

from __future__ import annotations

import enum


class TrackState(enum.Enum):
    UNINITIALIZED = "uninitialized"
    TRACKING = "tracking"
    UNCERTAIN = "uncertain"
    LOST = "lost"


class TargetStateMachine:
    """TRACKING -> UNCERTAIN -> LOST on consecutive misses; UNCERTAIN -> TRACKING on
    consecutive confident hits. LOST -> TRACKING either the same way (``recover_from_lost``,
    used by the global mode) or only through :meth:`reacquired` (reid mode, where the
    association decides that a candidate matches the appearance memory)."""

    def __init__(
        self, misses_to_uncertain: int, misses_to_lost: int, hits_to_confirm: int, recover_from_lost: bool
    ) -> None:
        if not 1 <= misses_to_uncertain <= misses_to_lost:
            raise ValueError("need 1 <= misses_to_uncertain <= misses_to_lost")
        self.misses_to_uncertain = misses_to_uncertain
        self.misses_to_lost = misses_to_lost
        self.hits_to_confirm = max(1, hits_to_confirm)
        self.recover_from_lost = recover_from_lost
        self.state = TrackState.UNINITIALIZED
        self.misses = 0
        self.hits = 0

    def start(self) -> None:
        self.state = TrackState.TRACKING
        self.misses = 0
        self.hits = 0

    def reacquired(self) -> None:
        """The association found the target again: trust it at once."""
        self.start()

    def observe(self, seen: bool, confident: bool) -> TrackState:
        """One frame of evidence: ``seen`` = the target was found with acceptable presence,
        ``confident`` = and its presence is high enough to end an UNCERTAIN spell."""
        if self.state is TrackState.UNINITIALIZED:
            return self.state
        if seen:
            self.misses = 0
            self.hits = self.hits + 1 if confident else 0
        else:
            self.misses += 1
            self.hits = 0
        if self.state is TrackState.TRACKING and self.misses >= self.misses_to_uncertain:
            self.state = TrackState.UNCERTAIN
        if self.state is TrackState.UNCERTAIN:
            if self.misses >= self.misses_to_lost:
                self.state = TrackState.LOST
            elif self.hits >= self.hits_to_confirm:
                self.state = TrackState.TRACKING
        elif self.state is TrackState.LOST and self.recover_from_lost and self.hits >= self.hits_to_confirm:
            self.state = TrackState.TRACKING
        return self.state

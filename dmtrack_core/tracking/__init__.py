"""Tracking on top of the network: tracklets, Kalman motion, Hungarian association, the
target's state machine and its bounded appearance memory.

``build_tracker()`` gives a ready :class:`Tracker`; ``association.TargetAssociator`` is the
network-free core (plain arrays in, target identity and state out).
"""

from dmtrack_core.tracking.config import TrackerConfig, load_tracker_config
from dmtrack_core.tracking.errors import (
    DeviceError,
    InvalidBoxError,
    InvalidImageError,
    NotInitializedError,
    TrackerError,
    WeightsError,
)
from dmtrack_core.tracking.state import TrackState
from dmtrack_core.tracking.tracker import Distractor, Tracker, TrackResult, build_tracker, resolve_device

__all__ = [
    "DeviceError",
    "Distractor",
    "InvalidBoxError",
    "InvalidImageError",
    "NotInitializedError",
    "TrackResult",
    "TrackState",
    "Tracker",
    "TrackerConfig",
    "TrackerError",
    "WeightsError",
    "build_tracker",
    "load_tracker_config",
    "resolve_device",
]

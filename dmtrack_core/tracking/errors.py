"""Typed exceptions of the tracker API.

Every bad input raises one of these *before* the tracker changes any state, so a caller
can catch the error, drop the frame and keep tracking.
"""

from __future__ import annotations


class TrackerError(ValueError):
    """Base class for bad input to the tracker."""


class InvalidImageError(TrackerError):
    """The image is empty, not uint8, or not H x W x 3."""


class InvalidBoxError(TrackerError):
    """The box (or click point) is not finite, has no area, or lies entirely outside the frame."""


class NotInitializedError(TrackerError):
    """``track`` (or something needing a target) was called before ``initialize``."""


class WeightsError(RuntimeError):
    """Weights could not be found or loaded."""


class DeviceError(TrackerError, RuntimeError):
    """The requested device cannot be used (e.g. CUDA requested but not available)."""

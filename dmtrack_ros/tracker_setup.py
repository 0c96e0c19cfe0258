"""Building the node's tracker from its parameters (device fallback, weights errors as one line)."""

from __future__ import annotations

import inspect
import warnings
from typing import Any

from dmtrack_ros.params import NodeParams


class StartupError(RuntimeError):
    """The node cannot start (bad parameters, weights, tracker config); the message is one line."""


def _backend_argument(backend: str, build_tracker: Any) -> dict[str, str]:
    """``backend=...`` for ``build_tracker`` when it takes one; a dmtrack_core without the
    choice runs its only backend, which is what "auto" asks for."""
    if "backend" in inspect.signature(build_tracker).parameters:
        return {"backend": backend}
    if backend != "auto":
        raise StartupError(f"backend '{backend}' requested but this dmtrack_core has no backend choice")
    return {}


def build_node_tracker(params: NodeParams, logger) -> tuple[object, str]:
    """The tracker described by ``params`` and the device it runs on.

    CUDA requested but unusable falls back to the CPU with a warning (a tracker that runs
    slowly serves a robot better than one that does not start)."""
    import torch

    from dmtrack_core.config import ConfigError
    from dmtrack_core.tracking import build_tracker
    from dmtrack_core.tracking.config import DEFAULT_CONFIG_PATH, TrackerConfig, load_tracker_config
    from dmtrack_core.tracking.errors import DeviceError, WeightsError

    try:
        if params.tracker_config or DEFAULT_CONFIG_PATH.exists():
            config = load_tracker_config(params.tracker_config or None, **params.tracker_overrides())
        else:
            config = TrackerConfig(**params.tracker_overrides())
    except (ConfigError, ValueError) as exc:
        raise StartupError(f"invalid tracker config: {exc}") from exc

    device = params.device
    if device.startswith("cuda"):
        index = int(device.split(":")[1]) if ":" in device else 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            logger.warning(f"device '{device}' requested but CUDA is not available here; running on cpu")
            device = "cpu"
    weights = params.weights or None
    extra = _backend_argument(params.backend, build_tracker)
    # the core reports e.g. missing shipped weights as Python warnings: route them to the ROS log
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            try:
                tracker = build_tracker(
                    mode=params.mode,
                    device=device,
                    weights=weights,
                    config=config,
                    model=params.model,
                    **extra,
                )
            except DeviceError as exc:
                logger.warning(f"device '{device}' cannot be used ({exc}); running on cpu")
                tracker = build_tracker(
                    mode=params.mode,
                    device="cpu",
                    weights=weights,
                    config=config,
                    model=params.model,
                    **extra,
                )
        except WeightsError as exc:
            raise StartupError(f"cannot load weights: {exc}") from exc
        except (ConfigError, FileNotFoundError, KeyError, ValueError) as exc:
            raise StartupError(f"cannot build the tracker: {exc}") from exc
    for warning in caught:
        logger.warning(str(warning.message))
    return tracker, str(tracker.device)

"""Choosing the inference backend of the per-frame network.

``"torch"``: the ``DMTrack`` module itself (eager). ``"onnxruntime"``: extract and head in ONNX
Runtime (CPU only), exported once and cached (``dmtrack_core.inference.cache``). ``"auto"``:
ONNX Runtime when the device is the CPU and the runtime imports, else torch; a failure to
import, export or load falls back to torch with a warning. An explicit ``"onnxruntime"`` that
cannot run raises ``BackendError``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from dmtrack_core.model import DMTrack

LOG = logging.getLogger(__name__)

BACKENDS = ("auto", "torch", "onnxruntime")


class BackendError(RuntimeError):
    """The requested inference backend cannot run here."""


def onnxruntime_available() -> bool:
    try:
        from dmtrack_core.inference.onnxruntime_backend import import_onnxruntime

        import_onnxruntime()
    except ImportError:
        return False
    return True


def make_network(
    model: DMTrack,
    backend: str = "auto",
    device: torch.device | str = "cpu",
    weights: Path | None = None,
    model_name: str | None = None,
    cache_dir: Path | None = None,
    settings: Any = None,
) -> Any:
    """The object the tracker calls (``DMTrack`` or ``OnnxRuntimeNetwork``) for ``model``
    (eval mode, on ``device``) loaded from ``weights`` (None: not from a file)."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    device = torch.device(device)
    if backend == "torch" or (backend == "auto" and device.type != "cpu"):
        return model
    if device.type != "cpu":
        raise BackendError(f"the onnxruntime backend runs on the CPU only, not on {device}")
    try:
        return _onnxruntime_network(model, weights, model_name or model.config.name, cache_dir, settings)
    except (ImportError, BackendError) as exc:
        if backend == "onnxruntime":
            raise BackendError(f"backend 'onnxruntime' cannot run: {exc}") from exc
        warnings.warn(
            f"backend 'auto': ONNX Runtime unusable ({exc}); using torch", RuntimeWarning, stacklevel=3
        )
        return model


def _onnxruntime_network(
    model: DMTrack, weights: Path | None, model_name: str, cache_dir: Path | None, settings: Any
) -> Any:
    from dmtrack_core.inference.cache import load_or_export
    from dmtrack_core.inference.export import ExportError
    from dmtrack_core.inference.onnxruntime_backend import (
        OnnxRuntimeNetwork,
        RuntimeSettings,
        import_onnxruntime,
        open_session,
    )

    try:
        import_onnxruntime()
    except ImportError as exc:
        raise ImportError(f"onnxruntime is not installed ({exc})") from exc
    settings = settings or RuntimeSettings()

    def check(graphs: Any) -> None:
        open_session(str(graphs.extract), settings)
        open_session(str(graphs.head), settings)

    try:
        graphs = load_or_export(model, weights, model_name, check, cache_dir)
    except ExportError as exc:
        raise BackendError(str(exc)) from exc
    except OSError as exc:
        raise BackendError(f"the ONNX export cache is not usable: {exc}") from exc
    except Exception as exc:  # the runtime rejecting a fresh export: same outcome for the caller
        raise BackendError(f"ONNX Runtime could not load the export: {type(exc).__name__}: {exc}") from exc
    network = OnnxRuntimeNetwork(model, graphs, settings)
    LOG.info("inference backend: onnxruntime (%s)", graphs.manifest.parent)
    return network

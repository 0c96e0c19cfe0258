"""Fast inference of the per-frame network: backends, the ONNX export and its cache.

``make_network(model, backend="auto", device="cpu", weights=path)`` returns what the tracker
calls; ``build_tracker(backend=...)`` does this for you. See docs/inference.md.
"""

from dmtrack_core.inference.backends import BACKENDS, BackendError, make_network, onnxruntime_available

__all__ = ["BACKENDS", "BackendError", "make_network", "onnxruntime_available"]

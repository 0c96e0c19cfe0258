"""The ONNX export cache: next to the weights when that folder is writable, else in the user's
cache folder (``$XDG_CACHE_HOME/dmtrack-ros``, default ``~/.cache/dmtrack-ros``).

A cached export is valid when its manifest's key (SHA-256 of the weights, the model config and
the exporter version) matches and both graph files have the SHA-256 the manifest records. A
missing, stale or corrupt export is rebuilt, with a log line that says which it was. Exports
are serialised by a lock file, so processes started together (a launch file, a test run) export
once, and files are written under temporary names and renamed, so an interruption never leaves
a file that looks valid.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from dmtrack_core.inference.export import export_graphs, export_tools, exporter_version
from dmtrack_core.model import DMTrack

LOG = logging.getLogger(__name__)

CACHE_FOLDER = "onnx_cache"  # beside the weights
USER_CACHE_NAME = "dmtrack-ros"
GRAPH_NAMES = ("extract", "head")


@dataclass(frozen=True)
class CachedGraphs:
    extract: Path
    head: Path
    manifest: Path
    key: str
    status: str  # "hit" | "miss" | "stale" | "corrupt": what was found before any rebuild


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / USER_CACHE_NAME


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def state_sha256(model: DMTrack) -> str:
    """The weights' digest when they come from no file (the untrained network)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(weights_sha256: str, model: DMTrack) -> str:
    description = {
        "weights": weights_sha256,
        "model": dataclasses.asdict(model.config),
        "exporter": exporter_version(),
    }
    return hashlib.sha256(json.dumps(description, sort_keys=True, default=str).encode()).hexdigest()


def _writable_folder(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def cache_location(weights: Path | None, model_name: str, cache_dir: Path | None = None) -> tuple[Path, str]:
    """Folder and file stem of the export of ``weights`` (None: the untrained ``model_name``)."""
    if cache_dir is not None:
        stem = weights.stem if weights is not None else f"{model_name}-untrained"
        return cache_dir, stem
    if weights is not None and _writable_folder(weights.resolve().parent / CACHE_FOLDER):
        return weights.resolve().parent / CACHE_FOLDER, weights.stem
    # the user cache is shared by every weights file: the stem says which one
    source = str(weights.resolve()) if weights is not None else f"{model_name}-untrained"
    tag = hashlib.sha256(source.encode()).hexdigest()[:12]
    stem = f"{weights.stem if weights is not None else model_name}-{tag}"
    return user_cache_dir(), stem


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _inspect(manifest: Path, files: dict[str, Path], key: str) -> tuple[str, str]:
    """("hit" | "miss" | "stale" | "corrupt", why)."""
    if not manifest.exists():
        return "miss", "no cached export"
    try:
        recorded = json.loads(manifest.read_text())
        recorded_key, hashes = recorded["key"], recorded["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return "corrupt", f"unreadable manifest ({type(exc).__name__})"
    if recorded_key != key:
        return "stale", "made from other weights, model config or exporter version"
    for name, path in files.items():
        if not path.is_file():
            return "corrupt", f"{path.name} is missing"
        if file_sha256(path) != hashes.get(name):
            return "corrupt", f"{path.name} does not match its recorded SHA-256"
    return "hit", ""


def cache_files(folder: Path, stem: str) -> tuple[dict[str, Path], Path]:
    """The graph files (by name in ``GRAPH_NAMES``) and the manifest of one cached export."""
    return {name: folder / f"{stem}.{name}.onnx" for name in GRAPH_NAMES}, folder / f"{stem}.onnx.json"


def load_or_export(
    model: DMTrack,
    weights: Path | None,
    model_name: str,
    check: Callable[[CachedGraphs], None],
    cache_dir: Path | None = None,
) -> CachedGraphs:
    """The cached graphs of ``model`` (exported first when missing, stale or corrupt).

    ``check`` opens the graphs (e.g. an inference session); an export that it rejects is
    treated as corrupt and rebuilt once.
    """
    folder, stem = cache_location(weights, model_name, cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    weights_sha = file_sha256(weights) if weights is not None else state_sha256(model)
    key = cache_key(weights_sha, model)
    files, manifest = cache_files(folder, stem)
    with _locked(folder / f"{stem}.lock"):
        status, why = _inspect(manifest, files, key)
        graphs = CachedGraphs(files["extract"], files["head"], manifest, key, status)
        if status == "hit":
            try:
                check(graphs)
                LOG.info("ONNX export cache hit: %s", manifest)
                return graphs
            except Exception as exc:  # the runtime rejects the file: rebuild it
                status, why = "corrupt", f"the runtime could not load it ({type(exc).__name__}: {exc})"
                graphs = dataclasses.replace(graphs, status=status)
        LOG.warning("ONNX export cache %s (%s): exporting %s to %s", status, why, stem, folder)
        _export_into(model, files, manifest, key)
        check(graphs)
        return graphs


def _export_into(model: DMTrack, files: dict[str, Path], manifest: Path, key: str) -> None:
    partial = {name: path.with_name(path.name + ".partial") for name, path in files.items()}
    manifest.unlink(missing_ok=True)  # from here on, a crash leaves a miss, never a bad hit
    with torch.inference_mode(False), torch.no_grad():
        export_graphs(model, partial["extract"], partial["head"])
    hashes = {name: file_sha256(path) for name, path in partial.items()}
    for name, path in partial.items():
        path.replace(files[name])
    record = {"key": key, "sha256": hashes, "exporter": exporter_version(), "tools": export_tools()}
    temporary = manifest.with_name(manifest.name + ".partial")
    temporary.write_text(json.dumps(record, indent=1, sort_keys=True))
    temporary.replace(manifest)

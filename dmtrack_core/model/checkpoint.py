"""Checkpoints: our own format, and loading the original DMTrack-GS release.

Our format is one ``torch.save``d dict of plain data and tensors::

    {"format": "dmtrack_core/1", "model_config": {...}, "state_dict": {...}, "extra": {...}}

so that it loads with ``torch.load(weights_only=True)`` (no pickled code) and rebuilds the
model from its own configuration.

The original release is an mmcv checkpoint ``{"meta", "state_dict", "optimizer"}``. Its
parameter names are mapped onto ours by the explicit prefix table ``ORIGINAL_KEY_RULES``;
every original key must be claimed by a rule, every one of our parameters must be filled
(except modules the original never had, such as the ReID head), and shapes must agree.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from dmtrack_core.config import ConfigError, from_dict, to_dict

LOGGER = logging.getLogger(__name__)

FORMAT = "dmtrack_core/1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, of the wrong format, or does not fit the model."""


# --------------------------------------------------------------------------------------
# Reading files
# --------------------------------------------------------------------------------------


def _read(path: str | os.PathLike[str], map_location: str | torch.device) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # any failure to unpickle/unzip means the file is unusable
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"cannot read checkpoint {path} (corrupt or not a torch file): {reason}"
        ) from exc


def _names(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


# --------------------------------------------------------------------------------------
# Our own format
# --------------------------------------------------------------------------------------


@dataclass
class CheckpointInfo:
    """What a checkpoint of our format says besides the weights."""

    path: Path
    format: str
    model_config: Any  # ModelConfig; typed loosely to avoid importing the model at module load
    extra: dict[str, Any]


_PLAIN_TYPES = (str, int, float, bool, type(None))


def _check_plain(value: Any, where: str) -> None:
    """``weights_only`` loading accepts only plain containers, scalars and tensors."""
    if isinstance(value, (*_PLAIN_TYPES, Tensor)):
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise CheckpointError(f"{where}: key {key!r} is not a str or int")
            _check_plain(item, f"{where}.{key}")
        return
    raise CheckpointError(f"{where}: {type(value).__name__} cannot be stored in a weights-only checkpoint")


def save_checkpoint(
    path: str | os.PathLike[str], model: nn.Module, *, config: Any, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``model``'s weights with its ``config`` (a ``ModelConfig``) and plain ``extra`` data.

    The file is written next to its destination and renamed into place, so an
    interrupted save never leaves a truncated checkpoint behind.
    """
    path = Path(path)
    payload = {
        "format": FORMAT,
        "model_config": to_dict(config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }
    _check_plain(payload["model_config"], "model_config")
    _check_plain(payload["extra"], "extra")
    write_atomically(path, lambda tmp_name: torch.save(payload, tmp_name))
    return path


def write_atomically(path: str | os.PathLike[str], write: Callable[[str], Any]) -> None:
    """Run ``write(temporary_name)`` next to ``path``, then rename the result into place, so an
    interrupted write never leaves a truncated file under the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(tmp_name)
        os.replace(tmp_name, path)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def _read_ours(path: str | os.PathLike[str], map_location: str | torch.device) -> dict[str, Any]:
    payload = _read(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        hint = (
            " (an original DMTrack-GS file? use load_original_dmtrack_gs)" if _looks_original(payload) else ""
        )
        raise CheckpointError(f"{path}: not a {FORMAT} checkpoint (format: {found!r}){hint}")
    for key, kind in (("model_config", dict), ("state_dict", dict), ("extra", dict)):
        if not isinstance(payload.get(key), kind):
            raise CheckpointError(f"{path}: field {key!r} is missing or not a {kind.__name__}")
    return payload


def _model_config(payload: dict[str, Any], path: str | os.PathLike[str]) -> Any:
    from dmtrack_core.model.config import ModelConfig

    try:
        return from_dict(ModelConfig, payload["model_config"], where="model_config")
    except ConfigError as exc:
        raise CheckpointError(f"{path}: stored model_config does not fit ModelConfig: {exc}") from exc


def _shape(value: Any) -> tuple[int, ...] | str:
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


# What the trainer writes (``dmtrack_core.training.trainer``): the model's state under "model"
# next to optimizer, scheduler and RNG states. Defined here so that exporting needs no trainer.
TRAINING_FORMAT = "dmtrack_train/1"

# Parts used only by the training losses; inference-only weight files may leave them out.
TRAINING_ONLY_PREFIXES: tuple[str, ...] = ("id_classifier.",)


def _copy_strict(model: nn.Module, state_dict: Mapping[str, Any], source: str) -> None:
    target = model.state_dict()
    missing = sorted(k for k in set(target) - set(state_dict) if not k.startswith(TRAINING_ONLY_PREFIXES))
    unexpected = sorted(set(state_dict) - set(target))
    wrong_shape = [
        f"{k} {_shape(state_dict[k])} vs {tuple(target[k].shape)}"
        for k in target
        if k in state_dict and _shape(state_dict[k]) != tuple(target[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected {_names(unexpected)}")
    if wrong_shape:
        problems.append(f"shape mismatch {_names(wrong_shape)}")
    if problems:
        raise CheckpointError(f"{source} does not fit the model: " + "; ".join(problems))
    with torch.no_grad():
        for name, tensor in target.items():
            if name in state_dict:
                tensor.copy_(state_dict[name])


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, CheckpointInfo]:
    """Build the model described by a checkpoint of our format and fill its weights."""
    from dmtrack_core.model import build_model

    payload = _read_ours(path, map_location)
    config = _model_config(payload, path)
    model = build_model(config)
    _copy_strict(model, payload["state_dict"], str(path))
    model.to(map_location)
    return model, CheckpointInfo(Path(path), payload["format"], config, payload["extra"])


def load_weights_into(
    model: nn.Module, path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> CheckpointInfo:
    """Fill an existing model from a checkpoint of our format; keys and shapes must match exactly."""
    payload = _read_ours(path, map_location)
    config = _model_config(payload, path)
    _copy_strict(model, payload["state_dict"], str(path))
    return CheckpointInfo(Path(path), payload["format"], config, payload["extra"])


# --------------------------------------------------------------------------------------
# The original DMTrack-GS release
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRule:
    """Original names starting with ``original`` become ``ours`` + the rest of the name.

    A ``*`` in ``original`` stands for one numeric name segment (a layer index); the
    ``*`` in ``ours`` receives the same index.
    """

    original: str
    ours: str

    def apply(self, name: str) -> str | None:
        match = _rule_pattern(self.original).match(name)
        if match is None:
            return None
        ours = self.ours.replace("*", match.group(1)) if match.groups() else self.ours
        return ours + name[match.end() :]


@functools.cache
def _rule_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(re.escape(prefix).replace(r"\*", r"(\d+)"))


# Original prefix -> our prefix, read top to bottom; the first matching rule wins.
# (mmdet's ConvModule wraps its conv as ``.conv`` and its GroupNorm as ``.gn``; our modules
# hold plain convs, and the controller/modulator names say what each kernel is for.)
ORIGINAL_KEY_RULES: tuple[KeyRule, ...] = (
    # DLA-34 + DLAUp (+ unused ida_up and base.fc): same module tree, same names.
    KeyRule("backbone.", "backbone."),
    # FPN
    KeyRule("neck.lateral_convs.*.conv.", "neck.lateral_convs.*."),
    KeyRule("neck.fpn_convs.*.conv.", "neck.output_convs.*."),
    # template branch: one 1x1 modulator per pyramid level
    KeyRule("template.fpn_modulator.*.", "template.modulators.*."),
    # controller: "1" = the 256x256 pre-tower kernels, "2" = the 32x32 post-encoder kernels
    KeyRule("controller.controller_cls1.", "controller.cls_pre."),
    KeyRule("controller.controller_cls2.", "controller.cls_post."),
    KeyRule("controller.controller_reg1.", "controller.reg_pre."),
    KeyRule("controller.controller_reg2.", "controller.reg_post."),
    # static 256->32 downsamplers in front of the post-encoder dynamic convs
    KeyRule("cond_modulator.downsampler_cls.", "head.cls_downsampler."),
    KeyRule("cond_modulator.downsampler_reg.", "head.reg_downsampler."),
    # FCOS head: towers, predictors, per-level box scales
    KeyRule("bbox_head.cls_convs.*.conv.", "head.cls_tower.*.conv."),
    KeyRule("bbox_head.cls_convs.*.gn.", "head.cls_tower.*.norm."),
    KeyRule("bbox_head.reg_convs.*.conv.", "head.reg_tower.*.conv."),
    KeyRule("bbox_head.reg_convs.*.gn.", "head.reg_tower.*.norm."),
    KeyRule("bbox_head.fcos_cls.", "head.cls_predictor."),
    KeyRule("bbox_head.fcos_reg.", "head.box_predictor."),
    KeyRule("bbox_head.fcos_centerness.", "head.centerness_predictor."),
    KeyRule("bbox_head.scales.*.scale", "head.level_scales.*"),
)

# Our parameters that the original model never had: left as initialised, reported.
NOT_IN_ORIGINAL_PREFIXES: tuple[str, ...] = ("reid.", "id_classifier.")

# Original keys that load into modules our forward pass never runs.
UNUSED_ORIGINAL_PREFIXES: tuple[str, ...] = ("backbone.base.fc.", "backbone.ida_up.")


def map_original_key(name: str, rules: tuple[KeyRule, ...] = ORIGINAL_KEY_RULES) -> str | None:
    """Our name for original parameter ``name``, or ``None`` if no rule claims it."""
    for rule in rules:
        ours = rule.apply(name)
        if ours is not None:
            return ours
    return None


@dataclass
class LoadReport:
    """What happened to every key when loading the original checkpoint."""

    source: str
    loaded: list[str] = field(default_factory=list)  # our names that were filled
    missing: list[str] = field(default_factory=list)  # ours that the original should have filled, but did not
    unexpected: list[str] = field(default_factory=list)  # original keys no rule maps (or mapped to nothing)
    shape_mismatches: list[str] = field(default_factory=list)  # "ours <- theirs: (shape) vs (shape)"
    unused: list[str] = field(default_factory=list)  # original keys loaded into modules forward never runs
    not_in_original: list[str] = field(default_factory=list)  # ours the original never had (left initialised)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.shape_mismatches)

    def summary(self) -> str:
        return (
            f"{self.source}: loaded {len(self.loaded)} tensors; missing {len(self.missing)}, "
            f"unexpected {len(self.unexpected)}, shape mismatches {len(self.shape_mismatches)}, "
            f"unused {len(self.unused)} ({_names(self.unused, 3)}), "
            f"not in the original {len(self.not_in_original)} ({_names(self.not_in_original, 3)})"
        )


def _looks_original(payload: Any) -> bool:
    return isinstance(payload, dict) and "state_dict" in payload and "format" not in payload


def _original_state_dict(path_or_state: Any) -> tuple[dict[str, Tensor], str]:
    if isinstance(path_or_state, (str, os.PathLike)):
        payload, source = _read(path_or_state, "cpu"), str(path_or_state)
    else:
        payload, source = path_or_state, "state_dict"
    if isinstance(payload, Mapping) and isinstance(payload.get("state_dict"), Mapping):
        payload = payload["state_dict"]
    if not isinstance(payload, Mapping) or not payload:
        raise CheckpointError(
            f"{source}: expected an mmcv checkpoint or a state_dict, got {type(payload).__name__}"
        )
    not_tensors = [k for k, v in payload.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise CheckpointError(f"{source}: state_dict entries that are not tensors: {_names(not_tensors)}")
    # A checkpoint saved from a (Distributed)DataParallel wrapper prefixes every key.
    state = {k.removeprefix("module."): v for k, v in payload.items()}
    return state, source


def load_original_dmtrack_gs(
    path_or_state: str | os.PathLike[str] | Mapping[str, Any],
    model: nn.Module | None = None,
    *,
    strict: bool = True,
) -> tuple[nn.Module, LoadReport]:
    """Load the original DMTrack-GS weights (mmcv file, its dict, or a bare state_dict).

    ``model`` defaults to a fresh ``build_model("dmtrack_gs_dla34")``. With ``strict`` a
    missing, unexpected or wrongly shaped key raises ``CheckpointError``; otherwise the
    matching keys are loaded and the rest is only reported. Keys that load into modules
    never run (``backbone.ida_up.*``, ``backbone.base.fc.*``) are listed in ``unused``.
    """
    state, source = _original_state_dict(path_or_state)
    if model is None:
        from dmtrack_core.model import build_model

        model = build_model("dmtrack_gs_dla34")
    backbone = getattr(getattr(model, "config", None), "backbone", "dla34")
    if backbone != "dla34":
        raise CheckpointError(
            f"the original DMTrack-GS weights need the dla34 backbone (config dmtrack_gs_dla34), "
            f"not {backbone!r}"
        )
    target = model.state_dict()
    report = LoadReport(source=source)
    filled: dict[str, Tensor] = {}
    wrong_shape: set[str] = set()
    for name, tensor in state.items():
        ours = map_original_key(name)
        if ours is None or ours not in target:
            report.unexpected.append(name if ours is None else f"{name} -> {ours} (no such parameter)")
            continue
        if ours in filled or ours in wrong_shape:
            report.unexpected.append(f"{name} -> {ours} (already filled by another key)")
            continue
        if tuple(tensor.shape) != tuple(target[ours].shape):
            report.shape_mismatches.append(
                f"{ours} <- {name}: {tuple(tensor.shape)} vs ours {tuple(target[ours].shape)}"
            )
            wrong_shape.add(ours)
            continue
        filled[ours] = tensor
        if name.startswith(UNUSED_ORIGINAL_PREFIXES):
            report.unused.append(name)
    for ours in target:
        if ours in filled or ours in wrong_shape:
            continue
        if ours.startswith(NOT_IN_ORIGINAL_PREFIXES):
            report.not_in_original.append(ours)
        else:
            report.missing.append(ours)
    if strict and not report.ok:
        problems = []
        if report.missing:
            problems.append(f"missing {_names(report.missing)}")
        if report.unexpected:
            problems.append(f"unexpected {_names(report.unexpected)}")
        if report.shape_mismatches:
            problems.append(f"shape mismatch {_names(report.shape_mismatches)}")
        raise CheckpointError(f"{source} does not fit the DMTrack-GS model: " + "; ".join(problems))
    with torch.no_grad():
        for ours, tensor in filled.items():
            target[ours].copy_(tensor)
    report.loaded = sorted(filled)
    if report.unused:
        LOGGER.info(
            "original checkpoint: %d keys load into modules that never run: %s",
            len(report.unused),
            _names(report.unused, 3),
        )
    if report.not_in_original:
        LOGGER.info(
            "original checkpoint: %d of our tensors keep their initial values: %s",
            len(report.not_in_original),
            _names(report.not_in_original, 3),
        )
    LOGGER.info(report.summary())
    return model, report


def export_inference_weights(source: str | os.PathLike[str], destination: str | os.PathLike[str]) -> Path:
    """Copy a checkpoint without its training-only parts (the identity classifier), e.g. to
    ship it as default weights; the result still loads strictly. ``source`` is a model
    checkpoint (``save_checkpoint``) or a trainer checkpoint (``TRAINING_FORMAT``)."""
    raw = _read(source, "cpu")
    if isinstance(raw, dict) and raw.get("format") == TRAINING_FORMAT:
        extra = {"step": raw.get("step"), "train_config": raw.get("train_config")}
        payload = {"model_config": raw.get("model_config"), "state_dict": raw.get("model"), "extra": extra}
        if not isinstance(payload["model_config"], dict) or not isinstance(payload["state_dict"], dict):
            raise CheckpointError(f"{source}: a training checkpoint without its model or model_config")
    else:
        payload = _read_ours(source, "cpu")
    config = _model_config(payload, source)
    from dmtrack_core.model import build_model

    model = build_model(config)
    _copy_strict(model, payload["state_dict"], str(source))
    for name in [n for n, _ in model.named_children() if f"{n}.".startswith(TRAINING_ONLY_PREFIXES)]:
        delattr(model, name)
    extra = dict(payload["extra"], inference_only=True)
    return save_checkpoint(destination, model, config=config, extra=extra)

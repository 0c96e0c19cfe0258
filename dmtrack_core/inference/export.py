"""Export the per-frame network to two ONNX graphs.

``extract``: normalised image (1, 3, H, W) and the four dynamic kernels of a template -> FPN
P3..P5, the ReID map and that template's head outputs. ``head``: the FPN levels plus the four
dynamic kernels -> the flat cls / box / centerness outputs in ``LocationGrid`` order (what
``DMTrack.flat_outputs`` returns), for a template other than the one ``extract`` was given.
The template branch, the ReID pooling, decoding and NMS stay in torch: they are cheap, and a
run-time module that reads ``Features.levels`` keeps working on the runtime's features.

Heights and widths are dynamic in multiples of ``size_divisor`` (16:9 frames pad to 384x224),
so one export serves every camera.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from dmtrack_core.model import DMTrack
from dmtrack_core.model.template import DynamicKernels

LOG = logging.getLogger(__name__)

OPSET = 18
FORMAT_VERSION = 2  # bump when the graphs' inputs or outputs change
EXTRACT_OUTPUTS = ("p3", "p4", "p5", "reid")
KERNEL_NAMES = ("cls_pre", "reg_pre", "cls_post", "reg_post")
EXTRACT_INPUTS = ("images", *KERNEL_NAMES)
HEAD_OUTPUTS = ("cls_logits", "box_ltrb", "centerness_logits")


class ExportError(RuntimeError):
    """The network could not be exported (exporter missing or failing)."""


class _ExtractGraph(nn.Module):
    """Features plus the head for one template: fused, the split would cost ~20 % of the
    network (docs/inference.md); the head outputs are used when the template is the one
    detection asks for next."""

    def __init__(self, model: DMTrack) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: Tensor, kernels: list[Tensor]) -> tuple[Tensor, ...]:
        features = self.model.extract(images)
        outputs = self.model.flat_outputs(features.levels, DynamicKernels(*kernels))
        return (
            *features.levels,
            features.reid,
            outputs.cls_logits,
            outputs.box_ltrb,
            outputs.centerness_logits,
        )


class _HeadGraph(nn.Module):
    def __init__(self, model: DMTrack) -> None:
        super().__init__()
        self.model = model

    def forward(self, levels: list[Tensor], kernels: list[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        outputs = self.model.flat_outputs(list(levels), DynamicKernels(*kernels))
        return outputs.cls_logits, outputs.box_ltrb, outputs.centerness_logits


def _example_inputs(model: DMTrack) -> tuple[Tensor, list[Tensor], DynamicKernels]:
    config = model.config
    width, height = config.input_wh
    images = torch.zeros(1, 3, height, width)
    with torch.inference_mode():
        features = model.extract(images)
        box = torch.tensor([[width * 0.4, height * 0.4, width * 0.6, height * 0.6]])
        kernels = model.make_template(features, box).kernels
    levels = [level.clone() for level in features.levels]
    kernels = DynamicKernels(
        *(k.clone() for k in (kernels.cls_pre, kernels.reg_pre, kernels.cls_post, kernels.reg_post))
    )
    return images, levels, kernels


def _export(
    module: nn.Module,
    args: tuple,
    path: Path,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_shapes: tuple,
) -> None:
    chatty = [logging.getLogger(name) for name in ("onnx_ir", "onnxscript", "torch.onnx")]
    levels = [logger.level for logger in chatty]
    try:
        # the exporter's notes and deprecation chatter are not the user's concern
        for logger in chatty:
            logger.setLevel(logging.ERROR)
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(
                module.eval(),
                args,
                str(path),
                dynamo=True,
                optimize=True,
                external_data=False,
                opset_version=OPSET,
                input_names=list(input_names),
                output_names=list(output_names),
                dynamic_shapes=dynamic_shapes,
                verbose=False,
            )
    except ImportError as exc:
        raise ExportError(f"exporting to ONNX needs onnx and onnxscript ({exc})") from exc
    except Exception as exc:  # the exporter raises many types; the caller needs one
        raise ExportError(f"ONNX export of {path.name} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        for logger, level in zip(chatty, levels, strict=True):
            logger.setLevel(level)


def export_graphs(model: DMTrack, extract_path: Path, head_path: Path) -> None:
    """Write the two graphs of ``model`` (CPU, eval mode) to the given files."""
    from torch.export import Dim

    model = model.eval()
    images, levels, kernels = _example_inputs(model)
    if len(levels) != 3:
        raise ExportError(f"the ONNX path expects 3 pyramid levels, the model has {len(levels)}")
    divisor = model.config.size_divisor
    if divisor % model.config.strides[-1]:
        raise ExportError("size_divisor must be a multiple of the coarsest stride")
    # sizes in units of the coarsest level: every level is then an exact multiple of it
    rows, cols = Dim("rows", min=1, max=256), Dim("cols", min=1, max=256)
    scale = divisor // model.config.strides[-1]
    LOG.info("exporting the extract graph to %s", extract_path)
    _export(
        _ExtractGraph(model),
        (images, [kernels.cls_pre, kernels.reg_pre, kernels.cls_post, kernels.reg_post]),
        extract_path,
        EXTRACT_INPUTS,
        (*EXTRACT_OUTPUTS, *HEAD_OUTPUTS),
        ({2: divisor * rows, 3: divisor * cols}, [None] * 4),
    )
    level_shapes = [
        {
            2: scale * (model.config.strides[-1] // stride) * rows,
            3: scale * (model.config.strides[-1] // stride) * cols,
        }
        for stride in model.config.strides
    ]
    LOG.info("exporting the head graph to %s", head_path)
    _export(
        _HeadGraph(model),
        (levels, [kernels.cls_pre, kernels.reg_pre, kernels.cls_post, kernels.reg_post]),
        head_path,
        (*EXTRACT_OUTPUTS[:3], *KERNEL_NAMES),
        HEAD_OUTPUTS,
        (level_shapes, [None] * 4),
    )


def exporter_version() -> dict[str, str]:
    """What the graphs depend on besides the weights and the model config (the cache key):
    the exporter is ``torch.onnx``, the graph format is ours."""
    return {"format": str(FORMAT_VERSION), "opset": str(OPSET), "torch": torch.__version__}


def export_tools() -> dict[str, str]:
    """The translating packages' versions, recorded beside a cached export (not keyed: a
    valid export does not need them at run time)."""
    from importlib import metadata

    versions = {}
    for name in ("onnx", "onnxscript", "onnx-ir"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions

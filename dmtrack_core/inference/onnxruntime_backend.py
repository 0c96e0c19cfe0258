"""The per-frame network on ONNX Runtime, behind the tracker's network interface.

``OnnxRuntimeNetwork`` answers the same calls as ``DMTrack`` (``config``, ``extract``,
``make_template``, ``detect``, ``embed_boxes``). ``extract`` and the dynamic head run in ONNX
Runtime; the template branch, the ReID pooling, decoding and NMS run in torch on the runtime's
outputs (``DMTrack.detect``'s own code), so candidates are those of the torch network up to
float rounding. Anything else is looked up on the torch network.

Settings that were measured on a shared 2-core laptop CPU (docs/inference.md): every graph
optimisation, 1 inter-op thread, sequential execution, no thread spinning (spinning threads
compete with the other processes of the machine), and torch's glue ops on one thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from dmtrack_core.inference.cache import CachedGraphs
from dmtrack_core.inference.export import EXTRACT_OUTPUTS, HEAD_OUTPUTS, KERNEL_NAMES
from dmtrack_core.model import Candidates, DMTrack, Features, Template
from dmtrack_core.model.losses import QueryOutputs
from dmtrack_core.model.template import DynamicKernels


@dataclass(frozen=True)
class RuntimeSettings:
    intra_op_threads: int = 2
    spinning: bool = False
    torch_glue_threads: int | None = 1  # None: leave torch's thread count alone


def import_onnxruntime() -> Any:
    import onnxruntime

    return onnxruntime


def open_session(path: str, settings: RuntimeSettings) -> Any:
    ort = import_onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = 1
    spinning = "1" if settings.spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    options.log_severity_level = 3  # errors only: the optimiser's notes are not the user's concern
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


@contextlib.contextmanager
def _torch_threads(count: int | None) -> Iterator[None]:
    """torch on ``count`` threads inside, restored after (the setting is process-wide)."""
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class OnnxRuntimeNetwork:
    """``DMTrack``'s tracker-facing interface with extract and head in ONNX Runtime (CPU)."""

    backend = "onnxruntime"

    def __init__(self, model: DMTrack, graphs: CachedGraphs, settings: RuntimeSettings | None = None) -> None:
        self.model = model
        self.graphs = graphs
        self.settings = settings or RuntimeSettings()
        self.extract_session = open_session(str(graphs.extract), self.settings)
        self.head_graph_runs = 0  # the head graph's own runs (not the frame graph's)
        self._last_kernels: DynamicKernels | None = None  # row 0 of the template detect used last
        self._prefetched: tuple[Features, DynamicKernels | None, QueryOutputs] | None = None
        self.head_session = open_session(str(graphs.head), self.settings)

    @property
    def config(self) -> Any:
        return self.model.config

    def __getattr__(self, name: str) -> Any:
        # only reached for names this class lacks: the torch network's other parts
        if name in ("model", "_prefetched", "_last_kernels"):
            raise AttributeError(name)
        return getattr(self.model, name)

    def frame_scope(self) -> contextlib.AbstractContextManager[None]:
        """torch's glue on ``torch_glue_threads`` threads for a whole frame. Switching the
        count around each call instead cost more than the glue itself: the first 2-thread op
        after a switch (the frame's normalisation) took 4-18 ms instead of 1-2, and the
        whole track() about 15 % more (docs/inference.md)."""
        return _torch_threads(self.settings.torch_glue_threads)

    def extract(self, images: Tensor) -> Features:
        """(1, 3, H, W) normalised float32 on the CPU (H, W multiples of the size divisor).

        The graph also runs the head for the template ``detect`` used last (zeros before the
        first); ``detect`` uses those outputs when it is asked for the same template on these
        features, and runs the head graph otherwise."""
        if images.dtype != torch.float32 or images.device.type != "cpu":
            raise ValueError(
                f"the onnxruntime backend needs float32 CPU images, got {images.dtype} on {images.device}"
            )
        array = np.ascontiguousarray(images.detach().numpy())
        kernels = self._last_kernels
        inputs = {
            "images": array,
            **(self._kernel_inputs(kernels) if kernels is not None else self._zero_kernels()),
        }
        outputs = [torch.from_numpy(output) for output in self.extract_session.run(None, inputs)]
        levels = len(EXTRACT_OUTPUTS) - 1
        features = Features(
            levels=outputs[:levels], reid=outputs[levels], image_hw=(array.shape[-2], array.shape[-1])
        )
        head = QueryOutputs(*outputs[levels + 1 :])
        self._prefetched = (features, kernels, head) if kernels is not None else None
        return features

    def _kernel_inputs(self, kernels: DynamicKernels) -> dict[str, np.ndarray]:
        values = (kernels.cls_pre, kernels.reg_pre, kernels.cls_post, kernels.reg_post)
        return {
            name: np.ascontiguousarray(value.float().numpy())
            for name, value in zip(KERNEL_NAMES, values, strict=True)
        }

    def _zero_kernels(self) -> dict[str, np.ndarray]:
        levels, channels, modulation = (
            len(self.config.strides),
            self.config.fpn_channels,
            self.config.modulation_channels,
        )
        sizes = (channels, channels, modulation, modulation)
        return {
            name: np.zeros((1, levels, n, n), np.float32) for name, n in zip(KERNEL_NAMES, sizes, strict=True)
        }

    def make_template(
        self, features: Features, boxes_xyxy: Tensor, batch_index: Tensor | None = None
    ) -> Template:
        with _torch_threads(self.settings.torch_glue_threads):
            return self.model.make_template(features, boxes_xyxy, batch_index)

    def embed_boxes(
        self, features: Features, boxes_xyxy: Tensor, batch_index: Tensor | None = None
    ) -> Tensor:
        with _torch_threads(self.settings.torch_glue_threads):
            return self.model.embed_boxes(features, boxes_xyxy, batch_index)

    def locations(self, features: Features) -> Tensor:
        return self.model.locations(features)

    def flat_outputs(self, levels: list[Tensor], kernels: DynamicKernels) -> QueryOutputs:
        """The head in the runtime, one template at a time (or what ``extract`` already ran)."""
        prefetched = self._prefetched
        if (
            prefetched is not None
            and prefetched[1] is not None
            and all(_same_tensor(a, b) for a, b in zip(prefetched[0].levels, levels, strict=True))
            and _same_kernels(prefetched[1], kernels)
        ):
            return prefetched[2]
        self.head_graph_runs += 1
        inputs = {f"p{3 + i}": np.ascontiguousarray(level.numpy()) for i, level in enumerate(levels)}
        inputs.update(self._kernel_inputs(kernels))
        cls_logits, box_ltrb, centerness = (
            torch.from_numpy(output) for output in self.head_session.run(list(HEAD_OUTPUTS), inputs)
        )
        return QueryOutputs(cls_logits=cls_logits, box_ltrb=box_ltrb, centerness_logits=centerness)

    def detect(
        self,
        features: Features,
        template: Template,
        score_threshold: float = 0.05,
        nms_iou: float = 0.5,
        max_candidates: int = 10,
        pre_nms_top_k: int = 200,
        embed: bool = True,
    ) -> Candidates:
        # DMTrack.detect's decoding, NMS and embeddings, run on this object: its flat_outputs
        # is the runtime's head, everything else is the torch network's
        with _torch_threads(self.settings.torch_glue_threads):
            found = DMTrack.detect(
                self,  # type: ignore[arg-type]
                features,
                template,
                score_threshold,
                nms_iou,
                max_candidates,
                pre_nms_top_k,
                embed,
            )
        self.remember_template(template)
        return found

    def remember_template(self, template: Template) -> None:
        """The next frames' ``extract`` runs the head for this template already."""
        self._last_kernels = template.kernels.index(torch.tensor([0]))


def _same_kernels(a: DynamicKernels, b: DynamicKernels) -> bool:
    """The same template's kernels: the same tensors, or equal values (``index`` copies)."""
    pairs = (
        (a.cls_pre, b.cls_pre),
        (a.reg_pre, b.reg_pre),
        (a.cls_post, b.cls_post),
        (a.reg_post, b.reg_post),
    )
    return all(x.shape == y.shape and (x is y or torch.equal(x, y)) for x, y in pairs)


def _same_tensor(a: Tensor, b: Tensor) -> bool:
    """The same memory and shape (``Features.images(0, 1)`` makes new views of the levels)."""
    return a.data_ptr() == b.data_ptr() and a.shape == b.shape and a.stride() == b.stride()

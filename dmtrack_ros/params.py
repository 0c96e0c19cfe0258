"""The node's ROS parameters: one table of specs, declared with descriptors and ranges.

Every parameter is declared from ``PARAMETER_SPECS`` (type, default, range or choices, whether
it may change at run time) and read back into the typed ``NodeParams`` dataclass, so the
node never looks a parameter up by a string after start-up. ``config/dmtrack.yaml`` lists
exactly these names (a test checks it).

Parameters that shape the pipeline (weights, model, device, QoS, compressed input, tracker
thresholds) are read-only: changing them needs a new tracker, i.e. a restart. Output
settings (debug image, markers, frame_id, ages, distractor count) can change at run time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

from dmtrack_core.config import ConfigError, from_dict
from dmtrack_ros.session import SessionConfig

DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
MODES = ("reid", "global")
ERROR_LOG_INTERVAL_S = 5.0  # a repeating error or warning is logged again after this long
RELIABILITIES = ("auto", "best_effort", "reliable")
BACKENDS_HINT = "auto, or a backend name dmtrack_core.tracking.build_tracker accepts"


class ParameterError(ValueError):
    """A parameter value is outside what the node accepts."""


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: bool | int | float | str
    description: str
    value_range: tuple[float, float] | None = None  # inclusive; ints use IntegerRange
    choices: tuple[str, ...] | None = None  # documented in additional_constraints, checked here
    read_only: bool = True

    def descriptor(self) -> ParameterDescriptor:
        descriptor = ParameterDescriptor(description=self.description, read_only=self.read_only)
        if self.value_range is not None:
            low, high = self.value_range
            if isinstance(self.default, int) and not isinstance(self.default, bool):
                descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=1)]
            else:
                descriptor.floating_point_range = [
                    FloatingPointRange(from_value=float(low), to_value=float(high), step=0.0)
                ]
        if self.choices is not None:
            descriptor.additional_constraints = "one of: " + ", ".join(self.choices)
        return descriptor


PARAMETER_SPECS: tuple[ParameterSpec, ...] = (
    # --- model and device (restart to change) ---------------------------------------------
    ParameterSpec("weights", "", "checkpoint file; empty = the shipped weights of the model"),
    ParameterSpec("model", "dmtrack_lite", "model config name (dmtrack_lite, dmtrack_gs_dla34)"),
    ParameterSpec("tracker_config", "", "tracker YAML (TrackerConfig); empty = the shipped defaults"),
    ParameterSpec(
        "device",
        "auto",
        "torch device; cuda falls back to cpu with a warning when absent",
        choices=("auto", "cpu", "cuda", "cuda:N"),
    ),
    ParameterSpec("backend", "auto", "inference backend passed to the tracker (" + BACKENDS_HINT + ")"),
    ParameterSpec(
        "mode",
        "reid",
        "reid: follow the target's identity among look-alikes; global: the original DMTrack-GS argmax",
        choices=MODES,
    ),
    # --- tracker thresholds (override the tracker config; negative = keep its value) -------
    ParameterSpec(
        "score_threshold",
        -1.0,
        "lowest detector score of a candidate; < 0: the tracker config's",
        (-1.0, 1.0),
    ),
    ParameterSpec(
        "presence_low", -1.0, "presence below this counts as a miss; < 0: the tracker config's", (-1.0, 1.0)
    ),
    ParameterSpec(
        "presence_high",
        -1.0,
        "presence at or above this is a confident hit; < 0: the tracker config's",
        (-1.0, 1.0),
    ),
    ParameterSpec("click_box_size", 64.0, "side of the default box around a click (pixels)", (4.0, 4096.0)),
    # --- input ----------------------------------------------------------------------------
    ParameterSpec("use_compressed", False, "subscribe to <image>/compressed instead of image"),
    ParameterSpec(
        "qos_reliability",
        "auto",
        "image subscription reliability; auto: reliable while every publisher is reliable, else "
        "best effort (re-checked as publishers come and go); qos_overrides.<topic>.subscription."
        "reliability overrides it",
        choices=RELIABILITIES,
    ),
    ParameterSpec(
        "qos_depth", 5, "image subscription queue depth (keep last; absorbs scheduling hiccups)", (1, 100)
    ),
    ParameterSpec("frame_history", 30, "recent frames kept so an init request can name its frame", (1, 300)),
    ParameterSpec(
        "frame_history_mb",
        128,
        "memory budget (MB) of the recent frames; a 4K stream keeps fewer",
        (1, 65536),
    ),
    ParameterSpec(
        "max_image_pixels",
        33_177_600,
        "largest image (width x height) decoded; larger ones are refused before decoding",
        (1, 2**31 - 1),
    ),
    ParameterSpec(
        "max_image_age",
        1.0,
        "frames older than this (s, image stamp to now) are dropped; 0 = no limit",
        (0.0, 3600.0),
        read_only=False,
    ),
    ParameterSpec(
        "init_wait",
        1.0,
        "s an init request waits for the frame it names when that frame has not arrived yet",
        (0.0, 60.0),
        read_only=False,
    ),
    ParameterSpec(
        "init_fallback_newest",
        False,
        "an init naming a frame no longer buffered (or that never came) uses the newest frame, not fails",
        read_only=False,
    ),
    # --- output ---------------------------------------------------------------------------
    ParameterSpec("max_distractors", 10, "most distractors published per frame", (0, 64), read_only=False),
    ParameterSpec("frame_id", "", "frame_id of every output; empty = the source image's", read_only=False),
    ParameterSpec("publish_debug_image", True, "publish ~/debug_image with the overlay", read_only=False),
    ParameterSpec(
        "debug_image_scale", 0.5, "size of ~/debug_image relative to the input", (0.05, 4.0), read_only=False
    ),
    ParameterSpec(
        "marker_depth",
        2.0,
        "depth (m) of the plane the boxes are drawn on in ~/markers",
        (0.01, 1000.0),
        read_only=False,
    ),
    ParameterSpec(
        "marker_pixel_size",
        0.002,
        "metres per pixel for ~/markers while no camera_info has arrived",
        (1e-6, 1.0),
        read_only=False,
    ),
    ParameterSpec("diagnostics_period", 1.0, "seconds between /diagnostics messages", (0.1, 60.0)),
)

SPECS_BY_NAME = {spec.name: spec for spec in PARAMETER_SPECS}


@dataclass(frozen=True)
class NodeParams:
    weights: str = ""
    model: str = "dmtrack_lite"
    tracker_config: str = ""
    device: str = "auto"
    backend: str = "auto"
    mode: str = "reid"
    score_threshold: float = -1.0  # negative: the tracker config's value
    presence_low: float = -1.0
    presence_high: float = -1.0
    click_box_size: float = 64.0
    use_compressed: bool = False
    qos_reliability: str = "auto"
    qos_depth: int = 5
    frame_history: int = 30
    frame_history_mb: int = 128
    max_image_pixels: int = 33_177_600
    max_image_age: float = 1.0
    init_wait: float = 1.0
    init_fallback_newest: bool = False
    max_distractors: int = 10
    frame_id: str = ""
    publish_debug_image: bool = True
    debug_image_scale: float = 0.5
    marker_depth: float = 2.0
    marker_pixel_size: float = 0.002
    diagnostics_period: float = 1.0

    def __post_init__(self) -> None:
        if not DEVICE_PATTERN.match(self.device):
            raise ParameterError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.mode not in MODES:
            raise ParameterError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.qos_reliability not in RELIABILITIES:
            raise ParameterError(
                f"qos_reliability must be one of {RELIABILITIES}, got {self.qos_reliability!r}"
            )
        if 0 <= self.presence_high < self.presence_low:
            raise ParameterError(
                f"presence_low ({self.presence_low}) must not exceed presence_high ({self.presence_high})"
            )
        for spec in PARAMETER_SPECS:
            value = getattr(self, spec.name)
            if spec.value_range is not None and not spec.value_range[0] <= value <= spec.value_range[1]:
                raise ParameterError(f"{spec.name}={value} is outside {list(spec.value_range)}")

    def tracker_overrides(self) -> dict[str, Any]:
        """The TrackerConfig fields these parameters override."""
        overrides: dict[str, Any] = {"mode": self.mode, "click_box_size": self.click_box_size}
        for name in ("score_threshold", "presence_low", "presence_high"):
            value = getattr(self, name)
            if value >= 0:
                overrides[name] = value
        return overrides


def session_config(params: NodeParams) -> SessionConfig:
    return SessionConfig(
        frame_history=params.frame_history,
        history_bytes=params.frame_history_mb * 1024 * 1024,
        max_image_age_s=params.max_image_age,
        init_wait_s=params.init_wait,
        init_fallback_newest=params.init_fallback_newest,
        error_log_interval_s=ERROR_LOG_INTERVAL_S,
    )


def params_from_values(values: dict[str, Any]) -> NodeParams:
    """Typed parameters from plain values (ROS parameter values or YAML)."""
    try:
        return from_dict(NodeParams, values, where="dmtrack parameters")
    except ConfigError as exc:
        raise ParameterError(str(exc)) from exc


def declare_parameters(node: Any) -> NodeParams:
    """Declare every parameter on ``node`` (an rclpy Node) and return their current values.

    Raises ``ParameterError`` for a value the node cannot use (rclpy itself rejects values
    outside a descriptor's range or of the wrong type; those are re-raised as ParameterError too).
    """
    values: dict[str, Any] = {}
    for spec in PARAMETER_SPECS:
        try:
            parameter = node.declare_parameter(spec.name, spec.default, spec.descriptor())
        except Exception as exc:  # rclpy raises several unrelated types for a bad override
            raise ParameterError(f"parameter {spec.name}: {exc}") from exc
        values[spec.name] = parameter.value
    return params_from_values(values)


def read_parameters(node: Any) -> NodeParams:
    """Current values of the declared parameters."""
    return params_from_values({f.name: node.get_parameter(f.name).value for f in fields(NodeParams)})

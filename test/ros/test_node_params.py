"""Parameters: declared with descriptors and ranges, loaded from a params file, validated at
start-up and at run time (read-only ones refuse changes; output settings change live)."""

from __future__ import annotations

import pytest
import rclpy
import yaml
from node_harness import PARAMS_FILE, unique_domain_id
from rclpy.parameter import Parameter

from dmtrack_ros.node import DmtrackNode
from dmtrack_ros.params import PARAMETER_SPECS, NodeParams, ParameterError, declare_parameters


@pytest.fixture()
def context_with_params(tmp_path):
    """An rclpy context whose global arguments load a modified copy of config/dmtrack.yaml."""
    document = yaml.safe_load(PARAMS_FILE.read_text())
    document["/**"]["ros__parameters"].update(max_distractors=3, debug_image_scale=0.25, mode="global")
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(document))
    context = rclpy.Context()
    rclpy.init(
        args=["--ros-args", "--params-file", str(params_file)], context=context, domain_id=unique_domain_id()
    )
    yield context
    rclpy.try_shutdown(context=context)


def test_every_parameter_has_a_descriptor_with_its_range(context_with_params):
    node = rclpy.create_node("dmtrack", context=context_with_params)
    try:
        params = declare_parameters(node)
        assert (params.max_distractors, params.debug_image_scale, params.mode) == (3, 0.25, "global")
        builtin = {"use_sim_time", "start_type_description_service"}  # every rclpy node has these
        assert set(node._parameters) - builtin == set(NodeParams.__dataclass_fields__)
        for spec in PARAMETER_SPECS:
            descriptor = node.describe_parameter(spec.name)
            assert descriptor.description and descriptor.read_only == spec.read_only
            if spec.value_range is not None:
                ranges = list(descriptor.integer_range) + list(descriptor.floating_point_range)
                assert len(ranges) == 1 and (ranges[0].from_value, ranges[0].to_value) == spec.value_range
            if spec.choices:
                assert all(choice in descriptor.additional_constraints for choice in spec.choices)
    finally:
        node.destroy_node()


def test_node_params_validate_values():
    assert NodeParams().device == "auto"
    for bad in (
        {"device": "gpu"},
        {"mode": "x"},
        {"qos_depth": 0},
        {"presence_low": 0.6, "presence_high": 0.5},
    ):
        with pytest.raises(ParameterError):
            NodeParams(**bad)


def test_thresholds_left_negative_keep_the_tracker_configs_values():
    from dmtrack_core.tracking.config import load_tracker_config

    shipped = load_tracker_config()
    kept = load_tracker_config(**NodeParams().tracker_overrides())
    assert (kept.score_threshold, kept.presence_low, kept.presence_high) == (
        shipped.score_threshold,
        shipped.presence_low,
        shipped.presence_high,
    )
    changed = load_tracker_config(**NodeParams(presence_low=0.05, presence_high=0.07).tracker_overrides())
    assert (changed.presence_low, changed.presence_high) == (0.05, 0.07)
    assert changed.score_threshold == shipped.score_threshold


def test_running_node_accepts_live_output_changes_and_refuses_the_rest(context_with_params):
    node = DmtrackNode(context=context_with_params)
    try:
        assert node.params.max_distractors == 3 and node.tracker.config.mode == "global"
        ok = node.set_parameters(
            [Parameter("debug_image_scale", value=1.5), Parameter("frame_id", value="x")]
        )
        assert all(r.successful for r in ok)
        assert (node.params.debug_image_scale, node.params.frame_id) == (1.5, "x")
        out_of_range = node.set_parameters([Parameter("debug_image_scale", value=50.0)])[0]
        read_only = node.set_parameters([Parameter("weights", value="other.pt")])[0]
        assert not out_of_range.successful and not read_only.successful
        assert node.params.debug_image_scale == 1.5 and node.params.weights == ""
    finally:
        node.stop()
        node.destroy_node()

"""Parameters: declared with descriptors and ranges, loaded from a params file, validated at
start-up and at run time (read-only ones refuse changes; output settings change live)."""

from __future__ import annotations

import pytest
import rclpy
import yaml
from node_harness import PARAMS_FILE, unique_domain_id
from rclpy.parameter import Parameter

from dmtrack_ros.params import PARAMETER_SPECS, NodeParams, ParameterError, declare_parameters
from dmtrack_ros.tracker_node import DmtrackNode


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


def context_with(tmp_path, *args: str, edits: dict | None = None) -> rclpy.Context:
    document = yaml.safe_load(PARAMS_FILE.read_text())
    document["/**"]["ros__parameters"].update(edits or {})
    params_file = tmp_path / "edited.yaml"
    params_file.write_text(yaml.safe_dump(document))
    context = rclpy.Context()
    rclpy.init(
        args=["--ros-args", "--params-file", str(params_file), *args],
        context=context,
        domain_id=unique_domain_id(),
    )
    return context


def test_the_params_file_applies_in_a_namespace_and_under_another_node_name(tmp_path):
    context = context_with(
        tmp_path, "-r", "__ns:=/robot1", "-r", "__node:=tracker_left", edits={"max_distractors": 4}
    )
    try:
        node = rclpy.create_node("dmtrack", context=context)
        assert node.get_fully_qualified_name() == "/robot1/tracker_left"
        assert declare_parameters(node).max_distractors == 4
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


@pytest.fixture()
def remapped_node(tmp_path):
    """A node with its image remapped the way a camera driver names it, compressed input and a
    standard QoS override."""
    context = context_with(
        tmp_path,
        "-r",
        "__ns:=/robot1",
        "-r",
        "image:=/cam/front/image_raw",
        "-p",
        "use_compressed:=true",
        "-p",
        "qos_overrides./cam/front/image_raw/compressed.subscription.depth:=3",
        "-p",
        "qos_overrides./cam/front/image_raw/compressed.subscription.reliability:=reliable",
    )
    node = DmtrackNode(context=context)
    yield node
    node.stop()
    node.destroy_node()
    rclpy.try_shutdown(context=context)


def test_compressed_and_camera_info_follow_the_image_remap_and_qos_overrides_apply(remapped_node):
    topics = {s.topic_name: s for s in remapped_node.subscriptions}
    assert "/cam/front/image_raw/compressed" in topics and "/cam/front/camera_info" in topics
    assert "/robot1/init_target" in topics
    image_input = remapped_node.image_input
    assert (image_input.configured, image_input.depth, image_input.reliability) == ("reliable", 3, "reliable")
    qos = topics["/cam/front/image_raw/compressed"].qos_profile
    assert qos.depth == 3 and qos.reliability.name == "RELIABLE"
    assert image_input.recheck() is False  # a fixed reliability never follows the publishers


def test_parameters_the_node_does_not_own_pass_through(remapped_node):
    result = remapped_node.set_parameters([Parameter("use_sim_time", value=True)])[0]
    assert result.successful, result.reason
    assert remapped_node.get_parameter("use_sim_time").value is True
    still_checked = remapped_node.set_parameters([Parameter("max_distractors", value=1000)])[0]
    assert not still_checked.successful


def test_live_init_settings_reach_the_session(remapped_node):
    changes = [Parameter("init_wait", value=0.25), Parameter("init_fallback_newest", value=True)]
    assert all(r.successful for r in remapped_node.set_parameters(changes))
    config = remapped_node.session.config
    assert (config.init_wait_s, config.init_fallback_newest) == (0.25, True)


def test_node_params_defaults_match_the_declared_specs():
    defaults = NodeParams()
    assert {spec.name: spec.default for spec in PARAMETER_SPECS} == {
        name: getattr(defaults, name) for name in NodeParams.__dataclass_fields__
    }


def test_a_backend_is_passed_only_to_a_build_tracker_that_takes_one():
    from dmtrack_ros.tracker_setup import StartupError, _backend_argument

    def without_backend(mode=None, device="auto"):
        return None

    def with_backend(mode=None, device="auto", backend="auto"):
        return None

    assert _backend_argument("auto", without_backend) == {}
    assert _backend_argument("onnx", with_backend) == {"backend": "onnx"}
    with pytest.raises(StartupError, match="no backend choice"):
        _backend_argument("onnx", without_backend)

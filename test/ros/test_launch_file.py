"""Static checks of launch/dmtrack.launch.py (the `launch` package cannot be installed here):
it parses, starts the installed executable of the right package with the installed params
file, and declares the documented arguments; config/dmtrack.yaml names exactly the node's
declared parameters; setup.py installs the launch and config files where the launch file
looks for them."""

from __future__ import annotations

import ast
from pathlib import Path

import yaml

from dmtrack_ros.params import PARAMETER_SPECS, NodeParams

REPO_ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = REPO_ROOT / "launch" / "dmtrack.launch.py"
PARAMS_FILE = REPO_ROOT / "config" / "dmtrack.yaml"


def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def calls_named(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name
    ]


def keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def test_launch_file_starts_the_installed_node_executable():
    nodes = calls_named(launch_tree(), "Node")
    assert len(nodes) == 1
    node = nodes[0]
    assert ast.literal_eval(keyword(node, "package")) == "dmtrack_ros"
    assert ast.literal_eval(keyword(node, "executable")) == "dmtrack_node"
    assert ast.literal_eval(keyword(node, "name")) == "dmtrack"  # the node name config/dmtrack.yaml uses
    assert keyword(node, "parameters") is not None and keyword(node, "remappings") is not None
    imports = {n.module for n in ast.walk(launch_tree()) if isinstance(n, ast.ImportFrom)}
    assert {"launch", "launch_ros.actions"} <= imports


def test_launch_file_uses_the_installed_params_file():
    tree = launch_tree()
    joins = [c for c in calls_named(tree, "join") if c.args and getattr(c.args[0], "func", None) is not None]
    share_joins = [c for c in joins if getattr(c.args[0].func, "id", "") == "get_package_share_directory"]
    assert share_joins, "the default params file must come from the package's share directory"
    parts = [ast.literal_eval(a) for a in share_joins[0].args[1:]]
    assert ast.literal_eval(share_joins[0].args[0].args[0]) == "dmtrack_ros"
    assert parts == ["config", "dmtrack.yaml"]
    assert (REPO_ROOT / Path(*parts)).is_file()


def test_launch_file_declares_its_arguments():
    declared = {ast.literal_eval(c.args[0]) for c in calls_named(launch_tree(), "DeclareLaunchArgument")}
    assert declared == {"namespace", "image", "compressed", "params_file", "device", "fastdds_profile"}
    used = {ast.literal_eval(c.args[0]) for c in calls_named(launch_tree(), "LaunchConfiguration")}
    assert used == declared


def test_params_file_names_exactly_the_declared_parameters():
    document = yaml.safe_load(PARAMS_FILE.read_text())
    assert list(document) == ["/**"]  # applies under any namespace and node name
    values = document["/**"]["ros__parameters"]
    declared = [spec.name for spec in PARAMETER_SPECS]
    assert sorted(values) == sorted(declared) == sorted(NodeParams.__dataclass_fields__)
    for spec in PARAMETER_SPECS:  # each value has the declared type (rclpy rejects int for float)
        assert type(values[spec.name]) is type(spec.default), spec.name


def test_launch_file_sets_the_shipped_fastdds_profile_for_the_node():
    tree = launch_tree()
    joins = [c for c in calls_named(tree, "join") if len(c.args) == 3]
    profiles = [ast.literal_eval(a) for c in joins for a in c.args[1:]]
    assert (
        "fastdds_large_data.xml" in profiles and (REPO_ROOT / "config" / "fastdds_large_data.xml").is_file()
    )
    variables = {ast.literal_eval(c.args[0]) for c in calls_named(tree, "SetEnvironmentVariable")}
    assert variables == {"FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"}


def test_fastdds_profile_is_valid_xml_with_a_large_shm_segment():
    import xml.etree.ElementTree as ElementTree

    namespace = {"p": "http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"}
    root = ElementTree.parse(REPO_ROOT / "config" / "fastdds_large_data.xml").getroot()
    descriptors = root.findall("p:transport_descriptors/p:transport_descriptor", namespace)
    kinds = {d.findtext("p:type", namespaces=namespace): d for d in descriptors}
    assert set(kinds) == {"SHM", "UDPv4"}  # UDP stays: other machines still receive the topics
    assert int(kinds["SHM"].findtext("p:segment_size", namespaces=namespace)) >= 32 * 2**20
    participant = root.find("p:participant", namespace)
    assert participant.get("is_default_profile") == "true"
    assert participant.findtext("p:rtps/p:useBuiltinTransports", namespaces=namespace) == "false"


def _evaluate(node: ast.expr, constants: dict[str, str]) -> object:
    """A string expression of setup.py: literals, module constants and '+'."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _evaluate(node.left, constants) + _evaluate(node.right, constants)
    if isinstance(node, ast.Name):
        return constants[node.id]
    return ast.literal_eval(node)


def test_setup_installs_launch_and_config_into_the_share_directory():
    tree = ast.parse((REPO_ROOT / "setup.py").read_text())
    constants = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    setup_call = calls_named(tree, "setup")[0]
    data_files = keyword(setup_call, "data_files")
    installed = {}
    for entry in data_files.elts:
        destination = _evaluate(entry.elts[0], constants)
        sources = [ast.literal_eval(c.args[0]) for c in calls_named(entry.elts[1], "files") if c.args]
        installed[destination] = sources
    assert installed["share/dmtrack_ros/config"] == ["config"]
    assert installed["share/dmtrack_ros/launch"] == ["launch"]
    entry_points = ast.literal_eval(keyword(setup_call, "entry_points"))
    assert "dmtrack_node = dmtrack_ros.node:main" in entry_points["console_scripts"]

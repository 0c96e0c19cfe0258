"""dmtrack_core is plain PyTorch: importing all of it must work with every ROS module blocked."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, pkgutil, sys

    ROS_PREFIXES = ("rclpy", "rosidl", "rcl_interfaces", "sensor_msgs", "std_msgs", "vision_msgs",
                    "geometry_msgs", "visualization_msgs", "diagnostic_msgs", "std_srvs",
                    "dmtrack_msgs", "builtin_interfaces", "dmtrack_ros", "rosbags")

    class BlockRos(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ROS_PREFIXES:
                raise ImportError(f"ROS module {name} imported by dmtrack_core")
            return None

    sys.meta_path.insert(0, BlockRos())
    import dmtrack_core
    imported = []
    for info in pkgutil.walk_packages(dmtrack_core.__path__, "dmtrack_core."):
        __import__(info.name)
        imported.append(info.name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ROS_PREFIXES)
    assert not leaked, leaked
    print(len(imported))
    """
)


def test_dmtrack_core_imports_with_ros_blocked():
    result = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    assert int(result.stdout.strip().splitlines()[-1]) >= 2  # walked real modules, not nothing


def test_no_core_file_mentions_ros_imports(repo_root):
    offenders = []
    for path in (repo_root / "dmtrack_core").rglob("*.py"):
        for line in path.read_text().splitlines():
            stripped = line.strip()
            if stripped.startswith(("import rclpy", "from rclpy", "import dmtrack_ros", "from dmtrack_ros")):
                offenders.append(f"{path.name}: {stripped}")
    assert not offenders

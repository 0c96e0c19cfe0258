"""The "real ROS install" path: a colcon workspace holding this repository builds the node
package and its interface package (colcon and the ROS 2 wheels stand in for /opt/ros)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def copy_tracked_files(repo: Path, dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=repo, capture_output=True, check=False)
    names = [n for n in listed.stdout.decode().split("\0") if n] if listed.returncode == 0 else []
    if not names:  # not a git checkout (e.g. a source tarball): copy the tree
        shutil.copytree(repo, dest, ignore=shutil.ignore_patterns(".venv", "build", ".git", "*_output"))
        return
    for name in names:
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if (repo / name).is_file():
            shutil.copy2(repo / name, target)


def test_colcon_discovers_and_builds_both_packages(repo_root, tmp_path):
    venv = Path(sys.prefix)
    source = tmp_path / "ws" / "src" / "dmtrack-ros"
    copy_tracked_files(repo_root, source)
    env = dict(
        os.environ,
        AMENT_PREFIX_PATH=str(venv),
        CMAKE_PREFIX_PATH=str(venv),
        PATH=f"{venv / 'bin'}:{os.environ['PATH']}",
    )
    base_paths = ["--base-paths", "src/dmtrack-ros", "src/dmtrack-ros/msg"]
    ws = tmp_path / "ws"

    listed = subprocess.run(
        ["colcon", "list", "--names-only", *base_paths],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    # the vision_msgs fallback carries COLCON_IGNORE: it must never shadow a system package
    assert sorted(listed.stdout.split()) == ["dmtrack_msgs", "dmtrack_ros"]

    built = subprocess.run(
        [
            "colcon",
            "build",
            *base_paths,
            "--cmake-args",
            "-DBUILD_TESTING=OFF",
            f"-DPython3_EXECUTABLE={sys.executable}",
        ],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    install = ws / "install"
    assert os.access(install / "dmtrack_ros" / "lib" / "dmtrack_ros" / "dmtrack_node", os.X_OK)
    share = install / "dmtrack_ros" / "share" / "dmtrack_ros"
    assert (share / "package.xml").is_file()
    assert (share / "launch" / "dmtrack.launch.py").is_file()
    assert (share / "config" / "dmtrack.yaml").is_file()
    assert (
        install / "dmtrack_ros" / "share" / "ament_index" / "resource_index" / "packages" / "dmtrack_ros"
    ).is_file()
    generated = list((install / "dmtrack_msgs").rglob("dmtrack_msgs/msg/_tracker_status.py"))
    assert generated, "dmtrack_msgs Python messages were not generated"

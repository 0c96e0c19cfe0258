"""Installs the two Python packages of this repository.

Works both under colcon (ament_python, ROS executables in lib/dmtrack_ros) and with a
plain `pip install -e .` into a virtual environment (console scripts on PATH).
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "dmtrack_ros"
HERE = Path(__file__).parent


def files(folder: str, pattern: str = "*") -> list[str]:
    return sorted(str(p) for p in (HERE / folder).glob(pattern) if p.is_file())


setup(
    name=PACKAGE,
    version="0.1.0",
    description="DMTrack single-object tracker with distractor tracklets, as a ROS 2 node",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["dmtrack_core", "dmtrack_core.*", "dmtrack_ros", "dmtrack_ros.*"]),
    package_data={
        "dmtrack_core": [
            "configs/*.yaml",
            "weights/*.pt",
            "evaluation/redetect_photos.txt",
            "evaluation/real_labels/*.txt",
            "evaluation/dev_labels/*.txt",
            "training/photo_boxes/*.txt",
        ]
    },
    include_package_data=True,
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
        ("share/" + PACKAGE + "/launch", [str(Path(p).relative_to(HERE)) for p in files("launch")]),
        ("share/" + PACKAGE + "/config", [str(Path(p).relative_to(HERE)) for p in files("config")]),
        # `ros2 run dmtrack_ros dmtrack_node` looks in lib/<package>/
        ("lib/" + PACKAGE, ["resource/dmtrack_node"]),
    ],
    zip_safe=False,
    entry_points={
        "console_scripts": [
            "dmtrack = dmtrack_core.cli:main",
            "dmtrack_node = dmtrack_ros.node:main",
            "dmtrack-ros = dmtrack_ros.cli:main",
        ],
    },
)

"""`ros2 launch dmtrack_ros dmtrack.launch.py image:=/camera/image_raw`

Starts the dmtrack node with the installed parameter file. Arguments: namespace, image
(the input image topic; camera_info is taken from beside it), compressed (subscribe to
<image>/compressed), params_file, device.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def _camera_info_topic(image_topic: str) -> str:
    """The camera_info topic that image_transport pairs with an image topic."""
    return image_topic.rsplit("/", 1)[0] + "/camera_info" if "/" in image_topic else "camera_info"


def _node(context, *args, **kwargs):
    image = LaunchConfiguration("image").perform(context)
    compressed = LaunchConfiguration("compressed").perform(context).lower() in ("true", "1", "yes")
    remappings = [
        ("image", image),
        ("image/compressed", image + "/compressed"),
        ("camera_info", _camera_info_topic(image)),
        ("init_point", image + "_mouse_left"),
    ]
    return [
        Node(
            package="dmtrack_ros",
            executable="dmtrack_node",
            name="dmtrack",
            namespace=LaunchConfiguration("namespace"),
            output="screen",
            emulate_tty=True,
            parameters=[
                LaunchConfiguration("params_file"),
                {"use_compressed": compressed, "device": LaunchConfiguration("device")},
            ],
            remappings=remappings,
        )
    ]


def generate_launch_description():
    # setup.py installs config/ to share/dmtrack_ros/config
    default_params = os.path.join(get_package_share_directory("dmtrack_ros"), "config", "dmtrack.yaml")
    return LaunchDescription(
        [
            DeclareLaunchArgument("namespace", default_value="", description="namespace of the node"),
            DeclareLaunchArgument(
                "image", default_value="/camera/image_raw", description="input image topic"
            ),
            DeclareLaunchArgument(
                "compressed",
                default_value="false",
                description="subscribe to <image>/compressed instead of <image>",
            ),
            DeclareLaunchArgument("params_file", default_value=default_params, description="parameter YAML"),
            DeclareLaunchArgument("device", default_value="auto", description="auto | cpu | cuda | cuda:N"),
            OpaqueFunction(function=_node),
        ]
    )

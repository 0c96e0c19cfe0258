"""`ros2 launch dmtrack_ros dmtrack.launch.py image:=/camera/image_raw`

Starts the dmtrack node with the installed parameter file and the shipped Fast DDS profile
(large shared-memory segment, see config/fastdds_large_data.xml). Arguments: namespace, image
(the input image topic; the node takes <image>/compressed and the camera_info beside it by the
image_transport convention), compressed (subscribe to <image>/compressed), params_file,
device, fastdds_profile ("" = leave Fast DDS at its defaults).
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from launch import LaunchDescription


def _node(context, *args, **kwargs):
    image = LaunchConfiguration("image").perform(context)
    compressed = LaunchConfiguration("compressed").perform(context).lower() in ("true", "1", "yes")
    profile = LaunchConfiguration("fastdds_profile").perform(context)
    actions = []
    if profile:
        # Fast DDS 2.x reads the first name, 3.x also the second
        actions += [
            SetEnvironmentVariable("FASTRTPS_DEFAULT_PROFILES_FILE", profile),
            SetEnvironmentVariable("FASTDDS_DEFAULT_PROFILES_FILE", profile),
        ]
    remappings = [
        ("image", image),  # <image>/compressed and camera_info follow this remap in the node
        ("init_point", image + "_mouse_left"),  # clicks in rqt_image_view
    ]
    actions.append(
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
    )
    return actions


def generate_launch_description():
    # setup.py installs config/ to share/dmtrack_ros/config
    default_params = os.path.join(get_package_share_directory("dmtrack_ros"), "config", "dmtrack.yaml")
    default_profile = os.path.join(
        get_package_share_directory("dmtrack_ros"), "config", "fastdds_large_data.xml"
    )
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
            DeclareLaunchArgument(
                "fastdds_profile",
                default_value=default_profile,
                description="Fast DDS XML profile for the node ('' = Fast DDS defaults)",
            ),
            OpaqueFunction(function=_node),
        ]
    )

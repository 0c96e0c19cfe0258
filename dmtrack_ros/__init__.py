"""ROS 2 layer of dmtrack: the ``dmtrack`` node, message conversions, overlay drawing, replay/demo.

Importing this package imports nothing from ROS; the modules that need rclpy import it themselves.
"""

"""dmtrack_msgs/TrackerStatus and vision_msgs/Detection2D cross a real topic between two
separate node processes, with every field intact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dmtrack_msgs.msg import TrackerStatus

NODES = Path(__file__).parent / "nodes"
sys.path.insert(0, str(NODES))
from sample_messages import detection, to_plain, tracker_status  # noqa: E402


def test_status_and_detection_round_trip_between_processes(ros_env):
    env = dict(ros_env, PYTHONPATH=str(NODES))
    publisher = subprocess.Popen([sys.executable, str(NODES / "roundtrip_publisher.py")], env=env)
    try:
        result = subprocess.run(
            [sys.executable, str(NODES / "roundtrip_subscriber.py")],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        publisher.terminate()
        publisher.wait(timeout=10)
    assert result.returncode == 0, result.stderr[-2000:]
    received = json.loads(result.stdout.strip().splitlines()[-1])

    assert received["status"] == to_plain(tracker_status())
    assert received["detection"] == to_plain(detection())
    # the comparison above is only meaningful if the samples are not all defaults
    assert received["status"]["state"] == TrackerStatus.UNCERTAIN
    assert received["detection"]["results"][0]["pose"]["covariance"][35] == 2.0
    assert received["detection"]["bbox"]["center"]["theta"] == 0.125


def test_tracker_status_state_constants():
    assert (
        TrackerStatus.UNINITIALIZED,
        TrackerStatus.TRACKING,
        TrackerStatus.UNCERTAIN,
        TrackerStatus.LOST,
        TrackerStatus.ERROR,
    ) == (0, 1, 2, 3, 4)

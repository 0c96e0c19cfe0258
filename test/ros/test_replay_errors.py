"""Bad input ends `dmtrack-ros replay` with one line on stderr, a non-zero exit code, and no
process left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from replay_media import fresh_domain_id, write_bag, write_video  # noqa: E402

CLI = [sys.executable, "-m", "dmtrack_ros.cli"]


@pytest.fixture()
def worker_domain_id() -> int:
    """Overrides the shared fixture: a domain no concurrent pytest session is likely to use."""
    return fresh_domain_id()


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.strip().splitlines() if line.strip()]


def node_pid(stdout: str) -> int | None:
    match = re.search(r"tracker node pid (\d+)", stdout)
    return int(match.group(1)) if match else None


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") >= 0


def test_missing_video_file(tmp_path, ros_env):
    result = run_cli(
        [
            "replay",
            "--video",
            str(tmp_path / "nope.mp4"),
            "--init",
            "1,1,5,5",
            "--output",
            str(tmp_path / "out"),
        ],
        ros_env,
    )
    assert result.returncode == 2
    assert error_lines(result) == [
        f"dmtrack-ros replay: error: video file not found: {tmp_path / 'nope.mp4'}"
    ]
    assert node_pid(result.stdout) is None  # rejected before any process started


def test_unknown_topic_lists_the_image_topics(tmp_path, ros_env):
    bag = write_bag(tmp_path / "bag", frames=3, storage="sqlite3", topics=("/cam/left", "/cam/right"))
    result = run_cli(
        [
            "replay",
            "--bag",
            str(bag),
            "--topic",
            "/cam/middle",
            "--init",
            "20,40,24,24",
            "--output",
            str(tmp_path / "out"),
        ],
        ros_env,
    )
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1
    assert "/cam/middle" in lines[0] and "/cam/left, /cam/right" in lines[0]


def test_missing_bag(tmp_path, ros_env):
    result = run_cli(["replay", "--bag", str(tmp_path / "no_bag"), "--init", "1,1,5,5"], ros_env)
    assert result.returncode == 2
    assert len(error_lines(result)) == 1 and "rosbag2 not found" in result.stderr


@pytest.mark.parametrize("box", ["150,40,24,24", "-3,10,20,20", "10,10,0,20", "1,2,3"])
def test_init_box_outside_the_frame_or_malformed(tmp_path, ros_env, box):
    video = write_video(tmp_path / "clip.mp4", frames=3)
    result = run_cli(
        ["replay", "--video", str(video), f"--init={box}", "--output", str(tmp_path / "out")], ros_env
    )
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "init box" in lines[0], result.stderr
    assert node_pid(result.stdout) is None


def test_init_frame_beyond_the_clip(tmp_path, ros_env):
    video = write_video(tmp_path / "clip.mp4", frames=3)
    result = run_cli(
        [
            "replay",
            "--video",
            str(video),
            "--init",
            "20,40,24,24",
            "--init-frame",
            "7",
            "--output",
            str(tmp_path / "out"),
        ],
        ros_env,
    )
    assert result.returncode == 2
    assert len(error_lines(result)) == 1 and "init frame 7" in result.stderr


def test_node_that_fails_at_start_is_reported_and_gone(tmp_path, ros_env):
    """A missing weights file makes the node exit; replay says why in one line and exits 1."""
    video = write_video(tmp_path / "clip.mp4", frames=5)
    result = run_cli(
        [
            "replay",
            "--video",
            str(video),
            "--init",
            "20,40,24,24",
            "--output",
            str(tmp_path / "out"),
            "--param",
            f"weights:={tmp_path / 'missing.pt'}",
        ],
        ros_env,
    )
    assert result.returncode == 1, result.stderr
    lines = error_lines(result)
    assert len(lines) == 1 and "tracker node exited" in lines[0], result.stderr
    pid = node_pid(result.stdout)
    assert pid is not None and process_gone(pid)


def test_interrupt_mid_run_leaves_no_process(tmp_path, ros_env):
    video = write_video(tmp_path / "clip.mp4", frames=120)  # ~10 s at rate 0.5: surely mid-run
    process = subprocess.Popen(
        CLI
        + [
            "replay",
            "--video",
            str(video),
            "--init",
            "20,40,24,24",
            "--rate",
            "0.5",
            "--output",
            str(tmp_path / "out"),
        ],
        env=ros_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # a child inherits an *ignored* SIGINT (some earlier in-process ROS test may leave it
        # so); the replay must get it as a user's Ctrl-C would
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        pid = None
        deadline = time.monotonic() + 60
        while pid is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "replay ended before starting the node"
            pid = node_pid(line)
        assert pid is not None
        while "streaming" not in line and time.monotonic() < deadline:
            line = process.stdout.readline()
            assert line, "replay ended before streaming"
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "dmtrack-ros replay: interrupted"
    assert process_gone(pid)

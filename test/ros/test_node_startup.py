"""The node refuses to start on missing or corrupt weights and on invalid parameters: a
non-zero exit code and one line saying why, no traceback."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from node_harness import NodeProcess, unique_domain_id, unique_namespace

TIMEOUT_S = 120.0


def start_and_wait(tmp_path, parameters: dict) -> tuple[int, str]:
    process = NodeProcess(unique_namespace(), unique_domain_id(), tmp_path / "node.log", parameters)
    result = subprocess.run(process.args, env=process.env, capture_output=True, text=True, timeout=TIMEOUT_S)
    return result.returncode, result.stdout + result.stderr


def assert_one_line_failure(returncode: int, output: str, *expected: str) -> None:
    assert returncode != 0, output
    assert "Traceback" not in output, output
    reasons = [line for line in output.splitlines() if line.startswith("dmtrack_node:")]
    assert len(reasons) == 1, output
    for text in expected:
        assert text in reasons[0], reasons[0]


def test_missing_weights_file(tmp_path):
    missing = tmp_path / "nowhere" / "dmtrack_lite.pt"
    returncode, output = start_and_wait(tmp_path, {"weights": str(missing)})
    assert_one_line_failure(returncode, output, "cannot load weights", str(missing))


def test_corrupt_weights_file(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 this is not a torch checkpoint" * 10)
    returncode, output = start_and_wait(tmp_path, {"weights": str(corrupt)})
    assert_one_line_failure(returncode, output, "cannot load weights", str(corrupt))


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        ({"mode": "bogus"}, "mode must be one of"),
        ({"debug_image_scale": 100.0}, "debug_image_scale"),  # outside the descriptor's range
        ({"presence_low": 0.9, "presence_high": 0.2}, "presence_low"),
    ],
)
def test_invalid_parameters(tmp_path, parameters, expected):
    returncode, output = start_and_wait(tmp_path, parameters)
    assert_one_line_failure(returncode, output, "invalid parameter", expected)


@pytest.mark.parametrize(("sig", "after_s"), [(signal.SIGTERM, 1.5), (signal.SIGINT, 4.0)])
def test_a_signal_during_start_up_exits_cleanly(tmp_path, sig, after_s):
    """Start-up (imports, loading the network) takes seconds; a signal then ends it quietly."""
    process = NodeProcess(unique_namespace(), unique_domain_id(), tmp_path / "node.log")
    process.start()
    time.sleep(after_s)
    process.process.send_signal(sig)
    returncode = process.process.wait(timeout=TIMEOUT_S)
    output = process.log()
    assert returncode == 0, output
    assert "Traceback" not in output and "ERROR" not in output, output

"""``dmtrack info <config>`` prints the parameter count of each part, the input size and strides."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from dmtrack_core.cli import main


def parameter_lines(text: str) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(r"^\s+(\w+)\s+([\d.]+) M", text, re.MULTILINE)}


def test_info_lite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "dmtrack_lite"]) == 0
    out = capsys.readouterr().out
    counts = parameter_lines(out)
    assert {"backbone", "neck", "template", "controller", "head", "reid", "network"} <= set(counts)
    parts = sum(v for k, v in counts.items() if k not in ("network", "id_classifier"))
    assert counts["network"] == pytest.approx(parts, abs=0.005)
    assert 1.0 < counts["network"] < 8.0
    assert "efficientnet_lite0" in out
    assert "384x288" in out
    assert re.search(r"strides\s+8, 16, 32", out)


def test_info_gs_matches_the_original_size(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "dmtrack_gs_dla34"]) == 0
    counts = parameter_lines(capsys.readouterr().out)
    assert counts["network"] == pytest.approx(61.4, abs=0.1)
    assert counts["controller"] == pytest.approx(34.2, abs=0.05)


def test_info_unknown_config_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "no_such_model"]) == 2
    assert "no model config" in capsys.readouterr().out


def test_info_runs_as_a_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dmtrack_core.cli", "info", "dmtrack_lite"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "controller" in result.stdout

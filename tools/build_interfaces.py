"""Build the interface packages in msg/ into the active virtual environment.

Run with the venv's interpreter (``make setup`` does). Needs no ROS install: it builds
with CMake against the ROS 2 wheels in the venv. Idempotent: a package is rebuilt only
when its sources changed since the last build or its Python module is gone.

- ``vision_msgs`` (msg/vision_msgs) is built only when it cannot be imported, so a system
  ``vision_msgs`` is never shadowed.
- ``dmtrack_msgs`` (msg/dmtrack_msgs) is always built.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = Path(sys.prefix)
BUILD_ROOT = REPO / "build" / "interfaces"
STAMP_DIR = VENV / "share" / "dmtrack_interfaces_stamps"

# The wheels' exported CMake targets name the include folders of the machine that built
# them; CMake refuses to generate until they point at this interpreter's folders.
WHEEL_BUILD_PYTHON_INCLUDE = "/opt/python/cp311-cp311/include/python3.11"
WHEEL_BUILD_NUMPY_INCLUDE = "/opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include"


def log(text: str) -> None:
    print(f"[interfaces] {text}", flush=True)


def importable(module: str) -> bool:
    probe = f"import {module}"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=False)
    return result.returncode == 0


def source_digest(package_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package_dir.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(package_dir)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def fix_wheel_cmake_paths() -> int:
    import numpy

    replacements = {
        WHEEL_BUILD_NUMPY_INCLUDE: numpy.get_include(),
        WHEEL_BUILD_PYTHON_INCLUDE: sysconfig.get_paths()["include"],
    }
    changed = 0
    for cmake_file in (VENV / "share").glob("*/cmake/*.cmake"):
        text = cmake_file.read_text()
        new_text = text
        for old, new in replacements.items():
            new_text = new_text.replace(old, new)
        if new_text != text:
            cmake_file.write_text(new_text)
            changed += 1
    return changed


def build(package: str) -> None:
    source = REPO / "msg" / package
    build_dir = BUILD_ROOT / package
    env = dict(os.environ, AMENT_PREFIX_PATH=str(VENV), CMAKE_PREFIX_PATH=str(VENV))
    configure = [
        "cmake",
        "-S",
        str(source),
        "-B",
        str(build_dir),
        f"-DCMAKE_PREFIX_PATH={VENV}",
        f"-DCMAKE_INSTALL_PREFIX={VENV}",
        f"-DPython3_EXECUTABLE={sys.executable}",
        "-DBUILD_TESTING=OFF",
        "-DCMAKE_BUILD_TYPE=Release",
    ]
    started = time.monotonic()
    for step in (
        configure,
        ["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2)],
        ["cmake", "--install", str(build_dir)],
    ):
        result = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.stderr.write(result.stdout[-4000:] + result.stderr[-4000:])
            raise SystemExit(f"[interfaces] building {package} failed at: {' '.join(step[:3])}")
    log(f"built {package} in {time.monotonic() - started:.1f} s")


def ensure(package: str) -> None:
    stamp = STAMP_DIR / package
    digest = source_digest(REPO / "msg" / package)
    if stamp.exists() and stamp.read_text() == digest and importable(f"{package}.msg"):
        log(f"{package} is up to date")
        return
    build(package)
    if not importable(f"{package}.msg"):
        raise SystemExit(f"[interfaces] {package} was built but does not import")
    STAMP_DIR.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)


def main() -> None:
    fixed = fix_wheel_cmake_paths()
    if fixed:
        log(f"pointed {fixed} CMake export files at this interpreter's include folders")
    built_by_us = (STAMP_DIR / "vision_msgs").exists()
    if built_by_us or not importable("vision_msgs.msg"):
        ensure("vision_msgs")
    else:
        log("vision_msgs is provided by the system; not building the fallback")
    ensure("dmtrack_msgs")


if __name__ == "__main__":
    main()

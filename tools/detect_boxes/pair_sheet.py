"""A picture of training pairs from the real sources, to look at before training on them.

    python tools/detect_boxes/pair_sheet.py [--out docs/data/real_pairs.jpg] [--licences all]

Each row: template | search for one pair; the query box (index 0) is red in both, the other
instances (its negatives) blue. Half the rows are same-image photo pairs, half clip pairs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from dmtrack_core.training.pairs import TrainPair
from dmtrack_core.training.seeding import pair_rng
from dmtrack_core.training.sources.real_clips import RealClipSource
from dmtrack_core.training.sources.real_photos import RealPhotoSource

TILE = 300


def _panel(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    scale = TILE / max(image.shape[:2])
    panel = np.ascontiguousarray(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
    for k, (x, y, w, h) in enumerate(boxes):
        if w <= 0 or h <= 0:
            continue
        colour = (255, 30, 30) if k == 0 else (40, 120, 255)
        p1 = (int(x * scale), int(y * scale))
        cv2.rectangle(panel, p1, (int((x + w) * scale), int((y + h) * scale)), colour, 2)
    out = np.full((TILE, TILE, 3), 255, np.uint8)
    out[: panel.shape[0], : panel.shape[1]] = panel
    return out


def pair_row(pair: TrainPair) -> np.ndarray:
    gap = np.full((TILE, 6, 3), 255, np.uint8)
    row = np.hstack(
        [_panel(pair.template_image, pair.template_boxes), gap, _panel(pair.search_image, pair.search_boxes)]
    )
    absent = "query absent in search" if pair.search_boxes[0, 2] <= 0 else ""
    cv2.putText(row, f"{pair.source} K={len(pair.identities)} {absent}", (4, TILE - 6), 0, 0.45, (0, 0, 0), 1)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=Path("docs/data/real_pairs.jpg"))
    parser.add_argument("--licences", default="all")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per source")
    args = parser.parse_args(argv)
    sources = [RealPhotoSource(licences=args.licences), RealClipSource(licences=args.licences)]
    rows = [pair_row(s.sample(pair_rng(7, i), i)) for s in sources for i in range(args.pairs)]
    # two pairs side by side per line of the sheet
    lines = []
    for i in range(0, len(rows), 2):
        right = rows[i + 1] if i + 1 < len(rows) else np.full_like(rows[i], 255)
        lines.append(np.hstack([rows[i], np.full((TILE, 20, 3), 255, np.uint8), right]))
        lines.append(np.full((8, lines[-1].shape[1], 3), 255, np.uint8))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(
        str(args.out), cv2.cvtColor(np.vstack(lines), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
    )
    print(f"[pairs] {len(rows)} pairs -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""LaSOT as laid out on disk: ``<root>/<class>/<class>-<n>/img/00000001.jpg`` with
``groundtruth.txt`` (x,y,w,h per line), ``full_occlusion.txt`` and ``out_of_view.txt``
(one comma-separated line of 0/1 flags)."""

from __future__ import annotations

from pathlib import Path

from dmtrack_core.training.sources.video import (
    VideoPairSource,
    VideoSequence,
    read_box_file,
    read_flag_file,
    read_name_list,
)


def read_lasot_sequence(folder: Path) -> VideoSequence:
    """One sequence folder (``<class>-<n>``)."""
    boxes = read_box_file(folder / "groundtruth.txt")
    count = len(boxes)
    occluded = read_flag_file(folder / "full_occlusion.txt", count).astype(bool)
    out_of_view = read_flag_file(folder / "out_of_view.txt", count).astype(bool)
    frames = [folder / "img" / f"{i + 1:08d}.jpg" for i in range(count)]
    return VideoSequence(folder.name, frames, boxes, ~occluded & ~out_of_view)


def find_lasot_sequences(root: str | Path, names: list[str] | None = None) -> list[Path]:
    """Sequence folders under ``root``, sorted; ``names`` (e.g. the train split) selects some."""
    root = Path(root)
    if names is not None:
        return [root / name.rsplit("-", 1)[0] / name for name in names]
    return sorted(p.parent for p in root.glob("*/*/groundtruth.txt"))


class LasotSource(VideoPairSource):
    """Training pairs from LaSOT (template/search at most ``max_frame_gap`` frames apart)."""

    name = "lasot"

    def __init__(
        self,
        root: str | Path,
        max_frame_gap: int = 300,
        identity_offset: int = 0,
        sequences_file: str | Path | None = None,
    ) -> None:
        folders = find_lasot_sequences(root, read_name_list(sequences_file))
        if not folders:
            raise ValueError(f"lasot: no sequences under {root}")
        super().__init__([read_lasot_sequence(f) for f in folders], max_frame_gap, identity_offset)

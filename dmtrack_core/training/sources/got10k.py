"""GOT-10k train split as laid out on disk: ``<root>/list.txt`` names the sequence folders
``GOT-10k_Train_000001/`` holding ``00000001.jpg ...``, ``groundtruth.txt`` (x,y,w,h),
``absence.label`` (1 = target absent) and ``cover.label`` (visible fraction 0..8)."""

from __future__ import annotations

from pathlib import Path

from dmtrack_core.training.sources.video import (
    VideoPairSource,
    VideoSequence,
    read_box_file,
    read_flag_file,
    read_name_list,
)


def read_got10k_sequence(folder: Path) -> VideoSequence:
    boxes = read_box_file(folder / "groundtruth.txt")
    count = len(boxes)
    absent = read_flag_file(folder / "absence.label", count).astype(bool)
    # cover 0 = fully occluded; without the file every frame counts as visible
    cover = read_flag_file(folder / "cover.label", count) if (folder / "cover.label").is_file() else None
    visible = ~absent if cover is None else ~absent & (cover > 0)
    frames = [folder / f"{i + 1:08d}.jpg" for i in range(count)]
    return VideoSequence(folder.name, frames, boxes, visible)


def find_got10k_sequences(root: str | Path, names: list[str] | None = None) -> list[Path]:
    """Sequence folders: ``names``, else those in ``list.txt``, else every folder with ground truth."""
    root = Path(root)
    if names is None and (root / "list.txt").is_file():
        names = read_name_list(root / "list.txt")
    if names is not None:
        return [root / name for name in names]
    return sorted(p.parent for p in root.glob("*/groundtruth.txt"))


class Got10kSource(VideoPairSource):
    """Training pairs from GOT-10k (template/search at most ``max_frame_gap`` frames apart)."""

    name = "got10k"

    def __init__(
        self,
        root: str | Path,
        max_frame_gap: int = 300,
        identity_offset: int = 0,
        sequences_file: str | Path | None = None,
    ) -> None:
        folders = find_got10k_sequences(root, read_name_list(sequences_file))
        if not folders:
            raise ValueError(f"got10k: no sequences under {root}")
        super().__init__([read_got10k_sequence(f) for f in folders], max_frame_gap, identity_offset)

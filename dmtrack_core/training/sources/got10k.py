"""Training pairs from GOT-10k's train split, read with the evaluation's reader
(``dmtrack_core.evaluation.datasets.read_got10k``: ``<root>/list.txt``, sequence folders of
``00000001.jpg ...`` with ``groundtruth.txt``, ``absence.label`` and ``cover.label``)."""

from __future__ import annotations

from pathlib import Path

from dmtrack_core.evaluation.datasets import read_got10k
from dmtrack_core.training.sources.video import VideoPairSource, VideoSequence, read_name_list


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
        sequences = read_got10k(root, read_name_list(sequences_file))
        super().__init__([VideoSequence.from_dataset(s) for s in sequences], max_frame_gap, identity_offset)

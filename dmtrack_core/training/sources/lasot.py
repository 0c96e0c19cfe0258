"""Training pairs from LaSOT, read with the evaluation's reader
(``dmtrack_core.evaluation.datasets.read_lasot``: ``<root>/<class>/<class>-<n>/img/*.jpg``,
``groundtruth.txt``, ``full_occlusion.txt``, ``out_of_view.txt``)."""

from __future__ import annotations

from pathlib import Path

from dmtrack_core.evaluation.datasets import read_lasot
from dmtrack_core.training.sources.video import VideoPairSource, VideoSequence, read_name_list


class LasotSource(VideoPairSource):
    """Training pairs from LaSOT (template/search at most ``max_frame_gap`` frames apart);
    ``sequences_file`` lists the sequences to use (e.g. the official train split)."""

    name = "lasot"

    def __init__(
        self,
        root: str | Path,
        max_frame_gap: int = 300,
        identity_offset: int = 0,
        sequences_file: str | Path | None = None,
    ) -> None:
        sequences = read_lasot(root, read_name_list(sequences_file))
        super().__init__([VideoSequence.from_dataset(s) for s in sequences], max_frame_gap, identity_offset)

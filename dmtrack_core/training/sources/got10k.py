"""Training pairs from GOT-10k's train split, read with the evaluation's reader
(``dmtrack_core.evaluation.datasets.read_got10k``: ``<root>/list.txt``, sequence folders of
``00000001.jpg ...`` with ``groundtruth.txt``, ``absence.label`` and ``cover.label``)."""

from __future__ import annotations

from dmtrack_core.evaluation.datasets import read_got10k
from dmtrack_core.training.sources.video import DatasetPairSource


class Got10kSource(DatasetPairSource):
    """Training pairs from GOT-10k (template/search at most ``max_frame_gap`` frames apart)."""

    name = "got10k"
    reader = staticmethod(read_got10k)

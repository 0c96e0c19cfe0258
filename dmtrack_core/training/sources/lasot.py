"""Training pairs from LaSOT, read with the evaluation's reader
(``dmtrack_core.evaluation.datasets.read_lasot``: ``<root>/<class>/<class>-<n>/img/*.jpg``,
``groundtruth.txt``, ``full_occlusion.txt``, ``out_of_view.txt``)."""

from __future__ import annotations

from dmtrack_core.evaluation.datasets import read_lasot
from dmtrack_core.training.sources.video import DatasetPairSource


class LasotSource(DatasetPairSource):
    """Training pairs from LaSOT (template/search at most ``max_frame_gap`` frames apart)."""

    name = "lasot"
    reader = staticmethod(read_lasot)

"""Sources of training pairs: dataset readers and the offline synthetic generator.

Every source draws a pair from the ``numpy.random.Generator`` it is given and nothing else,
so a pair depends only on (seed, sample index) and never on which process or data-loader
worker asks for it.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from dmtrack_core.training.config import SOURCE_KINDS, SourceConfig
from dmtrack_core.training.pairs import TrainPair

# Identity ids of source i live in [i * IDENTITY_BLOCK, (i + 1) * IDENTITY_BLOCK), so that
# two sources never share an id (the model folds ids modulo its classifier size anyway).
IDENTITY_BLOCK = 1 << 40


class PairSource(Protocol):
    """Anything that draws training pairs."""

    name: str

    def sample(self, rng: np.random.Generator, index: int) -> TrainPair:
        """Draw one pair; ``index`` is the global sample index (used for unique identities)."""
        ...


def build_source(config: SourceConfig, identity_offset: int, frame_wh: tuple[int, int]) -> PairSource:
    """Create the source described by ``config``; ``frame_wh`` sizes the synthetic frames."""
    kind = config.kind.lower()
    if kind == "synthetic":
        from dmtrack_core.training.sources.synthetic import SyntheticPairSource

        return SyntheticPairSource(
            frame_wh=frame_wh, identity_offset=identity_offset, max_instances=config.max_instances
        )
    if kind == "lasot":
        from dmtrack_core.training.sources.lasot import LasotSource

        return LasotSource(config.root, config.max_frame_gap, identity_offset, config.sequences_file or None)
    if kind == "got10k":
        from dmtrack_core.training.sources.got10k import Got10kSource

        return Got10kSource(config.root, config.max_frame_gap, identity_offset, config.sequences_file or None)
    if kind == "coco":
        from dmtrack_core.training.sources.coco import CocoSource

        return CocoSource(config.root, config.annotations, identity_offset, config.max_instances)
    if kind == "real_photos":
        from dmtrack_core.training.sources.real_photos import RealPhotoSource

        return RealPhotoSource(identity_offset, config.max_instances, config.licences)
    if kind == "real_clips":
        from dmtrack_core.training.sources.real_clips import RealClipSource

        return RealClipSource(identity_offset, config.max_instances, config.max_frame_gap, config.licences)
    raise ValueError(f"unknown source kind {config.kind!r}; known: {SOURCE_KINDS}")

"""Training: pair sources (LaSOT, GOT-10k, COCO, offline synthetic), the mixing sampler,
the trainer and ``dmtrack train``.

The trainer is imported from ``dmtrack_core.training.trainer`` (it pulls in the model);
this package itself stays light.
"""

from dmtrack_core.training.config import SourceConfig, TrainConfig
from dmtrack_core.training.pairs import PreparedPair, TrainPair, collate_pairs, prepare_pair

__all__ = ["PreparedPair", "SourceConfig", "TrainConfig", "TrainPair", "collate_pairs", "prepare_pair"]

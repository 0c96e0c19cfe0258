"""Evaluation: dataset readers, the one-pass runner, official-protocol metrics, OpenCV
baselines, the synthetic distractor benchmark (``dmtrack synth``) and ``dmtrack bench``.

Submodules are imported on use (``from dmtrack_core.evaluation.metrics import ...``) so that
reading a dataset does not pull in matplotlib or the tracker.
"""

from dmtrack_core.evaluation.datasets import Sequence, read_dataset
from dmtrack_core.evaluation.runner import SequenceResult, SequenceTracker, run_ope

__all__ = ["Sequence", "SequenceResult", "SequenceTracker", "read_dataset", "run_ope"]

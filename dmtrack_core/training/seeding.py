"""Seeds of training samples.

Every training sample draws all its randomness from ``pair_rng(seed, index)``, where
``index`` is its global position in the run (step, process, slot). A sample is therefore
the same whichever process or data-loader worker makes it, and resuming at a step needs
nothing but the step number.

The entropy is the three words ``[TRAIN_STREAM_TAG, seed, index]``. The evaluation suite
seeds its held-out sequences with single small integers (``BENCH_SEEDS``, 10000-10019),
whose entropy is one word (zero-padded by NumPy); ours starts with the tag, which is no
benchmark seed, so the entropies always differ and training does not draw a benchmark
sequence's random stream (besides using its own renderer).
"""

from __future__ import annotations

import numpy as np

TRAIN_STREAM_TAG = 0x54524E31  # "TRN1"


def pair_rng(seed: int, index: int) -> np.random.Generator:
    """The random generator of training sample ``index`` in a run seeded with ``seed``."""
    return np.random.default_rng([TRAIN_STREAM_TAG, int(seed), int(index)])

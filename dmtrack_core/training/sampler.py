"""The mixing sampler: which source makes sample ``index``, and the data-loader plumbing.

``MixingSampler.pair(index)`` seeds a generator from (seed, index), picks a source with the
configured weights and lets it draw the pair. ``StepIndexSampler`` hands each process the
indices of its share of every step, so the data stream is a pure function of the seed and
the step: deterministic for any number of workers, and resumable at any step.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import numpy as np
import torch.utils.data

from dmtrack_core.training.pairs import PreparedPair, TrainPair, prepare_pair
from dmtrack_core.training.seeding import pair_rng
from dmtrack_core.training.sources import PairSource

LOGGER = logging.getLogger(__name__)
MAX_ATTEMPTS = 10  # unreadable files in a dataset: draw again (deterministically) this often


class MixingSampler:
    """Draws pairs from several sources in proportion to their weights."""

    def __init__(self, sources: Sequence[PairSource], weights: Sequence[float], seed: int) -> None:
        if len(sources) != len(weights) or not sources:
            raise ValueError("one weight per source, at least one source")
        weights_array = np.asarray(weights, dtype=np.float64)
        if (weights_array < 0).any() or weights_array.sum() <= 0:
            raise ValueError(f"source weights must be >= 0 and not all 0: {list(weights)}")
        self.sources = list(sources)
        self.probabilities = weights_array / weights_array.sum()
        self.seed = int(seed)

    def pair(self, index: int) -> TrainPair:
        rng = pair_rng(self.seed, index)
        for attempt in range(MAX_ATTEMPTS):
            source = self.sources[int(rng.choice(len(self.sources), p=self.probabilities))]
            try:
                return source.sample(rng, index)
            except OSError as exc:  # a missing or corrupt file in a large dataset
                LOGGER.warning("sample %d attempt %d from %s failed: %s", index, attempt, source.name, exc)
        raise RuntimeError(f"sample {index}: {MAX_ATTEMPTS} attempts failed to read data")


class PairDataset(torch.utils.data.Dataset):
    """Map-style dataset over sample indices: index -> prepared (letterboxed) pair."""

    def __init__(
        self,
        sampler: MixingSampler,
        input_wh: tuple[int, int],
        size_divisor: int,
        mean: tuple[float, float, float],
        std: tuple[float, float, float],
    ) -> None:
        self.sampler = sampler
        self.input_wh = input_wh
        self.size_divisor = size_divisor
        self.mean = mean
        self.std = std

    def __getitem__(self, index: int) -> PreparedPair:
        return prepare_pair(self.sampler.pair(index), self.input_wh, self.size_divisor, self.mean, self.std)


class StepIndexSampler(torch.utils.data.Sampler[int]):
    """Global sample indices of one process for steps ``start_step .. total_steps - 1``.

    Sample ``b`` of process ``rank`` at step ``s`` is ``(s * world_size + rank) * batch_size + b``:
    processes never share a sample and every step has fresh ones.
    """

    def __init__(
        self, batch_size: int, start_step: int, total_steps: int, rank: int = 0, world_size: int = 1
    ) -> None:
        self.batch_size = int(batch_size)
        self.start_step = int(start_step)
        self.total_steps = int(total_steps)
        self.rank = int(rank)
        self.world_size = int(world_size)

    def indices_of_step(self, step: int) -> list[int]:
        first = (step * self.world_size + self.rank) * self.batch_size
        return list(range(first, first + self.batch_size))

    def __iter__(self) -> Iterator[int]:
        for step in range(self.start_step, self.total_steps):
            yield from self.indices_of_step(step)

    def __len__(self) -> int:
        return max(0, self.total_steps - self.start_step) * self.batch_size

"""Pairs from annotated single-object video sequences (shared by LaSOT and GOT-10k)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmtrack_core.evaluation.datasets import Sequence
from dmtrack_core.imagery import read_rgb
from dmtrack_core.training.augment import photometric, random_affine
from dmtrack_core.training.pairs import TrainPair


@dataclass
class VideoSequence:
    """One annotated sequence: a frame file and an x, y, w, h box per frame."""

    name: str
    frame_paths: list[Path]
    boxes: np.ndarray  # (N, 4) float32
    visible: np.ndarray  # (N,) bool: the target is in view and not fully occluded

    def __post_init__(self) -> None:
        if not (len(self.frame_paths) == len(self.boxes) == len(self.visible)):
            raise ValueError(
                f"sequence {self.name}: {len(self.frame_paths)} frames, {len(self.boxes)} boxes, "
                f"{len(self.visible)} visibility flags"
            )
        # an empty box cannot be a target either, whatever the flags say
        self.visible = self.visible & (self.boxes[:, 2] > 0) & (self.boxes[:, 3] > 0)

    @staticmethod
    def from_dataset(sequence: Sequence) -> VideoSequence:
        """A fully annotated dataset sequence; a frame is usable as a target when it is not
        absent (LaSOT occlusion / out-of-view flags, GOT-10k absence) and, where GOT-10k says
        how covered it is, not fully covered (cover 0)."""
        if not sequence.fully_annotated:
            raise ValueError(f"{sequence.name}: only the first frame is annotated (a test split?)")
        visible = ~sequence.absent
        if "cover" in sequence.attributes:
            visible = visible & (np.asarray(sequence.attributes["cover"]) > 0)
        boxes = np.asarray(sequence.ground_truth, dtype=np.float32)
        return VideoSequence(sequence.name, list(sequence.frame_paths), boxes, visible)


def read_name_list(path: str | Path | None) -> list[str] | None:
    """Sequence names, one per line; ``None`` when no file is given."""
    if not path:
        return None
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


class VideoPairSource:
    """Template frame: any frame where the target is visible. Search frame: any frame at most
    ``max_frame_gap`` frames before or after it, visible or not (absent -> zero box)."""

    name = "video"

    def __init__(self, sequences: list[VideoSequence], max_frame_gap: int, identity_offset: int) -> None:
        self.sequences = [s for s in sequences if s.visible.any()]
        if not self.sequences:
            raise ValueError(f"{self.name}: no sequence with a visible target")
        self.max_frame_gap = max(0, int(max_frame_gap))
        self.identity_offset = int(identity_offset)

    def __len__(self) -> int:
        return len(self.sequences)

    def choose_frames(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """(sequence index, template frame, search frame) of the next pair."""
        seq_index = int(rng.integers(len(self.sequences)))
        sequence = self.sequences[seq_index]
        template_frame = int(rng.choice(np.flatnonzero(sequence.visible)))
        low = max(0, template_frame - self.max_frame_gap)
        high = min(len(sequence.frame_paths) - 1, template_frame + self.max_frame_gap)
        return seq_index, template_frame, int(rng.integers(low, high + 1))

    def sample(self, rng: np.random.Generator, index: int) -> TrainPair:
        seq_index, template_frame, search_frame = self.choose_frames(rng)
        sequence = self.sequences[seq_index]
        template_box = sequence.boxes[template_frame : template_frame + 1].copy()
        search_box = sequence.boxes[search_frame : search_frame + 1].copy()
        if not sequence.visible[search_frame]:
            search_box[:] = 0.0
        template, template_box = self._augment(
            read_rgb(str(sequence.frame_paths[template_frame])), template_box, rng
        )
        search, search_box = self._augment(read_rgb(str(sequence.frame_paths[search_frame])), search_box, rng)
        return TrainPair(
            template,
            search,
            template_box,
            search_box,
            np.array([self.identity_offset + seq_index]),
            source=self.name,
        )

    @staticmethod
    def _augment(
        image: np.ndarray, boxes: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        # mild: the two frames already differ by real motion
        image, boxes = random_affine(image, boxes, rng, scale_range=(0.85, 1.18), max_shift=0.08)
        return photometric(image, rng, brightness=0.15, contrast=0.15, saturation=0.15), boxes


class DatasetPairSource(VideoPairSource):
    """Pairs from a dataset folder that an evaluation reader understands (``reader(root,
    names)`` -> sequences); subclasses name the reader. ``sequences_file`` lists the sequences
    to use (e.g. an official train split), one name per line."""

    reader: Callable[[str | Path, list[str] | None], list[Sequence]]

    def __init__(
        self,
        root: str | Path,
        max_frame_gap: int = 300,
        identity_offset: int = 0,
        sequences_file: str | Path | None = None,
    ) -> None:
        sequences = type(self).reader(root, read_name_list(sequences_file))
        super().__init__([VideoSequence.from_dataset(s) for s in sequences], max_frame_gap, identity_offset)

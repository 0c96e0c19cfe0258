"""COCO-style instance annotations (``instances_*.json``: images, annotations with
``bbox`` = x, y, w, h and ``iscrowd``, categories) as pairs: the same image augmented twice,
up to ``max_instances`` instances per pair, each of them used in turn as the query."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dmtrack_core.imagery import read_rgb
from dmtrack_core.training.augment import photometric, random_affine
from dmtrack_core.training.pairs import TrainPair

MIN_INSTANCE_SIDE = 4.0  # pixels; smaller objects cannot be told apart at stride 8


@dataclass
class CocoImage:
    path: Path
    boxes: np.ndarray  # (K, 4) x, y, w, h
    annotation_ids: np.ndarray  # (K,) int64, unique over the file: the identities


def read_coco_instances(image_root: str | Path, annotations: str | Path) -> list[CocoImage]:
    """Images with at least one usable instance (not crowd, both sides >= MIN_INSTANCE_SIDE)."""
    data = json.loads(Path(annotations).read_text())
    per_image: dict[int, list[tuple[list[float], int]]] = {}
    for ann in data.get("annotations", []):
        x, y, w, h = (float(v) for v in ann["bbox"])
        if ann.get("iscrowd", 0) or w < MIN_INSTANCE_SIDE or h < MIN_INSTANCE_SIDE:
            continue
        per_image.setdefault(int(ann["image_id"]), []).append(([x, y, w, h], int(ann["id"])))
    images = []
    for image in sorted(data.get("images", []), key=lambda im: int(im["id"])):
        instances = per_image.get(int(image["id"]))
        if not instances:
            continue
        images.append(
            CocoImage(
                Path(image_root) / image["file_name"],
                np.asarray([box for box, _ in instances], dtype=np.float32),
                np.asarray([ann_id for _, ann_id in instances], dtype=np.int64),
            )
        )
    return images


class CocoSource:
    """Pairs from a COCO-style detection dataset."""

    name = "coco"

    def __init__(
        self,
        image_root: str | Path,
        annotations: str | Path,
        identity_offset: int = 0,
        max_instances: int = 8,
    ) -> None:
        if not annotations:
            raise ValueError("coco: 'annotations' (the instances_*.json file) is required")
        self.images = read_coco_instances(image_root, annotations)
        if not self.images:
            raise ValueError(f"coco: no usable instances in {annotations}")
        self.identity_offset = int(identity_offset)
        self.max_instances = int(max_instances)

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, index: int) -> TrainPair:
        record = self.images[int(rng.integers(len(self.images)))]
        chosen = np.arange(len(record.boxes))
        if len(chosen) > self.max_instances:
            chosen = np.sort(rng.choice(chosen, self.max_instances, replace=False))
        boxes = record.boxes[chosen]
        image = read_rgb(str(record.path))
        views = []
        for _ in range(2):  # two independent augmentations stand in for two video frames
            view, view_boxes = random_affine(
                image, boxes, rng, scale_range=(0.7, 1.4), max_shift=0.2, max_rotation_deg=5.0
            )
            views.append((photometric(view, rng), view_boxes))
        (template, template_boxes), (search, search_boxes) = views
        return TrainPair(
            template,
            search,
            template_boxes,
            search_boxes,
            self.identity_offset + record.annotation_ids[chosen],
            source=self.name,
        )

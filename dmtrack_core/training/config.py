"""Typed training configuration, filled from YAML with ``dmtrack_core.config.load_yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCE_KINDS = ("synthetic", "lasot", "got10k", "coco", "real_photos", "real_clips")


@dataclass
class SourceConfig:
    """One source of training pairs and its share of the mix.

    ``root`` is the dataset folder as laid out on disk (LaSOT: the folder holding the class
    folders; GOT-10k: the ``train`` folder holding ``list.txt``; COCO: the image folder such as
    ``train2017``). ``annotations`` is the COCO ``instances_*.json``.
    """

    kind: str = "synthetic"
    weight: float = 1.0
    root: str = ""
    annotations: str = ""
    # optional text file with one sequence name per line (e.g. the LaSOT train split)
    sequences_file: str = ""
    max_frame_gap: int = 300  # template and search frame at most this many frames apart
    max_instances: int = 8  # instances per pair, each used in turn as the query
    # real_photos / real_clips: "permissive" = only data the shipped weights may use (DATA.md), or "all"
    licences: str = "permissive"


@dataclass
class TrainConfig:
    """Everything ``dmtrack train`` needs; see ``dmtrack_core/configs/train_*.yaml``."""

    model: str = "dmtrack_lite"
    sources: list[SourceConfig] = field(default_factory=lambda: [SourceConfig()])
    # network input (width, height) during training; None = the model's own input size.
    # The network is fully convolutional, so a smaller training size is a speed trade-off.
    input_wh: tuple[int, int] | None = None
    # optimiser
    optimizer: str = "adamw"  # sgd | adamw
    lr: float = 1e-3
    momentum: float = 0.9  # SGD momentum; AdamW beta1
    weight_decay: float = 1e-4
    grad_clip: float = 35.0  # max L2 norm of all gradients; <= 0 disables clipping
    # schedule, counted in optimiser steps
    warmup_iters: int = 500
    warmup_ratio: float = 0.001  # lr factor at step 0, rising linearly to 1
    schedule: str = "cosine"  # step | cosine
    lr_step_epochs: list[int] = field(default_factory=list)  # for "step": multiply by lr_gamma there
    lr_gamma: float = 0.1
    min_lr_ratio: float = 0.01  # for "cosine": final lr / lr
    epochs: int = 1
    pairs_per_epoch: int = 30000  # over all processes
    batch_size: int = 8  # pairs per process and step
    # model
    # override the model config's backbone freezing (None = keep the model config's value):
    # mmdet convention, -1 nothing frozen, 0 the stem, n the stem and the first n stages
    frozen_backbone_stages: int | None = None
    backbone_norm_eval: bool | None = None  # keep backbone BatchNorm statistics fixed
    # queries per pair (None = the model config's, 8 in the recipe). Each query runs the whole
    # dynamic head over the search image, so this sets the cost of a step; sources list the
    # target and its look-alikes first, so a small cap keeps the hard negatives as queries.
    max_queries_per_pair: int | None = None
    amp: bool = True  # mixed precision; used on CUDA only
    # start from these weights (our inference format, e.g. an earlier stage's model_final.pt)
    # instead of ImageNet backbone + fresh heads; a fine-tuning stage. The optimiser starts fresh.
    init_weights: str = ""
    # run
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    num_workers: int = 2
    # torch intra-op threads (0 = torch's default). CPU kernels reduce in a thread-dependent
    # order, so bit-identical reruns and resumes on the CPU need 1 thread.
    num_threads: int = 0
    checkpoint_interval: int = 500  # steps; a checkpoint is also written at the end
    log_interval: int = 10  # steps per CSV row
    output_dir: str = "runs/train"
    find_unused_parameters: bool = True  # DDP: per-level template layers get no gradient some steps

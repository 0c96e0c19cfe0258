"""The training loop of ``dmtrack train``.

One process per device; under ``torchrun`` (``WORLD_SIZE`` set) the processes form a
``torch.distributed`` group (gloo on CPU, nccl on CUDA) and the model is wrapped in
``DistributedDataParallel``. Rank 0 alone writes the CSV log, the loss curve and the
checkpoints. Checkpoints hold everything an exact resume needs: model, optimiser,
scheduler and grad-scaler states, the step, every rank's RNG states and the position of the
data stream (which, by construction of ``StepIndexSampler``, is the step itself).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
import os
import random
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from dmtrack_core.config import to_dict
from dmtrack_core.model import build_model, get_model_config
from dmtrack_core.model.checkpoint import (
    TRAINING_FORMAT,
    load_weights_into,
    save_checkpoint,
    write_atomically,
)
from dmtrack_core.model.config import ModelConfig
from dmtrack_core.training.config import TrainConfig
from dmtrack_core.training.pairs import collate_pairs
from dmtrack_core.training.sampler import MixingSampler, PairDataset, StepIndexSampler
from dmtrack_core.training.sources import IDENTITY_BLOCK, build_source

LOGGER = logging.getLogger(__name__)
CHECKPOINT_FORMAT = TRAINING_FORMAT
LOG_NAME = "log.csv"
CURVE_NAME = "loss_curve.png"
FINAL_WEIGHTS_NAME = "model_final.pt"


# --------------------------------------------------------------------------------------
# processes and devices
# --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProcessGroup:
    """Where this process sits: rank, world size and its device."""

    rank: int
    world_size: int
    device: torch.device
    distributed: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(request: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this process's CUDA device when there is one, else the CPU."""
    if request == "auto":
        request = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(request)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def setup_process_group(device_request: str) -> ProcessGroup:
    """Join the torchrun group when ``WORLD_SIZE`` is set (the standard env:// rendezvous)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_request, local_rank)
    if "WORLD_SIZE" not in os.environ:
        return ProcessGroup(0, 1, device, distributed=False)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return ProcessGroup(dist.get_rank(), world_size, device, distributed=True)


# --------------------------------------------------------------------------------------
# optimiser and schedule
# --------------------------------------------------------------------------------------


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD or AdamW over the trainable parameters; biases and norm scales get no weight decay."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if parameter.requires_grad:
            (decay if parameter.ndim > 1 else no_decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    name = config.optimizer.lower()
    if name == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=config.lr, betas=(config.momentum, 0.999))
    raise ValueError(f"unknown optimizer {config.optimizer!r}; use sgd or adamw")


def lr_factor(step: int, config: TrainConfig, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of the base lr at optimiser step ``step``: linear warm-up, then step/cosine."""
    warmup = 1.0
    if step < config.warmup_iters:
        warmup = config.warmup_ratio + (1.0 - config.warmup_ratio) * step / config.warmup_iters
    schedule = config.schedule.lower()
    if schedule == "step":
        passed = sum(step >= epoch * steps_per_epoch for epoch in config.lr_step_epochs)
        decay = config.lr_gamma**passed
    elif schedule == "cosine":
        progress = min(1.0, step / max(1, total_steps))
        decay = config.min_lr_ratio + (1.0 - config.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        raise ValueError(f"unknown schedule {config.schedule!r}; use step or cosine")
    return warmup * decay


# --------------------------------------------------------------------------------------
# RNG states (plain data, so checkpoints load with weights_only=True)
# --------------------------------------------------------------------------------------


def capture_rng_state(device: torch.device) -> dict[str, Any]:
    numpy_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --------------------------------------------------------------------------------------
# logs
# --------------------------------------------------------------------------------------


class CsvLog:
    """Rows of step, epoch, lr, losses and timings; on resume, rows after the step are dropped."""

    def __init__(self, path: Path, resume_step: int | None) -> None:
        self.path = path
        self.fields: list[str] | None = None
        if resume_step is not None and path.is_file():
            with path.open(newline="") as handle:
                reader = csv.DictReader(handle)
                self.fields = list(reader.fieldnames or []) or None
                kept = [row for row in reader if int(row["step"]) <= resume_step]
            self._rewrite(kept)
        elif path.exists():
            path.unlink()

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        with self.path.open("w", newline="") as handle:
            if self.fields:
                writer = csv.DictWriter(handle, fieldnames=self.fields)
                writer.writeheader()
                writer.writerows(rows)

    def write(self, row: dict[str, float]) -> None:
        if self.fields is None:
            self.fields = list(row)
            self._rewrite([])
        with self.path.open("a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields, extrasaction="ignore").writerow(row)


def plot_loss_curve(csv_path: Path, png_path: Path) -> None:
    """Every loss column and the lr against the step (matplotlib's Agg canvas, no display)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    figure = Figure(figsize=(8, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for key in rows[0]:
        if key == "loss" or key.startswith("loss_"):
            axes.plot(
                steps, [float(r[key] or "nan") for r in rows], label=key, linewidth=2 if key == "loss" else 1
            )
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.grid(alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)
    lr_axes = axes.twinx()
    lr_axes.plot(steps, [float(r["lr"]) for r in rows], color="grey", linestyle="--", linewidth=1)
    lr_axes.set_ylabel("lr (dashed)")
    figure.tight_layout()
    figure.savefig(png_path)


def _atomic_save(payload: dict[str, Any], path: Path) -> None:
    write_atomically(path, lambda tmp_name: torch.save(payload, tmp_name))


def _atomic_copy(source: Path, destination: Path) -> None:
    write_atomically(destination, lambda tmp_name: shutil.copyfile(source, tmp_name))


def _worker_init(_worker_id: int) -> None:
    # the workers already run in parallel; OpenCV's own threads would oversubscribe the cores
    import cv2

    cv2.setNumThreads(1)


# --------------------------------------------------------------------------------------
# the trainer
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class TrainSummary:
    """What a finished ``Trainer.run`` did and wrote."""

    step: int  # optimiser steps done in all (including those before a resume)
    total_steps: int  # length of the schedule
    last_losses: dict[str, float]
    output_dir: Path
    checkpoint: Path | None  # the last full checkpoint (rank 0)
    weights: Path | None  # model-only weights in the model's checkpoint format (rank 0)
    seconds: float


class Trainer:
    """Builds model, data and optimiser from a ``TrainConfig`` and runs the loop.

    ``max_steps`` stops early without changing the schedule (it is computed from epochs
    and ``pairs_per_epoch``), so a run stopped at step k and resumed continues exactly.
    """

    def __init__(
        self,
        config: TrainConfig,
        device: str | None = None,
        max_steps: int | None = None,
        progress: bool = True,
    ) -> None:
        self.config = config
        if config.num_threads > 0:
            torch.set_num_threads(config.num_threads)
        self.group = setup_process_group(device or config.device)
        self.device = self.group.device
        self.max_steps = max_steps
        self.progress = progress
        self.output_dir = Path(config.output_dir)

        self.model_config = self._model_config()
        self.input_wh = tuple(config.input_wh or self.model_config.input_wh)
        # every rank builds the same initial weights; DDP broadcasts rank 0's anyway
        torch.manual_seed(config.seed)
        self.model = build_model(self.model_config)
        if config.init_weights:
            load_weights_into(self.model, config.init_weights)
        self.model.to(self.device)
        self.optimizer = build_optimizer(self.model, config)
        pairs_per_step = config.batch_size * self.group.world_size
        self.steps_per_epoch = max(1, math.ceil(config.pairs_per_epoch / pairs_per_step))
        self.total_steps = config.epochs * self.steps_per_epoch
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, config, self.total_steps, self.steps_per_epoch)
        )
        self.use_amp = config.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.step = 0

    def _model_config(self) -> ModelConfig:
        model_config = get_model_config(self.config.model)
        changes: dict[str, Any] = {}
        if self.config.frozen_backbone_stages is not None:
            changes["frozen_backbone_stages"] = self.config.frozen_backbone_stages
        if self.config.backbone_norm_eval is not None:
            changes["backbone_norm_eval"] = self.config.backbone_norm_eval
        if self.config.max_queries_per_pair is not None:
            changes["max_queries_per_pair"] = self.config.max_queries_per_pair
        return dataclasses.replace(model_config, **changes)

    # -- data ------------------------------------------------------------------------------

    def _loader(self, start_step: int, stop_step: int) -> torch.utils.data.DataLoader:
        config = self.config
        sources = [
            build_source(s, (i + 1) * IDENTITY_BLOCK, self.input_wh) for i, s in enumerate(config.sources)
        ]
        mixer = MixingSampler(sources, [s.weight for s in config.sources], config.seed)
        dataset = PairDataset(
            mixer,
            self.input_wh,
            self.model_config.size_divisor,
            self.model_config.pixel_mean,
            self.model_config.pixel_std,
        )
        indices = StepIndexSampler(
            config.batch_size, start_step, stop_step, self.group.rank, self.group.world_size
        )
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=config.batch_size,
            sampler=indices,
            num_workers=config.num_workers,
            collate_fn=collate_pairs,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            worker_init_fn=_worker_init if config.num_workers > 0 else None,
            persistent_workers=False,
        )

    # -- checkpoints -------------------------------------------------------------------------

    def _gather_rng_states(self) -> list[dict[str, Any]]:
        state = capture_rng_state(self.device)
        if not self.group.distributed:
            return [state]
        states: list[Any] = [None] * self.group.world_size
        dist.all_gather_object(states, state)
        return states

    def save(self, path: Path) -> None:
        """Full training state (every rank must call: the RNG states are gathered)."""
        rng_states = self._gather_rng_states()
        if not self.group.is_main:
            return
        payload = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_states,
            # the data stream is a function of (seed, step, batch size, world size)
            "sampler": {
                "next_step": self.step,
                "seed": self.config.seed,
                "batch_size": self.config.batch_size,
                "world_size": self.group.world_size,
            },
            "train_config": to_dict(self.config),
            "model_config": to_dict(self.model_config),
        }
        _atomic_save(payload, path)

    def load(self, path: str | Path) -> None:
        """Restore a full training state written by ``save``."""
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a training checkpoint ({CHECKPOINT_FORMAT})")
        sampler = payload["sampler"]
        expected = {
            "seed": self.config.seed,
            "batch_size": self.config.batch_size,
            "world_size": self.group.world_size,
        }
        changed = {k: (sampler[k], v) for k, v in expected.items() if sampler[k] != v}
        if changed:
            LOGGER.warning(
                "resuming with a different %s (checkpoint, now): the data stream will differ", changed
            )
        self.model.load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        if payload["scaler"]:
            self.scaler.load_state_dict(payload["scaler"])
        rng_states = payload["rng"]
        restore_rng_state(rng_states[min(self.group.rank, len(rng_states) - 1)], self.device)
        self.step = int(payload["step"])

    def export_weights(self, path: Path) -> Path:
        """The model alone, in the model's checkpoint format (what the tracker loads)."""
        extra = {"step": self.step, "seed": self.config.seed, "train_config": to_dict(self.config)}
        return save_checkpoint(path, self.model, config=self.model_config, extra=extra)

    # -- the loop ----------------------------------------------------------------------------

    def run(self, resume: str | Path | None = None) -> TrainSummary:
        started = time.perf_counter()
        config = self.config
        if resume is not None:
            self.load(resume)
        stop_step = self.total_steps if self.max_steps is None else min(self.total_steps, self.max_steps)
        main = self.group.is_main
        checkpoint_dir = self.output_dir / "checkpoints"
        csv_log = None
        if main:
            checkpoint_dir.mkdir(parents=True, exist_ok=True)
            csv_log = CsvLog(self.output_dir / LOG_NAME, self.step if resume is not None else None)

        network: nn.Module = self.model
        if self.group.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            network = nn.parallel.DistributedDataParallel(
                self.model, device_ids=device_ids, find_unused_parameters=config.find_unused_parameters
            )
        network.train()

        loader = self._loader(self.step, stop_step)
        bar = tqdm(
            total=stop_step,
            initial=self.step,
            disable=not (main and self.progress),
            desc="train",
            dynamic_ncols=True,
        )
        sums: dict[str, float] = {}
        count = 0
        data_seconds = 0.0
        last_losses: dict[str, float] = {}
        last_checkpoint: Path | None = None
        tick = time.perf_counter()
        interval_start = tick
        for batch in loader:
            batch = batch.to(self.device)
            data_seconds += time.perf_counter() - tick
            autocast = (
                torch.autocast(device_type="cuda", dtype=torch.float16) if self.use_amp else nullcontext()
            )
            with autocast:
                losses = network(batch)
            loss = losses["loss"]
            if not torch.isfinite(loss):
                raise FloatingPointError(f"step {self.step}: loss is {loss.item()} ({_as_floats(losses)})")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if config.grad_clip > 0:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            self.step += 1

            for key, value in _as_floats(losses).items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            bar.update(1)
            if self.step % config.log_interval == 0 or self.step == stop_step:
                last_losses = {k: v / count for k, v in sums.items()}
                now = time.perf_counter()
                if csv_log is not None:
                    row = {
                        "step": self.step,
                        "epoch": self.step / self.steps_per_epoch,
                        "lr": lr,
                        **last_losses,
                        "step_s": (now - interval_start) / count,
                        "data_s": data_seconds / count,
                        "elapsed_s": now - started,
                    }
                    csv_log.write(row)
                bar.set_postfix(loss=f"{last_losses['loss']:.3f}", lr=f"{lr:.2e}")
                sums, count, data_seconds, interval_start = {}, 0, 0.0, now
            if self.step % config.checkpoint_interval == 0 or self.step == stop_step:
                last_checkpoint = self._checkpoint(checkpoint_dir)
            tick = time.perf_counter()
        bar.close()

        weights = None
        if main:
            weights = self.export_weights(self.output_dir / FINAL_WEIGHTS_NAME)
        if self.group.distributed:
            dist.barrier()
        return TrainSummary(
            self.step,
            self.total_steps,
            last_losses,
            self.output_dir,
            last_checkpoint if main else None,
            weights,
            time.perf_counter() - started,
        )

    def _checkpoint(self, checkpoint_dir: Path) -> Path:
        path = checkpoint_dir / f"step_{self.step:07d}.pt"
        self.save(path)
        if self.group.is_main:
            _atomic_copy(path, checkpoint_dir / "last.pt")
            log_path = self.output_dir / LOG_NAME
            if log_path.is_file():
                plot_loss_curve(log_path, self.output_dir / CURVE_NAME)
        return path


def _as_floats(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in losses.items() if isinstance(v, torch.Tensor) and v.numel() == 1}


def cleanup_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()

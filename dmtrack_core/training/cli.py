"""``dmtrack train --config <yaml> [--resume <ckpt>] [--max-steps N] [--device ...]``.

Several processes: ``torchrun --nproc_per_node N -m dmtrack_core.cli train --config ...``
(or ``python -m torch.distributed.run ...``); each process trains on its own device and
rank 0 writes the outputs.
"""

from __future__ import annotations

import argparse
import logging

from dmtrack_core.config import load_yaml
from dmtrack_core.training.config import TrainConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a DMTrack model (see dmtrack_core/configs/train_*.yaml)"
    )
    parser.add_argument("--config", required=True, help="training config YAML (TrainConfig)")
    parser.add_argument("--resume", default=None, help="training checkpoint to continue from exactly")
    parser.add_argument(
        "--max-steps", type=int, default=None, help="stop after this step (schedule unchanged)"
    )
    parser.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N (default: the config's)")
    parser.add_argument("--output-dir", default=None, help="override the config's output_dir")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # imported here: `dmtrack --help` must not pay for importing torch and the model
    from dmtrack_core.training.trainer import Trainer, cleanup_process_group

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_yaml(TrainConfig, args.config)
    if args.output_dir:
        config.output_dir = args.output_dir
    try:
        trainer = Trainer(config, device=args.device, max_steps=args.max_steps, progress=not args.no_progress)
        summary = trainer.run(resume=args.resume)
        if trainer.group.is_main:
            losses = ", ".join(f"{k}={v:.4f}" for k, v in summary.last_losses.items())
            print(
                f"trained to step {summary.step}/{summary.total_steps} in {summary.seconds:.0f} s; {losses}"
            )
            print(f"checkpoint: {summary.checkpoint}\nweights: {summary.weights}")
    finally:
        cleanup_process_group()
    return 0

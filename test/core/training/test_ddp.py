"""Two CPU processes (gloo) under torchrun train the real lite model and end with equal weights."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

WORKER = textwrap.dedent(
    """
    import hashlib, os, sys
    import torch
    from dmtrack_core.config import load_yaml
    from dmtrack_core.training.config import TrainConfig
    from dmtrack_core.training.trainer import Trainer, cleanup_process_group

    config = load_yaml(TrainConfig, sys.argv[1])
    trainer = Trainer(config, progress=False)
    assert trainer.group.distributed and trainer.group.world_size == 2
    summary = trainer.run()
    digest = hashlib.sha256()
    for name, tensor in sorted(trainer.model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    out = os.path.join(sys.argv[2], f"rank{trainer.group.rank}.txt")
    with open(out, "w") as handle:
        handle.write(f"{summary.step} {digest.hexdigest()}")
    cleanup_process_group()
    """
)


def test_two_gloo_processes_end_with_identical_weights(tmp_path: Path) -> None:
    config = {
        "model": "dmtrack_lite",
        "sources": [{"kind": "synthetic"}],
        "input_wh": [64, 64],
        "lr": 1e-3,
        "warmup_iters": 1,
        "epochs": 1,
        "pairs_per_epoch": 8,  # 2 processes x 2 pairs -> 2 steps
        "batch_size": 2,
        "num_workers": 0,
        "num_threads": 1,  # two processes share two cores
        "checkpoint_interval": 100,
        "log_interval": 1,
        "device": "cpu",
        "output_dir": str(tmp_path / "out"),
    }
    config_path = tmp_path / "train.yaml"
    config_path.write_text(yaml.safe_dump(config))
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {
        k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_PORT")
    }
    env["OMP_NUM_THREADS"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script), str(config_path), str(tmp_path)]  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    steps_and_hashes = [(tmp_path / f"rank{r}.txt").read_text().split() for r in range(2)]
    assert steps_and_hashes[0][0] == steps_and_hashes[1][0] == "2"
    assert steps_and_hashes[0][1] == steps_and_hashes[1][1], "ranks diverged"
    # rank 0 alone writes the outputs
    out = tmp_path / "out"
    assert (out / "checkpoints" / "step_0000002.pt").is_file()
    assert len((out / "log.csv").read_text().splitlines()) == 3

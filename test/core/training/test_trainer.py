"""The training loop with the real lite model on tiny inputs: exact resume, outputs, schedule."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dmtrack_core.cli import main as dmtrack_main
from dmtrack_core.config import from_dict, load_yaml, to_dict
from dmtrack_core.model.checkpoint import load_checkpoint
from dmtrack_core.training.config import TrainConfig
from dmtrack_core.training.trainer import Trainer, lr_factor


def write_config(folder: Path, **overrides) -> Path:
    values = {
        "model": "dmtrack_lite",
        "sources": [{"kind": "synthetic"}],
        "input_wh": [64, 64],
        "optimizer": "adamw",
        "lr": 1e-3,
        "warmup_iters": 2,
        "schedule": "cosine",
        "epochs": 1,
        "pairs_per_epoch": 6,  # 3 steps of 2 pairs
        "batch_size": 2,
        "num_workers": 0,
        "checkpoint_interval": 2,
        "log_interval": 1,
        "seed": 3,
        "device": "cpu",
        "num_threads": 1,  # CPU kernels are bit-reproducible with one thread only
        "output_dir": str(folder / "out"),
    }
    values.update(overrides)
    path = folder / "train.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_cli_writes_checkpoint_log_curve_and_resumes_exactly(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    try:
        _cli_and_resume(tmp_path)
    finally:
        torch.set_num_threads(threads)  # the trainer set 1 thread for this process


def _cli_and_resume(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config_path = write_config(tmp_path)
    out = tmp_path / "out"

    # k = 2 steps through the command line
    assert dmtrack_main(["train", "--config", str(config_path), "--max-steps", "2", "--no-progress"]) == 0
    checkpoint = out / "checkpoints" / "step_0000002.pt"
    assert checkpoint.is_file() and (out / "checkpoints" / "last.pt").is_file()
    assert (out / "loss_curve.png").stat().st_size > 1000
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,lr,") and "loss" in rows[0].split(",") and len(rows) == 3
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert state["step"] == 2 and state["sampler"]["next_step"] == 2

    # k + n = 3: resumed from the checkpoint ...
    assert (
        dmtrack_main(
            [
                "train",
                "--config",
                str(config_path),
                "--resume",
                str(checkpoint),
                "--max-steps",
                "4",
                "--no-progress",
            ]
        )
        == 0
    )
    resumed = torch.load(out / "checkpoints" / "step_0000003.pt", map_location="cpu", weights_only=True)
    assert len((out / "log.csv").read_text().splitlines()) == 4  # rows 1..3, none duplicated

    # ... equals an uninterrupted run of 3 steps
    config = load_yaml(TrainConfig, config_path)
    config.output_dir = str(tmp_path / "straight")
    summary = Trainer(config, progress=False).run()
    assert summary.step == 3
    straight = torch.load(tmp_path / "straight" / "checkpoints" / "step_0000003.pt", weights_only=True)
    for name, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), f"{name} differs after resume"
    assert straight["model"].keys() == resumed["model"].keys()
    start = torch.load(checkpoint, map_location="cpu", weights_only=True)["model"]
    assert any(not torch.equal(start[k], straight["model"][k]) for k in start), "training changed nothing"

    # the exported weights load through the model's own loader, weights only
    model, info = load_checkpoint(out / "model_final.pt")
    assert info.extra["step"] == 3
    torch.testing.assert_close(model.state_dict(), {k: v for k, v in resumed["model"].items()})

    # `dmtrack export` turns a training checkpoint into the same inference weights
    exported = tmp_path / "exported.pt"
    assert dmtrack_main(["export", str(out / "checkpoints" / "step_0000003.pt"), str(exported)]) == 0
    model, info = load_checkpoint(exported)
    assert info.extra["step"] == 3 and info.extra["inference_only"]
    torch.testing.assert_close(model.state_dict(), {k: v for k, v in resumed["model"].items()})
    assert dmtrack_main(["export", str(config_path), str(tmp_path / "not_weights.pt")]) == 2


def test_lr_schedule_warmup_step_and_cosine() -> None:
    config = TrainConfig(
        warmup_iters=10, warmup_ratio=0.1, schedule="step", lr_step_epochs=[2, 3], lr_gamma=0.1
    )
    assert lr_factor(0, config, total_steps=40, steps_per_epoch=10) == pytest.approx(0.1)
    assert lr_factor(5, config, 40, 10) == pytest.approx(0.55)
    assert lr_factor(15, config, 40, 10) == pytest.approx(1.0)
    assert lr_factor(20, config, 40, 10) == pytest.approx(0.1)
    assert lr_factor(35, config, 40, 10) == pytest.approx(0.01)
    cosine = TrainConfig(warmup_iters=0, schedule="cosine", min_lr_ratio=0.0)
    assert lr_factor(0, cosine, 100, 10) == pytest.approx(1.0)
    assert lr_factor(50, cosine, 100, 10) == pytest.approx(0.5)
    assert lr_factor(100, cosine, 100, 10) == pytest.approx(0.0, abs=1e-9)


def test_frozen_stages_are_not_trained(tmp_path: Path) -> None:
    config = load_yaml(TrainConfig, write_config(tmp_path, frozen_backbone_stages=1, num_threads=0))
    trainer = Trainer(config, progress=False)
    assert trainer.model.config.frozen_backbone_stages == 1
    frozen = [p for p in trainer.model.backbone.parameters() if not p.requires_grad]
    assert frozen, "stage freezing must switch off gradients"
    optimised = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
    assert not any(id(p) in optimised for p in frozen)


def test_init_weights_start_a_fine_tuning_stage_from_earlier_weights(tmp_path: Path) -> None:
    first = Trainer(load_yaml(TrainConfig, write_config(tmp_path, seed=3, num_threads=0)), progress=False)
    earlier = first.export_weights(tmp_path / "earlier.pt")
    second_config = load_yaml(TrainConfig, write_config(tmp_path, seed=4, num_threads=0))
    fresh = Trainer(second_config, progress=False).model.state_dict()
    second_config.init_weights = str(earlier)
    started = Trainer(second_config, progress=False).model.state_dict()
    expected = first.model.state_dict()
    # another seed builds other heads; init_weights replaces every one of them
    assert any(not torch.equal(fresh[name], expected[name]) for name in expected)
    assert all(torch.equal(started[name], expected[name]) for name in expected)


def test_shipped_training_configs_load(repo_root: Path) -> None:
    configs = repo_root / "dmtrack_core" / "configs"
    synthetic = load_yaml(TrainConfig, configs / "train_lite_synthetic.yaml")
    assert [s.kind for s in synthetic.sources] == ["synthetic"] and synthetic.model == "dmtrack_lite"
    assert synthetic.optimizer == "adamw"
    stage2 = load_yaml(TrainConfig, configs / "train_lite_synthetic_stage2.yaml")
    # stage 2 starts from stage 1's final weights, on another seed's pairs
    assert stage2.init_weights == f"{synthetic.output_dir}/model_final.pt" and stage2.seed != synthetic.seed
    full = load_yaml(TrainConfig, configs / "train_lite_full.yaml")
    assert {s.kind for s in full.sources} >= {"coco", "lasot", "got10k"}
    assert full.optimizer == "sgd" and full.grad_clip == 35.0 and full.lr_step_epochs == [44, 46]


def test_shipped_weights_record_the_config_that_trained_them(repo_root: Path) -> None:
    """MODEL_CARD.md names the stage-3 (real imagery) config as the last training command: the
    shipped file must come from exactly that config, run to its end. The recorded config is read
    through today's ``TrainConfig``, so a field added since (with its default) does not break it."""
    shipped = load_checkpoint(repo_root / "dmtrack_core" / "weights" / "dmtrack_lite.pt")[1]
    config = load_yaml(TrainConfig, repo_root / "dmtrack_core" / "configs" / "train_lite_real.yaml")
    recorded = from_dict(TrainConfig, shipped.extra["train_config"])
    assert to_dict(recorded) == to_dict(config)
    assert shipped.extra["step"] == config.epochs * config.pairs_per_epoch // config.batch_size
    assert "train_lite_real.yaml" in (repo_root / "MODEL_CARD.md").read_text()

"""Checkpoints: our own format round trip, broken files, and the original DMTrack-GS release.

The original checkpoint is rebuilt from the published key list (``data/``): random
tensors of exactly those names and shapes, wrapped the mmcv way.
"""

from __future__ import annotations

import ast
import logging
import math
from pathlib import Path

import pytest
import torch

from dmtrack_core.model import build_model
from dmtrack_core.model.backbones.dla import DLA34Backbone
from dmtrack_core.model.checkpoint import (
    FORMAT,
    ORIGINAL_KEY_RULES,
    UNUSED_ORIGINAL_PREFIXES,
    CheckpointError,
    load_checkpoint,
    load_original_dmtrack_gs,
    load_weights_into,
    map_original_key,
    save_checkpoint,
)
from dmtrack_core.model.config import get_model_config

KEYS_TSV = Path(__file__).parent / "data" / "dmtrack_gs_checkpoint_keys.tsv"


def original_shapes() -> dict[str, tuple[int, ...]]:
    shapes = {}
    for line in KEYS_TSV.read_text().splitlines():
        name, shape = line.split("\t")
        shapes[name] = tuple(ast.literal_eval(shape))
    return shapes


def fake_original_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights under the original names, scaled so a forward pass stays finite."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, shape in original_shapes().items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.randint(1, 10_000, (), generator=generator, dtype=torch.long)
        elif name.endswith("running_var"):
            state[name] = 0.5 + torch.rand(shape, generator=generator)
        elif len(shape) >= 2:
            fan_in = math.prod(shape[1:])
            state[name] = torch.randn(shape, generator=generator) / math.sqrt(fan_in)
        elif name.endswith(".weight") or name.endswith(".scale"):  # norm gains and FCOS scales
            state[name] = 1.0 + 0.1 * torch.randn(shape, generator=generator)
        else:  # biases and running means
            state[name] = 0.01 * torch.randn(shape, generator=generator)
    return state


@pytest.fixture(scope="module")
def original_state() -> dict[str, torch.Tensor]:
    return fake_original_state_dict()


@pytest.fixture(scope="module")
def original_file(original_state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    state = original_state
    path = tmp_path_factory.mktemp("original") / "dmtrack_gs_epoch_48.pth"
    checkpoint = {
        "meta": {"epoch": 48, "iter": 1_440_000, "mmcv_version": "0.2.16"},
        "state_dict": state,
        "optimizer": {"state": {}, "param_groups": [{"lr": 2.5e-4, "momentum": 0.9}]},
    }
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def gs_loaded(original_file: Path):
    torch.manual_seed(0)
    return load_original_dmtrack_gs(original_file)


def test_every_original_key_has_a_rule() -> None:
    unmapped = [k for k in original_shapes() if map_original_key(k) is None]
    assert unmapped == []
    assert len(ORIGINAL_KEY_RULES) >= 10


def test_unused_prefixes_agree_with_the_backbone() -> None:
    assert {f"backbone.{p}" for p in DLA34Backbone.UNUSED_PREFIXES} == set(UNUSED_ORIGINAL_PREFIXES)


def test_original_checkpoint_loads_without_gaps(gs_loaded) -> None:
    model, report = gs_loaded
    assert report.missing == []
    assert report.unexpected == []
    assert report.shape_mismatches == []
    assert len(report.loaded) == 394
    expected_unused = sorted(k for k in original_shapes() if k.startswith(UNUSED_ORIGINAL_PREFIXES))
    assert sorted(report.unused) == expected_unused
    assert len(expected_unused) == 2 + 38  # base.fc weight + bias, ida_up's 38 tensors
    # Everything of ours that was not filled is a module the original never had.
    filled = set(report.loaded)
    left = sorted(k for k in model.state_dict() if k not in filled)
    assert left == sorted(report.not_in_original)
    assert "unused" in report.summary()


def test_values_land_in_the_mapped_parameters(original_file: Path, gs_loaded) -> None:
    # reload: other tests load variants into the shared model
    model, _ = load_original_dmtrack_gs(original_file, gs_loaded[0])
    original = torch.load(original_file, weights_only=True)["state_dict"]
    ours = model.state_dict()
    for name in (
        "controller.controller_cls2.bias",
        "backbone.base.level3.tree2.root.conv.weight",
        "backbone.dla_up.ida_1.node_2.conv.conv_offset.weight",
        "bbox_head.scales.1.scale",
        "neck.lateral_convs.2.conv.weight",
        "template.fpn_modulator.0.bias",
        "cond_modulator.downsampler_reg.weight",
        "bbox_head.reg_convs.3.gn.weight",
        "backbone.base.level1.1.num_batches_tracked",
    ):
        mapped = map_original_key(name)
        assert mapped in ours, name
        torch.testing.assert_close(ours[mapped], original[name], msg=f"{name} -> {mapped}")


def test_loaded_gs_model_runs_inference(gs_loaded) -> None:
    model, _ = gs_loaded
    model.eval()
    torch.manual_seed(3)
    images = torch.randn(1, 3, 512, 736)
    with torch.no_grad():
        features = model.extract(images)
        template = model.make_template(features, torch.tensor([[300.0, 200.0, 420.0, 300.0]]))
        candidates = model.detect(features, template, score_threshold=0.0, nms_iou=0.5, max_candidates=10)
    assert 1 <= candidates.boxes.shape[0] <= 10
    assert candidates.boxes.shape[1] == 4
    assert torch.isfinite(candidates.boxes).all() and torch.isfinite(candidates.scores).all()
    assert candidates.embeddings.shape == (candidates.boxes.shape[0], model.config.reid_dim)


def test_bare_and_prefixed_state_dicts_load_the_same(gs_loaded, original_state) -> None:
    model, _ = gs_loaded
    state = dict(original_state)
    state["controller.controller_reg1.bias"] = torch.randn(65536)
    wrapped = {f"module.{k}": v for k, v in state.items()}
    _, report = load_original_dmtrack_gs(wrapped, model)
    assert report.ok and len(report.loaded) == 394
    target = map_original_key("controller.controller_reg1.bias")
    torch.testing.assert_close(model.state_dict()[target], state["controller.controller_reg1.bias"])


def test_original_with_wrong_shape_or_stray_key_is_refused(gs_loaded, original_state) -> None:
    model, _ = gs_loaded
    state = dict(original_state)
    state["bbox_head.fcos_cls.weight"] = torch.zeros(3, 32, 3, 3)
    state["bbox_head.mystery.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"unexpected bbox_head\.mystery\.weight.*shape mismatch"):
        load_original_dmtrack_gs(state, model)
    _, report = load_original_dmtrack_gs(state, model, strict=False)
    assert report.unexpected == ["bbox_head.mystery.weight"]
    assert len(report.shape_mismatches) == 1 and "fcos_cls" in report.shape_mismatches[0]
    assert report.missing == []
    assert len(report.loaded) == 393
    del state["controller.controller_cls1.weight"]
    _, report = load_original_dmtrack_gs(state, model, strict=False)
    assert report.missing == [map_original_key("controller.controller_cls1.weight")]


# --------------------------------------------------------------------------------------
# Our own format (the small lite model keeps these fast)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lite_model():
    torch.manual_seed(1)
    config = get_model_config("dmtrack_lite")
    config.pretrained_backbone = False
    return build_model(config).eval()


def test_own_format_round_trip(lite_model, tmp_path: Path) -> None:
    path = save_checkpoint(
        tmp_path / "sub" / "lite.pt",
        lite_model,
        config=lite_model.config,
        extra={"epoch": 3, "metrics": {"auc": 0.5}, "note": "test"},
    )
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and isinstance(raw["model_config"], dict)
    model, info = load_checkpoint(path)
    assert info.extra == {"epoch": 3, "metrics": {"auc": 0.5}, "note": "test"}
    assert info.model_config == lite_model.config
    for name, tensor in lite_model.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    images = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        expected = lite_model.extract(images)
        got = model.eval().extract(images)
    torch.testing.assert_close(_first_tensor(got), _first_tensor(expected))


def _first_tensor(features) -> torch.Tensor:
    for value in vars(features).values():
        if isinstance(value, torch.Tensor):
            return value
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], torch.Tensor):
            return value[0]
    raise AssertionError("Features holds no tensor")


def test_load_weights_into_existing_model(lite_model, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "lite.pt", lite_model, config=lite_model.config)
    torch.manual_seed(9)
    other = build_model(lite_model.config)
    name = next(k for k, v in other.state_dict().items() if v.is_floating_point())
    assert not torch.equal(other.state_dict()[name], lite_model.state_dict()[name])
    info = load_weights_into(other, path)
    assert info.extra == {}
    assert torch.equal(other.state_dict()[name], lite_model.state_dict()[name])


def test_own_format_into_wrong_model_names_the_mismatch(lite_model, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "lite.pt", lite_model, config=lite_model.config)
    payload = torch.load(path, weights_only=True)
    name = next(iter(payload["state_dict"]))
    payload["state_dict"][name] = torch.zeros(1, 2, 3)
    payload["state_dict"]["surplus.weight"] = torch.zeros(1)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=rf"unexpected surplus\.weight; shape mismatch {name}"):
        load_checkpoint(tmp_path / "bad.pt")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_original_dmtrack_gs(tmp_path / "nope.pth")


def test_random_bytes_are_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    noise = torch.randint(0, 256, (4096,), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    path.write_bytes(noise.numpy().tobytes())
    with pytest.raises(CheckpointError, match="corrupt") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_truncated_file_is_a_corrupt_file(lite_model, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "lite.pt", lite_model, config=lite_model.config)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)


def test_wrong_format_is_refused(original_file: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="use load_original_dmtrack_gs"):
        load_checkpoint(original_file)
    torch.save({"format": "other/9", "state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a dmtrack_core/1 checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="expected an mmcv checkpoint or a state_dict"):
        load_original_dmtrack_gs(tmp_path / "list.pt")


def test_original_into_a_lite_model_is_refused(lite_model, original_state) -> None:
    with pytest.raises(CheckpointError, match="need the dla34 backbone"):
        load_original_dmtrack_gs(original_state, lite_model)


def test_non_plain_extra_is_refused_at_save(lite_model, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="extra.when"):
        save_checkpoint(tmp_path / "x.pt", lite_model, config=lite_model.config, extra={"when": object()})
    assert not list(tmp_path.iterdir())


def test_unused_keys_are_logged(original_file: Path, gs_loaded, caplog: pytest.LogCaptureFixture) -> None:
    model, _ = gs_loaded
    with caplog.at_level(logging.INFO, logger="dmtrack_core.model.checkpoint"):
        load_original_dmtrack_gs(original_file, model)
    assert "backbone.ida_up" in caplog.text and "never run" in caplog.text

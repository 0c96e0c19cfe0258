"""The DMTrack network end to end: both configs build, inference returns well-formed
candidates, a training step reaches every trainable parameter, and the lite model can
overfit one image pair."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from dmtrack_core.model import (
    Candidates,
    DMTrack,
    TrainBatch,
    build_model,
    get_model_config,
    parameter_counts,
)
from dmtrack_core.model.head import dynamic_conv1x1


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run on one intra-op thread: when other processes share the 2 cores, two OpenMP threads
    that keep waiting for each other make a training step up to 100x slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# Parameter count of the released DMTrack-GS checkpoint (all 394 keys, buffers excluded).
GS_CHECKPOINT_PARAMETERS = 61_413_840


def lite_model(size: tuple[int, int], pretrained: bool = False) -> DMTrack:
    config = get_model_config("dmtrack_lite")
    config.input_wh = size
    config.pretrained_backbone = pretrained
    return build_model(config)


def tiny_batch(size: int, pairs: int = 1) -> TrainBatch:
    generator = torch.Generator().manual_seed(0)
    template_boxes = torch.tensor([[20.0, 30, 70, 90], [80, 60, 120, 110], [0, 0, 0, 0]]) * size / 128
    search_boxes = torch.tensor([[30.0, 24, 84, 90], [70, 64, 112, 118], [10, 10, 40, 40]]) * size / 128
    return TrainBatch(
        template_images=torch.randn(pairs, 3, size, size, generator=generator),
        search_images=torch.randn(pairs, 3, size, size, generator=generator),
        template_boxes=[template_boxes.clone() for _ in range(pairs)],
        search_boxes=[search_boxes.clone() for _ in range(pairs)],
        identities=[torch.tensor([3, 7, -1]) + 10 * pair for pair in range(pairs)],
    )


def test_gs_config_reproduces_the_original_parameter_counts() -> None:
    torch.manual_seed(0)
    model = build_model("dmtrack_gs_dla34")
    counts = parameter_counts(model)
    assert model.config.input_wh == (736, 512)
    assert abs(counts["network"] - 61.4e6) < 0.1e6
    assert abs(counts["controller"] - 34.2e6) < 0.05e6
    # every part the checkpoint holds, exactly; the ReID head (one 1x1 conv) is ours
    assert counts["network"] - counts["reid"] == GS_CHECKPOINT_PARAMETERS
    assert counts["reid"] == 256 * 128 + 128
    assert model.controller.cls_pre.weight.shape == (65536, 256, 1, 1)
    assert model.controller.reg_post.weight.shape == (1024, 256, 1, 1)
    assert model.head.cls_predictor.weight.shape == (2, 32, 3, 3)
    assert model.head.box_predictor.weight.shape == (4, 32, 3, 3)
    assert model.head.centerness_predictor.weight.shape == (1, 32, 3, 3)
    assert model.head.cls_downsampler.weight.shape == (32, 256, 1, 1)
    assert model.head.level_scales[2].shape == ()
    assert model.neck.lateral_convs[2].weight.shape == (256, 512, 1, 1)
    assert model.template.modulators[1].weight.shape == (256, 256, 1, 1)


def test_lite_config_builds_with_imagenet_backbone() -> None:
    model = build_model("dmtrack_lite")
    counts = parameter_counts(model)
    assert counts["network"] < 8e6
    assert model.config.pixel_mean == (127.5, 127.5, 127.5)
    assert model.config.strides == (8, 16, 32)
    # frozen stem / early stages, the rest trainable
    assert not model.backbone.net._conv_stem.weight.requires_grad
    assert model.backbone.net._blocks[15]._project_conv.weight.requires_grad


def test_backbone_batchnorm_stays_frozen_in_training_mode() -> None:
    model = lite_model((64, 64)).train()
    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not any(m.training for m in norms)
    assert model.head.training


def test_inference_returns_well_formed_candidates() -> None:
    torch.manual_seed(0)
    model = lite_model((160, 128)).eval()
    images = torch.randn(1, 3, 128, 160)
    with torch.no_grad():
        features = model.extract(images)
        template = model.make_template(features, torch.tensor([[40.0, 30.0, 90.0, 100.0]]))
    channels = model.config.fpn_channels
    shapes = [tuple(level.shape) for level in features.levels]
    assert shapes == [(1, channels, 16, 20), (1, channels, 8, 10), (1, channels, 4, 5)]
    assert template.embedding.shape == (1, 128)
    torch.testing.assert_close(template.embedding.norm(dim=1), torch.ones(1))
    assert template.level.tolist() == [0]  # sqrt(50 * 70) = 59 < 63

    candidates = model.detect(features, template, score_threshold=0.0, nms_iou=0.5, max_candidates=7)
    assert isinstance(candidates, Candidates)
    n = len(candidates)
    assert 1 <= n <= 7
    assert candidates.boxes.shape == (n, 4) and candidates.embeddings.shape == (n, 128)
    assert (candidates.boxes[:, 0::2] >= 0).all() and (candidates.boxes[:, 0::2] <= 160).all()
    assert (candidates.boxes[:, 1::2] >= 0).all() and (candidates.boxes[:, 1::2] <= 128).all()
    assert ((candidates.scores >= 0) & (candidates.scores <= 1)).all()
    rank = candidates.scores * candidates.centerness
    assert (rank[:-1] >= rank[1:]).all()
    torch.testing.assert_close(candidates.embeddings.norm(dim=1), torch.ones(n))

    # an impossible threshold still leaves the single best guess
    best = model.detect(features, template, score_threshold=2.0, nms_iou=0.5, max_candidates=7)
    assert len(best) == 1
    torch.testing.assert_close(best.boxes[0], candidates.boxes[0])


def test_batched_templates_match_one_by_one() -> None:
    torch.manual_seed(0)
    model = lite_model((96, 64)).eval()
    with torch.no_grad():
        features = model.extract(torch.randn(2, 3, 64, 96))
        boxes = torch.tensor([[10.0, 10.0, 40.0, 50.0], [30.0, 5.0, 90.0, 60.0]])
        batched = model.make_template(features, boxes)
        outputs = model.flat_outputs(features.levels, batched.kernels)
        for i in range(2):
            single_features = type(features)(
                [f[i : i + 1] for f in features.levels], features.reid[i : i + 1], features.image_hw
            )
            single = model.make_template(single_features, boxes[i : i + 1])
            torch.testing.assert_close(single.kernels.cls_pre[0], batched.kernels.cls_pre[i])
            torch.testing.assert_close(single.embedding[0], batched.embedding[i])
            one = model.flat_outputs(single_features.levels, single.kernels)
            torch.testing.assert_close(one.cls_logits[0], outputs.cls_logits[i], rtol=1e-4, atol=1e-5)
    assert not torch.allclose(batched.kernels.cls_pre[0], batched.kernels.cls_pre[1])


def test_dynamic_conv_is_a_per_sample_1x1_conv() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3, 4)
    kernels = torch.randn(2, 6, 5)
    out = dynamic_conv1x1(x, kernels)
    for i in range(2):
        expected = torch.nn.functional.conv2d(x[i : i + 1], kernels[i][..., None, None])
        torch.testing.assert_close(out[i : i + 1], expected)


def test_training_step_has_finite_losses_and_reaches_every_trainable_parameter() -> None:
    torch.manual_seed(0)
    model = lite_model((192, 192)).train()
    generator = torch.Generator().manual_seed(0)
    # instances: normal; large in the search image (lands on stride 32, so every level's box
    # scale is trained); not in the template (never a query); absent from the search image
    batch = TrainBatch(
        template_images=torch.randn(1, 3, 192, 192, generator=generator),
        search_images=torch.randn(1, 3, 192, 192, generator=generator),
        template_boxes=[
            torch.tensor([[30.0, 45, 105, 135], [120, 90, 180, 165], [0, 0, 0, 0], [5, 5, 50, 40]])
        ],
        search_boxes=[
            torch.tensor([[45.0, 36, 126, 135], [0, 0, 190, 185], [15, 15, 60, 60], [0, 0, -1, -1]])
        ],
        identities=[torch.tensor([3, 7, -1, 12])],
    )
    losses = model(batch)
    assert set(losses) == {"loss_cls", "loss_box", "loss_centerness", "loss_reid", "loss"}
    for name, value in losses.items():
        assert torch.isfinite(value), name
    losses["loss"].backward()
    missing = [
        name
        for name, p in model.named_parameters()
        if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0)
    ]
    assert not missing, missing


def test_pair_without_valid_query_gives_zero_detection_loss() -> None:
    model = lite_model((64, 64)).train()
    batch = TrainBatch(
        torch.zeros(1, 3, 64, 64),
        torch.zeros(1, 3, 64, 64),
        [torch.zeros(1, 4)],
        [torch.tensor([[5.0, 5.0, 30.0, 30.0]])],
        [torch.tensor([-1])],
    )
    losses = model(batch)
    assert losses["loss_cls"] == 0 and losses["loss_box"] == 0 and losses["loss_reid"] == 0
    losses["loss"].backward()  # still a valid graph


@pytest.mark.slow
def test_lite_model_overfits_one_pair() -> None:
    torch.manual_seed(0)
    model = lite_model((128, 128), pretrained=True).train()
    batch = tiny_batch(128)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    history = []
    for _ in range(130):  # loss / 6 and a matching box by then (200 steps cost 20 s more)
        losses = model(batch)
        optimizer.zero_grad()
        losses["loss"].backward()
        optimizer.step()
        history.append({k: v.item() for k, v in losses.items()})
    first, last = history[0], history[-1]
    assert last["loss"] < first["loss"] / 5
    assert last["loss_cls"] + last["loss_box"] < (first["loss_cls"] + first["loss_box"]) / 5

    # and the overfitted model finds the query in the search image
    model.eval()
    with torch.no_grad():
        template = model.make_template(model.extract(batch.template_images), batch.template_boxes[0][:1])
        candidates = model.detect(model.extract(batch.search_images), template, 0.05, 0.5, 5)
    target = batch.search_boxes[0][0]
    top = candidates.boxes[0]
    overlap = (torch.minimum(top[2:], target[2:]) - torch.maximum(top[:2], target[:2])).clamp(min=0).prod()
    union = (top[2:] - top[:2]).prod() + (target[2:] - target[:2]).prod() - overlap
    assert overlap / union > 0.5

"""``dmtrack info <config>``: what a model config builds (parameters per part, input, strides).
``dmtrack export <checkpoint> <weights>``: inference weights from a model or training checkpoint."""

from __future__ import annotations

import argparse

from dmtrack_core.config import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="print a model's parameter counts, input size and strides")
    parser.add_argument("config", help="model config name (dmtrack_lite, dmtrack_gs_dla34) or a YAML path")
    parser.set_defaults(run=run_info)

    parser = subparsers.add_parser(
        "export",
        help="inference weights (what the tracker and the node load) from a model or training checkpoint",
    )
    parser.add_argument(
        "checkpoint", help="e.g. runs/<name>/model_final.pt or runs/<name>/checkpoints/step_*.pt"
    )
    parser.add_argument("weights", help="the file to write, e.g. my_weights.pt")
    parser.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    from dmtrack_core.model.checkpoint import CheckpointError, export_inference_weights

    try:
        path = export_inference_weights(args.checkpoint, args.weights)
    except CheckpointError as exc:
        print(f"error: {exc}")
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    from dmtrack_core.model import build_model, get_model_config, parameter_counts

    try:
        config = get_model_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}")
        return 2
    # random initialisation is enough to count parameters; skip reading backbone weights
    config.pretrained_backbone = False
    model = build_model(config)
    counts = parameter_counts(model)
    print(f"model       {config.name}")
    print(f"backbone    {config.backbone}")
    width, height = config.input_wh
    print(f"input       {width}x{height} (W x H, padded to multiples of {config.size_divisor})")
    print(f"strides     {', '.join(str(s) for s in config.strides)}")
    print(f"channels    fpn {config.fpn_channels}, modulation {config.modulation_channels}, ", end="")
    print(f"reid {config.reid_dim}")
    print("parameters:")
    for name, count in counts.items():
        if name in ("network", "trainable"):
            continue
        note = "  (training only)" if name == "id_classifier" else ""
        print(f"  {name:<14}{count / 1e6:>9.3f} M{note}")
    print(f"  {'network':<14}{counts['network'] / 1e6:>9.3f} M  (all but the training-only parts)")
    return 0

"""DLA-34 with a deformable DLAUp: the backbone of the original DMTrack-GS.

The module tree reproduces the CenterNet/FairMOT ``DLASeg`` layout closely enough that
every ``backbone.*`` key of the original checkpoint has a parameter of the same name and
shape here (see ``dmtrack_core.model.checkpoint``):

* ``base``     DLA-34: ``base_layer``, ``level0..5`` (``level2..5`` are ``Tree``s), and an
  ImageNet classifier ``fc`` (1x1 conv 512 -> 1000) that the tracker never runs.
* ``dla_up``   ``DLAUp`` over the stride 8/16/32 levels (128/256/512 channels); its
  ``ida_*`` stages fuse deeper levels into shallower ones with modulated deformable
  convs and depthwise bilinear transposed convs.
* ``ida_up``   the final ``IDAUp`` of CenterNet, which merges everything to one stride-4
  map. DMTrack feeds the FPN from ``dla_up`` and never runs it; it exists only so the
  checkpoint loads without loss and parameter counts match the original.

Which map is which (the original ``DLAUp`` rewrites its input list in place):

* stride 32, 512 ch: ``level5`` itself, untouched;
* stride 16, 256 ch: ``ida_0.node_1(up_1(proj_1(level5)) + level4)``;
* stride 8, 128 ch:  ``ida_1`` runs on ``[level3, level4, ida_0 output]``; with
  ``a = node_1(up_1(proj_1(level4)) + level3)`` the result is
  ``node_2(up_2(proj_2(ida_0 output)) + a)``.

The input is an ImageNet-normalised RGB batch whose height and width are multiples of 32
(the letterbox pads to that); other sizes cannot line up the residual paths of DLA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from dmtrack_core.ops import ModulatedDeformConv2d

# Level widths and depths of DLA-34 (levels 0..5 at strides 1, 2, 4, 8, 16, 32).
DLA34_CHANNELS = (16, 32, 64, 128, 256, 512)
DLA34_LEVELS = (1, 1, 1, 2, 2, 1)
# The FPN consumes levels 3..5.
FIRST_LEVEL = 3
# Momentum of CenterNet's BatchNorm layers (same as the torch default; kept explicit).
BN_MOMENTUM = 0.1


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


class BasicBlock(nn.Module):
    """Two 3x3 conv + BN layers with a residual connection (the residual may come from outside)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = _batch_norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = _batch_norm(out_channels)

    def forward(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        if residual is None:
            residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Root(nn.Module):
    """Aggregation node of a tree: 1x1 conv + BN + ReLU over the concatenated children.

    DLA-34 uses no residual in its roots, so none is implemented.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False)
        self.bn = _batch_norm(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, *children: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(torch.cat(children, dim=1))))


class Tree(nn.Module):
    """Hierarchical deep aggregation tree of ``levels`` depth built from ``BasicBlock``s.

    ``level_root`` trees also feed their (downsampled) input into the root, and a tree
    whose width changes carries a 1x1 ``project`` for the residual of its first block.
    """

    def __init__(
        self,
        levels: int,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        level_root: bool = False,
        root_dim: int = 0,
    ) -> None:
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * out_channels
        if level_root:
            root_dim += in_channels
        self.levels = levels
        self.level_root = level_root
        self.tree1: nn.Module
        self.tree2: nn.Module
        if levels == 1:
            self.tree1 = BasicBlock(in_channels, out_channels, stride)
            self.tree2 = BasicBlock(out_channels, out_channels, 1)
            self.root: Root | None = Root(root_dim, out_channels)
        else:
            self.tree1 = Tree(levels - 1, in_channels, out_channels, stride, root_dim=0)
            # The second subtree's root also aggregates everything collected so far.
            self.tree2 = Tree(levels - 1, out_channels, out_channels, 1, root_dim=root_dim + out_channels)
            self.root = None
        self.downsample: nn.Module | None = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        self.project: nn.Sequential | None = None
        if in_channels != out_channels:
            self.project = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=1, bias=False), _batch_norm(out_channels)
            )

    def forward(
        self, x: Tensor, residual: Tensor | None = None, children: list[Tensor] | None = None
    ) -> Tensor:
        # ``residual`` is accepted for call compatibility with BasicBlock; a tree always
        # recomputes its own from its input, as the original does.
        del residual
        children = [] if children is None else children
        bottom = self.downsample(x) if self.downsample is not None else x
        residual_path = self.project(bottom) if self.project is not None else bottom
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, residual_path)
        if self.levels == 1:
            assert self.root is not None
            x2 = self.tree2(x1)
            return self.root(x2, x1, *children)
        children.append(x1)
        return self.tree2(x1, children=children)


def _conv_level(in_channels: int, out_channels: int, num_convs: int, stride: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(num_convs):
        layers += [
            nn.Conv2d(
                in_channels if index == 0 else out_channels,
                out_channels,
                3,
                stride=stride if index == 0 else 1,
                padding=1,
                bias=False,
            ),
            _batch_norm(out_channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class DLA34(nn.Module):
    """The DLA-34 trunk; ``forward`` returns the six level outputs (strides 1..32)."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        ch, lv = DLA34_CHANNELS, DLA34_LEVELS
        self.base_layer = nn.Sequential(
            nn.Conv2d(3, ch[0], 7, stride=1, padding=3, bias=False), _batch_norm(ch[0]), nn.ReLU(inplace=True)
        )
        self.level0 = _conv_level(ch[0], ch[0], lv[0], stride=1)
        self.level1 = _conv_level(ch[0], ch[1], lv[1], stride=2)
        self.level2 = Tree(lv[2], ch[1], ch[2], 2, level_root=False)
        self.level3 = Tree(lv[3], ch[2], ch[3], 2, level_root=True)
        self.level4 = Tree(lv[4], ch[3], ch[4], 2, level_root=True)
        self.level5 = Tree(lv[5], ch[4], ch[5], 2, level_root=True)
        # ImageNet classifier of the pre-trained DLA; never run by the tracker (see module doc).
        self.fc = nn.Conv2d(ch[5], num_classes, 1, stride=1, padding=0, bias=True)
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # He initialisation over the output fan, as the DLA reference does.
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: Tensor) -> list[Tensor]:
        outputs = []
        x = self.base_layer(x)
        for index in range(len(DLA34_CHANNELS)):
            x = getattr(self, f"level{index}")(x)
            outputs.append(x)
        return outputs


def bilinear_upsampling_kernel(kernel_size: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """2-D bilinear interpolation kernel (``kernel_size`` = 2 * factor) for a transposed conv."""
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    taps = 1.0 - (torch.arange(kernel_size, dtype=torch.float64) - centre).abs() / factor
    return torch.outer(taps, taps).to(dtype)


class DeformConvBlock(nn.Module):
    """Modulated deformable 3x3 conv followed by BN + ReLU (``actf``), CenterNet's ``DeformConv``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        # Declared before ``conv`` to keep the original's state_dict order.
        self.actf = nn.Sequential(_batch_norm(out_channels), nn.ReLU(inplace=True))
        self.conv = ModulatedDeformConv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        # Start as a plain conv: zero offsets and mask logits (mask = sigmoid(0) = 0.5 everywhere).
        nn.init.zeros_(self.conv.conv_offset.weight)
        nn.init.zeros_(self.conv.conv_offset.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.actf(self.conv(x))


def _depthwise_upsampler(channels: int, factor: int) -> nn.ConvTranspose2d:
    """Depthwise transposed conv that upsamples by ``factor``, initialised to bilinear."""
    up = nn.ConvTranspose2d(
        channels,
        channels,
        kernel_size=2 * factor,
        stride=factor,
        padding=factor // 2,
        output_padding=0,
        groups=channels,
        bias=False,
    )
    with torch.no_grad():
        up.weight.copy_(bilinear_upsampling_kernel(2 * factor).expand_as(up.weight))
    return up


class IDAUp(nn.Module):
    """Iterative deep aggregation: bring inputs ``1..n-1`` to ``out_channels`` at the resolution
    of input 0 (``proj_i`` then ``up_i``), merging each with its predecessor (``node_i``)."""

    def __init__(self, out_channels: int, in_channels: Sequence[int], up_factors: Sequence[int]) -> None:
        super().__init__()
        self.num_inputs = len(in_channels)
        for i in range(1, len(in_channels)):
            setattr(self, f"proj_{i}", DeformConvBlock(in_channels[i], out_channels))
            setattr(self, f"up_{i}", _depthwise_upsampler(out_channels, int(up_factors[i])))
            setattr(self, f"node_{i}", DeformConvBlock(out_channels, out_channels))

    def forward(self, layers: Sequence[Tensor]) -> list[Tensor]:
        """Return the merged maps; entry ``i`` aggregates inputs ``0..i``; entry 0 is input 0."""
        merged = [layers[0]]
        for i in range(1, self.num_inputs):
            upsampled = getattr(self, f"up_{i}")(getattr(self, f"proj_{i}")(layers[i]))
            merged.append(getattr(self, f"node_{i}")(upsampled + merged[i - 1]))
        return merged


class DLAUp(nn.Module):
    """CenterNet's ``DLAUp`` over ``channels`` (shallow to deep) at relative ``scales``.

    Stage ``ida_k`` lifts the deepest ``k + 1`` (already fused) maps onto level ``-(k + 2)``.
    ``forward`` returns one map per input level with the widths of ``channels``.
    """

    def __init__(self, channels: Sequence[int], scales: Sequence[int]) -> None:
        super().__init__()
        channels = list(channels)
        in_channels = list(channels)
        scales = list(scales)
        self.num_levels = len(channels)
        for k in range(len(channels) - 1):
            j = len(channels) - k - 2
            up_factors = [s // scales[j] for s in scales[j:]]
            setattr(self, f"ida_{k}", IDAUp(channels[j], in_channels[j:], up_factors))
            # After this stage every map deeper than j is at level j's scale and width.
            scales[j + 1 :] = [scales[j]] * (len(scales) - j - 1)
            in_channels[j + 1 :] = [channels[j]] * (len(in_channels) - j - 1)

    def forward(self, layers: Sequence[Tensor]) -> list[Tensor]:
        layers = list(layers)
        outputs = [layers[-1]]
        for k in range(self.num_levels - 1):
            j = self.num_levels - k - 2
            # Functional form of the original's in-place update of layers[j:].
            layers[j:] = getattr(self, f"ida_{k}")(layers[j:])
            outputs.insert(0, layers[-1])
        return outputs


class DLA34Backbone(nn.Module):
    """DLA-34 + deformable DLAUp; returns ``[C3, C4, C5]`` with 128/256/512 channels at strides 8/16/32.

    ``ida_up`` and ``base.fc`` are real submodules so the original checkpoint maps onto
    this module key for key, but ``forward`` never runs them (``UNUSED_PREFIXES``).
    """

    out_channels: tuple[int, ...] = (128, 256, 512)
    strides: tuple[int, ...] = (8, 16, 32)
    # Sub-module prefixes that hold weights but take no part in ``forward``.
    UNUSED_PREFIXES: tuple[str, ...] = ("base.fc.", "ida_up.")
    size_divisor: int = 32

    def __init__(self) -> None:
        super().__init__()
        level_channels = list(DLA34_CHANNELS[FIRST_LEVEL:])
        relative_scales = [2**i for i in range(len(level_channels))]
        self.base = DLA34()
        self.dla_up = DLAUp(level_channels, relative_scales)
        # CenterNet's final stride-4 fusion; unused by DMTrack (see module doc).
        self.ida_up = IDAUp(level_channels[0], level_channels, relative_scales)

    def forward(self, images: Tensor) -> list[Tensor]:
        height, width = images.shape[-2:]
        if height % self.size_divisor or width % self.size_divisor:
            raise ValueError(
                f"DLA34Backbone needs height and width divisible by {self.size_divisor}, "
                f"got {height}x{width}; pad the input (the letterbox does)"
            )
        levels = self.base(images)
        return self.dla_up(levels[FIRST_LEVEL:])

"""The paper's architectures in plain torch: ResNet-18/34/50, VGG-13/16/19 (no BN), a small CNN.

The modules reproduce torchvision's layouts, layer names and initialisations
(``conv1``, ``layer1`` ... ``layer4``, ``fc`` for ResNet; ``features``,
``avgpool``, ``classifier`` for VGG), so that hooks named after the paper's
layers find the same modules, and at full width with the 224-pixel stem the
parameter counts equal torchvision's.  torchvision itself is not needed.

Three changes make the same families usable on small images and small CPUs:

- any number of input channels and a head of ``n_classes`` logits;
- ``width`` multiplies every channel count (and VGG's hidden units), ``depth``
  sets the number of blocks (ResNet) or convolutions (VGG, small CNN) per stage;
- ``stem="small"`` (chosen automatically below 64 pixels) replaces ResNet's
  7x7/2 convolution and max-pool by one 3x3/1 convolution, as for CIFAR, and
  pools VGG's last feature map to 1x1 instead of 7x7.  Max-pools that would
  shrink a side below one pixel are skipped (kept as ``Identity`` so that the
  layer names do not move), so every network takes inputs from 8x8 upward.
"""

import math
import numbers

import torch
from torch import nn

from .._validation import check_memory

__all__ = ["ARCHITECTURES", "build_model", "penultimate_layer", "profile_layers"]

MIN_INPUT_SIZE = 8
# below this many pixels on the shorter side, stem="auto" picks the small-image stem
SMALL_STEM_BELOW = 64

_RESNET = {  # arch -> (block, blocks per stage)
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
}
_VGG = {  # arch -> convolutions per stage (torchvision's configurations B, D, E)
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}
_SMALL_CNN_DEPTH = 2
ARCHITECTURES = ("small_cnn", *_RESNET, *_VGG)


def _channels(base, width):
    return max(1, int(round(base * width)))


def _pair(size, name):
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        size = tuple(int(s) for s in size)
    except TypeError:
        raise TypeError(f"{name} must be an int or a pair (height, width), got {size!r}.") from None
    if len(size) != 2:
        raise ValueError(f"{name} must be an int or a pair (height, width), got {size!r}.")
    return size


class _ImageModule(nn.Module):
    """Shared input check: a clear error instead of a shape mismatch deep inside a convolution."""

    def __init__(self, in_channels, n_classes):
        super().__init__()
        self.in_channels = in_channels
        self.n_classes = n_classes

    def _check_input(self, x):
        if x.ndim == 3 and self.in_channels == 1:  # (n, H, W) grayscale
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} takes images of shape (n, {self.in_channels}, H, W), got a "
                f"tensor of shape {tuple(x.shape)}. Reshape the input, or build the model with "
                f"in_channels={x.shape[1] if x.ndim == 4 else '...'}."
            )
        if min(x.shape[2:]) < MIN_INPUT_SIZE:
            raise ValueError(
                f"{type(self).__name__} takes images of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} "
                f"pixels, got {tuple(x.shape[2:])}. Upsample or pad the images."
            )
        return x


def _pools(stage_count, input_size, first_reduction=1):
    """Which of ``stage_count`` 2x2 max-pools to keep, so that no side drops below one pixel."""
    side = min(input_size) // first_reduction
    keep = []
    for _ in range(stage_count):
        keep.append(side >= 2)
        if side >= 2:
            side //= 2
    return keep


def _init_conv_relu(module):
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


# --------------------------------------------------------------------------------------- ResNet
def _conv3x3(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 convolutions, stride on the 3x3 as in torchvision (ResNet-50)."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(_ImageModule):
    """ResNet with torchvision's layer names; see :func:`build_model`."""

    penultimate_layer = "layer4"

    def __init__(self, block, blocks, *, in_channels, n_classes, width=1.0, small_stem=False):
        super().__init__(in_channels, n_classes)
        block = {"basic": BasicBlock, "bottleneck": Bottleneck}[block]
        self.inplanes = _channels(64, width)
        if small_stem:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_stem else nn.MaxPool2d(3, stride=2, padding=1)
        for i, n_blocks in enumerate(blocks):
            stage = self._make_stage(block, _channels(64 * 2**i, width), n_blocks,
                                     stride=1 if i == 0 else 2)
            setattr(self, f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.inplanes, n_classes)
        _init_conv_relu(self)

    def _make_stage(self, block, planes, n_blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self._check_input(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ------------------------------------------------------------------------------------------ VGG
class _PooledFeaturesNet(_ImageModule):
    """``features`` (convolutions), ``avgpool``, ``classifier`` (Linear layers), as torchvision."""

    def forward(self, x):
        x = self._check_input(x)
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def _conv_stages(in_channels, stage_channels, convs_per_stage, input_size, width):
    """Conv-ReLU stages, each closed by a 2x2 max-pool (or an Identity where the map is 1 pixel)."""
    layers = []
    channels = in_channels
    for base, n_convs, pool in zip(stage_channels, convs_per_stage,
                                   _pools(len(convs_per_stage), input_size)):
        out = _channels(base, width)
        for _ in range(n_convs):
            layers += [nn.Conv2d(channels, out, 3, padding=1), nn.ReLU(inplace=True)]
            channels = out
        layers.append(nn.MaxPool2d(2, 2) if pool else nn.Identity())
    return nn.Sequential(*layers), channels


class VGG(_PooledFeaturesNet):
    """VGG without batch norm, torchvision's layer names; see :func:`build_model`."""

    # the second Linear of the classifier, before its ReLU (the paper's representation)
    penultimate_layer = "classifier.3"

    def __init__(self, convs_per_stage, *, in_channels, n_classes, width=1.0, input_size=224,
                 small_stem=False, dropout=0.5):
        super().__init__(in_channels, n_classes)
        self.features, channels = _conv_stages(in_channels, (64, 128, 256, 512, 512),
                                               convs_per_stage, input_size, width)
        side = 1 if small_stem else 7
        hidden = _channels(4096, width)
        self.avgpool = nn.AdaptiveAvgPool2d((side, side))
        self.classifier = nn.Sequential(
            nn.Linear(channels * side * side, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, n_classes),
        )
        _init_conv_relu(self)
        for m in self.classifier:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)


class SmallCNN(_PooledFeaturesNet):
    """A VGG-like network small enough to train on a CPU in seconds; see :func:`build_model`.

    ``depth`` stages of one 3x3 convolution, ReLU and 2x2 max-pool (32, 64,
    128, ... channels times ``width``), average pooling to 2x2, then a hidden
    Linear of ``128 * width`` units (the penultimate layer), ReLU and the
    output Linear.
    """

    penultimate_layer = "classifier.0"

    def __init__(self, depth=_SMALL_CNN_DEPTH, *, in_channels, n_classes, width=1.0,
                 input_size=28):
        super().__init__(in_channels, n_classes)
        self.features, channels = _conv_stages(in_channels, [32 * 2**i for i in range(depth)],
                                               (1,) * depth, input_size, width)
        hidden = _channels(128, width)
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(nn.Linear(channels * 4, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, n_classes))
        _init_conv_relu(self)


def _check_depth(depth, default, arch):
    if depth is None:
        return default
    if isinstance(depth, numbers.Integral) and not isinstance(depth, bool):
        depth = (int(depth),) * len(default) if len(default) > 1 else (int(depth),)
    depth = tuple(depth) if isinstance(depth, (tuple, list)) else (depth,)
    if len(depth) != len(default) or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in depth):
        raise ValueError(
            f"depth for {arch} must be None, a positive int or {len(default)} positive ints (one "
            f"per stage; the default is {default}), got {depth!r}."
        )
    return depth


# millions of parameters at width=1 with the default depth (the VGGs at 224 pixels: the most)
_MILLIONS_OF_PARAMETERS = {"small_cnn": 0.1, "resnet18": 11.3, "resnet34": 21.4,
                           "resnet50": 23.8, "vgg13": 129.2, "vgg16": 134.5, "vgg19": 139.8}


def _check_model_memory(arch, width, depth, n_classes):
    """Refuse a size whose weights, gradients and Adam moments (4 floats each) exceed memory."""
    default = _RESNET[arch][1] if arch in _RESNET else _VGG.get(arch, (_SMALL_CNN_DEPTH,))
    stages = _check_depth(depth, default, arch)
    scale = max(width, 1.0) ** 2 * max(sum(stages) / sum(default), 1.0)
    head = n_classes * 4096 * max(width, 1.0)  # the last layer, 4096 wide at most (VGG)
    check_memory((_MILLIONS_OF_PARAMETERS[arch] * 1e6 * scale + head) * 4 * 4,
                 what=f"{arch} with width={width!r}, depth={depth!r} and "
                      f"n_classes={n_classes!r}",
                 fix="Pass a smaller width, depth or number of classes.")


def build_model(arch, in_channels=1, n_classes=2, *, width=1.0, depth=None, input_size=224,
                stem="auto", dropout=0.5):
    """Build one of the paper's architectures as a randomly initialised torch module.

    Parameters
    ----------
    arch : {"small_cnn", "resnet18", "resnet34", "resnet50", "vgg13", "vgg16", "vgg19"}
        ResNets have batch norm (basic blocks for 18/34, bottlenecks for 50);
        the VGGs have none, as in the paper.
    in_channels : int, default=1
        Channels of the input images (1 for grayscale).
    n_classes : int, default=2
        Logits of the head; at least 2.
    width : float, default=1.0
        Multiplies every channel count (and VGG's 4096 hidden units, the small
        CNN's 128).  ``width=1/8`` runs a ResNet-18 on a CPU.
    depth : int or tuple of int, default=None
        Blocks per stage for ResNet (4 stages; e.g. ``(1, 1, 1, 1)``),
        convolutions per stage for VGG (5 stages), number of stages for the
        small CNN (default 2).  An int is used for every stage.  None keeps the
        architecture's own depth.
    input_size : int or (int, int), default=224
        Height and width of the images the model is built for.  It selects the
        stem (``stem="auto"``) and which max-pools are kept; the network then
        accepts any size from 8x8 upward (its pooling before the head is
        adaptive).
    stem : {"auto", "imagenet", "small"}, default="auto"
        ``"imagenet"``: torchvision's layers.  ``"small"``: ResNet's first
        layer becomes a 3x3 stride-1 convolution without max-pool, and VGG
        pools its last feature map to 1x1 (512 inputs to the classifier instead
        of 25088).  ``"auto"``: small when the shorter side is below 64 pixels.
    dropout : float, default=0.5
        VGG only: dropout of the classifier, as in torchvision.

    Returns
    -------
    model : torch.nn.Module
        Its class attribute ``penultimate_layer`` names the paper's
        representation layer (see :func:`penultimate_layer`).

    Examples
    --------
    >>> import torch
    >>> from skintrinsic.nets import build_model
    >>> net = build_model("resnet18", in_channels=1, n_classes=10, width=0.125, input_size=28)
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    >>> net.penultimate_layer
    'layer4'
    """
    if arch not in ARCHITECTURES:
        raise ValueError(
            f"arch must be one of {', '.join(map(repr, ARCHITECTURES))}; got {arch!r}."
        )
    for name, value, low in (("in_channels", in_channels, 1), ("n_classes", n_classes, 2)):
        if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)) or value < low:
            hint = ("A classifier needs at least two classes." if name == "n_classes"
                    else "Use 1 for grayscale, 3 for RGB.")
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}. {hint}")
    if not (isinstance(width, numbers.Real) and not isinstance(width, bool)
            and 0 < width < math.inf):
        raise ValueError(f"width must be a positive finite number, got {width!r}.")
    input_size = _pair(input_size, "input_size")
    if min(input_size) < MIN_INPUT_SIZE:
        raise ValueError(
            f"input_size must be at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}, got {input_size}. "
            "Upsample or pad the images."
        )
    if stem not in ("auto", "imagenet", "small"):
        raise ValueError(f"stem must be 'auto', 'imagenet' or 'small', got {stem!r}.")
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) \
            or not 0 <= dropout <= 1:
        raise ValueError(f"dropout must be a probability in [0, 1], got {dropout!r}.")
    small_stem = stem == "small" or (stem == "auto" and min(input_size) < SMALL_STEM_BELOW)
    _check_model_memory(arch, width, depth, n_classes)
    common = dict(in_channels=int(in_channels), n_classes=int(n_classes), width=float(width))
    if arch in _RESNET:
        block, default = _RESNET[arch]
        return ResNet(block, _check_depth(depth, default, arch), small_stem=small_stem, **common)
    if arch in _VGG:
        return VGG(_check_depth(depth, _VGG[arch], arch), input_size=input_size,
                   small_stem=small_stem, dropout=dropout, **common)
    (n_stages,) = _check_depth(depth, (_SMALL_CNN_DEPTH,), arch)
    return SmallCNN(n_stages, input_size=input_size, **common)


def _unwrap(model):
    """A torch module from a module, a fitted skorch net or an architecture name."""
    if isinstance(model, str):
        if model not in ARCHITECTURES:
            raise ValueError(
                f"Unknown architecture {model!r}; expected one of {', '.join(ARCHITECTURES)}."
            )
        return {"small_cnn": SmallCNN, **dict.fromkeys(_RESNET, ResNet),
                **dict.fromkeys(_VGG, VGG)}[model]
    module = getattr(model, "module_", model)
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, a fitted skorch net or an "
                        f"architecture name, got {type(model).__name__}.")
    return module


def penultimate_layer(model):
    """Name of the paper's representation layer of a model, a fitted net or an architecture name.

    ``"layer4"`` (before average pooling) for ResNets, ``"classifier.3"`` (the
    second Linear, before its ReLU) for VGGs, ``"classifier.0"`` for the small
    CNN.  Any other module declares it with a ``penultimate_layer`` attribute.

    Examples
    --------
    >>> from skintrinsic.nets import penultimate_layer
    >>> penultimate_layer("vgg16")
    'classifier.3'
    """
    module = _unwrap(model)
    name = getattr(module, "penultimate_layer", None)
    if not isinstance(name, str):
        raise ValueError(
            f"{type(module).__name__} does not declare its penultimate layer. Name the layer "
            "explicitly (see skintrinsic.nets.layer_names), or give the module a "
            "`penultimate_layer` attribute."
        )
    return name


def profile_layers(model):
    """Layers that trace a network's representation over depth, input to output.

    For the built architectures: the stem's ReLU, each ResNet stage, the
    average pool and the logits; or each max-pool (stage output) of VGG and
    the small CNN, then every Linear of the classifier.  For other modules:
    every direct child.

    Examples
    --------
    >>> from skintrinsic.nets import build_model, profile_layers
    >>> profile_layers(build_model("resnet18", width=0.125, input_size=32))
    ['relu', 'layer1', 'layer2', 'layer3', 'layer4', 'avgpool', 'fc']
    """
    module = _unwrap(model)
    if isinstance(module, ResNet):
        stages = [n for n, _ in module.named_children() if n.startswith("layer")]
        return ["relu", *stages, "avgpool", "fc"]
    if isinstance(module, _PooledFeaturesNet):
        names = [f"features.{i}" for i, m in enumerate(module.features)
                 if isinstance(m, (nn.MaxPool2d, nn.Identity))]
        names += [f"classifier.{i}" for i, m in enumerate(module.classifier)
                  if isinstance(m, nn.Linear)]
        return names
    return [name for name, _ in module.named_children()]

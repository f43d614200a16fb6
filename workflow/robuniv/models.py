"""Model zoo: every architecture of the study, by name, with `features` and `head`.

Each model is a :class:`Classifier` that takes images in [0, 1], normalises them inside
(``clamp(x, 0, 1)`` then ``(x - mean) / std``, exactly as the robustness library's
``InputNormalize``, so attack gradients match), and wraps a torchvision-compatible network
in ``.net``: at ``width=1`` and ``variant="imagenet"`` its state dict has the same keys and
shapes as torchvision's model of the same name, so Salman et al.'s checkpoints load strictly.

``features(x)`` is the input of the final linear classifier (post-ReLU, globally pooled for
ResNet/ResNeXt/DenseNet, post-ReLU fc7 for VGG); ``head(features)`` is that classifier.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

VARIANTS = ("imagenet", "cifar")


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


# Blocks with torchvision's attribute names (its state dicts load), written here so that importing
# the zoo does not import torchvision (1.6 s per workflow job).
def _conv3x3(cin, cout, stride=1, groups=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)


def _conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
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
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = _conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv3x3(width, width, stride, groups)  # stride on the 3x3 (torchvision's v1.5)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# ---------------------------------------------------------------- ResNet / ResNeXt
class ResNet(nn.Module):
    """torchvision's ResNet with a width multiplier and a CIFAR stem.

    Attribute names follow torchvision (conv1, bn1, layer1..4, fc) so state dicts match it.
    """

    def __init__(self, block, layers: Sequence[int], num_classes: int, *, width: float = 1.0,
                 groups: int = 1, width_per_group: int = 64, variant: str = "imagenet"):
        super().__init__()
        self.groups = groups
        planes = [_scaled(c, width) for c in (64, 128, 256, 512)]
        # At tiny widths a bottleneck would round to zero channels: keep at least one per group.
        self.base_width = max(_scaled(width_per_group, width), math.ceil(64 / planes[0]))
        self.inplanes = planes[0]
        if variant == "imagenet":
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:  # CIFAR: 3x3 stem at full resolution, as in the robustness library's CIFAR models
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width))
        return nn.Sequential(*layers)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)  # layer4 ends in a ReLU: post-ReLU pooled

    def head(self, feats):
        return self.fc(feats)

    def forward(self, x):
        return self.head(self.features(x))


# ---------------------------------------------------------------- DenseNet
class _DenseLayer(nn.Module):
    def __init__(self, num_input_features, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, kernel_size=1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, features):
        out = self.conv1(self.relu1(self.norm1(torch.cat(features, 1))))
        return self.conv2(self.relu2(self.norm2(out)))


class _DenseBlock(nn.ModuleDict):
    def __init__(self, num_layers, num_input_features, bn_size, growth_rate):
        super().__init__()
        for i in range(num_layers):
            self.add_module(f"denselayer{i + 1}",
                            _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size))

    def forward(self, init_features):
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class _Transition(nn.Sequential):
    def __init__(self, num_input_features, num_output_features):
        super().__init__()
        self.norm = nn.BatchNorm2d(num_input_features)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(num_input_features, num_output_features, kernel_size=1, bias=False)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)


class DenseNet(nn.Module):
    """torchvision's DenseNet-BC (attribute names features/classifier) with width and CIFAR stem."""

    def __init__(self, growth_rate: int, block_config, num_init_features: int, num_classes: int, *,
                 width: float = 1.0, variant: str = "imagenet", bn_size: int = 4):
        super().__init__()
        growth_rate, num_features = _scaled(growth_rate, width), _scaled(num_init_features, width)
        if variant == "imagenet":
            stem = [("conv0", nn.Conv2d(3, num_features, kernel_size=7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_features)), ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]
        else:  # CIFAR: 3x3 stem at full resolution
            stem = [("conv0", nn.Conv2d(3, num_features, kernel_size=3, stride=1, padding=1, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_features)), ("relu0", nn.ReLU(inplace=True)),
                    ("pool0", nn.Identity())]
        self.features = nn.Sequential(OrderedDict(stem))
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     _DenseBlock(num_layers, num_features, bn_size, growth_rate))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.classifier = nn.Linear(num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.bias, 0)

    def features_of(self, x):  # `features` is the conv trunk, as in torchvision
        out = F.relu(self.features(x), inplace=True)
        return torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)

    def head(self, feats):
        return self.classifier(feats)

    def forward(self, x):
        return self.head(self.features_of(x))


# ---------------------------------------------------------------- VGG
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


class VGG(nn.Module):
    """torchvision's VGG16 (attribute names features/avgpool/classifier) with width and CIFAR variant.

    The CIFAR variant pools globally to 1x1, has a hidden width of 512 (x width) instead of
    4096 and no dropout; on inputs smaller than 32 px it keeps only the max-pools that fit (log2 of the size).
    """

    def __init__(self, num_classes: int, *, batch_norm: bool, width: float = 1.0,
                 variant: str = "imagenet", image_size: int = 224, dropout: float | None = None):
        super().__init__()
        if dropout is None:  # torchvision's 0.5; none in the small variant (as the robustness CIFAR VGG)
            dropout = 0.5 if variant == "imagenet" else 0.0
        max_pools = int(math.floor(math.log2(image_size))) if variant == "cifar" else 5
        layers: list[nn.Module] = []
        in_ch, pools = 3, 0
        for v in _VGG16_CFG:
            if v == "M":
                if pools < max_pools:
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                    pools += 1
                continue
            out = _scaled(v, width)
            layers.append(nn.Conv2d(in_ch, out, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            in_ch = out
        self.features = nn.Sequential(*layers)
        if variant == "imagenet":
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            flat, hidden = in_ch * 49, _scaled(4096, width)
        else:
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            flat, hidden = in_ch, _scaled(512, width)
        self.classifier = nn.Sequential(
            nn.Linear(flat, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear) and variant == "imagenet":
                # torchvision's init; at small widths it starves the signal, so the CIFAR
                # variant keeps PyTorch's default (Kaiming-uniform) Linear init.
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def features_of(self, x):
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier[:6](x)  # fc7 after its ReLU (dropout is identity in eval mode)

    def head(self, feats):
        return self.classifier[6](feats)

    def forward(self, x):
        return self.head(self.features_of(x))


# ---------------------------------------------------------------- registry
def _resnet(block, layers, **extra) -> Callable[..., nn.Module]:
    return lambda num_classes, width, variant, image_size: ResNet(
        block, layers, num_classes, width=width, variant=variant, **extra)


ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "resnet18": _resnet(BasicBlock, [2, 2, 2, 2]),
    "resnet50": _resnet(Bottleneck, [3, 4, 6, 3]),
    "wide_resnet50_2": _resnet(Bottleneck, [3, 4, 6, 3], width_per_group=128),
    "wide_resnet50_4": _resnet(Bottleneck, [3, 4, 6, 3], width_per_group=256),
    "resnext50_32x4d": _resnet(Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4),
    "densenet121": lambda num_classes, width, variant, image_size: DenseNet(
        32, (6, 12, 24, 16), 64, num_classes, width=width, variant=variant),
    "densenet161": lambda num_classes, width, variant, image_size: DenseNet(
        48, (6, 12, 36, 24), 96, num_classes, width=width, variant=variant),
    "vgg16": lambda num_classes, width, variant, image_size: VGG(
        num_classes, batch_norm=False, width=width, variant=variant, image_size=image_size),
    "vgg16_bn": lambda num_classes, width, variant, image_size: VGG(
        num_classes, batch_norm=True, width=width, variant=variant, image_size=image_size),
}

# Name of the network's representation layer, recorded in activation files.
REPRESENTATION_LAYER = {
    "resnet18": "avgpool (post-ReLU layer4, pooled)",
    "resnet50": "avgpool (post-ReLU layer4, pooled)",
    "wide_resnet50_2": "avgpool (post-ReLU layer4, pooled)",
    "wide_resnet50_4": "avgpool (post-ReLU layer4, pooled)",
    "resnext50_32x4d": "avgpool (post-ReLU layer4, pooled)",
    "densenet121": "relu(features) pooled",
    "densenet161": "relu(features) pooled",
    "vgg16": "classifier.4 (post-ReLU fc7)",
    "vgg16_bn": "classifier.4 (post-ReLU fc7)",
}


class Classifier(nn.Module):
    """Normalisation + network. Inputs in [0, 1]; ``head(features(x)) == forward(x)``."""

    def __init__(self, net: nn.Module, arch: str, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.net = net
        self.arch = arch
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def normalize(self, x):
        # The clamp is the robustness library's: it zeroes gradients of pixels at exactly 0 or 1.
        return (torch.clamp(x, 0, 1) - self.mean) / self.std

    def features(self, x):
        net = self.net
        z = self.normalize(x)
        return net.features_of(z) if hasattr(net, "features_of") else net.features(z)

    def head(self, feats):
        return self.net.head(feats)

    def forward(self, x):
        return self.head(self.features(x))


def create_model(arch: str, num_classes: int, *, variant: str = "imagenet", width: float = 1.0,
                 image_size: int | None = None, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD) -> Classifier:
    """Build architecture ``arch`` (see :data:`ARCHITECTURES`) for ``num_classes`` classes.

    ``variant`` is ``"imagenet"`` (224 px, torchvision state dict) or ``"cifar"`` (small images).
    ``width`` scales every channel count (1 = the published model).
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(sorted(ARCHITECTURES))}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; known: {', '.join(VARIANTS)}")
    if not (isinstance(num_classes, int) and num_classes >= 2):
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width!r}")
    if image_size is None:
        image_size = 224 if variant == "imagenet" else 32
    net = ARCHITECTURES[arch](num_classes, width, variant, image_size)
    return Classifier(net, arch, mean, std)


def representation_layer(arch: str) -> str:
    return REPRESENTATION_LAYER[arch]

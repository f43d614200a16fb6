"""The networks of the study's architectures, each with ``forward_features`` and ``forward_head``.

The architectures and their variants are named in the torch-free catalogue :mod:`robuniv.architectures`;
this module holds the networks and the builder functions the catalogue's entries name:

* ``"imagenet"``: torchvision's network (224 px); at ``width=1`` its state dict has torchvision's keys and
  shapes, so Salman et al.'s checkpoints load strictly.
* ``"cifar"``: the network the paper's released code trained on CIFAR-10 (32 px). resnet18/50,
  densenet121/161 and vgg16 are the robustness library's ``cifar_models`` (same keys, so its checkpoints
  load; vgg16 has BatchNorm and one Linear, so ``vgg16`` and ``vgg16_bn`` are the same network there);
  wide_resnet50_2/4 and resnext50_32x4d are the ImageNet networks (7x7 stride-2 stem, max-pool) with a
  ``num_classes``-way fc, as in the released code. Smaller inputs (the 8 px digits demo) work too.

``width`` scales every channel count (1 = the published network). Each network's ``forward_features(x)``
is the input of its final linear classifier (the representation the study compares and inverts) and
``forward_head(features)`` is that classifier; ``forward(x) == forward_head(forward_features(x))``.
:class:`Classifier` adds the robustness library's input normalisation in front.

This module does not import torchvision (1.6 s per workflow job): the blocks are written here with
torchvision's (or the robustness library's) attribute names.
"""
from __future__ import annotations

import math
import numbers
from collections import OrderedDict
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .architectures import ARCHITECTURES, VARIANTS, get_architecture, representation_layer  # noqa: F401
from .catalog import resolve

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _init_conv_bn(module: nn.Module, conv_mode: str = "fan_out", conv_bias: bool = False) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if conv_mode == "fan_out":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.kaiming_normal_(m.weight)
            if conv_bias and m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def _conv3x3(cin, cout, stride=1, groups=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, groups=groups, bias=False)


def _conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


# ================================================================ ResNet / ResNeXt / WRN (torchvision)
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
        # torchvision's inner width; at tiny widths at least one channel per group.
        width = max(1, int(planes * (base_width / 64.0))) * groups
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


class ResNet(nn.Module):
    """torchvision's ResNet (7x7 stride-2 stem, max-pool; keys conv1, bn1, layer1..4, fc) with a width factor.

    ``width`` scales the stage widths; ``width_per_group`` (64 ResNet, 128/256 WRN, 4 ResNeXt) is torchvision's.
    """

    def __init__(self, block, layers: Sequence[int], num_classes: int, *, width: float = 1.0,
                 groups: int = 1, width_per_group: int = 64):
        super().__init__()
        self.groups = groups
        self.base_width = width_per_group
        planes = [_scaled(c, width) for c in (64, 128, 256, 512)]
        self.inplanes = planes[0]
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.num_features = planes[3] * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        _init_conv_bn(self)

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

    def forward_features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)  # layer4 ends in a ReLU: post-ReLU pooled

    def forward_head(self, features):
        return self.fc(features)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ================================================================ ResNet (robustness.cifar_models)
class CifarBasicBlock(nn.Module):
    """``robustness.cifar_models.resnet.BasicBlock`` (projection shortcut named ``shortcut``)."""

    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(_conv1x1(in_planes, self.expansion * planes, stride),
                                          nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarBottleneck(nn.Module):
    """``robustness.cifar_models.resnet.Bottleneck``."""

    expansion = 4

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = _conv1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, self.expansion * planes)
        self.bn3 = nn.BatchNorm2d(self.expansion * planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(_conv1x1(in_planes, self.expansion * planes, stride),
                                          nn.BatchNorm2d(self.expansion * planes))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """``robustness.cifar_models.ResNet``: 3x3 stem at full resolution, no max-pool; keys conv1, bn1,
    layer1..4 (``shortcut``), linear. The library pools with ``avg_pool2d(·, 4)``, global at 32 px; here the
    pool is always global, so smaller inputs work."""

    def __init__(self, block, num_blocks: Sequence[int], num_classes: int, *, width: float = 1.0):
        super().__init__()
        widths = [_scaled(c, width) for c in (64, 128, 256, 512)]
        self.in_planes = widths[0]
        self.conv1 = nn.Conv2d(3, self.in_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.in_planes)
        self.layer1 = self._make_layer(block, widths[0], num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, widths[1], num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], num_blocks[3], stride=2)
        self.num_features = widths[3] * block.expansion
        self.linear = nn.Linear(self.num_features, num_classes)
        _init_conv_bn(self)

    def _make_layer(self, block, planes, num_blocks, stride):
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward_features(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)  # post-ReLU, pooled

    def forward_head(self, features):
        return self.linear(features)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ================================================================ DenseNet-BC (torchvision)
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
    """torchvision's DenseNet-BC (keys ``features.*``, ``classifier``) with a width factor."""

    def __init__(self, growth_rate: int, block_config, num_init_features: int, num_classes: int, *,
                 width: float = 1.0, bn_size: int = 4):
        super().__init__()
        growth_rate, num_features = _scaled(growth_rate, width), _scaled(num_init_features, width)
        self.features = nn.Sequential(OrderedDict([
            ("conv0", nn.Conv2d(3, num_features, kernel_size=7, stride=2, padding=3, bias=False)),
            ("norm0", nn.BatchNorm2d(num_features)), ("relu0", nn.ReLU(inplace=True)),
            ("pool0", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))]))
        for i, num_layers in enumerate(block_config):
            self.features.add_module(f"denseblock{i + 1}",
                                     _DenseBlock(num_layers, num_features, bn_size, growth_rate))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", _Transition(num_features, num_features // 2))
                num_features //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(num_features))
        self.num_features = num_features
        self.classifier = nn.Linear(num_features, num_classes)
        _init_conv_bn(self, conv_mode="fan_in")
        nn.init.constant_(self.classifier.bias, 0)

    def forward_features(self, x):
        out = F.relu(self.features(x), inplace=True)
        return torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)

    def forward_head(self, features):
        return self.classifier(features)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ================================================================ DenseNet (robustness.cifar_models)
class _CifarDenseBottleneck(nn.Module):
    """``robustness.cifar_models.densenet.Bottleneck``: new features first, then the input."""

    def __init__(self, in_planes, growth_rate):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, 4 * growth_rate, kernel_size=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4 * growth_rate)
        self.conv2 = nn.Conv2d(4 * growth_rate, growth_rate, kernel_size=3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.bn1(x)))
        out = self.conv2(F.relu(self.bn2(out)))
        return torch.cat([out, x], 1)


class _CifarTransition(nn.Module):
    def __init__(self, in_planes, out_planes):
        super().__init__()
        self.bn = nn.BatchNorm2d(in_planes)
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size=1, bias=False)

    def forward(self, x):
        out = self.conv(F.relu(self.bn(x)))
        # The library always pools by 2; a 1x1 map (inputs under 8 px) stays as it is.
        return F.avg_pool2d(out, 2) if min(out.shape[-2:]) >= 2 else out


class CifarDenseNet(nn.Module):
    """``robustness.cifar_models.DenseNet``: 3x3 stem conv (2 x growth channels, no norm), dense1..4,
    trans1..3, bn, linear; pooled globally (the library's ``avg_pool2d(·, 4)`` at 32 px)."""

    def __init__(self, nblocks: Sequence[int], growth_rate: int, num_classes: int, *, width: float = 1.0,
                 reduction: float = 0.5):
        super().__init__()
        self.growth_rate = growth_rate = _scaled(growth_rate, width)
        num_planes = 2 * growth_rate
        self.conv1 = nn.Conv2d(3, num_planes, kernel_size=3, padding=1, bias=False)
        for i, n in enumerate(nblocks):
            self.add_module(f"dense{i + 1}", self._make_dense_layers(num_planes, n))
            num_planes += n * growth_rate
            if i != len(nblocks) - 1:
                out_planes = int(math.floor(num_planes * reduction))
                self.add_module(f"trans{i + 1}", _CifarTransition(num_planes, out_planes))
                num_planes = out_planes
        self.bn = nn.BatchNorm2d(num_planes)
        self.num_features = num_planes
        self.linear = nn.Linear(num_planes, num_classes)
        _init_conv_bn(self, conv_mode="fan_in")
        nn.init.constant_(self.linear.bias, 0)

    def _make_dense_layers(self, in_planes, nblock):
        layers = []
        for _ in range(nblock):
            layers.append(_CifarDenseBottleneck(in_planes, self.growth_rate))
            in_planes += self.growth_rate
        return nn.Sequential(*layers)

    def forward_features(self, x):
        out = self.conv1(x)
        out = self.trans1(self.dense1(out))
        out = self.trans2(self.dense2(out))
        out = self.trans3(self.dense3(out))
        out = F.relu(self.bn(self.dense4(out)))
        return torch.flatten(F.adaptive_avg_pool2d(out, 1), 1)  # post-ReLU, pooled

    def forward_head(self, features):
        return self.linear(features)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ================================================================ VGG
_VGG16_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _vgg_layers(width: float, batch_norm: bool, max_pools: int = 5) -> tuple[list[nn.Module], int]:
    layers: list[nn.Module] = []
    in_ch, pools = 3, 0
    for v in _VGG16_CFG:
        if v == "M":
            # Past ``max_pools`` the pool is an Identity: the module indices (state-dict keys) stay put.
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2) if pools < max_pools else nn.Identity())
            pools += 1
            continue
        out = _scaled(v, width)
        layers.append(nn.Conv2d(in_ch, out, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out))
        layers.append(nn.ReLU(inplace=True))
        in_ch = out
    return layers, in_ch


class VGG(nn.Module):
    """torchvision's VGG16 / VGG16-BN (keys ``features.*``, ``classifier.0/3/6``) with a width factor."""

    def __init__(self, num_classes: int, *, batch_norm: bool, width: float = 1.0, dropout: float = 0.5):
        super().__init__()
        layers, in_ch = _vgg_layers(width, batch_norm)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        hidden = self.num_features = _scaled(4096, width)
        self.classifier = nn.Sequential(
            nn.Linear(in_ch * 49, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        _init_conv_bn(self, conv_bias=True)
        for m in self.classifier:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward_features(self, x):
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier[:6](x)  # fc7 after its ReLU (dropout is identity in eval mode)

    def forward_head(self, features):
        return self.classifier[6](features)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


class CifarVGG(nn.Module):
    """``robustness.cifar_models.VGG('VGG16')``: conv-BN-ReLU stages with five max-pools, then one
    ``classifier`` Linear(512, num_classes). Keys ``features.<i>.*`` and ``classifier.*`` as the library's.

    On inputs under 32 px only the max-pools that fit are kept (log2 of the size; the others are
    Identity), and the library's final ``AvgPool2d(1)`` is a global average pool, a no-op at 32 px.
    """

    def __init__(self, num_classes: int, *, width: float = 1.0, image_size: int = 32):
        super().__init__()
        max_pools = int(math.floor(math.log2(max(1, image_size))))
        layers, in_ch = _vgg_layers(width, batch_norm=True, max_pools=max_pools)
        layers.append(nn.AdaptiveAvgPool2d((1, 1)))
        self.features = nn.Sequential(*layers)
        self.num_features = in_ch
        self.classifier = nn.Linear(in_ch, num_classes)
        _init_conv_bn(self, conv_bias=True)

    def forward_features(self, x):
        return torch.flatten(self.features(x), 1)  # post-ReLU conv5_3, max-pooled to 1x1

    def forward_head(self, features):
        return self.classifier(features)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


# ================================================================ builders (named by robuniv.architectures)
_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}
_CIFAR_BLOCKS = {"basic": CifarBasicBlock, "bottleneck": CifarBottleneck}


def resnet(num_classes: int, width: float, image_size: int, *, block: str, layers, groups: int = 1,
           width_per_group: int = 64) -> nn.Module:
    return ResNet(_BLOCKS[block], layers, num_classes, width=width, groups=groups, width_per_group=width_per_group)


def cifar_resnet(num_classes: int, width: float, image_size: int, *, block: str, layers) -> nn.Module:
    return CifarResNet(_CIFAR_BLOCKS[block], layers, num_classes, width=width)


def densenet(num_classes: int, width: float, image_size: int, *, growth_rate: int, block_config,
             num_init_features: int) -> nn.Module:
    return DenseNet(growth_rate, block_config, num_init_features, num_classes, width=width)


def cifar_densenet(num_classes: int, width: float, image_size: int, *, growth_rate: int, block_config) -> nn.Module:
    return CifarDenseNet(block_config, growth_rate, num_classes, width=width)


def vgg(num_classes: int, width: float, image_size: int, *, batch_norm: bool) -> nn.Module:
    return VGG(num_classes, batch_norm=batch_norm, width=width)


def cifar_vgg(num_classes: int, width: float, image_size: int) -> nn.Module:
    return CifarVGG(num_classes, width=width, image_size=image_size)


def build_network(arch: str, variant: str, num_classes: int, width: float, image_size: int) -> nn.Module:
    """The bare network of a catalogue entry's variant."""
    entry = get_architecture(arch).variant(variant)
    return resolve(entry.builder)(num_classes, width, image_size, **entry.options)


# ================================================================ the model the workflow uses
class Classifier(nn.Module):
    """Normalisation + network; inputs in [0, 1].

    ``forward_features(x)`` normalises (``clamp(x, 0, 1)`` then ``(x - mean) / std``, exactly the robustness
    library's ``InputNormalize``, so attack gradients match) and returns the network's representation;
    ``forward_head(features)`` is the final linear classifier; ``forward(x)`` is the two in turn.
    """

    def __init__(self, net: nn.Module, arch: str, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.net = net
        self.arch = arch
        self.num_features = net.num_features
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def normalize(self, x):
        # The clamp is the robustness library's: it zeroes gradients of pixels at exactly 0 or 1.
        return (torch.clamp(x, 0, 1) - self.mean) / self.std

    def forward_features(self, x):
        return self.net.forward_features(self.normalize(x))

    def forward_head(self, features):
        return self.net.forward_head(features)

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_stats(name: str, values, positive: bool) -> tuple[float, ...]:
    try:
        stats = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a sequence of 3 numbers, got {values!r}") from None
    if len(stats) != 3:
        raise ValueError(f"{name} must have 3 values (one per RGB channel), got {len(stats)}: {values!r}")
    if not all(math.isfinite(v) for v in stats):
        raise ValueError(f"{name} must be finite, got {values!r}")
    if positive and not all(v > 0 for v in stats):
        raise ValueError(f"{name} must be positive (it divides the input), got {values!r}")
    return stats


class ProviderClassifier(Classifier):
    """A timm or torchvision model (:mod:`robuniv.providers`) with its own preprocessing as part of the model:
    the library's resize and centre crop, then the clamp and the library's mean/std, all differentiable."""

    def __init__(self, net: nn.Module, arch: str, preprocessing):
        super().__init__(net, arch, preprocessing.mean, preprocessing.std)
        self.preprocessing = preprocessing

    def normalize(self, x):
        from .providers import resize_and_crop

        return super().normalize(resize_and_crop(x, self.preprocessing))


def create_model(arch: str, num_classes: int, *, variant: str = "imagenet", width: float = 1.0,
                 image_size: int | None = None, mean: Sequence[float] = IMAGENET_MEAN,
                 std: Sequence[float] = IMAGENET_STD, input_size: int | None = None) -> Classifier:
    """Build architecture ``arch`` (a name in :data:`robuniv.architectures.ARCHITECTURES`) for ``num_classes``.

    ``variant`` is ``"imagenet"`` (224 px, torchvision's network) or ``"cifar"`` (32 px and smaller, the
    network the released code trained on CIFAR-10). ``width`` scales every channel count (1 = published).
    ``image_size`` (default 224 / 32) only shapes the cifar VGG (how many max-pools fit).
    A provider-qualified ``arch`` (``timm:<name>``, ``torchvision:<builder>``) is built by its library at
    ``input_size`` (default: the library's) with the library's preprocessing; ``variant``, ``width``,
    ``image_size``, ``mean`` and ``std`` do not apply to it.
    """
    from . import providers

    if providers.split(arch) is not None:
        if not _is_int(num_classes) or num_classes < 1:
            raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
        net, preprocessing = providers.build(arch, int(num_classes), input_size)
        return ProviderClassifier(net, arch, preprocessing)
    get_architecture(arch)  # unknown names raise, listing the known
    if variant not in VARIANTS:
        raise ValueError(f"unknown model variant {variant!r}; known: {', '.join(VARIANTS)}")
    if not _is_int(num_classes) or num_classes < 1:
        raise ValueError(f"num_classes must be an integer >= 1, got {num_classes!r}")
    if isinstance(width, bool) or not isinstance(width, numbers.Real) or not math.isfinite(width) or width <= 0:
        raise ValueError(f"width must be a finite number > 0, got {width!r}")
    if image_size is None:
        image_size = 224 if variant == "imagenet" else 32
    if not _is_int(image_size) or image_size < 1:
        raise ValueError(f"image_size must be an integer >= 1, got {image_size!r}")
    mean = _check_stats("mean", mean, positive=False)
    std = _check_stats("std", std, positive=True)
    return Classifier(build_network(arch, variant, int(num_classes), float(width), int(image_size)), arch, mean, std)

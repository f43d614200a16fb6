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
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import densenet as tv_densenet
from torchvision.models import resnet as tv_resnet

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

VARIANTS = ("imagenet", "cifar")


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


# ---------------------------------------------------------------- ResNet / ResNeXt
class ResNet(nn.Module):
    """torchvision's ResNet with a width multiplier and a CIFAR stem.

    Attribute names follow torchvision (conv1, bn1, layer1..4, fc) so state dicts match it.
    """

    def __init__(self, block, layers: Sequence[int], num_classes: int, *, width: float = 1.0,
                 groups: int = 1, width_per_group: int = 64, variant: str = "imagenet"):
        super().__init__()
        self.groups = groups
        # BasicBlock insists on base_width 64; it does not use it, so only Bottlenecks are scaled.
        self.base_width = _scaled(width_per_group, width) if block is tv_resnet.Bottleneck else 64
        self.dilation = 1
        self._norm_layer = nn.BatchNorm2d
        planes = [_scaled(c, width) for c in (64, 128, 256, 512)]
        self.inplanes = planes[0]
        if variant == "imagenet":
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:  # CIFAR: 3x3 stem at full resolution, as in the robustness library's CIFAR models
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        make = tv_resnet.ResNet._make_layer
        self.layer1 = make(self, block, planes[0], layers[0])
        self.layer2 = make(self, block, planes[1], layers[1], stride=2)
        self.layer3 = make(self, block, planes[2], layers[2], stride=2)
        self.layer4 = make(self, block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def features(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)  # layer4 ends in a ReLU: post-ReLU pooled

    def head(self, feats):
        return self.fc(feats)

    def forward(self, x):
        return self.head(self.features(x))


# ---------------------------------------------------------------- DenseNet
class DenseNet(tv_densenet.DenseNet):
    """torchvision's DenseNet with a width multiplier and a CIFAR stem."""

    def __init__(self, growth_rate: int, block_config, num_init_features: int, num_classes: int, *,
                 width: float = 1.0, variant: str = "imagenet"):
        super().__init__(growth_rate=_scaled(growth_rate, width), block_config=block_config,
                         num_init_features=_scaled(num_init_features, width), num_classes=num_classes)
        if variant == "cifar":
            n0 = self.features.conv0.out_channels
            self.features.conv0 = nn.Conv2d(3, n0, kernel_size=3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(self.features.conv0.weight)
            self.features.pool0 = nn.Identity()

    def features_of(self, x):  # `features` is torchvision's conv trunk attribute
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

    The CIFAR variant pools globally to 1x1 and has a hidden width of 512 (x width) instead of
    4096; on inputs smaller than 32 px it keeps only the max-pools that fit (log2 of the size).
    """

    def __init__(self, num_classes: int, *, batch_norm: bool, width: float = 1.0,
                 variant: str = "imagenet", image_size: int = 224, dropout: float = 0.5):
        super().__init__()
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
    "resnet18": _resnet(tv_resnet.BasicBlock, [2, 2, 2, 2]),
    "resnet50": _resnet(tv_resnet.Bottleneck, [3, 4, 6, 3]),
    "wide_resnet50_2": _resnet(tv_resnet.Bottleneck, [3, 4, 6, 3], width_per_group=128),
    "wide_resnet50_4": _resnet(tv_resnet.Bottleneck, [3, 4, 6, 3], width_per_group=256),
    "resnext50_32x4d": _resnet(tv_resnet.Bottleneck, [3, 4, 6, 3], groups=32, width_per_group=4),
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

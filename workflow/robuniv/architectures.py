"""The architectures, by name, with everything that belongs to each (torch-free, timm-style catalogue).

One :class:`Architecture` per value of a model's ``arch`` key, with one :class:`Variant` per model variant:

* ``"imagenet"``: torchvision's network (224 px); at ``width=1`` its state dict has torchvision's keys, so
  Salman et al.'s checkpoints load strictly;
* ``"cifar"``: the network the paper's released code trained on CIFAR-10 (32 px): the robustness library's
  ``cifar_models`` for resnet18/50, densenet121/161 and vgg16 (with BatchNorm; ``vgg16_bn`` is the same
  network there), the ImageNet networks with a ``num_classes``-way fc for wide_resnet50_2/4 and resnext50_32x4d.

A variant names its builder as ``"module:function"`` with the builder's options (imported only when a model
is built: the schema's ``arch`` enum, the config checks and the benchmark read this without torch), the
layer its representation is taken from (the input of the final linear classifier) and where its design
comes from. ``relative_cost`` is the forward-backward cost relative to ResNet-50 at 224 px (GFLOPs), which
the benchmark's cost table uses.

Adding an architecture of an existing family is one entry here (plus its test); a new family is an entry
plus its builder in :mod:`robuniv.models`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

from .catalog import Registry

__all__ = ["Variant", "Architecture", "ARCHITECTURES", "VARIANTS", "register_architecture", "get_architecture",
           "representation_layer"]

VARIANTS = ("imagenet", "cifar")


@dataclass(frozen=True)
class Variant:
    builder: str  # "module:function", called as builder(num_classes, width, image_size, **options)
    representation: str  # which tensor the representation is
    design: str  # where the design comes from
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


@dataclass(frozen=True)
class Architecture:
    name: str
    imagenet: Variant
    cifar: Variant
    relative_cost: float = 1.0

    def variant(self, name: str) -> Variant:
        if name not in VARIANTS:
            raise ValueError(f"unknown model variant {name!r}; known: {', '.join(VARIANTS)}")
        return getattr(self, name)


ARCHITECTURES: Registry = Registry("architecture", sort_known=True)
register_architecture = ARCHITECTURES.register  # add an architecture (each name once)
get_architecture = ARCHITECTURES.lookup  # the entry of a name; ValueError listing the known names otherwise


def representation_layer(arch: str, variant: Optional[str] = None) -> str:
    """Which tensor ``arch``'s representation is; without ``variant`` and where the variants differ, both
    are named (``"imagenet: ...; cifar: ..."``)."""
    from . import providers

    provider = providers.split(arch)
    if provider is not None:
        return f"{arch}: " + providers.LAYER.format(head="its classifier", provider=provider[0])
    entry = get_architecture(arch)
    if variant is not None:
        return entry.variant(variant).representation
    layers = {v: entry.variant(v).representation for v in VARIANTS}
    if len(set(layers.values())) == 1:
        return layers[VARIANTS[0]]
    return "; ".join(f"{v}: {layers[v]}" for v in VARIANTS)


_M = "robuniv.models:"
_TV = "torchvision.models."
_RESNET_LAYER = "avgpool (post-ReLU layer4, pooled)"
_IMAGENET_STEM = " (ImageNet architecture, as the released code)"


def _resnet(name: str, block: str, layers: tuple, cost: float) -> Architecture:
    options = dict(block=block, layers=layers)
    return Architecture(
        name,
        imagenet=Variant(_M + "resnet", _RESNET_LAYER, _TV + name, options),
        cifar=Variant(_M + "cifar_resnet", _RESNET_LAYER, "robustness.cifar_models." + name, options),
        relative_cost=cost)


def _wide_resnet(name: str, design: str, cost: float, **extra) -> Architecture:
    # the ImageNet network on both variants, as the released code ran them on CIFAR-10
    options = dict(block="bottleneck", layers=(3, 4, 6, 3), **extra)
    return Architecture(
        name,
        imagenet=Variant(_M + "resnet", _RESNET_LAYER, _TV + design, options),
        cifar=Variant(_M + "resnet", _RESNET_LAYER, _TV + design + _IMAGENET_STEM, options),
        relative_cost=cost)


def _densenet(name: str, growth_rate: int, block_config: tuple, num_init_features: int, cost: float):
    return Architecture(
        name,
        imagenet=Variant(_M + "densenet", "relu(features) pooled (post-ReLU norm5)", _TV + name,
                         dict(growth_rate=growth_rate, block_config=block_config,
                              num_init_features=num_init_features)),
        cifar=Variant(_M + "cifar_densenet", "relu(bn) pooled (post-ReLU final norm)",
                      "robustness.cifar_models." + name, dict(growth_rate=growth_rate, block_config=block_config)),
        relative_cost=cost)


def _vgg(name: str, batch_norm: bool, cost: float) -> Architecture:
    return Architecture(
        name,
        imagenet=Variant(_M + "vgg", "classifier.4 (post-ReLU fc7)", _TV + name, dict(batch_norm=batch_norm)),
        cifar=Variant(_M + "cifar_vgg", "features (post-ReLU conv5_3, max-pooled to 1x1)",
                      "robustness.cifar_models.vgg16 (with BatchNorm)"),
        relative_cost=cost)


# relative_cost: GFLOPs at 224 px relative to ResNet-50's 4.1 (1.8, 4.1, 11.4, ~35, 4.3, 2.9, 7.8, 15.5, 15.5)
for _entry in (
    _resnet("resnet18", "basic", (2, 2, 2, 2), 0.44),
    _resnet("resnet50", "bottleneck", (3, 4, 6, 3), 1.0),
    _wide_resnet("wide_resnet50_2", "wide_resnet50_2", 2.8, width_per_group=128),
    _wide_resnet("wide_resnet50_4", "resnet50(width_per_group=256)", 8.5, width_per_group=256),
    _wide_resnet("resnext50_32x4d", "resnext50_32x4d", 1.05, groups=32, width_per_group=4),
    _densenet("densenet121", 32, (6, 12, 24, 16), 64, 0.7),
    _densenet("densenet161", 48, (6, 12, 36, 24), 96, 1.9),
    _vgg("vgg16", False, 3.8),
    _vgg("vgg16_bn", True, 3.8),
):
    register_architecture(_entry)

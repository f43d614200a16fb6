"""Models by provider-qualified name: ``timm:<name>`` (any name ``timm.list_models()`` knows) and
``torchvision:<builder>`` (any classification builder of ``torchvision.models``), beside the built-in
architectures of :mod:`robuniv.architectures`.

Each is wrapped so that it looks like a built-in network to the workflow:

* **representation** = the input of the model's final linear classifier (timm: the module
  ``get_classifier()`` returns, i.e. timm's ``pre_logits``; torchvision: its last ``nn.Linear``), taken by a
  forward pre-hook on that module, so it is the tensor the logits are computed from, for inversion and
  comparison alike (:data:`LAYER` names it in the HDF5 ``layer`` attribute);
* **preprocessing** is part of the model and differentiable: images in [0, 1] at the data set's resolution are
  resized (the library's interpolation, PIL-matching antialiased kernels) so that the shorter side is
  ``input_size / crop_pct``, centre-cropped to ``input_size``, clamped to [0, 1] and normalised with the
  library's mean and std (timm's pretrained config; torchvision's weights' transforms: 232/256 → 224 px).
  Every model of a data set sees the same images; inversion optimises the shared image.

Name parsing and checks are torch-free; the libraries are imported when a model is built or a name checked.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Optional, Sequence

PROVIDERS = ("timm", "torchvision")
LAYER = "input of the final linear classifier ({head}; {provider}'s pre-logits)"


class ProviderError(ValueError):
    """A provider-qualified name that its library does not know, or a model it cannot wrap."""


def split(arch: str) -> Optional[tuple[str, str]]:
    """(provider, name) of a provider-qualified ``arch``; None for a built-in name."""
    provider, sep, name = str(arch).partition(":")
    if not sep:
        return None
    if provider not in PROVIDERS:
        raise ProviderError(f"unknown model provider {provider!r} in {arch!r}; known: {', '.join(PROVIDERS)} "
                            "(or a built-in architecture name without a provider)")
    if not name:
        raise ProviderError(f"{arch!r} names no model after '{provider}:'")
    return provider, name


def known_names(provider: str) -> list[str]:
    if provider == "timm":
        import timm

        return list(timm.list_models())
    from torchvision.models import list_models
    import torchvision.models

    return list(list_models(module=torchvision.models))  # the classification builders only


def check(arch: str) -> None:
    """ProviderError unless the library knows ``arch``'s name, with the closest known names."""
    provider, name = split(arch)
    names = known_names(provider)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(f'{provider}:{c}' for c in close)}" if close else ""
        raise ProviderError(f"{provider} has no model {name!r}{hint}")


@dataclass(frozen=True)
class Preprocessing:
    """What the library feeds the model: resize the shorter side to ``resize_size``, centre-crop
    ``input_size``, normalise with ``mean``/``std``."""

    input_size: int
    resize_size: int
    interpolation: str
    mean: tuple
    std: tuple


def _timm_model(name: str, num_classes: int, input_size: Optional[int]):
    import timm

    kwargs = {"pretrained": False, "num_classes": num_classes}
    if input_size is not None:
        try:  # models with a fixed input grid (ViT, Swin) must be built for it
            return timm.create_model(name, img_size=input_size, **kwargs)
        except TypeError:
            pass
    return timm.create_model(name, **kwargs)


def _timm_preprocessing(model, input_size: Optional[int]) -> Preprocessing:
    cfg = model.pretrained_cfg
    size = int(input_size or cfg.get("input_size", (3, 224, 224))[-1])
    crop = float(cfg.get("crop_pct", 0.875))
    return Preprocessing(size, int(math.floor(size / crop)), str(cfg.get("interpolation", "bilinear")),
                         tuple(cfg.get("mean", (0.485, 0.456, 0.406))), tuple(cfg.get("std", (0.229, 0.224, 0.225))))


def _torchvision_preprocessing(name: str, input_size: Optional[int]) -> Preprocessing:
    from torchvision.models import get_model_weights

    try:
        transforms = get_model_weights(name).DEFAULT.transforms()
        crop, resize = int(transforms.crop_size[0]), int(transforms.resize_size[0])
        mean, std = tuple(transforms.mean), tuple(transforms.std)
        interpolation = transforms.interpolation.value
    except (ValueError, AttributeError, IndexError):  # a builder without published weights
        crop, resize, mean, std, interpolation = 224, 256, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear"
    size = int(input_size or crop)
    return Preprocessing(size, int(round(size * resize / crop)), interpolation, mean, std)


def _final_linear(model, provider: str):
    """(name, module) of the classifier whose input is the representation."""
    import torch.nn as nn

    if provider == "timm":
        head = model.get_classifier()
        for name, module in model.named_modules():
            if module is head and isinstance(module, nn.Linear):
                return name, module
        raise ProviderError(f"timm model {type(model).__name__}'s classifier is a {type(head).__name__}, not a "
                            "linear layer: robuniv's representation is the input of a final linear classifier")
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ProviderError(f"torchvision model {type(model).__name__} has no linear layer")
    return linears[-1]


def build(arch: str, num_classes: int, input_size: Optional[int] = None):
    """The network of a provider-qualified ``arch`` (untrained) and its :class:`Preprocessing`."""
    provider, name = split(arch)
    check(arch)
    if provider == "timm":
        model = _timm_model(name, num_classes, input_size)
        preprocessing = _timm_preprocessing(model, input_size)
    else:
        from torchvision.models import get_model

        model = get_model(name, weights=None, num_classes=num_classes)
        preprocessing = _torchvision_preprocessing(name, input_size)
    return ProviderNet(model, provider, arch), preprocessing


def _provider_net_class():
    import torch.nn as nn

    class _ProviderNet(nn.Module):
        """A library model with the workflow's interface: ``forward_features`` = the input of its final linear
        classifier, ``forward_head`` = that classifier. ``library`` is the library model itself (its keys under ``library.``)."""

        def __init__(self, model, provider: str, arch: str):
            super().__init__()
            self.library = model
            self.head_name, self.head = _final_linear(model, provider)
            self.num_features = self.head.in_features
            self.layer = LAYER.format(head=self.head_name, provider=provider)
            self._captured = None
            self.head.register_forward_pre_hook(self._capture)

        def _capture(self, module, args):
            self._captured = args[0]

        def forward_features(self, x):
            self._captured = None
            self.library(x)
            features, self._captured = self._captured, None
            if features is None:
                raise ProviderError(f"{self.layer}: the classifier was not called in the model's forward")
            return features

        def forward_head(self, features):
            return self.head(features)

        def forward(self, x):
            return self.library(x)

    return _ProviderNet


def ProviderNet(model, provider: str, arch: str):  # noqa: N802 (a class made on first use: torch is imported late)
    return _provider_net_class()(model, provider, arch)


def resize_and_crop(x, preprocessing: Preprocessing):
    """The library's resize and centre crop as a differentiable function of images in [0, 1] (N, C, H, W)."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    scale = preprocessing.resize_size / min(h, w)
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size != (h, w):
        mode = preprocessing.interpolation if preprocessing.interpolation in ("bilinear", "bicubic") else "bilinear"
        # antialiased kernels are PyTorch's PIL-matching ones (cubic a = -0.5), as the libraries resize PIL images
        x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    # torchvision's CenterCrop (which timm's transforms use too): int(round(margin / 2)), Python's rounding
    top, left = (int(round((edge - preprocessing.input_size) / 2.0)) for edge in size)
    if top < 0 or left < 0:
        raise ProviderError(f"resize to {size} is smaller than the crop {preprocessing.input_size}")
    return x[..., top:top + preprocessing.input_size, left:left + preprocessing.input_size]


def load_library_weights(net, path) -> None:
    """Load a state dict as the library writes it (timm ``.safetensors`` or ``.pth``, torchvision ``.pth``)
    into ``net.library`` strictly; a mismatch names the file and the first key."""
    from pathlib import Path

    import torch

    path = Path(path)
    if is_safetensors(path):
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise ProviderError(f"{path}: not a state dict ({type(state).__name__})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    expected = net.library.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ProviderError(f"{path}: not a state dict of this model ({len(missing)} missing key(s)"
                            f"{', first ' + repr(missing[0]) if missing else ''}; {len(unexpected)} unexpected"
                            f"{', first ' + repr(unexpected[0]) if unexpected else ''})")
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ProviderError(f"{path}: '{key}' has shape {tuple(value.shape)}, the model expects "
                                f"{tuple(expected[key].shape)} (another num_classes or input_size?)")
    net.library.load_state_dict(state, strict=True)


def is_safetensors(path) -> bool:
    """By content, not name (the workflow copies checkpoints to ``<model>.ckpt``): an 8-byte little-endian
    header length, then the JSON header."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def is_library_file(path) -> bool:
    """Whether a checkpoint file is in a library's own format rather than the robustness library's."""
    if is_safetensors(path):
        return True
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        return False
    inner = state.get("model", state.get("state_dict"))
    keys = inner.keys() if isinstance(inner, dict) else state.keys()
    # the robustness library's layouts: module.model.* (and module.attacker.*, module.normalizer.*)
    return not any(str(k).startswith(("module.model.", "module.normalizer.")) for k in keys)


__all__: Sequence[str] = ["PROVIDERS", "ProviderError", "split", "check", "build", "Preprocessing",
                          "resize_and_crop", "load_library_weights", "is_library_file", "LAYER"]

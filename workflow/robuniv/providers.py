"""Models by provider-qualified name: ``timm:<name>`` (any name ``timm.list_models()`` knows),
``torchvision:<builder>`` (any classification builder of ``torchvision.models``) and
``robustbench:<dataset>/<threat>/<name>`` (an entry of RobustBench's model zoo, e.g.
``robustbench:cifar10/L2/Rebuffi2021Fixing_70_16_cutmix_extra``), beside the built-in architectures of
:mod:`robuniv.architectures`.

Each is wrapped so that it looks like a built-in network to the workflow:

* **representation** = the input of the model's final linear classifier (timm: the module
  ``get_classifier()`` returns, i.e. timm's ``pre_logits``; torchvision: its last ``nn.Linear``), taken by a
  forward pre-hook on that module, so it is the tensor the logits are computed from, for inversion and
  comparison alike (:data:`LAYER` names it in the HDF5 ``layer`` attribute);
* **preprocessing** is part of the model and differentiable: images in [0, 1] at the data set's resolution are
  resized (the library's interpolation, PIL-matching antialiased kernels) so that the shorter side is
  ``input_size / crop_pct``, centre-cropped to ``input_size``, clamped to [0, 1] and normalised with the
  library's mean and std (timm's pretrained config; torchvision's weights' transforms: 232/256 → 224 px).
  RobustBench's models normalise inside themselves; their resize and crop are RobustBench's per-model
  ``preprocessing`` (ImageNet: ``Res256Crop224``, ``BicubicRes256Crop224``, ``Res224``, ``Crop288``; CIFAR: none,
  32 px). Every model of a data set sees the same images; inversion optimises the shared image.
* **weights** of a RobustBench entry are read by RobustBench's own ``load_model`` from a local ``model_dir``
  (the file linked in at ``<dataset>/<threat>/<name>.pt``, so it never downloads); ensembles, entries that
  are timm models and ImageNet's ``Standard_*`` (torchvision's download) are refused with what to use instead.

Name parsing and checks are torch-free; the libraries are imported when a model is built or a name checked.
"""
from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Optional, Sequence

PROVIDERS = ("timm", "torchvision", "robustbench")
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
    if provider == "robustbench" and len(name.split("/")) != 3:
        raise ProviderError(f"{arch!r}: a RobustBench model is named robustbench:<dataset>/<threat>/<name>, "
                            "e.g. robustbench:cifar10/L2/Standard")
    return provider, name


def import_robustbench():
    """RobustBench, imported. Its package imports ``autoattack``, which the registry ships as
    ``pyautoattack`` (RobustBench 1.1.1 declares that distribution): alias it when only that is installed.
    robuniv never runs AutoAttack; the alias only lets ``import robustbench`` succeed."""
    import importlib
    import sys

    try:
        import autoattack  # noqa: F401
    except ImportError:
        try:
            pyautoattack = importlib.import_module("pyautoattack")
            sys.modules.setdefault("autoattack", pyautoattack)
            sys.modules.setdefault("autoattack.state", importlib.import_module("pyautoattack.state"))
        except ImportError:
            pass
    try:
        import robustbench
        from robustbench.model_zoo import model_dicts  # noqa: F401
    except ImportError as err:
        raise ImportError(f"robustbench models need RobustBench: pip install 'robuniv[robustbench]' ({err})") from err
    return robustbench


def _robustbench_entry(name: str) -> dict:
    """RobustBench's model-zoo entry of ``<dataset>/<threat>/<name>`` (its ``model`` builder, ``gdrive_id``,
    ``preprocessing``); ProviderError with the closest names otherwise."""
    import_robustbench()
    from robustbench.model_zoo import model_dicts

    dataset, threat, model = name.split("/")
    zoo = {(d.value, t.value): entries for d, by_threat in model_dicts.items() for t, entries in by_threat.items()}
    if (dataset, threat) not in zoo:
        known = sorted(f"{d}/{t}" for d, t in zoo)
        raise ProviderError(f"RobustBench has no leaderboard {dataset}/{threat}; known: {', '.join(known)}")
    entries = zoo[(dataset, threat)]
    if model not in entries:
        close = difflib.get_close_matches(model, list(entries), n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(f'robustbench:{dataset}/{threat}/{c}' for c in close)}" if close else ""
        raise ProviderError(f"robustbench has no model {model!r} in {dataset}/{threat}{hint}")
    entry = entries[model]
    if entry.get("gdrive_id") is None:
        raise ProviderError(f"robustbench:{name} is a timm model in RobustBench's zoo (no checkpoint of its own): "
                            "use timm:<its timm name> with its weights file")
    if isinstance(entry["gdrive_id"], list):
        raise ProviderError(f"robustbench:{name} is an ensemble of {len(entry['gdrive_id'])} networks: it has no "
                            "single final linear classifier whose input could be the representation")
    if dataset == "imagenet" and "Standard" in model:
        raise ProviderError(f"robustbench:{name} is torchvision's pretrained network (RobustBench downloads it): "
                            "use torchvision:<builder> with the torchvision weights file")
    return entry


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
    if provider == "robustbench":
        _robustbench_entry(name)
        return
    names = known_names(provider)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f"; closest: {', '.join(f'{provider}:{c}' for c in close)}" if close else ""
        raise ProviderError(f"{provider} has no model {name!r}{hint}")


@dataclass(frozen=True)
class Preprocessing:
    """What the library feeds the model: resize the shorter side to ``resize_size`` (both sides with
    ``stretch``; none if ``resize_size`` is None), centre-crop ``input_size``, normalise with ``mean``/``std``."""

    input_size: int
    resize_size: Optional[int]
    interpolation: str
    mean: tuple
    std: tuple
    stretch: bool = False


IDENTITY_STATS = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # RobustBench's models normalise inside themselves
ROBUSTBENCH_PREPROCESSING = {  # robustbench.data.PREPROCESSINGS: (resize, crop, interpolation, stretch)
    "Res256Crop224": (256, 224, "bilinear", False),
    "BicubicRes256Crop224": (256, 224, "bicubic", False),
    "Res224": (224, 224, "bilinear", True),
    "Crop288": (None, 288, "bilinear", False),
}


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


def _robustbench_preprocessing(name: str, entry: dict, input_size: Optional[int]) -> Preprocessing:
    dataset = name.split("/")[0]
    key = entry.get("preprocessing")
    if dataset != "imagenet" or key is None:  # CIFAR: the 32 px images as they are (resized to input_size)
        size = int(input_size or 32)
        return Preprocessing(size, size, "bilinear", *IDENTITY_STATS, stretch=True)
    if key not in ROBUSTBENCH_PREPROCESSING:
        raise ProviderError(f"robustbench:{name}: unknown RobustBench preprocessing {key!r}")
    resize, crop, interpolation, stretch = ROBUSTBENCH_PREPROCESSING[key]
    if input_size is not None and int(input_size) != crop:
        raise ProviderError(f"robustbench:{name} takes {crop} px inputs (RobustBench's {key}); input_size "
                            f"{input_size} does not apply")
    return Preprocessing(crop, resize, interpolation, *IDENTITY_STATS, stretch=stretch)


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
        raise ProviderError(f"{provider} model {type(model).__name__} has no linear layer")
    return linears[-1]


def build(arch: str, num_classes: int, input_size: Optional[int] = None):
    """The network of a provider-qualified ``arch`` (untrained) and its :class:`Preprocessing`."""
    provider, name = split(arch)
    if provider == "robustbench":  # the zoo entry's lookup is its name check
        entry = _robustbench_entry(name)
        return _robustbench_net(entry["model"](), arch, num_classes), _robustbench_preprocessing(name, entry,
                                                                                                input_size)
    check(arch)
    if provider == "timm":
        model = _timm_model(name, num_classes, input_size)
        preprocessing = _timm_preprocessing(model, input_size)
    else:
        from torchvision.models import get_model

        model = get_model(name, weights=None, num_classes=num_classes)
        preprocessing = _torchvision_preprocessing(name, input_size)
    return ProviderNet(model, provider, arch), preprocessing


def _robustbench_net(model, arch: str, num_classes: int):
    net = ProviderNet(model, "robustbench", arch)
    if net.head.out_features != num_classes:
        raise ProviderError(f"{arch} classifies {net.head.out_features} classes (RobustBench builds it so), the "
                            f"data set has {num_classes}")
    return net


def load_robustbench(arch: str, path, num_classes: int, input_size: Optional[int] = None):
    """A RobustBench entry with the weights of ``path`` (a file RobustBench distributes), read by RobustBench's own
    ``load_model`` from a temporary ``model_dir`` that links ``path`` in where it looks; nothing is downloaded."""
    import os
    import tempfile
    from pathlib import Path

    _, name = split(arch)
    entry = _robustbench_entry(name)
    dataset, threat, model_name = name.split("/")
    from robustbench.utils import load_model

    with tempfile.TemporaryDirectory(prefix="robustbench-") as model_dir:
        where = Path(model_dir) / dataset / threat
        where.mkdir(parents=True)
        os.symlink(Path(path).resolve(), where / f"{model_name}.pt")
        try:
            model = load_model(model_name, model_dir=model_dir, dataset=dataset, threat_model=threat)
        except (RuntimeError, KeyError, ValueError, TypeError, AttributeError) as err:
            raise ProviderError(f"{path}: RobustBench's load_model cannot read it as {arch} "
                                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from None
    return _robustbench_net(model.eval(), arch, num_classes), _robustbench_preprocessing(name, entry, input_size)


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
    if preprocessing.resize_size is None:
        size = (h, w)
    elif preprocessing.stretch:
        size = (preprocessing.resize_size, preprocessing.resize_size)
    else:
        scale = preprocessing.resize_size / min(h, w)
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
    if size != (h, w):
        mode = preprocessing.interpolation if preprocessing.interpolation in ("bilinear", "bicubic") else "bilinear"
        # antialiased kernels are PyTorch's PIL-matching ones (cubic a = -0.5), as the libraries resize PIL images
        x = F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)
    # torchvision's CenterCrop (which timm's transforms use too): int(round(margin / 2)), Python's rounding
    top, left = (int(round((edge - preprocessing.input_size) / 2.0)) for edge in size)
    if top < 0 or left < 0:
        raise ProviderError(f"images of {size[0]}x{size[1]} px are smaller than the model's crop "
                            f"{preprocessing.input_size}")
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


__all__: Sequence[str] = ["PROVIDERS", "ProviderError", "split", "check", "build", "Preprocessing", "load_robustbench",
                          "resize_and_crop", "load_library_weights", "is_library_file", "LAYER"]

"""The data sources, by name, with everything that belongs to each (torch-free).

One :class:`Source` per value of a data set's ``source`` key: the options it reads from the data set's
entry (and which of them it needs), whether its images are grayscale, its overrides of the training recipe,
and its loader and info functions, named as ``"module:function"`` and imported only when called (the
config layer, the schema and a dry run read this catalogue without torch). The schema's ``source`` enum
and its required keys are generated from here (:func:`robuniv.config.load_schema`).

Adding a data source is one entry here plus its two functions (``info(settings) -> SourceInfo`` and
``load(split, settings, augment) -> Dataset``) and its test.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from .catalog import Registry, resolve

__all__ = ["Source", "SOURCES", "register_source", "get_source", "option_keys", "what_it_is", "resolve"]


@dataclass(frozen=True)
class Source:
    """One data source: ``options`` are the keys of a data set's entry it reads (``required`` ones it cannot
    do without; ``locations`` the ones that say where the data lies, not what it is: moving the data reruns
    nothing, its content is checked against the data set's summary instead), ``training_defaults`` its
    overrides of the Salman et al. recipe in :class:`robuniv.settings.TrainSettings`, ``info`` and ``load``
    references to its functions."""

    name: str
    summary: str
    info: str
    load: str
    options: tuple[str, ...] = ()
    required: tuple[str, ...] = ()
    locations: tuple[str, ...] = ()
    grayscale: bool = False  # its 3 channels are copies of one: inversion keeps them tied
    training_defaults: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "options", tuple(self.options))
        object.__setattr__(self, "required", tuple(self.required))
        object.__setattr__(self, "locations", tuple(self.locations))
        object.__setattr__(self, "training_defaults", MappingProxyType(dict(self.training_defaults)))
        if not set(self.required) <= set(self.options):
            raise ValueError(f"source {self.name!r}: required {self.required} must be among its options")
        if not set(self.locations) <= set(self.options):
            raise ValueError(f"source {self.name!r}: locations {self.locations} must be among its options")

    def info_function(self) -> Callable:
        return resolve(self.info)

    def load_function(self) -> Callable:
        return resolve(self.load)


SOURCES: Registry = Registry("data source")
register_source = SOURCES.register  # add a data source (each name once)
get_source = SOURCES.lookup  # the source of a name; ValueError listing the known names otherwise


def what_it_is(source_settings: Mapping[str, Any]) -> dict:
    """A data set's source settings (with their ``source`` key) without the options that say where it lies."""
    locations = get_source(source_settings["source"]).locations
    return {k: v for k, v in source_settings.items() if k not in locations}


def option_keys() -> tuple[str, ...]:
    """Every option key some source reads, in first-seen order (the schema lists their types)."""
    keys: dict[str, None] = {}
    for source in SOURCES.values():
        keys.update(dict.fromkeys(source.options))
    return tuple(keys)


register_source(Source(
    "sklearn_digits", "scikit-learn's 8x8 digits, fixed stratified 80/20 split (the demo)",
    info="robuniv.data:digits_info", load="robuniv.data:digits_load", grayscale=True,
    # the CPU demo's short schedule
    training_defaults=dict(epochs=6, batch_size=128, lr_step=4, weight_decay=5e-4, num_workers=0)))
register_source(Source(
    "cifar10", "CIFAR-10 python batches under <path>/cifar-10-batches-py",
    info="robuniv.data:cifar_info", load="robuniv.data:cifar_load",
    options=("path", "download"), required=("path",), locations=("path", "download"),
    # 5e-4 weight decay for standard CIFAR-10 models (Salman et al.)
    training_defaults=dict(weight_decay_standard=5e-4, num_workers=4)))
register_source(Source(
    "imagefolder", "ImageNet-style <path>/train and <path>/val class folders",
    info="robuniv.data:imagefolder_info", load="robuniv.data:imagefolder_load",
    options=("path", "classes", "image_size", "resize_size", "num_classes"), required=("path",), locations=("path",),
    training_defaults=dict(num_workers=8)))

"""Resolving the workflow config: per-source defaults, per-model settings, checks the schema cannot do.

Pure functions of the config mapping; the Snakefile and tests call them. Each function returns only
what one job needs, so a job's parameters change only when its own model or data set changes.
"""
from __future__ import annotations

import copy
from typing import Any, Optional

from .data import SOURCES, source_info
from .models import ARCHITECTURES

# Training and evaluation defaults per data source: the Salman et al. recipe for the real data sets,
# a short schedule for the CPU demo on digits.
TRAINING_DEFAULTS: dict[str, dict[str, Any]] = {
    "imagefolder": dict(epochs=90, batch_size=512, lr=0.1, lr_step=30, lr_gamma=0.1, momentum=0.9,
                        weight_decay=1e-4, attack_steps=3, attack_step_factor=2 / 3, num_workers=8),
    "cifar10": dict(epochs=90, batch_size=512, lr=0.1, lr_step=30, lr_gamma=0.1, momentum=0.9,
                    weight_decay=1e-4, weight_decay_standard=5e-4, attack_steps=3, attack_step_factor=2 / 3, num_workers=4),
    "sklearn_digits": dict(epochs=6, batch_size=128, lr=0.1, lr_step=4, lr_gamma=0.1, momentum=0.9,
                           weight_decay=5e-4, attack_steps=3, attack_step_factor=2 / 3, num_workers=0),
}
EVALUATION_DEFAULTS: dict[str, Any] = dict(attack_steps=20, attack_step_factor=2.5 / 20,
                                           standard_attack_eps=0.25, fixed_attack_eps=[],
                                           batch_size=256, max_images=None)
INVERSION_DEFAULTS: dict[str, Any] = dict(iterations=1000, step_size=0.125, momentum=0.9)
SIMILARITY_DEFAULTS: dict[str, Any] = dict(jaccard_k=[10, 100, 500], rtd_trials=10, rtd_batch=500, rtd_seed=0, rtd=True)
FIGURE_DEFAULTS: dict[str, Any] = dict(formats=["png", "pdf"], dpi=150, n_examples=4, style="whitegrid")
SUBGROUP_DEFAULTS: dict[str, Any] = dict(min_size=20, k=10, n_resamples=9999, seed=0)
PROBE_DEFAULTS: dict[str, Any] = dict(n_probes=1, epochs=30, batch_size=1024, lr=0.005, final_lr=1e-6)
SOURCE_KEYS = ("path", "download", "classes", "image_size", "resize_size", "num_classes")


class ConfigError(ValueError):
    """The config is inconsistent; the message names the key."""


def format_eps(eps: float) -> str:
    """The ε as it appears in paths and file names: 0, 0.25, 3 (Salman et al.'s spelling too)."""
    return f"{float(eps):g}"


def _merge(base: dict, override: Optional[dict]) -> dict:
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        out[key] = copy.deepcopy(value)
    return out


def dataset_eps(config: dict, dataset: str) -> list[str]:
    return [format_eps(e) for e in config["datasets"][dataset]["eps"]]


def source_settings(config: dict, dataset: str) -> dict:
    """The data source and its options (path, classes, ...) of one data set."""
    ds = config["datasets"][dataset]
    return {"source": ds["source"], **{k: ds[k] for k in SOURCE_KEYS if k in ds}}


def model_spec(config: dict, dataset: str, model: str) -> dict:
    """Keyword arguments of :func:`robuniv.models.create_model` for one configured model."""
    ds = config["datasets"][dataset]
    entry = ds["models"][model]
    src = source_settings(config, dataset)
    info = source_info(src["source"], src)
    return {"arch": entry["arch"], "num_classes": info.num_classes, "variant": info.variant,
            "width": float(entry.get("width", 1.0)), "image_size": info.image_size,
            "mean": list(info.mean), "std": list(info.std)}


def training_settings(config: dict, dataset: str, model: str, eps: str | float) -> dict:
    """:class:`robuniv.training.TrainSettings` keywords: source defaults < data set < model entry."""
    ds = config["datasets"][dataset]
    entry = ds["models"][model]
    settings = _merge(TRAINING_DEFAULTS[ds["source"]], ds.get("training"))
    settings = _merge(settings, entry.get("training"))
    settings["eps"] = float(eps)
    settings["seed"] = int(entry.get("seed", 0))
    standard_wd = settings.pop("weight_decay_standard", None)
    if standard_wd is not None and settings["eps"] == 0:
        settings["weight_decay"] = standard_wd
    return settings


def evaluation_settings(config: dict, dataset: str) -> dict:
    return _merge(EVALUATION_DEFAULTS, config["datasets"][dataset].get("evaluation"))


def inversion_settings(config: dict, dataset: str) -> dict:
    return _merge(INVERSION_DEFAULTS, config["datasets"][dataset].get("inversion"))


def similarity_settings(config: dict, dataset: str) -> dict:
    settings = _merge(SIMILARITY_DEFAULTS, config["datasets"][dataset].get("similarity"))
    n = n_inputs(config, dataset)
    if max(settings["jaccard_k"]) >= n:
        raise ConfigError(f"datasets.{dataset}.similarity.jaccard_k: every k must be < n_inputs ({n})")
    settings["rtd_batch"] = min(settings["rtd_batch"], n)
    return settings


def subgroup_settings(config: dict, dataset: str) -> dict:
    settings = _merge(SUBGROUP_DEFAULTS, config["datasets"][dataset].get("subgroups"))
    settings["eps"] = [format_eps(e) for e in settings.get("eps", config["datasets"][dataset]["eps"])]
    return settings


def probe_settings(config: dict, dataset: str) -> dict:
    settings = _merge(PROBE_DEFAULTS, config["datasets"][dataset].get("probes"))
    settings["eps"] = format_eps(settings.get("eps", max(config["datasets"][dataset]["eps"])))
    return settings


def figure_settings(config: dict) -> dict:
    return _merge(FIGURE_DEFAULTS, config.get("figures"))


def n_inputs(config: dict, dataset: str) -> int:
    return int(config["datasets"][dataset].get("n_inputs", 10_000))


def batch_size(config: dict, dataset: str) -> int:
    return int(config["datasets"][dataset].get("batch_size", 256))


def checkpoint_url(config: dict, dataset: str, model: str, eps: str | float) -> Optional[str]:
    """The URL to download for (model, ε), or None when the model is trained at that ε.

    ``checkpoint`` is a template with ``{eps}`` (every ε) or a mapping ε -> URL (those ε only).
    """
    entry = config["datasets"][dataset]["models"][model]
    spec = entry.get("checkpoint")
    if spec is None:
        return None
    key = format_eps(eps)
    if isinstance(spec, str):
        return spec.format(eps=key)
    for k, url in spec.items():
        if format_eps(k) == key:
            return url
    return None


def checkpoint_sha256(config: dict, dataset: str, model: str, eps: str | float) -> Optional[str]:
    sums = config["datasets"][dataset]["models"][model].get("sha256") or {}
    for k, value in sums.items():
        if format_eps(k) == format_eps(eps):
            return value
    return None


def check_config(config: dict) -> None:
    """Checks beyond the JSON schema; raises :class:`ConfigError` naming the key."""
    datasets = config.get("datasets") or {}
    if not datasets:
        raise ConfigError("config key 'datasets' is empty: configure at least one data set")
    for name, ds in datasets.items():
        where = f"datasets.{name}"
        if ds.get("source") not in SOURCES:
            raise ConfigError(f"{where}.source: unknown data source {ds.get('source')!r}; "
                              f"known: {', '.join(SOURCES)}")
        if ds["source"] in ("cifar10", "imagefolder") and not ds.get("path"):
            raise ConfigError(f"{where}.path: data source {ds['source']!r} needs a path")
        eps = ds.get("eps") or []
        for e in eps:
            if not isinstance(e, (int, float)) or isinstance(e, bool) or e < 0:
                raise ConfigError(f"{where}.eps: every ε must be a number >= 0, got {e!r}")
        keys = [format_eps(e) for e in eps]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"{where}.eps: repeated ε in {eps}")
        models = ds.get("models") or {}
        if not models:
            raise ConfigError(f"{where}.models is empty")
        similarity_settings(config, name)
        for e in subgroup_settings(config, name)["eps"] + [probe_settings(config, name)["eps"]]:
            if e not in keys:
                raise ConfigError(f"{where}.subgroups/probes: ε {e} is not in {where}.eps")
        for model, entry in models.items():
            if "/" in model or "__" in model or not model or model.startswith("."):
                raise ConfigError(f"{where}.models: model name {model!r} must be non-empty, without '/' or "
                                  "'__' (the pair separator in file names), and not start with '.'")
            arch = entry.get("arch")
            if arch not in ARCHITECTURES:
                raise ConfigError(f"{where}.models.{model}.arch: unknown architecture {arch!r}; "
                                  f"known: {', '.join(sorted(ARCHITECTURES))}")
            spec = entry.get("checkpoint")
            if isinstance(spec, dict):
                extra = sorted(set(format_eps(k) for k in spec) - set(keys))
                if extra:
                    raise ConfigError(f"{where}.models.{model}.checkpoint: ε {', '.join(extra)} not in "
                                      f"{where}.eps")
            elif isinstance(spec, str) and "{eps}" not in spec and len(keys) > 1:
                raise ConfigError(f"{where}.models.{model}.checkpoint: a single URL needs '{{eps}}' in it "
                                  "(or give a mapping from ε to URL)")

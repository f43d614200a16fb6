"""Every setting of the study with its default, in one place (torch-free).

One frozen dataclass per config section. The workflow resolves `config.yaml` into these objects
(:mod:`robuniv.config`), the library's signatures take their defaults from them, and a test keeps
the JSON schema's keys equal to their fields. Per-source training defaults (the digits demo's short
schedule, CIFAR-10's weight decay) are overrides that each source's entry carries (:mod:`robuniv.sources`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Optional, Tuple


class SettingsError(ValueError):
    """A setting is unknown or out of range; the message names it."""


PRECISIONS = ("fp32", "bf16")
THREATS = ("l2", "linf")  # the attack's norm ball: L2 (the paper) or L∞ (RobustBench's ImageNet entries)

# What a field decides. "result" (the default): what a job computes, so it goes into the job's params and a
# change reruns the job. "plan": which jobs exist (which ε are analysed, which model a figure shows, where a
# checkpoint comes from); it is read when the plan is made and never enters a job's params. "execution": how
# fast a job runs (DataLoader workers, batch sizes of inference, GPUs per job), not what it computes beyond
# float rounding; the job reads it from the config (:func:`from_params`' ``execution``), never from its params.
RESULT, PLAN, EXECUTION = "result", "plan", "execution"


def plan_field(default=None):
    """A field that chooses jobs instead of changing what one computes (left out of :func:`as_params`)."""
    return field(default=default, metadata={"role": PLAN})


def omitted_default_field(default):
    """A result field added after results existed: left out of :func:`as_params` while at its default, so the
    params (and every job) of configs that do not set it stay as they were."""
    return field(default=default, metadata={"omit_default": True})


def _check_threat(threat: str, what: str) -> None:
    if threat not in THREATS:
        raise SettingsError(f"{what} threat must be one of {', '.join(THREATS)}, got {threat!r}")


def execution_field(default):
    """A field that changes only how fast a job runs (left out of :func:`as_params`: changing it reruns nothing)."""
    return field(default=default, metadata={"role": EXECUTION})


def role(f) -> str:
    return f.metadata.get("role", RESULT)


@dataclass(frozen=True)
class TrainSettings:
    """L2-PGD adversarial training, Salman et al.'s ImageNet recipe (ε = 0: standard training)."""

    epochs: int = 90
    batch_size: int = 512
    lr: float = 0.1
    lr_step: int = 30
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    weight_decay_standard: Optional[float] = None  # weight decay of ε = 0 models (None: weight_decay)
    eps: float = 0.0
    attack_steps: int = 3
    attack_step_factor: float = 2 / 3
    seed: int = 0
    num_workers: int = execution_field(0)
    augment: bool = True
    precision: str = "fp32"  # "bf16": autocast in the forward passes of training and its PGD
    threat: str = omitted_default_field("l2")  # the PGD of adversarial training: l2 | linf (the data set's)
    # GPUs of one training job (DDP under torchrun when > 1; the same global batch, BatchNorm statistics per GPU)
    gpus: int = execution_field(1)

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise SettingsError(f"training precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.gpus < 1:
            raise SettingsError(f"training gpus must be >= 1, got {self.gpus}")
        _check_threat(self.threat, "training")
        if not self.eps >= 0:  # also rejects NaN
            raise SettingsError(f"training eps must be a number >= 0, got {self.eps}")
        for name in ("epochs", "batch_size", "lr_step", "attack_steps"):
            if getattr(self, name) < 1:
                raise SettingsError(f"training {name} must be >= 1, got {getattr(self, name)}")

    @property
    def effective_weight_decay(self) -> float:
        if self.eps == 0 and self.weight_decay_standard is not None:
            return self.weight_decay_standard
        return self.weight_decay

    def fingerprint(self) -> str:
        """Hash of the result settings: what changes the weights (workers and GPUs do not)."""
        return hashlib.sha256(json.dumps(as_params(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class EvaluationSettings:
    """Clean accuracy and accuracy under PGD-L2 (20 steps of 2.5ε/20) at the model's ε."""

    attack_steps: int = 20
    attack_step_factor: float = 2.5 / 20
    standard_attack_eps: float = 0.25  # the attack of ε = 0 models
    fixed_attack_eps: Tuple[float, ...] = ()  # further attacks every model gets
    batch_size: int = execution_field(256)  # per-image attacks: the batch changes only rounding
    max_images: Optional[int] = None
    threat: str = omitted_default_field("l2")  # the attack's norm: l2 | linf (the data set's)

    def __post_init__(self):
        _check_threat(self.threat, "evaluation")

    def attack_eps(self, eps: float) -> list[float]:
        """The attacks of a model at ``eps``: its own ε (standard models: ``standard_attack_eps``),
        then the fixed ones, without repeats."""
        first = float(eps) if float(eps) > 0 else self.standard_attack_eps
        return [first] + [float(e) for e in self.fixed_attack_eps if float(e) != first]


@dataclass(frozen=True)
class InversionSettings:
    """Representation inversion (Ilyas et al. 2019): normalised gradient descent with momentum."""

    iterations: int = 1000
    step_size: float = 0.125
    momentum: float = 0.9
    tie_channels: Optional[bool] = None  # average the gradient over channels (None: for grayscale sources)
    # Targets per inversion job: a model's targets are inverted in shards of this many rows, each its own job
    # and file (each image is inverted independently; 1,000 ImageNet images x 1,000 steps of a WRN-50-4 is
    # under an hour on one GPU). A multiple of the batch size keeps the batches, and so the images, bitwise
    # those of one job. It chooses jobs, so it never enters a params; changing it re-inverts (new files).
    shard_size: int = plan_field(1000)

    def __post_init__(self):
        if self.shard_size < 1:
            raise SettingsError(f"inversion shard_size must be >= 1, got {self.shard_size}")

    def shards(self, n: int) -> list[tuple[int, int]]:
        """[start, stop) rows of each shard of ``n`` targets, in order."""
        return [(start, min(n, start + self.shard_size)) for start in range(0, n, self.shard_size)]


@dataclass(frozen=True)
class SimilaritySettings:
    jaccard_k: Tuple[int, ...] = (10, 100, 500)
    rtd_trials: int = 10
    rtd_batch: int = 500
    rtd_seed: int = 0
    rtd: bool = True
    # the measures of the tables (None: the paper's, i.e. what compare_models writes); a catalogue measure plans
    # its family's jobs (robuniv.catalogue), and choosing one changes no job that exists
    measures: Optional[Tuple[str, ...]] = plan_field()


def catalogue_field(default, family: str):
    """A setting of one catalogue family (robuniv.catalogue): only that family's jobs take it as a param."""
    return field(default=default, metadata={"family": family})


@dataclass(frozen=True)
class CatalogueSettings:
    """Settings of the measure catalogue (defaults: ReSi's)."""

    svcca_variance: float = catalogue_field(0.99, "cca")  # share of the variance SVCCA keeps
    rsa_outer: str = catalogue_field("spearman", "rsm")  # RSA's comparison of the RSMs: spearman | pearson

    def __post_init__(self):
        if not 0 < self.svcca_variance <= 1:
            raise SettingsError(f"svcca_variance must be in (0, 1], got {self.svcca_variance}")
        if self.rsa_outer not in ("spearman", "pearson"):
            raise SettingsError(f"rsa_outer must be spearman or pearson, got {self.rsa_outer!r}")

    def of_family(self, family: str) -> dict:
        """The settings one family's jobs take (their params)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata.get("family") == family}


@dataclass(frozen=True)
class SubgroupSettings:
    """Analysis 4: measures on the inputs where a regular pair agrees / disagrees."""

    eps: Optional[Tuple[float, ...]] = plan_field()  # ε levels analysed (None: all)
    min_size: int = 20
    k: int = 10
    n_resamples: int = 9999
    seed: int = 0
    matched_draws: int = 20  # size-matched control: random agree subsets of the disagree subset's size


@dataclass(frozen=True)
class ProbeSettings:
    """Analysis 5: linear probes on frozen features."""

    eps: Optional[float] = plan_field()  # ε of the probed models (None: the largest)
    n_probes: int = 1
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 0.005
    final_lr: float = 1e-6


@dataclass(frozen=True)
class FigureSettings:
    formats: Tuple[str, ...] = ("png", "pdf")
    dpi: int = 150
    n_examples: int = 4
    style: str = "whitegrid"
    variants: str = "published"  # "published": debiased CKA, Procrustes nuclear norm; "equations": eq. 4/5
    measures: Optional[Tuple[str, ...]] = None  # the panels of figure 4 (None: the paper's four, by `variants`)


@dataclass(frozen=True)
class SpearmanSettings:
    """Spearman's ρ of each measure with ε (spearman.csv): its permutation test."""

    n_resamples: int = 9999
    seed: int = 0


@dataclass(frozen=True)
class ModelSettings:
    """One configured model: what builds it (``arch``, ``width``, ``seed``: a job's result) and what plans its
    jobs (the ε it exists at, where its checkpoints come from, its training overrides)."""

    arch: str
    width: float = 1.0  # channel multiplier, 1 = the published model
    seed: int = 0  # initial weights of trained models
    # provider models (timm:, torchvision:) only: the resolution they see (None: the library's, e.g. 224);
    # left out of the params while unset, so that configs of built-in models keep their params
    input_size: Optional[int] = field(default=None, metadata={"omit_default": True})
    eps: Optional[Tuple[float, ...]] = plan_field()  # None: every ε of the data set
    checkpoint: Any = plan_field()  # URL template with {eps}, or a mapping ε -> URL (None: trained)
    sha256: Optional[Mapping[Any, str]] = plan_field()  # ε -> sha256 of the checkpoint
    training: Optional[Mapping[str, Any]] = plan_field()  # overrides of TrainSettings (resolved per job)

    def __post_init__(self):
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "seed", int(self.seed))


@dataclass(frozen=True)
class DatasetSettings:
    """Settings of a data set that are not a section of their own."""

    n_inputs: int = 10_000
    inputs_seed: int = 0
    input_pool: str = "eval"  # split the comparison inputs are drawn from (ImageNet100: train)
    batch_size: int = execution_field(256)  # of inversion and extraction (per-image steps: only rounding changes)
    figure_model: Optional[str] = plan_field()  # the model of the inversion-by-ε figure (None: the first at every ε)
    # the threat model of training and evaluation, l2 | linf (they carry it in their params)
    threat: str = plan_field("l2")
    precision: str = "fp32"  # "bf16": autocast in evaluation, inversion and extraction
    num_workers: int = execution_field(0)  # DataLoader workers of evaluation, inversion and extraction

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise SettingsError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.input_pool not in ("train", "eval"):
            raise SettingsError(f"input_pool must be train or eval, got {self.input_pool!r}")


SECTIONS: dict[str, type] = {
    "training": TrainSettings,
    "evaluation": EvaluationSettings,
    "inversion": InversionSettings,
    "similarity": SimilaritySettings,
    "catalogue": CatalogueSettings,
    "subgroups": SubgroupSettings,
    "probes": ProbeSettings,
}


def _freeze(value):
    return tuple(value) if isinstance(value, list) else value


def build(cls, *layers: Optional[Mapping[str, Any]], where: str = ""):
    """``cls`` from its defaults overridden by each mapping in turn; an unknown key raises
    :class:`SettingsError` naming ``where.key``."""
    names = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            if key not in names:
                raise SettingsError(f"{where + '.' if where else ''}{key}: unknown setting; "
                                    f"known: {', '.join(sorted(names))}")
            values[key] = _freeze(value)
    try:
        return cls(**values)
    except SettingsError as err:
        raise SettingsError(f"{where}: {err}") from err


def as_params(settings) -> dict:
    """The result fields as a plain dict (lists for tuples) for a rule's params: what Snakemake compares between
    runs. Plan and execution fields are left out: changing one must not rerun any job."""
    return {f.name: (list(v) if isinstance(v := getattr(settings, f.name), tuple) else v)
            for f in fields(settings) if role(f) == RESULT
            and not (f.metadata.get("omit_default") and getattr(settings, f.name) == f.default)}


def from_params(cls, params: Optional[Mapping[str, Any]], execution=None):
    """The settings object of a job from its params (:func:`as_params`' inverse), with the execution fields
    of ``execution`` (the same section resolved from the config; None: their defaults) and plan fields at
    their defaults."""
    settings = build(cls, params, where=cls.__name__)
    if execution is None:
        return settings
    if not isinstance(execution, cls):
        raise TypeError(f"execution settings must be a {cls.__name__}, got {type(execution).__name__}")
    return dataclasses.replace(settings, **{name: getattr(execution, name) for name in execution_fields(cls)})


def execution_fields(cls) -> list[str]:
    return [f.name for f in fields(cls) if role(f) == EXECUTION]


def replace(settings, **changes):
    return dataclasses.replace(settings, **changes)


__all__ = ["SettingsError", "RESULT", "PLAN", "EXECUTION", "plan_field", "execution_field", "execution_fields",
           "role", "ModelSettings", "SpearmanSettings",
           "from_params", "TrainSettings", "EvaluationSettings", "InversionSettings",
           "SimilaritySettings", "CatalogueSettings", "catalogue_field", "SubgroupSettings", "ProbeSettings", "FigureSettings", "DatasetSettings",
           "SECTIONS", "build", "as_params", "replace", "field"]

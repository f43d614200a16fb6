"""Resolving the workflow config (torch-free: the Snakefile imports it at every start).

The JSON schema (`workflow/schemas/config.schema.yaml`) says which keys exist and their types and
ranges; :mod:`robuniv.settings` holds every default; this module resolves a data set's or a model's
settings from the two and checks what neither can say (relations between keys). Each function returns
only what one job needs, so a job's parameters change only when its own model or data set changes.
"""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Optional

import yaml

from . import architectures, catalog, measures, providers, sources
from . import settings as st

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"

# Names of data sets and models appear in paths and in the pair wildcard `{a}__{b}`: letters and digits
# joined by single '.', '_' or '-', so a name never starts or ends with '_' nor holds '__' or '/'.
NAME_PATTERN = r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*"
# ε in paths, as format_eps writes it: never exponent notation.
EPS_PATTERN = r"[0-9]+(?:\.[0-9]+)?"


class ConfigError(ValueError):
    """The config is inconsistent; the message names the key."""


def format_eps(eps) -> str:
    """The ε as it appears in paths and file names: 0, 0.25, 3, 0.00001 (positional, shortest)."""
    value = float(eps)
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"ε must be a finite number >= 0, got {eps!r}")
    text = format(Decimal(repr(value)).normalize(), "f")
    return text


def check_name(name: str, where: str) -> None:
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise ConfigError(f"{where}: name {name!r} must be letters and digits joined by single '.', '_' or '-' "
                          "(it is used in file paths and in the pair separator '__')")


# ---------------------------------------------------------------- schema
def load_schema() -> dict:
    """The schema file with the catalogues' names filled in: data sources (and the options each one
    requires), architectures and rules are never written by hand."""
    schema = yaml.safe_load(SCHEMA.read_text())
    defs = schema["$defs"]
    dataset = defs["dataset"]
    dataset["properties"]["source"]["enum"] = list(sources.SOURCES)
    dataset["allOf"] = [{"if": {"properties": {"source": {"const": s.name}}}, "then": {"required": list(s.required)}}
                        for s in sources.SOURCES.values() if s.required]
    defs["model"]["properties"]["arch"]["anyOf"] = [
        {"enum": list(architectures.ARCHITECTURES)},
        {"type": "string", "pattern": rf"^({'|'.join(providers.PROVIDERS)}):[A-Za-z0-9_.\-/]+$"}]
    defs["rule"]["enum"] = list(catalog.RULES)
    return schema


def check_yaml_file(path) -> None:
    """ConfigError naming ``path`` and the line when the file is not a YAML mapping (Snakemake's own message
    for a malformed or empty config file names neither)."""
    import yaml

    try:
        text = open(path, encoding="utf-8").read()
    except OSError as err:
        raise ConfigError(f"{path}: cannot be read ({err.strerror})") from err
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{path}{where}: not valid YAML ({problem})") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty; a config needs at least 'datasets:'")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the file holds a {type(data).__name__}, not the mapping of keys a config is")


def config_source(configfiles, overrides) -> str:
    """What the config came from, for messages: its files, and the --config overrides where given."""
    files = ", ".join(map(str, configfiles)) or "config.yaml"
    if overrides:
        given = " ".join(f"{k}={v}" for k, v in dict(overrides).items())
        return f"{files} with the --config overrides {given}"
    return files


def validate(config: dict, source: str = "config") -> None:
    """Validate against the JSON schema; the error names the offending key path and value only."""
    import jsonschema

    # JSON Schema counts 5.0 as an integer; the settings would then carry a float into range() or a batch size
    # hours later, so an integer here is an int (and never a bool).
    strict = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda checker, value: isinstance(value, int) and not isinstance(value, bool))
    validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=strict)(load_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        hint = ""
        if isinstance(error.instance, float) and error.instance.is_integer() and "integer" in str(error.validator_value):
            hint = f" (write {int(error.instance)}, without the decimal point)"
        elif isinstance(error.instance, int) and where.split(".")[-2:-1] == ["sha256"]:
            hint = " (YAML reads a sha256 of digits only as a number: quote it)"
        raise ConfigError(f"{source}: {where}: {error.message}{hint}")


# ---------------------------------------------------------------- data sets and models
def dataset(config: dict, name: str) -> dict:
    return config["datasets"][name]


def dataset_eps(config: dict, name: str) -> list[str]:
    return [format_eps(e) for e in dataset(config, name)["eps"]]


def model_names(config: dict, name: str) -> list[str]:
    return list(dataset(config, name)["models"])


def model_eps(config: dict, name: str, model: str) -> list[str]:
    """The ε a model exists at: its own `eps` list, else every ε of the data set."""
    own = model_settings(config, name, model).eps
    if own is not None:
        return [format_eps(e) for e in own]
    return dataset_eps(config, name)


def models_at(config: dict, name: str, eps: str) -> list[str]:
    """The models of a data set that exist at ε, in config order."""
    key = format_eps(eps)
    return [m for m in model_names(config, name) if key in model_eps(config, name, m)]


def pairs_at(config: dict, name: str, eps: str, ordered: bool = False) -> list[tuple[str, str]]:
    models = models_at(config, name, eps)
    if ordered:
        return [(a, b) for a in models for b in models if a != b]
    return [(a, b) for i, a in enumerate(models) for b in models[i + 1:]]


def source_settings(config: dict, name: str) -> dict:
    """The data source and its options (path, classes, ...) of one data set."""
    ds = dataset(config, name)
    return {"source": ds["source"], **{k: ds[k] for k in sources.get_source(ds["source"]).options if k in ds}}


def source_params(config: dict, name: str) -> dict:
    """:func:`source_settings` without the options that only say where the data lies (a job's params: moving
    the data reruns nothing; jobs check its content against the data set's summary)."""
    return sources.what_it_is(source_settings(config, name))


def model_settings(config: dict, name: str, model: str) -> st.ModelSettings:
    """One configured model: what builds it (arch, width, seed) and what plans its jobs."""
    return st.build(st.ModelSettings, dataset(config, name)["models"][model], where=f"datasets.{name}.models.{model}")


def dataset_settings(config: dict, name: str) -> st.DatasetSettings:
    ds = dataset(config, name)
    keys = {f.name for f in st.fields(st.DatasetSettings)}
    return st.build(st.DatasetSettings, {k: v for k, v in ds.items() if k in keys}, where=f"datasets.{name}")


def training_settings(config: dict, name: str, model: str, eps) -> st.TrainSettings:
    """Source defaults < data set's `training` < model's `training`; ε and seed from the job."""
    ds = dataset(config, name)
    entry = model_settings(config, name, model)
    return st.build(st.TrainSettings, sources.get_source(ds["source"]).training_defaults, ds.get("training"),
                    entry.training, {"eps": float(eps), "seed": entry.seed,
                                     "threat": dataset_settings(config, name).threat},
                    where=f"datasets.{name}.models.{model}.training")


def _section(config: dict, name: str, section: str):
    return st.build(st.SECTIONS[section], dataset(config, name).get(section), where=f"datasets.{name}.{section}")


def evaluation_settings(config: dict, name: str) -> st.EvaluationSettings:
    return st.replace(_section(config, name, "evaluation"), threat=dataset_settings(config, name).threat)


def inversion_settings(config: dict, name: str) -> st.InversionSettings:
    return _section(config, name, "inversion")


def inversion_shards(config: dict, name: str) -> list[tuple[int, int]]:
    """[start, stop) rows of the comparison inputs that each inversion job of data set ``name`` inverts."""
    return inversion_settings(config, name).shards(dataset_settings(config, name).n_inputs)


def similarity_settings(config: dict, name: str) -> st.SimilaritySettings:
    settings = _section(config, name, "similarity")
    n = dataset_settings(config, name).n_inputs
    return st.replace(settings, rtd_batch=min(settings.rtd_batch, n))


def catalogue_settings(config: dict, name: str) -> st.CatalogueSettings:
    return _section(config, name, "catalogue")


MEASURE_GROUPS = {"paper": "the paper's measures (what compare_models writes)",
                  "catalogue": "every catalogue measure (kNN measures at k = 10)"}


def chosen_measures(config: dict, name: str) -> Optional[list[str]]:
    """``similarity.measures`` of a data set, with the groups ``paper`` and ``catalogue`` spelt out (None: not
    given, i.e. the paper's measures as compare_models writes them)."""
    chosen = similarity_settings(config, name).measures
    if chosen is None:
        return None
    similarity = similarity_settings(config, name)
    paper = [m for m, e in measures.MEASURES.items() if e.kind == measures.REPRESENTATIONS
             and m not in measures.catalogue_measures() and measures.jaccard_k(m) is None
             and (m != measures.RTD or similarity.rtd)]
    groups = {"paper": paper + [measures.jaccard_name(k) for k in similarity.jaccard_k],
              "catalogue": measures.catalogue_measures()}
    return list(dict.fromkeys(m for entry in chosen for m in groups.get(entry, [entry])))


def catalogue_jobs(config: dict, name: str) -> list[str]:
    """The catalogue comparisons the chosen measures need, one job per pair each, in registry order: a family
    (robuniv.catalogue), and for the kNN family one job per k (``neighbours@<k>``), so that a measure at a new
    k, or a new family, plans only its own jobs."""
    chosen = chosen_measures(config, name) or ()
    jobs = []
    for family in measures.families(chosen):
        if family not in measures.CATALOGUE_FAMILIES:
            continue
        if family == "neighbours":
            ks = sorted({measures.split_k(m)[1] for m in chosen if measures.measure(m).family == family})
            jobs += [measures.at_k(family, k) for k in ks]
        else:
            jobs.append(family)
    return jobs


def family_params(config: dict, name: str, job: str) -> dict:
    """What one catalogue job (:func:`catalogue_jobs`) takes as params: its family's settings, and for the
    kNN family its k (so adding a measure of another family changes none of its jobs)."""
    family, k = job.partition("@")[0], job.partition("@")[2]
    params = catalogue_settings(config, name).of_family(family)
    if k:
        params["ks"] = [int(k)]
    return params


def _check_measures(config: dict, name: str) -> None:
    where = f"datasets.{name}.similarity.measures"
    chosen = chosen_measures(config, name)
    if chosen is None:
        return
    similarity, n = similarity_settings(config, name), dataset_settings(config, name).n_inputs
    for m in chosen:
        try:
            entry = measures.measure(m)
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from None
        base, k = measures.split_k(m)
        if base == measures.JACCARD and k not in similarity.jaccard_k:
            raise ConfigError(f"{where}: {m} needs k = {k} in datasets.{name}.similarity.jaccard_k "
                              f"({list(similarity.jaccard_k)})")
        if k is not None and k >= n:
            raise ConfigError(f"{where}: {m}: k must be < n_inputs ({n})")
        if m == measures.RTD and not similarity.rtd:
            raise ConfigError(f"{where}: rtd is chosen, but datasets.{name}.similarity.rtd is false")
        if entry.kind == measures.PREDICTIONS:
            raise ConfigError(f"{where}: {m} is a prediction measure; agreement and jsd_sim are always reported "
                              "(figures 1 and 3 need them): list representation measures only")


def knn_k(config: dict, name: str) -> int:
    """Size of the per-model kNN graph: the largest Jaccard k (one graph serves every k)."""
    return max(similarity_settings(config, name).jaccard_k)


def subgroup_settings(config: dict, name: str) -> st.SubgroupSettings:
    return _section(config, name, "subgroups")


def subgroup_eps(config: dict, name: str) -> list[str]:
    eps = subgroup_settings(config, name).eps
    return [format_eps(e) for e in eps] if eps is not None else dataset_eps(config, name)


def probe_settings(config: dict, name: str) -> st.ProbeSettings:
    return _section(config, name, "probes")


def probe_eps(config: dict, name: str) -> str:
    eps = probe_settings(config, name).eps
    return format_eps(eps if eps is not None else max(dataset(config, name)["eps"]))


def figure_model(config: dict, name: str) -> str:
    """The model of the inversion-by-ε figure (paper figure 2): configured, else the first model at every ε."""
    chosen = dataset_settings(config, name).figure_model
    everywhere = [m for m in model_names(config, name) if model_eps(config, name, m) == dataset_eps(config, name)]
    if chosen is not None:
        if chosen not in model_names(config, name):
            raise ConfigError(f"datasets.{name}.figure_model: no model {chosen!r}")
        return chosen
    return everywhere[0] if everywhere else model_names(config, name)[0]


def figure_settings(config: dict) -> st.FigureSettings:
    settings = st.build(st.FigureSettings, config.get("figures"), where="figures")
    for name in settings.measures or ():
        try:
            entry = measures.measure(name)
        except ValueError as err:
            raise ConfigError(f"figures.measures: {err}") from None
        if entry.kind != measures.REPRESENTATIONS:
            raise ConfigError(f"figures.measures: {name} is a prediction measure (figures 1 and 3 draw those)")
    return settings


def spearman_settings(config: dict) -> st.SpearmanSettings:
    return st.build(st.SpearmanSettings, config.get("spearman"), where="spearman")


def checkpoint_url(config: dict, name: str, model: str, eps) -> Optional[str]:
    """The URL (or local path) to fetch for (model, ε), or None when the model is trained at that ε.

    ``checkpoint`` is a template with ``{eps}`` (every ε) or a mapping ε -> URL (those ε only).
    """
    spec = model_settings(config, name, model).checkpoint
    if spec is None:
        return None
    key = format_eps(eps)
    if isinstance(spec, str):
        return spec.replace("{eps}", key)
    for k, url in spec.items():
        if format_eps(k) == key:
            return url
    return None


def checkpoint_sha256(config: dict, name: str, model: str, eps) -> Optional[str]:
    sums = model_settings(config, name, model).sha256 or {}
    for k, value in sums.items():
        if format_eps(k) == format_eps(eps):
            return value.lower()
    return None


def rule_resource(config: dict, name: str, rule: str, key: str, default):
    return (dataset(config, name).get("resources") or {}).get(rule, {}).get(key, default)


# ---------------------------------------------------------------- checks the schema cannot express
def check_config(config: dict) -> None:
    """Relations between keys; raises :class:`ConfigError` naming the key."""
    figure_settings(config)
    spearman_settings(config)
    for name, ds in config["datasets"].items():
        where = f"datasets.{name}"
        check_name(name, "datasets")
        source = sources.get_source(ds["source"])
        foreign = [k for k in sources.option_keys() if k in ds and k not in source.options]
        if foreign:
            raise ConfigError(f"{where}.{foreign[0]}: data source {source.name!r} does not read this key "
                              f"(its options: {', '.join(source.options) or 'none'})")
        keys = dataset_eps(config, name)
        if len(set(keys)) != len(keys):
            raise ConfigError(f"{where}.eps: repeated ε in {ds['eps']}")
        dataset_settings(config, name)
        for section in st.SECTIONS:
            if section != "training":
                _section(config, name, section)
        n = dataset_settings(config, name).n_inputs
        if max(similarity_settings(config, name).jaccard_k) >= n:
            raise ConfigError(f"{where}.similarity.jaccard_k: every k must be < n_inputs ({n})")
        _check_measures(config, name)
        groups = subgroup_settings(config, name)
        if groups.min_size < groups.k + 1:
            raise ConfigError(f"{where}.subgroups.min_size: {groups.min_size} is below subgroups.k + 1 "
                              f"({groups.k + 1}): a subgroup that small has no {groups.k} neighbours, so every "
                              "measure would be missing")
        for e in subgroup_eps(config, name):
            if e not in keys:
                raise ConfigError(f"{where}.subgroups.eps: ε {e} is not in {where}.eps")
        figure_model(config, name)
        if probe_eps(config, name) not in keys:
            raise ConfigError(f"{where}.probes.eps: ε {probe_eps(config, name)} is not in {where}.eps")
        for model, entry in ds["models"].items():
            mwhere = f"{where}.models.{model}"
            check_name(model, f"{where}.models")
            _check_arch(entry, mwhere)
            own = model_eps(config, name, model)
            extra = sorted(set(own) - set(keys), key=float)
            if extra:
                raise ConfigError(f"{mwhere}.eps: ε {', '.join(extra)} not in {where}.eps")
            for e in own:
                training_settings(config, name, model, e)
            spec = entry.get("checkpoint")
            if isinstance(spec, dict):
                extra = sorted(set(format_eps(k) for k in spec) - set(own), key=float)
                if extra:
                    raise ConfigError(f"{mwhere}.checkpoint: ε {', '.join(extra)} is not an ε of this model")
            elif isinstance(spec, str):
                fields = set(re.findall(r"\{([^}]*)\}", spec))
                if fields - {"eps"}:
                    raise ConfigError(f"{mwhere}.checkpoint: unknown field(s) "
                                      f"{', '.join('{' + f + '}' for f in sorted(fields - {'eps'}))} in the URL "
                                      "template; only {eps} is filled in")
                if "eps" not in fields and len(own) > 1:
                    raise ConfigError(f"{mwhere}.checkpoint: a single URL needs '{{eps}}' in it "
                                      "(or give a mapping from ε to URL)")
            for k in entry.get("sha256") or {}:
                if format_eps(k) not in own:
                    raise ConfigError(f"{mwhere}.sha256: ε {format_eps(k)} is not an ε of this model")
                if checkpoint_url(config, name, model, k) is None:
                    raise ConfigError(f"{mwhere}.sha256: ε {format_eps(k)} is trained here, not downloaded; "
                                      "a sha256 is checked only for downloaded or placed checkpoints")
        train_gpu = rule_resource(config, name, "train_model", "gpu", None)
        if train_gpu not in (None, 0):
            raise ConfigError(f"{where}.resources.train_model.gpu: set GPUs of a training job with "
                              f"{where}.training.gpus (it is also the number of DDP processes); only gpu: 0 "
                              "(CPU-only) may be given here")
        if not any(len(models_at(config, name, e)) >= 2 for e in keys):
            raise ConfigError(f"{where}.models: at least two models must exist at one ε to compare anything "
                              f"(found {len(ds['models'])} model(s))")


def _check_arch(entry: dict, where: str) -> None:
    """A provider-qualified ``arch`` exists in its library (imported here only for such names); ``width`` and
    ``input_size`` fit the kind of model."""
    try:
        provider = providers.split(entry["arch"])
    except providers.ProviderError as err:
        raise ConfigError(f"{where}.arch: {err}") from None
    if provider is None:
        if entry.get("input_size") is not None:
            raise ConfigError(f"{where}.input_size: only provider models (timm:, torchvision:, robustbench:) take an input size; "
                              f"{entry['arch']!r} is built for the data set's images")
        return
    try:
        providers.check(entry["arch"])
    except providers.ProviderError as err:
        raise ConfigError(f"{where}.arch: {err}") from None
    except ImportError as err:
        raise ConfigError(f"{where}.arch: {entry['arch']!r} needs {provider[0]} installed ({err})") from None
    if float(entry.get("width", 1.0)) != 1.0:
        raise ConfigError(f"{where}.width: a provider model is built as its library defines it (width 1), "
                          f"got {entry['width']}")


# ---------------------------------------------------------------- one job's settings (what scripts call)
class JobSettings:
    """The settings objects of one Snakemake job: result fields from the job's params (what Snakemake
    compares between runs), execution fields and the data's location from the config (changing either
    reruns nothing). ``job`` is the ``snakemake`` object of a script (params, wildcards, config)."""

    def __init__(self, job):
        self.params, self.wildcards, self.config = job.params, job.wildcards, job.config
        self.dataset = self.wildcards.dataset

    def source(self) -> dict:
        """The data source with every option, its location included."""
        return source_settings(self.config, self.dataset)

    def model(self) -> st.ModelSettings:
        return st.from_params(st.ModelSettings, self.params.model)

    def dataset_settings(self) -> st.DatasetSettings:
        return st.from_params(st.DatasetSettings, self.params.dataset, dataset_settings(self.config, self.dataset))

    def training(self) -> st.TrainSettings:
        w = self.wildcards
        return st.from_params(st.TrainSettings, self.params.training,
                              training_settings(self.config, self.dataset, w.model, w.eps))

    def evaluation(self) -> st.EvaluationSettings:
        return st.from_params(st.EvaluationSettings, self.params.evaluation,
                              evaluation_settings(self.config, self.dataset))


# ---------------------------------------------------------------- what a run needs that is not there
def local_checkpoint(url: Optional[str], root=".") -> Optional[Path]:
    """The local file a checkpoint URL names (a path or a ``file://`` URL); ``None`` for a trained model or
    one the workflow downloads."""
    if url is None or "://" in url and not url.startswith("file://"):
        return None
    return Path(root) / url.removeprefix("file://")


def absent_inputs(config: dict, root=".") -> list[str]:
    """What the planned jobs need from outside the workflow that is not in place (relative to ``root``): each
    data set's data (its source's ``path``; CIFAR-10 with ``download: true`` fetches it) and each checkpoint
    given as a local file. One line each, naming the key, the path and what belongs there; a dry run prints
    them, so that a missing ImageNet tree shows before the jobs are submitted, not when the first one runs."""
    from pathlib import Path

    lines = []
    for name in config.get("datasets", {}):
        settings, where = source_settings(config, name), f"datasets.{name}"
        source = sources.get_source(settings["source"])
        location = settings.get("path")
        if location is not None and not (Path(root) / location).exists() and not settings.get("download"):
            lines.append(f"{where}.path: {location} does not exist; place the data there ({source.name}: "
                         f"{source.summary})")
        for model in model_names(config, name):
            for eps in model_eps(config, name, model):
                url = checkpoint_url(config, name, model, eps)
                local = local_checkpoint(url, root)
                if local is not None and not local.exists():
                    lines.append(f"{where}.models.{model}.checkpoint: ε {eps}: {url} does not exist; place the "
                                 "checkpoint there or give its URL")
    return lines


if __name__ == "__main__":  # python -m robuniv.config FILE...: check config files before Snakemake reads them
    import sys

    import yaml

    for arg in sys.argv[1:]:
        try:
            check_yaml_file(arg)
            validate(yaml.safe_load(open(arg, encoding="utf-8")), arg)
        except ConfigError as err:
            sys.exit(str(err))
        print(f"{arg}: valid")

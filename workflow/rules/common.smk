# Shared by the rules: config checks, path templates, wildcard constraints and named input functions.
# Each function returns only what one job needs, so adding a model or an ε leaves other jobs' params alone.
import glob
import os
import sys

from robuniv import config as rc
from robuniv import catalog
from robuniv.provenance import DigestCache, check_checkpoints
from robuniv.measures import CATALOGUE_FAMILIES
from robuniv.settings import as_params

rc.check_config(config)
for line in rc.absent_inputs(config):  # said at plan time (dry runs too), before any job is submitted
    print(f"robuniv: not in place: {line}", file=sys.stderr)

# HDF5 file locking fails on many network file systems (NFS, Lustre).
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

ENV = "../../envs/robuniv.yaml"

# Every path of the workflow, once. Rules use these templates; aggregations expand them.
PATHS = {
    "dataset": "results/{dataset}/dataset.json",
    "inputs": "results/{dataset}/inputs.h5",
    "downloaded": "resources/checkpoints/{dataset}/eps{eps}/{model}.ckpt",
    "trained": "results/{dataset}/eps{eps}/models/{model}.ckpt",
    "resume": "results/{dataset}/eps{eps}/models/.resume/{model}.ckpt",
    "evaluation": "results/{dataset}/eps{eps}/eval/{model}.json",
    # one file per shard of a model's targets (inversion.shard_size rows each); downstream reads them as one set
    "inverted": "results/{dataset}/eps{eps}/inverted/{model}/targets{rows}.h5",
    "activations": "results/{dataset}/eps{eps}/activations/{model}/{inputs}.h5",
    "knn": "results/{dataset}/eps{eps}/knn/{model}/{inputs}.h5",
    "summary": "results/{dataset}/eps{eps}/summaries/{model}/{inputs}.h5",
    "comparison": "results/{dataset}/eps{eps}/similarity/{kind}/{model_a}__{model_b}.csv",
    "catalogue_comparison": "results/{dataset}/eps{eps}/similarity/{kind}/{family}/{model_a}__{model_b}.csv",
    "subgroups": "results/{dataset}/eps{eps}/subgroups/{model_a}__{model_b}.csv",
    "train_features": "results/{dataset}/eps{eps}/features_train/{model}.h5",
    "probe": "results/{dataset}/eps{eps}/probes/{model}.h5",
    # Tables and figures per data set: studies in other configs (other data sets) never replace them.
    "table": "results/{dataset}/tables/{name}.csv",
    "figure": "results/{dataset}/figures/{name}.{fmt}",
    "inversion_figure": "results/{dataset}/figures/inversions_eps{eps}.{fmt}",
    "inversion_eps_figure": "results/{dataset}/figures/fig2_inversions.{fmt}",
    "log": "logs/{dataset}/eps{eps}/{rule}/{job}.log",
    "eps_log": "logs/{dataset}/eps{eps}/{rule}.log",
    "dataset_log": "logs/{dataset}/{rule}.log",
    "benchmark": "logs/{dataset}/eps{eps}/{rule}/{job}.benchmark.tsv",
}


def path(template, **fields):
    """A path template with some or all of its fields filled in."""
    return PATHS[template].format_map(_Partial(fields))


class _Partial(dict):
    def __missing__(self, key):
        return f"{{{key}}}"


def job_log(rule, job="{model}"):
    return path("log", rule=rule, job=job)


def job_benchmark(rule, job="{model}"):
    return path("benchmark", rule=rule, job=job)


wildcard_constraints:
    dataset=rc.NAME_PATTERN,
    eps=rc.EPS_PATTERN,
    model=rc.NAME_PATTERN,
    model_a=rc.NAME_PATTERN,
    model_b=rc.NAME_PATTERN,
    kind="regular|inverted",
    inputs=f"regular|inverted-{rc.NAME_PATTERN}",
    name=r"[A-Za-z0-9_]+",
    rows=r"\d+-\d+",
    family="|".join(f for f in CATALOGUE_FAMILIES if f != "neighbours") + r"|neighbours@[1-9][0-9]*",


# ---------------------------------------------------------------- config lookups
def datasets():
    return list(config["datasets"])


def eps_levels(dataset):
    return rc.dataset_eps(config, dataset)


def models_at(dataset, eps):
    return rc.models_at(config, dataset, eps)


def rule_threads(rule_name):
    return int(config.get("threads", {}).get(rule_name, 1))


def _overridden(rule_name, key):
    return any(key in (ds.get("resources") or {}).get(rule_name, {}) for ds in config["datasets"].values())


def job_resources(rule_name, **given):
    """mem_mb, runtime and gpu of a rule's jobs: catalog.RULES' defaults, overridden per data set by
    `datasets.<ds>.resources.<rule>` (a rule without a {dataset} wildcard takes the defaults); `gpu` only for
    rules that use one or where the config sets it. `given` replaces a lookup (train_model's GPUs)."""
    spec = catalog.RULES[rule_name]
    out = {}
    for key in ("mem_mb", "runtime", "gpu"):
        default = getattr(spec, key)
        if key == "gpu" and not default and not _overridden(rule_name, key):
            continue
        out[key] = _resource_lookup(rule_name, key, default)
    return out | given


def _resource_lookup(rule_name, key, default):
    def lookup(wildcards):
        if "dataset" not in wildcards.keys():
            return default
        return rc.rule_resource(config, wildcards.dataset, rule_name, key, default)

    return lookup


# ---------------------------------------------------------------- params of one job
def get_source(wildcards):
    """What the data set is (its location stays out: moved data reruns nothing; jobs check its content)."""
    return rc.source_params(config, wildcards.dataset)


def get_model(wildcards):
    return as_params(rc.model_settings(config, wildcards.dataset, wildcards.model))


def get_dataset_settings(wildcards):
    return as_params(rc.dataset_settings(config, wildcards.dataset))


def get_training(wildcards):
    return as_params(rc.training_settings(config, wildcards.dataset, wildcards.model, wildcards.eps))


def get_evaluation(wildcards):
    return as_params(rc.evaluation_settings(config, wildcards.dataset))


def get_inversion(wildcards):
    return as_params(rc.inversion_settings(config, wildcards.dataset))


def shard_name(rows):
    return f"{rows[0]}-{rows[1]}"


def get_similarity(wildcards):
    return as_params(rc.similarity_settings(config, wildcards.dataset))


def get_training_gpus(wildcards):
    """GPUs of a training job: the training setting `gpus` (also the number of DDP processes); 0 where the
    data set's resources say gpu: 0 (CPU-only, e.g. a test cluster)."""
    if rc.rule_resource(config, wildcards.dataset, "train_model", "gpu", None) == 0:
        return 0
    return rc.training_settings(config, wildcards.dataset, wildcards.model, wildcards.eps).gpus


def get_knn_k(wildcards):
    return rc.knn_k(config, wildcards.dataset)


def subgroup_params(dataset):
    return as_params(rc.subgroup_settings(config, dataset))


def get_rtd_settings(wildcards):
    """What the subgroup comparisons use of the similarity settings (a Jaccard k change must not rerun them)."""
    settings = get_similarity(wildcards)
    return {key: settings[key] for key in ("rtd", "rtd_trials", "rtd_batch", "rtd_seed")}


def get_subgroups(wildcards):
    return subgroup_params(wildcards.dataset)


def get_probes(wildcards):
    return as_params(rc.probe_settings(config, wildcards.dataset))


def get_checkpoint_url(wildcards):
    return rc.checkpoint_url(config, wildcards.dataset, wildcards.model, wildcards.eps)


def get_checkpoint_sha256(wildcards):
    return rc.checkpoint_sha256(config, wildcards.dataset, wildcards.model, wildcards.eps)


def get_figure_settings():
    return as_params(rc.figure_settings(config))


def get_spearman_settings():
    return as_params(rc.spearman_settings(config))


# ---------------------------------------------------------------- input functions
def get_checkpoint(wildcards):
    """The checkpoint of (dataset, ε, model): fetched where the config gives a URL, else trained."""
    if wildcards.eps not in rc.model_eps(config, wildcards.dataset, wildcards.model):
        raise ValueError(
            f"model {wildcards.model!r} of data set {wildcards.dataset!r} does not exist at "
            f"ε {wildcards.eps} (datasets.{wildcards.dataset}.models.{wildcards.model}.eps)"
        )
    return checkpoint_path(wildcards.dataset, wildcards.eps, wildcards.model)


def checkpoint_path(dataset, eps, model):
    template = "downloaded" if rc.checkpoint_url(config, dataset, model, eps) is not None else "trained"
    return path(template, dataset=dataset, eps=eps, model=model)


def get_activation_inputs(wildcards):
    """Checkpoint, comparison inputs, and for inverted-<source> the source model's inverted images."""
    files = {"checkpoint": get_checkpoint(wildcards), "inputs": path("inputs", dataset=wildcards.dataset)}
    if wildcards.inputs != "regular":
        source = wildcards.inputs[len("inverted-") :]
        if source not in models_at(wildcards.dataset, wildcards.eps):
            raise ValueError(
                f"input set {wildcards.inputs}: no model {source!r} at ε {wildcards.eps} "
                f"in datasets.{wildcards.dataset}"
            )
        files["images"] = inverted_shards(wildcards.dataset, wildcards.eps, source)
    return files


def get_comparison_inputs(wildcards):
    """Activations, kNN graphs and summaries of both models: regular images, or A's inverted images for both."""
    inputs = "regular" if wildcards.kind == "regular" else f"inverted-{wildcards.model_a}"
    fields = dict(dataset=wildcards.dataset, eps=wildcards.eps, inputs=inputs)
    return {
        "act_a": path("activations", model=wildcards.model_a, **fields),
        "act_b": path("activations", model=wildcards.model_b, **fields),
        "knn_a": path("knn", model=wildcards.model_a, **fields),
        "knn_b": path("knn", model=wildcards.model_b, **fields),
        "summary_a": path("summary", model=wildcards.model_a, **fields),
        "summary_b": path("summary", model=wildcards.model_b, **fields),
    }


def get_subgroup_inputs(wildcards):
    fields = dict(dataset=wildcards.dataset, eps=wildcards.eps, inputs="regular")
    return {
        "act_a": path("activations", model=wildcards.model_a, **fields),
        "act_b": path("activations", model=wildcards.model_b, **fields),
    }


def get_probe_inputs(wildcards):
    fields = dict(dataset=wildcards.dataset, eps=wildcards.eps, model=wildcards.model)
    return {"train": path("train_features", **fields), "regular": path("activations", inputs="regular", **fields)}


def inverted_shards(dataset, eps, model):
    """The files of one model's inverted images, one per shard of its targets, in row order."""
    return [
        path("inverted", dataset=dataset, eps=eps, model=model, rows=shard_name(rows))
        for rows in rc.inversion_shards(config, dataset)
    ]


def get_inverted_images(wildcards):
    """Every model's inverted-image files at (data set, ε), by model."""
    return {
        f"model:{m}": inverted_shards(wildcards.dataset, wildcards.eps, m)
        for m in models_at(wildcards.dataset, wildcards.eps)
    }


def get_inversion_models(wildcards):
    return models_at(wildcards.dataset, wildcards.eps)


def get_figure_model(wildcards):
    return rc.figure_model(config, wildcards.dataset)


def get_figure_model_inversions(wildcards):
    """The figure model's inverted images at each ε it exists at, by ε."""
    model = get_figure_model(wildcards)
    return {
        f"eps:{e}": inverted_shards(wildcards.dataset, e, model) for e in rc.model_eps(config, wildcards.dataset, model)
    }


# ---------------------------------------------------------------- aggregations (one data set each)
def get_evaluations(wildcards):
    d = wildcards.dataset
    return [path("evaluation", dataset=d, eps=e, model=m) for e in eps_levels(d) for m in models_at(d, e)]


def get_family_params(wildcards):
    return rc.family_params(config, wildcards.dataset, wildcards.family)


def get_chosen_measures(wildcards):
    return rc.chosen_measures(config, wildcards.dataset)


def get_catalogue_inputs(wildcards):
    """Both models' activations: regular images, or A's inverted images for both."""
    inputs = get_comparison_inputs(wildcards)
    return {"act_a": inputs["act_a"], "act_b": inputs["act_b"]}


def get_catalogue_comparisons(wildcards):
    """Per catalogue job (a family, or the kNN family at one k), one table per pair as for get_comparisons."""
    d = wildcards.dataset
    return [t for f in rc.catalogue_jobs(config, d) for t in pair_targets(d, "catalogue_comparison", family=f)]


def get_comparisons(wildcards):
    return pair_targets(wildcards.dataset, "comparison")


def pair_targets(d, template, **fields):
    """One file per regular unordered pair and per inverted ordered pair, at every ε of the data set."""
    out = []
    for e in eps_levels(d):
        out += [
            path(template, dataset=d, eps=e, kind="regular", model_a=a, model_b=b, **fields)
            for a, b in rc.pairs_at(config, d, e)
        ]
        out += [
            path(template, dataset=d, eps=e, kind="inverted", model_a=a, model_b=b, **fields)
            for a, b in rc.pairs_at(config, d, e, ordered=True)
        ]
    return out


def get_all_subgroups(wildcards):
    d = wildcards.dataset
    return [
        path("subgroups", dataset=d, eps=e, model_a=a, model_b=b)
        for e in rc.subgroup_eps(config, d)
        for a, b in rc.pairs_at(config, d, e)
    ]


def get_all_probes(wildcards):
    d, e = wildcards.dataset, rc.probe_eps(config, wildcards.dataset)
    return [path("probe", dataset=d, eps=e, model=m) for m in models_at(d, e)]


def get_regular_activations(wildcards):
    d = wildcards.dataset
    return [
        path("activations", dataset=d, eps=e, model=m, inputs="regular") for e in eps_levels(d) for m in models_at(d, e)
    ]


def get_subgroups_of_dataset(wildcards):
    return {wildcards.dataset: subgroup_params(wildcards.dataset)}


def table(name):
    return path("table", name=name)


def tables_of(rule_name):
    return {name: table(name) for name in catalog.TABLES_BY_RULE[rule_name]}


def report_table(name):
    caption, category = f"../report/{name}.rst", catalog.TABLES[name].category
    return report(table(name), caption=caption, category=category, subcategory="{dataset}")


def figure_outputs(rule_name):
    """Named outputs (one per figure and format) of a figure rule; the PNGs go into the report."""
    formats = rc.figure_settings(config).formats
    out = {}
    for name in catalog.FIGURES_BY_RULE[rule_name]:
        for fmt in formats:
            target = path("figure", name=name, fmt=fmt)
            if fmt == "png":
                caption, category = f"../report/{name}.rst", catalog.FIGURES[name].category
                target = report(target, caption=caption, category=category, subcategory="{dataset}")
            out[f"{name}_{fmt}"] = target
    return out


def per_dataset_figure_outputs(template, caption):
    """One output per format of a figure made per data set (and ε); the PNG goes into the report."""
    out = {}
    for fmt in rc.figure_settings(config).formats:
        target = path(template, fmt=fmt)
        if fmt == "png":
            target = report(target, caption=caption, category="Inversions", subcategory="{dataset}")
        out[fmt] = target
    return out


def all_figures():
    formats = rc.figure_settings(config).formats
    out = [
        path("figure", dataset=d, name=name, fmt=fmt) for d in datasets() for name in catalog.FIGURES for fmt in formats
    ]
    out += [path("inversion_eps_figure", dataset=d, fmt=fmt) for d in datasets() for fmt in formats]
    out += [
        path("inversion_figure", dataset=d, eps=e, fmt=fmt)
        for d in datasets()
        for e in eps_levels(d)
        for fmt in formats
    ]
    return out


def all_targets():
    tables = [path("table", dataset=d, name=name) for d in datasets() for name in catalog.TABLES]
    return [*tables, *all_figures()]


# ---------------------------------------------------------------- checkpoints replaced behind Snakemake's back
def made_from_checkpoints():
    """(checkpoint, the files made from it) for every configured model and ε (robuniv.provenance)."""
    for d in datasets():
        for m in rc.model_names(config, d):
            for e in rc.model_eps(config, d, m):
                fields = dict(dataset=d, eps=e, model=m)
                made = [path(t, **fields) for t in ("evaluation", "train_features", "probe")]
                made += glob.glob(path("inverted", **fields, rows="*")) + glob.glob(
                    path("activations", **fields, inputs="*")
                )
                yield checkpoint_path(d, e, m), made


def local_checkpoint_copies():
    """(a checkpoint file named in the config, the workflow's copy of it)."""
    for d in datasets():
        for m in rc.model_names(config, d):
            for e in rc.model_eps(config, d, m):
                local = rc.local_checkpoint(rc.checkpoint_url(config, d, m, e))
                if local is not None:
                    yield local, path("downloaded", dataset=d, eps=e, model=m)


# Said at plan time, before any job runs: a checkpoint replaced by an older-dated file would otherwise leave
# every file made from the old weights in place. The usual plan costs a stat per file; digests are cached.
check_checkpoints(made_from_checkpoints(), local_checkpoint_copies(), DigestCache(".snakemake/robuniv/sha256.json"))

# Helpers shared by the rules: config lookups, input functions, wildcard constraints.
# Each helper returns only what one job needs, so adding a model or an ε leaves other jobs' params alone.
import os

from robuniv import config as rc

rc.check_config(config)

# HDF5 file locking fails on many network file systems (NFS, Lustre).
os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

ENV = "../../envs/robuniv.yaml"


wildcard_constraints:
    dataset=r"[^/]+",
    eps=r"[0-9]+(\.[0-9]+)?",
    model=r"[^/]+",


def datasets():
    return list(config["datasets"])


def eps_levels(dataset):
    return rc.dataset_eps(config, dataset)


def model_names(dataset):
    return list(config["datasets"][dataset]["models"])


def rule_threads(rule_name):
    return int(config.get("threads", {}).get(rule_name, 1))


def rule_resource(rule_name, key, default):
    """A resource of a rule's job, from `datasets.<ds>.resources.<rule>.<key>` or the default."""

    def lookup(wildcards):
        per_dataset = config["datasets"][wildcards.dataset].get("resources", {})
        return per_dataset.get(rule_name, {}).get(key, default)

    return lookup


# ---------------------------------------------------------------- models
def downloaded_checkpoint(dataset, eps, model):
    return f"resources/checkpoints/{dataset}/eps{eps}/{model}.ckpt"


def trained_checkpoint(dataset, eps, model):
    return f"results/{dataset}/eps{eps}/models/{model}.ckpt"


def model_checkpoint(wildcards):
    """The checkpoint of (dataset, ε, model): downloaded where the config gives a URL, else trained."""
    d, e, m = wildcards.dataset, wildcards.eps, wildcards.model
    if rc.checkpoint_url(config, d, m, e) is not None:
        return downloaded_checkpoint(d, e, m)
    return trained_checkpoint(d, e, m)


def model_spec(wildcards):
    return rc.model_spec(config, wildcards.dataset, wildcards.model)


def source_settings(wildcards):
    return rc.source_settings(config, wildcards.dataset)


def models_at(dataset, eps):
    return model_names(dataset)


# ---------------------------------------------------------------- targets
def eval_jsons():
    return [f"results/{d}/eps{e}/eval/{m}.json"
            for d in datasets() for e in eps_levels(d) for m in model_names(d)]


def all_targets():
    return ["results/tables/accuracy.csv"]

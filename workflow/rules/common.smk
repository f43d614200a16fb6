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
    model_a=r"(?:(?!__)[^/])+",
    model_b=r"(?:(?!__)[^/])+",
    inputs=r"regular|inverted-[^/]+",

ANALYSIS_FIGURES = ["fig5_subgroups", "fig6_probes", "fig7_agreement_bounds"]
FIGURES = ["fig1_predictions_regular", "fig3_predictions_inverted", "fig4_representations", "fig8_jaccard_k"]


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


def activation_inputs(wildcards):
    """Checkpoint, comparison inputs, and for inverted-<source> the source model's inverted images."""
    files = {"checkpoint": model_checkpoint(wildcards), "inputs": f"results/{wildcards.dataset}/inputs.h5"}
    if wildcards.inputs != "regular":
        source = wildcards.inputs[len("inverted-"):]
        if source not in config["datasets"][wildcards.dataset]["models"]:
            raise ValueError(f"input set {wildcards.inputs}: no model {source!r} in datasets.{wildcards.dataset}")
        files["images"] = f"results/{wildcards.dataset}/eps{wildcards.eps}/inverted/{source}.h5"
    return files


def comparison_tables():
    """One table per regular unordered pair and per inverted ordered pair, for every data set and ε."""
    out = []
    for d in datasets():
        models = model_names(d)
        for e in eps_levels(d):
            base = f"results/{d}/eps{e}/similarity"
            out += [f"{base}/regular/{a}__{b}.csv" for i, a in enumerate(models) for b in models[i + 1:]]
            out += [f"{base}/inverted/{a}__{b}.csv" for a in models for b in models if a != b]
    return out


def figure_outputs(names):
    """Figure files in every configured format; the PNGs go into the Snakemake report with a caption."""
    out = []
    for name in names:
        for fmt in rc.figure_settings(config)["formats"]:
            path = f"results/figures/{name}.{fmt}"
            out.append(report(path, caption=f"../report/{name}.rst", category="Figures") if fmt == "png" else path)
    return out


def subgroup_tables():
    out = []
    for d in datasets():
        models = model_names(d)
        for e in rc.subgroup_settings(config, d)["eps"]:
            out += [f"results/{d}/eps{e}/subgroups/{a}__{b}.csv" for i, a in enumerate(models) for b in models[i + 1:]]
    return out


def probe_files():
    """(probe file, its metadata) for every model of every data set at the data set's probe ε."""
    out = []
    for d in datasets():
        e = rc.probe_settings(config, d)["eps"]
        out += [(f"results/{d}/eps{e}/probes/{m}.h5", {"dataset": d, "model": m, "eps": float(e)})
                for m in model_names(d)]
    return out


def figure_files():
    formats = rc.figure_settings(config)["formats"]
    out = [f"results/figures/{name}.{fmt}" for name in FIGURES + ANALYSIS_FIGURES for fmt in formats]
    out += [f"results/figures/inversions_{d}_eps{e}.{fmt}" for d in datasets() for e in eps_levels(d) for fmt in formats]
    return out


# ---------------------------------------------------------------- targets
def eval_jsons():
    return [f"results/{d}/eps{e}/eval/{m}.json"
            for d in datasets() for e in eps_levels(d) for m in model_names(d)]


def all_targets():
    return ["results/tables/accuracy.csv", "results/tables/similarity.csv", "results/tables/spearman.csv",
            "results/tables/subgroups.csv", "results/tables/subgroup_tests.csv", "results/tables/probes.csv",
            "results/tables/agreement_bounds.csv",
            *figure_files()]

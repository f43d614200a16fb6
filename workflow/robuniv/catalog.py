"""The tables and figures the workflow makes, by name, once (torch- and matplotlib-free).

The rules take their outputs from here, the plotting scripts look the figure functions up by these
names (``robuniv.plots.FIGURE_MAKERS``), and the report sorts them into these categories.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


def resolve(reference: str):
    """The object a ``"module:attribute"`` reference of a catalogue entry names (imported now, not before)."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


class Registry(dict):
    """Catalogue entries by their ``name``: each name once; looking up an unknown name lists the known ones."""

    def __init__(self, what: str, *, sort_known: bool = False):
        super().__init__()
        self.what, self.sort_known = what, sort_known

    def register(self, entry):
        if entry.name in self:
            raise ValueError(f"{self.what} {entry.name!r} is already registered")
        self[entry.name] = entry
        return entry

    def lookup(self, name):
        try:
            return self[name]
        except (KeyError, TypeError):
            known = sorted(self) if self.sort_known else list(self)
            raise ValueError(f"unknown {self.what} {name!r}; known: {', '.join(known)}") from None


@dataclass(frozen=True)
class Output:
    name: str
    rule: str  # the rule that writes it
    category: str  # section of the Snakemake report
    title: str


TABLES = {t.name: t for t in [
    Output("accuracy", "accuracy_table", "Accuracy", "Clean and adversarial accuracy (paper tables 1-3)"),
    Output("similarity", "similarity_tables", "Representations", "Every comparison, one row per measure"),
    Output("spearman", "similarity_tables", "Representations", "Spearman's rank correlation of each measure with ε"),
    Output("subgroups", "analysis_tables", "Subgroups", "Measures on the inputs where a pair agrees / disagrees"),
    Output("subgroup_tests", "analysis_tables", "Subgroups", "Paired permutation tests of the subgroups"),
    Output("probes", "analysis_tables", "Probes", "Agreement of linear probes and of the original classifiers"),
    Output("agreement_bounds", "analysis_tables", "Bounds", "Agreement and its bounds from the accuracies"),
]}

FIGURES = {f.name: f for f in [
    Output("fig1_predictions_regular", "plot_figures", "Predictions", "Agreement and JSDSim vs ε, regular images"),
    Output("fig3_predictions_inverted", "plot_figures", "Predictions", "Agreement and JSDSim vs ε, inverted images"),
    Output("fig4_representations", "plot_figures", "Representations", "Representational similarity vs ε"),
    Output("fig8_jaccard_k", "plot_figures", "Representations", "Jaccard similarity vs k"),
    Output("fig9_measure_agreement", "plot_figures", "Representations",
           "Agreement between measures on how they rank the model pairs"),
    Output("fig5_subgroups", "analysis_figures", "Subgroups", "Similarity where pairs agree vs disagree"),
    Output("fig6_probes", "analysis_figures", "Probes", "Agreement of linear probes vs original classifiers"),
    Output("fig7_agreement_bounds", "analysis_figures", "Bounds", "Agreement vs its bounds"),
]}

# The subgroups of analysis 4, by name (the ``subgroup`` column of subgroups.csv) with their plot labels.
AGREE, DISAGREE, AGREE_MATCHED = "agree", "disagree", "agree_matched"
SUBGROUPS = {
    AGREE: "agree",
    DISAGREE: "disagree",
    AGREE_MATCHED: "agree, size-matched to disagree",
}

CATEGORIES = ["Accuracy", "Predictions", "Representations", "Subgroups", "Probes", "Bounds", "Inversions"]


def _by_rule(outputs: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in outputs.values():
        out.setdefault(item.rule, []).append(item.name)
    return out


TABLES_BY_RULE = _by_rule(TABLES)
FIGURES_BY_RULE = _by_rule(FIGURES)


@dataclass(frozen=True)
class Rule:
    """One rule of the workflow and the resources of its jobs: ``mem_mb``, ``runtime`` (minutes) and ``gpu``
    (GPUs per job) are defaults that ``datasets.<d>.resources.<rule>`` overrides for a data set's jobs;
    ``local`` rules run on the submitting host (downloads, cheap aggregations)."""

    name: str
    mem_mb: int
    runtime: int
    gpu: int = 0
    local: bool = False


# Every rule but `all`, in the order of the stages; the Snakefile checks this table against its rules.
RULES = {r.name: r for r in [
    Rule("prepare_dataset", 4000, 60, local=True),
    Rule("prepare_inputs", 4000, 30),
    Rule("download_checkpoint", 8000, 120, local=True),
    Rule("train_model", 32000, 4320, gpu=1),  # its GPUs: the training setting `gpus`
    Rule("evaluate_model", 16000, 240, gpu=1),
    Rule("accuracy_table", 2000, 10, local=True),
    Rule("invert_images", 16000, 720, gpu=1),
    Rule("extract_activations", 16000, 30, gpu=1),
    Rule("summarise_representations", 8000, 60),  # the kNN graph and the summary of one model
    Rule("compare_models", 8000, 60),
    Rule("compare_catalogue", 8000, 60),
    Rule("similarity_tables", 4000, 10, local=True),
    Rule("compare_subgroups", 8000, 60),
    Rule("extract_train_features", 16000, 240, gpu=1),
    Rule("train_probe", 32000, 240, gpu=1),
    Rule("analysis_tables", 8000, 30, local=True),
    Rule("plot_figures", 4000, 10, local=True),
    Rule("analysis_figures", 4000, 10, local=True),
    Rule("figure_inversions", 4000, 10, local=True),
    Rule("figure_inversions_by_eps", 4000, 10, local=True),
]}


def local_rules() -> list[str]:
    return [r.name for r in RULES.values() if r.local]


def check_rules(rule_names) -> None:
    """ValueError unless the workflow's rules (without `all`) are exactly :data:`RULES`: a resource or a
    thread count looked up under a misspelt rule name would otherwise fall back to defaults silently."""
    names = set(rule_names) - {"all"}
    if names != set(RULES):
        raise ValueError(f"robuniv.catalog.RULES and the workflow's rules differ: only in the workflow "
                         f"{sorted(names - set(RULES))}, only in RULES {sorted(set(RULES) - names)}")

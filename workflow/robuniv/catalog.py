"""The tables and figures the workflow makes, by name, once (torch- and matplotlib-free).

The rules take their outputs from here, the plotting scripts look the figure functions up by these
names (``robuniv.plots.FIGURE_MAKERS``), and the report sorts them into these categories.
"""
from __future__ import annotations

from dataclasses import dataclass


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

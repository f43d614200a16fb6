"""Figures in the paper's style: box plots of pairwise similarity per data set (x) and ε (hue)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

LABELS = {
    "agreement": "Agreement (↑ more similar)",
    "jsd_sim": "JSDSim (↑ more similar)",
    "cka": "CKA (↑ more similar)",
    "procrustes_sim": "ProcrustesSim (↑ more similar)",
    "neg_rtd": "−RTD (↑ more similar)",
    "jaccard@10": "Jaccard@10 (↑ more similar)",
}


def set_style(settings: dict) -> None:
    sns.set_theme(style=settings.get("style", "whitegrid"), context="paper")


def save(fig, paths: dict, settings: dict) -> None:
    """Write ``fig`` to each path of ``{format: path}`` and close it."""
    for fmt, path in paths.items():
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format=fmt, dpi=settings["dpi"], bbox_inches="tight")
    plt.close(fig)


def _eps_label(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["ε"] = frame["eps"].map(lambda e: f"{e:g}")
    return frame


def _box(ax, data: pd.DataFrame, ylabel: str, order_eps):
    if data.empty:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    else:
        sns.boxplot(data=data, x="dataset", y="value", hue="ε", hue_order=order_eps, ax=ax,
                    palette="viridis", fliersize=2, linewidth=0.8)
        sns.stripplot(data=data, x="dataset", y="value", hue="ε", hue_order=order_eps, ax=ax, dodge=True,
                      palette="dark:black", size=2.5, alpha=0.6, legend=False)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("data set")


def _eps_order(frame):
    return [f"{e:g}" for e in sorted(frame["eps"].unique())]


def prediction_figure(frame: pd.DataFrame, inputs: str):
    """Figures 1 (regular) and 3 (inverted): agreement and JSDSim vs ε."""
    data = _eps_label(frame[frame["inputs"] == inputs])
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for ax, measure in zip(axes, ["agreement", "jsd_sim"]):
        _box(ax, data[data["measure"] == measure], LABELS[measure], _eps_order(frame))
        ax.set_title(f"{inputs} images")
    _single_legend(fig, axes)
    return fig


def representation_figure(frame: pd.DataFrame):
    """Figure 4: CKA, ProcrustesSim, −RTD and Jaccard@10 vs ε; rows regular / inverted images."""
    data = _eps_label(frame)
    rtd = data[data["measure"] == "rtd"].assign(measure="neg_rtd", value=lambda d: -d["value"])
    data = pd.concat([data, rtd])
    measures = ["cka", "procrustes_sim", "neg_rtd", "jaccard@10"]
    fig, axes = plt.subplots(2, 4, figsize=(16, 6.5), squeeze=False)
    for row, inputs in enumerate(["regular", "inverted"]):
        for col, measure in enumerate(measures):
            ax = axes[row, col]
            _box(ax, data[(data["inputs"] == inputs) & (data["measure"] == measure)], LABELS[measure],
                 _eps_order(frame))
            ax.set_title(f"{inputs} images")
    _single_legend(fig, axes.ravel())
    fig.tight_layout()
    return fig


def jaccard_k_figure(frame: pd.DataFrame):
    """Figure 8: Jaccard@k vs k, per data set and input kind, one line per ε (mean ± sd over pairs)."""
    data = frame[frame["measure"].str.startswith("jaccard@")].copy()
    data["k"] = data["measure"].str.split("@").str[1].astype(int)
    data = _eps_label(data)
    groups = sorted(data.groupby(["dataset", "inputs"]).groups) or [("", "")]
    fig, axes = plt.subplots(1, len(groups), figsize=(4.5 * len(groups), 3.4), squeeze=False)
    for ax, (dataset, inputs) in zip(axes[0], groups):
        sub = data[(data["dataset"] == dataset) & (data["inputs"] == inputs)]
        if not sub.empty:
            sns.lineplot(data=sub, x="k", y="value", hue="ε", hue_order=_eps_order(frame), marker="o",
                         errorbar="sd", palette="viridis", ax=ax)
            ax.set_xscale("log")
        ax.set_title(f"{dataset}, {inputs} images")
        ax.set_xlabel("k (neighbours)")
        ax.set_ylabel("Jaccard@k (↑ more similar)")
    fig.tight_layout()
    return fig


def _single_legend(fig, axes):
    handles, labels = None, None
    for ax in axes:
        legend = ax.get_legend()
        if legend is not None:
            if handles is None:
                handles, labels = ax.get_legend_handles_labels()
            legend.remove()
    if handles:
        fig.legend(handles, labels, title="ε", loc="center right", bbox_to_anchor=(1.06, 0.5))


def inversion_grid(seeds, targets, inverted: dict, title: str = ""):
    """Columns: examples; rows: seed, target, then each model's inverted image (with its loss)."""
    k = len(seeds)
    rows = 2 + len(inverted)
    fig, axes = plt.subplots(rows, k, figsize=(1.6 * k, 1.6 * rows), squeeze=False)

    def show(ax, image):  # C x H x W in [0, 1]
        image = np.asarray(image, dtype=np.float32)
        ax.imshow(np.clip(np.transpose(image, (1, 2, 0)), 0, 1), interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])

    for j in range(k):
        show(axes[0, j], seeds[j])
        show(axes[1, j], targets[j])
        for i, (model, (images, losses)) in enumerate(inverted.items()):
            show(axes[2 + i, j], images[j] / 255.0)
            axes[2 + i, j].set_title(f"loss {losses[j]:.2f}", fontsize=7)
    for i, name in enumerate(["seed", "target", *inverted]):
        axes[i, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def subgroup_figure(frame: pd.DataFrame):
    """Figure 5: each measure on the agreeing vs the disagreeing inputs, per ε (box + pairs)."""
    data = _eps_label(frame.dropna(subset=["value"]))
    rtd = data[data["measure"] == "rtd"].assign(measure="neg_rtd", value=lambda d: -d["value"])
    data = pd.concat([data[data["measure"] != "rtd"], rtd])
    measures = [m for m in ["cka", "procrustes_sim", "jaccard@10", "neg_rtd"] if m in set(data["measure"])] or ["cka"]
    fig, axes = plt.subplots(1, len(measures), figsize=(4.2 * len(measures), 3.4), squeeze=False)
    for ax, measure in zip(axes[0], measures):
        sub = data[data["measure"] == measure]
        if sub.empty:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        else:
            sns.boxplot(data=sub, x="ε", y="value", hue="subgroup", hue_order=["agree", "disagree"], ax=ax,
                        palette="Set2", fliersize=2, linewidth=0.8)
        ax.set_ylabel(LABELS.get(measure, measure))
        ax.set_xlabel("ε")
    fig.suptitle("inputs where a pair agrees vs disagrees (regular images)")
    fig.tight_layout()
    return fig


def probe_figure(frame: pd.DataFrame):
    """Figure 6: agreement of pretrained classifiers (ε = 0, probe ε) and of retrained linear probes."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    order = sorted(frame["kind"].unique(), key=lambda k: (not k.startswith("pretrained"), k))
    sns.boxplot(data=frame, x="kind", y="agreement", order=order, ax=ax, color="lightgrey", fliersize=0)
    sns.stripplot(data=frame, x="kind", y="agreement", order=order, ax=ax, color="black", size=3)
    ax.set_xlabel("")
    ax.set_ylabel("Agreement (↑ more similar)")
    ax.set_title("pairwise agreement on regular images")
    return fig


def bounds_figure(frame: pd.DataFrame):
    """Figure 7: observed agreement per ε with the mean Fort et al. bounds and error-rate limits."""
    datasets = sorted(frame["dataset"].unique()) or [""]
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        sub = frame[frame["dataset"] == dataset]
        means = sub.groupby("eps")[["fort_lower", "fort_upper", "error_lower", "error_upper"]].mean()
        x = np.arange(len(means))
        ax.fill_between(x, means["fort_lower"], means["fort_upper"], alpha=0.2, color="C0",
                        label="Fort et al. bounds (mean)")
        ax.plot(x, means["error_lower"], "--", color="C3", label="error-rate limits (mean)")
        ax.plot(x, means["error_upper"], "--", color="C3")
        positions = {e: i for i, e in enumerate(means.index)}
        ax.scatter([positions[e] for e in sub["eps"]], sub["agreement"], color="black", s=12, zorder=3,
                   label="observed agreement")
        ax.set_xticks(x, [f"{e:g}" for e in means.index])
        ax.set_xlabel("ε")
        ax.set_ylabel("Agreement (↑ more similar)")
        ax.set_title(dataset)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


# Figure name (robuniv.catalog.FIGURES) -> function of the tables it reads.
FIGURE_MAKERS = {
    "fig1_predictions_regular": lambda tables, settings: prediction_figure(tables["similarity"], "regular"),
    "fig3_predictions_inverted": lambda tables, settings: prediction_figure(tables["similarity"], "inverted"),
    "fig4_representations": lambda tables, settings: representation_figure(tables["similarity"]),
    "fig8_jaccard_k": lambda tables, settings: jaccard_k_figure(tables["similarity"]),
    "fig5_subgroups": lambda tables, settings: subgroup_figure(tables["subgroups"]),
    "fig6_probes": lambda tables, settings: probe_figure(tables["probes"]),
    "fig7_agreement_bounds": lambda tables, settings: bounds_figure(tables["agreement_bounds"]),
}


def make_figures(names, tables: dict, outputs, settings: dict) -> None:
    """Draw each named figure from ``tables`` and write it to ``outputs[f"{name}_{fmt}"]``."""
    set_style(settings)
    for name in names:
        fig = FIGURE_MAKERS[name](tables, settings)
        save(fig, {fmt: outputs[f"{name}_{fmt}"] for fmt in settings["formats"]}, settings)


def inversion_figure(inputs_path, inverted_paths: dict, source: dict, *, title: str, outputs: dict,
                     settings: dict) -> None:
    """The seed / target / inverted-image grid of one data set and ε, from the workflow's files."""
    from .data import open_split
    from .h5io import open_h5, read_inputs

    set_style(settings)
    pairs = read_inputs(inputs_path)
    pool = open_split(source, pairs["pool_split"])
    k = min(settings["n_examples"], len(pairs["target_index"]))
    seeds = [pool[int(i)][0] for i in pairs["seed_index"][:k]]
    targets = [pool[int(i)][0] for i in pairs["target_index"][:k]]
    inverted = {}
    for model, path in inverted_paths.items():
        with open_h5(path) as fh:
            inverted[model] = (fh["images"][:k], fh["loss"][:k])
    save(inversion_grid(seeds, targets, inverted, title=title), outputs, settings)

"""Figures in the paper's style: box plots of pairwise similarity per data set and ε.

Which measures a figure shows is chosen here; everything said about a measure (its label, which side is
more similar, which variant it is) comes from :data:`robuniv.measures.MEASURES`. By default the figures
plot the variants the paper's figures used (``settings.variants == "published"``: debiased CKA and the
Procrustes nuclear norm); ``"equations"`` plots the paper's equations 4 and 5 instead.

Every function that takes ``settings`` takes a :class:`robuniv.settings.FigureSettings`; the entry points
(the figure functions, :func:`make_figures` and the inversion figures) also take None (the defaults) or,
for callers still passing the rule's params, a plain mapping.
"""
from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from . import catalog, measures as M  # noqa: E402
from .settings import FigureSettings, build  # noqa: E402

# Which measures each figure shows (names only; labels and directions come from the registry).
PREDICTION_MEASURES = tuple(M.prediction_measures())
INPUTS = ("regular", "inverted")
FIGURE_WIDTH_PX = 1600  # widest figure, so that it reads at 100 % in the HTML report
SMALL_N = 30  # boxes of at most this many values show their n


def _settings(value: FigureSettings | Mapping | None) -> FigureSettings:
    """``value`` itself, the defaults for None, or the settings a mapping (the rule's params) spells out."""
    if isinstance(value, FigureSettings):
        return value
    if value is None:
        return FigureSettings()
    if isinstance(value, Mapping):
        return build(FigureSettings, value, where="figures")
    raise TypeError(f"settings must be FigureSettings, a mapping or None, got {type(value).__name__}")


def set_style(settings: FigureSettings) -> None:
    sns.set_theme(style=settings.style, context="paper")
    plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9,
                         "ytick.labelsize": 9, "legend.fontsize": 9, "legend.title_fontsize": 9,
                         "figure.titlesize": 12})


def save(fig, paths: dict, settings: FigureSettings) -> None:
    """Write ``fig`` to each path of ``{format: path}`` and close it."""
    from .atomic import atomic_path

    try:
        for fmt, path in paths.items():  # through a temporary, as every output: a full disk leaves no half figure
            with atomic_path(path) as tmp:
                fig.savefig(tmp, format=fmt, dpi=settings.dpi, bbox_inches="tight")
    finally:
        plt.close(fig)


def _width(inches: float, settings: FigureSettings) -> float:
    """``inches``, capped so that the figure is at most FIGURE_WIDTH_PX wide at the configured dpi."""
    return min(inches, 0.96 * FIGURE_WIDTH_PX / settings.dpi)  # margin for bbox_inches="tight"


# ---------------------------------------------------------------------------------------------- measures


def representation_measures(settings: FigureSettings, available=()) -> list[str]:
    """The measures of figures 4 and 5 from the registry (:func:`robuniv.measures.representation_figure_measures`):
    CKA and ProcrustesSim in ``settings.variants``, RTD and Jaccard@10 (or the smallest k in ``available``);
    ``settings.measures`` where given (figure 4's panels: any representation measures)."""
    if settings.measures:
        return list(settings.measures)
    return M.representation_figure_measures(settings.variants, available)


def measure_title(name: str) -> str:
    """Short panel title: the registry label without its direction note; −X for measures plotted negated."""
    entry = M.measure(name)
    short = entry.label.split(" (")[0]
    return short if entry.higher_is_more_similar else f"−{short}"


def measure_panel_title(name: str) -> str:
    """The registry label on two lines: the measure, then its direction note (as plotted)."""
    head, _, tail = measure_axis_label(name).partition(" (")
    return f"{head}\n({tail}" if tail else head


def measure_axis_label(name: str) -> str:
    entry = M.measure(name)
    if entry.higher_is_more_similar:
        return entry.label
    return f"−{entry.label.split(' (')[0]} (↑ more similar)"


def _oriented(frame: pd.DataFrame, column: str = "value") -> pd.DataFrame:
    """Values negated for measures where lower is more similar, so that up is more similar everywhere."""
    frame = frame.copy()
    frame[column] = pd.to_numeric(frame[column], errors="coerce")
    lower = frame["measure"].map(lambda n: not M.measure(n).higher_is_more_similar).astype(bool)
    frame.loc[lower, column] = -frame.loc[lower, column]
    return frame


def variant_note(names) -> str:
    """One line per measure: its title and the registry's variant description."""
    lines = []
    for name in dict.fromkeys(names):
        lines.append(textwrap.shorten(f"{measure_title(name)}: {M.measure(name).variant}", 150))
    return "\n".join(lines)


def _note(fig, text: str) -> None:
    fig.text(0.01, -0.01, text, ha="left", va="top", fontsize=7.5, color="0.3", wrap=False)


# ---------------------------------------------------------------------------------------------- axes


def ylimits(values, *, bounded: bool = True, min_span: float = 0.2) -> tuple[float, float]:
    """Limits that show every value without exaggerating small differences: the data range, padded by 8 %
    and widened to at least ``min_span`` (a fraction of the magnitude for unbounded measures); for similarity
    scores in [0, 1] the window stays inside [−0.02, 1.02] when the data do."""
    values = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce").dropna(), dtype=float)
    if values.size == 0:
        return (0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    span = hi - lo
    floor = min_span if bounded else min_span * max(abs(lo), abs(hi), 1e-9)
    pad = 0.08 * span
    lo, hi = lo - pad, hi + pad
    if hi - lo < floor:
        mid = (lo + hi) / 2
        lo, hi = mid - floor / 2, mid + floor / 2
    if bounded:
        if hi > 1.02 and values.max() <= 1:
            lo, hi = lo - (hi - 1.02), 1.02
        if lo < -0.02 and values.min() >= 0:
            hi, lo = min(hi + (-0.02 - lo), 1.02 if values.max() <= 1 else hi), -0.02
    return (lo, hi)


def _bounded(name: str) -> bool:
    return M.measure(name).higher_is_more_similar  # similarity scores in [0, 1]; negated distances are not


def _eps_strings(values) -> list[str]:
    return [f"{e:g}" for e in sorted(pd.to_numeric(pd.Series(list(values))).unique())]


def _palette(n: int):
    return sns.color_palette("viridis", n)


def grouped_boxes(ax, data: pd.DataFrame, *, x: str, hue: str, x_order, hue_order, colors, y: str = "value",
                  show_n: bool = True, width: float = 0.8):
    """Box plots of ``y`` per (x, hue) with every value drawn as a point; boxes with few values are labelled
    with their n. Returns the n of each drawn box."""
    n_hue = max(len(hue_order), 1)
    box_w = width / n_hue
    counts = []
    for i, xv in enumerate(x_order):
        for j, hv in enumerate(hue_order):
            vals = pd.to_numeric(data.loc[(data[x] == xv) & (data[hue] == hv), y], errors="coerce").dropna()
            if vals.empty:
                continue
            pos = i + (j - (n_hue - 1) / 2) * box_w
            ax.boxplot(vals, positions=[pos], widths=box_w * 0.8, patch_artist=True, showfliers=False,
                       medianprops={"color": "black", "linewidth": 1.2},
                       boxprops={"facecolor": colors[j], "alpha": 0.75, "linewidth": 0.8},
                       whiskerprops={"linewidth": 0.8}, capprops={"linewidth": 0.8})
            jitter = np.random.default_rng(i * 101 + j).uniform(-0.18, 0.18, len(vals)) * box_w
            ax.scatter(pos + jitter, vals, s=9, color="black", alpha=0.7, zorder=3, linewidths=0)
            counts.append((pos, float(vals.max()), len(vals)))
    ax.set_xticks(range(len(x_order)), [str(v) for v in x_order])
    ax.set_xlim(-0.5, len(x_order) - 0.5)
    return counts


def _label_n(ax, counts, *, annotate: bool = False, ylim=None) -> set:
    """The n of every box; where boxes of one panel differ in n, the boxes with fewer values than the panel's
    largest n (the exceptions to the legend's range) are labelled above the box. ``ylim``: the panel's limits,
    set first (the labels then widen them at the top to stay inside the panel)."""
    if ylim is not None:
        ax.set_ylim(*ylim)
    ns = {n for _, _, n in counts}
    if annotate or len(ns) > 1:
        most = max(ns)
        labelled = [(pos, top, n) for pos, top, n in counts if n <= SMALL_N and (n < most or len(ns) == 1)]
        if labelled:
            low, high = ax.get_ylim()
            ax.set_ylim(low, high + 0.12 * (high - low))  # room for the labels (and a raised one) inside the panel
            close = 0.08 * (high - low)
        previous = {}  # per x group: (top, raised) of its last label; a neighbour at about its height goes higher
        for pos, top, n in sorted(labelled):
            last = previous.get(round(pos))
            raised = last is not None and not last[1] and abs(top - last[0]) < close
            previous[round(pos)] = (top, raised)
            ax.annotate(f"n={n}", (pos, top), xytext=(0, 3 + (9 if raised else 0)), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, color="0.25")
    return ns


def n_note(ns, what: str = "model pairs") -> str:
    """"n = 3 model pairs per box" (or a range) for a legend title."""
    ns = sorted(ns)
    if not ns:
        return ""
    n = f"{ns[0]}" if ns[0] == ns[-1] else f"{ns[0]}–{ns[-1]}"
    return f"{what} per box:\nn = {n}"


def _no_data(ax):
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.4")


def _n_range(ns) -> str:
    ns = sorted(ns)
    return "" if not ns else (f"{ns[0]}" if ns[0] == ns[-1] else f"{ns[0]}–{ns[-1]}")


def _eps_handles(eps_order, colors, ns_by_eps=None):
    """Legend patches of ε; with ``ns_by_eps`` ({ε: set of box sizes}) each says its n per box."""
    ns_by_eps = ns_by_eps or {}
    return [Patch(facecolor=c, alpha=0.75, edgecolor="0.2",
                  label=f"{e}  (n = {_n_range(ns_by_eps[e])})" if ns_by_eps.get(e) else e)
            for e, c in zip(eps_order, colors)]


def _spearman_lookup(spearman: pd.DataFrame | None):
    if spearman is None or spearman.empty:
        return {}
    out = {}
    for r in spearman.itertuples(index=False):
        out[(r.dataset, r.inputs, r.measure)] = (pd.to_numeric(r.spearman_rho, errors="coerce"),
                                                 pd.to_numeric(r.p_permutation, errors="coerce"))
    return out


def _fmt_p(p: float) -> str:
    if not np.isfinite(p):
        return "p n/a"
    return f"p = {p:.2g}" if p >= 0.001 else "p < 0.001"


def spearman_text(lookup: dict, dataset: str, inputs: str, name: str) -> str:
    """"ρ = …, p = …" of a measure with ε (ρ negated for measures plotted negated)."""
    if (dataset, inputs, name) not in lookup:
        return ""
    rho, p = lookup[(dataset, inputs, name)]
    if not np.isfinite(rho):
        return "ρ n/a"
    if not M.measure(name).higher_is_more_similar:
        rho = -rho
    return f"ρ = {rho:+.2f}, {_fmt_p(p)}".replace("-", "−")


def _outside_legend(fig, handles, title: str, *, ncol: int = 1):
    fig.legend(handles=handles, title=title, loc="outside right center", ncol=ncol, frameon=False)


# ---------------------------------------------------------------------------------------------- similarity


def _similarity_panels(frame: pd.DataFrame, spearman, grid, *, settings: FigureSettings, suptitle: str,
                       share: str):
    """Box plots per data set (x) and ε (colour), one panel per (inputs, measure) cell of ``grid`` (rows of
    cells). ``share``: "kind" shares y across every panel of a measure kind, "measure" per measure."""
    frame = _oriented(frame)
    eps_order = _eps_strings(frame["eps"]) if not frame.empty else []
    frame = frame.assign(ε=frame["eps"].map(lambda e: f"{e:g}"))
    colors = _palette(len(eps_order))
    datasets = sorted(frame["dataset"].unique()) or [""]
    lookup = _spearman_lookup(spearman)
    n_rows, n_cols = len(grid), len(grid[0])
    width = _width(2.45 * n_cols + 1.6, settings)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(width, 3.0 * n_rows + 0.4), squeeze=False,
                             layout="constrained")
    ns, groups = {}, {}
    for r, row in enumerate(grid):
        for c, (inputs, name) in enumerate(row):
            ax = axes[r, c]
            data = frame[(frame["inputs"] == inputs) & (frame["measure"] == name)]
            key = M.measure(name).kind if share == "kind" else name
            groups.setdefault(key, []).append((ax, data["value"], _bounded(name)))
            if data.empty:
                _no_data(ax)
            counts = grouped_boxes(ax, data, x="dataset", hue="ε", x_order=datasets, hue_order=eps_order,
                                   colors=colors)
            _label_n(ax, counts)
            for e in eps_order:
                ns.setdefault(e, set()).update(data[data["ε"] == e].groupby("dataset").size().tolist())
            ticks = []
            for d in datasets:
                rho = spearman_text(lookup, d, inputs, name) if lookup else ""
                ticks.append(f"{d}\n{rho}" if rho else d)
            ax.set_xticks(range(len(datasets)), ticks)
            ax.set_title(measure_panel_title(name))
            ax.set_ylabel(f"{inputs} images" if c == 0 else "", fontsize=11, fontweight="bold")
            ax.set_xlabel("")
    for members in groups.values():
        values = pd.concat([v for _, v, _ in members])
        lims = ylimits(values, bounded=all(b for _, _, b in members))
        for ax, _, _ in members:
            ax.set_ylim(*lims)
    what = "model pairs" if "inverted" not in {i for row in grid for i, _ in row} else "comparisons"
    _outside_legend(fig, _eps_handles(eps_order, colors, ns), f"ε  (n = {what}\nper box, one point each)")
    fig.suptitle(suptitle)
    return fig


def prediction_figure(frame: pd.DataFrame, inputs: str, spearman: pd.DataFrame | None = None,
                      settings: FigureSettings | None = None):
    """Figures 1 (regular) and 3 (inverted): agreement and JSDSim vs ε, Spearman's ρ with ε per data set."""
    settings = _settings(settings)
    data = frame[frame["measure"].isin(PREDICTION_MEASURES)]
    fig = _similarity_panels(data, spearman, [[(inputs, m) for m in PREDICTION_MEASURES]], settings=settings,
                             suptitle=f"Prediction similarity vs ε on {inputs} images", share="kind")
    if spearman is not None:
        fig.text(0.01, -0.01, "Under each data set: Spearman's ρ of the measure with ε and its permutation p.",
                 fontsize=7.5, color="0.3", va="top")
    return fig


def representation_figure(frame: pd.DataFrame, spearman: pd.DataFrame | None = None,
                          settings: FigureSettings | None = None):
    """Figure 4: CKA, ProcrustesSim, −RTD and Jaccard@10 vs ε; top row regular, bottom row inverted images."""
    settings = _settings(settings)
    names = representation_measures(settings, frame["measure"].unique())
    grid = [[(inputs, m) for m in names] for inputs in INPUTS]
    fig = _similarity_panels(frame[frame["measure"].isin(names)], spearman, grid, settings=settings,
                             suptitle="Representational similarity vs ε", share="measure")
    note = variant_note(names)
    if spearman is not None:
        note = "Under each data set: Spearman's ρ with ε (up = more similar) and its permutation p.\n" + note
    _note(fig, note)
    return fig


def jaccard_k_figure(frame: pd.DataFrame, settings: FigureSettings | None = None):
    """Figure 8: Jaccard@k vs k per data set, regular then inverted images, one line per ε (mean ± sd over
    pairs); every k on the log axis is marked."""
    settings = _settings(settings)
    data = frame[frame["measure"].map(lambda n: M.jaccard_k(n) is not None).astype(bool)].copy()
    data["k"] = data["measure"].map(M.jaccard_k)
    data["value"] = pd.to_numeric(data["value"], errors="coerce")
    eps_order = _eps_strings(data["eps"]) if not data.empty else []
    data["ε"] = data["eps"].map(lambda e: f"{e:g}")
    colors = _palette(len(eps_order))
    datasets = sorted(data["dataset"].unique()) or [""]
    ks = sorted(data["k"].unique())
    width = _width(2 * 3.6 + 1.2, settings)
    fig, axes = plt.subplots(len(datasets), 2, figsize=(width, 3.0 * len(datasets) + 0.3), squeeze=False,
                             sharey=True, layout="constrained")
    n_note = set()
    for r, dataset in enumerate(datasets):
        for c, inputs in enumerate(INPUTS):
            ax = axes[r, c]
            sub = data[(data["dataset"] == dataset) & (data["inputs"] == inputs)]
            if sub.empty:
                _no_data(ax)
            for j, e in enumerate(eps_order):
                line = sub[sub["ε"] == e].groupby("k")["value"].agg(["mean", "std", "count"])
                if line.empty:
                    continue
                n_note.update(line["count"].astype(int).tolist())
                ax.errorbar(line.index, line["mean"], yerr=line["std"].fillna(0), color=colors[j], marker="o",
                            ms=4, capsize=3, lw=1.4, label=e)
            ax.set_xscale("log")
            ax.set_xticks(ks, [str(k) for k in ks])
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            if ks:
                ax.set_xlim(ks[0] / 1.4, ks[-1] * 1.4)
            ax.set_title(f"{dataset}, {inputs} images")
            ax.set_xlabel("k (nearest neighbours)")
            ax.set_ylabel(measure_axis_label(M.jaccard_name(ks[0])).replace(f"@{ks[0]}", "@k") if c == 0 and ks
                          else "")
    if not data.empty:
        lo, hi = ylimits(data["value"])
        axes[0, 0].set_ylim(lo, hi)
    pairs = f"mean ± sd over n = {min(n_note)}" + (f"–{max(n_note)}" if len(n_note) > 1 else "") + " pairs" \
        if n_note else ""
    _outside_legend(fig, [plt.Line2D([], [], color=c, marker="o", label=e) for e, c in zip(eps_order, colors)],
                    "ε" + (f"\n({pairs})" if pairs else ""))
    fig.suptitle("Jaccard similarity of k-nearest-neighbour sets vs k")
    return fig


# ---------------------------------------------------------------------------------------------- analyses


def subgroup_figure(frame: pd.DataFrame, settings: FigureSettings | None = None):
    """Figure 5: each measure on the inputs where a pair agrees, disagrees, and on agreeing inputs subsampled
    to the disagreeing subset's size (control), per data set and ε."""
    settings = _settings(settings)
    full = frame.copy()
    data = _oriented(frame)
    data = data.dropna(subset=["value"]).assign(ε=data["eps"].map(lambda e: f"{e:g}"))
    names = M.representation_figure_measures(settings.variants, frame["measure"].unique())  # the subgroup measures
    present = list(catalog.SUBGROUPS)  # the same three boxes and legend in every panel, also where one has no values
    datasets = sorted(data["dataset"].unique()) or [""]
    colors = sns.color_palette("Set2", len(present))
    width = _width(2.7 * len(names) + 2.2, settings)
    fig, axes = plt.subplots(len(datasets), len(names), figsize=(width, 3.0 * len(datasets) + 0.5), squeeze=False,
                             layout="constrained")
    ns = set()
    for r, dataset in enumerate(datasets):
        for c, name in enumerate(names):
            ax = axes[r, c]
            sub = data[(data["dataset"] == dataset) & (data["measure"] == name)]
            if sub.empty:
                _no_data(ax)
            eps_order = _eps_strings(sub["eps"]) if not sub.empty else []
            counts = grouped_boxes(ax, sub, x="ε", hue="subgroup", x_order=eps_order, hue_order=present,
                                   colors=colors)
            ns |= _label_n(ax, counts, ylim=ylimits(sub["value"], bounded=_bounded(name)))
            ax.set_title(measure_panel_title(name))
            ax.set_xlabel("ε")
            ax.set_ylabel(dataset if c == 0 else "", fontsize=11, fontweight="bold")
    sizes = full.drop_duplicates(["dataset", "eps", "model_a", "model_b", "subgroup"]).groupby("subgroup")[
        "n_inputs"].mean() if "n_inputs" in full else pd.Series(dtype=float)
    handles = [Patch(facecolor=colors[j], alpha=0.75, edgecolor="0.2",
                     label=catalog.SUBGROUPS[s] + (f"\n(mean {sizes[s]:.0f} inputs)" if s in sizes else ""))
               for j, s in enumerate(present)]
    note = n_note(ns)
    _outside_legend(fig, handles, "inputs of a pair" + (f"\n\n{note}" if note else ""))
    fig.suptitle("Similarity on the inputs where a pair agrees vs disagrees (regular images)")
    _note(fig, variant_note(names))
    return fig


def probe_figure(frame: pd.DataFrame, settings: FigureSettings | None = None):
    """Figure 6: agreement of the original classifiers (ε = 0 and the probes' ε) and of retrained linear probes
    on the robust features, per data set."""
    settings = _settings(settings)
    frame = frame.copy()
    frame["agreement"] = pd.to_numeric(frame["agreement"], errors="coerce")
    order = sorted(frame["kind"].unique(), key=lambda k: (not k.startswith("pretrained"), k))
    datasets = sorted(frame["dataset"].unique()) or [""]
    colors = sns.color_palette("Set2", max(len(order), 1))
    fig, ax = plt.subplots(figsize=(_width(2.0 * max(len(datasets), 1) + 4.2, settings), 3.6), layout="constrained")
    if frame.empty:
        _no_data(ax)
    counts = grouped_boxes(ax, frame, x="dataset", hue="kind", x_order=datasets, hue_order=order, colors=colors,
                           y="agreement")
    note = n_note(_label_n(ax, counts, ylim=ylimits(frame["agreement"])), "pairs × seeds")
    ax.set_xlabel("")
    ax.set_ylabel(measure_axis_label(M.AGREEMENT))
    ax.set_title("Pairwise agreement on held-out regular images")
    handles = [Patch(facecolor=c, alpha=0.75, edgecolor="0.2", label=k.replace("pretrained", "original classifiers")
                     .replace("probes", "linear probes on features of")) for k, c in zip(order, colors)]
    _outside_legend(fig, handles, "models compared" + (f"\n\n{note}" if note else ""))
    return fig


def bounds_figure(frame: pd.DataFrame, settings: FigureSettings | None = None):
    """Figure 7: observed agreement per ε with the mean Fort et al. bounds and the error-rate limits."""
    settings = _settings(settings)
    datasets = sorted(frame["dataset"].unique()) or [""]
    fig, axes = plt.subplots(1, len(datasets), figsize=(_width(4.4 * len(datasets) + 2.6, settings), 3.6),
                             squeeze=False, sharey=True, layout="constrained")
    columns = ["agreement", "fort_lower", "fort_upper", "error_lower", "error_upper"]
    frame = frame.copy()
    for col in columns:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    for ax, dataset in zip(axes[0], datasets):
        sub = frame[frame["dataset"] == dataset]
        if sub.empty:
            _no_data(ax)
            continue
        means = sub.groupby("eps")[columns[1:]].mean()
        x = np.arange(len(means))
        positions = {e: i for i, e in enumerate(means.index)}
        ax.fill_between(x, means["fort_lower"], means["fort_upper"], alpha=0.2, color="C0")
        ax.plot(x, means["error_lower"], "--", color="C3")
        ax.plot(x, means["error_upper"], "--", color="C3")
        jitter = np.random.default_rng(0).uniform(-0.08, 0.08, len(sub))
        ax.scatter([positions[e] for e in sub["eps"]] + jitter, sub["agreement"], color="black", s=12, zorder=3)
        n = sub.groupby("eps").size()
        ax.set_xticks(x, [f"{e:g}\nn={n[e]}" for e in means.index])
        ax.set_xlabel("ε (n = model pairs)")
        ax.set_title(dataset)
    axes[0, 0].set_ylabel(measure_axis_label(M.AGREEMENT))
    axes[0, 0].set_ylim(*ylimits(frame[columns].stack(), min_span=0.2))
    handles = [Patch(facecolor="C0", alpha=0.2, label="Fort et al. bounds\nfrom clean accuracies (mean)"),
               plt.Line2D([], [], ls="--", color="C3", label="error-rate limits (mean)"),
               plt.Line2D([], [], ls="", marker="o", color="black", ms=4, label="observed agreement\n(one per pair)")]
    _outside_legend(fig, handles, "")
    fig.suptitle("Agreement vs the bounds its models' accuracies allow")
    return fig


def _registry_order(names) -> list[str]:
    """Registry order; a kNN measure at any k sits with its base's entries, by k."""
    first: dict = {}
    for i, name in enumerate(M.MEASURES):
        first.setdefault(M.split_k(name)[0], i)
    return sorted(names, key=lambda n: (first.get(M.split_k(n)[0], len(first)), M.split_k(n)[1] or 0, n))


MIN_PAIRS_FOR_AGREEMENT = 5  # below, a rank correlation over pairs takes only a few values


def measure_agreement(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Spearman correlation between the representation measures of ``frame`` (similarity.csv rows) over the
    pairs they rank (one pair = dataset, ε, source, model A, model B), every measure oriented so that up is
    more similar; and the number of pairs. Registry order."""
    data = _oriented(frame[frame["measure"].map(lambda n: M.measure(n).kind == M.REPRESENTATIONS).astype(bool)])
    order = _registry_order(set(data["measure"]))
    wide = data.pivot_table(index=["dataset", "eps", "source", "model_a", "model_b"], columns="measure",
                            values="value", aggfunc="first")
    return wide.reindex(columns=order).corr(method="spearman"), len(wide)


def measure_agreement_figure(frame: pd.DataFrame, settings: FigureSettings | None = None):
    """Measure agreement, per input kind: left, Spearman's ρ between every two representation measures of how
    they rank the model pairs (all ε pooled); right, each measure's mean ρ with the others at each ε (ε as
    colour; an ε with fewer than MIN_PAIRS_FOR_AGREEMENT pairs is left out). Where the measures agree, "more
    universal with ε" does not hinge on the measure."""
    settings = _settings(settings)
    kinds = [k for k in INPUTS if k in set(frame["inputs"])] or list(INPUTS[:1])
    eps_levels = sorted(pd.to_numeric(frame["eps"]).unique())
    colors = _palette(len(eps_levels))
    fig, axes = plt.subplots(len(kinds), 2, figsize=(_width(9.0, settings), 5.2 * len(kinds)), squeeze=False,
                             width_ratios=[3, 1.3], layout="constrained")
    image, shown = None, set()
    for r, kind in enumerate(kinds):
        heat, strip = axes[r]
        heat.grid(False)
        rho, n = measure_agreement(frame[frame["inputs"] == kind])
        heat.set_title(f"{kind} images, all ε (n = {n} pairs)", fontsize=9)
        if rho.empty or n < MIN_PAIRS_FOR_AGREEMENT:
            _no_data(heat)
            _no_data(strip)
            continue
        labels = list(rho.columns)
        image = heat.imshow(rho.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu_r", interpolation="nearest")
        heat.set_xticks(range(len(labels)), labels, rotation=90, fontsize=6)
        heat.set_yticks(range(len(labels)), labels, fontsize=6)
        drawn = 0
        for j, eps in enumerate(eps_levels):
            at_eps, n_eps = measure_agreement(frame[(frame["inputs"] == kind) & (pd.to_numeric(frame["eps"]) == eps)])
            if n_eps < MIN_PAIRS_FOR_AGREEMENT:
                continue
            drawn += 1
            others = at_eps.reindex(index=labels, columns=labels).to_numpy(dtype=float, copy=True)
            np.fill_diagonal(others, np.nan)
            strip.scatter(np.nanmean(others, axis=1), range(len(labels)), color=colors[j], s=14, zorder=3)
            shown.add(j)
        if not drawn:
            strip.text(0.5, 0.5, f"fewer than {MIN_PAIRS_FOR_AGREEMENT} pairs\nat every ε", ha="center", va="center",
                       transform=strip.transAxes, fontsize=8, color="0.4")
        strip.set_ylim(len(labels) - 0.5, -0.5)
        strip.set_yticks(range(len(labels)), [])
        strip.set_xlim(-1.05, 1.05)
        strip.axvline(0, color="0.6", lw=0.8)
        strip.set_xlabel("mean ρ with the other measures")
        strip.set_title("at each ε", fontsize=9)
    if image is not None:
        fig.colorbar(image, ax=axes[:, 0].tolist(), shrink=0.5, location="left",
                     label="Spearman ρ between measures (over the pairs they rank)")
    handles = [plt.Line2D([], [], ls="", marker="o", color=colors[j], label=f"{eps_levels[j]:g}")
               for j in sorted(shown)]
    if handles:
        _outside_legend(fig, handles, f"ε (≥ {MIN_PAIRS_FOR_AGREEMENT} pairs)")
    fig.suptitle("Do the measures rank the model pairs alike?")
    return fig


# Figure name (robuniv.catalog.FIGURES) -> function of the tables it reads.
FIGURE_MAKERS = {
    "fig1_predictions_regular": lambda tables, settings: prediction_figure(
        tables["similarity"], "regular", tables.get("spearman"), settings),
    "fig3_predictions_inverted": lambda tables, settings: prediction_figure(
        tables["similarity"], "inverted", tables.get("spearman"), settings),
    "fig4_representations": lambda tables, settings: representation_figure(
        tables["similarity"], tables.get("spearman"), settings),
    "fig8_jaccard_k": lambda tables, settings: jaccard_k_figure(tables["similarity"], settings),
    "fig9_measure_agreement": lambda tables, settings: measure_agreement_figure(tables["similarity"], settings),
    "fig5_subgroups": lambda tables, settings: subgroup_figure(tables["subgroups"], settings),
    "fig6_probes": lambda tables, settings: probe_figure(tables["probes"], settings),
    "fig7_agreement_bounds": lambda tables, settings: bounds_figure(tables["agreement_bounds"], settings),
}


def make_figures(names, tables: dict, outputs, settings: FigureSettings | None) -> None:
    """Draw each named figure from ``tables`` and write it to ``outputs[f"{name}_{fmt}"]``."""
    settings = _settings(settings)
    set_style(settings)
    for name in names:
        fig = FIGURE_MAKERS[name](tables, settings)
        # above the title: the notes under the panels stay clear (bbox_inches="tight" takes it in)
        fig.text(0.5, 1.0, coverage(tables), ha="center", va="bottom", fontsize=8, color="0.35")
        save(fig, {fmt: outputs[f"{name}_{fmt}"] for fmt in settings.formats}, settings)


def coverage(tables: dict) -> str:
    """What a figure's tables cover: their data sets, models and ε (a line above the title, so that a figure
    from another study is never taken for this one)."""
    datasets, models, eps = set(), set(), set()
    for frame in tables.values():
        if "dataset" in frame:
            datasets.update(frame["dataset"].astype(str))
        for column in ("model", "model_a", "model_b"):
            if column in frame:
                models.update(frame[column].astype(str))
        if "eps" in frame:
            eps.update(float(e) for e in frame["eps"])
    parts = [f"data set{'s' if len(datasets) != 1 else ''}: {', '.join(sorted(datasets)) or 'none'}"]
    if models:
        parts.append(f"{len(models)} models")
    if eps:
        parts.append("ε " + ", ".join(f"{e:g}" for e in sorted(eps)))
    return " · ".join(parts)


# ---------------------------------------------------------------------------------------------- inversions

LOSS_LABEL = "relative feature loss"


def _show(ax, image):
    """C x H x W in [0, 1]; images with equal channels are drawn in grey."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0, 1)
    if image.shape[0] == 1 or (image.shape[0] == 3 and np.array_equal(image[0], image[1])
                               and np.array_equal(image[0], image[2])):
        ax.imshow(image[0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.transpose(image, (1, 2, 0)), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def inversion_grid(seeds, targets, inverted: dict, title: str = ""):
    """Columns: examples; rows: seed, target, then one row per entry of ``inverted`` ({row label: (uint8
    images, relative feature losses)}), each image labelled with its relative feature loss."""
    k = len(seeds)
    rows = 2 + len(inverted)
    fig, axes = plt.subplots(rows, k, figsize=(1.5 * k + 1.4, 1.75 * rows + 0.4), squeeze=False,
                             layout="constrained")
    for j in range(k):
        _show(axes[0, j], seeds[j])
        _show(axes[1, j], targets[j])
        axes[0, j].set_title(f"example {j + 1}", fontsize=9)
        for i, (images, losses) in enumerate(inverted.values()):
            _show(axes[2 + i, j], np.asarray(images[j]) / 255.0)
            axes[2 + i, j].set_xlabel(f"{LOSS_LABEL}\n{float(losses[j]):.2f}", fontsize=7, labelpad=1)
    for i, name in enumerate(["seed\n(start)", "target", *inverted]):
        axes[i, 0].set_ylabel(name, fontsize=9, rotation=0, ha="right", va="center", labelpad=6)
    note = f"{LOSS_LABEL} = ‖f(inverted) − f(target)‖ / ‖f(target)‖ (f: the model's representation)"
    fig.suptitle(f"{title}\n{note}" if title else note, fontsize=10)
    return fig


def _seeds_and_targets(inputs_path, source: dict, n: int):
    from .data import open_split
    from .h5io import read_inputs

    pairs = read_inputs(inputs_path)
    pool = open_split(source, pairs["pool_split"])
    k = min(n, len(pairs["target_index"]))
    seeds = [pool[int(i)][0] for i in pairs["seed_index"][:k]]
    targets = [pool[int(i)][0] for i in pairs["target_index"][:k]]
    return seeds, targets, k


def _read_inverted(paths, k: int):
    """The first ``k`` inverted images and their losses from one model's shard files (or one file)."""
    from .h5io import InvertedImages

    inverted = InvertedImages(paths)
    k = min(k, len(inverted))
    return inverted.read(0, k), inverted.read(0, k, "loss")


def inversion_figure(inputs_path, inverted_paths: dict, source: dict, *, title: str, outputs: dict,
                     settings: FigureSettings | None) -> None:
    """The seed / target / inverted-image grid of one data set and ε (one row per model), from the
    workflow's files."""
    settings = _settings(settings)
    set_style(settings)
    seeds, targets, k = _seeds_and_targets(inputs_path, source, settings.n_examples)
    inverted = {model: _read_inverted(path, k) for model, path in inverted_paths.items()}
    save(inversion_grid(seeds, targets, inverted, title=title), outputs, settings)


def inversion_eps_figure(inputs_path, inverted_paths_by_eps: dict, source: dict, *, model: str, dataset: str,
                         outputs: dict, settings: FigureSettings | None) -> None:
    """Paper figure 2 for one data set and one model: the same seeds and targets (top rows), then the model's
    inverted image of each target at every ε, one row per ε (ε = 0, the standard model, first).

    ``inverted_paths_by_eps``: {ε as written in the paths ("0", "0.25", …): the inverted-image files (shards) of
    ``model`` at that ε}; ``outputs``: {format: path}.
    """
    settings = _settings(settings)
    set_style(settings)
    seeds, targets, k = _seeds_and_targets(inputs_path, source, settings.n_examples)
    inverted = {}
    for eps in sorted(inverted_paths_by_eps, key=float):
        label = f"ε = {float(eps):g}\n" + ("(standard)" if float(eps) == 0 else "(robust)")
        inverted[label] = _read_inverted(inverted_paths_by_eps[eps], k)
    save(inversion_grid(seeds, targets, inverted, title=f"{dataset}: inversions of {model} by robustness ε"),
         outputs, settings)

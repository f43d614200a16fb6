"""Figures: which measures and variants they show, their labels, n, Spearman annotations, limits and sizes."""
import h5py
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from robuniv import catalog, measures as M, plots
from robuniv.settings import FigureSettings, SettingsError, replace

PAIRS = [("a", "b"), ("a", "c"), ("b", "c")]
EPS = [0.0, 0.5, 1.0]


def similarity_table(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    names = [n for n in M.MEASURES if M.jaccard_k(n) is None] + [M.jaccard_name(10), M.jaccard_name(50)]
    for e in EPS:
        for inputs in plots.INPUTS:
            sources = ["regular"] if inputs == "regular" else ["a", "b"]
            for source in sources:
                for a, b in PAIRS:
                    for name in names:
                        value = 2 + rng.normal() if name == M.RTD else 0.88 + 0.06 * rng.random()
                        rows.append({"dataset": "digits", "eps": e, "inputs": inputs, "source": source,
                                     "model_a": a, "model_b": b, "measure": name, "value": value})
    return pd.DataFrame(rows)


def spearman_table(frame):
    rows = []
    for (d, i, m), g in frame.groupby(["dataset", "inputs", "measure"]):
        rows.append({"dataset": d, "inputs": i, "measure": m, "spearman_rho": 0.25, "p_value": 0.5,
                     "p_asymptotic": 0.5, "p_permutation": 0.0123, "n": len(g), "n_resamples": 99})
    return pd.DataFrame(rows)


def subgroup_table():
    rows = []
    for e in EPS:
        for a, b in PAIRS:
            for sub, n in [("agree", 180), ("disagree", 20), ("agree_matched", 20)]:
                for name in [M.CKA, M.CKA_DEBIASED, M.PROCRUSTES_SIM, M.PROCRUSTES_NUCLEAR_NORM, M.RTD,
                             M.jaccard_name(10)]:
                    rows.append({"dataset": "digits", "eps": e, "model_a": a, "model_b": b, "subgroup": sub,
                                 "measure": name, "value": 0.5 + 0.1 * np.sin(len(rows)), "n_inputs": n,
                                 "std": np.nan, "n_draws": 1})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables():
    sim = similarity_table()
    probes = pd.DataFrame([{"dataset": "digits", "kind": k, "eps": 1.0, "model_a": a, "model_b": b, "seed": -1,
                            "agreement": 0.9 + 0.01 * i} for k in ["pretrained ε=0", "pretrained ε=1", "probes ε=1"]
                           for i, (a, b) in enumerate(PAIRS)])
    bounds = pd.DataFrame([{"dataset": "digits", "eps": e, "model_a": a, "model_b": b, "agreement": 0.9,
                            "clean_accuracy_a": 0.95, "clean_accuracy_b": 0.94, "fort_lower": 0.85,
                            "fort_upper": 0.99, "error_a": 0.05, "error_b": 0.06, "error_lower": 0.89,
                            "error_upper": 0.99} for e in EPS for a, b in PAIRS])
    return {"similarity": sim, "spearman": spearman_table(sim), "subgroups": subgroup_table(), "probes": probes,
            "agreement_bounds": bounds}


SETTINGS = FigureSettings(formats=("png",), dpi=150, n_examples=3, style="whitegrid", variants="published")
SETTINGS_PARAMS = {"formats": ["png"], "dpi": 150, "n_examples": 3, "style": "whitegrid", "variants": "published"}


def titles(fig):
    return [ax.get_title() for ax in fig.axes]


def legend_texts(fig):
    return [t.get_text() for leg in fig.legends for t in leg.get_texts()]


def test_every_catalog_figure_has_a_maker():
    assert set(plots.FIGURE_MAKERS) == set(catalog.FIGURES)


def test_published_variants_by_default_and_equations_on_request():
    default = FigureSettings()
    assert plots.representation_measures(default) == [M.CKA_DEBIASED, M.PROCRUSTES_NUCLEAR_NORM, M.RTD, "jaccard@10"]
    assert plots.representation_measures(FigureSettings(variants="equations"))[:2] == [M.CKA, M.PROCRUSTES_SIM]
    assert all(M.measure(n).published for n in plots.representation_measures(FigureSettings(variants="published")))
    assert plots.representation_measures(default, ["jaccard@5", "jaccard@20", "cka"])[-1] == "jaccard@5"
    with pytest.raises(ValueError, match="variants"):
        plots.representation_measures(FigureSettings(variants="paper"))
    with pytest.raises(ValueError, match="figures.variants must be one of"):  # also through a figure, from params
        plots.subgroup_figure(subgroup_table(), {"variants": "paper"})


def test_labels_come_from_the_registry():
    for name in M.MEASURES:
        entry = M.measure(name)
        assert plots.measure_title(name) in entry.label or plots.measure_title(name).lstrip("−") in entry.label
        assert "↑ more similar" in plots.measure_axis_label(name)
    assert plots.measure_title(M.RTD) == "−RTD"
    assert M.MEASURES[M.CKA_DEBIASED].variant in plots.variant_note([M.CKA_DEBIASED])


@pytest.mark.parametrize("variants,expected", [("published", [M.CKA_DEBIASED, M.PROCRUSTES_NUCLEAR_NORM]),
                                               ("equations", [M.CKA, M.PROCRUSTES_SIM])])
def test_fig4_grid_titles_spearman_and_width(tables, tmp_path, variants, expected):
    settings = replace(SETTINGS, variants=variants)
    fig = plots.FIGURE_MAKERS["fig4_representations"](tables, settings)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert len(axes) == 8
    for name in expected + [M.RTD, "jaccard@10"]:
        assert sum(plots.measure_panel_title(name) == t for t in titles(fig)) == 2  # regular and inverted
    assert axes[0].get_ylabel() == "regular images" and axes[4].get_ylabel() == "inverted images"
    ticks = [t.get_text() for t in axes[0].get_xticklabels()]
    assert ticks == ["digits\nρ = +0.25, p = 0.012"]
    rtd_ticks = [t.get_text() for t in axes[2].get_xticklabels()]
    assert "ρ = −0.25" in rtd_ticks[0]  # −RTD is plotted, so its ρ is negated
    for col in range(4):
        assert axes[col].get_ylim() == axes[4 + col].get_ylim()  # shared per measure
    path = tmp_path / "fig4.png"
    plots.save(fig, {"png": path}, settings)
    assert Image.open(path).size[0] <= plots.FIGURE_WIDTH_PX


def test_fig1_n_per_box_shared_sensible_limits(tables):
    fig = plots.FIGURE_MAKERS["fig1_predictions_regular"](tables, SETTINGS)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [t.split("\n")[0] for t in titles(fig)] == ["Agreement", "JSDSim"]
    lo, hi = axes[0].get_ylim()
    assert axes[1].get_ylim() == (lo, hi)
    assert hi - lo >= 0.2 - 1e-9 and lo <= 0.88 and hi >= 0.94 and hi <= 1.02
    assert any("(n = 3)" in t for t in legend_texts(fig))  # three pairs per box


def test_fig3_counts_comparisons_per_source(tables):
    fig = plots.FIGURE_MAKERS["fig3_predictions_inverted"](tables, SETTINGS)
    assert any("(n = 6)" in t for t in legend_texts(fig))  # three pairs on two sources' inversions


def test_ylimits():
    lo, hi = plots.ylimits([0.88, 0.9, 0.945])
    assert lo <= 0.88 and hi >= 0.945 and hi - lo >= 0.2 - 1e-9 and hi <= 1.02
    lo, hi = plots.ylimits([0.0, 1.0])
    assert lo < 0 and hi > 1
    lo, hi = plots.ylimits([-0.05, 0.3])
    assert lo < -0.05  # debiased CKA may go below 0
    lo, hi = plots.ylimits([-2.3, -1.9], bounded=False)
    assert lo <= -2.3 and hi >= -1.9 and hi - lo >= 0.2 * 2.3 - 1e-9
    assert plots.ylimits([]) == (0.0, 1.0)


def test_fig5_three_subgroups_with_sizes(tables):
    fig = plots.FIGURE_MAKERS["fig5_subgroups"](tables, SETTINGS)
    texts = legend_texts(fig)
    assert any(t.startswith("agree\n(mean 180 inputs)") for t in texts)
    assert any(t.startswith("disagree\n(mean 20 inputs)") for t in texts)
    assert any("size-matched" in t for t in texts)
    assert plots.measure_panel_title(M.CKA_DEBIASED) in titles(fig)
    fig = plots.FIGURE_MAKERS["fig5_subgroups"](tables, replace(SETTINGS, variants="equations"))
    assert plots.measure_panel_title(M.PROCRUSTES_SIM) in titles(fig)


def test_fig8_regular_first_every_k_marked_shared_y(tables):
    fig = plots.FIGURE_MAKERS["fig8_jaccard_k"](tables, SETTINGS)
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["digits, regular images", "digits, inverted images"]
    assert list(axes[0].get_xticks()) == [10, 50]
    assert axes[0].get_ylim() == axes[1].get_ylim()
    assert fig.legends and not any(ax.get_legend() for ax in axes)


def test_make_figures_writes_every_format(tables, tmp_path):
    settings = replace(SETTINGS, formats=("png", "pdf"), dpi=60)
    outputs = {f"{n}_{fmt}": tmp_path / f"{n}.{fmt}" for n in catalog.FIGURES for fmt in settings.formats}
    plots.make_figures(list(catalog.FIGURES), tables, outputs, settings)
    assert all(p.stat().st_size > 1000 for p in outputs.values())


def test_empty_tables_draw_no_data_panels(tables):
    empty = {name: frame.iloc[0:0] for name, frame in tables.items()}
    for name in catalog.FIGURES:
        plots.FIGURE_MAKERS[name](empty, SETTINGS)


def write_inputs(path, n=5):
    with h5py.File(path, "w") as fh:
        fh["target_index"] = np.arange(n)
        fh["target_label"] = np.zeros(n, dtype=int)
        fh["seed_index"] = np.arange(n, 2 * n)
        fh["seed_label"] = np.ones(n, dtype=int)
        fh.attrs["pool_split"] = "eval"


def write_inverted(path, n=5, value=128):
    with h5py.File(path, "w") as fh:
        fh["images"] = np.full((n, 3, 8, 8), value, dtype=np.uint8)
        fh["loss"] = np.linspace(0.1, 0.5, n)
        fh["target_index"], fh["seed_index"] = np.arange(n), np.arange(n)[::-1]
        fh.attrs["shard_rows"] = [0, n]


def test_inversion_figures(tmp_path, monkeypatch):
    shown = []
    original = plots.inversion_grid

    def spy(seeds, targets, inverted, title=""):
        fig = original(seeds, targets, inverted, title)
        shown.append((list(inverted), fig))
        return fig

    monkeypatch.setattr(plots, "inversion_grid", spy)
    write_inputs(tmp_path / "inputs.h5")
    for e in ["0", "0.25", "1"]:
        write_inverted(tmp_path / f"inv{e}.h5")
    source = {"source": "sklearn_digits"}
    out = {"png": tmp_path / "fig2.png"}
    plots.inversion_eps_figure(tmp_path / "inputs.h5", {e: tmp_path / f"inv{e}.h5" for e in ["1", "0", "0.25"]},
                               source, model="resnet18", dataset="digits", outputs=out, settings=SETTINGS)
    rows, fig = shown[-1]
    assert rows == ["ε = 0\n(standard)", "ε = 0.25\n(robust)", "ε = 1\n(robust)"]
    labels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert len(labels) == 3 * SETTINGS.n_examples and all("relative feature loss" in t for t in labels)
    assert "resnet18" in fig._suptitle.get_text() and Image.open(out["png"]).size[0] > 100
    plots.inversion_figure(tmp_path / "inputs.h5", {"m1": tmp_path / "inv0.h5", "m2": tmp_path / "inv1.h5"}, source,
                           title="digits, ε = 0", outputs={"png": tmp_path / "grid.png"}, settings=SETTINGS)
    assert shown[-1][0] == ["m1", "m2"] and (tmp_path / "grid.png").exists()


def test_settings_are_an_object_the_defaults_or_the_params_mapping():
    assert plots._settings(SETTINGS) is SETTINGS
    assert plots._settings(None) == FigureSettings()
    assert plots._settings({}) == FigureSettings()
    assert plots._settings(SETTINGS_PARAMS) == SETTINGS  # lists become tuples, as in config.figure_settings
    with pytest.raises(SettingsError, match="figures.colour: unknown setting"):
        plots._settings({"colour": "red"})
    with pytest.raises(TypeError, match="FigureSettings"):
        plots._settings(["png"])


def test_params_mapping_draws_the_same_files_as_its_settings(tables, tmp_path):
    params = {**SETTINGS_PARAMS, "dpi": 40, "variants": "equations"}
    settings = replace(SETTINGS, dpi=40, variants="equations")
    written = {}
    for tag, value in (("params", params), ("object", settings)):
        outputs = {f"{n}_png": tmp_path / f"{tag}_{n}.png" for n in catalog.FIGURES}
        plots.make_figures(list(catalog.FIGURES), tables, outputs, value)
        written[tag] = {n: (tmp_path / f"{tag}_{n}.png").read_bytes() for n in catalog.FIGURES}
    assert written["params"] == written["object"]
    assert Image.open(tmp_path / "object_fig7_agreement_bounds.png").size[0] < 0.96 * plots.FIGURE_WIDTH_PX / 150 * 40


def test_none_means_the_default_settings(tables, tmp_path, monkeypatch):
    defaults = FigureSettings()
    outputs = {f"fig7_agreement_bounds_{fmt}": tmp_path / f"fig7.{fmt}" for fmt in defaults.formats}
    plots.make_figures(["fig7_agreement_bounds"], tables, outputs, None)
    assert all(p.stat().st_size > 1000 for p in outputs.values())
    shown, original = [], plots.inversion_grid

    def spy(*args, **kwargs):
        shown.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(plots, "inversion_grid", spy)
    write_inputs(tmp_path / "inputs.h5", n=defaults.n_examples + 2)
    write_inverted(tmp_path / "inv.h5", n=defaults.n_examples + 2)
    plots.inversion_figure(tmp_path / "inputs.h5", {"m": tmp_path / "inv.h5"}, {"source": "sklearn_digits"},
                           title="t", outputs={"png": tmp_path / "grid.png"}, settings=None)
    seeds, targets, inverted = shown[-1]
    assert len(seeds) == len(targets) == defaults.n_examples and len(inverted["m"][0]) == defaults.n_examples


def test_fig5_boxes_and_legend_follow_the_catalog(tables):
    fig = plots.subgroup_figure(tables["subgroups"], SETTINGS)
    labels = [t.get_text().split("\n(mean")[0] for t in fig.legends[0].get_texts()]
    assert labels == list(catalog.SUBGROUPS.values())
    faces = [h.get_facecolor() for h in fig.legends[0].legend_handles]
    assert len(set(faces)) == len(catalog.SUBGROUPS)


def test_measure_agreement_is_spearman_over_pairs_with_distances_negated():
    # three measures over six pairs: cka ranks them as the values, rtd (a distance) in reverse, so once
    # oriented it agrees with cka (ρ = 1); svcca ranks them in the opposite order of cka (ρ = −1)
    values = np.array([0.1, 0.5, 0.3, 0.9, 0.7, 0.2])
    rows = []
    for i, v in enumerate(values):
        for measure, value in (("cka", v), ("rtd", 10 - 3 * v), ("svcca", -v)):
            rows.append({"dataset": "d", "inputs": "regular", "eps": float(i % 2), "source": "", "model_a": f"m{i}",
                         "model_b": "z", "measure": measure, "value": value})
    frame = pd.DataFrame(rows)
    rho, n = plots.measure_agreement(frame)
    assert n == 6 and list(rho.columns) == ["cka", "rtd", "svcca"]
    assert rho.loc["cka", "rtd"] == pytest.approx(1.0) and rho.loc["cka", "svcca"] == pytest.approx(-1.0)
    fig = plots.measure_agreement_figure(frame)
    shown = fig.axes[0].images[0].get_array()
    assert np.allclose(shown, rho.to_numpy())
    plots.plt.close(fig)


def test_fig4_draws_the_measures_given_in_figures_measures(tables):
    frame = tables["similarity"]
    extra = frame[frame["measure"] == M.CKA_DEBIASED].assign(measure="svcca")
    chosen = replace(SETTINGS, measures=(M.CKA_DEBIASED, "svcca", M.RTD))
    fig = plots.FIGURE_MAKERS["fig4_representations"]({**tables, "similarity": pd.concat([frame, extra])}, chosen)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 2 * 3 and any(t.startswith("SVCCA") for t in titles)
    plots.plt.close(fig)

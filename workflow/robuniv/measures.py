"""The registry of similarity measures: one entry per value of the ``measure`` column of similarity.csv.

Every module that writes or reads a measure takes it from here, so a measure is one entry: what the number
means (which side is more similar, which variant it is: paper text vs released code, docs/method.md,
"Comparisons and measure variants", and whether it is the variant the paper's figures show), which
computation yields it (``family``: a key of :data:`robuniv.similarity.FAMILIES`, one computation giving
several measures that share their work), where the figures draw it and whether analysis 4 (subgroups)
computes it. The comparison, the tables, the figures and the subgroup analysis read these entries; none
lists measures of its own. Importing this module needs neither torch nor numpy.

Adding a measure: one entry here (``_register``) and, for a new computation, its family function in
:mod:`robuniv.similarity`, plus their test.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

PREDICTIONS = "predictions"
REPRESENTATIONS = "representations"
HIGHER = "higher"  # a larger value = more similar
LOWER = "lower"  # a smaller value = more similar (distances, divergences)
# transformations of one representation R (N inputs x D features) a measure may be invariant to:
# R Q (Q orthogonal), c R (c > 0), R + 1 vᵀ (a shift of every input), R P (P a permutation of the features),
# R T (T invertible)
INVARIANCES = ("orthogonal", "isotropic_scaling", "translation", "permutation", "invertible_linear")
SHAPE = frozenset({"orthogonal", "isotropic_scaling", "translation", "permutation"})  # CKA's and Procrustes' set

__all__ = ["Measure", "MEASURES", "measure", "jaccard_name", "jaccard_k", "families", "prediction_measures",
           "representation_figure_measures", "figure_variants", "subgroup_measure_names",
           "PREDICTIONS", "REPRESENTATIONS", "HIGHER", "LOWER",
           "AGREEMENT", "JSD_SIM", "CKA", "CKA_DEBIASED", "PROCRUSTES_SIM", "PROCRUSTES_DISTANCE",
           "PROCRUSTES_NUCLEAR_NORM", "RTD", "JACCARD_KS"]


@dataclass(frozen=True)
class Measure:
    """One measure column: ``name`` as written to similarity.csv, ``label`` for plots, ``kind``
    (predictions | representations), ``direction`` (which side is more similar), ``variant`` (where the
    definition comes from), ``published`` (the variant the paper's figures plot), ``family`` (the
    computation that yields it), ``figure_panel`` (its panel in the representation figures 4 and 5, None:
    not drawn there; prediction measures are drawn in figures 1 and 3), ``figure_variant`` (drawn only under
    that ``figures.variants``; None: under every one) and ``subgroups`` (computed by analysis 4)."""

    name: str
    label: str
    kind: str
    direction: str
    variant: str
    published: bool
    family: str = ""
    figure_panel: Optional[int] = None
    figure_variant: Optional[str] = None
    subgroups: bool = False
    # declared properties (tested generically, tests/test_measure_properties.py): the transformations of either
    # representation that leave the value unchanged (None: not declared, e.g. prediction measures), symmetry
    # in the two models, and whether it is a metric (zero on identical inputs, symmetric, triangle inequality)
    invariances: Optional[frozenset] = None
    symmetric: bool = True
    metric: Optional[bool] = False  # None: not established (RTD: a divergence, no proof either way)
    per_model: str = ""  # what is computed once per model for it (netrep's fit), in words
    paper: str = ""  # where the measure is defined
    peer: str = ""  # the published implementation it is checked against (benchmarks/similarity.py)

    def __post_init__(self):
        if self.kind not in (PREDICTIONS, REPRESENTATIONS):
            raise ValueError(f"kind must be {PREDICTIONS!r} or {REPRESENTATIONS!r}, got {self.kind!r}")
        if self.direction not in (HIGHER, LOWER):
            raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {self.direction!r}")
        if self.invariances is not None and not set(self.invariances) <= set(INVARIANCES):
            raise ValueError(f"{self.name}: unknown invariance(s) {set(self.invariances) - set(INVARIANCES)}")

    @property
    def higher_is_more_similar(self) -> bool:
        return self.direction == HIGHER


MEASURES: dict[str, Measure] = {}


def _register(name: str, label: str, kind: str, direction: str, variant: str, published: bool, **placement) -> str:
    if name in MEASURES:
        raise ValueError(f"measure {name!r} is registered twice")
    MEASURES[name] = Measure(name, label, kind, direction, variant, published, **placement)
    return name


AGREEMENT = _register("agreement", "Agreement (↑ more similar)", PREDICTIONS, HIGHER,
                      "fraction of inputs with the same predicted class (paper and released code)", True,
                      family="predictions")
JSD_SIM = _register("jsd_sim", "JSDSim (↑ more similar)", PREDICTIONS, HIGHER,
                    "1 − mean JSD(softmax) / ln 2, natural logs (paper and released code)", True, family="predictions")
CKA = _register("cka", "CKA, biased (↑ more similar)", REPRESENTATIONS, HIGHER,
                "paper eq. 4: linear CKA with the biased HSIC", False,
                family="cka", figure_panel=0, figure_variant="equations", subgroups=True, invariances=SHAPE,
                per_model="‖XᵀX‖², centring (summaries)", paper="Kornblith et al. 2019", peer="ReSi CKA")
CKA_DEBIASED = _register("cka_debiased", "CKA (↑ more similar)", REPRESENTATIONS, HIGHER,
                         "released code: debiased linear CKA, unbiased HSIC (Song et al. 2012)", True,
                         family="cka", figure_panel=0, figure_variant="published", subgroups=True,
                         invariances=SHAPE, per_model="‖XᵀX‖², row norms (summaries)", paper="Song et al. 2012")
PROCRUSTES_SIM = _register("procrustes_sim", "ProcrustesSim (↑ more similar)", REPRESENTATIONS, HIGHER,
                           "paper eq. 5: (2 − d) / 2 with d = √(2 − 2·nuc)", False,
                           family="procrustes", figure_panel=1, figure_variant="equations", subgroups=True,
                           invariances=SHAPE, paper="Ding et al. 2021")
PROCRUSTES_DISTANCE = _register("procrustes_distance", "Procrustes distance d (↓ more similar)", REPRESENTATIONS,
                                LOWER, "d = √(2 − 2·nuc), the distance inside paper eq. 5", False, family="procrustes",
                                invariances=SHAPE, metric=True, paper="Ding et al. 2021",
                                peer="ReSi OrthogonalProcrustesCenteredAndNormalized")
PROCRUSTES_NUCLEAR_NORM = _register("procrustes_nuclear_norm", "ProcrustesSim, nuclear norm (↑ more similar)",
                                    REPRESENTATIONS, HIGHER,
                                    "released code plotted the nuclear norm nuc = ‖RᵀR′‖_* "
                                    "(unit-norm, centred)",
                                    True, family="procrustes", figure_panel=1, figure_variant="published",
                                    subgroups=True, invariances=SHAPE, paper="Ding et al. 2021")

JACCARD = "jaccard"
JACCARD_KS = (10, 100, 500)  # k = 10 in the main figures; all three in the appendix
JACCARD_FIGURE_K = 10  # the k of the main figures (4 and 5)
_AT_K = re.compile(r"([a-z_]+)@([1-9][0-9]*)")
# measures with a neighbourhood size: name "<base>@<k>" for any k; the entry of one k is made by its template
_K_TEMPLATES: dict = {}


def at_k(base: str, k: int) -> str:
    """The measure name of a kNN measure at ``k`` (any positive k)."""
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return f"{base}@{int(k)}"


def split_k(name: str) -> tuple[str, Optional[int]]:
    """(base, k) of a kNN measure name, (name, None) for any other name."""
    match = _AT_K.fullmatch(name)
    if match and match.group(1) in _K_TEMPLATES:
        return match.group(1), int(match.group(2))
    return name, None


def jaccard_name(k: int) -> str:
    """The measure name of Jaccard@k (any positive k; the registry lists the paper's k)."""
    return at_k(JACCARD, k)


def jaccard_k(name: str):
    """k of a Jaccard@k measure name, or None for any other name."""
    base, k = split_k(name)
    return k if base == JACCARD else None


def _k_template(base: str, ks: tuple, make) -> None:
    """Register a kNN measure: ``make(k)`` gives its entry at k; the registry lists it at each of ``ks``."""
    _K_TEMPLATES[base] = make
    for k in ks:
        MEASURES[at_k(base, k)] = make(k)


_k_template(JACCARD, JACCARD_KS, lambda k: Measure(
    jaccard_name(k), f"Jaccard@{k} (↑ more similar)", REPRESENTATIONS, HIGHER,
    f"mean Jaccard index of the {k} nearest other inputs, cosine on centred representations "
    "(paper and released code)", True, family="jaccard", figure_panel=3 if k == JACCARD_FIGURE_K else None,
    subgroups=True, invariances=SHAPE, per_model="kNN graph (summarise_representations)", paper="Klabunde et al. 2023",
    peer="ReSi JaccardSimilarity (uncentred)"))

RTD = _register("rtd", "RTD (↓ more similar; plotted as −RTD)", REPRESENTATIONS, LOWER,
                "representation topology divergence (Barannikov et al. 2022), paper and released code", True,
                family="rtd", figure_panel=2, subgroups=True, invariances=SHAPE, metric=None,
                per_model="distance matrices of the RTD subsets (summaries)", paper="Barannikov et al. 2022")


# ---------------------------------------------------------------- the catalogue (robuniv.catalogue computes them)
# Not in the paper: ReSi's representational measures (Klabunde et al. 2025) and the kNN family of Huh et al. 2024,
# with ReSi's defaults where ReSi has the measure. Invariances are the true ones of the definition in
# docs/method.md, tested generically; where ReSi declares otherwise, docs/method.md says so.
_ORTHO_PERM = frozenset({"orthogonal", "permutation"})
_CATALOGUE = "catalogue (not in the paper): "


def _catalogue(name, label, direction, family, definition, paper, peer="", **properties) -> str:
    return _register(name, label, REPRESENTATIONS, direction, _CATALOGUE + definition, False, family=family,
                     paper=paper, peer=peer, **properties)


SVCCA = _catalogue("svcca", "SVCCA (↑ more similar)", HIGHER, "cca", "mean canonical correlation of the centred "
                   "representations reduced to 99 % of their variance", "Raghu et al. 2017", "ReSi SVCCA",
                   invariances=SHAPE, per_model="centred SVD")
PWCCA = _catalogue("pwcca", "PWCCA (↑ more similar)", HIGHER, "cca", "canonical correlations weighted by the first model's "
                   "projection onto its canonical variates", "Morcos et al. 2018", "ReSi PWCCA",
                   invariances=frozenset({"isotropic_scaling", "translation", "permutation"}), symmetric=False,
                   per_model="centred SVD")
LINEAR_REGRESSION = _catalogue("linear_regression", "Linear regression R² (↑ more similar)", HIGHER, "alignment",
                               "R² of the first model's centred representation fitted linearly from the second's",
                               "Kornblith et al. 2019", "ReSi LinearRegression", invariances=SHAPE, symmetric=False,
                               per_model="centred SVD")
RSA = _catalogue("rsa", "RSA (↑ more similar)", HIGHER, "rsm", "Spearman correlation of the correlation RSMs (upper "
                 "triangles)", "Kriegeskorte et al. 2008", "ReSi RSA",
                 invariances=frozenset({"isotropic_scaling", "permutation"}), per_model="row-centred unit rows")
RSM_NORM_DIFFERENCE = _catalogue("rsm_norm_difference", "RSM norm difference (↓ more similar)", LOWER, "rsm",
                                 "spectral norm of the difference of the Euclidean distance matrices",
                                 "Shahbazi et al. 2021", "ReSi RSMNormDifference",
                                 invariances=frozenset({"orthogonal", "translation", "permutation"}), metric=True,
                                 per_model="distance matrix")
DISTANCE_CORRELATION = _catalogue("distance_correlation", "Distance correlation (↑ more similar)", HIGHER, "rsm",
                                  "distance correlation of the two representations", "Székely et al. 2007",
                                  "ReSi DistanceCorrelation", invariances=SHAPE, per_model="distance matrix")
EIGENSPACE_OVERLAP = _catalogue("eigenspace_overlap", "Eigenspace overlap (↑ more similar)", HIGHER, "alignment",
                                "‖UᵀU′‖²_F / max(D, D′) of the uncentred left singular vectors", "May et al. 2019",
                                "ReSi EigenspaceOverlapScore",
                                invariances=frozenset({"orthogonal", "isotropic_scaling", "permutation",
                                                       "invertible_linear"}), per_model="uncentred SVD")
HARD_CORRELATION_MATCH = _catalogue("hard_correlation_match", "Hard correlation match (↑ more similar)", HIGHER, "alignment",
                                    "mean correlation of one-to-one matched features", "Li et al. 2016",
                                    "ReSi HardCorrelationMatch",
                                    invariances=frozenset({"isotropic_scaling", "translation", "permutation"}),
                                    per_model="centred columns")
SOFT_CORRELATION_MATCH = _catalogue("soft_correlation_match", "Soft correlation match (↑ more similar)", HIGHER, "alignment",
                                    "mean best correlation of each feature with the other model's", "Li et al. 2016",
                                    "ReSi SoftCorrelationMatch",
                                    invariances=frozenset({"isotropic_scaling", "translation", "permutation"}),
                                    per_model="centred columns")
ALIGNED_COSINE = _catalogue("aligned_cosine", "Aligned cosine (↑ more similar)", HIGHER, "alignment",
                            "mean cosine of the inputs after the orthogonal Procrustes alignment (uncentred)",
                            "Hamilton et al. 2016", "ReSi AlignedCosineSimilarity",
                            invariances=frozenset({"orthogonal", "isotropic_scaling", "permutation"}))
ORTHOGONAL_ANGULAR_SHAPE_METRIC = _catalogue(
    "orthogonal_angular_shape_metric", "Angular shape metric (↓ more similar)", LOWER, "alignment",
    "arccos of the Procrustes nuclear norm of the centred, unit-norm representations", "Williams et al. 2021",
    "ReSi OrthogonalAngularShapeMetricCentered", invariances=SHAPE, metric=True, per_model="centred columns")
PERMUTATION_PROCRUSTES = _catalogue("permutation_procrustes", "Permutation Procrustes (↓ more similar)", LOWER, "alignment",
                                    "‖RP − R′‖_F under the best permutation P of the features (uncentred)",
                                    "Williams et al. 2021", "ReSi PermutationProcrustes",
                                    invariances=frozenset({"permutation"}), metric=True)
PROCRUSTES_SIZE_AND_SHAPE = _catalogue("procrustes_size_and_shape", "Procrustes size-and-shape (↓ more similar)", LOWER,
                                       "alignment", "orthogonal Procrustes distance of the centred, unscaled "
                                       "representations", "Dryden & Mardia 2016",
                                       "ReSi ProcrustesSizeAndShapeDistance",
                                       invariances=frozenset({"orthogonal", "translation", "permutation"}),
                                       metric=True, per_model="centred columns")
GULP = _catalogue("gulp", "GULP, λ = 0 (↓ more similar)", LOWER, "alignment", "distance of the best linear predictors "
                  "(λ = 0): rank R + rank R′ − 2‖QᵀQ′‖²_F", "Boix-Adserà et al. 2022", "ReSi Gulp",
                  invariances=SHAPE | {"invertible_linear"}, per_model="centred SVD")
MAGNITUDE_DIFFERENCE = _catalogue("magnitude_difference", "Magnitude difference (↓ more similar)", LOWER, "statistics",
                                  "difference of the norms of the mean representations", "Wang et al. 2020",
                                  "ReSi MagnitudeDifference", invariances=_ORTHO_PERM)
CONCENTRICITY_DIFFERENCE = _catalogue("concentricity_difference", "Concentricity difference (↓ more similar)", LOWER,
                                      "statistics", "difference of the mean cosines of the inputs to their mean",
                                      "Wang et al. 2020", "ReSi ConcentricityDifference",
                                      invariances=_ORTHO_PERM | {"isotropic_scaling"})
UNIFORMITY_DIFFERENCE = _catalogue("uniformity_difference", "Uniformity difference (↓ more similar)", LOWER, "rsm",
                                   "difference of log mean exp(−2‖rᵢ − rⱼ‖²)", "Wang & Isola 2020",
                                   "ReSi UniformityDifference", invariances=_ORTHO_PERM | {"translation"},
                                   per_model="distance matrix")
CATALOGUE_KS = (10,)  # ReSi's k


def _knn_measure(base, label, definition, paper, peer, symmetric=True):
    _k_template(base, CATALOGUE_KS, lambda k: Measure(
        at_k(base, k), f"{label}@{k} (↑ more similar)", REPRESENTATIONS, HIGHER, _CATALOGUE + definition, False,
        family="neighbours", invariances=_ORTHO_PERM | {"isotropic_scaling"}, symmetric=symmetric,
        per_model="kNN graph (cosine, uncentred)", paper=paper, peer=peer))


_knn_measure("second_order_cosine", "Second-order cosine", "cosine of the distances to the union of both "
             "models' k neighbours", "Hamilton et al. 2016", "ReSi SecondOrderCosineSimilarity")
_knn_measure("rank_similarity", "Rank similarity", "agreement of the ranks of the shared k neighbours",
             "Wang et al. 2022", "ReSi RankSimilarity")
_knn_measure("mutual_knn", "Mutual kNN", "mean share of the k neighbours both models have", "Huh et al. 2024",
             "Platonic metrics.py mutual_knn")
# not symmetric: the unbiased HSIC's cross term colsum(K̃)·rowsum(L̃) changes when K and L swap, because a kNN
# mask is not symmetric (j among i's neighbours does not make i one of j's)
_knn_measure("cknna", "CKNNA", "CKA of the cosine kernels restricted to mutual k neighbours", "Huh et al. 2024",
             "Platonic metrics.py cknna", symmetric=False)


CATALOGUE_FAMILIES = ("cca", "alignment", "rsm", "neighbours", "statistics")  # robuniv.catalogue's families


def catalogue_measures() -> list[str]:
    """The measures :mod:`robuniv.catalogue` computes (registry order, kNN measures at the registry's k)."""
    return [n for n, m in MEASURES.items() if m.variant.startswith(_CATALOGUE)]


def measure(name: str) -> Measure:
    """The registry entry of ``name``; a kNN measure at any k. Unknown names raise a ValueError listing the known."""
    if name in MEASURES:
        return MEASURES[name]
    base, k = split_k(name)
    if k is not None:
        return _K_TEMPLATES[base](k)
    import difflib

    close = difflib.get_close_matches(name, list(MEASURES) + [f"{b}@<k>" for b in _K_TEMPLATES], n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise ValueError(f"unknown measure {name!r}{hint}; known: {', '.join(MEASURES)} "
                     f"(and {', '.join(b + '@<k>' for b in _K_TEMPLATES)} for any k)")


def families(names) -> list[str]:
    """The computations that yield ``names``, in registry order (each once)."""
    wanted = {measure(n).family for n in names}
    order = list(dict.fromkeys(m.family for m in MEASURES.values()))
    return [f for f in order if f in wanted]


def prediction_measures() -> list[str]:
    """The measures of the logits (figures 1 and 3), in registry order."""
    return [n for n, m in MEASURES.items() if m.kind == PREDICTIONS]


def figure_variants() -> list[str]:
    """The values of ``figures.variants``: the variants some measure is drawn under."""
    return list(dict.fromkeys(m.figure_variant for m in MEASURES.values() if m.figure_variant is not None))


def representation_figure_measures(variants: str, available=()) -> list[str]:
    """The measures of figures 4 and 5, by panel: those drawn under ``variants`` (or under every variant),
    with Jaccard@k at k = 10, or at the smallest k in ``available`` when that has no k = 10."""
    if variants not in figure_variants():
        raise ValueError(f"figures.variants must be one of {', '.join(figure_variants())}, got {variants!r}")
    chosen = sorted((m for m in MEASURES.values() if m.figure_panel is not None
                     and m.figure_variant in (None, variants)), key=lambda m: m.figure_panel)
    names = [m.name for m in chosen]
    ks = sorted(k for k in (jaccard_k(n) for n in available) if k is not None)
    figure_jaccard = jaccard_name(JACCARD_FIGURE_K)
    if available and figure_jaccard not in set(available) and ks:
        names[names.index(figure_jaccard)] = jaccard_name(ks[0])
    return names


def subgroup_measure_names(k: int) -> list[str]:
    """The measures of analysis 4, in registry order, with Jaccard at the analysis' ``k``."""
    names = []
    for name, entry in MEASURES.items():
        if not entry.subgroups:
            continue
        if jaccard_k(name) is not None:
            name = jaccard_name(k)
        if name not in names:
            names.append(name)
    return names

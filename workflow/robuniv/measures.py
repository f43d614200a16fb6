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

    def __post_init__(self):
        if self.kind not in (PREDICTIONS, REPRESENTATIONS):
            raise ValueError(f"kind must be {PREDICTIONS!r} or {REPRESENTATIONS!r}, got {self.kind!r}")
        if self.direction not in (HIGHER, LOWER):
            raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {self.direction!r}")

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
                family="cka", figure_panel=0, figure_variant="equations", subgroups=True)
CKA_DEBIASED = _register("cka_debiased", "CKA (↑ more similar)", REPRESENTATIONS, HIGHER,
                         "released code: debiased linear CKA, unbiased HSIC (Song et al. 2012)", True,
                         family="cka", figure_panel=0, figure_variant="published", subgroups=True)
PROCRUSTES_SIM = _register("procrustes_sim", "ProcrustesSim (↑ more similar)", REPRESENTATIONS, HIGHER,
                           "paper eq. 5: (2 − d) / 2 with d = √(2 − 2·nuc)", False,
                           family="procrustes", figure_panel=1, figure_variant="equations", subgroups=True)
PROCRUSTES_DISTANCE = _register("procrustes_distance", "Procrustes distance d (↓ more similar)", REPRESENTATIONS,
                                LOWER, "d = √(2 − 2·nuc), the distance inside paper eq. 5", False, family="procrustes")
PROCRUSTES_NUCLEAR_NORM = _register("procrustes_nuclear_norm", "ProcrustesSim, nuclear norm (↑ more similar)",
                                    REPRESENTATIONS, HIGHER,
                                    "released code plotted the nuclear norm nuc = ‖RᵀR′‖_* "
                                    "(unit-norm, centred)",
                                    True, family="procrustes", figure_panel=1, figure_variant="published",
                                    subgroups=True)

_JACCARD_PREFIX = "jaccard@"
_JACCARD_PATTERN = re.compile(re.escape(_JACCARD_PREFIX) + r"([1-9][0-9]*)")
JACCARD_KS = (10, 100, 500)  # k = 10 in the main figures; all three in the appendix
JACCARD_FIGURE_K = 10  # the k of the main figures (4 and 5)


def jaccard_name(k: int) -> str:
    """The measure name of Jaccard@k (any positive k; the registry lists the paper's k)."""
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return f"{_JACCARD_PREFIX}{int(k)}"


def jaccard_k(name: str):
    """k of a Jaccard@k measure name, or None for any other name."""
    match = _JACCARD_PATTERN.fullmatch(name)
    return int(match.group(1)) if match else None


def _jaccard_entry(k: int) -> Measure:
    return Measure(jaccard_name(k), f"Jaccard@{k} (↑ more similar)", REPRESENTATIONS, HIGHER,
                   f"mean Jaccard index of the {k} nearest other inputs, cosine on centred representations "
                   "(paper and released code)", True, family="jaccard",
                   figure_panel=3 if k == JACCARD_FIGURE_K else None, subgroups=True)


for _k in JACCARD_KS:
    MEASURES[jaccard_name(_k)] = _jaccard_entry(_k)

RTD = _register("rtd", "RTD (↓ more similar; plotted as −RTD)", REPRESENTATIONS, LOWER,
                "representation topology divergence (Barannikov et al. 2022), paper and released code", True,
                family="rtd", figure_panel=2, subgroups=True)


def measure(name: str) -> Measure:
    """The registry entry of ``name``; Jaccard@k for any k. Unknown names raise a ValueError listing the known."""
    if name in MEASURES:
        return MEASURES[name]
    k = jaccard_k(name)
    if k is not None:
        return _jaccard_entry(k)
    raise ValueError(f"unknown measure {name!r}; known: {', '.join(MEASURES)} (and jaccard@<k> for any k)")


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

"""The registry of similarity measures: one entry per value of the ``measure`` column of similarity.csv.

Every module that writes or reads a measure takes its name from here (``CKA``, ``jaccard_name(10)``, ...),
so a measure's name appears in exactly one place. Each entry says what the number means: which side is
more similar, which variant it is (paper text vs released code, docs/method.md, "Comparisons and measure variants"), and whether it
is the variant the paper's figures show. Importing this module needs neither torch nor numpy.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass

PREDICTIONS = "predictions"
REPRESENTATIONS = "representations"
HIGHER = "higher"  # a larger value = more similar
LOWER = "lower"  # a smaller value = more similar (distances, divergences)

__all__ = ["Measure", "MEASURES", "measure", "jaccard_name", "jaccard_k", "is_known", "describe",
           "PREDICTIONS", "REPRESENTATIONS", "HIGHER", "LOWER",
           "AGREEMENT", "JSD_SIM", "CKA", "CKA_DEBIASED", "PROCRUSTES_SIM", "PROCRUSTES_DISTANCE",
           "PROCRUSTES_NUCLEAR_NORM", "RTD", "JACCARD_KS"]


@dataclass(frozen=True)
class Measure:
    """One measure column: ``name`` as written to similarity.csv, ``label`` for plots, ``kind``
    (predictions | representations), ``direction`` (which side is more similar), ``variant`` (where the
    definition comes from) and ``published`` (the variant the paper's figures plot)."""

    name: str
    label: str
    kind: str
    direction: str
    variant: str
    published: bool

    def __post_init__(self):
        if self.kind not in (PREDICTIONS, REPRESENTATIONS):
            raise ValueError(f"kind must be {PREDICTIONS!r} or {REPRESENTATIONS!r}, got {self.kind!r}")
        if self.direction not in (HIGHER, LOWER):
            raise ValueError(f"direction must be {HIGHER!r} or {LOWER!r}, got {self.direction!r}")

    @property
    def higher_is_more_similar(self) -> bool:
        return self.direction == HIGHER


MEASURES: dict[str, Measure] = {}


def _register(name: str, label: str, kind: str, direction: str, variant: str, published: bool) -> str:
    if name in MEASURES:
        raise ValueError(f"measure {name!r} is registered twice")
    MEASURES[name] = Measure(name, label, kind, direction, variant, published)
    return name


AGREEMENT = _register("agreement", "Agreement (↑ more similar)", PREDICTIONS, HIGHER,
                      "fraction of inputs with the same predicted class (paper and released code)", True)
JSD_SIM = _register("jsd_sim", "JSDSim (↑ more similar)", PREDICTIONS, HIGHER,
                    "1 − mean JSD(softmax) / ln 2, natural logs (paper and released code)", True)
CKA = _register("cka", "CKA, biased (↑ more similar)", REPRESENTATIONS, HIGHER,
                "paper eq. 4: linear CKA with the biased HSIC", False)
CKA_DEBIASED = _register("cka_debiased", "CKA (↑ more similar)", REPRESENTATIONS, HIGHER,
                         "released code: debiased linear CKA, unbiased HSIC (Song et al. 2012)", True)
PROCRUSTES_SIM = _register("procrustes_sim", "ProcrustesSim (↑ more similar)", REPRESENTATIONS, HIGHER,
                           "paper eq. 5: (2 − d) / 2 with d = √(2 − 2·nuc)", False)
PROCRUSTES_DISTANCE = _register("procrustes_distance", "Procrustes distance d (↓ more similar)", REPRESENTATIONS,
                                LOWER, "d = √(2 − 2·nuc), the distance inside paper eq. 5", False)
PROCRUSTES_NUCLEAR_NORM = _register("procrustes_nuclear_norm", "ProcrustesSim, nuclear norm (↑ more similar)",
                                    REPRESENTATIONS, HIGHER,
                                    "released code plotted the nuclear norm nuc = ‖RᵀR′‖_* "
                                    "(unit-norm, centred)",
                                    True)
RTD = _register("rtd", "RTD (↓ more similar; plotted as −RTD)", REPRESENTATIONS, LOWER,
                "representation topology divergence (Barannikov et al. 2022), paper and released code", True)

_JACCARD_PREFIX = "jaccard@"
_JACCARD_PATTERN = re.compile(re.escape(_JACCARD_PREFIX) + r"([1-9][0-9]*)")
JACCARD_KS = (10, 100, 500)  # k = 10 in the main figures; all three in the appendix


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
                   "(paper and released code)", True)


for _k in JACCARD_KS:
    MEASURES[jaccard_name(_k)] = _jaccard_entry(_k)


def is_known(name: str) -> bool:
    return name in MEASURES or jaccard_k(name) is not None


def measure(name: str) -> Measure:
    """The registry entry of ``name``; Jaccard@k for any k. Unknown names raise a ValueError listing the known."""
    if name in MEASURES:
        return MEASURES[name]
    k = jaccard_k(name)
    if k is not None:
        return _jaccard_entry(k)
    raise ValueError(f"unknown measure {name!r}; known: {', '.join(MEASURES)} (and jaccard@<k> for any k)")


def describe(names) -> list[dict]:
    """Registry fields of each name, as dicts (for tables)."""
    return [asdict(measure(n)) for n in names]

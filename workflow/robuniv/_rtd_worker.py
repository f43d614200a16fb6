"""RTD's persistent-homology step, in a module light enough for worker processes to import quickly.

giotto-ph holds the GIL and its first calls race when made from several threads at once, so RTD's
trials run in separate processes; this module imports only numpy and giotto-ph's compiled core (not torch).

giotto-ph's Python front end (``gph.ripser_parallel``) imports scikit-learn, scipy.stats and pandas on the
way (0.9 s, in every job that computes RTD), none of which its dense, precomputed-distance path uses. So the
barcode is computed by that path's few lines on the compiled core (``gph.modules.gph_ripser.rips_dm``),
loaded without running ``gph/__init__``; where the core is not where giotto-ph 0.2 keeps it, the front end is
used. Both give the same bars (tests/test_similarity.py compares them bit for bit).
"""
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import numpy as np

_CORE = "gph.modules.gph_ripser"


def ripser_core():
    """giotto-ph's compiled Vietoris–Rips core (Z/2 coefficients), or None where it cannot be found."""
    if _CORE in sys.modules:
        return sys.modules[_CORE]
    spec = importlib.util.find_spec("gph")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "modules"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = folder / f"gph_ripser{suffix}"
        if path.is_file():
            core_spec = importlib.util.spec_from_file_location(_CORE, path)
            core = importlib.util.module_from_spec(core_spec)
            core_spec.loader.exec_module(core)
            # Registered under its own name: a later `import gph` reuses it instead of loading it twice.
            sys.modules[_CORE] = core
            return core
    return None


def _dense_barcode(dm: np.ndarray, maxdim: int):
    """giotto-ph's dense path (metric="precomputed", no threshold, no edge collapse, Z/2): the enclosing
    radius as threshold, the condensed upper triangle in float32; returns None without the core."""
    core = ripser_core()
    if core is None:
        return None
    n = dm.shape[0]
    thresh = float(np.min(np.max(dm, axis=1)))  # the enclosing radius: all homology is trivial above it
    upper = dm[np.triu_indices(n, k=1)].astype(np.float32)
    result = core.rips_dm(upper, np.diagonal(dm).astype(np.float32), 2, maxdim, thresh, 1, False)
    return [np.asarray(bars).reshape(-1, 2) for bars in result.births_and_deaths_by_dim()]


def persistence_diagrams(dm: np.ndarray, maxdim: int = 1, front_end: bool = False) -> list:
    """Persistence diagrams (one array of (birth, death) rows per dimension up to ``maxdim``) of the
    Vietoris–Rips filtration of a square distance matrix; ``front_end`` forces giotto-ph's ripser_parallel."""
    dgms = None if front_end else _dense_barcode(dm, maxdim)
    if dgms is None:
        from gph import ripser_parallel

        dgms = ripser_parallel(dm, metric="precomputed", maxdim=maxdim, collapse_edges=False, n_threads=1)["dgms"]
    return dgms


def cross_barcode(d1: np.ndarray, d2: np.ndarray, front_end: bool = False) -> np.ndarray:
    """H1 barcode (rows birth, death) of the R-cross complex [[0, D1ᵀ], [D1, min(D1, D2)]]."""
    n = d1.shape[0]
    if d1.shape != (n, n) or d2.shape != (n, n):
        raise ValueError(f"distance matrices must be square and of one size, got {d1.shape} and {d2.shape}")
    cross = np.zeros((2 * n, 2 * n))
    cross[n:, :n] = d1
    cross[:n, n:] = d1.T
    cross[n:, n:] = np.minimum(d1, d2)
    # Edge collapse is off: it is very slow on these matrices and leaves the barcode unchanged.
    bars = np.asarray(persistence_diagrams(cross, 1, front_end)[1], dtype=np.float64).reshape(-1, 2)
    return bars[np.isfinite(bars[:, 1])]


def total_persistence(d1: np.ndarray, d2: np.ndarray) -> float:
    """Sum of the H1 bar lengths of the R-cross complex of (d1, d2)."""
    bars = cross_barcode(d1, d2)
    return float((bars[:, 1] - bars[:, 0]).sum())

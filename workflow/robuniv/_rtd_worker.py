"""RTD's persistent-homology step, in a module light enough for worker processes to import quickly.

giotto-ph holds the GIL and its first calls race when made from several threads at once, so RTD's
trials run in separate processes; this module imports only numpy and giotto-ph (not torch).
"""
import numpy as np


def cross_barcode(d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """H1 barcode (rows birth, death) of the R-cross complex [[0, D1ᵀ], [D1, min(D1, D2)]]."""
    from gph import ripser_parallel

    n = d1.shape[0]
    if d1.shape != (n, n) or d2.shape != (n, n):
        raise ValueError(f"distance matrices must be square and of one size, got {d1.shape} and {d2.shape}")
    cross = np.zeros((2 * n, 2 * n))
    cross[n:, :n] = d1
    cross[:n, n:] = d1.T
    cross[n:, n:] = np.minimum(d1, d2)
    # Edge collapse is off: it is very slow on these matrices and leaves the barcode unchanged.
    result = ripser_parallel(cross, metric="precomputed", maxdim=1, collapse_edges=False, n_threads=1)
    bars = np.asarray(result["dgms"][1], dtype=np.float64).reshape(-1, 2)
    return bars[np.isfinite(bars[:, 1])]


def total_persistence(d1: np.ndarray, d2: np.ndarray) -> float:
    """Sum of the H1 bar lengths of the R-cross complex of (d1, d2)."""
    bars = cross_barcode(d1, d2)
    return float((bars[:, 1] - bars[:, 0]).sum())

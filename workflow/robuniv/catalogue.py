"""The measure catalogue beyond the paper's six families: ReSi's representational measures (Klabunde et al.
2023/2025) and the kNN family of the Platonic-representation study (Huh et al. 2024). Definitions and papers:
docs/method.md, "The measure catalogue"; each measure's declared properties and defaults: its entry in
:mod:`robuniv.measures`.

Pure numpy/scipy in float64 (no torch: a catalogue job starts in a fraction of the time a torch import takes).
Work that depends on one model alone is a :class:`ModelSteps` step, computed once per model and shared by every
measure of the pair (netrep's fit-once within a job). A family function takes both models' steps and the
family's settings and returns {measure name: value} for every measure of the family, so that choosing one more
measure of a family that already ran recomputes nothing.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Sequence

import numpy as np

from . import measures as M

__all__ = ["ModelSteps", "CATALOGUE_FAMILIES", "compute_family"]

_BLOCK = 2048  # rows per block of the N x N computations: memory O(N * block), never N x N float64 at once


# ---------------------------------------------------------------- per-model steps
class ModelSteps:
    """One model's representation (float64) and what the catalogue's measures compute from it alone, each step
    on first use: centred columns, the orthonormal basis of the centred column space (with its singular values),
    the left singular vectors of the uncentred matrix, unit rows, row-centred unit rows and kNN graphs."""

    def __init__(self, reps, name: str = "reps"):
        x = np.asarray(reps)
        if x.dtype.kind not in "fiu":
            raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"{name} must be a non-empty 2-D array (inputs x features), got shape {x.shape}")
        if not np.isfinite(x.sum()) and not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf")
        self.x, self.name, self.n = x, name, x.shape[0]
        self._cache: dict = {}

    def _once(self, key, make: Callable):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def centred(self) -> np.ndarray:
        def make():
            c = self.x - self.x.mean(axis=0, keepdims=True)
            if np.abs(c).max() <= 64 * np.finfo(float).eps * max(np.abs(self.x).max(), 1e-300):
                raise ValueError(f"{self.name} is constant (zero variance): the similarity is undefined")
            return c
        return self._once("centred", make)

    @property
    def centred_svd(self) -> tuple[np.ndarray, np.ndarray]:
        """(U, S) of the centred matrix, U restricted to its numerical rank."""
        return self._once("centred_svd", lambda: _basis(self.centred))

    @property
    def basis(self) -> np.ndarray:
        """Orthonormal basis of the centred column space."""
        return self.centred_svd[0]

    @property
    def uncentred_basis(self) -> np.ndarray:
        return self._once("uncentred_basis", lambda: _basis(self.x)[0])

    @property
    def unit_rows(self) -> np.ndarray:
        return self._once("unit_rows", lambda: _unit_rows(self.x))

    @property
    def row_centred_unit_rows(self) -> np.ndarray:
        return self._once("row_centred", lambda: _unit_rows(self.x - self.x.mean(axis=1, keepdims=True)))

    def knn(self, k: int) -> np.ndarray:
        """(N, k) nearest other rows by cosine of the uncentred rows, nearest first."""
        largest = self._cache.get("knn")
        if largest is None or largest.shape[1] < k:
            largest = self._cache["knn"] = _knn(self.unit_rows, k)
        return largest[:, :k]

    def sq_distances_block(self, start: int, stop: int) -> np.ndarray:
        """Squared Euclidean distances of rows start:stop to every row."""
        sq = self._once("sq_rows", lambda: np.einsum("ij,ij->i", self.x, self.x))
        block = sq[start:stop, None] + sq[None, :] - 2.0 * (self.x[start:stop] @ self.x.T)
        np.maximum(block, 0.0, out=block)
        return block


def _basis(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        raise ValueError("a representation is zero: the similarity is undefined")
    rank = int((s > s[0] * max(x.shape) * np.finfo(float).eps).sum())
    return u[:, :rank], s[:rank]


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def _knn(unit: np.ndarray, k: int) -> np.ndarray:
    n = unit.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"k must be smaller than the number of inputs (k={k}, N={n})")
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, _BLOCK):
        sims = unit[start:start + _BLOCK] @ unit.T
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf  # never its own neighbour
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        out[start:start + _BLOCK] = np.take_along_axis(top, order, axis=1)
    return out


def _padded(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both matrices at the larger width, the narrower with columns of zeros (as ReSi does)."""
    width = max(a.shape[1], b.shape[1])
    pad = lambda x: x if x.shape[1] == width else np.hstack([x, np.zeros((x.shape[0], width - x.shape[1]))])  # noqa: E731
    return pad(a), pad(b)


def _frobenius_unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x)


def _nuclear(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.linalg.svd(x.T @ y, compute_uv=False).sum())


# ---------------------------------------------------------------- families (steps_a, steps_b, settings) -> {name: value}
CATALOGUE_FAMILIES: dict[str, Callable] = {}


def _family(name: str):
    def register(function):
        CATALOGUE_FAMILIES[name] = function
        return function
    return register


@_family("cca")
def _cca_family(a: ModelSteps, b: ModelSteps, settings: dict) -> dict:
    """SVCCA (Raghu et al. 2017) and PWCCA (Morcos et al. 2018) from the centred SVDs."""
    variance = float(settings.get("svcca_variance", 0.99))
    reduced = []
    for steps in (a, b):
        u, s = steps.centred_svd
        share = np.cumsum(s ** 2) / np.sum(s ** 2)
        reduced.append(u[:, :int(np.argmax(share >= variance)) + 1])
    svcca = float(np.linalg.svd(reduced[0].T @ reduced[1], compute_uv=False).mean())
    u, rho, _ = np.linalg.svd(a.basis.T @ b.basis, full_matrices=False)
    variates = a.basis @ u[:, :rho.size]
    weights = np.abs(variates.T @ a.centred).sum(axis=1)
    pwcca = float(np.sum(weights / weights.sum() * rho))
    return {"svcca": svcca, "pwcca": pwcca}


@_family("alignment")
def _alignment_family(a: ModelSteps, b: ModelSteps, settings: dict) -> dict:
    """Measures that align one space to the other: linear regression, Procrustes variants, correlation
    matching, eigenspace overlap and GULP."""
    out = {}
    ca, cb = a.centred, b.centred
    out["linear_regression"] = float(np.sum((b.basis.T @ ca) ** 2) / np.sum(ca ** 2))
    overlap_centred = float(np.sum((a.basis.T @ b.basis) ** 2))
    out["gulp"] = float(a.basis.shape[1] + b.basis.shape[1] - 2.0 * overlap_centred)
    out["eigenspace_overlap"] = float(np.sum((a.uncentred_basis.T @ b.uncentred_basis) ** 2)
                                      / max(a.x.shape[1], b.x.shape[1]))
    nuc_unit = min(1.0, _nuclear(_frobenius_unit(ca), _frobenius_unit(cb)))
    out["orthogonal_angular_shape_metric"] = float(math.acos(max(-1.0, nuc_unit)))
    out["procrustes_size_and_shape"] = math.sqrt(max(0.0, float(np.sum(ca ** 2) + np.sum(cb ** 2))
                                                      - 2.0 * _nuclear(ca, cb)))
    out["aligned_cosine"] = _aligned_cosine(a.x, b.x)
    out["permutation_procrustes"] = _permutation_procrustes(a.x, b.x)
    corr = _column_correlations(ca, cb)
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(corr, maximize=True)
    out["hard_correlation_match"] = float(corr[rows, cols].mean())
    out["soft_correlation_match"] = float((corr.max(axis=1).mean() + corr.max(axis=0).mean()) / 2.0)
    return out


def _aligned_cosine(x: np.ndarray, y: np.ndarray) -> float:
    x, y = _padded(x, y)
    u, _, vt = np.linalg.svd(x.T @ y)
    aligned = x @ (u @ vt)
    norms = np.linalg.norm(aligned, axis=1) * np.linalg.norm(y, axis=1)
    defined = norms > 0
    if not defined.any():
        raise ValueError("aligned cosine is undefined: every input is represented by a zero vector")
    return float(np.mean(np.einsum("ij,ij->i", aligned[defined], y[defined]) / norms[defined]))


def _permutation_procrustes(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment

    x, y = _padded(x, y)
    rows, cols = linear_sum_assignment(x.T @ y, maximize=True)
    return float(np.linalg.norm(x[:, rows] - y[:, cols]))


def _column_correlations(ca: np.ndarray, cb: np.ndarray) -> np.ndarray:
    """Pearson correlations of every column of A with every column of B (a constant column correlates 0)."""
    na, nb = np.linalg.norm(ca, axis=0), np.linalg.norm(cb, axis=0)
    return (ca / np.where(na > 0, na, 1.0)).T @ (cb / np.where(nb > 0, nb, 1.0))


@_family("rsm")
def _rsm_family(a: ModelSteps, b: ModelSteps, settings: dict) -> dict:
    """Measures of the N x N similarity and distance matrices: RSA, the RSM norm difference, distance
    correlation and the uniformity difference. Made in row blocks: no N x N float64 matrix is ever held (the
    distance matrices are kept in float32, every sum runs in float64). Peak memory is set by ranking RSA's
    N(N−1)/2 values: measured 3.7 GB above the inputs at N = 10,000 (benchmarks/catalogue.py)."""
    rsa = _rsa(a, b, settings.get("rsa_outer", "spearman"))
    dist_a, dist_b = _distances(a), _distances(b)
    dcor = _distance_correlation(dist_a, dist_b)
    del dist_a, dist_b
    uniformity = abs(_uniformity(a) - _uniformity(b))
    # the difference in float64 before it is stored: similar models' distances differ by much less than
    # they are, and a difference of float32 distances would lose those digits
    difference = _distances(a, minus=b)
    return {"rsa": rsa, "rsm_norm_difference": _spectral_norm(difference), "distance_correlation": dcor,
            "uniformity_difference": float(uniformity)}


def _upper_triangle(unit: np.ndarray) -> np.ndarray:
    """The entries i < j of unit unitᵀ, row by row (float64, N(N−1)/2 values), made in row blocks."""
    n = unit.shape[0]
    out = np.empty(n * (n - 1) // 2)
    at = 0
    for start in range(0, n, _BLOCK):
        block = unit[start:start + _BLOCK] @ unit[start:].T
        for i in range(block.shape[0]):
            row = block[i, i + 1:]
            out[at:at + row.size] = row
            at += row.size
    return out


def average_ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a vector, ties sharing their mean rank, as ``scipy.stats.rankdata(x)`` (method "average",
    NaN propagating) gives them, but without scipy.stats (0.5 s to import, in every RSA job)."""
    x = np.asarray(x).ravel()
    if np.isnan(x).any():
        return np.full(x.shape, np.nan)
    order = np.argsort(x, kind="stable")
    ordered = x[order]
    first = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # where each run of ties starts
    mean_rank = (first + np.r_[first[1:], x.size] + 1) / 2.0  # of positions first+1 .. next first
    ranks = np.empty(x.size)
    ranks[order] = np.repeat(mean_rank, np.diff(np.r_[first, x.size]))
    return ranks


def _rsa(a: ModelSteps, b: ModelSteps, outer: str) -> float:
    """Correlation of the upper triangles of both models' correlation RSMs (Spearman: of their ranks)."""
    values = []
    for steps in (a, b):
        upper = _upper_triangle(steps.row_centred_unit_rows)
        values.append(average_ranks(upper) if outer == "spearman" else upper)
        del upper
    x, y = values
    x -= x.mean()  # in place: no further N²/2 copies
    y -= y.mean()
    return float(x @ y / math.sqrt((x @ x) * (y @ y)))


def _distances(steps: ModelSteps, minus: Optional[ModelSteps] = None) -> np.ndarray:
    """Euclidean distances of every two rows (less those of ``minus``), computed in float64 by row blocks and
    stored in float32."""
    out = np.empty((steps.n, steps.n), dtype=np.float32)
    for start in range(0, steps.n, _BLOCK):
        block = np.sqrt(steps.sq_distances_block(start, start + _BLOCK))
        if minus is not None:
            block -= np.sqrt(minus.sq_distances_block(start, start + _BLOCK))
        out[start:start + _BLOCK] = block
    np.fill_diagonal(out, 0.0)
    return out


def _spectral_norm(sym: np.ndarray) -> float:
    """Largest |eigenvalue| of a symmetric matrix: exact (LAPACK) for small N, else Lanczos to machine
    precision (a few dozen products with the matrix instead of an O(N³) decomposition)."""
    if sym.shape[0] <= 1000:
        return float(np.abs(np.linalg.eigvalsh(sym.astype(np.float64))).max())
    from scipy.sparse.linalg import LinearOperator, eigsh

    def product(v):  # in float64, a row block at a time (no float64 copy of the whole matrix)
        v = np.ravel(v)
        return np.concatenate([sym[s:s + _BLOCK].astype(np.float64) @ v for s in range(0, sym.shape[0], _BLOCK)])

    operator = LinearOperator(sym.shape, matvec=product, dtype=np.float64)
    return float(abs(eigsh(operator, k=1, which="LM", tol=0, return_eigenvectors=False)[0]))


def _distance_correlation(dist_a: np.ndarray, dist_b: np.ndarray) -> float:
    """Székely et al.'s distance correlation from both distance matrices, double-centred block by block."""
    n = dist_a.shape[0]
    means = [d.mean(axis=1, dtype=np.float64) for d in (dist_a, dist_b)]  # rows = columns (symmetric)
    grand = [float(m.mean()) for m in means]
    cov = np.zeros(3)  # ab, aa, bb
    for start in range(0, n, _BLOCK):
        rows = slice(start, start + _BLOCK)
        ca, cb = (d[rows].astype(np.float64) - m[rows, None] - m[None, :] + g
                  for d, m, g in zip((dist_a, dist_b), means, grand))
        cov += [np.sum(ca * cb), np.sum(ca * ca), np.sum(cb * cb)]
    return float(math.sqrt(max(0.0, cov[0]) / math.sqrt(cov[1] * cov[2])))


def _uniformity(steps: ModelSteps, t: float = 2.0) -> float:
    """log of the mean of exp(−t ||x_i − x_j||²) over all ordered pairs (i = j included), by log-sum-exp."""
    from scipy.special import logsumexp

    parts = [logsumexp(-t * steps.sq_distances_block(s, s + _BLOCK)) for s in range(0, steps.n, _BLOCK)]
    return float(logsumexp(parts) - 2.0 * math.log(steps.n))


@_family("neighbours")
def _neighbour_family(a: ModelSteps, b: ModelSteps, settings: dict) -> dict:
    """kNN measures at each k: second-order cosine (Hamilton et al. 2016), rank similarity (Wang et al. 2022),
    mutual kNN and CKNNA (Huh et al. 2024); neighbours by cosine of the uncentred representations."""
    out, ks = {}, sorted(set(int(k) for k in settings.get("ks", M.CATALOGUE_KS)))
    a.knn(ks[-1]), b.knn(ks[-1])  # one search per model at the largest k serves every k
    for k in ks:
        knn_a, knn_b = a.knn(k), b.knn(k)
        out[M.at_k("second_order_cosine", k)] = _second_order_cosine(a.unit_rows, b.unit_rows, knn_a, knn_b)
        out[M.at_k("rank_similarity", k)] = _rank_similarity(knn_a, knn_b)
        shared = _shared_mask(knn_a, knn_b)
        out[M.at_k("mutual_knn", k)] = float(shared.sum(axis=1).mean() / k)
        out[M.at_k("cknna", k)] = _cknna(a.unit_rows, b.unit_rows, knn_a, knn_b, shared)
    return out


def _shared_mask(knn_a: np.ndarray, knn_b: np.ndarray) -> np.ndarray:
    """(N, k) booleans: whether knn_a[i, j] is also among knn_b[i]."""
    return (knn_a[:, :, None] == knn_b[:, None, :]).any(axis=2)


def _second_order_cosine(unit_a, unit_b, knn_a, knn_b) -> float:
    scores = np.empty(knn_a.shape[0])
    for i in range(knn_a.shape[0]):
        union = np.union1d(knn_a[i], knn_b[i])
        dist_a = 1.0 - unit_a[union] @ unit_a[i]
        dist_b = 1.0 - unit_b[union] @ unit_b[i]
        scores[i] = dist_a @ dist_b / (np.linalg.norm(dist_a) * np.linalg.norm(dist_b))
    return float(scores.mean())


def _rank_similarity(knn_a, knn_b) -> float:
    n, k = knn_a.shape
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, k + 1))])
    # ranks (1 = nearest) of each of A's neighbours in B's list, 0 where absent
    match = knn_a[:, :, None] == knn_b[:, None, :]
    rank_b = np.where(match.any(axis=2), match.argmax(axis=2) + 1, 0)
    rank_a = np.broadcast_to(np.arange(1, k + 1), (n, k))
    shared = rank_b > 0
    terms = np.where(shared, 2.0 / ((1.0 + np.abs(rank_a - rank_b)) * (rank_a + rank_b)), 0.0)
    count = shared.sum(axis=1)
    scores = np.where(count > 0, terms.sum(axis=1) / np.where(count > 0, harmonic[count], 1.0), 0.0)
    return float(scores.mean())


def _masked_kernel(unit_x, rows, cols):
    from scipy.sparse import csr_matrix

    n = unit_x.shape[0]
    values = np.einsum("ij,ij->i", unit_x[rows], unit_x[cols])
    return csr_matrix((values, (rows, cols)), shape=(n, n))


def _hsic_unbiased_sparse(kt, lt) -> float:
    """Song et al.'s unbiased HSIC of two kernels with zero diagonals (sparse matrices)."""
    m = kt.shape[0]
    trace_term = float(kt.multiply(lt.T).sum())
    sums = float(kt.sum()) * float(lt.sum()) / ((m - 1) * (m - 2))
    cross = float(np.asarray(kt.sum(axis=0)).ravel() @ np.asarray(lt.sum(axis=1)).ravel())
    return (trace_term + sums - 2.0 * cross / (m - 2)) / (m * (m - 3))


def _cknna(unit_a, unit_b, knn_a, knn_b, shared) -> float:
    """CKNNA: unbiased HSIC of both cosine kernels restricted to mutual neighbours, normalised by the same
    restricted to each model's own neighbours (sparse: N k entries, never an N x N kernel)."""
    n, k = knn_a.shape
    if n < 4:
        raise ValueError(f"CKNNA needs at least 4 inputs, got {n}")
    if k < 2:
        raise ValueError("CKNNA needs k >= 2 (Huh et al.)")
    rows = np.repeat(np.arange(n), k).reshape(n, k)
    mutual_rows, mutual_cols = rows[shared], knn_a[shared]
    k_shared = _masked_kernel(unit_a, mutual_rows, mutual_cols)
    l_shared = _masked_kernel(unit_b, mutual_rows, mutual_cols)
    k_own = _masked_kernel(unit_a, rows.ravel(), knn_a.ravel())
    l_own = _masked_kernel(unit_b, rows.ravel(), knn_b.ravel())
    denominator = math.sqrt(_hsic_unbiased_sparse(k_own, k_own) * _hsic_unbiased_sparse(l_own, l_own))
    return float(_hsic_unbiased_sparse(k_shared, l_shared) / denominator)


@_family("statistics")
def _statistics_family(a: ModelSteps, b: ModelSteps, settings: dict) -> dict:
    """Differences of one-model statistics (Klabunde et al.'s survey): magnitude and concentricity."""
    def concentricity(steps, mean):  # mean of cos(x_i, mean) without an N x D copy of unit rows
        norms = np.sqrt(np.einsum("ij,ij->i", steps.x, steps.x))
        return float(np.mean((steps.x @ (mean / np.linalg.norm(mean))) / np.where(norms > 0, norms, 1.0)))

    means = [steps.x.mean(axis=0) for steps in (a, b)]
    return {"magnitude_difference": abs(float(np.linalg.norm(means[0]) - np.linalg.norm(means[1]))),
            "concentricity_difference": abs(concentricity(a, means[0]) - concentricity(b, means[1]))}


assert set(CATALOGUE_FAMILIES) == set(M.CATALOGUE_FAMILIES), "robuniv.measures.CATALOGUE_FAMILIES is out of date"


def compute_family(family: str, reps_a, reps_b, settings: Optional[dict] = None,
                   names: Sequence[str] = ("reps_a", "reps_b"), steps: Optional[tuple] = None) -> dict:
    """Every measure of a catalogue family for one pair. ``steps``: both models' :class:`ModelSteps` made
    beforehand (a job comparing several families shares them)."""
    if steps is None:
        steps = (ModelSteps(reps_a, names[0]), ModelSteps(reps_b, names[1]))
    a, b = steps
    if a.n != b.n:
        raise ValueError(f"{names[0]} and {names[1]} have different numbers of rows ({a.n} vs {b.n})")
    return CATALOGUE_FAMILIES[family](a, b, dict(settings or {}))

"""Similarity of predictions and representations (docs/method.md, "Comparisons"): arrays in, floats out.

Inputs are numpy arrays or torch tensors (CPU or CUDA, float32 or float64) with one row per input.
Heavy products run in the input's precision on its device; means, norms and sums run in float64,
so a float32 input gives the float64 answer up to float32 rounding of the products.

Per-model work is separate from per-pair work (as in netrep): :func:`knn_graph` is computed once per
model (one top-500 search serves every k) and :func:`jaccard_from_graphs` is the cheap pair step;
:func:`summarise` (Gram and row norms, RTD distances) is computed once per model and passed to the pairs.
"""
from __future__ import annotations

import math
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from . import _rtd_worker
from . import measures as M

LN2 = math.log(2.0)

__all__ = ["agreement", "jsd_sim", "cka", "procrustes_sim", "procrustes_distance", "procrustes_nuclear_norm",
           "jaccard", "knn_graph", "jaccard_from_graphs", "jaccard_curve", "rtd", "rtd_distances", "rtd_cross_barcode",
           "RepresentationSummary", "summarise", "PairSteps",
           "FAMILIES", "family", "compute", "compare_representations", "compare_pair"]


# ---------------------------------------------------------------- input checks
def _as_tensor(x, name: str, device=None) -> torch.Tensor:
    if isinstance(x, np.ndarray):
        if x.dtype.kind not in "fiu":
            raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    elif not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    elif x.dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    if device is not None and x.device != device:
        x = x.to(device)
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D (inputs x features), got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)})")
    # A NaN or inf makes the sum non-finite, so a finite sum clears the array in one fast reduction; a
    # non-finite sum (or an overflow of finite values) gets the element-wise check.
    if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _pair(a, b, names=("reps_a", "reps_b")):
    device = next((t.device for t in (a, b) if isinstance(t, torch.Tensor)), None)
    a = _as_tensor(a, names[0], device)
    b = _as_tensor(b, names[1], a.device)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{names[0]} and {names[1]} have different numbers of rows "
                         f"({a.shape[0]} vs {b.shape[0]})")
    return a, b


def _power_of_two_scale(x: torch.Tensor) -> float:
    """2^-e with max |x| · 2^-e in [0.5, 1): an exact rescaling (no rounding) that keeps products finite."""
    peak = float(x.abs().max())
    if peak == 0.0 or not math.isfinite(peak):
        return 1.0
    exponent = math.frexp(peak)[1]
    if x.dtype == torch.float32:  # the factor itself must be a normal float32
        exponent = min(max(exponent, -125), 125)
    return math.ldexp(1.0, -exponent)


def _centring(x: torch.Tensor, name: str) -> tuple[torch.Tensor, float, torch.Tensor]:
    """(column means in the input's dtype, power-of-two scale, centred and scaled copy) of :func:`_center`."""
    mean = (torch.sum(x, dim=0, keepdim=True, dtype=torch.float64) / x.shape[0]).to(x.dtype)
    centred = x - mean
    peak, spread = float(x.abs().max()), float(centred.abs().max())
    if spread <= 64 * torch.finfo(x.dtype).eps * peak:
        raise ValueError(f"{name} is constant (zero variance): the similarity is undefined")
    scale = _power_of_two_scale(centred)
    return mean, scale, centred.mul_(scale)


def _center(x: torch.Tensor, name: str) -> torch.Tensor:
    """Column-centred copy in the input's dtype, rescaled by a power of two to a max |value| near 1.

    Every measure that centres is invariant to scaling, and the rescaling keeps their products finite
    for any representation scale (1e-200 .. 1e200 in float64). The column sums accumulate in float64.
    A representation is constant when its centred values are within rounding of its magnitude.
    """
    return _centring(x, name)[2]


def _recentre(x: torch.Tensor, mean: torch.Tensor, scale: float) -> torch.Tensor:
    """:func:`_center` from its stored means and scale (the same values bit for bit, two passes)."""
    return torch.sub(x, mean).mul_(scale)


def _dtype_name(x: torch.Tensor) -> str:
    return str(x.dtype).replace("torch.", "")


def _sq_norm(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, dtype=torch.float64) ** 2


def _sq_row_norms(x: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x, dim=1, dtype=torch.float64) ** 2


# ---------------------------------------------------------------- predictions
def agreement(logits_a, logits_b) -> float:
    """Fraction of inputs on which both models predict the same class (argmax of the logits)."""
    a, b = _pair(logits_a, logits_b, ("logits_a", "logits_b"))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"logits_a and logits_b have different numbers of classes ({a.shape[1]} vs {b.shape[1]})")
    return float((a.argmax(1) == b.argmax(1)).to(torch.float64).mean())


def jsd_sim(logits_a, logits_b) -> float:
    """1 - mean Jensen-Shannon divergence (natural log) of the softmax outputs / ln 2; 1 = identical."""
    a, b = _pair(logits_a, logits_b, ("logits_a", "logits_b"))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"logits_a and logits_b have different numbers of classes ({a.shape[1]} vs {b.shape[1]})")
    log_p = torch.log_softmax(a.to(torch.float64), dim=1)
    log_q = torch.log_softmax(b.to(torch.float64), dim=1)
    p, q = log_p.exp(), log_q.exp()
    m = 0.5 * (p + q)
    log_m = torch.log(m.clamp_min(torch.finfo(torch.float64).tiny))
    kl_pm = torch.where(p > 0, p * (log_p - log_m), torch.zeros_like(p)).sum(1)
    kl_qm = torch.where(q > 0, q * (log_q - log_m), torch.zeros_like(q)).sum(1)
    jsd = (0.5 * kl_pm + 0.5 * kl_qm).clamp_min(0)
    return float(1.0 - jsd.mean() / LN2)


# ---------------------------------------------------------------- CKA
def _cka_from_products(xty2, xtx2, yty2, sq_rows_x=None, sq_rows_y=None, n=None) -> float:
    """Linear CKA from ||XᵀY||², ||XᵀX||², ||YᵀY||² (centred X, Y); debiased when row norms are given."""
    if sq_rows_x is None:
        return float(xty2 / torch.sqrt(xtx2 * yty2))

    # Unbiased HSIC (Song et al. 2012) in feature space for centred features (Kornblith et al.'s form).
    def unbiased(dot, rows_1, rows_2):
        return dot - n / (n - 2.0) * (rows_1 @ rows_2) + rows_1.sum() * rows_2.sum() / ((n - 1.0) * (n - 2.0))

    hsic_xy = unbiased(xty2, sq_rows_x, sq_rows_y)
    hsic_xx = unbiased(xtx2, sq_rows_x, sq_rows_x)
    hsic_yy = unbiased(yty2, sq_rows_y, sq_rows_y)
    if hsic_xx <= 0 or hsic_yy <= 0:
        raise ValueError("debiased CKA is undefined: an unbiased self-HSIC is not positive (too few inputs?)")
    return float(hsic_xy / torch.sqrt(hsic_xx * hsic_yy))


def cka(reps_a, reps_b, debiased: bool = False) -> float:
    """Linear CKA (paper eq. 4): ||R'ᵀR||²_F / (||RᵀR||_F ||R'ᵀR'||_F) on column-centred R, R'.

    ``debiased=True`` uses the unbiased HSIC estimator (Song et al. 2012), as the released code did;
    it needs at least 4 inputs.
    """
    a, b = _pair(reps_a, reps_b)
    if debiased and a.shape[0] < 4:
        raise ValueError(f"debiased CKA needs at least 4 inputs, got {a.shape[0]}")
    x, y = _center(a, "reps_a"), _center(b, "reps_b")
    x, y = _common_dtype(x, y)
    xty2, xtx2, yty2 = _sq_norm(x.T @ y), _gram_sq_norm(x), _gram_sq_norm(y)
    if not debiased:
        return _cka_from_products(xty2, xtx2, yty2)
    return _cka_from_products(xty2, xtx2, yty2, _sq_row_norms(x), _sq_row_norms(y), x.shape[0])


def _common_dtype(x, y):
    if x.dtype != y.dtype:
        return x.to(torch.float64), y.to(torch.float64)
    return x, y


# ---------------------------------------------------------------- Procrustes
def _unit_frobenius(x: torch.Tensor) -> torch.Tensor:
    return x * float(1.0 / torch.sqrt(_sq_norm(x)))


def _nuclear_from_cross(cross: torch.Tensor) -> float:
    # Singular values in the products' precision (float32 inputs: float32 SVD), summed in float64.
    return float(torch.linalg.svdvals(cross).to(torch.float64).sum())


def _gram_sq_norm(x: torch.Tensor) -> torch.Tensor:
    """||XᵀX||²_F."""
    return _sq_norm(x.T @ x)


def procrustes_nuclear_norm(reps_a, reps_b) -> float:
    """nuc = ||RᵀR'||_* of column-centred, unit-Frobenius-norm R, R' (in [0, 1]; what the released code plotted)."""
    a, b = _pair(reps_a, reps_b)
    x, y = _common_dtype(_unit_frobenius(_center(a, "reps_a")), _unit_frobenius(_center(b, "reps_b")))
    return min(1.0, _nuclear_from_cross(x.T @ y))


def procrustes_distance(reps_a, reps_b) -> float:
    """Orthogonal Procrustes distance d = sqrt(2 - 2 nuc) (in [0, sqrt 2])."""
    return math.sqrt(max(0.0, 2.0 - 2.0 * procrustes_nuclear_norm(reps_a, reps_b)))


def procrustes_sim(reps_a, reps_b) -> float:
    """ProcrustesSim = (2 - d) / 2 with d = sqrt(2 - 2 nuc) (paper eq. 5); 1 = identical up to rotation."""
    return (2.0 - procrustes_distance(reps_a, reps_b)) / 2.0


# ---------------------------------------------------------------- Jaccard (kNN)
def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    norms = torch.linalg.vector_norm(x, dim=1, keepdim=True, dtype=torch.float64).clamp_min(1e-300)
    return x * (1.0 / norms).to(x.dtype)


def _merge_topk(vals, idx, new_vals, new_idx, k):
    """Keep each row's k largest of the running candidates and the new ones (unordered)."""
    if vals is not None:
        new_vals, new_idx = torch.cat([vals, new_vals], dim=1), torch.cat([idx, new_idx], dim=1)
    if new_vals.shape[1] <= k:
        return new_vals, new_idx
    top = torch.topk(new_vals, k, dim=1, sorted=False)
    return top.values, torch.gather(new_idx, 1, top.indices)


def _block_topk(sims, col_ids, k):
    if sims.shape[1] <= k:
        return sims, col_ids.expand(sims.shape[0], -1)
    top = torch.topk(sims, k, dim=1, sorted=False)  # sorting once at the end is cheaper
    return top.values, col_ids[top.indices]


def knn_graph(reps, k: int, block_size: int = 4096) -> np.ndarray:
    """Indices (N, k) of each input's k nearest *other* inputs by cosine similarity of centred reps.

    Columns are ordered from most to least similar, so ``graph[:, :j]`` is the j-NN graph: one search
    with the largest k serves every smaller k. Works in row blocks (memory O(N·(k + block))), computing
    each block pair of the similarity matrix once and using it for both blocks' rows.
    """
    x = _as_tensor(reps, "reps")
    n = x.shape[0]
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k >= n:
        raise ValueError(f"k must be smaller than the number of inputs (k={k}, N={n})")
    x = _unit_rows(_center(x, "reps"))
    starts = list(range(0, n, block_size))
    vals: list = [None] * len(starts)
    idx: list = [None] * len(starts)
    device = x.device
    for bi, si in enumerate(starts):
        xi = x[si:si + block_size]
        for bj in range(bi, len(starts)):
            sj = starts[bj]
            xj = x[sj:sj + block_size]
            sims = xi @ xj.T
            if bi == bj:
                sims.fill_diagonal_(-math.inf)  # exclude each input itself
            cols = torch.arange(sj, sj + xj.shape[0], device=device)
            vals[bi], idx[bi] = _merge_topk(vals[bi], idx[bi], *_block_topk(sims, cols, k), k)
            if bj != bi:  # the same block, transposed, serves block bj's rows
                rows = torch.arange(si, si + xi.shape[0], device=device)
                sims_t = sims.T.contiguous()  # top-k along contiguous rows is faster
                vals[bj], idx[bj] = _merge_topk(vals[bj], idx[bj], *_block_topk(sims_t, rows, k), k)
    order = torch.argsort(torch.cat(vals, dim=0), dim=1, descending=True, stable=True)
    graph = torch.gather(torch.cat(idx, dim=0), 1, order)
    return graph.cpu().numpy().astype(np.int64)


def _check_graph(graph, name: str) -> np.ndarray:
    """A kNN graph: 2-D integer array, row i holding distinct neighbour indices in [0, N), none equal to i."""
    g = np.asarray(graph)
    if g.ndim != 2 or g.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array of neighbour indices, got shape {g.shape}")
    if g.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer neighbour indices, got dtype {g.dtype}")
    n = g.shape[0]
    bad = (g < 0) | (g >= n)
    if bad.any():
        row = int(np.nonzero(bad.any(axis=1))[0][0])
        raise ValueError(f"{name} has neighbour indices outside [0, {n}) (first in row {row})")
    own = g == np.arange(n)[:, None]
    if own.any():
        row = int(np.nonzero(own.any(axis=1))[0][0])
        raise ValueError(f"{name} lists an input as its own neighbour (first in row {row})")
    ordered = np.sort(g, axis=1)
    repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
    if repeated.any():
        raise ValueError(f"{name} repeats a neighbour within a row (first in row {int(np.nonzero(repeated)[0][0])})")
    return g


def jaccard_from_graphs(graph_a, graph_b, k: Optional[int] = None) -> float:
    """Mean over inputs of |N_a(i) ∩ N_b(i)| / |N_a(i) ∪ N_b(i)| from two kNN graphs (rows of neighbours).

    ``k`` uses only each row's first k neighbours (graphs from :func:`knn_graph` are sorted). Row i of a
    graph must hold distinct integer indices in [0, N) other than i.
    """
    ga, gb = np.asarray(graph_a), np.asarray(graph_b)
    if ga.ndim == gb.ndim == 2 and ga.shape[0] != gb.shape[0]:
        raise ValueError(f"graph_a and graph_b have different numbers of rows ({ga.shape[0]} vs {gb.shape[0]})")
    ga, gb = _check_graph(ga, "graph_a"), _check_graph(gb, "graph_b")
    if k is None:
        if ga.shape[1] != gb.shape[1]:
            raise ValueError(f"graph_a and graph_b have different k ({ga.shape[1]} vs {gb.shape[1]}); pass k")
        k = ga.shape[1]
    if k < 1 or k > min(ga.shape[1], gb.shape[1]):
        raise ValueError(f"k={k} exceeds the graphs' neighbours ({ga.shape[1]}, {gb.shape[1]})")
    return _jaccard_curve_checked(ga, gb, [int(k)])[int(k)]


def jaccard_curve(graph_a, graph_b, ks: Iterable[int]) -> dict:
    """{k: Jaccard@k} for several k from two sorted kNN graphs, in one pass over the graphs.

    The graphs are checked as in :func:`jaccard_from_graphs`.
    """
    ga, gb = np.asarray(graph_a), np.asarray(graph_b)
    ks = sorted(set(int(k) for k in ks))
    if ga.ndim != 2 or gb.ndim != 2 or ga.shape[0] != gb.shape[0]:
        raise ValueError(f"graph_a and graph_b must be 2-D with the same rows, got {ga.shape} and {gb.shape}")
    ga, gb = _check_graph(ga, "graph_a"), _check_graph(gb, "graph_b")
    if not ks or ks[0] < 1 or ks[-1] > min(ga.shape[1], gb.shape[1]):
        raise ValueError(f"every k must be in 1..{min(ga.shape[1], gb.shape[1])}, got {ks}")
    kmax = ks[-1]
    if kmax > np.iinfo(np.int16).max:
        raise ValueError(f"k must be at most {np.iinfo(np.int16).max}, got {kmax}")
    return _jaccard_curve_checked(ga, gb, ks)


def _jaccard_curve_checked(ga: np.ndarray, gb: np.ndarray, ks: list) -> dict:
    kmax = ks[-1]
    ga_t = torch.from_numpy(np.ascontiguousarray(ga[:, :kmax], dtype=np.int64))
    gb_t = torch.from_numpy(np.ascontiguousarray(gb[:, :kmax], dtype=np.int64))
    width = ga_t.shape[0]  # indices are in [0, N)
    order = torch.arange(kmax, dtype=torch.int16)
    sums = {k: 0.0 for k in ks}
    for start in range(0, ga_t.shape[0], 1024):
        a, b = ga_t[start:start + 1024], gb_t[start:start + 1024]
        # rank_in_a[i, j] = position of input j in row i of graph a (kmax: not a neighbour)
        rank_in_a = torch.full((a.shape[0], width), kmax, dtype=torch.int16)
        rank_in_a.scatter_(1, a, order.expand(a.shape[0], -1))
        ranks = torch.gather(rank_in_a, 1, b)  # for b's j-th neighbour: its rank in a's list
        for k in ks:
            inter = (ranks[:, :k] < k).sum(dim=1, dtype=torch.float64)
            sums[k] += float((inter / (2 * k - inter)).sum())
    return {k: sums[k] / ga_t.shape[0] for k in ks}


def jaccard(reps_a, reps_b, k: int = 10) -> float:
    """Jaccard similarity of the k-NN sets (cosine, centred, self excluded), averaged over inputs."""
    a, b = _pair(reps_a, reps_b)
    return jaccard_from_graphs(knn_graph(a, k), knn_graph(b, k))  # knn_graph checks k


# ---------------------------------------------------------------- RTD
def _normalised_distances(x: torch.Tensor) -> np.ndarray:
    x64 = x.to(torch.float64)
    x64 = x64 * _power_of_two_scale(x64)  # exact; keeps squared distances finite (the quantile divides it out)
    d = torch.cdist(x64, x64).cpu().numpy()
    # cdist's Gram-matrix shortcut leaves tiny non-zeros on the diagonal; distances are exact zeros there.
    np.fill_diagonal(d, 0.0)
    d = np.maximum(d, d.T)
    q = np.quantile(d, 0.9)
    if q <= 0:
        raise ValueError("RTD is undefined: the 0.9-quantile of the distances is 0 (constant representation)")
    return d / q


def rtd_cross_barcode(d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """H1 barcode (rows birth, death) of the R-cross complex [[0, D1ᵀ], [D1, min(D1, D2)]] (giotto-ph)."""
    return _rtd_worker.cross_barcode(np.asarray(d1, dtype=np.float64), np.asarray(d2, dtype=np.float64))


def _mp_context():
    import multiprocessing

    return get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def rtd_subsets(n: int, trials: int, batch: int, seed: int) -> list[np.ndarray]:
    """The seeded input subsets of :func:`rtd`: the same for every pair compared with one seed."""
    rng = np.random.default_rng(seed)
    return [np.sort(rng.choice(n, size=batch, replace=False)) for _ in range(trials)]


def rtd_distances(reps, trials: int = 10, batch: int = 500, seed: int = 0) -> np.ndarray:
    """One model's part of :func:`rtd`: the normalised distance matrices (trials × batch × batch, float64) of
    its inputs in each seeded subset (:func:`rtd_subsets`). Computed once per model, they serve every pair."""
    x = _as_tensor(reps, "reps")
    return np.stack([_normalised_distances(x[torch.as_tensor(s, device=x.device)])
                     for s in rtd_subsets(x.shape[0], trials, batch, seed)])


def _given_or_made(distances, x, trials, batch, seed, name) -> list:
    if distances is None:
        return list(rtd_distances(x, trials, batch, seed))
    distances = np.asarray(distances)
    if distances.shape != (trials, batch, batch):
        raise ValueError(f"{name} has shape {distances.shape}, expected {(trials, batch, batch)} "
                         f"(trials x batch x batch)")
    return list(distances)


def rtd(reps_a, reps_b, trials: int = 10, batch: int = 500, seed: int = 0, n_jobs: Optional[int] = None,
        distances_a=None, distances_b=None) -> float:
    """Representation Topology Divergence (Barannikov et al. 2022); 0 = identical, larger = less similar.

    Per trial, ``batch`` inputs drawn from ``seed``: Euclidean distance matrices of both spaces, each
    divided by its 0.9-quantile; the sum of H1 bar lengths of the R-cross complex, averaged over both
    directions and the trials. The homology runs in ``n_jobs`` worker processes (default: all cores).
    ``distances_a``/``distances_b``: each model's :func:`rtd_distances` with the same trials, batch and
    seed, computed beforehand (the result is the same bit for bit).
    """
    a, b = _pair(reps_a, reps_b)
    n = a.shape[0]
    if not isinstance(trials, (int, np.integer)) or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if not isinstance(batch, (int, np.integer)) or batch < 2:
        raise ValueError(f"batch must be an integer >= 2, got {batch!r}")
    if batch > n:
        raise ValueError(f"batch must not exceed the number of inputs (batch={batch}, N={n}); pass "
                         f"batch=min({batch}, N) to draw every input, as the workflow does")
    pairs = list(zip(_given_or_made(distances_a, a, trials, batch, seed, "distances_a"),
                     _given_or_made(distances_b, b, trials, batch, seed, "distances_b")))
    # Both directions of every trial: [[0, D1ᵀ], [D1, min]] and [[0, D2ᵀ], [D2, min]].
    tasks = [(d1, d2) for d1, d2 in pairs] + [(d2, d1) for d1, d2 in pairs]
    workers = min(len(tasks), n_jobs or os.cpu_count() or 1)
    _rtd_worker.ripser_core()  # loaded once here, so forked workers inherit it

    if workers <= 1:
        lengths = [_rtd_worker.total_persistence(*t) for t in tasks]
    else:
        # Processes, not threads: giotto-ph holds the GIL, and its first calls race across threads.
        # Forked, not spawned: spawn re-runs the main module, i.e. a whole Snakemake script.
        with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
            lengths = list(pool.map(_rtd_worker.total_persistence, *zip(*tasks)))
    per_trial = 0.5 * (np.asarray(lengths[:trials]) + np.asarray(lengths[trials:]))
    return float(per_trial.mean())


# ---------------------------------------------------------------- per-model steps (netrep's fit)
@dataclass(frozen=True)
class RepresentationSummary:
    """What the pair measures need of one model alone, computed once per model and input set (netrep's
    per-network step) and reused by every pair: of the column-centred representation (in ``dtype``, the
    dtype its pairs centre in), ||X||², ||XᵀX||² and the squared row norms; with ``rtd``, the
    :func:`rtd_distances` of its RTD subsets ({"trials", "batch", "seed", "distances"})."""

    n: int
    dtype: str
    sq_norm: float
    gram_sq_norm: float
    sq_row_norms: np.ndarray
    mean: Optional[np.ndarray] = None  # (1, D) column means in ``dtype``; with ``scale``, the centring itself
    scale: Optional[float] = None
    rtd: Optional[dict] = None

    def rtd_distances(self, trials: int, batch: int, seed: int) -> Optional[np.ndarray]:
        """The stored distances when they are of these RTD settings, else None."""
        if self.rtd is None or (self.rtd["trials"], self.rtd["batch"], self.rtd["seed"]) != (trials, batch, seed):
            return None
        return self.rtd["distances"]


def summarise(reps, *, rtd_trials: Optional[int] = None, rtd_batch: int = 500, rtd_seed: int = 0,
              name: str = "reps") -> RepresentationSummary:
    """The :class:`RepresentationSummary` of one model's representations (RTD distances when ``rtd_trials``;
    the batch is clamped to the number of inputs, as in the comparisons)."""
    x = _as_tensor(reps, name)
    mean, scale, centred = _centring(x, name)
    rtd_part = None
    if rtd_trials:
        batch = min(rtd_batch, x.shape[0])
        rtd_part = {"trials": int(rtd_trials), "batch": int(batch), "seed": int(rtd_seed),
                    "distances": rtd_distances(x, rtd_trials, batch, rtd_seed)}
    return RepresentationSummary(n=x.shape[0], dtype=_dtype_name(centred),
                                 sq_norm=float(_sq_norm(centred)), gram_sq_norm=float(_gram_sq_norm(centred)),
                                 sq_row_norms=_sq_row_norms(centred).cpu().numpy(), mean=mean.cpu().numpy(),
                                 scale=scale, rtd=rtd_part)


# ---------------------------------------------------------------- families: one computation, several measures
class PairSteps:
    """The work that the measures of one pair share, each step computed on first use: the checked inputs,
    the column-centred matrices (in a common dtype), their cross product RᵀR', squared norms and row norms.
    ``names`` name the inputs in errors. ``summaries``: both models' :class:`RepresentationSummary`; their
    per-model values replace the pair's own where they were computed in the pair's dtype (then the result is
    the same bit for bit), and their RTD distances are used where their settings match."""

    def __init__(self, a, b, names=("reps_a", "reps_b"), summaries: Optional[Sequence[RepresentationSummary]] = None):
        self.names = names
        self.a, self.b = _pair(a, b, names)
        self.n = self.a.shape[0]
        self._cache: dict = {}
        if summaries is not None:
            for summary, name in zip(summaries, names):
                if summary.n != self.n:
                    raise ValueError(f"the summary of {name} is of {summary.n} inputs, the pair has {self.n}")
        self.summaries = summaries

    def _per_model(self, attribute, make):
        """Both models' value of ``attribute`` from the summaries when they match the pair's dtype, else made."""
        dtype = _dtype_name(self.centred[0])
        if self.summaries is not None and all(s.dtype == dtype for s in self.summaries):
            return tuple(torch.as_tensor(getattr(s, attribute), dtype=torch.float64) for s in self.summaries)
        return tuple(make(x) for x in self.centred)

    def _once(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    @property
    def centred(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._once("centred", self._centre_both)

    def _centre_both(self):
        dtype = _dtype_name(self.a)
        if (self.summaries is not None and self.a.dtype == self.b.dtype and
                all(s.dtype == dtype and s.mean is not None for s in self.summaries)):
            return tuple(_recentre(x, torch.as_tensor(s.mean, device=x.device), s.scale)
                         for x, s in zip((self.a, self.b), self.summaries))
        return _common_dtype(_center(self.a, self.names[0]), _center(self.b, self.names[1]))

    @property
    def cross(self) -> torch.Tensor:
        return self._once("cross", lambda: self.centred[0].T @ self.centred[1])

    @property
    def sq_norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._once("sq_norms", lambda: self._per_model("sq_norm", _sq_norm))

    @property
    def gram_sq_norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._once("gram_sq_norms", lambda: self._per_model("gram_sq_norm", _gram_sq_norm))

    @property
    def sq_row_norms(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._once("sq_row_norms", lambda: self._per_model("sq_row_norms", _sq_row_norms))

    def rtd_distances(self, trials: int, batch: int, seed: int) -> tuple:
        """Both models' stored RTD distances of these settings, or (None, None)."""
        if self.summaries is None:
            return None, None
        return tuple(s.rtd_distances(trials, batch, seed) for s in self.summaries)


# measures.Measure.family -> the function giving that family's measures of one pair (steps, options) -> {name: value}
FAMILIES: dict = {}


def family(name: str):
    """Register the decorated function as the computation of the measures whose ``family`` is ``name``."""
    def register(function):
        if name in FAMILIES:
            raise ValueError(f"measure family {name!r} is registered twice")
        FAMILIES[name] = function
        return function
    return register


@family("predictions")
def _prediction_family(steps: PairSteps, options: dict) -> dict:
    """Agreement and JSDSim of two models' logits."""
    return {M.AGREEMENT: agreement(steps.a, steps.b), M.JSD_SIM: jsd_sim(steps.a, steps.b)}


@family("cka")
def _cka_family(steps: PairSteps, options: dict) -> dict:
    """Both linear CKA variants (the debiased one from 4 inputs on)."""
    xty2, (xtx2, yty2) = _sq_norm(steps.cross), steps.gram_sq_norms
    out = {M.CKA: _cka_from_products(xty2, xtx2, yty2)}
    if steps.n >= 4:
        out[M.CKA_DEBIASED] = _cka_from_products(xty2, xtx2, yty2, *steps.sq_row_norms, steps.n)
    return out


@family("procrustes")
def _procrustes_family(steps: PairSteps, options: dict) -> dict:
    """The nuclear norm of the unit-norm cross product, the Procrustes distance and ProcrustesSim."""
    sq_x, sq_y = steps.sq_norms  # unit Frobenius norms: ||X||² = trace(XᵀX) = sum of squared rows
    nuc = min(1.0, _nuclear_from_cross(steps.cross) / math.sqrt(float(sq_x) * float(sq_y)))
    dist = math.sqrt(max(0.0, 2.0 - 2.0 * nuc))
    return {M.PROCRUSTES_NUCLEAR_NORM: nuc, M.PROCRUSTES_DISTANCE: dist, M.PROCRUSTES_SIM: (2.0 - dist) / 2.0}


@family("jaccard")
def _jaccard_family(steps: PairSteps, options: dict) -> dict:
    """Jaccard@k for each k of ``options["ks"]``, from precomputed kNN graphs where given."""
    ks = sorted(set(int(k) for k in options.get("ks", (10,))))
    if not ks:
        return {}
    graphs_a, graphs_b = options.get("graphs_a"), options.get("graphs_b")
    ga = graphs_a if graphs_a is not None else knn_graph(steps.a, ks[-1])
    gb = graphs_b if graphs_b is not None else knn_graph(steps.b, ks[-1])
    return {M.jaccard_name(k): value for k, value in jaccard_curve(ga, gb, ks).items()}


@family("rtd")
def _rtd_family(steps: PairSteps, options: dict) -> dict:
    """RTD with the batch clamped to the number of inputs (each model's distances from its summary if stored)."""
    trials, seed = options.get("rtd_trials", 10), options.get("rtd_seed", 0)
    batch = min(options.get("rtd_batch", 500), steps.n)
    distances_a, distances_b = steps.rtd_distances(trials, batch, seed)
    return {M.RTD: rtd(steps.a, steps.b, trials=trials, batch=batch, seed=seed, n_jobs=options.get("rtd_jobs"),
                       distances_a=distances_a, distances_b=distances_b)}


LOGIT_NAMES = ("logits_a", "logits_b")


def _as_numpy(x):
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def compute(name: str, reps_a, reps_b, **options) -> float:
    """One measure by its registry name (``<knn measure>@<k>`` for any k) of two models' arrays: their logits
    for prediction measures, their representations otherwise. ``options`` as for :func:`compare_representations`;
    for a catalogue measure (:mod:`robuniv.catalogue`), its family's settings (e.g. ``svcca_variance``)."""
    entry = M.measure(name)
    names = LOGIT_NAMES if entry.kind == M.PREDICTIONS else ("reps_a", "reps_b")
    k = M.split_k(name)[1]
    if k is not None:
        options = {**options, "ks": (k,)}
    if entry.family not in FAMILIES:  # a catalogue measure: numpy float64 (robuniv.catalogue)
        from .catalogue import compute_family

        values = compute_family(entry.family, _as_numpy(reps_a), _as_numpy(reps_b), options, names)
    else:
        values = FAMILIES[entry.family](PairSteps(reps_a, reps_b, names), options)
    if name not in values:
        raise ValueError(f"measure {name!r} is undefined for these inputs (e.g. debiased CKA needs 4 inputs)")
    return values[name]


# ---------------------------------------------------------------- all at once
def compare_representations(reps_a, reps_b, *, ks: Sequence[int] = (10,), graphs_a: Optional[np.ndarray] = None,
                            graphs_b: Optional[np.ndarray] = None, rtd_trials: int = 10, rtd_batch: int = 500,
                            rtd_seed: int = 0, with_rtd: bool = True, rtd_jobs: Optional[int] = None,
                            summaries: Optional[Sequence[RepresentationSummary]] = None) -> dict:
    """Every representational measure of one pair, each family of :data:`FAMILIES` in registry order,
    sharing the centring and the cross product RᵀR' (:class:`PairSteps`).

    ``graphs_a``/``graphs_b``: precomputed :func:`knn_graph` results with at least ``max(ks)`` columns;
    ``summaries``: both models' :func:`summarise` results (per-model steps; the values are unchanged).
    Returns {measure name (:mod:`robuniv.measures`): value}: both CKA variants (debiased from 4 inputs on),
    the three Procrustes values, Jaccard@k for each k, and RTD when ``with_rtd``.
    """
    steps = PairSteps(reps_a, reps_b, summaries=summaries)
    options = {"ks": ks, "graphs_a": graphs_a, "graphs_b": graphs_b, "rtd_trials": rtd_trials,
               "rtd_batch": rtd_batch, "rtd_seed": rtd_seed, "rtd_jobs": rtd_jobs}
    representation_families = [f for f in M.families(n for n, m in M.MEASURES.items() if m.kind == M.REPRESENTATIONS)
                                if f in FAMILIES and (with_rtd or f != "rtd")]
    out = {}
    for name in representation_families:
        out.update(FAMILIES[name](steps, options))
    return out


def compare_pair(logits_a, logits_b, reps_a, reps_b, **representation_options) -> dict:
    """Every measure of one model pair on one input set: agreement and JSDSim of the logits, then
    :func:`compare_representations` of the representations (its keyword options pass through)."""
    rows = {name: np.shape(x)[0] for name, x in zip(LOGIT_NAMES + ("reps_a", "reps_b"),
                                                     (logits_a, logits_b, reps_a, reps_b)) if np.ndim(x) > 0}
    if len(set(rows.values())) > 1:
        raise ValueError(f"logits and representations of one pair must have the same rows, got {rows}")
    out = FAMILIES["predictions"](PairSteps(logits_a, logits_b, LOGIT_NAMES), {})
    out.update(compare_representations(reps_a, reps_b, **representation_options))
    return out
